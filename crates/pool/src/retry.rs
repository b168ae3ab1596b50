//! Retry policies: how many attempts, how long to wait between them, and which errors retry.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;

/// A failed attempt, as a [`RetryPolicy`]'s predicate sees it.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{AttemptError, RetryPolicy};
/// use std::time::Duration;
///
/// // Retry timeouts only.
/// let policy = RetryPolicy::fixed(3, Duration::from_millis(100))
///     .retry_if(|err| matches!(err, AttemptError::TimedOut));
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum AttemptError<'a> {
    /// The attempt returned this error.
    Failed(&'a (dyn StdError + Send + Sync + 'static)),
    /// The attempt panicked with this message.
    Panicked(&'a str),
    /// The attempt ran past its timeout.
    TimedOut,
}

/// How the delay between attempts grows.
///
/// # Examples
///
/// ```
/// use conveyor_pool::Backoff;
/// use std::time::Duration;
/// let b = Backoff::Exponential { initial: Duration::from_millis(200), factor: 2.0 };
/// # let _ = b;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// `initial`, then `initial * factor`, `initial * factor²`, … (capped by the policy's
    /// maximum delay).
    Exponential {
        /// The delay before the first retry.
        initial: Duration,
        /// The growth factor per retry (2.0 doubles).
        factor: f64,
    },
}

type Predicate = Arc<dyn Fn(&AttemptError<'_>) -> bool + Send + Sync>;

/// When and how often a failed job is tried again.
///
/// By default a policy retries errors and timeouts but not panics (a panic is a bug that a
/// retry rarely fixes); [`retry_if`](Self::retry_if) replaces that rule. Waiting between
/// attempts holds no worker: the job leaves the worker and re-enters the queue when its delay
/// is over. Cancelled jobs are never retried.
///
/// # Examples
///
/// ```
/// use conveyor_pool::RetryPolicy;
/// use std::time::Duration;
///
/// let policy = RetryPolicy::exponential(5, Duration::from_millis(200))
///     .max_delay(Duration::from_secs(10))
///     .jitter(true);
/// assert_eq!(policy.max_attempts(), 5);
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
    max_delay: Duration,
    jitter: bool,
    retry_if: Option<Predicate>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("max_delay", &self.max_delay)
            .field("jitter", &self.jitter)
            .field("retry_if", &self.retry_if.as_ref().map(|_| ".."))
            .finish()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::never()
    }
}

impl RetryPolicy {
    /// One attempt, no retry (the default).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::RetryPolicy;
    /// assert_eq!(RetryPolicy::never().max_attempts(), 1);
    /// ```
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            backoff: Backoff::Fixed(Duration::ZERO),
            max_delay: Duration::MAX,
            jitter: false,
            retry_if: None,
        }
    }

    /// Up to `max_attempts` attempts in all, `delay` apart.
    ///
    /// # Panics
    ///
    /// Panics if `max_attempts` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::RetryPolicy;
    /// use std::time::Duration;
    /// let p = RetryPolicy::fixed(3, Duration::from_secs(1));
    /// assert_eq!(p.delay(1), Duration::from_secs(1));
    /// assert_eq!(p.delay(2), Duration::from_secs(1));
    /// ```
    #[track_caller]
    pub fn fixed(max_attempts: u32, delay: Duration) -> Self {
        assert!(max_attempts > 0, "max_attempts must be at least 1");
        RetryPolicy { max_attempts, backoff: Backoff::Fixed(delay), ..RetryPolicy::never() }
    }

    /// Up to `max_attempts` attempts in all; the delay starts at `initial` and doubles.
    ///
    /// # Panics
    ///
    /// Panics if `max_attempts` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::RetryPolicy;
    /// use std::time::Duration;
    /// let p = RetryPolicy::exponential(4, Duration::from_millis(100));
    /// assert_eq!(p.delay(1), Duration::from_millis(100));
    /// assert_eq!(p.delay(3), Duration::from_millis(400));
    /// ```
    #[track_caller]
    pub fn exponential(max_attempts: u32, initial: Duration) -> Self {
        assert!(max_attempts > 0, "max_attempts must be at least 1");
        RetryPolicy {
            max_attempts,
            backoff: Backoff::Exponential { initial, factor: 2.0 },
            ..RetryPolicy::never()
        }
    }

    /// Replaces the backoff.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Backoff, RetryPolicy};
    /// use std::time::Duration;
    /// let p = RetryPolicy::fixed(3, Duration::ZERO)
    ///     .backoff(Backoff::Exponential { initial: Duration::from_secs(1), factor: 3.0 });
    /// assert_eq!(p.delay(2), Duration::from_secs(3));
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Caps every delay at `max`. Default: no cap.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::RetryPolicy;
    /// use std::time::Duration;
    /// let p = RetryPolicy::exponential(10, Duration::from_secs(1)).max_delay(Duration::from_secs(5));
    /// assert_eq!(p.delay(8), Duration::from_secs(5));
    /// ```
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// Randomises each delay to between half and all of its value ("equal jitter"), so that
    /// jobs failing together do not retry in lockstep. Default: off.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::RetryPolicy;
    /// use std::time::Duration;
    /// let p = RetryPolicy::fixed(3, Duration::from_secs(2)).jitter(true);
    /// let d = p.delay(1);
    /// assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(2));
    /// ```
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Retries only the failed attempts for which `predicate` returns `true` (and only while
    /// attempts remain). Default: errors and timeouts retry, panics do not.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{AttemptError, RetryPolicy};
    /// use std::time::Duration;
    /// let p = RetryPolicy::fixed(3, Duration::ZERO).retry_if(|e| match e {
    ///     AttemptError::Failed(err) => err.to_string().contains("temporary"),
    ///     _ => false,
    /// });
    /// # let _ = p;
    /// ```
    pub fn retry_if(mut self, predicate: impl Fn(&AttemptError<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.retry_if = Some(Arc::new(predicate));
        self
    }

    /// The most attempts a job makes, first included.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::RetryPolicy;
    /// use std::time::Duration;
    /// assert_eq!(RetryPolicy::fixed(2, Duration::ZERO).max_attempts(), 2);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay after failed attempt number `attempt` (1-based), jitter included.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::RetryPolicy;
    /// use std::time::Duration;
    /// let p = RetryPolicy::exponential(5, Duration::from_millis(10));
    /// assert_eq!(p.delay(2), Duration::from_millis(20));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = match self.backoff {
            Backoff::Fixed(d) => d,
            Backoff::Exponential { initial, factor } => {
                let exp = attempt.saturating_sub(1).min(1_000) as i32;
                let secs = initial.as_secs_f64() * factor.max(0.0).powi(exp);
                Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
            }
        };
        let capped = base.min(self.max_delay);
        if self.jitter && !capped.is_zero() {
            let half = capped / 2;
            half + (capped - half).mul_f64(rand::rng().random_range(0.0..=1.0))
        } else {
            capped
        }
    }

    /// Whether a job whose attempt `attempt` failed with `err` gets another attempt.
    pub(crate) fn should_retry(&self, attempt: u32, err: &AttemptError<'_>) -> bool {
        if attempt >= self.max_attempts {
            return false;
        }
        match &self.retry_if {
            Some(predicate) => predicate(err),
            None => !matches!(err, AttemptError::Panicked(_)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_then_caps() {
        let p =
            RetryPolicy::exponential(10, Duration::from_millis(100)).max_delay(Duration::from_millis(500));
        let delays: Vec<_> = (1..=5).map(|a| p.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let p = RetryPolicy::exponential(u32::MAX, Duration::from_secs(1));
        assert_eq!(p.delay(u32::MAX), Duration::MAX);
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        let p = RetryPolicy::fixed(2, Duration::from_millis(1000)).jitter(true);
        let delays: Vec<_> = (0..200).map(|_| p.delay(1)).collect();
        assert!(delays.iter().all(|d| (500..=1000).contains(&d.as_millis())));
        assert!(delays.iter().any(|d| *d != delays[0]), "jitter varies the delay");
    }

    #[test]
    fn default_rule_retries_errors_and_timeouts_not_panics() {
        let p = RetryPolicy::fixed(3, Duration::ZERO);
        let io = std::io::Error::other("x");
        assert!(p.should_retry(1, &AttemptError::Failed(&io)));
        assert!(p.should_retry(2, &AttemptError::TimedOut));
        assert!(!p.should_retry(1, &AttemptError::Panicked("boom")));
        assert!(!p.should_retry(3, &AttemptError::TimedOut), "no attempts left");
    }

    #[test]
    fn predicate_replaces_the_default_rule() {
        let p = RetryPolicy::fixed(3, Duration::ZERO).retry_if(|e| matches!(e, AttemptError::Panicked(_)));
        assert!(p.should_retry(1, &AttemptError::Panicked("boom")));
        assert!(!p.should_retry(1, &AttemptError::TimedOut));
    }
}

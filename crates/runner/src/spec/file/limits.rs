//! `limits`: per-key concurrency and rate limits.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::spec::duration::{format_duration, parse_duration};

/// Per-key limits declared by job files' `limits`, for jobs' `concurrency_key`.
///
/// A key without a limit is unlimited. The same key may be declared by several files only
/// with the same value.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::spec::{parse_str, ParseOptions, Rate};
///
/// let batch = parse_str(
///     "l.json",
///     r#"{"limits": {"concurrency": {"db": 4}, "rate": {"api": "10/1s"}},
///         "jobs": [{"kind": "noop", "concurrency_key": "db"}]}"#,
///     &ParseOptions::default(),
/// )
/// .unwrap();
/// assert_eq!(batch.limits.concurrency["db"], 4);
/// assert_eq!(batch.limits.rate["api"], Rate { count: 10, period: Duration::from_secs(1) });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// At most N jobs with the key run at once (N ≥ 1).
    pub concurrency: BTreeMap<String, u32>,
    /// At most `count` jobs with the key start per `period`.
    pub rate: BTreeMap<String, Rate>,
}

impl Limits {
    /// `true` when no limit is declared.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conveyor::spec::Limits::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.concurrency.is_empty() && self.rate.is_empty()
    }
}

/// A rate limit: `count` starts per `period`, written `"N/PERIOD"` (`"10/1s"`, `"100/1m"`,
/// or with a bare unit, `"5/s"`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::spec::Rate;
///
/// let rate = Rate::parse("100/1m").unwrap();
/// assert_eq!(rate, Rate { count: 100, period: Duration::from_secs(60) });
/// assert_eq!(rate.to_string(), "100/1m");
/// assert_eq!(Rate::parse("5/s").unwrap().period, Duration::from_secs(1));
/// assert!(Rate::parse("0/1s").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Starts allowed per period (at least 1).
    pub count: u32,
    /// The period (greater than zero).
    pub period: Duration,
}

impl Rate {
    /// Parses `"N/PERIOD"`.
    ///
    /// # Errors
    ///
    /// A message for people (without the input) when the text is not `N/PERIOD` with
    /// `N ≥ 1` and a period greater than zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::Rate;
    ///
    /// assert_eq!(Rate::parse("10/1s").unwrap().count, 10);
    /// assert!(Rate::parse("10 per second").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Rate, String> {
        const SHAPE: &str = "expected N/PERIOD, such as \"10/1s\" or \"100/1m\"";
        let Some((count, period)) = text.split_once('/') else {
            return Err(SHAPE.to_owned());
        };
        let count = count.trim();
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SHAPE.to_owned());
        }
        let count: u32 = count.parse().map_err(|_| format!("{count} is too many (at most {})", u32::MAX))?;
        if count == 0 {
            return Err("N must be at least 1".to_owned());
        }
        let period = period.trim();
        let period = if period.starts_with(|c: char| c.is_ascii_alphabetic()) {
            parse_duration(&format!("1{period}"))
        } else {
            parse_duration(period)
        }
        .map_err(|reason| format!("bad period: {reason}"))?;
        if period.is_zero() {
            return Err("the period must be greater than zero".to_owned());
        }
        Ok(Rate { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, format_duration(self.period).replace(' ', ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(Rate::parse(" 10 / 1s "), Ok(Rate { count: 10, period: Duration::from_secs(1) }));
        assert_eq!(Rate::parse("1/1m30s").unwrap().to_string(), "1/1m30s");
        for bad in ["", "10", "x/1s", "-1/1s", "0/1s", "10/0s", "10/-1s", "10/xyz", "99999999999/1s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }
}

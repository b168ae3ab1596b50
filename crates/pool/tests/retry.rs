//! Retry: fixed and exponential backoff honoured to the millisecond on the paused clock,
//! `max_attempts`, the `retry_if` predicate, panics not retried by default, and no worker held
//! while a job waits to retry.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use conveyor_pool::{AttemptError, Backoff, Job, JobError, Pool, RetryPolicy};
use support::{Io, Log, within};
use tokio::time::Instant;

/// Runs a job that always fails under `policy`; returns the error and the gaps between
/// attempt starts.
async fn attempt_gaps(policy: RetryPolicy) -> (JobError, Vec<Duration>) {
    let pool = Pool::builder().workers(1).build();
    let starts = Log::new();
    let s = starts.clone();
    let h = pool
        .submit(
            Job::new(move |ctx| {
                s.push(Instant::now());
                async move { Err::<(), _>(format!("attempt {} failed", ctx.attempt())) }
            })
            .retry(policy),
        )
        .await
        .unwrap();
    let err = within(h).await.unwrap_err();
    let starts = starts.get();
    (err, starts.windows(2).map(|w| w[1] - w[0]).collect())
}

fn ms(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|&m| Duration::from_millis(m)).collect()
}

#[tokio::test(start_paused = true)]
async fn fixed_backoff_waits_the_same_delay_before_every_retry() {
    let (err, gaps) = attempt_gaps(RetryPolicy::fixed(4, Duration::from_millis(250))).await;
    assert_eq!(gaps, ms(&[250, 250, 250]));
    assert_eq!(err.source_text(), "attempt 4 failed", "the last attempt's error is kept");
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_doubles_and_is_capped_by_max_delay() {
    let (_, gaps) = attempt_gaps(RetryPolicy::exponential(5, Duration::from_millis(100))).await;
    assert_eq!(gaps, ms(&[100, 200, 400, 800]));
    let capped =
        RetryPolicy::exponential(5, Duration::from_millis(100)).max_delay(Duration::from_millis(300));
    let (_, gaps) = attempt_gaps(capped).await;
    assert_eq!(gaps, ms(&[100, 200, 300, 300]));
    let tripled = RetryPolicy::fixed(4, Duration::ZERO)
        .backoff(Backoff::Exponential { initial: Duration::from_millis(10), factor: 3.0 });
    let (_, gaps) = attempt_gaps(tripled).await;
    assert_eq!(gaps, ms(&[10, 30, 90]));
}

#[tokio::test(start_paused = true)]
async fn jitter_keeps_each_delay_between_half_and_all_of_it() {
    let (_, gaps) = attempt_gaps(RetryPolicy::fixed(20, Duration::from_secs(1)).jitter(true)).await;
    assert_eq!(gaps.len(), 19);
    assert!(
        gaps.iter().all(|g| (Duration::from_millis(500)..=Duration::from_secs(1)).contains(g)),
        "{gaps:?}"
    );
    assert!(gaps.iter().any(|g| *g != gaps[0]), "jitter varies the delays: {gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn max_attempts_bounds_the_attempts() {
    for max in [1, 2, 5] {
        let (err, gaps) = attempt_gaps(RetryPolicy::fixed(max, Duration::ZERO)).await;
        assert_eq!(gaps.len() as u32 + 1, max);
        assert_eq!(err.source_text(), format!("attempt {max} failed"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_job_that_succeeds_on_a_retry_returns_its_value() {
    let pool = Pool::builder().workers(1).build();
    let h = pool
        .submit(
            Job::new(
                |ctx| async move { if ctx.attempt() < 3 { Err("flaky") } else { Ok(ctx.attempt() * 100) } },
            )
            .retry(RetryPolicy::fixed(5, Duration::from_secs(1))),
        )
        .await
        .unwrap();
    assert_eq!(within(h).await.unwrap(), 300);
}

#[tokio::test(start_paused = true)]
async fn retry_if_decides_which_errors_retry() {
    let pool = Pool::builder().workers(1).build();
    let policy = RetryPolicy::fixed(5, Duration::ZERO).retry_if(|e| match e {
        AttemptError::Failed(err) => err.to_string().contains("temporary"),
        _ => false,
    });
    let attempts = Log::new();
    let a = attempts.clone();
    let h = pool
        .submit(
            Job::new(move |ctx| {
                a.push(ctx.attempt());
                async move {
                    Err::<(), _>(if ctx.attempt() < 3 { "temporary outage" } else { "permanent: bad input" })
                }
            })
            .retry(policy),
        )
        .await
        .unwrap();
    let err = within(h).await.unwrap_err();
    assert_eq!(err.source_text(), "permanent: bad input");
    assert_eq!(attempts.get(), [1, 2, 3], "stopped at the first error the predicate refused");
}

#[tokio::test(start_paused = true)]
async fn panics_are_not_retried_by_default_but_can_be() {
    let pool = Pool::builder().workers(1).build();
    let count = Arc::new(AtomicU32::new(0));
    let panicky = |count: Arc<AtomicU32>| {
        Job::new(move |ctx| {
            count.fetch_add(1, SeqCst);
            async move {
                if ctx.attempt() == 1 {
                    panic!("first attempt panics");
                }
                Io::Ok(ctx.attempt())
            }
        })
    };
    let h = pool.submit(panicky(count.clone()).retry(RetryPolicy::fixed(5, Duration::ZERO))).await.unwrap();
    assert!(matches!(within(h).await, Err(JobError::Panicked(m)) if m == "first attempt panics"));
    assert_eq!(count.load(SeqCst), 1);

    count.store(0, SeqCst);
    let policy = RetryPolicy::fixed(5, Duration::ZERO).retry_if(|e| matches!(e, AttemptError::Panicked(_)));
    let h = pool.submit(panicky(count.clone()).retry(policy)).await.unwrap();
    assert_eq!(within(h).await.unwrap(), 2);
    assert_eq!(count.load(SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_pools_default_retry_applies_unless_the_job_sets_its_own() {
    let pool = Pool::builder().workers(1).default_retry(RetryPolicy::fixed(3, Duration::ZERO)).build();
    let (a, b) = (Log::new(), Log::new());
    let always_failing = |log: Log<u32>| {
        Job::new(move |ctx| {
            log.push(ctx.attempt());
            async { Err::<(), _>("no") }
        })
    };
    let defaulted = pool.submit(always_failing(a.clone())).await.unwrap();
    let own = pool.submit(always_failing(b.clone()).retry(RetryPolicy::never())).await.unwrap();
    assert!(within(defaulted).await.is_err());
    assert!(within(own).await.is_err());
    assert_eq!(a.get(), [1, 2, 3]);
    assert_eq!(b.get(), [1]);
}

#[tokio::test(start_paused = true)]
async fn waiting_to_retry_holds_no_worker() {
    let pool = Pool::builder().workers(1).build();
    let log = Log::new();
    let t0 = Instant::now();
    let l = log.clone();
    let a = pool
        .submit(
            Job::new(move |ctx| {
                l.push(format!("A{} at {:?}", ctx.attempt(), t0.elapsed()));
                async move { if ctx.attempt() == 1 { Err("retry me") } else { Ok(()) } }
            })
            .retry(RetryPolicy::fixed(2, Duration::from_secs(60))),
        )
        .await
        .unwrap();
    let l = log.clone();
    let b = pool
        .submit(Job::new(move |_| {
            let l = l.clone();
            async move {
                l.push(format!("B starts at {:?}", t0.elapsed()));
                tokio::time::sleep(Duration::from_secs(10)).await;
                l.push(format!("B ends at {:?}", t0.elapsed()));
                Io::Ok(())
            }
        }))
        .await
        .unwrap();
    within(b).await.unwrap();
    within(a).await.unwrap();
    assert_eq!(log.get(), ["A1 at 0ns", "B starts at 0ns", "B ends at 10s", "A2 at 60s"]);
}

trait SourceText {
    fn source_text(&self) -> String;
}

impl SourceText for JobError {
    fn source_text(&self) -> String {
        match self {
            JobError::Failed(e) => e.to_string(),
            other => panic!("expected Failed, got {other:?}"),
        }
    }
}

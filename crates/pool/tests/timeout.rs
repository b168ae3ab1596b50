//! Timeouts: per attempt, measured on the paused clock; a timed-out attempt is cancelled the
//! same way as a cancelled job (its `ctx.cancelled()` fires and it cleans up, or it is
//! dropped after the grace period), and is retried if the policy says so.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use conveyor_pool::{AttemptError, Job, JobError, Pool, RetryPolicy};
use support::{DropFlag, Io, Log, within};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_sees_cancelled_cleans_up_and_ends_timed_out() {
    let pool = Pool::builder().workers(1).build();
    let log = Log::new();
    let l = log.clone();
    let t0 = Instant::now();
    let h = pool
        .submit(
            Job::new(move |ctx| {
                let l = l.clone();
                async move {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(3600)) => l.push("finished the work".to_owned()),
                        _ = ctx.cancelled() => {
                            l.push(format!("cancelled at {:?}", t0.elapsed()));
                            assert!(ctx.is_cancelled());
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            l.push("cleaned up".to_owned());
                        }
                    }
                    Io::Ok("a value returned after the timeout is discarded")
                }
            })
            .timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap();
    let err = within(h).await.unwrap_err();
    assert!(matches!(err, JobError::TimedOut), "{err:?}");
    assert_eq!(log.get(), ["cancelled at 2s", "cleaned up"]);
    assert_eq!(t0.elapsed(), Duration::from_millis(2300), "resolved when the cleanup ended");
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_that_ignores_cancel_is_dropped_after_the_grace_period() {
    let pool = Pool::builder().workers(1).grace(Duration::from_secs(3)).build();
    let (guard, dropped) = DropFlag::new();
    let guard = Arc::new(std::sync::Mutex::new(Some(guard)));
    let t0 = Instant::now();
    let h = pool
        .submit(
            Job::new(move |ctx| {
                let guard = guard.lock().unwrap().take();
                async move {
                    let _guard = guard;
                    ctx.cancelled().await; // watches its signal, then ignores it
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Io::Ok(())
                }
            })
            .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    // Step by step: timers that fire during one `advance` start the next ones late.
    support::settle().await; // the attempt starts at t0
    tokio::time::advance(Duration::from_secs(1)).await;
    support::settle().await; // timed out: the grace period starts
    tokio::time::advance(Duration::from_millis(2999)).await;
    support::settle().await;
    assert!(!dropped.load(SeqCst), "dropped before timeout + grace");
    assert!(matches!(within(h).await, Err(JobError::TimedOut)));
    assert!(dropped.load(SeqCst));
    assert_eq!(t0.elapsed(), Duration::from_secs(4), "timeout (1 s) + grace (3 s)");
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_retried_and_can_then_succeed() {
    let pool = Pool::builder().workers(1).build();
    let starts = Log::new();
    let s = starts.clone();
    let t0 = Instant::now();
    let h = pool
        .submit(
            Job::new(move |ctx| {
                s.push((ctx.attempt(), t0.elapsed()));
                async move {
                    if ctx.attempt() == 1 {
                        ctx.cancelled().await;
                        return Err("gave up");
                    }
                    Ok(ctx.attempt())
                }
            })
            .timeout(Duration::from_secs(1))
            .retry(RetryPolicy::fixed(3, Duration::from_millis(500))),
        )
        .await
        .unwrap();
    assert_eq!(within(h).await.unwrap(), 2);
    assert_eq!(starts.get(), [(1, Duration::ZERO), (2, Duration::from_millis(1500))]);
}

#[tokio::test(start_paused = true)]
async fn a_policy_can_choose_to_retry_only_timeouts() {
    let pool = Pool::builder().workers(1).build();
    let policy = || RetryPolicy::fixed(3, Duration::ZERO).retry_if(|e| matches!(e, AttemptError::TimedOut));
    let attempts = Log::new();
    let a = attempts.clone();
    let h = pool
        .submit(
            Job::new(move |ctx| {
                a.push(ctx.attempt());
                async move {
                    if ctx.attempt() == 1 {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                    Err::<(), _>("an error is not retried")
                }
            })
            .timeout(Duration::from_secs(1))
            .retry(policy()),
        )
        .await
        .unwrap();
    assert!(matches!(within(h).await, Err(JobError::Failed(_))));
    assert_eq!(attempts.get(), [1, 2], "the timeout was retried, the error was not");
}

#[tokio::test(start_paused = true)]
async fn the_timeout_bounds_each_attempt_not_the_whole_job() {
    let pool = Pool::builder().workers(1).build();
    let t0 = Instant::now();
    let h = pool
        .submit(
            Job::new(|ctx| async move {
                // Each attempt takes 800 ms, under the 1 s timeout; three take 2.4 s.
                tokio::time::sleep(Duration::from_millis(800)).await;
                if ctx.attempt() < 3 { Err("not yet") } else { Ok(ctx.attempt()) }
            })
            .timeout(Duration::from_secs(1))
            .retry(RetryPolicy::fixed(3, Duration::ZERO)),
        )
        .await
        .unwrap();
    assert_eq!(within(h).await.unwrap(), 3);
    assert_eq!(t0.elapsed(), Duration::from_millis(2400));
}

#[tokio::test(start_paused = true)]
async fn the_pools_default_timeout_applies_unless_the_job_sets_its_own() {
    let pool = Pool::builder().workers(2).default_timeout(Duration::from_secs(1)).build();
    let sleepy = |secs| {
        Job::new(move |_| async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Io::Ok(secs)
        })
    };
    let t0 = Instant::now();
    let defaulted = pool.submit(sleepy(5)).await.unwrap();
    let own = pool.submit(sleepy(5).timeout(Duration::from_secs(10))).await.unwrap();
    assert!(matches!(within(defaulted).await, Err(JobError::TimedOut)));
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    assert_eq!(within(own).await.unwrap(), 5);
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_shielded_job_still_times_out() {
    let pool = Pool::builder().workers(1).build();
    let h = pool
        .submit(
            Job::new(|ctx| async move {
                ctx.cancelled().await;
                Io::Ok(())
            })
            .shield()
            .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert!(matches!(within(h).await, Err(JobError::TimedOut)));
}

//! Cancel: a queued job never starts; a running one sees `ctx.cancelled()` and cleans up, and
//! is dropped after the grace period if it ignores it; a finished job is left alone; a
//! shielded job runs on; a job waiting to retry does not run again.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use conveyor_pool::{Job, JobError, JobStatus, Pool, RetryPolicy};
use futures_util::FutureExt;
use support::{DropFlag, Gate, Io, Log, Signal, settle, signal_then_wait, within};
use tokio::time::Instant;

/// Submits a job that signals it started and then waits at `gate`; returns its handle.
async fn occupy(pool: &Pool, gate: &Gate) -> conveyor_pool::JobHandle<()> {
    let started = Signal::new();
    let h = pool.submit(signal_then_wait(&started, gate)).await.unwrap();
    started.recv().await;
    h
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_queued_job_never_starts() {
    let pool = Pool::builder().workers(1).build();
    let gate = Gate::new();
    let busy = occupy(&pool, &gate).await;
    let ran = Log::new();
    let r = ran.clone();
    let mut h = pool
        .submit(Job::new(move |_| {
            r.push("body ran");
            async { Io::Ok(1) }
        }))
        .await
        .unwrap();
    assert_eq!(pool.queued(), 1);
    assert!(h.cancel());
    // Resolved at once, without waiting for a worker.
    assert_eq!(h.status(), JobStatus::Finished);
    assert_eq!(pool.queued(), 0, "taken out of the queue");
    assert!(matches!((&mut h).now_or_never(), Some(Err(JobError::Cancelled))));
    assert!(!h.cancel(), "a second cancel is a no-op");

    gate.open();
    within(busy).await.unwrap();
    within(pool.join()).await;
    assert!(ran.get().is_empty(), "the body of a cancelled queued job never runs");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_running_job_sees_cancelled_and_cleans_up() {
    let pool = Pool::builder().workers(1).build();
    let (started, log) = (Signal::new(), Log::new());
    let (s, l) = (started.clone(), log.clone());
    let h = pool
        .submit(Job::new(move |ctx| {
            let (s, l) = (s.clone(), l.clone());
            async move {
                assert!(!ctx.is_cancelled());
                s.send();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => l.push("finished the work"),
                    _ = ctx.cancelled() => {
                        l.push(if ctx.is_cancelled() { "saw cancel" } else { "woke without cancel" });
                        // Cleanup may await; it has the grace period (5 s by default).
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        l.push("cleaned up");
                    }
                }
                Io::Ok("returned")
            }
        }))
        .await
        .unwrap();
    started.recv().await;
    let t0 = Instant::now();
    assert!(h.cancel());
    assert!(!h.cancel());
    let res = within(h).await;
    assert!(matches!(res, Err(JobError::Cancelled)), "the value returned after cancel is discarded: {res:?}");
    assert_eq!(log.get(), ["saw cancel", "cleaned up"]);
    assert_eq!(t0.elapsed(), Duration::from_secs(1), "the handle resolves when the cleanup ends");
}

/// A job that holds a drop guard, watches its cancellation signal (so it gets the grace
/// period), and then ignores it and keeps on working.
fn stubborn(started: &Signal) -> (Job<impl conveyor_pool::Run<()>>, Arc<std::sync::atomic::AtomicBool>) {
    let (guard, dropped) = DropFlag::new();
    let guard = Arc::new(std::sync::Mutex::new(Some(guard)));
    let s = started.clone();
    let job = Job::new(move |ctx| {
        let s = s.clone();
        let guard = guard.lock().unwrap().take();
        async move {
            let _guard = guard;
            s.send();
            ctx.cancelled().await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Io::Ok(())
        }
    });
    (job, dropped)
}

#[tokio::test(start_paused = true)]
async fn a_job_ignoring_cancel_is_dropped_after_the_grace_period() {
    let pool = Pool::builder().workers(1).grace(Duration::from_secs(1)).build();
    let started = Signal::new();
    let (job, dropped) = stubborn(&started);
    let h = pool.submit(job).await.unwrap();
    started.recv().await;
    assert!(h.cancel());
    settle().await;
    tokio::time::advance(Duration::from_millis(999)).await;
    settle().await;
    assert!(!dropped.load(SeqCst), "dropped before the grace period ended");
    assert_eq!(h.status(), JobStatus::Running);
    tokio::time::advance(Duration::from_millis(1)).await;
    settle().await;
    assert!(dropped.load(SeqCst), "not dropped when the grace period ended");
    assert!(h.is_finished());
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
}

#[tokio::test(start_paused = true)]
async fn a_job_that_never_watched_its_signal_is_dropped_at_once() {
    let pool = Pool::builder().workers(1).grace(Duration::from_secs(1)).build();
    let started = Signal::new();
    let (guard, dropped) = DropFlag::new();
    let guard = Arc::new(std::sync::Mutex::new(Some(guard)));
    let s = started.clone();
    let h = pool
        .submit(Job::new(move |_| {
            let s = s.clone();
            let guard = guard.lock().unwrap().take();
            async move {
                let _guard = guard;
                s.send();
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Io::Ok(())
            }
        }))
        .await
        .unwrap();
    started.recv().await;
    let t0 = Instant::now();
    assert!(h.cancel());
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
    assert!(dropped.load(SeqCst));
    assert_eq!(t0.elapsed(), Duration::ZERO, "it cannot be cleaning up: no grace period");
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_finished_job_changes_nothing() {
    let pool = Pool::builder().workers(1).build();
    let h = pool.submit(Job::new(|_| async { Io::Ok(7) })).await.unwrap();
    within(pool.join()).await;
    assert_eq!(h.status(), JobStatus::Finished);
    assert!(!h.cancel());
    assert_eq!(h.status(), JobStatus::Finished);
    assert_eq!(within(h).await.unwrap(), 7);

    let failed = pool.submit(Job::new(|_| async { Err::<(), _>("nope") })).await.unwrap();
    within(pool.join()).await;
    assert!(!failed.cancel());
    assert!(matches!(within(failed).await, Err(JobError::Failed(_))));
}

#[tokio::test(start_paused = true)]
async fn a_shielded_running_job_ignores_cancel_and_returns_its_value() {
    let pool = Pool::builder().workers(1).grace(Duration::ZERO).build();
    let (started, gate, seen) = (Signal::new(), Gate::new(), Log::new());
    let (s, g, l) = (started.clone(), gate.clone(), seen.clone());
    let h = pool
        .submit(
            Job::new(move |ctx| {
                let (s, g, l) = (s.clone(), g.clone(), l.clone());
                async move {
                    s.send();
                    tokio::select! {
                        _ = g.wait() => {}
                        _ = ctx.cancelled() => l.push("cancelled fired"),
                    }
                    l.push(if ctx.is_cancelled() { "is_cancelled" } else { "not cancelled" });
                    Io::Ok(5)
                }
            })
            .shield(),
        )
        .await
        .unwrap();
    started.recv().await;
    assert!(h.cancel(), "the first request is recorded");
    settle().await;
    tokio::time::advance(Duration::from_secs(60)).await;
    settle().await;
    assert_eq!(h.status(), JobStatus::Running, "a shielded job is not stopped");
    gate.open();
    assert_eq!(within(h).await.unwrap(), 5);
    assert_eq!(seen.get(), ["not cancelled"]);
}

#[tokio::test(start_paused = true)]
async fn a_shielded_queued_job_can_still_be_cancelled() {
    let pool = Pool::builder().workers(1).build();
    let gate = Gate::new();
    let busy = occupy(&pool, &gate).await;
    let ran = Log::new();
    let r = ran.clone();
    let h = pool
        .submit(
            Job::new(move |_| {
                r.push("ran");
                async { Io::Ok(()) }
            })
            .shield(),
        )
        .await
        .unwrap();
    assert!(h.cancel());
    gate.open();
    within(busy).await.unwrap();
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
    within(pool.join()).await;
    assert!(ran.get().is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancel_during_the_retry_delay_stops_further_attempts() {
    let pool = Pool::builder().workers(1).build();
    let attempts = Arc::new(AtomicU32::new(0));
    let a = attempts.clone();
    let h = pool
        .submit(
            Job::new(move |_| {
                a.fetch_add(1, SeqCst);
                async { Err::<(), _>("always") }
            })
            .retry(RetryPolicy::fixed(5, Duration::from_secs(10))),
        )
        .await
        .unwrap();
    settle().await;
    assert_eq!(h.status(), JobStatus::Retrying);
    assert_eq!(attempts.load(SeqCst), 1);
    let t0 = Instant::now();
    assert!(h.cancel());
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
    assert_eq!(t0.elapsed(), Duration::ZERO, "resolved at once, not after the delay");
    tokio::time::advance(Duration::from_secs(100)).await;
    settle().await;
    assert_eq!(attempts.load(SeqCst), 1, "no attempt after the cancel");
    assert_eq!(pool.unresolved(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_job_is_not_retried() {
    let pool = Pool::builder().workers(1).build();
    let (started, attempts) = (Signal::new(), Arc::new(AtomicU32::new(0)));
    let (s, a) = (started.clone(), attempts.clone());
    let h = pool
        .submit(
            Job::new(move |ctx| {
                a.fetch_add(1, SeqCst);
                let s = s.clone();
                async move {
                    s.send();
                    ctx.cancelled().await;
                    Err::<(), _>("stopped")
                }
            })
            .retry(RetryPolicy::fixed(5, Duration::ZERO)),
        )
        .await
        .unwrap();
    started.recv().await;
    h.cancel();
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
    within(pool.join()).await;
    assert_eq!(attempts.load(SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_handle_cancels_a_job_whose_handle_moved_away() {
    let pool = Pool::builder().workers(1).build();
    let (started, cleaned) = (Signal::new(), Log::new());
    let (s, c) = (started.clone(), cleaned.clone());
    let h = pool
        .submit(Job::new(move |ctx| {
            let (s, c) = (s.clone(), c.clone());
            async move {
                s.send();
                ctx.cancelled().await;
                c.push("cleaned up");
                Io::Ok(())
            }
        }))
        .await
        .unwrap();
    let canceller = h.cancel_handle();
    assert_eq!(canceller.id(), h.id());
    let waiter = tokio::spawn(h);
    started.recv().await;
    assert!(!canceller.is_finished());
    assert!(canceller.clone().cancel());
    assert!(matches!(within(waiter).await.unwrap(), Err(JobError::Cancelled)));
    assert!(canceller.is_finished());
    assert!(!canceller.cancel(), "finished: nothing to cancel");
    assert_eq!(cleaned.get(), ["cleaned up"]);
}

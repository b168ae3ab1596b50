//! `JobContext`: the worker index of an attempt (async and blocking jobs), and the
//! tokio-util cancellation token — cancelled with the attempt's signal (cancel, timeout,
//! shutdown), not the other way round, its helper task gone once the attempt ends.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use conveyor_pool::{Job, JobContext, JobError, Pool, RetryPolicy};
use support::{DropFlag, Gate, Io, Log, Signal, settle, within};
use tokio_util::sync::CancellationToken;

// Worker index.

/// Three jobs running at once on three workers see three different indices, each below 3.
#[tokio::test(start_paused = true)]
async fn concurrent_attempts_see_distinct_worker_indices() {
    let pool = Pool::builder().workers(3).build();
    let (started, gate, seen) = (Signal::new(), Gate::new(), Log::new());
    let mut handles = Vec::new();
    for _ in 0..3 {
        let (s, g, w) = (started.clone(), gate.clone(), seen.clone());
        let job = Job::new(move |ctx: JobContext| {
            let (s, g, w) = (s.clone(), g.clone(), w.clone());
            async move {
                w.push(ctx.worker());
                s.send();
                g.wait().await;
                Io::Ok(())
            }
        });
        handles.push(pool.submit(job).await.unwrap());
    }
    for _ in 0..3 {
        started.recv().await;
    }
    let mut workers = seen.get();
    workers.sort_unstable();
    assert_eq!(workers, [0, 1, 2]);
    gate.open();
    for h in handles {
        within(h).await.unwrap();
    }
}

/// With one worker every attempt, retries included, is worker 0.
#[tokio::test(start_paused = true)]
async fn a_single_worker_pool_runs_everything_on_worker_0() {
    let pool = Pool::builder().workers(1).build();
    let seen = Log::new();
    let w = seen.clone();
    let h = pool
        .submit(
            Job::new(move |ctx: JobContext| {
                w.push((ctx.attempt(), ctx.worker()));
                async move { if ctx.attempt() < 3 { Err("again") } else { Ok(()) } }
            })
            .retry(RetryPolicy::fixed(3, Duration::from_millis(10))),
        )
        .await
        .unwrap();
    within(h).await.unwrap();
    assert_eq!(seen.get(), [(1, 0), (2, 0), (3, 0)]);
}

/// A blocking job's index is the worker that waits for its blocking thread: while it runs,
/// the other worker takes the next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_job_sees_the_worker_waiting_for_it() {
    let pool = Pool::builder().workers(2).build();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let blocking = pool
        .submit(Job::blocking_infallible(move |ctx| {
            // Holds its worker until the async job below has run.
            let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(60));
            ctx.worker()
        }))
        .await
        .unwrap();
    blocking.started().await.unwrap();
    let other = pool.submit(Job::infallible(|ctx| async move { ctx.worker() })).await.unwrap();
    let other = tokio::time::timeout(Duration::from_secs(60), other).await.expect("hung").unwrap();
    tx.send(()).unwrap();
    let blocking = tokio::time::timeout(Duration::from_secs(60), blocking).await.expect("hung").unwrap();
    assert!(blocking < 2 && other < 2);
    assert_ne!(blocking, other, "the blocking job's worker was waiting for it");
}

// Cancellation token.

/// A job whose body hands its token to a "library" and awaits it.
fn awaits_token(cleaned: &Log<&'static str>) -> Job<impl conveyor_pool::Run<()>> {
    let cleaned = cleaned.clone();
    Job::new(move |ctx: JobContext| {
        let cleaned = cleaned.clone();
        async move {
            let token = ctx.cancellation_token();
            token.cancelled().await;
            cleaned.push("token cancelled");
            Io::Ok(())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn the_token_is_cancelled_when_the_job_is_cancelled() {
    let pool = Pool::builder().build();
    let cleaned = Log::new();
    let h = pool.submit(awaits_token(&cleaned)).await.unwrap();
    within(h.started()).await.unwrap();
    settle().await;
    assert!(cleaned.get().is_empty());
    h.cancel();
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
    assert_eq!(cleaned.get(), ["token cancelled"]);
}

#[tokio::test(start_paused = true)]
async fn the_token_is_cancelled_when_the_attempt_times_out() {
    let pool = Pool::builder().build();
    let cleaned = Log::new();
    let t0 = tokio::time::Instant::now();
    let h = pool.submit(awaits_token(&cleaned).timeout(Duration::from_secs(5))).await.unwrap();
    assert!(matches!(within(h).await, Err(JobError::TimedOut)));
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
    assert_eq!(cleaned.get(), ["token cancelled"]);
}

#[tokio::test(start_paused = true)]
async fn the_token_is_cancelled_when_the_pool_cancels_its_work() {
    let pool = Pool::builder().build();
    let cleaned = Log::new();
    let h = pool.submit(awaits_token(&cleaned)).await.unwrap();
    within(h.started()).await.unwrap();
    pool.shutdown_now().await;
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
    assert_eq!(cleaned.get(), ["token cancelled"]);
}

/// An attempt that only watches its token still gets the grace period to clean up (the
/// token counts as watching the signal from the moment it is made).
#[tokio::test(start_paused = true)]
async fn a_token_watching_attempt_gets_the_grace_period() {
    let pool = Pool::builder().grace(Duration::from_secs(10)).build();
    let cleaned = Log::new();
    let c = cleaned.clone();
    let h = pool
        .submit(Job::new(move |ctx: JobContext| {
            let c = c.clone();
            async move {
                let token = ctx.cancellation_token();
                token.cancelled().await;
                tokio::time::sleep(Duration::from_secs(3)).await; // cleanup
                c.push("cleaned up");
                Io::Ok(())
            }
        }))
        .await
        .unwrap();
    within(h.started()).await.unwrap();
    h.cancel();
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
    assert_eq!(cleaned.get(), ["cleaned up"]);
}

/// Cancelling the token yourself does not cancel the job.
#[tokio::test(start_paused = true)]
async fn cancelling_the_token_does_not_cancel_the_job() {
    let pool = Pool::builder().build();
    let h = pool
        .submit(Job::new(|ctx: JobContext| async move {
            let token = ctx.cancellation_token();
            token.cancel();
            tokio::time::sleep(Duration::from_secs(1)).await;
            Io::Ok(ctx.is_cancelled())
        }))
        .await
        .unwrap();
    assert!(!within(h).await.unwrap(), "the job ran to its end, not cancelled");
}

/// Each attempt has its own token: a timed-out attempt's token is cancelled, the next
/// attempt's is not.
#[tokio::test(start_paused = true)]
async fn each_attempt_has_its_own_token() {
    let pool = Pool::builder().build();
    let tokens = Log::<CancellationToken>::new();
    let t = tokens.clone();
    let h = pool
        .submit(
            Job::new(move |ctx: JobContext| {
                let t = t.clone();
                async move {
                    t.push(ctx.cancellation_token());
                    if ctx.attempt() == 1 {
                        std::future::pending::<()>().await; // times out
                    }
                    Io::Ok(())
                }
            })
            .timeout(Duration::from_secs(1))
            .retry(RetryPolicy::fixed(2, Duration::from_secs(1))),
        )
        .await
        .unwrap();
    within(h).await.unwrap();
    let tokens = tokens.get();
    assert_eq!(tokens.len(), 2);
    assert!(tokens[0].is_cancelled());
    assert!(!tokens[1].is_cancelled());
}

/// Nothing outlives the attempt: the helper task (which holds a reference to the job) ends
/// when the attempt ends without a cancel, so the job's last reference goes with the handle
/// — although the token itself lives on, never cancelled.
#[tokio::test(start_paused = true)]
async fn the_token_helper_ends_when_the_attempt_ends() {
    let pool = Pool::builder().build();
    let tasks_before = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let (flag, dropped) = DropFlag::new();
    let h = pool
        .submit(
            Job::new(|ctx: JobContext| async move {
                let token = ctx.cancellation_token();
                // The helper starts waiting while the attempt still runs.
                tokio::time::sleep(Duration::from_secs(1)).await;
                Io::Ok(token)
            })
            .tag(Arc::new(flag)),
        )
        .await
        .unwrap();
    let token = within(h).await.unwrap(); // the handle is gone with its result
    settle().await;
    assert!(dropped.load(SeqCst), "the helper still holds the job");
    assert_eq!(tokio::runtime::Handle::current().metrics().num_alive_tasks(), tasks_before);
    assert!(!token.is_cancelled(), "an attempt that ended on its own does not cancel its token");
}

/// The helper also ends when the token is cancelled by its holder, mid-attempt.
#[tokio::test(start_paused = true)]
async fn the_token_helper_ends_when_the_token_is_cancelled() {
    let pool = Pool::builder().build();
    let (flag, helper_gone) = (Arc::new(AtomicBool::new(false)), Gate::new());
    let (f, g) = (flag.clone(), helper_gone.clone());
    let tasks_before = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let h = pool
        .submit(Job::new(move |ctx: JobContext| {
            let (f, g) = (f.clone(), g.clone());
            async move {
                let token = ctx.cancellation_token();
                let with_helper = tokio::runtime::Handle::current().metrics().num_alive_tasks();
                token.cancel();
                support::settle().await;
                let after = tokio::runtime::Handle::current().metrics().num_alive_tasks();
                f.store(after + 1 == with_helper, SeqCst);
                g.open();
                Io::Ok(())
            }
        }))
        .await
        .unwrap();
    helper_gone.wait().await;
    assert!(flag.load(SeqCst), "the helper ended while the attempt still ran");
    within(h).await.unwrap();
    settle().await;
    assert_eq!(tokio::runtime::Handle::current().metrics().num_alive_tasks(), tasks_before);
}

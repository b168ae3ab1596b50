//! The constructors beside `Job::new` and `Job::blocking` (issue 21): `infallible` and
//! `blocking_infallible` take a body that returns its value (no `Ok::<_, E>(…)`
//! placeholder), `once` and `once_infallible` an `FnOnce` body that moves its captures (no
//! clone) and is never retried. Values, errors, panics, cancellation, timeouts and retry
//! policies, on tokio's paused clock.

mod support;

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use conveyor_pool::{Async, Blocking, Finished, Job, JobError, JobSet, Once, Outcome, Pool, RetryPolicy};
use support::{Gate, Log, Signal, within};
use tokio::time::{Instant, sleep};

/// Not `Clone`, so a body can only move it: what E0507 was about.
#[derive(Debug, PartialEq)]
struct Ticket(String);

fn all<T: Send + Sync + Unpin>() {}

#[test]
fn the_new_bodies_are_send_sync_and_unpin() {
    type Body = fn(conveyor_pool::JobContext) -> std::future::Ready<u32>;
    type Value = fn(conveyor_pool::JobContext) -> u32;
    all::<Job<Async<Body, std::convert::Infallible>>>();
    all::<Job<Blocking<Value, std::convert::Infallible>>>();
    all::<Job<Once<Body>>>();
    all::<Job<Once<Body, std::convert::Infallible>>>();
}

#[tokio::test(start_paused = true)]
async fn infallible_jobs_resolve_to_the_bodys_value() {
    let pool = Pool::builder().workers(2).build();
    let answer = pool.submit(Job::infallible(|ctx| async move { 41 + ctx.attempt() })).await.unwrap();
    let sum = pool.submit(Job::blocking_infallible(|_| (1..=100u64).sum::<u64>())).await.unwrap();
    // For an infallible body a `Result` is just a value: an `Err` in it is no failure.
    let result = pool.submit(Job::infallible(|_| async { Err::<(), _>("a value") })).await.unwrap();
    assert_eq!(within(answer).await.unwrap(), 42);
    assert_eq!(within(sum).await.unwrap(), 5050);
    assert_eq!(within(result).await.unwrap(), Err("a value"));
}

#[tokio::test(start_paused = true)]
async fn infallible_jobs_that_panic_resolve_to_panicked() {
    let pool = Pool::builder().workers(2).build();
    let async_panic = pool.submit(Job::infallible(|_| async { panic!("async boom") as u32 })).await.unwrap();
    let blocking_panic =
        pool.submit(Job::blocking_infallible(|_| panic!("blocking boom") as u32)).await.unwrap();
    let err = within(async_panic).await.unwrap_err();
    assert_eq!(err.to_string(), "job panicked: async boom");
    let err = within(blocking_panic).await.unwrap_err();
    assert_eq!(err.to_string(), "job panicked: blocking boom");
}

#[tokio::test(start_paused = true)]
async fn an_infallible_job_can_be_cancelled_and_clean_up() {
    let pool = Pool::builder().workers(1).build();
    let (started, cleaned) = (Signal::new(), Arc::new(AtomicU32::new(0)));
    let (s, c) = (started.clone(), cleaned.clone());
    let h = pool
        .submit(Job::infallible(move |ctx| {
            let (s, c) = (s.clone(), c.clone());
            async move {
                s.send();
                ctx.cancelled().await;
                c.fetch_add(1, SeqCst);
            }
        }))
        .await
        .unwrap();
    started.recv().await;
    h.cancel();
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
    assert_eq!(cleaned.load(SeqCst), 1);
}

/// An infallible body has no `Err`, but it can time out: a retry policy retries that.
#[tokio::test(start_paused = true)]
async fn an_infallible_job_is_retried_after_a_timeout() {
    let pool = Pool::builder().workers(1).build();
    let h = pool
        .submit(
            Job::infallible(|ctx| async move {
                if ctx.attempt() == 1 {
                    sleep(Duration::from_secs(60)).await;
                }
                ctx.attempt()
            })
            .timeout(Duration::from_secs(1))
            .retry(RetryPolicy::fixed(2, Duration::from_secs(1))),
        )
        .await
        .unwrap();
    assert_eq!(within(h).await.unwrap(), 2);
}

/// Issue 21: a `Job::new` body is an `Fn`, so `move |_| async move { use(ticket) }` failed
/// with E0507 until the user cloned. `Job::once` moves it, and needs no `Sync` either.
#[tokio::test(start_paused = true)]
async fn a_run_once_job_moves_its_captures_without_a_clone() {
    let pool = Pool::builder().workers(1).build();
    let ticket = Ticket("T-1".into());
    let not_sync = Cell::new(7u32); // `Send` but not `Sync`
    let fallible =
        pool.submit(Job::once(move |_| async move { Ok::<_, std::io::Error>(ticket) })).await.unwrap();
    let infallible =
        pool.submit(Job::once_infallible(move |_| async move { not_sync.get() * 6 })).await.unwrap();
    assert_eq!(within(fallible).await.unwrap(), Ticket("T-1".into()));
    assert_eq!(within(infallible).await.unwrap(), 42);
}

#[tokio::test(start_paused = true)]
async fn a_run_once_job_fails_panics_and_is_cancelled_like_any_job() {
    let pool = Pool::builder().workers(2).build();
    let ticket = Ticket("T-2".into());
    let failed = pool
        .submit(Job::once(move |_| async move { Err::<(), _>(format!("cannot print {}", ticket.0)) }))
        .await
        .unwrap();
    let panicked = pool.submit(Job::once_infallible(|_| async { panic!("once boom") as u32 })).await.unwrap();
    let err = within(failed).await.unwrap_err();
    assert_eq!(err.to_string(), "job failed: cannot print T-2");
    assert_eq!(err.outcome(), Outcome::Failed);
    assert_eq!(within(panicked).await.unwrap_err().to_string(), "job panicked: once boom");

    let (started, gate) = (Signal::new(), Gate::new());
    let (s, g) = (started.clone(), gate.clone());
    let running = pool
        .submit(Job::once_infallible(move |ctx| async move {
            s.send();
            tokio::select! {
                () = ctx.cancelled() => "cleaned up",
                () = g.wait() => "finished",
            }
        }))
        .await
        .unwrap();
    started.recv().await;
    running.cancel();
    assert!(matches!(within(running).await, Err(JobError::Cancelled)));
    gate.open();
}

/// Attempts per finished job, as reported to `on_finish`.
fn attempts_log() -> (Log<(Outcome, u32)>, impl Fn(&Finished) + Send + Sync + 'static) {
    let log = Log::new();
    let hook_log = log.clone();
    (log, move |f: &Finished| hook_log.push((f.outcome, f.attempts)))
}

/// A run-once job cannot run its body again, so it is never retried: its own retry policy
/// and the pool's default do not apply, and its only attempt's error (or timeout) is final,
/// at once, without a retry delay.
#[tokio::test(start_paused = true)]
async fn a_run_once_job_is_never_retried_whatever_the_retry_policy() {
    let (log, hook) = attempts_log();
    let pool = Pool::builder()
        .workers(1)
        .default_retry(RetryPolicy::fixed(5, Duration::from_secs(10)))
        .on_finish(hook)
        .build();
    let t0 = Instant::now();

    let ticket = Ticket("T-3".into());
    let own_policy = pool
        .submit(
            Job::once(move |_| async move { Err::<(), _>(format!("upstream refused {}", ticket.0)) })
                .retry(RetryPolicy::fixed(3, Duration::from_secs(10))),
        )
        .await
        .unwrap();
    let err = within(own_policy).await.unwrap_err();
    assert_eq!(err.to_string(), "job failed: upstream refused T-3", "the attempt's own error, not a retry's");

    let pool_default = pool.submit(Job::once(|_| async { Err::<(), _>("refused again") })).await.unwrap();
    assert_eq!(within(pool_default).await.unwrap_err().to_string(), "job failed: refused again");

    let timed_out = pool
        .submit(
            Job::once_infallible(|_| sleep(Duration::from_secs(60)))
                .timeout(Duration::from_secs(1))
                .retry(RetryPolicy::fixed(3, Duration::from_secs(10))),
        )
        .await
        .unwrap();
    assert!(matches!(within(timed_out).await, Err(JobError::TimedOut)));

    assert_eq!(t0.elapsed(), Duration::from_secs(1), "no retry delay: only the timeout's second");
    pool.shutdown(Duration::ZERO).await;
    assert_eq!(log.get(), [(Outcome::Failed, 1), (Outcome::Failed, 1), (Outcome::TimedOut, 1)]);
}

/// The same policies do retry a `Job::new` job: the run-once rule is the body's, not the
/// pool's.
#[tokio::test(start_paused = true)]
async fn the_pools_default_retry_still_applies_to_fn_jobs() {
    let (log, hook) = attempts_log();
    let pool = Pool::builder()
        .workers(1)
        .default_retry(RetryPolicy::fixed(3, Duration::from_secs(10)))
        .on_finish(hook)
        .build();
    let h = pool.submit(Job::new(|_| async { Err::<(), _>("refused") })).await.unwrap();
    assert!(within(h).await.is_err());
    pool.shutdown(Duration::ZERO).await;
    assert_eq!(log.get(), [(Outcome::Failed, 3)]);
}

/// The new bodies go wherever a job goes: a `JobSet` takes them like any other.
#[tokio::test(start_paused = true)]
async fn the_new_constructors_work_in_a_job_set() {
    let pool = Pool::builder().workers(2).build();
    let mut set = JobSet::new(&pool);
    let ticket = Ticket("T-4".into());
    set.submit(Job::infallible(|_| async { String::from("a") })).await.unwrap();
    set.submit(Job::once_infallible(move |_| async move { ticket.0 })).await.unwrap();
    set.submit(Job::blocking_infallible(|_| String::from("c"))).await.unwrap();
    let all: Vec<String> = within(set.join_all()).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(all, ["a", "T-4", "c"]);
}

//! Delayed jobs (`Job::delay`, `Job::not_before`): not runnable before their time, shown as
//! `Scheduled` meanwhile, holding no worker and no queue slot, cancellable while they wait.
//! On tokio's paused clock.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use conveyor_pool::{Job, JobError, JobStatus, Pool, Run};
use tokio::time::Instant;

type Io<T> = Result<T, std::io::Error>;

const MS: Duration = Duration::from_millis(1);
const MINUTE: Duration = Duration::from_secs(60);

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(24 * 3600), fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what} never completed"),
    }
}

type Starts = Arc<Mutex<Vec<(&'static str, Instant)>>>;

/// A job that records its name and when it starts.
fn timed(starts: &Starts, name: &'static str) -> Job<impl Run<&'static str>> {
    let starts = starts.clone();
    Job::new(move |_| {
        starts.lock().unwrap().push((name, Instant::now()));
        async move { Io::Ok(name) }
    })
}

/// The starts, as (name, milliseconds since `t0`), in start order.
fn starts_ms(starts: &Starts, t0: Instant) -> Vec<(&'static str, u64)> {
    starts.lock().unwrap().iter().map(|(n, s)| (*n, s.duration_since(t0).as_millis() as u64)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_delayed_job_is_scheduled_until_its_delay_is_over() {
    let pool = Pool::builder().workers(1).build();
    let starts = Starts::default();
    let t0 = Instant::now();
    let h = pool.submit(timed(&starts, "later").delay(MINUTE)).await.unwrap();
    assert_eq!(h.status(), JobStatus::Scheduled);
    assert_eq!(pool.queued(), 0, "it waits in a timer, not in the queue");
    assert_eq!(pool.unresolved(), 1);

    tokio::time::sleep(MINUTE - MS).await;
    assert_eq!(h.status(), JobStatus::Scheduled);
    assert!(starts.lock().unwrap().is_empty(), "not a millisecond early");

    assert_eq!(within("the delayed job", h).await.unwrap(), "later");
    assert_eq!(starts_ms(&starts, t0), [("later", 60_000)]);
}

#[tokio::test(start_paused = true)]
async fn delayed_jobs_hold_no_worker_and_start_in_due_order() {
    let pool = Pool::builder().workers(1).build();
    let starts = Starts::default();
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for (name, secs) in [("30s", 30), ("10s", 10), ("20s", 20)] {
        handles.push(pool.submit(timed(&starts, name).delay(Duration::from_secs(secs))).await.unwrap());
    }
    handles.push(pool.submit(timed(&starts, "now")).await.unwrap());
    for h in handles {
        within("a job", h).await.unwrap();
    }
    assert_eq!(starts_ms(&starts, t0), [("now", 0), ("10s", 10_000), ("20s", 20_000), ("30s", 30_000)]);
}

#[tokio::test(start_paused = true)]
async fn delayed_jobs_take_no_queue_slot() {
    let pool = Pool::builder().workers(1).capacity(1).build();
    let starts = Starts::default();
    let mut handles = Vec::new();
    for name in ["a", "b", "c"] {
        let h = pool.try_submit(timed(&starts, name).delay(Duration::from_secs(5))).unwrap();
        handles.push(h);
    }
    // The queue's one slot is still free.
    handles.push(pool.try_submit(timed(&starts, "now")).unwrap());
    for h in handles {
        within("a job", h).await.unwrap();
    }
    assert_eq!(starts.lock().unwrap().len(), 4, "all ran once due, the queue's bound notwithstanding");
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_scheduled_job_resolves_it_at_once_and_it_never_runs() {
    let pool = Pool::builder().workers(1).build();
    let starts = Starts::default();
    let t0 = Instant::now();
    let h = pool.submit(timed(&starts, "never").delay(MINUTE)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(h.cancel());
    assert!(matches!(within("the cancelled job", h).await, Err(JobError::Cancelled)));
    assert_eq!(t0.elapsed(), Duration::from_secs(10), "resolved at the cancel, not at the due time");
    tokio::time::sleep(2 * MINUTE).await;
    assert!(starts.lock().unwrap().is_empty(), "the body never ran");
    assert_eq!(pool.unresolved(), 0);
}

#[tokio::test(start_paused = true)]
async fn not_before_in_the_past_runs_at_once() {
    let pool = Pool::builder().workers(1).build();
    let starts = Starts::default();
    let t0 = Instant::now();
    let h = pool.submit(timed(&starts, "overdue").not_before(SystemTime::now() - MINUTE)).await.unwrap();
    assert_ne!(h.status(), JobStatus::Scheduled);
    within("the job", h).await.unwrap();
    assert_eq!(starts_ms(&starts, t0), [("overdue", 0)]);
}

#[tokio::test(start_paused = true)]
async fn not_before_in_the_future_waits_and_the_later_of_delay_and_not_before_wins() {
    let pool = Pool::builder().workers(2).build();
    let starts = Starts::default();
    let t0 = Instant::now();
    let at = SystemTime::now() + MINUTE;
    let a = pool.submit(timed(&starts, "not_before").not_before(at)).await.unwrap();
    let b = pool.submit(timed(&starts, "both").not_before(at).delay(Duration::from_secs(90))).await.unwrap();
    let c = pool
        .submit(timed(&starts, "delay shorter").not_before(at).delay(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        (a.status(), b.status(), c.status()),
        (JobStatus::Scheduled, JobStatus::Scheduled, JobStatus::Scheduled)
    );
    for h in [a, b, c] {
        within("a job", h).await.unwrap();
    }
    // `not_before` is a wall-clock time: a few real microseconds pass while the test runs.
    let got = starts_ms(&starts, t0);
    let near = |ms: u64, want: u64| ms <= want && ms + 5 >= want;
    assert_eq!(got.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["not_before", "delay shorter", "both"]);
    assert!(near(got[0].1, 60_000) && near(got[1].1, 60_000), "{got:?}");
    assert_eq!(got[2].1, 90_000, "{got:?}");
}

#[tokio::test(start_paused = true)]
async fn a_graceful_shutdown_waits_for_a_job_due_before_its_deadline() {
    let pool = Pool::builder().workers(1).build();
    let starts = Starts::default();
    let t0 = Instant::now();
    let h = pool.submit(timed(&starts, "due").delay(Duration::from_secs(5))).await.unwrap();
    let report = pool.shutdown(MINUTE).await;
    assert_eq!(report.finished, 1);
    assert_eq!(within("the job", h).await.unwrap(), "due");
    assert_eq!(starts_ms(&starts, t0), [("due", 5_000)]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_now_resolves_a_scheduled_job_without_running_it() {
    let pool = Pool::builder().workers(1).build();
    let starts = Starts::default();
    let h = pool.submit(timed(&starts, "never").delay(MINUTE)).await.unwrap();
    let report = pool.shutdown_now().await;
    assert_eq!(report.never_started, 1);
    assert!(matches!(within("the job", h).await, Err(JobError::Shutdown)));
    tokio::time::sleep(2 * MINUTE).await;
    assert!(starts.lock().unwrap().is_empty());
}

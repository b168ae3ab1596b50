//! `JobSet` groups: `race` (first success, the losers cancelled and cleaned up), `fail_fast`,
//! `join_next` and the `Stream` in completion order (`as_completed`), `join_all` in submit
//! order (`gather`), and what dropping a set does. On tokio's paused clock.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use conveyor_pool::{Job, JobError, JobSet, OnDrop, Pool, Run};
use futures_util::StreamExt;
use tokio::time::{Instant, sleep};

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(24 * 3600), fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what} never completed"),
    }
}

#[derive(Default)]
struct Counts {
    started: AtomicUsize,
    finished: AtomicUsize,
    cleaned_up: AtomicUsize,
}

impl Counts {
    fn started(&self) -> usize {
        self.started.load(SeqCst)
    }

    fn finished(&self) -> usize {
        self.finished.load(SeqCst)
    }

    fn cleaned_up(&self) -> usize {
        self.cleaned_up.load(SeqCst)
    }
}

/// Sleeps `ms`, then returns `value`; if cancelled first, cleans up (10 ms of it) and counts
/// that.
fn source(counts: &Arc<Counts>, ms: u64, value: &'static str) -> Job<impl Run<&'static str>> {
    let counts = counts.clone();
    Job::new(move |ctx| {
        let counts = counts.clone();
        counts.started.fetch_add(1, SeqCst);
        async move {
            tokio::select! {
                _ = sleep(Duration::from_millis(ms)) => {
                    counts.finished.fetch_add(1, SeqCst);
                    Ok(value)
                }
                _ = ctx.cancelled() => {
                    sleep(Duration::from_millis(10)).await; // close the connection, …
                    counts.cleaned_up.fetch_add(1, SeqCst);
                    Err(std::io::Error::other("cancelled"))
                }
            }
        }
    })
}

/// Fails with `message` after `ms`.
fn failing(ms: u64, message: &'static str) -> Job<impl Run<&'static str>> {
    Job::new(move |_| async move {
        sleep(Duration::from_millis(ms)).await;
        Err::<&'static str, _>(message)
    })
}

/// The job's own message (issue 21 moved it from `source()` into `Display`; `get_ref` is
/// the job's error itself).
fn message(err: &JobError) -> String {
    err.get_ref().map_or_else(|| err.to_string(), ToString::to_string)
}

#[tokio::test(start_paused = true)]
async fn race_returns_the_first_success_after_the_losers_cleaned_up() {
    let pool = Pool::builder().workers(4).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    for (ms, name) in [(300, "eu"), (100, "us"), (200, "asia"), (250, "au")] {
        set.submit(source(&counts, ms, name)).await.unwrap();
    }
    let t0 = Instant::now();
    let winner = within("race", set.race()).await.unwrap();
    assert_eq!(winner, "us");
    assert_eq!(counts.finished(), 1, "only the winner finished");
    assert_eq!(counts.cleaned_up(), 3, "every loser's cleanup ran before race returned");
    assert_eq!(t0.elapsed(), Duration::from_millis(110), "the winner's 100 ms + the cleanup's 10 ms");
    assert_eq!(pool.unresolved(), 0);
}

#[tokio::test(start_paused = true)]
async fn race_skips_failures_and_cancels_jobs_not_yet_started() {
    let pool = Pool::builder().workers(2).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    set.submit(failing(10, "mirror down")).await.unwrap();
    set.submit(source(&counts, 50, "second mirror")).await.unwrap();
    for _ in 0..3 {
        set.submit(source(&counts, 1000, "queued")).await.unwrap(); // wait for a worker
    }
    assert_eq!(within("race", set.race()).await.unwrap(), "second mirror");
    // The queued ones that got a worker before the race was won were cancelled and cleaned
    // up (race waited for that); the others never start.
    assert_eq!(counts.finished(), 1);
    assert!(counts.cleaned_up() >= 1, "the failed job's worker took a queued one");
    assert_eq!(counts.started(), 1 + counts.cleaned_up());
    pool.join().await;
    assert_eq!(counts.started(), 1 + counts.cleaned_up(), "nothing started after race returned");
}

#[tokio::test(start_paused = true)]
async fn race_with_every_job_failing_returns_every_error_in_submit_order() {
    let pool = Pool::builder().workers(3).build();
    let mut set = JobSet::new(&pool);
    for (ms, msg) in [(300, "first submitted"), (100, "second submitted"), (200, "third submitted")] {
        set.submit(failing(ms, msg)).await.unwrap();
    }
    let errors = within("race", set.race()).await.unwrap_err();
    let messages: Vec<String> = errors.iter().map(message).collect();
    assert_eq!(messages, ["first submitted", "second submitted", "third submitted"]);
}

#[tokio::test(start_paused = true)]
async fn race_of_an_empty_set_fails_with_no_errors() {
    let pool = Pool::builder().build();
    let set: JobSet<()> = JobSet::new(&pool);
    assert!(set.race().await.unwrap_err().is_empty());
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_the_rest_with_cleanup_and_names_them() {
    let pool = Pool::builder().workers(4).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    let slow_a = set.submit(source(&counts, 60_000, "slow a")).await.unwrap();
    let quick = set.submit(source(&counts, 50, "quick")).await.unwrap();
    let broken = set.submit(failing(100, "disk on fire")).await.unwrap();
    let slow_b = set.submit(source(&counts, 60_000, "slow b")).await.unwrap();
    let t0 = Instant::now();
    let err = within("fail_fast", set.fail_fast()).await.unwrap_err();
    assert_eq!(err.failed, broken);
    assert_eq!(message(&err.error), "disk on fire");
    let mut cancelled = err.cancelled.clone();
    cancelled.sort();
    assert_eq!(cancelled, [slow_a, slow_b], "not `quick`: it had finished");
    assert_ne!(quick, broken);
    assert_eq!(counts.cleaned_up(), 2, "their cleanup ran before fail_fast returned");
    assert_eq!(counts.finished(), 1);
    assert_eq!(t0.elapsed(), Duration::from_millis(110));
    assert_eq!(err.to_string(), format!("job {broken} failed: disk on fire; 2 other jobs cancelled"));
}

#[tokio::test(start_paused = true)]
async fn fail_fast_without_a_failure_returns_every_result_in_submit_order() {
    let pool = Pool::builder().workers(3).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    for (ms, name) in [(30, "a"), (10, "b"), (20, "c")] {
        set.submit(source(&counts, ms, name)).await.unwrap();
    }
    assert_eq!(within("fail_fast", set.fail_fast()).await.unwrap(), ["a", "b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn join_next_yields_in_completion_order() {
    let pool = Pool::builder().workers(4).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    let mut ids = Vec::new();
    for (ms, name) in [(300, "300"), (100, "100"), (0, "0"), (200, "200")] {
        ids.push(set.submit(source(&counts, ms, name)).await.unwrap());
    }
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while let Some((id, result)) = within("join_next", set.join_next()).await {
        seen.push((id, result.unwrap(), t0.elapsed().as_millis()));
        assert_eq!(set.len(), 4 - seen.len());
    }
    assert_eq!(seen, [(ids[2], "0", 0), (ids[1], "100", 100), (ids[3], "200", 200), (ids[0], "300", 300)]);
    assert!(set.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_stream_yields_in_completion_order() {
    let pool = Pool::builder().workers(4).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    for (ms, name) in [(300, "300"), (100, "100"), (0, "0"), (200, "200")] {
        set.submit(source(&counts, ms, name)).await.unwrap();
    }
    let names: Vec<&str> = within("the stream", set.map(|(_, r)| r.unwrap()).collect()).await;
    assert_eq!(names, ["0", "100", "200", "300"]);
}

#[tokio::test(start_paused = true)]
async fn join_all_returns_results_in_submit_order_errors_included() {
    let pool = Pool::builder().workers(4).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    set.submit(source(&counts, 300, "slow")).await.unwrap();
    set.submit(failing(100, "broken")).await.unwrap();
    set.submit(source(&counts, 0, "instant")).await.unwrap();
    let handle = pool.submit(source(&counts, 200, "inserted")).await.unwrap();
    set.insert(handle);
    let all = within("join_all", set.join_all()).await;
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].as_ref().unwrap(), &"slow");
    assert_eq!(message(all[1].as_ref().unwrap_err()), "broken");
    assert_eq!(all[2].as_ref().unwrap(), &"instant");
    assert_eq!(all[3].as_ref().unwrap(), &"inserted");
}

#[tokio::test(start_paused = true)]
async fn join_all_after_join_next_returns_the_rest_in_submit_order() {
    let pool = Pool::builder().workers(3).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    for (ms, name) in [(300, "a"), (100, "b"), (200, "c")] {
        set.submit(source(&counts, ms, name)).await.unwrap();
    }
    assert_eq!(set.join_next().await.unwrap().1.unwrap(), "b");
    let rest: Vec<_> = set.join_all().await.into_iter().map(Result::unwrap).collect();
    assert_eq!(rest, ["a", "c"]);
}

#[tokio::test(start_paused = true)]
async fn cancel_all_cancels_what_is_left_and_the_results_still_come() {
    let pool = Pool::builder().workers(1).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    let quick = set.submit(source(&counts, 0, "quick")).await.unwrap();
    let ids = [
        set.submit(source(&counts, 60_000, "running")).await.unwrap(),
        set.submit(source(&counts, 60_000, "queued")).await.unwrap(),
    ];
    assert_eq!(set.join_next().await.unwrap().0, quick);
    let mut cancelled = set.cancel_all();
    cancelled.sort();
    assert_eq!(cancelled, ids);
    while let Some((_, result)) = within("join_next", set.join_next()).await {
        assert!(matches!(result, Err(JobError::Cancelled)));
    }
    assert_eq!(counts.cleaned_up(), 1, "the running one cleaned up; the queued one never started");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_set_cancels_its_jobs_by_default() {
    let pool = Pool::builder().workers(2).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    for _ in 0..4 {
        set.submit(source(&counts, 1000, "x")).await.unwrap();
    }
    sleep(Duration::from_millis(1)).await; // two of them start
    drop(set);
    within("join", pool.join()).await;
    assert_eq!(counts.finished(), 0, "no job ran to its end");
    assert_eq!(counts.cleaned_up(), 2, "the running ones cleaned up; the queued ones never started");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_detached_set_lets_its_jobs_run_on() {
    let pool = Pool::builder().workers(2).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool).on_drop(OnDrop::Detach);
    for _ in 0..4 {
        set.submit(source(&counts, 1000, "x")).await.unwrap();
    }
    sleep(Duration::from_millis(1)).await;
    drop(set);
    within("join", pool.join()).await;
    assert_eq!((counts.finished(), counts.cleaned_up()), (4, 0));
}

#[tokio::test(start_paused = true)]
async fn try_submit_adds_to_the_set_and_refuses_when_full() {
    let pool = Pool::builder().workers(1).capacity(1).build();
    let counts = Arc::new(Counts::default());
    let mut set = JobSet::new(&pool);
    set.try_submit(source(&counts, 10, "a")).unwrap();
    let refused = set.try_submit(source(&counts, 10, "b")).unwrap_err();
    assert!(refused.is_full());
    assert_eq!(set.len(), 1);
    let all: Vec<_> = set.join_all().await.into_iter().map(Result::unwrap).collect();
    assert_eq!(all, ["a"]);
}

/// Issue 23: the seeds' `asyncio.wait(FIRST_EXCEPTION)` with the default builder: three jobs
/// that loop until cancelled and one that fails. With one worker per core (the old default)
/// on two cores, the loops held every worker and the failing job never started: a hang.
#[tokio::test(start_paused = true)]
async fn first_exception_with_default_workers_does_not_hang() {
    let pool = Pool::builder().build();
    let mut set = JobSet::new(&pool);
    for _ in 0..3 {
        set.submit(Job::new(|ctx| async move {
            loop {
                tokio::select! {
                    () = ctx.cancelled() => return Ok::<(), &str>(()),
                    () = tokio::time::sleep(Duration::from_millis(300)) => {}
                }
            }
        }))
        .await
        .unwrap();
    }
    set.submit(Job::new(|_| async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        Err::<(), _>("disk on fire")
    }))
    .await
    .unwrap();
    let failed = within("fail_fast", set.fail_fast()).await.unwrap_err();
    assert!(failed.to_string().contains("failed"), "{failed}");
}

/// Issue 21: a `FailFast` printed `job 3 failed; 3 other jobs cancelled`, without what went
/// wrong. It names the job with its own message, for each way a job can fail, and anyhow's
/// `{:#}` shows the message once.
#[tokio::test(start_paused = true)]
async fn fail_fast_prints_the_first_failures_own_message_once() {
    let pool = Pool::builder().workers(2).build();
    let counts = Arc::new(Counts::default());

    let mut set = JobSet::new(&pool);
    let slow = set.submit(source(&counts, 60_000, "slow")).await.unwrap();
    let broken = set.submit(failing(10, "disk on fire")).await.unwrap();
    let err = within("fail_fast", set.fail_fast()).await.unwrap_err();
    assert_eq!(err.cancelled, [slow]);
    assert_eq!(err.to_string(), format!("job {broken} failed: disk on fire; 1 other job cancelled"));
    let report = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(report.matches("disk on fire").count(), 1, "{report}");

    let mut set = JobSet::new(&pool);
    let panicking =
        set.submit(Job::new(|_| async { panic!("index out of bounds") as Result<(), &str> })).await.unwrap();
    let err = within("fail_fast", set.fail_fast()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("job {panicking} panicked: index out of bounds; 0 other jobs cancelled")
    );

    let mut set = JobSet::new(&pool);
    let slow_a = set.submit(source(&counts, 60_000, "slow a")).await.unwrap();
    let late = set
        .submit(
            Job::infallible(|_| async {
                sleep(Duration::from_secs(3600)).await;
                "late"
            })
            .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let err = within("fail_fast", set.fail_fast()).await.unwrap_err();
    assert_eq!(err.cancelled, [slow_a]);
    assert_eq!(err.to_string(), format!("job {late} timed out; 1 other job cancelled"));
}

/// Issue 21: each error `race` hands back when every job failed prints its job's message.
#[tokio::test(start_paused = true)]
async fn race_errors_print_each_jobs_own_message() {
    let pool = Pool::builder().workers(2).build();
    let mut set = JobSet::new(&pool);
    set.submit(failing(20, "mirror down")).await.unwrap();
    set.submit(failing(10, "checksum mismatch")).await.unwrap();
    let errors = within("race", set.race()).await.unwrap_err();
    let printed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(printed, ["job failed: mirror down", "job failed: checksum mismatch"]);
}

/// Issue 21: a `JobSet` is not a pool of its own; its jobs wait for the pool's workers like
/// any other job. With the pool's only worker busy, a set's job stays queued.
#[tokio::test(start_paused = true)]
async fn a_sets_jobs_run_on_the_pools_workers() {
    let pool = Pool::builder().workers(1).build();
    let busy = pool
        .submit(Job::infallible(|_| async {
            sleep(Duration::from_secs(10)).await;
            "outside the set"
        }))
        .await
        .unwrap();
    let mut set = JobSet::new(&pool);
    set.submit(Job::infallible(|_| async { "in the set" })).await.unwrap();
    let t0 = Instant::now();
    let (_, result) = within("join_next", set.join_next()).await.unwrap();
    assert_eq!(result.unwrap(), "in the set");
    assert_eq!(t0.elapsed(), Duration::from_secs(10), "it waited for the pool's one worker");
    assert_eq!(within("busy", busy).await.unwrap(), "outside the set");
}

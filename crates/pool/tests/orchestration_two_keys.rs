//! A job under two keys: a concurrency limit on its `concurrency_key` and a rate limit on its
//! `rate_key`, both at once; a job waiting for a token holds neither a worker nor a slot. On
//! tokio's paused clock.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conveyor_pool::{Job, JobError, JobHandle, Pool, Run};
use tokio::time::Instant;

type Io<T> = Result<T, std::io::Error>;

const MS: Duration = Duration::from_millis(1);

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(24 * 3600), fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what} never completed"),
    }
}

/// (start, end) of each run, in ms since `t0`.
type Spans = Arc<Mutex<Vec<(u64, u64)>>>;

/// A job that sleeps `ms` and records when it ran.
fn timed(spans: &Spans, t0: Instant, ms: u64) -> Job<impl Run<()>> {
    let spans = spans.clone();
    Job::new(move |_| {
        let spans = spans.clone();
        async move {
            let start = t0.elapsed().as_millis() as u64;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            spans.lock().unwrap().push((start, t0.elapsed().as_millis() as u64));
            Io::Ok(())
        }
    })
}

/// Submits `n` jobs of `ms` each, with concurrency key `db` and rate key `api`.
async fn submit_db_api(pool: &Pool, spans: &Spans, t0: Instant, n: usize, ms: u64) -> Vec<JobHandle<()>> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let job = timed(spans, t0, ms).concurrency_key("db").rate_key("api");
        handles.push(pool.submit(job).await.unwrap());
    }
    handles
}

/// The start times recorded in `spans`, in order.
fn sorted_starts(spans: &Spans) -> Vec<u64> {
    let mut starts: Vec<u64> = spans.lock().unwrap().iter().map(|s| s.0).collect();
    starts.sort_unstable();
    starts
}

async fn all_ok(handles: Vec<JobHandle<()>>) {
    for h in handles {
        within("a job", h).await.unwrap();
    }
}

fn max_overlap(spans: &[(u64, u64)]) -> usize {
    spans.iter().map(|&(s, _)| spans.iter().filter(|&&(a, b)| a <= s && s < b).count()).max().unwrap_or(0)
}

fn max_starts_per(spans: &[(u64, u64)], window: u64) -> usize {
    spans
        .iter()
        .map(|&(s, _)| spans.iter().filter(|&&(a, _)| s <= a && a < s + window).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn a_job_obeys_a_concurrency_limit_and_another_keys_rate_limit_at_once() {
    let pool = Pool::builder()
        .workers(4)
        .concurrency_limit("db", 1)
        .rate_limit("api", 2, Duration::from_secs(1))
        .build();
    let spans = Spans::default();
    let t0 = Instant::now();
    let handles = submit_db_api(&pool, &spans, t0, 6, 100).await;
    all_ok(handles).await;
    let spans = spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 6, "every job ran: {spans:?}");
    assert_eq!(max_overlap(&spans), 1, "never two at once on `db`: {spans:?}");
    // A token bucket (a burst of 2, then one token every 500 ms): the i-th start (0-based)
    // comes no earlier than (i - 1) * 500 ms, and a 1 s window holds at most 3 starts (a full
    // bucket's 2, plus 1 refilled inside the window).
    let mut starts: Vec<u64> = spans.iter().map(|s| s.0).collect();
    starts.sort_unstable();
    for (i, &s) in starts.iter().enumerate() {
        assert!(s + 500 >= i as u64 * 500, "start {i} too early: {starts:?}");
    }
    assert!(max_starts_per(&spans, 1000) <= 3, "`api` rate kept: {spans:?}");
    // The burst's two one after the other (100 ms each, one `db` slot), then a token
    // every 500 ms.
    assert_eq!(starts, [0, 100, 500, 1000, 1500, 2000]);
}

#[tokio::test(start_paused = true)]
async fn a_job_waiting_for_a_token_holds_no_slot_and_no_worker() {
    let pool = Pool::builder()
        .workers(2)
        .concurrency_limit("db", 1)
        .rate_limit("api", 1, Duration::from_secs(1))
        .build();
    let spans = Spans::default();
    let t0 = Instant::now();
    let first = pool.submit(timed(&spans, t0, 10).concurrency_key("db").rate_key("api")).await.unwrap();
    // Waits a second for its token.
    let second = pool.submit(timed(&spans, t0, 10).concurrency_key("db").rate_key("api")).await.unwrap();
    let db_only = Spans::default();
    let writer = pool.submit(timed(&db_only, t0, 10).concurrency_key("db")).await.unwrap();
    let free = Spans::default();
    let unkeyed = pool.submit(timed(&free, t0, 10)).await.unwrap();
    all_ok(vec![first, second, writer, unkeyed]).await;
    let spans = spans.lock().unwrap().clone();
    let writer = db_only.lock().unwrap()[0];
    assert!(writer.0 < 100, "the db-only job did not wait for the api token: {writer:?} {spans:?}");
    assert!(free.lock().unwrap()[0].0 < 100, "a worker stayed free");
    let mut starts: Vec<u64> = spans.iter().map(|s| s.0).collect();
    starts.sort_unstable();
    assert_eq!(starts, [0, 1000]);
}

#[tokio::test(start_paused = true)]
async fn with_a_rate_key_the_concurrency_keys_rate_limit_does_not_apply() {
    let pool = Pool::builder()
        .workers(4)
        .rate_limit("db", 1, Duration::from_secs(10))
        .concurrency_limit("api", 1)
        .build();
    let spans = Spans::default();
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..3 {
        // `api` has no rate limit; its concurrency limit is not the job's (a rate key only).
        let job = timed(&spans, t0, 10).concurrency_key("db").rate_key("api");
        handles.push(pool.submit(job).await.unwrap());
    }
    all_ok(handles).await;
    let spans = spans.lock().unwrap().clone();
    assert!(spans.iter().all(|s| s.0 == 0), "all started at once: {spans:?}");
}

#[tokio::test(start_paused = true)]
async fn a_rate_key_alone_limits_starts_and_a_rate_key_equal_to_the_concurrency_key_is_one_key() {
    let pool = Pool::builder().workers(4).rate_limit("api", 1, Duration::from_secs(1)).build();
    let spans = Spans::default();
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for i in 0..3 {
        let job = timed(&spans, t0, 10).rate_key("api");
        let job = if i == 2 { job.concurrency_key("api") } else { job };
        handles.push(pool.submit(job).await.unwrap());
    }
    all_ok(handles).await;
    let starts = sorted_starts(&spans);
    assert_eq!(starts, [0, 1000, 2000]);
}

#[tokio::test(start_paused = true)]
async fn cancelling_jobs_waiting_on_either_key_lets_the_others_run() {
    let pool = Pool::builder()
        .workers(2)
        .concurrency_limit("db", 1)
        .rate_limit("api", 1, Duration::from_secs(1))
        .build();
    let spans = Spans::default();
    let t0 = Instant::now();
    let mut handles = submit_db_api(&pool, &spans, t0, 4, 1500).await;
    tokio::time::sleep(1100 * MS).await;
    // Now: the first runs; the second has its token and waits for `db`; the others wait
    // for tokens.
    assert!(handles[1].cancel(), "waiting for a slot");
    assert!(handles[2].cancel(), "waiting for a token");
    let last = handles.pop().unwrap();
    let cancelled: Vec<_> = handles.drain(1..).collect();
    for h in cancelled {
        assert!(matches!(within("a cancelled job", h).await, Err(JobError::Cancelled)));
    }
    within("the first", handles.pop().unwrap()).await.unwrap();
    within("the last", last).await.unwrap();
    let starts = sorted_starts(&spans);
    // The last one's token comes at 2 s (the cancelled one's token is not given back).
    assert_eq!(starts, [0, 2000]);
}

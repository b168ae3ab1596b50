//! Per-key rate limits (a token bucket: a burst of `count`, then one start every
//! `per / count`): the starts keep to the rate over every window, every job runs, and a job
//! waiting for a token holds no worker. On tokio's paused clock.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conveyor_pool::{Job, JobError, JobHandle, JobStatus, Pool, Run};
use tokio::sync::oneshot;
use tokio::time::Instant;

type Io<T> = Result<T, std::io::Error>;

const MS: Duration = Duration::from_millis(1);

async fn settle() {
    tokio::time::sleep(MS).await;
}

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(24 * 3600), fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what} never completed"),
    }
}

type Starts = Arc<Mutex<Vec<Instant>>>;

/// A job that records when it starts.
fn timed(starts: &Starts) -> Job<impl Run<()>> {
    let starts = starts.clone();
    Job::new(move |_| {
        starts.lock().unwrap().push(Instant::now());
        async { Io::Ok(()) }
    })
}

fn held_on(rx: oneshot::Receiver<()>) -> Job<impl Run<()>> {
    let rx = Mutex::new(Some(rx));
    Job::new(move |_| {
        let rx = rx.lock().unwrap().take();
        async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
            Io::Ok(())
        }
    })
}

/// Start times in milliseconds since `t0`, sorted.
fn millis(starts: &Starts, t0: Instant) -> Vec<u64> {
    let mut ms: Vec<u64> =
        starts.lock().unwrap().iter().map(|s| s.duration_since(t0).as_millis() as u64).collect();
    ms.sort_unstable();
    ms
}

async fn all_ok(handles: Vec<JobHandle<()>>) {
    for h in handles {
        within("a job", h).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn rate_limit_holds_over_every_window_and_every_job_runs() {
    let pool = Pool::builder().workers(4).rate_limit("api", 5, Duration::from_secs(1)).build();
    let starts = Starts::default();
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..20 {
        handles.push(pool.submit(timed(&starts).concurrency_key("api")).await.unwrap());
    }
    all_ok(handles).await;
    let ms = millis(&starts, t0);

    // The burst of 5, then one start every 200 ms: 20 starts in 3 s, not 4 s (no bursts after
    // the first) and not at once.
    let expected: Vec<u64> = [0; 5].into_iter().chain((1..=15).map(|i| i * 200)).collect();
    assert_eq!(ms, expected);

    // The token bucket's bound over any window [t, t + w]: at most 5 (the burst) + w / 200 ms.
    for i in 0..ms.len() {
        for j in i..ms.len() {
            let (count, w) = ((j - i + 1) as u64, ms[j] - ms[i]);
            assert!(count <= 5 + w / 200, "{count} starts within {w} ms: {ms:?}");
        }
    }
    // Once the burst is spent, no 1-second window holds more than 5 starts.
    for pair in ms[5..].windows(6) {
        assert!(pair[5] - pair[0] >= 1000, "6 starts within a second after the burst: {ms:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_key_waiting_for_tokens_holds_no_worker() {
    let pool = Pool::builder().workers(1).rate_limit("api", 1, Duration::from_secs(3600)).build();
    let (api, others) = (Starts::default(), Starts::default());
    let t0 = Instant::now();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(pool.submit(timed(&api).concurrency_key("api")).await.unwrap());
    }
    let mut other = Vec::new();
    for _ in 0..3 {
        other.push(pool.submit(timed(&others)).await.unwrap());
    }
    all_ok(other).await;
    assert_eq!(millis(&others, t0), [0, 0, 0], "the only worker ran them at once");
    assert_eq!(millis(&api, t0), [0], "one token, one start");
    let first = waiting.remove(0);
    within("the first api job", first).await.unwrap();
    assert!(waiting.iter().all(|h| h.status() == JobStatus::Queued));

    // Removing the limit starts the waiting jobs at once.
    pool.set_rate_limit("api", None);
    all_ok(waiting).await;
    assert_eq!(millis(&api, t0), [0, 0, 0]);
}

/// Regression: the timer armed for the old rate's next token (here 10 s away) stayed the
/// only one — the last job started at 10 000 ms instead of 51 ms.
#[tokio::test(start_paused = true)]
async fn changing_the_rate_at_run_time_applies_to_the_waiting_jobs() {
    let pool = Pool::builder().workers(2).rate_limit("api", 1, Duration::from_secs(10)).build();
    let starts = Starts::default();
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(pool.submit(timed(&starts).concurrency_key("api")).await.unwrap());
    }
    settle().await;
    assert_eq!(millis(&starts, t0), [0]);
    // A new rate starts with a full bucket of its own: 2 at once, then one per 50 ms.
    pool.set_rate_limit("api", Some((2, Duration::from_millis(100))));
    all_ok(handles).await;
    assert_eq!(millis(&starts, t0), [0, 1, 1, 51]);
}

/// Regression: a job sent back to the queue when its token came, cancelled before a worker
/// took it again, kept its promised start: no timer was armed (the token was still in the
/// bucket) and no job of the key ever started again (this test hung).
#[tokio::test(start_paused = true)]
async fn cancelling_a_job_released_by_a_token_gives_the_token_back() {
    let pool = Pool::builder().workers(1).rate_limit("api", 1, Duration::from_secs(1)).build();
    let starts = Starts::default();
    let t0 = Instant::now();
    let first = pool.submit(timed(&starts).concurrency_key("api")).await.unwrap();
    let second = pool.submit(timed(&starts).concurrency_key("api")).await.unwrap();
    settle().await; // `first` took the token, `second` waits for the next
    let (busy_tx, busy_rx) = oneshot::channel();
    let busy = pool.submit(held_on(busy_rx)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The token came: `second` is back in the queue, behind the busy worker.
    assert_eq!(second.status(), JobStatus::Queued);
    assert!(second.cancel());
    assert!(matches!(within("second", second).await, Err(JobError::Cancelled)));

    let third = pool.submit(timed(&starts).concurrency_key("api")).await.unwrap();
    busy_tx.send(()).unwrap();
    within("the key's next job", third).await.unwrap();
    within("first", first).await.unwrap();
    within("busy", busy).await.unwrap();
    assert_eq!(millis(&starts, t0), [0, 1001]);
}

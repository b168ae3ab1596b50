//! Blocking jobs run on tokio's blocking threads: a blocking job never stalls the async
//! workers, even on a single-threaded runtime; their panics and errors are reported like an
//! async job's.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use conveyor_pool::{Job, JobError, Pool};
use support::{Io, within};

/// On a current-thread runtime, a blocking job waits for a message that only an async job
/// submitted after it sends. Were the blocking job run on the runtime's only thread, the async
/// job could never run: the wait would time out (10 s, a safety net) and the test fail.
#[tokio::test(flavor = "current_thread")]
async fn a_blocking_job_does_not_stall_async_jobs_on_a_current_thread_runtime() {
    let pool = Pool::builder().workers(2).build();
    let runtime_thread = std::thread::current().id();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let rx = Mutex::new(rx);
    let blocking = pool
        .submit(Job::blocking(move |_| {
            let on_runtime_thread = std::thread::current().id() == runtime_thread;
            let got =
                rx.lock().unwrap().recv_timeout(Duration::from_secs(10)).map_err(std::io::Error::other)?;
            Io::Ok((got, on_runtime_thread))
        }))
        .await
        .unwrap();
    let tx = Mutex::new(tx);
    let sender = pool
        .submit(Job::new(move |_| {
            let sent = tx.lock().unwrap().send(42).map_err(std::io::Error::other);
            async move { sent }
        }))
        .await
        .unwrap();
    within(sender).await.unwrap();
    let (got, on_runtime_thread) = within(blocking).await.unwrap();
    assert_eq!(got, 42);
    assert!(!on_runtime_thread, "a blocking job runs on a blocking thread");
}

/// Many async jobs flow through the other worker while a blocking job holds its thread.
#[tokio::test(flavor = "current_thread")]
async fn async_jobs_keep_flowing_while_a_blocking_job_runs() {
    let pool = Pool::builder().workers(2).build();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    let blocking = pool
        .submit(Job::blocking(move |_| {
            rx.lock().unwrap().recv_timeout(Duration::from_secs(10)).map_err(std::io::Error::other)?;
            Io::Ok("released")
        }))
        .await
        .unwrap();
    let mut handles = Vec::new();
    for n in 0..100u64 {
        handles.push(pool.submit(Job::new(move |_| async move { Io::Ok(n) })).await.unwrap());
    }
    let mut sum = 0;
    for h in handles {
        sum += within(h).await.unwrap();
    }
    assert_eq!(sum, 4950);
    assert!(!blocking.is_finished());
    tx.send(()).unwrap();
    assert_eq!(within(blocking).await.unwrap(), "released");
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_jobs_report_values_errors_and_panics() {
    let pool = Pool::builder().workers(1).build();
    let value = pool.submit(Job::blocking(|ctx| Io::Ok(ctx.attempt() + 1))).await.unwrap();
    let failed =
        pool.submit(Job::blocking(|_| Err::<(), _>(std::io::Error::other("cpu says no")))).await.unwrap();
    let n = 3;
    let panicked =
        pool.submit(Job::blocking(move |_| -> Io<()> { panic!("blocking boom {n}") })).await.unwrap();
    let after = pool.submit(Job::blocking(|_| Io::Ok("still working"))).await.unwrap();
    assert_eq!(within(value).await.unwrap(), 2);
    let err = within(failed).await.unwrap_err();
    assert!(matches!(&err, JobError::Failed(e) if e.to_string() == "cpu says no"), "{err:?}");
    let err = within(panicked).await.unwrap_err();
    assert!(matches!(&err, JobError::Panicked(m) if m == "blocking boom 3"), "{err:?}");
    assert_eq!(within(after).await.unwrap(), "still working");
}

/// A blocking job cannot be interrupted, but it can poll `is_cancelled` and stop early.
#[tokio::test(flavor = "current_thread")]
async fn a_blocking_job_sees_is_cancelled() {
    let pool = Pool::builder().workers(1).build();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started_tx = Mutex::new(Some(started_tx));
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel::<bool>();
    let seen_tx = Mutex::new(Some(seen_tx));
    let h = pool
        .submit(Job::blocking(move |ctx| {
            let _ = started_tx.lock().unwrap().take().unwrap().send(());
            let give_up = std::time::Instant::now() + Duration::from_secs(10);
            while !ctx.is_cancelled() && std::time::Instant::now() < give_up {
                std::thread::yield_now();
            }
            let _ = seen_tx.lock().unwrap().take().unwrap().send(ctx.is_cancelled());
            Err::<(), _>("stopped early")
        }))
        .await
        .unwrap();
    within(started_rx).await.unwrap();
    assert!(h.cancel());
    assert!(within(seen_rx).await.unwrap(), "the blocking job saw the cancel");
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
}

/// Issue 23: blocking jobs have a bound of their own (`blocking_workers`), apart from the
/// many async workers: with 8 workers and 2 blocking permits, at most 2 run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_jobs_run_at_most_blocking_workers_at_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let pool = Pool::builder().workers(8).blocking_workers(2).build();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let wait = Arc::new(Mutex::new(wait));
    let mut handles = Vec::new();
    for _ in 0..6 {
        let (running, most, wait) = (running.clone(), most.clone(), wait.clone());
        let job = Job::blocking(move |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let token = wait.lock().unwrap().recv_timeout(Duration::from_secs(10));
            running.fetch_sub(1, Ordering::SeqCst);
            token.map_err(std::io::Error::other)
        });
        handles.push(pool.submit(job).await.unwrap());
    }
    for left in (1..=6).rev() {
        // Let one job go once as many as may run are waiting for a token.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while running.load(Ordering::SeqCst) < left.min(2) {
            assert!(std::time::Instant::now() < deadline, "jobs never started");
            tokio::task::yield_now().await;
        }
        go.send(()).unwrap();
    }
    for h in handles {
        within(h).await.unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 2);
}

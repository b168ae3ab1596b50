//! Pausing the whole pool: nothing starts while it is paused (running jobs go on), queued
//! work stays queued and cancellable, and resuming runs it in priority order. On tokio's
//! paused clock.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conveyor_pool::{Job, JobError, JobStatus, Pool, Run};
use tokio::sync::oneshot;
use tokio::time::Instant;

type Io<T> = Result<T, std::io::Error>;

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(24 * 3600), fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what} never completed"),
    }
}

type Log = Arc<Mutex<Vec<&'static str>>>;

fn logged(log: &Log, name: &'static str) -> Job<impl Run<()>> {
    let log = log.clone();
    Job::new(move |_| {
        log.lock().unwrap().push(name);
        async { Io::Ok(()) }
    })
}

#[tokio::test(start_paused = true)]
async fn nothing_starts_while_paused_and_resume_runs_the_queue_in_priority_order() {
    let pool = Pool::builder().workers(2).build();
    let log = Log::default();
    tokio::time::sleep(Duration::from_millis(1)).await; // the workers wait in the queue
    pool.pause();
    assert!(pool.is_paused());
    let mut handles = Vec::new();
    for (name, priority) in [("p3", 3), ("p1", 1), ("p2", 2), ("p0", 0)] {
        handles.push(pool.submit(logged(&log, name).priority(priority)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(log.lock().unwrap().is_empty(), "nothing started in an hour of pause");
    assert_eq!(pool.queued(), 4, "queued work stays in the queue");
    assert!(handles.iter().all(|h| h.status() == JobStatus::Queued));

    let t = Instant::now();
    pool.resume();
    assert!(!pool.is_paused());
    for h in handles {
        within("a job", h).await.unwrap();
    }
    assert_eq!(t.elapsed(), Duration::ZERO, "resume runs them at once");
    assert_eq!(*log.lock().unwrap(), ["p0", "p1", "p2", "p3"]);
}

#[tokio::test(start_paused = true)]
async fn pausing_lets_running_jobs_finish_and_starts_nothing_new() {
    let pool = Pool::builder().workers(1).build();
    let log = Log::default();
    let (tx, rx) = oneshot::channel::<()>();
    let rx = Mutex::new(Some(rx));
    let log2 = log.clone();
    let running = pool
        .submit(Job::new(move |_| {
            let rx = rx.lock().unwrap().take();
            let log = log2.clone();
            async move {
                if let Some(rx) = rx {
                    let _ = rx.await;
                }
                log.lock().unwrap().push("running job ended");
                Io::Ok(())
            }
        }))
        .await
        .unwrap();
    tokio::task::yield_now().await;
    assert_eq!(running.status(), JobStatus::Running);
    pool.pause();
    let next = pool.submit(logged(&log, "next")).await.unwrap();
    tx.send(()).unwrap();
    within("the running job", running).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(*log.lock().unwrap(), ["running job ended"]);
    assert_eq!(next.status(), JobStatus::Queued);
    pool.resume();
    within("the next job", next).await.unwrap();
    assert_eq!(*log.lock().unwrap(), ["running job ended", "next"]);
}

#[tokio::test(start_paused = true)]
async fn a_job_queued_in_a_paused_pool_can_be_cancelled() {
    let pool = Pool::builder().workers(2).build();
    let log = Log::default();
    pool.pause();
    let doomed = pool.submit(logged(&log, "doomed")).await.unwrap();
    let kept = pool.submit(logged(&log, "kept")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(doomed.cancel());
    assert!(matches!(within("the cancelled job", doomed).await, Err(JobError::Cancelled)));
    assert_eq!(pool.queued(), 1);
    pool.resume();
    within("the kept job", kept).await.unwrap();
    assert_eq!(*log.lock().unwrap(), ["kept"]);
}

#[tokio::test(start_paused = true)]
async fn a_delayed_job_due_while_paused_waits_for_resume() {
    let pool = Pool::builder().workers(1).build();
    let log = Log::default();
    pool.pause();
    let h = pool.submit(logged(&log, "due").delay(Duration::from_secs(5))).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.status(), JobStatus::Queued, "due, but the pool is paused");
    assert!(log.lock().unwrap().is_empty());
    pool.resume();
    within("the job", h).await.unwrap();
    assert_eq!(*log.lock().unwrap(), ["due"]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_of_a_paused_pool_ends_its_queued_jobs() {
    let pool = Pool::builder().workers(1).build();
    let log = Log::default();
    pool.pause();
    let h = pool.submit(logged(&log, "never")).await.unwrap();
    let report = within("shutdown", pool.shutdown(Duration::from_secs(1))).await;
    assert_eq!(report.never_started, 1);
    assert!(matches!(h.await, Err(JobError::Shutdown)));
    assert!(log.lock().unwrap().is_empty());
}

/// Regression: a worker waiting in the queue when the pool paused took the next job anyway
/// and had to put it back — behind the jobs of its priority queued after it. Two idle
/// workers turned `a b c d` into `c d a b`.
#[tokio::test(start_paused = true)]
async fn equal_priority_jobs_keep_submit_order_across_a_pause() {
    let pool = Pool::builder().workers(2).build();
    let log = Log::default();
    tokio::time::sleep(Duration::from_millis(1)).await; // the workers wait in the queue
    pool.pause();
    let mut handles = Vec::new();
    for name in ["a", "b", "c", "d"] {
        handles.push(pool.submit(logged(&log, name)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    pool.resume();
    for h in handles {
        within("a job", h).await.unwrap();
    }
    assert_eq!(*log.lock().unwrap(), ["a", "b", "c", "d"]);
}

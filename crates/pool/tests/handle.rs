//! `JobHandle`: ids in submit order, the status of each stage, detaching on drop, and the
//! panic on polling a handle after it returned.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use conveyor_pool::{Job, JobStatus, Pool, RetryPolicy};
use futures_util::FutureExt;
use support::{Gate, Io, Log, Signal, settle, within};

#[tokio::test(start_paused = true)]
async fn ids_increase_in_submit_order() {
    let pool = Pool::builder().workers(2).build();
    let mut ids = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..10 {
        let h = pool.submit(Job::new(|ctx| async move { Io::Ok(ctx.id()) })).await.unwrap();
        ids.push(h.id());
        handles.push(h);
    }
    let h = pool.try_submit(Job::new(|ctx| async move { Io::Ok(ctx.id()) })).unwrap();
    ids.push(h.id());
    handles.push(h);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(ids[0].get() + 10, ids[10].get());
    for (id, h) in ids.into_iter().zip(handles) {
        assert_eq!(within(h).await.unwrap(), id, "the job's own id is the handle's");
    }
}

#[tokio::test(start_paused = true)]
async fn status_goes_queued_running_finished() {
    let pool = Pool::builder().workers(1).build();
    let (started, gate) = (Signal::new(), Gate::new());
    let (s, g) = (started.clone(), gate.clone());
    let h = pool
        .submit(Job::new(move |_| {
            let (s, g) = (s.clone(), g.clone());
            async move {
                s.send();
                g.wait().await;
                Io::Ok(5)
            }
        }))
        .await
        .unwrap();
    assert_eq!(h.status(), JobStatus::Queued);
    assert!(!h.is_finished());
    started.recv().await;
    assert_eq!(h.status(), JobStatus::Running);
    assert!(format!("{h:?}").contains("Running"));
    gate.open();
    within(pool.join()).await;
    assert_eq!(h.status(), JobStatus::Finished);
    assert!(h.is_finished());
    assert_eq!(within(h).await.unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn status_is_retrying_during_the_retry_delay() {
    let pool = Pool::builder().workers(1).build();
    let attempts = Arc::new(AtomicU32::new(0));
    let a = attempts.clone();
    let h = pool
        .submit(
            Job::new(move |ctx| {
                a.fetch_add(1, SeqCst);
                async move { if ctx.attempt() == 1 { Err("flaky") } else { Ok(ctx.attempt()) } }
            })
            .retry(RetryPolicy::fixed(2, Duration::from_secs(10))),
        )
        .await
        .unwrap();
    settle().await;
    assert_eq!(attempts.load(SeqCst), 1);
    assert_eq!(h.status(), JobStatus::Retrying);
    tokio::time::advance(Duration::from_secs(9)).await;
    settle().await;
    assert_eq!(h.status(), JobStatus::Retrying, "still waiting out the delay");
    assert_eq!(attempts.load(SeqCst), 1);
    assert_eq!(within(h).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_handle_detaches_the_job_which_still_runs() {
    let pool = Pool::builder().workers(1).build();
    let (started, gate, done) = (Signal::new(), Gate::new(), Log::new());
    let (s, g, d) = (started.clone(), gate.clone(), done.clone());
    let h = pool
        .submit(Job::new(move |_| {
            let (s, g, d) = (s.clone(), g.clone(), d.clone());
            async move {
                s.send();
                g.wait().await;
                d.push("ran to its end");
                Io::Ok(())
            }
        }))
        .await
        .unwrap();
    started.recv().await;
    drop(h);
    // A queued job whose handle is dropped still runs too.
    let d = done.clone();
    drop(
        pool.submit(Job::new(move |_| {
            let d = d.clone();
            async move {
                d.push("queued ran");
                Io::Ok(())
            }
        }))
        .await
        .unwrap(),
    );
    gate.open();
    within(pool.join()).await;
    assert_eq!(done.get(), ["ran to its end", "queued ran"]);
}

#[tokio::test(start_paused = true)]
async fn awaiting_a_handle_is_cancel_safe() {
    let pool = Pool::builder().workers(1).build();
    let gate = Gate::new();
    let g = gate.clone();
    let mut h = pool
        .submit(Job::new(move |_| {
            let g = g.clone();
            async move {
                g.wait().await;
                Io::Ok(9)
            }
        }))
        .await
        .unwrap();
    // An abandoned await loses nothing.
    assert!((&mut h).now_or_never().is_none());
    assert!(tokio::time::timeout(Duration::from_secs(1), &mut h).await.is_err());
    gate.open();
    assert_eq!(within(h).await.unwrap(), 9);
}

#[tokio::test]
#[should_panic(expected = "`JobHandle` polled after it returned its result")]
async fn polling_a_handle_after_it_returned_panics() {
    let pool = Pool::builder().workers(1).build();
    let mut h = pool.submit(Job::new(|_| async { Io::Ok(1) })).await.unwrap();
    assert_eq!((&mut h).await.unwrap(), 1);
    let _ = (&mut h).await;
}

/// Regression: `is_finished` said `true` from the moment the job's outcome was claimed, while
/// the finish hook and the events were still being sent and the handle was not ready yet
/// (its docs promise "the handle will be ready when polled"). A slow hook shows it.
#[test]
fn is_finished_means_the_handle_is_ready_when_polled() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (in_hook_tx, in_hook_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    rt.block_on(async move {
        let pool = Pool::builder()
            .workers(1)
            .on_finish(move |_| {
                in_hook_tx.send(()).unwrap();
                // Safety net only: the test releases the hook right away.
                release_rx.lock().unwrap().recv_timeout(Duration::from_secs(10)).unwrap();
            })
            .build();
        let mut h = pool.submit(Job::new(|_| async { Io::Ok(1) })).await.unwrap();
        // The worker thread is now inside the hook (this test thread is not a worker).
        in_hook_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let finished = h.is_finished();
        let ready = (&mut h).now_or_never().map(|r| r.unwrap());
        release_tx.send(()).unwrap();
        assert!(!finished || ready.is_some(), "is_finished() was true but the handle was not ready");
        let value = match ready {
            Some(v) => v,
            None => within(h).await.unwrap(),
        };
        assert_eq!(value, 1);
    });
}

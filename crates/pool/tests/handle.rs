//! `JobHandle`: ids in submit order, the status of each stage, detaching on drop, the
//! panic on polling a handle after it returned, and `started()` (running, or why it never
//! ran).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use conveyor_pool::{Job, JobError, JobStatus, Pool, RetryPolicy};
use futures_util::FutureExt;
use support::{Gate, Io, Log, Signal, settle, within};
use tokio_test::{assert_pending, assert_ready};

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

// `started()`: "this job is running", or why it never ran.

/// A job that records that its body ran, then waits at `gate`.
fn mark_then_wait(ran: &Arc<AtomicU32>, gate: &Gate) -> Job<impl conveyor_pool::Run<()>> {
    let (ran, gate) = (ran.clone(), gate.clone());
    Job::new(move |_| {
        let (ran, gate) = (ran.clone(), gate.clone());
        async move {
            ran.fetch_add(1, SeqCst);
            gate.wait().await;
            Io::Ok(())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn started_resolves_when_the_first_attempt_starts() {
    let pool = Pool::builder().workers(1).build();
    let (busy_gate, gate) = (Gate::new(), Gate::new());
    let busy = pool.submit(mark_then_wait(&Arc::new(AtomicU32::new(0)), &busy_gate)).await.unwrap();
    let ran = Arc::new(AtomicU32::new(0));
    let h = pool.submit(mark_then_wait(&ran, &gate)).await.unwrap();

    let mut started = tokio_test::task::spawn(h.started());
    settle().await;
    assert_pending!(started.poll(), "queued behind the busy worker");
    assert_eq!(h.status(), JobStatus::Queued);

    busy_gate.open();
    settle().await;
    assert!(started.is_woken(), "the start wakes the waiter");
    assert_ready!(started.poll()).unwrap();
    assert_eq!(ran.load(SeqCst), 1, "the body runs when `started` resolves");
    assert_eq!(h.status(), JobStatus::Running);
    drop(started);

    gate.open();
    within(h).await.unwrap();
    within(busy).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn started_is_ok_for_a_job_that_already_finished_whatever_its_outcome() {
    let pool = Pool::builder().build();
    let h = pool.submit(Job::new(|_| async { Err::<(), _>("nope") })).await.unwrap();
    pool.join().await;
    assert!(h.started().now_or_never().unwrap().is_ok(), "at once, without waiting");
    assert!(within(h.started()).await.is_ok(), "again");
    assert_eq!(within(h).await.unwrap_err().to_string(), "job failed: nope");
}

#[tokio::test(start_paused = true)]
async fn started_fails_with_cancelled_for_a_job_cancelled_while_queued() {
    let pool = Pool::builder().workers(1).build();
    let busy_gate = Gate::new();
    let busy = pool.submit(mark_then_wait(&Arc::new(AtomicU32::new(0)), &busy_gate)).await.unwrap();
    let ran = Arc::new(AtomicU32::new(0));
    let h = pool.submit(mark_then_wait(&ran, &Gate::new())).await.unwrap();

    let mut started = tokio_test::task::spawn(h.started());
    assert_pending!(started.poll());
    assert!(h.cancel());
    assert!(started.is_woken(), "the cancel wakes the waiter");
    assert!(matches!(assert_ready!(started.poll()), Err(JobError::Cancelled)));
    drop(started);
    assert!(matches!(h.started().await, Err(JobError::Cancelled)), "a later call says the same");

    busy_gate.open();
    within(busy).await.unwrap();
    assert!(matches!(within(h).await, Err(JobError::Cancelled)));
    assert_eq!(ran.load(SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn started_fails_with_shutdown_when_the_pool_shuts_down_first() {
    let pool = Pool::builder().workers(1).grace(Duration::ZERO).build();
    let busy = pool.submit(mark_then_wait(&Arc::new(AtomicU32::new(0)), &Gate::new())).await.unwrap();
    let h = pool.submit(Job::new(|_| async { Io::Ok(()) })).await.unwrap();
    let c = h.cancel_handle();
    let mut started = tokio_test::task::spawn(c.started());
    settle().await;
    assert_pending!(started.poll());

    pool.shutdown_now().await;
    assert!(started.is_woken());
    assert!(matches!(assert_ready!(started.poll()), Err(JobError::Shutdown)));
    assert!(matches!(within(h).await, Err(JobError::Shutdown)), "the same error as the handle's");
    assert!(matches!(within(busy).await, Err(JobError::Cancelled)));
}

#[tokio::test(start_paused = true)]
async fn started_waits_out_a_start_delay() {
    let pool = Pool::builder().build();
    let t0 = tokio::time::Instant::now();
    let h = pool.submit(Job::new(|_| async { Io::Ok(()) }).delay(Duration::from_secs(10))).await.unwrap();
    assert_eq!(h.status(), JobStatus::Scheduled);
    within(h.started()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(10));
    within(h).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn started_is_ok_after_a_first_attempt_that_failed_and_waits_to_retry() {
    let pool = Pool::builder().build();
    let h = pool
        .submit(
            Job::new(|ctx| async move { if ctx.attempt() < 2 { Err("again") } else { Ok(()) } })
                .retry(RetryPolicy::fixed(2, Duration::from_secs(60))),
        )
        .await
        .unwrap();
    settle().await;
    assert_eq!(h.status(), JobStatus::Retrying);
    assert!(h.started().now_or_never().unwrap().is_ok());
    within(h).await.unwrap();
}

/// Dropping a pending `started()` loses nothing: a new call sees the start.
#[tokio::test(start_paused = true)]
async fn started_is_cancel_safe() {
    let pool = Pool::builder().workers(1).build();
    let busy_gate = Gate::new();
    let busy = pool.submit(mark_then_wait(&Arc::new(AtomicU32::new(0)), &busy_gate)).await.unwrap();
    let h = pool.submit(Job::new(|_| async { Io::Ok(5) })).await.unwrap();
    tokio::select! {
        _ = h.started() => panic!("started while the only worker is busy"),
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    busy_gate.open();
    within(h.started()).await.unwrap();
    assert_eq!(within(h).await.unwrap(), 5);
    within(busy).await.unwrap();
}

/// Many waiters, cancels racing with starts on a multi-thread runtime: `started()` is `Ok`
/// exactly when the body ran, and an error is the handle's error. Nothing sleeps; a lost
/// wake-up would hang (caught by `within`, in real time here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_agrees_with_the_outcome_when_cancels_race_starts() {
    let pool = Pool::builder().workers(2).build();
    let mut jobs = Vec::new();
    for i in 0..2000u32 {
        let ran = Arc::new(AtomicU32::new(0));
        let r = ran.clone();
        let h = pool
            .submit(Job::new(move |_| {
                r.fetch_add(1, SeqCst);
                async { Io::Ok(()) }
            }))
            .await
            .unwrap();
        let c = h.cancel_handle();
        let waiter = tokio::spawn(async move {
            let started = c.started().await;
            (started, c)
        });
        if i % 2 == 0 {
            h.cancel();
        }
        jobs.push((h, waiter, ran));
    }
    for (h, waiter, ran) in jobs {
        let (started, _c) =
            tokio::time::timeout(Duration::from_secs(60), waiter).await.expect("hung").unwrap();
        let outcome = h.await;
        match started {
            Ok(()) => assert_eq!(ran.load(SeqCst), 1, "`started` said it ran"),
            Err(e) => {
                assert_eq!(ran.load(SeqCst), 0, "`started` said it never ran");
                assert!(matches!((e, outcome), (JobError::Cancelled, Err(JobError::Cancelled))));
            }
        }
    }
}

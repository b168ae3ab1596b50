//! Idle and shutdown: `join` waits for nothing queued, running or retrying; `shutdown`
//! drains until its deadline and then cancels; `shutdown_now` cancels at once; both report
//! what happened and leave no handle unresolved; dropping every `Pool` finishes queued work.

mod support;

use std::time::Duration;

use conveyor_pool::{Event, Job, JobError, JobHandle, Pool, RetryPolicy, ShutdownReport};
use futures_util::{FutureExt, StreamExt};
use support::{Gate, Io, Log, Signal, settle, signal_then_wait, within};
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready};

/// A job that runs for `secs` seconds (on the paused clock) and returns `secs`.
fn sleeper(secs: u64) -> Job<impl conveyor_pool::Run<u64>> {
    Job::new(move |_| async move {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Io::Ok(secs)
    })
}

/// A job that runs until cancelled, then records its cleanup in `log` under `name`.
fn until_cancelled(
    name: &'static str,
    log: &Log<&'static str>,
    started: &Signal,
) -> Job<impl conveyor_pool::Run<()>> {
    let (log, started) = (log.clone(), started.clone());
    Job::new(move |ctx| {
        let (log, started) = (log.clone(), started.clone());
        async move {
            started.send();
            ctx.cancelled().await;
            log.push(name);
            Io::Ok(())
        }
    })
}

fn report(finished: u64, cancelled: u64, never_started: u64) -> ShutdownReport {
    let mut r = ShutdownReport::default();
    r.finished = finished;
    r.cancelled = cancelled;
    r.never_started = never_started;
    r
}

#[tokio::test(start_paused = true)]
async fn join_returns_only_when_nothing_is_queued_or_running() {
    let pool = Pool::builder().workers(1).build();
    within(pool.join()).await; // idle: at once

    let (started, gate) = (Signal::new(), Gate::new());
    let running = pool.submit(signal_then_wait(&started, &gate)).await.unwrap();
    let queued = pool.submit(sleeper(0)).await.unwrap();
    started.recv().await;

    let mut join = tokio_test::task::spawn(pool.join());
    assert_pending!(join.poll());
    settle().await;
    assert_pending!(join.poll());
    gate.open();
    within(running).await.unwrap();
    within(queued).await.unwrap();
    assert!(join.is_woken());
    assert_ready!(join.poll());
    // The pool still works after join.
    assert_eq!(within(pool.submit(sleeper(1)).await.unwrap()).await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn join_waits_for_a_job_waiting_to_retry() {
    let pool = Pool::builder().workers(1).build();
    let h = pool
        .submit(
            Job::new(|ctx| async move { if ctx.attempt() == 1 { Err("again") } else { Ok(()) } })
                .retry(RetryPolicy::fixed(2, Duration::from_secs(30))),
        )
        .await
        .unwrap();
    let t0 = Instant::now();
    settle().await;
    assert_eq!(pool.queued(), 0, "nothing queued: the job waits to retry");
    assert_eq!(pool.unresolved(), 1);
    within(pool.join()).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(30));
    assert!(h.is_finished());
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_queued_and_running_jobs_finish_before_the_deadline() {
    let pool = Pool::builder().workers(1).build();
    let a = pool.submit(sleeper(1)).await.unwrap();
    let b = pool.submit(sleeper(2)).await.unwrap();
    let t0 = Instant::now();
    let r = within(pool.shutdown(Duration::from_secs(10))).await;
    assert_eq!(r, report(2, 0, 0));
    assert_eq!(r.total(), 2);
    assert_eq!(t0.elapsed(), Duration::from_secs(3), "returns once idle, not at the deadline");
    assert_eq!(a.now_or_never().unwrap().unwrap(), 1);
    assert_eq!(b.now_or_never().unwrap().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_what_is_left_at_the_deadline() {
    let pool = Pool::builder().workers(2).grace(Duration::from_secs(1)).build();
    let mut events = pool.events();
    let (cleanups, started) = (Log::new(), Signal::new());
    let fast = pool.submit(sleeper(2)).await.unwrap();
    let slow_b = pool.submit(until_cancelled("b", &cleanups, &started)).await.unwrap();
    let slow_c = pool.submit(until_cancelled("c", &cleanups, &started)).await.unwrap(); // starts at 2 s
    let never_d = pool.submit(sleeper(0)).await.unwrap();
    let never_e = pool.submit(sleeper(0)).await.unwrap();

    let t0 = Instant::now();
    let shutting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.shutdown(Duration::from_secs(5)).await }
    });
    settle().await;
    assert!(!pool.is_accepting(), "no new jobs once shutdown began");
    assert!(pool.submit(sleeper(0)).await.unwrap_err().is_shutdown());
    let r = within(shutting).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(5), "cancelled at the deadline; cleanups are instant");
    assert_eq!(r, report(1, 2, 2));

    // Every handle is resolved when shutdown returns.
    let handles: Vec<JobHandle<()>> = vec![slow_b, slow_c];
    for h in &handles {
        assert!(h.is_finished());
    }
    assert_eq!(fast.now_or_never().unwrap().unwrap(), 2);
    for h in handles {
        assert!(matches!(h.now_or_never().unwrap(), Err(JobError::Cancelled)));
    }
    for h in [never_d, never_e] {
        assert!(matches!(h.now_or_never().unwrap(), Err(JobError::Shutdown)));
    }
    let mut cleaned = cleanups.get();
    cleaned.sort();
    assert_eq!(cleaned, ["b", "c"], "running jobs cleaned up");

    // The event stream's last event is the same report, then it ends.
    let mut last = None;
    while let Some(e) = within(events.next()).await {
        last = Some(e.unwrap());
    }
    assert!(matches!(last, Some(Event::Shutdown(x)) if x == r), "{last:?}");
}

#[tokio::test(start_paused = true)]
async fn shutdown_now_cancels_everything_at_once() {
    let pool = Pool::builder().workers(2).grace(Duration::from_secs(1)).build();
    let (cleanups, started) = (Log::new(), Signal::new());
    let running = pool.submit(until_cancelled("running", &cleanups, &started)).await.unwrap();
    let retrying = pool
        .submit(
            Job::new(|_| async { Err::<(), _>("fails") })
                .retry(RetryPolicy::fixed(3, Duration::from_secs(3600))),
        )
        .await
        .unwrap();
    started.recv().await;
    settle().await;
    // Both workers are free of `retrying`, so block the second one to keep jobs queued.
    let blocker = pool.submit(until_cancelled("blocker", &cleanups, &started)).await.unwrap();
    started.recv().await;
    let queued: Vec<_> = futures_util::future::join_all((0..3).map(|_| pool.submit(sleeper(0)))).await;
    assert_eq!(pool.queued(), 3);

    let t0 = Instant::now();
    let r = within(pool.shutdown_now()).await;
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(r, report(0, 3, 3));
    assert!(matches!(running.now_or_never().unwrap(), Err(JobError::Cancelled)));
    assert!(matches!(blocker.now_or_never().unwrap(), Err(JobError::Cancelled)));
    assert!(matches!(retrying.now_or_never().unwrap(), Err(JobError::Cancelled)));
    for h in queued {
        assert!(matches!(h.unwrap().now_or_never().unwrap(), Err(JobError::Shutdown)));
    }
    assert_eq!(cleanups.len(), 2);
    assert!(pool.try_submit(sleeper(0)).unwrap_err().is_shutdown());
    assert_eq!(within(pool.shutdown_now()).await, report(0, 0, 0), "a second shutdown has nothing to do");
}

#[tokio::test(start_paused = true)]
async fn shutdown_now_waits_out_the_grace_period_and_spares_shielded_jobs() {
    let pool = Pool::builder().workers(2).grace(Duration::from_secs(2)).build();
    let started = Signal::new();
    let s = started.clone();
    let stubborn = pool
        .submit(Job::new(move |ctx| {
            let s = s.clone();
            async move {
                s.send();
                ctx.cancelled().await;
                tokio::time::sleep(Duration::from_secs(3600)).await; // ignores it
                Io::Ok(())
            }
        }))
        .await
        .unwrap();
    let shielded = pool.submit(sleeper(5).shield()).await.unwrap();
    started.recv().await;
    settle().await;
    let t0 = Instant::now();
    let r = within(pool.shutdown_now()).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(5), "the shielded job ran to its end");
    assert_eq!(r, report(1, 1, 0));
    assert!(matches!(stubborn.now_or_never().unwrap(), Err(JobError::Cancelled)));
    assert_eq!(shielded.now_or_never().unwrap().unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_pool_clone_lets_queued_jobs_finish() {
    let pool = Pool::builder().workers(1).build();
    let clone = pool.clone();
    let (started, gate) = (Signal::new(), Gate::new());
    let (s, g) = (started.clone(), gate.clone());
    let first = pool
        .submit(Job::new(move |_| {
            let (s, g) = (s.clone(), g.clone());
            async move {
                s.send();
                g.wait().await;
                Io::Ok(0)
            }
        }))
        .await
        .unwrap();
    let mut queued = Vec::new();
    for n in 1..=3 {
        queued.push(clone.submit(sleeper(n)).await.unwrap());
    }
    started.recv().await;
    drop(pool);
    drop(clone);
    gate.open();
    assert_eq!(within(first).await.unwrap(), 0);
    for (n, h) in (1..=3).zip(queued) {
        assert_eq!(within(h).await.unwrap(), n);
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_every_pool_clone_resolves_a_job_waiting_to_retry() {
    let pool = Pool::builder().workers(1).build();
    let h = pool
        .submit(
            Job::new(|_| async { Err::<(), _>("fails") })
                .retry(RetryPolicy::fixed(3, Duration::from_secs(10))),
        )
        .await
        .unwrap();
    settle().await;
    drop(pool);
    // It resolves (the pool no longer runs it again) instead of hanging.
    assert!(within(h).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_dropped_shutdown_leaves_the_pool_closed_and_its_work_finishing() {
    let pool = Pool::builder().workers(1).build();
    let running = pool.submit(sleeper(2)).await.unwrap();
    let queued = pool.submit(sleeper(1)).await.unwrap();
    let mut shutdown = tokio_test::task::spawn(pool.shutdown(Duration::from_secs(60)));
    assert_pending!(shutdown.poll());
    drop(shutdown);
    assert!(!pool.is_accepting());
    assert!(pool.try_submit(sleeper(0)).unwrap_err().is_shutdown());
    assert_eq!(within(running).await.unwrap(), 2);
    assert_eq!(within(queued).await.unwrap(), 1);
}

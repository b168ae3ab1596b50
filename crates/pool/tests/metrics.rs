//! Metrics, read with metrics-util's `DebuggingRecorder` installed for the test's thread:
//! DESIGN.md's names and labels, counts per kind and outcome, retries, wait and run
//! histograms, gauges that return to zero, and nothing at all with metrics off.
//!
//! The pool resolves its metric handles when it is built and when it first sees a kind, so
//! both happen inside `with_local_recorder`, on the thread that runs the runtime.

mod support;

use std::time::Duration;

use conveyor_pool::metrics::{
    JOB_RETRIES_TOTAL, JOB_RUN_SECONDS, JOB_WAIT_SECONDS, JOBS_FINISHED_TOTAL, JOBS_RUNNING,
    JOBS_SUBMITTED_TOTAL, QUEUE_DEPTH, WORKERS,
};
use conveyor_pool::{Job, JobError, Pool, RetryPolicy};
use metrics_util::debugging::DebuggingRecorder;
use support::{Gate, Io, Signal, Totals, paused_runtime, settle, signal_then_wait, within};

#[test]
fn the_names_are_designs() {
    assert_eq!(
        [
            JOBS_SUBMITTED_TOTAL,
            JOBS_FINISHED_TOTAL,
            JOB_RETRIES_TOTAL,
            JOB_WAIT_SECONDS,
            JOB_RUN_SECONDS,
            QUEUE_DEPTH,
            JOBS_RUNNING,
            WORKERS
        ],
        [
            "conveyor_jobs_submitted_total",
            "conveyor_jobs_finished_total",
            "conveyor_job_retries_total",
            "conveyor_job_wait_seconds",
            "conveyor_job_run_seconds",
            "conveyor_queue_depth",
            "conveyor_jobs_running",
            "conveyor_workers"
        ]
    );
}

/// Runs `test` on a paused current-thread runtime with `recorder` installed.
fn recorded<F: Future>(recorder: &DebuggingRecorder, test: impl FnOnce() -> F) -> F::Output {
    metrics::with_local_recorder(recorder, || paused_runtime().block_on(test()))
}

#[test]
fn counters_count_jobs_by_kind_and_outcome() {
    let recorder = DebuggingRecorder::new();
    let mut m = Totals::of(&recorder);
    recorded(&recorder, || async {
        let pool = Pool::builder().workers(2).build();
        m.read();
        assert_eq!(m.gauge(WORKERS), Some(2.0));

        let mut handles = Vec::new();
        for n in 0..3 {
            handles.push(pool.submit(Job::new(move |_| async move { Io::Ok(n) }).kind("ok")).await.unwrap());
        }
        let flaky = Job::new(|ctx| async move { if ctx.attempt() < 3 { Err("flaky") } else { Ok(0) } })
            .kind("flaky")
            .retry(RetryPolicy::fixed(3, Duration::from_secs(1)));
        handles.push(pool.submit(flaky).await.unwrap());
        let failing = pool
            .submit(
                Job::new(|_| async { Err::<u32, _>("no") })
                    .kind("bad")
                    .retry(RetryPolicy::fixed(2, Duration::ZERO)),
            )
            .await
            .unwrap();
        let panicking =
            pool.submit(Job::new(|_| async { panic!("boom") as Io<u32> }).kind("bad")).await.unwrap();
        let timing_out = pool
            .submit(
                Job::new(|ctx| async move {
                    ctx.cancelled().await;
                    Io::Ok(0)
                })
                .kind("bad")
                .timeout(Duration::from_secs(1)),
            )
            .await
            .unwrap();
        // The default kind, "job": cancelled while queued.
        let cancelled = pool.submit(Job::new(|_| async { Io::Ok(0u32) })).await.unwrap();
        assert!(cancelled.cancel());

        for h in handles {
            within(h).await.unwrap();
        }
        assert!(matches!(within(failing).await, Err(JobError::Failed(_))));
        assert!(matches!(within(panicking).await, Err(JobError::Panicked(_))));
        assert!(matches!(within(timing_out).await, Err(JobError::TimedOut)));
        assert!(matches!(within(cancelled).await, Err(JobError::Cancelled)));
        within(pool.join()).await;
        m.read();

        assert_eq!(m.counter(JOBS_SUBMITTED_TOTAL, &[("kind", "ok")]), 3);
        assert_eq!(m.counter(JOBS_SUBMITTED_TOTAL, &[("kind", "flaky")]), 1);
        assert_eq!(m.counter(JOBS_SUBMITTED_TOTAL, &[("kind", "bad")]), 3);
        assert_eq!(m.counter(JOBS_SUBMITTED_TOTAL, &[("kind", "job")]), 1);
        assert_eq!(m.counter_sum(JOBS_SUBMITTED_TOTAL), 8);

        let finished =
            |kind, outcome| m.counter(JOBS_FINISHED_TOTAL, &[("kind", kind), ("outcome", outcome)]);
        assert_eq!(finished("ok", "succeeded"), 3);
        assert_eq!(finished("flaky", "succeeded"), 1);
        assert_eq!(finished("bad", "failed"), 1);
        assert_eq!(finished("bad", "panicked"), 1);
        assert_eq!(finished("bad", "timed_out"), 1);
        assert_eq!(finished("job", "cancelled"), 1);
        assert_eq!(m.counter_sum(JOBS_FINISHED_TOTAL), 8, "one outcome per job, no more");

        assert_eq!(m.counter(JOB_RETRIES_TOTAL, &[("kind", "flaky")]), 2);
        assert_eq!(m.counter(JOB_RETRIES_TOTAL, &[("kind", "bad")]), 1);
        assert_eq!(m.counter(JOB_RETRIES_TOTAL, &[("kind", "ok")]), 0);

        // One wait and one run sample per attempt; none for a job that never started.
        assert_eq!(m.histogram(JOB_RUN_SECONDS, &[("kind", "ok")]).len(), 3);
        assert_eq!(m.histogram(JOB_WAIT_SECONDS, &[("kind", "ok")]).len(), 3);
        assert_eq!(m.histogram(JOB_RUN_SECONDS, &[("kind", "flaky")]).len(), 3);
        assert_eq!(m.histogram(JOB_WAIT_SECONDS, &[("kind", "flaky")]).len(), 3);
        assert_eq!(m.histogram(JOB_RUN_SECONDS, &[("kind", "bad")]).len(), 4);
        assert_eq!(m.histogram(JOB_RUN_SECONDS, &[("kind", "job")]).len(), 0);
        assert_eq!(m.histogram(JOB_WAIT_SECONDS, &[("kind", "job")]).len(), 0);

        assert_eq!(m.gauge(JOBS_RUNNING), Some(0.0));
        assert_eq!(m.gauge(QUEUE_DEPTH), Some(0.0));
        assert_eq!(m.gauge(WORKERS), Some(2.0));
        pool.shutdown_now().await;
        assert_eq!(m.read().gauge(WORKERS), Some(0.0), "a shut-down pool has no workers");
    });
}

#[test]
fn gauges_follow_the_queue_and_the_running_jobs_back_to_zero() {
    let recorder = DebuggingRecorder::new();
    let mut m = Totals::of(&recorder);
    recorded(&recorder, || async {
        let pool = Pool::builder().workers(1).build();
        let (started, gate) = (Signal::new(), Gate::new());
        let blocker = pool.submit(signal_then_wait(&started, &gate)).await.unwrap();
        started.recv().await;
        let mut queued = Vec::new();
        for _ in 0..3 {
            queued.push(pool.submit(Job::new(|_| async { Io::Ok(()) })).await.unwrap());
        }
        m.read();
        assert_eq!(m.gauge(QUEUE_DEPTH), Some(3.0));
        assert_eq!(m.gauge(JOBS_RUNNING), Some(1.0));
        assert!(queued[0].cancel());
        assert_eq!(m.read().gauge(QUEUE_DEPTH), Some(2.0), "a cancelled queued job leaves the queue");
        gate.open();
        within(blocker).await.unwrap();
        within(pool.join()).await;
        m.read();
        assert_eq!(m.gauge(QUEUE_DEPTH), Some(0.0));
        assert_eq!(m.gauge(JOBS_RUNNING), Some(0.0));
    });
}

#[test]
fn wait_and_run_histograms_measure_seconds() {
    let recorder = DebuggingRecorder::new();
    let mut m = Totals::of(&recorder);
    recorded(&recorder, || async {
        let pool = Pool::builder().workers(1).build();
        let sleepy = |ms, kind| {
            Job::new(move |_| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Io::Ok(())
            })
            .kind(kind)
        };
        let first = pool.submit(sleepy(2000, "first")).await.unwrap();
        let second = pool.submit(sleepy(500, "second")).await.unwrap();
        within(first).await.unwrap();
        within(second).await.unwrap();
        m.read();
        assert_eq!(m.histogram(JOB_WAIT_SECONDS, &[("kind", "first")]), [0.0]);
        assert_eq!(m.histogram(JOB_RUN_SECONDS, &[("kind", "first")]), [2.0]);
        assert_eq!(m.histogram(JOB_WAIT_SECONDS, &[("kind", "second")]), [2.0], "queued behind the first");
        assert_eq!(m.histogram(JOB_RUN_SECONDS, &[("kind", "second")]), [0.5]);
    });
}

#[test]
fn the_wait_after_a_retry_counts_from_the_end_of_the_delay() {
    let recorder = DebuggingRecorder::new();
    let mut m = Totals::of(&recorder);
    recorded(&recorder, || async {
        let pool = Pool::builder().workers(1).build();
        let h = pool
            .submit(
                Job::new(|ctx| async move { if ctx.attempt() == 1 { Err("again") } else { Ok(()) } })
                    .retry(RetryPolicy::fixed(2, Duration::from_secs(5))),
            )
            .await
            .unwrap();
        within(h).await.unwrap();
        assert_eq!(m.read().histogram(JOB_WAIT_SECONDS, &[("kind", "job")]), [0.0, 0.0]);
    });
}

#[test]
fn a_pool_with_metrics_off_records_nothing() {
    let recorder = DebuggingRecorder::new();
    let mut m = Totals::of(&recorder);
    recorded(&recorder, || async {
        let pool = Pool::builder().workers(2).metrics(false).build();
        let ok = pool.submit(Job::new(|_| async { Io::Ok(()) }).kind("k")).await.unwrap();
        let bad = pool
            .submit(Job::new(|_| async { Err::<(), _>("x") }).retry(RetryPolicy::fixed(2, Duration::ZERO)))
            .await
            .unwrap();
        within(ok).await.unwrap();
        assert!(within(bad).await.is_err());
        pool.shutdown_now().await;
    });
    assert!(m.read().is_empty());
}

/// Regression: a job that a worker takes from the queue but must not start (the pool is
/// cancelling its work, or the job was cancelled just as it was taken) was never counted out
/// of `conveyor_queue_depth`, which then stayed above zero forever.
#[test]
fn queue_depth_returns_to_zero_when_a_taken_job_is_refused_at_start() {
    let recorder = DebuggingRecorder::new();
    let mut m = Totals::of(&recorder);
    recorded(&recorder, || async {
        let pool = Pool::builder().workers(1).build();
        // A shielded job waiting to retry is out of reach of the shutdown's cancel: it goes back
        // to the queue after its delay, and the worker that takes it must refuse to start it.
        let h = pool
            .submit(
                Job::new(|_| async { Err::<(), _>("fails") })
                    .shield()
                    .retry(RetryPolicy::fixed(2, Duration::from_secs(1))),
            )
            .await
            .unwrap();
        settle().await;
        within(pool.shutdown_now()).await;
        assert!(matches!(h.await, Err(JobError::Cancelled)));
        m.read();
        assert_eq!(m.gauge(QUEUE_DEPTH), Some(0.0));
        assert_eq!(m.gauge(JOBS_RUNNING), Some(0.0));
    });
}

#[test]
fn known_kinds_start_at_zero_before_their_first_job() {
    let recorder = DebuggingRecorder::new();
    let mut m = Totals::of(&recorder);
    recorded(&recorder, || async {
        let _pool = Pool::builder().workers(1).default_kind("job").metric_kinds(["resize"]).build();
        m.read();
        for kind in ["resize", "job"] {
            assert!(m.has_counter(JOBS_SUBMITTED_TOTAL, &[("kind", kind)]), "{kind}");
            assert!(m.has_counter(JOB_RETRIES_TOTAL, &[("kind", kind)]), "{kind}");
            for outcome in ["succeeded", "failed", "panicked", "timed_out", "cancelled"] {
                assert!(
                    m.has_counter(JOBS_FINISHED_TOTAL, &[("kind", kind), ("outcome", outcome)]),
                    "{kind} {outcome}"
                );
            }
            assert!(m.has_histogram(JOB_WAIT_SECONDS, &[("kind", kind)]), "{kind}");
            assert!(m.has_histogram(JOB_RUN_SECONDS, &[("kind", kind)]), "{kind}");
        }
        assert_eq!(m.counter_sum(JOBS_SUBMITTED_TOTAL), 0);
        assert!(!m.has_counter(JOBS_SUBMITTED_TOTAL, &[("kind", "upload")]), "only the kinds given");
    });
}

/// Issue 23: a pool pays for metrics only when something records them: by default it
/// records when a recorder (global, or this thread's) is installed as it is built — the
/// tests above build it with no `metrics(true)` — and not without one.
#[test]
fn a_recorder_is_seen_whether_global_or_local() {
    let recorder = DebuggingRecorder::new();
    assert!(!conveyor_pool::metrics::recorder_installed());
    assert!(metrics::with_local_recorder(&recorder, conveyor_pool::metrics::recorder_installed));
}

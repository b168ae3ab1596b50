//! "Exactly one outcome": thousands of jobs that randomly succeed, fail, panic, time out,
//! retry, run blocking, get cancelled while queued or while running, or run until a racing
//! `shutdown` / `shutdown_now` stops them. Every handle resolves exactly once to an outcome
//! its job allows; the `on_finish` hook and the event stream report exactly one `Finished` per
//! job, with the handle's outcome; the metrics counters agree with the handles, and the gauges
//! return to zero.
//!
//! Two drivers: a proptest on a current-thread runtime with the paused clock (deterministic,
//! shrinkable), and a stress run on a two-thread runtime with real (tiny) timeouts, where
//! workers, cancels and the shutdown really race. No assertion depends on timing.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use conveyor_pool::metrics::{
    JOB_RETRIES_TOTAL, JOB_RUN_SECONDS, JOB_WAIT_SECONDS, JOBS_FINISHED_TOTAL, JOBS_RUNNING,
    JOBS_SUBMITTED_TOTAL, QUEUE_DEPTH, WORKERS,
};
use conveyor_pool::{Event, Job, JobError, JobHandle, JobId, Outcome, Pool, RetryPolicy, ShutdownReport};
use futures_util::{FutureExt, StreamExt};
use metrics_util::debugging::DebuggingRecorder;
use proptest::prelude::*;
use support::{Io, Rng, Totals};

/// What one job does.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// Returns its value at once.
    Succeed,
    /// Sleeps this many milliseconds, then returns its value.
    SucceedAfter(u8),
    /// Returns an error.
    Fail,
    /// Panics.
    Panic,
    /// Runs past its 1 ms timeout: waits for its cancel and returns (`cooperative`), or
    /// sleeps on, never looking.
    TimeOut { cooperative: bool },
    /// Fails its first `n` (1 or 2) attempts, then succeeds; 3 attempts allowed.
    Flaky(u8),
    /// Fails all of its 3 attempts.
    RetryExhausted,
    /// Waits for its cancel; cancelled right after it is submitted.
    CancelQueued,
    /// Waits for its cancel; another task cancels it after yielding `k` times (queued or
    /// running by then).
    CancelLater(u8),
    /// A blocking job returning its value.
    Blocking,
    /// A blocking job that panics.
    BlockingPanic,
    /// A shielded job that sleeps this many milliseconds: cancel cannot stop it once started.
    Shielded(u8),
    /// Runs until the shutdown cancels it (at most 2, and `workers - 1`, such jobs per run).
    Forever,
}

impl Plan {
    /// The kind label, low cardinality: metrics are checked per kind.
    fn kind(self) -> &'static str {
        match self {
            Plan::Succeed | Plan::SucceedAfter(_) | Plan::Fail | Plan::Panic => "quick",
            Plan::TimeOut { .. } => "timed",
            Plan::Flaky(_) | Plan::RetryExhausted => "retry",
            Plan::Blocking | Plan::BlockingPanic => "blocking",
            Plan::CancelQueued | Plan::CancelLater(_) | Plan::Shielded(_) | Plan::Forever => "job", // the default
        }
    }

    /// Whether `result` is an outcome this job may end with, shutdown races included;
    /// `attempts` is what the finish hook saw.
    fn allows(self, i: u64, result: &Result<u64, JobError>, attempts: u32) -> Result<(), String> {
        let stopped = matches!(result, Err(JobError::Cancelled))
            || matches!(result, Err(JobError::Shutdown) if attempts == 0);
        let ok = matches!(result, Ok(v) if *v == i);
        let fine = match self {
            Plan::Succeed | Plan::SucceedAfter(_) | Plan::Blocking => (ok && attempts == 1) || stopped,
            Plan::Flaky(n) => (ok && attempts == u32::from(n) + 1) || stopped,
            Plan::Fail => {
                matches!(result, Err(JobError::Failed(e)) if e.to_string() == format!("planned failure {i}"))
                    || stopped
            }
            Plan::RetryExhausted => {
                matches!(result, Err(JobError::Failed(e)) if e.to_string() == format!("planned failure {i}") && attempts == 3)
                    || stopped
            }
            Plan::Panic | Plan::BlockingPanic => {
                matches!(result, Err(JobError::Panicked(m)) if *m == format!("planned panic {i}") && attempts == 1)
                    || stopped
            }
            Plan::TimeOut { .. } => matches!(result, Err(JobError::TimedOut)) || stopped,
            // Cancelled by its handle, unless the shutdown drained it from the queue first.
            Plan::CancelQueued | Plan::CancelLater(_) => {
                matches!(result, Err(JobError::Cancelled))
                    || matches!(result, Err(JobError::Shutdown) if attempts == 0)
            }
            // Once started, a shielded job runs to its end; it can only be refused a start.
            Plan::Shielded(_) => ok || matches!(result, Err(JobError::Shutdown) if attempts == 0),
            Plan::Forever => stopped,
        };
        if fine {
            Ok(())
        } else {
            Err(format!("job {i} planned {self:?} ended {result:?} after {attempts} attempts"))
        }
    }
}

/// How the run ends: `shutdown_now`, or `shutdown` with a deadline in milliseconds.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Now,
    Deadline(u8),
}

fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload_as_str().is_some_and(|m| m.starts_with("planned panic")) {
                default(info);
            }
        }));
    });
}

/// Submits job `i`; `None` if the pool refused it because it is shutting down.
async fn submit(pool: &Pool, plan: Plan, i: u64) -> Option<JobHandle<u64>> {
    let ms = |n: u8| Duration::from_millis(u64::from(n));
    let failure = move || std::io::Error::other(format!("planned failure {i}"));
    let until_cancelled = || {
        Job::new(move |ctx| async move {
            ctx.cancelled().await;
            Io::Ok(i)
        })
    };
    match plan {
        Plan::Succeed => pool
            .submit(kinded(Job::new(move |_| async move { Io::Ok(i) }), plan))
            .await
            .map_err(|e| assert!(e.is_shutdown()))
            .ok(),
        Plan::SucceedAfter(n) => pool
            .submit(kinded(
                Job::new(move |_| async move {
                    tokio::time::sleep(ms(n)).await;
                    Io::Ok(i)
                }),
                plan,
            ))
            .await
            .map_err(|e| assert!(e.is_shutdown()))
            .ok(),
        Plan::Fail => pool
            .submit(kinded(Job::new(move |_| async move { Err::<u64, _>(failure()) }), plan))
            .await
            .map_err(|e| assert!(e.is_shutdown()))
            .ok(),
        Plan::Panic => pool
            .submit(kinded(Job::new(move |_| async move { panic!("planned panic {i}") as Io<u64> }), plan))
            .await
            .map_err(|e| assert!(e.is_shutdown()))
            .ok(),
        Plan::TimeOut { cooperative } => {
            let job = Job::new(move |ctx| async move {
                if cooperative {
                    ctx.cancelled().await;
                } else {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Io::Ok(i)
            });
            pool.submit(kinded(job.timeout(Duration::from_millis(1)), plan))
                .await
                .map_err(|e| assert!(e.is_shutdown()))
                .ok()
        }
        Plan::Flaky(n) => {
            let job = Job::new(move |ctx| async move {
                if ctx.attempt() <= u32::from(n) { Err(failure()) } else { Ok(i) }
            });
            pool.submit(kinded(job.retry(RetryPolicy::fixed(3, Duration::from_millis(1))), plan))
                .await
                .map_err(|e| assert!(e.is_shutdown()))
                .ok()
        }
        Plan::RetryExhausted => {
            let job = Job::new(move |_| async move { Err::<u64, _>(failure()) });
            pool.submit(kinded(job.retry(RetryPolicy::exponential(3, Duration::from_millis(1))), plan))
                .await
                .map_err(|e| assert!(e.is_shutdown()))
                .ok()
        }
        Plan::CancelQueued | Plan::CancelLater(_) | Plan::Forever => {
            pool.submit(kinded(until_cancelled(), plan)).await.map_err(|e| assert!(e.is_shutdown())).ok()
        }
        Plan::Blocking => pool
            .submit(kinded(Job::blocking(move |_| Io::Ok(i)), plan))
            .await
            .map_err(|e| assert!(e.is_shutdown()))
            .ok(),
        Plan::BlockingPanic => pool
            .submit(kinded(Job::blocking(move |_| -> Io<u64> { panic!("planned panic {i}") }), plan))
            .await
            .map_err(|e| assert!(e.is_shutdown()))
            .ok(),
        Plan::Shielded(n) => {
            let job = Job::new(move |_| async move {
                tokio::time::sleep(ms(n)).await;
                Io::Ok(i)
            });
            pool.submit(kinded(job.shield(), plan)).await.map_err(|e| assert!(e.is_shutdown())).ok()
        }
    }
}

/// Sets the plan's kind, leaving the pool's default ("job") unset to use both label paths.
fn kinded<R>(job: Job<R>, plan: Plan) -> Job<R> {
    match plan.kind() {
        "job" => job,
        kind => job.kind(kind),
    }
}

/// What the finish hook saw: each job's outcome and attempts and whether the shutdown had
/// begun, and how many reports there were in all.
#[derive(Default)]
struct Hooked {
    seen: Mutex<HashMap<JobId, (Outcome, u32, bool)>>,
    reports: AtomicUsize,
    shutting_down: AtomicBool,
}

fn outcome_of(result: &Result<u64, JobError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Succeeded,
        Err(e) => e.outcome(),
    }
}

/// How a run went, for the checks that need the metrics or depend on the runtime.
#[derive(Default, Debug)]
struct Checked {
    accepted: usize,
    refused: usize,
    cancelled_queued: u64,
    cancelled_running: u64,
    report: ShutdownReport,
    /// What the report should say, from the hook's view of the jobs that resolved once the
    /// shutdown had begun: exact on one thread, an upper bound on several (the hook may see
    /// the flag a moment before the pool stops accepting).
    resolved_during_shutdown: ShutdownReport,
    outcomes: Vec<(&'static str, Outcome)>,
    events_per_kind: HashMap<(String, &'static str), u64>,
}

/// Runs `plans` on a pool built here (inside the caller's recorder scope). The shutdown
/// (`ending`) starts from another task just before job `shutdown_at` is submitted (after the
/// last job, and a random while, if `shutdown_at >= plans.len()`), so it races with
/// submissions, cancels, retries and running jobs. Checks what the handles, the hook and the
/// events say.
async fn run(
    plans: &[Plan],
    ending: Ending,
    shutdown_at: usize,
    workers: usize,
    capacity: usize,
    events_on: bool,
    seed: u64,
) -> Checked {
    quiet_planned_panics();
    let hooked = Arc::new(Hooked::default());
    let h2 = hooked.clone();
    let pool = Pool::builder()
        .workers(workers)
        .capacity(capacity)
        .grace(Duration::from_millis(2))
        .event_buffer(if events_on { 1 << 16 } else { 0 })
        .on_finish(move |f| {
            h2.reports.fetch_add(1, SeqCst);
            let during_shutdown = h2.shutting_down.load(SeqCst);
            h2.seen.lock().unwrap().insert(f.job.id, (f.outcome, f.attempts, during_shutdown));
        })
        .build();
    let mut events = pool.events();
    let mut rng = Rng::new(seed);

    // Jobs that wait for their cancel must leave a worker free, or a full queue would block
    // the submissions forever: at most `workers - 1` (and 2) wait for the shutdown.
    let mut forever_left = (workers - 1).min(2);
    let plans: Vec<Plan> = plans
        .iter()
        .map(|&p| match p {
            Plan::Forever if forever_left == 0 => Plan::Succeed,
            Plan::Forever => {
                forever_left -= 1;
                p
            }
            p => p,
        })
        .collect();

    let start_shutdown = |pool: &Pool| {
        let (pool, hooked) = (pool.clone(), hooked.clone());
        tokio::spawn(async move {
            hooked.shutting_down.store(true, SeqCst);
            match ending {
                Ending::Now => pool.shutdown_now().await,
                Ending::Deadline(ms) => pool.shutdown(Duration::from_millis(u64::from(ms))).await,
            }
        })
    };
    let mut shutdown = None;
    let mut handles: Vec<(Plan, u64, JobHandle<u64>)> = Vec::with_capacity(plans.len());
    let mut cancellers = Vec::new();
    let mut refused = 0;
    for (i, &plan) in plans.iter().enumerate() {
        if i == shutdown_at {
            shutdown = Some(start_shutdown(&pool));
        }
        let Some(handle) = submit(&pool, plan, i as u64).await else {
            assert!(shutdown.is_some(), "job {i} refused before the shutdown");
            refused += 1;
            continue;
        };
        match plan {
            // `false` only if the shutdown resolved it first.
            Plan::CancelQueued => assert!(handle.cancel() || handle.is_finished(), "job {i}"),
            // Cancelled by another task after a while, whether submissions go on or not.
            Plan::CancelLater(k) => {
                let canceller = handle.cancel_handle();
                cancellers.push(tokio::spawn(async move {
                    for _ in 0..k {
                        tokio::task::yield_now().await;
                    }
                    let first = canceller.cancel();
                    (canceller.id(), first || canceller.is_finished())
                }));
            }
            _ => {}
        }
        handles.push((plan, i as u64, handle));
    }
    for c in cancellers {
        let (id, fine) = c.await.unwrap();
        assert!(fine, "job {id} waits for its cancel: the cancel must be the first");
    }
    if shutdown.is_none() {
        // Let the work go on a random while, so that the shutdown meets it at a random point.
        for _ in 0..rng.below(64) {
            tokio::task::yield_now().await;
        }
        shutdown = Some(start_shutdown(&pool));
    }
    let report = shutdown.expect("started").await.unwrap();
    assert_eq!(pool.unresolved(), 0);
    assert!(!pool.is_accepting());

    // Handles: each resolved, exactly once (a handle yields its result once: a second poll
    // panics), to an outcome its plan allows.
    let seen = hooked.seen.lock().unwrap().clone();
    assert_eq!(hooked.reports.load(SeqCst), handles.len(), "one finish report per accepted job");
    assert_eq!(seen.len(), handles.len(), "reports for distinct jobs");
    let mut outcomes: HashMap<JobId, (&'static str, Outcome)> = HashMap::new();
    let mut checked = Checked { accepted: handles.len(), refused, report, ..Checked::default() };
    for (plan, i, handle) in handles {
        assert!(handle.is_finished(), "job {i} ({plan:?}) unresolved after shutdown");
        let id = handle.id();
        let result = handle.now_or_never().expect("a finished handle is ready");
        let (hook_outcome, attempts, during_shutdown) = seen[&id];
        if let Err(why) = plan.allows(i, &result, attempts) {
            panic!("{why}");
        }
        let outcome = outcome_of(&result);
        assert_eq!(hook_outcome, outcome, "job {i}: the hook and the handle disagree");
        match &result {
            Err(JobError::Cancelled) if attempts == 0 => checked.cancelled_queued += 1,
            Err(JobError::Cancelled) => checked.cancelled_running += 1,
            _ => {}
        }
        if during_shutdown {
            let r = &mut checked.resolved_during_shutdown;
            match outcome {
                Outcome::Cancelled if attempts == 0 => r.never_started += 1,
                Outcome::Cancelled => r.cancelled += 1,
                _ => r.finished += 1,
            }
        }
        outcomes.insert(id, (plan.kind(), outcome));
    }

    // Events: exactly one Finished per job, with the handle's outcome; the stream ends after
    // the Shutdown event.
    if events_on {
        let mut finished: HashMap<JobId, Outcome> = HashMap::new();
        let mut per_kind: HashMap<(String, &'static str), u64> = HashMap::new();
        let mut last = None;
        while let Some(event) = events.next().await {
            let event = event.expect("the buffer holds every event of the run");
            match &event {
                Event::Queued(job) => *per_kind.entry((job.kind.to_string(), "queued")).or_default() += 1,
                Event::Started { job, .. } => {
                    *per_kind.entry((job.kind.to_string(), "started")).or_default() += 1
                }
                Event::RetryScheduled { job, .. } => {
                    *per_kind.entry((job.kind.to_string(), "retry")).or_default() += 1
                }
                Event::Finished(f) => {
                    assert!(
                        finished.insert(f.job.id, f.outcome).is_none(),
                        "two Finished events for job {}",
                        f.job.id
                    );
                }
                _ => {}
            }
            last = Some(event);
        }
        assert!(matches!(last, Some(Event::Shutdown(r)) if r == report), "{last:?}");
        assert_eq!(finished.len(), outcomes.len());
        for (id, (_, outcome)) in &outcomes {
            assert_eq!(finished.get(id), Some(outcome), "job {id}: the event and the handle disagree");
        }
        checked.events_per_kind = per_kind;
    }
    checked.outcomes = outcomes.into_values().collect();
    checked
}

/// The metrics agree with the handles: submitted and finished per kind and outcome, retries
/// and attempts per kind (from the events), and the gauges back at zero.
fn check_metrics(m: &mut Totals, checked: &Checked) {
    m.read();
    let mut by_kind: HashMap<&str, u64> = HashMap::new();
    let mut by_outcome: HashMap<(&str, Outcome), u64> = HashMap::new();
    for &(kind, outcome) in &checked.outcomes {
        *by_kind.entry(kind).or_default() += 1;
        *by_outcome.entry((kind, outcome)).or_default() += 1;
    }
    for kind in ["quick", "timed", "retry", "blocking", "job"] {
        assert_eq!(
            m.counter(JOBS_SUBMITTED_TOTAL, &[("kind", kind)]),
            by_kind.get(kind).copied().unwrap_or(0),
            "{kind}"
        );
        for outcome in Outcome::ALL {
            assert_eq!(
                m.counter(JOBS_FINISHED_TOTAL, &[("kind", kind), ("outcome", outcome.as_str())]),
                by_outcome.get(&(kind, outcome)).copied().unwrap_or(0),
                "finished {kind} {outcome}"
            );
        }
        if !checked.events_per_kind.is_empty() {
            let events = |what| checked.events_per_kind.get(&(kind.to_owned(), what)).copied().unwrap_or(0);
            assert_eq!(events("queued"), by_kind.get(kind).copied().unwrap_or(0), "queued {kind}");
            assert_eq!(m.counter(JOB_RETRIES_TOTAL, &[("kind", kind)]), events("retry"), "retries {kind}");
            let started = events("started") as usize;
            assert_eq!(
                m.histogram(JOB_WAIT_SECONDS, &[("kind", kind)]).len(),
                started,
                "wait samples {kind}"
            );
            assert_eq!(m.histogram(JOB_RUN_SECONDS, &[("kind", kind)]).len(), started, "run samples {kind}");
        }
    }
    let total = checked.outcomes.len() as u64;
    assert_eq!(m.counter_sum(JOBS_SUBMITTED_TOTAL), total);
    assert_eq!(m.counter_sum(JOBS_FINISHED_TOTAL), total);
    assert_eq!(m.gauge(JOBS_RUNNING), Some(0.0), "running returns to 0");
    assert_eq!(m.gauge(QUEUE_DEPTH), Some(0.0), "queue depth returns to 0");
    assert_eq!(m.gauge(WORKERS), Some(0.0), "no workers after shutdown");
}

fn plan_strategy() -> impl Strategy<Value = Plan> {
    prop_oneof![
        4 => Just(Plan::Succeed),
        2 => (0u8..5).prop_map(Plan::SucceedAfter),
        2 => Just(Plan::Fail),
        1 => Just(Plan::Panic),
        1 => any::<bool>().prop_map(|cooperative| Plan::TimeOut { cooperative }),
        2 => (1u8..=2).prop_map(Plan::Flaky),
        1 => Just(Plan::RetryExhausted),
        1 => Just(Plan::CancelQueued),
        1 => (0u8..=255).prop_map(Plan::CancelLater),
        1 => Just(Plan::Blocking),
        1 => Just(Plan::BlockingPanic),
        1 => (0u8..5).prop_map(Plan::Shielded),
        1 => Just(Plan::Forever),
    ]
}

fn ending_strategy() -> impl Strategy<Value = Ending> {
    prop_oneof![Just(Ending::Now), (0u8..20).prop_map(Ending::Deadline)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Deterministic interleavings on the paused clock, where the shutdown's report is
    /// exactly what resolved after it began.
    #[test]
    fn every_job_has_exactly_one_outcome_on_the_paused_clock(
        plans in prop::collection::vec(plan_strategy(), 150..300),
        ending in ending_strategy(),
        shutdown_at in 0.5f64..1.2,
        workers in 1usize..8,
        capacity in 4usize..64,
        events_on in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let shutdown_at = (plans.len() as f64 * shutdown_at) as usize;
        let recorder = DebuggingRecorder::new();
        let mut m = Totals::of(&recorder);
        let checked = metrics::with_local_recorder(&recorder, || {
            let run = run(&plans, ending, shutdown_at, workers, capacity, events_on, seed);
            support::paused_runtime().block_on(support::within(run))
        });
        check_metrics(&mut m, &checked);
        prop_assert_eq!(checked.accepted + checked.refused, plans.len());
        prop_assert_eq!(checked.report, checked.resolved_during_shutdown);
    }
}

/// A random plan of `n` jobs with the same mix as the proptest's.
fn random_plans(rng: &mut Rng, n: usize) -> Vec<Plan> {
    (0..n)
        .map(|_| match rng.below(22) {
            0..=3 => Plan::Succeed,
            4..=5 => Plan::SucceedAfter(rng.below(3) as u8),
            6..=7 => Plan::Fail,
            8 => Plan::Panic,
            9 => Plan::TimeOut { cooperative: rng.below(2) == 0 },
            10..=11 => Plan::Flaky(1 + rng.below(2) as u8),
            12 => Plan::RetryExhausted,
            13 => Plan::CancelQueued,
            14..=15 => Plan::CancelLater(rng.below(256) as u8),
            16 => Plan::Blocking,
            17 => Plan::BlockingPanic,
            18 => Plan::Shielded(rng.below(3) as u8),
            19 => Plan::Forever,
            _ => Plan::Succeed,
        })
        .collect()
}

/// Real races on two threads: 3000 jobs per round, with events (the reserve-then-push submit
/// path) and without (the direct push path), the shutdown starting while jobs are still being
/// submitted or once they all are.
#[test]
fn every_job_has_exactly_one_outcome_under_real_concurrency() {
    let rounds = [
        (true, Ending::Now, 2500),
        (false, Ending::Deadline(5), 2000),
        (true, Ending::Deadline(0), 3000),
        (false, Ending::Now, 3000),
    ];
    for (round, (events_on, ending, shutdown_at)) in rounds.into_iter().enumerate() {
        let seed = 0x5eed_0000 + round as u64;
        let mut rng = Rng::new(seed);
        let plans = random_plans(&mut rng, 3000);
        let recorder = DebuggingRecorder::new();
        let mut m = Totals::of(&recorder);
        let checked = metrics::with_local_recorder(&recorder, || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let run = run(&plans, ending, shutdown_at, 16, 64, events_on, seed);
            // A safety net against a hang (a bug), never reached by a passing run.
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), run).await })
                .expect("the run hung")
        });
        check_metrics(&mut m, &checked);
        assert_eq!(checked.accepted + checked.refused, plans.len());
        let (r, upper) = (checked.report, checked.resolved_during_shutdown);
        assert!(
            r.finished <= upper.finished
                && r.cancelled <= upper.cancelled
                && r.never_started <= upper.never_started,
            "round {round}: {r:?} counts jobs that resolved before the shutdown ({upper:?})"
        );
        // Both cancel paths were really taken (3000 jobs make this certain).
        assert!(checked.cancelled_queued > 0, "round {round}: {checked:?}");
        assert!(checked.cancelled_running > 0, "round {round}: {checked:?}");
    }
}

//! A property test of per-key limits: random jobs (keys, priorities, durations, start delays,
//! submit times, cancels) over random keys with random concurrency limits (some keys
//! unlimited), on a paused clock. The running count of a key never exceeds its limit, and
//! every job resolves exactly once — to its value if nobody cancelled it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conveyor_pool::{JobError, JobId, Pool};
use proptest::prelude::*;
use tokio::time::{Instant, sleep, sleep_until};

const KEYS: usize = 4;

#[derive(Debug, Clone)]
struct Spec {
    /// Index into the keys, or no key.
    key: Option<usize>,
    priority: i32,
    run_ms: u64,
    submit_at_ms: u64,
    delay_ms: Option<u64>,
    cancel_at_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct Scenario {
    workers: usize,
    /// Each key's concurrency limit; `None`: the key only groups.
    limits: [Option<usize>; KEYS],
    jobs: Vec<Spec>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        proptest::option::weighted(0.85, 0..KEYS),
        -2i32..=2,
        0u64..20,
        0u64..30,
        proptest::option::weighted(0.15, 1u64..30),
        proptest::option::weighted(0.2, 0u64..60),
    )
        .prop_map(|(key, priority, run_ms, submit_at_ms, delay_ms, cancel_at_ms)| Spec {
            key,
            priority,
            run_ms,
            submit_at_ms,
            delay_ms,
            cancel_at_ms,
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1usize..=6,
        proptest::array::uniform4(proptest::option::weighted(0.75, 1usize..=3)),
        prop::collection::vec(spec(), 1..=200),
    )
        .prop_map(|(workers, limits, jobs)| Scenario { workers, limits, jobs })
}

/// Per key: how many jobs run now, and the limit breaches seen.
struct Keys {
    running: [AtomicUsize; KEYS],
    limits: [Option<usize>; KEYS],
    breaches: Mutex<Vec<String>>,
}

/// Counts a job out of its key when its attempt's future is dropped, however it ended.
struct Running(Arc<Keys>, usize);

impl Keys {
    fn enter(self: &Arc<Self>, key: usize) -> Running {
        let now = self.running[key].fetch_add(1, SeqCst) + 1;
        if let Some(limit) = self.limits[key]
            && now > limit
        {
            self.breaches.lock().unwrap().push(format!("key {key}: {now} running, limit {limit}"));
        }
        Running(self.clone(), key)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running[self.1].fetch_sub(1, SeqCst);
    }
}

fn check(scenario: Scenario) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    rt.block_on(async move {
        let resolved: Arc<Mutex<HashMap<JobId, usize>>> = Arc::default();
        let mut builder = Pool::builder().workers(scenario.workers).capacity(64);
        let r = resolved.clone();
        builder = builder.on_finish(move |f| *r.lock().unwrap().entry(f.job.id).or_default() += 1);
        for (k, limit) in scenario.limits.iter().enumerate() {
            if let Some(limit) = limit {
                builder = builder.concurrency_limit(format!("k{k}"), *limit);
            }
        }
        let pool = builder.build();
        let keys = Arc::new(Keys {
            running: Default::default(),
            limits: scenario.limits,
            breaches: Mutex::default(),
        });
        let n = scenario.jobs.len();
        let starts: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
        let completions: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());

        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| scenario.jobs[i].submit_at_ms);
        let t0 = Instant::now();
        let mut handles = Vec::new();
        for i in order {
            let spec = scenario.jobs[i].clone();
            sleep_until(t0 + Duration::from_millis(spec.submit_at_ms)).await;
            let (keys, starts, completions) = (keys.clone(), starts.clone(), completions.clone());
            let mut job = conveyor_pool::Job::new(move |ctx| {
                let (keys, completions) = (keys.clone(), completions.clone());
                starts[i].fetch_add(1, SeqCst);
                async move {
                    let _running = spec.key.map(|k| keys.enter(k));
                    tokio::select! {
                        _ = sleep(Duration::from_millis(spec.run_ms)) => {
                            completions[i].fetch_add(1, SeqCst);
                            Ok(i)
                        }
                        _ = ctx.cancelled() => Err("cancelled"),
                    }
                }
            })
            .priority(spec.priority);
            if let Some(k) = spec.key {
                job = job.concurrency_key(format!("k{k}"));
            }
            if let Some(ms) = spec.delay_ms {
                job = job.delay(Duration::from_millis(ms));
            }
            let handle = pool.submit(job).await.unwrap();
            if let Some(ms) = spec.cancel_at_ms {
                let canceller = handle.cancel_handle();
                tokio::spawn(async move {
                    sleep_until(t0 + Duration::from_millis(ms)).await;
                    canceller.cancel();
                });
            }
            handles.push((i, handle));
        }

        let mut ids = Vec::new();
        for (i, handle) in handles {
            let id = handle.id();
            ids.push(id);
            let result = tokio::time::timeout(Duration::from_secs(3600), handle)
                .await
                .unwrap_or_else(|_| panic!("job {i} never resolved: {:?}", scenario.jobs[i]));
            let (started, completed) = (starts[i].load(SeqCst), completions[i].load(SeqCst));
            assert!(started <= 1, "job {i} started {started} times");
            match result {
                Ok(v) => {
                    assert_eq!(v, i);
                    assert_eq!(completed, 1, "job {i} succeeded");
                }
                Err(JobError::Cancelled) => {
                    assert!(
                        scenario.jobs[i].cancel_at_ms.is_some(),
                        "job {i} cancelled, but nobody cancelled it"
                    );
                    assert!(completed <= 1);
                }
                Err(other) => panic!("job {i}: unexpected {other:?}"),
            }
        }
        pool.join().await;
        let breaches = keys.breaches.lock().unwrap().clone();
        assert!(breaches.is_empty(), "limits exceeded: {breaches:?}");
        let resolved = resolved.lock().unwrap();
        assert_eq!(resolved.len(), n, "every job resolved");
        assert!(ids.iter().all(|id| resolved.get(id) == Some(&1)), "every job resolved exactly once");
        assert_eq!(pool.unresolved(), 0);
        assert_eq!(pool.queued(), 0);
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn limits_hold_and_every_job_resolves_exactly_once(scenario in scenario()) {
        check(scenario);
    }
}

//! `cargo run --release -p conveyor-benches --bin pool [-- --reps N --jobs N]`
//!
//! Measures `conveyor_pool::Pool` against two baselines in one run and prints one markdown
//! table of median nanoseconds per job, with ratios:
//!
//! - tokio `JoinSet`: `spawn` every job, then `join_next` them all;
//! - a naive pool: `async-channel` (capacity 1024) of boxed closures, each with a
//!   `tokio::sync::oneshot` reply, served by 2 or 8 worker tasks.
//!
//! The workload: `--jobs` (default 1M) no-op jobs, each submitted then its handle awaited
//! (all submitted first, through a queue of capacity 1024, then all awaited in submit order),
//! on a 2-worker multi-thread tokio runtime. Conveyor runs with metrics and events off, then
//! with metrics on (a Prometheus recorder installed, as the `conveyor` binary does), then with
//! events on (one subscriber draining them). Every run checks that every job's result came
//! back exactly once.

// Shared with the queue benchmark, which uses more of it.
#[allow(dead_code)]
mod harness;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use conveyor_pool::{Job, Pool};
use tokio::runtime::Runtime;

use crate::harness::{median, ns_per_item};

const CAPACITY: usize = 1024;
/// The targets, ns/job.
const TARGET_OFF_NS: f64 = 150.0;
const TARGET_METRICS_NS: f64 = 250.0;

type BoxJob = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = u64> + Send>> + Send>;

fn expected_sum(n: usize) -> u64 {
    let n = n as u64;
    if n == 0 { 0 } else { n * (n - 1) / 2 }
}

fn check(what: &str, n: usize, sum: u64) {
    assert_eq!(sum, expected_sum(n), "{what}: results do not add up: a job was lost or doubled");
}

/// Limits applied to every job of a conveyor run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Limits {
    None,
    /// 16 concurrency keys, limit 4 each, jobs spread round-robin.
    Keys16,
    /// One key with a rate limit that never binds.
    Rate,
}

const KEYS: [&str; 16] =
    ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11", "k12", "k13", "k14", "k15"];

async fn conveyor(n: usize, workers: usize, metrics: bool, events: bool) -> Duration {
    conveyor_with(n, workers, metrics, events, Limits::None).await
}

async fn conveyor_with(n: usize, workers: usize, metrics: bool, events: bool, limits: Limits) -> Duration {
    let mut builder = Pool::builder()
        .workers(workers)
        .capacity(CAPACITY)
        .metrics(metrics)
        .event_buffer(if events { 4096 } else { 0 });
    match limits {
        Limits::None => {}
        Limits::Keys16 => {
            for key in KEYS {
                builder = builder.concurrency_limit(key, 4);
            }
        }
        Limits::Rate => builder = builder.rate_limit("api", u32::MAX, Duration::from_secs(1)),
    }
    let pool = builder.build();
    let drain = events.then(|| {
        let mut ev = pool.events();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            let mut seen = 0u64;
            while let Some(e) = ev.next().await {
                seen += u64::from(e.is_ok());
            }
            seen
        })
    });
    let keys: Vec<std::sync::Arc<str>> = KEYS.iter().map(|k| std::sync::Arc::from(*k)).collect();
    let api: std::sync::Arc<str> = std::sync::Arc::from("api");
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let job = Job::new(move |_ctx| async move { Ok::<_, std::convert::Infallible>(i) });
        let job = match limits {
            Limits::None => job,
            Limits::Keys16 => job.concurrency_key(keys[i as usize % 16].clone()),
            Limits::Rate => job.concurrency_key(api.clone()),
        };
        handles.push(pool.submit(job).await.unwrap_or_else(|_| panic!("pool refused job {i}")));
    }
    let mut sum = 0u64;
    for h in handles {
        sum += h.await.unwrap_or_else(|e| panic!("job failed: {e}"));
    }
    let elapsed = start.elapsed();
    check("conveyor-pool", n, sum);
    pool.shutdown_now().await;
    if let Some(d) = drain {
        let seen = d.await.unwrap_or(0);
        eprintln!("    (events subscriber saw {seen} events)");
    }
    elapsed
}

async fn joinset(n: usize) -> Duration {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n as u64 {
        set.spawn(async move { i });
    }
    let mut sum = 0u64;
    while let Some(r) = set.join_next().await {
        sum += r.unwrap_or_else(|e| panic!("task failed: {e}"));
    }
    let elapsed = start.elapsed();
    check("JoinSet", n, sum);
    elapsed
}

async fn naive(n: usize, workers: usize) -> Duration {
    let (tx, rx) = async_channel::bounded::<(BoxJob, tokio::sync::oneshot::Sender<u64>)>(CAPACITY);
    let worker_tasks: Vec<_> = (0..workers)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                while let Ok((job, reply)) = rx.recv().await {
                    let _ = reply.send(job().await);
                }
            })
        })
        .collect();
    let start = Instant::now();
    let mut replies = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job: BoxJob = Box::new(move || Box::pin(async move { i }));
        if tx.send((job, reply)).await.is_err() {
            panic!("naive pool closed");
        }
        replies.push(rx);
    }
    let mut sum = 0u64;
    for r in replies {
        sum += r.await.unwrap_or_else(|_| panic!("naive job lost"));
    }
    let elapsed = start.elapsed();
    check("naive pool", n, sum);
    tx.close();
    for w in worker_tasks {
        let _ = w.await;
    }
    elapsed
}

fn arg(name: &str, env: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .or_else(|| std::env::var(env).ok())
        .map(|v| {
            v.replace('_', "").parse().unwrap_or_else(|_| {
                eprintln!("{name}: expected a whole number, got {v:?}");
                std::process::exit(2)
            })
        })
        .unwrap_or(default)
}

/// Runs `fut` as a task on the runtime's workers, as an embedding program's code would run
/// (`block_on` would run it on the main thread, outside the runtime's worker threads).
fn run_on(rt: &Runtime, fut: Pin<Box<dyn Future<Output = Duration> + Send>>) -> Duration {
    rt.block_on(async { tokio::spawn(fut).await.unwrap_or_else(|e| panic!("benchmark task failed: {e}")) })
}

fn measure(
    rt: &Runtime,
    reps: usize,
    label: &str,
    n: usize,
    run: impl Fn() -> Pin<Box<dyn Future<Output = Duration> + Send>>,
) -> f64 {
    // One warm-up run (allocator, page faults), then the measured ones.
    run_on(rt, run());
    let samples: Vec<f64> = (0..reps)
        .map(|_| {
            let ns = ns_per_item(run_on(rt, run()), n);
            eprintln!("  {label}: {ns:.1} ns/job");
            ns
        })
        .collect();
    median(&samples)
}

fn main() {
    let reps = arg("--reps", "BENCH_REPS", 5);
    let n = arg("--jobs", "BENCH_JOBS", 1_000_000);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a tokio runtime: {e}");
            std::process::exit(1)
        }
    };
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "naive") {
        let ns = measure(&rt, reps, "naive 2 workers", n, || Box::pin(naive(n, 2)));
        println!("naive pool, 2 workers: {ns:.1} ns/job");
        return;
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "conveyor") {
        // For profiling: the plain pool only.
        let ns = measure(&rt, reps, "conveyor 2 workers, metrics+events off", n, || {
            Box::pin(conveyor(n, 2, false, false))
        });
        println!("conveyor-pool, 2 workers, metrics & events off: {ns:.1} ns/job");
        return;
    }
    println!("Machine: {}", harness::machine_info());
    println!(
        "Workload: {n} no-op jobs, submit all then await every handle; capacity {CAPACITY}; 2-thread tokio runtime; \
         median of {reps}, repetitions interleaved across scenarios\n"
    );
    // Metrics on: a real Prometheus recorder, as the `conveyor` binary installs. Installed
    // before anything runs; the scenarios with metrics off never call it.
    if let Err(e) = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        eprintln!("could not install the Prometheus recorder: {e}");
    }
    type MakeRun = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Duration> + Send>>>;
    let mut scenarios: Vec<(String, MakeRun)> = Vec::new();
    // Adds a scenario; its index into `scenarios` (and the results).
    let mut add = |label: String, run: MakeRun| {
        scenarios.push((label, run));
        scenarios.len() - 1
    };
    let joinset_i = add("tokio JoinSet (spawn + join_next)".into(), Box::new(move || Box::pin(joinset(n))));
    let naive_i: Vec<(usize, usize)> = [2, 8]
        .into_iter()
        .map(|workers| {
            let label = format!("naive pool (async-channel + oneshot), {workers} workers");
            (workers, add(label, Box::new(move || Box::pin(naive(n, workers)))))
        })
        .collect();
    let off_i: Vec<(usize, usize)> = [2, 4, 8]
        .into_iter()
        .map(|workers| {
            let label = format!("conveyor-pool, {workers} workers, metrics & events off");
            (workers, add(label, Box::new(move || Box::pin(conveyor(n, workers, false, false)))))
        })
        .collect();
    let keyed_i = add(
        "conveyor-pool, 2 workers, 16 concurrency keys (limit 4 each)".into(),
        Box::new(move || Box::pin(conveyor_with(n, 2, false, false, Limits::Keys16))),
    );
    let rated_i = add(
        "conveyor-pool, 2 workers, a rate limit that never binds".into(),
        Box::new(move || Box::pin(conveyor_with(n, 2, false, false, Limits::Rate))),
    );
    let metrics_i = add(
        "conveyor-pool, 2 workers, metrics on (Prometheus recorder)".into(),
        Box::new(move || Box::pin(conveyor(n, 2, true, false))),
    );
    add(
        "conveyor-pool, 2 workers, metrics & events on (1 subscriber)".into(),
        Box::new(move || Box::pin(conveyor(n, 2, true, true))),
    );
    // One warm-up run each (allocator, page faults), then `reps` rounds, each running every
    // scenario once: a burst of load from elsewhere on this shared machine then lands on
    // one repetition of several scenarios, not on every repetition of one.
    for (_, run) in &scenarios {
        run_on(&rt, run());
    }
    let mut samples = vec![Vec::with_capacity(reps); scenarios.len()];
    for rep in 1..=reps {
        for ((label, run), out) in scenarios.iter().zip(&mut samples) {
            let ns = ns_per_item(run_on(&rt, run()), n);
            eprintln!("  {rep}/{reps} {label}: {ns:.1} ns/job");
            out.push(ns);
        }
    }
    let ns: Vec<f64> = samples.iter().map(|s| median(s)).collect();
    let js = ns[joinset_i];
    let naive_by_workers: Vec<(usize, f64)> = naive_i.iter().map(|&(w, i)| (w, ns[i])).collect();
    let off_by_workers: Vec<(usize, f64)> = off_i.iter().map(|&(w, i)| (w, ns[i])).collect();
    let (keyed, rated, metrics_ns) = (ns[keyed_i], ns[rated_i], ns[metrics_i]);
    // Conveyor's rows first, then the baselines, as before; each with its best repetition
    // too, which a burst of load from elsewhere can only make worse.
    let best: Vec<f64> = samples.iter().map(|s| s.iter().copied().fold(f64::INFINITY, f64::min)).collect();
    let order = (off_i[0].1..scenarios.len()).chain(naive_i.iter().map(|&(_, i)| i)).chain([joinset_i]);
    let naive2 = naive_by_workers[0].1;
    let naive2_best = best[naive_i[0].1];
    println!(
        "| scenario | ns/job (median) | jobs/s | vs JoinSet | vs naive pool (2 workers) | best ns/job | best vs naive (best) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for i in order {
        let (name, ns, b) = (&scenarios[i].0, ns[i], best[i]);
        println!(
            "| {name} | {ns:.1} | {:.2}M | {:.2}x | {:.2}x | {b:.1} | {:.2}x |",
            1e3 / ns,
            js / ns,
            naive2 / ns,
            naive2_best / b
        );
    }
    let off = off_by_workers.iter().map(|&(_, ns)| ns);
    let (lo, hi) = off.clone().fold((f64::MAX, 0.0f64), |(lo, hi), ns| (lo.min(ns), hi.max(ns)));
    let spread = (hi - lo) / lo * 100.0;
    let off2 = off_by_workers[0].1;
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    println!();
    println!("Ratios are baseline ns / conveyor ns: above 1.00x conveyor is faster.");
    println!(
        "Targets: metrics & events off ≤ {TARGET_OFF_NS} ns/job {} ({off2:.1}); no slower than the naive pool {} ; ≥ 3x JoinSet {} ({:.2}x); \
         within ±10% from 2 to 8 workers {} (spread {spread:.1}%); metrics on ≤ {TARGET_METRICS_NS} ns/job {} ({metrics_ns:.1})",
        mark(off2 <= TARGET_OFF_NS),
        mark(off2 <= naive2),
        mark(js / off2 >= 3.0),
        js / off2,
        mark(spread <= 20.0),
        mark(metrics_ns <= TARGET_METRICS_NS),
    );
    println!(
        "Limits that never bind cost < 25% of throughput: 16 keys keep {:.0}% {}; a rate limit keeps {:.0}% {}",
        off2 / keyed * 100.0,
        mark(off2 / keyed >= 0.75),
        off2 / rated * 100.0,
        mark(off2 / rated >= 0.75),
    );
}

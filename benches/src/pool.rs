//! `cargo run --release -p conveyor-benches --bin pool [-- --reps N --jobs N]`
//!
//! Measures `conveyor_pool::Pool` against two baselines in one run and prints one markdown
//! table of median nanoseconds per job, with ratios:
//!
//! - tokio `JoinSet`: `spawn` every job, then `join_next` them all;
//! - a naive pool: `async-channel` (capacity 1024) of boxed closures, each with a
//!   `tokio::sync::oneshot` reply, served by 2 or 8 worker tasks.
//!
//! Two workloads, each with `--jobs` (default 1M) jobs on a 2-worker multi-thread tokio runtime:
//!
//! - **batch**: no-op jobs, all submitted first (through a queue of capacity 1024), then all
//!   handles awaited in submit order;
//! - **submitters**: 4 tasks each submit their share and await their own handles; each job's
//!   body yields once (as a job that awaits anything does).
//!
//! The headline rows are what a user gets without tuning: `Pool::builder().build()` (256
//! workers, no recorder installed, so no metrics; no event subscriber, so no events), and the
//! same with only `workers(2)` or `workers(8)` set. Then the tuned rows (metrics and events
//! turned off explicitly), limits that never bind, metrics on (a Prometheus recorder, as the
//! `conveyor` binary installs) and events on (one subscriber draining them). Every run checks
//! that every job's result came back exactly once. Below the tables, the recorder's own cost
//! for one job's records, measured without a pool.
//!
//! Each repetition of each scenario runs in a fresh process of its own (a warm-up run, then
//! the measured one), interleaved across scenarios: see [`measure_apart`] for why.
//! `--same-process` (or `BENCH_SAME_PROCESS=1`) runs them all in this one process instead.

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

/// How a conveyor pool of a scenario is built.
#[derive(Clone, Copy)]
struct Setup {
    /// `None`: the builder's default.
    workers: Option<usize>,
    /// `None`: the builder's default (on only with a recorder; the bench installs none).
    metrics: Option<bool>,
    /// `None`: the builder's default (events made only while a subscriber listens).
    events: Option<bool>,
    limits: Limits,
}

impl Setup {
    const DEFAULTS: Setup = Setup { workers: None, metrics: None, events: None, limits: Limits::None };

    fn workers(workers: usize) -> Setup {
        Setup { workers: Some(workers), ..Setup::DEFAULTS }
    }

    /// The tuned configuration: metrics and events off.
    fn off(workers: usize) -> Setup {
        Setup { workers: Some(workers), metrics: Some(false), events: Some(false), limits: Limits::None }
    }
}

/// A Prometheus recorder, made once and installed only while a metrics scenario builds its
/// pool (the handles it takes then record into it): the other scenarios see no recorder, as
/// a program that installs none.
fn recorder() -> &'static metrics_exporter_prometheus::PrometheusRecorder {
    static RECORDER: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusRecorder> =
        std::sync::OnceLock::new();
    RECORDER.get_or_init(|| metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder())
}

/// What turning metrics on adds per job in the recorder itself, without a pool: the
/// records the pool makes for one no-op job of its default kind (two clock reads, the wait
/// and run samples, the submitted counter, the depth gauge up; the depth's decrement and the
/// finished count once per batch of 8), one after another on this thread, into the same
/// kind of recorder as the metrics row. Nanoseconds of CPU per job, which no change inside
/// the pool can lower (the pool's workers spend them beside the submitter, so they add less
/// wall time than that while the workers have time to spare).
fn recorder_floor(n: usize) -> f64 {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        let wait = metrics::histogram!("floor_wait_seconds", "kind" => "job");
        let run = metrics::histogram!("floor_run_seconds", "kind" => "job");
        let submitted = metrics::counter!("floor_submitted_total", "kind" => "job");
        let finished = metrics::counter!("floor_finished_total", "kind" => "job", "outcome" => "succeeded");
        let depth = metrics::gauge!("floor_queue_depth");
        let epoch = tokio::time::Instant::now();
        let start = Instant::now();
        for i in 0..n {
            let ready = epoch.elapsed();
            submitted.increment(1);
            depth.increment(1.0);
            let ended = epoch.elapsed();
            wait.record(0.0);
            run.record((ended - ready).as_secs_f64());
            if i % 8 == 7 {
                depth.decrement(8.0);
                finished.increment(8);
            }
        }
        let elapsed = start.elapsed();
        recorder.handle().run_upkeep();
        ns_per_item(elapsed, n)
    })
}

fn build(setup: Setup) -> Pool {
    let mut builder = Pool::builder().capacity(CAPACITY);
    if let Some(w) = setup.workers {
        builder = builder.workers(w);
    }
    if let Some(m) = setup.metrics {
        builder = builder.metrics(m);
    }
    if setup.events == Some(false) {
        builder = builder.event_buffer(0);
    }
    match setup.limits {
        Limits::None => {}
        Limits::Keys16 => {
            for key in KEYS {
                builder = builder.concurrency_limit(key, 4);
            }
        }
        Limits::Rate => builder = builder.rate_limit("api", u32::MAX, Duration::from_secs(1)),
    }
    if setup.metrics == Some(true) {
        metrics::with_local_recorder(recorder(), || builder.build())
    } else {
        builder.build()
    }
}

async fn conveyor(n: usize, setup: Setup) -> Duration {
    let limits = setup.limits;
    let events = setup.events == Some(true);
    let pool = build(setup);
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
        sum += h.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let elapsed = start.elapsed();
    check("conveyor-pool", n, sum);
    pool.shutdown_now().await;
    if setup.metrics == Some(true) {
        // What the `conveyor` binary's exporter does every 5 s: drain the histograms'
        // samples, so that they do not pile up from one repetition to the next.
        recorder().handle().run_upkeep();
    }
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

/// The naive pool: an async-channel of boxed jobs with a oneshot reply each, served by
/// `workers` tasks; the sender and the tasks to await after closing it.
fn naive_pool(workers: usize) -> (NaiveSender, Vec<tokio::task::JoinHandle<()>>) {
    let (tx, rx) = async_channel::bounded::<(BoxJob, tokio::sync::oneshot::Sender<u64>)>(CAPACITY);
    let tasks = (0..workers)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                while let Ok((job, reply)) = rx.recv().await {
                    let _ = reply.send(job().await);
                }
            })
        })
        .collect();
    (tx, tasks)
}

type NaiveSender = async_channel::Sender<(BoxJob, tokio::sync::oneshot::Sender<u64>)>;

/// Sends the jobs `make(i)` for `i` in `range` to the naive pool, then awaits every reply
/// in order; returns their sum.
async fn naive_round(tx: &NaiveSender, range: std::ops::Range<u64>, make: fn(u64) -> BoxJob) -> u64 {
    let mut replies = Vec::with_capacity(range.end.saturating_sub(range.start) as usize);
    for i in range {
        let (reply, rx) = tokio::sync::oneshot::channel();
        if tx.send((make(i), reply)).await.is_err() {
            panic!("naive pool closed");
        }
        replies.push(rx);
    }
    let mut sum = 0u64;
    for r in replies {
        sum += r.await.unwrap_or_else(|_| panic!("naive job lost"));
    }
    sum
}

async fn naive(n: usize, workers: usize) -> Duration {
    let (tx, worker_tasks) = naive_pool(workers);
    let start = Instant::now();
    let sum = naive_round(&tx, 0..n as u64, |i| Box::new(move || Box::pin(async move { i }))).await;
    let elapsed = start.elapsed();
    check("naive pool", n, sum);
    tx.close();
    for w in worker_tasks {
        let _ = w.await;
    }
    elapsed
}

/// Submitter tasks of the second workload.
const SUBMITTERS: usize = 4;

/// The values `0..n` split among [`SUBMITTERS`] tasks, each running `each(range)` and
/// returning its sum; the total is checked and the wall time returned.
async fn submitters<F, Fut>(what: &'static str, n: usize, each: F) -> Duration
where
    F: Fn(std::ops::Range<u64>) -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..SUBMITTERS)
        .map(|s| {
            let (lo, hi) = ((n * s / SUBMITTERS) as u64, (n * (s + 1) / SUBMITTERS) as u64);
            tokio::spawn(each(lo..hi))
        })
        .collect();
    let mut sum = 0u64;
    for t in tasks {
        sum += t.await.unwrap_or_else(|e| panic!("{what}: a submitter failed: {e}"));
    }
    let elapsed = start.elapsed();
    check(what, n, sum);
    elapsed
}

async fn conveyor_submitters(n: usize, setup: Setup) -> Duration {
    let pool = build(setup);
    let elapsed = submitters("conveyor-pool", n, |range| {
        let pool = pool.clone();
        async move {
            let mut handles = Vec::with_capacity(range.end.saturating_sub(range.start) as usize);
            for i in range {
                let job = Job::new(move |_ctx| async move {
                    tokio::task::yield_now().await;
                    Ok::<_, std::convert::Infallible>(i)
                });
                handles.push(pool.submit(job).await.unwrap_or_else(|_| panic!("pool refused job {i}")));
            }
            let mut sum = 0u64;
            for h in handles {
                sum += h.await.unwrap_or_else(|e| panic!("{e}"));
            }
            sum
        }
    })
    .await;
    pool.shutdown_now().await;
    elapsed
}

async fn joinset_submitters(n: usize) -> Duration {
    submitters("JoinSet", n, |range| async move {
        let mut set = tokio::task::JoinSet::new();
        for i in range {
            set.spawn(async move {
                tokio::task::yield_now().await;
                i
            });
        }
        let mut sum = 0u64;
        while let Some(r) = set.join_next().await {
            sum += r.unwrap_or_else(|e| panic!("task failed: {e}"));
        }
        sum
    })
    .await
}

async fn naive_submitters(n: usize, workers: usize) -> Duration {
    let (tx, worker_tasks) = naive_pool(workers);
    let elapsed = submitters("naive pool", n, |range| {
        let tx = tx.clone();
        async move {
            naive_round(&tx, range, |i| {
                Box::new(move || {
                    Box::pin(async move {
                        tokio::task::yield_now().await;
                        i
                    })
                })
            })
            .await
        }
    })
    .await;
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

type MakeRun = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Duration> + Send>>>;

/// One scenario of a table: its label, how to run it, and whether it is a baseline.
struct Scenario {
    label: String,
    run: MakeRun,
    baseline: bool,
}

fn scenario(label: impl Into<String>, baseline: bool, run: MakeRun) -> Scenario {
    Scenario { label: label.into(), run, baseline }
}

/// Runs every scenario of every table `reps` times, interleaved (a burst of load from
/// elsewhere on this shared machine then lands on one repetition of several scenarios, not
/// on every repetition of one), measuring one repetition with `one(table, row, scenario)`
/// (ns/job); returns each scenario's median and best, table by table.
fn rounds(
    reps: usize,
    tables: &[&[Scenario]],
    mut one: impl FnMut(usize, usize, &Scenario) -> f64,
) -> Vec<Vec<(f64, f64)>> {
    let mut samples: Vec<Vec<Vec<f64>>> = tables.iter().map(|t| vec![Vec::new(); t.len()]).collect();
    for rep in 1..=reps {
        for (t, (table, out)) in tables.iter().zip(&mut samples).enumerate() {
            for (i, (s, out)) in table.iter().zip(out.iter_mut()).enumerate() {
                let ns = one(t, i, s);
                eprintln!("  {rep}/{reps} {}: {ns:.1} ns/job", s.label);
                out.push(ns);
            }
        }
    }
    samples
        .iter()
        .map(|t| t.iter().map(|s| (median(s), s.iter().copied().fold(f64::INFINITY, f64::min))).collect())
        .collect()
}

/// [`rounds`] in this one process (`--same-process`), after one warm-up run of each
/// scenario.
fn measure_all(rt: &Runtime, reps: usize, n: usize, tables: &[&[Scenario]]) -> Vec<Vec<(f64, f64)>> {
    for s in tables.iter().flat_map(|t| t.iter()) {
        run_on(rt, (s.run)());
    }
    rounds(reps, tables, |_, _, s| ns_per_item(run_on(rt, (s.run)()), n))
}

/// [`rounds`] with each repetition in a process of its own: this program again, with
/// `BENCH_CHILD=table:row`, which runs the scenario once to warm up and once measured
/// ([`child`]). In one shared process a scenario ran on the heap the scenarios before it
/// left (glibc's arenas, their free lists and the pages they had faulted in): the same
/// scenario measured up to 2x apart depending on what ran before it, and every scenario
/// slowed down over the run's own repetitions (the naive pool with submitters: 871 ns/job
/// in the first round, 1961 in the fifth). Apart, every contestant starts from the same
/// fresh process and pays for its own memory.
fn measure_apart(reps: usize, n: usize, tables: &[&[Scenario]]) -> Vec<Vec<(f64, f64)>> {
    let exe = std::env::current_exe().unwrap_or_else(|e| {
        eprintln!("cannot find this benchmark's own executable: {e}");
        std::process::exit(1)
    });
    rounds(reps, tables, |t, i, s| {
        let run = std::process::Command::new(&exe)
            .env("BENCH_CHILD", format!("{t}:{i}"))
            .env("BENCH_JOBS", n.to_string())
            .stderr(std::process::Stdio::inherit())
            .output();
        let ns = run
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok());
        ns.unwrap_or_else(|| {
            eprintln!("{}: the child process failed or printed no time", s.label);
            std::process::exit(1)
        })
    })
}

/// The child side of [`measure_apart`]: runs scenario `which` (`table:row`) once to warm up,
/// then once measured, and prints its ns/job alone on stdout.
fn child(rt: &Runtime, n: usize, which: &str) {
    let tables = tables(n);
    let scenario = which
        .split_once(':')
        .and_then(|(t, i)| Some((t.parse::<usize>().ok()?, i.parse::<usize>().ok()?)))
        .and_then(|(t, i)| tables.get(t)?.get(i));
    let Some(s) = scenario else {
        eprintln!("BENCH_CHILD={which}: no such scenario");
        std::process::exit(2)
    };
    run_on(rt, (s.run)());
    println!("{}", ns_per_item(run_on(rt, (s.run)()), n));
}

/// Prints one table: conveyor's rows, then the baselines, each with its ratio to JoinSet
/// (`joinset`) and to the naive pool at 2 and 8 workers (`naive2`, `naive8`, indexes).
fn print_table(title: &str, table: &[Scenario], ns: &[(f64, f64)], joinset: usize, naive: [usize; 2]) {
    println!("**{title}**\n");
    println!(
        "| scenario | ns/job (median) | jobs/s | vs JoinSet | vs naive, 2 workers | vs naive, 8 workers | best ns/job |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let (js, n2, n8) = (ns[joinset].0, ns[naive[0]].0, ns[naive[1]].0);
    let order = (0..table.len())
        .filter(|&i| !table[i].baseline)
        .chain((0..table.len()).filter(|&i| table[i].baseline));
    for i in order {
        let (m, b) = ns[i];
        println!(
            "| {} | {m:.1} | {:.2}M | {:.2}x | {:.2}x | {:.2}x | {b:.1} |",
            table[i].label,
            1e3 / m,
            js / m,
            n2 / m,
            n8 / m
        );
    }
    println!();
}

/// The two tables' scenarios, in the same order in the parent and in every child process.
fn tables(n: usize) -> [Vec<Scenario>; 2] {
    // The rows every workload has: the defaults, then its baselines.
    type Run = fn(usize, Setup) -> Pin<Box<dyn Future<Output = Duration> + Send>>;
    type Base = fn(usize, usize) -> Pin<Box<dyn Future<Output = Duration> + Send>>;
    type Js = fn(usize) -> Pin<Box<dyn Future<Output = Duration> + Send>>;
    let defaults = |run: Run| -> Vec<Scenario> {
        [
            ("conveyor-pool, `Pool::builder().build()` (defaults: 256 workers)", Setup::DEFAULTS),
            ("conveyor-pool, defaults but `workers(2)`", Setup::workers(2)),
            ("conveyor-pool, defaults but `workers(8)`", Setup::workers(8)),
        ]
        .into_iter()
        .map(|(label, setup)| scenario(label, false, Box::new(move || run(n, setup))))
        .collect()
    };
    let baselines = |naive: Base, joinset: Js| -> Vec<Scenario> {
        let mut rows: Vec<Scenario> = [2, 8]
            .into_iter()
            .map(|w| {
                let label = format!("naive pool (async-channel + oneshot), {w} workers");
                scenario(label, true, Box::new(move || naive(n, w)))
            })
            .collect();
        rows.push(scenario("tokio JoinSet (spawn + join_next)", true, Box::new(move || joinset(n))));
        rows
    };
    let mut batch = defaults(|n, s| Box::pin(conveyor(n, s)));
    for (label, setup) in [
        ("conveyor-pool, 2 workers, metrics & events off", Setup::off(2)),
        (
            "conveyor-pool, 2 workers, 16 concurrency keys (limit 4 each)",
            Setup { limits: Limits::Keys16, ..Setup::off(2) },
        ),
        (
            "conveyor-pool, 2 workers, a rate limit that never binds",
            Setup { limits: Limits::Rate, ..Setup::off(2) },
        ),
        (
            "conveyor-pool, 2 workers, metrics on (Prometheus recorder)",
            Setup { metrics: Some(true), ..Setup::workers(2) },
        ),
        (
            "conveyor-pool, 2 workers, metrics & events on (1 subscriber)",
            Setup { metrics: Some(true), events: Some(true), ..Setup::workers(2) },
        ),
    ] {
        batch.push(scenario(label, false, Box::new(move || Box::pin(conveyor(n, setup)))));
    }
    batch.extend(baselines(|n, w| Box::pin(naive(n, w)), |n| Box::pin(joinset(n))));
    let mut subs = defaults(|n, s| Box::pin(conveyor_submitters(n, s)));
    subs.extend(baselines(|n, w| Box::pin(naive_submitters(n, w)), |n| Box::pin(joinset_submitters(n))));
    [batch, subs]
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
    if let Ok(which) = std::env::var("BENCH_CHILD") {
        child(&rt, n, &which);
        return;
    }
    // BENCH_WORKLOAD=submitters: the single-scenario runs below run the submitters workload.
    let submitters_only = std::env::var("BENCH_WORKLOAD").is_ok_and(|v| v == "submitters");
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "naive") {
        let ns = if submitters_only {
            measure(&rt, reps, "naive 2 workers", n, || Box::pin(naive_submitters(n, 2)))
        } else {
            measure(&rt, reps, "naive 2 workers", n, || Box::pin(naive(n, 2)))
        };
        println!("naive pool, 2 workers: {ns:.1} ns/job");
        return;
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "joinset") {
        let ns = if submitters_only {
            measure(&rt, reps, "JoinSet", n, || Box::pin(joinset_submitters(n)))
        } else {
            measure(&rt, reps, "JoinSet", n, || Box::pin(joinset(n)))
        };
        println!("tokio JoinSet: {ns:.1} ns/job");
        return;
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "conveyor") {
        // For profiling: the default pool only (BENCH_WORKERS sets its workers).
        let mut setup = match std::env::var("BENCH_WORKERS").ok().and_then(|w| w.parse().ok()) {
            Some(w) => Setup::workers(w),
            None => Setup::DEFAULTS,
        };
        // BENCH_METRICS=1: with a Prometheus recorder.
        if std::env::var("BENCH_METRICS").is_ok_and(|v| v == "1") {
            setup.metrics = Some(true);
        }
        let ns = if submitters_only {
            measure(&rt, reps, "conveyor defaults", n, || Box::pin(conveyor_submitters(n, setup)))
        } else {
            measure(&rt, reps, "conveyor defaults", n, || Box::pin(conveyor(n, setup)))
        };
        println!("conveyor-pool, Pool::builder().build(): {ns:.1} ns/job");
        return;
    }
    println!("Machine: {}", harness::machine_info());
    // BENCH_SAME_PROCESS=1 (or --same-process): every scenario in this process, as before.
    let same_process = std::env::args().any(|a| a == "--same-process")
        || std::env::var("BENCH_SAME_PROCESS").is_ok_and(|v| v == "1");
    let method = if same_process {
        "all in this one process (--same-process)"
    } else {
        "each in a fresh process of its own (a warm-up run, then the measured one)"
    };
    println!(
        "{n} jobs a run; capacity {CAPACITY}; 2-thread tokio runtime; median of {reps}, repetitions \
         interleaved across scenarios, {method}\n"
    );
    let [batch, subs] = tables(n);
    let results = if same_process {
        measure_all(&rt, reps, n, &[&batch, &subs])
    } else {
        measure_apart(reps, n, &[&batch, &subs])
    };
    print_table("Batch: no-op jobs, all submitted, then all awaited", &batch, &results[0], 10, [8, 9]);
    print_table(
        &format!("Submitters: {SUBMITTERS} tasks each submit their share and await it; bodies yield once"),
        &subs,
        &results[1],
        5,
        [3, 4],
    );
    let (b, s) = (&results[0], &results[1]);
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    let ratio = |base: f64, ours: f64| base / ours;
    println!("Ratios are baseline ns / conveyor ns: above 1.00x conveyor is faster.");
    let mut line = String::from("Targets (defaults):");
    for (name, t, def, naive, js) in
        [("batch", b, [0, 1, 2], [8, 9], 10), ("submitters", s, [0, 1, 2], [3, 4], 5)]
    {
        let worst_naive = def
            .iter()
            .flat_map(|&d| naive.iter().map(move |&nv| (d, nv)))
            .map(|(d, nv)| ratio(t[nv].0, t[d].0))
            .fold(f64::INFINITY, f64::min);
        let vs_js = ratio(t[js].0, t[0].0);
        line.push_str(&format!(
            " {name}: ≥ 1.0x naive at 2 and 8 workers {} (worst {worst_naive:.2}x), ≥ 3x JoinSet {} ({vs_js:.2}x);",
            mark(worst_naive >= 1.0),
            mark(vs_js >= 3.0)
        ));
    }
    println!("{line}");
    let off2 = b[3].0;
    println!(
        "Pay only for what is observed: defaults `workers(2)` {:.1} vs metrics & events off {off2:.1} ns/job ({:+.0}%); \
         metrics on adds {:+.0}% (target ≤ +30%) {}",
        b[1].0,
        (b[1].0 / off2 - 1.0) * 100.0,
        (b[6].0 / off2 - 1.0) * 100.0,
        mark(b[6].0 / off2 <= 1.3)
    );
    let floor = median(&(0..reps).map(|_| recorder_floor(n)).collect::<Vec<_>>());
    println!(
        "Metrics on add {:.1} ns/job of wall time; the recorder's own calls for one job (2 clock reads, 2 histogram \
         samples, a counter, the depth gauge) take {floor:.1} ns of CPU on one thread without a pool",
        b[6].0 - off2
    );
    println!(
        "Limits that never bind cost < 25% of throughput: 16 keys keep {:.0}% {}; a rate limit keeps {:.0}% {}",
        off2 / b[4].0 * 100.0,
        mark(off2 / b[4].0 >= 0.75),
        off2 / b[5].0 * 100.0,
        mark(off2 / b[5].0 >= 0.75),
    );
}

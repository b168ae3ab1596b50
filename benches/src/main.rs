//! `cargo run --release -p conveyor-benches --bin queue [-- --reps N --items N]`
//!
//! Measures `conveyor_queue::Queue` against three baselines in one run — `async-channel`
//! (bounded FIFO MPMC, no priority), `tokio::sync::mpsc` (bounded, single consumer) and a
//! naive `Mutex<BinaryHeap>` + two `Notify`s priority queue ([`naive`]) — and prints one
//! markdown table of median nanoseconds per item, ready to paste into the README.
//!
//! Scenarios (items are `u64`; priorities are pre-generated outside the timed region):
//!
//! 1. `spsc`: 1 producer / 1 consumer, priorities 0..10, capacity 1024;
//! 2. `mpmc`: 4 producers / 4 consumers (tokio mpsc: 4 / 1), same items and capacity;
//! 3. `depth`: `try_push` all items into an unbounded queue, then pop them all, on one thread;
//!    push and pop are reported separately;
//! 4. `depth` with a distinct random `i32` priority for every item: ours vs the heap only.
//!
//! The concurrent scenarios run on a 2-worker multi-thread tokio runtime. Every run checks that
//! the consumers received each item exactly once, and the warm-up runs of the depth scenarios
//! also check that items came out in priority order. Progress and per-repetition samples go to
//! stderr, the table to stdout. `BENCH_REPS` / `BENCH_ITEMS` set the defaults of `--reps` /
//! `--items`.

mod harness;
mod naive;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conveyor_queue::Queue;
use rand::RngExt;
use tokio::runtime::Runtime;

use crate::harness::{Tally, median, ns_per_item, run_concurrent, verify};
use crate::naive::NaiveQueue;

/// Capacity of every bounded queue and channel.
const CAPACITY: usize = 1024;
/// Priorities of the ordinary scenarios are drawn from `0..PRIORITIES`.
const PRIORITIES: i32 = 10;
/// Upper bound of the targets, in ns/item.
const TARGET_CONCURRENT_NS: f64 = 80.0;
const TARGET_DEPTH_POP_NS: f64 = 20.0;

/// The implementations under test, in table column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Ours,
    AsyncChannel,
    Mpsc,
    Naive,
}

impl Impl {
    const ALL: [Impl; 4] = [Impl::Ours, Impl::AsyncChannel, Impl::Mpsc, Impl::Naive];

    fn name(self) -> &'static str {
        match self {
            Impl::Ours => "conveyor-queue",
            Impl::AsyncChannel => "async-channel",
            Impl::Mpsc => "tokio mpsc",
            Impl::Naive => "naive heap+Notify",
        }
    }

    fn column(self) -> usize {
        self as usize
    }
}

struct Config {
    reps: usize,
    items: usize,
}

const USAGE: &str = "usage: queue [--reps N] [--items N]   (defaults: 5 reps, 1000000 items; \
                     env BENCH_REPS / BENCH_ITEMS)";

fn parse_count(what: &str, value: &str) -> usize {
    value.replace('_', "").parse().unwrap_or_else(|_| {
        eprintln!("{what}: expected a whole number, got {value:?}\n{USAGE}");
        std::process::exit(2)
    })
}

impl Config {
    fn from_env_and_args() -> Config {
        let env = |name: &str, default: usize| std::env::var(name).map_or(default, |v| parse_count(name, &v));
        let mut cfg = Config { reps: env("BENCH_REPS", 5), items: env("BENCH_ITEMS", 1_000_000) };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = || {
                inline.clone().or_else(|| args.next()).unwrap_or_else(|| {
                    eprintln!("{flag} needs a value\n{USAGE}");
                    std::process::exit(2)
                })
            };
            match flag.as_str() {
                "--reps" => cfg.reps = parse_count("--reps", &value()),
                "--items" => cfg.items = parse_count("--items", &value()),
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0)
                }
                _ => {
                    eprintln!("unknown argument {arg:?}\n{USAGE}");
                    std::process::exit(2)
                }
            }
        }
        if cfg.reps == 0 || cfg.items < 8 {
            eprintln!("need --reps >= 1 and --items >= 8\n{USAGE}");
            std::process::exit(2)
        }
        cfg
    }
}

/// `1000000` -> `1M`, `100000` -> `100k`.
fn human(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrent scenarios (1 and 2)

/// Runs `items` items through `which` with `producers` / `consumers` tasks (tokio mpsc always
/// gets one consumer) and returns the wall time.
fn concurrent_once(
    rt: &Runtime,
    which: Impl,
    producers: usize,
    consumers: usize,
    prios: &Arc<[i32]>,
    items: usize,
) -> Duration {
    let what = format!("{} {producers}P/{consumers}C", which.name());
    rt.block_on(async {
        match which {
            Impl::Ours => {
                let q: Queue<u64> = Queue::bounded(CAPACITY);
                let (qp, qc) = (q.clone(), q.clone());
                let prios = prios.clone();
                let producer = move |range: std::ops::Range<usize>| {
                    let (q, prios) = (qp.clone(), prios.clone());
                    async move {
                        for i in range {
                            q.push(i as u64, prios[i]).await.expect("queue closed early");
                        }
                    }
                };
                let consumer = move || {
                    let q = qc.clone();
                    async move {
                        let mut tally = Tally::default();
                        while let Some(item) = q.pop().await {
                            tally.add(item);
                        }
                        tally
                    }
                };
                run_concurrent(&what, items, producers, consumers, producer, consumer, || {
                    q.close();
                })
                .await
            }
            Impl::Naive => {
                let q = Arc::new(NaiveQueue::<u64>::bounded(CAPACITY));
                let (qp, qc) = (q.clone(), q.clone());
                let prios = prios.clone();
                let producer = move |range: std::ops::Range<usize>| {
                    let (q, prios) = (qp.clone(), prios.clone());
                    async move {
                        for i in range {
                            q.push(i as u64, prios[i]).await.expect("queue closed early");
                        }
                    }
                };
                let consumer = move || {
                    let q = qc.clone();
                    async move {
                        let mut tally = Tally::default();
                        while let Some(item) = q.pop().await {
                            tally.add(item);
                        }
                        tally
                    }
                };
                run_concurrent(&what, items, producers, consumers, producer, consumer, || {
                    q.close();
                })
                .await
            }
            Impl::AsyncChannel => {
                // No priority: the priorities are not even read. The channel closes when the
                // last producer drops its sender.
                let (tx, rx) = async_channel::bounded::<u64>(CAPACITY);
                let producer = move |range: std::ops::Range<usize>| {
                    let tx = tx.clone();
                    async move {
                        for i in range {
                            tx.send(i as u64).await.expect("channel closed early");
                        }
                    }
                };
                let consumer = move || {
                    let rx = rx.clone();
                    async move {
                        let mut tally = Tally::default();
                        while let Ok(item) = rx.recv().await {
                            tally.add(item);
                        }
                        tally
                    }
                };
                run_concurrent(&what, items, producers, consumers, producer, consumer, || {}).await
            }
            Impl::Mpsc => {
                let (tx, rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
                let mut rx = Some(rx);
                let producer = move |range: std::ops::Range<usize>| {
                    let tx = tx.clone();
                    async move {
                        for i in range {
                            tx.send(i as u64).await.expect("channel closed early");
                        }
                    }
                };
                let consumer = move || {
                    let mut rx = rx.take().expect("tokio mpsc has a single consumer");
                    async move {
                        let mut tally = Tally::default();
                        while let Some(item) = rx.recv().await {
                            tally.add(item);
                        }
                        tally
                    }
                };
                run_concurrent(&what, items, producers, 1, producer, consumer, || {}).await
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Depth scenarios (3 and 4)

/// Receives popped items: either just tallies them, or also records them to check the order.
struct Sink<'a> {
    tally: Tally,
    /// `Some` to check that priorities come out non-decreasing (FIFO baselines: not checked).
    order: Option<(&'a [i32], Vec<u64>)>,
}

impl Sink<'_> {
    fn take(&mut self, item: u64) {
        self.tally.add(item);
        if let Some((_, seen)) = &mut self.order {
            seen.push(item);
        }
    }

    fn finish(self, what: &str, n: usize) {
        verify(what, n, self.tally);
        if let Some((prios, seen)) = self.order {
            let sorted = seen.windows(2).all(|w| {
                let (a, b) = (w[0] as usize, w[1] as usize);
                prios[a] < prios[b] || (prios[a] == prios[b] && a < b)
            });
            assert!(sorted, "{what}: items did not come out in (priority, push) order");
        }
    }
}

/// Pushes `prios.len()` items with `try_push`/`try_send` into an unbounded queue, then pops
/// them all; returns `[push time, pop time]`. With `check_order`, priority queues must also
/// return the items in (priority, push) order (checked outside the timed loops' cost: the
/// warm-up run does it).
fn depth_once(which: Impl, prios: &[i32], check_order: bool) -> Vec<Duration> {
    let n = prios.len();
    let what = format!("{} depth {}", which.name(), human(n));
    let ordered = matches!(which, Impl::Ours | Impl::Naive);
    let mut sink = Sink {
        tally: Tally::default(),
        order: (check_order && ordered).then(|| (prios, Vec::with_capacity(n))),
    };
    let (push, pop);
    match which {
        Impl::Ours => {
            let q: Queue<u64> = Queue::unbounded();
            let t = Instant::now();
            for (i, &p) in prios.iter().enumerate() {
                q.try_push(i as u64, p).expect("unbounded queue refused an item");
            }
            push = t.elapsed();
            let t = Instant::now();
            while let Ok(item) = q.try_pop() {
                sink.take(item);
            }
            pop = t.elapsed();
        }
        Impl::Naive => {
            let q = NaiveQueue::<u64>::bounded(usize::MAX);
            let t = Instant::now();
            for (i, &p) in prios.iter().enumerate() {
                q.try_push(i as u64, p).expect("unbounded queue refused an item");
            }
            push = t.elapsed();
            let t = Instant::now();
            while let Ok(item) = q.try_pop() {
                sink.take(item);
            }
            pop = t.elapsed();
        }
        Impl::AsyncChannel => {
            let (tx, rx) = async_channel::unbounded::<u64>();
            let t = Instant::now();
            for i in 0..n {
                tx.try_send(i as u64).expect("unbounded channel refused an item");
            }
            push = t.elapsed();
            let t = Instant::now();
            while let Ok(item) = rx.try_recv() {
                sink.take(item);
            }
            pop = t.elapsed();
        }
        Impl::Mpsc => {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
            let t = Instant::now();
            for i in 0..n {
                tx.send(i as u64).expect("unbounded channel refused an item");
            }
            push = t.elapsed();
            let t = Instant::now();
            while let Ok(item) = rx.try_recv() {
                sink.take(item);
            }
            pop = t.elapsed();
        }
    }
    sink.finish(&what, n);
    vec![push, pop]
}

// ---------------------------------------------------------------------------------------------
// Measurement

/// Runs one warm-up (a tenth of the items, with checks) and then `reps` repetitions of
/// `run` for each implementation, interleaved (the start rotates every repetition so that no
/// implementation always runs first after a pause). Returns the median ns/item of every phase
/// `run` reports, by table column (`None` for implementations not run), then by phase.
fn measure(
    scenario: &str,
    impls: &[Impl],
    cfg: &Config,
    mut run: impl FnMut(Impl, usize, bool) -> Vec<Duration>,
) -> Medians {
    let warm = (cfg.items / 10).max(8);
    for &which in impls {
        run(which, warm, true);
    }
    let mut samples: Vec<Vec<Vec<f64>>> = vec![Vec::new(); impls.len()];
    for rep in 0..cfg.reps {
        for k in 0..impls.len() {
            let at = (k + rep) % impls.len();
            let phases = run(impls[at], cfg.items, false);
            let per_phase = &mut samples[at];
            per_phase.resize(phases.len(), Vec::new());
            for (slot, d) in per_phase.iter_mut().zip(phases) {
                slot.push(ns_per_item(d, cfg.items));
            }
        }
    }
    let mut out = Medians::default();
    for (phases, &which) in samples.iter().zip(impls) {
        let medians: Vec<f64> = phases.iter().map(|s| median(s)).collect();
        for (phase, s) in phases.iter().enumerate() {
            let shown: Vec<String> = s.iter().map(|x| format!("{x:.1}")).collect();
            eprintln!(
                "  {scenario} [{phase}] {:<18} median {:>7.1} ns/item  samples [{}]",
                which.name(),
                medians[phase],
                shown.join(", ")
            );
        }
        out[which.column()] = Some(medians);
    }
    out
}

/// Median ns/item by table column, then by phase (`None`: not run).
type Medians = [Option<Vec<f64>>; 4];

/// One table row: ns/item per column (`None` = the baseline cannot do it).
struct Row {
    name: String,
    /// A few words for the targets line.
    short: &'static str,
    cells: [Option<f64>; 4],
    /// Text after the tokio mpsc number, e.g. when it ran with fewer consumers.
    mpsc_note: &'static str,
}

impl Row {
    fn new(name: String, short: &'static str, medians: &Medians, phase: usize) -> Row {
        let cells = std::array::from_fn(|c| medians[c].as_ref().map(|m| m[phase]));
        Row { name, short, cells, mpsc_note: "" }
    }

    fn ours(&self) -> f64 {
        self.cells[Impl::Ours.column()].unwrap_or(f64::NAN)
    }

    /// baseline / ours: above 1 means ours is faster.
    fn ratio(&self, baseline: Impl) -> Option<f64> {
        self.cells[baseline.column()].map(|b| b / self.ours())
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "| scenario | conveyor-queue ns/item | async-channel | tokio mpsc | naive heap+Notify \
         | ratios baseline/ours (>1.00x = ours faster) |"
    );
    println!("|---|--:|--:|--:|--:|---|");
    for row in rows {
        let cell = |which: Impl| match row.cells[which.column()] {
            Some(ns) if which == Impl::Mpsc => format!("{ns:.1}{}", row.mpsc_note),
            Some(ns) => format!("{ns:.1}"),
            None => "n/a".to_owned(),
        };
        let ratios: Vec<String> =
            [(Impl::AsyncChannel, "async-channel"), (Impl::Mpsc, "mpsc"), (Impl::Naive, "naive")]
                .into_iter()
                .filter_map(|(which, short)| {
                    let note = if which == Impl::Mpsc { row.mpsc_note } else { "" };
                    row.ratio(which).map(|r| format!("{short} {r:.2}x{note}"))
                })
                .collect();
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.name,
            cell(Impl::Ours),
            cell(Impl::AsyncChannel),
            cell(Impl::Mpsc),
            cell(Impl::Naive),
            ratios.join(" · ")
        );
    }
}

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

fn print_targets(rows: &[Row], spsc: usize, mpmc: usize, depth_pop: usize, items: usize) {
    let (s, m, d) = (rows[spsc].ours(), rows[mpmc].ours(), rows[depth_pop].ours());
    let slower: Vec<String> = rows
        .iter()
        .filter_map(|r| r.ratio(Impl::AsyncChannel).filter(|&x| x < 1.0).map(|x| (r, x)))
        .map(|(r, x)| format!("{} {x:.2}x", r.short))
        .collect();
    let scale = if items == 1_000_000 {
        String::new()
    } else {
        format!(" (targets are stated for 1M items; this run used {})", human(items))
    };
    println!();
    println!(
        "Issue targets{scale}: ≤ {TARGET_CONCURRENT_NS:.0} ns/item with priority at 1P/1C {} \
         ({s:.1}) and 4P/4C {} ({m:.1}); never slower than async-channel {}{}; pop at depth \
         {} < {TARGET_DEPTH_POP_NS:.0} ns/item with ≤ 16 distinct priorities {} ({d:.1}).",
        mark(s <= TARGET_CONCURRENT_NS),
        mark(m <= TARGET_CONCURRENT_NS),
        mark(slower.is_empty()),
        if slower.is_empty() { String::new() } else { format!(" (slower: {})", slower.join("; ")) },
        human(items),
        mark(d < TARGET_DEPTH_POP_NS),
    );
}

fn main() {
    let cfg = Config::from_env_and_args();
    let n = cfg.items;
    let started = Instant::now();
    let info = harness::machine_info();

    let mut rng = rand::rng();
    let prios: Arc<[i32]> = (0..n).map(|_| rng.random_range(0..PRIORITIES)).collect();
    // Distinct random i32 priorities, so that neither queue can share work between equal ones.
    let mut seen = HashSet::with_capacity(n);
    let distinct: Vec<i32> =
        std::iter::repeat_with(|| rng.random::<i32>()).filter(|p| seen.insert(*p)).take(n).collect();
    drop(seen);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");

    let all = &Impl::ALL;
    let heaps = &[Impl::Ours, Impl::Naive];
    let k = human(n);

    eprintln!("spsc 1P/1C ...");
    let spsc =
        measure("spsc", all, &cfg, |which, items, _| vec![concurrent_once(&rt, which, 1, 1, &prios, items)]);
    eprintln!("mpmc 4P/4C ...");
    let mpmc =
        measure("mpmc", all, &cfg, |which, items, _| vec![concurrent_once(&rt, which, 4, 4, &prios, items)]);
    eprintln!("depth, priorities 0..10 ...");
    let depth = measure("depth", all, &cfg, |which, items, check| depth_once(which, &prios[..items], check));
    eprintln!("depth, distinct priorities ...");
    let wide = measure("depth-distinct", heaps, &cfg, |which, items, check| {
        depth_once(which, &distinct[..items], check)
    });

    let mut mpmc_row = Row::new(format!("mpmc 4P/4C, {k} items, prio 0..{PRIORITIES}"), "mpmc", &mpmc, 0);
    mpmc_row.mpsc_note = " (4P/1C)†";
    let rows = [
        Row::new(format!("spsc 1P/1C, {k} items, prio 0..{PRIORITIES}"), "spsc", &spsc, 0),
        mpmc_row,
        Row::new(format!("depth {k}: try_push, prio 0..{PRIORITIES}"), "depth push", &depth, 0),
        Row::new(format!("depth {k}: try_pop, prio 0..{PRIORITIES}"), "depth pop", &depth, 1),
        Row::new(format!("depth {k}: try_push, {k} distinct i32 prios"), "", &wide, 0),
        Row::new(format!("depth {k}: try_pop, {k} distinct i32 prios"), "", &wide, 1),
    ];

    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());

    println!(
        "Machine: {info}. Runtime: tokio multi_thread, 2 workers; capacity {CAPACITY}; \
         median of {} reps; ns/item, lower is better.",
        cfg.reps
    );
    println!();
    print_table(&rows);
    println!();
    println!(
        "† tokio mpsc is single-consumer, so its mpmc run is 4 producers / 1 consumer. \
         async-channel and tokio mpsc are FIFO (no priority); depth rows push with \
         try_push/try_send into unbounded queues and pop with try_pop/try_recv on one thread."
    );
    print_targets(&rows, 0, 1, 3, n);
}

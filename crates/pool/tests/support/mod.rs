//! Shared helpers for the pool's integration tests: gates and logs to sequence jobs, a drop
//! flag, a hang guard for the paused clock, and a metrics recorder that can be read mid-run.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// The result type of most test jobs.
pub type Io<T> = Result<T, std::io::Error>;

/// Lets every task that is ready run (workers, retry timers, the cancel signal) without
/// moving a paused clock: `yield_now` never lets the runtime auto-advance time.
pub async fn settle() {
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
}

/// Awaits `fut`, failing the test instead of hanging. On a paused clock the runtime jumps
/// straight to this deadline once nothing else can run, so a hang fails at once.
#[track_caller]
pub fn within<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let caller = std::panic::Location::caller();
    async move {
        match tokio::time::timeout(Duration::from_secs(24 * 3600), fut).await {
            Ok(out) => out,
            Err(_) => panic!("hung: the awaited future never completed (awaited at {caller})"),
        }
    }
}

/// A gate that jobs wait at until the test opens it.
#[derive(Clone, Debug)]
pub struct Gate {
    tx: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate { tx: Arc::new(tokio::sync::watch::channel(false).0) }
    }
}

impl Gate {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(&self) {
        self.tx.send_replace(true);
    }

    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|open| *open).await;
    }
}

/// A signal a job sends when it starts, and the test awaits.
#[derive(Clone, Debug)]
pub struct Signal {
    tx: tokio::sync::mpsc::UnboundedSender<()>,
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<()>>>,
}

impl Default for Signal {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Signal { tx, rx: Arc::new(tokio::sync::Mutex::new(rx)) }
    }
}

impl Signal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn send(&self) {
        let _ = self.tx.send(());
    }

    /// Waits for one `send`.
    pub async fn recv(&self) {
        within(async { self.rx.lock().await.recv().await }).await;
    }
}

/// A log that jobs append to.
#[derive(Debug)]
pub struct Log<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Log<T> {
    fn clone(&self) -> Self {
        Log(self.0.clone())
    }
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T: Clone> Log<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, item: T) {
        self.0.lock().unwrap().push(item);
    }

    pub fn get(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Sets its flag when dropped: proves that a job's future was dropped.
#[derive(Debug)]
pub struct DropFlag(pub Arc<AtomicBool>);

impl DropFlag {
    /// A guard and the flag it sets.
    pub fn new() -> (DropFlag, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (DropFlag(flag.clone()), flag)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A metric's name and sorted labels.
type MetricKey = (String, Vec<(String, String)>);

/// The running totals of a `DebuggingRecorder`, readable at any time.
///
/// metrics-util's snapshots *take* the values (counters and gauges swap to 0, histograms are
/// drained), so this keeps the totals: every read adds the new snapshot to them.
pub struct Totals {
    snapshotter: Snapshotter,
    counters: HashMap<MetricKey, u64>,
    gauges: HashMap<MetricKey, f64>,
    histograms: HashMap<MetricKey, Vec<f64>>,
}

/// A current-thread runtime on the paused clock, as `#[tokio::test(start_paused = true)]`.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap()
}

fn key(name: &str, labels: &[(&str, &str)]) -> MetricKey {
    let mut labels: Vec<_> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    labels.sort();
    (name.to_owned(), labels)
}

impl Totals {
    pub fn of(recorder: &DebuggingRecorder) -> Self {
        Totals {
            snapshotter: recorder.snapshotter(),
            counters: HashMap::new(),
            gauges: HashMap::new(),
            histograms: HashMap::new(),
        }
    }

    /// Folds what was recorded since the last read into the totals.
    pub fn read(&mut self) -> &mut Self {
        for (ck, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let k = ck.key();
            let mut labels: Vec<_> = k.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            labels.sort();
            let mk = (k.name().to_owned(), labels);
            match value {
                DebugValue::Counter(n) => *self.counters.entry(mk).or_default() += n,
                DebugValue::Gauge(g) => *self.gauges.entry(mk).or_default() += g.into_inner(),
                DebugValue::Histogram(xs) => {
                    self.histograms.entry(mk).or_default().extend(xs.into_iter().map(|x| x.into_inner()))
                }
            }
        }
        self
    }

    /// Whether anything at all was ever recorded.
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.gauges.is_empty() && self.histograms.is_empty()
    }

    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters.get(&key(name, labels)).copied().unwrap_or(0)
    }

    /// Whether a counter with these labels was registered (even if never incremented).
    pub fn has_counter(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.counters.contains_key(&key(name, labels))
    }

    /// Whether a histogram with these labels was registered (even if never recorded).
    pub fn has_histogram(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.histograms.contains_key(&key(name, labels))
    }

    /// The sum of a counter over every label set.
    pub fn counter_sum(&self, name: &str) -> u64 {
        self.counters.iter().filter(|((n, _), _)| n == name).map(|(_, v)| v).sum()
    }

    /// A gauge's value; `None` if it was never registered.
    pub fn gauge(&self, name: &str) -> Option<f64> {
        self.gauges.get(&key(name, &[])).copied()
    }

    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.histograms.get(&key(name, labels)).cloned().unwrap_or_default()
    }
}

/// A small deterministic random number generator (SplitMix64) for stress plans.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A job that sends `started` when it runs, then waits at `gate` (the usual way to hold a
/// worker busy at a known point).
pub fn signal_then_wait(started: &Signal, gate: &Gate) -> conveyor_pool::Job<impl conveyor_pool::Run<()>> {
    let (s, g) = (started.clone(), gate.clone());
    conveyor_pool::Job::new(move |_| {
        let (s, g) = (s.clone(), g.clone());
        async move {
            s.send();
            g.wait().await;
            Io::Ok(())
        }
    })
}

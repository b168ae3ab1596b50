//! A small measurement harness: runs producer/consumer workloads on a tokio runtime, checks
//! that nothing was lost, and summarises repetitions by their median.

use std::future::Future;
use std::ops::{AddAssign, Range};
use std::process::Command;
use std::time::{Duration, Instant};

/// What the consumers of one run received: how many items, and the sum of their values.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) count: u64,
    pub(crate) sum: u64,
}

impl Tally {
    /// Counts one received item.
    pub(crate) fn add(&mut self, item: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(item);
    }
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

/// Panics unless `tally` is exactly the items `0..n`, each received once (by count and sum):
/// a benchmark that loses or duplicates items measures nothing.
pub(crate) fn verify(what: &str, n: usize, tally: Tally) {
    let n = n as u64;
    let expected_sum = if n == 0 { 0 } else { (n - 1).wrapping_mul(n) / 2 };
    assert!(
        tally.count == n && tally.sum == expected_sum,
        "{what}: sent {n} items (sum {expected_sum}) but received {} (sum {})",
        tally.count,
        tally.sum,
    );
}

/// The `part`-th of `parts` contiguous, near-equal slices of `0..n`.
pub(crate) fn split(n: usize, parts: usize, part: usize) -> Range<usize> {
    let start = n * part / parts;
    let end = n * (part + 1) / parts;
    start..end
}

/// Runs `producers` producer tasks over the items `0..n` (each gets a contiguous slice) and
/// `consumers` consumer tasks on the current runtime, calls `close` once every producer is
/// done, waits for the consumers to drain, verifies every item arrived exactly once, and
/// returns the wall time from the first spawn to the last consumer finishing.
///
/// The factories are dropped right after spawning, so channel senders they hold go away and
/// only the producer tasks keep the channel open.
pub(crate) async fn run_concurrent<P, PFut, C, CFut>(
    what: &str,
    n: usize,
    producers: usize,
    consumers: usize,
    mut make_producer: P,
    mut make_consumer: C,
    close: impl FnOnce(),
) -> Duration
where
    P: FnMut(Range<usize>) -> PFut,
    PFut: Future<Output = ()> + Send + 'static,
    C: FnMut() -> CFut,
    CFut: Future<Output = Tally> + Send + 'static,
{
    let start = Instant::now();
    let consumer_tasks: Vec<_> = (0..consumers).map(|_| tokio::spawn(make_consumer())).collect();
    let producer_tasks: Vec<_> =
        (0..producers).map(|p| tokio::spawn(make_producer(split(n, producers, p)))).collect();
    drop(make_producer);
    drop(make_consumer);
    for task in producer_tasks {
        task.await.expect("producer task panicked");
    }
    close();
    let mut total = Tally::default();
    for task in consumer_tasks {
        total += task.await.expect("consumer task panicked");
    }
    let elapsed = start.elapsed();
    verify(what, n, total);
    elapsed
}

/// The median of `samples` (the mean of the middle two for an even count).
pub(crate) fn median(samples: &[f64]) -> f64 {
    assert!(!samples.is_empty(), "median of no samples");
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 }
}

/// Nanoseconds per item.
pub(crate) fn ns_per_item(elapsed: Duration, items: usize) -> f64 {
    elapsed.as_nanos() as f64 / items.max(1) as f64
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One line describing the machine, toolchain and commit, for pasting above the table.
pub(crate) fn machine_info() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|rest| rest.split_once(':')))
        .map_or("unknown CPU", |(_, model)| model.trim())
        .to_owned();
    let rustc = command_line("rustc", &["-V"]).unwrap_or_else(|| "rustc unknown".to_owned());
    let commit = command_line("git", &["rev-parse", "--short", "HEAD"]).map_or_else(
        || "unknown".to_owned(),
        |hash| {
            let dirty = command_line("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{hash}-dirty") } else { hash }
        },
    );
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    format!("{nproc} CPUs (nproc), {cpu}, {rustc}, commit {commit}, load avg {load} at start")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn split_covers_everything_once() {
        let parts: Vec<_> = (0..4).map(|p| split(10, 4, p)).collect();
        assert_eq!(parts, [0..2, 2..5, 5..7, 7..10]);
    }

    #[test]
    #[should_panic(expected = "received 2")]
    fn verify_catches_lost_items() {
        let mut t = Tally::default();
        t.add(0);
        t.add(1);
        verify("test", 3, t);
    }
}

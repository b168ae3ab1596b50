//! [`Throughput`]: finishes per second by outcome, and wait times, over the last
//! [`WINDOW`] seconds — what the console's live charts draw.
//!
//! A fixed ring of one slot per second (bounded memory: [`WINDOW`] slots whatever the
//! load); a slot is reused once its second is [`WINDOW`] seconds old. Seconds are Unix
//! seconds of the jobs' `finished_at`, passed in (no clock here: tests pass their own).

use conveyor_pool::Outcome;
use serde::Serialize;

/// How many seconds the charts cover.
pub(crate) const WINDOW: usize = 120;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// The Unix second this slot holds (stale when older than the window).
    second: u64,
    /// Finishes by outcome, in [`Outcome::ALL`] order.
    outcomes: [u32; 5],
    /// Jobs that started: how many, their summed and largest wait.
    waited: u32,
    wait_sum: f64,
    wait_max: f64,
}

/// One second of the series (`GET /stats`'s `seconds`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Second {
    /// The Unix second.
    pub(crate) t: u64,
    /// Finishes that second: `succeeded`, `failed`, `panicked`, `timed_out`, `cancelled`.
    pub(crate) succeeded: u32,
    pub(crate) failed: u32,
    pub(crate) panicked: u32,
    pub(crate) timed_out: u32,
    pub(crate) cancelled: u32,
    /// Mean and largest wait (submit or ready → start) of the jobs that finished that
    /// second having started; `null` when none did.
    pub(crate) wait_mean: Option<f64>,
    pub(crate) wait_max: Option<f64>,
}

/// The ring of per-second counts. See the [module docs](self).
pub(crate) struct Throughput {
    slots: Box<[Slot; WINDOW]>,
}

impl Default for Throughput {
    fn default() -> Self {
        Throughput { slots: Box::new([Slot::default(); WINDOW]) }
    }
}

fn index(outcome: Outcome) -> usize {
    Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(1)
}

impl Throughput {
    /// Counts a finish at Unix second `second`, with its wait when the job started.
    pub(crate) fn record(&mut self, second: u64, outcome: Outcome, wait: Option<std::time::Duration>) {
        let slot = &mut self.slots[(second % WINDOW as u64) as usize];
        if slot.second != second {
            if slot.second > second {
                // Older than what the slot holds now: outside the window.
                return;
            }
            *slot = Slot { second, ..Slot::default() };
        }
        slot.outcomes[index(outcome)] += 1;
        if let Some(wait) = wait {
            let wait = wait.as_secs_f64();
            slot.waited += 1;
            slot.wait_sum += wait;
            slot.wait_max = slot.wait_max.max(wait);
        }
    }

    /// The [`WINDOW`] seconds ending at `now`, oldest first, zeros where nothing finished.
    pub(crate) fn series(&self, now: u64) -> Vec<Second> {
        let first = now.saturating_sub(WINDOW as u64 - 1);
        (first..=now)
            .map(|t| {
                let slot = self.slots[(t % WINDOW as u64) as usize];
                let slot = if slot.second == t { slot } else { Slot::default() };
                let [succeeded, failed, panicked, timed_out, cancelled] = slot.outcomes;
                let waited = slot.waited > 0;
                Second {
                    t,
                    succeeded,
                    failed,
                    panicked,
                    timed_out,
                    cancelled,
                    wait_mean: waited.then(|| slot.wait_sum / f64::from(slot.waited)),
                    wait_max: waited.then_some(slot.wait_max),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn seconds_count_by_outcome_and_old_seconds_fall_out() {
        let mut t = Throughput::default();
        t.record(1000, Outcome::Succeeded, Some(Duration::from_millis(100)));
        t.record(1000, Outcome::Succeeded, Some(Duration::from_millis(300)));
        t.record(1000, Outcome::Cancelled, None);
        t.record(1001, Outcome::TimedOut, Some(Duration::from_secs(2)));
        let series = t.series(1001);
        assert_eq!(series.len(), WINDOW);
        assert_eq!(series[WINDOW - 1].t, 1001);
        let s = &series[WINDOW - 2];
        assert_eq!((s.t, s.succeeded, s.cancelled, s.failed), (1000, 2, 1, 0));
        assert!((s.wait_mean.unwrap() - 0.2).abs() < 1e-9);
        assert_eq!(s.wait_max, Some(0.3));
        assert_eq!(series[WINDOW - 1].timed_out, 1);
        assert_eq!(series[0].wait_mean, None);

        // A window later, the slot of 1000 holds 1000 + WINDOW: 1000 is gone.
        let later = 1000 + WINDOW as u64;
        t.record(later, Outcome::Failed, None);
        let series = t.series(later);
        assert_eq!(series[WINDOW - 1].failed, 1);
        assert_eq!(series[WINDOW - 1].succeeded, 0);
        assert!(series.iter().all(|s| s.t != 1000));
        // A late finish for a second outside the window is dropped, not mixed in.
        t.record(1000, Outcome::Succeeded, None);
        assert_eq!(t.series(later)[WINDOW - 1].succeeded, 0);
    }
}

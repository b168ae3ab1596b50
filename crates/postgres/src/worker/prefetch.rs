//! The adaptive prefetch of one lane (queue): how many claimed jobs it keeps ready beyond its
//! running ones, sized again after every claim from what that claim saw.
//!
//! Why adapt: a claim's cost is mostly per statement (its index scan passes the entries of
//! every job claimed since the last vacuum), so quick jobs want few, large claims, which
//! need a large buffer (a claim takes at least half the free room, slots + prefetch). But a
//! large buffer on a small queue lets one worker take every job while the others idle, and
//! holds jobs that wait for slots when jobs are slow. So the buffer starts at the slots
//! (the fixed default it replaces) and:
//!
//! - **grows** (doubles, up to the cap) while the jobs held when a claim was sent (running
//!   and buffered) last less than [`GROW_BELOW`] claim round trips: more than half of them
//!   ended before the claim came back, so the slots would soon wait for the database; and
//!   quadruples when every one of them ended (the slots did wait: how long is unknown);
//! - **shrinks** (halves, down to the start) when they last more than [`SHRINK_ABOVE`]
//!   round trips (jobs sit in the buffer), and after a claim that came back short (the
//!   queue ran dry for this worker: the next burst starts small again and spreads over the
//!   workers).
//!
//! Between the two it stays put, so a steady load does not make it swing. The rule is a
//! pure function of one claim's observation ([`next`]); the time it takes is measured in the
//! jobs that ended during it, so no clock is read and the rule needs no tuning per machine.

/// Grow while the held jobs last fewer claim round trips than this.
pub(crate) const GROW_BELOW: usize = 2;
/// Shrink when the held jobs last more claim round trips than this.
pub(crate) const SHRINK_ABOVE: usize = 8;

/// What one claim saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Observed {
    /// Jobs asked for.
    pub(crate) wanted: usize,
    /// Jobs the claim returned.
    pub(crate) got: usize,
    /// Jobs held (claimed, not ended: running or buffered) when the claim was sent.
    pub(crate) held_before: usize,
    /// Of those, the ones still held when the claim returned (the fetcher is the only one
    /// adding jobs, so at most `held_before`).
    pub(crate) held_after: usize,
}

/// The prefetch after a claim that saw `seen`, from `now`, kept within `floor..=cap`.
pub(crate) fn next(now: usize, floor: usize, cap: usize, seen: Observed) -> usize {
    let grow = |by: usize| now.saturating_mul(by).max(1).min(cap).max(floor);
    let shrunk = (now / 2).clamp(floor, cap.max(floor));
    if seen.got < seen.wanted {
        return shrunk;
    }
    if seen.held_before == 0 {
        // Nothing was held: no drain to judge by (the first claim, or after a pause).
        return now;
    }
    let ended = seen.held_before.saturating_sub(seen.held_after);
    // The held jobs last held_before / ended round trips of a claim.
    if ended == seen.held_before {
        grow(4)
    } else if ended.saturating_mul(GROW_BELOW) > seen.held_before {
        grow(2)
    } else if ended.saturating_mul(SHRINK_ABOVE) < seen.held_before {
        shrunk
    } else {
        now
    }
}

/// One lane's prefetch: starts at `floor`, adapts within `floor..=cap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefetch {
    now: usize,
    floor: usize,
    cap: usize,
}

impl Prefetch {
    /// Starts at as many as the slots (at most `cap`); `cap` 0 never prefetches.
    pub(crate) fn new(slots: usize, cap: usize) -> Self {
        let floor = slots.min(cap);
        Prefetch { now: floor, floor, cap }
    }

    /// Jobs kept ready beyond the running ones now.
    pub(crate) fn get(&self) -> usize {
        self.now
    }

    /// Adapts to what a claim saw; returns the new prefetch.
    pub(crate) fn after(&mut self, seen: Observed) -> usize {
        self.now = next(self.now, self.floor, self.cap, seen);
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(wanted: usize, got: usize, held_before: usize, held_after: usize) -> Observed {
        Observed { wanted, got, held_before, held_after }
    }

    #[test]
    fn grows_while_the_held_jobs_end_before_the_claim_returns() {
        // Every held job ended during the claim (the buffer ran dry): quadruple.
        assert_eq!(next(256, 256, 2048, seen(256, 256, 256, 0)), 1024);
        // More than half ended: double.
        assert_eq!(next(512, 256, 2048, seen(500, 500, 300, 149)), 1024);
        assert_eq!(next(512, 256, 2048, seen(500, 500, 300, 1)), 1024);
        // Never past the cap.
        assert_eq!(next(1500, 256, 2048, seen(900, 900, 900, 0)), 2048);
        assert_eq!(next(2048, 256, 2048, seen(900, 900, 900, 0)), 2048);
        // A prefetch of 0 (a cap of 0) stays 0.
        assert_eq!(next(0, 0, 0, seen(4, 4, 4, 0)), 0);
        // From a floor of 0 with room to grow, it does.
        assert_eq!(next(0, 0, 64, seen(4, 4, 4, 0)), 1);
    }

    #[test]
    fn holds_when_the_held_jobs_last_between_two_and_eight_claims() {
        // Half ended: lasts exactly 2 round trips.
        assert_eq!(next(1024, 256, 2048, seen(1000, 1000, 1300, 650)), 1024);
        // An eighth ended: lasts exactly 8.
        assert_eq!(next(1024, 256, 2048, seen(1000, 1000, 800, 700)), 1024);
    }

    #[test]
    fn shrinks_when_jobs_sit_in_the_buffer() {
        // Fewer than an eighth ended: slow jobs, the buffer waits for slots.
        assert_eq!(next(2048, 256, 2048, seen(1000, 1000, 1300, 1290)), 1024);
        // Not below the start.
        assert_eq!(next(300, 256, 2048, seen(100, 100, 556, 556)), 256);
        assert_eq!(next(256, 256, 2048, seen(100, 100, 556, 556)), 256);
    }

    #[test]
    fn a_short_claim_shrinks_even_when_jobs_ended_quickly() {
        // The queue ran dry for this worker: the next burst starts smaller.
        assert_eq!(next(2048, 256, 2048, seen(1000, 10, 1300, 0)), 1024);
        assert_eq!(next(256, 256, 2048, seen(512, 0, 0, 0)), 256);
    }

    #[test]
    fn nothing_held_gives_nothing_to_judge() {
        assert_eq!(next(512, 256, 2048, seen(768, 768, 0, 0)), 512);
    }

    #[test]
    fn starts_at_the_slots_within_the_cap_and_adapts_claim_by_claim() {
        let mut p = Prefetch::new(256, 2048);
        assert_eq!(p.get(), 256);
        // Quick jobs on a deep queue, one still held at each return: 256 → 512 → 1024 →
        // 2048, then stays.
        for expected in [512, 1024, 2048, 2048] {
            let held = p.get();
            assert_eq!(p.after(seen(held, held, held, 1)), expected);
        }
        // The queue runs dry: back to the start in three short claims.
        for expected in [1024, 512, 256, 256] {
            assert_eq!(p.after(seen(1000, 0, 0, 0)), expected);
        }
        // None still held at each return (the slots waited): 256 → 1024 → 4096.
        let mut dry = Prefetch::new(256, 4096);
        for expected in [1024, 4096, 4096] {
            let held = dry.get();
            assert_eq!(dry.after(seen(held, held, held, 0)), expected);
        }
        // A cap below the slots is the start, and the prefetch never leaves it.
        let mut small = Prefetch::new(256, 16);
        assert_eq!(small.get(), 16);
        assert_eq!(small.after(seen(16, 16, 16, 0)), 16);
        assert_eq!(small.after(seen(16, 0, 0, 0)), 16);
    }
}

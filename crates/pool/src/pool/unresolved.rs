//! How many jobs are submitted and not yet resolved, counted without a shared hot spot.
//!
//! One counter, added to by submitters and subtracted from by workers, moved its cache line
//! between the cores on every job (a locked read-modify-write on a line the other core just
//! wrote). Here submitters count jobs in (`entered`, whose count is also the job's id) and
//! the resolvers count them out (`left`, a line of its own); `join` waiters
//! announce themselves in `joiners`, which nobody writes per job, so a resolver reads
//! `entered` (the submitters' line) only while someone waits.
//!
//! # Why no zero is missed
//!
//! All `SeqCst`. A joiner increments `joiners`, registers for the `idle` signal, then reads
//! the count; a resolver increments `left`, then reads `joiners`. If the resolver reads no
//! joiner, its increment comes first in the single total order, so the joiner's read sees
//! it. A resolver that sees a joiner compares `left` with `entered` read after its
//! increment: every job counted in `entered` by then was counted before it could resolve,
//! so equality means nothing was unresolved at that point, and the resolver whose increment
//! made `left` reach `entered` is the one that sees equality.
//!
//! The loom model at the end checks this handshake:
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p conveyor-pool --release --lib loom_`.

use std::sync::atomic::Ordering::*;

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, AtomicUsize};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, AtomicUsize};

/// Under loom only: a `SeqCst` fence between a `SeqCst` write and a `SeqCst` read of another
/// location. loom models `SeqCst` accesses as acquire/release (its README, "Limitations"),
/// under which this store-then-load handshake could fail, but models `SeqCst` fences fully;
/// the fence gives the model exactly the single total order that `SeqCst` accesses have in
/// the real program, where it would be a redundant `mfence` per job.
fn sc_fence() {
    #[cfg(loom)]
    loom::sync::atomic::fence(SeqCst);
}

/// Keeps its contents on a cache line of their own.
#[repr(align(64))]
#[derive(Default)]
pub(super) struct Padded<T>(pub(super) T);

/// What submitters write per job: the count of jobs in, which is also the next job's id.
#[derive(Default)]
pub(super) struct Intake {
    entered: AtomicU64,
}

#[derive(Default)]
pub(super) struct Unresolved {
    pub(super) intake: Padded<Intake>,
    left: Padded<AtomicU64>,
    joiners: AtomicUsize,
}

impl Unresolved {
    /// A job in (before it can resolve); returns its id, the count of jobs in before it. One
    /// read-modify-write gives both: a separate id counter cost a second locked instruction
    /// per job.
    pub(super) fn enter(&self) -> u64 {
        self.intake.0.entered.fetch_add(1, SeqCst)
    }

    /// A job out; `true` if a joiner waits and nothing is left unresolved now.
    pub(super) fn leave(&self) -> bool {
        let left = self.left.0.fetch_add(1, SeqCst) + 1;
        sc_fence();
        self.joiners.load(SeqCst) > 0 && left == self.intake.0.entered.load(SeqCst)
    }

    /// Jobs in and not out. `left` is read first: a job counted out was counted in before.
    pub(super) fn get(&self) -> usize {
        let left = self.left.0.load(SeqCst);
        let unresolved = self.intake.0.entered.load(SeqCst).saturating_sub(left);
        usize::try_from(unresolved).unwrap_or(usize::MAX)
    }

    /// Announces a joiner until the guard drops (see "Why no zero is missed").
    pub(super) fn join(&self) -> Joiner<'_> {
        self.joiners.fetch_add(1, SeqCst);
        sc_fence();
        Joiner(self)
    }
}

/// A joiner announced to the resolvers (see [`Unresolved::join`]).
pub(super) struct Joiner<'a>(&'a Unresolved);

impl Drop for Joiner<'_> {
    fn drop(&mut self) {
        self.0.joiners.fetch_sub(1, SeqCst);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Unresolved;

    #[test]
    fn counts_in_and_out_and_reports_zero_only_to_a_joiner() {
        let u = Unresolved::default();
        assert_eq!((u.enter(), u.enter()), (0, 1), "each job's id is the count before it");
        assert_eq!(u.get(), 2);
        assert!(!u.leave(), "no joiner: nothing to report");
        let joiner = u.join();
        assert!(u.leave(), "the last one out, with a joiner waiting");
        assert_eq!(u.get(), 0);
        drop(joiner);
        assert_eq!(u.enter(), 2);
        assert!(!u.leave(), "the joiner left");
    }
}

/// Every interleaving of a joiner with the last of two jobs resolving (and a third submitted
/// meanwhile): the joiner either sees nothing unresolved, or a resolver tells it so — never
/// neither while the count is zero.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::Arc;

    use loom::thread;

    use super::Unresolved;

    #[test]
    fn loom_a_joiner_sees_zero_or_is_told() {
        loom::model(|| {
            let u = Arc::new(Unresolved::default());
            u.enter();
            u.enter();
            let resolvers: Vec<_> = (0..2)
                .map(|_| {
                    let u = u.clone();
                    thread::spawn(move || u.leave())
                })
                .collect();
            let joiner = u.join();
            let saw_zero = u.get() == 0;
            let told = resolvers.into_iter().map(|r| r.join().unwrap()).filter(|&t| t).count();
            drop(joiner);
            assert!(saw_zero || told == 1, "the joiner would sleep forever");
            assert!(told <= 1, "only the last one out tells");
            assert_eq!(u.get(), 0);
        });
    }
}

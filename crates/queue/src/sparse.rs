//! Items whose priority is outside the dense range: one ordered map keyed by
//! `(priority, seq)`, so that every operation is O(log n) however many distinct priorities
//! there are (a bucket per priority would allocate a `VecDeque` for each new one). Counting
//! per priority walks a range: it serves introspection only, and a second map kept for it
//! would double the cost of every push.

use std::collections::BTreeMap;

pub(crate) struct Sparse<T> {
    /// `(priority, seq)` → `(stamp, item)`; the stamp is 0 unless aging is on.
    items: BTreeMap<(i32, u64), (u64, T)>,
}

impl<T> Sparse<T> {
    pub(crate) const fn new() -> Self {
        Sparse { items: BTreeMap::new() }
    }

    pub(crate) fn push(&mut self, priority: i32, seq: u64, stamp: u64, item: T) {
        self.items.insert((priority, seq), (stamp, item));
    }

    pub(crate) fn remove(&mut self, priority: i32, seq: u64) -> Option<T> {
        self.items.remove(&(priority, seq)).map(|(_, item)| item)
    }

    /// The best (lowest) queued priority.
    pub(crate) fn best(&self) -> Option<i32> {
        self.items.first_key_value().map(|(&(p, _), _)| p)
    }

    fn of(&self, priority: i32) -> std::collections::btree_map::Range<'_, (i32, u64), (u64, T)> {
        self.items.range((priority, 0)..=(priority, u64::MAX))
    }

    /// `(seq, stamp)` of the oldest and the newest item of `priority`.
    pub(crate) fn ends(&self, priority: i32) -> Option<((u64, u64), (u64, u64))> {
        let mut range = self.of(priority);
        let (&(_, s1), &(t1, _)) = range.next()?;
        let back = range.next_back().map_or((s1, t1), |(&(_, s), &(t, _))| (s, t));
        Some(((s1, t1), back))
    }

    /// Takes the oldest (or, `from_back`, the newest) item of `priority`.
    pub(crate) fn take(&mut self, priority: i32, from_back: bool) -> Option<T> {
        if !from_back
            && let Some(entry) = self.items.first_entry()
            && entry.key().0 == priority
        {
            return Some(entry.remove().1);
        }
        let ((front, _), (back, _)) = self.ends(priority)?;
        self.remove(priority, if from_back { back } else { front })
    }

    pub(crate) fn count(&self, priority: i32) -> usize {
        self.of(priority).count()
    }

    /// The distinct queued priorities, best first: one range lookup per priority.
    pub(crate) fn priorities(&self) -> impl Iterator<Item = i32> + '_ {
        let mut next = self.best();
        std::iter::from_fn(move || {
            let p = next?;
            next = p.checked_add(1).and_then(|q| self.items.range((q, 0)..).next().map(|(&(r, _), _)| r));
            Some(p)
        })
    }

    pub(crate) fn counts(&self) -> impl Iterator<Item = (i32, usize)> + '_ {
        self.priorities().map(|p| (p, self.count(p)))
    }
}

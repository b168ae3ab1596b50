//! The priority store: what the queue holds, without any synchronisation.
//!
//! # Structure, chosen by measurement
//!
//! Items live in per-priority FIFO buckets (`VecDeque`s), never in a binary heap: on this
//! project's 2-core machine a `BinaryHeap` pop at depth 1M costs ~127 ns (each sift-down misses
//! the cache), while popping the head of a bucket costs a couple of nanoseconds. Real workloads
//! use few distinct priorities, so:
//!
//! - priorities in `DENSE_MIN..=DENSE_MAX` (-64..=63) index a fixed array of buckets, and a
//!   `u128` bit mask of the non-empty ones finds the best bucket with one `trailing_zeros`;
//! - any other priority goes to one `BTreeMap` keyed by `(priority, seq)` ([`Sparse`]), so
//!   the cost stays O(log n) whatever the priorities are.
//!
//! # Removal without scanning
//!
//! Every item gets a sequence number from one counter, so within a bucket the sequence numbers
//! are increasing from front to back (pushes go to the back; pops take the front, or the back
//! in LIFO mode). [`Store::remove`] finds an item by binary search in its bucket and leaves a
//! tombstone (`None`). Invariant: a non-empty bucket's front and back entries are live; every
//! operation trims tombstones from both ends before it returns, so pops never see one, and a
//! bucket whose last live item goes is cleared at once.
//!
//! # Aging
//!
//! When aging is on, an item's effective priority is `priority - waited / step`. Within a
//! bucket the oldest item has the best effective priority, so a pop compares one candidate per
//! non-empty bucket: O(p) for p distinct priorities.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Key;
use crate::sparse::Sparse;

const DENSE_MIN: i32 = -64;
const DENSE_MAX: i32 = 63;
const DENSE_LEN: usize = (DENSE_MAX - DENSE_MIN + 1) as usize;

/// Order among items of equal (effective) priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Fifo,
    Lifo,
}

/// 16 bytes for a pointer-sized item: the push order, and the item (`None` once removed).
struct Entry<T> {
    seq: u64,
    item: Option<T>,
}

/// One priority's items. Cache-line aligned, with the fields every push and pop writes first,
/// so that a producer and a consumer on different cores move one line per bucket operation,
/// and two priorities never share (and falsely bounce) a line.
#[repr(C, align(64))]
struct Bucket<T> {
    entries: VecDeque<Entry<T>>,
    live: u32,
    /// Removed entries still in `entries`; while 0, no trimming is needed (and a pop does not
    /// touch the back of the bucket, the producers' cache line).
    tombstones: u32,
    /// When each entry was pushed, in nanoseconds since the store's epoch, index for index
    /// with `entries`; kept only when aging is on, so that entries stay small without it.
    stamps: VecDeque<u64>,
}

impl<T> Bucket<T> {
    const fn new() -> Self {
        Bucket { entries: VecDeque::new(), live: 0, tombstones: 0, stamps: VecDeque::new() }
    }

    fn push(&mut self, seq: u64, stamp: Option<u64>, item: T) {
        self.entries.push_back(Entry { seq, item: Some(item) });
        if let Some(stamp) = stamp {
            self.stamps.push_back(stamp);
        }
        self.live += 1;
    }

    fn stamp_front(&self) -> u64 {
        self.stamps.front().copied().unwrap_or(0)
    }

    fn stamp_back(&self) -> u64 {
        self.stamps.back().copied().unwrap_or(0)
    }

    /// Takes the front (FIFO) or back (LIFO) item. The bucket must be non-empty.
    fn take(&mut self, from_back: bool) -> Option<T> {
        let entry = if from_back {
            self.stamps.pop_back();
            self.entries.pop_back()
        } else {
            self.stamps.pop_front();
            self.entries.pop_front()
        };
        let item = entry.and_then(|e| e.item);
        if item.is_some() {
            self.live -= 1;
        }
        if self.tombstones > 0 || self.live == 0 {
            self.trim();
        }
        item
    }

    fn remove(&mut self, seq: u64) -> Option<T> {
        let at = self.entries.binary_search_by_key(&seq, |e| e.seq).ok()?;
        let item = self.entries[at].item.take()?;
        self.live -= 1;
        self.tombstones += 1;
        self.trim();
        Some(item)
    }

    /// Restores the invariant: no tombstone at either end; empty when nothing is live.
    fn trim(&mut self) {
        if self.live == 0 {
            self.entries.clear();
            self.stamps.clear();
            self.tombstones = 0;
            return;
        }
        while self.entries.front().is_some_and(|e| e.item.is_none()) {
            self.entries.pop_front();
            self.stamps.pop_front();
            self.tombstones -= 1;
        }
        while self.entries.back().is_some_and(|e| e.item.is_none()) {
            self.entries.pop_back();
            self.stamps.pop_back();
            self.tombstones -= 1;
        }
    }
}

/// Aging: one priority step gained per `step_nanos` of waiting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Aging {
    step_nanos: u64,
    epoch: tokio::time::Instant,
}

impl Aging {
    pub(crate) fn new(step: Duration) -> Self {
        let step_nanos = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX).max(1);
        Aging { step_nanos, epoch: tokio::time::Instant::now() }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The fields every push and pop writes (`mask`, `len`, `next_seq`) come first, so that with
/// the queue's lock they share one cache line (see `Shared`); the rest is read-mostly.
#[repr(C)]
pub(crate) struct Store<T> {
    /// Bit `i` set iff `dense[i]` holds a live item.
    mask: u128,
    len: usize,
    next_seq: u64,
    dense: Box<[Bucket<T>]>,
    order: Order,
    aging: Option<Aging>,
    /// Items with priorities outside the dense range.
    sparse: Sparse<T>,
}

fn dense_index(priority: i32) -> Option<usize> {
    if (DENSE_MIN..=DENSE_MAX).contains(&priority) { Some((priority - DENSE_MIN) as usize) } else { None }
}

impl<T> Store<T> {
    pub(crate) fn new(order: Order, aging: Option<Aging>) -> Self {
        Store {
            dense: (0..DENSE_LEN).map(|_| Bucket::new()).collect(),
            mask: 0,
            sparse: Sparse::new(),
            len: 0,
            next_seq: 0,
            order,
            aging,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, item: T, priority: i32) -> Key {
        let seq = self.next_seq;
        self.next_seq += 1;
        let stamp = self.aging.map(|a| a.now());
        match dense_index(priority) {
            Some(i) => {
                self.dense[i].push(seq, stamp, item);
                self.mask |= 1 << i;
            }
            None => self.sparse.push(priority, seq, stamp.unwrap_or(0), item),
        }
        self.len += 1;
        Key { priority, seq }
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let (priority, from_back) = match self.aging {
            None => (self.best_priority()?, self.order == Order::Lifo),
            Some(aging) => self.aged_choice(aging.now(), aging.step_nanos)?,
        };
        self.take(priority, from_back)
    }

    /// Puts an item back under its old key, in its old place in push order (used to undo a
    /// pop). With aging on, it counts as pushed now.
    pub(crate) fn unpop(&mut self, item: T, key: Key) {
        let stamp = self.aging.map(|a| a.now());
        match dense_index(key.priority) {
            Some(i) => {
                let bucket = &mut self.dense[i];
                let at = bucket.entries.partition_point(|e| e.seq < key.seq);
                bucket.entries.insert(at, Entry { seq: key.seq, item: Some(item) });
                if let Some(stamp) = stamp {
                    bucket.stamps.insert(at.min(bucket.stamps.len()), stamp);
                }
                bucket.live += 1;
                self.mask |= 1 << i;
            }
            None => self.sparse.push(key.priority, key.seq, stamp.unwrap_or(0), item),
        }
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let item = match dense_index(key.priority) {
            Some(i) => {
                let item = self.dense[i].remove(key.seq)?;
                if self.dense[i].live == 0 {
                    self.mask &= !(1 << i);
                }
                item
            }
            None => self.sparse.remove(key.priority, key.seq)?,
        };
        self.len -= 1;
        Some(item)
    }

    /// The number of queued items of `priority`.
    pub(crate) fn count(&self, priority: i32) -> usize {
        match dense_index(priority) {
            Some(i) => self.dense[i].live as usize,
            None => self.sparse.count(priority),
        }
    }

    /// `(priority, count)` for every priority with queued items, best first.
    pub(crate) fn counts(&self) -> Vec<(i32, usize)> {
        let dense = self.dense_priorities().map(|p| (p, self.count(p)));
        let mut all: Vec<_> = dense.chain(self.sparse.counts()).collect();
        all.sort_unstable_by_key(|&(p, _)| p);
        all
    }

    fn dense_priorities(&self) -> impl Iterator<Item = i32> + '_ {
        let mut mask = self.mask;
        std::iter::from_fn(move || {
            if mask == 0 {
                return None;
            }
            let i = mask.trailing_zeros();
            mask &= mask - 1;
            Some(i as i32 + DENSE_MIN)
        })
    }

    fn best_priority(&self) -> Option<i32> {
        let dense = (self.mask != 0).then(|| self.mask.trailing_zeros() as i32 + DENSE_MIN);
        let sparse = self.sparse.best();
        match (dense, sparse) {
            (Some(d), Some(s)) => Some(d.min(s)),
            (d, s) => d.or(s),
        }
    }

    /// `(seq, stamp)` of the oldest and newest queued items of `priority`.
    fn ends(&self, priority: i32) -> Option<((u64, u64), (u64, u64))> {
        match dense_index(priority) {
            Some(i) => {
                let b = &self.dense[i];
                let (front, back) = (b.entries.front()?, b.entries.back()?);
                Some(((front.seq, b.stamp_front()), (back.seq, b.stamp_back())))
            }
            None => self.sparse.ends(priority),
        }
    }

    /// Picks the bucket and end to pop with aging on: the best effective priority wins; ties go
    /// to the older item (FIFO) or the newer one (LIFO).
    fn aged_choice(&self, now: u64, step: u64) -> Option<(i32, bool)> {
        let effective = |priority: i32, stamp: u64| {
            i64::from(priority) - (now.saturating_sub(stamp) / step).min(i64::MAX as u64) as i64
        };
        let lifo = self.order == Order::Lifo;
        let priorities = self.dense_priorities().chain(self.sparse.priorities());
        let mut best: Option<(i64, u64, i32, bool)> = None;
        for p in priorities {
            let Some(((front_seq, front_stamp), (back_seq, back_stamp))) = self.ends(p) else {
                continue;
            };
            // The front is the oldest, so it has the best effective priority in its bucket; in
            // LIFO mode the back is served instead unless aging has lifted the front above it.
            let (eff_front, eff_back) = (effective(p, front_stamp), effective(p, back_stamp));
            let (eff, seq, from_back) = if lifo && eff_back <= eff_front {
                (eff_back, back_seq, true)
            } else {
                (eff_front, front_seq, false)
            };
            let better = match best {
                None => true,
                Some((b_eff, b_seq, _, _)) => {
                    eff < b_eff || (eff == b_eff && if lifo { seq > b_seq } else { seq < b_seq })
                }
            };
            if better {
                best = Some((eff, seq, p, from_back));
            }
        }
        best.map(|(_, _, p, from_back)| (p, from_back))
    }

    fn take(&mut self, priority: i32, from_back: bool) -> Option<T> {
        let item = match dense_index(priority) {
            Some(i) => {
                let item = self.dense[i].take(from_back);
                if self.dense[i].live == 0 {
                    self.mask &= !(1 << i);
                }
                item
            }
            None => self.sparse.take(priority, from_back),
        };
        if item.is_some() {
            self.len -= 1;
        }
        item
    }

    /// Takes every queued item out, best first.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        while let Some(item) = self.pop() {
            out.push(item);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fifo() -> Store<u32> {
        Store::new(Order::Fifo, None)
    }

    #[test]
    fn lower_priority_first_fifo_among_equals() {
        let mut s = fifo();
        for (item, prio) in [(1, 5), (2, 0), (3, 5), (4, -3), (5, 0)] {
            s.push(item, prio);
        }
        let order: Vec<_> = std::iter::from_fn(|| s.pop()).collect();
        assert_eq!(order, vec![4, 2, 5, 1, 3]);
    }

    #[test]
    fn lifo_among_equals() {
        let mut s = Store::new(Order::Lifo, None);
        for (item, prio) in [(1, 1), (2, 1), (3, 0), (4, 1)] {
            s.push(item, prio);
        }
        let order: Vec<_> = std::iter::from_fn(|| s.pop()).collect();
        assert_eq!(order, vec![3, 4, 2, 1]);
    }

    #[test]
    fn sparse_and_dense_priorities_mix() {
        let mut s = fifo();
        s.push(1, 1_000);
        s.push(2, i32::MIN);
        s.push(3, 63);
        s.push(4, 64);
        s.push(5, -65);
        s.push(6, -64);
        let order: Vec<_> = std::iter::from_fn(|| s.pop()).collect();
        assert_eq!(order, vec![2, 5, 6, 3, 4, 1]);
        assert_eq!(s.sparse.best(), None, "nothing is left in the sparse map");
    }

    #[test]
    fn remove_in_the_middle_leaves_order_intact() {
        let mut s = fifo();
        let keys: Vec<_> = (0..5).map(|i| s.push(i, 0)).collect();
        assert_eq!(s.remove(keys[2]), Some(2));
        assert_eq!(s.remove(keys[2]), None, "second remove is a no-op");
        assert_eq!(s.count(0), 4);
        let order: Vec<_> = std::iter::from_fn(|| s.pop()).collect();
        assert_eq!(order, vec![0, 1, 3, 4]);
    }

    #[test]
    fn remove_of_popped_key_is_noop() {
        let mut s = fifo();
        let k = s.push(1, 0);
        s.push(2, 0);
        assert_eq!(s.pop(), Some(1));
        assert_eq!(s.remove(k), None);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn counts_per_priority() {
        let mut s = fifo();
        s.push(1, 3);
        s.push(2, 3);
        s.push(3, 500);
        s.push(4, -1);
        assert_eq!(s.counts(), vec![(-1, 1), (3, 2), (500, 1)]);
    }
}

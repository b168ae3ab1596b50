//! The "what a user would write" baseline: a bounded async priority queue made of a
//! `Mutex<BinaryHeap<(Reverse(priority), Reverse(seq), item)>>` and two `tokio::sync::Notify`s
//! (`not_empty`, `not_full`).
//!
//! It is written carefully but simply: each async operation tries once without waiting, and
//! only when that fails registers with its `Notify` (via `Notified::enable`) *before* checking
//! again, so no wake-up can slip between "found nothing" and "went to sleep". `close` uses
//! `notify_waiters`, which reaches every registered waiter. Lower priority values come out
//! first and equal priorities in push order, like `conveyor_queue::Queue`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::pin::pin;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// Why a non-waiting operation did not complete.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TryError<T> {
    /// Push: the queue is full (item handed back). Pop: the queue is empty (`T = ()`).
    Busy(T),
    /// The queue is closed (for pops: closed and drained).
    Closed(T),
}

struct Inner<T> {
    heap: BinaryHeap<(Reverse<i32>, Reverse<u64>, T)>,
    next_seq: u64,
    closed: bool,
}

/// A bounded MPMC priority queue: `Mutex<BinaryHeap>` plus two `Notify`s.
pub(crate) struct NaiveQueue<T> {
    inner: Mutex<Inner<T>>,
    not_empty: Notify,
    not_full: Notify,
    capacity: usize,
}

impl<T: Ord> NaiveQueue<T> {
    /// A queue holding at most `capacity` items.
    pub(crate) fn bounded(capacity: usize) -> Self {
        NaiveQueue {
            inner: Mutex::new(Inner { heap: BinaryHeap::new(), next_seq: 0, closed: false }),
            not_empty: Notify::new(),
            not_full: Notify::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Pushes if there is room now.
    pub(crate) fn try_push(&self, item: T, priority: i32) -> Result<(), TryError<T>> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(TryError::Closed(item));
        }
        if inner.heap.len() >= self.capacity {
            return Err(TryError::Busy(item));
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.heap.push((Reverse(priority), Reverse(seq), item));
        drop(inner);
        self.not_empty.notify_one();
        Ok(())
    }

    /// Pushes, waiting while the queue is full; hands the item back if the queue is closed.
    pub(crate) async fn push(&self, mut item: T, priority: i32) -> Result<(), T> {
        loop {
            match self.try_push(item, priority) {
                Ok(()) => return Ok(()),
                Err(TryError::Closed(back)) => return Err(back),
                Err(TryError::Busy(back)) => item = back,
            }
            // Register first, then re-check: a pop between the check above and the await
            // below would otherwise notify nobody.
            let mut notified = pin!(self.not_full.notified());
            notified.as_mut().enable();
            match self.try_push(item, priority) {
                Ok(()) => return Ok(()),
                Err(TryError::Closed(back)) => return Err(back),
                Err(TryError::Busy(back)) => item = back,
            }
            notified.await;
        }
    }

    /// Pops the best item if there is one now.
    pub(crate) fn try_pop(&self) -> Result<T, TryError<()>> {
        let mut inner = self.lock();
        match inner.heap.pop() {
            Some((_, _, item)) => {
                drop(inner);
                self.not_full.notify_one();
                Ok(item)
            }
            None if inner.closed => Err(TryError::Closed(())),
            None => Err(TryError::Busy(())),
        }
    }

    /// Pops the best item, waiting while the queue is empty; `None` once closed and drained.
    pub(crate) async fn pop(&self) -> Option<T> {
        loop {
            match self.try_pop() {
                Ok(item) => return Some(item),
                Err(TryError::Closed(())) => return None,
                Err(TryError::Busy(())) => {}
            }
            let mut notified = pin!(self.not_empty.notified());
            notified.as_mut().enable();
            match self.try_pop() {
                Ok(item) => return Some(item),
                Err(TryError::Closed(())) => return None,
                Err(TryError::Busy(())) => {}
            }
            notified.await;
        }
    }

    /// Closes the queue: pushes fail, pops drain what is left and then return `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_waiters();
        self.not_full.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn lowest_priority_first_fifo_among_equals() {
        let q = NaiveQueue::bounded(8);
        for (item, prio) in [(1_u64, 5), (2, 0), (3, 5), (4, -3), (5, 0)] {
            q.try_push(item, prio).unwrap();
        }
        let order: Vec<_> = std::iter::from_fn(|| q.try_pop().ok()).collect();
        assert_eq!(order, [4, 2, 5, 1, 3]);
    }

    #[test]
    fn bounded_and_closable() {
        let q = NaiveQueue::bounded(1);
        q.try_push(1_u64, 0).unwrap();
        assert_eq!(q.try_push(2, 0), Err(TryError::Busy(2)));
        q.close();
        assert_eq!(q.try_push(3, 0), Err(TryError::Closed(3)));
        assert_eq!(q.try_pop(), Ok(1));
        assert_eq!(q.try_pop(), Err(TryError::Closed(())));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mpmc_loses_nothing() {
        let q = Arc::new(NaiveQueue::bounded(4));
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move {
                    let mut n = 0_u64;
                    while q.pop().await.is_some() {
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let producers: Vec<_> = (0..3_u64)
            .map(|p| {
                let q = q.clone();
                tokio::spawn(async move {
                    for i in 0..10_000 {
                        q.push(p * 10_000 + i, (i % 7) as i32).await.unwrap();
                    }
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        q.close();
        let mut total = 0;
        for c in consumers {
            total += c.await.unwrap();
        }
        assert_eq!(total, 30_000);
    }
}

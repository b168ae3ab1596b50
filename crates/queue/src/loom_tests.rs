//! loom models of the queue's synchronisation: every interleaving of a few threads pushing,
//! popping, waiting, cancelling and closing. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p conveyor-queue --release --lib loom_tests`.
//!
//! A lost wake-up shows up as loom reporting a deadlock (every thread blocked in `block_on`);
//! a lost or duplicated item as a failed assertion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use loom::thread;

use crate::{Queue, TryPopError};

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(fut).poll(&mut cx)
}

/// Pops until the queue is closed and drained.
fn pop_all(q: &Queue<u32>) -> Vec<u32> {
    let mut got = Vec::new();
    while let Some(item) = block_on(q.pop()) {
        got.push(item);
    }
    got
}

#[test]
fn one_pusher_one_popper_delivers_each_item_once_in_order() {
    loom::model(|| {
        let q = Queue::bounded(2);
        let pusher = {
            let q = q.clone();
            thread::spawn(move || {
                q.try_push(1, 0).unwrap();
                q.try_push(2, 1).unwrap();
            })
        };
        let first = block_on(q.pop());
        let second = block_on(q.pop());
        pusher.join().unwrap();
        assert_eq!((first, second), (Some(1), Some(2)));
        assert_eq!(q.try_pop(), Err(TryPopError::Empty));
    });
}

#[test]
fn two_poppers_one_pusher_then_close() {
    loom::model(|| {
        let q = Queue::unbounded();
        let poppers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || pop_all(&q))
            })
            .collect();
        q.try_push(1, 0).unwrap();
        q.try_push(2, 0).unwrap();
        assert!(q.close());
        let mut all: Vec<u32> = poppers.into_iter().flat_map(|p| p.join().unwrap()).collect();
        all.sort_unstable();
        assert_eq!(all, [1, 2], "each item delivered exactly once, and both poppers ended");
    });
}

#[test]
fn dropped_registered_pop_passes_the_item_to_the_other_popper() {
    loom::model(|| {
        let q = Queue::unbounded();
        let waiter = {
            let q = q.clone();
            thread::spawn(move || block_on(q.pop()))
        };
        let pusher = {
            let q = q.clone();
            thread::spawn(move || q.try_push(1, 0).unwrap())
        };
        // This popper registers (or finds the item), then gives up without polling again.
        let mut pop = q.pop();
        let first = poll_once(&mut pop);
        drop(pop);
        pusher.join().unwrap();
        match first {
            Poll::Pending => {
                // Whatever happened to our wake-up, the waiter must get the item.
                assert_eq!(waiter.join().unwrap(), Some(1));
            }
            Poll::Ready(got) => {
                assert_eq!(got, Some(1));
                q.try_push(2, 0).unwrap();
                assert_eq!(waiter.join().unwrap(), Some(2));
            }
        }
        assert!(q.is_empty());
    });
}

#[test]
fn bounded_one_pusher_waits_for_room_and_popper_frees_it() {
    loom::model(|| {
        let q = Queue::bounded(1);
        q.try_push(1, 0).unwrap();
        let pusher = {
            let q = q.clone();
            thread::spawn(move || block_on(q.push(2, 0)).is_ok())
        };
        assert_eq!(block_on(q.pop()), Some(1));
        assert_eq!(block_on(q.pop()), Some(2));
        assert!(pusher.join().unwrap());
        assert!(q.is_empty());
    });
}

#[test]
fn dropped_registered_push_passes_the_slot_to_the_other_pusher() {
    loom::model(|| {
        let q = Queue::bounded(1);
        q.try_push(0, 0).unwrap();
        let pusher = {
            let q = q.clone();
            thread::spawn(move || block_on(q.push(1, 0)).is_ok())
        };
        // A second producer waits for room too, then gives up after the slot frees.
        let mut push = q.push(2, 0);
        assert!(poll_once(&mut push).is_pending(), "the queue is full");
        assert_eq!(q.try_pop(), Ok(0));
        drop(push);
        assert_eq!(block_on(q.pop()), Some(1));
        assert!(pusher.join().unwrap());
        assert!(q.is_empty());
    });
}

/// Regression: a permit outstanding at close lets consumers sleep on the closed, empty queue;
/// the consumer that takes the permit's item must not leave the other asleep forever.
#[test]
fn permit_after_close_with_two_poppers_all_terminate() {
    loom::model(|| {
        let q = Queue::bounded(2);
        let permit = block_on(q.reserve()).unwrap();
        let poppers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || pop_all(&q))
            })
            .collect();
        assert!(q.close());
        permit.push(7, 0);
        let all: Vec<u32> = poppers.into_iter().flat_map(|p| p.join().unwrap()).collect();
        assert_eq!(all, [7]);
    });
}

/// One wake-up in flight (issue 23): two consumers each wait for one item and two items are
/// pushed without a `close`. The second push wakes nobody while the first woken consumer has
/// not run; that consumer must wake the other for the item it leaves, or loom reports a
/// deadlock.
#[test]
fn two_waiting_poppers_two_pushes_each_popper_gets_one() {
    loom::model(|| {
        let q = Queue::unbounded();
        let poppers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || block_on(q.pop()))
            })
            .collect();
        q.try_push(1, 0).unwrap();
        q.try_push(2, 0).unwrap();
        let mut got: Vec<u32> = poppers.into_iter().map(|p| p.join().unwrap().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// Batches (issue 23): one consumer takes two items with `try_pop_many` while a producer
/// waits for room in a full queue of two, and another consumer waits for an item. The batch
/// frees two slots: the producer must be woken for them, and its item must reach the waiting
/// consumer, or loom reports a deadlock.
#[test]
fn pop_many_wakes_the_waiting_pusher_and_the_next_popper() {
    loom::model(|| {
        let q = Queue::bounded(2);
        q.try_push(1, 1).unwrap();
        q.try_push(2, 0).unwrap();
        let pusher = {
            let q = q.clone();
            thread::spawn(move || block_on(q.push(3, 0)).is_ok())
        };
        let popper = {
            let q = q.clone();
            thread::spawn(move || block_on(q.pop()))
        };
        let mut batch = Vec::new();
        let taken = q.try_pop_many(&mut batch, 2).unwrap_or(0);
        assert!(pusher.join().unwrap());
        let other = popper.join().unwrap().unwrap();
        let mut all: Vec<u32> = batch.clone();
        all.push(other);
        all.extend(std::iter::from_fn(|| q.try_pop().ok()));
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3], "each item exactly once");
        assert!(taken <= 2 && taken == batch.len());
    });
}

/// A batch given back with `unpop` while a consumer waits: the consumer is woken for it
/// (or loom reports a deadlock).
#[test]
fn unpop_of_a_batch_wakes_a_waiting_popper() {
    loom::model(|| {
        let q = Queue::unbounded();
        let a = q.try_push(1, 0).unwrap();
        let b = q.try_push(2, 0).unwrap();
        let mut batch = Vec::new();
        assert_eq!(q.try_pop_many(&mut batch, 2), Ok(2));
        let popper = {
            let q = q.clone();
            thread::spawn(move || block_on(q.pop()))
        };
        q.unpop(batch.pop().unwrap(), b);
        q.unpop(batch.pop().unwrap(), a);
        // The popper may run between the two `unpop`s and take item 2.
        let got = popper.join().unwrap().unwrap();
        let rest = q.try_pop().unwrap();
        assert_eq!((got.min(rest), got.max(rest)), (1, 2), "each item exactly once");
        if got == 2 {
            assert_eq!(rest, 1);
        }
    });
}

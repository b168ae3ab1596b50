//! Capacity and backpressure: `push` waits while full and is woken by whatever frees a slot
//! (pop, remove, drain, a dropped permit); `try_push` hands the item back; permits count
//! against capacity.

use conveyor_queue::{Queue, TryPushError};
use tokio_test::task;
use tokio_test::{assert_pending, assert_ready, assert_ready_eq, assert_ready_ok};

fn full_queue(capacity: usize) -> Queue<u32> {
    let q = Queue::bounded(capacity);
    for i in 0..capacity {
        q.try_push(i as u32, 0).unwrap();
    }
    q
}

#[test]
fn capacity_is_reported() {
    assert_eq!(Queue::<()>::bounded(3).capacity(), Some(3));
    assert_eq!(Queue::<()>::unbounded().capacity(), None);
    let q: Queue<()> = Queue::builder().capacity(7).lifo().build();
    assert_eq!(q.capacity(), Some(7));
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity_panics() {
    let _ = Queue::<()>::bounded(0);
}

#[test]
fn try_push_returns_the_very_item_when_full() {
    let q = full_queue(2);
    let err = q.try_push(99, 0).unwrap_err();
    assert!(err.is_full());
    assert!(!err.is_closed());
    assert_eq!(err, TryPushError::Full(99));
    assert_eq!(err.into_inner(), 99);
    assert_eq!(q.len(), 2);
}

#[test]
fn try_push_full_hands_back_a_non_copy_item() {
    let q = Queue::bounded(1);
    q.try_push(String::from("first"), 0).unwrap();
    match q.try_push(String::from("second"), 0) {
        Err(TryPushError::Full(s)) => assert_eq!(s, "second"),
        other => panic!("expected Full, got {other:?}"),
    }
}

#[test]
fn try_push_returns_the_very_item_when_closed() {
    let q = Queue::bounded(2);
    q.close();
    let err = q.try_push(7, 0).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err, TryPushError::Closed(7));
}

#[test]
fn closed_wins_over_full() {
    let q = full_queue(1);
    q.close();
    assert_eq!(q.try_push(5, 0), Err(TryPushError::Closed(5)));
}

#[test]
fn unbounded_push_never_waits() {
    let q = Queue::unbounded();
    for i in 0..10_000 {
        let mut push = task::spawn(q.push(i, i % 3));
        assert_ready_ok!(push.poll());
    }
    assert_eq!(q.len(), 10_000);
}

#[test]
fn push_waits_while_full_and_pop_wakes_it() {
    let q = full_queue(2);
    let mut push = task::spawn(q.push(100, 0));
    assert_pending!(push.poll());
    assert!(!push.is_woken());
    assert_eq!(q.len(), 2, "a waiting push queues nothing");

    assert_eq!(q.try_pop(), Ok(0));
    assert!(push.is_woken(), "pop frees a slot and wakes the waiting pusher");
    assert_ready_ok!(push.poll());
    assert_eq!(q.len(), 2);
    assert_eq!(q.try_pop(), Ok(1));
    assert_eq!(q.try_pop(), Ok(100));
}

#[test]
fn async_pop_wakes_a_waiting_push() {
    let q = full_queue(1);
    let mut push = task::spawn(q.push(100, 0));
    assert_pending!(push.poll());
    let mut pop = task::spawn(q.pop());
    assert_ready_eq!(pop.poll(), Some(0));
    assert!(push.is_woken());
    assert_ready_ok!(push.poll());
}

#[test]
fn remove_wakes_a_waiting_push() {
    let q = Queue::bounded(2);
    let k = q.try_push(1, 0).unwrap();
    q.try_push(2, 0).unwrap();
    let mut push = task::spawn(q.push(3, 0));
    assert_pending!(push.poll());
    assert_eq!(q.remove(k), Some(1));
    assert!(push.is_woken(), "remove frees a slot and wakes the waiting pusher");
    assert_ready_ok!(push.poll());
    assert_eq!(q.drain(), [2, 3]);
}

#[test]
fn drain_wakes_every_waiting_push() {
    let q = full_queue(2);
    let mut p1 = task::spawn(q.push(10, 0));
    let mut p2 = task::spawn(q.push(11, 0));
    let mut p3 = task::spawn(q.push(12, 0));
    assert_pending!(p1.poll());
    assert_pending!(p2.poll());
    assert_pending!(p3.poll());
    assert_eq!(q.drain(), [0, 1]);
    assert!(p1.is_woken() && p2.is_woken() && p3.is_woken());
    assert_ready_ok!(p1.poll());
    assert_ready_ok!(p2.poll());
    // Only two slots: the third goes back to waiting, and is woken by the next pop.
    assert_pending!(p3.poll());
    assert_eq!(q.try_pop(), Ok(10));
    assert!(p3.is_woken());
    assert_ready_ok!(p3.poll());
    assert_eq!(q.drain(), [11, 12]);
}

#[test]
fn waiting_pushers_are_served_in_arrival_order() {
    let q = full_queue(1);
    let mut p1 = task::spawn(q.push(10, 0));
    let mut p2 = task::spawn(q.push(11, 0));
    assert_pending!(p1.poll());
    assert_pending!(p2.poll());
    assert_eq!(q.try_pop(), Ok(0));
    assert!(p1.is_woken());
    assert!(!p2.is_woken(), "one freed slot wakes one pusher");
    assert_ready_ok!(p1.poll());
    assert_pending!(p2.poll());
    assert_eq!(q.try_pop(), Ok(10));
    assert!(p2.is_woken());
    assert_ready_ok!(p2.poll());
}

#[test]
fn a_woken_push_that_lost_the_slot_waits_again_at_the_front() {
    let q = full_queue(1);
    let mut p1 = task::spawn(q.push(10, 0));
    let mut p2 = task::spawn(q.push(11, 0));
    assert_pending!(p1.poll());
    assert_pending!(p2.poll());
    assert_eq!(q.try_pop(), Ok(0));
    assert!(p1.is_woken());
    // A barging try_push takes the slot before p1 runs.
    q.try_push(50, 0).unwrap();
    assert_pending!(p1.poll());
    assert_eq!(q.try_pop(), Ok(50));
    assert!(p1.is_woken(), "p1 keeps its place at the head of the line");
    assert!(!p2.is_woken());
    assert_ready_ok!(p1.poll());
}

#[tokio::test]
async fn reserve_counts_against_capacity() {
    let q = Queue::bounded(2);
    let permit = q.reserve().await.unwrap();
    assert_eq!(q.len(), 0, "a permit is not an item");
    q.try_push(1, 0).unwrap();
    assert_eq!(q.try_push(2, 0), Err(TryPushError::Full(2)));

    let mut reserve = task::spawn(q.reserve());
    assert_pending!(reserve.poll());
    let key = permit.push(3, -1);
    assert_eq!(key.priority(), -1);
    assert!(!reserve.is_woken(), "using a permit frees no slot");
    assert_eq!(q.len(), 2);
    assert_eq!(q.try_pop(), Ok(3));
    assert!(reserve.is_woken());
    let permit = assert_ready_ok!(reserve.poll());
    drop(reserve);
    drop(permit);
}

#[tokio::test]
async fn dropping_a_permit_frees_the_slot_and_wakes_a_pusher() {
    let q = Queue::bounded(1);
    let permit = q.reserve().await.unwrap();
    assert!(q.try_push(1, 0).unwrap_err().is_full());
    let mut push = task::spawn(q.push(2, 0));
    assert_pending!(push.poll());
    drop(permit);
    assert!(push.is_woken(), "a dropped permit gives its slot to a waiting pusher");
    assert_ready_ok!(push.poll());
    assert_eq!(q.try_pop(), Ok(2));
}

#[test]
fn reserve_waits_while_full_and_is_woken_by_pop() {
    let q = full_queue(1);
    let mut reserve = task::spawn(q.reserve());
    assert_pending!(reserve.poll());
    assert_eq!(q.try_pop(), Ok(0));
    assert!(reserve.is_woken());
    let permit = assert_ready_ok!(reserve.poll());
    permit.push(9, 0);
    drop(reserve);
    assert_eq!(q.try_pop(), Ok(9));
}

#[tokio::test]
async fn permit_taken_before_close_still_pushes_and_is_seen_before_none() {
    let q = Queue::bounded(4);
    let permit = q.reserve().await.unwrap();
    q.try_push(1, 5).unwrap();
    assert!(q.close());
    assert!(q.reserve().await.is_err(), "no new permits after close");

    assert_eq!(q.pop().await, Some(1));
    // Closed and empty, but the permit may still add an item: not drained yet.
    let mut pop = task::spawn(q.pop());
    assert_pending!(pop.poll());
    assert_eq!(q.try_pop(), Err(conveyor_queue::TryPopError::Empty));

    permit.push(2, 0);
    assert!(pop.is_woken());
    assert_ready_eq!(pop.poll(), Some(2));
    assert_eq!(q.pop().await, None);
}

#[tokio::test]
async fn permit_dropped_after_close_ends_the_waiting_consumers() {
    let q = Queue::<u8>::bounded(4);
    let permit = q.reserve().await.unwrap();
    q.close();
    let mut pop1 = task::spawn(q.pop());
    let mut pop2 = task::spawn(q.pop());
    assert_pending!(pop1.poll());
    assert_pending!(pop2.poll());
    drop(permit);
    assert!(pop1.is_woken() && pop2.is_woken());
    assert_ready_eq!(pop1.poll(), None);
    assert_ready_eq!(pop2.poll(), None);
}

#[test]
fn push_future_does_nothing_until_polled() {
    let q = Queue::bounded(1);
    let push = q.push(1, 0);
    assert!(q.is_empty());
    drop(push);
    assert!(q.is_empty());
    let mut push = task::spawn(q.push(2, 0));
    assert_ready!(push.poll()).unwrap();
    assert_eq!(q.len(), 1);
}

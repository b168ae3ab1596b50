//! Closing: pushes fail with the item handed back, consumers drain what is left and only then
//! see `None` / `Closed`, and every waiter is woken.

use conveyor_queue::{ClosedError, PushError, Queue, TryPopError, TryPushError};
use tokio_test::task;
use tokio_test::{assert_pending, assert_ready, assert_ready_eq, assert_ready_err};

#[test]
fn close_returns_true_once_then_false() {
    let q = Queue::<u8>::bounded(1);
    assert!(!q.is_closed());
    assert!(q.close());
    assert!(q.is_closed());
    assert!(!q.close());
    assert!(!q.clone().close(), "every handle sees the same queue");
    assert!(q.is_closed());
}

#[test]
fn try_pop_is_closed_only_when_closed_and_drained() {
    let q = Queue::unbounded();
    assert_eq!(q.try_pop(), Err(TryPopError::Empty));
    q.try_push(2, 1).unwrap();
    q.try_push(1, 0).unwrap();
    q.close();
    assert_eq!(q.try_pop(), Ok(1));
    assert_eq!(q.try_pop(), Ok(2));
    assert_eq!(q.try_pop(), Err(TryPopError::Closed));
    assert_eq!(q.try_pop(), Err(TryPopError::Closed), "stays closed");
}

#[tokio::test]
async fn pop_is_none_only_when_closed_and_drained() {
    let q = Queue::bounded(4);
    q.push('x', 0).await.unwrap();
    q.push('y', 0).await.unwrap();
    q.close();
    assert_eq!(q.len(), 2);
    assert_eq!(q.pop().await, Some('x'));
    assert_eq!(q.pop().await, Some('y'));
    assert_eq!(q.pop().await, None);
    assert_eq!(q.pop().await, None);
}

#[test]
fn pop_waits_on_an_open_empty_queue() {
    let q = Queue::<u8>::unbounded();
    let mut pop = task::spawn(q.pop());
    assert_pending!(pop.poll());
    assert_pending!(pop.poll());
    assert!(!pop.is_woken());
}

#[tokio::test]
async fn push_after_close_hands_the_item_back() {
    let q = Queue::bounded(2);
    q.close();
    let PushError(item) = q.push(String::from("job"), 0).await.unwrap_err();
    assert_eq!(item, "job");
    assert_eq!(q.try_push(String::from("j2"), 0), Err(TryPushError::Closed("j2".into())));
    assert_eq!(q.reserve().await.unwrap_err(), ClosedError);
    assert!(q.is_empty());
}

#[test]
fn close_wakes_every_waiting_popper_with_none() {
    let q = Queue::<u8>::bounded(4);
    let mut pops: Vec<_> = (0..3).map(|_| task::spawn(q.pop())).collect();
    for p in &mut pops {
        assert_pending!(p.poll());
    }
    assert!(q.close());
    for p in &mut pops {
        assert!(p.is_woken());
        assert_ready_eq!(p.poll(), None);
    }
}

#[test]
fn close_wakes_every_waiting_pusher_with_its_item() {
    let q = Queue::bounded(1);
    q.try_push(0, 0).unwrap();
    let mut pushes: Vec<_> = (1..=3).map(|i| task::spawn(q.push(i, 0))).collect();
    for p in &mut pushes {
        assert_pending!(p.poll());
    }
    let mut reserve = task::spawn(q.reserve());
    assert_pending!(reserve.poll());

    assert!(q.close());
    for (i, p) in pushes.iter_mut().enumerate() {
        assert!(p.is_woken());
        let PushError(item) = assert_ready_err!(p.poll());
        assert_eq!(item, i + 1);
    }
    assert!(reserve.is_woken());
    assert_eq!(assert_ready!(reserve.poll()).unwrap_err(), ClosedError);
    // The item queued before close is still there for consumers.
    assert_eq!(q.try_pop(), Ok(0));
    assert_eq!(q.try_pop(), Err(TryPopError::Closed));
}

#[test]
fn close_wakes_a_woken_but_not_yet_polled_popper_correctly() {
    let q = Queue::unbounded();
    let mut pop = task::spawn(q.pop());
    assert_pending!(pop.poll());
    q.try_push(1, 0).unwrap();
    q.close();
    assert!(pop.is_woken());
    assert_ready_eq!(pop.poll(), Some(1), "closing does not discard queued items");
    let mut pop2 = task::spawn(q.pop());
    assert_ready_eq!(pop2.poll(), None);
}

#[tokio::test]
async fn removing_the_last_item_after_close_ends_waiting_consumers() {
    // Keep a permit so that a consumer can be waiting on a closed, empty queue.
    let q = Queue::bounded(4);
    let k = q.try_push(1, 0).unwrap();
    let permit = q.reserve().await.unwrap();
    q.close();
    assert_eq!(q.remove(k), Some(1));
    let mut pop = task::spawn(q.pop());
    assert_pending!(pop.poll());
    drop(permit);
    assert!(pop.is_woken());
    assert_ready_eq!(pop.poll(), None);
}

#[tokio::test]
async fn drain_after_close_ends_waiting_consumers() {
    let q = Queue::<u8>::bounded(4);
    let permit = q.reserve().await.unwrap();
    q.close();
    let mut pop = task::spawn(q.pop());
    assert_pending!(pop.poll());
    permit.push(7, 0);
    assert!(pop.is_woken());
    // Drain takes the item before the woken consumer runs: the consumer must now end.
    assert_eq!(q.drain(), [7]);
    assert_ready_eq!(pop.poll(), None);
}

/// Regression: with a permit outstanding at close, two consumers wait on the closed, empty
/// queue. The permit's item wakes one of them; once it takes that item the queue is finished,
/// and the other consumer must be woken to see `None` instead of hanging forever.
#[tokio::test]
async fn last_pop_after_close_wakes_the_other_waiting_consumers() {
    let q = Queue::bounded(4);
    let permit = q.reserve().await.unwrap();
    q.close();
    let mut pop1 = task::spawn(q.pop());
    let mut pop2 = task::spawn(q.pop());
    assert_pending!(pop1.poll());
    assert_pending!(pop2.poll());
    permit.push(1, 0);
    assert!(pop1.is_woken());
    assert_ready_eq!(pop1.poll(), Some(1));
    assert!(pop2.is_woken(), "the queue is finished: the other consumer must be told");
    assert_ready_eq!(pop2.poll(), None);
}

/// Same as above with a barging `try_pop` taking the last item.
#[tokio::test]
async fn last_try_pop_after_close_wakes_waiting_consumers() {
    let q = Queue::bounded(4);
    let permit = q.reserve().await.unwrap();
    q.close();
    let mut pop1 = task::spawn(q.pop());
    let mut pop2 = task::spawn(q.pop());
    assert_pending!(pop1.poll());
    assert_pending!(pop2.poll());
    permit.push(1, 0);
    assert_eq!(q.try_pop(), Ok(1));
    assert!(pop1.is_woken());
    assert!(pop2.is_woken(), "the queue is finished: every consumer must be told");
    assert_ready_eq!(pop1.poll(), None);
    assert_ready_eq!(pop2.poll(), None);
}

#[test]
fn close_wakes_a_pending_stream() {
    use futures_util::StreamExt;
    let q = Queue::<u8>::unbounded();
    let mut s = q.stream();
    let mut next = task::spawn(s.next());
    assert_pending!(next.poll());
    q.close();
    assert!(next.is_woken());
    assert_ready_eq!(next.poll(), None);
}

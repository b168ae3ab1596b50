//! Cancel safety: dropping a pending `pop`, `push`, `reserve` or stream (as `tokio::select!`
//! does with a losing branch) loses no item and strands no waiter — a wake-up the dropped
//! future received passes to the next waiter.

use std::sync::Arc;
use std::time::Duration;

use conveyor_queue::Queue;
use futures_util::StreamExt;
use tokio::sync::{Notify, oneshot};
use tokio_test::task;
use tokio_test::{assert_pending, assert_ready, assert_ready_eq, assert_ready_ok};

/// Bounds how long a broken build can hang a test; a passing test never waits for it.
const WATCHDOG: Duration = Duration::from_secs(30);

#[test]
fn woken_pop_dropped_before_repoll_passes_the_item_on() {
    let q = Queue::unbounded();
    let mut first = task::spawn(q.pop());
    let mut second = task::spawn(q.pop());
    assert_pending!(first.poll());
    assert_pending!(second.poll());

    q.try_push(42, 0).unwrap();
    assert!(first.is_woken(), "the longest waiter is woken");
    assert!(!second.is_woken());

    drop(first);
    assert!(second.is_woken(), "the dropped waiter's wake-up passes on");
    assert_ready_eq!(second.poll(), Some(42));
    assert!(q.is_empty());
}

#[test]
fn woken_pops_dropped_in_a_row_pass_the_item_down_the_line() {
    let q = Queue::unbounded();
    let mut pops: Vec<_> = (0..4).map(|_| task::spawn(q.pop())).collect();
    for p in &mut pops {
        assert_pending!(p.poll());
    }
    q.try_push('x', 0).unwrap();
    let mut last = pops.pop().unwrap();
    for p in pops {
        assert!(p.is_woken());
        drop(p);
    }
    assert!(last.is_woken());
    assert_ready_eq!(last.poll(), Some('x'));
}

#[test]
fn two_items_two_woken_pops_one_dropped() {
    let q = Queue::unbounded();
    let mut a = task::spawn(q.pop());
    let mut b = task::spawn(q.pop());
    let mut c = task::spawn(q.pop());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_pending!(c.poll());
    q.try_push(1, 0).unwrap();
    q.try_push(2, 0).unwrap();
    // One wake-up in flight at a time (issue 23): the woken consumer wakes the next one if
    // it leaves items behind.
    assert!(a.is_woken());
    assert!(!b.is_woken() && !c.is_woken());
    drop(a);
    assert!(b.is_woken(), "a's wake-up goes to the next sleeper");
    assert!(!c.is_woken());
    assert_ready_eq!(b.poll(), Some(1));
    assert!(c.is_woken(), "b left an item behind: it wakes the next sleeper");
    assert_ready_eq!(c.poll(), Some(2));
}

/// Issue 23: pushes while a woken consumer has not run yet wake nobody else; when it runs
/// it passes a wake-up on for what it left, so every item still reaches a consumer.
#[test]
fn one_wake_up_in_flight_and_the_chain_reaches_every_item() {
    let q = Queue::unbounded();
    let mut pops: Vec<_> = (0..4).map(|_| task::spawn(q.pop())).collect();
    for p in &mut pops {
        assert_pending!(p.poll());
    }
    for i in 0..3 {
        q.try_push(i, 0).unwrap();
    }
    let woken = pops.iter().filter(|p| p.is_woken()).count();
    assert_eq!(woken, 1, "three pushes, one wake-up in flight");
    let mut got = Vec::new();
    for p in &mut pops[..3] {
        assert!(p.is_woken(), "each consumer is woken by the one before it");
        got.push(assert_ready!(p.poll()).unwrap());
    }
    assert_eq!(got, [0, 1, 2]);
    assert!(!pops[3].is_woken(), "nothing left: the chain stops");
}

#[test]
fn dropped_pop_that_was_never_woken_leaves_the_line_intact() {
    let q = Queue::unbounded();
    let mut a = task::spawn(q.pop());
    let mut b = task::spawn(q.pop());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    drop(a);
    assert!(!b.is_woken());
    q.try_push(5, 0).unwrap();
    assert!(b.is_woken(), "b is now first in line");
    assert_ready_eq!(b.poll(), Some(5));
}

#[test]
fn woken_stream_dropped_passes_the_item_on() {
    let q = Queue::unbounded();
    let mut s1 = q.stream();
    let mut s2 = q.stream();
    let mut n1 = task::spawn(s1.next());
    let mut n2 = task::spawn(s2.next());
    assert_pending!(n1.poll());
    assert_pending!(n2.poll());
    q.try_push(7, 0).unwrap();
    assert!(n1.is_woken());
    assert!(!n2.is_woken());
    // Dropping `next()` keeps the stream's place; dropping the stream gives it up.
    drop(n1);
    drop(s1);
    assert!(n2.is_woken(), "the dropped stream's wake-up passes on");
    assert_ready_eq!(n2.poll(), Some(7));
}

#[test]
fn select_with_biased_cancel_drops_a_woken_pop_without_losing_the_item() {
    let q = Queue::unbounded();
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    let mut loser = task::spawn(async {
        tokio::select! {
            biased;
            _ = cancel_rx => None,
            item = q.pop() => item,
        }
    });
    let mut other = task::spawn(q.pop());
    assert_pending!(loser.poll());
    assert_pending!(other.poll());

    q.try_push("job", 0).unwrap();
    cancel_tx.send(()).unwrap();
    assert!(loser.is_woken());
    // The cancel branch is polled first and wins: the woken pop future is dropped unpolled.
    assert_ready_eq!(loser.poll(), None);
    assert!(other.is_woken());
    assert_ready_eq!(other.poll(), Some("job"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_cancelled_pop_on_multi_thread_runtime_never_strands_an_item() {
    let q = Queue::unbounded();
    for round in 0..300u32 {
        let cancel = Arc::new(Notify::new());
        let racer = tokio::spawn({
            let (q, cancel) = (q.clone(), cancel.clone());
            async move {
                tokio::select! {
                    _ = cancel.notified() => None,
                    item = q.pop() => item,
                }
            }
        });
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        tokio::task::yield_now().await;
        // Push and cancel from different threads at once.
        let pusher = tokio::spawn({
            let q = q.clone();
            async move { q.try_push(round, 0).unwrap() }
        });
        cancel.notify_one();
        pusher.await.unwrap();

        let raced = racer.await.unwrap();
        if let Some(item) = raced {
            assert_eq!(item, round);
            // The racer won the item: give the waiter something of its own.
            q.try_push(u32::MAX, 0).unwrap();
        }
        let got = tokio::time::timeout(WATCHDOG, waiter)
            .await
            .unwrap_or_else(|_| panic!("round {round}: an item was stranded"))
            .unwrap();
        let expected = if raced.is_some() { u32::MAX } else { round };
        assert_eq!(got, Some(expected), "round {round}");
        assert!(q.is_empty());
    }
}

#[test]
fn dropped_push_loses_nothing_and_passes_its_wake_up_on() {
    let q = Queue::bounded(1);
    q.try_push(Arc::new(0), 0).unwrap();
    let dropped_item = Arc::new(1);
    let mut first = task::spawn(q.push(dropped_item.clone(), 0));
    let mut second = task::spawn(q.push(Arc::new(2), 0));
    assert_pending!(first.poll());
    assert_pending!(second.poll());

    assert_eq!(*q.try_pop().unwrap(), 0);
    assert!(first.is_woken());
    assert!(!second.is_woken());
    drop(first);
    assert!(q.is_empty(), "the dropped push queued nothing");
    assert_eq!(Arc::strong_count(&dropped_item), 1, "its item dropped with the future");
    assert!(second.is_woken(), "the freed slot's wake-up passes to the next pusher");
    assert_ready_ok!(second.poll());
    assert_eq!(q.len(), 1);
    assert_eq!(*q.try_pop().unwrap(), 2);
}

#[test]
fn dropped_push_that_was_never_woken_keeps_the_line() {
    let q = Queue::bounded(1);
    q.try_push(0, 0).unwrap();
    let mut a = task::spawn(q.push(1, 0));
    let mut b = task::spawn(q.push(2, 0));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    drop(a);
    assert_eq!(q.len(), 1);
    assert!(!b.is_woken());
    assert_eq!(q.try_pop(), Ok(0));
    assert!(b.is_woken());
    assert_ready_ok!(b.poll());
    assert_eq!(q.try_pop(), Ok(2));
}

#[test]
fn dropped_reserve_passes_its_wake_up_on() {
    let q = Queue::bounded(1);
    q.try_push(0, 0).unwrap();
    let mut reserve = task::spawn(q.reserve());
    let mut push = task::spawn(q.push(1, 0));
    assert_pending!(reserve.poll());
    assert_pending!(push.poll());

    assert_eq!(q.try_pop(), Ok(0));
    assert!(reserve.is_woken());
    drop(reserve);
    assert!(push.is_woken(), "the dropped reserve's wake-up passes on");
    assert_ready_ok!(push.poll());
    assert_eq!(q.try_pop(), Ok(1));
}

#[test]
fn dropped_reserve_holds_no_slot() {
    let q = Queue::bounded(1);
    q.try_push(0, 0).unwrap();
    let mut r1 = task::spawn(q.reserve());
    let mut r2 = task::spawn(q.reserve());
    assert_pending!(r1.poll());
    assert_pending!(r2.poll());
    assert_eq!(q.try_pop(), Ok(0));
    drop(r1);
    assert!(r2.is_woken());
    drop(r2);
    // Neither dropped reserve kept the slot.
    q.try_push(1, 0).unwrap();
    assert_eq!(q.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn reserve_in_select_keeps_the_item_when_giving_up() {
    let q = Queue::bounded(1);
    q.try_push(String::from("filler"), 0).unwrap();
    let item = String::from("precious");
    let outcome = tokio::select! {
        permit = q.reserve() => Some(permit.unwrap()),
        () = tokio::time::sleep(Duration::from_secs(1)) => None,
    };
    assert!(outcome.is_none(), "the queue stayed full: the timeout wins");
    assert_eq!(item, "precious", "the item never left the caller");
    assert_eq!(q.try_pop().as_deref(), Ok("filler"));
    // The abandoned reserve holds no slot: the only slot is free for a plain push.
    q.try_push(item, 0).unwrap();
    assert_eq!(q.try_pop().as_deref(), Ok("precious"));
}

#[tokio::test(start_paused = true)]
async fn pop_with_timeout_in_select_loses_nothing() {
    let q = Queue::unbounded();
    // A consumer that gives up after a second, repeatedly; items arrive between its tries.
    let consumer = tokio::spawn({
        let q = q.clone();
        async move {
            let mut got = Vec::new();
            let mut timeouts = 0;
            loop {
                match tokio::time::timeout(Duration::from_secs(1), q.pop()).await {
                    Ok(Some(item)) => got.push(item),
                    Ok(None) => return (got, timeouts),
                    Err(_) => timeouts += 1,
                }
            }
        }
    });
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        q.try_push(i, 0).unwrap();
    }
    q.close();
    let (got, timeouts) = consumer.await.unwrap();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert!(timeouts >= 10, "the consumer really gave up in between ({timeouts})");
}

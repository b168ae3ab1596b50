//! `Queue::stream`: items in priority order, ends at close + drain, several streams share the
//! items without duplicates.

use std::collections::HashSet;

use conveyor_queue::Queue;
use futures_util::StreamExt;
use tokio_test::task;
use tokio_test::{assert_pending, assert_ready_eq};

#[tokio::test]
async fn collect_yields_priority_order_and_ends_at_close() {
    let q = Queue::bounded(8);
    for (item, prio) in [("c", 3), ("a", 1), ("b2", 2), ("b", 2), ("z", 100)] {
        q.push(item, prio).await.unwrap();
    }
    q.close();
    let all: Vec<_> = q.stream().collect().await;
    assert_eq!(all, ["a", "b2", "b", "c", "z"]);
    assert!(q.is_empty());
}

#[test]
fn stream_waits_while_open_and_ends_only_when_drained() {
    let q = Queue::unbounded();
    let mut s = task::spawn(q.stream());
    assert_pending!(s.poll_next());
    q.try_push(1, 0).unwrap();
    assert!(s.is_woken());
    assert_ready_eq!(s.poll_next(), Some(1));
    assert_pending!(s.poll_next());
    q.try_push(2, 0).unwrap();
    q.close();
    assert!(s.is_woken());
    assert_ready_eq!(s.poll_next(), Some(2), "close does not cut off queued items");
    assert_ready_eq!(s.poll_next(), None);
    assert_ready_eq!(s.poll_next(), None, "stays ended");
}

#[test]
fn get_ref_is_the_same_queue() {
    let q = Queue::bounded(3);
    let s = q.stream();
    s.get_ref().try_push(5, 0).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(s.get_ref().capacity(), Some(3));
}

#[tokio::test]
async fn stream_outlives_the_handle_it_came_from() {
    let q = Queue::unbounded();
    let s = q.stream();
    q.try_push(1, 0).unwrap();
    q.close();
    drop(q);
    assert_eq!(s.collect::<Vec<_>>().await, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_streams_share_items_without_duplicates() {
    const N: u32 = 2_000;
    let q = Queue::bounded(16);
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let s = q.stream();
            tokio::spawn(s.collect::<Vec<u32>>())
        })
        .collect();
    for i in 0..N {
        q.push(i, (i % 5) as i32).await.unwrap();
    }
    q.close();
    let mut seen = HashSet::new();
    let mut per_stream = Vec::new();
    for c in consumers {
        let items = c.await.unwrap();
        per_stream.push(items.len());
        for item in items {
            assert!(seen.insert(item), "item {item} delivered twice");
        }
    }
    assert_eq!(seen.len(), N as usize, "every item delivered");
    assert_eq!(per_stream.iter().sum::<usize>(), N as usize);
}

#[test]
fn two_waiting_streams_each_get_one_item() {
    let q = Queue::unbounded();
    let mut a = task::spawn(q.stream());
    let mut b = task::spawn(q.stream());
    assert_pending!(a.poll_next());
    assert_pending!(b.poll_next());
    q.try_push('x', 0).unwrap();
    q.try_push('y', 0).unwrap();
    // One wake-up in flight (issue 23): `a` is woken, and wakes `b` for what it leaves.
    assert!(a.is_woken());
    assert_ready_eq!(a.poll_next(), Some('x'));
    assert!(b.is_woken());
    assert_ready_eq!(b.poll_next(), Some('y'));
    assert_pending!(a.poll_next());
    assert_pending!(b.poll_next());
}

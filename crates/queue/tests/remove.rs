//! `remove(key)`: takes a still-queued item out; removing a popped or already removed key is a
//! no-op; counts per priority follow.

use conveyor_queue::Queue;

#[test]
fn remove_takes_a_queued_item_out() {
    let q = Queue::unbounded();
    let a = q.try_push("a", 1).unwrap();
    let b = q.try_push("b", 1).unwrap();
    let c = q.try_push("c", 1).unwrap();
    assert_eq!(q.remove(b), Some("b"));
    assert_eq!(q.len(), 2);
    assert_eq!(q.count(1), 2);
    assert_eq!(q.try_pop(), Ok("a"));
    assert_eq!(q.try_pop(), Ok("c"));
    assert_eq!(q.remove(a), None);
    assert_eq!(q.remove(c), None);
}

#[test]
fn remove_of_a_popped_key_is_a_noop() {
    let q = Queue::unbounded();
    let k = q.try_push(1, 0).unwrap();
    q.try_push(2, 0).unwrap();
    assert_eq!(q.try_pop(), Ok(1));
    assert_eq!(q.remove(k), None);
    assert_eq!(q.len(), 1);
    assert_eq!(q.counts(), [(0, 1)]);
    assert_eq!(q.try_pop(), Ok(2));
}

#[test]
fn double_remove_returns_none_the_second_time() {
    let q = Queue::unbounded();
    let k = q.try_push(String::from("x"), -300).unwrap();
    q.try_push(String::from("y"), -300).unwrap();
    assert_eq!(q.remove(k).as_deref(), Some("x"));
    assert_eq!(q.remove(k), None);
    assert_eq!(q.len(), 1);
    assert_eq!(q.counts(), [(-300, 1)]);
}

#[test]
fn keys_are_never_reused_after_pop() {
    let q = Queue::unbounded();
    let k1 = q.try_push(1, 0).unwrap();
    assert_eq!(q.try_pop(), Ok(1));
    let k2 = q.try_push(2, 0).unwrap();
    assert_ne!(k1, k2);
    assert_eq!(q.remove(k1), None, "an old key must not match a new item");
    assert_eq!(q.remove(k2), Some(2));
}

#[test]
fn key_from_another_queue_matches_nothing_of_a_different_priority() {
    let q = Queue::unbounded();
    let k = q.try_push(1, 5).unwrap();
    let other = Queue::unbounded();
    other.try_push(9, 6).unwrap();
    assert_eq!(other.remove(k), None);
    assert_eq!(other.len(), 1);
}

#[test]
fn remove_head_middle_and_tail_of_a_bucket() {
    for lifo in [false, true] {
        let q = if lifo { Queue::builder().lifo().build() } else { Queue::unbounded() };
        let keys: Vec<_> = (0..6).map(|i| q.try_push(i, 2).unwrap()).collect();
        assert_eq!(q.remove(keys[0]), Some(0));
        assert_eq!(q.remove(keys[5]), Some(5));
        assert_eq!(q.remove(keys[3]), Some(3));
        assert_eq!(q.count(2), 3);
        let rest: Vec<_> = std::iter::from_fn(|| q.try_pop().ok()).collect();
        if lifo {
            assert_eq!(rest, [4, 2, 1]);
        } else {
            assert_eq!(rest, [1, 2, 4]);
        }
    }
}

#[test]
fn removing_every_item_of_a_priority_drops_it_from_counts() {
    let q = Queue::unbounded();
    let a = q.try_push('a', 3).unwrap();
    let b = q.try_push('b', 3).unwrap();
    let s = q.try_push('s', 1_000).unwrap();
    q.try_push('z', -1).unwrap();
    assert_eq!(q.counts(), [(-1, 1), (3, 2), (1_000, 1)]);
    assert_eq!(q.remove(a), Some('a'));
    assert_eq!(q.counts(), [(-1, 1), (3, 1), (1_000, 1)]);
    assert_eq!(q.remove(b), Some('b'));
    assert_eq!(q.remove(s), Some('s'));
    assert_eq!(q.counts(), [(-1, 1)]);
    assert_eq!(q.count(3), 0);
    assert_eq!(q.count(1_000), 0);
    // The emptied priorities accept items again and keep their order.
    q.try_push('c', 3).unwrap();
    q.try_push('t', 1_000).unwrap();
    assert_eq!(q.drain(), ['z', 'c', 't']);
}

#[test]
fn removed_items_in_the_middle_do_not_disturb_order_across_priorities() {
    let q = Queue::unbounded();
    let mut keys = Vec::new();
    for i in 0..30 {
        keys.push(q.try_push(i, i % 3 * 100 - 100).unwrap());
    }
    // Remove every item whose number is a multiple of 4.
    for (i, k) in keys.iter().enumerate() {
        if i % 4 == 0 {
            assert_eq!(q.remove(*k), Some(i as i32));
        }
    }
    let mut expected: Vec<_> = (0..30).filter(|i| i % 4 != 0).collect();
    expected.sort_by_key(|i| i % 3 * 100 - 100);
    assert_eq!(q.drain(), expected);
}

#[test]
fn remove_after_drain_and_after_close() {
    let q = Queue::unbounded();
    let a = q.try_push(1, 0).unwrap();
    let b = q.try_push(2, 0).unwrap();
    assert_eq!(q.drain(), [1, 2]);
    assert_eq!(q.remove(a), None);
    let c = q.try_push(3, 0).unwrap();
    q.close();
    assert_eq!(q.remove(b), None);
    assert_eq!(q.remove(c), Some(3), "a closed queue still gives queued items back");
    assert_eq!(q.try_pop(), Err(conveyor_queue::TryPopError::Closed));
}

#[test]
fn removing_the_last_item_of_a_closed_queue_ends_waiting_consumers() {
    use tokio_test::{assert_pending, assert_ready_eq, task};
    let q = Queue::unbounded();
    let mut pop = task::spawn(q.pop());
    assert_pending!(pop.poll());
    let k = q.try_push(1, 0).unwrap();
    q.close();
    // The consumer was woken for the item, but it is removed before the consumer runs.
    assert_eq!(q.remove(k), Some(1));
    assert!(pop.is_woken());
    assert_ready_eq!(pop.poll(), None);
}

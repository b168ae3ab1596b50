//! Service order: lower priority first, FIFO (or LIFO) among equals, across the dense
//! (-64..=63) and sparse (any other `i32`) priority ranges.

use conveyor_queue::{Queue, TryPopError};

fn drain_by_try_pop<T>(q: &Queue<T>) -> Vec<T> {
    std::iter::from_fn(|| q.try_pop().ok()).collect()
}

#[test]
fn lower_priority_first_fifo_among_equals() {
    let q = Queue::unbounded();
    for (item, prio) in [("a", 2), ("b", 0), ("c", 2), ("d", 1), ("e", 0), ("f", 2)] {
        q.try_push(item, prio).unwrap();
    }
    assert_eq!(drain_by_try_pop(&q), ["b", "e", "d", "a", "c", "f"]);
    assert_eq!(q.try_pop(), Err(TryPopError::Empty));
}

#[test]
fn fifo_among_equals_is_push_order_for_many_items() {
    let q = Queue::bounded(1000);
    for i in 0..1000 {
        q.try_push(i, 7).unwrap();
    }
    assert_eq!(drain_by_try_pop(&q), (0..1000).collect::<Vec<_>>());
}

#[test]
fn lifo_serves_newest_first_among_equals() {
    let q = Queue::builder().lifo().build();
    for (item, prio) in [(1, 1), (2, 1), (3, 0), (4, 1), (5, 0)] {
        q.try_push(item, prio).unwrap();
    }
    assert_eq!(drain_by_try_pop(&q), [5, 3, 4, 2, 1]);
}

#[test]
fn lifo_with_sparse_priorities() {
    let q = Queue::builder().lifo().build();
    for (item, prio) in [(1, 1_000), (2, 1_000), (3, -1_000), (4, -1_000), (5, 0)] {
        q.try_push(item, prio).unwrap();
    }
    assert_eq!(drain_by_try_pop(&q), [4, 3, 5, 2, 1]);
}

#[test]
fn negative_priorities_come_before_zero() {
    let q = Queue::unbounded();
    q.try_push("zero", 0).unwrap();
    q.try_push("minus one", -1).unwrap();
    q.try_push("minus sixty-four", -64).unwrap();
    q.try_push("plus one", 1).unwrap();
    assert_eq!(drain_by_try_pop(&q), ["minus sixty-four", "minus one", "zero", "plus one"]);
}

#[test]
fn huge_priorities_use_the_sparse_path_and_stay_ordered() {
    let q = Queue::unbounded();
    let prios = [i32::MAX, 64, -65, i32::MIN, 1_000_000, -1_000_000, 64, i32::MAX, i32::MIN];
    for (i, p) in prios.iter().enumerate() {
        q.try_push(i, *p).unwrap();
    }
    // Stable sort by priority is exactly "lower first, FIFO among equals".
    let mut expected: Vec<_> = prios.iter().copied().enumerate().collect();
    expected.sort_by_key(|&(_, p)| p);
    let expected: Vec<_> = expected.into_iter().map(|(i, _)| i).collect();
    assert_eq!(drain_by_try_pop(&q), expected);
}

#[test]
fn dense_and_sparse_priorities_interleave_at_the_boundaries() {
    let q = Queue::unbounded();
    // Boundaries of the dense range and their sparse neighbours, pushed in scrambled order.
    let prios = [63, -65, 64, -64, 0, 65, -66, 63, -64, 64, -65];
    for (i, p) in prios.iter().enumerate() {
        q.try_push(i, *p).unwrap();
    }
    let mut expected: Vec<_> = prios.iter().copied().enumerate().collect();
    expected.sort_by_key(|&(_, p)| p);
    let popped: Vec<_> = std::iter::from_fn(|| q.try_pop().ok()).collect();
    assert_eq!(popped, expected.iter().map(|&(i, _)| i).collect::<Vec<_>>());
}

#[test]
fn sparse_bucket_refills_after_it_emptied() {
    let q = Queue::unbounded();
    q.try_push('a', 500).unwrap();
    assert_eq!(q.try_pop(), Ok('a'));
    q.try_push('b', 500).unwrap();
    q.try_push('c', 3).unwrap();
    q.try_push('d', 500).unwrap();
    assert_eq!(drain_by_try_pop(&q), ['c', 'b', 'd']);
}

#[test]
fn interleaved_pushes_and_pops_keep_order() {
    let q = Queue::unbounded();
    q.try_push(10, 5).unwrap();
    q.try_push(11, 5).unwrap();
    assert_eq!(q.try_pop(), Ok(10));
    q.try_push(12, 4).unwrap();
    q.try_push(13, 5).unwrap();
    assert_eq!(q.try_pop(), Ok(12));
    assert_eq!(q.try_pop(), Ok(11));
    assert_eq!(q.try_pop(), Ok(13));
}

#[tokio::test]
async fn async_pop_follows_the_same_order() {
    let q = Queue::bounded(8);
    for (item, prio) in [("c", 3), ("a", -70), ("b", 3), ("z", 70)] {
        q.push(item, prio).await.unwrap();
    }
    assert_eq!(q.pop().await, Some("a"));
    assert_eq!(q.pop().await, Some("c"));
    assert_eq!(q.pop().await, Some("b"));
    assert_eq!(q.pop().await, Some("z"));
}

#[test]
fn drain_returns_best_first_and_empties_the_queue() {
    let q = Queue::builder().lifo().build();
    for (item, prio) in [(1, 2), (2, 2), (3, -100), (4, 100)] {
        q.try_push(item, prio).unwrap();
    }
    assert_eq!(q.drain(), [3, 2, 1, 4]);
    assert!(q.is_empty());
    assert_eq!(q.counts(), []);
}

#[test]
fn key_reports_its_priority() {
    let q = Queue::unbounded();
    assert_eq!(q.try_push((), i32::MIN).unwrap().priority(), i32::MIN);
    assert_eq!(q.try_push((), -3).unwrap().priority(), -3);
}

#[test]
fn counts_cover_dense_and_sparse_best_first() {
    let q = Queue::unbounded();
    for p in [5, 5, -200, 63, 64, 64, -64, 5] {
        q.try_push((), p).unwrap();
    }
    assert_eq!(q.counts(), [(-200, 1), (-64, 1), (5, 3), (63, 1), (64, 2)]);
    assert_eq!(q.count(5), 3);
    assert_eq!(q.count(64), 2);
    assert_eq!(q.count(4), 0);
    assert_eq!(q.count(i32::MAX), 0);
    assert_eq!(q.len(), 8);
}

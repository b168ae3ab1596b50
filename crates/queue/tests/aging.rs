//! Aging on a paused tokio clock: a waiting item gains one priority level per `step`, so a
//! steady stream of urgent items cannot starve it; with aging off, order stays strict.

use std::time::Duration;

use conveyor_queue::Queue;
use tokio::time::advance;

const STEP: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_stream_of_priority_0_items_cannot_starve_a_priority_9_item() {
    let q = Queue::builder().aging(STEP).build();
    q.try_push("old", 9).unwrap();
    // Every step a fresh priority-0 item arrives and one item is served.
    for tick in 0..9 {
        q.try_push("new", 0).unwrap();
        assert_eq!(q.try_pop(), Ok("new"), "tick {tick}: the old item is still behind");
        advance(STEP).await;
    }
    // 9 steps have passed: the old item's effective priority is 9 - 9 = 0, equal to a fresh
    // priority-0 item, and it is older, so it goes first.
    q.try_push("new", 0).unwrap();
    assert_eq!(q.try_pop(), Ok("old"));
    assert_eq!(q.try_pop(), Ok("new"));
}

#[tokio::test(start_paused = true)]
async fn just_before_nine_steps_the_priority_9_item_still_waits() {
    let q = Queue::builder().aging(STEP).build();
    q.try_push("old", 9).unwrap();
    advance(9 * STEP - Duration::from_nanos(1)).await;
    q.try_push("new", 0).unwrap();
    assert_eq!(q.try_pop(), Ok("new"), "effective priority 1 still loses to 0");
    advance(Duration::from_nanos(1)).await;
    q.try_push("newer", 0).unwrap();
    assert_eq!(q.try_pop(), Ok("old"));
}

#[tokio::test(start_paused = true)]
async fn with_aging_off_order_is_strict_forever() {
    let q = Queue::unbounded();
    q.try_push("old", 9).unwrap();
    for tick in 0..100 {
        q.try_push("new", 0).unwrap();
        assert_eq!(q.try_pop(), Ok("new"), "tick {tick}");
        advance(STEP).await;
    }
    assert_eq!(q.try_pop(), Ok("old"), "served only once nothing better is queued");
}

#[tokio::test(start_paused = true)]
async fn aged_item_ties_with_a_better_priority_and_wins_by_age() {
    let q = Queue::builder().aging(STEP).build();
    q.try_push('x', 2).unwrap();
    advance(2 * STEP).await;
    q.try_push('y', 0).unwrap();
    q.try_push('z', 1).unwrap();
    // Effective: x = 0 (older), y = 0, z = 1.
    assert_eq!(q.drain(), ['x', 'y', 'z']);
}

#[tokio::test(start_paused = true)]
async fn without_waiting_aging_keeps_the_plain_order() {
    let q = Queue::builder().aging(STEP).build();
    for (item, prio) in [(1, 3), (2, 1), (3, 3), (4, -2), (5, 1)] {
        q.try_push(item, prio).unwrap();
    }
    assert_eq!(q.drain(), [4, 2, 5, 1, 3]);
}

#[tokio::test(start_paused = true)]
async fn aging_reaches_sparse_priorities() {
    let q = Queue::builder().aging(Duration::from_millis(1)).build();
    q.try_push("far", 1_000).unwrap();
    q.try_push("floor", i32::MIN).unwrap();
    advance(Duration::from_millis(999)).await;
    q.try_push("zero", 0).unwrap();
    assert_eq!(q.try_pop(), Ok("floor"), "i32::MIN ages without overflow and stays first");
    assert_eq!(q.try_pop(), Ok("zero"), "far is at effective priority 1");
    advance(Duration::from_millis(1)).await;
    q.try_push("zero again", 0).unwrap();
    assert_eq!(q.try_pop(), Ok("far"));
}

#[tokio::test(start_paused = true)]
async fn lifo_with_aging_serves_newest_first_among_equally_aged() {
    let q = Queue::builder().lifo().aging(STEP).build();
    q.try_push('a', 0).unwrap();
    q.try_push('b', 0).unwrap();
    // Same instant, same priority: LIFO.
    assert_eq!(q.try_pop(), Ok('b'));
    assert_eq!(q.try_pop(), Ok('a'));
}

#[tokio::test(start_paused = true)]
async fn lifo_with_aging_lets_an_old_item_overtake_newer_ones() {
    let q = Queue::builder().lifo().aging(STEP).build();
    q.try_push('a', 0).unwrap();
    advance(2 * STEP).await;
    q.try_push('b', 0).unwrap();
    q.try_push('c', 0).unwrap();
    // a has aged to -2; b and c are fresh at 0 and among them the newest goes first.
    assert_eq!(q.drain(), ['a', 'c', 'b']);
}

#[tokio::test(start_paused = true)]
async fn lifo_with_aging_across_priorities() {
    let q = Queue::builder().lifo().aging(STEP).build();
    q.try_push('x', 3).unwrap();
    advance(3 * STEP).await;
    q.try_push('y', 0).unwrap();
    q.try_push('z', 1).unwrap();
    // Effective: x = 0, y = 0, z = 1; ties go to the newer item in LIFO mode.
    assert_eq!(q.drain(), ['y', 'x', 'z']);
}

#[tokio::test(start_paused = true)]
async fn aging_with_async_consumers_serves_the_old_item() {
    let q = Queue::builder().capacity(4).aging(STEP).build();
    q.push(u32::MAX, 5).await.unwrap();
    let mut served = Vec::new();
    for i in 0..10u32 {
        q.push(i, 0).await.unwrap();
        served.push(q.pop().await.unwrap());
        advance(STEP).await;
    }
    let at = served.iter().position(|&x| x == u32::MAX).unwrap();
    assert_eq!(at, 5, "served once it has waited 5 steps: {served:?}");
}

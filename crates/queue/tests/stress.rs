//! Stress: several producers and consumers on a 2-thread runtime with a small capacity (so
//! producers keep hitting backpressure), some of them cancelling their `reserve`/`pop` in
//! `tokio::select!` all the time. Every item must be popped exactly once, and everyone must
//! finish once the queue is closed.

use std::time::Duration;

use conveyor_queue::{Queue, TryPushError};
use futures_util::StreamExt;

/// Bounds how long a lost wake-up can hang the test; a passing run never waits for it.
const WATCHDOG: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
struct ConsumerReport {
    items: Vec<u32>,
    cancelled_pops: u64,
}

fn priority_of(item: u32) -> i32 {
    match item % 11 {
        0 => 1_000,  // sparse
        1 => -1_000, // sparse
        n => n as i32 - 5,
    }
}

async fn produce(q: Queue<u32>, id: u32, items: std::ops::Range<u32>) -> u64 {
    let mut cancelled_reserves = 0;
    for item in items {
        let p = priority_of(item);
        match id % 3 {
            0 => {
                q.push(item, p).await.unwrap();
            }
            1 => {
                let mut item = item;
                loop {
                    match q.try_push(item, p) {
                        Ok(_) => break,
                        Err(TryPushError::Full(back)) => {
                            item = back;
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("queue closed under a producer: {e}"),
                    }
                }
            }
            _ => loop {
                // Give up waiting for room on every other scheduler tick, keep the item.
                tokio::select! {
                    permit = q.reserve() => {
                        permit.unwrap().push(item, p);
                        break;
                    }
                    () = tokio::task::yield_now() => cancelled_reserves += 1,
                }
            },
        }
    }
    cancelled_reserves
}

async fn consume(q: Queue<u32>, id: u32) -> ConsumerReport {
    let mut report = ConsumerReport::default();
    match id % 3 {
        0 => {
            while let Some(item) = q.pop().await {
                report.items.push(item);
            }
        }
        1 => loop {
            // A consumer whose pop loses to a cancellation branch most of the time it has to
            // wait: the dropped pop may hold a wake-up that must pass on.
            tokio::select! {
                item = q.pop() => match item {
                    Some(item) => report.items.push(item),
                    None => break,
                },
                () = tokio::task::yield_now() => report.cancelled_pops += 1,
            }
        },
        _ => {
            let mut stream = q.stream();
            while let Some(item) = stream.next().await {
                report.items.push(item);
            }
        }
    }
    report
}

async fn run(producers: u32, consumers: u32, per_producer: u32, capacity: usize) {
    let q = Queue::bounded(capacity);
    let consumer_tasks: Vec<_> = (0..consumers).map(|id| tokio::spawn(consume(q.clone(), id))).collect();
    let producer_tasks: Vec<_> = (0..producers)
        .map(|id| {
            let range = id * per_producer..(id + 1) * per_producer;
            tokio::spawn(produce(q.clone(), id, range))
        })
        .collect();

    let total = (producers * per_producer) as usize;
    let work = async {
        let mut cancelled_reserves = 0;
        for p in producer_tasks {
            cancelled_reserves += p.await.unwrap();
        }
        assert!(q.close());
        let mut seen = vec![false; total];
        let mut cancelled_pops = 0;
        for c in consumer_tasks {
            let report = c.await.unwrap();
            cancelled_pops += report.cancelled_pops;
            for item in report.items {
                let slot = &mut seen[item as usize];
                assert!(!*slot, "item {item} popped twice");
                *slot = true;
            }
        }
        let missing: Vec<_> = (0..total).filter(|&i| !seen[i]).take(10).collect();
        assert!(missing.is_empty(), "items never popped (first 10): {missing:?}");
        (cancelled_reserves, cancelled_pops)
    };
    let (cancelled_reserves, cancelled_pops) =
        tokio::time::timeout(WATCHDOG, work).await.expect("stress run hung: a wake-up was lost");
    assert!(q.is_empty());
    assert_eq!(q.try_pop(), Err(conveyor_queue::TryPopError::Closed));
    // The cancellation paths were really exercised.
    assert!(cancelled_reserves > 0, "no reserve was ever cancelled");
    assert!(cancelled_pops > 0, "no pop was ever cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_producers_and_consumers_small_capacity() {
    run(6, 6, 8_000, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_one_maximum_contention() {
    run(4, 4, 2_500, 1).await;
}

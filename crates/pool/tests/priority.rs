//! Priority order: a worker takes the lowest priority value first, and jobs of equal priority
//! in submit order (FIFO).

mod support;

use conveyor_pool::{Job, Pool};
use proptest::prelude::*;
use support::{Gate, Io, Log, Signal, signal_then_wait, within};

/// Blocks the only worker, submits jobs with `priorities`, releases the worker, and returns
/// the indices of the jobs in the order they started.
fn start_order(priorities: &[i32]) -> Vec<usize> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    rt.block_on(async {
        let pool = Pool::builder().workers(1).build();
        let (started, gate) = (Signal::new(), Gate::new());
        let blocker = pool.submit(signal_then_wait(&started, &gate)).await.unwrap();
        started.recv().await;

        let order = Log::new();
        let mut handles = Vec::new();
        for (i, &p) in priorities.iter().enumerate() {
            let order = order.clone();
            let job = Job::new(move |_| {
                let order = order.clone();
                async move {
                    order.push(i);
                    Io::Ok(())
                }
            })
            .priority(p);
            handles.push(pool.submit(job).await.unwrap());
        }
        assert!(order.get().is_empty(), "nothing starts while the only worker is busy");
        gate.open();
        within(blocker).await.unwrap();
        for h in handles {
            within(h).await.unwrap();
        }
        order.get()
    })
}

/// Ascending priority, submit order among equals.
fn expected(priorities: &[i32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..priorities.len()).collect();
    idx.sort_by_key(|&i| (priorities[i], i)); // stable and explicit about ties
    idx
}

#[test]
fn lowest_priority_value_starts_first_and_ties_are_fifo() {
    let priorities = [3, -1, 0, 3, 7, -1, 0, 0, 2, -5];
    assert_eq!(start_order(&priorities), vec![9, 1, 5, 2, 6, 7, 8, 0, 3, 4]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn start_order_is_ascending_priority_then_fifo(priorities in prop::collection::vec(-3i32..3, 10)) {
        prop_assert_eq!(start_order(&priorities), expected(&priorities));
    }
}

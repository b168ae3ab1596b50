//! Batches (issue 23): a worker whose last job completed in its first poll takes several
//! queued jobs at once; a job of the batch that waits gives the rest back to the queue, so
//! that other workers run them meanwhile and priority order holds across workers.

mod support;

use conveyor_pool::{Job, JobStatus, Pool};
use support::{Gate, Io, Log, Signal, settle, signal_then_wait, within};

fn quick(log: &Log<usize>, i: usize) -> Job<impl conveyor_pool::Run<()>> {
    let log = log.clone();
    Job::new(move |_| {
        let log = log.clone();
        async move {
            log.push(i);
            Io::Ok(())
        }
    })
}

/// One worker takes the first job alone, then (its last job quick) the next eight at once:
/// three quick jobs, a job that waits at a gate, three quick jobs. Kept in the waiting
/// worker's batch, the last three would wait for the gate too, and `within` would fail the
/// test; given back, the other worker runs them.
#[tokio::test(start_paused = true)]
async fn a_job_that_waits_gives_the_rest_of_its_batch_to_other_workers() {
    let pool = Pool::builder().workers(2).build();
    let log = Log::new();
    let mut first = Vec::new();
    for i in 0..4 {
        first.push(pool.submit(quick(&log, i)).await.unwrap());
    }
    let (started, gate) = (Signal::new(), Gate::new());
    let blocked = pool.submit(signal_then_wait(&started, &gate)).await.unwrap();
    let mut rest = Vec::new();
    for i in 10..13 {
        rest.push(pool.submit(quick(&log, i)).await.unwrap());
    }
    started.recv().await;
    for h in first.into_iter().chain(rest) {
        within(h).await.unwrap();
    }
    assert_eq!(blocked.status(), JobStatus::Running, "the quick jobs did not wait for it");
    gate.open();
    within(blocked).await.unwrap();
    let mut seen = log.get();
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3, 10, 11, 12], "every job ran exactly once");
}

/// A job of a batch pauses the pool: the worker puts the rest of its batch back in the queue
/// (nothing more starts, and the jobs show as queued) until `resume`, then they run in
/// priority order.
#[tokio::test(start_paused = true)]
async fn pause_gives_a_batch_back_and_resume_runs_it_in_order() {
    let pool = Pool::builder().workers(1).build();
    let log = Log::new();
    let mut handles = vec![pool.submit(quick(&log, 0)).await.unwrap()];
    let pauser = {
        let (log, pool) = (log.clone(), pool.clone());
        Job::new(move |_| {
            let (log, pool) = (log.clone(), pool.clone());
            async move {
                log.push(1);
                pool.pause();
                Io::Ok(())
            }
        })
    };
    handles.push(pool.submit(pauser.priority(1)).await.unwrap());
    for (i, prio) in [(2, 3), (3, 2)] {
        handles.push(pool.submit(quick(&log, i).priority(prio)).await.unwrap());
    }
    settle().await;
    assert_eq!(log.get(), [0, 1], "paused by job 1: nothing more started");
    assert_eq!(pool.queued(), 2, "the rest of the batch is back in the queue");
    pool.resume();
    for h in handles {
        within(h).await.unwrap();
    }
    assert_eq!(log.get(), [0, 1, 3, 2], "priority order after resume");
}

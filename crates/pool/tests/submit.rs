//! Submitting jobs: `submit` and `try_submit` return results, hand a refused job back, refuse
//! after shutdown, and `submit` waits (without busy-polling) while the queue is full.

mod support;

use conveyor_pool::{Job, JobStatus, Pool};
use support::{Gate, Io, Signal, within};
use tokio_test::{assert_pending, assert_ready};

fn value(n: u64) -> Job<impl conveyor_pool::Run<u64>> {
    Job::new(move |_| async move { Io::Ok(n * 10) })
}

/// A job that signals it started, then waits at `gate`.
fn blocker(started: &Signal, gate: &Gate) -> Job<impl conveyor_pool::Run<&'static str>> {
    let (started, gate) = (started.clone(), gate.clone());
    Job::new(move |_| {
        let (started, gate) = (started.clone(), gate.clone());
        async move {
            started.send();
            gate.wait().await;
            Io::Ok("released")
        }
    })
}

#[tokio::test(start_paused = true)]
async fn submitted_jobs_return_their_results_in_submit_order() {
    let pool = Pool::builder().workers(3).build();
    let mut handles = Vec::new();
    for n in 0..20 {
        handles.push(pool.submit(value(n)).await.unwrap());
    }
    for (n, h) in (0..20).zip(handles) {
        assert_eq!(within(h).await.unwrap(), n * 10);
    }
    let h = pool.try_submit(value(7)).unwrap();
    assert_eq!(within(h).await.unwrap(), 70);
}

#[tokio::test(start_paused = true)]
async fn a_job_sees_its_own_id_name_and_attempt() {
    let pool = Pool::builder().build();
    let job = Job::new(|ctx| async move { Io::Ok((ctx.id(), ctx.name().map(String::from), ctx.attempt())) })
        .name("report");
    let h = pool.submit(job).await.unwrap();
    let id = h.id();
    assert_eq!(within(h).await.unwrap(), (id, Some("report".to_owned()), 1));
}

// Pools without events take a faster submit path; both must behave the same.
#[tokio::test(start_paused = true)]
async fn try_submit_on_a_full_queue_hands_the_very_job_back() {
    try_submit_full(Pool::builder().workers(1).capacity(2).build()).await;
}

#[tokio::test(start_paused = true)]
async fn try_submit_on_a_full_queue_hands_the_very_job_back_without_events() {
    try_submit_full(Pool::builder().workers(1).capacity(2).event_buffer(0).metrics(false).build()).await;
}

async fn try_submit_full(pool: Pool) {
    let (started, gate) = (Signal::new(), Gate::new());
    let running = pool.submit(blocker(&started, &gate)).await.unwrap();
    started.recv().await; // the worker holds it: the queue is empty again
    let q1 = pool.try_submit(value(1)).unwrap();
    let q2 = pool.try_submit(value(2)).unwrap();
    assert_eq!(pool.queued(), 2);

    let refused = pool.try_submit(value(4).name("the refused one")).unwrap_err();
    assert!(refused.is_full());
    assert!(!refused.is_shutdown());
    assert_eq!(refused.to_string(), "pool queue full");
    assert!(format!("{refused:?}").contains("Full"));
    assert_eq!(pool.queued(), 2, "a refused job takes no slot");

    // The job handed back is the very job: its body and its options.
    let job = refused.into_inner();
    assert!(format!("{job:?}").contains("the refused one"));
    let elsewhere = Pool::builder().workers(1).build();
    let h = elsewhere.submit(job).await.unwrap();
    assert_eq!(within(h).await.unwrap(), 40);

    gate.open();
    assert_eq!(within(running).await.unwrap(), "released");
    assert_eq!(within(q1).await.unwrap(), 10);
    assert_eq!(within(q2).await.unwrap(), 20);
}

#[tokio::test(start_paused = true)]
async fn submit_and_try_submit_after_shutdown_are_refused_with_the_job() {
    let pool = Pool::builder().build();
    let report = pool.shutdown(std::time::Duration::from_secs(1)).await;
    assert_eq!(report.total(), 0);
    assert!(!pool.is_accepting());

    let err = pool.submit(value(3)).await.unwrap_err();
    assert!(err.is_shutdown());
    assert!(!err.is_full());
    assert_eq!(err.to_string(), "pool shut down");
    let err = pool.try_submit(err.into_inner()).unwrap_err();
    assert!(err.is_shutdown());

    // A clone shares the state.
    let clone = pool.clone();
    assert!(clone.submit(value(3)).await.unwrap_err().is_shutdown());

    let other = Pool::builder().build();
    assert_eq!(within(other.submit(err.into_inner()).await.unwrap()).await.unwrap(), 30);
}

#[tokio::test(start_paused = true)]
async fn submit_waits_while_the_queue_is_full_and_wakes_when_a_job_leaves_it() {
    submit_waits(Pool::builder().workers(1).capacity(1).build()).await;
}

#[tokio::test(start_paused = true)]
async fn submit_waits_while_the_queue_is_full_without_events() {
    submit_waits(Pool::builder().workers(1).capacity(1).event_buffer(0).metrics(false).build()).await;
}

async fn submit_waits(pool: Pool) {
    let (started, gate) = (Signal::new(), Gate::new());
    let running = pool.submit(blocker(&started, &gate)).await.unwrap();
    started.recv().await;
    let queued = pool.submit(value(1)).await.unwrap(); // fills the only slot

    let mut waiting = tokio_test::task::spawn(pool.submit(value(2)));
    assert_pending!(waiting.poll());
    support::settle().await;
    assert!(!waiting.is_woken(), "nothing left the queue yet");
    assert_pending!(waiting.poll());
    assert_eq!(queued.status(), JobStatus::Queued);

    // The worker finishes the blocker and takes the queued job: a slot frees up.
    gate.open();
    assert_eq!(within(running).await.unwrap(), "released");
    assert_eq!(within(queued).await.unwrap(), 10);
    assert!(waiting.is_woken(), "a freed slot wakes the waiting submit");
    let h = assert_ready!(waiting.poll()).unwrap();
    drop(waiting);
    assert_eq!(within(h).await.unwrap(), 20);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiting_submit_submits_nothing() {
    let pool = Pool::builder().workers(1).capacity(1).build();
    let (started, gate) = (Signal::new(), Gate::new());
    let ran = support::Log::new();
    let running = pool.submit(blocker(&started, &gate)).await.unwrap();
    started.recv().await;
    let queued = pool.submit(value(1)).await.unwrap();

    let log = ran.clone();
    let job = Job::new(move |_| {
        let log = log.clone();
        async move {
            log.push("dropped submit ran");
            Io::Ok(())
        }
    });
    let mut waiting = tokio_test::task::spawn(pool.submit(job));
    assert_pending!(waiting.poll());
    drop(waiting);

    gate.open();
    within(running).await.unwrap();
    within(queued).await.unwrap();
    within(pool.join()).await;
    assert_eq!(pool.unresolved(), 0);
    assert!(ran.get().is_empty());
    // The slot it waited for is free: the queue takes a job at once.
    within(pool.try_submit(value(5)).unwrap()).await.unwrap();
}

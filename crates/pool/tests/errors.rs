//! `JobError`: each variant comes from the situation it names, `Failed` keeps the job's own
//! error as its `source`, panics keep their message and never kill a worker, and every
//! variant reads well.

mod support;

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use conveyor_pool::{Job, JobError, Outcome, Pool};
use support::{Gate, Io, Signal, signal_then_wait, within};

#[derive(Debug, PartialEq)]
struct DiskFull {
    free: u64,
}

impl fmt::Display for DiskFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "disk full: {} bytes free", self.free)
    }
}

impl std::error::Error for DiskFull {}

#[tokio::test(start_paused = true)]
async fn failed_keeps_the_jobs_own_error_as_its_source() {
    let pool = Pool::builder().workers(1).build();
    let h = pool.submit(Job::new(|_| async { Err::<(), _>(DiskFull { free: 12 }) })).await.unwrap();
    let err = within(h).await.unwrap_err();
    assert!(matches!(err, JobError::Failed(_)));
    assert_eq!(err.outcome(), Outcome::Failed);
    assert!(!err.is_cancelled());
    assert_eq!(err.to_string(), "job failed", "Display does not repeat the cause");
    let source = err.source().expect("Failed has a source");
    assert_eq!(source.downcast_ref::<DiskFull>(), Some(&DiskFull { free: 12 }));
    assert_eq!(source.to_string(), "disk full: 12 bytes free");
    let JobError::Failed(inner) = err else { unreachable!() };
    assert!(inner.downcast_ref::<DiskFull>().is_some());
}

#[tokio::test(start_paused = true)]
async fn panics_become_panicked_with_their_message() {
    let pool = Pool::builder().workers(1).build();
    let literal = pool.submit(Job::new(|_| async { panic!("static boom") as Io<()> })).await.unwrap();
    let n = 42;
    let formatted =
        pool.submit(Job::new(move |_| async move { panic!("boom number {n}") as Io<()> })).await.unwrap();
    let owned = pool
        .submit(Job::new(|_| async { std::panic::panic_any(String::from("owned boom")) as Io<()> }))
        .await
        .unwrap();
    let other = pool.submit(Job::new(|_| async { std::panic::panic_any(7_u32) as Io<()> })).await.unwrap();
    // The closure panics before it even returns a future.
    let early = pool
        .submit(Job::new(|ctx| {
            if ctx.attempt() > 0 {
                panic!("before the future");
            }
            async { Io::Ok(()) }
        }))
        .await
        .unwrap();

    let message = |e: JobError| match e {
        JobError::Panicked(m) => m,
        other => panic!("expected Panicked, got {other:?}"),
    };
    assert_eq!(message(within(literal).await.unwrap_err()), "static boom");
    assert_eq!(message(within(formatted).await.unwrap_err()), "boom number 42");
    assert_eq!(message(within(owned).await.unwrap_err()), "owned boom");
    assert_eq!(message(within(other).await.unwrap_err()), "non-string panic payload");
    let err = within(early).await.unwrap_err();
    assert_eq!(err.to_string(), "job panicked: before the future");
    assert_eq!(err.outcome(), Outcome::Panicked);
    assert!(err.source().is_none());
}

#[tokio::test(start_paused = true)]
async fn the_only_worker_survives_a_panic() {
    let pool = Pool::builder().workers(1).build();
    for round in 0..3 {
        let boom = pool.submit(Job::new(|_| async { panic!("boom") as Io<()> })).await.unwrap();
        let after = pool.submit(Job::new(move |_| async move { Io::Ok(round) })).await.unwrap();
        assert!(matches!(within(boom).await, Err(JobError::Panicked(_))));
        assert_eq!(within(after).await.unwrap(), round);
    }
}

#[tokio::test(start_paused = true)]
async fn timed_out_cancelled_and_shutdown_come_from_their_situations() {
    let pool = Pool::builder().workers(1).grace(Duration::ZERO).build();
    let (started, gate) = (Signal::new(), Gate::new());
    let (s, g) = (started.clone(), gate.clone());
    let slow = pool
        .submit(
            Job::new(|_| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Io::Ok(())
            })
            .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let err = within(slow).await.unwrap_err();
    assert!(matches!(err, JobError::TimedOut));
    assert_eq!(err.outcome(), Outcome::TimedOut);
    assert_eq!(err.to_string(), "job timed out");

    let running = pool
        .submit(Job::new(move |_| {
            let (s, g) = (s.clone(), g.clone());
            async move {
                s.send();
                g.wait().await;
                Io::Ok(())
            }
        }))
        .await
        .unwrap();
    started.recv().await;
    let queued = pool.submit(Job::new(|_| async { Io::Ok(()) })).await.unwrap();
    running.cancel();
    let err = within(running).await.unwrap_err();
    assert!(matches!(err, JobError::Cancelled));
    assert!(err.is_cancelled());
    assert_eq!(err.outcome(), Outcome::Cancelled);
    assert_eq!(err.to_string(), "job cancelled");

    // `queued` may have started by now; block the worker again so one job stays queued.
    within(queued).await.unwrap();
    let (started, g2) = (Signal::new(), Gate::new());
    let _busy = pool.submit(signal_then_wait(&started, &g2)).await.unwrap();
    started.recv().await;
    let never = pool.submit(Job::new(|_| async { Io::Ok(()) })).await.unwrap();
    pool.shutdown_now().await;
    let err = within(never).await.unwrap_err();
    assert!(matches!(err, JobError::Shutdown));
    assert!(err.is_cancelled());
    assert_eq!(err.outcome(), Outcome::Cancelled);
    assert_eq!(err.to_string(), "job never ran: the pool shut down");
    gate.open();
}

#[test]
fn outcomes_have_their_label_names() {
    let names: Vec<_> = Outcome::ALL.iter().map(|o| o.to_string()).collect();
    assert_eq!(names, ["succeeded", "failed", "panicked", "timed_out", "cancelled"]);
    assert_eq!(JobError::Panicked("x".into()).to_string(), "job panicked: x");
}

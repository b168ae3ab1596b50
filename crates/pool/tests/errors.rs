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

/// Issue 21: `JobError`'s `Display` said only "job failed"; the job's own message now is
/// part of it, and the job's error stays reachable for downcasting (`get_ref`, the field).
/// (Before issue 21 the job's error was `source()` and `Display` was "job failed".)
#[tokio::test(start_paused = true)]
async fn failed_keeps_the_jobs_own_error_and_shows_its_message() {
    let pool = Pool::builder().workers(1).build();
    let h = pool.submit(Job::new(|_| async { Err::<(), _>(DiskFull { free: 12 }) })).await.unwrap();
    let err = within(h).await.unwrap_err();
    assert!(matches!(err, JobError::Failed(_)));
    assert_eq!(err.outcome(), Outcome::Failed);
    assert!(!err.is_cancelled());
    assert_eq!(err.to_string(), "job failed: disk full: 12 bytes free");
    let inner = err.get_ref().expect("Failed has the job's error");
    assert_eq!(inner.downcast_ref::<DiskFull>(), Some(&DiskFull { free: 12 }));
    assert!(err.source().is_none(), "the message is in Display; DiskFull has no cause of its own");
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

/// An error with a cause of its own, as a job's error: `failed to save report` caused by an
/// I/O error.
#[derive(Debug)]
struct SaveFailed(std::io::Error);

impl fmt::Display for SaveFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed to save report")
    }
}

impl std::error::Error for SaveFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Issue 21: `println!("{e}")` of a failed job printed `job failed`, without "disk on
/// fire"; the job's message needed `{:?}` or `source()`.
#[tokio::test(start_paused = true)]
async fn printing_a_failed_job_shows_the_jobs_own_message() {
    let pool = Pool::builder().workers(1).build();
    let h = pool.submit(Job::new(|_| async { Err::<(), _>("disk on fire") })).await.unwrap();
    let err = within(h).await.unwrap_err();
    assert_eq!(format!("{err}"), "job failed: disk on fire");
}

/// Issue 21: with the message in `Display`, a `source()` that returned the same error would
/// print it twice under anyhow's `{:#}` (`job failed: disk on fire: disk on fire`). Each
/// message appears once, and a deeper cause of the job's error still follows.
#[tokio::test(start_paused = true)]
async fn anyhow_alternate_prints_the_jobs_message_once_and_keeps_deeper_causes() {
    let pool = Pool::builder().workers(1).build();
    let plain = pool.submit(Job::new(|_| async { Err::<(), _>("disk on fire") })).await.unwrap();
    let chained = pool
        .submit(Job::new(|_| async {
            Err::<(), _>(SaveFailed(std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left")))
        }))
        .await
        .unwrap();

    let plain = anyhow::Error::from(within(plain).await.unwrap_err());
    assert_eq!(format!("{plain:#}"), "job failed: disk on fire");
    assert_eq!(format!("{plain}"), "job failed: disk on fire");

    let chained = anyhow::Error::from(within(chained).await.unwrap_err());
    assert_eq!(format!("{chained:#}"), "job failed: failed to save report: no space left");
    let io =
        chained.chain().find_map(|e| e.downcast_ref::<std::io::Error>()).expect("the cause is in the chain");
    assert_eq!(io.kind(), std::io::ErrorKind::StorageFull);
    // The `{:?}` report lists the cause once too.
    let debug = format!("{chained:?}");
    assert_eq!(debug.matches("no space left").count(), 1, "{debug}");
    assert_eq!(debug.matches("failed to save report").count(), 1, "{debug}");
}

/// Issue 21: every variant's `Display` says what happened with what it knows: a panic its
/// message, a failure the job's message.
#[test]
fn every_variant_prints_its_own_message() {
    let failed = JobError::Failed(Box::new(DiskFull { free: 0 }));
    assert_eq!(failed.to_string(), "job failed: disk full: 0 bytes free");
    assert_eq!(
        JobError::Panicked("index out of bounds".into()).to_string(),
        "job panicked: index out of bounds"
    );
    assert_eq!(JobError::TimedOut.to_string(), "job timed out");
    assert_eq!(JobError::Cancelled.to_string(), "job cancelled");
    assert_eq!(JobError::Shutdown.to_string(), "job never ran: the pool shut down");
    assert_eq!(failed.into_inner().map(|e| e.to_string()).as_deref(), Some("disk full: 0 bytes free"));
    assert!(JobError::TimedOut.into_inner().is_none());
}

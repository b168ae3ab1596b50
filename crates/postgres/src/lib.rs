//! A PostgreSQL job queue shared by many `conveyor worker` processes, on any machines.
//!
//! The queue is a handful of tables that this crate creates and migrates itself
//! ([`Queue::connect`] runs the embedded, versioned migrations; running them again is a
//! no-op). Jobs go in with a [`Submission`] (one transaction: all or nothing, one `NOTIFY`);
//! workers [`claim`](Queue::claim) batches of runnable jobs (`FOR UPDATE SKIP LOCKED`,
//! priority then FIFO, not before `run_at`, per-key concurrency and rate limits), keep them
//! with [`heartbeat`](Queue::heartbeat)s and [`complete`](Queue::complete) them in batches.
//! The crate knows nothing of job kinds: a job's `spec` is opaque JSON.
//!
//! ```no_run
//! use std::time::Duration;
//! use conveyor_postgres::{Completion, NewJob, Queue};
//!
//! # async fn demo() -> Result<(), conveyor_postgres::Error> {
//! let queue = Queue::connect("postgres://postgres@127.0.0.1/conveyor", 4).await?;
//! let mut submission = queue.submission().await?;
//! submission.add(NewJob::new("a", "noop", serde_json::json!({"kind": "noop"}))).await?;
//! let ids = submission.commit().await?;
//! assert_eq!(ids, ["a"]);
//!
//! let claimed = queue.claim("worker-1", 10, Duration::from_secs(30)).await?;
//! let done: Vec<Completion> = claimed.iter().map(|job| Completion::succeeded(job.lease())).collect();
//! let written = queue.complete(&done).await?;
//! assert_eq!(written.len(), claimed.len());
//! # Ok(())
//! # }
//! ```
//!
//! # Leases and fencing
//!
//! Every claim is an attempt with a **lease token** of its own (a number from a sequence,
//! never reused) and a lease expiry. Every write an attempt makes afterwards — heartbeat,
//! completion, release — names its token and changes the row only while the token is still
//! the job's: a worker whose lease was lost (its job rescued, then perhaps claimed and
//! finished by another worker) changes 0 rows, learns so from the result, and must stop the
//! job locally. A job therefore gets exactly one final state, written once, whatever happens
//! to the workers. [`Queue::rescue`] (run by every worker every few seconds) re-queues jobs
//! whose lease expired: their attempt is counted (`attempts`, and `lost`) and ends in
//! `conveyor_attempts` as `lost`. Time alone never lets two attempts write: the rescue
//! changes the token, and only the new token's holder can finish the job.
//!
//! # Concurrency and rate keys across workers
//!
//! Jobs whose `concurrency_key` or `rate_key` has a limit (a `limits` entry of their job
//! file, kept in `conveyor_limits`) are *limited*. Claims of limited jobs are serialised by
//! a transaction-level advisory lock; under it the claimer counts the running jobs of each
//! job's concurrency key (for concurrency limits) and the attempts started within the
//! period against its rate key — the `rate_key`, or the `concurrency_key` without one (for
//! rate limits, a sliding window) — and takes a job only within the free slots of both. Claims of other jobs
//! never take that lock. Limited and unlimited jobs are ordered together (priority, then
//! FIFO) within one claim.
//!
//! # Cancel safety
//!
//! Every method is one statement or one transaction: dropping its future mid-await rolls
//! the transaction back (or lets the single statement finish or fail on the server), so
//! nothing is half-written; a dropped [`claim`](Queue::claim) may leave claimed jobs that
//! nobody runs, which the rescuer re-queues when their lease expires.

#![warn(clippy::unwrap_used, clippy::expect_used)]
#![forbid(unsafe_code)]

mod browse;
pub mod error;
mod insert;
mod lease;
mod ledger;
mod queue;
mod state;
mod status;
mod submit;
pub mod worker;

pub use browse::{Cancelled, JobsPage, JobsQuery, Listed, Retried};
pub use error::Error;
pub use insert::{JobArgs, insert, insert_many};
pub use lease::{ClaimFilter, Claimed, Completion, Lease, RescueReport};
pub use ledger::FinishedJob;
pub use queue::{CHANNEL, Queue, Waker};
pub use state::FinalState;
pub use status::{QueueAges, Status};
pub use submit::{KeyLimit, NewJob, Submission};
pub use worker::{Context, Done, Failure, Handler, JobInfo, Retry, RunningWorker, Worker, WorkerBuilder};

/// The queue a job waits in unless it names another.
pub const DEFAULT_QUEUE: &str = "default";

//! A worker pool for tokio programs: submit async or blocking jobs with a priority, a
//! timeout and a retry policy; await a [`JobHandle`] for the result or cancel it; wait for
//! the pool to go idle; shut it down gracefully. It is the Rust form of the asyncio worker
//! pool (a `PriorityQueue` feeding worker tasks, `task.cancel()` with cleanup, `wait_for`
//! timeouts, `queue.join()`, retry with a delay), fed by the `conveyor-queue` crate.
//!
//! ```
//! use std::time::Duration;
//! use conveyor_pool::{Job, JobError, Pool, RetryPolicy};
//!
//! #[tokio::main(flavor = "current_thread", start_paused = true)]
//! async fn main() {
//!     let pool = Pool::builder().workers(2).build();
//!
//!     // An async job with a priority, a timeout and a retry policy.
//!     let fetch = pool
//!         .submit(
//!             Job::new(|ctx| async move {
//!                 if ctx.attempt() < 3 {
//!                     return Err("flaky upstream");
//!                 }
//!                 Ok(format!("fetched on attempt {}", ctx.attempt()))
//!             })
//!             .priority(1)
//!             .timeout(Duration::from_secs(5))
//!             .retry(RetryPolicy::exponential(5, Duration::from_millis(100))),
//!         )
//!         .await
//!         .unwrap();
//!
//!     // A blocking job runs on tokio's blocking threads; this one cannot fail.
//!     let sum = pool.submit(Job::blocking_infallible(|_| (1..=100u64).sum::<u64>())).await.unwrap();
//!
//!     // A run-once job moves what it captured into its future (no clone), and is never retried.
//!     let rows = vec!["a".to_owned(), "b".to_owned()];
//!     let joined = pool.submit(Job::once_infallible(move |_| async move { rows.join(",") })).await.unwrap();
//!
//!     // A job that is cancelled cleans up first.
//!     let long = pool
//!         .submit(Job::new(|ctx| async move {
//!             ctx.cancelled().await; // runs cleanup here
//!             Ok::<_, std::io::Error>(())
//!         }))
//!         .await
//!         .unwrap();
//!     long.cancel();
//!
//!     assert_eq!(fetch.await.unwrap(), "fetched on attempt 3");
//!     assert_eq!(sum.await.unwrap(), 5050);
//!     assert_eq!(joined.await.unwrap(), "a,b");
//!     assert!(matches!(long.await, Err(JobError::Cancelled)));
//!     let report = pool.shutdown(Duration::from_secs(10)).await;
//!     assert_eq!(report.total(), 0); // nothing was left
//! }
//! ```
//!
//! # Which constructor
//!
//! | the body | returns `Result<T, E>` | returns its value `T` |
//! |---|---|---|
//! | async, called per attempt (`Fn`) | [`Job::new`] | [`Job::infallible`] |
//! | blocking, called per attempt (`Fn`) | [`Job::blocking`] | [`Job::blocking_infallible`] |
//! | async, called once (`FnOnce`) | [`Job::once`] | [`Job::once_infallible`] |
//!
//! Use [`Job::new`] (or [`Job::blocking`]) for a job that can fail or should be retried: its
//! body is called once per attempt, so it must be an `Fn`, and clones inside the closure
//! what an attempt consumes. A body that cannot fail takes an `_infallible` form and needs no
//! `Ok::<_, E>(…)` placeholder; a body that moves its captures into its future takes
//! [`Job::once`], which has exactly one attempt (a retry policy does not apply to it).
//!
//! ```
//! use conveyor_pool::{Job, Pool};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let pool = Pool::builder().build();
//! let answer = pool.submit(Job::infallible(|_ctx| async { 42 })).await.unwrap();
//! let report = String::from("weekly report");
//! let sent = pool.submit(Job::once(move |_ctx| async move {
//!     if report.is_empty() {
//!         return Err("nothing to send");
//!     }
//!     Ok(report) // moved, not cloned
//! }))
//! .await
//! .unwrap();
//! assert_eq!(answer.await.unwrap(), 42);
//! assert_eq!(sent.await.unwrap(), "weekly report");
//! # }
//! ```
//!
//! # Errors
//!
//! A failed job's [`JobError`] prints the job's own message (`job failed: disk on fire`,
//! `job panicked: …`), and so does a group's [`FailFast`]; `source()` continues with the
//! causes that message did not show, so anyhow's `{:#}` prints each once.
//!
//! # Guarantees
//!
//! - **Exactly one outcome**: every submitted job resolves exactly once — to its value, or a
//!   [`JobError`] — and its handle, the [`on_finish`](PoolBuilder::on_finish) hook, the
//!   `Finished` event and the metrics all report that one outcome.
//! - **Nothing holds a worker while waiting**: a job waiting for its retry delay is off the
//!   workers; blocking jobs run on tokio's blocking threads.
//! - **Panics stay in the job**: a panicking job resolves to [`JobError::Panicked`]; the
//!   worker goes on.
//!
//! # Cancel safety
//!
//! | method | if dropped before completion |
//! |---|---|
//! | [`Pool::submit`] | the job was not submitted; it drops with the future |
//! | awaiting a [`JobHandle`] | nothing is lost; await the handle again |
//! | [`Pool::join`], [`JobContext::cancelled`] | nothing is lost |
//! | [`JobHandle::started`], [`CancelHandle::started`] | nothing is lost; call it again |
//! | [`Pool::shutdown`], [`Pool::shutdown_now`] | the pool stays closed to new jobs; the work finishes in the background |
//!
//! Dropping a [`JobHandle`] detaches the job (it runs on), like tokio's `JoinHandle`.
//!
//! # Metrics
//!
//! See [`metrics`](mod@metrics) for the names; the pool emits them through the `metrics`
//! facade and installs no exporter.

#![warn(clippy::unwrap_used, clippy::expect_used)]
#![forbid(unsafe_code)]
// `SubmitError<Job<R>>` hands the refused job back by value (as tokio's `SendError<T>`
// does); boxing it would cost an allocation on the path that is meant to be cheap.
#![allow(clippy::result_large_err)]

mod builder;
mod cell;
mod context;
mod core;
pub mod error;
mod event;
mod group;
mod handle;
mod job;
mod limit;
pub mod metrics;
mod periodic;
mod pool;
mod retry;
mod run;
mod shutdown;

pub use builder::{DEFAULT_WORKERS, PoolBuilder};
pub use context::JobContext;
pub use core::JobId;
pub use error::{BoxError, JobError, Outcome, SubmitError};
pub use event::{Event, Events, Finished, JobInfo, Missed, Tag};
pub use group::{FailFast, JobSet, OnDrop};
pub use handle::{CancelHandle, JobHandle, JobStatus, Started};
pub use job::{Async, Blocking, Fallible, Job, Once, Run};
pub use periodic::{Overlap, Schedule, ScheduleError, ScheduleHandle, Tick};
pub use pool::{Pool, WeakPool};
pub use retry::{AttemptError, Backoff, RetryPolicy};
pub use shutdown::ShutdownReport;

// The Rust examples of the README and of docs/*.md compile and run as doc-tests of this
// crate (one include per file that has ```rust blocks).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/pool.md")]
struct PoolGuideExamples;

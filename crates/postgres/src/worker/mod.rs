//! The worker library: [`Worker::builder`] registers handlers per kind (raw JSON or typed
//! [`JobArgs`](crate::JobArgs)), [`Worker::start`] runs them on `conveyor-pool` pools fed
//! from the queue, [`RunningWorker::stop`] gives back what it holds.
//!
//! # Shape
//!
//! ```text
//!  LISTEN conveyor_jobs ─┐ wake
//!  poll / next due ──────┤
//!                        ▼
//!  fetcher (per queue) ── claim ≤ room, in batches ──► Pool (slots run; its bounded queue
//!   (kinds with handlers,  FOR UPDATE SKIP LOCKED)      is the prefetch buffer, sized
//!    adaptive prefetch)                                 claim by claim)
//!                                                         │ each attempt's end
//!  heartbeat: every held lease, one statement, lease/3    ▼
//!  watchdog: a lease not renewed in time is given up     completer: outcomes, releases,
//!  rescuer: expired leases of any worker, retention,       give-backs, batched (bounded
//!           per-queue age gauges                           delay), fenced by lease token
//! ```
//!
//! # Guarantees
//!
//! - **Fencing**: every write of an attempt (heartbeat, outcome, release, give-back) names
//!   its lease token and changes nothing once the token is no longer the job's.
//! - **One final state**: a job's outcome is written once, by the holder of its current
//!   token; a worker whose lease was lost cancels the job locally and writes nothing.
//! - **Rescue**: a job whose lease expired (worker killed or frozen) is re-queued by any
//!   worker's rescuer; a worker finalizes (fails after too many lost leases) only jobs of
//!   kinds it has handlers for.
//! - **Stopping**: prefetched jobs that never started are given back without counting an
//!   attempt; running ones get the grace period, then are released (attempt counted).
//! - **Claims**: a worker only claims kinds it has handlers for, from the queues it serves.
//!
//! # Cancel safety
//!
//! [`Worker::start`] is cancel safe (nothing starts); [`RunningWorker::idle`] is cancel
//! safe; [`RunningWorker::stop`] is not (a dropped stop leaves jobs to the rescuer).

mod builder;
mod completer;
mod fetcher;
mod handler;
mod heartbeat;
mod prefetch;
mod rescuer;
mod run;
mod shared;

pub use builder::{DEFAULT_PREFETCH, DEFAULT_SLOTS, Worker, WorkerBuilder};
pub use handler::{BoxFuture, Context, Done, Failure, Handler, JobInfo, Retry};
pub use run::{RunningWorker, StopReport};
pub use shared::{
    CLAIMED_JOBS_TOTAL, CLAIMS_TOTAL, JOBS_RESCUED_TOTAL, LEASES_LOST_TOTAL, OLDEST_RUNNING_SECONDS,
    OLDEST_WAITING_SECONDS, PREFETCH,
};

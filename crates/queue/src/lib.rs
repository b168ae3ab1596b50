//! An async, bounded, multi-producer multi-consumer **priority queue**.
//!
//! Lower priority values are served first (like Python's `asyncio.PriorityQueue`); equal
//! priorities are served in push order (FIFO), or newest first when built with
//! [`Builder::lifo`]. `push` waits while the queue is full, `pop` while it is empty; both have
//! `try_` forms, and every failure hands the item back. A push returns a [`Key`] that
//! [`Queue::remove`] uses to take the item out again without scanning. Optional
//! [aging](Builder::aging) stops low priorities from starving. The queue knows nothing of
//! jobs: `conveyor-pool` builds on it.
//!
//! ```
//! use conveyor_queue::Queue;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let q = Queue::bounded(64);
//! let consumer = {
//!     let q = q.clone();
//!     tokio::spawn(async move {
//!         let mut seen = Vec::new();
//!         while let Some(item) = q.pop().await {
//!             seen.push(item);
//!         }
//!         seen
//!     })
//! };
//! for (item, priority) in [("backup", 5), ("page on-call", 0), ("rotate logs", 5)] {
//!     q.push(item, priority).await.unwrap();
//! }
//! q.close(); // consumers drain what is left, then see `None`
//! assert_eq!(consumer.await.unwrap(), ["page on-call", "backup", "rotate logs"]);
//! # }
//! ```
//!
//! # Cancel safety
//!
//! Every async method can be dropped mid-await (in `tokio::select!`, on a timeout, by task
//! abort) without losing an item or stranding a waiter:
//!
//! | method | if dropped before completion |
//! |---|---|
//! | [`Queue::pop`], [`PopStream`] | nothing was taken; a wake-up it received passes to another consumer |
//! | [`Queue::push`] | the item was not queued and drops with the future; use `reserve` to keep it |
//! | [`Queue::reserve`] | no slot is held; a wake-up it received passes to another producer |
//!
//! # Wake-ups
//!
//! One wake-up of a waiting consumer is in flight at a time: a push wakes the longest
//! sleeper only if no consumer woken earlier has yet to run, and a consumer that takes an
//! item and leaves others behind wakes the next sleeper. Every item still reaches a consumer
//! (a woken consumer that is dropped passes its wake-up on), but a burst of pushes onto many
//! idle consumers wakes them one after another as they are needed, not all at once for items
//! that are gone when most of them run. Producers waiting for room are woken one per freed
//! slot (a [`Queue::try_pop_many`] that takes several frees several).
//!
//! # Cost
//!
//! Items live in per-priority FIFO buckets behind one mutex, never in a binary heap: push and
//! pop cost O(1) for priorities in -64..=63 and O(log p) for p distinct priorities outside that
//! range, at any depth. `docs/performance.md` in the repository has the measurements.

#![warn(clippy::unwrap_used, clippy::expect_used)]
#![forbid(unsafe_code)]

pub mod error;
mod future;
mod loom;
mod queue;
mod sparse;
mod store;
mod stream;
mod waiters;

pub use error::{ClosedError, PushError, TryPopError, TryPushError};
pub use future::{Pop, Push, Reserve};
pub use queue::{Builder, Key, Permit, Queue};
pub use stream::PopStream;

#[cfg(all(test, loom))]
mod loom_tests;

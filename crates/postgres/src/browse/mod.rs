//! Reading the whole queue and acting on single jobs, for consoles and dashboards: keyset
//! pages of jobs ([`Queue::jobs_page`]), counts per queue and state ([`Queue::queue_counts`]),
//! recent throughput ([`Queue::throughput`]), live workers and stuck jobs
//! ([`Queue::workers`]), one job with its attempts ([`Queue::job`]), and the two actions:
//! [`Queue::cancel`] and [`Queue::retry`].
//!
//! Rows come back as JSON objects (the shape the console's JSON API answers), built by the
//! server: a display needs no type per column, and the crate keeps its schema to itself.
//!
//! # How a job looks to a console
//!
//! The table's `state` is split by time into [`Listed`] words: a waiting job is `queued`
//! once runnable and `scheduled` before its `run_at`; a running job whose lease expired
//! (its worker died or froze, and the rescuer has not re-queued it yet) is `stuck`.
//!
//! # Cost with many jobs
//!
//! Pages are keyset pages on `seq` (newest first) with indexes on `(state, seq)` and
//! `(queue, seq)`, so a page reads about `limit` rows whatever the table's size; counts are
//! one grouped scan. A search by id (`q`) is a substring match, which reads rows until it
//! has a page.

mod actions;
mod read;

pub use actions::{Cancelled, Retried};
pub use read::{JobsPage, JobsQuery, Listed};

//! The commands, side by side; none imports another. What two commands share lives outside
//! this folder: flags in [`crate::cli`], job files in [`crate::spec`], turning a spec into a
//! pool job in `crate::job`, the job kinds in [`crate::kind`], the ledger in
//! [`crate::ledger`].
//!
//! - [`run`]: `conveyor run`, job files on a local pool.
//! - [`validate`]: `conveyor validate` and `conveyor schema`.
//! - [`serve`]: `conveyor serve`, the daemon (HTTP and a spool folder).
//! - [`queue`]: `conveyor submit`, `worker`, `status` and `ledger` on a PostgreSQL queue.
//! - [`report`]: `conveyor report`, an HTML page about a run from its ledgers.

pub mod queue;
pub mod report;
pub mod run;
pub mod serve;
pub mod validate;

//! The PostgreSQL queue's commands: `conveyor submit`, `worker`, `status`, `ledger` and
//! `console`, on
//! top of [`conveyor_postgres`].
//!
//! - [`submit`](submit()): validates job files exactly as `conveyor validate` does (same
//!   located errors, exit 2, nothing enqueued) and enqueues them in one transaction.
//! - [`worker`](worker()): claims jobs and runs them in a local pool with the same job kinds
//!   as `conveyor run`; see the `worker` module for leases, heartbeats, fencing and
//!   shutdown.
//! - [`status`](status()) and [`ledger`](ledger()): read the queue.
//! - [`console`](console()): the queue's web console (see the `console` module).
//!
//! # What a queued job is
//!
//! A job's spec is stored as its canonical JSON (defaults of its file applied, `id` always
//! present), which is itself a valid job: the worker parses it back with the same loader,
//! so a job runs in a worker exactly as `conveyor run` would run it. `delay` and
//! `not_before` become the row's `run_at` at submit time; `retry.max_attempts` (or
//! `submit --max-attempts`) becomes `max_attempts`, and the worker computes each retry's
//! backoff from the spec's `retry` settings.

mod console;
mod convert;
mod read;
mod submit;
mod worker;

pub use console::console;
pub use read::{ledger, status};
pub use submit::submit;
pub use worker::worker;

/// How many connections a command other than `worker` opens.
const SMALL_POOL: u32 = 2;

/// A runtime for the short commands (`submit`, `status`, `ledger`).
fn small_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the tokio runtime")
}

/// Connects to the queue, naming the URL (without its password) in errors.
async fn connect(
    url: &str,
    max_connections: u32,
    synchronous_commit: bool,
) -> anyhow::Result<conveyor_postgres::Queue> {
    use anyhow::Context as _;
    conveyor_postgres::Queue::connect_with(url, max_connections, synchronous_commit)
        .await
        .with_context(|| format!("--queue {}", redact(url)))
}

/// `url` with its password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

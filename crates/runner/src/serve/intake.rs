//! The intake task: submits accepted jobs to the pool, in acceptance order.
//!
//! `POST /jobs` answers as soon as a batch is in the [`JobTable`]; this task then submits
//! its jobs one by one, waiting while the pool's queue is full (so `--capacity` bounds the
//! pool, and the table holds the rest as `queued`). Once a stop is requested, jobs not yet
//! submitted are finished as `cancelled` (attempts 0) without running, so every accepted job
//! still gets exactly one ledger line. The task ends when intake is closed and every batch
//! accepted before has been taken.

use std::sync::Arc;

use conveyor_pool::Pool;
use tokio::sync::{mpsc, watch};

use super::state::{Batch, JobTable};
use crate::ledger::RecordSender;
use crate::run::{Shared, pool_job};
use crate::signals::{Signal, StopState};

/// Why a job that never ran was cancelled.
fn reason(state: StopState) -> &'static str {
    match state.signal() {
        Some(Signal::Interrupt) => "not started: the server was interrupted (SIGINT)",
        _ => "not started: the server was stopped by SIGTERM",
    }
}

/// Runs the intake loop until `batches` is closed and drained.
pub(crate) async fn run(
    mut batches: mpsc::UnboundedReceiver<Batch>,
    pool: Pool,
    table: Arc<JobTable>,
    shared: Shared,
    records: RecordSender,
    mut stop: watch::Receiver<StopState>,
) {
    while let Some(batch) = batches.recv().await {
        for accepted in batch {
            let id = accepted.meta.id.clone();
            let state = *stop.borrow();
            if state.is_stopping() {
                if let Some(record) = table.finish(&id, |m| m.unstarted(reason(state))) {
                    records.send(record);
                }
                continue;
            }
            let job = pool_job(accepted.spec, &accepted.meta, &shared);
            let submitted = tokio::select! {
                biased;
                r = pool.submit(job) => r.ok(),
                _ = stop.wait_for(|s| s.is_stopping()) => None,
            };
            match submitted {
                Some(handle) => table.pooled(&id, handle),
                None => {
                    if let Some(record) = table.finish(&id, |m| m.unstarted(reason(*stop.borrow()))) {
                        records.send(record);
                    }
                }
            }
        }
    }
}

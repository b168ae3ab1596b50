//! The intake task: submits accepted jobs to the pool, in acceptance order.
//!
//! `POST /jobs` answers as soon as a batch is in the [`JobTable`]; this task then submits
//! its jobs one by one, waiting while the pool's queue is full (so `--capacity` bounds the
//! pool, and the table holds the rest as `queued`). Once a stop is requested, jobs not yet
//! submitted are finished as `cancelled` (attempts 0) without running, so every accepted job
//! still gets exactly one ledger line. The task ends when intake is closed and every batch
//! accepted before has been taken.
//!
//! A periodic entry (`every` / `cron`) is not submitted: it becomes a [`Pool::schedule`]
//! whose runs never overlap (a tick that finds the previous run still going is skipped).
//! Each run is a job of its own, registered in the table as `ID@TIME` (the scheduled time,
//! RFC 3339 UTC to the second), with its own ledger line.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use conveyor_pool::{Pool, Schedule};
use tokio::sync::{mpsc, watch};

use super::state::{Accepted, Batch, JobTable};
use crate::job::{Done, Shared, pool_job};
use crate::ledger::RecordSender;
use crate::signals::{Signal, StopState};
use crate::spec;

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
    records: RecordSender<Done>,
    mut stop: watch::Receiver<StopState>,
) {
    while let Some(batch) = batches.recv().await {
        for accepted in batch {
            let id = accepted.meta.id().clone();
            let state = *stop.borrow();
            if accepted.meta.spec.schedule.is_some() {
                if !state.is_stopping() {
                    schedule(accepted, &pool, &table, &shared);
                }
                continue;
            }
            if state.is_stopping() {
                if let Some(record) = table.finish(&id, |m| m.unstarted(reason(state))) {
                    records.send(record);
                }
                continue;
            }
            if !table.is_waiting(&id) {
                // Cancelled by `DELETE /jobs/{id}` while it waited: it has its line.
                continue;
            }
            let job = pool_job(&accepted.meta, &shared);
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

/// The id of a periodic entry's run due at `at`: `ID@2026-11-25T12:00:00Z`, or to the
/// millisecond (`ID@2026-11-25T12:00:00.250Z`) when runs come more often than once a second.
pub(crate) fn run_id(base: &str, at: SystemTime, sub_second: bool) -> String {
    let format = if sub_second { SecondsFormat::Millis } else { SecondsFormat::Secs };
    format!("{base}@{}", DateTime::<Utc>::from(at).to_rfc3339_opts(format, true))
}

/// Starts the schedule of a periodic entry; its runs are `pool_job`s of a copy of the spec.
fn schedule(accepted: Accepted, pool: &Pool, table: &Arc<JobTable>, shared: &Shared) {
    let mut template = spec::JobSpec::clone(&accepted.meta.spec);
    let sub_second =
        matches!(template.schedule, Some(spec::Schedule::Every(p)) if p < Duration::from_secs(1));
    let when = match template.schedule.take() {
        Some(spec::Schedule::Every(period)) => Schedule::every(period),
        Some(spec::Schedule::Cron(expr)) => match Schedule::cron(&expr) {
            Ok(s) => s,
            // The parser checked the expression with the same crate: cannot happen.
            Err(_) => return,
        },
        None => return,
    };
    let base = template.id.clone();
    let entry = accepted.meta.id().clone();
    let runs = table.clone();
    let shared = shared.clone();
    let handle = pool.schedule(when, move |tick| {
        let mut spec = template.clone();
        spec.id = run_id(&base, tick.scheduled_at, sub_second).into();
        spec.id_generated = false;
        let meta = runs.register_run(spec, &entry, tick.number);
        pool_job(&meta, &shared)
    });
    if !table.scheduled(accepted.meta.id(), handle.clone()) {
        // Intake closed, or the entry was stopped, while it waited: no run may start.
        tokio::spawn(async move { handle.stop().await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_name_the_scheduled_second() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_072_000_250);
        assert_eq!(run_id("backup", at, false), "backup@2025-11-25T12:00:00Z");
        assert_eq!(run_id("tick", at, true), "tick@2025-11-25T12:00:00.250Z");
    }
}

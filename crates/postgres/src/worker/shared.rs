//! What the worker's tasks share: the held jobs (one entry per claimed attempt, until its
//! outcome, release or give-back is written) and the wake-ups.
//!
//! Lock order: only `held` is a lock; no task holds it across an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use conveyor_pool::CancelHandle;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::builder::Config;
use crate::lease::{Completion, Lease};

/// What happens to a held job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Ours: its outcome is written when it ends.
    Running,
    /// The lease was lost: nothing is written for it.
    Lost,
    /// Given back on shutdown: released (started) or unclaimed (never started).
    Released,
}

/// One claimed attempt.
pub(crate) struct Held {
    pub(crate) token: i64,
    pub(crate) cancel: Option<CancelHandle>,
    /// The lease is surely still ours until then.
    pub(crate) valid_until: Instant,
    pub(crate) fate: Fate,
    pub(crate) cell: Arc<Cell>,
}

/// Shared by a held entry and its attempt's body.
pub(crate) struct Cell {
    /// The handler was called: a give-back counts an attempt (release), else not (unclaim).
    pub(crate) started: AtomicBool,
    pub(crate) lease_lost: CancellationToken,
}

impl Held {
    /// Marks the job lost and cancels it; `true` if it was ours.
    pub(crate) fn lose(&mut self) -> bool {
        if self.fate == Fate::Lost {
            return false;
        }
        self.fate = Fate::Lost;
        self.cell.lease_lost.cancel();
        if let Some(c) = &self.cancel {
            c.cancel();
        }
        true
    }
}

/// A write for the completer.
pub(crate) enum Write {
    Complete(Completion),
    /// Started, then given back: the attempt counts (lost).
    Release(Lease),
    /// Never started: the claim is undone.
    Unclaim(Lease),
}

/// Per queue (lane): the attempts claimed and not ended yet.
pub(crate) struct LaneState {
    pub(crate) inflight: AtomicUsize,
    /// An attempt ended (room to claim).
    pub(crate) freed: Notify,
    /// A job may be waiting (a notification).
    pub(crate) wake: Notify,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    /// The kinds this worker has handlers for (the claim and rescue filters).
    pub(crate) kinds: Vec<String>,
    pub(crate) held: Mutex<HashMap<String, Held>>,
    /// Stop claiming.
    pub(crate) stopping: CancellationToken,
    /// Nothing of ours is left (with `exit_when_idle`).
    pub(crate) idle: CancellationToken,
    /// The completer wrote a batch (held jobs went away).
    pub(crate) written: Notify,
    pub(crate) lanes: Vec<LaneState>,
}

impl Shared {
    pub(crate) fn held(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lease(&self) -> Duration {
        self.config.lease
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// At an attempt's start: whether it may run. Not if it is being given back, nor if its
    /// lease may be about to expire (a worker that was frozen with jobs in its buffer must
    /// not start them: another worker may have them by now); that lease is given up here.
    pub(crate) fn begin(&self, id: &str, cell: &Cell) -> bool {
        let margin = self.config.lease / 5;
        let mut held = self.held();
        let Some(h) = held.get_mut(id) else { return false };
        if h.fate != Fate::Running {
            return false;
        }
        if h.valid_until <= Instant::now() + margin {
            let lost = h.lose();
            drop(held);
            leases_lost(self, usize::from(lost));
            return false;
        }
        cell.started.store(true, Ordering::SeqCst);
        true
    }

    pub(crate) fn inflight(&self) -> usize {
        self.lanes.iter().map(|l| l.inflight.load(Ordering::SeqCst)).sum()
    }
}

/// Counts leases lost (`conveyor_leases_lost_total`).
pub(crate) fn leases_lost(shared: &Shared, n: usize) {
    if n > 0 && shared.config.metrics {
        metrics::counter!(LEASES_LOST_TOTAL).increment(n as u64);
    }
}

/// Leases this worker lost (its jobs rescued by others, or not renewed in time).
pub const LEASES_LOST_TOTAL: &str = "conveyor_leases_lost_total";
/// Jobs whose expired lease this worker's rescuer re-queued or failed.
pub const JOBS_RESCUED_TOTAL: &str = "conveyor_jobs_rescued_total";
/// Per queue: how long the oldest runnable waiting job has waited, in seconds (0: none).
pub const OLDEST_WAITING_SECONDS: &str = "conveyor_queue_oldest_waiting_seconds";
/// Per queue: how long the oldest running job has run (since its claim), in seconds (0:
/// none).
pub const OLDEST_RUNNING_SECONDS: &str = "conveyor_queue_oldest_running_seconds";
/// Per queue (`*`: a worker serving every queue): the jobs this worker keeps claimed and
/// ready beyond its running ones now (its adaptive prefetch).
pub const PREFETCH: &str = "conveyor_worker_prefetch";
/// Per queue: the claim statements this worker ran (empty ones included).
pub const CLAIMS_TOTAL: &str = "conveyor_claims_total";
/// Per queue: the jobs this worker's claims took (over [`CLAIMS_TOTAL`], the mean claim).
pub const CLAIMED_JOBS_TOTAL: &str = "conveyor_claimed_jobs_total";

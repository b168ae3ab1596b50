//! [`Worker::start`] and [`RunningWorker`]: the worker's tasks, and how it stops.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conveyor_pool::Pool;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::builder::Worker;
use super::fetcher::{Lane, fetcher};
use super::prefetch::Prefetch;
use super::shared::{Fate, JOBS_RESCUED_TOTAL, LEASES_LOST_TOTAL, LaneState, Shared, Write};
use super::{completer, heartbeat, rescuer};
use crate::error::Error;
use crate::lease::ClaimFilter;

/// A started worker. Stop it with [`stop`](RunningWorker::stop); dropping it leaves its
/// tasks running until the runtime ends (their jobs are then rescued after their lease).
#[must_use = "a running worker should be stopped, so that its jobs are given back"]
pub struct RunningWorker {
    shared: Arc<Shared>,
    pools: Vec<Pool>,
    fetchers: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    completer: JoinHandle<()>,
    writes: mpsc::UnboundedSender<Write>,
}

impl std::fmt::Debug for RunningWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningWorker").field("name", &self.shared.name()).finish_non_exhaustive()
    }
}

/// What [`RunningWorker::stop`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopReport {
    /// Every held job's outcome, release or give-back was written in time (else the rest
    /// are rescued when their lease expires).
    pub settled: bool,
    /// The grace period ran out (or the stop was aborted) with jobs still running.
    pub cut_short: bool,
}

impl Worker {
    /// Registers the worker and starts its tasks: per queue a fetcher, plus the completer,
    /// heartbeat, watchdog, rescuer and listener. Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the worker cannot be registered.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves starts nothing.
    pub async fn start(self) -> Result<RunningWorker, Error> {
        let config = self.config;
        config.queue.worker_alive(&config.name, config.lease).await?;
        if config.metrics {
            // The families exist from the start, at 0.
            metrics::counter!(JOBS_RESCUED_TOTAL).increment(0);
            metrics::counter!(LEASES_LOST_TOTAL).increment(0);
        }
        let mut kinds: Vec<String> = config.handlers.keys().cloned().collect();
        kinds.sort();
        let lanes_cfg = config.lanes.clone();
        let lanes = lanes_cfg
            .iter()
            .map(|_| LaneState { inflight: AtomicUsize::new(0), freed: Notify::new(), wake: Notify::new() })
            .collect();
        let shared = Arc::new(Shared {
            kinds: kinds.clone(),
            held: Mutex::new(HashMap::new()),
            stopping: CancellationToken::new(),
            idle: CancellationToken::new(),
            written: Notify::new(),
            lanes,
            config,
        });
        let (writes, rx) = mpsc::unbounded_channel();
        let completer = tokio::spawn(completer::completer(shared.clone(), rx));
        let background = vec![
            tokio::spawn(rescuer::listener(shared.clone())),
            tokio::spawn(heartbeat::heartbeat(shared.clone())),
            tokio::spawn(heartbeat::watchdog(shared.clone())),
            tokio::spawn(rescuer::rescuer(shared.clone())),
        ];
        let mut pools = Vec::new();
        let mut fetchers = Vec::new();
        for (index, lane) in lanes_cfg.iter().enumerate() {
            let pool = Pool::builder()
                .workers(lane.slots)
                // Room for the prefetch at its cap; the fetcher keeps to the prefetch of now.
                .capacity(lane.slots + lane.prefetch)
                .grace(shared.config.cancel_grace)
                .event_buffer(0)
                .metrics(shared.config.metrics)
                .build();
            let lane = Lane {
                index,
                pool: pool.clone(),
                filter: ClaimFilter { kinds: Some(kinds.clone()), queue: lane.queue.clone() },
                slots: lane.slots,
                prefetch: Prefetch::new(lane.slots, lane.prefetch),
            };
            pools.push(pool);
            fetchers.push(tokio::spawn(fetcher(shared.clone(), lane, writes.clone())));
        }
        Ok(RunningWorker { shared, pools, fetchers, background, completer, writes })
    }
}

impl RunningWorker {
    /// The worker's name.
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// Resolves when nothing of this worker's kinds and queues waits, is scheduled or
    /// runs, if the worker was built with
    /// [`exit_when_idle`](crate::WorkerBuilder::exit_when_idle); never otherwise.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn idle(&self) {
        self.shared.idle.cancelled().await;
    }

    /// Stops the worker: no more claims; jobs claimed but not started are given back at
    /// once without counting an attempt; running jobs may finish within `grace` (their
    /// outcomes are written), then — or as soon as `abort` resolves — they are cancelled
    /// and released (given back, the attempt counted as lost); pending writes are flushed.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future leaves jobs held, to be rescued after their
    /// lease.
    pub async fn stop(self, grace: Duration, abort: impl Future<Output = ()>) -> StopReport {
        let shared = &self.shared;
        shared.stopping.cancel();
        for f in self.fetchers {
            let _ = f.await;
        }
        // Give back what never started: cancelling a queued pool job never runs it.
        {
            let mut held = shared.held();
            for h in held.values_mut().filter(|h| h.fate == Fate::Running) {
                if !h.cell.started.load(std::sync::atomic::Ordering::SeqCst) {
                    h.fate = Fate::Released;
                    if let Some(c) = &h.cancel {
                        c.cancel();
                    }
                }
            }
        }
        let mut report = StopReport::default();
        tokio::pin!(abort);
        tokio::select! {
            () = until(|| shared.inflight() == 0) => {}
            () = tokio::time::sleep(grace) => report.cut_short = true,
            () = &mut abort => report.cut_short = true,
        }
        if report.cut_short {
            let mut held = shared.held();
            for h in held.values_mut().filter(|h| h.fate == Fate::Running) {
                h.fate = Fate::Released;
                if let Some(c) = &h.cancel {
                    c.cancel();
                }
            }
        }
        let settle = shared.config.cancel_grace + shared.lease();
        report.settled = tokio::time::timeout(settle, until(|| shared.held().is_empty())).await.is_ok();
        for pool in &self.pools {
            pool.shutdown(Duration::ZERO).await;
        }
        drop(self.writes);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.completer).await;
        for task in self.background {
            task.abort();
        }
        let _ = shared.config.queue.worker_stopped(shared.name()).await;
        report
    }
}

/// Waits until `done()` holds, looking every 5 ms (local state only).
async fn until(done: impl Fn() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

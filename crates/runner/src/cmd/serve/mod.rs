//! `conveyor serve`: a long-running runner that takes job files over HTTP.
//!
//! # Shape
//!
//! ```text
//!  POST /jobs ─ parse ─► JobTable ── batches ──► intake task ── submit ──► Pool
//!  GET /jobs/{id} ◄──── (id → status / ledger line)      ▲                    │ on_finish
//!                                 └──────────────────────┴──── record ◄───────┘
//!                                                              ledger writer thread
//! ```
//!
//! - [`plan`]: the flags, checked ([`ServePlan`]).
//! - [`crate::listener`] (shared with the metrics endpoints and `conveyor console`): header
//!   and body timeouts, a connection cap that keeps `/healthz` answering however many idle
//!   or slow clients are connected.
//! - [`routes`]: the HTTP API on one listener (axum): `POST /jobs`, `GET /jobs/{id}`,
//!   `GET /metrics`, `GET /healthz`; see that module for every status code.
//! - [`state`]: the job table (every accepted id; ids are unique across the server's life)
//!   and the intake gate.
//! - [`intake`]: the task that feeds accepted jobs to the pool, and schedules periodic
//!   entries (`every`/`cron`; runs never overlap, each has its own ledger line).
//! - [`spool`]: `--spool DIR`, job files dropped into `DIR/inbox`.
//! - [`console`]: the web console at `/`, the job list `GET /jobs`, `GET /stats` for its
//!   charts, and re-runs.
//!
//! Jobs run as in `conveyor run` (the same kinds, retry defaults and ledger lines: the
//! pool job and the ledger record are `run`'s). Metrics are `run`'s recorder (histograms
//! with buckets), always installed.
//!
//! # Stopping
//!
//! The first SIGTERM or SIGINT closes intake (`POST /jobs` answers 503; `GET`s still work
//! while the server drains), pauses the pool (nothing new starts), lets running jobs finish
//! within `--grace`, then cancels everything left; jobs that never started are written to
//! the ledger as `cancelled` (attempts 0). Schedules stop (no new periodic runs) and the
//! spool stops taking files; spool files whose jobs all have their lines are moved to
//! `done`/`failed`. Once every accepted job has its ledger line the listener closes and the
//! process exits 143 (130 after SIGINT). A second signal cancels running jobs at once.

mod console;
mod intake;
mod plan;
mod routes;
mod spool;
mod state;

pub use plan::ServePlan;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use conveyor_pool::Finished;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::exit::{Exit, UsageError};
use crate::job::{Meta, PoolSettings, Running, Shared, stopper};
use crate::kind::KindEnv;
use crate::ledger::{self, Writer};
use crate::progress::Progress;
use crate::signals::{self, Signal, StopState};
use crate::spec::ParseOptions;
use state::JobTable;

/// How long open HTTP connections may take to finish once every job is done.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Runs the server until SIGTERM or SIGINT, then drains it; returns 143 or 130.
///
/// Prints `conveyor: serving on http://ADDR` on stderr once the listener is bound (with
/// the real port when `--listen` asked for port 0).
///
/// # Errors
///
/// Set-up failures (a ledger that cannot be opened, an address that cannot be bound, a
/// metrics recorder already installed) and ledger write failures; `main` prints them and
/// exits 2.
pub fn serve(plan: ServePlan) -> anyhow::Result<Exit> {
    let ledger_file = match &plan.ledger {
        Some(path) => Some(
            ledger::open_for_append(path)
                .map_err(|e| UsageError::new(format!("--ledger {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("conveyor-serve")
        .build()
        .context("starting the tokio runtime")?;
    let env = KindEnv::new(plan.allow_shell, plan.seed)?;
    let spool = match &plan.spool {
        Some(dir) => {
            let (dirs, back) = spool::SpoolDirs::prepare(dir)
                .map_err(|e| UsageError::new(format!("--spool {}: {e}", dir.display())))?;
            for name in back {
                tracing::warn!(file = %name, "spool: a file the last server did not finish goes back to the inbox");
            }
            Some(dirs)
        }
        None => None,
    };
    let result = runtime.block_on(daemon(&plan, ledger_file, env, spool));
    runtime.shutdown_timeout(Duration::from_millis(100));
    let (stop, ledger) = result?;
    if let Some(e) = &ledger.error {
        let path = plan.ledger.as_ref().map_or_else(Default::default, |p| p.display().to_string());
        let (lost, s) = (ledger.lost, if ledger.lost == 1 { "" } else { "s" });
        eprintln!(
            "conveyor: stopped: cannot write the ledger {path}: {e}; {lost} job{s} have no line in it (they may have run)"
        );
        return Ok(Exit::LedgerFailed);
    }
    Ok(match stop.signal() {
        Some(Signal::Interrupt) => Exit::Interrupted,
        _ => Exit::Terminated,
    })
}

async fn daemon(
    plan: &ServePlan,
    ledger_file: Option<std::fs::File>,
    env: KindEnv,
    spool: Option<spool::SpoolDirs>,
) -> anyhow::Result<(StopState, ledger::WriteEnd)> {
    // The recorder goes in before the pool: the pool takes its metric handles when built.
    let metrics = crate::exporter::install()?;
    let listener = TcpListener::bind(plan.listen)
        .await
        .map_err(|e| UsageError::new(format!("--listen {}: cannot listen: {e}", plan.listen)))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    if let Some(addr) = plan.metrics_addr {
        let bound = crate::exporter::serve(addr, metrics.clone()).await?;
        eprintln!("conveyor: serving metrics on http://{bound}/metrics");
    }

    let printer = Progress::new(false, 0).printer();
    let (stop_tx, mut stop_rx) = watch::channel(StopState::Running);
    signals::listen(stop_tx.clone(), printer.clone()).context("installing signal handlers")?;
    let (records, writer) = Writer::spawn(ledger_file, false, (), |(), _| {});
    let fault = writer.fault();
    let alarm = {
        let (fault, path) = (fault.clone(), plan.ledger.clone());
        tokio::spawn(async move {
            let e = fault.occurred().await;
            let path = path.map_or_else(Default::default, |p| p.display().to_string());
            tracing::error!(ledger = %path, error = %e,
                "cannot write the ledger: refusing new jobs (POST and /healthz answer 503)");
        })
    };

    let (batch_tx, batch_rx) = mpsc::unbounded_channel();
    let (spool_tx, spool_rx) = match spool {
        Some(_) => {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let table = Arc::new(JobTable::new(batch_tx, spool_tx));
    let running = Arc::new(Running::default());
    let hook = {
        let table = table.clone();
        let records = records.clone();
        move |f: &Finished| {
            let Some(meta) = Meta::of_finished(f) else { return };
            let id = meta.id();
            tracing::debug!(id = %id, outcome = f.outcome.as_str(), attempts = f.attempts, "job finished");
            if let Some(record) = table.finish(id, |meta| meta.finished(f)) {
                records.send(record);
            }
        }
    };
    let settings = PoolSettings {
        workers: plan.workers,
        capacity: plan.capacity,
        metrics: true,
        default_timeout: None,
        limits: None,
    };
    let pool = settings.build(hook);
    let stopper =
        tokio::spawn(stopper(pool.clone(), stop_rx.clone(), running.clone(), plan.grace, printer.clone()));
    let shared = Shared::new(env, running, 1);
    let intake = tokio::spawn(intake::run(
        batch_rx,
        pool.clone(),
        table.clone(),
        shared,
        records.clone(),
        stop_rx.clone(),
    ));
    let spooler = match (spool, spool_rx) {
        (Some(dirs), Some(rx)) => {
            tracing::info!(spool = %dirs.root().display(), "watching the spool inbox");
            let options = ParseOptions::default().allow_periodic(true).allow_shell(plan.allow_shell);
            Some(tokio::spawn(spool::run(dirs, table.clone(), pool.clone(), options, rx, stop_rx.clone())))
        }
        _ => None,
    };
    let upkeep = {
        let handle = metrics.clone();
        let table = table.clone();
        let keep = plan.keep;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
                if let Some(cutoff) = std::time::Instant::now().checked_sub(keep) {
                    let n = table.expire(cutoff);
                    if n > 0 {
                        tracing::debug!(jobs = n, "forgot finished jobs older than --keep");
                    }
                }
            }
        })
    };

    let app = routes::App {
        table: table.clone(),
        pool: pool.clone(),
        metrics,
        token: plan.token.as_deref().map(Arc::from),
        records: records.clone(),
        fault,
        allow_shell: plan.allow_shell,
        max_body: plan.max_body,
        body_timeout: plan.body_timeout,
    };
    let limits = crate::listener::Limits {
        header_timeout: plan.header_timeout,
        max_connections: plan.max_connections.unwrap_or_else(crate::listener::default_max_connections),
    };
    let (close_tx, close_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(crate::listener::serve(listener, routes::router(app), limits, close_rx));
    eprintln!("conveyor: serving on http://{bound}");
    tracing::info!(listen = %bound, workers = plan.workers, max_connections = limits.max_connections, "serving");

    // Until a signal: the server, the intake and the pool do the work.
    let stop = match stop_rx.wait_for(|s| s.is_stopping()).await {
        Ok(s) => *s,
        Err(_) => StopState::Graceful(Signal::Terminate),
    };
    tracing::info!(grace = ?plan.grace, "stopping: no new jobs; draining");
    table.close();
    for schedule in table.schedules() {
        schedule.stop().await;
    }
    // The intake finishes (as cancelled) whatever it had not submitted yet; the stopper
    // lets running jobs finish within --grace and cancels the rest.
    let _ = intake.await;
    let _ = stopper.await;
    pool.shutdown(Duration::ZERO).await;
    drop(pool);
    // Whatever still has no line (a periodic run the stopping pool refused) gets one now.
    for record in table.sweep("not started: the server stopped") {
        records.send(record);
    }
    table.close_spool();
    if let Some(spooler) = spooler {
        let _ = spooler.await;
    }
    // A second signal during the drain turned the stop into an abort: same signal.
    let stop = if stop_rx.borrow().is_stopping() { *stop_rx.borrow() } else { stop };

    // Every job has its record; close the listener (in-flight requests may finish).
    let _ = close_tx.send(());
    if tokio::time::timeout(CLOSE_GRACE, server).await.is_err() {
        printer.eprintln("conveyor: warning: HTTP connections still open at exit; closing them");
    }
    upkeep.abort();
    alarm.abort();
    drop(records);
    let ((), ledger) =
        tokio::task::spawn_blocking(move || writer.finish()).await.context("finishing the ledger")?;
    if ledger.error.is_none() {
        tracing::info!("stopped: every accepted job has its ledger line");
    }
    Ok((stop, ledger))
}

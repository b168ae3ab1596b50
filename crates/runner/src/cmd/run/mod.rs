//! `conveyor run`: load and check the job files, then stream their jobs into a pool, record
//! every job's final state once (ledger, summary, progress), and pick the exit code.
//!
//! # Shape
//!
//! ```text
//!  reader thread ── JobSpec ──► intake task ── submit ──► Pool ── on_finish ──► writer thread
//!  (pass 2 of the         (bounded channel)      (waits when the          (ledger lines,
//!   job files, --resume)                          queue is full)           stats, progress)
//! ```
//!
//! The intake task, the pool's workers and the finish hook share one runtime thread (one
//! per core when the files have process jobs; see [`run`]); the reader and the writer each
//! have their own.
//!
//! Memory is bounded whatever the input size: specs wait in a small channel, the pool's
//! queue holds at most `--capacity` jobs, handles are dropped at once (the job runs on,
//! detached) and results come back through the pool's `on_finish` hook. What the hook needs
//! beyond the pool's report (the spec's id, name, hash, an exec job's exit code and output)
//! rides with the job as its pool [tag](conveyor_pool::Job::tag), a [`Meta`].
//!
//! # Stopping
//!
//! A first SIGINT/SIGTERM stops intake and pauses the pool (nothing new starts); running
//! jobs get `--grace` to finish, then everything left is cancelled. A second signal, or the
//! first failure under `--fail-fast`, cancels everything at once. Jobs not yet read from the
//! files are still read and written to the ledger as `cancelled` (attempts 0), so that every
//! job appears in the ledger exactly once.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use conveyor_pool::{Finished, Outcome};
use tokio::sync::{mpsc, watch};

use crate::cli::Format;
use crate::exit::{Exit, UsageError};
use crate::job::{Done, Meta, PoolSettings, Running, Shared, pool_job, stopper};
use crate::kind::{self, KindEnv};
use crate::ledger::{self, Fault, Record, RecordBatcher, ResumeSet, Writer};
use crate::progress::{Printer, Progress, Skipper};
use crate::signals::{self, Signal, StopState};
use crate::spec::{self, JobSpec, Loader, ParseOptions, print_errors};
use crate::summary::{Stats, Summary};

mod plan;

pub use plan::{LedgerPlan, RunPlan};

/// Specs handed from the reader thread to the intake task at once.
const BATCH: usize = 1024;
/// Batches read ahead of the pool (`READ_AHEAD * BATCH` specs, a few MB). Deep enough that
/// the runtime thread does not run dry while the reader waits for a core (it shares one with
/// the ledger writer): measured (200k no-op jobs, 2 cores), 4 batches left the runtime
/// thread idle often enough to cost ~3% of the wall time.
const READ_AHEAD: usize = 32;

/// Runs `plan` to the end and returns how the process should exit. Prints the summary on
/// stdout, and job-file errors (then nothing runs) on stderr, or stdout with `--format json`.
///
/// # Errors
///
/// Set-up failures (a ledger that cannot be opened, a metrics address that cannot be
/// bound); `main` prints them and exits 2. A ledger that cannot be written stops the run
/// (no new jobs, running ones get `--grace`), is reported here, and exits 3.
pub fn run(plan: RunPlan) -> anyhow::Result<Exit> {
    let validated = match Loader::new(ParseOptions::default().allow_shell(plan.allow_shell))
        .paths(&plan.paths)
        .validate()
    {
        Ok(v) => v,
        Err(errors) => {
            print_errors(&errors, plan.format)?;
            return Ok(Exit::Usage);
        }
    };
    // The ledger is checked (not an input, holds ledger lines) and opened before `--resume`
    // reads it: a file that is not a ledger is refused untouched.
    let ledger_file = match &plan.ledger {
        Some(l) => {
            if let Some(input) = validated.files().find(|input| same_file(input, &l.path)) {
                return Err(UsageError::new(format!(
                    "--ledger {}: it is one of the inputs ({}); give the ledger a file of its own",
                    l.path.display(),
                    input.display()
                ))
                .into());
            }
            Some(
                ledger::open_for_append(&l.path)
                    .map_err(|e| UsageError::new(format!("--ledger {}: {e}", l.path.display())))?,
            )
        }
        None => None,
    };
    let resume = match &plan.ledger {
        Some(l) if l.resume => {
            let set = ResumeSet::read(&l.path)
                .with_context(|| format!("--resume: reading {}", l.path.display()))?;
            if set.unreadable > 0 {
                eprintln!(
                    "conveyor: {}: ignored {} unreadable line(s) (a torn last line is normal after a crash)",
                    l.path.display(),
                    set.unreadable
                );
            }
            Some(set)
        }
        _ => None,
    };
    // One thread runs the intake, the pool's workers and the finish hook: a job is submitted,
    // popped, run and reported by the same core, with its cell hot in that core's cache and
    // the queue's lock never contended. The reader and the ledger writer have threads of
    // their own, and `cpu` jobs run on tokio's blocking threads, so the second core is used.
    // Measured (200k no-op jobs, 2 cores): a two-thread runtime spent ~20% more CPU time and
    // ~20% more wall time, mostly moving each job's cache lines between the cores.
    //
    // Files with process jobs (`exec`, `shell`) get a runtime thread per core instead: each
    // spawn holds its thread until the child has exec'd (vfork), and each end is a round of
    // reaping, signalling the group and draining its pipe. On one thread these queue behind
    // each other while the children wait; measured (1,000 runs of `true`, 4 workers, 2
    // cores), the wall time was ~8% longer on one thread.
    //
    // Its finish hook gathers ledger records in a batcher, which a runtime thread flushes to
    // the writer whenever it runs out of work (just before it parks), and which sends full
    // batches at once: one hand-off and at most one wake-up of the writer per batch.
    let progress = Progress::new(plan.progress, validated.job_count());
    let (skipper, printer) = (progress.skipper(), progress.printer());
    let fsync = plan.ledger.as_ref().is_some_and(|l| l.fsync);
    let observer = Observer { stats: Stats::default(), progress, printer: printer.clone() };
    let (records, writer) = Writer::spawn_batched(ledger_file, fsync, observer, Observer::observe);
    let records = Arc::new(records);
    let mut builder = if validated.core_job_count() > 0 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder
        .enable_all()
        .thread_name("conveyor-worker")
        .on_thread_park({
            let records = records.clone();
            move || records.flush()
        })
        .build()
        .context("starting the tokio runtime")?;
    let mut env = KindEnv::new(plan.allow_shell, plan.seed)?;
    env.output = kind::Output::new(plan.output, printer.clone());
    let workers =
        plan.workers.unwrap_or_else(|| crate::cli::values::default_workers(validated.core_job_count()));
    let report = Report {
        records,
        writer,
        skipper,
        printer,
        ledger_path: plan.ledger.as_ref().map(|l| l.path.clone()),
    };
    let outcome = runtime.block_on(run_async(&plan, workers, validated, resume, report, env))?;
    // Blocking threads (a `cpu` attempt that ignored its cancel) must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_millis(100));

    let summary = outcome.summary;
    let mut stdout = std::io::stdout().lock();
    let printed = match plan.format {
        Format::Human => {
            let chosen = if plan.workers.is_some() {
                "(-w)"
            } else if workers == conveyor_pool::DEFAULT_WORKERS {
                "(the default for files without exec, shell or cpu jobs; -w N to change)"
            } else {
                "(one per core: the files have exec, shell or cpu jobs; -w N to change)"
            };
            let first = format!("workers  {workers:>9}   {chosen}\n");
            stdout.write_all(first.as_bytes()).and_then(|()| stdout.write_all(summary.to_human().as_bytes()))
        }
        Format::Json => writeln!(stdout, "{}", summary.to_json_line()),
    }
    .and_then(|()| stdout.flush());
    match printed {
        // Nobody reads the summary (`| head`): the exit code still tells how the jobs went.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("printing the summary")?,
    }
    if let Some(e) = &outcome.ledger.error {
        let path = plan.ledger.as_ref().map_or_else(Default::default, |l| l.path.display().to_string());
        let lost = outcome.ledger.lost;
        let s = if lost == 1 { "" } else { "s" };
        eprintln!(
            "conveyor: stopped: cannot write the ledger {path}: {e}; {lost} job{s} have no line in it \
             (they may have run; --resume runs them again)"
        );
        return Ok(Exit::LedgerFailed);
    }
    if let Some(e) = outcome.read_error {
        anyhow::bail!("{e} (the file changed while the run read it)");
    }
    // Stopped by a signal with a ledger: say how to finish (issue 21). Without a ledger
    // there is nothing for --resume to read.
    if let (Some(sig), Some(l)) = (outcome.stop.signal(), &plan.ledger) {
        let left = summary.stats.count(Outcome::Cancelled);
        if left > 0 {
            let how = if sig == Signal::Interrupt { "interrupted" } else { "stopped by SIGTERM" };
            let s = if left == 1 { "" } else { "s" };
            eprintln!(
                "conveyor: {how}; {left} job{s} did not finish: run again with --resume --ledger {} to finish them \
                 (jobs that succeeded are skipped)",
                l.path.display()
            );
        }
    }
    Ok(match outcome.stop.signal() {
        Some(Signal::Interrupt) => Exit::Interrupted,
        Some(Signal::Terminate) => Exit::Terminated,
        None if summary.stats.all_succeeded() => Exit::Success,
        None => Exit::JobsFailed,
    })
}

/// Whether `a` and `b` name the same file (by device and inode; `false` if either cannot
/// be read, e.g. a ledger not created yet).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Where the run reports: the ledger writer and the progress bar's handles.
struct Report {
    records: Arc<RecordBatcher<Done>>,
    writer: Writer<Observer, Done>,
    skipper: Skipper,
    printer: Printer,
    ledger_path: Option<std::path::PathBuf>,
}

/// What the async part hands back.
struct RunEnd {
    summary: Summary,
    stop: StopState,
    ledger: ledger::WriteEnd,
    /// A file changed or vanished between the check and the run.
    read_error: Option<spec::SpecError>,
}

/// The writer thread's observer: summary statistics, the progress bar, and a line on stderr
/// for every job that failed, panicked or timed out (cancelled ones are counted only: a
/// stopped run may cancel a million).
struct Observer {
    stats: Stats,
    progress: Progress,
    printer: Printer,
}

impl Observer {
    fn observe(&mut self, r: &Record<'_>) {
        let times = r.started_at.is_some().then_some((r.wait, r.run));
        self.stats.record(r.outcome, r.attempts, times);
        self.progress.finished(r.outcome);
        if !matches!(r.outcome, Outcome::Succeeded | Outcome::Cancelled) {
            let s = if r.attempts == 1 { "" } else { "s" };
            self.printer.eprintln(&format!(
                "conveyor: job {} {} after {} attempt{s}: {}",
                r.id,
                r.outcome.as_str().replace('_', " "),
                r.attempts,
                r.error.unwrap_or("no error message")
            ));
        }
    }
}

/// Reads the specs (pass 2) on a thread of its own, skipping what `--resume` says is done,
/// and hands them over [`BATCH`] at a time: one channel operation (and at most one wake-up
/// of the intake task) per batch, not per job.
fn spawn_reader(
    validated: spec::Validated,
    resume: Option<ResumeSet>,
    skipper: Skipper,
    tx: mpsc::Sender<Vec<Arc<JobSpec>>>,
) -> std::thread::JoinHandle<Result<(), spec::SpecError>> {
    std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let mut specs = validated.into_iter();
        while let Some(spec) = specs.next_shared() {
            let spec = match spec {
                Ok(spec) => spec,
                Err(e) => {
                    // Run what was read before the file changed.
                    let _ = tx.blocking_send(batch);
                    return Err(e);
                }
            };
            if resume.as_ref().is_some_and(|set| set.contains(&spec.id, &spec.spec_hash)) {
                skipper.skip();
                continue;
            }
            batch.push(spec);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.blocking_send(full).is_err() {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        Ok(())
    })
}

fn stop_reason(state: StopState) -> &'static str {
    match state {
        StopState::Abort(None) => "not started: --fail-fast stopped the run after a failure",
        StopState::LedgerFailed => "not started: the ledger could not be written",
        StopState::Graceful(Signal::Terminate) | StopState::Abort(Some(Signal::Terminate)) => {
            "not started: the run was stopped by SIGTERM"
        }
        _ => "not started: the run was interrupted (SIGINT)",
    }
}

/// Stops the run the moment the ledger cannot be written, saying so once.
async fn stop_on_fault(
    fault: Fault,
    stop: watch::Sender<StopState>,
    path: Option<std::path::PathBuf>,
    printer: Printer,
) {
    fault.occurred().await;
    let path = path.map_or_else(Default::default, |p| p.display().to_string());
    printer.eprintln(&format!(
        "conveyor: writing the ledger {path} failed; stopping (no new jobs; running jobs get --grace to finish)"
    ));
    signals::ledger_failed(&stop);
}

async fn run_async(
    plan: &RunPlan,
    workers: usize,
    validated: spec::Validated,
    resume: Option<ResumeSet>,
    report: Report,
    env: KindEnv,
) -> anyhow::Result<RunEnd> {
    let Report { records, writer, skipper, printer, ledger_path } = report;
    // The recorder goes in before the pool: the pool takes its metric handles when built.
    let metrics = if plan.metrics_addr.is_some() || plan.pushgateway.is_some() {
        Some(crate::exporter::install()?)
    } else {
        None
    };
    if let (Some(addr), Some(handle)) = (plan.metrics_addr, &metrics) {
        let bound = crate::exporter::serve(addr, handle.clone()).await?;
        printer.eprintln(&format!("conveyor: serving metrics on http://{bound}/metrics"));
    }

    let limits = validated.limits().clone();
    let (stop_tx, stop_rx) = watch::channel(StopState::Running);
    signals::listen(stop_tx.clone(), printer.clone()).context("installing signal handlers")?;

    let running = Arc::new(Running::default());
    let started = Instant::now();
    let settings = PoolSettings {
        workers,
        capacity: plan.capacity,
        metrics: metrics.is_some(),
        default_timeout: plan.default_timeout,
        limits: Some(&limits),
    };
    let hook = {
        let records = records.clone();
        let stop_tx = stop_tx.clone();
        let fail_fast = plan.fail_fast;
        move |f: &Finished| {
            // A job without our `Meta` tag is not ours; one already reported stays so.
            let Some(meta) = Meta::of_finished(f) else { return };
            if !meta.claim_report() {
                return;
            }
            if fail_fast && !matches!(f.outcome, Outcome::Succeeded | Outcome::Cancelled) {
                signals::abort(&stop_tx);
            }
            records.push(meta.finished(f));
        }
    };
    let pool = settings.build(hook);
    let stopper =
        tokio::spawn(stopper(pool.clone(), stop_rx.clone(), running.clone(), plan.grace, printer.clone()));
    let watchdog = tokio::spawn(stop_on_fault(writer.fault(), stop_tx.clone(), ledger_path, printer.clone()));

    let (spec_tx, mut spec_rx) = mpsc::channel(READ_AHEAD);
    let reader = spawn_reader(validated, resume, skipper.clone(), spec_tx);
    let shared = Shared::new(env, running.clone(), plan.max_attempts);
    let mut stop = stop_rx.clone();
    // The stop state, read again only when it changed: an atomic load a job, not a lock.
    let mut state = *stop.borrow_and_update();
    while let Some(batch) = spec_rx.recv().await {
        for spec in batch {
            let meta = Arc::new(Meta::new(spec));
            if stop.has_changed().unwrap_or(false) {
                state = *stop.borrow_and_update();
            }
            if state.is_stopping() {
                records.push(meta.unstarted(stop_reason(state)));
                continue;
            }
            let job = pool_job(&meta, &shared);
            // While the queue has room, `try_submit` (no future, no select); when it is full,
            // wait for room or for a stop.
            let submitted = match pool.try_submit(job) {
                Ok(_detached) => true,
                Err(refused) if refused.is_full() => {
                    let job = refused.into_inner();
                    let submitted = tokio::select! {
                        biased;
                        r = pool.submit(job) => r.is_ok(),
                        _ = stop.wait_for(|s| s.is_stopping()) => false,
                    };
                    // `wait_for` marks what it saw as seen: read it here.
                    state = *stop.borrow_and_update();
                    submitted
                }
                Err(_shutdown) => false,
            };
            if !submitted && meta.claim_report() {
                records.push(meta.unstarted(stop_reason(*stop.borrow())));
            }
        }
    }
    let read = reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));

    pool.join().await;
    if stop.borrow().is_stopping() {
        // The stopper is cancelling; let it finish.
        let _ = stopper.await;
    } else {
        stopper.abort();
    }
    pool.shutdown(Duration::ZERO).await;
    let elapsed = started.elapsed();
    let final_stop = *stop.borrow();
    drop(pool);

    watchdog.abort();
    records.flush();
    let (observer, ledger) = writer.finish();
    let Observer { mut stats, mut progress, .. } = observer;
    progress.finish();
    stats.skipped = skipper.count();

    if let (Some(url), Some(handle)) = (&plan.pushgateway, &metrics)
        && let Err(e) = crate::exporter::push(url, handle).await
    {
        eprintln!("conveyor: warning: {e:#}");
    }
    Ok(RunEnd { summary: Summary { stats, elapsed }, stop: final_stop, ledger, read_error: read.err() })
}

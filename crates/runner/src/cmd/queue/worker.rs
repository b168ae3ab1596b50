//! `conveyor worker`: take jobs from the PostgreSQL queue and run them in a local pool.
//!
//! # Shape
//!
//! ```text
//!  LISTEN conveyor_jobs ─┐ wake              ┌─ heartbeat (every lease/3): renew all held leases
//!  poll (--poll) ────────┤                   │  in one statement; a lease not renewed is lost:
//!                        ▼                   │  cancel its job locally
//!  claimer ── claim ≤ free workers ──► Pool ─┤─ watchdog (every lease/10): a lease not renewed
//!   (FOR UPDATE SKIP LOCKED, batch)     │    │  in time (database unreachable) is lost too
//!                                       │    └─ rescuer (every few s): re-queue expired leases
//!                                       ▼       of any worker; delete old finished jobs
//!                      writer: outcomes and releases, batched, fenced by lease token
//! ```
//!
//! # Leases
//!
//! A claimed job is *held* under its attempt's lease token until its outcome is written.
//! The lease is known to be valid until `sent + lease`, where `sent` is when the last
//! statement that renewed it (or claimed it) was sent: the server's expiry is later than
//! that, so a worker that cannot reach the server cancels its jobs (at `lease × 4/5` after
//! the last renewal was sent) *before* any other worker can rescue them. A heartbeat or an
//! outcome whose token is no longer the job's changes nothing; the worker cancels the job
//! and writes nothing for it (`conveyor_leases_lost_total`).
//!
//! # Stopping
//!
//! SIGTERM (or Ctrl-C) stops claiming; running jobs may finish within `--grace` (their
//! outcomes are written), then the rest are cancelled and *released*: given back to the
//! queue, without an outcome, for another worker. A second signal cancels and releases at
//! once. Exit 143 (130 after SIGINT); with `--exit-when-idle`, 0 when the queue is empty.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use conveyor_pool::{CancelHandle, Job, JobError, JobHandle, Pool};
use conveyor_postgres::{Claimed, Completion, Lease, Queue};
use tokio::sync::{Notify, mpsc, watch};

use super::convert::{backoff, spec_of, static_kind};
use crate::cli::queue::WorkerArgs;
use crate::cli::values::{duration_flag, parse_metrics_addr, workers_flag};
use crate::exit::{Exit, UsageError};
use crate::job::CANCEL_GRACE;
use crate::kind::{self, KindEnv, KindError, KindOutput};
use crate::progress::Progress;
use crate::signals::{self, Signal, StopState};
use crate::spec::{JobKind, JobSpec, format_duration};

/// Leases a job may lose (worker killed or frozen while running it) before it is failed.
const MAX_LOST: i32 = 5;
/// Rows per rescue and retention statement.
const MAINTENANCE_BATCH: i64 = 500;
/// Outcomes written per statement at most.
const WRITE_BATCH: usize = 1000;
/// Connections per worker process: the claimer, the writer, the heartbeat and the
/// maintenance task use one each at most, plus one spare (the listener has its own). Kept
/// small so that many workers fit a server's default `max_connections` (100).
const WORKER_CONNECTIONS: u32 = 5;
/// How often old finished jobs are looked for.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// `conveyor worker`'s flags, checked.
#[derive(Debug)]
struct Plan {
    queue: String,
    workers: usize,
    listen: Option<SocketAddr>,
    lease: Duration,
    grace: Duration,
    name: String,
    batch: usize,
    poll: Duration,
    timeout: Option<Duration>,
    retention: Duration,
    exit_when_idle: bool,
    synchronous_commit: bool,
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}-{}", std::process::id())
}

impl Plan {
    fn from_args(args: &WorkerArgs) -> Result<Plan, UsageError> {
        let workers = workers_flag(args.workers)?;
        if args.batch == 0 {
            return Err(UsageError::new("--batch must be at least 1"));
        }
        let lease = duration_flag("--lease", &args.lease)?;
        if lease < Duration::from_millis(500) {
            return Err(UsageError::new("--lease must be at least 500ms (heartbeats renew it every third)"));
        }
        let poll = duration_flag("--poll", &args.poll)?;
        if poll.is_zero() {
            return Err(UsageError::new("--poll must be greater than zero"));
        }
        let timeout = match &args.timeout {
            Some(t) => Some(duration_flag("--timeout", t)?).filter(|t| !t.is_zero()),
            None => None,
        };
        Ok(Plan {
            queue: args.queue.clone(),
            workers,
            listen: args.listen.as_deref().map(parse_metrics_addr).transpose()?,
            lease,
            grace: duration_flag("--grace", &args.grace)?,
            name: args.name.clone().unwrap_or_else(default_name),
            batch: args.batch,
            poll,
            timeout,
            retention: duration_flag("--retention", &args.retention)?,
            exit_when_idle: args.exit_when_idle,
            synchronous_commit: args.synchronous_commit,
        })
    }
}

/// `conveyor worker --queue URL`: runs until SIGTERM or SIGINT (or, with
/// `--exit-when-idle`, until the queue is empty); see the [module docs](self).
///
/// # Errors
///
/// Bad flags, a queue that cannot be reached at start, a metrics address that cannot be
/// bound; `main` prints them and exits 2.
pub fn worker(args: WorkerArgs) -> anyhow::Result<Exit> {
    let plan = Plan::from_args(&args)?;
    let env = KindEnv::new(args.allow_shell, args.seed.unwrap_or(0))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("conveyor-worker")
        .build()
        .context("starting the tokio runtime")?;
    let exit = runtime.block_on(work(plan, env));
    runtime.shutdown_timeout(Duration::from_millis(100));
    exit
}

/// What happens to a held job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Ours: its outcome is written when it ends.
    Running,
    /// The lease was lost: nothing is written for it.
    Lost,
    /// Given back on shutdown: released when it ends.
    Released,
}

struct Held {
    token: i64,
    cancel: Option<CancelHandle>,
    /// The lease is surely still ours until then.
    valid_until: Instant,
    fate: Fate,
}

impl Held {
    /// Marks the job lost and cancels it; `true` if it was running.
    fn lose(&mut self) -> bool {
        if self.fate == Fate::Lost {
            return false;
        }
        self.fate = Fate::Lost;
        if let Some(c) = &self.cancel {
            c.cancel();
        }
        true
    }
}

enum Write {
    Complete(Completion),
    Release(Lease),
}

struct Shared {
    queue: Queue,
    name: String,
    lease: Duration,
    workers: usize,
    held: Mutex<HashMap<String, Held>>,
    /// Workers of the local pool not running an attempt.
    free: AtomicUsize,
    /// A worker became free (for the claimer).
    slot_freed: Notify,
    /// A job may be waiting (a notification, a release).
    wake: Notify,
}

impl Shared {
    fn held(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn free_slot(&self) {
        self.free.fetch_add(1, Ordering::SeqCst);
        self.slot_freed.notify_one();
    }
}

fn leases_lost(n: usize) {
    if n > 0 {
        metrics::counter!("conveyor_leases_lost_total").increment(n as u64);
    }
}

async fn work(plan: Plan, env: KindEnv) -> anyhow::Result<Exit> {
    // The recorder goes in before the pool: the pool takes its metric handles when built.
    let metrics = match plan.listen {
        Some(_) => Some(crate::exporter::install()?),
        None => None,
    };
    let queue = super::connect(&plan.queue, WORKER_CONNECTIONS, plan.synchronous_commit).await?;
    queue.worker_alive(&plan.name, plan.lease).await.context("registering the worker")?;
    if let (Some(addr), Some(handle)) = (plan.listen, &metrics) {
        let bound = crate::exporter::serve(addr, handle.clone())
            .await
            .map_err(|e| UsageError::new(format!("--listen {addr}: {e:#}")))?;
        eprintln!("conveyor: serving metrics on http://{bound}/metrics");
    }
    let printer = Progress::new(false, 0).printer();
    let (stop_tx, stop_rx) = watch::channel(StopState::Running);
    signals::listen(stop_tx.clone(), printer).context("installing signal handlers")?;

    let pool = Pool::builder()
        .workers(plan.workers)
        .capacity(plan.workers)
        .grace(CANCEL_GRACE)
        .event_buffer(0)
        .metrics(metrics.is_some())
        .default_kind("noop")
        .build();
    let shared = Arc::new(Shared {
        queue: queue.clone(),
        name: plan.name.clone(),
        lease: plan.lease,
        workers: plan.workers,
        held: Mutex::new(HashMap::new()),
        free: AtomicUsize::new(plan.workers),
        slot_freed: Notify::new(),
        wake: Notify::new(),
    });
    let (write_tx, write_rx) = mpsc::unbounded_channel();
    let background = [
        tokio::spawn(listener(shared.clone())),
        tokio::spawn(heartbeat(shared.clone())),
        tokio::spawn(watchdog(shared.clone())),
        tokio::spawn(maintenance(shared.clone(), plan.retention)),
    ];
    let writer = tokio::spawn(writer(shared.clone(), write_rx));
    eprintln!(
        "conveyor: worker {} taking jobs from {} ({} workers, lease {})",
        plan.name,
        super::redact(&plan.queue),
        plan.workers,
        format_duration(plan.lease)
    );
    let (idle_tx, mut idle_rx) = watch::channel(false);
    let claimer = tokio::spawn(claimer(
        shared.clone(),
        pool.clone(),
        Arc::new(env),
        ClaimPlan {
            batch: plan.batch,
            poll: plan.poll,
            timeout: plan.timeout,
            exit_when_idle: plan.exit_when_idle,
        },
        write_tx.clone(),
        stop_rx.clone(),
        idle_tx,
    ));

    let mut stop = stop_rx.clone();
    let stopped_by = tokio::select! {
        s = stop.wait_for(|s| s.is_stopping()) => s.map(|s| *s).ok(),
        // Only a real "idle" ends the run here: the claimer also drops its sender when it
        // returns on a signal, which must not read as idle.
        () = async {
            if idle_rx.wait_for(|idle| *idle).await.is_err() {
                std::future::pending::<()>().await;
            }
        } => None,
    };
    let _ = claimer.await;
    if let Some(state) = stopped_by {
        if let StopState::Graceful(_) = state {
            tokio::select! {
                () = until(|| shared.free.load(Ordering::SeqCst) == shared.workers) => {}
                () = tokio::time::sleep(plan.grace) => {
                    eprintln!("conveyor: grace period over; cancelling running jobs and giving them back");
                }
                _ = stop.wait_for(|s| matches!(s, StopState::Abort(_))) => {}
            }
        }
        let mut held = shared.held();
        for h in held.values_mut().filter(|h| h.fate == Fate::Running) {
            h.fate = Fate::Released;
            if let Some(c) = &h.cancel {
                c.cancel();
            }
        }
    }
    // Every held job's outcome or release is written (or its lease ran out).
    let settle = CANCEL_GRACE + plan.lease;
    if tokio::time::timeout(settle, until(|| shared.held().is_empty())).await.is_err() {
        eprintln!("conveyor: warning: some outcomes could not be written; their jobs will be rescued");
    }
    pool.shutdown(Duration::ZERO).await;
    drop(write_tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    for task in background {
        task.abort();
    }
    let _ = queue.worker_stopped(&plan.name).await;
    Ok(match stopped_by {
        None => Exit::Success,
        Some(s) if s.signal() == Some(Signal::Interrupt) => Exit::Interrupted,
        Some(_) => Exit::Terminated,
    })
}

/// Waits until `done()` holds, looking every 10 ms (local state only).
async fn until(done: impl Fn() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct ClaimPlan {
    batch: usize,
    poll: Duration,
    timeout: Option<Duration>,
    exit_when_idle: bool,
}

async fn claimer(
    shared: Arc<Shared>,
    pool: Pool,
    env: Arc<KindEnv>,
    plan: ClaimPlan,
    writes: mpsc::UnboundedSender<Write>,
    mut stop: watch::Receiver<StopState>,
    idle: watch::Sender<bool>,
) {
    // Claim in batches of at least a quarter of the workers (unless all are free), so that
    // short jobs do not turn into one claim per job.
    let min_claim = (shared.workers.min(plan.batch) / 4).max(1);
    let mut failing = false;
    loop {
        if stop.borrow().is_stopping() {
            return;
        }
        let free = shared.free.load(Ordering::SeqCst);
        if free == 0 || (free < min_claim && free < shared.workers) {
            tokio::select! {
                () = shared.slot_freed.notified() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let want = free.min(plan.batch);
        let sent = Instant::now();
        match shared.queue.claim(&shared.name, want, shared.lease).await {
            Ok(jobs) => {
                if failing {
                    eprintln!("conveyor: the queue answers again");
                    failing = false;
                }
                let full = jobs.len() == want;
                for job in jobs {
                    start(&shared, &pool, &env, plan.timeout, &writes, job, sent);
                }
                if full {
                    continue;
                }
            }
            Err(e) => {
                if !failing {
                    eprintln!("conveyor: warning: {:#}; trying again", anyhow::Error::from(e));
                    failing = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        }
        if plan.exit_when_idle
            && shared.held().is_empty()
            && let Ok(s) = shared.queue.status().await
            && s.available + s.scheduled + s.running == 0
        {
            let _ = idle.send(true);
            return;
        }
        // Sleep until a notification, the next poll, or the next delayed job or retry.
        let nap = match shared.queue.next_due().await {
            Ok(Some(due)) => plan.poll.min(due + Duration::from_millis(1)),
            _ => plan.poll,
        };
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(nap) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Starts one claimed attempt in the local pool.
fn start(
    shared: &Arc<Shared>,
    pool: &Pool,
    env: &Arc<KindEnv>,
    default_timeout: Option<Duration>,
    writes: &mpsc::UnboundedSender<Write>,
    job: Claimed,
    sent: Instant,
) {
    shared.free.fetch_sub(1, Ordering::SeqCst);
    let lease = job.lease();
    shared.held().insert(
        job.id.clone(),
        Held { token: job.token, cancel: None, valid_until: sent + shared.lease, fate: Fate::Running },
    );
    let spec = match spec_of(&job.id, &job.spec) {
        Ok(spec) => Arc::new(spec),
        Err(e) => {
            let mut c = Completion::new(lease, "failed");
            c.error = Some(format!("the queued spec cannot be read: {e:#}"));
            let _ = writes.send(Write::Complete(c));
            shared.free_slot();
            return;
        }
    };
    let timeout = spec.timeout.or(default_timeout);
    // Each claim is one attempt to the local pool (its `ctx.attempt()` is always 1), so the
    // `fail` kind's draw gets the queue's attempt number through the seed instead: attempt
    // 1 draws as `conveyor run` does, later attempts draw anew.
    let env = match (&spec.kind, job.own_attempts()) {
        (JobKind::Fail { .. }, n) if n > 1 => {
            let mut retried = KindEnv::clone(env);
            retried.seed =
                retried.seed.wrapping_add(u64::from(n.unsigned_abs()).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            Arc::new(retried)
        }
        _ => env.clone(),
    };
    let body = {
        let (spec, env) = (spec.clone(), env.clone());
        Job::new(move |ctx| {
            let (spec, env) = (spec.clone(), env.clone());
            async move { kind::run(&spec, &ctx, &env).await }
        })
    };
    let mut pool_job = body.name(job.id.as_str()).kind(static_kind(&job.kind)).priority(job.priority);
    if let Some(t) = timeout {
        pool_job = pool_job.timeout(t);
    }
    let started = Instant::now();
    match pool.try_submit(pool_job) {
        Ok(handle) => {
            {
                let mut held = shared.held();
                if let Some(h) = held.get_mut(&job.id) {
                    h.cancel = Some(handle.cancel_handle());
                    if h.fate != Fate::Running {
                        handle.cancel();
                    }
                }
            }
            let attempt = Attempt {
                lease,
                spec,
                own_attempts: job.own_attempts(),
                max_attempts: job.max_attempts,
                timeout,
            };
            tokio::spawn(watch_attempt(shared.clone(), writes.clone(), attempt, handle, started));
        }
        Err(_) => {
            // The pool is shutting down: give the job back.
            if let Some(h) = shared.held().get_mut(&job.id) {
                h.fate = Fate::Released;
            }
            let _ = writes.send(Write::Release(lease));
            shared.free_slot();
        }
    }
}

struct Attempt {
    lease: Lease,
    spec: Arc<JobSpec>,
    own_attempts: i32,
    max_attempts: i32,
    timeout: Option<Duration>,
}

/// Waits for an attempt's end and hands its outcome (or release) to the writer.
async fn watch_attempt(
    shared: Arc<Shared>,
    writes: mpsc::UnboundedSender<Write>,
    attempt: Attempt,
    handle: JobHandle<KindOutput>,
    started: Instant,
) {
    let result = handle.await;
    let run = started.elapsed();
    shared.free_slot();
    let fate = shared.held().get(&attempt.lease.id).map(|h| h.fate);
    match fate {
        Some(Fate::Running) => {}
        Some(Fate::Released) => {
            let _ = writes.send(Write::Release(attempt.lease));
            return;
        }
        None | Some(Fate::Lost) => {
            shared.held().remove(&attempt.lease.id);
            return;
        }
    }
    let salt = attempt.lease.token.unsigned_abs().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7;
    let mut c = Completion::new(attempt.lease, "succeeded");
    c.run = run;
    match result {
        Ok(KindOutput { exit_code, output_tail, .. }) => {
            c.exit_code = exit_code;
            c.output_tail = output_tail;
        }
        Err(JobError::Cancelled | JobError::Shutdown) => {
            // Nobody but this worker cancels: treat it as a release.
            let _ = writes.send(Write::Release(c.lease));
            return;
        }
        Err(e) => {
            c.outcome = e.outcome().as_str();
            c.error = Some(match &e {
                JobError::Failed(err) => {
                    if let Some(k) = err.downcast_ref::<KindError>() {
                        c.exit_code = k.exit_code;
                        c.output_tail = k.output_tail.clone();
                    }
                    err.to_string()
                }
                JobError::TimedOut => match attempt.timeout {
                    Some(t) => format!("timed out after {}", format_duration(t)),
                    None => "timed out".to_owned(),
                },
                other => other.to_string(),
            });
            let retryable = matches!(e, JobError::Failed(_) | JobError::TimedOut);
            if retryable && attempt.own_attempts < attempt.max_attempts {
                let failures = attempt.own_attempts.max(1).unsigned_abs();
                c.retry_after = Some(backoff(&attempt.spec, failures, salt));
                metrics::counter!("conveyor_job_retries_total", "kind" => attempt.spec.kind.name())
                    .increment(1);
            }
        }
    }
    let _ = writes.send(Write::Complete(c));
}

/// Writes outcomes and releases in batches (group commit: whatever is ready goes in one
/// statement), retrying while the database is away and the leases are still ours.
async fn writer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let mut completions = Vec::new();
        let mut releases = Vec::new();
        for w in batch.drain(..) {
            match w {
                Write::Complete(c) => completions.push(c),
                Write::Release(l) => releases.push(l),
            }
        }
        let mut warned = false;
        while !completions.is_empty() {
            match shared.queue.complete(&completions).await {
                Ok(written) => {
                    let written: std::collections::HashSet<String> = written.into_iter().collect();
                    let mut held = shared.held();
                    let mut lost = 0;
                    for c in &completions {
                        held.remove(&c.lease.id);
                        lost += usize::from(!written.contains(&c.lease.id));
                    }
                    drop(held);
                    if lost > 0 {
                        eprintln!(
                            "conveyor: {lost} outcome(s) not recorded: the lease was lost (another worker has the job)"
                        );
                        leases_lost(lost);
                    }
                    break;
                }
                Err(e) => {
                    if !warned {
                        eprintln!("conveyor: warning: {:#}; trying again", anyhow::Error::from(e));
                        warned = true;
                    }
                    // Keep only what is still surely ours; the rest will be rescued.
                    let now = Instant::now();
                    let before = completions.len();
                    {
                        let mut held = shared.held();
                        completions.retain(|c| {
                            let ours = held.get(&c.lease.id).is_some_and(|h| h.valid_until > now);
                            if !ours {
                                held.remove(&c.lease.id);
                            }
                            ours
                        });
                    }
                    leases_lost(before - completions.len());
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        if !releases.is_empty() {
            if let Err(e) = shared.queue.release(&releases).await {
                eprintln!(
                    "conveyor: warning: {:#}; {} job(s) will be rescued when their lease expires",
                    anyhow::Error::from(e),
                    releases.len()
                );
            }
            let mut held = shared.held();
            for l in &releases {
                held.remove(&l.id);
            }
        }
    }
}

/// Renews every held lease every third of the lease, in one statement; cancels the jobs
/// whose lease was not renewed.
async fn heartbeat(shared: Arc<Shared>) {
    let every = shared.lease / 3;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let leases: Vec<Lease> = shared
            .held()
            .iter()
            .filter(|(_, h)| h.fate != Fate::Lost)
            .map(|(id, h)| Lease { id: id.clone(), token: h.token })
            .collect();
        let sent = Instant::now();
        let renewed =
            tokio::time::timeout(every, shared.queue.heartbeat(&shared.name, &leases, shared.lease)).await;
        match renewed {
            Ok(Ok(renewed)) => {
                if failing {
                    eprintln!("conveyor: heartbeats reach the queue again");
                    failing = false;
                }
                let renewed: std::collections::HashSet<String> = renewed.into_iter().collect();
                let mut held = shared.held();
                let mut lost = 0;
                for l in &leases {
                    let Some(h) = held.get_mut(&l.id) else { continue };
                    if h.token != l.token {
                        continue;
                    }
                    if renewed.contains(&l.id) {
                        h.valid_until = sent + shared.lease;
                    } else if h.fate == Fate::Running && h.lose() {
                        lost += 1;
                    }
                }
                drop(held);
                if lost > 0 {
                    eprintln!(
                        "conveyor: lost the lease of {lost} job(s) to another worker; cancelled them here"
                    );
                    leases_lost(lost);
                }
            }
            Ok(Err(e)) => {
                if !failing {
                    eprintln!("conveyor: warning: heartbeat failed: {:#}", anyhow::Error::from(e));
                    failing = true;
                }
            }
            Err(_) => {
                if !failing {
                    let ms = Duration::from_millis(u64::try_from(every.as_millis()).unwrap_or(u64::MAX));
                    eprintln!("conveyor: warning: heartbeat got no answer within {}", format_duration(ms));
                    failing = true;
                }
            }
        }
    }
}

/// Cancels jobs whose lease could not be renewed in time (the database is unreachable):
/// they stop here before any other worker may rescue them.
async fn watchdog(shared: Arc<Shared>) {
    let margin = shared.lease / 5;
    let mut tick = tokio::time::interval(shared.lease / 10);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let deadline = Instant::now() + margin;
        let mut lost = 0;
        for h in shared.held().values_mut() {
            if h.fate == Fate::Running && h.valid_until <= deadline && h.lose() {
                lost += 1;
            }
        }
        if lost > 0 {
            eprintln!("conveyor: could not renew the lease of {lost} job(s) in time; cancelled them here");
            leases_lost(lost);
        }
    }
}

/// Rescues expired leases (any worker's) every few seconds, and deletes old finished jobs.
async fn maintenance(shared: Arc<Shared>, retention: Duration) {
    let every = (shared.lease / 3).clamp(Duration::from_millis(500), Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge: Option<Instant> = None;
    loop {
        tick.tick().await;
        while let Ok(r) = shared.queue.rescue(MAINTENANCE_BATCH, MAX_LOST).await {
            let n = r.requeued + r.failed;
            if n > 0 {
                metrics::counter!("conveyor_jobs_rescued_total").increment(n);
                eprintln!("conveyor: rescued {n} job(s) whose lease expired");
            }
            if n < MAINTENANCE_BATCH.unsigned_abs() {
                break;
            }
        }
        if last_purge.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
            last_purge = Some(Instant::now());
            while let Ok(n) = shared.queue.purge_finished(retention, MAINTENANCE_BATCH).await {
                if n < MAINTENANCE_BATCH.unsigned_abs() {
                    break;
                }
            }
        }
    }
}

/// LISTENs for new jobs and wakes the claimer; the claimer polls as well, since
/// notifications sent while the connection is down are lost.
async fn listener(shared: Arc<Shared>) {
    loop {
        let mut waker = match shared.queue.waker().await {
            Ok(w) => w,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            match waker.wait().await {
                Ok(()) => shared.wake.notify_one(),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

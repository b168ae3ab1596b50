//! `conveyor worker`: the worker library of [`conveyor_postgres::worker`] with the runner's
//! job kinds as handlers.
//!
//! Leases, heartbeats, fencing, prefetch, batched completions and the rescuer are the
//! library's (see its docs). This command only turns flags into a [`Worker`], a stored
//! spec into the runner's [`JobSpec`] (parsed back with the loader, so a job runs as
//! `conveyor run` would run it), and signals into a stop.
//!
//! # Stopping
//!
//! SIGTERM (or Ctrl-C) stops claiming; prefetched jobs that never started are given back
//! without counting an attempt; running jobs may finish within `--grace` (their outcomes
//! are written), then the rest are cancelled and *released* for another worker. A second
//! signal cancels and releases at once. Exit 143 (130 after SIGINT); with
//! `--exit-when-idle`, 0 when nothing of the worker's kinds and queues is left.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use conveyor_pool::RetryPolicy;
use conveyor_postgres::{Context, Done, Failure, Handler, JobInfo, Retry, Worker, worker::BoxFuture};
use tokio::sync::watch;

use super::convert::spec_of;
use crate::cli::queue::WorkerArgs;
use crate::cli::values::{duration_flag, parse_metrics_addr};
use crate::exit::{Exit, UsageError};
use crate::job::{CANCEL_GRACE, DEFAULT_RETRY_INITIAL, DEFAULT_RETRY_MAX, retry_policy};
use crate::kind::{self, KindEnv};
use crate::progress::Progress;
use crate::signals::{self, Signal, StopState};
use crate::spec::{JobKind, format_duration, parse_duration};

/// Connections per worker process besides one per queue's fetcher: the completer, the
/// heartbeat and the rescuer use one each at most, plus one spare (the listener has its
/// own). Kept small so that many workers fit a server's default `max_connections` (100).
const BASE_CONNECTIONS: u32 = 4;

/// `conveyor worker`'s flags, checked.
#[derive(Debug)]
struct Plan {
    queue: String,
    slots: Option<usize>,
    prefetch: Option<usize>,
    queues: Vec<(String, Option<usize>)>,
    listen: Option<SocketAddr>,
    lease: Duration,
    grace: Duration,
    name: Option<String>,
    batch: usize,
    poll: Duration,
    timeout: Option<Duration>,
    retention: Duration,
    exit_when_idle: bool,
    synchronous_commit: bool,
    allow_shell: bool,
}

/// `NAME[=SLOTS],…`.
fn queues_flag(text: &str) -> Result<Vec<(String, Option<usize>)>, UsageError> {
    let mut out: Vec<(String, Option<usize>)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, slots) = match part.split_once('=') {
            Some((name, n)) => match n.trim().parse::<usize>() {
                Ok(n) if n > 0 => (name.trim(), Some(n)),
                _ => {
                    return Err(UsageError::new(format!(
                        "--queues {part}: SLOTS must be a whole number ≥ 1"
                    )));
                }
            },
            None => (part, None),
        };
        if name.is_empty() || out.iter().any(|(q, _)| q == name) {
            return Err(UsageError::new(format!("--queues: `{part}` names no queue or names one twice")));
        }
        out.push((name.to_owned(), slots));
    }
    if out.is_empty() {
        return Err(UsageError::new("--queues needs at least one queue name"));
    }
    Ok(out)
}

impl Plan {
    fn from_args(args: &WorkerArgs) -> Result<Plan, UsageError> {
        if args.workers == Some(0) {
            return Err(UsageError::new("--workers must be at least 1"));
        }
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
            slots: args.workers,
            prefetch: args.prefetch,
            queues: args.queues.as_deref().map(queues_flag).transpose()?.unwrap_or_default(),
            listen: args.listen.as_deref().map(parse_metrics_addr).transpose()?,
            lease,
            grace: duration_flag("--grace", &args.grace)?,
            name: args.name.clone(),
            batch: args.batch,
            poll,
            timeout,
            retention: duration_flag("--retention", &args.retention)?,
            exit_when_idle: args.exit_when_idle,
            synchronous_commit: args.synchronous_commit,
            allow_shell: args.allow_shell,
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

/// The runner's kinds as one handler: the stored spec is parsed back into a [`JobSpec`]
/// and run with [`kind::run`], as `conveyor run` runs it.
struct Kinds {
    env: Arc<KindEnv>,
}

impl Handler for Kinds {
    fn run(&self, ctx: Context) -> BoxFuture<Result<Done, Failure>> {
        let env = self.env.clone();
        Box::pin(async move {
            let spec = spec_of(&ctx.job().id, ctx.args())
                .map_err(|e| Failure::fatal(format!("the queued spec cannot be read: {e:#}")))?;
            let attempt = ctx.attempt();
            // Each claim is one attempt to the local pool (its `ctx.attempt()` is always 1),
            // so the `fail` kind's draw gets the queue's attempt number through the seed:
            // attempt 1 draws as `conveyor run` does, later attempts draw anew.
            let env = match &spec.kind {
                JobKind::Fail { .. } if attempt > 1 => {
                    let mut retried = KindEnv::clone(&env);
                    retried.seed =
                        retried.seed.wrapping_add(u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    Arc::new(retried)
                }
                _ => env,
            };
            match kind::run(&spec, ctx.pool_context(), &env).await {
                Ok(out) => {
                    let mut done = Done::new();
                    done.exit_code = out.exit_code;
                    done.output_tail = out.output_tail;
                    Ok(done)
                }
                Err(e) => {
                    // The spec's own backoff (the row holds how many attempts are left).
                    let policy = retry_policy(&spec, 2).unwrap_or_else(default_retry);
                    let mut failure = Failure::new(&e.message).retry(Retry::After(policy.delay(attempt)));
                    failure.exit_code = e.exit_code;
                    failure.output_tail = e.output_tail;
                    Err(failure)
                }
            }
        })
    }

    fn timeout(&self, job: &JobInfo) -> Option<Duration> {
        let text = job.args.get("timeout")?.as_str()?;
        parse_duration(text).ok().filter(|t| !t.is_zero())
    }
}

fn default_retry() -> RetryPolicy {
    RetryPolicy::exponential(u32::MAX, DEFAULT_RETRY_INITIAL).max_delay(DEFAULT_RETRY_MAX)
}

async fn work(plan: Plan, env: KindEnv) -> anyhow::Result<Exit> {
    // The recorder goes in before the pools: a pool takes its metric handles when built.
    let metrics = match plan.listen {
        Some(_) => Some(crate::exporter::install()?),
        None => None,
    };
    let lanes = u32::try_from(plan.queues.len().max(1)).unwrap_or(u32::MAX);
    let queue = super::connect(&plan.queue, BASE_CONNECTIONS + lanes, plan.synchronous_commit).await?;
    let kinds = Arc::new(Kinds { env: Arc::new(env) });
    let mut builder = Worker::builder(queue)
        .lease(plan.lease)
        .poll(plan.poll)
        .batch(plan.batch)
        .timeout(plan.timeout)
        .retry(default_retry())
        .retention(Some(plan.retention))
        .exit_when_idle(plan.exit_when_idle)
        .metrics(metrics.is_some())
        .cancel_grace(CANCEL_GRACE);
    for &name in JobKind::NAMES {
        // Without --allow-shell, `shell` jobs are left for a worker that allows them.
        if name != "shell" || plan.allow_shell {
            builder = builder.handler(name, SharedKinds(kinds.clone()));
        }
    }
    if let Some(n) = plan.slots {
        builder = builder.slots(n);
    }
    if let Some(n) = plan.prefetch {
        builder = builder.prefetch(n);
    }
    if !plan.queues.is_empty() {
        builder = builder.queues(plan.queues.clone());
    }
    if let Some(name) = &plan.name {
        builder = builder.name(name.clone());
    }
    let worker = builder.build();
    let name = worker.name().to_owned();
    let running = worker.start().await.context("registering the worker")?;
    if let (Some(addr), Some(handle)) = (plan.listen, &metrics) {
        let bound = crate::exporter::serve(addr, handle.clone())
            .await
            .map_err(|e| UsageError::new(format!("--listen {addr}: {e:#}")))?;
        eprintln!("conveyor: serving metrics on http://{bound}/metrics");
    }
    let printer = Progress::new(false, 0).printer();
    let (stop_tx, stop_rx) = watch::channel(StopState::Running);
    signals::listen(stop_tx.clone(), printer).context("installing signal handlers")?;
    let shown_slots = plan.slots.unwrap_or(conveyor_postgres::worker::DEFAULT_SLOTS);
    eprintln!(
        "conveyor: worker {name} taking jobs from {} ({} slots{}, lease {})",
        super::redact(&plan.queue),
        shown_slots,
        if plan.queues.is_empty() {
            String::new()
        } else {
            format!(" per queue, queues {}", queue_list(&plan.queues))
        },
        format_duration(plan.lease)
    );
    let mut stop = stop_rx.clone();
    let stopped_by = tokio::select! {
        s = stop.wait_for(|s| s.is_stopping()) => s.map(|s| *s).ok(),
        () = running.idle() => None,
    };
    let grace = match stopped_by {
        Some(StopState::Graceful(_)) => plan.grace,
        _ => Duration::ZERO,
    };
    let mut abort = stop_rx.clone();
    let report = running
        .stop(grace, async move {
            let _ = abort.wait_for(|s| matches!(s, StopState::Abort(_))).await;
        })
        .await;
    if report.cut_short && stopped_by.is_some() && grace > Duration::ZERO {
        eprintln!("conveyor: grace period over; cancelled running jobs and gave them back");
    }
    if !report.settled {
        eprintln!("conveyor: warning: some outcomes could not be written; their jobs will be rescued");
    }
    Ok(match stopped_by {
        None => Exit::Success,
        Some(s) if s.signal() == Some(Signal::Interrupt) => Exit::Interrupted,
        Some(_) => Exit::Terminated,
    })
}

fn queue_list(queues: &[(String, Option<usize>)]) -> String {
    let shown: Vec<String> = queues
        .iter()
        .map(|(q, s)| match s {
            Some(n) => format!("{q}={n}"),
            None => q.clone(),
        })
        .collect();
    shown.join(",")
}

/// One [`Kinds`] registered for every kind name.
struct SharedKinds(Arc<Kinds>);

impl Handler for SharedKinds {
    fn run(&self, ctx: Context) -> BoxFuture<Result<Done, Failure>> {
        self.0.run(ctx)
    }

    fn timeout(&self, job: &JobInfo) -> Option<Duration> {
        self.0.timeout(job)
    }
}

#[cfg(test)]
mod tests {
    use super::queues_flag;

    #[test]
    fn queues_take_optional_slots() {
        let q = queues_flag("mail=4, default").unwrap();
        assert_eq!(q, [("mail".to_owned(), Some(4)), ("default".to_owned(), None)]);
        assert!(queues_flag("mail=0").is_err());
        assert!(queues_flag("a,a").is_err());
        assert!(queues_flag(",").is_err());
    }
}

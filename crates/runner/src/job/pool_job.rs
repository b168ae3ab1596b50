//! [`pool_job`]: a spec becomes a pool job, with the runner's defaults for what it leaves
//! out ([`DEFAULT_RETRY_INITIAL`], [`DEFAULT_RETRY_MAX`], [`DEFAULT_KIND`]) and a body that
//! runs its kind ([`Shared`]).

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use conveyor_pool::{Job, JobContext, RetryPolicy};

use super::{Meta, Running};
use crate::kind::{self, KindEnv};
use crate::spec::{self, JobKind, JobSpec, StartAt};

/// The first wait between attempts when a job's `retry` sets no `initial`.
pub(crate) const DEFAULT_RETRY_INITIAL: Duration = Duration::from_millis(200);
/// The longest wait between attempts when a job's `retry` sets no `max`.
pub(crate) const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(30);
/// How long a cancelled attempt may clean up (kill its process group, say) before the pool
/// drops it.
pub(crate) const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// The kind the pools of `run` and `serve` label a job with when it gives none: the kind
/// whose jobs are the most numerous and cheapest, which then skip a label of their own.
pub(crate) const DEFAULT_KIND: &str = "noop";

/// The retry policy of `spec`, with the runner's defaults for the parts it leaves out.
pub(crate) fn retry_policy(spec: &JobSpec, default_attempts: u32) -> Option<RetryPolicy> {
    let r = &spec.retry;
    let attempts = r.max_attempts.unwrap_or(default_attempts).max(1);
    if r.is_empty() && attempts == 1 {
        return None;
    }
    let initial = r.initial.unwrap_or(DEFAULT_RETRY_INITIAL);
    let policy = match r.backoff.unwrap_or(spec::Backoff::Exponential) {
        spec::Backoff::Fixed => RetryPolicy::fixed(attempts, initial),
        spec::Backoff::Exponential => RetryPolicy::exponential(attempts, initial),
    };
    Some(policy.max_delay(r.max.unwrap_or(DEFAULT_RETRY_MAX).max(initial)).jitter(r.jitter.unwrap_or(false)))
}

/// Everything the intake task shares with the jobs it makes: one `Arc`, so that a job and
/// each of its attempts take one reference to it.
#[derive(Clone)]
pub(crate) struct Shared(Arc<SharedInner>);

struct SharedInner {
    env: KindEnv,
    running: Arc<Running>,
    max_attempts: u32,
}

impl Shared {
    pub(crate) fn new(env: KindEnv, running: Arc<Running>, max_attempts: u32) -> Shared {
        Shared(Arc::new(SharedInner { env, running, max_attempts }))
    }

    /// Runs `meta`'s kind for one attempt, counted in [`Running`] from the moment it waits:
    /// an attempt that ends in its first poll (a no-op) never yields, so no graceful stop
    /// can be waiting on it meanwhile (on this thread) or need to (it ends before it could
    /// be told to stop), and it skips the two locked instructions of the count.
    async fn attempt(&self, meta: &Meta, ctx: &JobContext) -> Result<(), kind::KindError> {
        let mut run = std::pin::pin!(kind::run(&meta.spec, ctx, &self.0.env));
        let result = match std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await {
            Poll::Ready(result) => result,
            Poll::Pending => {
                let _counted = self.0.running.enter();
                run.await
            }
        };
        match result {
            Ok(out) => {
                meta.set_exec(out.exit_code, out.output_tail);
                Ok(())
            }
            Err(err) => {
                meta.set_exec(err.exit_code, err.output_tail.clone());
                Err(err)
            }
        }
    }
}

/// The pool's label for a kind: one shared `Arc<str>` per kind name, where handing the
/// pool the `&'static str` made it allocate one per job.
fn kind_label(kind: &JobKind) -> Arc<str> {
    static LABELS: std::sync::OnceLock<Vec<Arc<str>>> = std::sync::OnceLock::new();
    let labels = LABELS.get_or_init(|| JobKind::NAMES.iter().map(|&name| Arc::from(name)).collect());
    // `index` is a place in NAMES, of which `labels` has one each.
    labels[kind.index()].clone()
}

/// The pool job for `meta`'s spec: its options, and a body that runs its kind and notes an
/// exec job's exit code and output in `meta`.
pub(crate) fn pool_job(meta: &Arc<Meta>, shared: &Shared) -> Job<impl conveyor_pool::Run<()> + use<>> {
    let spec = &*meta.spec;
    let timeout = spec.timeout;
    let retry = retry_policy(spec, shared.0.max_attempts);
    let start = spec.start;
    let key = spec.concurrency_key.clone();
    let rate_key = spec.rate_key.clone();
    // The pools' default kind needs no label of its own (the pool would drop it).
    let label = (spec.kind.name() != DEFAULT_KIND).then(|| kind_label(&spec.kind));
    let priority = spec.priority;
    let shared = shared.clone();
    // The body reaches `meta` through the job's tag (which `ctx` lends it), not a reference
    // of its own: one reference count fewer per job and two per attempt, each a locked
    // instruction on the runtime thread.
    let mut job = Job::new(move |ctx: JobContext| {
        let shared = shared.clone();
        async move {
            match ctx.tag().and_then(|tag| tag.downcast_ref::<Meta>()) {
                Some(meta) => shared.attempt(meta, &ctx).await,
                None => Err(kind::KindError::new("internal error: the job lost its spec")),
            }
        }
    })
    // No pool `name`: the ledger takes the id from `meta`, and the pool would only clone
    // the name into every report.
    .tag(meta.clone())
    .priority(priority);
    if let Some(label) = label {
        job = job.kind(label);
    }
    if let Some(t) = timeout {
        job = job.timeout(t);
    }
    if let Some(policy) = retry {
        job = job.retry(policy);
    }
    match start {
        Some(StartAt::Delay(d)) => job = job.delay(d),
        Some(StartAt::NotBefore(t)) => job = job.not_before(t),
        _ => {}
    }
    if let Some(key) = key {
        job = job.concurrency_key(key);
    }
    if let Some(key) = rate_key {
        job = job.rate_key(key);
    }
    job
}

//! Handlers: what runs a claimed job ([`Handler`], raw or typed), what it sees
//! ([`Context`]) and how it ends ([`Done`], [`Failure`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use conveyor_pool::JobContext;
use tokio_util::sync::CancellationToken;

use crate::insert::JobArgs;
use crate::state::FinalState;

/// A boxed future, as [`Handler::run`] returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Runs the jobs of one kind. Most handlers are closures registered with
/// [`WorkerBuilder::raw`](crate::WorkerBuilder::raw) or
/// [`handle`](crate::WorkerBuilder::handle); implement the trait to choose a time limit per
/// job.
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt of the job `ctx` describes.
    fn run(&self, ctx: Context) -> BoxFuture<Result<Done, Failure>>;

    /// The attempt's time limit for `job` (`None`: the kind's, from
    /// [`WorkerBuilder::timeout`](crate::WorkerBuilder::timeout)). Read before the attempt
    /// starts; a timed-out attempt is cancelled and ends as `timed_out` (retried like a
    /// failure).
    fn timeout(&self, job: &JobInfo) -> Option<Duration> {
        let _ = job;
        None
    }
}

// Pins object safety: handlers are kept as `Arc<dyn Handler>`.
fn _object_safe(_: &dyn Handler) {}

/// A claimed job as its handler sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct JobInfo {
    /// The job's id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its queue.
    pub queue: String,
    /// Its arguments (the spec it was enqueued with).
    pub args: serde_json::Value,
    /// This attempt's number (from 1), counting only attempts that ended with an outcome
    /// of the job's own (lost leases and releases excluded).
    pub attempt: u32,
    /// Attempts in all for failures of the job's own.
    pub max_attempts: u32,
}

/// What a handler gets for one attempt: the job, cancellation, and the lease-loss signal.
#[derive(Clone)]
pub struct Context {
    pub(crate) job: Arc<JobInfo>,
    pub(crate) pool: JobContext,
    pub(crate) lease_lost: CancellationToken,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("job", &self.job).finish_non_exhaustive()
    }
}

impl Context {
    /// The job.
    pub fn job(&self) -> &JobInfo {
        &self.job
    }

    /// The job's arguments.
    pub fn args(&self) -> &serde_json::Value {
        &self.job.args
    }

    /// This attempt's number, from 1 (see [`JobInfo::attempt`]).
    pub fn attempt(&self) -> u32 {
        self.job.attempt
    }

    /// The local pool's context of the attempt (cancellation, its own attempt count of 1).
    pub fn pool_context(&self) -> &JobContext {
        &self.pool
    }

    /// Whether the attempt was cancelled (timeout, lost lease, worker stopping).
    pub fn is_cancelled(&self) -> bool {
        self.pool.is_cancelled()
    }

    /// Resolves when the attempt is cancelled: clean up and return.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn cancelled(&self) {
        self.pool.cancelled().await;
    }

    /// Resolves when this worker lost the job's lease (another worker may run it now): its
    /// outcome will not be recorded; stop side effects.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn lease_lost(&self) {
        self.lease_lost.cancelled().await;
    }

    /// Whether the job's lease was lost.
    pub fn is_lease_lost(&self) -> bool {
        self.lease_lost.is_cancelled()
    }
}

/// A successful attempt, with what a program left (for the ledger).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Done {
    /// A program's exit code.
    pub exit_code: Option<i32>,
    /// The end of a program's output.
    pub output_tail: Option<String>,
}

impl Done {
    /// Success with nothing to add.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor_postgres::Done::new().exit_code, None);
    /// ```
    pub fn new() -> Done {
        Done::default()
    }
}

/// When a failed attempt is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// As the kind's retry policy says, while attempts are left.
    Policy,
    /// After this delay, while attempts are left.
    After(Duration),
    /// Never: this failure is final.
    Never,
}

/// A failed attempt: the error for the ledger, how it ends, and whether to retry.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Failure {
    /// Why, for people.
    pub error: String,
    /// The state it ends in if not retried (`failed` unless set).
    pub state: FinalState,
    /// Whether and when to retry.
    pub retry: Retry,
    /// A program's exit code.
    pub exit_code: Option<i32>,
    /// The end of a program's output.
    pub output_tail: Option<String>,
}

impl Failure {
    /// A `failed` attempt, retried as the kind's policy says.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conveyor_postgres::Failure::new("no such user");
    /// assert_eq!(f.to_string(), "no such user");
    /// ```
    pub fn new(error: impl fmt::Display) -> Failure {
        Failure {
            error: error.to_string(),
            state: FinalState::Failed,
            retry: Retry::Policy,
            exit_code: None,
            output_tail: None,
        }
    }

    /// A failure that is never retried.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_postgres::{Failure, Retry};
    /// assert_eq!(Failure::fatal("bad input").retry, Retry::Never);
    /// ```
    pub fn fatal(error: impl fmt::Display) -> Failure {
        Failure { retry: Retry::Never, ..Failure::new(error) }
    }

    /// Sets when to retry.
    #[must_use]
    pub fn retry(mut self, retry: Retry) -> Failure {
        self.retry = retry;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)
    }
}

impl std::error::Error for Failure {}

/// A closure as a raw handler.
pub(crate) struct RawFn<F>(pub(crate) F);

impl<F, Fut> Handler for RawFn<F>
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Done, Failure>> + Send + 'static,
{
    fn run(&self, ctx: Context) -> BoxFuture<Result<Done, Failure>> {
        Box::pin((self.0)(ctx))
    }
}

/// A closure over typed arguments as a handler: the arguments are decoded first; arguments
/// that do not decode fail the job for good.
pub(crate) struct TypedFn<A, F>(pub(crate) F, pub(crate) std::marker::PhantomData<fn() -> A>);

impl<A, F, Fut, E> Handler for TypedFn<A, F>
where
    A: JobArgs,
    F: Fn(A, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    fn run(&self, ctx: Context) -> BoxFuture<Result<Done, Failure>> {
        let args = match A::deserialize(ctx.args()) {
            Ok(args) => args,
            Err(e) => {
                let failure =
                    Failure::fatal(format!("the job's arguments do not decode as `{}`: {e}", A::KIND));
                return Box::pin(std::future::ready(Err(failure)));
            }
        };
        let fut = (self.0)(args, ctx);
        Box::pin(async move { fut.await.map(|()| Done::new()).map_err(Failure::new) })
    }
}

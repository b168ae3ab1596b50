//! Lifecycle events: a broadcast stream that never slows the pool.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures_core::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::core::JobId;
use crate::error::Outcome;
use crate::shutdown::ShutdownReport;

/// Who a job is, as events report it.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Event, JobInfo};
/// fn describe(info: &JobInfo) -> String {
///     format!("#{} {} ({})", info.id, info.name.as_deref().unwrap_or("-"), info.kind)
/// }
/// # let _ = describe;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobInfo {
    /// The job's id.
    pub id: JobId,
    /// The job's name, if any.
    pub name: Option<Arc<str>>,
    /// The job's kind label.
    pub kind: Arc<str>,
    /// The job's priority.
    pub priority: i32,
    /// The caller's data attached with [`Job::tag`](crate::Job::tag), if any.
    pub tag: Option<Tag>,
}

/// The caller's data attached to a job with [`Job::tag`](crate::Job::tag): the pool hands it
/// back, untouched, in the job's [`JobInfo`]; `downcast_ref` gets the type back.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use conveyor_pool::Tag;
/// let tag: Tag = Arc::new(17u32);
/// assert_eq!(tag.downcast_ref::<u32>(), Some(&17));
/// ```
pub type Tag = Arc<dyn std::any::Any + Send + Sync>;

/// A job's final report: what the pool knows when the job resolves.
///
/// Its times are kept only for a job queued while someone wanted reports (a finish hook, or
/// an event subscriber): a job queued before the first subscriber came reports `wait` and
/// `run` 0, and was queued (and started, if it did) when it finished, as far as the report
/// knows.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Finished, Outcome};
/// fn ledger_line(f: &Finished) -> String {
///     format!("{} {} after {} attempt(s)", f.job.id, f.outcome, f.attempts)
/// }
/// # let _ = ledger_line;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Finished {
    /// The job.
    pub job: JobInfo,
    /// How it ended.
    pub outcome: Outcome,
    /// Attempts started (0 if it never ran).
    pub attempts: u32,
    /// When it was submitted.
    pub queued_at: SystemTime,
    /// When its first attempt started, if one did. An attempt that a worker starts straight
    /// after finishing another, without waiting in between, starts when that one stopped (one
    /// clock read fewer), or when it was queued if that is later: the worker's bookkeeping in
    /// between (delivering the result, the `on_finish` hook) counts as this job's.
    pub started_at: Option<SystemTime>,
    /// When it resolved.
    pub finished_at: SystemTime,
    /// From submit to the first attempt's start (to resolution if it never started).
    pub wait: Duration,
    /// The total run time of all its attempts.
    pub run: Duration,
    /// The error, for people: `None` when it succeeded.
    pub error: Option<String>,
}

/// Something that happened in a [`Pool`](crate::Pool), from [`Pool::events`](crate::Pool::events).
///
/// # Examples
///
/// ```
/// use conveyor_pool::Event;
/// fn log(e: &Event) {
///     match e {
///         Event::Finished(f) => println!("job {} {}", f.job.id, f.outcome),
///         other => println!("{other:?}"),
///     }
/// }
/// # let _ = log;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A job entered the queue.
    Queued(JobInfo),
    /// An attempt started after `wait` in the queue.
    Started {
        /// The job.
        job: JobInfo,
        /// The attempt's number, from 1.
        attempt: u32,
        /// How long the job waited to start this attempt (since submit, or since its retry
        /// delay ended).
        wait: Duration,
    },
    /// An attempt failed and another one will start after `delay`.
    RetryScheduled {
        /// The job.
        job: JobInfo,
        /// The attempt that failed.
        attempt: u32,
        /// The delay before the next attempt.
        delay: Duration,
        /// Why the attempt failed.
        error: String,
    },
    /// A job resolved; exactly one per job.
    Finished(Arc<Finished>),
    /// The pool finished shutting down; the last event.
    Shutdown(ShutdownReport),
}

/// A stream of a pool's [`Event`]s, from [`Pool::events`](crate::Pool::events).
///
/// It sees events from the moment it was created. It yields `Err(Missed(n))` when it fell
/// so far behind that `n` events were dropped for it — a slow subscriber never slows the
/// pool. It ends after [`Event::Shutdown`].
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Event, Job, Pool};
/// use futures_util::StreamExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().build();
/// let mut events = pool.events();
/// pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
/// pool.shutdown_now().await;
/// let mut finished = 0;
/// while let Some(event) = events.next().await {
///     if let Ok(Event::Finished(_)) = event {
///         finished += 1;
///     }
/// }
/// assert_eq!(finished, 1);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Events {
    inner: Option<BroadcastStream<Event>>,
    /// Counts this subscriber in the pool while it listens (see [`Events::new`]).
    _listening: Option<Listening>,
}

/// One subscriber counted in the pool's subscriber count until dropped: the pool makes
/// events (and reads the clock for them) only while the count is above zero.
struct Listening(Arc<AtomicUsize>);

impl Listening {
    fn new(count: Arc<AtomicUsize>) -> Listening {
        count.fetch_add(1, Ordering::Relaxed);
        Listening(count)
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("ended", &self.inner.is_none()).finish()
    }
}

/// Events a slow [`Events`] subscriber missed.
///
/// # Examples
///
/// ```
/// use conveyor_pool::Missed;
/// assert_eq!(Missed(3).to_string(), "missed 3 events");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missed(pub u64);

impl std::fmt::Display for Missed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "missed {} events", self.0)
    }
}

impl std::error::Error for Missed {}

impl Events {
    /// A subscriber of `rx`, counted in `subscribers` until the stream ends or is dropped.
    pub(crate) fn new(rx: Option<(tokio::sync::broadcast::Receiver<Event>, Arc<AtomicUsize>)>) -> Self {
        match rx {
            Some((rx, subscribers)) => Events {
                inner: Some(BroadcastStream::new(rx)),
                _listening: Some(Listening::new(subscribers)),
            },
            None => Events { inner: None, _listening: None },
        }
    }
}

impl Stream for Events {
    type Item = Result<Event, Missed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        match Pin::new(inner).poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => {
                if matches!(event, Event::Shutdown(_)) {
                    self.inner = None;
                }
                Poll::Ready(Some(Ok(event)))
            }
            Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(n)))) => Poll::Ready(Some(Err(Missed(n)))),
            Poll::Ready(None) => {
                self.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

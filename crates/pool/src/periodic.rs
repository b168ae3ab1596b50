//! Periodic jobs: a job factory run every period or on a cron expression — the seeds'
//! daemon that reports its status every minute.
//!
//! # Missed ticks
//!
//! Nothing piles up. A tick that comes while the previous run of the same schedule is still
//! going is handled by the [`Overlap`] policy: skipped (the default) or delayed until that run
//! ends (at most one run waits; further ticks meanwhile are skipped). Ticks missed because
//! the process was busy are skipped too, not replayed in a burst.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use crate::handle::CancelHandle;
use crate::job::{Job, Run};
use crate::pool::Pool;

/// What to do with a tick that comes while the previous run is still going.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Overlap, Schedule};
/// use std::time::Duration;
/// let s = Schedule::every(Duration::from_secs(60)).overlap(Overlap::Delay);
/// # let _ = s;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overlap {
    /// Skip the tick (the default): at most one run at a time, on the schedule's rhythm.
    #[default]
    Skip,
    /// Run as soon as the previous run ends; ticks meanwhile are skipped.
    Delay,
}

#[derive(Clone)]
enum When {
    Every(Duration),
    Cron(Box<croner::Cron>),
}

/// When a periodic job runs: every period, or on a cron expression (UTC).
///
/// # Examples
///
/// ```
/// use conveyor_pool::Schedule;
/// use std::time::Duration;
/// let every_minute = Schedule::every(Duration::from_secs(60));
/// let every_five = Schedule::cron("*/5 * * * *").unwrap();
/// assert!(Schedule::cron("not cron").is_err());
/// # let _ = (every_minute, every_five);
/// ```
#[derive(Clone)]
#[must_use = "a schedule does nothing until passed to `Pool::schedule`"]
pub struct Schedule {
    when: When,
    overlap: Overlap,
    /// Run once as soon as scheduled, before the first due time.
    first_run_now: bool,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = match &self.when {
            When::Every(d) => format!("every {d:?}"),
            When::Cron(c) => format!("cron {}", c.pattern),
        };
        f.debug_struct("Schedule")
            .field("when", &when)
            .field("overlap", &self.overlap)
            .field("first_run_now", &self.first_run_now)
            .finish()
    }
}

/// A cron expression that does not parse.
///
/// # Examples
///
/// ```
/// use conveyor_pool::Schedule;
/// let err = Schedule::cron("61 * * * *").unwrap_err();
/// assert!(err.to_string().starts_with("invalid cron expression"));
/// ```
#[derive(Debug)]
pub struct ScheduleError(croner::errors::CronError);

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid cron expression: {}", self.0)
    }
}

impl std::error::Error for ScheduleError {}

impl Schedule {
    /// Every `period`, the first run one period after scheduling (unlike tokio's
    /// `interval`, whose first tick is immediate: add [`first_run_now`](Self::first_run_now)
    /// for that).
    ///
    /// # Panics
    ///
    /// Panics if `period` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = conveyor_pool::Schedule::every(std::time::Duration::from_secs(10));
    /// # let _ = s;
    /// ```
    #[track_caller]
    pub fn every(period: Duration) -> Self {
        assert!(!period.is_zero(), "a schedule's period must be more than zero");
        Schedule { when: When::Every(period), overlap: Overlap::Skip, first_run_now: false }
    }

    /// On a cron expression (5 fields, minute first, or 6 with seconds first), in UTC.
    ///
    /// # Errors
    ///
    /// [`ScheduleError`] if the expression does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// let nightly = conveyor_pool::Schedule::cron("0 3 * * *").unwrap();
    /// # let _ = nightly;
    /// ```
    pub fn cron(expression: &str) -> Result<Self, ScheduleError> {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(ScheduleError)?;
        Ok(Schedule { when: When::Cron(Box::new(cron)), overlap: Overlap::Skip, first_run_now: false })
    }

    /// Sets the overlap policy. Default: [`Overlap::Skip`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Overlap, Schedule};
    /// let s = Schedule::every(std::time::Duration::from_secs(1)).overlap(Overlap::Delay);
    /// # let _ = s;
    /// ```
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// Makes the first run start as soon as the schedule does, then go on as scheduled: an
    /// [`every`](Self::every) schedule runs at 0, `period`, `2 × period`, … (as tokio's
    /// `interval`, whose first tick completes immediately); a [`cron`](Self::cron) schedule
    /// runs now, then at each due time. Default: off — the first run is one period (or the
    /// first due time) away, as a status report that has nothing to say yet.
    ///
    /// The immediate run is an ordinary run: [`Tick::number`] 1, counted by
    /// [`ScheduleHandle::runs`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool, Schedule};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let every_minute = Schedule::every(Duration::from_secs(60)).first_run_now();
    /// let s = pool.schedule(every_minute, |_| Job::new(|_| async { Ok::<_, std::io::Error>(()) }));
    /// tokio::time::sleep(Duration::from_secs(1)).await;
    /// assert_eq!(s.runs(), 1); // at 0 s, not at 60 s
    /// tokio::time::sleep(Duration::from_secs(60)).await;
    /// assert_eq!(s.runs(), 2); // and at 60 s
    /// # }
    /// ```
    pub fn first_run_now(mut self) -> Self {
        self.first_run_now = true;
        self
    }
}

/// One run of a schedule, as the job factory sees it.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Tick};
/// fn report(tick: Tick) -> Job<impl conveyor_pool::Run<()>> {
///     Job::new(move |_| async move {
///         println!("status report #{}", tick.number);
///         Ok::<_, std::io::Error>(())
///     })
/// }
/// # let _ = report;
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Tick {
    /// The run's number, from 1.
    pub number: u64,
    /// When the run was due.
    pub scheduled_at: SystemTime,
}

struct Control {
    stop: Notify,
    stopped: std::sync::atomic::AtomicBool,
    runs: AtomicU64,
    skipped: AtomicU64,
    /// The last run submitted: its number and a handle on it.
    current: std::sync::Mutex<Option<(u64, CancelHandle)>>,
}

/// Stops a schedule; from [`Pool::schedule`]. Dropping it leaves the schedule running (it
/// ends when the pool stops accepting jobs).
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Pool, Schedule};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let pool = Pool::builder().build();
/// let schedule = pool.schedule(Schedule::every(Duration::from_secs(60)), |_tick| {
///     Job::new(|_| async { Ok::<_, std::io::Error>(()) })
/// });
/// tokio::time::sleep(Duration::from_secs(181)).await;
/// schedule.stop().await;
/// assert_eq!(schedule.runs(), 3);
/// # }
/// ```
#[derive(Clone)]
pub struct ScheduleHandle {
    control: Arc<Control>,
    task: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl fmt::Debug for ScheduleHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleHandle")
            .field("runs", &self.runs())
            .field("skipped", &self.skipped())
            .finish_non_exhaustive()
    }
}

impl ScheduleHandle {
    /// Stops the schedule: no run starts after this returns (a run already started goes on).
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, Pool, Schedule};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let s = pool.schedule(Schedule::every(std::time::Duration::from_secs(1)), |_| {
    ///     Job::new(|_| async { Ok::<_, std::io::Error>(()) })
    /// });
    /// s.stop().await;
    /// assert_eq!(s.runs(), 0);
    /// # }
    /// ```
    pub async fn stop(&self) {
        self.control.stopped.store(true, Relaxed);
        self.control.stop.notify_one();
        let task = self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            // The loop only ends by returning; a JoinError means the runtime is going away.
            let _ = task.await;
        }
    }

    /// Runs started so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, Pool, Schedule};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let s = pool.schedule(Schedule::every(std::time::Duration::from_secs(1)), |_| {
    ///     Job::new(|_| async { Ok::<_, std::io::Error>(()) })
    /// });
    /// assert_eq!(s.runs(), 0);
    /// # }
    /// ```
    pub fn runs(&self) -> u64 {
        self.control.runs.load(Relaxed)
    }

    /// Ticks skipped because the previous run was still going ([`Overlap::Skip`]). Under
    /// [`Overlap::Delay`] the ticks that pass while a run waits for the previous one are
    /// dropped without being counted here.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, Pool, Schedule};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let s = pool.schedule(Schedule::every(std::time::Duration::from_secs(1)), |_| {
    ///     Job::new(|_| async { Ok::<_, std::io::Error>(()) })
    /// });
    /// assert_eq!(s.skipped(), 0);
    /// # }
    /// ```
    pub fn skipped(&self) -> u64 {
        self.control.skipped.load(Relaxed)
    }

    /// The last run submitted: its number ([`Tick::number`]) and a handle to watch or
    /// cancel it (runs never overlap, so this is the one going, if any). `None` before the
    /// first run is submitted.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobStatus, Pool, Schedule};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let s = pool.schedule(Schedule::every(Duration::from_secs(60)), |_| {
    ///     Job::new(|ctx| async move { ctx.cancelled().await; Ok::<_, std::io::Error>(()) })
    /// });
    /// assert!(s.current().is_none());
    /// tokio::time::sleep(Duration::from_secs(61)).await;
    /// let (number, run) = s.current().unwrap();
    /// assert_eq!((number, run.status()), (1, JobStatus::Running));
    /// run.cancel();
    /// # }
    /// ```
    pub fn current(&self) -> Option<(u64, CancelHandle)> {
        self.control.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// The next due time of a cron schedule, as a tokio instant and a wall-clock time.
fn next_cron(cron: &croner::Cron) -> Option<(Instant, SystemTime)> {
    let now = chrono::Utc::now();
    let next = cron.find_next_occurrence(&now, false).ok()?;
    let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
    Some((Instant::now() + wait, SystemTime::now() + wait))
}

impl Pool {
    /// Runs a job made by `factory` on `schedule`, until the returned handle stops it or the
    /// pool stops accepting jobs. Runs of one schedule never overlap (see [`Overlap`]); each
    /// is an ordinary job of the pool (events, metrics, the finish hook).
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool, Schedule};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let status = pool.schedule(Schedule::every(Duration::from_secs(60)), |tick| {
    ///     Job::new(move |_| async move { Ok::<_, std::io::Error>(format!("report #{}", tick.number)) })
    ///         .name("status report")
    /// });
    /// tokio::time::sleep(Duration::from_secs(150)).await;
    /// assert_eq!(status.runs(), 2);
    /// # }
    /// ```
    pub fn schedule<F, R, T>(&self, schedule: Schedule, mut factory: F) -> ScheduleHandle
    where
        F: FnMut(Tick) -> Job<R> + Send + 'static,
        R: Run<T>,
        T: Send + 'static,
    {
        let control = Arc::new(Control {
            stop: Notify::new(),
            stopped: std::sync::atomic::AtomicBool::new(false),
            runs: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            current: std::sync::Mutex::new(None),
        });
        let weak = self.downgrade();
        let inner = self.inner().clone();
        let ctl = control.clone();
        let task = tokio::spawn(async move {
            let mut interval = match &schedule.when {
                When::Every(period) => {
                    let mut i = tokio::time::interval_at(Instant::now() + *period, *period);
                    i.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    Some(i)
                }
                When::Cron(_) => None,
            };
            let mut previous: Option<crate::JobHandle<T>> = None;
            // The interval's first tick stays one period away: the immediate run is extra.
            let mut run_now = schedule.first_run_now;
            loop {
                let due_wall = match (&mut interval, &schedule.when) {
                    _ if std::mem::take(&mut run_now) => SystemTime::now(),
                    (Some(i), _) => {
                        tokio::select! {
                            _ = i.tick() => SystemTime::now(),
                            _ = ctl.stop.notified() => return,
                            _ = inner.intake_stopped() => return,
                        }
                    }
                    (None, When::Cron(cron)) => {
                        let Some((at, wall)) = next_cron(cron) else { return };
                        tokio::select! {
                            _ = tokio::time::sleep_until(at) => wall,
                            _ = ctl.stop.notified() => return,
                            _ = inner.intake_stopped() => return,
                        }
                    }
                    (None, When::Every(_)) => return,
                };
                if ctl.stopped.load(Relaxed) {
                    return;
                }
                if let Some(prev) = previous.as_mut().filter(|p| !p.is_finished()) {
                    match schedule.overlap {
                        Overlap::Skip => {
                            ctl.skipped.fetch_add(1, Relaxed);
                            continue;
                        }
                        Overlap::Delay => {
                            tokio::select! {
                                _ = prev => {}
                                _ = ctl.stop.notified() => return,
                            }
                        }
                    }
                }
                let Some(pool) = weak.upgrade() else { return };
                let number = ctl.runs.fetch_add(1, Relaxed) + 1;
                let job = factory(Tick { number, scheduled_at: due_wall });
                match pool.submit(job).await {
                    Ok(handle) => {
                        let run = Some((number, handle.cancel_handle()));
                        *ctl.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = run;
                        previous = Some(handle);
                    }
                    Err(_) => return,
                }
            }
        });
        ScheduleHandle { control, task: Arc::new(std::sync::Mutex::new(Some(task))) }
    }
}

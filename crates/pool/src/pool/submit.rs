//! Submitting: the fast path (`try_push`), the reserved-slot path, and delayed jobs.

use std::sync::Arc;
use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::Pool;
use super::engine::Item;
use crate::cell::JobCell;
use crate::core::{Core, Options, State};
use crate::error::SubmitError;
use crate::event::Event;
use crate::handle::JobHandle;
use crate::job::{Job, Run};

impl Pool {
    /// Makes the job's shared cell; nothing is counted (and the job has no id) until it is
    /// queued.
    pub(crate) fn prepare<R, T>(&self, job: Job<R>) -> Arc<JobCell<R, T>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        let o = job.options;
        let mut run = job.run;
        run.bind(&inner.blocking);
        let kind = o.kind.filter(|k| **k != *inner.default_kind);
        let metrics = inner.metrics.as_ref().zip(kind.as_ref()).map(|(m, k)| m.kind(k));
        let now = inner.timed_now();
        let options = Options {
            name: o.name,
            kind,
            timeout: o.timeout.or(inner.default_timeout),
            // A run-once body cannot run again: its first attempt is final.
            retry: o.retry.or_else(|| inner.default_retry.clone()).filter(|_| run.retries()),
            key: o.key,
            rate_key: o.rate_key,
            tag: o.tag,
            metrics,
            timings: inner.report_timings(now),
        };
        let core = Core::new(inner.clone(), o.priority, o.shield, options, now);
        Arc::new(JobCell::new(core, run))
    }

    /// Submits a job with a start delay: it waits in a timer, not in the queue, so it takes
    /// neither a queue slot nor a worker until it is due.
    fn submit_scheduled<R, T>(&self, job: Job<R>, delay: Duration) -> JobHandle<T>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        let cell = self.prepare(job);
        let core = crate::context::HasCore::core(&*cell);
        core.set_state(State::Scheduled);
        inner.enter(core);
        if let Some(k) = inner.kind_metrics(core) {
            k.submitted.increment(1);
        }
        inner.emit(|| Event::Queued(inner.info(core)));
        inner.schedule(cell.clone() as Item, delay);
        JobHandle::new(cell)
    }

    /// Queues a prepared job through a reserved slot (which cannot fail).
    fn commit<R, T>(&self, permit: conveyor_queue::Permit<'_, Item>, cell: Arc<JobCell<R, T>>) -> JobHandle<T>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        let core = crate::context::HasCore::core(&*cell);
        inner.enter(core);
        if let Some(k) = inner.kind_metrics(core) {
            k.submitted.increment(1);
        }
        if let Some(m) = &inner.metrics {
            m.depth.increment(1.0);
        }
        inner.emit(|| Event::Queued(inner.info(core)));
        let key = permit.push(cell.clone() as Item, core.priority);
        inner.after_push(core, key);
        JobHandle::new(cell)
    }

    /// One queue operation per job: `try_push` straight away, handing the cell back if the
    /// queue refused it (`Err(Ok(cell))`: full; `Err(Err(cell))`: closed). Only without
    /// events: with events, the `Queued` event must be sent before a worker can send
    /// `Started`, which needs a reserved slot first.
    fn push_fast<R, T>(&self, cell: Arc<JobCell<R, T>>) -> Result<JobHandle<T>, Refused<R, T>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        let core = crate::context::HasCore::core(&*cell);
        // Counted before the push: a worker may resolve the job before `try_push` returns.
        inner.enter(core);
        match inner.queue.try_push(cell.clone() as Item, core.priority) {
            Ok(key) => {
                if let Some(k) = inner.kind_metrics(core) {
                    k.submitted.increment(1);
                }
                if let Some(m) = &inner.metrics {
                    m.depth.increment(1.0);
                }
                inner.after_push(core, key);
                Ok(JobHandle::new(cell))
            }
            Err(refused) => {
                let closed = refused.is_closed();
                drop(refused);
                inner.resolved();
                Err(if closed { Err(cell) } else { Ok(cell) })
            }
        }
    }

    /// Queues a prepared job if there is room now; hands the cell back if the queue is full.
    fn try_queue<R, T>(&self, cell: Arc<JobCell<R, T>>) -> Result<JobHandle<T>, Refused<R, T>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        if inner.listened().is_none() {
            return self.push_fast(cell);
        }
        match inner.queue.try_reserve() {
            Ok(permit) => Ok(self.commit(permit, cell)),
            Err(e) if e.is_full() => Err(Ok(cell)),
            Err(_closed) => Err(Err(cell)),
        }
    }

    /// Submits a job, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SubmitError`] (with the job) once the pool is shutting down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the job was not submitted
    /// (it drops with the future) and nothing else changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let handle = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>("done") })).await.unwrap();
    /// assert_eq!(handle.await.unwrap(), "done");
    /// # }
    /// ```
    pub async fn submit<R, T>(&self, job: Job<R>) -> Result<JobHandle<T>, SubmitError<Job<R>>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        // The job's cell is made once, whether the queue has room now or only later: only a
        // full queue makes us wait, for a reserved slot (cancel safe: a dropped wait holds
        // nothing, and the job drops with the future).
        let cell = match self.submit_now(job) {
            Ok(handle) => return Ok(handle),
            Err(Ok(full)) => full,
            Err(Err(refused)) => return Err(refused),
        };
        let inner = self.inner();
        let permit = match inner.queue.reserve().await {
            Ok(permit) => permit,
            Err(_closed) => return Err(SubmitError::shutdown(take_back(cell))),
        };
        if !inner.accepting.load(SeqCst) {
            return Err(SubmitError::shutdown(take_back(cell)));
        }
        // Ready from now: the wait for room is the submitter's, not the queue's.
        let core = crate::context::HasCore::core(&*cell);
        core.set_ready(inner.timed_now());
        Ok(self.commit(permit, cell))
    }

    /// Submits a job if the queue has room now.
    ///
    /// # Errors
    ///
    /// [`SubmitError`] (with the job) if the queue is full or the pool is shutting down.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().capacity(1).build();
    /// let job = || Job::new(|_| async { Ok::<_, std::io::Error>(()) });
    /// let first = pool.try_submit(job()).unwrap();
    /// let refused = pool.try_submit(job()).unwrap_err();
    /// assert!(refused.is_full());
    /// first.await.unwrap();
    /// # }
    /// ```
    pub fn try_submit<R, T>(&self, job: Job<R>) -> Result<JobHandle<T>, SubmitError<Job<R>>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        self.submit_now(job).map_err(|refused| match refused {
            Ok(full) => SubmitError::full(take_back(full)),
            Err(refused) => refused,
        })
    }

    /// Submits a job if the queue has room now; hands its cell back (`Err(Ok(cell))`) if it
    /// is full, for `submit` to wait with.
    #[allow(clippy::type_complexity)]
    fn submit_now<R, T>(
        &self,
        job: Job<R>,
    ) -> Result<JobHandle<T>, Result<Arc<JobCell<R, T>>, SubmitError<Job<R>>>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        if !inner.accepting.load(SeqCst) {
            return Err(Err(SubmitError::shutdown(job)));
        }
        if let Some(delay) = job.start_delay() {
            return Ok(self.submit_scheduled(job, delay));
        }
        match self.try_queue(self.prepare(job)) {
            Ok(handle) => Ok(handle),
            Err(Ok(full)) => Err(Ok(full)),
            Err(Err(closed)) => Err(Err(SubmitError::shutdown(take_back(closed)))),
        }
    }
}

/// A cell the queue did not take: `Ok` when it was full, `Err` when it was closed.
type Refused<R, T> = Result<Arc<JobCell<R, T>>, Arc<JobCell<R, T>>>;

/// The job back out of a cell that was never queued (so nothing else holds it).
fn take_back<R, T>(cell: Arc<JobCell<R, T>>) -> Job<R>
where
    R: Run<T>,
    T: Send + 'static,
{
    match Arc::try_unwrap(cell) {
        Ok(cell) => cell.into_job(),
        // Unreachable: the queue handed its clone back, and no one else has one.
        Err(_) => unreachable!("a refused job's cell has no other owner"),
    }
}

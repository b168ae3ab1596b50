//! Submitting: the fast path (`try_push`), the reserved-slot path, and delayed jobs.

use std::sync::Arc;
use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::Pool;
use super::engine::Item;
use crate::cell::JobCell;
use crate::core::{Core, JobId, SCHEDULED};
use crate::error::SubmitError;
use crate::event::Event;
use crate::handle::JobHandle;
use crate::job::{Job, Run};

impl Pool {
    /// Makes the job's shared cell; nothing is counted until it is queued.
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
        let core = Core::new(
            inner.clone(),
            JobId(inner.next_id.fetch_add(1, Relaxed)),
            o.name,
            kind,
            o.priority,
            o.timeout.or(inner.default_timeout),
            // A run-once body cannot run again: its first attempt is final.
            o.retry.or_else(|| inner.default_retry.clone()).filter(|_| run.retries()),
            o.shield,
            o.key,
            o.rate_key,
            o.tag,
            metrics,
            inner.now_ns(),
        );
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
        core.set_state(SCHEDULED);
        inner.unresolved.fetch_add(1, SeqCst);
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
        inner.unresolved.fetch_add(1, SeqCst);
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

    /// One queue operation per job: `try_push` straight away, taking the job back out of
    /// its cell if the queue is full. Only without events: with events, the `Queued` event
    /// must be sent before a worker can send `Started`, which needs a reserved slot first.
    fn submit_fast<R, T>(&self, job: Job<R>) -> Result<JobHandle<T>, SubmitError<Job<R>>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        if inner.listened().is_some() {
            return Err(SubmitError::full(job));
        }
        let cell = self.prepare(job);
        let core = crate::context::HasCore::core(&*cell);
        // Counted before the push: a worker may resolve the job before `try_push` returns.
        inner.unresolved.fetch_add(1, SeqCst);
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
                let job = match Arc::try_unwrap(cell) {
                    Ok(cell) => cell.into_job(),
                    // Unreachable: the queue handed its clone back, and no one else has one.
                    Err(_) => unreachable!("a refused job's cell has no other owner"),
                };
                Err(if closed { SubmitError::shutdown(job) } else { SubmitError::full(job) })
            }
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
        // The fast path is `try_submit`; only a full queue makes us wait, for a reserved slot
        // (cancel safe: a dropped wait holds nothing, and the job drops with the future).
        let job = match self.try_submit(job) {
            Err(refused) if refused.is_full() => refused.into_inner(),
            done => return done,
        };
        let inner = self.inner();
        let permit = match inner.queue.reserve().await {
            Ok(permit) => permit,
            Err(_closed) => return Err(SubmitError::shutdown(job)),
        };
        if !inner.accepting.load(SeqCst) {
            return Err(SubmitError::shutdown(job));
        }
        Ok(self.commit(permit, self.prepare(job)))
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
        let inner = self.inner();
        if !inner.accepting.load(SeqCst) {
            return Err(SubmitError::shutdown(job));
        }
        if let Some(delay) = job.start_delay() {
            return Ok(self.submit_scheduled(job, delay));
        }
        if inner.listened().is_none() {
            return self.submit_fast(job);
        }
        match inner.queue.try_reserve() {
            Ok(permit) => Ok(self.commit(permit, self.prepare(job))),
            Err(e) if e.is_full() => Err(SubmitError::full(job)),
            Err(_closed) => Err(SubmitError::shutdown(job)),
        }
    }
}

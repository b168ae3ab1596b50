//! Runs: a worker runs quick jobs of one type one after another inside one future.
//!
//! An attempt's future has its job's concrete type, while the worker loop takes jobs of any
//! type from the queue: it can only await an attempt through a box. Boxed per attempt, a
//! no-op job paid an allocation, a copy of the future into it and a free (about a tenth of
//! its instructions under callgrind, the allocator's share of them the largest). So the
//! boxed future is a *run* ([`run`]): it runs its first job's attempt inline, and while each
//! attempt completes within its first poll it takes the next job the worker has at hand
//! ([`Runner::next_now`]: the worker's batch, or the queue without waiting) and, if that job
//! is of the same type and needs no limit, runs its attempt inline too. A stream of jobs of
//! one type (one closure type per call site) then costs one box per run, not one per job.
//!
//! A run ends:
//!
//! - when an attempt waits (its first poll is `Pending`): the worker first gives back the
//!   jobs of its batch it has not started ([`Runner::before_wait`], see the worker's
//!   "Batches"), then the run awaits the attempt to its end;
//! - when no job is at hand (or the pool is paused): the worker loop goes to the queue;
//! - with a job it took but does not run itself (another type, or a concurrency or rate
//!   key): it hands it to the worker loop, which runs it as it would any job;
//! - after its first job, if that job holds a slot of its concurrency key: the worker
//!   releases the slot when the run returns, which must not wait for other jobs.
//!
//! Nothing else changes: jobs are taken exactly as the worker loop takes them, in the same
//! order, and each attempt is the same [`JobCell::attempt`].

use std::any::Any;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;

use crate::cell::{JobCell, RunBy, Task};
use crate::job::Run;

/// A job as the worker loop holds it.
pub(crate) type Item = Arc<dyn Task>;

/// A run as the worker awaits it (see [`Task::run`]).
pub(crate) type BoxRun<'a> = Pin<Box<dyn Future<Output = Ran> + Send + 'a>>;

/// How a run ended.
pub(crate) struct Ran {
    /// When its last attempt stopped, in the pool's nanoseconds, if timings are on and it
    /// ran (see `RunBy::now`).
    pub(crate) stopped: Option<u64>,
    /// Whether its last attempt completed within its first poll.
    pub(crate) quick: bool,
    /// A job it took and left for the worker loop to run.
    pub(crate) next: Option<Item>,
}

/// What a run asks of the worker that awaits it.
pub(crate) trait Runner: Send {
    /// The next job, without waiting: from the batch, else a batch from the queue; `None`
    /// if there is none or the pool is paused.
    fn next_now(&mut self) -> Option<Item>;
    /// Called before an attempt that did not complete in its first poll is awaited.
    fn before_wait(&mut self);
}

/// Runs `first`, then the quick jobs of its type that follow (see the module docs).
pub(crate) async fn run<R, T>(first: Arc<JobCell<R, T>>, by: RunBy<'_>, w: &mut dyn Runner) -> Ran
where
    R: Run<T>,
    T: Send + 'static,
{
    let mut job = first;
    let mut now = by.now;
    loop {
        let mut attempt = pin!(job.attempt(RunBy { now, ..by }));
        let first = std::future::poll_fn(|cx| Poll::Ready(attempt.as_mut().poll(cx))).await;
        now = match first {
            Poll::Ready(stopped) => stopped,
            Poll::Pending => {
                w.before_wait();
                return Ran { stopped: attempt.await, quick: false, next: None };
            }
        };
        let next = w.next_now();
        match next.map(same_type::<JobCell<R, T>>) {
            Some(Ok(same)) => job = same,
            next => return Ran { stopped: now, quick: true, next: next.and_then(Result::err) },
        }
    }
}

/// `task` as a `C` if it is one and the run may take it (it needs no limit), else `task`.
fn same_type<C: Task>(task: Item) -> Result<Arc<C>, Item> {
    if task.core().is_limited() || !(&*task as &dyn Any).is::<C>() {
        return Err(task);
    }
    let any: Arc<dyn Any + Send + Sync> = task;
    match any.downcast::<C>() {
        Ok(cell) => Ok(cell),
        // Unreachable: the type was checked just above.
        Err(_) => unreachable!("a job's type changed between two looks"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Item, same_type};
    use crate::cell::Task;
    use crate::{Job, Pool};

    /// One worker, jobs of two types and a keyed one queued together: runs hand the jobs
    /// they do not take back to the worker loop, and every job runs once, in queue order. (A
    /// lost job fails the timeout: the paused clock jumps ahead once nothing else can run.)
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn runs_hand_over_other_jobs_in_order() {
        let pool = Pool::builder().workers(1).concurrency_limit("k", 1).build();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let a = |n: u32| {
            let log = log.clone();
            Job::new(move |_| {
                log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(n);
                async move { Ok::<_, std::io::Error>(n) }
            })
        };
        let b = |n: u32| {
            let log = log.clone();
            Job::infallible(move |_| {
                log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(n);
                async move { n }
            })
        };
        pool.pause();
        let mut handles = Vec::new();
        for n in 0..6 {
            let h = match n {
                2 => pool.submit(b(n)).await.unwrap(),
                4 => pool.submit(a(n).concurrency_key("k")).await.unwrap(),
                _ => pool.submit(a(n)).await.unwrap(),
            };
            handles.push(h);
        }
        pool.resume();
        for (n, h) in (0..).zip(handles) {
            let lost = tokio::time::timeout(std::time::Duration::from_secs(60), h).await;
            assert_eq!(lost.expect("job lost").unwrap(), n);
        }
        let log = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        assert_eq!(log, [0, 1, 2, 3, 4, 5], "each once, in submit order");
    }

    /// A job that holds its concurrency key's slot ends its run: the worker releases the slot
    /// when the run returns, so a run that went on (here into a job that waits for the next
    /// job of that key) would hold the slot for jobs that do not have the key, and the next
    /// keyed job could never start.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_run_ends_with_a_job_that_holds_a_key() {
        let pool = Pool::builder().workers(2).concurrency_limit("k", 1).build();
        let third_started = Arc::new(tokio::sync::Notify::new());
        let job = |n: u32| {
            let signal = third_started.clone();
            Job::new(move |_| {
                let signal = signal.clone();
                async move {
                    match n {
                        2 => signal.notified().await,
                        3 => signal.notify_one(),
                        _ => {}
                    }
                    Ok::<_, std::io::Error>(n)
                }
            })
        };
        pool.pause();
        let first = pool.submit(job(1).concurrency_key("k")).await.unwrap();
        let second = pool.submit(job(2)).await.unwrap();
        let third = pool.submit(job(3).concurrency_key("k")).await.unwrap();
        pool.resume();
        for (n, h) in [(1, first), (2, second), (3, third)] {
            let stuck = tokio::time::timeout(std::time::Duration::from_secs(60), h).await;
            assert_eq!(stuck.expect("the key's slot was never released").unwrap(), n);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_run_takes_only_unlimited_jobs_of_its_own_type() {
        let pool = Pool::builder().build();
        let make = |n: u32| Job::new(move |_| async move { Ok::<_, std::io::Error>(n) });
        let a = pool.prepare(make(1));
        let b: Item = pool.prepare(make(2));
        let limited: Item = pool.prepare(make(3).concurrency_key("k"));
        let other: Item = pool.prepare(Job::new(|_| async { Ok::<_, std::io::Error>("other") }));
        fn same_as<C: Task>(_: &Arc<C>, task: Item) -> Result<Arc<C>, Item> {
            same_type::<C>(task)
        }
        let b_ptr = Arc::as_ptr(&b).cast::<()>();
        let taken = same_as(&a, b).ok().map(|cell| Arc::as_ptr(&cell).cast::<()>());
        assert_eq!(taken, Some(b_ptr), "same type, no limit: taken");
        assert!(same_as(&a, limited).is_err(), "a job with a key goes to the worker loop");
        assert!(same_as(&a, other).is_err(), "another type goes to the worker loop");
    }
}

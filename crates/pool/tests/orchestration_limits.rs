//! Per-key concurrency limits (the pool's `asyncio.Semaphore`): never exceeded, changeable at
//! run time, and a job waiting for its key holds no worker — the worker runs other keys' jobs
//! instead, in priority order. Everything runs on tokio's paused clock.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conveyor_pool::{Job, JobError, JobHandle, JobStatus, Pool, Run};
use tokio::sync::{Semaphore, oneshot};

type Io<T> = Result<T, std::io::Error>;

/// Lets every ready task run (the runtime only moves a paused clock when nothing is ready),
/// then moves the clock by 1 ms.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Awaits `fut`, failing instead of hanging: on the paused clock the runtime jumps straight
/// to this deadline once nothing else can run.
async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(24 * 3600), fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what} never completed"),
    }
}

/// How many jobs run now, and the most that ever ran at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
    started: AtomicUsize,
}

impl Gauge {
    fn enter(self: &Arc<Self>) -> Running {
        let n = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(n, SeqCst);
        self.started.fetch_add(1, SeqCst);
        Running(self.clone())
    }

    fn now(&self) -> usize {
        self.now.load(SeqCst)
    }

    fn max(&self) -> usize {
        self.max.load(SeqCst)
    }

    fn started(&self) -> usize {
        self.started.load(SeqCst)
    }
}

/// Counts a job out of its gauge when its attempt ends, however it ends.
struct Running(Arc<Gauge>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, SeqCst);
    }
}

/// A gate jobs wait at: `let_one` lets one through, `open` all of them.
#[derive(Clone)]
struct Gate(Arc<Semaphore>);

impl Gate {
    fn new() -> Self {
        Gate(Arc::new(Semaphore::new(0)))
    }

    async fn pass(&self) {
        // A closed semaphore is an open gate.
        if let Ok(permit) = self.0.acquire().await {
            permit.forget();
        }
    }

    fn let_one(&self) {
        self.0.add_permits(1);
    }

    fn open(&self) {
        self.0.close();
    }
}

/// A job that counts itself in `gauge` while it runs and ends when `gate` lets it through.
fn gated(gauge: &Arc<Gauge>, gate: &Gate) -> Job<impl Run<()>> {
    let (gauge, gate) = (gauge.clone(), gate.clone());
    Job::new(move |_| {
        let (gauge, gate) = (gauge.clone(), gate.clone());
        async move {
            let _running = gauge.enter();
            gate.pass().await;
            Io::Ok(())
        }
    })
}

/// A job that counts itself in `gauge` for `ms` milliseconds.
fn sleeper(gauge: &Arc<Gauge>, ms: u64) -> Job<impl Run<()>> {
    let gauge = gauge.clone();
    Job::new(move |_| {
        let gauge = gauge.clone();
        async move {
            let _running = gauge.enter();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Io::Ok(())
        }
    })
}

/// A job that appends `name` to `log` when it starts.
fn logged(log: &Arc<Mutex<Vec<&'static str>>>, name: &'static str) -> Job<impl Run<()>> {
    let log = log.clone();
    Job::new(move |_| {
        log.lock().unwrap().push(name);
        async { Io::Ok(()) }
    })
}

/// A job that waits for a oneshot (taken on its first attempt).
fn held_on(rx: oneshot::Receiver<()>) -> Job<impl Run<()>> {
    let rx = Mutex::new(Some(rx));
    Job::new(move |_| {
        let rx = rx.lock().unwrap().take();
        async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
            Io::Ok(())
        }
    })
}

async fn all_ok(handles: Vec<JobHandle<()>>) {
    for h in handles {
        within("a job", h).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn limits_are_never_exceeded_and_are_reached() {
    let pool = Pool::builder().workers(8).concurrency_limit("a", 3).concurrency_limit("b", 1).build();
    let (a, b, free) = (Arc::new(Gauge::default()), Arc::new(Gauge::default()), Arc::new(Gauge::default()));
    let mut handles = Vec::new();
    for i in 0..30u64 {
        let ms = 10 + (i * 7) % 30;
        let job = match i % 3 {
            0 => sleeper(&a, ms).concurrency_key("a"),
            1 => sleeper(&b, ms).concurrency_key("b"),
            _ => sleeper(&free, ms).concurrency_key("free"),
        };
        handles.push(pool.submit(job).await.unwrap());
    }
    all_ok(handles).await;
    assert_eq!(a.max(), 3, "key a: at most (and, with 10 jobs queued, exactly) 3 at once");
    assert_eq!(b.max(), 1, "key b: one at a time");
    assert!(free.max() > 3, "a key without a limit only groups: {} ran at once", free.max());
    assert_eq!((a.started(), b.started(), free.started()), (10, 10, 10));
    assert_eq!(pool.unresolved(), 0);
}

#[tokio::test(start_paused = true)]
async fn raising_the_limit_starts_more_at_once_and_lowering_it_starts_none_until_below() {
    let pool = Pool::builder().workers(8).concurrency_limit("k", 2).build();
    let (gauge, gate) = (Arc::new(Gauge::default()), Gate::new());
    let mut handles = Vec::new();
    for _ in 0..12 {
        handles.push(pool.submit(gated(&gauge, &gate).concurrency_key("k")).await.unwrap());
    }
    settle().await;
    assert_eq!(gauge.now(), 2);

    pool.set_concurrency_limit("k", Some(5));
    settle().await;
    assert_eq!(gauge.now(), 5, "raising the limit starts the waiting jobs at once");

    pool.set_concurrency_limit("k", Some(2));
    settle().await;
    assert_eq!(gauge.now(), 5, "lowering the limit stops no running job");
    for running in [4, 3, 2] {
        gate.let_one();
        settle().await;
        assert_eq!(gauge.now(), running, "no new start while at or above the lowered limit");
        assert_eq!(gauge.started(), 5);
    }
    gate.let_one();
    settle().await;
    assert_eq!(gauge.now(), 2, "below the limit again: one more starts");
    assert_eq!(gauge.started(), 6);

    pool.set_concurrency_limit("k", None);
    settle().await;
    assert_eq!(gauge.now(), 8, "no limit: every worker takes one");
    gate.open();
    all_ok(handles).await;
    assert_eq!(gauge.started(), 12);
    assert_eq!(gauge.max(), 8);
}

/// Two workers, one of them held by the running job of key `k` (limit 1): the jobs of `k`
/// queued behind it must not take the other worker, which has to run the other keys' jobs.
/// A pool that waited for the key on a worker would hang here.
#[tokio::test(start_paused = true)]
async fn a_blocked_key_holds_no_worker() {
    let pool = Pool::builder().workers(2).concurrency_limit("k", 1).build();
    let (tx, rx) = oneshot::channel();
    let holder = pool.submit(held_on(rx).concurrency_key("k")).await.unwrap();
    settle().await;
    assert_eq!(holder.status(), JobStatus::Running);

    let k = Arc::new(Gauge::default());
    let mut waiting = Vec::new();
    for _ in 0..5 {
        waiting.push(pool.submit(sleeper(&k, 0).concurrency_key("k")).await.unwrap());
    }
    let others = Arc::new(Gauge::default());
    let mut other = Vec::new();
    for i in 0..5 {
        let job = sleeper(&others, 10);
        let job = if i % 2 == 0 { job.concurrency_key("other") } else { job };
        other.push(pool.submit(job).await.unwrap());
    }
    all_ok(other).await;
    assert_eq!(others.started(), 5, "the free worker ran the other jobs");
    assert_eq!(k.started(), 0, "no job of k started while its only slot was taken");
    assert!(waiting.iter().all(|h| h.status() == JobStatus::Queued));

    tx.send(()).unwrap();
    within("the holder", holder).await.unwrap();
    all_ok(waiting).await;
    assert_eq!((k.started(), k.max()), (5, 1));
}

/// One worker and a paused key: the key's jobs are set aside, the worker runs the rest.
#[tokio::test(start_paused = true)]
async fn a_paused_key_holds_no_worker() {
    let pool = Pool::builder().workers(1).build();
    pool.pause_key("mail");
    let (mail, others) = (Arc::new(Gauge::default()), Arc::new(Gauge::default()));
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(pool.submit(sleeper(&mail, 5).concurrency_key("mail")).await.unwrap());
    }
    let mut other = Vec::new();
    for _ in 0..3 {
        other.push(pool.submit(sleeper(&others, 5).concurrency_key("reports")).await.unwrap());
    }
    all_ok(other).await;
    settle().await;
    assert_eq!(mail.started(), 0, "nothing of a paused key starts");
    assert!(waiting.iter().all(|h| h.status() == JobStatus::Queued), "queued work stays");

    pool.resume_key("mail");
    all_ok(waiting).await;
    assert_eq!(mail.started(), 3);
}

/// A job set aside for its key may still be cancelled, and never runs.
#[tokio::test(start_paused = true)]
async fn a_job_parked_for_its_key_can_be_cancelled() {
    let pool = Pool::builder().workers(1).build();
    pool.pause_key("k");
    let gauge = Arc::new(Gauge::default());
    let parked = pool.submit(sleeper(&gauge, 0).concurrency_key("k")).await.unwrap();
    settle().await;
    assert!(parked.cancel());
    assert!(matches!(within("the cancelled job", parked).await, Err(JobError::Cancelled)));
    pool.resume_key("k");
    settle().await;
    assert_eq!(gauge.started(), 0);
    assert_eq!(pool.unresolved(), 0);
}

/// Jobs set aside for their key do not disturb the order of the runnable ones, and go back
/// to their place in priority order when their key frees.
#[tokio::test(start_paused = true)]
async fn priority_order_holds_among_runnable_jobs_while_some_are_parked() {
    let pool = Pool::builder().workers(2).concurrency_limit("k", 1).build();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = oneshot::channel();
    let (log2, rx) = (log.clone(), Mutex::new(Some(rx)));
    let holder = Job::new(move |_| {
        log2.lock().unwrap().push("K0 (holds k)");
        let rx = rx.lock().unwrap().take();
        async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
            Io::Ok(())
        }
    });
    pool.pause();
    let mut handles = vec![pool.submit(holder.priority(0).concurrency_key("k")).await.unwrap()];
    for (name, priority, key) in [
        ("F6", 6, None),
        ("K5", 5, Some("k")),
        ("F3", 3, None),
        ("K1", 1, Some("k")),
        ("F2", 2, Some("other")),
    ] {
        let job = logged(&log, name).priority(priority);
        let job = match key {
            Some(k) => job.concurrency_key(k),
            None => job,
        };
        handles.push(pool.submit(job).await.unwrap());
    }
    pool.resume();
    settle().await;
    // One worker holds K0; the other sets K1 and K5 aside and runs the rest by priority.
    assert_eq!(*log.lock().unwrap(), ["K0 (holds k)", "F2", "F3", "F6"]);
    tx.send(()).unwrap();
    for h in handles {
        within("a job", h).await.unwrap();
    }
    assert_eq!(*log.lock().unwrap(), ["K0 (holds k)", "F2", "F3", "F6", "K1", "K5"]);
}

/// Parked jobs released by `resume_key` go back into the queue at their priority: ahead of
/// worse-priority jobs queued meanwhile.
#[tokio::test(start_paused = true)]
async fn released_jobs_take_their_priority_place_in_the_queue() {
    let pool = Pool::builder().workers(1).build();
    let log = Arc::new(Mutex::new(Vec::new()));
    let gate = Gate::new();
    let (log2, gate2) = (log.clone(), gate.clone());
    let holder = Job::new(move |_| {
        log2.lock().unwrap().push("F1 (holds the worker)");
        let gate = gate2.clone();
        async move {
            gate.pass().await;
            Io::Ok(())
        }
    });
    pool.pause();
    pool.pause_key("k");
    let mut handles = vec![
        pool.submit(logged(&log, "K0").priority(0).concurrency_key("k")).await.unwrap(),
        pool.submit(logged(&log, "K2").priority(2).concurrency_key("k")).await.unwrap(),
        pool.submit(holder.priority(1)).await.unwrap(),
        pool.submit(logged(&log, "F3").priority(3)).await.unwrap(),
        pool.submit(logged(&log, "F4").priority(4)).await.unwrap(),
    ];
    pool.resume();
    settle().await;
    assert_eq!(*log.lock().unwrap(), ["F1 (holds the worker)"], "K0 and K2 were set aside");
    pool.resume_key("k");
    settle().await;
    gate.open();
    for h in handles.drain(..) {
        within("a job", h).await.unwrap();
    }
    assert_eq!(*log.lock().unwrap(), ["F1 (holds the worker)", "K0", "K2", "F3", "F4"]);
}

/// Regression: a job that its key's release sent back to the queue, cancelled before a worker
/// took it again, kept the start it had been promised — the key's room stayed one short for
/// good, and with limit 1 the key never ran another job (this test hung).
#[tokio::test(start_paused = true)]
async fn cancelling_a_released_job_gives_its_start_back_to_the_key() {
    let pool = Pool::builder().workers(2).concurrency_limit("k", 1).build();
    let gauge = Arc::new(Gauge::default());
    let (first_tx, first_rx) = oneshot::channel();
    let first = pool.submit(held_on(first_rx).concurrency_key("k")).await.unwrap();
    settle().await;
    let second = pool.submit(sleeper(&gauge, 0).priority(5).concurrency_key("k")).await.unwrap();
    settle().await; // the free worker sets `second` aside
    let (busy1_tx, busy1_rx) = oneshot::channel();
    let busy1 = pool.submit(held_on(busy1_rx)).await.unwrap();
    settle().await; // ... and takes `busy1`
    let (busy2_tx, busy2_rx) = oneshot::channel();
    let busy2 = pool.submit(held_on(busy2_rx).priority(0)).await.unwrap();
    first_tx.send(()).unwrap();
    settle().await;
    // `first` ended: `second` went back to the queue, but its worker took `busy2` (priority 0).
    assert_eq!(busy2.status(), JobStatus::Running);
    assert_eq!(second.status(), JobStatus::Queued);
    assert!(second.cancel());
    assert!(matches!(within("second", second).await, Err(JobError::Cancelled)));

    let third = pool.submit(sleeper(&gauge, 0).concurrency_key("k")).await.unwrap();
    busy1_tx.send(()).unwrap();
    busy2_tx.send(()).unwrap();
    within("the key's next job", third).await.unwrap();
    for h in [first, busy1, busy2] {
        within("a job", h).await.unwrap();
    }
    assert_eq!(gauge.started(), 1);
}

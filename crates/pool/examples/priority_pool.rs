//! The seeds' asyncio `WorkerPool`: 3 workers serving 10 jobs of random priority from a
//! `PriorityQueue`, lowest priority first.
//!
//! ```python
//! async def submit(self, job):  await self.queue.put((job.priority, job.id, job))
//! async def _worker(self, name):
//!     while True:
//!         priority, _, job = await self.queue.get()
//!         await asyncio.sleep(random.uniform(0.1, 0.5)); self.queue.task_done()
//! # run(): submit all jobs, create_task(_worker) x3, await self.queue.join(), cancel workers
//! ```
//!
//! Here the pool owns the queue and the workers; `Pool::join` is `queue.join()`, and a job
//! learns which worker runs it from `ctx.worker()` (0, 1 or 2; with the default
//! `Pool::builder().build()`, 256 workers, each job gets a worker of its own). As in the
//! asyncio original, all 10 jobs are queued before any worker runs: on a current-thread
//! runtime the workers only get to run when `main` first waits (at `pool.join()`).
//!
//! Run with `cargo run -p conveyor-pool --example priority_pool`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conveyor_pool::{Job, Pool};
use rand::RngExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder().workers(3).build();
    let started = Arc::new(Mutex::new(Vec::new())); // priorities, in start order
    let t0 = Instant::now();

    let mut rng = rand::rng();
    let mut submitted = Vec::new();
    for id in 0..10 {
        let priority = rng.random_range(1..=5);
        let delay = Duration::from_millis(rng.random_range(100..=500));
        let started = started.clone();
        let job = Job::new(move |ctx| {
            let n = {
                let mut started = started.lock().expect("not poisoned");
                started.push(priority);
                started.len()
            };
            // asyncio: print(f"worker-{name} processing job ...")
            let worker = ctx.worker();
            println!("{n:>2}. worker {worker} starts job#{id} (priority {priority}, {delay:?})");
            async move {
                tokio::time::sleep(delay).await;
                Ok::<_, std::io::Error>(())
            }
        })
        .priority(priority)
        .name(format!("job#{id}"));
        // Dropping the handle detaches the job; `join` still waits for it.
        let _detached = pool.submit(job).await?;
        submitted.push(format!("job#{id}:p{priority}"));
    }
    println!("submitted (in this order): {}", submitted.join(" "));
    println!("started (lowest priority first, ties in submit order):");

    pool.join().await; // asyncio: await queue.join()
    let order = started.lock().expect("not poisoned").clone();
    let sorted = order.is_sorted();
    println!(
        "processed 10 jobs in {:.2}s; start order by priority {order:?}, sorted: {sorted}",
        t0.elapsed().as_secs_f64()
    );
    pool.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

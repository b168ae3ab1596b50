//! The seeds' "one worker fails, stop the others" (seed 001, `asyncio.wait(...,
//! return_when=FIRST_EXCEPTION)`, then `cancel()` the pending tasks and gather them) with a
//! `JobSet`: `fail_fast()` does the waiting, the cancelling and the waiting for cleanup.
//!
//! ```python
//! done, pending = await asyncio.wait(
//!     [*[worker(i) for i in range(1, 4)], worker_with_exception(4)],
//!     return_when=asyncio.FIRST_EXCEPTION)
//! for p in pending: p.cancel()          # worker(): except CancelledError: clean up
//! await asyncio.gather(*pending)
//! ```
//!
//! Run with `cargo run -p conveyor-pool --example fail_fast`.

use std::error::Error;
use std::time::{Duration, Instant};

use conveyor_pool::{Job, JobSet, Pool};
use tokio::time::sleep;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let t0 = Instant::now();
    let at = move || format!("{:>4} ms", t0.elapsed().as_millis());
    let pool = Pool::builder().workers(4).build();
    let mut workers = JobSet::new(&pool);
    let mut names = Vec::new();
    for n in 1..=3 {
        let id = workers
            .submit(Job::new(move |ctx| async move {
                loop {
                    println!("{} worker {n} new iter", at());
                    tokio::select! {
                        _ = ctx.cancelled() => break,
                        _ = sleep(Duration::from_millis(300)) => {}
                    }
                }
                println!("{} worker {n} was cancelled, cleaning up", at());
                sleep(Duration::from_millis(100)).await; // flush, close connections
                println!("{} worker {n} was correctly cancelled", at());
                Err::<(), _>("cancelled")
            }))
            .await?;
        names.push((id, n));
    }
    let failing = Job::new(move |_ctx| async move {
        sleep(Duration::from_millis(700)).await;
        println!("{} worker 4 raises", at());
        Err::<(), _>("disk on fire")
    });
    names.push((workers.submit(failing).await?, 4));

    let name = |id| names.iter().find(|(i, _)| *i == id).map_or(0, |(_, n)| *n);
    match workers.fail_fast().await {
        Ok(all) => println!("{} all {} workers finished", at(), all.len()),
        Err(stop) => {
            let cancelled: Vec<_> = stop.cancelled.iter().map(|id| name(*id)).collect();
            println!("{} worker {} failed ({})", at(), name(stop.failed), stop.error);
            println!("{} cancelled workers {cancelled:?}; their cleanup is done", at());
        }
    }
    pool.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

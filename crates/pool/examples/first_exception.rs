//! The seeds' `asyncio.wait(return_when=FIRST_EXCEPTION)`: three looping workers and one
//! that fails; the failure cancels the others, which clean up, and the program reports it.
//!
//! ```python
//! done, pending = await asyncio.wait(
//!     [*[worker(i) for i in range(1, 4)], worker_with_exception(4)],
//!     return_when=asyncio.FIRST_EXCEPTION)
//! for p in pending: p.cancel()          # worker(): except CancelledError: clean up
//! await asyncio.gather(*pending)
//! ```
//!
//! Here: wait on the handles (a `FuturesUnordered` over `&mut JobHandle`, since awaiting a
//! handle is cancel safe) until one errors, then `cancel()` the rest and await them; each
//! sees `ctx.cancelled()`, cleans up, and ends as `JobError::Cancelled`.
//!
//! Run with `cargo run -p conveyor-pool --example first_exception`.

use std::error::Error;
use std::time::Duration;

use conveyor_pool::{Job, JobError, Pool};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::sleep;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The defaults run all four at once: no tuning (asyncio runs every coroutine at once).
    let pool = Pool::builder().build();
    let mut handles = Vec::new();
    for n in 1..=3 {
        let worker = Job::new(move |ctx| async move {
            loop {
                tokio::select! {
                    _ = ctx.cancelled() => break,
                    _ = sleep(Duration::from_millis(300)) => println!("worker {n} new iter"),
                }
            }
            println!("worker {n} cleaning up");
            sleep(Duration::from_millis(100)).await; // close connections, flush, …
            Ok::<_, std::io::Error>(())
        });
        handles.push(pool.submit(worker).await?);
    }
    let failing = Job::new(|_ctx| async {
        sleep(Duration::from_millis(700)).await;
        println!("worker 4 raises");
        Err::<(), _>("disk on fire")
    });
    handles.push(pool.submit(failing).await?);

    // asyncio.wait(..., return_when=FIRST_EXCEPTION)
    let mut done = vec![false; handles.len()];
    let mut failure: Option<(usize, JobError)> = None;
    let mut waiting: FuturesUnordered<_> =
        handles.iter_mut().enumerate().map(|(i, h)| async move { (i, h.await) }).collect();
    while let Some((i, result)) = waiting.next().await {
        done[i] = true;
        if let Err(err) = result {
            failure = Some((i + 1, err));
            break;
        }
    }
    drop(waiting); // gives the handles back
    let pending: Vec<_> = handles.into_iter().zip(1..).filter(|(_, n)| !done[n - 1]).collect();
    println!("done({}) pending({}): cancelling the rest", 4 - pending.len(), pending.len());
    for (h, _) in &pending {
        h.cancel();
    }
    for (h, n) in pending {
        let ended = h.await.err().map_or("ok".into(), |e| e.to_string());
        println!("worker {n} ended: {ended}");
    }
    if let Some((n, err)) = failure {
        // `{err}` names the job's own error ("job failed: disk on fire").
        println!("main: worker {n} failed, exiting with: {err}");
    }
    Ok(())
}

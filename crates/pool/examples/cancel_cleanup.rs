//! The seeds' `task.cancel()` with `CancelledError` cleanup: a long "database operation" is
//! cancelled after a while and rolls back before it ends.
//!
//! ```python
//! async def db_operation():
//!     try:
//!         while True: print("operation new round"); await asyncio.sleep(1)
//!     except CancelledError:
//!         print("operation was cancelled"); await asyncio.sleep(1)   # clean up
//! task = asyncio.create_task(db_operation()); await asyncio.sleep(5)
//! task.cancel(); await task
//! ```
//!
//! Here `handle.cancel()` makes `ctx.cancelled()` fire inside the job, which then has the
//! pool's grace period (default 5 s) to clean up; the handle resolves to
//! `JobError::Cancelled` once the cleanup has run.
//!
//! Run with `cargo run -p conveyor-pool --example cancel_cleanup`.

use std::time::{Duration, Instant};

use conveyor_pool::{Job, Pool};
use tokio::time::sleep;

fn say(t0: Instant, what: impl std::fmt::Display) {
    println!("{:>5} ms  {what}", t0.elapsed().as_millis());
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let pool = Pool::builder().workers(1).build();
    let db_operation = Job::new(move |ctx| async move {
        say(t0, "operation start");
        loop {
            tokio::select! {
                _ = ctx.cancelled() => break,
                _ = sleep(Duration::from_millis(300)) => say(t0, "operation new round"),
            }
        }
        say(t0, "operation was cancelled: rolling back");
        sleep(Duration::from_millis(400)).await; // ROLLBACK
        say(t0, "rollback done");
        Ok::<_, std::io::Error>(())
    })
    .name("db_operation");
    let handle = pool.submit(db_operation).await?;

    sleep(Duration::from_millis(1000)).await;
    say(t0, format!("main: cancel (status {:?})", handle.status()));
    handle.cancel();
    say(t0, format!("main: cancel requested (status {:?}), awaiting the job", handle.status()));
    let result = handle.await;
    say(t0, format!("main: job ended: {:?}", result));
    Ok(())
}

//! The seeds' "several equal sources, take the fastest" (seed 001, `asyncio.wait(...,
//! return_when=FIRST_COMPLETED)`): ask five mirrors for the same data, keep the first answer,
//! cancel the others — which clean up before the race returns.
//!
//! ```python
//! async def random_sleep(i):
//!     print(f"{i}: start sleep"); await asyncio.sleep(random.randint(1, 5)); print(f"{i}: end sleep")
//! await asyncio.wait([random_sleep(i) for i in range(1, 6)], return_when=FIRST_COMPLETED)
//! ```
//!
//! Here: submit the requests through a `JobSet` and call `race()`: the first success wins,
//! the losers see `ctx.cancelled()`, close their connection and end as cancelled; `race`
//! returns only after that. (If every source failed, it would return every error.)
//!
//! Run with `cargo run -p conveyor-pool --example race`.

use std::time::{Duration, Instant};

use conveyor_pool::{Job, JobSet, Pool};
use tokio::time::sleep;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let at = move || format!("{:>4} ms", t0.elapsed().as_millis());
    let pool = Pool::builder().workers(5).build();
    let mut sources = JobSet::new(&pool);
    // The seed draws 1–5 s at random; fixed, shorter times keep the output stable.
    for (i, ms) in [(1u32, 900u64), (2, 400), (3, 700), (4, 300), (5, 800)] {
        sources
            .submit(Job::new(move |ctx| async move {
                println!("{} {i}: start request", at());
                tokio::select! {
                    _ = sleep(Duration::from_millis(ms)) => {
                        println!("{} {i}: answered", at());
                        Ok(format!("data from mirror {i}"))
                    }
                    _ = ctx.cancelled() => {
                        sleep(Duration::from_millis(50)).await; // close the connection
                        println!("{} {i}: cancelled, connection closed", at());
                        Err("cancelled")
                    }
                }
            }))
            .await?;
    }
    match sources.race().await {
        Ok(data) => println!("{} race returned: {data} (the losers have cleaned up)", at()),
        Err(errors) => println!("{} every source failed: {errors:?}", at()),
    }
    pool.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

//! The seeds' rate-limiter exercise (seed 004, "Задание 3: Rate limiter"): at most N calls
//! per period, a call over the limit waits — as a pool rate limit on a key.
//!
//! ```python
//! class RateLimiter:
//!     """Ограничитель частоты запросов."""
//!     def __init__(self, max_calls: int, period: float): ...
//!     async def acquire(self) -> None:
//!         """Ждёт если превышен лимит."""
//! ```
//!
//! Here: `rate_limit("api", 5, 1 s)` is a token bucket — a burst of 5, then one call every
//! 200 ms. A call waiting for its turn holds no worker: with 6 workers, 5 run the burst and
//! the sixth sets the waiting calls aside and runs the report job (no key) at once, although
//! it was submitted last.
//!
//! Run with `cargo run -p conveyor-pool --example rate_limit`.

use std::time::{Duration, Instant};

use conveyor_pool::{Job, Pool};

const CALLS: usize = 12;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder().workers(6).rate_limit("api", 5, Duration::from_secs(1)).build();
    let t0 = Instant::now();
    let at = move || t0.elapsed().as_millis();

    let mut calls = Vec::new();
    for n in 1..=CALLS {
        let call = Job::new(move |_ctx| async move {
            println!("{:>5} ms  call {n:>2} starts", at());
            tokio::time::sleep(Duration::from_millis(50)).await; // the request itself
            Ok::<_, std::io::Error>(at())
        })
        .concurrency_key("api");
        calls.push(pool.submit(call).await?);
    }
    let report = Job::new(move |_ctx| async move {
        println!("{:>5} ms  report (no key) runs at once: no worker waits for the api", at());
        Ok::<_, std::io::Error>(())
    });
    pool.submit(report).await?.await?;

    let mut last = 0;
    for call in calls {
        last = call.await?;
    }
    println!("{CALLS} calls at 5 per second (burst 5, then one per 200 ms): done at {last} ms");
    pool.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

//! The seeds' `async_retry` exercise (seed 004, "Задание 2: Async retry"): a flaky call tried
//! again on error, with exponential backoff, as a pool retry policy.
//!
//! ```python
//! async def async_retry(coroutine_func, max_attempts: int = 3, delay: float = 1.0):
//!     """Повторяет async функцию при ошибке с задержкой."""
//! ```
//!
//! Here: `RetryPolicy::exponential(5, 100 ms)` waits 100, 200, 400, 800 ms between attempts
//! (holding no worker meanwhile); the flaky call succeeds on its 4th attempt. A second call
//! that always fails shows the policy giving up after its last attempt. The pool's event
//! stream reports each scheduled retry.
//!
//! Run with `cargo run -p conveyor-pool --example retry`.

use std::time::{Duration, Instant};

use conveyor_pool::{Event, Job, Pool, RetryPolicy};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder().workers(2).build();
    let t0 = Instant::now();
    let at = move || t0.elapsed().as_millis();

    let mut events = pool.events();
    tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            if let Event::RetryScheduled { job, attempt, delay, error } = event {
                let name = job.name.as_deref().unwrap_or("?");
                println!("{:>5} ms  {name}: attempt {attempt} failed ({error}); retry in {delay:?}", at());
            }
        }
    });

    let policy = RetryPolicy::exponential(5, Duration::from_millis(100));
    let flaky = Job::new(move |ctx| async move {
        println!("{:>5} ms  flaky: attempt {}", at(), ctx.attempt());
        if ctx.attempt() < 4 {
            return Err(format!("503 Service Unavailable (attempt {})", ctx.attempt()));
        }
        Ok("200 OK")
    })
    .name("flaky")
    .retry(policy);
    let broken = Job::new(|_ctx| async { Err::<&str, _>("connection refused") })
        .name("broken")
        .retry(RetryPolicy::exponential(3, Duration::from_millis(100)));

    let (flaky, broken) = (pool.submit(flaky).await?, pool.submit(broken).await?);
    let flaky = async move {
        let result = flaky.await;
        println!("{:>5} ms  flaky: {}", at(), result.as_ref().map_or("failed", |ok| *ok));
    };
    let broken = async move {
        if let Err(e) = broken.await {
            println!("{:>5} ms  broken: gave up after 3 attempts: {e}", at());
        }
    };
    tokio::join!(flaky, broken);
    pool.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

//! The seeds' "at most 3 downloads at once" (seed 000, `asyncio.Semaphore(3)` around
//! `fetch_url` for 10 URLs, gathered) — as a concurrency limit on a key.
//!
//! ```python
//! async def fetch_url(url, semaphore):
//!     async with semaphore:
//!         print(f"Загружаю: {url}"); await asyncio.sleep(1); return f"OK: {url}"
//! semaphore = asyncio.Semaphore(3)
//! results = await asyncio.gather(*[fetch_url(url, semaphore) for url in urls])
//! ```
//!
//! Here: 10 workers, but `concurrency_limit("downloads", 3)`: at most 3 run at once, and the
//! jobs waiting for the key hold no worker. Results come back in URL order, like `gather`.
//!
//! Run with `cargo run -p conveyor-pool --example semaphore`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use conveyor_pool::{Job, Pool};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder().workers(10).concurrency_limit("downloads", 3).build();
    let t0 = Instant::now();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));

    let mut downloads = Vec::new();
    for i in 0..10u64 {
        let url = format!("https://api.example.com/page/{i}");
        let (running, most) = (running.clone(), most.clone());
        let fetch = Job::new(move |_ctx| {
            let (url, running, most) = (url.clone(), running.clone(), most.clone());
            async move {
                let now = running.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                println!("{:>5} ms  fetching {url}  ({now} running)", t0.elapsed().as_millis());
                tokio::time::sleep(Duration::from_millis(300 + 40 * (i % 3))).await; // the request
                running.fetch_sub(1, SeqCst);
                Ok::<_, std::io::Error>(format!("OK: {url}"))
            }
        })
        .concurrency_key("downloads");
        downloads.push(pool.submit(fetch).await?);
    }

    let mut results = Vec::new();
    for d in downloads {
        results.push(d.await?);
    }
    println!("{} first: {}, last: {}", results.len(), results[0], results[results.len() - 1]);
    println!(
        "loaded {} pages in {} ms, at most {} at once",
        results.len(),
        t0.elapsed().as_millis(),
        most.load(SeqCst)
    );
    pool.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

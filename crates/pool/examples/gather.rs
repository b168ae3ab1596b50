//! The seeds' `asyncio.gather`: several jobs run together and their results come back in
//! submit order, whatever order they finish in.
//!
//! ```python
//! results = await asyncio.gather(
//!     say_hello("Яша", 1), say_hello("Анна", 0.5), say_hello("Борис", 0.3))
//! for r in results: print(r)      # in call order; the whole takes ~1 s, not 1.8
//! ```
//!
//! Here: submit the jobs, then await their handles together in order
//! (`futures_util::future::try_join_all`, like `gather` without `return_exceptions`;
//! `join_all` keeps every `Result`, like `return_exceptions=True`).
//!
//! Run with `cargo run -p conveyor-pool --example gather`.

use std::time::{Duration, Instant};

use conveyor_pool::{Job, Pool};
use futures_util::future::try_join_all;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let pool = Pool::builder().workers(3).build();

    let mut handles = Vec::new();
    for (name, ms) in [("Yasha", 900), ("Anna", 500), ("Boris", 300)] {
        let say_hello = Job::new(move |_ctx| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            println!("{:>5} ms  {name} finished", t0.elapsed().as_millis());
            Ok::<_, std::io::Error>(format!("Hello, {name}! (took {ms} ms)"))
        })
        .name(name);
        handles.push(pool.submit(say_hello).await?);
    }

    let results = try_join_all(handles).await?; // asyncio.gather(*tasks)
    println!("{:>5} ms  gathered, in submit order:", t0.elapsed().as_millis());
    for r in results {
        println!("          {r}");
    }
    Ok(())
}

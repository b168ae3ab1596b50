//! The seeds' `asyncio.wait_for`: optional data fetched under a timeout. The city map comes
//! back in time; the traffic-jams service is slow, times out, and the answer goes out
//! without it.
//!
//! ```python
//! async def request_traffic_jams(): await asyncio.sleep(10)
//! try:
//!     await asyncio.wait_for(request_traffic_jams(), timeout=1.0)
//! except asyncio.TimeoutError:
//!     print("Problems with traffic_jams service")
//! ```
//!
//! Here `Job::timeout` bounds each attempt: past it, `ctx.cancelled()` fires in the job and
//! the handle resolves to `JobError::TimedOut`.
//!
//! Run with `cargo run -p conveyor-pool --example timeout`.

use std::time::{Duration, Instant};

use conveyor_pool::{Job, JobError, Pool};
use tokio::time::sleep;

/// A call to a service that answers after `latency`, and aborts when told to stop.
fn request(t0: Instant, service: &'static str, latency: Duration) -> Job<impl conveyor_pool::Run<String>> {
    Job::new(move |ctx| async move {
        tokio::select! {
            _ = sleep(latency) => Ok::<_, std::io::Error>(format!("{service} data")),
            _ = ctx.cancelled() => {
                println!("{:>5} ms  {service}: timed out, request aborted", t0.elapsed().as_millis());
                Err(std::io::Error::other("aborted"))
            }
        }
    })
    .name(service)
    .timeout(Duration::from_secs(1))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let ms = || t0.elapsed().as_millis();
    let pool = Pool::builder().workers(2).build();

    let map = pool.submit(request(t0, "city_map", Duration::from_millis(200))).await?;
    let jams = pool.submit(request(t0, "traffic_jams", Duration::from_secs(10))).await?;

    let map = map.await?; // the main data: an error here would fail the request
    println!("{:>5} ms  got {map:?} (in time)", ms());
    let jams = match jams.await {
        Ok(jams) => Some(jams),
        Err(JobError::TimedOut) => {
            println!("{:>5} ms  Problems with traffic_jams service: timed out", ms());
            None
        }
        Err(other) => return Err(other.into()),
    };
    println!("{:>5} ms  response: map = {map:?}, traffic jams = {jams:?}", ms());
    Ok(())
}

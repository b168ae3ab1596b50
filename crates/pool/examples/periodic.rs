//! The seeds' daemon that "once a minute sends the system's status to another service"
//! (seed 001, `while True: await asyncio.sleep(60); await send_statistic()`), as a periodic
//! job: a status report every second until Ctrl-C.
//!
//! ```python
//! async def worker():
//!     while True:
//!         await asyncio.sleep(60)
//!         await send_statistic()
//! ```
//!
//! Here: `pool.schedule(Schedule::every(1 s), factory)` runs a fresh job per tick; a tick that
//! comes while the previous report still runs is skipped (`Overlap::Skip`), so reports never
//! pile up. `--ticks N` stops after N reports (for CI); without it, Ctrl-C stops it.
//!
//! Run with `cargo run -p conveyor-pool --example periodic -- --ticks 3`.

use std::time::{Duration, Instant};

use conveyor_pool::{Job, Overlap, Pool, Schedule};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut ticks: Option<u64> = None;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--ticks", Some(n)) => ticks = Some(n.parse()?),
            _ => return Err(format!("usage: periodic [--ticks N], not {arg:?}").into()),
        }
    }

    let pool = Pool::builder().workers(2).build();
    let t0 = Instant::now();
    let (sent, mut reports) = mpsc::unbounded_channel();
    let weak = pool.downgrade();
    let schedule =
        pool.schedule(Schedule::every(Duration::from_secs(1)).overlap(Overlap::Skip), move |tick| {
            let (sent, weak) = (sent.clone(), weak.clone());
            Job::new(move |_ctx| {
                let (sent, weak) = (sent.clone(), weak.clone());
                async move {
                    let (queued, unresolved) =
                        weak.upgrade().map_or((0, 0), |p| (p.queued(), p.unresolved()));
                    println!(
                        "{:>5} ms  status #{}: up {:.1} s, {queued} queued, {unresolved} unresolved",
                        t0.elapsed().as_millis(),
                        tick.number,
                        t0.elapsed().as_secs_f64(),
                    );
                    let _ = sent.send(tick.number);
                    Ok::<_, std::io::Error>(())
                }
            })
            .name("status report")
        });
    println!(
        "reporting every second; {}",
        ticks.map_or("Ctrl-C to stop".into(), |n| format!("stopping after {n}"))
    );

    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                println!("Ctrl-C: stopping");
                break;
            }
            Some(n) = reports.recv() => {
                if ticks.is_some_and(|limit| n >= limit) {
                    break;
                }
            }
        }
    }
    schedule.stop().await;
    pool.shutdown(Duration::from_secs(5)).await;
    println!("stopped after {} reports", schedule.runs());
    Ok(())
}

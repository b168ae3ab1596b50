//! The rescuer (every few seconds: re-queue expired leases of any worker, finalizing only
//! jobs of this worker's kinds), the retention (delete old finished jobs), the per-queue
//! age gauges, and the listener (LISTEN for new jobs; polling covers lost notifications).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::shared::{JOBS_RESCUED_TOTAL, OLDEST_RUNNING_SECONDS, OLDEST_WAITING_SECONDS, Shared};

/// Rows per rescue and retention statement.
const MAINTENANCE_BATCH: i64 = 500;
/// How often old finished jobs are looked for.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

pub(crate) async fn rescuer(shared: Arc<Shared>) {
    let every = (shared.lease() / 3).clamp(Duration::from_millis(500), Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge: Option<Instant> = None;
    let queue = &shared.config.queue;
    loop {
        tick.tick().await;
        while let Ok(r) =
            queue.rescue_kinds(MAINTENANCE_BATCH, shared.config.max_lost, Some(&shared.kinds)).await
        {
            let n = r.requeued + r.failed;
            if n > 0 {
                if shared.config.metrics {
                    metrics::counter!(JOBS_RESCUED_TOTAL).increment(n);
                }
                eprintln!("conveyor: rescued {n} job(s) whose lease expired");
            }
            if n < MAINTENANCE_BATCH.unsigned_abs() {
                break;
            }
        }
        if let Some(keep) = shared.config.retention
            && last_purge.is_none_or(|t| t.elapsed() >= RETENTION_EVERY)
        {
            last_purge = Some(Instant::now());
            while let Ok(n) = queue.purge_finished(keep, MAINTENANCE_BATCH).await {
                if n < MAINTENANCE_BATCH.unsigned_abs() {
                    break;
                }
            }
        }
        if shared.config.metrics
            && let Ok(ages) = queue.ages().await
        {
            for a in ages {
                metrics::gauge!(OLDEST_WAITING_SECONDS, "queue" => a.queue.clone())
                    .set(a.oldest_waiting_seconds);
                metrics::gauge!(OLDEST_RUNNING_SECONDS, "queue" => a.queue).set(a.oldest_running_seconds);
            }
        }
    }
}

pub(crate) async fn listener(shared: Arc<Shared>) {
    loop {
        let mut waker = match shared.config.queue.waker().await {
            Ok(w) => w,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            match waker.wait().await {
                // Every lane's fetcher may have room.
                Ok(()) => shared.lanes.iter().for_each(|l| l.wake.notify_one()),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

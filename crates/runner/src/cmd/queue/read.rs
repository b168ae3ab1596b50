//! `conveyor status` and `conveyor ledger`: reading the queue.

use std::io::Write as _;

use anyhow::Context as _;

use super::convert::ledger_line;
use crate::cli::Format;
use crate::cli::queue::{LedgerArgs, StatusArgs};
use crate::exit::Exit;

/// `conveyor status --queue URL`: counts by state, live workers and the oldest wait; with
/// `--format json` one object `{"available", "scheduled", "running", "succeeded", "failed",
/// "timed_out", "cancelled", "workers", "oldest_waiting_seconds"}` (plus `"panicked"`;
/// `oldest_waiting_seconds` is null when nothing waits), and `"queues": {"NAME": {…}}`, the
/// same counts per queue that has jobs (without `workers`).
///
/// # Errors
///
/// The queue cannot be reached, or stdout cannot be written.
pub fn status(args: StatusArgs) -> anyhow::Result<Exit> {
    let runtime = super::small_runtime()?;
    let s = runtime.block_on(async {
        let queue = super::connect(&args.queue, 1, true).await?;
        queue.status_of(queues(args.queues.as_deref()).as_deref()).await.context("reading the queue's status")
    })?;
    let text = match args.format {
        Format::Json => {
            let mut all = counts_json(&s);
            all.insert("workers".to_owned(), s.workers.into());
            let queues = s.queues.iter().map(|(name, q)| (name.clone(), counts_json(q).into()));
            all.insert("queues".to_owned(), serde_json::Map::from_iter(queues).into());
            format!("{}\n", serde_json::Value::Object(all))
        }
        Format::Human => {
            let oldest = s.oldest_waiting_seconds.map_or_else(|| "-".to_owned(), |w| format!("{w:.1}s"));
            format!(
                "available {:>9}\nscheduled {:>9}\nrunning   {:>9}\nsucceeded {:>9}\nfailed    {:>9}\n\
                 panicked  {:>9}\ntimed_out {:>9}\ncancelled {:>9}\nworkers   {:>9}\noldest waiting {oldest}\n",
                s.available,
                s.scheduled,
                s.running,
                s.succeeded,
                s.failed,
                s.panicked,
                s.timed_out,
                s.cancelled,
                s.workers
            )
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("printing the status")?,
    }
    Ok(Exit::Success)
}

/// The counts of `status --format json`, in all or of one queue (no `workers`).
fn counts_json(s: &conveyor_postgres::Status) -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(map) = serde_json::json!({
        "available": s.available, "scheduled": s.scheduled, "running": s.running,
        "succeeded": s.succeeded, "failed": s.failed, "timed_out": s.timed_out,
        "cancelled": s.cancelled, "panicked": s.panicked,
        "oldest_waiting_seconds": s.oldest_waiting_seconds,
    }) else {
        return serde_json::Map::new();
    };
    map
}

/// `conveyor ledger --queue URL`: every finished job as a ledger line (`run`'s JSON Lines
/// form plus `"worker"`), in submit order, read in pages so memory stays flat.
///
/// # Errors
///
/// The queue cannot be reached, or stdout cannot be written (a closed pipe ends quietly).
pub fn ledger(args: LedgerArgs) -> anyhow::Result<Exit> {
    const PAGE: i64 = 5000;
    let runtime = super::small_runtime()?;
    runtime.block_on(async {
        let queue = super::connect(&args.queue, 1, true).await?;
        let only = queues(args.queues.as_deref());
        let mut after = 0;
        let mut buf = Vec::with_capacity(1 << 20);
        loop {
            let page =
                queue.finished_page_of(only.as_deref(), after, PAGE).await.context("reading the ledger")?;
            buf.clear();
            for job in &page {
                ledger_line(job, &mut buf);
            }
            let mut out = std::io::stdout().lock();
            match out.write_all(&buf).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other.context("printing the ledger")?,
            }
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => after = last.seq,
                _ => return Ok::<_, anyhow::Error>(()),
            }
        }
    })?;
    Ok(Exit::Success)
}

/// `--queues a,b` as names (`None`: every queue).
fn queues(flag: Option<&str>) -> Option<Vec<String>> {
    flag.map(|f| f.split(',').map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned).collect())
}

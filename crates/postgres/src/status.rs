//! [`Status`]: counts by state, waiting age and live workers, in all and per queue.

use std::collections::BTreeMap;

use sqlx::Row as _;

use crate::error::{Error, db};
use crate::queue::Queue;

/// A snapshot of the queue, as `conveyor status` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// Waiting jobs that may start now.
    pub available: u64,
    /// Waiting jobs whose `run_at` is still to come (delay, `not_before`, retry backoff).
    pub scheduled: u64,
    /// Jobs held by a worker's lease.
    pub running: u64,
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Jobs that failed.
    pub failed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs whose last attempt timed out.
    pub timed_out: u64,
    /// Jobs cancelled.
    pub cancelled: u64,
    /// Workers that heartbeated within their lease and have not stopped.
    pub workers: u64,
    /// How long the oldest runnable job has waited, in seconds (`None` if none waits).
    pub oldest_waiting_seconds: Option<f64>,
    /// The same counts per queue that has jobs, by name (in these, `workers` is 0, as
    /// workers are not per queue, and `queues` is empty).
    pub queues: BTreeMap<String, Status>,
}

impl Status {
    /// Adds the counts of `other` (a queue's) to these; the oldest wait is the longer.
    fn add(&mut self, other: &Status) {
        self.available += other.available;
        self.scheduled += other.scheduled;
        self.running += other.running;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.panicked += other.panicked;
        self.timed_out += other.timed_out;
        self.cancelled += other.cancelled;
        self.oldest_waiting_seconds = match (self.oldest_waiting_seconds, other.oldest_waiting_seconds) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

impl Queue {
    /// Counts the jobs by state, the live workers and the oldest wait.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a statement fails.
    pub async fn status(&self) -> Result<Status, Error> {
        self.status_of(None).await
    }

    /// As [`status`](Queue::status), counting only the jobs of `queues` (`None`: every
    /// queue); `workers` counts every live worker.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a statement fails.
    pub async fn status_of(&self, queues: Option<&[String]>) -> Result<Status, Error> {
        let rows = sqlx::query(
            "SELECT queue,
                 count(*) FILTER (WHERE state = 'available' AND run_at <= now()) AS available,
                 count(*) FILTER (WHERE state = 'available' AND run_at > now()) AS scheduled,
                 count(*) FILTER (WHERE state = 'running') AS running,
                 count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
                 count(*) FILTER (WHERE state = 'failed') AS failed,
                 count(*) FILTER (WHERE state = 'panicked') AS panicked,
                 count(*) FILTER (WHERE state = 'timed_out') AS timed_out,
                 count(*) FILTER (WHERE state = 'cancelled') AS cancelled,
                 extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now()))::float8
                     AS oldest
             FROM conveyor_jobs WHERE $1::text[] IS NULL OR queue = ANY($1)
             GROUP BY queue",
        )
        .bind(queues)
        .fetch_all(&self.pool)
        .await
        .map_err(db("counting jobs"))?;
        let workers: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM conveyor_workers
             WHERE stopped_at IS NULL AND last_seen > now() - lease_ms * interval '1 millisecond'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("counting workers"))?;
        let mut status = Status { workers: workers.unsigned_abs(), ..Status::default() };
        for row in rows {
            let count = |name: &str| -> Result<u64, Error> {
                let n: i64 = row.try_get(name).map_err(db("reading the counts"))?;
                Ok(n.unsigned_abs())
            };
            let queue = Status {
                available: count("available")?,
                scheduled: count("scheduled")?,
                running: count("running")?,
                succeeded: count("succeeded")?,
                failed: count("failed")?,
                panicked: count("panicked")?,
                timed_out: count("timed_out")?,
                cancelled: count("cancelled")?,
                workers: 0,
                oldest_waiting_seconds: row.try_get("oldest").map_err(db("reading the counts"))?,
                queues: BTreeMap::new(),
            };
            status.add(&queue);
            status.queues.insert(row.try_get("queue").map_err(db("reading the counts"))?, queue);
        }
        Ok(status)
    }
}

/// Per queue: the age of its oldest waiting and oldest running job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QueueAges {
    /// The queue's name.
    pub queue: String,
    /// How long its oldest runnable waiting job has waited, in seconds (0: none waits).
    pub oldest_waiting_seconds: f64,
    /// How long its oldest running job has run since its claim, in seconds (0: none runs).
    pub oldest_running_seconds: f64,
}

impl Queue {
    /// Jobs waiting (runnable or scheduled) or running, of `kinds` (`None`: any) in
    /// `queues` (`None`: any).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn pending(&self, kinds: Option<&[String]>, queues: Option<&[String]>) -> Result<u64, Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM conveyor_jobs
             WHERE state IN ('available', 'running')
               AND ($1::text[] IS NULL OR kind = ANY($1)) AND ($2::text[] IS NULL OR queue = ANY($2))",
        )
        .bind(kinds)
        .bind(queues)
        .fetch_one(&self.pool)
        .await
        .map_err(db("counting pending jobs"))?;
        Ok(n.unsigned_abs())
    }

    /// The age of the oldest waiting and oldest running job of every queue that has either.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn ages(&self) -> Result<Vec<QueueAges>, Error> {
        let rows: Vec<(String, f64, f64)> = sqlx::query_as(
            "SELECT queue,
                    coalesce(extract(epoch FROM now() - min(run_at)
                        FILTER (WHERE state = 'available' AND run_at <= now()))::float8, 0),
                    coalesce(extract(epoch FROM now() - min(attempt_started_at)
                        FILTER (WHERE state = 'running'))::float8, 0)
             FROM conveyor_jobs
             WHERE state IN ('available', 'running')
             GROUP BY queue",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the queues' ages"))?;
        Ok(rows
            .into_iter()
            .map(|(queue, w, r)| QueueAges { queue, oldest_waiting_seconds: w, oldest_running_seconds: r })
            .collect())
    }
}

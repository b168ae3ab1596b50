//! [`FinishedJob`]: the ledger of finished jobs, read in pages.

use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use crate::error::{Error, db};
use crate::queue::Queue;
use crate::state::FinalState;

/// A job in its final state: what a ledger line needs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FinishedJob {
    /// Submit order (the paging key).
    pub seq: i64,
    /// The job's id.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Its kind.
    pub kind: String,
    /// Its priority.
    pub priority: i32,
    /// Its final state (the ledger's `outcome`).
    pub state: FinalState,
    /// Attempts started, lost ones included.
    pub attempts: i32,
    /// When it was submitted.
    pub queued_at: DateTime<Utc>,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached its final state.
    pub finished_at: DateTime<Utc>,
    /// All attempts' run time, in seconds.
    pub run_seconds: f64,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// The spec hash.
    pub spec_hash: String,
    /// A program's exit code.
    pub exit_code: Option<i32>,
    /// The end of a program's output.
    pub output_tail: Option<String>,
    /// The worker that ran the final attempt.
    pub worker: Option<String>,
}

impl FinishedJob {
    fn from_row(row: &PgRow) -> Result<FinishedJob, sqlx::Error> {
        Ok(FinishedJob {
            seq: row.try_get("seq")?,
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            kind: row.try_get("kind")?,
            priority: row.try_get("priority")?,
            state: {
                let name: &str = row.try_get("state")?;
                FinalState::parse(name)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown final state `{name}`").into()))?
            },
            attempts: row.try_get("attempts")?,
            queued_at: row.try_get("queued_at")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            run_seconds: row.try_get("run_seconds")?,
            error: row.try_get("error")?,
            spec_hash: row.try_get("spec_hash")?,
            exit_code: row.try_get("exit_code")?,
            output_tail: row.try_get("output_tail")?,
            worker: row.try_get("worker")?,
        })
    }
}

impl Queue {
    /// Up to `limit` finished jobs submitted after `after_seq` (0 for the first page), in
    /// submit order. Pass the last one's `seq` to get the next page; a short page is the
    /// last.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn finished_page(&self, after_seq: i64, limit: i64) -> Result<Vec<FinishedJob>, Error> {
        self.finished_page_of(None, after_seq, limit).await
    }

    /// As [`finished_page`](Queue::finished_page), only jobs of `queues` (`None`: every
    /// queue).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn finished_page_of(
        &self,
        queues: Option<&[String]>,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<FinishedJob>, Error> {
        let rows = sqlx::query(
            "SELECT seq, id, name, kind, priority, state, attempts, queued_at, started_at, finished_at,
                    run_seconds, error, spec_hash, exit_code, output_tail, worker
             FROM conveyor_jobs
             WHERE finished_at IS NOT NULL AND seq > $1 AND ($3::text[] IS NULL OR queue = ANY($3))
             ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .bind(queues)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading finished jobs"))?;
        rows.iter().map(FinishedJob::from_row).collect::<Result<_, _>>().map_err(db("reading finished jobs"))
    }
}

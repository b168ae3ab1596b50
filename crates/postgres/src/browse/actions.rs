//! Acting on one job from a console: [`Queue::cancel`] and [`Queue::retry`].
//!
//! **Cancel** ends a waiting or running job as `cancelled` at once, in one statement. A
//! running job's lease token is cleared with it, so its worker's next heartbeat does not
//! renew the lease and the worker cancels the job locally (within a third of the lease), and
//! its late outcome, fenced by the old token, changes nothing: the job keeps exactly one
//! final state. The attempt is recorded as `cancelled`.
//!
//! **Retry** puts a job that ended `failed`, `panicked`, `timed_out` or `cancelled` back in
//! its queue, under the same id, runnable now, with one more attempt allowed
//! (`max_attempts` raised to `attempts + 1` when needed), as River's `JobRetry` does: the
//! attempts so far stay counted and listed (who ran each, how it ended), so the job's
//! history reads on, and its next final state replaces the old one (the ledger export shows
//! the job once, with its last outcome). A succeeded job is not retried: submit it again.

use crate::error::{Error, db};
use crate::lease::{ended_columns, record_ended};
use crate::queue::Queue;

/// What [`Queue::cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cancelled {
    /// The job was waiting and is now cancelled; it never runs.
    Waiting,
    /// The job was running: it is cancelled in the table, and its worker stops it when its
    /// next heartbeat finds the lease gone.
    Running,
    /// The job had already ended, in this state; nothing changed.
    AlreadyFinished(String),
    /// No job has this id.
    Unknown,
}

/// What [`Queue::retry`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retried {
    /// The job is waiting in its queue again.
    Queued,
    /// The job is in this state, which is not retried (waiting, running or succeeded).
    NotRetryable(String),
    /// No job has this id.
    Unknown,
}

/// The message a cancelled job's `error` holds.
const CANCELLED: &str = "cancelled from the console";

impl Queue {
    /// Cancels job `id` if it is waiting or running (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails (nothing changed then).
    pub async fn cancel(&self, id: &str) -> Result<Cancelled, Error> {
        let row: Option<(String, bool)> = sqlx::query_as(concat!(
            "WITH old AS (
                 SELECT id, state, lease_token FROM conveyor_jobs WHERE id = $1 FOR UPDATE
             ), done AS (
                 UPDATE conveyor_jobs j SET state = 'cancelled', finished_at = now(),
                     lease_token = NULL, lease_expires_at = NULL, error = $2
                 FROM old WHERE j.id = old.id AND old.state IN ('available', 'running')
                 RETURNING old.state AS old_state, old.lease_token AS token, 'cancelled' AS outcome, ",
            ended_columns!(),
            "
             ), ended AS (
                 SELECT * FROM done WHERE old_state = 'running'
             ), attempt AS (",
            record_ended!(),
            "
             )
             SELECT old.state, EXISTS (SELECT 1 FROM done) FROM old",
        ))
        .bind(id)
        .bind(CANCELLED)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("cancelling a job"))?;
        Ok(match row {
            None => Cancelled::Unknown,
            Some((state, true)) if state == "running" => Cancelled::Running,
            Some((_, true)) => Cancelled::Waiting,
            Some((state, false)) => Cancelled::AlreadyFinished(state),
        })
    }

    /// Puts job `id` back in its queue if it ended failed, panicked, timed out or
    /// cancelled (see the [module docs](self)), and wakes the workers.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a statement fails.
    pub async fn retry(&self, id: &str) -> Result<Retried, Error> {
        let row: Option<(String, bool)> = sqlx::query_as(
            "WITH old AS (
                 SELECT id, state FROM conveyor_jobs WHERE id = $1 FOR UPDATE
             ), again AS (
                 UPDATE conveyor_jobs j SET state = 'available', run_at = now(), finished_at = NULL,
                     error = NULL, exit_code = NULL, output_tail = NULL,
                     max_attempts = greatest(j.max_attempts, j.attempts + 1)
                 FROM old WHERE j.id = old.id
                   AND old.state IN ('failed', 'panicked', 'timed_out', 'cancelled')
                 RETURNING j.id
             )
             SELECT old.state, EXISTS (SELECT 1 FROM again) FROM old",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("retrying a job"))?;
        Ok(match row {
            None => Retried::Unknown,
            Some((_, true)) => {
                self.notify().await?;
                Retried::Queued
            }
            Some((state, false)) => Retried::NotRetryable(state),
        })
    }
}

//! Submitting jobs: [`Submission`], one transaction, all or nothing.

use std::time::{Duration, SystemTime};

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

use crate::error::{Error, db};
use crate::queue::{CHANNEL, Queue, millis};

/// Rows sent to the server per `INSERT`.
const CHUNK: usize = 2000;

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewJob {
    /// Unique in the queue; empty: the database makes one up (a UUID).
    pub id: String,
    /// A name for people.
    pub name: Option<String>,
    /// The job's kind (a low-cardinality label).
    pub kind: String,
    /// The named queue it waits in (default `default`).
    pub queue: String,
    /// Lower runs first.
    pub priority: i32,
    /// What the worker needs to run the job (opaque to the queue).
    pub spec: serde_json::Value,
    /// A hash of the spec, for the ledger.
    pub spec_hash: String,
    /// The key whose limits the job obeys (only its concurrency limit when `rate_key` is
    /// set).
    pub concurrency_key: Option<String>,
    /// The key whose rate limit the job obeys instead of its `concurrency_key`'s.
    pub rate_key: Option<String>,
    /// Attempts in all (≥ 1) for failures of the job's own.
    pub max_attempts: i32,
    /// Not before this long after the submission commits.
    pub delay: Option<Duration>,
    /// Not before this instant (wins over `delay`).
    pub not_before: Option<SystemTime>,
}

impl NewJob {
    /// A job of queue `default` with priority 0, one attempt, no key, no delay and an empty
    /// spec hash.
    ///
    /// # Examples
    ///
    /// ```
    /// let job = conveyor_postgres::NewJob::new("a", "noop", serde_json::json!({}));
    /// assert_eq!((job.priority, job.max_attempts), (0, 1));
    /// ```
    pub fn new(id: impl Into<String>, kind: impl Into<String>, spec: serde_json::Value) -> NewJob {
        NewJob {
            id: id.into(),
            name: None,
            kind: kind.into(),
            queue: crate::DEFAULT_QUEUE.to_owned(),
            priority: 0,
            spec,
            spec_hash: String::new(),
            concurrency_key: None,
            rate_key: None,
            max_attempts: 1,
            delay: None,
            not_before: None,
        }
    }
}

/// A limit on a concurrency key, as job files' `limits` declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyLimit {
    /// The key.
    pub key: String,
    /// At most this many of its jobs run at once, across all workers.
    pub concurrency: Option<u32>,
    /// At most `count` of its jobs start per `period`, across all workers.
    pub rate: Option<(u32, Duration)>,
}

impl KeyLimit {
    /// A limit on `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let limit = conveyor_postgres::KeyLimit::new("db", Some(2), None);
    /// assert_eq!(limit.concurrency, Some(2));
    /// ```
    pub fn new(key: impl Into<String>, concurrency: Option<u32>, rate: Option<(u32, Duration)>) -> KeyLimit {
        KeyLimit { key: key.into(), concurrency, rate }
    }
}

/// An open enqueue transaction: [`add`](Submission::add) jobs, then
/// [`commit`](Submission::commit). Dropping it without committing enqueues nothing.
#[derive(Debug)]
#[must_use = "a submission enqueues nothing until it is committed"]
pub struct Submission {
    tx: Transaction<'static, Postgres>,
    buffer: Vec<NewJob>,
    ids: Vec<String>,
    pool: PgPool,
}

impl Queue {
    /// Opens a submission (a transaction).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if no connection can be had.
    pub async fn submission(&self) -> Result<Submission, Error> {
        let tx = self.pool.begin().await.map_err(db("starting the submit transaction"))?;
        Ok(Submission { tx, buffer: Vec::with_capacity(CHUNK), ids: Vec::new(), pool: self.pool.clone() })
    }
}

impl Submission {
    /// Sets the limits of some keys (the last submission to set a key wins) and marks the
    /// waiting jobs with those keys as limited.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a statement fails.
    pub async fn limits(&mut self, limits: &[KeyLimit]) -> Result<(), Error> {
        for l in limits {
            sqlx::query(
                "INSERT INTO conveyor_limits (key, concurrency, rate_count, rate_period_ms)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE SET concurrency = $2, rate_count = $3, rate_period_ms = $4",
            )
            .bind(&l.key)
            .bind(l.concurrency.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
            .bind(l.rate.map(|(n, _)| i32::try_from(n).unwrap_or(i32::MAX)))
            .bind(l.rate.map(|(_, p)| millis(p)))
            .execute(&mut *self.tx)
            .await
            .map_err(db("recording the key limits"))?;
            sqlx::query(
                "UPDATE conveyor_jobs SET limited = true
                 WHERE (concurrency_key = $1 OR rate_key = $1) AND state = 'available' AND NOT limited",
            )
            .bind(&l.key)
            .execute(&mut *self.tx)
            .await
            .map_err(db("marking limited jobs"))?;
        }
        Ok(())
    }

    /// Adds a job (sent to the server in chunks).
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateId`] if its id is already in the queue (or in this submission);
    /// [`Error::Database`] if a statement fails. Either way the submission is spoilt: drop
    /// it.
    pub async fn add(&mut self, job: NewJob) -> Result<(), Error> {
        self.buffer.push(job);
        if self.buffer.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let jobs = std::mem::take(&mut self.buffer);
        let ids = crate::insert::insert_rows(&mut *self.tx, jobs).await?;
        self.ids.extend(ids);
        Ok(())
    }

    /// Sends what is left, notifies the workers once ([`CHANNEL`]) and commits; returns
    /// the ids enqueued, in order. A submission that grew the job table by more than a
    /// tenth (and at least 1,000 jobs) then refreshes its planner statistics (`ANALYZE`),
    /// so that the claims that follow are planned for the jobs now waiting.
    ///
    /// # Errors
    ///
    /// As [`add`](Submission::add), or [`Error::Database`] if the commit fails (then
    /// nothing was enqueued).
    pub async fn commit(mut self) -> Result<Vec<String>, Error> {
        self.flush().await?;
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *self.tx)
            .await
            .map_err(db("notifying the workers"))?;
        self.tx.commit().await.map_err(db("committing the submission"))?;
        analyze_if_grown(&self.pool, self.ids.len()).await;
        Ok(self.ids)
    }
}

/// Refreshes the planner's statistics of the job table at once when `added` jobs grew it
/// by more than a tenth (autovacuum's own rule, which it applies only within a minute or
/// so): workers start claiming a bulk load at once, and a claim planned without statistics
/// reads every waiting job (a bitmap scan and a sort) instead of the first ones of the claim
/// index. Statistics are an optimisation: a failure here leaves autovacuum to do it.
async fn analyze_if_grown(pool: &PgPool, added: usize) {
    if added < 1000 {
        return;
    }
    let grown: Result<bool, sqlx::Error> = sqlx::query_scalar(
        "SELECT reltuples < 0 OR $1::float8 > reltuples / 10 FROM pg_class WHERE oid = 'conveyor_jobs'::regclass",
    )
    .bind(i64::try_from(added).unwrap_or(i64::MAX))
    .fetch_one(pool)
    .await;
    if let Ok(true) = grown {
        // A role that does not own the table gets a warning, not an error.
        let _ = sqlx::query("ANALYZE conveyor_jobs").execute(pool).await;
    }
}

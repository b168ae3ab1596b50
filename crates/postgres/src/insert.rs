//! Typed enqueue: [`JobArgs`], [`insert`] and [`insert_many`] on any executor (the pool, a
//! connection, or the caller's own transaction), and [`Queue::insert`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgExecutor;

use crate::error::{Error, db};
use crate::queue::{CHANNEL, Queue, millis};
use crate::submit::NewJob;

/// The arguments of one kind of job: a serde struct that names its kind (and, optionally,
/// its queue and attempts). Enqueue it with [`insert`]; work it with a handler registered
/// by [`WorkerBuilder::handle`](crate::WorkerBuilder::handle).
///
/// # Examples
///
/// ```
/// use conveyor_postgres::JobArgs;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct SendEmail {
///     to: String,
/// }
///
/// impl JobArgs for SendEmail {
///     const KIND: &'static str = "send_email";
///     const QUEUE: &'static str = "mail";
///     const MAX_ATTEMPTS: u32 = 5;
/// }
///
/// let job = SendEmail { to: "a@example.com".into() }.to_new_job().unwrap();
/// assert_eq!((job.kind.as_str(), job.queue.as_str(), job.max_attempts), ("send_email", "mail", 5));
/// ```
pub trait JobArgs: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind: which handler runs it.
    const KIND: &'static str;
    /// The named queue its jobs wait in.
    const QUEUE: &'static str = crate::DEFAULT_QUEUE;
    /// Attempts in all for failures of the job's own (lost leases do not count).
    const MAX_ATTEMPTS: u32 = 1;

    /// The row to insert: these arguments as the spec, a generated id, priority 0.
    ///
    /// # Errors
    ///
    /// [`Error::Args`] if the arguments cannot be serialised.
    fn to_new_job(&self) -> Result<NewJob, Error> {
        let spec = serde_json::to_value(self).map_err(Error::Args)?;
        let mut job = NewJob::new(String::new(), Self::KIND, spec);
        job.queue = Self::QUEUE.to_owned();
        job.max_attempts = i32::try_from(Self::MAX_ATTEMPTS.max(1)).unwrap_or(i32::MAX);
        Ok(job)
    }
}

/// Enqueues one job with `executor` — the queue's pool, a connection, or the caller's own
/// transaction (`&mut *tx`): then the job exists if and only if that transaction commits,
/// and the workers are woken at the commit (`NOTIFY` is transactional). Returns its id.
///
/// # Errors
///
/// [`Error::Args`] if `args` cannot be serialised; [`Error::Database`] if the statement
/// fails (inside a transaction, the transaction is then spoilt: roll it back).
///
/// # Cancel safety
///
/// One statement: dropping the future lets it finish or fail on the server; inside a
/// transaction nothing is visible until the commit.
///
/// # Examples
///
/// ```no_run
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Resize { image: u64 }
/// # impl conveyor_postgres::JobArgs for Resize { const KIND: &'static str = "resize"; }
/// # async fn demo(queue: conveyor_postgres::Queue) -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = queue.pool().begin().await?;
/// sqlx::query("UPDATE images SET state = 'queued' WHERE id = 7").execute(&mut *tx).await?;
/// conveyor_postgres::insert(&mut *tx, &Resize { image: 7 }).await?;
/// tx.commit().await?; // the job and the update exist together, or neither does
/// # Ok(())
/// # }
/// ```
pub async fn insert<'e, A: JobArgs>(executor: impl PgExecutor<'e>, args: &A) -> Result<String, Error> {
    let mut ids = insert_rows(executor, vec![args.to_new_job()?]).await?;
    ids.pop().ok_or_else(|| Error::DuplicateId(String::new()))
}

/// Enqueues many jobs of one kind in one statement with `executor` (see [`insert`]);
/// returns their ids, in order.
///
/// # Errors
///
/// As [`insert`].
///
/// # Cancel safety
///
/// As [`insert`].
///
/// # Examples
///
/// ```no_run
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Resize { image: u64 }
/// # impl conveyor_postgres::JobArgs for Resize { const KIND: &'static str = "resize"; }
/// # async fn demo(queue: conveyor_postgres::Queue) -> Result<(), conveyor_postgres::Error> {
/// let jobs: Vec<Resize> = (0..100).map(|image| Resize { image }).collect();
/// let ids = conveyor_postgres::insert_many(queue.pool(), &jobs).await?;
/// assert_eq!(ids.len(), 100);
/// # Ok(())
/// # }
/// ```
pub async fn insert_many<'e, A: JobArgs>(
    executor: impl PgExecutor<'e>,
    args: &[A],
) -> Result<Vec<String>, Error> {
    let jobs = args.iter().map(JobArgs::to_new_job).collect::<Result<Vec<_>, _>>()?;
    insert_rows(executor, jobs).await
}

impl Queue {
    /// Enqueues one typed job on the queue's own pool; see [`insert`] for one inside a
    /// transaction of the caller's.
    ///
    /// # Errors
    ///
    /// As [`insert`].
    ///
    /// # Cancel safety
    ///
    /// As [`insert`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping;
    /// # impl conveyor_postgres::JobArgs for Ping { const KIND: &'static str = "ping"; }
    /// # async fn demo(queue: conveyor_postgres::Queue) -> Result<(), conveyor_postgres::Error> {
    /// let id = queue.insert(&Ping).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn insert<A: JobArgs>(&self, args: &A) -> Result<String, Error> {
        insert(&self.pool, args).await
    }

    /// Enqueues many typed jobs in one statement on the queue's own pool.
    ///
    /// # Errors
    ///
    /// As [`insert`].
    ///
    /// # Cancel safety
    ///
    /// As [`insert`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping;
    /// # impl conveyor_postgres::JobArgs for Ping { const KIND: &'static str = "ping"; }
    /// # async fn demo(queue: conveyor_postgres::Queue) -> Result<(), conveyor_postgres::Error> {
    /// let ids = queue.insert_many(&[Ping, Ping]).await?;
    /// assert_eq!(ids.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn insert_many<A: JobArgs>(&self, args: &[A]) -> Result<Vec<String>, Error> {
        insert_many(&self.pool, args).await
    }
}

/// Inserts `jobs` in one statement that also notifies the workers (at commit, inside a
/// transaction); returns the ids in order, or [`Error::DuplicateId`] naming the first id
/// already taken.
pub(crate) async fn insert_rows<'e>(
    executor: impl PgExecutor<'e>,
    jobs: Vec<NewJob>,
) -> Result<Vec<String>, Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let n = jobs.len();
    let mut ids = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut queues = Vec::with_capacity(n);
    let mut priorities = Vec::with_capacity(n);
    let mut specs = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut rate_keys = Vec::with_capacity(n);
    let mut max_attempts = Vec::with_capacity(n);
    let mut delays: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut not_befores: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    for j in jobs {
        ids.push(j.id);
        names.push(j.name);
        kinds.push(j.kind);
        queues.push(j.queue);
        priorities.push(j.priority);
        specs.push(j.spec.to_string());
        hashes.push(j.spec_hash);
        keys.push(j.concurrency_key);
        rate_keys.push(j.rate_key);
        max_attempts.push(j.max_attempts.max(1));
        delays.push(j.delay.map(millis));
        not_befores.push(j.not_before.map(DateTime::<Utc>::from));
    }
    // One statement: the insert and the wake-up (a data-modifying CTE always runs; the
    // notification is delivered at commit, so a rolled-back enqueue wakes nobody).
    let inserted: Vec<(String, String)> = sqlx::query_as(
        "WITH ins AS (
             INSERT INTO conveyor_jobs
                 (id, name, kind, queue, priority, spec, spec_hash, concurrency_key, rate_key, limited,
                  max_attempts, run_at)
             SELECT coalesce(nullif(t.id, ''), gen_random_uuid()::text), t.name, t.kind, t.queue,
                    t.priority, t.spec::jsonb, t.spec_hash, t.key, t.rate_key,
                    EXISTS (SELECT 1 FROM conveyor_limits l WHERE l.key = t.key OR l.key = t.rate_key),
                    t.max_attempts,
                    coalesce(t.not_before, now() + coalesce(t.delay_ms, 0) * interval '1 millisecond')
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::text[],
                         $7::text[], $8::text[], $9::int4[], $10::int8[], $11::timestamptz[],
                         $13::text[])
                  WITH ORDINALITY
                  AS t(id, name, kind, queue, priority, spec, spec_hash, key, max_attempts, delay_ms,
                       not_before, rate_key, n)
             ORDER BY t.n
             ON CONFLICT (id) DO NOTHING
             RETURNING id, seq
         ), woken AS (
             SELECT pg_notify($12, '') FROM (SELECT 1 FROM ins LIMIT 1) one
         )
         SELECT ins.id, (SELECT count(*) FROM woken)::text FROM ins ORDER BY ins.seq",
    )
    .bind(&ids)
    .bind(&names)
    .bind(&kinds)
    .bind(&queues)
    .bind(&priorities)
    .bind(&specs)
    .bind(&hashes)
    .bind(&keys)
    .bind(&max_attempts)
    .bind(&delays)
    .bind(&not_befores)
    .bind(CHANNEL)
    .bind(&rate_keys)
    .fetch_all(executor)
    .await
    .map_err(db("inserting jobs"))?;
    let inserted: Vec<String> = inserted.into_iter().map(|(id, _)| id).collect();
    if inserted.len() != n {
        let fresh: std::collections::HashSet<&str> = inserted.iter().map(String::as_str).collect();
        let taken =
            ids.iter().find(|id| !id.is_empty() && !fresh.contains(id.as_str())).cloned().unwrap_or_default();
        return Err(Error::DuplicateId(taken));
    }
    Ok(inserted)
}

//! Claims, leases and their fenced writes: [`Queue::claim`], [`Queue::heartbeat`],
//! [`Queue::complete`], [`Queue::release`], [`Queue::rescue`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use crate::error::{Error, db};
use crate::queue::{CHANNEL, Queue, millis};
use crate::state::FinalState;

/// The advisory lock that serialises claims of limited jobs (an arbitrary constant).
const LIMITED_CLAIM_LOCK: i64 = 0x636f_6e76_6579_6f72;

/// One attempt's hold on a job: the job's id and the attempt's lease token. Every write of
/// the attempt names both, and changes nothing once the token is no longer the job's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job's id.
    pub id: String,
    /// The attempt's token.
    pub token: i64,
}

/// A job claimed for one attempt.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Claimed {
    /// The job's id.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Its kind.
    pub kind: String,
    /// Its queue.
    pub queue: String,
    /// Its priority.
    pub priority: i32,
    /// Its submit order (FIFO among equal priorities).
    pub seq: i64,
    /// Its spec, as submitted.
    pub spec: serde_json::Value,
    /// This attempt's number (from 1), counting lost attempts.
    pub attempt: i32,
    /// Attempts lost so far (lease expired or released), this one excluded.
    pub lost: i32,
    /// Attempts in all for failures of the job's own.
    pub max_attempts: i32,
    /// This attempt's lease token.
    pub token: i64,
    /// When the job was submitted.
    pub queued_at: DateTime<Utc>,
    /// When its first attempt started.
    pub started_at: DateTime<Utc>,
    /// When it became runnable (submit, delay or retry backoff).
    pub run_at: DateTime<Utc>,
}

impl Claimed {
    /// The attempt's lease, for fenced writes.
    pub fn lease(&self) -> Lease {
        Lease { id: self.id.clone(), token: self.token }
    }

    /// Attempts that ended with an outcome of the job's own, this one included.
    pub fn own_attempts(&self) -> i32 {
        self.attempt - self.lost
    }

    fn from_row(row: &PgRow) -> Result<Claimed, sqlx::Error> {
        Ok(Claimed {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            kind: row.try_get("kind")?,
            queue: row.try_get("queue")?,
            priority: row.try_get("priority")?,
            seq: row.try_get("seq")?,
            spec: row.try_get("spec")?,
            attempt: row.try_get("attempts")?,
            lost: row.try_get("lost")?,
            max_attempts: row.try_get("max_attempts")?,
            token: row.try_get("lease_token")?,
            queued_at: row.try_get("queued_at")?,
            started_at: row.try_get("started_at")?,
            run_at: row.try_get("run_at")?,
        })
    }
}

/// How an attempt ended, to be written by [`Queue::complete`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Completion {
    /// The attempt.
    pub lease: Lease,
    /// The attempt's outcome (the job's final state unless `retry_after` is set).
    pub outcome: FinalState,
    /// `Some(delay)`: the job goes back to the queue, runnable after `delay` (a retry);
    /// `None`: `outcome` is the job's final state.
    pub retry_after: Option<Duration>,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// A program's exit code.
    pub exit_code: Option<i32>,
    /// The end of a program's output.
    pub output_tail: Option<String>,
    /// How long the attempt ran.
    pub run: Duration,
}

impl Completion {
    /// A successful attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_postgres::{Completion, Lease};
    /// let c = Completion::succeeded(Lease { id: "a".into(), token: 7 });
    /// assert_eq!(c.outcome, conveyor_postgres::FinalState::Succeeded);
    /// ```
    pub fn succeeded(lease: Lease) -> Completion {
        Completion::new(lease, FinalState::Succeeded)
    }

    /// An attempt with `outcome`, final, without error or output.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_postgres::{Completion, FinalState, Lease};
    /// let c = Completion::new(Lease { id: "a".into(), token: 7 }, FinalState::Failed);
    /// assert!(c.retry_after.is_none());
    /// ```
    pub fn new(lease: Lease, outcome: FinalState) -> Completion {
        Completion {
            lease,
            outcome,
            retry_after: None,
            error: None,
            exit_code: None,
            output_tail: None,
            run: Duration::ZERO,
        }
    }
}

/// What one [`Queue::rescue`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RescueReport {
    /// Jobs put back in the queue.
    pub requeued: u64,
    /// Jobs that lost too many leases and were failed.
    pub failed: u64,
}

const CLAIM: &str = "
WITH picked AS (
    -- Tokens are drawn here, over the rows in claim order, so that token order is claim
    -- order within a batch too.
    SELECT p.id, nextval('conveyor_lease_seq') AS token, clock_timestamp() AS at FROM (
        SELECT id FROM conveyor_jobs
        WHERE state = 'available' AND run_at <= now() AND (NOT limited OR id = ANY($4))
          AND ($5::text[] IS NULL OR kind = ANY($5)) AND ($6::text IS NULL OR queue = $6)
        ORDER BY priority, seq
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ) p
), claimed AS (
    -- The attempt lives on the job row while it runs (token, number, worker, start, lease);
    -- its `conveyor_attempts` row is written when it ends. The picked rows come as an
    -- array, so that each is found by primary key: joined to `picked` itself, the planner
    -- (which cannot count a CTE's rows) may hash the whole table, finished jobs included.
    UPDATE conveyor_jobs j
    SET state = 'running', attempts = j.attempts + 1, lease_token = p.token,
        lease_expires_at = p.at + $3 * interval '1 millisecond', worker = $1,
        attempt_started_at = p.at, started_at = coalesce(j.started_at, p.at)
    FROM unnest(ARRAY(SELECT ROW(id, token, at) FROM picked)) AS p(id text, token bigint, at timestamptz)
    WHERE j.id = p.id
    RETURNING j.id, j.name, j.kind, j.queue, j.priority, j.seq, j.spec, j.attempts, j.lost,
              j.max_attempts, j.lease_token, j.queued_at, j.started_at, j.run_at
)
SELECT * FROM claimed ORDER BY priority, seq";

/// The statement part that writes the `conveyor_attempts` row of each attempt that the
/// statement's `ended` CTE ended: `ended` returns [`ended_columns!`] of the job row after
/// its write (which leaves them as they were) and the attempt's `token` and `outcome`. The
/// one place an attempt row is written: once, when the attempt ends.
macro_rules! record_ended {
    () => {
        "INSERT INTO conveyor_attempts
             (token, job_id, attempt, worker, concurrency_key, rate_key, started_at, finished_at, outcome)
         SELECT e.token, e.id, e.attempts, e.worker, e.concurrency_key,
                coalesce(e.rate_key, e.concurrency_key), e.attempt_started_at, now(), e.outcome
         FROM ended e"
    };
}
pub(crate) use record_ended;

/// The job-row columns that [`record_ended!`] reads from an `ended` CTE (a `RETURNING` list
/// over the job table as `j`).
macro_rules! ended_columns {
    () => {
        "j.id, j.attempts, j.worker, j.concurrency_key, j.rate_key, j.attempt_started_at"
    };
}
pub(crate) use ended_columns;

/// Limited jobs that may start now: per key, the first ones in claim order, as many as the
/// key's concurrency and rate limits leave free. Run under `LIMITED_CLAIM_LOCK`, after it
/// is taken, so that it sees every claim and completion committed before. Claim times are
/// `clock_timestamp()`, not `now()` (the transaction's start, before the lock wait), so
/// that an attempt never appears to start before the completion that freed its slot.
const LIMITED_CANDIDATES: &str = "
WITH conc AS (
    SELECT l.key, l.concurrency - (SELECT count(*) FROM conveyor_jobs r
                                   WHERE r.state = 'running' AND r.concurrency_key = l.key) AS free
    FROM conveyor_limits l WHERE l.concurrency IS NOT NULL
), rate AS (
    -- Starts within the period: of ended attempts (their rows) and of running ones (their
    -- job rows); an attempt moves from one to the other in one statement.
    SELECT l.key, l.rate_count
               - (SELECT count(*) FROM conveyor_attempts a
                  WHERE a.rate_key = l.key
                    AND a.started_at > clock_timestamp() - l.rate_period_ms * interval '1 millisecond')
               - (SELECT count(*) FROM conveyor_jobs r
                  WHERE r.state = 'running' AND coalesce(r.rate_key, r.concurrency_key) = l.key
                    AND r.attempt_started_at > clock_timestamp() - l.rate_period_ms * interval '1 millisecond')
               AS free
    FROM conveyor_limits l WHERE l.rate_count IS NOT NULL
), cand AS (
    -- Per limited key, its first waiting jobs in claim order (by either of a job's keys).
    SELECT DISTINCT ON (x.id) x.* FROM conveyor_limits l
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.seq, j.concurrency_key AS ck,
               coalesce(j.rate_key, j.concurrency_key) AS rk
        FROM conveyor_jobs j
        WHERE j.state = 'available' AND j.limited AND j.run_at <= now()
          AND (j.concurrency_key = l.key OR j.rate_key = l.key)
          AND ($2::text[] IS NULL OR j.kind = ANY($2)) AND ($3::text IS NULL OR j.queue = $3)
        ORDER BY j.priority, j.seq
        LIMIT $1
    ) x
), ranked AS (
    -- A job may start if it is within the free slots of its concurrency key and within the
    -- free starts of its rate key. A job held back by one key still takes its place in the
    -- other's count: claims may start fewer jobs than allowed, never more.
    SELECT c.id, c.priority, c.seq,
           row_number() OVER (PARTITION BY c.ck ORDER BY c.priority, c.seq) AS ck_rank,
           row_number() OVER (PARTITION BY c.rk ORDER BY c.priority, c.seq) AS rk_rank,
           cf.free AS ck_free, rf.free AS rk_free
    FROM cand c
    LEFT JOIN conc cf ON cf.key = c.ck
    LEFT JOIN rate rf ON rf.key = c.rk
)
SELECT id FROM ranked
WHERE (ck_free IS NULL OR ck_rank <= ck_free) AND (rk_free IS NULL OR rk_rank <= rk_free)
ORDER BY priority, seq
LIMIT $1";

/// Which jobs a claim may take: the kinds a worker has handlers for, and one named queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimFilter {
    /// Only jobs of these kinds (`None`: any kind).
    pub kinds: Option<Vec<String>>,
    /// Only jobs of this queue (`None`: any queue).
    pub queue: Option<String>,
}

impl ClaimFilter {
    /// Any job of any queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let any = conveyor_postgres::ClaimFilter::any();
    /// assert!(any.kinds.is_none() && any.queue.is_none());
    /// ```
    pub fn any() -> ClaimFilter {
        ClaimFilter::default()
    }

    /// Only jobs of `kinds`, in `queue` (`None`: every queue).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conveyor_postgres::ClaimFilter::new(["email"], Some("mail"));
    /// assert_eq!(f.queue.as_deref(), Some("mail"));
    /// ```
    pub fn new<I, K>(kinds: I, queue: Option<&str>) -> ClaimFilter
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        ClaimFilter {
            kinds: Some(kinds.into_iter().map(Into::into).collect()),
            queue: queue.map(str::to_owned),
        }
    }
}

impl Queue {
    /// Claims up to `n` runnable jobs for `worker`, each with a lease of `lease`: waiting
    /// jobs whose `run_at` has come, in priority then FIFO order, skipping jobs other
    /// claimers hold locked (`FOR UPDATE SKIP LOCKED`) and limited jobs beyond their key's
    /// free slots. Each claim is an attempt: `attempts` goes up, and the job row holds the
    /// attempt (token, worker, start, lease) until it ends, when its row is added to
    /// `conveyor_attempts`. [`claim_matching`](Queue::claim_matching) takes only some kinds
    /// or one queue.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a statement fails (nothing is claimed then).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may leave jobs claimed that nobody runs: the rescuer puts them
    /// back when their lease expires.
    pub async fn claim(&self, worker: &str, n: usize, lease: Duration) -> Result<Vec<Claimed>, Error> {
        self.claim_matching(worker, n, lease, &ClaimFilter::any()).await
    }

    /// As [`claim`](Queue::claim), taking only jobs that `filter` lets through.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a statement fails (nothing is claimed then).
    ///
    /// # Cancel safety
    ///
    /// As [`claim`](Queue::claim).
    pub async fn claim_matching(
        &self,
        worker: &str,
        n: usize,
        lease: Duration,
        filter: &ClaimFilter,
    ) -> Result<Vec<Claimed>, Error> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        if n == 0 {
            return Ok(Vec::new());
        }
        let limited_waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM conveyor_jobs
                            WHERE state = 'available' AND limited AND run_at <= now())",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("looking for limited jobs"))?;
        let rows = if limited_waiting {
            let mut tx = self.pool.begin().await.map_err(db("starting a claim"))?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(LIMITED_CLAIM_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(db("taking the limited-claim lock"))?;
            let candidates: Vec<String> = sqlx::query_scalar(LIMITED_CANDIDATES)
                .bind(n)
                .bind(&filter.kinds)
                .bind(&filter.queue)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("finding limited jobs with free slots"))?;
            let rows = sqlx::query(CLAIM)
                .bind(worker)
                .bind(n)
                .bind(millis(lease))
                .bind(&candidates)
                .bind(&filter.kinds)
                .bind(&filter.queue)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("claiming jobs"))?;
            tx.commit().await.map_err(db("committing a claim"))?;
            rows
        } else {
            sqlx::query(CLAIM)
                .bind(worker)
                .bind(n)
                .bind(millis(lease))
                .bind(Vec::<String>::new())
                .bind(&filter.kinds)
                .bind(&filter.queue)
                .fetch_all(&self.pool)
                .await
                .map_err(db("claiming jobs"))?
        };
        rows.iter().map(Claimed::from_row).collect::<Result<_, _>>().map_err(db("reading claimed jobs"))
    }

    /// Extends the leases still held (token still the job's, job still running) to
    /// `lease` from now, in one statement, and records `worker` as alive; returns the ids
    /// renewed. A lease missing from the answer was lost: its job must stop locally.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails (nothing is known then: a lease that
    /// cannot be renewed before it expires must be treated as lost).
    pub async fn heartbeat(
        &self,
        worker: &str,
        leases: &[Lease],
        lease: Duration,
    ) -> Result<Vec<String>, Error> {
        self.worker_alive(worker, lease).await?;
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, tokens) = split(leases);
        sqlx::query_scalar(
            "UPDATE conveyor_jobs j SET lease_expires_at = now() + $3 * interval '1 millisecond'
             FROM unnest($1::text[], $2::int8[]) AS t(id, token)
             WHERE j.id = t.id AND j.lease_token = t.token AND j.state = 'running'
             RETURNING j.id",
        )
        .bind(&ids)
        .bind(&tokens)
        .bind(millis(lease))
        .fetch_all(&self.pool)
        .await
        .map_err(db("renewing leases"))
    }

    /// Writes how attempts ended, in one statement, each fenced by its lease token; returns
    /// the ids whose write took effect, each with its attempt's `conveyor_attempts` row. A
    /// completion whose lease was lost changes nothing and is not in the answer. Retries
    /// (`retry_after`) go back to the queue; the workers are notified of them and of
    /// finished limited jobs (a slot of their key is free).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails (nothing was written then).
    pub async fn complete(&self, done: &[Completion]) -> Result<Vec<String>, Error> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        let n = done.len();
        let mut ids = Vec::with_capacity(n);
        let mut tokens = Vec::with_capacity(n);
        let mut outcomes = Vec::with_capacity(n);
        let mut retry_ms: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut errors: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut exit_codes: Vec<Option<i32>> = Vec::with_capacity(n);
        let mut tails: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut runs = Vec::with_capacity(n);
        for c in done {
            ids.push(c.lease.id.as_str());
            tokens.push(c.lease.token);
            outcomes.push(c.outcome.as_str());
            retry_ms.push(c.retry_after.map(millis));
            errors.push(c.error.as_deref());
            exit_codes.push(c.exit_code);
            tails.push(c.output_tail.as_deref());
            runs.push(c.run.as_secs_f64());
        }
        let retries = done.iter().any(|c| c.retry_after.is_some());
        let written: Vec<(String, bool)> = sqlx::query_as(concat!(
            "WITH input AS (
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[],
                                      $6::int4[], $7::text[], $8::float8[])
                 AS t(id, token, outcome, retry_ms, error, exit_code, output_tail, run_seconds)
             ), ended AS (
                 UPDATE conveyor_jobs j SET
                     state = CASE WHEN i.retry_ms IS NULL THEN i.outcome ELSE 'available' END,
                     run_at = CASE WHEN i.retry_ms IS NULL THEN j.run_at
                                   ELSE now() + i.retry_ms * interval '1 millisecond' END,
                     finished_at = CASE WHEN i.retry_ms IS NULL THEN now() END,
                     lease_token = NULL, lease_expires_at = NULL,
                     error = i.error, exit_code = i.exit_code, output_tail = i.output_tail,
                     run_seconds = j.run_seconds + i.run_seconds
                 FROM input i
                 WHERE j.id = i.id AND j.lease_token = i.token AND j.state = 'running'
                 RETURNING i.token, i.outcome, j.limited, ",
            ended_columns!(),
            "
             ), recorded AS (",
            record_ended!(),
            "
             )
             SELECT id, limited FROM ended",
        ))
        .bind(&ids)
        .bind(&tokens)
        .bind(&outcomes)
        .bind(&retry_ms)
        .bind(&errors)
        .bind(&exit_codes)
        .bind(&tails)
        .bind(&runs)
        .fetch_all(&self.pool)
        .await
        .map_err(db("writing job outcomes"))?;
        // A retry may be due soon, and a finished limited job frees a slot of its key: wake
        // the workers (whose claims skipped the key while it was full).
        if retries || written.iter().any(|(_, limited)| *limited) {
            self.notify().await?;
        }
        Ok(written.into_iter().map(|(id, _)| id).collect())
    }

    /// How long until the next waiting job that is not runnable yet (delayed, or waiting
    /// to retry) becomes runnable; `None` if there is none.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn next_due(&self) -> Result<Option<Duration>, Error> {
        let secs: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM min(run_at) - clock_timestamp())::float8
             FROM conveyor_jobs WHERE state = 'available' AND run_at > clock_timestamp()",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("looking for the next scheduled job"))?;
        Ok(secs.map(|s| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)))
    }

    /// Wakes the listening workers (`NOTIFY` on [`CHANNEL`]).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn notify(&self) -> Result<(), Error> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&self.pool)
            .await
            .map_err(db("notifying the workers"))?;
        Ok(())
    }

    /// Gives jobs back to the queue without an outcome (a worker shutting down): each
    /// fenced by its token, counted as a lost attempt (its `conveyor_attempts` row ends
    /// `released`); returns how many were released.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails (the leases then expire and the rescuer
    /// re-queues the jobs).
    pub async fn release(&self, leases: &[Lease]) -> Result<u64, Error> {
        if leases.is_empty() {
            return Ok(0);
        }
        let (ids, tokens) = split(leases);
        let n: i64 = sqlx::query_scalar(concat!(
            "WITH ended AS (
                 UPDATE conveyor_jobs j SET state = 'available', lease_token = NULL,
                     lease_expires_at = NULL, lost = j.lost + 1, run_at = now()
                 FROM unnest($1::text[], $2::int8[]) AS t(id, token)
                 WHERE j.id = t.id AND j.lease_token = t.token AND j.state = 'running'
                 RETURNING t.token, 'released' AS outcome, ",
            ended_columns!(),
            "
             ), recorded AS (",
            record_ended!(),
            "
             )
             SELECT count(*) FROM ended",
        ))
        .bind(&ids)
        .bind(&tokens)
        .fetch_one(&self.pool)
        .await
        .map_err(db("releasing jobs"))?;
        if n > 0 {
            self.notify().await?;
        }
        Ok(n.unsigned_abs())
    }

    /// Gives claimed jobs that never started back to the queue as if they had not been
    /// claimed (a worker shutting down with jobs in its prefetch buffer): each fenced by its
    /// token; the attempt is not counted (`attempts` goes back down, and it gets no
    /// `conveyor_attempts` row) and the job keeps its place (`run_at` is unchanged).
    /// Returns how many were given back.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails (the leases then expire and the rescuer
    /// re-queues the jobs, counting a lost attempt).
    pub async fn unclaim(&self, leases: &[Lease]) -> Result<u64, Error> {
        if leases.is_empty() {
            return Ok(0);
        }
        let (ids, tokens) = split(leases);
        let n = sqlx::query(
            "UPDATE conveyor_jobs j SET state = 'available', lease_token = NULL,
                 lease_expires_at = NULL, attempts = j.attempts - 1,
                 started_at = CASE WHEN j.attempts = 1 THEN NULL ELSE j.started_at END
             FROM unnest($1::text[], $2::int8[]) AS t(id, token)
             WHERE j.id = t.id AND j.lease_token = t.token AND j.state = 'running'",
        )
        .bind(&ids)
        .bind(&tokens)
        .execute(&self.pool)
        .await
        .map_err(db("giving back jobs that never started"))?
        .rows_affected();
        if n > 0 {
            self.notify().await?;
        }
        Ok(n)
    }

    /// Re-queues up to `batch` running jobs whose lease expired (their worker died, froze
    /// or was cut off): the attempt counts and its `conveyor_attempts` row ends `lost`; a
    /// job that has lost more than `max_lost` leases is failed instead (a job that kills
    /// its worker every time must not loop forever). Call it until a batch comes back
    /// short.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn rescue(&self, batch: i64, max_lost: i32) -> Result<RescueReport, Error> {
        self.rescue_kinds(batch, max_lost, None).await
    }

    /// As [`rescue`](Queue::rescue), finalizing (failing) only jobs of `kinds` (`None`: any
    /// kind): a worker never gives a job it could not run its final state. An expired job
    /// of another kind that has lost too many leases is left for a worker that has it.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn rescue_kinds(
        &self,
        batch: i64,
        max_lost: i32,
        kinds: Option<&[String]>,
    ) -> Result<RescueReport, Error> {
        let rows = sqlx::query(concat!(
            "WITH expired AS (
                 SELECT id, lease_token FROM conveyor_jobs
                 WHERE state = 'running' AND lease_expires_at < now()
                   AND (lost + 1 <= $2 OR $3::text[] IS NULL OR kind = ANY($3))
                 ORDER BY lease_expires_at LIMIT $1
                 FOR UPDATE SKIP LOCKED
             ), ended AS (
                 UPDATE conveyor_jobs j SET
                     state = CASE WHEN j.lost + 1 > $2 THEN 'failed' ELSE 'available' END,
                     finished_at = CASE WHEN j.lost + 1 > $2 THEN now() END,
                     error = CASE WHEN j.lost + 1 > $2
                                  THEN format('lease expired %s times (worker lost); giving up', j.lost + 1)
                                  ELSE j.error END,
                     lost = j.lost + 1, lease_token = NULL, lease_expires_at = NULL, run_at = now()
                 FROM expired e WHERE j.id = e.id
                 RETURNING e.lease_token AS token, 'lost' AS outcome, j.state, ",
            ended_columns!(),
            "
             ), recorded AS (",
            record_ended!(),
            "
             )
             SELECT count(*) FILTER (WHERE state = 'available') AS requeued,
                    count(*) FILTER (WHERE state <> 'available') AS failed
             FROM ended",
        ))
        .bind(batch)
        .bind(max_lost)
        .bind(kinds)
        .fetch_one(&self.pool)
        .await
        .map_err(db("rescuing jobs with expired leases"))?;
        let requeued: i64 = rows.try_get("requeued").map_err(db("reading the rescue count"))?;
        let failed: i64 = rows.try_get("failed").map_err(db("reading the rescue count"))?;
        if requeued > 0 {
            self.notify().await?;
        }
        Ok(RescueReport { requeued: requeued.unsigned_abs(), failed: failed.unsigned_abs() })
    }
}

fn split(leases: &[Lease]) -> (Vec<&str>, Vec<i64>) {
    leases.iter().map(|l| (l.id.as_str(), l.token)).unzip()
}

//! The console's reads: a page of jobs, counts per queue, throughput, workers, one job.

use serde_json::Value;

use crate::error::{Error, db};
use crate::queue::Queue;

/// A job's state as a console lists it: the table's state, split by time (see the
/// [module docs](super)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Listed {
    /// Waiting, runnable now.
    Queued,
    /// Waiting for its `run_at` (delay, `not_before`, retry backoff).
    Scheduled,
    /// Held by a worker whose lease is current.
    Running,
    /// Held by a lease that expired: the worker is gone or frozen; the rescuer re-queues it.
    Stuck,
    /// Succeeded.
    Succeeded,
    /// Failed (its own error, on its last attempt).
    Failed,
    /// Panicked.
    Panicked,
    /// Timed out on its last attempt.
    TimedOut,
    /// Cancelled.
    Cancelled,
}

impl Listed {
    /// Every word, in the console's order.
    pub const ALL: [Listed; 9] = [
        Listed::Queued,
        Listed::Scheduled,
        Listed::Running,
        Listed::Stuck,
        Listed::Succeeded,
        Listed::Failed,
        Listed::Panicked,
        Listed::TimedOut,
        Listed::Cancelled,
    ];

    /// The word, as the JSON and `?status=` spell it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor_postgres::Listed::TimedOut.as_str(), "timed_out");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Listed::Queued => "queued",
            Listed::Scheduled => "scheduled",
            Listed::Running => "running",
            Listed::Stuck => "stuck",
            Listed::Succeeded => "succeeded",
            Listed::Failed => "failed",
            Listed::Panicked => "panicked",
            Listed::TimedOut => "timed_out",
            Listed::Cancelled => "cancelled",
        }
    }

    /// The word's state, read back (`None` for a word not listed here).
    pub fn parse(word: &str) -> Option<Listed> {
        Listed::ALL.into_iter().find(|l| l.as_str() == word)
    }
}

/// The SQL that computes a row's [`Listed`] word (the table's columns unqualified).
const LISTED: &str = "CASE WHEN state = 'available' AND run_at > now() THEN 'scheduled'
     WHEN state = 'available' THEN 'queued'
     WHEN state = 'running' AND lease_expires_at < now() THEN 'stuck'
     ELSE state END";

/// The states whose words a filter on `words` may match (for the `(state, seq)` index).
fn table_states(words: &[Listed]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for word in words {
        let state = match word {
            Listed::Queued | Listed::Scheduled => "available",
            Listed::Running | Listed::Stuck => "running",
            Listed::Succeeded => "succeeded",
            Listed::Failed => "failed",
            Listed::Panicked => "panicked",
            Listed::TimedOut => "timed_out",
            Listed::Cancelled => "cancelled",
        };
        if !out.contains(&state) {
            out.push(state);
        }
    }
    out
}

/// An RFC 3339 UTC timestamp with milliseconds, as the ledger writes them.
fn ts(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// Which jobs a page holds: every field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct JobsQuery {
    /// Keep jobs with one of these words (all when empty).
    pub states: Vec<Listed>,
    /// Keep jobs whose id contains this text, ASCII case ignored.
    pub q: Option<String>,
    /// Keep jobs of this named queue.
    pub queue: Option<String>,
    /// Start after this `seq` (exclusive): the previous page's `next`.
    pub before: Option<i64>,
    /// Jobs per page (at least 1).
    pub limit: i64,
}

impl JobsQuery {
    /// A first page of `limit` jobs, of any state and queue.
    pub fn new(limit: i64) -> JobsQuery {
        JobsQuery { limit: limit.max(1), ..JobsQuery::default() }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobsPage {
    /// Each job: `id`, `queue`, `status` (a [`Listed`] word), `name`, `kind`, `priority`,
    /// `attempts`, `max_attempts`, `worker`, `queued_at`, `started_at`, `finished_at`,
    /// `wait_seconds`, `run_seconds` (`null` until it ends), `error`.
    pub jobs: Vec<Value>,
    /// The `before` of the next page; `None` on the last.
    pub next: Option<i64>,
}

/// `pattern` for `ILIKE`, its wildcards taken literally.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Queue {
    /// A page of jobs matching `query`, newest first (a keyset page on `seq`).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn jobs_page(&self, query: &JobsQuery) -> Result<JobsPage, Error> {
        let words: Option<Vec<&str>> =
            (!query.states.is_empty()).then(|| query.states.iter().map(|l| l.as_str()).collect());
        let states: Option<Vec<&str>> = words.as_ref().map(|_| table_states(&query.states));
        let sql = format!(
            "SELECT seq, json_build_object(
                 'id', id, 'queue', queue, 'status', {LISTED}, 'name', name, 'kind', kind,
                 'priority', priority, 'attempts', attempts, 'max_attempts', max_attempts,
                 'worker', worker, 'queued_at', {queued}, 'started_at', {started},
                 'finished_at', {finished},
                 'wait_seconds', extract(epoch FROM started_at - queued_at)::float8,
                 'run_seconds', CASE WHEN finished_at IS NOT NULL THEN run_seconds END, 'error', error)
             FROM conveyor_jobs
             WHERE ($1::int8 IS NULL OR seq < $1)
               AND ($2::text[] IS NULL OR state = ANY($2))
               AND ($3::text[] IS NULL OR ({LISTED}) = ANY($3))
               AND ($4::text IS NULL OR queue = $4)
               AND ($5::text IS NULL OR id ILIKE $5)
             ORDER BY seq DESC LIMIT $6",
            queued = ts("queued_at"),
            started = ts("started_at"),
            finished = ts("finished_at"),
        );
        let limit = query.limit.max(1);
        let rows: Vec<(i64, Value)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(query.before)
            .bind(states)
            .bind(words)
            .bind(query.queue.as_deref())
            .bind(query.q.as_deref().map(like_escaped))
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing jobs"))?;
        let more = rows.len() as i64 > limit;
        let mut jobs = Vec::with_capacity(rows.len());
        let mut last = None;
        for (seq, job) in rows.into_iter().take(usize::try_from(limit).unwrap_or(usize::MAX)) {
            last = Some(seq);
            jobs.push(job);
        }
        Ok(JobsPage { jobs, next: if more { last } else { None } })
    }

    /// Per named queue, jobs by [`Listed`] word (every word present, zeros included) and
    /// the age of its oldest runnable waiting job: `[{"queue", "counts": {WORD: N, …},
    /// "oldest_waiting_seconds": SECONDS | null}, …]`, by queue name. One grouped scan.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn queue_counts(&self) -> Result<Vec<Value>, Error> {
        let counts: String = Listed::ALL
            .iter()
            .map(|l| format!("'{w}', count(*) FILTER (WHERE w = '{w}')", w = l.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT json_build_object('queue', queue, 'counts', json_build_object({counts}),
                 'oldest_waiting_seconds',
                 extract(epoch FROM now() - min(run_at) FILTER (WHERE w = 'queued'))::float8)
             FROM (SELECT queue, run_at, {LISTED} AS w FROM conveyor_jobs) j
             GROUP BY queue ORDER BY queue"
        );
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(db("counting jobs per queue"))
    }

    /// Finishes per second over the last `seconds` seconds, by final state, with the
    /// mean and largest wait of the jobs that finished each second: `[{"t": UNIX_SECOND,
    /// "state", "n", "wait_mean", "wait_max"}, …]` (seconds without finishes left out).
    /// Read through the index on `finished_at`.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn throughput(&self, seconds: u32) -> Result<Vec<Value>, Error> {
        sqlx::query_scalar(
            "SELECT json_build_object('t', t, 'state', state, 'n', n, 'wait_mean', wait_mean,
                                      'wait_max', wait_max)
             FROM (SELECT extract(epoch FROM date_trunc('second', finished_at))::int8 AS t, state,
                          count(*) AS n,
                          avg(extract(epoch FROM started_at - queued_at))::float8 AS wait_mean,
                          max(extract(epoch FROM started_at - queued_at))::float8 AS wait_max
                   FROM conveyor_jobs
                   WHERE finished_at > now() - $1 * interval '1 second'
                   GROUP BY 1, 2) s
             ORDER BY t",
        )
        .bind(f64::from(seconds))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading recent finishes"))
    }

    /// Workers that have not stopped and were seen within the last hour, newest first:
    /// `[{"name", "alive", "started_at", "last_seen", "lease_seconds", "running",
    /// "jobs": [ID, …]}, …]` (`alive`: heartbeated within its lease; `jobs`: up to 20 of
    /// the jobs it holds), and up to 100 stuck jobs (running, lease expired), oldest lease
    /// first: `[{"id", "queue", "worker", "lease_expired_seconds"}, …]`.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a statement fails.
    pub async fn workers(&self) -> Result<(Vec<Value>, Vec<Value>), Error> {
        let sql = format!(
            "SELECT json_build_object('name', w.name,
                 'alive', w.last_seen > now() - w.lease_ms * interval '1 millisecond',
                 'started_at', {started}, 'last_seen', {seen}, 'lease_seconds', w.lease_ms / 1000.0,
                 'running', (SELECT count(*) FROM conveyor_jobs j WHERE j.state = 'running' AND j.worker = w.name),
                 'jobs', coalesce((SELECT json_agg(id) FROM (SELECT id FROM conveyor_jobs j
                     WHERE j.state = 'running' AND j.worker = w.name ORDER BY seq LIMIT 20) h), '[]'::json))
             FROM conveyor_workers w
             WHERE w.stopped_at IS NULL AND w.last_seen > now() - interval '1 hour'
             ORDER BY w.started_at DESC, w.name",
            started = ts("w.started_at"),
            seen = ts("w.last_seen"),
        );
        let workers = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing workers"))?;
        let stuck = sqlx::query_scalar(
            "SELECT json_build_object('id', id, 'queue', queue, 'worker', worker,
                 'lease_expired_seconds', extract(epoch FROM now() - lease_expires_at)::float8)
             FROM conveyor_jobs WHERE state = 'running' AND lease_expires_at < now()
             ORDER BY lease_expires_at LIMIT 100",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing stuck jobs"))?;
        Ok((workers, stuck))
    }

    /// One job with every field (as in [`JobsPage::jobs`], plus `run_at`, `lost`,
    /// `spec_hash`, `concurrency_key`, `rate_key`, `lease_expires_at`, `exit_code`,
    /// `output_tail`) and its attempts, oldest first: `"attempts_run": [{"attempt",
    /// "worker", "started_at", "finished_at", "outcome"}, …]` (`outcome` `lost` for an
    /// attempt whose worker lost its lease, `null` while it runs); `None` for an unknown id.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn job(&self, id: &str) -> Result<Option<Value>, Error> {
        let sql = format!(
            "SELECT json_build_object(
                 'id', id, 'queue', queue, 'status', {LISTED}, 'name', name, 'kind', kind,
                 'priority', priority, 'attempts', attempts, 'max_attempts', max_attempts, 'lost', lost,
                 'worker', worker, 'queued_at', {queued}, 'run_at', {run_at}, 'started_at', {started},
                 'finished_at', {finished}, 'lease_expires_at', {lease},
                 'wait_seconds', extract(epoch FROM started_at - queued_at)::float8,
                 'run_seconds', run_seconds, 'error', error, 'exit_code', exit_code,
                 'spec_hash', spec_hash, 'concurrency_key', concurrency_key, 'rate_key', rate_key,
                 'output_tail', output_tail,
                 'attempts_run', coalesce((SELECT json_agg(json_build_object('attempt', a.attempt,
                         'worker', a.worker, 'started_at', {a_started}, 'finished_at', {a_finished},
                         'outcome', a.outcome) ORDER BY a.token)
                     FROM (SELECT token, attempt, worker, started_at, finished_at, outcome
                           FROM conveyor_attempts WHERE job_id = j.id
                           UNION ALL
                           -- The running attempt, on the job row until it ends.
                           SELECT j.lease_token, j.attempts, j.worker, j.attempt_started_at, NULL, NULL
                           WHERE j.state = 'running') a), '[]'::json))
             FROM conveyor_jobs j WHERE id = $1",
            queued = ts("queued_at"),
            run_at = ts("run_at"),
            started = ts("started_at"),
            finished = ts("finished_at"),
            lease = ts("lease_expires_at"),
            a_started = ts("a.started_at"),
            a_finished = ts("a.finished_at"),
        );
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a job"))
    }

    /// A job's spec (its canonical JSON, as submitted); `None` for an unknown id.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn job_spec(&self, id: &str) -> Result<Option<Value>, Error> {
        sqlx::query_scalar("SELECT spec FROM conveyor_jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a job's spec"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_map_to_table_states() {
        for l in Listed::ALL {
            assert_eq!(Listed::parse(l.as_str()), Some(l));
        }
        assert_eq!(Listed::parse("available"), None);
        assert_eq!(
            table_states(&[Listed::Queued, Listed::Scheduled, Listed::Stuck]),
            ["available", "running"]
        );
    }

    #[test]
    fn searches_take_wildcards_literally() {
        assert_eq!(like_escaped("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}

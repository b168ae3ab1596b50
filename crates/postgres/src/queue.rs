//! [`Queue`]: the connection pool and schema; [`Waker`]: LISTEN for new jobs.

use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};

use crate::error::{Error, db};

/// The channel every enqueue transaction notifies once (`NOTIFY conveyor_jobs`) and every
/// worker listens on.
pub const CHANNEL: &str = "conveyor_jobs";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long connecting may take (the first connection, and the pool's later ones) before
/// the server counts as not answering.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle to the queue in one PostgreSQL database: a connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Queue {
    pub(crate) pool: PgPool,
}

impl Queue {
    /// Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`) with a pool of at most
    /// `max_connections` connections, and creates or migrates the schema (idempotent: the
    /// migrations are versioned, recorded in `_sqlx_migrations`, and applied under an
    /// advisory lock, so many workers may start at once).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] at once if the server cannot be reached or refuses the login
    /// (the first connection is not retried: its error is the cause, e.g. connection
    /// refused or an unknown database); [`Error::ConnectTimedOut`] if it does not answer
    /// within 10 s; [`Error::Migrate`] if the schema cannot be brought up to date.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the pool; a migration in flight rolls back.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), conveyor_postgres::Error> {
    /// let queue = conveyor_postgres::Queue::connect("postgres://127.0.0.1/conveyor", 4).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, max_connections: u32) -> Result<Queue, Error> {
        Queue::connect_with(url, max_connections, true).await
    }

    /// As [`connect`](Queue::connect), choosing whether this handle's commits wait for the
    /// server's WAL flush (`synchronous_commit`).
    ///
    /// Workers may turn it off: a commit the server loses in a crash is a claim, heartbeat
    /// or outcome that did not happen, and the lease tokens keep that safe — the job is
    /// rescued and runs again (at-least-once), and a late write with a stale token changes
    /// nothing, so every job still ends with exactly one final state. Submissions should
    /// keep it on, so that an enqueue that reported success is durable.
    ///
    /// # Errors
    ///
    /// As [`connect`](Queue::connect); also [`Error::Database`] for a URL that cannot be
    /// parsed.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        synchronous_commit: bool,
    ) -> Result<Queue, Error> {
        let mut options: PgConnectOptions = url.parse().map_err(db("reading the queue's URL"))?;
        if !synchronous_commit {
            options = options.options([("synchronous_commit", "off")]);
        }
        // The first connection is made here, not by the pool: the pool takes a refused
        // connection for a server still starting and retries it until its acquire timeout,
        // then reports only "pool timed out", after 10 s, without the cause. A connection of
        // our own fails at once with the driver's error (connection refused, unknown host,
        // no such role or database, bad password), still bounded for a server that never
        // answers. It runs the migrations and is closed; the pool makes its own.
        let mut first = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| Error::ConnectTimedOut(CONNECT_TIMEOUT))?
            .map_err(db("connecting to the queue's database"))?;
        MIGRATOR.run(&mut first).await?;
        // Only a courteous goodbye to the server: the migrations are committed already.
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(CONNECT_TIMEOUT)
            // No ping before each statement (a round trip each): a dead connection fails the
            // statement, and every caller retries or reports.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(db("connecting to the queue's database"))?;
        Ok(Queue { pool })
    }

    /// The connection pool, for queries of one's own.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Starts listening for new jobs on [`CHANNEL`] with a connection of its own.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the listening connection cannot be made.
    pub async fn waker(&self) -> Result<Waker, Error> {
        let mut listener =
            PgListener::connect_with(&self.pool).await.map_err(db("connecting the listener"))?;
        listener.listen(CHANNEL).await.map_err(db("LISTEN conveyor_jobs"))?;
        Ok(Waker { listener })
    }

    /// Records that worker `name` is alive (inserting it on the first call), with the lease
    /// it uses (workers count as alive for one lease after their last call).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn worker_alive(&self, name: &str, lease: Duration) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO conveyor_workers (name, lease_ms) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET last_seen = now(), lease_ms = $2, stopped_at = NULL",
        )
        .bind(name)
        .bind(millis(lease))
        .execute(&self.pool)
        .await
        .map_err(db("recording the worker's heartbeat"))?;
        Ok(())
    }

    /// Records that worker `name` stopped.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn worker_stopped(&self, name: &str) -> Result<(), Error> {
        sqlx::query("UPDATE conveyor_workers SET stopped_at = now() WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db("recording the worker's stop"))?;
        Ok(())
    }

    /// Deletes up to `batch` jobs that reached their final state more than `keep` ago (and
    /// their attempts); returns how many. Call it in a loop until it returns less than
    /// `batch` to delete them all in small transactions.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statement fails.
    pub async fn purge_finished(&self, keep: Duration, batch: i64) -> Result<u64, Error> {
        let n: i64 = sqlx::query_scalar(
            "WITH old AS (
                 SELECT id FROM conveyor_jobs
                 WHERE finished_at IS NOT NULL AND finished_at < now() - $1 * interval '1 millisecond'
                 ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
             ), gone_attempts AS (
                 DELETE FROM conveyor_attempts WHERE job_id IN (SELECT id FROM old)
             ), gone AS (
                 DELETE FROM conveyor_jobs WHERE id IN (SELECT id FROM old) RETURNING 1
             )
             SELECT count(*) FROM gone",
        )
        .bind(millis(keep))
        .bind(batch)
        .fetch_one(&self.pool)
        .await
        .map_err(db("deleting old finished jobs"))?;
        Ok(n.unsigned_abs())
    }
}

/// Milliseconds, saturating, for SQL intervals.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A listening connection: [`wait`](Waker::wait) returns when a job was enqueued (or
/// released, or put back for a retry).
///
/// Notifications sent while the connection is down are lost (sqlx reconnects by itself on
/// the next call): always pair it with polling.
#[derive(Debug)]
pub struct Waker {
    listener: PgListener,
}

impl Waker {
    /// Waits for the next notification.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the connection was lost and could not be made again (the next
    /// call tries again).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a notification that arrives after the drop waits for the next call.
    pub async fn wait(&mut self) -> Result<(), Error> {
        // `None` means the connection dropped (the next call re-makes it): notifications
        // may have been lost meanwhile, so that counts as a wake-up too.
        self.listener.try_recv().await.map_err(db("waiting for notifications"))?;
        Ok(())
    }
}

//! Upgrading a queue's schema under running jobs, against a real server
//! (`CONVEYOR_TEST_DATABASE_URL`; skipped without it): migration 0006 moves each running
//! attempt from its open `conveyor_attempts` row to its job row, and the attempt then ends
//! as any other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;
use std::time::Duration;

use conveyor_postgres::{Completion, Lease};
use serde_json::Value;
use sqlx::postgres::{PgPool, PgPoolOptions};

mod common;
use common::Empty;

/// The last migration before the running attempt moved to the job row.
const BEFORE: i64 = 5;

/// Applies the migrations up to `BEFORE` only, as a worker of that version did.
async fn migrate_to_before(pool: &PgPool) {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.migrations =
        Cow::Owned(migrator.migrations.iter().filter(|m| m.version <= BEFORE).cloned().collect());
    migrator.run(pool).await.unwrap();
}

/// What a claim of that version wrote: the job row, running, and an open attempt row.
/// Returns the lease token.
async fn claim_as_before(pool: &PgPool, id: &str, worker: &str, started_secs_ago: i32) -> i64 {
    sqlx::query_scalar(
        "WITH claimed AS (
             UPDATE conveyor_jobs SET state = 'running', attempts = attempts + 1,
                 lease_token = nextval('conveyor_lease_seq'),
                 lease_expires_at = now() + interval '30 seconds', worker = $2,
                 started_at = coalesce(started_at, now() - $3 * interval '1 second')
             WHERE id = $1
             RETURNING id, attempts, lease_token, concurrency_key, rate_key
         ), recorded AS (
             INSERT INTO conveyor_attempts (token, job_id, attempt, worker, concurrency_key, rate_key, started_at)
             SELECT lease_token, id, attempts, $2, concurrency_key, coalesce(rate_key, concurrency_key),
                    now() - $3 * interval '1 second'
             FROM claimed
         )
         SELECT lease_token FROM claimed",
    )
    .bind(id)
    .bind(worker)
    .bind(started_secs_ago)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn text(pool: &PgPool, sql: &'static str, token: i64) -> String {
    sqlx::query_scalar(sql).bind(token).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn jobs_running_at_the_upgrade_keep_their_attempt() {
    let Some(empty) = Empty::new("conveyor_upgrade").await else { return };
    let old = PgPoolOptions::new().max_connections(1).connect(&empty.url).await.unwrap();
    migrate_to_before(&old).await;
    // `r`: a first attempt lost, a second one running. `k1` running and `k2` waiting under
    // key `api`, limited to 1 start a minute: `k1`'s start fills the window.
    sqlx::query(
        "INSERT INTO conveyor_jobs (id, kind, spec, spec_hash, max_attempts, concurrency_key, limited)
         VALUES ('r', 'noop', '{}', '-', 1, NULL, false),
                ('k1', 'noop', '{}', '-', 1, 'api', true),
                ('k2', 'noop', '{}', '-', 1, 'api', true)",
    )
    .execute(&old)
    .await
    .unwrap();
    sqlx::query("INSERT INTO conveyor_limits (key, rate_count, rate_period_ms) VALUES ('api', 1, 60000)")
        .execute(&old)
        .await
        .unwrap();
    let lost = claim_as_before(&old, "r", "gone", 20).await;
    sqlx::query(
        "WITH lost AS (
             UPDATE conveyor_jobs SET state = 'available', lease_token = NULL, lease_expires_at = NULL,
                 lost = lost + 1
             WHERE id = 'r'
         )
         UPDATE conveyor_attempts SET finished_at = now(), outcome = 'lost' WHERE token = $1",
    )
    .bind(lost)
    .execute(&old)
    .await
    .unwrap();
    let running = claim_as_before(&old, "r", "old", 5).await;
    let started =
        text(&old, "SELECT started_at::text FROM conveyor_attempts WHERE token = $1", running).await;
    claim_as_before(&old, "k1", "old", 1).await;
    old.close().await;

    // A worker of this version connects: the schema is upgraded under the running jobs.
    let db = empty.connect(2).await;
    let queue = db.queue.clone();
    assert_eq!(db.int("SELECT count(*) FROM conveyor_attempts WHERE finished_at IS NULL").await, 0);
    let job = queue.job("r").await.unwrap().unwrap();
    assert_eq!(job["status"], "running");
    let runs: Vec<(Value, Value, Value)> = job["attempts_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["attempt"].clone(), a["worker"].clone(), a["outcome"].clone()))
        .collect();
    assert_eq!(
        runs,
        [(1.into(), "gone".into(), "lost".into()), (2.into(), "old".into(), Value::Null)],
        "{job}"
    );
    // The running attempt of key `api` still counts against its rate: `k2` may not start.
    assert!(queue.claim("new", 10, Duration::from_secs(30)).await.unwrap().is_empty());
    let ages = queue.ages().await.unwrap();
    assert!(ages.iter().all(|a| a.oldest_running_seconds >= 5.0), "{ages:?}");

    // The attempt ends under its old token, with its start from before the upgrade.
    let done = queue.complete(&[Completion::succeeded(Lease { id: "r".into(), token: running })]).await;
    assert_eq!(done.unwrap(), ["r"]);
    assert_eq!(
        text(queue.pool(), "SELECT started_at::text FROM conveyor_attempts WHERE token = $1", running).await,
        started
    );
    assert_eq!(
        text(
            queue.pool(),
            "SELECT concat_ws(' ', attempt, worker, outcome) FROM conveyor_attempts WHERE token = $1",
            running
        )
        .await,
        "2 old succeeded"
    );
    // Every attempt counted is recorded, ended or running.
    assert_eq!(
        db.int(
            "SELECT count(*) FROM conveyor_jobs j
             WHERE j.attempts <> (SELECT count(*) FROM conveyor_attempts a WHERE a.job_id = j.id)
                                 + (j.state = 'running')::int"
        )
        .await,
        0
    );
    db.done().await;
}

//! The planner's statistics of the job table, against a real server
//! (`CONVEYOR_TEST_DATABASE_URL`; skipped without it): a bulk submission refreshes them at
//! once, so that the claims that follow it are planned from them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use conveyor_postgres::NewJob;

mod common;
use common::Fresh;

#[tokio::test]
async fn a_bulk_submission_is_analyzed_at_once() {
    let Some(db) = Fresh::new("conveyor_stats", 2).await else { return };
    // A table never analyzed counts -1 rows.
    assert_eq!(
        db.int("SELECT reltuples::int8 FROM pg_class WHERE oid = 'conveyor_jobs'::regclass").await,
        -1
    );
    let mut s = db.queue.submission().await.unwrap();
    for i in 0..1500 {
        let id = format!("b{i}");
        s.add(NewJob::new(&id, "noop", serde_json::json!({"id": id, "kind": "noop"}))).await.unwrap();
    }
    assert_eq!(s.commit().await.unwrap().len(), 1500);
    assert_eq!(
        db.int("SELECT reltuples::int8 FROM pg_class WHERE oid = 'conveyor_jobs'::regclass").await,
        1500,
        "the submission did not analyze the table"
    );
    db.done().await;
}

//! The queue's promises at the statement level, against a real server
//! (`CONVEYOR_TEST_DATABASE_URL`, as the end-to-end tests; skipped without it): a lease
//! that was lost fences every later write of its attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use conveyor_postgres::{Completion, FinalState, NewJob, Queue};

mod common;
use common::Fresh;

#[tokio::test]
async fn a_lost_lease_fences_heartbeats_and_completions() {
    let Some(db) = Fresh::new("conveyor_unit", 2).await else { return };
    let (queue, url) = (db.queue.clone(), db.url.clone());
    let mut s = queue.submission().await.unwrap();
    s.add(NewJob::new("a", "noop", serde_json::json!({"id": "a", "kind": "noop"}))).await.unwrap();
    assert_eq!(s.commit().await.unwrap(), ["a"]);

    // Migrations are idempotent: connecting again changes nothing.
    Queue::connect(&url, 1).await.unwrap();

    let first = queue.claim("zombie", 10, Duration::from_millis(500)).await.unwrap();
    assert_eq!(first.len(), 1);
    let stale = first[0].lease();
    // Nothing else is runnable while it is held.
    assert!(queue.claim("other", 10, Duration::from_secs(30)).await.unwrap().is_empty());

    // The lease expires; a rescue re-queues the job, another worker claims it.
    let rescued = loop {
        let r = queue.rescue(100, 5).await.unwrap();
        if r.requeued > 0 {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((rescued.requeued, rescued.failed), (1, 0));
    let second = queue.claim("other", 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].attempt, second[0].lost), (2, 1));
    assert_ne!(second[0].token, stale.token);

    // The zombie's heartbeat, completion and release change nothing.
    assert!(
        queue
            .heartbeat("zombie", std::slice::from_ref(&stale), Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(queue.complete(&[Completion::new(stale.clone(), FinalState::Failed)]).await.unwrap().is_empty());
    assert_eq!(queue.release(std::slice::from_ref(&stale)).await.unwrap(), 0);

    // The holder's do.
    let live = second[0].lease();
    assert_eq!(
        queue.heartbeat("other", std::slice::from_ref(&live), Duration::from_secs(30)).await.unwrap(),
        ["a"]
    );
    assert_eq!(queue.complete(&[Completion::succeeded(live.clone())]).await.unwrap(), ["a"]);
    // Once: a second completion with the same token changes nothing.
    assert!(queue.complete(&[Completion::new(live, FinalState::Failed)]).await.unwrap().is_empty());

    let status = queue.status().await.unwrap();
    assert_eq!((status.succeeded, status.failed, status.running, status.available), (1, 0, 0, 0));
    let page = queue.finished_page(0, 10).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(
        (page[0].state.as_str(), page[0].attempts, page[0].worker.as_deref()),
        ("succeeded", 2, Some("other"))
    );

    queue.pool().close().await;
    db.done().await;
}

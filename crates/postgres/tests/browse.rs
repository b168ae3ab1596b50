//! The console's reads and actions against a real server (`CONVEYOR_TEST_DATABASE_URL`;
//! skipped without it): filters by state, id and queue, keyset pages that neither repeat
//! nor skip, counts per queue, workers and stuck jobs, cancel and retry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::Duration;

use conveyor_postgres::{
    Cancelled, Completion, FinalState, JobsQuery, Listed, NewJob, Queue, Retried, Submission,
};
use serde_json::{Value, json};

mod common;
use common::Fresh;

/// Submits `n` noop jobs `PREFIX-0…` to `queue_name`.
async fn submit(queue: &Queue, prefix: &str, queue_name: &str, n: usize) {
    let mut submission: Submission = queue.submission().await.unwrap();
    for i in 0..n {
        let mut job = NewJob::new(format!("{prefix}-{i}"), "noop", json!({"kind": "noop"}));
        job.queue = queue_name.to_owned();
        submission.add(job).await.unwrap();
    }
    submission.commit().await.unwrap();
}

fn ids(jobs: &[Value]) -> Vec<String> {
    jobs.iter().map(|j| j["id"].as_str().unwrap().to_owned()).collect()
}

fn query(limit: i64) -> JobsQuery {
    JobsQuery::new(limit)
}

#[tokio::test]
async fn pages_filter_by_state_id_and_queue_and_never_repeat_nor_skip() {
    let Some(db) = Fresh::new("conveyor_browse", 4).await else { return };
    let queue = db.queue.clone();
    submit(&queue, "mail", "mail", 7).await;
    submit(&queue, "img", "images", 5).await;
    // Two mail jobs run; one of them fails.
    let claimed = queue
        .claim_matching(
            "w1",
            2,
            Duration::from_secs(30),
            &conveyor_postgres::ClaimFilter::new(["noop"], Some("mail")),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let failed = Completion::new(claimed[0].lease(), FinalState::Failed);
    queue.complete(&[failed]).await.unwrap();

    // Newest first, in pages of 3 that cover every job once, even as jobs arrive.
    let mut seen = Vec::new();
    let mut q = query(3);
    let mut first = true;
    loop {
        let page = queue.jobs_page(&q).await.unwrap();
        assert!(page.jobs.len() <= 3);
        seen.extend(ids(&page.jobs));
        if first {
            assert_eq!(ids(&page.jobs), ["img-4", "img-3", "img-2"]);
            submit(&queue, "late", "mail", 2).await;
            first = false;
        }
        match page.next {
            Some(next) => q.before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 12, "no repeats: {seen:?}");
    assert!(!seen.iter().any(|id| id.starts_with("late")), "later jobs go on the first page");

    // The queue filter, and the state filter (split by time: running vs queued).
    let mut q = query(50);
    q.queue = Some("images".into());
    let page = queue.jobs_page(&q).await.unwrap();
    assert_eq!(ids(&page.jobs), ["img-4", "img-3", "img-2", "img-1", "img-0"]);
    assert_eq!(page.next, None);
    assert!(page.jobs.iter().all(|j| j["queue"] == "images" && j["status"] == "queued"));
    let mut q = query(50);
    q.states = vec![Listed::Running, Listed::Failed];
    let page = queue.jobs_page(&q).await.unwrap();
    let mut got = ids(&page.jobs);
    got.sort();
    let mut want = vec![claimed[0].id.clone(), claimed[1].id.clone()];
    want.sort();
    assert_eq!(got, want);
    let failed_job = page.jobs.iter().find(|j| j["status"] == "failed").unwrap();
    assert_eq!(failed_job["attempts"], 1);
    assert_eq!(failed_job["worker"], "w1");
    // The id search ignores ASCII case and takes `%` literally; filters combine.
    let mut q = query(50);
    q.q = Some("IMG-3".into());
    assert_eq!(ids(&queue.jobs_page(&q).await.unwrap().jobs), ["img-3"]);
    q.q = Some("%".into());
    assert!(queue.jobs_page(&q).await.unwrap().jobs.is_empty());
    let mut q = query(50);
    q.queue = Some("mail".into());
    q.states = vec![Listed::Queued];
    assert_eq!(queue.jobs_page(&q).await.unwrap().jobs.len(), 7, "5 of mail-* and 2 late-*");

    // Counts per queue, every word present.
    let counts = queue.queue_counts().await.unwrap();
    assert_eq!(counts.len(), 2);
    assert_eq!(counts[0]["queue"], "images");
    assert_eq!(counts[0]["counts"]["queued"], 5);
    assert_eq!(counts[1]["queue"], "mail");
    assert_eq!(counts[1]["counts"]["queued"], 7);
    assert_eq!(counts[1]["counts"]["running"], 1);
    assert_eq!(counts[1]["counts"]["failed"], 1);
    assert_eq!(counts[1]["counts"]["stuck"], 0);
    assert!(counts[1]["oldest_waiting_seconds"].as_f64().unwrap() >= 0.0);
    let recent = queue.throughput(120).await.unwrap();
    assert_eq!(
        recent.iter().filter(|s| s["state"] == "failed").map(|s| s["n"].as_i64().unwrap()).sum::<i64>(),
        1
    );
    db.done().await;
}

#[tokio::test]
async fn workers_show_what_they_hold_and_expired_leases_are_stuck() {
    let Some(db) = Fresh::new("conveyor_browse", 4).await else { return };
    let queue = db.queue.clone();
    submit(&queue, "a", "default", 3).await;
    queue.worker_alive("w-live", Duration::from_secs(30)).await.unwrap();
    queue.claim("w-live", 1, Duration::from_secs(30)).await.unwrap();
    queue.claim("w-dead", 1, Duration::from_secs(30)).await.unwrap();
    // w-dead's lease ran out (as if it was killed and its lease not yet rescued).
    sqlx::query(
        "UPDATE conveyor_jobs SET lease_expires_at = now() - interval '5 seconds' WHERE worker = 'w-dead'",
    )
    .execute(queue.pool())
    .await
    .unwrap();
    let (workers, stuck) = queue.workers().await.unwrap();
    let live = workers.iter().find(|w| w["name"] == "w-live").unwrap();
    assert_eq!(live["alive"], true);
    assert_eq!(live["running"], 1);
    assert_eq!(live["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0]["worker"], "w-dead");
    assert!(stuck[0]["lease_expired_seconds"].as_f64().unwrap() >= 4.0);
    let mut q = query(50);
    q.states = vec![Listed::Stuck];
    assert_eq!(ids(&queue.jobs_page(&q).await.unwrap().jobs), [stuck[0]["id"].as_str().unwrap()]);
    db.done().await;
}

#[tokio::test]
async fn cancel_and_retry_keep_one_final_state_and_the_history() {
    let Some(db) = Fresh::new("conveyor_browse", 4).await else { return };
    let queue = db.queue.clone();
    submit(&queue, "j", "default", 3).await;
    // j-0 runs and fails; j-1 runs and is cancelled while running; j-2 is cancelled waiting.
    let claimed = queue.claim("w1", 2, Duration::from_secs(30)).await.unwrap();
    let (first, second) = (&claimed[0], &claimed[1]);
    queue.complete(&[Completion::new(first.lease(), FinalState::Failed)]).await.unwrap();
    assert_eq!(queue.cancel(&second.id).await.unwrap(), Cancelled::Running);
    assert_eq!(queue.cancel("j-2").await.unwrap(), Cancelled::Waiting);
    assert_eq!(queue.cancel("j-2").await.unwrap(), Cancelled::AlreadyFinished("cancelled".into()));
    assert_eq!(queue.cancel("nope").await.unwrap(), Cancelled::Unknown);
    // The cancelled running job's worker can neither renew nor finish it.
    assert!(queue.heartbeat("w1", &[second.lease()], Duration::from_secs(30)).await.unwrap().is_empty());
    assert!(queue.complete(&[Completion::succeeded(second.lease())]).await.unwrap().is_empty());
    let job = queue.job(&second.id).await.unwrap().unwrap();
    assert_eq!(job["status"], "cancelled");
    assert_eq!(job["attempts_run"][0]["outcome"], "cancelled");
    assert_eq!(job["attempts_run"][0]["worker"], "w1");

    // Retry: the failed job waits again under its id, with one more attempt allowed.
    assert_eq!(queue.retry(&first.id).await.unwrap(), Retried::Queued);
    assert_eq!(queue.retry(&first.id).await.unwrap(), Retried::NotRetryable("available".into()));
    assert_eq!(queue.retry("nope").await.unwrap(), Retried::Unknown);
    let again = queue.claim("w2", 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(again.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [first.id.as_str()]);
    queue.complete(&[Completion::succeeded(again[0].lease())]).await.unwrap();
    let job = queue.job(&first.id).await.unwrap().unwrap();
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["attempts"], 2);
    assert_eq!(job["error"], Value::Null);
    let runs: Vec<(&str, &str)> = job["attempts_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["worker"].as_str().unwrap(), a["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(runs, [("w1", "failed"), ("w2", "succeeded")]);
    assert_eq!(queue.retry(&first.id).await.unwrap(), Retried::NotRetryable("succeeded".into()));
    assert_eq!(queue.job_spec(&first.id).await.unwrap().unwrap()["kind"], "noop");
    assert_eq!(queue.job("nope").await.unwrap(), None);
    db.done().await;
}

//! The worker library against a real server (`CONVEYOR_TEST_DATABASE_URL`; skipped without
//! it): transactional enqueue, typed handlers, claims limited to the kinds a worker has,
//! named queues with slots of their own, and stopping with a full prefetch buffer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use conveyor_postgres::{Done, JobArgs, Worker};
use serde::{Deserialize, Serialize};

mod common;
use common::Fresh;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Add {
    a: i64,
    b: i64,
}

impl JobArgs for Add {
    const KIND: &'static str = "add";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Mail {
    to: String,
}

impl JobArgs for Mail {
    const KIND: &'static str = "mail";
    const QUEUE: &'static str = "mail";
}

/// Runs `worker` until it is idle (it must be built with `exit_when_idle`), within 60 s.
async fn run_dry(worker: Worker) {
    let running = worker.start().await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), running.idle()).await.expect("the worker went idle");
    let report = running.stop(Duration::ZERO, std::future::pending()).await;
    assert!(report.settled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_exists_if_and_only_if_its_transaction_commits() {
    let Some(db) = Fresh::new("conveyor_worker", 8).await else { return };
    let mut tx = db.queue.pool().begin().await.unwrap();
    conveyor_postgres::insert(&mut *tx, &Add { a: 1, b: 1 }).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs").await, 0, "a rolled-back enqueue left a job");

    let mut tx = db.queue.pool().begin().await.unwrap();
    let ids =
        conveyor_postgres::insert_many(&mut *tx, &[Add { a: 1, b: 2 }, Add { a: 3, b: 4 }]).await.unwrap();
    // Not visible to others before the commit.
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs").await, 0);
    tx.commit().await.unwrap();
    assert_eq!(ids.len(), 2);

    let sums = Arc::new(AtomicUsize::new(0));
    let seen = sums.clone();
    let worker = Worker::builder(db.queue.clone())
        .handle(move |job: Add, _ctx| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(usize::try_from(job.a + job.b).unwrap(), Ordering::SeqCst);
                Ok::<(), String>(())
            }
        })
        .exit_when_idle(true)
        .build();
    run_dry(worker).await;
    assert_eq!(sums.load(Ordering::SeqCst), 10, "the typed handler got the arguments back");
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'").await, 2);
    db.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_failures_retry_then_fail_and_bad_arguments_fail_at_once() {
    let Some(db) = Fresh::new("conveyor_worker", 8).await else { return };
    #[derive(Serialize, Deserialize)]
    struct Flaky;
    impl JobArgs for Flaky {
        const KIND: &'static str = "flaky";
        const MAX_ATTEMPTS: u32 = 3;
    }
    db.queue.insert(&Flaky).await.unwrap();
    let mut bad = conveyor_postgres::NewJob::new("bad", "flaky", serde_json::json!({"not": "unit"}));
    bad.max_attempts = 3;
    let mut s = db.queue.submission().await.unwrap();
    s.add(bad).await.unwrap();
    s.commit().await.unwrap();
    let worker = Worker::builder(db.queue.clone())
        .handle(|_: Flaky, ctx| async move { Err::<(), String>(format!("attempt {}", ctx.attempt())) })
        .retry(conveyor_pool::RetryPolicy::fixed(10, Duration::from_millis(1)))
        .exit_when_idle(true)
        .build();
    run_dry(worker).await;
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'failed' AND attempts = 3 AND error = 'attempt 3'")
            .await,
        1
    );
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_jobs WHERE id = 'bad' AND state = 'failed' AND attempts = 1")
            .await,
        1
    );
    db.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_never_claims_a_kind_it_has_no_handler_for() {
    let Some(db) = Fresh::new("conveyor_worker", 8).await else { return };
    db.queue.insert_many(&[Add { a: 1, b: 1 }, Add { a: 2, b: 2 }]).await.unwrap();
    db.queue.insert(&Mail { to: "x".into() }).await.unwrap();
    let worker = Worker::builder(db.queue.clone())
        .raw("add", |_ctx| async { Ok(Done::new()) })
        .exit_when_idle(true)
        .build();
    run_dry(worker).await;
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_jobs WHERE kind = 'add' AND state = 'succeeded'").await,
        2
    );
    assert_eq!(
        db.int(
            "SELECT count(*) FROM conveyor_jobs WHERE kind = 'mail' AND state = 'available' AND attempts = 0"
        )
        .await,
        1,
        "the mail job was touched by a worker without a mail handler"
    );
    // Even when its lease expired too often, a job is finalized only by a worker that has
    // its kind.
    sqlx::query(
        "UPDATE conveyor_jobs SET state = 'running', lease_token = 1, lost = 99,
                lease_expires_at = now() - interval '1 second' WHERE kind = 'mail'",
    )
    .execute(db.queue.pool())
    .await
    .unwrap();
    let r = db.queue.rescue_kinds(100, 5, Some(&["add".to_owned()])).await.unwrap();
    assert_eq!((r.requeued, r.failed), (0, 0));
    let r = db.queue.rescue_kinds(100, 5, Some(&["mail".to_owned()])).await.unwrap();
    assert_eq!((r.requeued, r.failed), (0, 1));
    db.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_queues_have_slots_of_their_own() {
    let Some(db) = Fresh::new("conveyor_worker", 8).await else { return };
    let mails: Vec<Mail> = (0..12).map(|i| Mail { to: format!("u{i}") }).collect();
    db.queue.insert_many(&mails).await.unwrap();
    let adds: Vec<Add> = (0..12).map(|i| Add { a: i, b: 0 }).collect();
    db.queue.insert_many(&adds).await.unwrap();
    let (mail_now, mail_max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (add_now, add_max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // A job holds its slot until its queue has once run `slots` jobs at once (or 10 s went
    // by), so filling the slots never depends on how fast the machine is: a worker that leaves
    // slots unused makes the jobs wait out the deadline and the assertion below fail.
    let gauge = |now: Arc<AtomicUsize>, max: Arc<AtomicUsize>, slots: usize| {
        move || {
            let (now, max) = (now.clone(), max.clone());
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(n, Ordering::SeqCst);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while max.load(Ordering::SeqCst) < slots && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                now.fetch_sub(1, Ordering::SeqCst);
            }
        }
    };
    let mail_run = gauge(mail_now.clone(), mail_max.clone(), 2);
    let add_run = gauge(add_now.clone(), add_max.clone(), 3);
    let worker = Worker::builder(db.queue.clone())
        .handle(move |_: Mail, _ctx| {
            let f = mail_run();
            async move {
                f.await;
                Ok::<(), String>(())
            }
        })
        .handle(move |_: Add, _ctx| {
            let f = add_run();
            async move {
                f.await;
                Ok::<(), String>(())
            }
        })
        .queues([("mail", Some(2)), ("default", Some(3))])
        .exit_when_idle(true)
        .build();
    run_dry(worker).await;
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'").await, 24);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE queue = 'mail'").await, 12);
    assert!(mail_max.load(Ordering::SeqCst) <= 2, "mail ran {} at once", mail_max.load(Ordering::SeqCst));
    assert!(add_max.load(Ordering::SeqCst) <= 3, "default ran {} at once", add_max.load(Ordering::SeqCst));
    assert!(mail_max.load(Ordering::SeqCst) == 2 && add_max.load(Ordering::SeqCst) == 3, "slots unused");

    // A worker of queue `mail` only takes mail.
    db.queue.insert(&Add { a: 0, b: 0 }).await.unwrap();
    let worker = Worker::builder(db.queue.clone())
        .raw("add", |_ctx| async { Ok(Done::new()) })
        .queues([("mail", None)])
        .build();
    let running = worker.start().await.unwrap();
    db.queue.insert(&Mail { to: "late".into() }).await.unwrap();
    running.stop(Duration::ZERO, std::future::pending()).await;
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'available' AND attempts = 0").await,
        2
    );
    db.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_gives_back_prefetched_jobs_without_counting_an_attempt() {
    let Some(db) = Fresh::new("conveyor_worker", 8).await else { return };
    let adds: Vec<Add> = (0..10).map(|i| Add { a: i, b: 0 }).collect();
    db.queue.insert_many(&adds).await.unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let seen = started.clone();
    let worker = Worker::builder(db.queue.clone())
        .handle(move |_: Add, ctx| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                ctx.cancelled().await;
                Err::<(), _>("cancelled")
            }
        })
        .slots(2)
        .prefetch(5)
        .build();
    let running = worker.start().await.unwrap();
    // 2 running, 2 prefetched: the prefetch (at most 5) starts at the slots, and jobs that
    // do not end give it no reason to grow.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'running'").await < 4
        || started.load(Ordering::SeqCst) < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "the worker did not fill its buffer");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let report = running.stop(Duration::from_millis(50), std::future::pending()).await;
    assert!(report.settled && report.cut_short);
    assert_eq!(started.load(Ordering::SeqCst), 2, "a prefetched job started while stopping");
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'running'").await, 0, "left claimed");
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'available' AND attempts = 0").await,
        8
    );
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'available' AND lost = 1").await, 2);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_attempts").await, 2);
    db.done().await;
}

//! The PostgreSQL queue end to end: real `conveyor submit`, `worker`, `status` and `ledger`
//! processes against a real server (`CONVEYOR_TEST_DATABASE_URL`; skipped without it).
//!
//! Each test has a database of its own. Nothing sleeps to wait: every wait polls the
//! database (or a worker's stderr) for its condition, with a deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use conveyor_e2e::pg::{LIMIT, TestDb, Worker, conveyor_out};
use conveyor_e2e::server::request;
use conveyor_e2e::{Dir, code, jsonl};
use serde_json::{Value, json};

/// Submits `text` as `name` into `db`; asserts success.
fn submit(dir: &Dir, db: &TestDb, name: &str, text: &str) {
    let path = dir.write(name, text);
    let out = conveyor_out(dir, &["submit", "--queue", &db.url, path.to_str().expect("utf-8 path")]);
    assert_eq!(code(&out), 0, "submit failed");
}

/// Starts `n` workers (`w0`, `w1`, …) with `-w SLOTS --exit-when-idle` and waits, up to
/// `limit`, for each to run the queue dry and exit 0.
fn drain(dir: &Dir, db: &TestDb, n: usize, slots: &str, limit: Duration) {
    let workers: Vec<Worker> = (0..n)
        .map(|w| Worker::start(dir, &db.url, &format!("w{w}"), &["-w", slots, "--exit-when-idle"]))
        .collect();
    for w in workers {
        assert_eq!(w.finish(limit), Some(0));
    }
}

/// The ledger lines of the queue, by id.
fn ledger(dir: &Dir, db: &TestDb) -> BTreeMap<String, Vec<Value>> {
    let out = conveyor_out(dir, &["ledger", "--queue", &db.url]);
    assert_eq!(code(&out), 0);
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON ledger line");
        by_id.entry(v["id"].as_str().expect("id").to_owned()).or_default().push(v);
    }
    by_id
}

/// No two attempts of one job overlap in time, and each finished job has exactly one
/// attempt with its final outcome.
fn assert_attempts_consistent(db: &TestDb) {
    let overlaps = db.int(
        "SELECT count(*) FROM conveyor_attempts a JOIN conveyor_attempts b
           ON a.job_id = b.job_id AND a.token < b.token
         WHERE a.finished_at IS NULL OR b.started_at < a.finished_at",
    );
    assert_eq!(overlaps, 0, "two attempts of a job overlap in time");
    let bad = db.int(
        "SELECT count(*) FROM conveyor_jobs j
         WHERE j.finished_at IS NOT NULL AND (SELECT count(*) FROM conveyor_attempts a
                WHERE a.job_id = j.id AND a.outcome = j.state) <> 1",
    );
    assert_eq!(bad, 0, "a finished job without exactly one attempt ending in its final state");
    let unrecorded = db.int(
        "SELECT count(*) FROM conveyor_jobs j
         WHERE j.attempts <> (SELECT count(*) FROM conveyor_attempts a WHERE a.job_id = j.id)",
    );
    assert_eq!(unrecorded, 0, "attempts counted and attempts recorded differ");
}

/// The `/metrics` of a worker started with `--listen 127.0.0.1:0` (its `/healthz` answers
/// too).
fn scrape(worker: &Worker) -> String {
    worker.wait_for_stderr("/metrics", LIMIT);
    let addr = worker
        .stderr()
        .lines()
        .find_map(|l| {
            l.strip_prefix("conveyor: serving metrics on http://")?
                .strip_suffix("/metrics")
                .map(str::to_owned)
        })
        .expect("the metrics address on stderr");
    assert_eq!(request(&addr, "GET", "/healthz", &[], b"").0, 200);
    let (status, metrics) = request(&addr, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    metrics
}

/// The value of the sample `series` (name and labels, as exposed) in a scrape.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn run_on_workers(n_workers: usize, n_jobs: usize) {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs = jsonl(n_jobs, |i| {
        if i % 10 == 0 {
            json!({"id": format!("j{i}"), "kind": "sleep", "duration": "5ms", "priority": i % 3})
        } else {
            json!({"id": format!("j{i}"), "kind": "noop", "priority": i % 3})
        }
    });
    submit(&dir, &db, "jobs.jsonl", &jobs);
    drain(&dir, &db, n_workers, "4", LIMIT);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'"), n_jobs as i64);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_attempts"), n_jobs as i64, "a job ran twice");
    assert_attempts_consistent(&db);
    let by_id = ledger(&dir, &db);
    assert_eq!(by_id.len(), n_jobs);
    assert!(by_id.values().all(|lines| lines.len() == 1 && lines[0]["outcome"] == "succeeded"));
    let used = db.int("SELECT count(DISTINCT worker) FROM conveyor_attempts");
    assert!(used >= 2, "only {used} worker(s) took jobs");
}

#[test]
fn two_workers_run_every_job_exactly_once() {
    run_on_workers(2, 1000);
}

#[test]
fn three_workers_run_every_job_exactly_once() {
    run_on_workers(3, 1500);
}

#[test]
fn a_worker_grows_its_claims_on_a_deep_queue_of_quick_jobs() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let n = 6000;
    submit(&dir, &db, "deep.jsonl", &jsonl(n, |i| json!({"id": format!("q{i}"), "kind": "noop"})));
    // 8 slots: a fixed prefetch of as many (the old default) would hold 16 jobs, so no claim
    // could take more than 16.
    let w = Worker::start(&dir, &db.url, "deep", &["-w", "8", "--listen", "127.0.0.1:0"]);
    db.wait_at_least("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'", n as i64, LIMIT);
    let metrics = scrape(&w);
    let claims = sample(&metrics, "conveyor_claims_total{queue=\"*\"}").expect("claims counted");
    let claimed = sample(&metrics, "conveyor_claimed_jobs_total{queue=\"*\"}").expect("claimed jobs counted");
    assert_eq!(claimed, n as f64, "{metrics}");
    // Claims grew past 16 (empty polling claims after the drain count too, and lower the mean).
    assert!(claimed / claims >= 64.0, "{claims} claims took {claimed} jobs: claims did not grow\n{metrics}");
    // The prefetch now: within its bounds, the slots and the default cap.
    let prefetch = sample(&metrics, "conveyor_worker_prefetch{queue=\"*\"}").expect("the prefetch gauge");
    assert!((8.0..=4096.0).contains(&prefetch), "{prefetch}");
    w.signal("TERM");
    assert_eq!(w.finish(LIMIT), Some(143));
    assert_eq!(db.int("SELECT count(*) FROM conveyor_attempts"), n as i64, "a job ran twice");
}

#[test]
fn claims_follow_priority_then_fifo() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    // Priorities 2, 0, 1, 0, 2, 1, ...: claim order must be all 0s in file order, then 1s,
    // then 2s.
    let prio = [2, 0, 1];
    let jobs = jsonl(60, |i| json!({"id": format!("p{i:02}"), "kind": "noop", "priority": prio[i % 3]}));
    submit(&dir, &db, "prio.jsonl", &jobs);
    let w = Worker::start(&dir, &db.url, "solo", &["-w", "1", "--exit-when-idle"]);
    assert_eq!(w.finish(LIMIT), Some(0));
    let claimed = db.texts("SELECT job_id FROM conveyor_attempts ORDER BY token");
    let mut expected: Vec<(i32, usize, String)> =
        (0..60).map(|i| (prio[i % 3], i, format!("p{i:02}"))).collect();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, _, id)| id).collect();
    assert_eq!(claimed, expected);
}

#[test]
fn concurrency_keys_hold_across_workers() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs: Vec<Value> = (0..24)
        .map(|i| json!({"id": format!("k{i}"), "kind": "sleep", "duration": "60ms", "concurrency_key": "db"}))
        .chain((0..24).map(|i| json!({"id": format!("f{i}"), "kind": "sleep", "duration": "20ms"})))
        .collect();
    let file = json!({"limits": {"concurrency": {"db": 2}}, "jobs": jobs});
    submit(&dir, &db, "keys.json", &file.to_string());
    drain(&dir, &db, 3, "4", LIMIT);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'"), 48);
    // The most attempts of the key running at one instant (at some attempt's start).
    let most = db.int(
        "SELECT max((SELECT count(*) FROM conveyor_attempts b
                     WHERE b.concurrency_key = 'db' AND b.started_at <= a.started_at
                       AND b.finished_at > a.started_at))
         FROM conveyor_attempts a WHERE a.concurrency_key = 'db'",
    );
    assert!((1..=2).contains(&most), "{most} jobs of key `db` ran at once; the limit is 2");
    assert!(db.int("SELECT count(DISTINCT worker) FROM conveyor_attempts WHERE concurrency_key = 'db'") >= 2);
    assert_attempts_consistent(&db);
}

#[test]
fn submit_is_all_or_nothing() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    // `status` creates the schema (submit checks the files before it connects).
    assert_eq!(code(&conveyor_out(&dir, &["status", "--queue", &db.url])), 0);
    let bad = "{\"id\": \"a\", \"kind\": \"noop\"}\n{\"id\": \"b\", \"kind\": \"sleep\", \"duration\": \"soon\"}\n\
               {\"id\": \"c\", \"kind\": \"noop\"}\n";
    let path = dir.write("bad.jsonl", bad);
    let path = path.to_str().expect("utf-8 path");
    let out = conveyor_out(&dir, &["submit", "--queue", &db.url, path]);
    assert_eq!(code(&out), 2);
    let validate = conveyor_out(&dir, &["validate", path]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&validate.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs"), 0);

    // An id already queued: nothing of the second file goes in.
    submit(&dir, &db, "one.jsonl", "{\"id\": \"a\", \"kind\": \"noop\"}\n");
    let again = dir
        .write("again.jsonl", "{\"id\": \"z\", \"kind\": \"noop\"}\n{\"id\": \"a\", \"kind\": \"noop\"}\n");
    let out = conveyor_out(&dir, &["submit", "--queue", &db.url, again.to_str().expect("utf-8 path")]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("job id `a` is already in the queue"));
    assert_eq!(db.texts("SELECT id FROM conveyor_jobs"), ["a"]);
}

#[test]
fn status_counts_jobs_by_state() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    submit(
        &dir,
        &db,
        "s.jsonl",
        "{\"id\": \"now\", \"kind\": \"noop\"}\n{\"id\": \"later\", \"kind\": \"noop\", \"delay\": \"1h\"}\n",
    );
    let out = conveyor_out(&dir, &["status", "--queue", &db.url, "--format", "json"]);
    assert_eq!(code(&out), 0);
    let s: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(
        (s["available"].as_u64(), s["scheduled"].as_u64(), s["running"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
    for key in ["succeeded", "failed", "timed_out", "cancelled", "workers"] {
        assert_eq!(s[key], 0, "{key}");
    }
    assert!(s["oldest_waiting_seconds"].as_f64().is_some_and(|w| w >= 0.0));
    // The same counts for the one queue (jobs without a queue go to `default`).
    let q = &s["queues"]["default"];
    assert_eq!(
        (q["available"].as_u64(), q["scheduled"].as_u64(), q["running"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(q["oldest_waiting_seconds"], s["oldest_waiting_seconds"]);
    assert!(q.get("workers").is_none(), "{q}");
    assert_eq!(s["queues"].as_object().map(serde_json::Map::len), Some(1), "{s}");
}

#[test]
fn a_killed_workers_jobs_are_rescued_and_run_again() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs = jsonl(6, |i| json!({"id": format!("r{i}"), "kind": "sleep", "duration": "1s"}));
    submit(&dir, &db, "r.jsonl", &jobs);
    let doomed = Worker::start(&dir, &db.url, "doomed", &["-w", "6", "--lease", "2s"]);
    db.wait_at_least(
        "SELECT count(*) FROM conveyor_jobs WHERE state = 'running' AND worker = 'doomed'",
        6,
        LIMIT,
    );
    doomed.signal("KILL");
    assert_eq!(doomed.finish(LIMIT), None, "killed by a signal");
    let heir = Worker::start(&dir, &db.url, "heir", &["-w", "6", "--lease", "2s", "--listen", "127.0.0.1:0"]);
    db.wait_at_least("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'", 6, LIMIT);
    // Its /metrics counts the rescue (the only live worker did it) and the jobs it ran.
    let metrics = scrape(&heir);
    assert!(metrics.lines().any(|l| l == "conveyor_jobs_rescued_total 6"), "{metrics}");
    assert!(
        metrics.contains("conveyor_jobs_finished_total{kind=\"sleep\",outcome=\"succeeded\"} 6"),
        "{metrics}"
    );
    heir.signal("TERM");
    assert_eq!(heir.finish(LIMIT), Some(143));
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded' AND worker = 'heir'"), 6);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE attempts = 2 AND lost = 1"), 6);
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_attempts WHERE worker = 'doomed' AND outcome = 'lost'"),
        6
    );
    assert_attempts_consistent(&db);
    let by_id = ledger(&dir, &db);
    assert_eq!(by_id.len(), 6);
    for lines in by_id.values() {
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0]["attempts"].as_u64(), lines[0]["worker"].as_str()), (Some(2), Some("heir")));
    }
}

#[test]
fn a_frozen_worker_is_fenced_off() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs = jsonl(2, |i| json!({"id": format!("z{i}"), "kind": "sleep", "duration": "3s"}));
    submit(&dir, &db, "z.jsonl", &jobs);
    let zombie = Worker::start(&dir, &db.url, "zombie", &["-w", "2", "--lease", "2s"]);
    db.wait_at_least(
        "SELECT count(*) FROM conveyor_jobs WHERE state = 'running' AND worker = 'zombie'",
        2,
        LIMIT,
    );
    zombie.signal("STOP");
    // Past its lease, another worker rescues the jobs and finishes them.
    let other = Worker::start(&dir, &db.url, "other", &["-w", "2", "--lease", "2s"]);
    db.wait_at_least(
        "SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded' AND worker = 'other'",
        2,
        LIMIT,
    );
    let before = db.texts(
        "SELECT concat_ws(' ', id, state, worker, attempts, finished_at, lease_token) FROM conveyor_jobs ORDER BY id",
    );
    // Its sleeps are over when it wakes: its completions (and heartbeat) must change nothing.
    zombie.signal("CONT");
    crate_wait_for_either(&zombie, &["could not renew the lease", "not recorded", "lost the lease"]);
    zombie.signal("TERM");
    assert_eq!(zombie.finish(LIMIT), Some(143));
    other.signal("TERM");
    assert_eq!(other.finish(LIMIT), Some(143));
    let after = db.texts(
        "SELECT concat_ws(' ', id, state, worker, attempts, finished_at, lease_token) FROM conveyor_jobs ORDER BY id",
    );
    assert_eq!(before, after, "the zombie changed a job");
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_attempts WHERE worker = 'zombie' AND outcome = 'lost'"),
        2
    );
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_attempts WHERE worker = 'zombie' AND outcome <> 'lost'"),
        0
    );
    assert_attempts_consistent(&db);
}

fn crate_wait_for_either(w: &Worker, texts: &[&str]) {
    conveyor_e2e::wait_until(LIMIT, &format!("{} to notice it lost its leases", w.name), || {
        let err = w.stderr();
        texts.iter().any(|t| err.contains(t))
    });
}

#[test]
fn sigterm_releases_jobs_that_do_not_finish_within_the_grace() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs = jsonl(3, |i| json!({"id": format!("g{i}"), "kind": "sleep", "duration": "1h"}));
    submit(&dir, &db, "g.jsonl", &jobs);
    let w = Worker::start(&dir, &db.url, "leaving", &["-w", "3", "--grace", "100ms"]);
    db.wait_at_least("SELECT count(*) FROM conveyor_jobs WHERE state = 'running'", 3, LIMIT);
    w.signal("TERM");
    assert_eq!(w.finish(LIMIT), Some(143));
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'available' AND lost = 1"), 3);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_attempts WHERE outcome = 'released'"), 3);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_workers WHERE stopped_at IS NOT NULL"), 1);
}

#[test]
fn workers_survive_a_database_restart() {
    // Only a server the test started itself may be restarted.
    if conveyor_e2e::pg::server_url().is_none() {
        return;
    }
    let Some(server) = conveyor_e2e::pg::PrivateServer::start() else { return };
    let db = TestDb::create_on(&server.url());
    let dir = Dir::new();
    let jobs = jsonl(60, |i| json!({"id": format!("d{i}"), "kind": "sleep", "duration": "250ms"}));
    submit(&dir, &db, "d.jsonl", &jobs);
    let args = ["-w", "4", "--lease", "2s", "--exit-when-idle"];
    let workers: Vec<Worker> =
        (0..2).map(|w| Worker::start(&dir, &db.url, &format!("w{w}"), &args)).collect();
    db.wait_at_least("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'", 8, LIMIT);
    server.stop();
    // Down for longer than the lease: the workers cancel what they could not renew.
    for w in &workers {
        w.wait_for_stderr("could not renew the lease", LIMIT);
    }
    server.start_again();
    for w in workers {
        assert_eq!(w.finish(LIMIT), Some(0), "a worker did not carry on after the restart");
    }
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'"), 60);
    // Whether an attempt ends `lost` depends on where the crash fell: workers commit
    // without waiting for the WAL flush, so a claim the server lost makes the job plainly
    // available again (no rescue), while a lost outcome leaves it running until rescued.
    // Either way every attempt is closed, as succeeded or lost, and nothing else.
    assert_eq!(
        db.int(
            "SELECT count(*) FROM conveyor_attempts
             WHERE finished_at IS NULL OR outcome NOT IN ('succeeded', 'lost')"
        ),
        0,
        "an attempt left open or ended otherwise after the restart"
    );
    assert_attempts_consistent(&db);
    let by_id = ledger(&dir, &db);
    assert_eq!(by_id.len(), 60);
    assert!(by_id.values().all(|lines| lines.len() == 1));
}

#[test]
fn eight_workers_share_twenty_thousand_jobs() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let n = 20_000;
    let jobs = jsonl(n, |i| json!({"id": format!("e{i}"), "kind": "noop", "priority": i % 5}));
    submit(&dir, &db, "e.jsonl", &jobs);
    drain(&dir, &db, 8, "16", Duration::from_secs(120));
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'"), n as i64);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_attempts"), n as i64, "a job ran twice");
    assert_attempts_consistent(&db);
    assert!(db.int("SELECT count(DISTINCT worker) FROM conveyor_attempts") >= 4);
}

#[test]
fn rate_limits_hold_across_workers() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs: Vec<Value> =
        (0..12).map(|i| json!({"id": format!("a{i}"), "kind": "noop", "concurrency_key": "api"})).collect();
    let file = json!({"limits": {"rate": {"api": "4/1s"}}, "jobs": jobs});
    submit(&dir, &db, "rate.json", &file.to_string());
    drain(&dir, &db, 2, "4", LIMIT);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'"), 12);
    // The most starts within any one second.
    let most = db.int(
        "SELECT max((SELECT count(*) FROM conveyor_attempts b
                     WHERE b.started_at >= a.started_at AND b.started_at < a.started_at + interval '1 second'))
         FROM conveyor_attempts a",
    );
    assert!((1..=4).contains(&most), "{most} jobs of key `api` started within a second; the limit is 4/1s");
    assert_attempts_consistent(&db);
}

#[test]
fn finished_jobs_are_deleted_after_the_retention() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    submit(&dir, &db, "old.jsonl", &jsonl(30, |i| json!({"id": format!("o{i}"), "kind": "noop"})));
    let first = Worker::start(&dir, &db.url, "first", &["--exit-when-idle"]);
    assert_eq!(first.finish(LIMIT), Some(0));
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'"), 30);
    // A waiting job is kept whatever its age.
    submit(&dir, &db, "later.jsonl", "{\"id\": \"later\", \"kind\": \"noop\", \"delay\": \"1h\"}\n");
    let keeper = Worker::start(&dir, &db.url, "keeper", &["--retention", "1ms"]);
    conveyor_e2e::wait_until(LIMIT, "the finished jobs to be deleted", || {
        db.try_int("SELECT count(*) FROM conveyor_jobs WHERE finished_at IS NOT NULL") == Some(0)
    });
    keeper.signal("TERM");
    assert_eq!(keeper.finish(LIMIT), Some(143));
    assert_eq!(db.texts("SELECT id FROM conveyor_jobs"), ["later"]);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_attempts"), 0);
}

/// `--queue` falls back to `$CONVEYOR_QUEUE_URL`, and the flag wins when both are given.
#[test]
fn the_queue_url_can_come_from_the_environment() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    submit(&dir, &db, "e.jsonl", "{\"id\": \"e\", \"kind\": \"noop\"}\n");
    let status = |args: &[&str], env: &str| {
        dir.cmd(conveyor_e2e::conveyor())
            .args(args)
            .env("CONVEYOR_QUEUE_URL", env)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("spawn conveyor")
    };
    let out = status(&["status", "--format", "json"], &db.url);
    assert_eq!(code(&out), 0, "{}", conveyor_e2e::describe(&out));
    let s: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(s["available"].as_u64(), Some(1), "the environment's queue: {s}");
    // A queue nobody listens on in the environment; the flag's is the one used.
    let out =
        status(&["status", "--format", "json", "--queue", &db.url], "postgres://nobody@127.0.0.1:1/none");
    assert_eq!(code(&out), 0, "{}", conveyor_e2e::describe(&out));
}

/// Asserts that `conveyor ARGS...` failed at once (exit 2, well within the driver's 10 s
/// pool timeout), that stderr's first line names `cause`, and that no part of the message
/// appears twice.
fn assert_fails_fast_naming(dir: &Dir, args: &[&str], cause: &str) {
    // Built (on first use) before the clock starts.
    conveyor_e2e::binary();
    let started = std::time::Instant::now();
    let out = conveyor_out(dir, args);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{args:?}: {stderr}");
    assert!(elapsed < Duration::from_secs(5), "{args:?} took {elapsed:?} to fail: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("conveyor: "), "{args:?}: {stderr}");
    assert!(
        first.to_lowercase().contains(cause),
        "{args:?}: the first line does not name {cause:?}: {stderr}"
    );
    assert!(!first.contains("pool timed out"), "{args:?}: {stderr}");
    // `a: b: b` (a cause printed by its wrapper's `Display` and again as the source).
    let parts: Vec<&str> = stderr.split(": ").map(str::trim).filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        assert!(!parts[i + 1..].contains(part), "{args:?}: `{part}` appears twice: {stderr}");
    }
}

/// The commands that take `--queue`, each pointed at `url`.
fn queue_commands(dir: &Dir, url: &str) -> Vec<Vec<String>> {
    let file = dir.write("one.jsonl", "{\"id\": \"one\", \"kind\": \"noop\"}\n");
    let file = file.to_str().expect("utf-8 path").to_owned();
    [
        vec!["submit", "--queue", url, &file],
        vec!["worker", "--queue", url, "--exit-when-idle"],
        vec!["status", "--queue", url],
        vec!["ledger", "--queue", url],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(str::to_owned).collect())
    .collect()
}

/// Issue 18: a server that refuses the connection was retried until sqlx's pool timed out
/// (10 s), then reported as "pool timed out while waiting for an open connection".
#[test]
fn connection_refused_fails_fast_naming_the_cause() {
    // A port nobody listens on: bound, then freed.
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let dir = Dir::new();
    let url = format!("postgres://postgres@127.0.0.1:{port}/conveyor");
    for args in queue_commands(&dir, &url) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_fails_fast_naming(&dir, &args, "connection refused");
    }
}

/// Issue 18: a database that does not exist was reported as `error returned from database:
/// database "…" does not exist: database "…" does not exist` (the driver's `Display`
/// repeats its source).
#[test]
fn an_unknown_database_fails_fast_naming_it_once() {
    let Some(admin) = conveyor_e2e::pg::server_url() else { return };
    let dir = Dir::new();
    let url = conveyor_e2e::pg::with_database(&admin, "conveyor_no_such_database");
    for args in queue_commands(&dir, &url) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_fails_fast_naming(&dir, &args, "database \"conveyor_no_such_database\" does not exist");
    }
}

/// Issue 18: as above for a role that does not exist (the test server trusts every login
/// on loopback, so a wrong password cannot be provoked; an unknown role is refused the
/// same way, at login).
#[test]
fn an_unknown_role_fails_fast_naming_it_once() {
    let Some(admin) = conveyor_e2e::pg::server_url() else { return };
    let Some(rest) = admin.strip_prefix("postgres://").and_then(|r| r.split_once('@')).map(|(_, r)| r) else {
        panic!("CONVEYOR_TEST_DATABASE_URL is not postgres://USER@…: {admin}")
    };
    let dir = Dir::new();
    let url = format!("postgres://conveyor_no_such_role:secret@{rest}");
    for args in queue_commands(&dir, &url) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_fails_fast_naming(&dir, &args, "role \"conveyor_no_such_role\" does not exist");
    }
}

/// A job's `rate_key` travels in its stored spec (and its hash) and the worker runs it; the
/// queue does not enforce it (only `concurrency_key` limits) and `submit` says so.
#[test]
fn a_rate_key_is_kept_in_the_stored_spec_and_enforced_across_workers() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    // Their concurrency key `db` has a rate limit of its own that must not apply: the
    // rate_key `api` carries the rate limit.
    let jobs: Vec<Value> = (0..9)
        .map(|i| json!({"id": format!("r{i}"), "kind": "noop", "concurrency_key": "db", "rate_key": "api"}))
        .collect();
    let text =
        json!({"limits": {"concurrency": {"db": 2}, "rate": {"api": "3/1s", "db": "1/1h"}}, "jobs": jobs});
    let path = dir.write("r.json", &text.to_string());
    let out = conveyor_out(&dir, &["submit", "--queue", &db.url, path.to_str().expect("utf-8 path")]);
    assert_eq!(code(&out), 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("does not enforce"), "{stderr}");
    assert_eq!(db.texts("SELECT DISTINCT spec->>'rate_key' FROM conveyor_jobs"), ["api"]);
    assert_eq!(db.texts("SELECT DISTINCT concurrency_key FROM conveyor_jobs"), ["db"]);
    drain(&dir, &db, 2, "4", LIMIT);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'"), 9);
    let most = db.int(
        "SELECT max((SELECT count(*) FROM conveyor_attempts b
                     WHERE b.started_at >= a.started_at AND b.started_at < a.started_at + interval '1 second'))
         FROM conveyor_attempts a",
    );
    assert!(
        (1..=3).contains(&most),
        "{most} jobs of rate key `api` started within a second; the limit is 3/1s"
    );
    assert_attempts_consistent(&db);
    assert_eq!(ledger(&dir, &db)["r0"][0]["outcome"], "succeeded");
}

/// Waits until `worker` holds `n` jobs (running and prefetched: both are `running` rows).
fn wait_held(db: &TestDb, worker: &str, n: i64) {
    db.wait_at_least(
        &format!("SELECT count(*) FROM conveyor_jobs WHERE state = 'running' AND worker = '{worker}'"),
        n,
        LIMIT,
    );
}

#[test]
fn sigterm_gives_back_a_full_prefetch_buffer_without_using_attempts() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs = jsonl(10, |i| json!({"id": format!("f{i}"), "kind": "sleep", "duration": "1h"}));
    submit(&dir, &db, "f.jsonl", &jobs);
    // The prefetch starts at the slots, and never grows while no job ends.
    let w = Worker::start(&dir, &db.url, "leaving", &["-w", "2", "--prefetch", "5", "--grace", "100ms"]);
    // 2 running and 2 waiting in the buffer.
    wait_held(&db, "leaving", 4);
    w.signal("TERM");
    assert_eq!(w.finish(LIMIT), Some(143));
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'running'"), 0, "left claimed");
    // The two that ran were released (the attempt counts as lost); the two that never
    // started (and the six never claimed) have no attempt at all.
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'available' AND attempts = 1 AND lost = 1"),
        2
    );
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'available' AND attempts = 0 AND lost = 0"),
        8
    );
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE attempts = 0 AND started_at IS NOT NULL"), 0);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_attempts"), 2);
    assert_eq!(db.int("SELECT count(*) FROM conveyor_attempts WHERE outcome = 'released'"), 2);
    assert_attempts_consistent(&db);
}

#[test]
fn a_killed_worker_with_a_full_prefetch_buffer_loses_no_job() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs = jsonl(12, |i| json!({"id": format!("k{i}"), "kind": "sleep", "duration": "300ms"}));
    submit(&dir, &db, "k.jsonl", &jobs);
    let doomed = Worker::start(&dir, &db.url, "doomed", &["-w", "4", "--prefetch", "6", "--lease", "2s"]);
    // 4 running, 4 in the buffer (the prefetch starts at the slots).
    wait_held(&db, "doomed", 8);
    doomed.signal("KILL");
    assert_eq!(doomed.finish(LIMIT), None, "killed by a signal");
    let heir = Worker::start(&dir, &db.url, "heir", &["-w", "4", "--lease", "2s", "--exit-when-idle"]);
    assert_eq!(heir.finish(LIMIT), Some(0));
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded'"), 12);
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_attempts WHERE worker = 'doomed' AND outcome = 'lost'"),
        8
    );
    assert_attempts_consistent(&db);
    let by_id = ledger(&dir, &db);
    assert!(by_id.values().all(|lines| lines.len() == 1 && lines[0]["outcome"] == "succeeded"));
}

#[test]
fn a_frozen_worker_with_a_full_prefetch_buffer_is_fenced_off() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs = jsonl(6, |i| json!({"id": format!("s{i}"), "kind": "sleep", "duration": "1s"}));
    submit(&dir, &db, "s.jsonl", &jobs);
    let zombie = Worker::start(&dir, &db.url, "zombie", &["-w", "3", "--prefetch", "4", "--lease", "2s"]);
    // 3 running, 3 in the buffer (the prefetch starts at the slots).
    wait_held(&db, "zombie", 6);
    zombie.signal("STOP");
    let other = Worker::start(&dir, &db.url, "other", &["-w", "6", "--lease", "2s"]);
    db.wait_at_least(
        "SELECT count(*) FROM conveyor_jobs WHERE state = 'succeeded' AND worker = 'other'",
        6,
        LIMIT,
    );
    let snapshot = "SELECT concat_ws(' ', id, state, worker, attempts, finished_at, lease_token) FROM conveyor_jobs ORDER BY id";
    let before = db.texts(snapshot);
    // Its running sleeps are over and its buffer still holds jobs when it wakes: nothing it
    // does may change a job.
    zombie.signal("CONT");
    crate_wait_for_either(&zombie, &["could not renew the lease", "not recorded", "lost the lease"]);
    zombie.signal("TERM");
    assert_eq!(zombie.finish(LIMIT), Some(143));
    other.signal("TERM");
    assert_eq!(other.finish(LIMIT), Some(143));
    assert_eq!(before, db.texts(snapshot), "the zombie changed a job");
    assert_eq!(
        db.int("SELECT count(*) FROM conveyor_attempts WHERE worker = 'zombie' AND outcome <> 'lost'"),
        0
    );
    assert_attempts_consistent(&db);
}

#[test]
fn named_queues_are_served_counted_and_exported_apart() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    let jobs = json!({"defaults": {"queue": "mail"}, "jobs": [
        {"id": "m0", "kind": "noop"}, {"id": "m1", "kind": "noop"},
        {"id": "d0", "kind": "noop", "queue": "default"}, {"id": "d1", "kind": "noop", "queue": "default"},
        {"id": "b0", "kind": "noop", "queue": "bulk"}]});
    submit(&dir, &db, "q.json", &jobs.to_string());
    assert_eq!(
        db.texts("SELECT queue || ':' || id FROM conveyor_jobs ORDER BY seq"),
        ["mail:m0", "mail:m1", "default:d0", "default:d1", "bulk:b0"]
    );
    let w = Worker::start(&dir, &db.url, "mailer", &["--queues", "mail=2,bulk", "--exit-when-idle"]);
    assert_eq!(w.finish(LIMIT), Some(0));
    assert_eq!(
        db.texts("SELECT id FROM conveyor_jobs WHERE state = 'succeeded' ORDER BY id"),
        ["b0", "m0", "m1"]
    );
    assert_eq!(db.int("SELECT count(*) FROM conveyor_jobs WHERE queue = 'default' AND attempts = 0"), 2);
    let out = conveyor_out(&dir, &["status", "--queue", &db.url, "--queues", "default", "--format", "json"]);
    let s: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!((s["available"].as_u64(), s["succeeded"].as_u64()), (Some(2), Some(0)), "{s}");
    assert_eq!(s["queues"], json!({"default": s["queues"]["default"]}), "only the queues asked for");
    // Every queue: the totals, and each queue's own counts beside them.
    let out = conveyor_out(&dir, &["status", "--queue", &db.url, "--format", "json"]);
    let s: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!((s["available"].as_u64(), s["succeeded"].as_u64()), (Some(2), Some(3)), "{s}");
    let per_queue: Vec<(&str, Option<u64>, Option<u64>)> = ["bulk", "default", "mail"]
        .iter()
        .map(|q| (*q, s["queues"][q]["available"].as_u64(), s["queues"][q]["succeeded"].as_u64()))
        .collect();
    assert_eq!(
        per_queue,
        [("bulk", Some(0), Some(1)), ("default", Some(2), Some(0)), ("mail", Some(0), Some(2))],
        "{s}"
    );
    assert_eq!(s["queues"].as_object().map(serde_json::Map::len), Some(3), "{s}");
    let out = conveyor_out(&dir, &["ledger", "--queue", &db.url, "--queues", "mail"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let bad = conveyor_out(&dir, &["worker", "--queue", &db.url, "--queues", "mail=0"]);
    assert_eq!(code(&bad), 2);
}

//! SIGINT and SIGTERM sent to a running `conveyor run`: exit 130 / 143, running jobs finish
//! within the grace period, the rest are cancelled, every id is in the ledger once, and the
//! summary is still printed. A second SIGINT cancels running jobs at once.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

use conveyor_e2e::{Dir, by_id, finish, jsonl, ledger, signal, summary, wait_until};
use serde_json::json;

/// 2 quick no-op jobs first, then `n` jobs that each create `started/ID` and sleep for
/// `seconds` (a real process: `sh -c 'touch …; exec sleep …'`), so a test can see which
/// have started.
fn batch(dir: &Dir, n: usize, seconds: &str) {
    std::fs::create_dir_all(dir.join("started")).expect("mkdir");
    let mut text = jsonl(2, |i| json!({"id": format!("first{i}"), "kind": "noop", "priority": -1}));
    text.push_str(&jsonl(n, |i| {
        let id = format!("s{i:02}");
        let script = format!("touch started/{id} && exec sleep {seconds}");
        json!({"id": id, "kind": "exec", "program": "sh", "args": ["-c", script]})
    }));
    dir.write("b.jsonl", &text);
}

/// Waits until two of the batch's sleeps run (one per worker).
fn started(dir: &Dir) {
    let folder = dir.join("started");
    wait_until(Duration::from_secs(20), "two sleeps running", || {
        std::fs::read_dir(&folder).map(Iterator::count).unwrap_or(0) >= 2
    });
}

/// Reads `child`'s stderr on a thread until it has printed a line containing `needle`
/// (then returns), keeping the rest flowing so the child never blocks on a full pipe.
fn wait_for_stderr(child: &mut Child, needle: &str) {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let needle = needle.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&needle) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("the expected stderr line");
}

#[test]
fn sigint_lets_running_jobs_finish_cancels_the_rest_and_exits_130() {
    let dir = Dir::new();
    batch(&dir, 20, "1");
    let child = dir.spawn(&["-w", "2", "--format", "json", "--ledger", "l.jsonl", "b.jsonl"]);
    started(&dir);
    let sent = Instant::now();
    signal(&child, "INT");
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130));
    assert!(sent.elapsed() < Duration::from_secs(5), "took {:?}", sent.elapsed());
    let ids = by_id(&ledger(&dir.join("l.jsonl")));
    assert_eq!(ids.len(), 22, "every id is in the ledger");
    assert!(ids.values().all(|v| v.len() == 1), "and only once");
    let count = |o: &str| ids.values().filter(|v| v[0]["outcome"] == o).count();
    // The two sleeps running at the signal finish within the grace period; the rest never start.
    assert_eq!(count("succeeded"), 4, "{ids:?}");
    assert_eq!(count("cancelled"), 18);
    let never = ids.values().filter(|v| v[0]["outcome"] == "cancelled" && v[0]["attempts"] == 0).count();
    assert_eq!(never, 18, "cancelled jobs never started");
    let s = summary(&out);
    assert_eq!((s["jobs"].as_u64(), s["cancelled"].as_u64()), (Some(22), Some(18)));
}

#[test]
fn sigterm_exits_143() {
    let dir = Dir::new();
    batch(&dir, 10, "0.5");
    let child = dir.spawn(&["-w", "2", "--format", "json", "--ledger", "l.jsonl", "b.jsonl"]);
    started(&dir);
    signal(&child, "TERM");
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(143));
    let ids = by_id(&ledger(&dir.join("l.jsonl")));
    assert_eq!(ids.len(), 12);
    assert!(ids.values().all(|v| v.len() == 1));
    assert_eq!(summary(&out)["jobs"], 12);
}

#[test]
fn a_second_sigint_cancels_running_jobs_at_once() {
    let dir = Dir::new();
    batch(&dir, 6, "60");
    let mut child =
        dir.spawn(&["-w", "2", "--grace", "60s", "--format", "json", "--ledger", "l.jsonl", "b.jsonl"]);
    started(&dir);
    signal(&child, "INT");
    // The first signal is handled (intake stopped) before the second is sent.
    wait_for_stderr(&mut child, "conveyor: stopping");
    let sent = Instant::now();
    signal(&child, "INT");
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130));
    assert!(sent.elapsed() < Duration::from_secs(5), "took {:?}", sent.elapsed());
    let ids = by_id(&ledger(&dir.join("l.jsonl")));
    assert_eq!(ids.len(), 8);
    let running_cancelled =
        ids.values().filter(|v| v[0]["outcome"] == "cancelled" && v[0]["attempts"] == 1).count();
    assert_eq!(running_cancelled, 2, "the two running sleeps were cancelled");
}

#[test]
fn the_grace_period_ends_in_cancellation() {
    let dir = Dir::new();
    batch(&dir, 4, "60");
    let child =
        dir.spawn(&["-w", "2", "--grace", "300ms", "--format", "json", "--ledger", "l.jsonl", "b.jsonl"]);
    started(&dir);
    let sent = Instant::now();
    signal(&child, "INT");
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130));
    assert!(sent.elapsed() < Duration::from_secs(5), "took {:?}", sent.elapsed());
    let s = summary(&out);
    assert_eq!((s["succeeded"].as_u64(), s["cancelled"].as_u64()), (Some(2), Some(4)));
}

/// Issue 21: after Ctrl-C with a ledger, the run ended without saying how to finish the
/// jobs it did not run. It now suggests `--resume` (with the ledger), and only when a ledger
/// is kept: without one there is nothing to resume from.
#[test]
fn an_interrupted_run_with_a_ledger_suggests_resume() {
    let dir = Dir::new();
    batch(&dir, 10, "1");
    let child = dir.spawn(&["-w", "2", "--format", "json", "--ledger", "l.jsonl", "b.jsonl"]);
    started(&dir);
    signal(&child, "INT");
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130));
    let cancelled = summary(&out)["cancelled"].as_u64().expect("a count");
    assert_eq!(cancelled, 8, "the two running sleeps finished; the rest never started");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hint = format!(
        "conveyor: interrupted; {cancelled} jobs did not finish: run again with --resume --ledger l.jsonl to finish them"
    );
    assert!(stderr.contains(&hint), "{stderr}");

    let dir = Dir::new();
    batch(&dir, 10, "1");
    let child = dir.spawn(&["-w", "2", "--format", "json", "b.jsonl"]);
    started(&dir);
    signal(&child, "INT");
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("--resume"), "no ledger, no --resume hint: {stderr}");
}

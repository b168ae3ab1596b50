//! The ledger end to end: every job exactly once (normal runs, `--fail-fast`, timeouts), the
//! line format, `--resume` (skips, edited jobs, torn lines) and resume after `kill -9`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use conveyor_e2e::{Dir, by_id, code, finish, jsonl, ledger, line_count, signal, summary, wait_until};
use serde_json::{Value, json};

/// `2025-06-01T12:00:00.123Z`: RFC 3339, UTC, milliseconds.
fn is_timestamp(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    s.len() == 24
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && s.ends_with('Z')
        && s[20..23].bytes().all(|c| c.is_ascii_digit())
}

#[test]
fn every_job_appears_exactly_once_with_every_field() {
    let dir = Dir::new();
    let n = 300;
    dir.write(
        "mixed.jsonl",
        &jsonl(n, |i| match i % 4 {
            0 => json!({"id": format!("j{i}"), "kind": "noop", "priority": i as i32 % 7 - 3}),
            1 => {
                json!({"id": format!("j{i}"), "kind": "sleep", "duration": "2ms", "name": format!("nap {i}")})
            }
            2 => json!({"id": format!("j{i}"), "kind": "fail", "probability": 0.5,
                        "retry": {"max_attempts": 3, "backoff": "fixed", "initial": "1ms"}}),
            _ => json!({"id": format!("j{i}"), "kind": "cpu", "rounds": 10}),
        }),
    );
    let out =
        dir.run(&["-w", "8", "--capacity", "16", "--format", "json", "--ledger", "l.jsonl", "mixed.jsonl"]);
    let lines = ledger(&dir.join("l.jsonl"));
    assert_eq!(lines.len(), n);
    let ids = by_id(&lines);
    assert_eq!(ids.len(), n, "an id appears twice");
    let fields = [
        "id",
        "name",
        "kind",
        "priority",
        "outcome",
        "attempts",
        "queued_at",
        "started_at",
        "finished_at",
        "wait_seconds",
        "run_seconds",
        "error",
        "spec_hash",
    ];
    let raw = std::fs::read_to_string(dir.join("l.jsonl")).unwrap();
    for text in raw.lines() {
        // The fields, in this order (serde_json's Value sorts keys, so look at the text).
        let at: Vec<usize> = fields.iter().map(|f| text.find(&format!("\"{f}\":")).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "field order: {text}");
    }
    for line in &lines {
        assert_eq!(line.as_object().unwrap().len(), fields.len(), "{line}");
        assert!(is_timestamp(&line["queued_at"]) && is_timestamp(&line["finished_at"]), "{line}");
        assert!(is_timestamp(&line["started_at"]), "{line}");
        assert_eq!(line["spec_hash"].as_str().unwrap().len(), 64);
        let outcome = line["outcome"].as_str().unwrap();
        assert!(["succeeded", "failed"].contains(&outcome), "{line}");
        assert_eq!(line["error"].is_null(), outcome == "succeeded", "{line}");
    }
    assert_eq!(ids["j1"][0]["name"], "nap 1");
    assert_eq!(ids["j4"][0]["priority"], 1);
    let failed = lines.iter().filter(|l| l["outcome"] == "failed").count();
    let s = summary(&out);
    assert_eq!(s["failed"].as_u64().unwrap() as usize, failed);
    assert_eq!(code(&out), if failed > 0 { 1 } else { 0 });
    let retries: u64 = lines.iter().map(|l| l["attempts"].as_u64().unwrap() - 1).sum();
    assert_eq!(s["retries"].as_u64().unwrap(), retries);
}

#[test]
fn fail_fast_cancels_the_rest_and_exits_1() {
    let dir = Dir::new();
    let mut jobs = vec![json!({"id": "boom", "kind": "fail", "probability": 1, "message": "first failure"})];
    for i in 0..30 {
        jobs.push(json!({"id": format!("slow{i}"), "kind": "sleep", "duration": "20s", "priority": 1}));
    }
    dir.write("ff.json", &Value::Array(jobs).to_string());
    let start = Instant::now();
    let out = dir.run(&["-w", "4", "--fail-fast", "--format", "json", "--ledger", "l.jsonl", "ff.json"]);
    assert_eq!(code(&out), 1);
    assert!(start.elapsed() < Duration::from_secs(10), "fail-fast took {:?}", start.elapsed());
    let ids = by_id(&ledger(&dir.join("l.jsonl")));
    assert_eq!(ids.len(), 31);
    assert!(ids.values().all(|v| v.len() == 1));
    assert_eq!(ids["boom"][0]["outcome"], "failed");
    for i in 0..30 {
        assert_eq!(ids[&format!("slow{i}")][0]["outcome"], "cancelled");
    }
    let s = summary(&out);
    assert_eq!((s["failed"].as_u64(), s["cancelled"].as_u64()), (Some(1), Some(30)));
}

#[test]
fn timeouts_end_as_timed_out_and_kill_the_process_group() {
    let dir = Dir::new();
    dir.write(
        "t.json",
        r#"{"jobs": [
            {"id": "nap", "kind": "sleep", "duration": "30s", "timeout": "200ms"},
            {"id": "proc", "kind": "exec", "program": "sh", "args": ["-c", "sleep 31.4159 & wait"]},
            {"id": "quick", "kind": "noop"}]}"#,
    );
    let start = Instant::now();
    let out = dir.run(&["--timeout", "300ms", "--format", "json", "--ledger", "l.jsonl", "t.json"]);
    assert_eq!(code(&out), 1);
    assert!(start.elapsed() < Duration::from_secs(10));
    let ids = by_id(&ledger(&dir.join("l.jsonl")));
    assert_eq!(ids["nap"][0]["outcome"], "timed_out");
    assert_eq!(ids["nap"][0]["error"], "timed out after 200ms");
    assert_eq!(ids["proc"][0]["outcome"], "timed_out", "--timeout is the default timeout");
    assert_eq!(ids["quick"][0]["outcome"], "succeeded");
    let s = summary(&out);
    assert_eq!(s["timed_out"], 2);
    // The exec job's whole process group is gone, grandchild included.
    wait_until(Duration::from_secs(5), "the sleep grandchild to die", || {
        let ps = std::process::Command::new("pgrep").args(["-f", "sleep 31.4159"]).output();
        ps.map(|o| o.stdout.is_empty()).unwrap_or(true)
    });
}

#[test]
fn max_attempts_applies_to_jobs_without_retry() {
    let dir = Dir::new();
    dir.write(
        "r.json",
        r#"[{"id": "default", "kind": "fail", "probability": 1},
            {"id": "own", "kind": "fail", "probability": 1, "retry": {"max_attempts": 2, "initial": "1ms"}}]"#,
    );
    let out = dir.run(&["--max-attempts", "3", "--ledger", "l.jsonl", "r.json"]);
    assert_eq!(code(&out), 1);
    let ids = by_id(&ledger(&dir.join("l.jsonl")));
    assert_eq!(ids["default"][0]["attempts"], 3);
    assert_eq!(ids["own"][0]["attempts"], 2);
}

#[test]
fn resume_skips_succeeded_jobs_reruns_failed_and_edited_ones() {
    let dir = Dir::new();
    let first = r#"[{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"},
                    {"id": "c", "kind": "fail", "probability": 1}]"#;
    dir.write("r.json", first);
    let out = dir.run(&["--ledger", "l.jsonl", "r.json"]);
    assert_eq!(code(&out), 1);
    // A crash left a torn line behind.
    let mut text = std::fs::read_to_string(dir.join("l.jsonl")).unwrap();
    text.push_str("{\"id\":\"zz\",\"outco");
    std::fs::write(dir.join("l.jsonl"), text).unwrap();
    // `b` is edited, `c` now succeeds.
    dir.write(
        "r.json",
        r#"[{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "priority": 5},
            {"id": "c", "kind": "fail", "probability": 0}]"#,
    );
    let out = dir.run(&["--ledger", "l.jsonl", "--resume", "--format", "json", "r.json"]);
    assert_eq!(code(&out), 0, "skipped jobs count as success");
    let s = summary(&out);
    assert_eq!(
        (s["jobs"].as_u64(), s["skipped"].as_u64(), s["succeeded"].as_u64()),
        (Some(3), Some(1), Some(2))
    );
    let lines = ledger(&dir.join("l.jsonl")); // parses: the torn line was cut off
    let ids = by_id(&lines);
    assert_eq!(ids["a"].len(), 1, "a was not run again");
    assert_eq!(ids["b"].len(), 2, "the edited b ran again");
    assert_eq!(
        ids["c"].iter().map(|l| l["outcome"].as_str().unwrap()).collect::<Vec<_>>(),
        ["failed", "succeeded"]
    );
    assert!(!ids.contains_key("zz"));

    // Everything done: a third run skips all.
    let out = dir.run(&["--ledger", "l.jsonl", "--resume", "--format", "json", "r.json"]);
    assert_eq!(code(&out), 0);
    assert_eq!(summary(&out)["skipped"], 3);
}

#[test]
fn resume_after_kill_9_runs_every_job_to_exactly_one_success_and_none_twice_after_success() {
    let dir = Dir::new();
    let marks = dir.join("marks");
    std::fs::create_dir(&marks).unwrap();
    let n = 1000;
    // Each run of a job leaves a file of its own (mktemp), so a second run shows up.
    dir.write(
        "k.jsonl",
        &jsonl(n, |i| {
            json!({"id": format!("m{i:03}"), "kind": "exec", "program": "mktemp",
                   "args": ["-p", marks.to_str().unwrap(), format!("m{i:03}.XXXXXX")]})
        }),
    );
    let child = dir.spawn(&["-w", "2", "--ledger", "l.jsonl", "k.jsonl"]);
    let ledger_path = dir.join("l.jsonl");
    wait_until(Duration::from_secs(30), "50 ledger lines", || line_count(&ledger_path) >= 50);
    signal(&child, "KILL");
    let killed = finish(child, Duration::from_secs(10));
    assert_eq!(killed.status.code(), None, "killed by SIGKILL");
    let before = ledger(&ledger_path);
    assert!(before.len() < n, "the run finished before the kill; make it longer");
    let succeeded_before: BTreeSet<String> = before
        .iter()
        .filter(|l| l["outcome"] == "succeeded")
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();

    let out = dir.run(&["-w", "2", "--ledger", "l.jsonl", "--resume", "--format", "json", "k.jsonl"]);
    assert_eq!(code(&out), 0);
    assert_eq!(summary(&out)["skipped"].as_u64().unwrap() as usize, succeeded_before.len());
    let ids = by_id(&ledger(&ledger_path));
    assert_eq!(ids.len(), n);
    for (id, lines) in &ids {
        let successes = lines.iter().filter(|l| l["outcome"] == "succeeded").count();
        assert_eq!(successes, 1, "{id}: {lines:?}");
    }
    for id in &succeeded_before {
        let runs = std::fs::read_dir(&marks)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&format!("{id}.")))
            .count();
        assert_eq!(runs, 1, "{id} ran again after it had succeeded");
    }
}

#[test]
fn fsync_ledger_is_complete() {
    let dir = Dir::new();
    dir.write("f.jsonl", &jsonl(50, |i| json!({"id": format!("n{i}"), "kind": "noop"})));
    let out = dir.run(&["--fsync", "--ledger", "l.jsonl", "f.jsonl"]);
    assert_eq!(code(&out), 0);
    assert_eq!(by_id(&ledger(&dir.join("l.jsonl"))).len(), 50);
}

fn millis(v: &Value) -> i64 {
    // 2025-06-01T12:00:00.123Z → milliseconds since midnight (runs never span midnight here
    // by more than the test's few seconds; good enough for differences).
    let s = v.as_str().unwrap();
    let h: i64 = s[11..13].parse().unwrap();
    let m: i64 = s[14..16].parse().unwrap();
    let sec: i64 = s[17..19].parse().unwrap();
    let ms: i64 = s[20..23].parse().unwrap();
    ((h * 60 + m) * 60 + sec) * 1000 + ms
}

#[test]
fn file_limits_bound_concurrency_and_rate() {
    let dir = Dir::new();
    let mut jobs = Vec::new();
    for i in 0..6 {
        jobs.push(json!({"id": format!("disk{i}"), "kind": "sleep", "duration": "200ms", "concurrency_key": "disk"}));
    }
    for i in 0..7 {
        jobs.push(json!({"id": format!("api{i}"), "kind": "noop", "concurrency_key": "api"}));
    }
    let file = json!({"limits": {"concurrency": {"disk": 2}, "rate": {"api": "5/1s"}}, "jobs": jobs});
    dir.write("lim.json", &file.to_string());
    let out = dir.run(&["-w", "8", "--ledger", "l.jsonl", "lim.json"]);
    assert_eq!(code(&out), 0);
    let lines = ledger(&dir.join("l.jsonl"));
    // At most 2 `disk` jobs overlap at any instant.
    let disk: Vec<(i64, i64)> = lines
        .iter()
        .filter(|l| l["id"].as_str().unwrap().starts_with("disk"))
        .map(|l| (millis(&l["started_at"]), millis(&l["finished_at"])))
        .collect();
    for &(start, _) in &disk {
        let overlapping = disk.iter().filter(|&&(s, f)| s <= start && start < f).count();
        assert!(overlapping <= 2, "{overlapping} disk jobs at once: {disk:?}");
    }
    // 7 `api` starts at 5 per second, a token bucket: a burst of 5, then one start per 200 ms.
    let mut api: Vec<i64> = lines
        .iter()
        .filter(|l| l["id"].as_str().unwrap().starts_with("api"))
        .map(|l| millis(&l["started_at"]))
        .collect();
    api.sort_unstable();
    assert!(api[6] - api[0] >= 350, "rate limit not applied: {api:?}");
}

/// A finished job's line reaches the ledger while other jobs still run: the run's thread
/// hands the lines it gathered to the writer whenever it has nothing else to do, not only
/// when a batch fills or the run ends. The watcher job succeeds only if it finds `early`'s
/// line while it runs (it gives up after 30 s).
#[test]
fn a_finished_jobs_line_is_written_while_other_jobs_still_run() {
    let dir = Dir::new();
    let path = dir.join("l.jsonl");
    let script = r#"i=0; while [ $i -lt 300 ]; do grep -q '"id":"early"' "$1" && exit 0; i=$((i+1)); sleep 0.1; done; exit 1"#;
    let jobs = [
        json!({"id": "early", "kind": "noop"}),
        json!({"id": "watcher", "kind": "exec", "program": "sh",
               "args": ["-c", script, "sh", path.to_str().unwrap()]}),
    ];
    dir.write("jobs.jsonl", &jsonl(jobs.len(), |i| jobs[i].clone()));
    let out = dir.run(&["-w", "2", "--format", "json", "--ledger", "l.jsonl", "jobs.jsonl"]);
    assert_eq!(code(&out), 0, "{}", conveyor_e2e::describe(&out));
    let lines = ledger(&path);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "early", "the early job's line comes first");
    assert_eq!(lines[1]["outcome"], "succeeded", "the watcher saw the line: {}", lines[1]);
}

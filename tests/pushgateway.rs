//! `conveyor run --pushgateway URL` against a real Prometheus Pushgateway (the one
//! `tests/run.sh` starts): the final counters arrive in the group the URL names, with the
//! values the run's summary reports, and runs pushing to other groups leave them alone.
//!
//! Skipped (passing) when the servers' variables are not set, unless
//! `CONVEYOR_TEST_SERVERS=required`; see `tests/support/servers.rs`.

use std::collections::BTreeMap;

use conveyor_e2e::servers::{Pushgateway, group_values, unique};
use conveyor_e2e::{Dir, code, describe, jsonl, summary};
use serde_json::{Value, json};

/// `noops` no-ops, `sleeps` 20 ms sleeps, `fails` failures, and `doomed` failures retried
/// twice (three attempts each).
fn batch(noops: usize, sleeps: usize, fails: usize, doomed: usize) -> String {
    jsonl(noops + sleeps + fails + doomed, |i| {
        if i < noops {
            json!({"id": format!("noop-{i}"), "kind": "noop"})
        } else if i < noops + sleeps {
            json!({"id": format!("sleep-{i}"), "kind": "sleep", "duration": "20ms"})
        } else if i < noops + sleeps + fails {
            json!({"id": format!("fail-{i}"), "kind": "fail", "probability": 1, "message": "no"})
        } else {
            json!({
                "id": format!("doomed-{i}"), "kind": "fail", "probability": 1, "message": "never",
                "retry": {"max_attempts": 3, "backoff": "fixed", "initial": "10ms"}
            })
        }
    })
}

/// Non-zero values of metric family `name` in `group`, keyed by the values of `keys`;
/// checks that every series carries the grouping labels `grouping`.
fn values(group: &Value, name: &str, keys: &[&str], grouping: &[(&str, &str)]) -> BTreeMap<Vec<String>, f64> {
    let samples = group_values(group, name);
    assert!(!samples.is_empty(), "no {name} in the group: {group}");
    for s in &samples {
        for (label, want) in grouping {
            assert_eq!(s.label(label), *want, "{name}: {s:?}");
        }
    }
    samples
        .iter()
        .filter(|s| s.value != 0.0)
        .map(|s| (keys.iter().map(|k| s.label(k).to_owned()).collect(), s.value))
        .collect()
}

fn key(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

/// Runs `conveyor run --format json --pushgateway URL FILE` and returns the summary.
fn run_pushing(dir: &Dir, url: &str, file: &str, want_code: i32) -> Value {
    let out = dir.run(&["--format", "json", "-w", "2", "--pushgateway", url, file]);
    assert_eq!(code(&out), want_code, "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("pushgateway"), "{}", describe(&out));
    summary(&out)
}

/// Checks that `group` holds the final values of a run of
/// `batch(noops, sleeps, fails, doomed)` whose summary is `sum`.
fn check_group(group: &Value, grouping: &[(&str, &str)], sum: &Value, counts: (usize, usize, usize, usize)) {
    let (noops, sleeps, fails, doomed) = counts;
    let n = |x: usize| x as f64;
    let finished = values(group, "conveyor_jobs_finished_total", &["kind", "outcome"], grouping);
    let mut want = BTreeMap::new();
    if noops > 0 {
        want.insert(key(&["noop", "succeeded"]), n(noops));
    }
    if sleeps > 0 {
        want.insert(key(&["sleep", "succeeded"]), n(sleeps));
    }
    if fails + doomed > 0 {
        want.insert(key(&["fail", "failed"]), n(fails + doomed));
    }
    assert_eq!(finished, want, "{group}");
    // The same numbers as the run's own summary, outcome by outcome.
    for outcome in ["succeeded", "failed", "panicked", "timed_out", "cancelled"] {
        let pushed: f64 = finished.iter().filter(|(k, _)| k[1] == outcome).map(|(_, v)| v).sum();
        assert_eq!(Some(pushed), sum[outcome].as_f64(), "{outcome}: summary {sum}");
    }
    let retries = values(group, "conveyor_job_retries_total", &["kind"], grouping);
    let pushed_retries: f64 = retries.values().sum();
    assert_eq!(Some(pushed_retries), sum["retries"].as_f64(), "retries: {retries:?}, summary {sum}");
    assert_eq!(pushed_retries, n(2 * doomed), "{retries:?}");

    let submitted = values(group, "conveyor_jobs_submitted_total", &["kind"], grouping);
    let submitted_total: f64 = submitted.values().sum();
    assert_eq!(Some(submitted_total), sum["jobs"].as_f64(), "submitted: {submitted:?}, summary {sum}");

    // One run time observation per attempt.
    let attempts: f64 = group["conveyor_job_run_seconds"]["metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("no conveyor_job_run_seconds histogram: {group}"))
        .iter()
        .map(|m| m["count"].as_str().and_then(|c| c.parse::<f64>().ok()).expect("histogram count"))
        .sum();
    assert_eq!(attempts, n(noops + sleeps + fails + 3 * doomed), "{group}");
    // The final gauges: the run is over.
    let running = group_values(group, "conveyor_jobs_running");
    assert!(running.iter().all(|s| s.value == 0.0), "{running:?}");
    assert_eq!(group["last_push_successful"], true, "{group}");
}

#[test]
fn run_pushes_its_final_counters_to_the_group_its_url_names() {
    let Some(gateway) = Pushgateway::from_env() else { return };
    let dir = Dir::new();
    let job = unique("conveyor-e2e-push");

    dir.write("first.jsonl", &batch(5, 3, 2, 1));
    let first_url = format!("{}/metrics/job/{job}/instance/first", gateway.url());
    let first = run_pushing(&dir, &first_url, "first.jsonl", 1);
    assert_eq!(first["jobs"], 11, "{first}");
    assert_eq!(first["succeeded"], 8, "{first}");
    assert_eq!(first["failed"], 3, "{first}");
    assert_eq!(first["retries"], 2, "{first}");
    let grouping = [("job", job.as_str()), ("instance", "first")];
    let group =
        gateway.group(&grouping).unwrap_or_else(|| panic!("no group {grouping:?}: {:?}", gateway.groups()));
    check_group(&group, &grouping, &first, (5, 3, 2, 1));

    // A second run, another instance of the same job: a group of its own; the first stays.
    dir.write("second.jsonl", &batch(2, 0, 0, 0));
    let second_url = format!("{}/metrics/job/{job}/instance/second", gateway.url());
    let second = run_pushing(&dir, &second_url, "second.jsonl", 0);
    assert_eq!(second["succeeded"], 2, "{second}");
    let grouping2 = [("job", job.as_str()), ("instance", "second")];
    let group2 =
        gateway.group(&grouping2).unwrap_or_else(|| panic!("no group {grouping2:?}: {:?}", gateway.groups()));
    check_group(&group2, &grouping2, &second, (2, 0, 0, 0));
    let group =
        gateway.group(&grouping).unwrap_or_else(|| panic!("group {grouping:?} gone: {:?}", gateway.groups()));
    check_group(&group, &grouping, &first, (5, 3, 2, 1));

    // The Pushgateway's own exposition, as Prometheus would scrape it, has both.
    let text = gateway.metrics();
    for (instance, n) in [("first", 5), ("second", 2)] {
        let line = format!(
            "conveyor_jobs_finished_total{{instance=\"{instance}\",job=\"{job}\",kind=\"noop\",outcome=\"succeeded\"}} {n}"
        );
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }

    // Pushing to the same group again replaces its values (a PUT): the last run wins.
    dir.write("again.jsonl", &batch(1, 1, 0, 0));
    let again = run_pushing(&dir, &first_url, "again.jsonl", 0);
    let group = gateway.group(&grouping).expect("group first");
    check_group(&group, &grouping, &again, (1, 1, 0, 0));
}

#[test]
fn a_bare_pushgateway_url_pushes_to_job_conveyor() {
    let Some(gateway) = Pushgateway::from_env() else { return };
    let dir = Dir::new();
    dir.write("jobs.jsonl", &batch(4, 0, 1, 0));
    let sum = run_pushing(&dir, gateway.url(), "jobs.jsonl", 1);
    let grouping = [("job", "conveyor")];
    let group =
        gateway.group(&grouping).unwrap_or_else(|| panic!("no group {grouping:?}: {:?}", gateway.groups()));
    check_group(&group, &grouping, &sum, (4, 0, 1, 0));
}

//! Defaults that fit the work (issue 23): `conveyor run` picks `--workers` from the kinds in
//! the files and names the value in the summary's first line.

use conveyor_e2e::{Dir, code, jsonl};
use serde_json::json;

fn first_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned()
}

/// Regression: the default was one worker per core whatever the jobs, so 3,000 jobs that
/// sleep 20 ms took 30 s on two cores. Jobs that wait now run many at once.
#[test]
fn waiting_jobs_get_many_workers_and_the_summary_says_so() {
    let dir = Dir::new();
    dir.write(
        "naps.jsonl",
        &jsonl(300, |i| json!({"id": format!("n{i}"), "kind": "sleep", "duration": "1ms"})),
    );
    let out = dir.run(&["naps.jsonl"]);
    assert_eq!(code(&out), 0);
    let line = first_line(&out);
    assert!(line.starts_with("workers") && line.contains(&conveyor_pool_default().to_string()), "{line}");
}

/// Process and `cpu` jobs keep a core busy: one worker per core.
#[test]
fn core_bound_jobs_get_one_worker_per_core() {
    let dir = Dir::new();
    dir.write(
        "mixed.jsonl",
        "{\"kind\": \"sleep\", \"duration\": \"1ms\"}\n{\"kind\": \"cpu\", \"rounds\": 10}\n",
    );
    let out = dir.run(&["mixed.jsonl"]);
    assert_eq!(code(&out), 0);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let line = first_line(&out);
    let n: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert_eq!(n, cores, "{line}");
    assert!(line.contains("one per core"), "{line}");
    // `-w` wins.
    let out = dir.run(&["-w", "7", "mixed.jsonl"]);
    assert!(first_line(&out).starts_with("workers          7"), "{}", first_line(&out));
}

/// `conveyor_pool::DEFAULT_WORKERS`, which this package does not depend on.
fn conveyor_pool_default() -> usize {
    256
}

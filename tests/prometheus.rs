//! `conveyor serve` scraped by a real Prometheus (the one `tests/run.sh` starts): the
//! counters Prometheus stores are the outcomes the server reports, every query of the
//! Grafana dashboard returns data, and the exposition passes `promtool check metrics`.
//!
//! Skipped (passing) when the servers' variables are not set, unless
//! `CONVEYOR_TEST_SERVERS=required`; see `tests/support/servers.rs`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use conveyor_e2e::server::Server;
use conveyor_e2e::servers::{
    Prometheus, Sample, dashboard, dashboard_exprs, promql_regex_literal, promtool, substitute,
};
use conveyor_e2e::{Dir, code, describe};
use serde_json::json;

/// Jobs of every kind and outcome the dashboard shows, ids prefixed with `wave`: no-ops,
/// sleeps of several lengths (run time percentiles), more jobs than workers (queue depth,
/// wait times), coin-flip failures (seeded), a failure retried twice (retry rate), and a
/// sleep that times out.
fn batch(wave: &str) -> String {
    let mut jobs = Vec::new();
    for i in 0..6 {
        jobs.push(json!({"id": format!("{wave}-noop-{i}"), "kind": "noop"}));
    }
    for (i, ms) in [50, 150, 300, 600].into_iter().enumerate() {
        jobs.push(json!({"id": format!("{wave}-sleep-{i}"), "kind": "sleep", "duration": format!("{ms}ms")}));
    }
    for i in 0..4 {
        jobs.push(json!({
            "id": format!("{wave}-coin-{i}"), "kind": "fail", "probability": 0.5, "message": "heads"
        }));
    }
    jobs.push(json!({
        "id": format!("{wave}-doomed"), "kind": "fail", "probability": 1, "message": "always",
        "retry": {"max_attempts": 3, "backoff": "fixed", "initial": "100ms"}
    }));
    jobs.push(json!({"id": format!("{wave}-slow"), "kind": "sleep", "duration": "10s", "timeout": "200ms"}));
    jobs.iter().map(|j| format!("{j}\n")).collect()
}

/// What the server says happened to a batch: jobs per `(kind, outcome)`, retries per kind.
#[derive(Debug, Default, Clone, PartialEq)]
struct Tally {
    finished: BTreeMap<(String, String), f64>,
    retries: BTreeMap<String, f64>,
}

/// Posts `body`, waits for every job's final status and adds it to `tally`.
fn run_batch(server: &Server, body: &str, tally: &mut Tally) {
    let (status, answer) = server.post(body);
    assert_eq!(status, 202, "{answer}");
    let ids = answer["ids"].as_array().expect("ids");
    assert_eq!(ids.len(), body.lines().count(), "{answer}");
    for id in ids {
        let v = server.wait_final(id.as_str().expect("id"));
        let kind = v["kind"].as_str().expect("kind").to_owned();
        let outcome = v["outcome"].as_str().expect("outcome").to_owned();
        let attempts = v["attempts"].as_f64().expect("attempts");
        *tally.finished.entry((kind.clone(), outcome)).or_default() += 1.0;
        *tally.retries.entry(kind).or_default() += attempts - 1.0;
    }
}

/// Non-zero values of a `sum by (kind, outcome)` / `sum by (kind)` result.
fn by_labels(samples: &[Sample], names: &[&str]) -> BTreeMap<Vec<String>, f64> {
    samples
        .iter()
        .filter(|s| s.value != 0.0)
        .map(|s| (names.iter().map(|n| s.label(n).to_owned()).collect(), s.value))
        .collect()
}

/// Waits until Prometheus's last scrape of `instance` has exactly `tally`'s counts.
fn wait_scraped(prom: &Prometheus, instance: &str, tally: &Tally) {
    let want_finished: BTreeMap<Vec<String>, f64> =
        tally.finished.iter().map(|((k, o), n)| (vec![k.clone(), o.clone()], *n)).collect();
    let want_retries: BTreeMap<Vec<String>, f64> =
        tally.retries.iter().filter(|(_, n)| **n != 0.0).map(|(k, n)| (vec![k.clone()], *n)).collect();
    prom.wait_for(
        "conveyor_jobs_finished_total to match the server's outcomes",
        &format!("sum by (kind, outcome) (conveyor_jobs_finished_total{{instance=\"{instance}\"}})"),
        |samples| {
            let have = by_labels(samples, &["kind", "outcome"]);
            if have == want_finished { Ok(()) } else { Err(format!("want {want_finished:?}, have {have:?}")) }
        },
    );
    prom.wait_for(
        "conveyor_job_retries_total to match the server's attempts",
        &format!("sum by (kind) (conveyor_job_retries_total{{instance=\"{instance}\"}})"),
        |samples| {
            let have = by_labels(samples, &["kind"]);
            if have == want_retries { Ok(()) } else { Err(format!("want {want_retries:?}, have {have:?}")) }
        },
    );
}

/// Every value of a query result is a number (not NaN, not infinite).
fn all_finite(samples: &[Sample]) -> Result<(), String> {
    if samples.is_empty() {
        return Err("no data".into());
    }
    match samples.iter().find(|s| !s.value.is_finite()) {
        Some(bad) => Err(format!("not a number: {bad:?}")),
        None => Ok(()),
    }
}

#[test]
fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let Some(prom) = Prometheus::from_env() else { return };
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "3", "--seed", "7"]);
    let instance = server.addr.clone();
    let _target = prom.register(&instance, "dashboard");

    // Scraped once before any job runs, and again between the two waves: every series a
    // wave creates is in Prometheus before the next wave increases it, so rate() over the
    // window sees the increase (a series that appears at its final value has a rate of 0).
    prom.wait_for(
        "the first scrape of conveyor serve",
        &format!("conveyor_workers{{instance=\"{instance}\"}}"),
        |samples| match samples {
            [s] if s.value == 3.0 => Ok(()),
            _ => Err("want conveyor_workers 3".into()),
        },
    );
    let mut tally = Tally::default();
    run_batch(&server, &batch("a"), &mut tally);
    wait_scraped(&prom, &instance, &tally);
    run_batch(&server, &batch("b"), &mut tally);
    wait_scraped(&prom, &instance, &tally);

    // The batch did produce every outcome the panels show.
    for (kind, outcome) in
        [("noop", "succeeded"), ("sleep", "succeeded"), ("fail", "failed"), ("sleep", "timed_out")]
    {
        assert!(
            tally.finished.contains_key(&(kind.into(), outcome.into())),
            "no {kind} {outcome}: {tally:?}"
        );
    }
    assert_eq!(tally.retries.get("fail"), Some(&4.0), "{tally:?}");

    // Every dashboard query, as Grafana sends it for this instance, returns numbers.
    let dash = dashboard();
    let queries = dashboard_exprs(&dash);
    assert!(queries.len() >= 10, "{queries:?}");
    let selector = promql_regex_literal(&instance);
    let mut results: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for (title, expr) in &queries {
        let promql = substitute(expr, &selector);
        let samples = prom.wait_for(&format!("data for panel {title:?}"), &promql, all_finite);
        results.insert(expr.clone(), samples);
    }
    let result = |needle: &str| -> &Vec<Sample> {
        let mut found = results.iter().filter(|(expr, _)| expr.contains(needle));
        let (_, samples) = found.next().unwrap_or_else(|| panic!("no dashboard query contains {needle:?}"));
        samples
    };
    let value = |needle: &str| -> f64 {
        match result(needle).as_slice() {
            [one] => one.value,
            many => panic!("{needle}: want one value, have {many:?}"),
        }
    };

    // Throughput by outcome: a positive rate for each outcome of the batch.
    let throughput = by_labels(result("sum by (outcome) (rate(conveyor_jobs_finished_total"), &["outcome"]);
    for outcome in ["succeeded", "failed", "timed_out"] {
        assert!(
            throughput.get(&vec![outcome.to_owned()]).is_some_and(|r| *r > 0.0),
            "{outcome}: {throughput:?}"
        );
    }
    // Success ratio: strictly between 0 and 1 (there were successes and failures).
    let ratio = value("outcome=\"succeeded\"}");
    assert!(ratio > 0.0 && ratio < 1.0, "success ratio {ratio}");
    // Retry rate, total and by kind: only `fail` jobs retried.
    assert!(value("sum(rate(conveyor_job_retries_total") > 0.0);
    let retries = by_labels(result("sum by (kind) (rate(conveyor_job_retries_total"), &["kind"]);
    assert_eq!(retries.keys().collect::<Vec<_>>(), [&vec!["fail".to_owned()]], "{retries:?}");
    // Failures by kind: the failed `fail` jobs and the timed-out sleep, nothing succeeded.
    let failures = by_labels(result("outcome!=\"succeeded\""), &["kind", "outcome"]);
    for key in [["fail", "failed"], ["sleep", "timed_out"]] {
        let key: Vec<String> = key.iter().map(|s| (*s).to_owned()).collect();
        assert!(failures.get(&key).is_some_and(|r| *r > 0.0), "{key:?}: {failures:?}");
    }
    assert!(failures.keys().all(|k| k[1] != "succeeded"), "{failures:?}");
    // Wait and run time percentiles: ordered; the run times include sleeps of 150 to 600 ms
    // and the 200 ms timeouts, so the p90 is above 100 ms.
    for metric in ["conveyor_job_wait_seconds_bucket", "conveyor_job_run_seconds_bucket"] {
        let q = |p: &str| value(&format!("histogram_quantile({p}, sum by (le) (rate({metric}"));
        let (p50, p90, p99) = (q("0.5"), q("0.9"), q("0.99"));
        assert!(0.0 <= p50 && p50 <= p90 && p90 <= p99, "{metric}: p50 {p50}, p90 {p90}, p99 {p99}");
    }
    let run_p90 = value("histogram_quantile(0.9, sum by (le) (rate(conveyor_job_run_seconds_bucket");
    assert!(run_p90 > 0.1, "run time p90 {run_p90}");
    // Gauges: 3 workers; the batch is over, so nothing queued or running.
    assert_eq!(value("sum(conveyor_workers"), 3.0);
    assert_eq!(value("sum(conveyor_jobs_running"), 0.0);
    assert_eq!(value("sum(conveyor_queue_depth"), 0.0);

    // The dashboard's instance variable lists this server.
    let instances = prom.query("count by (instance) (conveyor_workers)");
    assert!(instances.iter().any(|s| s.label("instance") == instance), "{instances:?}");

    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn failures_of_a_kind_first_seen_in_a_short_batch_show_in_the_dashboard() {
    let Some(prom) = Prometheus::from_env() else { return };
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "2"]);
    let instance = server.addr.clone();
    let _target = prom.register(&instance, "first-seen");
    prom.wait_for(
        "the first scrape of conveyor serve",
        &format!("conveyor_workers{{instance=\"{instance}\"}}"),
        |samples| if samples.is_empty() { Err("no sample".into()) } else { Ok(()) },
    );
    // One short batch, as a user's first: two of three jobs fail.
    let mut tally = Tally::default();
    let body = concat!(
        "{\"id\": \"f1\", \"kind\": \"fail\"}\n",
        "{\"id\": \"f2\", \"kind\": \"fail\"}\n",
        "{\"id\": \"n1\", \"kind\": \"noop\"}\n",
    );
    run_batch(&server, body, &mut tally);
    wait_scraped(&prom, &instance, &tally);
    // Two samples of the final values in the window: rate() has all it will ever have.
    prom.wait_for(
        "two scrapes of the final values",
        &format!(
            "count_over_time(conveyor_jobs_finished_total{{instance=\"{instance}\",kind=\"fail\",outcome=\"failed\"}}[1m])"
        ),
        |s| match s {
            [one] if one.value >= 2.0 => Ok(()),
            _ => Err("want 2 samples".into()),
        },
    );
    let selector = promql_regex_literal(&instance);
    let dash = dashboard();
    let (_, ratio) = dashboard_exprs(&dash)
        .into_iter()
        .find(|(title, _)| title == "Success ratio")
        .expect("a Success ratio panel");
    let ratio = prom.query(&substitute(&ratio, &selector));
    assert!(
        matches!(ratio.as_slice(), [one] if one.value < 0.5),
        "2 of 3 jobs failed, the dashboard's success ratio says {ratio:?}"
    );
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn queue_depth_and_running_jobs_reach_prometheus_while_jobs_wait() {
    let Some(prom) = Prometheus::from_env() else { return };
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "2", "--grace", "100ms"]);
    let instance = server.addr.clone();
    let _target = prom.register(&instance, "gauges");
    prom.wait_for(
        "the first scrape of conveyor serve",
        &format!("conveyor_workers{{instance=\"{instance}\"}}"),
        |samples| if samples.is_empty() { Err("no sample".into()) } else { Ok(()) },
    );
    // Two workers, six sleeps of 5 s: for 5 s (five scrapes), 2 run and 4 wait.
    let body: String = (0..6)
        .map(|i| format!("{}\n", json!({"id": format!("nap-{i}"), "kind": "sleep", "duration": "5s"})))
        .collect();
    let (status, answer) = server.post(&body);
    assert_eq!(status, 202, "{answer}");
    let selector = promql_regex_literal(&instance);
    let dash = dashboard();
    let panel = |needle: &str| -> String {
        let (_, expr) = dashboard_exprs(&dash)
            .into_iter()
            .find(|(_, e)| e.contains(needle))
            .unwrap_or_else(|| panic!("no dashboard query contains {needle}"));
        substitute(&expr, &selector)
    };
    prom.wait_for("2 running jobs in the dashboard", &panel("conveyor_jobs_running"), |s| match s {
        [one] if one.value == 2.0 => Ok(()),
        _ => Err("want 2".into()),
    });
    prom.wait_for("4 queued jobs in the dashboard", &panel("conveyor_queue_depth"), |s| match s {
        [one] if one.value == 4.0 => Ok(()),
        _ => Err("want 4".into()),
    });
    let out = server.stop("INT");
    assert_eq!(code(&out), 130, "{}", describe(&out));
}

#[test]
fn the_serve_exposition_passes_promtool_check_metrics() {
    let Some(promtool) = promtool() else { return };
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "2", "--seed", "3"]);
    let mut tally = Tally::default();
    run_batch(&server, &batch("lint"), &mut tally);
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200, "{metrics}");
    for family in [
        "conveyor_jobs_submitted_total",
        "conveyor_jobs_finished_total",
        "conveyor_job_retries_total",
        "conveyor_job_wait_seconds_bucket",
        "conveyor_job_run_seconds_bucket",
        "conveyor_queue_depth",
        "conveyor_jobs_running",
        "conveyor_workers",
    ] {
        assert!(metrics.contains(&format!("\n{family}")), "{family} missing:\n{metrics}");
    }
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", promtool.display()));
    child.stdin.take().expect("stdin").write_all(metrics.as_bytes()).expect("writing to promtool");
    let out = child.wait_with_output().expect("waiting for promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics is not clean:\n{}\n--- the exposition\n{metrics}",
        describe(&out)
    );
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

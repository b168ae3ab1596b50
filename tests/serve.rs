//! End-to-end tests of `conveyor serve`: the real binary on a free port, spoken to with a
//! few lines of HTTP/1.1 over a `TcpStream`. Waits are bounded polls, never fixed sleeps.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use conveyor_e2e::server::{LIMIT, Server, read_status, read_until_closed, request, status_of};
use conveyor_e2e::{Dir, by_id, code, conveyor, describe, jsonl, ledger, wait_until};
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<String> {
    v["ids"].as_array().expect("ids").iter().map(|i| i.as_str().expect("id").to_owned()).collect()
}

#[test]
fn posted_jobs_run_and_show_their_status_metrics_and_ledger() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "2", "--ledger", "serve.ledger.jsonl"]);
    assert_eq!(server.get("/healthz"), (200, "ok\n".to_owned()));

    let body = concat!(
        "{\"id\": \"nap\", \"kind\": \"sleep\", \"duration\": \"50ms\"}\n",
        "{\"id\": \"boom\", \"kind\": \"fail\", \"message\": \"disk on fire\"}\n",
        "{\"kind\": \"noop\"}\n",
    );
    let (status, v) = server.post(body);
    assert_eq!(status, 202, "{v}");
    let accepted = ids(&v);
    assert_eq!(accepted.len(), 3);
    assert_eq!(accepted[..2], ["nap", "boom"]);
    assert!(accepted[2].starts_with("request-"), "{accepted:?}");

    let nap = server.wait_final("nap");
    assert_eq!(nap["status"], "succeeded", "{nap}");
    assert_eq!(nap["outcome"], "succeeded");
    assert_eq!(nap["kind"], "sleep");
    assert_eq!(nap["attempts"], 1);
    assert!(nap["run_seconds"].as_f64().expect("run_seconds") >= 0.05, "{nap}");
    let boom = server.wait_final("boom");
    assert_eq!(boom["status"], "failed", "{boom}");
    assert_eq!(boom["error"], "disk on fire");
    assert_eq!(server.wait_final(&accepted[2])["status"], "succeeded");

    // The same id-less job again runs again, under an id of its own.
    let (status, again) = server.post("{\"kind\": \"noop\"}\n");
    assert_eq!(status, 202, "{again}");
    assert_eq!(ids(&again), [format!("{}-2", accepted[2])]);
    assert_eq!(server.wait_final(&ids(&again)[0])["status"], "succeeded");

    let (status, text) = server.get("/jobs/no-such-job");
    assert_eq!(status, 404, "{text}");

    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    for want in [
        "conveyor_jobs_finished_total{kind=\"sleep\",outcome=\"succeeded\"} 1",
        "conveyor_jobs_finished_total{kind=\"fail\",outcome=\"failed\"} 1",
        "conveyor_job_run_seconds_bucket{kind=\"sleep\",le=\"0.1\"}",
        "conveyor_job_wait_seconds_bucket",
        "conveyor_workers 2",
    ] {
        assert!(metrics.contains(want), "{want} missing:\n{metrics}");
    }

    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let lines = ledger(&dir.join("serve.ledger.jsonl"));
    let per_id = by_id(&lines);
    assert_eq!(lines.len(), 4, "{lines:?}");
    for id in accepted.iter().chain(&ids(&again)) {
        assert_eq!(per_id.get(id).map(Vec::len), Some(1), "{id}: {lines:?}");
    }
    assert_eq!(per_id["boom"][0]["outcome"], "failed");
}

#[test]
fn invalid_files_get_located_errors_and_nothing_is_queued() {
    let dir = Dir::new();
    let server = Server::start(&dir, &[]);
    let body = r#"{"jobs": [
  {"id": "good", "kind": "noop"},
  {"id": "bad", "kind": "sleep", "duration": "soon"},
  {"id": "typo", "kind": "noop", "timout": "1s"}
]}"#;
    let (status, v) = server.post(body);
    assert_eq!(status, 400, "{v}");
    let errors = v["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{v}");
    assert_eq!(
        errors[0],
        json!({"path": "request", "line": 3, "column": 46, "field": "jobs[1].duration",
               "message": "invalid duration `soon`: expected a number followed by a unit, such as \"250ms\" or \"1m30s\""})
    );
    assert_eq!(errors[1]["line"], 4);
    assert_eq!(errors[1]["field"], "jobs[2].timout");
    // Nothing of the file was queued, not even its good job.
    assert_eq!(server.get("/jobs/good").0, 404);

    // Not JSON at all: one located syntax error.
    let (status, v) = server.post("{\"kind\": \"noop\"\n");
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["errors"][0]["path"], "request");
    assert_eq!(v["errors"][0]["line"], 2, "{v}"); // where the JSON parser stopped

    // A periodic job with a cron expression that is not one.
    let (status, v) = server.post("{\"id\": \"tick\", \"kind\": \"noop\", \"cron\": \"every day\"}\n");
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["errors"][0]["field"], "cron", "{v}");
    assert_eq!(server.get("/jobs/tick").0, 404);

    // An id the server already has: 409, and again nothing of the request is queued.
    let (status, v) = server.post("{\"id\": \"a\", \"kind\": \"noop\"}\n");
    assert_eq!(status, 202, "{v}");
    let (status, v) =
        server.post("{\"id\": \"b\", \"kind\": \"noop\"}\n{\"id\": \"a\", \"kind\": \"noop\"}\n");
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["errors"][0]["line"], 2);
    assert!(v["errors"][0]["message"].as_str().expect("message").contains("duplicate id `a`"), "{v}");
    assert_eq!(server.get("/jobs/b").0, 404);

    let out = server.stop("INT");
    assert_eq!(code(&out), 130, "{}", describe(&out));
}

#[test]
fn a_token_is_required_off_loopback() {
    let dir = Dir::new();
    let out = dir.cmd(conveyor()).args(["serve", "--listen", "0.0.0.0:0"]).output().expect("spawn");
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--listen 0.0.0.0:0: a non-loopback address needs --token"), "{stderr}");

    let server = Server::start_on(&dir, "0.0.0.0:0", &["--token", "s3cret"]);
    let job = "{\"kind\": \"noop\"}\n";
    assert_eq!(server.post(job).0, 401);
    assert_eq!(server.post_with(&[("Authorization", "Bearer guess")], job).0, 401);
    assert_eq!(server.post_with(&[("Authorization", "s3cret")], job).0, 401);
    let (status, v) = server.post_with(&[("Authorization", "Bearer s3cret")], job);
    assert_eq!(status, 202, "{v}");
    // Reading needs no token.
    assert_eq!(server.wait_final(&ids(&v)[0])["status"], "succeeded");
    assert_eq!(server.get("/healthz").0, 200);
    // Cancelling is writing: it needs the token.
    let id = ids(&v)[0].clone();
    let path = format!("/jobs/{id}");
    assert_eq!(request(&server.addr, "DELETE", &path, &[], b"").0, 401);
    let (status, text) = request(&server.addr, "DELETE", &path, &[("Authorization", "Bearer s3cret")], b"");
    assert_eq!(status, 409, "{text}"); // already finished
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn oversized_bodies_are_refused_with_413() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--max-body", "1000"]);
    let big = jsonl(40, |i| json!({"id": format!("n{i}"), "kind": "noop"}));
    assert!(big.len() > 1000);
    let (status, v) = server.post(&big);
    assert_eq!(status, 413, "{v}");
    assert_eq!(server.get("/jobs/n0").0, 404);
    let small = jsonl(3, |i| json!({"id": format!("n{i}"), "kind": "noop"}));
    assert_eq!(server.post(&small).0, 202);
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn sigterm_mid_batch_drains_and_writes_every_ledger_line() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "2", "--grace", "5s", "--ledger", "l.jsonl"]);
    // Two short jobs finish within the grace period, two long ones are cancelled after it,
    // and the rest never start.
    let mut body = String::new();
    for (i, duration) in ["800ms", "800ms", "1h", "1h"].iter().enumerate() {
        body.push_str(&json!({"id": format!("first{i}"), "kind": "sleep", "duration": duration}).to_string());
        body.push('\n');
    }
    body.push_str(&jsonl(30, |i| json!({"id": format!("later{i}"), "kind": "sleep", "duration": "1h"})));
    let (status, v) = server.post(&body);
    assert_eq!(status, 202, "{v}");
    let mut accepted: BTreeSet<String> = ids(&v).into_iter().collect();
    assert_eq!(accepted.len(), 34);
    wait_until(LIMIT, "first0 running", || server.get("/jobs/first0").1.contains("\"running\""));

    server.signal("TERM");
    // Intake closes as soon as the signal is seen; a request that came first still counts.
    let start = Instant::now();
    loop {
        let (status, v) = server.post("{\"kind\": \"noop\"}\n");
        if status == 503 {
            break;
        }
        assert_eq!(status, 202, "{v}");
        accepted.extend(ids(&v));
        assert!(start.elapsed() < LIMIT, "intake never closed");
    }
    let out = server.wait();
    assert_eq!(code(&out), 143, "{}", describe(&out));

    let lines = ledger(&dir.join("l.jsonl"));
    let per_id = by_id(&lines);
    let seen: BTreeSet<String> = per_id.keys().cloned().collect();
    assert_eq!(seen, accepted, "every accepted job has a ledger line, and nothing else");
    assert!(per_id.values().all(|l| l.len() == 1), "one line per job: {lines:?}");
    let outcome = |id: &str| per_id[id][0]["outcome"].as_str().expect("outcome").to_owned();
    assert_eq!(outcome("first0"), "succeeded");
    assert_eq!(outcome("first1"), "succeeded");
    assert_eq!(outcome("first2"), "cancelled");
    assert_eq!(outcome("later29"), "cancelled");
    assert_eq!(per_id["later29"][0]["attempts"], 0);
}

#[test]
fn periodic_jobs_run_on_schedule_never_overlap_and_each_run_has_a_line() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "4", "--ledger", "l.jsonl"]);
    // A run takes longer than the period: ticks that find it running are skipped.
    let (status, v) = server
        .post("{\"id\": \"tick\", \"kind\": \"sleep\", \"duration\": \"250ms\", \"every\": \"100ms\"}\n");
    assert_eq!(status, 202, "{v}");
    assert_eq!(ids(&v), ["tick"]);
    let periodic = |field: &str| {
        let (status, text) = server.get("/jobs/tick");
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["status"], "periodic", "{v}");
        v[field].as_u64().expect("a count")
    };
    wait_until(LIMIT, "three runs and a skipped tick", || periodic("runs") >= 3 && periodic("skipped") >= 1);

    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let lines = ledger(&dir.join("l.jsonl"));
    assert!(lines.len() >= 3, "{lines:?}");
    let per_id = by_id(&lines);
    assert_eq!(per_id.len(), lines.len(), "a run id appears twice: {lines:?}");
    for id in per_id.keys() {
        let time = id.strip_prefix("tick@").unwrap_or_else(|| panic!("run id {id:?}"));
        // Sub-second periods name the millisecond: 2026-11-25T12:00:00.250Z.
        assert!(time.ends_with('Z') && time.len() == 24, "{id}");
    }
    // Runs that started never overlap: each starts after the one before finished.
    let mut spans: Vec<(String, String)> = lines
        .iter()
        .filter(|l| !l["started_at"].is_null())
        .map(|l| {
            (
                l["started_at"].as_str().expect("start").to_owned(),
                l["finished_at"].as_str().expect("end").to_owned(),
            )
        })
        .collect();
    spans.sort();
    assert!(spans.len() >= 3, "{lines:?}");
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "runs overlap: {pair:?}");
    }
    assert!(lines.iter().filter(|l| l["outcome"] == "succeeded").count() >= 2, "{lines:?}");
}

#[test]
fn run_and_validate_refuse_periodic_jobs_with_a_located_error() {
    let dir = Dir::new();
    dir.write("p.jsonl", "{\"kind\": \"noop\"}\n{\"kind\": \"noop\", \"cron\": \"*/5 * * * *\"}\n");
    for cmd in ["run", "validate"] {
        let out = dir.run(&[cmd, "p.jsonl"]);
        assert_eq!(code(&out), 2, "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("p.jsonl:2:") && stderr.contains("needs `conveyor serve`"), "{stderr}");
    }
}

#[test]
fn cron_jobs_run_each_scheduled_second_under_their_own_id() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--ledger", "l.jsonl", "--log-format", "json"]);
    // Six fields: the first is the second, so this runs every second.
    let (status, v) = server.post("{\"id\": \"beat\", \"kind\": \"noop\", \"cron\": \"* * * * * *\"}\n");
    assert_eq!(status, 202, "{v}");
    wait_until(LIMIT, "two runs", || server.get("/jobs/beat").1.contains("\"runs\":2"));
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let lines = ledger(&dir.join("l.jsonl"));
    assert!(lines.len() >= 2, "{lines:?}");
    for line in &lines {
        let id = line["id"].as_str().expect("id");
        // Whole seconds: beat@2026-11-25T12:00:01Z.
        assert!(id.starts_with("beat@") && id.len() == "beat@".len() + 20, "{id}");
        assert_eq!(line["outcome"], "succeeded", "{line}");
    }

    // --log-format json: every log line on stderr is one JSON object.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logs: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("JSON log"))
        .collect();
    assert!(
        logs.iter().any(|l| l["level"] == "INFO" && l["message"] == "serving" && l["workers"].is_u64()),
        "{stderr}"
    );
    assert!(logs.iter().any(|l| l["message"].as_str().is_some_and(|m| m.starts_with("stopped"))), "{stderr}");
}

#[test]
fn quiet_serve_logs_nothing_but_its_address() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["-q"]);
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("INFO"), "-q still logs info:\n{stderr}");
}

#[test]
fn metrics_addr_adds_a_metrics_only_listener() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--metrics-addr", "0"]);
    let addr = server
        .preamble
        .lines()
        .find_map(|l| l.strip_prefix("conveyor: serving metrics on http://"))
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in {:?}", server.preamble))
        .to_owned();
    assert_ne!(addr, server.addr);
    let (status, v) = server.post("{\"id\": \"m\", \"kind\": \"noop\"}\n");
    assert_eq!(status, 202, "{v}");
    server.wait_final("m");
    let (status, text) = conveyor_e2e::server::request(&addr, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    assert!(text.contains("conveyor_jobs_finished_total{kind=\"noop\",outcome=\"succeeded\"} 1"), "{text}");
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn delete_cancels_jobs_wherever_they_are_and_stops_periodic_entries() {
    let dir = Dir::new();
    // One worker and a queue of one: `long` runs, `queued` waits in the pool's queue and
    // `waiting` in the server, not yet handed to the pool.
    let server = Server::start(&dir, &["-w", "1", "--capacity", "1", "--ledger", "l.jsonl"]);
    let body = ["long", "queued", "waiting"]
        .map(|id| json!({"id": id, "kind": "sleep", "duration": "1h"}).to_string() + "\n")
        .concat();
    assert_eq!(server.post(&body).0, 202);
    let (status, v) = server.post("{\"id\": \"tick\", \"kind\": \"noop\", \"every\": \"100ms\"}\n");
    assert_eq!(status, 202, "{v}");
    wait_until(LIMIT, "long running", || server.get("/jobs/long").1.contains("\"running\""));
    let delete = |id: &str| {
        let (status, text) = request(&server.addr, "DELETE", &format!("/jobs/{id}"), &[], b"");
        (status, serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
    };

    // Not in the pool yet: final at once, never started.
    let (status, v) = delete("waiting");
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["status"].as_str(), v["attempts"].as_u64()), (Some("cancelled"), Some(0)), "{v}");
    // In the pool: told to stop; final soon after.
    for (id, attempts) in [("queued", 0), ("long", 1)] {
        let (status, v) = delete(id);
        assert_eq!(status, 202, "{v}");
        assert_eq!(v["status"], "cancelling");
        let end = server.wait_final(id);
        assert_eq!(
            (end["status"].as_str(), end["attempts"].as_u64()),
            (Some("cancelled"), Some(attempts)),
            "{end}"
        );
    }
    assert_eq!(delete("long").0, 409);
    assert_eq!(delete("nobody").0, 404);

    // A periodic entry stops: no run after the answer.
    wait_until(LIMIT, "a run of tick", || !server.get("/jobs/tick").1.contains("\"runs\":0"));
    let (status, stopped) = delete("tick");
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(delete("tick").0, 409);
    let (_, again) = server.get("/jobs/tick");
    assert_eq!(serde_json::from_str::<Value>(&again).expect("JSON")["runs"], stopped["runs"]);

    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let lines = ledger(&dir.join("l.jsonl"));
    let per_id = by_id(&lines);
    assert!(per_id.values().all(|l| l.len() == 1), "{lines:?}");
    for id in ["long", "queued", "waiting"] {
        assert_eq!(per_id[id][0]["outcome"], "cancelled", "{id}");
    }
    let runs = per_id.keys().filter(|id| id.starts_with("tick@")).count() as u64;
    assert_eq!(Some(runs), stopped["runs"].as_u64(), "{lines:?}");
}

#[test]
fn a_running_periodic_run_shows_running_and_can_be_cancelled() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--grace", "0s", "--ledger", "l.jsonl"]);
    let (status, v) =
        server.post("{\"id\": \"slow\", \"kind\": \"sleep\", \"duration\": \"1h\", \"every\": \"100ms\"}\n");
    assert_eq!(status, 202, "{v}");
    let mut run = String::new();
    wait_until(LIMIT, "the first run running", || {
        let entry: Value = serde_json::from_str(&server.get("/jobs/slow").1).expect("JSON");
        let Some(id) = entry["last_run"].as_str() else { return false };
        run = id.to_owned();
        server.get(&format!("/jobs/{run}")).1.contains("\"running\"")
    });
    let (status, text) = request(&server.addr, "DELETE", &format!("/jobs/{run}"), &[], b"");
    assert_eq!(status, 202, "{text}");
    let end = server.wait_final(&run);
    assert_eq!((end["outcome"].as_str(), end["attempts"].as_u64()), (Some("cancelled"), Some(1)), "{end}");
    // The schedule goes on: a later run starts.
    wait_until(LIMIT, "a second run", || {
        let entry: Value = serde_json::from_str(&server.get("/jobs/slow").1).expect("JSON");
        entry["last_run"].as_str().is_some_and(|id| id != run)
    });
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let per_id = by_id(&ledger(&dir.join("l.jsonl")));
    assert!(per_id.len() >= 2 && per_id.values().all(|l| l.len() == 1), "{per_id:?}");
    assert_eq!(per_id[&run][0]["error"], "job cancelled");
}

#[test]
fn the_bundled_periodic_file_is_accepted_by_serve() {
    let dir = Dir::new();
    let server = Server::start(&dir, &[]);
    let text = std::fs::read_to_string(conveyor_e2e::repo().join("jobs/serve/periodic.jsonl")).expect("read");
    let (status, v) = server.post(&text);
    assert_eq!(status, 202, "{v}");
    assert_eq!(ids(&v), ["heartbeat", "disk-usage", "flaky-probe"]);
    for id in ids(&v) {
        let (_, text) = server.get(&format!("/jobs/{id}"));
        assert!(text.contains("\"periodic\""), "{text}");
    }
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn shell_jobs_need_allow_shell() {
    let dir = Dir::new();
    let server = Server::start(&dir, &[]);
    let (status, v) = server.post(
        "{\"id\": \"a\", \"kind\": \"noop\"}\n{\"id\": \"s\", \"kind\": \"shell\", \"script\": \"true\"}\n",
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        (v["errors"][0]["line"].as_u64(), v["errors"][0]["field"].as_str()),
        (Some(2), Some("kind")),
        "{v}"
    );
    assert_eq!(server.get("/jobs/a").0, 404, "nothing of the file was queued");
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));

    let server = Server::start(&dir, &["--allow-shell"]);
    let (status, v) = server.post("{\"id\": \"s\", \"kind\": \"shell\", \"script\": \"echo ok\"}\n");
    assert_eq!(status, 202, "{v}");
    assert_eq!(server.wait_final("s")["output_tail"], "ok\n");
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

// #18: `serve` under unauthenticated and slow clients. Each request below would hang the
// client (or, for the idle sockets, starve `/healthz`) on a server that read the body
// before the token, set no timeouts and had no connection cap.

/// How long the server may take to answer what its headers alone decide.
const PROMPT: Duration = Duration::from_secs(5);

fn send(stream: &mut TcpStream, text: &str) {
    stream.write_all(text.as_bytes()).expect("send");
}

#[test]
fn an_unauthenticated_body_is_not_read() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--token", "s3cret"]);
    // 16 MB announced, never sent: the answer must not wait for it.
    for auth in ["Authorization: Bearer guess\r\n", ""] {
        let mut stream = server.connect();
        send(
            &mut stream,
            &format!("POST /jobs HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 16000000\r\n\r\n"),
        );
        assert_eq!(read_status(&mut stream, PROMPT), Ok(401), "{auth:?}");
        let mut stream = server.connect();
        send(
            &mut stream,
            &format!("DELETE /jobs/x HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 16000000\r\n\r\n"),
        );
        assert_eq!(read_status(&mut stream, PROMPT), Ok(401), "{auth:?}");
    }
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn a_body_declared_over_max_body_is_refused_before_it_is_read() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--max-body", "1000"]);
    let mut stream = server.connect();
    send(&mut stream, "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
    assert_eq!(read_status(&mut stream, PROMPT), Ok(413));
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn a_client_that_never_finishes_its_headers_is_closed() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--header-timeout", "300ms"]);
    let mut half = server.connect();
    send(&mut half, "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-");
    let mut silent = server.connect();
    let start = Instant::now();
    let answer = read_until_closed(&mut half, PROMPT).expect("half headers: the server should close");
    assert!(answer.is_empty() || status_of(&answer) == Some(408), "{:?}", String::from_utf8_lossy(&answer));
    read_until_closed(&mut silent, PROMPT).expect("no headers at all: the server should close");
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "closed before the timeout: {:?}",
        start.elapsed()
    );
    // A kept-alive connection gets the same time for its next request.
    let mut kept = server.connect();
    send(&mut kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_status(&mut kept, PROMPT), Ok(200));
    read_until_closed(&mut kept, PROMPT).expect("an idle kept-alive connection should close");
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn a_body_that_stalls_is_cut() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--body-timeout", "300ms"]);
    let mut stream = server.connect();
    send(&mut stream, "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"id\": \"slow\", ");
    let answer = read_until_closed(&mut stream, PROMPT).expect("a stalled body: the server should give up");
    assert_eq!(status_of(&answer), Some(408), "{:?}", String::from_utf8_lossy(&answer));
    let text = String::from_utf8_lossy(&answer);
    assert!(text.contains("request body not received within 300ms"), "{text}");
    assert_eq!(server.get("/jobs/slow").0, 404);
    // A body that does arrive in time is still taken.
    assert_eq!(server.post("{\"id\": \"quick\", \"kind\": \"noop\"}").0, 202);
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

#[test]
fn healthz_answers_while_idle_sockets_fill_the_connection_cap() {
    let dir = Dir::new();
    // 256 open files: the cap is 128 connections, well below the point where `accept`
    // itself would fail (then no connection at all would be served).
    let server = Server::start_with_open_files(&dir, 256, &[]);
    let idle: Vec<TcpStream> = (0..300)
        .map(|i| {
            let mut stream = server.connect();
            if i % 2 == 0 {
                send(&mut stream, "GET /heal");
            }
            stream
        })
        .collect();
    let start = Instant::now();
    for _ in 0..3 {
        let mut probe = server.connect();
        send(&mut probe, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(read_status(&mut probe, Duration::from_secs(10)), Ok(200), "after {:?}", start.elapsed());
    }
    assert_eq!(server.post("{\"id\": \"still\", \"kind\": \"noop\"}").0, 202);
    assert_eq!(server.wait_final("still")["status"], "succeeded");
    drop(idle);
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("cannot accept"), "{stderr}");
}

#[test]
fn a_lowercase_bearer_scheme_is_accepted() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--token", "s3cret"]);
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let auth = format!("{scheme} s3cret");
        let (status, v) = server.post_with(&[("Authorization", &auth)], "{\"kind\": \"noop\"}\n");
        assert_eq!(status, 202, "{scheme}: {v}");
    }
    assert_eq!(server.post_with(&[("Authorization", "bearer guess")], "{\"kind\": \"noop\"}\n").0, 401);
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

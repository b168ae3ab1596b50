//! The `conveyor` command line end to end: exit codes 0, 1 and 2, `--help`/`--version`,
//! `validate`, `schema`, the JSON summary, stdin, the bad-input corpus, every kind, and the
//! metrics endpoints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use conveyor_e2e::{Dir, by_id, code, conveyor, describe, jsonl, ledger, repo, run, summary, wait_until};
use serde_json::{Value, json};

#[test]
fn version_and_help_exit_0_and_show_examples() {
    let out = conveyor().arg("--version").output().unwrap();
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("conveyor "));
    for args in [&["--help"][..], &["run", "--help"], &["validate", "--help"], &["schema", "--help"]] {
        let out = conveyor().args(args).output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Examples:"), "{args:?}: {help}");
    }
}

#[test]
fn usage_errors_exit_2_with_a_conveyor_prefix_and_run_nothing() {
    let dir = Dir::new();
    dir.write("a.jsonl", "{\"id\": \"a\", \"kind\": \"noop\"}\n");
    let cases: &[(&[&str], &str)] = &[
        (&["a.jsonl", "--resume"], "conveyor: --resume needs --ledger PATH"),
        (&["a.jsonl", "-w", "0"], "conveyor: --workers must be at least 1"),
        (&["a.jsonl", "--timeout", "soon"], "conveyor: --timeout \"soon\""),
        (&["a.jsonl", "--metrics-addr", "nowhere"], "conveyor: --metrics-addr"),
        (&["a.jsonl", "--pushgateway", "https://x"], "only http://"),
        (&["a.jsonl", "--no-such-flag"], "unexpected argument"),
        (&[], "required"),
        (&["missing.json"], "missing.json: no such file or directory"),
    ];
    for (args, want) in cases {
        let out = dir.run(args);
        assert_eq!(code(&out), 2, "{args:?}\n{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a summary");
    }
}

#[test]
fn all_succeeded_exits_0_with_a_human_summary() {
    let dir = Dir::new();
    dir.write("ok.jsonl", &jsonl(5, |i| json!({"id": format!("n{i}"), "kind": "noop"})));
    let out = dir.run(&["ok.jsonl"]);
    assert_eq!(code(&out), 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("succeeded 5, failed 0"), "{text}");
    for label in ["jobs", "retries", "elapsed", "p50", "p99", "wait", "run"] {
        assert!(text.contains(label), "{label} missing: {text}");
    }
}

#[test]
fn a_failed_job_exits_1() {
    let dir = Dir::new();
    dir.write(
        "f.json",
        r#"[{"id": "ok", "kind": "noop"},
            {"id": "bad", "kind": "fail", "probability": 1, "message": "boom",
             "retry": {"max_attempts": 2, "initial": "1ms"}}]"#,
    );
    let out = dir.run(&["--format", "json", "--ledger", "l.jsonl", "f.json"]);
    assert_eq!(code(&out), 1);
    let s = summary(&out);
    assert_eq!(
        (s["jobs"].as_u64(), s["succeeded"].as_u64(), s["failed"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(s["retries"], 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, "conveyor: job bad failed after 2 attempts: boom\n", "each failure is reported");
    let lines = by_id(&ledger(&dir.join("l.jsonl")));
    assert_eq!(lines["bad"][0]["error"], "boom");
    assert_eq!(lines["bad"][0]["attempts"], 2);
}

#[test]
fn json_summary_is_the_last_line_with_every_promised_field() {
    let dir = Dir::new();
    dir.write("j.jsonl", &jsonl(20, |i| json!({"id": format!("s{i}"), "kind": "sleep", "duration": "5ms"})));
    let out = dir.run(&["--format", "json", "-w", "4", "j.jsonl"]);
    assert_eq!(code(&out), 0);
    let s = summary(&out);
    for key in [
        "jobs",
        "succeeded",
        "failed",
        "panicked",
        "timed_out",
        "cancelled",
        "skipped",
        "retries",
        "elapsed_seconds",
        "jobs_per_second",
    ] {
        assert!(s[key].is_number(), "{key}: {s}");
    }
    for key in ["wait_seconds", "run_seconds"] {
        for p in ["p50", "p90", "p99", "max"] {
            assert!(s[key][p].is_number(), "{key}.{p}: {s}");
        }
    }
    assert_eq!(s["jobs"], 20);
    let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_owned();
    assert!(last.starts_with("{\"jobs\":20,\"succeeded\":20,\"failed\":0,"), "DESIGN.md's order: {last}");
    assert_eq!(s["succeeded"], 20);
    let run_p50 = s["run_seconds"]["p50"].as_f64().unwrap();
    assert!((0.004..0.5).contains(&run_p50), "{run_p50}");
    assert_eq!(s.as_object().unwrap().len(), 12);
}

#[test]
fn stdin_is_read_as_json_lines_or_a_document() {
    for input in [
        "{\"id\": \"a\", \"kind\": \"noop\"}\n{\"id\": \"b\", \"kind\": \"noop\"}\n",
        "[{\"id\": \"a\", \"kind\": \"noop\"}, {\"id\": \"b\", \"kind\": \"noop\"}]",
        "{\"jobs\": [{\"id\": \"a\", \"kind\": \"noop\"}, {\"id\": \"b\", \"kind\": \"noop\"}]}",
    ] {
        let mut child = run(&["--format", "json", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", describe(&out));
        assert_eq!(summary(&out)["succeeded"], 2);
    }
}

#[test]
fn validate_prints_every_error_and_exits_2_or_0() {
    let dir = Dir::new();
    dir.write("good.jsonl", "{\"kind\": \"noop\"}\n");
    dir.write(
        "bad.jsonl",
        "{\"kind\": \"noop\", \"timout\": \"1s\"}\n{\"kind\": \"sleep\", \"duration\": \"soon\"}\n",
    );
    let out = dir.cmd(conveyor()).args(["validate", "good.jsonl"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok: 1 job in 1 file\n");

    let out = dir.cmd(conveyor()).args(["validate", "good.jsonl", "bad.jsonl"]).output().unwrap();
    assert_eq!(code(&out), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "bad.jsonl:1:18: timout: unknown field `timout`; did you mean `timeout`?",
            "bad.jsonl:2:31: duration: invalid duration `soon`: expected a number followed by a unit, such as \"250ms\" or \"1m30s\"",
            "conveyor: 2 errors in 1 file; nothing was run",
        ]
    );

    let out = dir.cmd(conveyor()).args(["validate", "--format", "json", "bad.jsonl"]).output().unwrap();
    assert_eq!(code(&out), 2);
    let errors: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors[0],
        json!({"path": "bad.jsonl", "line": 1, "column": 18, "field": "timout",
               "message": "unknown field `timout`; did you mean `timeout`?"})
    );
}

#[test]
fn schema_is_valid_json_schema() {
    let out = conveyor().arg("schema").output().unwrap();
    assert_eq!(code(&out), 0);
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(schema["$defs"]["Job"].is_object());
}

/// `expected.txt` of the bad corpus: entry → its error lines.
fn corpus_expectations() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(repo().join("tests/corpus/bad/expected.txt")).unwrap();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let entry = line.split([':', '/']).next().unwrap().to_owned();
        match out.last_mut() {
            Some((e, lines)) if *e == entry => lines.push(line.to_owned()),
            _ => out.push((entry, vec![line.to_owned()])),
        }
    }
    out
}

#[test]
fn every_bad_file_exits_2_prints_its_located_errors_and_runs_nothing() {
    let bad = repo().join("tests/corpus/bad");
    let expectations = corpus_expectations();
    assert!(expectations.len() >= 30, "only {} corpus entries", expectations.len());
    let scratch = Dir::new();
    let ledger_path = scratch.join("ledger.jsonl");
    let mut failures = Vec::new();
    for (entry, want) in &expectations {
        let out =
            run(&["--ledger", ledger_path.to_str().unwrap(), entry]).current_dir(&bad).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let got: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("conveyor: ")).collect();
        if out.status.code() != Some(2) || got != *want || !out.stdout.is_empty() {
            failures.push(format!("{entry}: want exit 2 and\n  {}\n{}", want.join("\n  "), describe(&out)));
        }
        assert!(!ledger_path.exists(), "{entry}: a ledger was written, so something ran");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_bundled_jobs_folder_runs_and_exits_0() {
    let dir = Dir::new();
    let jobs = repo().join("jobs");
    let out = dir.run(&["--format", "json", "--ledger", "l.jsonl", jobs.to_str().unwrap()]);
    assert_eq!(code(&out), 0);
    let lines = ledger(&dir.join("l.jsonl"));
    let s = summary(&out);
    assert_eq!(s["jobs"].as_u64().unwrap() as usize, lines.len());
    assert_eq!(s["succeeded"], s["jobs"]);
    let kinds: std::collections::BTreeSet<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["cpu", "exec", "fail", "noop", "sleep"]);
}

#[test]
fn the_failing_examples_fail() {
    let dir = Dir::new();
    let failing = repo().join("jobs/failing");
    let out = dir.run(&["--format", "json", "--ledger", "l.jsonl", failing.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let lines = by_id(&ledger(&dir.join("l.jsonl")));
    assert_eq!(lines["always-fails"][0]["outcome"], "failed");
    assert_eq!(lines["exit-3"][0]["outcome"], "failed");
    assert_eq!(lines["exit-3"][0]["exit_code"], 3);
    assert_eq!(lines["exit-3"][0]["output_tail"], "doomed\n");
    assert_eq!(lines["too-slow"][0]["outcome"], "timed_out");
}

#[test]
fn exec_and_shell_record_exit_code_and_output_and_shell_needs_allow_shell() {
    let dir = Dir::new();
    dir.write(
        "k.json",
        r#"[{"id": "echo", "kind": "exec", "program": "echo", "args": ["hi"]},
            {"id": "false", "kind": "exec", "program": "false"},
            {"id": "missing", "kind": "exec", "program": "definitely-not-a-program-7f3a"},
            {"id": "sh", "kind": "shell", "script": "echo from-shell; exit 4"},
            {"id": "cpu", "kind": "cpu", "rounds": 100},
            {"id": "nap", "kind": "sleep", "duration": "1ms"}]"#,
    );
    // Without --allow-shell the file is refused before anything runs, the shell job located.
    let out = dir.run(&["--ledger", "no-shell.jsonl", "k.json"]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "k.json:4:34: [3].kind: `shell` jobs run scripts with `sh -c`, which needs --allow-shell"
        ),
        "{stderr}"
    );
    assert!(!dir.join("no-shell.jsonl").exists(), "the ledger was opened: something ran");
    // `validate` checks the file, not the flags of a later run.
    assert_eq!(code(&dir.cmd(conveyor()).args(["validate", "k.json"]).output().expect("validate")), 0);

    let out = dir.run(&["--allow-shell", "--ledger", "shell.jsonl", "k.json"]);
    assert_eq!(code(&out), 1);
    let lines = by_id(&ledger(&dir.join("shell.jsonl")));
    assert_eq!(lines["echo"][0]["outcome"], "succeeded");
    assert_eq!(lines["echo"][0]["exit_code"], 0);
    assert_eq!(lines["echo"][0]["output_tail"], "hi\n");
    assert_eq!(lines["false"][0]["outcome"], "failed");
    assert_eq!(lines["false"][0]["exit_code"], 1);
    assert_eq!(lines["missing"][0]["outcome"], "failed");
    assert_eq!(lines["cpu"][0]["outcome"], "succeeded");
    assert!(lines["cpu"][0].get("exit_code").is_none(), "only exec and shell have exit_code");
    assert_eq!(lines["nap"][0]["outcome"], "succeeded");
    assert_eq!(lines["sh"][0]["outcome"], "failed");
    assert_eq!(lines["sh"][0]["exit_code"], 4);
    assert_eq!(lines["sh"][0]["output_tail"], "from-shell\n");
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn metrics_addr_serves_prometheus_histograms_while_the_run_lasts() {
    let dir = Dir::new();
    dir.write("m.jsonl", &jsonl(4, |i| json!({"id": format!("s{i}"), "kind": "sleep", "duration": "400ms"})));
    dir.write("first.jsonl", &jsonl(3, |i| json!({"id": format!("n{i}"), "kind": "noop"})));
    let mut child = dir.spawn(&["-w", "1", "--metrics-addr", "0", "first.jsonl", "m.jsonl"]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("conveyor: serving metrics on http://")
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected first stderr line: {line:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    // Wait (bounded) until the no-op jobs have finished, so that their histograms have samples.
    wait_until(Duration::from_secs(20), "noop run-time samples in /metrics", || {
        http_get(&addr, "/metrics").contains("conveyor_job_run_seconds_count{kind=\"noop\"}")
    });
    let response = http_get(&addr, "/metrics");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    for want in [
        "conveyor_jobs_submitted_total{kind=\"noop\"}",
        "conveyor_job_run_seconds_bucket{kind=\"noop\",le=\"0.001\"}",
        "conveyor_job_wait_seconds_bucket",
        "conveyor_workers 1",
    ] {
        assert!(response.contains(want), "{want} missing:\n{response}");
    }
    assert!(http_get(&addr, "/nope").starts_with("HTTP/1.1 404"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", describe(&out));
}

#[test]
fn pushgateway_gets_the_final_metrics_with_a_put() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 8192];
        // Read the head, then the body by Content-Length.
        loop {
            let n = stream.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length: usize = text[..head_end]
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if request.len() >= head_end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let dir = Dir::new();
    dir.write("p.jsonl", &jsonl(3, |i| json!({"id": format!("n{i}"), "kind": "noop"})));
    let url = format!("http://{addr}");
    let out = dir.run(&["--pushgateway", &url, "p.jsonl"]);
    assert_eq!(code(&out), 0);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", describe(&out));
    let request = gateway.join().unwrap();
    assert!(request.starts_with("PUT /metrics/job/conveyor HTTP/1.1\r\n"), "{request}");
    assert!(
        request.contains("conveyor_jobs_finished_total{kind=\"noop\",outcome=\"succeeded\"} 3"),
        "{request}"
    );
}

#[test]
fn a_closed_stdout_is_not_an_error_and_keeps_the_exit_code() {
    let dir = Dir::new();
    dir.write(
        "f.json",
        r#"[{"id": "slow", "kind": "sleep", "duration": "200ms"}, {"id": "bad", "kind": "fail"}]"#,
    );
    dir.write("bad.jsonl", "{\"kind\": \"nop\"}\n");
    let cases: &[(&[&str], i32)] = &[
        (&["run", "--progress", "never", "f.json"], 1),
        (&["validate", "--format", "json", "bad.jsonl"], 2),
        (&["schema"], 0),
    ];
    for (args, want) in cases {
        let mut child =
            dir.cmd(conveyor()).args(*args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // the reader goes away, like `| head -0`
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), *want, "{args:?}\n{}", describe(&out));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("Broken pipe"), "{}", describe(&out));
    }
}

#[test]
fn progress_always_logs_plain_lines_and_never_prints_nothing() {
    let dir = Dir::new();
    dir.write("p.jsonl", &jsonl(3, |i| json!({"id": format!("s{i}"), "kind": "sleep", "duration": "50ms"})));
    let out = dir.cmd(conveyor()).args(["run", "--progress", "always", "p.jsonl"]).output().unwrap();
    assert_eq!(code(&out), 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/3 "), "no progress lines: {stderr:?}");
    assert!(!stderr.contains('\u{1b}'), "escape codes with NO_COLOR on a non-terminal: {stderr:?}");
    let out = dir.run(&["p.jsonl"]);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
}

/// The queue commands take `--queue` from `$CONVEYOR_QUEUE_URL` when it is not given, and
/// `--help` names the variable without showing its value (it holds a password); with
/// neither, the usage error names the flag.
#[test]
fn the_queue_url_variable_is_named_in_help_but_its_value_never_shown() {
    let dir = Dir::new();
    for command in ["submit", "worker", "status", "ledger"] {
        let out = dir
            .cmd(conveyor())
            .args([command, "--help"])
            .env("CONVEYOR_QUEUE_URL", "postgres://u:hunter2@db.invalid/q")
            .output()
            .expect("spawn conveyor");
        assert_eq!(code(&out), 0);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("CONVEYOR_QUEUE_URL"), "{command} --help: {help}");
        assert!(!help.contains("hunter2"), "{command} --help shows the password: {help}");
    }
    let out = dir.cmd(conveyor()).args(["status"]).stdin(Stdio::null()).output().expect("spawn conveyor");
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--queue"), "{}", describe(&out));
}

/// Issue 18: text from a job file (here an unknown field's name, an unknown kind and the
/// file's own name, each with ESC and CR, and a flag's path) was echoed raw to the terminal
/// by `validate` and `run`, so a file could clear the screen or overwrite the line before it. Human output
/// escapes control characters; JSON output keeps the exact text (JSON escapes it).
#[test]
fn control_characters_in_input_are_escaped_in_human_errors() {
    let dir = Dir::new();
    let name = "evil\u{1b}[2J\r.json";
    dir.write(
        name,
        r#"[{"id": "a", "kind": "noop", "x\u001b[2J\ry": 1},
            {"id": "b", "kind": "no\u001b[31m\rop"}]"#,
    );
    let human = [
        dir.cmd(conveyor()).args(["validate", name]).output().expect("validate"),
        dir.run(&[name]),
        dir.cmd(conveyor()).args(["validate", "missing\u{1b}[2J\r.json"]).output().expect("validate"),
        // Not a job-file error: printed by `main`.
        dir.run(&["--ledger", "no/such\u{1b}[2J\r/l.jsonl", &dir.write("ok.jsonl", "").to_string_lossy()]),
    ];
    for out in &human {
        assert_eq!(code(out), 2, "{}", describe(out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let raw: Vec<u8> = out.stderr.iter().copied().filter(|&b| b < 0x20 && b != b'\n').collect();
        assert!(raw.is_empty(), "control bytes {raw:?} in {stderr:?}");
        assert!(stderr.contains(r"\u{1b}[2J\r"), "not escaped Rust-style: {stderr:?}");
    }
    let stderr = String::from_utf8_lossy(&human[0].stderr);
    assert!(stderr.contains(r"unknown field `x\u{1b}[2J\ry`"), "{stderr:?}");
    assert!(stderr.contains(r"`no\u{1b}[31m\rop`"), "the unknown kind: {stderr:?}");

    let out = dir.cmd(conveyor()).args(["validate", "--format", "json", name]).output().expect("validate");
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let errors: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON error"))
        .collect();
    assert!(errors.iter().all(|e| e["path"] == name), "{errors:?}");
    assert!(
        errors.iter().any(|e| e["message"].as_str().is_some_and(|m| m.contains("x\u{1b}[2J\ry"))),
        "the exact field name: {errors:?}"
    );
}

// `--output` (issue 21): process jobs' output on stdout, per job.

/// Two shell jobs that print three lines each with pauses between (their lines would
/// interleave if printed as they came), and one line on stderr each.
fn two_chatty_jobs(dir: &Dir) {
    dir.write(
        "chatty.jsonl",
        &jsonl(2, |i| {
            let id = ["a", "b"][i];
            let script =
                format!("echo {id}1; sleep 0.05; echo {id}2; echo {id}-err >&2; sleep 0.05; echo {id}3");
            json!({"id": id, "kind": "shell", "script": script})
        }),
    );
}

/// The lines of `stdout` but its last `summary_lines` (the JSON summary's one line).
fn job_lines(stdout: &[u8], summary_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(stdout).lines().map(str::to_owned).collect();
    lines.truncate(lines.len().saturating_sub(summary_lines));
    lines
}

#[test]
fn run_output_is_grouped_by_default_one_job_at_a_time() {
    let dir = Dir::new();
    two_chatty_jobs(&dir);
    let out = dir.run(&["--allow-shell", "-w", "2", "--format", "json", "chatty.jsonl"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(summary(&out)["succeeded"], 2);
    // Each job's lines are contiguous, however the two ran side by side.
    let lines = job_lines(&out.stdout, 1);
    let a = ["a1", "a2", "a3"].map(str::to_owned);
    let b = ["b1", "b2", "b3"].map(str::to_owned);
    assert!(lines == [a.clone(), b.clone()].concat() || lines == [b, a].concat(), "{}", describe(&out));
    // stderr goes to stderr, as GNU parallel does.
    let mut err: Vec<&str> = std::str::from_utf8(&out.stderr).unwrap().lines().collect();
    err.sort_unstable();
    assert_eq!(err, ["a-err", "b-err"], "{}", describe(&out));
    // `--output grouped` says the same.
    let explicit =
        dir.run(&["--allow-shell", "-w", "2", "--output", "grouped", "--format", "json", "chatty.jsonl"]);
    assert_eq!(job_lines(&explicit.stdout, 1).len(), 6, "{}", describe(&explicit));
}

#[test]
fn run_output_tagged_prefixes_each_line_with_the_job_id() {
    let dir = Dir::new();
    two_chatty_jobs(&dir);
    let out =
        dir.run(&["--allow-shell", "-w", "2", "--output", "tagged", "--format", "json", "chatty.jsonl"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let lines = job_lines(&out.stdout, 1);
    assert_eq!(lines.len(), 6, "{}", describe(&out));
    for id in ["a", "b"] {
        let mine: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix(&format!("{id}\t"))).collect();
        assert_eq!(mine, [format!("{id}1"), format!("{id}2"), format!("{id}3")], "{}", describe(&out));
    }
    let mut err: Vec<&str> = std::str::from_utf8(&out.stderr).unwrap().lines().collect();
    err.sort_unstable();
    assert_eq!(err, ["a\ta-err", "b\tb-err"], "{}", describe(&out));
}

#[test]
fn run_output_keeps_the_json_summary_the_last_line() {
    let dir = Dir::new();
    // No newline at the end of the output: the summary still gets a line of its own.
    dir.write(
        "p.json",
        r#"[{"id": "p", "kind": "shell", "script": "printf partial"},
            {"id": "e", "kind": "exec", "program": "echo", "args": ["whole"]}]"#,
    );
    for mode in ["grouped", "tagged"] {
        let out = dir.run(&["--allow-shell", "--output", mode, "--format", "json", "p.json"]);
        assert_eq!(code(&out), 0, "{}", describe(&out));
        assert_eq!(summary(&out)["jobs"], 2, "{mode}");
        let mut lines = job_lines(&out.stdout, 1);
        lines.sort();
        let want = if mode == "grouped" { ["partial", "whole"] } else { ["e\twhole", "p\tpartial"] };
        assert_eq!(lines, want, "{mode}: {}", describe(&out));
    }
}

#[test]
fn run_output_none_prints_no_job_output_and_keeps_the_ledger_tail() {
    let dir = Dir::new();
    two_chatty_jobs(&dir);
    let out = dir.run(&[
        "--allow-shell",
        "--output",
        "none",
        "--format",
        "json",
        "--ledger",
        "none.jsonl",
        "chatty.jsonl",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(job_lines(&out.stdout, 1), Vec::<String>::new(), "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    let out = dir.run(&["--allow-shell", "--format", "json", "--ledger", "grouped.jsonl", "chatty.jsonl"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    // The tail holds the same lines with output shown. Their order across stdout and
    // stderr may differ: `x2` and `x-err` are written a moment apart, and with output
    // shown the two streams come through two pipes, read side by side.
    let (none, grouped) =
        (by_id(&ledger(&dir.join("none.jsonl"))), by_id(&ledger(&dir.join("grouped.jsonl"))));
    let sorted = |tail: &Value| {
        let mut lines: Vec<String> = tail.as_str().unwrap().lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    for id in ["a", "b"] {
        assert_eq!(none[id][0]["output_tail"], format!("{id}1\n{id}2\n{id}-err\n{id}3\n"));
        assert!(grouped[id][0]["output_tail"].as_str().unwrap().ends_with('\n'));
        assert_eq!(sorted(&grouped[id][0]["output_tail"]), sorted(&none[id][0]["output_tail"]));
    }
}

#[test]
fn run_output_stays_whole_beside_the_progress_lines() {
    let dir = Dir::new();
    two_chatty_jobs(&dir);
    // `--progress always` on a pipe logs the bar as lines of its own; job output is written
    // with the bar held back, so no line mixes the two.
    let out = dir
        .cmd(conveyor())
        .args(["run", "--progress", "always", "--allow-shell", "chatty.jsonl"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let jobs: Vec<&str> = stderr.lines().filter(|l| l.contains("-err")).collect();
    assert_eq!(jobs.len(), 2, "{stderr}");
    assert!(jobs.iter().all(|l| *l == "a-err" || *l == "b-err"), "{stderr}");
}

/// Issue 21: `--progress always` on a pipe wrote ~7 lines a second (indicatif's redraws
/// replayed as lines) and its last line stopped short of the total. Now: at most one line a
/// second while jobs finish, and a last line with every job counted.
#[test]
fn progress_always_on_a_pipe_logs_about_one_line_a_second_and_ends_at_the_total() {
    let dir = Dir::new();
    dir.write("p.jsonl", &jsonl(40, |i| json!({"id": format!("s{i}"), "kind": "sleep", "duration": "60ms"})));
    let started = std::time::Instant::now();
    let out =
        dir.cmd(conveyor()).args(["run", "-w", "2", "--progress", "always", "p.jsonl"]).output().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(code(&out), 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(" jobs/s ETA ")).collect();
    // One a second at most, plus the last one.
    assert!(lines.len() as f64 <= elapsed.floor() + 1.0, "{} lines in {elapsed:.2}s:\n{stderr}", lines.len());
    let last = lines.last().unwrap_or_else(|| panic!("no progress lines: {stderr:?}"));
    assert!(last.contains(" 40/40 "), "{last}");
    assert!(last.contains("40 succeeded"), "{last}");
}

/// An RFC 3339 UTC timestamp → milliseconds since midnight (runs here last seconds).
fn day_millis(v: &Value) -> i64 {
    let s = v.as_str().unwrap();
    let h: i64 = s[11..13].parse().unwrap();
    let m: i64 = s[14..16].parse().unwrap();
    let sec: i64 = s[17..19].parse().unwrap();
    let ms: i64 = s.get(20..23).map_or(0, |f| f.parse().unwrap());
    ((h * 60 + m) * 60 + sec) * 1000 + ms
}

/// A job with a `concurrency_key` and a `rate_key` obeys the first key's concurrency limit and
/// the second key's rate limit at once; the `db` key's own rate limit does not apply to it.
#[test]
fn a_job_obeys_its_concurrency_keys_limit_and_its_rate_keys_rate() {
    let dir = Dir::new();
    let jobs: Vec<Value> = (0..6)
        .map(
            |i| json!({"id": format!("w{i}"), "kind": "sleep", "duration": "100ms", "concurrency_key": "db"}),
        )
        .collect();
    let file = json!({
        "limits": {"concurrency": {"db": 1}, "rate": {"api": "2/1s", "db": "1/1h"}},
        "defaults": {"rate_key": "api"},
        "jobs": jobs,
    });
    dir.write("two.json", &file.to_string());
    let out = dir.run(&["-w", "4", "--ledger", "l.jsonl", "two.json"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let spans: Vec<(i64, i64)> = ledger(&dir.join("l.jsonl"))
        .iter()
        .map(|l| (day_millis(&l["started_at"]), day_millis(&l["finished_at"])))
        .collect();
    assert_eq!(spans.len(), 6, "{spans:?}");
    // `db`: never two at once.
    for &(start, _) in &spans {
        let overlapping = spans.iter().filter(|&&(s, f)| s <= start && start < f).count();
        assert!(overlapping <= 1, "{overlapping} db jobs at once: {spans:?}");
    }
    // `api`, 2 per second as a token bucket (a burst of 2, then a token every 500 ms): the
    // i-th start comes at least (i - 1) * 500 ms after the first (timing noise only delays
    // starts; 20 ms allow for the clock's rounding). `db`'s 1/1h would stop the second job.
    let mut starts: Vec<i64> = spans.iter().map(|s| s.0).collect();
    starts.sort_unstable();
    for (i, &s) in starts.iter().enumerate().skip(2) {
        assert!(s - starts[0] >= (i as i64 - 1) * 500 - 20, "start {i} too early: {starts:?}");
    }
    // And a 1 s window never holds more than 3 starts (a full bucket's 2 and 1 refilled).
    for &a in &starts {
        let n = starts.iter().filter(|&&b| a <= b && b < a + 1000 - 20).count();
        assert!(n <= 3, "{n} starts within a second: {starts:?}");
    }
}

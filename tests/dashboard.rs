//! The Grafana dashboard in `dashboards/conveyor.json`: every panel query parses as PromQL,
//! and every metric it selects is present in a real scrape of `conveyor serve`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use conveyor_e2e::{Dir, code, conveyor, describe, finish, repo, signal};
use promql_parser::parser::{self, Expr};
use serde_json::Value;

/// How long any one wait may take before the test fails.
const LIMIT: Duration = Duration::from_secs(30);

/// The dashboard, parsed as JSON.
fn dashboard() -> Value {
    let path = repo().join("dashboards/conveyor.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// Every panel target's `expr` (panels nested in rows included), with its panel title.
fn exprs(dash: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?").to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((title.clone(), expr.to_owned()));
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// Replaces the Grafana variables with what Grafana would send Prometheus.
fn substitute(expr: &str) -> String {
    let mut s = expr.to_owned();
    for (var, value) in [
        ("${__rate_interval}", "1m"),
        ("$__rate_interval", "1m"),
        ("${__interval}", "1m"),
        ("$__interval", "1m"),
        ("${__range}", "1h"),
        ("$__range", "1h"),
        ("${instance}", ".*"),
        ("$instance", ".*"),
    ] {
        s = s.replace(var, value);
    }
    assert!(!s.contains('$'), "unsubstituted variable left in {s:?}");
    s
}

/// Parses every dashboard expression; panics naming the ones that do not parse.
fn parsed(dash: &Value) -> Vec<(String, String, Expr)> {
    let all = exprs(dash);
    assert!(!all.is_empty(), "the dashboard has no panel targets");
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for (title, expr) in all {
        let text = substitute(&expr);
        match parser::parse(&text) {
            Ok(ast) => good.push((title, expr, ast)),
            Err(e) => bad.push(format!("{title}: {text}: {e}")),
        }
    }
    assert!(bad.is_empty(), "expressions that do not parse:\n{}", bad.join("\n"));
    good
}

/// The metric names an expression selects.
fn selected(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::VectorSelector(vs) => {
            let name = vs.name.clone().expect("every selector names its metric");
            out.insert(name);
        }
        Expr::MatrixSelector(ms) => {
            let name = ms.vs.name.clone().expect("every selector names its metric");
            out.insert(name);
        }
        Expr::Aggregate(a) => {
            selected(&a.expr, out);
            if let Some(param) = &a.param {
                selected(param, out);
            }
        }
        Expr::Unary(u) => selected(&u.expr, out),
        Expr::Binary(b) => {
            selected(&b.lhs, out);
            selected(&b.rhs, out);
        }
        Expr::Paren(p) => selected(&p.expr, out),
        Expr::Subquery(s) => selected(&s.expr, out),
        Expr::Call(c) => {
            for arg in &c.args.args {
                selected(arg, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The metric names in a Prometheus text exposition.
fn scraped(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_dashboard_has_its_inputs_variables_and_panels() {
    let dash = dashboard();
    let inputs = dash["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS"
            && i["type"] == "datasource"
            && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS input: {inputs:?}"
    );
    let vars = dash["templating"]["list"].as_array().expect("templating.list");
    let var =
        |name: &str| vars.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no {name} variable"));
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let instance = var("instance");
    assert_eq!(instance["type"], "query");
    let query =
        instance["query"]["query"].as_str().or_else(|| instance["query"].as_str()).expect("instance query");
    assert_eq!(query, "label_values(conveyor_workers, instance)");

    let panels = dash["panels"].as_array().expect("panels");
    for panel in panels {
        let uid = panel["datasource"]["uid"].as_str().unwrap_or_default();
        assert!(
            matches!(uid, "${DS_PROMETHEUS}" | "${datasource}"),
            "{}: datasource {uid:?}",
            panel["title"]
        );
        assert!(matches!(panel["type"].as_str(), Some("timeseries" | "stat")), "{}", panel["title"]);
    }
    for (title, expr, _) in parsed(&dash) {
        assert!(expr.contains("instance=~\"$instance\""), "{title}: {expr} ignores $instance");
    }
}

#[test]
fn every_dashboard_query_parses_and_selects_metrics_a_real_scrape_has() {
    let dash = dashboard();
    let queries = parsed(&dash);
    let mut wanted = BTreeSet::new();
    for (_, _, ast) in &queries {
        selected(ast, &mut wanted);
    }
    for metric in [
        "conveyor_jobs_finished_total",
        "conveyor_job_wait_seconds_bucket",
        "conveyor_job_run_seconds_bucket",
        "conveyor_queue_depth",
        "conveyor_jobs_running",
        "conveyor_workers",
        "conveyor_job_retries_total",
    ] {
        assert!(wanted.contains(metric), "no panel selects {metric}: {wanted:?}");
    }

    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "2"]);
    let body = concat!(
        "{\"id\": \"nothing\", \"kind\": \"noop\"}\n",
        "{\"id\": \"doomed\", \"kind\": \"fail\", \"probability\": 1, \"message\": \"always\", ",
        "\"retry\": {\"max_attempts\": 2, \"backoff\": \"fixed\", \"initial\": \"10ms\"}}\n",
        "{\"id\": \"nap\", \"kind\": \"sleep\", \"duration\": \"50ms\"}\n",
    );
    let (status, text) = server.request("POST", "/jobs", body);
    assert_eq!(status, 202, "{text}");
    for (id, want) in [("nothing", "succeeded"), ("doomed", "failed"), ("nap", "succeeded")] {
        let v = server.wait_final(id);
        assert_eq!(v["status"], want, "{v}");
    }
    let (status, metrics) = server.request("GET", "/metrics", "");
    assert_eq!(status, 200, "{metrics}");
    let have = scraped(&metrics);
    let missing: Vec<_> = wanted.iter().filter(|m| !have.contains(*m)).collect();
    assert!(missing.is_empty(), "selected by the dashboard, absent from the scrape: {missing:?}\n{metrics}");

    let out = server.stop();
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

/// A running `conveyor serve`.
struct Server {
    child: Child,
    addr: String,
    stderr: JoinHandle<String>,
}

impl Server {
    /// Starts `conveyor serve --listen 127.0.0.1:0 ARGS...` in `dir` and reads the bound
    /// address from its first stderr line.
    fn start(dir: &Dir, args: &[&str]) -> Server {
        let mut child = dir
            .cmd(conveyor())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn conveyor serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("read stderr");
        let Some(bound) = line.trim().strip_prefix("conveyor: serving on http://") else {
            let _ = child.kill();
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            panic!("unexpected first stderr line: {line:?}{rest}");
        };
        let port = bound.rsplit(':').next().expect("port");
        let addr = format!("127.0.0.1:{port}");
        let stderr = std::thread::spawn(move || {
            let mut rest = line;
            let _ = stderr.read_to_string(&mut rest);
            rest
        });
        Server { child, addr, stderr }
    }

    /// One HTTP/1.1 exchange (`Connection: close`); returns the status and the body.
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let addr = &self.addr;
        let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(LIMIT)).expect("timeout");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(body.as_bytes()).expect("write body");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {answer:?}"));
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
        (status, body)
    }

    /// `GET /jobs/{id}` until its status is final.
    fn wait_final(&self, id: &str) -> Value {
        let start = Instant::now();
        loop {
            let (status, text) = self.request("GET", &format!("/jobs/{id}"), "");
            assert_eq!(status, 200, "{text}");
            let v: Value = serde_json::from_str(&text).expect("status JSON");
            if !matches!(v["status"].as_str(), Some("queued" | "scheduled" | "running" | "retrying")) {
                return v;
            }
            assert!(start.elapsed() < LIMIT, "{id} not final after {LIMIT:?}: {v}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit; stderr is in the output.
    fn stop(self) -> std::process::Output {
        signal(&self.child, "TERM");
        let mut out = finish(self.child, LIMIT);
        out.stderr = self.stderr.join().expect("stderr thread").into_bytes();
        out
    }
}

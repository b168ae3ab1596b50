//! The real servers that `tests/run.sh` starts for the tests (Prometheus, the Pushgateway,
//! PostgreSQL, and `promtool`), found through `CONVEYOR_TEST_*` variables, and helpers to
//! talk to them: scrape target registration, PromQL instant queries, Pushgateway reads, and
//! the Grafana dashboard's queries.
//!
//! A test that needs a server asks for it with, e.g., [`Prometheus::from_env`] and returns
//! early on `None`: without the variable, a plain `cargo test` on a machine without the
//! servers prints `skipped: VAR not set (run bash tests/run.sh)` and passes, unless
//! `CONVEYOR_TEST_SERVERS=required` (set by `tests/run.sh`), which turns a missing variable
//! into a failure.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::repo;

/// `required` makes a missing server variable fail the test instead of skipping it.
pub const SERVERS: &str = "CONVEYOR_TEST_SERVERS";
/// The Prometheus base URL, `http://127.0.0.1:PORT`.
pub const PROMETHEUS_URL: &str = "CONVEYOR_TEST_PROMETHEUS_URL";
/// The folder of Prometheus's `file_sd_configs` target files.
pub const PROMETHEUS_SD_DIR: &str = "CONVEYOR_TEST_PROMETHEUS_SD_DIR";
/// The Pushgateway base URL, `http://127.0.0.1:PORT`.
pub const PUSHGATEWAY_URL: &str = "CONVEYOR_TEST_PUSHGATEWAY_URL";
/// The path of `promtool`.
pub const PROMTOOL: &str = "CONVEYOR_TEST_PROMTOOL";
/// A PostgreSQL URL, `postgres://postgres@127.0.0.1:PORT/postgres`.
pub const DATABASE_URL: &str = "CONVEYOR_TEST_DATABASE_URL";

/// How long a wait on a real server may take before the test fails. Prometheus applies
/// target file changes at most every 5 s, then scrapes every second.
pub const SERVER_LIMIT: Duration = Duration::from_secs(60);

/// The value of the server variable `name`, or `None` after printing why the test is
/// skipped.
///
/// # Panics
///
/// If `name` is unset (or empty) and `CONVEYOR_TEST_SERVERS=required`.
pub fn var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            let required = std::env::var(SERVERS).is_ok_and(|v| v == "required");
            assert!(
                !required,
                "{name} is not set, and {SERVERS}=required: the servers come from bash tests/run.sh"
            );
            eprintln!("skipped: {name} not set (run bash tests/run.sh)");
            None
        }
    }
}

/// The path of `promtool`, or `None` (skip) when [`PROMTOOL`] is unset.
pub fn promtool() -> Option<PathBuf> {
    var(PROMTOOL).map(PathBuf::from)
}

/// The PostgreSQL URL, or `None` (skip) when [`DATABASE_URL`] is unset.
pub fn database_url() -> Option<String> {
    var(DATABASE_URL)
}

/// Polls `probe` every 100 ms until it returns `Some`, and returns that.
///
/// # Panics
///
/// If it has not within `limit`; the message shows `what` and the last `Err` of `probe`.
pub fn poll<T>(limit: Duration, what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) => {
                assert!(
                    start.elapsed() < limit,
                    "timed out after {limit:?} waiting for {what}; last: {last}"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A name no other test of this run uses: `PREFIX-PID-N`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The Prometheus of `tests/run.sh`.
#[derive(Debug, Clone)]
pub struct Prometheus {
    addr: String,
    sd_dir: PathBuf,
}

/// One element of an instant query's vector: labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels (`__name__` included when the query keeps it).
    pub labels: BTreeMap<String, String>,
    /// The value (`NaN` and infinities as Prometheus gives them).
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, `""` if absent.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

impl Prometheus {
    /// The Prometheus of [`PROMETHEUS_URL`] and [`PROMETHEUS_SD_DIR`], or `None` (skip).
    pub fn from_env() -> Option<Prometheus> {
        let url = var(PROMETHEUS_URL)?;
        let sd_dir = var(PROMETHEUS_SD_DIR)?;
        Some(Prometheus { addr: host_port(&url), sd_dir: PathBuf::from(sd_dir) })
    }

    /// Makes Prometheus scrape `addr` (`host:port`, serving `/metrics`) every second until the
    /// returned [`Target`] is dropped: writes a `file_sd_configs` file (atomically: a
    /// temporary file, then a rename), with a `test` label of `name`.
    pub fn register(&self, addr: &str, name: &str) -> Target {
        let file = unique("target");
        let path = self.sd_dir.join(format!("{file}.json"));
        let tmp = self.sd_dir.join(format!(".{file}.json.tmp"));
        let body = serde_json::json!([{"targets": [addr], "labels": {"test": name}}]);
        std::fs::write(&tmp, body.to_string()).unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("renaming to {}: {e}", path.display()));
        Target { path }
    }

    /// Runs an instant query (`/api/v1/query`, now) and returns its vector or scalar.
    ///
    /// # Errors
    ///
    /// Prometheus's error, or a result of another type.
    pub fn try_query(&self, promql: &str) -> Result<Vec<Sample>, String> {
        let body = format!("query={}", percent_encode(promql));
        let (status, text) = http(
            &self.addr,
            "POST",
            "/api/v1/query",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )?;
        let answer: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{promql}: HTTP {status}, not JSON ({e}): {text}"))?;
        if answer["status"] != "success" {
            return Err(format!("{promql}: HTTP {status}: {answer}"));
        }
        let data = &answer["data"];
        let parse_value = |pair: &Value| -> Result<f64, String> {
            let text = pair[1].as_str().ok_or_else(|| format!("{promql}: no value in {pair}"))?;
            // Prometheus writes NaN, +Inf and -Inf, which Rust parses as they are.
            text.parse().map_err(|e| format!("{promql}: value {text:?}: {e}"))
        };
        match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .ok_or_else(|| format!("{promql}: no result in {answer}"))?
                .iter()
                .map(|r| {
                    let labels = r["metric"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                                .collect()
                        })
                        .unwrap_or_default();
                    Ok(Sample { labels, value: parse_value(&r["value"])? })
                })
                .collect(),
            Some("scalar") => {
                Ok(vec![Sample { labels: BTreeMap::new(), value: parse_value(&data["result"])? }])
            }
            other => Err(format!("{promql}: result type {other:?}: {answer}")),
        }
    }

    /// [`Prometheus::try_query`], panicking on an error.
    pub fn query(&self, promql: &str) -> Vec<Sample> {
        self.try_query(promql).unwrap_or_else(|e| panic!("query failed: {e}"))
    }

    /// Polls `promql` until `accept` returns `Ok` for its result (within [`SERVER_LIMIT`]),
    /// and returns that result.
    ///
    /// # Panics
    ///
    /// On timeout, with the last result and `accept`'s reason.
    pub fn wait_for(
        &self,
        what: &str,
        promql: &str,
        mut accept: impl FnMut(&[Sample]) -> Result<(), String>,
    ) -> Vec<Sample> {
        poll(SERVER_LIMIT, what, || {
            let samples = self.try_query(promql)?;
            accept(&samples).map_err(|why| format!("{why}\n{promql} gave {samples:?}"))?;
            Ok(samples)
        })
    }
}

/// A scrape target registered with [`Prometheus::register`]; dropping it unregisters it.
#[derive(Debug)]
pub struct Target {
    path: PathBuf,
}

impl Target {
    /// The target file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The Pushgateway of `tests/run.sh`.
#[derive(Debug, Clone)]
pub struct Pushgateway {
    url: String,
}

impl Pushgateway {
    /// The Pushgateway of [`PUSHGATEWAY_URL`], or `None` (skip).
    pub fn from_env() -> Option<Pushgateway> {
        var(PUSHGATEWAY_URL).map(|url| Pushgateway { url: url.trim_end_matches('/').to_owned() })
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every group (`GET /api/v1/metrics`: each has `labels` and one entry per metric family).
    pub fn groups(&self) -> Vec<Value> {
        let (status, text) = http(&host_port(&self.url), "GET", "/api/v1/metrics", &[], b"")
            .unwrap_or_else(|e| panic!("GET {}/api/v1/metrics: {e}", self.url));
        assert_eq!(status, 200, "GET {}/api/v1/metrics: {text}", self.url);
        let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        assert_eq!(answer["status"], "success", "{answer}");
        answer["data"].as_array().cloned().unwrap_or_default()
    }

    /// The group whose grouping labels are exactly `labels` (e.g. `job`, `instance`).
    pub fn group(&self, labels: &[(&str, &str)]) -> Option<Value> {
        let want: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.groups().into_iter().find(|g| {
            let have: BTreeMap<String, String> = g["labels"]
                .as_object()
                .map(|m| {
                    m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect()
                })
                .unwrap_or_default();
            have == want
        })
    }

    /// The Pushgateway's own exposition (`GET /metrics`): every group's metrics.
    pub fn metrics(&self) -> String {
        let (status, text) = http(&host_port(&self.url), "GET", "/metrics", &[], b"")
            .unwrap_or_else(|e| panic!("GET {}/metrics: {e}", self.url));
        assert_eq!(status, 200, "GET {}/metrics: {text}", self.url);
        text
    }
}

/// The counter or gauge values of metric family `name` in a Pushgateway group (see
/// [`Pushgateway::groups`]): each series' labels (grouping labels included) and value.
pub fn group_values(group: &Value, name: &str) -> Vec<Sample> {
    group[name]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Sample {
            labels: m["labels"]
                .as_object()
                .map(|l| {
                    l.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect()
                })
                .unwrap_or_default(),
            value: m["value"].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
        })
        .collect()
}

/// The Grafana dashboard, `dashboards/conveyor.json`, parsed.
pub fn dashboard() -> Value {
    let path = repo().join("dashboards/conveyor.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// Every panel target's `expr` in `dash` (panels nested in rows included), with its panel
/// title.
pub fn dashboard_exprs(dash: &Value) -> Vec<(String, String)> {
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

/// Replaces the Grafana variables in a dashboard expression with what Grafana would send
/// Prometheus: 1m for the intervals, 1h for the range, `instance` for `$instance` (a regex,
/// inside a PromQL string).
///
/// # Panics
///
/// If a `$` is left.
pub fn substitute(expr: &str, instance: &str) -> String {
    let mut s = expr.to_owned();
    for (var, value) in [
        ("${__rate_interval}", "1m"),
        ("$__rate_interval", "1m"),
        ("${__interval}", "1m"),
        ("$__interval", "1m"),
        ("${__range}", "1h"),
        ("$__range", "1h"),
        ("${instance}", instance),
        ("$instance", instance),
    ] {
        s = s.replace(var, value);
    }
    assert!(!s.contains('$'), "unsubstituted variable left in {s:?}");
    s
}

/// A regex matching exactly `text`, written as the inside of a PromQL double-quoted string
/// (`127.0.0.1:80` → `127\\.0\\.0\\.1:80`).
pub fn promql_regex_literal(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// `host:port` of an `http://host:port[/...]` URL.
fn host_port(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("{url}: not an http:// URL"));
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// Percent-encodes everything but unreserved characters (for a form body or a query).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One HTTP/1.1 exchange (`Connection: close`, chunked answers decoded): the status and the
/// body.
///
/// # Errors
///
/// If the server cannot be reached or the answer is not HTTP.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| format!("{addr}: {e}"))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(|e| format!("{addr}: {e}"))?;
    // A server that refuses a large body may answer and close before reading it all.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| format!("reading from {addr}: {e}"))?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| {
        format!("{method} {addr}{path}: no end of head in {:?}", String::from_utf8_lossy(&answer))
    })?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let payload = &answer[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {addr}{path}: no status in {head:?}"))?;
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let payload = if chunked { dechunk(payload)? } else { payload.to_vec() };
    Ok((status, String::from_utf8_lossy(&payload).into_owned()))
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end =
            data.windows(2).position(|w| w == b"\r\n").ok_or("chunked body: no chunk size line")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|e| format!("chunk size {size_text:?}: {e}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("chunked body: truncated chunk")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("chunked body: no CRLF after a chunk")?;
    }
}

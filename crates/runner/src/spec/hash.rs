//! `spec_hash`: a stable fingerprint of a job's normalised spec, for the ledger and
//! `--resume`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::duration::format_duration;
use super::job::{JobKind, JobSpec, RetrySpec, Schedule, StartAt};

/// Version of the canonical form; bumped if what the hash covers ever changes.
const CANONICAL_VERSION: u64 = 1;

/// The SHA-256 (64 lowercase hex digits) of a job's canonical JSON.
///
/// Equal for equal jobs however they are written, and different as soon as anything the job
/// does changes, so `--resume` reruns an edited job and nothing else.
///
/// **What it covers** — the job as resolved, after the file's `defaults` are applied: the `id`
/// when the file gives one (generated ids are made *from* the hash, so they are left out), the
/// `name`, the `kind` and all its parameters (defaults such as `method: "GET"` or empty `args`
/// filled in; header names lower-cased), `priority` (0 when absent), `timeout`, each set part
/// of `retry`, `delay` or `not_before`, `concurrency_key`, `rate_key` (only when set, so jobs
/// without one keep their earlier hashes), `every` or `cron`, and a version number of the
/// canonical form.
///
/// **What it ignores** — key order, whitespace, the order of jobs and files, how a value is
/// spelt (`"90s"` and `"1m30s"`; `"+02:00"` and `"Z"` for the same instant), the file's
/// name and the job's position, the file's `limits` (how fast jobs may run, not what they do)
/// and the runner's flags (`--timeout` and `--max-attempts` apply to jobs that set none, and
/// do not change their hash).
///
/// **Canonical form** — a JSON object without whitespace, keys sorted by their UTF-8 bytes at
/// every level, absent optional fields left out, durations in [`format_duration`]'s form,
/// instants as RFC 3339 UTC (`2025-06-01T12:00:00Z`, fraction only when non-zero). It is what
/// [`JobSpec::canonical_json`] returns, so the hash can be checked with `sha256sum`.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, spec_hash, ParseOptions};
///
/// let opts = ParseOptions::default();
/// let a = parse_str("a.jsonl", r#"{"kind": "sleep", "duration": "90s", "priority": 0}"#, &opts)
///     .unwrap();
/// let b = parse_str("b.jsonl", r#"{"duration": "1m30s", "kind": "sleep"}"#, &opts).unwrap();
/// assert_eq!(a.jobs[0].spec_hash, b.jobs[0].spec_hash);
/// assert_eq!(spec_hash(&a.jobs[0]), a.jobs[0].spec_hash);
///
/// let c = parse_str("c.jsonl", r#"{"kind": "sleep", "duration": "91s"}"#, &opts).unwrap();
/// assert_ne!(a.jobs[0].spec_hash, c.jobs[0].spec_hash);
/// ```
pub fn spec_hash(job: &JobSpec) -> SpecHash {
    CANONICAL.with(|buf| {
        // A job's canonical form is built in this thread's buffer, reused from job to job:
        // the hash is on every job's path, and costs no allocation at all.
        let mut buf = buf.borrow_mut();
        buf.clear();
        write_canonical_job(job, !job.id_generated, &mut buf);
        let digest = Sha256::digest(buf.as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(digest.iter()) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        SpecHash(hex)
    })
}

/// A [`spec_hash`]: 64 lowercase hex digits, kept inline (no allocation, nothing for
/// another thread to free), read as a `str`. The default, for a spec not hashed yet, reads
/// as the empty string.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, ParseOptions, SpecHash};
///
/// let batch = parse_str("a.jsonl", r#"{"kind": "noop", "id": "n"}"#, &ParseOptions::default())
///     .unwrap();
/// let hash: &SpecHash = &batch.jobs[0].spec_hash;
/// assert_eq!(hash.len(), 64);
/// assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
/// assert_eq!(hash.to_string(), hash.as_str());
/// assert_eq!(SpecHash::default().as_str(), "");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SpecHash([u8; 64]);

impl SpecHash {
    /// The hex digits (empty when not hashed yet).
    pub fn as_str(&self) -> &str {
        if self.0[0] == 0 {
            return "";
        }
        // ASCII hex by construction (`spec_hash` is the only writer).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for SpecHash {
    fn default() -> SpecHash {
        SpecHash([0; 64])
    }
}

impl std::ops::Deref for SpecHash {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for SpecHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for SpecHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

thread_local! {
    static CANONICAL: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(256));
}

/// The canonical JSON of `job` (see [`spec_hash`]); the id only when `with_id`.
pub(crate) fn canonical_json(job: &JobSpec, with_id: bool) -> String {
    let mut out = String::with_capacity(128);
    write_canonical_job(job, with_id, &mut out);
    out
}

/// Writes the canonical JSON of `job` straight into `out`: no intermediate
/// `serde_json::Value`, no sorting. The members are written in the canonical order (key
/// bytes ascending) by construction: `args`, `body`, `concurrency_key`, `cron`, `cwd`,
/// `delay`, `duration`, `env`, `every`, `expect_status`, `headers`, `id`, `kind`, `message`,
/// `method`, `name`, `not_before`, `priority`, `probability`, `program`, `rate_key`, `retry`, `rounds`,
/// `script`, `timeout`, `url`, `v` (a test checks the list is sorted, and a proptest checks
/// the bytes against the `Value`-based writer).
fn write_canonical_job(job: &JobSpec, with_id: bool, out: &mut String) {
    // The kind's parameters, each where the canonical order puts it.
    let (mut args, mut body, mut cwd, mut duration, mut env) = (None, None, None, None, None);
    let (mut expect_status, mut headers, mut message, mut method) = (None, None, None, None);
    let (mut probability, mut program, mut rounds, mut script, mut url) = (None, None, None, None, None);
    match &job.kind {
        JobKind::Sleep { duration: d } => duration = Some(*d),
        JobKind::Exec { program: p, args: a, env: e, cwd: c } => {
            program = Some(p.as_str());
            args = Some(a.as_slice());
            env = Some(e);
            cwd = c.as_ref();
        }
        JobKind::Shell { script: s } => script = Some(s.as_str()),
        JobKind::Http { method: m, url: u, headers: h, body: b, expect_status: e } => {
            method = Some(m.as_str());
            url = Some(u.as_str());
            headers = Some(h);
            body = b.as_deref();
            expect_status = *e;
        }
        JobKind::Cpu { rounds: r } => rounds = Some(*r),
        JobKind::Noop => {}
        JobKind::Fail { probability: p, message: m } => {
            probability = Some(*p);
            message = m.as_deref();
        }
    }
    let (delay, not_before) = match job.start {
        Some(StartAt::Delay(d)) => (Some(d), None),
        Some(StartAt::NotBefore(t)) => (None, Some(t)),
        None => (None, None),
    };
    let (every, cron) = match &job.schedule {
        Some(Schedule::Every(d)) => (Some(*d), None),
        Some(Schedule::Cron(c)) => (None, Some(c.as_str())),
        None => (None, None),
    };

    let mut w = Members::new(out);
    if let Some(args) = args {
        w.key("args");
        list(args, w.out);
    }
    if let Some(body) = body {
        w.key("body");
        write_string(body, w.out);
    }
    if let Some(key) = &job.concurrency_key {
        w.key("concurrency_key");
        write_string(key, w.out);
    }
    if let Some(cron) = cron {
        w.key("cron");
        write_string(cron, w.out);
    }
    if let Some(cwd) = cwd {
        w.key("cwd");
        write_string(&cwd.to_string_lossy(), w.out);
    }
    if let Some(d) = delay {
        w.key("delay");
        write_string(&format_duration(d), w.out);
    }
    if let Some(d) = duration {
        w.key("duration");
        write_string(&format_duration(d), w.out);
    }
    if let Some(env) = env {
        w.key("env");
        map(env, w.out);
    }
    if let Some(d) = every {
        w.key("every");
        write_string(&format_duration(d), w.out);
    }
    if let Some(status) = expect_status {
        w.key("expect_status");
        w.out.push_str(itoa::Buffer::new().format(status));
    }
    if let Some(headers) = headers {
        w.key("headers");
        map(headers, w.out);
    }
    if with_id {
        w.key("id");
        write_string(&job.id, w.out);
    }
    w.key("kind");
    write_string(job.kind.name(), w.out);
    if let Some(message) = message {
        w.key("message");
        write_string(message, w.out);
    }
    if let Some(method) = method {
        w.key("method");
        write_string(method, w.out);
    }
    if let Some(name) = &job.name {
        w.key("name");
        write_string(name, w.out);
    }
    if let Some(t) = not_before {
        w.key("not_before");
        let t: DateTime<Utc> = t.into();
        write_string(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true), w.out);
    }
    w.key("priority");
    w.out.push_str(itoa::Buffer::new().format(job.priority));
    if let Some(p) = probability {
        w.key("probability");
        // As serde_json writes a number made from an f64 (`null` if not finite).
        w.out.push_str(&Value::from(p).to_string());
    }
    if let Some(program) = program {
        w.key("program");
        write_string(program, w.out);
    }
    if let Some(key) = &job.rate_key {
        w.key("rate_key");
        write_string(key, w.out);
    }
    if !job.retry.is_empty() {
        w.key("retry");
        retry(&job.retry, w.out);
    }
    if let Some(rounds) = rounds {
        w.key("rounds");
        w.out.push_str(itoa::Buffer::new().format(rounds));
    }
    if let Some(script) = script {
        w.key("script");
        write_string(script, w.out);
    }
    if let Some(t) = job.timeout {
        w.key("timeout");
        write_string(&format_duration(t), w.out);
    }
    if let Some(url) = url {
        w.key("url");
        write_string(url, w.out);
    }
    w.key("v");
    w.out.push_str(itoa::Buffer::new().format(CANONICAL_VERSION));
    w.out.push('}');
}

/// The canonical keys in the order [`write_canonical_job`] writes them.
#[cfg(test)]
const KEY_ORDER: &[&str] = &[
    "args",
    "body",
    "concurrency_key",
    "cron",
    "cwd",
    "delay",
    "duration",
    "env",
    "every",
    "expect_status",
    "headers",
    "id",
    "kind",
    "message",
    "method",
    "name",
    "not_before",
    "priority",
    "probability",
    "program",
    "rate_key",
    "retry",
    "rounds",
    "script",
    "timeout",
    "url",
    "v",
];

/// Writes an object's `{`, then `,` between members.
struct Members<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> Members<'o> {
    fn new(out: &'o mut String) -> Self {
        out.push('{');
        Members { out, first: true }
    }

    /// `"key":` (canonical keys need no escaping), after a comma unless it is the first.
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }
}

fn list(items: &[String], out: &mut String) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(s, out);
    }
    out.push(']');
}

/// A `BTreeMap<String, _>` iterates in key byte order: the canonical order.
fn map(map: &BTreeMap<String, String>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_string(v, out);
    }
    out.push('}');
}

/// `retry`'s set parts, keys in byte order: backoff, initial, jitter, max, max_attempts.
fn retry(r: &RetrySpec, out: &mut String) {
    let mut w = Members::new(out);
    if let Some(b) = r.backoff {
        w.key("backoff");
        write_string(b.as_str(), w.out);
    }
    if let Some(d) = r.initial {
        w.key("initial");
        write_string(&format_duration(d), w.out);
    }
    if let Some(j) = r.jitter {
        w.key("jitter");
        w.out.push_str(if j { "true" } else { "false" });
    }
    if let Some(d) = r.max {
        w.key("max");
        write_string(&format_duration(d), w.out);
    }
    if let Some(n) = r.max_attempts {
        w.key("max_attempts");
        w.out.push_str(itoa::Buffer::new().format(n));
    }
    w.out.push('}');
}

/// Writes `s` as a JSON string, escaped exactly as serde_json does.
fn write_string(s: &str, out: &mut String) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&Value::from(s).to_string());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::time::{Duration, UNIX_EPOCH};

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::*;
    use crate::spec::{Backoff, Origin, ParseOptions, parse_str};

    /// The canonical form as first written (through `serde_json::Value`): the reference the
    /// direct writer must match byte for byte, or every ledger's `--resume` would break.
    fn reference_canonical(job: &JobSpec, with_id: bool) -> String {
        let mut m = Map::new();
        m.insert("v".into(), CANONICAL_VERSION.into());
        if with_id {
            m.insert("id".into(), (*job.id).into());
        }
        if let Some(name) = &job.name {
            m.insert("name".into(), name.clone().into());
        }
        m.insert("kind".into(), job.kind.name().into());
        m.insert("priority".into(), job.priority.into());
        if let Some(timeout) = job.timeout {
            m.insert("timeout".into(), format_duration(timeout).into());
        }
        if !job.retry.is_empty() {
            let r = &job.retry;
            let mut retry = Map::new();
            if let Some(n) = r.max_attempts {
                retry.insert("max_attempts".into(), n.into());
            }
            if let Some(b) = r.backoff {
                retry.insert("backoff".into(), b.as_str().into());
            }
            if let Some(d) = r.initial {
                retry.insert("initial".into(), format_duration(d).into());
            }
            if let Some(d) = r.max {
                retry.insert("max".into(), format_duration(d).into());
            }
            if let Some(j) = r.jitter {
                retry.insert("jitter".into(), j.into());
            }
            m.insert("retry".into(), Value::Object(retry));
        }
        match job.start {
            Some(StartAt::Delay(d)) => {
                m.insert("delay".into(), format_duration(d).into());
            }
            Some(StartAt::NotBefore(t)) => {
                let t: DateTime<Utc> = t.into();
                m.insert("not_before".into(), t.to_rfc3339_opts(SecondsFormat::AutoSi, true).into());
            }
            None => {}
        }
        if let Some(key) = &job.concurrency_key {
            m.insert("concurrency_key".into(), key.clone().into());
        }
        if let Some(key) = &job.rate_key {
            m.insert("rate_key".into(), key.clone().into());
        }
        match &job.schedule {
            Some(Schedule::Every(d)) => {
                m.insert("every".into(), format_duration(*d).into());
            }
            Some(Schedule::Cron(c)) => {
                m.insert("cron".into(), c.clone().into());
            }
            None => {}
        }
        let params = match &job.kind {
            JobKind::Sleep { duration } => json!({"duration": format_duration(*duration)}),
            JobKind::Exec { program, args, env, cwd } => {
                let mut p = json!({"program": program, "args": args, "env": env});
                if let (Some(cwd), Value::Object(p)) = (cwd, &mut p) {
                    p.insert("cwd".into(), cwd.to_string_lossy().into_owned().into());
                }
                p
            }
            JobKind::Shell { script } => json!({"script": script}),
            JobKind::Http { method, url, headers, body, expect_status } => {
                let mut p = json!({"method": method, "url": url, "headers": headers});
                if let Value::Object(p) = &mut p {
                    if let Some(body) = body {
                        p.insert("body".into(), body.clone().into());
                    }
                    if let Some(status) = expect_status {
                        p.insert("expect_status".into(), (*status).into());
                    }
                }
                p
            }
            JobKind::Cpu { rounds } => json!({"rounds": rounds}),
            JobKind::Noop => json!({}),
            JobKind::Fail { probability, message } => {
                let mut p = json!({"probability": probability});
                if let (Some(message), Value::Object(p)) = (message, &mut p) {
                    p.insert("message".into(), message.clone().into());
                }
                p
            }
        };
        if let Value::Object(params) = params {
            m.extend(params);
        }
        let mut out = String::new();
        reference_write(&Value::Object(m), &mut out);
        out
    }

    fn reference_write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.push('{');
                for (i, (key, value)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::from(key.as_str()).to_string());
                    out.push(':');
                    reference_write(value, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    reference_write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    fn text() -> impl Strategy<Value = String> {
        // Plain text, and text that needs escaping (quotes, backslashes, control characters,
        // non-ASCII).
        prop_oneof![
            "[a-z0-9_.-]{0,12}",
            proptest::collection::vec(
                prop_oneof![
                    Just('"'),
                    Just('\\'),
                    Just('\n'),
                    Just('\u{1}'),
                    Just('\u{7f}'),
                    Just('é'),
                    Just('x')
                ],
                0..6
            )
            .prop_map(|c| c.into_iter().collect()),
        ]
    }

    fn duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            (0u64..100_000).prop_map(Duration::from_millis),
            (0u64..10_000_000_000).prop_map(Duration::from_nanos),
        ]
    }

    fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map(text(), text(), 0..4)
    }

    fn kind() -> impl Strategy<Value = JobKind> {
        prop_oneof![
            duration().prop_map(|duration| JobKind::Sleep { duration }),
            (text(), proptest::collection::vec(text(), 0..4), map(), proptest::option::of(text())).prop_map(
                |(program, args, env, cwd)| JobKind::Exec { program, args, env, cwd: cwd.map(Into::into) }
            ),
            text().prop_map(|script| JobKind::Shell { script }),
            (text(), text(), map(), proptest::option::of(text()), proptest::option::of(100u16..600))
                .prop_map(|(method, url, headers, body, expect_status)| JobKind::Http {
                    method,
                    url,
                    headers,
                    body,
                    expect_status
                }),
            any::<u64>().prop_map(|rounds| JobKind::Cpu { rounds }),
            Just(JobKind::Noop),
            (0.0f64..=1.0, proptest::option::of(text()))
                .prop_map(|(probability, message)| JobKind::Fail { probability, message }),
        ]
    }

    prop_compose! {
        fn job()(
            id in text(),
            id_generated in any::<bool>(),
            name in proptest::option::of(text()),
            priority in any::<i32>(),
            timeout in proptest::option::of(duration()),
            retry in (
                proptest::option::of(1u32..10),
                proptest::option::of(prop_oneof![Just(Backoff::Fixed), Just(Backoff::Exponential)]),
                proptest::option::of(duration()),
                proptest::option::of(duration()),
                proptest::option::of(any::<bool>()),
            ),
            start in proptest::option::of(prop_oneof![
                duration().prop_map(StartAt::Delay),
                (0u64..4_000_000_000_000, 0u32..1_000_000_000)
                    .prop_map(|(s, n)| StartAt::NotBefore(UNIX_EPOCH + Duration::new(s / 1000, n))),
            ]),
            concurrency_key in proptest::option::of(text()),
            rate_key in proptest::option::of(text()),
            schedule in proptest::option::of(prop_oneof![
                duration().prop_map(Schedule::Every),
                text().prop_map(Schedule::Cron),
            ]),
            kind in kind(),
        ) -> JobSpec {
            JobSpec {
                id: id.into(),
                id_generated,
                name,
                priority,
                timeout,
                retry: RetrySpec {
                    max_attempts: retry.0,
                    backoff: retry.1,
                    initial: retry.2,
                    max: retry.3,
                    jitter: retry.4,
                },
                start,
                concurrency_key,
                rate_key,
                queue: None,
                schedule,
                kind,
                spec_hash: SpecHash::default(),
                origin: Origin { path: Path::new("p.jsonl").into(), line: 1, column: 1 },
            }
        }
    }

    #[test]
    fn keys_are_written_in_byte_order() {
        let mut sorted = KEY_ORDER.to_vec();
        sorted.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(sorted, KEY_ORDER);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The direct writer is byte for byte the `serde_json::Value` form, so hashes (and
        /// generated ids) in existing ledgers stay valid.
        #[test]
        fn canonical_form_is_unchanged(job in job(), with_id in any::<bool>()) {
            prop_assert_eq!(canonical_json(&job, with_id), reference_canonical(&job, with_id));
            let hex = spec_hash(&job);
            let want = Sha256::digest(reference_canonical(&job, !job.id_generated).as_bytes());
            let want: String = want.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(&*hex, want.as_str());
        }
    }

    #[test]
    fn canonical_form_of_a_corpus_is_pinned() {
        // Hashes computed by the first (serde_json::Value) implementation; see
        // `canonical_form_is_unchanged` for the property over random jobs.
        let text = concat!(
            r#"{"id": "n", "kind": "noop"}"#,
            "\n",
            r#"{"id": "s", "kind": "sleep", "duration": "90s", "name": "nap", "priority": -3}"#,
            "\n",
            r#"{"id": "e", "kind": "exec", "program": "ls", "args": ["-l", "a\"b"], "env": {"B": "2", "A": "\u0001"}, "cwd": "/tmp"}"#,
            "\n",
            r#"{"id": "h", "kind": "http", "url": "http://example.com/x", "headers": {"X-A": "1"}, "body": "{}", "expect_status": 204}"#,
            "\n",
            r#"{"id": "f", "kind": "fail", "probability": 0.25, "message": "boom", "retry": {"max_attempts": 3, "backoff": "fixed", "initial": "1s", "max": "1m", "jitter": true}}"#,
            "\n",
            r#"{"id": "c", "kind": "cpu", "rounds": 7, "timeout": "1m30s", "delay": "5s", "concurrency_key": "db"}"#,
            "\n",
            r#"{"id": "t", "kind": "shell", "script": "echo hi", "not_before": "2030-01-01T02:00:00.5+02:00"}"#,
            "\n",
            r#"{"kind": "noop"}"#,
            "\n",
        );
        let batch = parse_str("corpus.jsonl", text, &ParseOptions::default()).unwrap();
        for job in &batch.jobs {
            assert_eq!(job.canonical_json(), reference_canonical(job, !job.id_generated), "{}", job.id);
        }
        let got: Vec<(&str, &str)> = batch.jobs.iter().map(|j| (&*j.id, &*j.spec_hash)).collect();
        assert_eq!(got, PINNED);
    }

    /// `n`, `s`, `e`, `f`, `c` and the generated id were checked against the ledger lines of
    /// the binary before the direct writer (commit 72f7518); `n` and `s` also with
    /// `printf '%s' CANONICAL | sha256sum`.
    const PINNED: [(&str, &str); 8] = [
        ("n", "77df4aa715777f22f9cc1b969b26af487691ef504523e8575b27ccd92d8a207c"),
        ("s", "5e4469f60e7ea2a74f883108ddb825356e343b02e0c6be50620bb320686bc88b"),
        ("e", "23a1f41c450e700c872cddfbf26a05383ffab45254b5ca00d9d160707c75e2ad"),
        ("h", "3181ac04e2b4f55821ac2eb3bb718328b87127887a3541e34b59b46989e391e6"),
        ("f", "6beca0f3123511a286d839edc656202fc4812e10e586ca4b78fbe3da8f5e8f9a"),
        ("c", "98ca44917afdd40900bb91bd66c5866a50e8cee58c81a6f492b8effb2b29c797"),
        ("t", "5d169d7df29a6bdb951bcb386c77b4194cc00c4644599553a2a5c5399ad52495"),
        ("corpus-eefbf16961d6", "eefbf16961d68ab44b838702c26d205e8d5cc88475729835bb892871c6c4fef2"),
    ];

    fn hashes(name: &str, text: &str) -> Vec<(String, String)> {
        parse_str(name, text, &ParseOptions::default())
            .unwrap()
            .jobs
            .into_iter()
            .map(|j| (j.id.to_string(), j.spec_hash.to_string()))
            .collect()
    }

    #[test]
    fn key_order_and_spelling_do_not_matter() {
        let a = hashes(
            "a.json",
            r#"[{"id": "x", "kind": "exec", "program": "ls", "env": {"A": "1", "B": "2"},
                 "retry": {"initial": "1s", "max_attempts": 3}, "timeout": "90s",
                 "not_before": "2030-01-01T02:00:00+02:00"}]"#,
        );
        let b = hashes(
            "b.json",
            r#"{"jobs": [{"not_before": "2030-01-01T00:00:00Z", "timeout": "1m30s",
                 "retry": {"max_attempts": 3, "initial": "1000ms"},
                 "env": {"B": "2", "A": "1"}, "args": [], "program": "ls", "kind": "exec",
                 "priority": 0, "id": "x"}]}"#,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn job_order_does_not_matter_and_edits_do() {
        let a = hashes(
            "f.jsonl",
            "{\"kind\": \"sleep\", \"duration\": \"1s\"}\n{\"kind\": \"cpu\", \"rounds\": 9}\n",
        );
        let mut b = hashes(
            "f.jsonl",
            "{\"rounds\": 9, \"kind\": \"cpu\"}\n{\"duration\": \"1s\", \"kind\": \"sleep\"}\n",
        );
        b.reverse();
        assert_eq!(a, b, "same ids and hashes after reordering");
        let c = hashes("f.jsonl", "{\"kind\": \"cpu\", \"rounds\": 10}\n");
        assert_ne!(a[1].1, c[0].1);
    }

    #[test]
    fn rate_key_parses_from_jobs_and_defaults_and_counts_in_the_hash_only_when_set() {
        let text = r#"{"defaults": {"rate_key": "api"}, "jobs": [
            {"id": "a", "kind": "noop", "concurrency_key": "db"},
            {"id": "b", "kind": "noop", "concurrency_key": "db", "rate_key": "mail"}]}"#;
        let batch = parse_str("r.json", text, &ParseOptions::default()).unwrap();
        assert_eq!(batch.jobs[0].rate_key.as_deref(), Some("api"));
        assert_eq!(batch.jobs[0].concurrency_key.as_deref(), Some("db"));
        assert_eq!(batch.jobs[1].rate_key.as_deref(), Some("mail"));
        assert_eq!(
            batch.jobs[0].canonical_json(),
            r#"{"concurrency_key":"db","id":"a","kind":"noop","priority":0,"rate_key":"api","v":1}"#
        );
        // Without a rate key the hash is the one pinned before rate keys existed.
        let without = hashes("i.jsonl", r#"{"kind": "noop", "id": "a"}"#);
        assert_eq!(without[0].1, "04bebcdc43913a8e8dd301a3f819bb4394d222b3cef69ef254f93249bc12f636");
        let with = hashes("i.jsonl", r#"{"kind": "noop", "id": "a", "rate_key": "api"}"#);
        let other = hashes("i.jsonl", r#"{"kind": "noop", "id": "a", "rate_key": "mail"}"#);
        assert_ne!(with, without);
        assert_ne!(with, other);
    }

    #[test]
    fn a_wrong_rate_key_is_an_error_at_its_position() {
        for (text, what) in [
            ("[{\"kind\": \"noop\",\n  \"rate_key\": 5}]", "string"),
            ("[{\"kind\": \"noop\",\n  \"rate_key\": \"\"}]", "empty"),
        ] {
            let errors = parse_str("w.json", text, &ParseOptions::default()).unwrap_err();
            let e = &errors[0];
            assert_eq!((e.line, e.field.as_deref()), (2, Some("[0].rate_key")), "{e}");
            assert!(e.column > 0, "{e}");
            assert!(e.to_string().contains(what), "{e}");
        }
        let errors =
            parse_str("w.jsonl", "{\"kind\": \"noop\", \"rate_ky\": \"api\"}", &ParseOptions::default())
                .unwrap_err();
        assert!(errors[0].to_string().contains("rate_key"), "did you mean: {}", errors[0]);
    }

    #[test]
    fn defaults_are_part_of_the_hash() {
        let with =
            hashes("d.json", r#"{"defaults": {"timeout": "5s"}, "jobs": [{"kind": "noop", "id": "n"}]}"#);
        let inline = hashes("d.json", r#"[{"kind": "noop", "id": "n", "timeout": "5s"}]"#);
        let without = hashes("d.json", r#"[{"kind": "noop", "id": "n"}]"#);
        assert_eq!(with, inline);
        assert_ne!(with, without);
    }

    #[test]
    fn explicit_ids_count_and_the_hash_is_sha256_of_the_canonical_json() {
        let a = hashes("i.jsonl", r#"{"kind": "noop", "id": "a"}"#);
        let b = hashes("i.jsonl", r#"{"kind": "noop", "id": "b"}"#);
        assert_ne!(a[0].1, b[0].1);
        // Pinned: changing the canonical form invalidates every ledger's `--resume`. The value is
        // `printf '%s' '{"id":"a","kind":"noop","priority":0,"v":1}' | sha256sum`.
        let batch = parse_str("i.jsonl", r#"{"kind": "noop", "id": "a"}"#, &ParseOptions::default()).unwrap();
        assert_eq!(batch.jobs[0].canonical_json(), r#"{"id":"a","kind":"noop","priority":0,"v":1}"#);
        assert_eq!(a[0].1, "04bebcdc43913a8e8dd301a3f819bb4394d222b3cef69ef254f93249bc12f636");
    }
}

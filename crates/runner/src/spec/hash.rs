//! `spec_hash`: a stable fingerprint of a job's normalised spec, for the ledger and
//! `--resume`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::duration::format_duration;
use super::job::{JobKind, JobSpec, Schedule, StartAt};

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
/// of `retry`, `delay` or `not_before`, `concurrency_key`, `every` or `cron`, and a version
/// number of the canonical form.
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
pub fn spec_hash(job: &JobSpec) -> String {
    let canonical = canonical_json(job, !job.id_generated);
    let digest = Sha256::digest(canonical.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

/// The canonical JSON of `job` (see [`spec_hash`]); the id only when `with_id`.
pub(crate) fn canonical_json(job: &JobSpec, with_id: bool) -> String {
    let mut out = String::with_capacity(128);
    write_canonical(&canonical_value(job, with_id), &mut out);
    out
}

fn canonical_value(job: &JobSpec, with_id: bool) -> Value {
    let mut m = Map::new();
    m.insert("v".into(), CANONICAL_VERSION.into());
    if with_id {
        m.insert("id".into(), job.id.clone().into());
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
    Value::Object(m)
}

/// Writes `value` with object keys sorted (whatever map type serde_json was built with).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        other => out.push_str(&other.to_string()),
    }
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
    use crate::spec::{ParseOptions, parse_str};

    fn hashes(name: &str, text: &str) -> Vec<(String, String)> {
        parse_str(name, text, &ParseOptions::default())
            .unwrap()
            .jobs
            .into_iter()
            .map(|j| (j.id, j.spec_hash))
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

//! The canonical form against a `serde_json::Value` reference, and pinned hashes.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use sha2::{Digest, Sha256};

use super::canonical::{CANONICAL_VERSION, KEY_ORDER};
use super::*;
use crate::spec::duration::format_duration;
use crate::spec::{Backoff, JobKind, Origin, ParseOptions, RetrySpec, Schedule, StartAt, parse_str};

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
        (text(), text(), map(), proptest::option::of(text()), proptest::option::of(100u16..600)).prop_map(
            |(method, url, headers, body, expect_status)| JobKind::Http {
                method,
                url,
                headers,
                body,
                expect_status
            }
        ),
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
    let errors = parse_str("w.jsonl", "{\"kind\": \"noop\", \"rate_ky\": \"api\"}", &ParseOptions::default())
        .unwrap_err();
    assert!(errors[0].to_string().contains("rate_key"), "did you mean: {}", errors[0]);
}

#[test]
fn defaults_are_part_of_the_hash() {
    let with = hashes("d.json", r#"{"defaults": {"timeout": "5s"}, "jobs": [{"kind": "noop", "id": "n"}]}"#);
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

#[test]
fn each_kind_hashes_its_own_parameters() {
    // One job of each kind with every parameter set: its `canonical` hook pushes exactly the
    // fields of its wire struct (a parameter left out of the hash would let `--resume` skip
    // an edited job).
    let text = concat!(
        r#"{"kind": "sleep", "duration": "1s"}"#,
        "\n",
        r#"{"kind": "exec", "program": "ls", "args": ["-l"], "env": {"A": "1"}, "cwd": "/tmp"}"#,
        "\n",
        r#"{"kind": "shell", "script": "true"}"#,
        "\n",
        r#"{"kind": "http", "method": "POST", "url": "http://example.com/", "headers": {"A": "1"}, "body": "x", "expect_status": 201}"#,
        "\n",
        r#"{"kind": "cpu", "rounds": 3}"#,
        "\n",
        r#"{"kind": "noop"}"#,
        "\n",
        r#"{"kind": "fail", "probability": 0.5, "message": "boom"}"#,
        "\n",
    );
    let batch = parse_str("kinds.jsonl", text, &ParseOptions::default()).unwrap();
    let mut seen = Vec::new();
    for job in &batch.jobs {
        let mut params = Params::default();
        crate::kind::canonical_params(&job.kind, &mut params);
        let mut fields = job.kind.kind_name().fields().to_vec();
        fields.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(params.keys(), fields, "{}", job.kind.name());
        seen.push(job.kind.kind_name());
    }
    assert_eq!(seen, crate::spec::KindName::ALL, "one job of each kind, in the table's order");
}

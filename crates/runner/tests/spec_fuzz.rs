//! The job-file parser never panics, whatever it is fed: arbitrary bytes, arbitrary text,
//! mutated valid job files, and generated job-shaped JSON. Its answers also keep their
//! promises: errors are located and non-empty; successes have unique ids and hashes.

use std::collections::HashSet;
use std::path::Path;

use conveyor::spec::{JobBatch, Loader, ParseOptions, SpecError, parse_bytes};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Every way a name can pick the form: document, JSON Lines, sniffed.
const NAMES: [&str; 3] = ["fuzz.json", "fuzz.jsonl", "request"];

fn check(result: &Result<JobBatch, Vec<SpecError>>) {
    match result {
        Ok(batch) => {
            let mut ids = HashSet::new();
            for job in &batch.jobs {
                assert!(!job.id.is_empty());
                assert!(ids.insert(job.id.clone()), "duplicate id {}", job.id);
                assert_eq!(job.spec_hash.len(), 64);
                assert!(job.origin.line >= 1 && job.origin.column >= 1);
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(!e.message.is_empty());
                assert!(e.line >= 1 && e.column >= 1, "{e}");
                let _ = e.to_string();
                serde_json::to_string(e).unwrap();
            }
        }
    }
}

fn parse_all_ways(bytes: &[u8], options: &ParseOptions) {
    for name in NAMES {
        check(&parse_bytes(name, bytes, options));
    }
}

fn good_files() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let mut files = Vec::new();
    for sub in ["good", "bad"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|n| n != "expected.txt") {
                files.push(std::fs::read(path).unwrap());
            }
        }
    }
    files.sort();
    files
}

/// Snippets that tend to reach deeper into the parser than random bytes do.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u",
    "\\ud800",
    "\n",
    "\r\n",
    " ",
    "null",
    "true",
    "-",
    "0",
    "-1",
    "1e999",
    "99999999999999999999",
    "0.5",
    "\"kind\"",
    "\"noop\"",
    "\"sleep\"",
    "\"id\"",
    "\"jobs\"",
    "\"defaults\"",
    "\"limits\"",
    "\"timeout\"",
    "\"retry\"",
    "\"every\"",
    "\"cron\"",
    "\"1s\"",
    "\"-1s\"",
    "\"0s\"",
    "\u{feff}",
    "\u{0}",
    "é",
    "\u{1F4A5}",
    "\"duration\"",
    "\"max_attempts\"",
    "\"not_before\"",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Byte { at: usize, byte: u8 },
    Truncate { at: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..8).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Edit::Insert { at, token }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Byte { at, byte }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match *e {
            Edit::Delete { at, len } if n > 0 => {
                let at = at % n;
                let end = (at + len).min(n);
                bytes.drain(at..end);
            }
            Edit::Insert { at, token } => {
                let at = if n == 0 { 0 } else { at % (n + 1) };
                let t = TOKENS[token % TOKENS.len()].as_bytes();
                bytes.splice(at..at, t.iter().copied());
            }
            Edit::Byte { at, byte } if n > 0 => bytes[at % n] = byte,
            Edit::Truncate { at } if n > 0 => bytes.truncate(at % n),
            _ => {}
        }
    }
    bytes
}

/// JSON values shaped like job files: known keys (and near misses) with values of every type.
fn job_value() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "id",
        "name",
        "kind",
        "priority",
        "timeout",
        "retry",
        "delay",
        "not_before",
        "concurrency_key",
        "every",
        "cron",
        "duration",
        "program",
        "args",
        "env",
        "cwd",
        "script",
        "method",
        "url",
        "headers",
        "body",
        "expect_status",
        "rounds",
        "probability",
        "message",
        "max_attempts",
        "backoff",
        "initial",
        "max",
        "jitter",
        "timout",
        "jobs",
        "defaults",
        "limits",
        "concurrency",
        "rate",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "sleep",
            "exec",
            "shell",
            "http",
            "cpu",
            "noop",
            "fail",
            "slep",
            "1s",
            "250ms",
            "1m30s",
            "-5s",
            "0s",
            "soon",
            "",
            "2030-01-01T00:00:00Z",
            "*/5 * * * *",
            "61 * * * *",
            "http://127.0.0.1/",
            "ftp://x",
            "fixed",
            "exponential",
            "10/1s",
            "0/1s",
            "GET",
            "bad method",
            "a=b",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..8).prop_map(|entries| {
                Value::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 800, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        parse_all_ways(&bytes, &ParseOptions::default());
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        parse_all_ways(text.as_bytes(), &ParseOptions::default().allow_periodic(true));
    }

    #[test]
    fn mutated_corpus_files_never_panic(
        file in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
        periodic in any::<bool>(),
    ) {
        let files = good_files();
        let original = files[file.index(files.len())].clone();
        let mutated = apply(original, &edits);
        parse_all_ways(&mutated, &ParseOptions::default().allow_periodic(periodic));
    }

    #[test]
    fn job_shaped_json_never_panics(
        jobs in prop::collection::vec(job_value(), 0..6),
        doc in job_value(),
        periodic in any::<bool>(),
    ) {
        let options = ParseOptions::default().allow_periodic(periodic);
        let array = serde_json::to_vec(&Value::Array(jobs.clone())).unwrap();
        parse_all_ways(&array, &options);
        let wrapped = serde_json::to_vec(&json!({"defaults": doc, "jobs": jobs.clone()})).unwrap();
        parse_all_ways(&wrapped, &options);
        let lines: Vec<u8> = jobs
            .iter()
            .flat_map(|j| {
                let mut line = serde_json::to_vec(j).unwrap();
                line.push(b'\n');
                line
            })
            .collect();
        check(&parse_bytes("fuzz.jsonl", &lines, &options));
        let pretty = serde_json::to_vec_pretty(&doc).unwrap();
        parse_all_ways(&pretty, &options);
    }
}

proptest! {
    // Through the loader and a temporary file: fewer cases, each makes a file.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn stdin_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let result = Loader::new(ParseOptions::default())
            .path("-")
            .stdin(std::io::Cursor::new(bytes))
            .validate();
        if let Ok(validated) = result {
            let counted = validated.jobs().map(Result::unwrap).count();
            prop_assert_eq!(counted as u64, validated.job_count());
        }
    }
}

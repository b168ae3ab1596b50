//! The job-file corpus in the top-level `tests/corpus/`: every malformed file reports exactly
//! the errors written down for it (position and message), every error of a file is reported
//! in one pass, and every good file parses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use conveyor::spec::{Loader, ParseOptions, SpecError, parse_bytes};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

/// The entries of `dir` (files and folders), sorted, without the manifest.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "expected.txt")
        .collect();
    names.sort();
    names
}

/// `expected.txt`: entry name (first path component) → its error lines, in order.
fn manifest() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(corpus().join("bad/expected.txt")).unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let path = line.split(':').next().unwrap();
        let entry = path.split('/').next().unwrap().to_owned();
        out.entry(entry).or_default().push(line.to_owned());
    }
    out
}

/// Validates `path` (a file or a folder) and shows its errors with paths relative to `base`.
fn errors_of(base: &Path, path: &Path) -> Vec<String> {
    match Loader::new(ParseOptions::default()).path(path).validate() {
        Ok(v) => panic!("{} validated ({} jobs)", path.display(), v.job_count()),
        Err(errors) => errors.iter().map(|e| relative(base, e)).collect(),
    }
}

fn relative(base: &Path, e: &SpecError) -> String {
    let shown = e.to_string();
    let prefix = format!("{}/", base.display());
    shown.replace(&prefix, "")
}

#[test]
fn every_bad_file_reports_exactly_its_expected_errors() {
    let bad = corpus().join("bad");
    let expected = manifest();
    let names = entries(&bad);
    assert!(names.len() >= 32, "only {} bad files", names.len());
    let mut failures = Vec::new();
    for name in &names {
        let Some(want) = expected.get(name) else {
            failures.push(format!("{name}: no expected errors in expected.txt"));
            continue;
        };
        let got = errors_of(&bad, &bad.join(name));
        if &got != want {
            failures.push(format!(
                "{name}:\n  expected:\n    {}\n  got:\n    {}",
                want.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    for name in expected.keys() {
        if !names.contains(name) {
            failures.push(format!("{name}: listed in expected.txt but missing"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn in_memory_parsing_reports_the_same_errors() {
    let bad = corpus().join("bad");
    let expected = manifest();
    for name in entries(&bad) {
        let path = bad.join(&name);
        if path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let errors = parse_bytes(&name, &bytes, &ParseOptions::default()).unwrap_err();
        let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(&got, &expected[&name], "{name}");
    }
}

#[test]
fn a_folder_reports_every_error_of_every_file_in_one_pass() {
    // The whole folder at once: besides each file's own errors it finds ids repeated across
    // files (many bad files use `"id": "a"`), so the expected errors are a subset.
    let bad = corpus().join("bad");
    let got = errors_of(&bad, &bad);
    let mut missing = Vec::new();
    for (name, lines) in manifest() {
        if bad.join(&name).is_dir() {
            continue; // folders are not entered: not recursive
        }
        for line in lines {
            // With every file loaded, a repeated id may first appear in an earlier file.
            let found = match line.split_once(" (first defined at ") {
                Some((head, _)) => got.iter().any(|g| g.starts_with(head)),
                None => got.contains(&line),
            };
            if !found {
                missing.push(line);
            }
        }
    }
    assert!(missing.is_empty(), "not reported:\n{}", missing.join("\n"));
    let cross_file = got.iter().filter(|e| e.contains("duplicate id `a` (first defined at")).count();
    assert!(cross_file > 1, "{got:#?}");
}

#[test]
fn errors_serialise_to_the_documented_json_objects() {
    let bad = corpus().join("bad");
    let errors =
        Loader::new(ParseOptions::default()).path(bad.join("many_errors.json")).validate().unwrap_err();
    let json = serde_json::to_value(&errors).unwrap();
    let first = &json[0];
    let mut keys: Vec<&str> = first.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["column", "field", "line", "message", "path"]);
    assert_eq!(first["line"], 4);
    assert_eq!(first["column"], 50);
    assert_eq!(first["field"], "jobs[1].duration");
    assert!(first["path"].as_str().unwrap().ends_with("many_errors.json"));
    assert_eq!(json.as_array().unwrap().len(), 5);
}

#[test]
fn every_good_file_parses_alone_and_together() {
    let good = corpus().join("good");
    let mut total = 0;
    for name in entries(&good) {
        let validated = Loader::new(ParseOptions::default())
            .path(good.join(&name))
            .validate()
            .unwrap_or_else(|e| panic!("{name}: {e:#?}"));
        let jobs: Vec<_> = validated.jobs().map(Result::unwrap).collect();
        assert_eq!(jobs.len() as u64, validated.job_count(), "{name}");
        total += jobs.len();
    }
    let all = Loader::new(ParseOptions::default()).path(&good).validate().unwrap();
    assert_eq!(all.job_count(), total as u64);
    assert_eq!(all.limits().concurrency["db"], 2);
    assert_eq!(all.jobs().count(), total);
}

#[test]
fn good_document_resolves_defaults_kinds_and_limits() {
    use conveyor::spec::{Backoff, JobKind, StartAt};
    use std::time::Duration;

    let good = corpus().join("good");
    let v = Loader::new(ParseOptions::default()).path(good.join("document.json")).validate().unwrap();
    let jobs: BTreeMap<String, _> = v.jobs().map(|j| j.unwrap()).map(|j| (j.id.to_string(), j)).collect();
    assert_eq!(jobs.len(), 7);
    let exec = &jobs["doc-exec"];
    assert_eq!(exec.priority, 2);
    assert_eq!(exec.timeout, Some(Duration::from_secs(90)));
    assert_eq!(exec.retry.backoff, Some(Backoff::Exponential));
    assert_eq!(exec.concurrency_key.as_deref(), Some("convert"));
    let JobKind::Exec { args, env, cwd, .. } = &exec.kind else { panic!("not exec") };
    assert_eq!(args.len(), 4);
    assert_eq!(env["MAGICK_THREAD_LIMIT"], "1");
    assert_eq!(cwd.as_deref(), Some(Path::new("/tmp")));
    let JobKind::Http { method, headers, expect_status, .. } = &jobs["doc-http"].kind else {
        panic!("not http")
    };
    assert_eq!(method, "POST");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(*expect_status, Some(204));
    assert_eq!(jobs["doc-noop"].priority, -10);
    assert_eq!(jobs["doc-noop"].start, Some(StartAt::Delay(Duration::from_secs(5))));
    assert_eq!(jobs["doc-sleep"].priority, 5, "from defaults");
    assert_eq!(jobs["doc-fail"].retry.max_attempts, Some(5));
    assert_eq!(jobs["doc-fail"].retry.initial, Some(Duration::from_millis(200)));
    assert!(matches!(jobs["doc-fail"].start, Some(StartAt::NotBefore(_))));
    assert_eq!(v.limits().rate["slow"].period, Duration::from_secs(60));
    assert_eq!(jobs["doc-sleep"].origin.line, 12);
}

#[test]
fn stdin_is_sniffed_and_read_twice() {
    let good = corpus().join("good");
    for name in ["document.json", "array.json", "batch.jsonl", "bom.json", "unicode.jsonl"] {
        let bytes = std::fs::read(good.join(name)).unwrap();
        let from_file = Loader::new(ParseOptions::default()).path(good.join(name)).validate().unwrap();
        let from_stdin = Loader::new(ParseOptions::default())
            .path("-")
            .stdin(std::io::Cursor::new(bytes))
            .validate()
            .unwrap_or_else(|e| panic!("{name}: {e:#?}"));
        let file_jobs: Vec<_> = from_file.jobs().map(|j| j.unwrap().spec_hash).collect();
        let stdin_jobs: Vec<_> = from_stdin.jobs().map(|j| j.unwrap().spec_hash).collect();
        assert_eq!(file_jobs, stdin_jobs, "{name}");
        assert_eq!(from_stdin.jobs().count(), stdin_jobs.len(), "{name}: second read");
    }
}

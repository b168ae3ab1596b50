//! Inputs that are not plain files (issue 18): what can be read only once (a FIFO, `<(…)`,
//! `/dev/stdin` given as a path) is read once and its jobs all run; a folder entry that is
//! a job file by its name but cannot be read is an error that names it, never skipped.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use conveyor_e2e::{Dir, binary, code, finish, jsonl, ledger, summary};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

fn noops(n: usize) -> String {
    jsonl(n, |i| json!({"id": format!("j{i}"), "kind": "noop"}))
}

fn mkfifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Regression: a FIFO was read by the check pass, then opened again by the run pass, which
/// blocked for ever (or, with a writer still there, saw no jobs and exited 0).
#[test]
fn a_fifo_is_read_once_and_every_job_runs() {
    let dir = Dir::new();
    let fifo = dir.join("jobs.jsonl");
    mkfifo(&fifo);
    let text = noops(50);
    let writer = std::thread::spawn(move || std::fs::write(fifo, text).expect("write the FIFO"));
    let child = dir.spawn(&["--format", "json", "--ledger", "l.jsonl", "jobs.jsonl"]);
    let out = finish(child, LIMIT);
    writer.join().unwrap();
    assert_eq!(code(&out), 0);
    assert_eq!(summary(&out)["succeeded"], 50);
    assert_eq!(ledger(&dir.join("l.jsonl")).len(), 50);
}

/// Regression: `<(…)` (a `/dev/fd/N` pipe with no extension) was opened three times: to
/// sniff its format, then by each pass.
#[test]
fn process_substitution_runs_every_job() {
    let dir = Dir::new();
    dir.write("jobs.jsonl", &noops(20));
    let script = format!(
        "exec '{}' run --progress never --format json --ledger l.jsonl <(cat jobs.jsonl)",
        binary().display()
    );
    let child = dir
        .cmd(Command::new("bash"))
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child, LIMIT);
    assert_eq!(code(&out), 0);
    assert_eq!(summary(&out)["succeeded"], 20);
    assert_eq!(ledger(&dir.join("l.jsonl")).len(), 20);
}

/// Regression: `/dev/stdin` as a path (a pipe) was read twice like a file.
#[test]
fn dev_stdin_as_a_path_runs_every_job() {
    let dir = Dir::new();
    let mut child = dir
        .cmd(conveyor_e2e::run(&["--format", "json", "--ledger", "l.jsonl", "/dev/stdin"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(noops(30).as_bytes()).unwrap();
    drop(stdin);
    let out = finish(child, LIMIT);
    assert_eq!(code(&out), 0);
    assert_eq!(summary(&out)["succeeded"], 30);
    assert_eq!(ledger(&dir.join("l.jsonl")).len(), 30);
}

/// A FIFO named twice cannot be read twice: an error, not a wait for a writer that is gone.
#[test]
fn a_fifo_given_twice_is_an_error_not_a_hang() {
    let dir = Dir::new();
    let fifo = dir.join("jobs.jsonl");
    mkfifo(&fifo);
    let text = noops(3);
    let writer = std::thread::spawn(move || std::fs::write(fifo, text).expect("write the FIFO"));
    let out = finish(dir.spawn(&["jobs.jsonl", "jobs.jsonl"]), LIMIT);
    writer.join().unwrap();
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jobs.jsonl: given twice"), "{err}");
}

/// Regression: a folder's `*.json` entries that could not be read (a broken link, a link
/// loop) were skipped: `validate` said ok and their jobs never ran.
#[test]
fn a_folder_entry_that_cannot_be_read_is_an_error_naming_it() {
    let dir = Dir::new();
    dir.write("jobs/ok.jsonl", &noops(2));
    std::os::unix::fs::symlink("missing.jsonl", dir.join("jobs/broken.jsonl")).unwrap();
    std::os::unix::fs::symlink("loop.json", dir.join("jobs/loop.json")).unwrap();
    std::fs::create_dir(dir.join("jobs/sub.json")).unwrap();
    // Not job files by name: still ignored.
    std::os::unix::fs::symlink("nowhere", dir.join("jobs/README")).unwrap();

    for command in ["validate", "run"] {
        let out = dir.cmd(conveyor_e2e::conveyor()).args([command, "jobs"]).output().unwrap();
        assert_eq!(code(&out), 2, "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        for needle in [
            "jobs/broken.jsonl: broken symbolic link",
            "jobs/loop.json: too many levels of symbolic links",
            "jobs/sub.json: a folder, not a job file",
        ] {
            assert!(err.contains(needle), "{command}: `{needle}` missing from\n{err}");
        }
        assert!(!err.contains("README"), "{err}");
    }
}

/// A FIFO that no one writes to blocks the read, as `cat` would; Ctrl-C (or SIGTERM) still
/// ends the run at once, with nothing run.
#[test]
fn a_fifo_with_no_writer_is_ended_by_sigint() {
    let dir = Dir::new();
    mkfifo(&dir.join("jobs.jsonl"));
    let child = dir.spawn(&["--ledger", "l.jsonl", "jobs.jsonl"]);
    // Signal it once it is blocked opening the FIFO (the `openat` system call), not before.
    let syscall = format!("/proc/{}/syscall", child.id());
    let openat = if cfg!(target_arch = "aarch64") { "56 " } else { "257 " };
    conveyor_e2e::wait_until(LIMIT, "conveyor to block opening the FIFO", || {
        std::fs::read_to_string(&syscall).map_or(true, |s| s.starts_with(openat))
    });
    conveyor_e2e::signal(&child, "INT");
    let out = finish(child, LIMIT);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(!dir.join("l.jsonl").exists() || ledger(&dir.join("l.jsonl")).is_empty());
}

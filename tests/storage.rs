//! The ledger when storage fails or is the wrong file (issue 18): a write that fails stops
//! the run at once and exits 3 (`/dev/full`, a small tmpfs that fills up), `serve` turns
//! unhealthy; `--ledger` pointed at an input or at a file that is not a ledger is refused
//! untouched; a whole last line without its newline is kept.
//!
//! The tmpfs test mounts a file system, which needs root (CI runs as root); elsewhere it
//! says so and returns.

use std::path::{Path, PathBuf};
use std::process::Command;

use conveyor_e2e::server::{LIMIT, Server};
use conveyor_e2e::{Dir, by_id, code, jsonl, summary, wait_until};
use serde_json::{Value, json};

/// The ledger's lines, parsed; blank lines (left by a retried write) are skipped, and so is
/// a last line cut short by a full disk.
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    let all: Vec<&str> = text.split('\n').collect();
    for (i, line) in all.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(v) => out.push(v),
            Err(e) => assert!(i + 1 == all.len(), "bad ledger line {} ({e}): {line}", i + 1),
        }
    }
    out
}

fn naps(n: usize, duration: &str) -> String {
    jsonl(n, |i| json!({"id": format!("nap{i}"), "kind": "sleep", "duration": duration}))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Regression: a run whose ledger could not be written ran every job, said so only at the
/// end, and exited 2 ("nothing ran").
#[test]
fn a_ledger_on_a_full_device_stops_the_run_and_exits_3() {
    let dir = Dir::new();
    // 2 workers × 20 ms: all 400 would take 4 s; the run must stop after the first line.
    dir.write("naps.jsonl", &naps(400, "20ms"));
    let out = dir.run(&["-w", "2", "--format", "json", "--ledger", "/dev/full", "naps.jsonl"]);
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    assert!(err.contains("/dev/full") && err.contains("No space left on device"), "{err}");
    let s = summary(&out);
    assert_eq!(s["jobs"], 400, "the summary still counts every job: {s}");
    let ran = s["succeeded"].as_u64().unwrap();
    assert!(ran < 100, "the run went on after the ledger failed: {s}");
    assert_eq!(s["cancelled"].as_u64().unwrap() + ran, 400, "{s}");
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (with a message) where mounting is not allowed.
    fn mount(at: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!("skipped: cannot mount a tmpfs here ({})", String::from_utf8_lossy(&out.stderr).trim());
            return None;
        }
        Some(Tmpfs(at))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Regression: a disk that filled up mid-run lost every later line while the run went on;
/// `--resume` then ran every job again. Now the run stops, exits 3, and `--resume` (once
/// there is room) runs exactly the jobs without a `succeeded` line.
#[test]
fn a_disk_that_fills_up_mid_run_stops_the_run_and_resume_finishes_it() {
    let dir = Dir::new();
    let Some(fs) = Tmpfs::mount(dir.join("small"), "16k") else { return };
    let n = 600;
    dir.write("naps.jsonl", &naps(n, "1ms"));
    let ledger = fs.0.join("l.jsonl");
    let ledger_arg = ledger.to_str().unwrap();
    let out = dir.run(&["-w", "4", "--format", "json", "--ledger", ledger_arg, "naps.jsonl"]);
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    assert!(err.contains(ledger_arg) && err.contains("No space left on device"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let first = lines(&ledger);
    assert!(!first.is_empty() && first.len() < n, "{} lines", first.len());
    let done: Vec<String> = first
        .iter()
        .filter(|l| l["outcome"] == "succeeded")
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(by_id(&first).values().all(|v| v.len() == 1), "an id has two lines");

    fs.resize("4m");
    let out = dir.run(&["-w", "4", "--format", "json", "--resume", "--ledger", ledger_arg, "naps.jsonl"]);
    assert_eq!(code(&out), 0);
    let s = summary(&out);
    assert_eq!(s["skipped"].as_u64().unwrap(), done.len() as u64, "{s}");
    let all = lines(&ledger);
    let ids = by_id(&all);
    assert_eq!(ids.len(), n);
    for (id, lines) in &ids {
        let ok = lines.iter().filter(|l| l["outcome"] == "succeeded").count();
        assert_eq!(ok, 1, "{id}: {lines:?}");
    }
}

/// Regression: `serve` kept accepting jobs and answering `/healthz` 200 while its ledger
/// could not be written, and said at exit that every job had its line.
#[test]
fn serve_with_an_unwritable_ledger_answers_503_and_exits_3() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--ledger", "/dev/full"]);
    assert_eq!(server.get("/healthz").0, 200);
    let (status, v) = server.post("{\"id\": \"a\", \"kind\": \"noop\"}\n");
    assert_eq!(status, 202, "{v}");
    wait_until(LIMIT, "/healthz to turn 503", || server.get("/healthz").0 == 503);
    let (_, body) = server.get("/healthz");
    assert!(body.contains("ledger") && body.contains("No space left on device"), "{body}");
    let (status, v) = server.post("{\"id\": \"b\", \"kind\": \"noop\"}\n");
    assert_eq!(status, 503, "{v}");
    let out = server.stop("TERM");
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    assert!(err.contains("/dev/full"), "{err}");
    assert!(!err.contains("every accepted job has its ledger line"), "{err}");
}

/// Regression: `--ledger` naming one of the inputs had lines appended to it.
#[test]
fn a_ledger_that_is_an_input_is_refused_untouched() {
    let dir = Dir::new();
    dir.write("empty.jsonl", "");
    let out = dir.run(&["--ledger", "empty.jsonl", "empty.jsonl"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("one of the inputs"), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.join("empty.jsonl")).unwrap(), b"");

    // Found in a folder given as input, under a name the folder scan reads.
    dir.write("jobs/a.jsonl", "{\"kind\": \"noop\"}\n");
    dir.write("jobs/out.jsonl", "");
    let out = dir.run(&["--ledger", "jobs/out.jsonl", "jobs"]);
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read(dir.join("jobs/out.jsonl")).unwrap(), b"");
}

/// Regression: `--ledger` pointed at a file that is not a ledger had lines appended to it,
/// and its last line deleted when it had no final newline.
#[test]
fn a_ledger_that_holds_something_else_is_refused_untouched() {
    let dir = Dir::new();
    dir.write("jobs.jsonl", "{\"kind\": \"noop\"}\n");
    for (name, content) in [
        ("notes.txt", "shopping list\nmilk"),
        ("other-jobs.jsonl", "{\"kind\": \"noop\"}\n{\"kind\": \"noop\"}"),
        ("config.json", "{\"a\": 1}\n"),
    ] {
        dir.write(name, content);
        let out = dir.run(&["--ledger", name, "jobs.jsonl"]);
        assert_eq!(code(&out), 2, "{name}");
        assert!(stderr(&out).contains("not a ledger"), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), content, "{name} was changed");
    }
}

/// Regression: with `--resume`, a whole last line without its newline counted the job as
/// done, and was then cut off as torn, so the next run did the job again.
#[test]
fn a_whole_last_line_without_a_newline_is_kept_by_resume() {
    let dir = Dir::new();
    dir.write("jobs.jsonl", &jsonl(3, |i| json!({"id": format!("j{i}"), "kind": "noop"})));
    assert_eq!(code(&dir.run(&["--ledger", "l.jsonl", "jobs.jsonl"])), 0);
    let text = std::fs::read_to_string(dir.join("l.jsonl")).unwrap();
    std::fs::write(dir.join("l.jsonl"), text.trim_end_matches('\n')).unwrap();
    for round in 0..2 {
        let out = dir.run(&["--resume", "--ledger", "l.jsonl", "--format", "json", "jobs.jsonl"]);
        assert_eq!(code(&out), 0);
        assert_eq!(summary(&out)["skipped"], 3, "round {round}");
        assert_eq!(std::fs::read_to_string(dir.join("l.jsonl")).unwrap(), text, "round {round}");
    }
    // A line cut short (the start of a ledger line) is still torn: cut, and its job rerun.
    let cut = format!("{text}{}", &text[..text.find(',').unwrap()]);
    std::fs::write(dir.join("l.jsonl"), cut).unwrap();
    let out = dir.run(&["--resume", "--ledger", "l.jsonl", "--format", "json", "jobs.jsonl"]);
    assert_eq!(code(&out), 0);
    assert_eq!(std::fs::read_to_string(dir.join("l.jsonl")).unwrap(), text);
}

/// A ledger on a file system made read-only: refused before anything runs (exit 2), naming
/// the file and the cause, the file untouched.
#[test]
fn a_ledger_on_a_read_only_file_system_is_refused_before_anything_runs() {
    let dir = Dir::new();
    let Some(fs) = Tmpfs::mount(dir.join("ro"), "1m") else { return };
    dir.write("jobs.jsonl", &naps(3, "1ms"));
    let ledger = fs.0.join("l.jsonl");
    let ledger_arg = ledger.to_str().unwrap();
    assert_eq!(code(&dir.run(&["--ledger", ledger_arg, "jobs.jsonl"])), 0);
    let before = std::fs::read(&ledger).unwrap();
    let status = Command::new("mount").args(["-o", "remount,ro"]).arg(&fs.0).status().unwrap();
    assert!(status.success(), "remount ro");
    let out = dir.run(&["--format", "json", "--ledger", ledger_arg, "jobs.jsonl"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains(ledger_arg) && err.contains("Read-only file system"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty(), "nothing ran: no summary");
    assert_eq!(std::fs::read(&ledger).unwrap(), before);
}

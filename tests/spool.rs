//! End-to-end tests of `conveyor serve --spool DIR`: files dropped into `DIR/inbox` (written,
//! then renamed) run and move to `DIR/done` or `DIR/failed` with their own ledger beside
//! them. Waits are bounded polls of the folders, never fixed sleeps.

use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

use conveyor_e2e::server::{LIMIT, Server};
use conveyor_e2e::{Dir, by_id, code, describe, jsonl, ledger, wait_until};
use serde_json::json;

/// Writes `content` under a hidden name in `inbox`, then renames it to `name`: the way
/// writers must drop files.
fn drop_file(dir: &Dir, name: &str, content: &str) {
    let hidden = dir.join(&format!("spool/inbox/.{name}.tmp"));
    std::fs::write(&hidden, content).expect("write");
    std::fs::rename(&hidden, dir.join(&format!("spool/inbox/{name}"))).expect("rename");
}

fn exists(path: &Path) -> bool {
    path.exists()
}

#[test]
fn spool_files_run_and_move_with_their_ledgers() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "2", "--spool", "spool", "--ledger", "all.jsonl"]);
    for sub in ["inbox", "work", "done", "failed"] {
        assert!(dir.join(&format!("spool/{sub}")).is_dir(), "spool/{sub} was not created");
    }
    drop_file(&dir, "good.jsonl", &jsonl(3, |i| json!({"id": format!("good{i}"), "kind": "noop"})));
    drop_file(
        &dir,
        "mixed.json",
        &json!({"jobs": [{"id": "fine", "kind": "noop"}, {"id": "boom", "kind": "fail", "message": "no"}]})
            .to_string(),
    );
    drop_file(&dir, "broken.jsonl", "{\"id\": \"x\", \"kind\": \"noop\"}\n{\"kind\": \"nope\"}\n");

    let done = dir.join("spool/done/good.jsonl");
    let failed = dir.join("spool/failed/mixed.json");
    let invalid = dir.join("spool/failed/broken.jsonl");
    wait_until(LIMIT, "the three files to be moved", || exists(&done) && exists(&failed) && exists(&invalid));

    // The ledger is beside its file before the file moves.
    let good = ledger(&dir.join("spool/done/good.jsonl.ledger.jsonl"));
    assert_eq!(good.len(), 3, "{good:?}");
    assert!(good.iter().all(|l| l["outcome"] == "succeeded"), "{good:?}");
    let mixed = by_id(&ledger(&dir.join("spool/failed/mixed.json.ledger.jsonl")));
    assert_eq!(mixed["fine"][0]["outcome"], "succeeded");
    assert_eq!(mixed["boom"][0]["outcome"], "failed");
    assert_eq!(mixed["boom"][0]["error"], "no");

    // An invalid file runs nothing and gets its located errors beside it.
    let errors = std::fs::read_to_string(dir.join("spool/failed/broken.jsonl.errors.txt")).expect("errors");
    assert!(errors.starts_with("spool/inbox/broken.jsonl:2:"), "{errors}");
    assert!(errors.contains("nope"), "{errors}");
    assert!(!exists(&dir.join("spool/failed/broken.jsonl.ledger.jsonl")));
    assert_eq!(server.get("/jobs/x").0, 404, "a job of an invalid file was accepted");

    // Spool jobs are jobs of the server like any other.
    assert_eq!(server.wait_final("good1")["status"], "succeeded");
    let (status, v) = server.post("{\"id\": \"good1\", \"kind\": \"noop\"}\n");
    assert_eq!(status, 409, "{v}");
    // A file whose ids the server already has fails with the located duplicates.
    drop_file(&dir, "again.jsonl", "{\"id\": \"good0\", \"kind\": \"noop\"}\n");
    wait_until(LIMIT, "again.jsonl to fail", || exists(&dir.join("spool/failed/again.jsonl")));
    let errors = std::fs::read_to_string(dir.join("spool/failed/again.jsonl.errors.txt")).expect("errors");
    assert!(errors.starts_with("spool/inbox/again.jsonl:1:1: duplicate id `good0`"), "{errors}");
    // The same name dropped again does not overwrite the first one's results.
    drop_file(&dir, "good.jsonl", "{\"id\": \"later\", \"kind\": \"noop\"}\n");
    wait_until(LIMIT, "good-2.jsonl", || exists(&dir.join("spool/done/good-2.jsonl")));
    assert_eq!(ledger(&dir.join("spool/done/good-2.jsonl.ledger.jsonl"))[0]["id"], "later");

    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let all = by_id(&ledger(&dir.join("all.jsonl")));
    let ids: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(ids, ["boom", "fine", "good0", "good1", "good2", "later"]);
    assert!(all.values().all(|l| l.len() == 1));
    assert_eq!(std::fs::read_dir(dir.join("spool/work")).expect("work").count(), 0);
}

#[test]
fn half_written_and_foreign_files_are_not_taken() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--spool", "spool"]);
    // A writer still busy with a hidden file, and a file that is not a job file.
    let half = dir.join("spool/inbox/.slow.jsonl");
    std::fs::write(&half, "{\"id\": \"slow\", \"kind\": \"no").expect("write");
    std::fs::write(dir.join("spool/inbox/notes.txt"), "not jobs").expect("write");
    // A complete file dropped after them: once it is done, the inbox has been scanned with
    // the other two in it.
    drop_file(&dir, "marker.jsonl", "{\"id\": \"marker\", \"kind\": \"noop\"}\n");
    wait_until(LIMIT, "marker.jsonl done", || exists(&dir.join("spool/done/marker.jsonl")));
    assert!(exists(&half), "the hidden file was taken");
    assert!(exists(&dir.join("spool/inbox/notes.txt")), "a non-job file was taken");
    assert_eq!(server.get("/jobs/slow").0, 404);

    // The writer finishes, then renames: now it is taken, whole.
    std::fs::write(&half, "{\"id\": \"slow\", \"kind\": \"noop\"}\n").expect("write");
    std::fs::rename(&half, dir.join("spool/inbox/slow.jsonl")).expect("rename");
    wait_until(LIMIT, "slow.jsonl done", || exists(&dir.join("spool/done/slow.jsonl")));
    assert_eq!(server.wait_final("slow")["status"], "succeeded");

    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("notes.txt"), "no warning about notes.txt:\n{stderr}");
}

#[test]
fn sigterm_moves_the_files_with_every_line_and_a_restart_takes_unfinished_ones() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "1", "--grace", "0s", "--spool", "spool"]);
    drop_file(
        &dir,
        "long.jsonl",
        &jsonl(3, |i| json!({"id": format!("long{i}"), "kind": "sleep", "duration": "1h"})),
    );
    wait_until(LIMIT, "long0 running", || server.get("/jobs/long0").1.contains("\"running\""));
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));

    // Stopped jobs are cancelled, so the file failed; every job has its line.
    let lines = by_id(&ledger(&dir.join("spool/failed/long.jsonl.ledger.jsonl")));
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.values().all(|l| l.len() == 1 && l[0]["outcome"] == "cancelled"), "{lines:?}");
    assert_eq!(std::fs::read_dir(dir.join("spool/work")).expect("work").count(), 0);

    // A file left in `work` by a killed server goes back to the inbox and runs.
    std::fs::write(dir.join("spool/work/9.left.jsonl"), "{\"id\": \"left\", \"kind\": \"noop\"}\n")
        .expect("write");
    std::fs::write(dir.join("spool/work/9.left.jsonl.ledger.jsonl"), "torn").expect("write");
    let server = Server::start(&dir, &["--spool", "spool"]);
    wait_until(LIMIT, "left.jsonl done", || exists(&dir.join("spool/done/left.jsonl")));
    let left = ledger(&dir.join("spool/done/left.jsonl.ledger.jsonl"));
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["id"], "left");
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
}

/// Writes `content` outside `inbox`, then renames it in as `name`: for names too long to get
/// a hidden prefix and a `.tmp` suffix.
fn drop_from_outside(dir: &Dir, name: &str, content: &str) {
    let outside = dir.join("spool/.incoming");
    std::fs::write(&outside, content).expect("write");
    std::fs::rename(&outside, dir.join(&format!("spool/inbox/{name}"))).expect("rename");
}

/// A job that runs until the file `go` exists in the server's folder: it is still running
/// when a test kills the server, and ends at once when run again after `go` is made.
fn gated(id: &str) -> String {
    let wait = "while [ ! -e go ]; do sleep 0.05; done";
    format!("{}\n", json!({"id": id, "kind": "exec", "program": "sh", "args": ["-c", wait]}))
}

/// Kills the server with SIGKILL, as a crash would: files in flight stay in `work`.
fn crash(server: Server) {
    server.signal("KILL");
    let out = server.wait();
    assert!(out.status.code().is_none(), "not killed: {}", describe(&out));
}

/// Where `name` is in the spool: `inbox`, a slot of `work`, or `done`, if anywhere.
fn whereabouts(dir: &Dir, name: &str) -> Option<PathBuf> {
    let mut places = vec![dir.join("spool/inbox"), dir.join("spool/done")];
    for slot in std::fs::read_dir(dir.join("spool/work")).expect("work") {
        places.push(slot.expect("slot").path());
    }
    places.into_iter().map(|p| p.join(name)).find(|p| p.symlink_metadata().is_ok())
}

/// The texts of every `*.errors.txt` in `failed`.
fn failed_reasons(dir: &Dir) -> Vec<String> {
    let mut texts: Vec<String> = std::fs::read_dir(dir.join("spool/failed"))
        .expect("failed")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".errors.txt"))
        .map(|p| std::fs::read_to_string(p).expect("errors"))
        .collect();
    texts.sort();
    texts
}

#[test]
fn a_job_file_named_like_a_ledger_survives_a_restart_and_runs() {
    // Before: recovery of `work` deleted every `*.ledger.jsonl` there, the user's too.
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "1", "--spool", "spool"]);
    let content = gated("gated");
    drop_file(&dir, "a.ledger.jsonl", &content);
    wait_until(LIMIT, "gated running", || server.get("/jobs/gated").1.contains("\"running\""));
    crash(server);
    std::fs::write(dir.join("go"), "").expect("write");

    let server = Server::start(&dir, &["--spool", "spool"]);
    assert!(whereabouts(&dir, "a.ledger.jsonl").is_some(), "the job file was deleted at the restart");
    let done = dir.join("spool/done/a.ledger.jsonl");
    wait_until(LIMIT, "a.ledger.jsonl done", || exists(&done));
    assert_eq!(std::fs::read_to_string(&done).expect("read"), content);
    let lines = ledger(&dir.join("spool/done/a.ledger.jsonl.ledger.jsonl"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!((&lines[0]["id"], &lines[0]["outcome"]), (&json!("gated"), &json!("succeeded")));
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    assert_eq!(std::fs::read_dir(dir.join("spool/work")).expect("work").count(), 0);
}

#[test]
fn a_file_killed_in_work_comes_back_once_and_files_in_done_are_untouched() {
    // Before: a user's file named like another file's ledger was deleted from `work` too.
    let dir = Dir::new();
    let server = Server::start(&dir, &["-w", "1", "--spool", "spool", "--ledger", "all.jsonl"]);
    drop_file(&dir, "twin.jsonl", "{\"id\": \"early\", \"kind\": \"noop\"}\n");
    wait_until(LIMIT, "twin.jsonl done", || exists(&dir.join("spool/done/twin.jsonl")));
    let before: Vec<String> = ["twin.jsonl", "twin.jsonl.ledger.jsonl"]
        .iter()
        .map(|n| std::fs::read_to_string(dir.join(&format!("spool/done/{n}"))).expect("read"))
        .collect();

    // Two files in flight: one whose job runs, one (named like the first one's ledger) queued.
    drop_file(&dir, "twin.jsonl", &gated("gated"));
    drop_file(&dir, "twin.jsonl.ledger.jsonl", "{\"id\": \"queued\", \"kind\": \"noop\"}\n");
    wait_until(LIMIT, "gated running and queued accepted", || {
        server.get("/jobs/gated").1.contains("\"running\"") && server.get("/jobs/queued").0 == 200
    });
    crash(server);
    std::fs::write(dir.join("go"), "").expect("write");

    let server = Server::start(&dir, &["-w", "1", "--spool", "spool", "--ledger", "all.jsonl"]);
    let gated_done = dir.join("spool/done/twin-2.jsonl");
    let queued_done = dir.join("spool/done/twin.jsonl.ledger-2.jsonl");
    wait_until(LIMIT, "both files done again", || exists(&gated_done) && exists(&queued_done));
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));

    // Each ran once after the restart (the killed run wrote no line), each with its ledger.
    let all = by_id(&ledger(&dir.join("all.jsonl")));
    let ids: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(ids, ["early", "gated", "queued"]);
    assert!(all.values().all(|l| l.len() == 1 && l[0]["outcome"] == "succeeded"), "{all:?}");
    assert_eq!(ledger(&dir.join("spool/done/twin-2.jsonl.ledger.jsonl"))[0]["id"], "gated");
    assert_eq!(ledger(&dir.join("spool/done/twin.jsonl.ledger-2.jsonl.ledger.jsonl"))[0]["id"], "queued");
    // The first file and its ledger in `done` are as they were.
    let after: Vec<String> = ["twin.jsonl", "twin.jsonl.ledger.jsonl"]
        .iter()
        .map(|n| std::fs::read_to_string(dir.join(&format!("spool/done/{n}"))).expect("read"))
        .collect();
    assert_eq!(before, after);
    assert_eq!(std::fs::read_dir(dir.join("spool/work")).expect("work").count(), 0);
    assert_eq!(std::fs::read_dir(dir.join("spool/inbox")).expect("inbox").count(), 0);
}

#[test]
fn a_name_too_long_for_the_spool_goes_to_failed_once_and_never_loops() {
    // Before: a 250-byte name ran but could not get its ledger, stayed in `work` and ran again
    // at every restart; a 255-byte name could not be claimed and was logged 5 times a second.
    let dir = Dir::new();
    let server = Server::start(&dir, &["--spool", "spool"]);
    for (len, id) in [(250, "long250"), (255, "long255")] {
        let name = format!("{}.jsonl", "n".repeat(len - ".jsonl".len()));
        drop_from_outside(&dir, &name, &format!("{{\"id\": \"{id}\", \"kind\": \"noop\"}}\n"));
    }
    wait_until(LIMIT, "two reasons in failed", || failed_reasons(&dir).len() == 2);
    let reasons = failed_reasons(&dir);
    for (text, len) in reasons.iter().zip([250, 255]) {
        assert!(text.starts_with("spool/inbox/nnn"), "{text}");
        assert!(text.contains(&format!("the name is too long ({len} bytes)")), "{text}");
    }
    // Three files dropped one after another: the inbox was scanned at least three times more.
    for n in 0..3 {
        drop_file(
            &dir,
            &format!("marker{n}.jsonl"),
            &format!("{{\"id\": \"marker{n}\", \"kind\": \"noop\"}}\n"),
        );
        wait_until(LIMIT, "the marker done", || exists(&dir.join(&format!("spool/done/marker{n}.jsonl"))));
    }
    assert_eq!(server.get("/jobs/long250").0, 404, "a job of a file not run was accepted");
    assert_eq!(server.get("/jobs/long255").0, 404, "a job of a file not run was accepted");
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("the name is too long").count(), 2, "{stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
    // Nothing is left to run again at the next start.
    assert_eq!(std::fs::read_dir(dir.join("spool/work")).expect("work").count(), 0);
    assert_eq!(std::fs::read_dir(dir.join("spool/inbox")).expect("inbox").count(), 0);
    // Each file is in `failed` beside its reason, its name cut to fit.
    let failed: Vec<String> = std::fs::read_dir(dir.join("spool/failed"))
        .expect("failed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(failed.len(), 4, "{failed:?}");
    assert!(failed.iter().all(|n| n.len() <= 255), "{failed:?}");
}

#[test]
fn a_fifo_a_directory_or_a_dangling_link_named_like_a_job_file_goes_to_failed_without_a_hang() {
    // Before: anything but a regular file named `*.json` was skipped at every scan, silently.
    let dir = Dir::new();
    let server = Server::start(&dir, &["--spool", "spool"]);
    let status =
        std::process::Command::new("mkfifo").arg(dir.join("spool/inbox/x.json")).status().expect("mkfifo");
    assert!(status.success());
    std::fs::create_dir(dir.join("spool/inbox/d.jsonl")).expect("mkdir");
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("spool/inbox/gone.json")).expect("symlink");
    // After the others in name order: once it is done, they were all looked at.
    drop_file(&dir, "z-marker.jsonl", "{\"id\": \"marker\", \"kind\": \"noop\"}\n");
    wait_until(LIMIT, "z-marker.jsonl done", || exists(&dir.join("spool/done/z-marker.jsonl")));
    let reasons = failed_reasons(&dir);
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].starts_with("spool/inbox/d.jsonl: not a regular file (a directory)"), "{reasons:?}");
    assert!(
        reasons[1].starts_with("spool/inbox/gone.json: cannot read: a symbolic link to nothing"),
        "{reasons:?}"
    );
    assert!(reasons[2].starts_with("spool/inbox/x.json: not a regular file (a FIFO)"), "{reasons:?}");
    let fifo = std::fs::symlink_metadata(dir.join("spool/failed/x.json")).expect("fifo in failed");
    assert!(fifo.file_type().is_fifo());
    assert!(dir.join("spool/failed/d.jsonl").is_dir());
    let out = server.stop("TERM");
    assert_eq!(code(&out), 143, "{}", describe(&out));
    assert_eq!(std::fs::read_dir(dir.join("spool/inbox")).expect("inbox").count(), 0);
}

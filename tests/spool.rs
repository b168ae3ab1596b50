//! End-to-end tests of `conveyor serve --spool DIR`: files dropped into `DIR/inbox` (written,
//! then renamed) run and move to `DIR/done` or `DIR/failed` with their own ledger beside
//! them. Waits are bounded polls of the folders, never fixed sleeps.

use std::path::Path;

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

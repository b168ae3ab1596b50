//! `conveyor report` end to end: a real run's ledger becomes a page whose totals match the
//! ledger, ledgers merge, bad inputs are located errors, and — in a real browser — the page
//! opens from a file, draws its charts and shows the right totals.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use conveyor_e2e::{Dir, browser, code, conveyor, describe, ledger};
use serde_json::{Value, json};

/// `conveyor report ARGS...` inside `dir`.
fn report(dir: &Dir, args: &[&str]) -> Output {
    let out = dir.cmd(conveyor()).arg("report").args(args).output().expect("spawn conveyor");
    eprintln!("$ conveyor report {}\n{}", args.join(" "), describe(&out));
    out
}

/// The `data-count` of the element with id `id` (`id='ID' data-count='N'`, as the page
/// writes it).
fn data_count(html: &str, id: &str) -> u64 {
    let key = format!("id='{id}' data-count='");
    let at = html.find(&key).unwrap_or_else(|| panic!("no #{id} with data-count in the page"));
    let rest = &html[at + key.len()..];
    rest[..rest.find('\'').expect("closing quote")].parse().expect("a count")
}

/// Counts of a ledger's lines by outcome.
fn outcomes(lines: &[Value]) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for o in ["succeeded", "failed", "panicked", "timed_out", "cancelled"] {
        out.insert(o.to_owned(), 0);
    }
    for l in lines {
        *out.entry(l["outcome"].as_str().expect("outcome").to_owned()).or_default() += 1;
    }
    out
}

/// A job file with successes, failures, retries, a timeout, and output that is markup.
fn mixed_jobs(dir: &Dir) -> PathBuf {
    let jobs = [
        json!({"id": "ok-1", "kind": "sleep", "duration": "20ms"}),
        json!({"id": "ok-2", "kind": "noop"}),
        json!({"id": "ok-3", "kind": "exec", "program": "true"}),
        json!({"id": "retried", "kind": "fail", "probability": 1.0, "message": "always <b>fails</b>",
               "retry": {"max_attempts": 3, "initial": "5ms"}}),
        json!({"id": "slow", "kind": "sleep", "duration": "5s", "timeout": "150ms"}),
        json!({"id": "<img src=x onerror=alert(1)>", "kind": "exec", "program": "sh",
               "args": ["-c", "echo '<script>alert(1)</script>'; exit 3"]}),
    ];
    let text: String = jobs.iter().map(|j| format!("{j}\n")).collect();
    dir.write("jobs.jsonl", &text)
}

/// Runs the mixed jobs with a ledger; returns the ledger's path.
fn mixed_ledger(dir: &Dir) -> PathBuf {
    let jobs = mixed_jobs(dir);
    let out = dir.run(&["--ledger", "run.ledger.jsonl", "--allow-shell", jobs.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 1, "some jobs fail\n{}", describe(&out));
    dir.join("run.ledger.jsonl")
}

#[test]
fn the_page_shows_the_ledgers_totals() {
    let dir = Dir::new();
    let path = mixed_ledger(&dir);
    let lines = ledger(&path);
    let out = report(&dir, &["run.ledger.jsonl", "-o", "report.html"]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote report.html (6 jobs"), "{}", describe(&out));
    let html = std::fs::read_to_string(dir.join("report.html")).expect("the page");
    assert_eq!(data_count(&html, "total-jobs"), lines.len() as u64);
    for (outcome, n) in outcomes(&lines) {
        assert_eq!(data_count(&html, &format!("total-{outcome}")), n, "{outcome}");
    }
    let retries: u64 =
        lines.iter().map(|l| l["attempts"].as_u64().expect("attempts").saturating_sub(1)).sum();
    assert_eq!(retries, 2);
    assert_eq!(data_count(&html, "total-retries"), retries);
    // The charts are there, with bars whose counts add up to the lines.
    for id in ["chart-throughput", "chart-wait", "chart-run"] {
        assert!(html.contains(&format!("<svg id='{id}'")), "{id}");
    }
    let bar_total: u64 = html
        .match_indices("<rect data-outcome='")
        .map(|(i, _)| {
            let rest = &html[i..];
            let at = rest.find("data-count='").expect("count") + "data-count='".len();
            rest[at..at + rest[at..].find('\'').expect("quote")].parse::<u64>().expect("n")
        })
        .sum();
    assert_eq!(bar_total, lines.len() as u64);
    // Failures grouped, the timeout among them, the slowest job first.
    assert!(html.contains("always &lt;b&gt;fails&lt;/b&gt;"), "the failure group's error");
    let slowest = html.find("<section id='slowest'>").expect("slowest");
    assert!(html[slowest..].find("<code>slow</code>").is_some(), "slow is listed");
    // Ledger text is escaped: no markup from the jobs reaches the page.
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the output tail is shown, escaped");
    assert!(!html.contains("http://") && !html.contains("https://"), "the page names no URL");
}

#[test]
fn ledgers_merge_and_an_id_counts_once_at_its_latest_line() {
    let dir = Dir::new();
    dir.write(
        "a.jsonl",
        "{\"id\": \"x\", \"kind\": \"fail\", \"probability\": 1.0}\n{\"id\": \"y\", \"kind\": \"noop\"}\n",
    );
    assert_eq!(code(&dir.run(&["--ledger", "l.jsonl", "a.jsonl"])), 1);
    // Fixed, then resumed: x runs again and succeeds; y is skipped.
    dir.write(
        "a.jsonl",
        "{\"id\": \"x\", \"kind\": \"fail\", \"probability\": 0.0}\n{\"id\": \"y\", \"kind\": \"noop\"}\n",
    );
    assert_eq!(code(&dir.run(&["--ledger", "l.jsonl", "--resume", "a.jsonl"])), 0);
    assert_eq!(ledger(&dir.join("l.jsonl")).len(), 3);
    // A second ledger with a job of its own, and the first given twice.
    dir.write("b.jsonl", "{\"id\": \"z\", \"kind\": \"noop\"}\n");
    assert_eq!(code(&dir.run(&["--ledger", "m.jsonl", "b.jsonl"])), 0);
    let out = report(&dir, &["l.jsonl", "m.jsonl", "l.jsonl"]);
    assert_eq!(code(&out), 0);
    let html = std::fs::read_to_string(dir.join("conveyor-report.html")).expect("the default output");
    assert_eq!(data_count(&html, "total-jobs"), 3);
    assert_eq!(data_count(&html, "total-succeeded"), 3);
    assert_eq!(data_count(&html, "total-failed"), 0);
    assert_eq!(data_count(&html, "total-lines"), 4, "x's two lines, y and z; the repeat skipped");
    assert!(html.contains("3 repeated lines skipped"), "l.jsonl given twice");
}

#[test]
fn bad_inputs_are_located_errors_and_write_nothing() {
    let dir = Dir::new();
    let good = mixed_ledger(&dir);
    let first = std::fs::read_to_string(&good).expect("ledger");
    let first = first.lines().next().expect("a line");
    dir.write("empty.jsonl", "");
    dir.write("jobs-file.jsonl", "{\"id\": \"a\", \"kind\": \"noop\"}\n");
    dir.write("torn-middle.jsonl", &format!("{first}\n{}\n{first}\n", &first[..30]));
    dir.write("array.json", "[{\"id\": \"a\"}]\n");
    dir.write("binary.bin", "\u{0}\u{1}\u{2}garbage\n");
    std::fs::create_dir(dir.join("folder")).expect("mkdir");
    let cases: &[(&str, &str)] = &[
        ("empty.jsonl", "conveyor: empty.jsonl: no ledger lines"),
        ("jobs-file.jsonl", "conveyor: jobs-file.jsonl:1:27: not a ledger line: missing field `outcome`"),
        ("torn-middle.jsonl", "conveyor: torn-middle.jsonl:2:"),
        ("array.json", "conveyor: array.json:1:1: not a ledger line: expected a JSON object"),
        ("binary.bin", "conveyor: binary.bin:1:1: not a ledger line"),
        ("folder", "conveyor: folder: is a folder, not a ledger"),
        ("missing.jsonl", "conveyor: missing.jsonl: cannot open: No such file"),
    ];
    for (input, want) in cases {
        let out = report(&dir, &[input, "-o", "out.html"]);
        assert_eq!(code(&out), 2, "{input}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with(want), "{input}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!dir.join("out.html").exists(), "{input}: a page was written");
    }
    // No ledger is a usage error; --help has examples.
    let out = report(&dir, &[]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("required"));
    let out = report(&dir, &["--help"]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Examples:"));
    // The output may not be one of the inputs: the ledger would be lost.
    let out = report(&dir, &["run.ledger.jsonl", "-o", "run.ledger.jsonl"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is also an input ledger"));
    assert_eq!(ledger(&good).len(), 6, "the ledger is untouched");
    // A torn last line (a killed run) is skipped with a warning, and named on the page.
    dir.write("torn-last.jsonl", &format!("{first}\n{}", &first[..30]));
    let out = report(&dir, &["torn-last.jsonl", "-o", "out.html"]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("torn-last.jsonl:2:1: torn last line skipped"));
    let html = std::fs::read_to_string(dir.join("out.html")).expect("page");
    assert_eq!(data_count(&html, "total-jobs"), 1);
    assert!(html.contains("torn last line 2 skipped"));
}

#[test]
fn a_fifo_is_read_once_and_stdout_takes_the_page() {
    let dir = Dir::new();
    let good = mixed_ledger(&dir);
    let text = std::fs::read(&good).expect("ledger");
    let fifo = dir.join("ledger.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        let text = text.clone();
        std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(fifo)?.write_all(&text))
    };
    let out = report(&dir, &["ledger.fifo", "-o", "-"]);
    writer.join().expect("writer").expect("write to the FIFO");
    assert_eq!(code(&out), 0);
    let html = String::from_utf8(out.stdout).expect("utf-8");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(data_count(&html, "total-jobs"), 6);
    // A FIFO that does not carry a ledger is a located error too.
    let writer =
        std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(fifo)?.write_all(b"hello\n"));
    let out = report(&dir, &["ledger.fifo"]);
    writer.join().expect("writer").expect("write to the FIFO");
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("conveyor: ledger.fifo:1:1: not a ledger line"));
    // Stdin works too.
    let mut child = dir
        .cmd(conveyor())
        .args(["report", "-o", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(&text).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(data_count(&String::from_utf8_lossy(&out.stdout), "total-jobs"), 6);
}

/// A ledger of `n` jobs written directly: one in ten failed, one in a hundred timed out,
/// spread over ten minutes.
fn big_ledger(path: &Path, n: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for i in 0..n {
        let (outcome, error) = match i {
            i if i % 100 == 0 => ("timed_out", "\"timed out after 1s\"".to_owned()),
            i if i % 10 == 0 => ("failed", format!("\"error {}\"", i % 7)),
            _ => ("succeeded", "null".to_owned()),
        };
        let ms = i * 600_000 / n;
        let t = format!("2026-01-01T00:{:02}:{:02}.{:03}Z", ms / 60_000, ms / 1000 % 60, ms % 1000);
        writeln!(
            out,
            "{{\"id\":\"job-{i}\",\"name\":null,\"kind\":\"noop\",\"priority\":0,\"outcome\":\"{outcome}\",\
             \"attempts\":{a},\"queued_at\":\"{t}\",\"started_at\":\"{t}\",\"finished_at\":\"{t}\",\
             \"wait_seconds\":0.{w:06},\"run_seconds\":0.{r:06},\"error\":{error},\"spec_hash\":\"ff\"}}",
            a = 1 + i % 3,
            w = i % 1000,
            r = (i * 7919) % 999_999
        )
        .expect("write");
    }
    out.flush().expect("flush");
}

#[test]
fn a_hundred_thousand_jobs_make_a_small_page() {
    let dir = Dir::new();
    big_ledger(&dir.join("big.jsonl"), 100_000);
    let start = Instant::now();
    let out = report(&dir, &["big.jsonl", "-o", "big.html"]);
    assert_eq!(code(&out), 0);
    eprintln!("100k jobs reported in {:?}", start.elapsed());
    let html = std::fs::read_to_string(dir.join("big.html")).expect("page");
    assert_eq!(data_count(&html, "total-jobs"), 100_000);
    assert_eq!(data_count(&html, "total-failed"), 9_000);
    assert_eq!(data_count(&html, "total-timed_out"), 1_000);
    assert!(html.len() < 200_000, "the page does not grow with the jobs: {} bytes", html.len());
    assert!(html.matches("<g class='bar'").count() <= 60);
}

// --- In a browser ------------------------------------------------------------------------

/// Runs `script` (a function body) in the page and returns its value.
async fn js(client: &fantoccini::Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
}

#[tokio::test(flavor = "current_thread")]
async fn in_a_browser_the_page_opens_from_a_file_and_draws_its_charts() {
    let Some(client) = browser::browser().await else { return };
    let dir = Dir::new();
    let path = mixed_ledger(&dir);
    let lines = ledger(&path);
    assert_eq!(code(&report(&dir, &["run.ledger.jsonl", "-o", "report.html"])), 0);
    let page = format!("file://{}", dir.join("report.html").display());
    client.goto(&page).await.expect("open the page");
    // Opened from the file, with no script and no request of any kind, and nothing in the
    // console (a CSP violation would be there).
    assert_eq!(js(&client, "return document.readyState").await, "complete");
    assert_eq!(js(&client, "return document.scripts.length").await, 0);
    assert_eq!(js(&client, "return performance.getEntriesByType('resource').length").await, 0);
    assert_eq!(browser::js_errors(&client).await, Vec::<String>::new());
    // The charts are drawn: every chart has bars of a real size on screen.
    for id in ["chart-throughput", "chart-wait", "chart-run"] {
        let drawn = js(
            &client,
            &format!(
                "const s = document.getElementById('{id}'); const r = s.getBoundingClientRect();
                 const bars = [...s.querySelectorAll('rect[data-count]')].filter(b => b.getBBox().height > 0);
                 return [r.width, r.height, bars.length];"
            ),
        )
        .await;
        let v: Vec<f64> = drawn.as_array().expect("array").iter().map(|n| n.as_f64().expect("n")).collect();
        assert!(v[0] > 300.0 && v[1] > 100.0 && v[2] >= 1.0, "{id}: {v:?}");
    }
    // The totals people read match the ledger.
    let shown = js(
        &client,
        "return Object.fromEntries([...document.querySelectorAll('.card')].map(c =>
            [c.id, c.querySelector('.n').textContent.replace(/\\s/g, '')]))",
    )
    .await;
    assert_eq!(shown["total-jobs"], lines.len().to_string());
    for (outcome, n) in outcomes(&lines) {
        assert_eq!(shown[format!("total-{outcome}")], n.to_string(), "{outcome}");
    }
    // Escaped job ids show as text, not as markup.
    let text = js(&client, "return document.body.innerText").await;
    assert!(text.as_str().expect("text").contains("<img src=x onerror=alert(1)>"));
    client.set_window_size(1280, 2200).await.expect("resize");
    browser::screenshot(&client, "report-laptop").await;
    // On a phone the page itself does not scroll sideways (wide charts scroll in place).
    client.set_window_size(390, 2200).await.expect("resize");
    let overflow = js(&client, "return document.documentElement.scrollWidth - window.innerWidth").await;
    assert!(overflow.as_f64().expect("n") <= 0.0, "page wider than a phone by {overflow}px");
    browser::screenshot(&client, "report-phone").await;
    client.close().await.expect("close the session");
}

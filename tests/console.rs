//! The web console of `conveyor serve`, in a real browser (headless Chromium over
//! WebDriver, see `support/browser.rs`), against a real server: it loads without JavaScript
//! errors, lists jobs and their states, filters and searches, opens a job, cancels a
//! running job and re-runs a finished one from the page, draws its charts, and works on a
//! phone-sized screen. Screenshots of each page are saved (`CONVEYOR_TEST_SCREENSHOTS`).
//! Plus the JSON behind it over HTTP (`GET /jobs`, `GET /stats`, the pages' headers).

use std::time::Duration;

use conveyor_e2e::browser::{self, BROWSER_LIMIT, js_errors, screenshot, wait_for};
use conveyor_e2e::server::{Server, request};
use conveyor_e2e::{Dir, jsonl, ledger, wait_until};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// An id made to break a page that puts data into HTML.
const HOSTILE_ID: &str = "<img src=x onerror=\"document.title='owned'\">&amp;";

/// A server with finished jobs of every kind of ending, a long `slow` job running, and a
/// few hundred short jobs for the charts.
fn busy_server(dir: &Dir, extra: &[&str]) -> Server {
    let mut args = vec!["--workers", "6", "--ledger", "ledger.jsonl"];
    args.extend_from_slice(extra);
    let server = Server::start(dir, &args);
    let token_header = extra.iter().position(|a| *a == "--token").map(|i| format!("Bearer {}", extra[i + 1]));
    let headers: Vec<(&str, &str)> = token_header.iter().map(|t| ("Authorization", t.as_str())).collect();
    let post = |body: &str| {
        let (status, answer) = server.post_with(&headers, body);
        assert_eq!(status, 202, "{answer}");
    };
    post(&jsonl(1, |_| json!({"id": "slow", "kind": "sleep", "duration": "10m", "name": "a long nap"})));
    post(&jsonl(
        1,
        |_| json!({"id": "hello", "kind": "exec", "program": "echo", "args": ["hello from conveyor"]}),
    ));
    post(&jsonl(
        1,
        |_| json!({"id": "broken", "kind": "fail", "probability": 1.0, "message": "disk <full> & \"stuck\""}),
    ));
    post(&jsonl(1, |_| json!({"id": HOSTILE_ID, "kind": "noop"})));
    post(&jsonl(1, |_| json!({"id": "too-slow", "kind": "sleep", "duration": "5s", "timeout": "50ms"})));
    // Short jobs of mixed lengths and endings, for the charts and for paging, started at
    // 40 a second so that the charts have a few seconds to draw.
    let batch: Vec<Value> = (0..240)
        .map(|i| match i % 8 {
            0 => json!({"id": format!("batch-{i:03}"), "kind": "fail", "probability": 1.0, "message": "flaky"}),
            _ => json!({"id": format!("batch-{i:03}"), "kind": "sleep", "duration": format!("{}ms", 5 + (i * 7) % 60)}),
        })
        .collect();
    post(
        &json!({"limits": {"rate": {"charts": "40/1s"}}, "defaults": {"rate_key": "charts"}, "jobs": batch})
            .to_string(),
    );
    for id in ["hello", "broken", "too-slow", "batch-239"] {
        server.wait_final(id);
    }
    wait_until(BROWSER_LIMIT, "slow running", || server.get("/jobs/slow").1.contains("\"running\""));
    server
}

/// The ids in the page's job table, top to bottom.
async fn table_ids(client: &Client) -> Vec<String> {
    let value = client
        .execute("return [...document.querySelectorAll('#jobs tbody tr')].map(r => r.dataset.id)", vec![])
        .await
        .expect("reading the table");
    serde_json::from_value(value).expect("a list of ids")
}

/// Waits until the table's rows are exactly `ids` (in order).
async fn wait_rows(client: &Client, what: &str, ids: &[&str]) {
    let want = serde_json::to_string(ids).expect("json");
    let script = format!(
        "return JSON.stringify([...document.querySelectorAll('#jobs tbody tr')].map(r => r.dataset.id)) === {}",
        serde_json::to_string(&want).expect("json")
    );
    wait_for(client, what, &script).await;
}

/// Waits until the job page's state reads `state`.
async fn wait_status(client: &Client, state: &str) {
    let script = format!("return document.getElementById('job-status').textContent === '{state}'");
    wait_for(client, &format!("the job page to say {state}"), &script).await;
}

/// Waits until the list's first row is job `id`.
async fn wait_first_row(client: &Client, id: &str) {
    let script = format!("return document.querySelector('#jobs tbody tr')?.dataset.id === '{id}'");
    wait_for(client, &format!("{id} on top of the list"), &script).await;
}

/// Clicks the element with this `id`.
async fn click(client: &Client, id: &str) {
    let element = client.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("finding #{id}: {e}"));
    element.click().await.unwrap_or_else(|e| panic!("clicking #{id}: {e}"));
}

fn no_errors(errors: Vec<String>, page: &str) {
    assert!(errors.is_empty(), "JavaScript errors on {page}: {errors:#?}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_console_lists_filters_opens_cancels_and_reruns() {
    let Some(client) = browser::browser().await else { return };
    let dir = Dir::new();
    let server = busy_server(&dir, &[]);
    let base = format!("http://{}", server.addr);

    // The list: newest first, the states as words, counts, and both charts drawn.
    client.goto(&format!("{base}/")).await.expect("opening the console");
    wait_for(&client, "the job table", "return document.querySelectorAll('#jobs tbody tr').length === 50")
        .await;
    let ids = table_ids(&client).await;
    assert_eq!(ids[0], "batch-239", "newest first: {ids:?}");
    assert_eq!(ids[49], "batch-190");
    wait_for(
        &client,
        "the counts",
        "return document.querySelector('#counts [data-status=running] b')?.textContent === '1'",
    )
    .await;
    let failed = wait_for(
        &client,
        "failed count",
        "return document.querySelector('#counts [data-status=failed] b')?.textContent",
    )
    .await;
    assert_eq!(failed, json!("31"), "30 flaky batch jobs and `broken`");
    wait_for(
        &client,
        "the throughput bars",
        "return document.querySelectorAll('#chart-throughput rect').length > 0",
    )
    .await;
    wait_for(&client, "the wait lines", "return document.querySelectorAll('#chart-wait path').length === 2")
        .await;
    let summary = wait_for(
        &client,
        "the chart summary",
        "return document.getElementById('throughput-text').textContent",
    )
    .await;
    assert!(summary.as_str().is_some_and(|s| s.starts_with("Last 10 s:")), "{summary}");
    screenshot(&client, "console").await;
    no_errors(js_errors(&client).await, "the list");

    // Older pages, then back to the newest.
    click(&client, "older").await;
    wait_first_row(&client, "batch-189").await;
    click(&client, "newest").await;
    wait_first_row(&client, "batch-239").await;

    // Filter by state, then search by id.
    let select = client.find(Locator::Id("status")).await.expect("status filter");
    select.select_by_value("timed_out").await.expect("choosing timed_out");
    wait_rows(&client, "timed_out jobs only", &["too-slow"]).await;
    assert!(client.current_url().await.expect("url").as_str().ends_with("/?status=timed_out"));
    select.select_by_value("").await.expect("any state");
    let search = client.find(Locator::Id("q")).await.expect("search box");
    search.send_keys("HELLO").await.expect("typing");
    wait_rows(&client, "the search for hello", &["hello"]).await;
    search.clear().await.expect("clearing");
    search.send_keys("<img").await.expect("typing");
    wait_rows(&client, "the hostile id", &[HOSTILE_ID]).await;
    // Shown as text: no element made from it, its handler never ran.
    let link = client.find(Locator::Css("#jobs tbody a")).await.expect("the row's link");
    assert_eq!(link.text().await.expect("text"), HOSTILE_ID);
    let injected =
        client.execute("return document.querySelectorAll('#jobs img').length", vec![]).await.expect("js");
    assert_eq!(injected, json!(0));
    assert_ne!(client.title().await.expect("title"), "owned");
    no_errors(js_errors(&client).await, "the filtered list");

    // A finished job's page: ledger fields, output tail, spec; re-run it from the page.
    client.goto(&format!("{base}/")).await.expect("back to the list");
    let search = client.find(Locator::Id("q")).await.expect("search box");
    search.send_keys("hello").await.expect("typing");
    wait_rows(&client, "hello", &["hello"]).await;
    client.find(Locator::LinkText("hello")).await.expect("hello's link").click().await.expect("open hello");
    wait_status(&client, "succeeded").await;
    let output =
        wait_for(&client, "the output tail", "return document.getElementById('job-output').textContent")
            .await;
    assert!(output.as_str().is_some_and(|o| o.contains("hello from conveyor")), "{output}");
    let spec = wait_for(&client, "the spec", "return document.getElementById('job-spec').textContent").await;
    let spec: Value = serde_json::from_str(spec.as_str().expect("text")).expect("the spec is JSON");
    assert_eq!(spec["program"], "echo");
    let fields = client
        .execute("return [...document.querySelectorAll('#job-fields dt')].map(d => d.textContent)", vec![])
        .await
        .expect("js");
    // Every field GET /jobs/{id} has (the ledger's), but the tail shown below them.
    let (_, status) = server.get("/jobs/hello");
    let status: Value = serde_json::from_str(&status).expect("json");
    for field in status.as_object().expect("an object").keys().filter(|k| *k != "output_tail") {
        assert!(fields.as_array().expect("list").iter().any(|f| f == field), "{field} missing from {fields}");
    }
    click(&client, "rerun").await;
    wait_for(
        &client,
        "the re-run link",
        "return document.querySelector('#action-result a')?.textContent === 'hello-rerun-1'",
    )
    .await;
    assert_eq!(server.wait_final("hello-rerun-1")["outcome"], "succeeded");
    no_errors(js_errors(&client).await, "hello's page");

    // A running job's page: cancel it; the page and the ledger then say cancelled.
    client.goto(&format!("{base}/job?id=slow")).await.expect("slow's page");
    wait_status(&client, "running").await;
    click(&client, "cancel").await;
    wait_status(&client, "cancelled").await;
    wait_for(&client, "the cancel button gone", "return document.getElementById('cancel').hidden").await;
    wait_until(BROWSER_LIMIT, "slow's ledger line", || {
        ledger(&dir.join("ledger.jsonl")).iter().any(|l| l["id"] == "slow")
    });
    let line =
        ledger(&dir.join("ledger.jsonl")).into_iter().find(|l| l["id"] == "slow").expect("slow's line");
    assert_eq!(line["outcome"], "cancelled");
    no_errors(js_errors(&client).await, "slow's page");

    // The job page of the docs: a finished job with an error.
    client.goto(&format!("{base}/job?id=broken")).await.expect("broken's page");
    wait_status(&client, "failed").await;
    wait_for(
        &client,
        "broken's spec",
        "return document.getElementById('job-spec').textContent.includes('probability')",
    )
    .await;
    screenshot(&client, "console-job").await;

    // A phone: nothing wider than the screen but the table, which scrolls in its box.
    client.set_window_size(390, 844).await.expect("resizing");
    client.goto(&format!("{base}/")).await.expect("the list on a phone");
    wait_for(&client, "the table", "return document.querySelectorAll('#jobs tbody tr').length === 50").await;
    wait_for(&client, "the bars", "return document.querySelectorAll('#chart-throughput rect').length > 0")
        .await;
    let fits = client
        .execute("return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![])
        .await
        .expect("js");
    assert_eq!(fits, json!(true), "the page scrolls sideways on a phone");
    screenshot(&client, "console-phone").await;
    no_errors(js_errors(&client).await, "the phone list");

    client.close().await.expect("closing the browser");
    drop(server.stop("TERM"));
}

#[tokio::test(flavor = "current_thread")]
async fn cancelling_from_the_page_needs_the_token_when_the_server_has_one() {
    let Some(client) = browser::browser().await else { return };
    let dir = Dir::new();
    let server = Server::start(&dir, &["--token", "s3cret", "--ledger", "ledger.jsonl"]);
    let (status, _) = server.post_with(
        &[("Authorization", "Bearer s3cret")],
        &jsonl(1, |_| json!({"id": "nap", "kind": "sleep", "duration": "10m"})),
    );
    assert_eq!(status, 202);
    let base = format!("http://{}", server.addr);
    client.goto(&format!("{base}/job?id=nap")).await.expect("nap's page");
    wait_status(&client, "running").await;
    click(&client, "cancel").await;
    let said =
        wait_for(&client, "the refusal", "return document.getElementById('action-result').textContent").await;
    assert!(said.as_str().is_some_and(|s| s.contains("token")), "{said}");
    assert!(server.get("/jobs/nap").1.contains("\"running\""), "cancelled without the token");

    // The token is typed into the page, kept in the tab, and sent as a header.
    let input = client.find(Locator::Id("token")).await.expect("token field");
    input.send_keys("s3cret").await.expect("typing the token");
    client.find(Locator::Css("#token-form button")).await.expect("use").click().await.expect("click use");
    click(&client, "cancel").await;
    wait_status(&client, "cancelled").await;
    assert!(
        !client.current_url().await.expect("url").as_str().contains("s3cret"),
        "the token went into a URL"
    );
    // The refused DELETE is the page's only error (the browser logs a 401 as one).
    let errors = js_errors(&client).await;
    assert!(errors.iter().all(|e| e.contains("/jobs/nap") && e.contains("401")), "{errors:#?}");
    client.close().await.expect("closing the browser");
    drop(server.stop("TERM"));
}

#[test]
fn the_list_api_pages_filters_and_refuses_bad_queries() {
    let dir = Dir::new();
    let server = Server::start(&dir, &["--workers", "2"]);
    let (status, _) = server.post(&jsonl(25, |i| json!({"id": format!("n{i:02}"), "kind": "noop"})));
    assert_eq!(status, 202);
    server.wait_final("n24");
    wait_until(BROWSER_LIMIT, "every job final", || {
        let (_, body) = server.get("/jobs?status=succeeded&limit=100");
        serde_json::from_str::<Value>(&body)
            .is_ok_and(|v| v["jobs"].as_array().is_some_and(|j| j.len() == 25))
    });

    let mut seen = Vec::new();
    let mut path = "/jobs?limit=10".to_owned();
    loop {
        let (status, body) = server.get(&path);
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).expect("json");
        for job in page["jobs"].as_array().expect("jobs") {
            assert_eq!(job["status"], "succeeded");
            assert_eq!(job["attempts"], 1);
            seen.push(job["id"].as_str().expect("id").to_owned());
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/jobs?limit=10&after={next}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("n{i:02}")).collect();
    assert_eq!(seen, expected);

    let (status, body) = server.get("/jobs?status=finished");
    assert_eq!(status, 400);
    assert!(body.contains("unknown status `finished`"), "{body}");
    let (status, body) = server.get("/jobs?limit=0");
    assert_eq!((status, body.contains("`limit`")), (400, true), "{body}");

    let (status, body) = server.get("/stats");
    assert_eq!(status, 200);
    let stats: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(stats["counts"]["succeeded"], 25);
    assert_eq!(stats["total"], 25);
    let finished: u64 = stats["seconds"]
        .as_array()
        .expect("seconds")
        .iter()
        .map(|s| s["succeeded"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(finished, 25);

    // The pages come with a strict policy; a write from another site's page is refused.
    let answer = raw_head(&server.addr, "/");
    assert!(answer.contains("content-security-policy: default-src 'none'; script-src 'self'"), "{answer}");
    let (status, body) = request(
        &server.addr,
        "POST",
        "/jobs/n00/rerun",
        &[("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")],
        b"",
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = request(&server.addr, "POST", "/jobs/n00/rerun", &[], b"");
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("n00-rerun-1"), "{body}");
    drop(server.stop("TERM"));
}

/// The response head of `GET path`, lower-cased.
fn raw_head(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase()
}

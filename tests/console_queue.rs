//! `conveyor console`, the PostgreSQL queue's web console, in a real browser (headless
//! Chromium over WebDriver) against a real queue and a real worker: jobs submitted to two
//! named queues with `conveyor submit`, one worker serving one of them. The page loads
//! without JavaScript errors, counts each queue right, shows the worker and what it holds,
//! filters by queue and state, opens a job with its attempts, cancels a waiting job and
//! retries a failed one from the page (it runs again, on the worker), and fits a phone. The list's
//! screenshot is saved as `console-queue.png` (`CONVEYOR_TEST_SCREENSHOTS`). Plus the JSON
//! behind it (`/queues`, `/workers`, the list's `queue` filter, the write checks).

use conveyor_e2e::browser::{self, BROWSER_LIMIT, js_errors, screenshot, wait_for};
use conveyor_e2e::pg::{TestDb, Worker, conveyor_out};
use conveyor_e2e::server::{Server, request};
use conveyor_e2e::{Dir, wait_until};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// An id made to break a page that puts data into HTML.
const HOSTILE_ID: &str = "<img src=x onerror=\"document.title='owned'\">";

/// `GET path` on the console, as JSON.
fn get(server: &Server, path: &str) -> Value {
    let (status, body) = server.get(path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

fn job_status(server: &Server, id: &str) -> String {
    get(server, &format!("/jobs/{id}"))["status"].as_str().unwrap_or("").to_owned()
}

/// Submits `jobs` to the queue with `conveyor submit`.
fn submit(dir: &Dir, db: &TestDb, name: &str, jobs: &[Value]) {
    let text: String = jobs.iter().map(|j| format!("{j}\n")).collect();
    let path = dir.write(name, &text);
    let out = conveyor_out(dir, &["submit", "--queue", &db.url, path.to_str().unwrap_or_default()]);
    assert!(out.status.success(), "submit failed");
}

async fn click(client: &Client, id: &str) {
    let element = client.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("finding #{id}: {e}"));
    element.click().await.unwrap_or_else(|e| panic!("clicking #{id}: {e}"));
}

async fn wait_status(client: &Client, state: &str) {
    let script = format!("return document.getElementById('job-status').textContent === '{state}'");
    wait_for(client, &format!("the job page to say {state}"), &script).await;
}

/// The ids of the list's rows, sorted.
async fn wait_rows(client: &Client, what: &str, ids: &[&str]) {
    let mut want: Vec<&str> = ids.to_vec();
    want.sort_unstable();
    let want = serde_json::to_string(&serde_json::to_string(&want).unwrap_or_default()).unwrap_or_default();
    let script = format!(
        "return JSON.stringify([...document.querySelectorAll('#jobs tbody tr')].map(r => r.dataset.id).sort()) === {want}"
    );
    wait_for(client, what, &script).await;
}

async fn queue_count(client: &Client, queue: &str, count: &str, n: u64) {
    let script = format!(
        "return document.querySelector('#queues tr[data-queue=\"{queue}\"] [data-count=\"{count}\"]')?.textContent === '{n}'"
    );
    wait_for(client, &format!("{queue}: {count} = {n}"), &script).await;
}

#[test]
fn the_queue_console_shows_queues_workers_and_cancels_and_retries() {
    let Some(db) = TestDb::create() else { return };
    let dir = Dir::new();
    submit(
        &dir,
        &db,
        "mail.jsonl",
        &[
            json!({"id": "mail-ok", "kind": "noop", "queue": "mail"}),
            json!({"id": "mail-broken", "kind": "fail", "probability": 1.0, "message": "disk <full> & \"stuck\"", "queue": "mail"}),
            json!({"id": "mail-slow", "kind": "sleep", "duration": "10m", "queue": "mail"}),
        ],
    );
    submit(
        &dir,
        &db,
        "images.jsonl",
        &[
            json!({"id": "img-1", "kind": "noop", "queue": "images"}),
            json!({"id": "img-2", "kind": "noop", "queue": "images"}),
            json!({"id": HOSTILE_ID, "kind": "noop", "queue": "images"}),
        ],
    );
    // One worker, for `mail` only: the images wait.
    let worker = Worker::start(&dir, &db.url, "w-mail", &["--queues", "mail"]);
    let server = Server::start_console(&dir, &db.url, &[]);
    wait_until(BROWSER_LIMIT, "mail's jobs to end or start", || {
        job_status(&server, "mail-ok") == "succeeded"
            && job_status(&server, "mail-broken") == "failed"
            && job_status(&server, "mail-slow") == "running"
    });

    // The JSON: per queue counts, the worker and what it holds, the queue filter.
    let queues = get(&server, "/queues")["queues"].clone();
    assert_eq!(queues[0]["queue"], "images");
    assert_eq!((queues[0]["waiting"].as_u64(), queues[0]["running"].as_u64()), (Some(3), Some(0)));
    assert_eq!(queues[1]["queue"], "mail");
    assert_eq!((queues[1]["running"].as_u64(), queues[1]["failed"].as_u64()), (Some(1), Some(1)));
    let workers = get(&server, "/workers");
    assert_eq!(workers["workers"][0]["name"], "w-mail");
    assert_eq!(workers["workers"][0]["jobs"], json!(["mail-slow"]));
    assert_eq!(workers["stuck"], json!([]));
    let images = get(&server, "/jobs?queue=images&limit=2");
    assert_eq!(images["jobs"].as_array().map(Vec::len), Some(2));
    let rest = get(&server, &format!("/jobs?queue=images&after={}", images["next"].as_str().unwrap_or("")));
    assert_eq!(rest["jobs"][0]["id"], "img-1");
    assert_eq!(rest["next"], Value::Null);
    let (status, body) = server.get("/jobs?status=available");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown status `available`"), "{body}");
    // Writes from another site are refused, token or not.
    let (status, _) =
        request(&server.addr, "DELETE", "/jobs/img-2", &[("Sec-Fetch-Site", "cross-site")], b"");
    assert_eq!(status, 403);
    assert_eq!(job_status(&server, "img-2"), "queued");

    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let Some(client) = browser::browser().await else { return };
        let base = format!("http://{}", server.addr);
        client.goto(&format!("{base}/")).await.unwrap_or_else(|e| panic!("opening the console: {e}"));
        queue_count(&client, "images", "waiting", 3).await;
        queue_count(&client, "mail", "running", 1).await;
        queue_count(&client, "mail", "failed", 1).await;
        wait_for(
            &client,
            "the worker, live, holding mail-slow",
            "const row = document.querySelector('#workers tr[data-worker=\"w-mail\"]'); \
             return !!row && row.textContent.includes('live') && row.textContent.includes('mail-slow')",
        )
        .await;
        wait_rows(&client, "every job", &["mail-ok", "mail-broken", "mail-slow", "img-1", "img-2", HOSTILE_ID]).await;
        assert_eq!(client.title().await.unwrap_or_default(), "Jobs · Conveyor console", "data ran as HTML");
        // Tall enough to show the job list below the panels.
        client.set_window_size(1280, 1500).await.unwrap_or_else(|e| panic!("resizing: {e}"));
        screenshot(&client, "console-queue").await;
        client.set_window_size(1280, 900).await.unwrap_or_else(|e| panic!("resizing: {e}"));

        // Filters: by queue, then by state.
        let queue = client.find(Locator::Id("queue")).await.unwrap_or_else(|e| panic!("queue filter: {e}"));
        queue.select_by_value("images").await.unwrap_or_else(|e| panic!("choosing images: {e}"));
        wait_rows(&client, "the images", &["img-1", "img-2", HOSTILE_ID]).await;
        assert!(client.current_url().await.map(|u| u.as_str().ends_with("/?queue=images")).unwrap_or(false));
        queue.select_by_value("").await.unwrap_or_else(|e| panic!("any queue: {e}"));
        let state = client.find(Locator::Id("status")).await.unwrap_or_else(|e| panic!("state filter: {e}"));
        state.select_by_value("failed").await.unwrap_or_else(|e| panic!("choosing failed: {e}"));
        wait_rows(&client, "the failed job", &["mail-broken"]).await;

        // Cancel a waiting job from its page.
        client.goto(&format!("{base}/job?id=img-1")).await.unwrap_or_else(|e| panic!("opening img-1: {e}"));
        wait_status(&client, "queued").await;
        click(&client, "cancel").await;
        wait_status(&client, "cancelled").await;

        // Retry the failed job: it runs again on the worker (and fails again: a second
        // attempt, by w-mail).
        client.goto(&format!("{base}/job?id=mail-broken")).await.unwrap_or_else(|e| panic!("opening: {e}"));
        wait_status(&client, "failed").await;
        wait_for(&client, "one attempt", "return document.querySelectorAll('#attempts tbody tr').length === 1").await;
        let label = client.find(Locator::Id("rerun")).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(label.text().await.unwrap_or_default().starts_with("Retry"));
        click(&client, "rerun").await;
        wait_for(
            &client,
            "a second attempt by w-mail, failed",
            "const rows = [...document.querySelectorAll('#attempts tbody tr')]; \
             return rows.length === 2 && rows[1].textContent.includes('w-mail') && rows[1].textContent.includes('failed') \
                 && document.getElementById('job-status').textContent === 'failed'",
        )
        .await;

        // A phone: the panels' tables scroll in their boxes; the page does not.
        client.set_window_size(390, 844).await.unwrap_or_else(|e| panic!("resizing: {e}"));
        client.goto(&format!("{base}/")).await.unwrap_or_else(|e| panic!("the list on a phone: {e}"));
        queue_count(&client, "images", "waiting", 2).await;
        let fits = client
            .execute("return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fits, json!(true), "the page scrolls sideways on a phone");
        screenshot(&client, "console-queue-phone").await;
        let errors = js_errors(&client).await;
        assert!(errors.is_empty(), "JavaScript errors: {errors:#?}");
        let _ = client.close().await;
    });
    assert_eq!(job_status(&server, "img-1"), "cancelled");
    let job = get(&server, "/jobs/mail-broken");
    assert_eq!(job["attempts"], 2);
    assert_eq!(job["attempts_run"][1]["worker"], "w-mail");
    server.stop("TERM");
    drop(worker);
}

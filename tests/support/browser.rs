//! A real browser for the tests: headless Chromium driven over WebDriver by `chromedriver`,
//! which `tests/run.sh` starts and names in [`WEBDRIVER`] (`http://127.0.0.1:PORT`).
//!
//! ```no_run
//! # async fn example() {
//! use conveyor_e2e::browser;
//! let Some(client) = browser::browser().await else { return }; // skipped: no chromedriver
//! client.goto("http://127.0.0.1:9480/").await.unwrap();
//! browser::wait_for(&client, "the table", "return document.querySelector('table')").await;
//! browser::screenshot(&client, "console").await;
//! assert_eq!(browser::js_errors(&client).await, Vec::<String>::new());
//! client.close().await.unwrap();
//! # }
//! ```
//!
//! Chromium runs headless, with `--no-sandbox` (the tests run as root in CI) and a fresh
//! temporary profile that chromedriver makes and removes per session; its window is
//! 1280×900 unless a test resizes it. [`js_errors`] reads the browser's console log (uncaught
//! exceptions, rejected promises logged by the page, Content-Security-Policy violations,
//! failed loads of the page's own files), so a test sees errors the page itself hides.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use crate::servers::var;

/// The WebDriver URL (`http://127.0.0.1:PORT`, chromedriver) from `tests/run.sh`.
pub const WEBDRIVER: &str = "CONVEYOR_TEST_WEBDRIVER";
/// The browser binary chromedriver should start (optional; chromedriver finds
/// `/usr/bin/chromium` on Debian itself).
pub const CHROMIUM: &str = "CONVEYOR_TEST_CHROMIUM";
/// Where [`screenshot`] saves its PNGs (optional; default `$TMPDIR/conveyor-screenshots`).
pub const SCREENSHOTS: &str = "CONVEYOR_TEST_SCREENSHOTS";
/// How long a wait in the browser may take before the test fails.
pub const BROWSER_LIMIT: Duration = Duration::from_secs(30);

/// A new browser session, or `None` (the test is skipped, with a message) when
/// [`WEBDRIVER`] is unset.
///
/// # Panics
///
/// If [`WEBDRIVER`] is unset and `CONVEYOR_TEST_SERVERS=required`, or chromedriver does not
/// start a session.
pub async fn browser() -> Option<Client> {
    let url = var(WEBDRIVER)?;
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--hide-scrollbars", "--lang=en-US"],
    });
    if let Ok(binary) = std::env::var(CHROMIUM)
        && !binary.is_empty()
    {
        options["binary"] = Value::from(binary);
    }
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": options,
        "goog:loggingPrefs": {"browser": "ALL"},
    });
    let Value::Object(capabilities) = capabilities else { unreachable!("an object literal") };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("no browser session from the WebDriver at {url}: {e}"));
    Some(client)
}

/// `POST /session/{id}/se/log {"type": "browser"}`: chromedriver's read of the browser's
/// console log since the last read (not in the W3C protocol, so not in fantoccini).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type": "browser"}"#.to_owned()))
    }
}

/// The errors (level `SEVERE`) in the browser's console log since the last call: uncaught
/// exceptions, CSP violations, failed loads. Each as `SOURCE: MESSAGE`.
///
/// # Panics
///
/// If chromedriver cannot read the log.
pub async fn js_errors(client: &Client) -> Vec<String> {
    let log = client.issue_cmd(BrowserLog).await.unwrap_or_else(|e| panic!("reading the browser log: {e}"));
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| {
            format!(
                "{}: {}",
                entry["source"].as_str().unwrap_or("?"),
                entry["message"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// Runs `script` (a function body: `return …`) in the page until it returns something
/// other than `null`, `false`, `""` or `0`, and returns that.
///
/// # Panics
///
/// If it has not within [`BROWSER_LIMIT`] (the message names `what` and the last answer),
/// or the script throws.
pub async fn wait_for(client: &Client, what: &str, script: &str) -> Value {
    let start = Instant::now();
    loop {
        let value =
            client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
        let truthy = match &value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        if truthy {
            return value;
        }
        assert!(
            start.elapsed() < BROWSER_LIMIT,
            "timed out after {BROWSER_LIMIT:?} waiting for {what}; last: {value}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The folder screenshots go to: [`SCREENSHOTS`], else `$TMPDIR/conveyor-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    match std::env::var_os(SCREENSHOTS) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::temp_dir().join("conveyor-screenshots"),
    }
}

/// Saves a PNG of the browser's window as `NAME.png` in [`screenshot_dir`]; returns its
/// path (also printed, for a look after the run).
///
/// # Panics
///
/// If the browser cannot take it or the file cannot be written.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.unwrap_or_else(|e| panic!("taking screenshot {name}: {e}"));
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    eprintln!("screenshot: {}", path.display());
    path
}

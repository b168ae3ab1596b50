//! The `http` kind against a small HTTP/1.1 server the test starts on loopback.

mod kind_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conveyor_pool::JobError;
use kind_support::{env, kind_error, quote, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// Serves: `/status/N` answers status N; `/hang` never answers; anything else 200.
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, log.clone()));
            }
        });
        Server { base, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(mut stream: TcpStream, log: Arc<Mutex<Vec<Seen>>>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (method, path) =
        (first.next().unwrap_or_default().to_owned(), first.next().unwrap_or_default().to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    log.lock().unwrap().push(Seen {
        method,
        path: path.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if path == "/hang" {
        std::future::pending::<()>().await;
    }
    let status: u16 = path.strip_prefix("/status/").and_then(|s| s.parse().ok()).unwrap_or(200);
    let text = "hello from the test server";
    let response = format!(
        "HTTP/1.1 {status} Whatever\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn http_job(url: &str, extra: &str) -> String {
    format!(r#"{{"kind": "http", "url": {}{extra}}}"#, quote(url))
}

#[tokio::test]
async fn http_get_200_succeeds() {
    let server = Server::start().await;
    let output = run(&http_job(&server.url("/ok"), ""), &env(false)).await.unwrap();
    assert_eq!((output.exit_code, output.output_tail), (None, None));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("GET", "/ok"));
}

#[tokio::test]
async fn http_any_2xx_succeeds_by_default() {
    let server = Server::start().await;
    run(&http_job(&server.url("/status/204"), ""), &env(false)).await.unwrap();
}

#[tokio::test]
async fn http_500_fails_naming_the_status() {
    let server = Server::start().await;
    let url = server.url("/status/500");
    let err = run(&http_job(&url, ""), &env(false)).await.unwrap_err();
    assert_eq!(
        kind_error(&err).to_string(),
        format!("GET {url}: unexpected status 500 Internal Server Error (expected any 2xx)")
    );
}

#[tokio::test]
async fn http_expect_status_decides() {
    let server = Server::start().await;
    // A 500 that is expected succeeds…
    run(&http_job(&server.url("/status/500"), r#", "expect_status": 500"#), &env(false)).await.unwrap();
    // …and a 200 that is not fails.
    let url = server.url("/ok");
    let err = run(&http_job(&url, r#", "expect_status": 201"#), &env(false)).await.unwrap_err();
    assert_eq!(kind_error(&err).to_string(), format!("GET {url}: unexpected status 200 OK (expected 201)"));
    run(&http_job(&server.url("/status/201"), r#", "expect_status": 201"#), &env(false)).await.unwrap();
}

#[tokio::test]
async fn http_sends_method_headers_and_body() {
    let server = Server::start().await;
    let extra = r#", "method": "PUT", "headers": {"x-conveyor-test": "yes", "content-type": "text/plain"}, "body": "payload ü""#;
    run(&http_job(&server.url("/put"), extra), &env(false)).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!((req.method.as_str(), req.path.as_str(), req.body.as_str()), ("PUT", "/put", "payload ü"));
    let header = |name: &str| req.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(header("x-conveyor-test"), Some("yes"));
    assert_eq!(header("content-type"), Some("text/plain"));
    assert!(header("user-agent").is_some_and(|ua| ua.starts_with("conveyor/")), "{:?}", req.headers);
}

#[tokio::test]
async fn http_connection_refused_fails_with_the_cause() {
    // A port that was just free: nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let err = run(&http_job(&url, ""), &env(false)).await.unwrap_err();
    let message = kind_error(&err).to_string();
    assert!(message.starts_with(&format!("GET {url} failed: ")), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test]
async fn http_stops_at_its_timeout() {
    let server = Server::start().await;
    let start = Instant::now();
    let job = http_job(&server.url("/hang"), r#", "timeout": "300ms""#);
    let err = tokio::time::timeout(Duration::from_secs(30), run(&job, &env(false)))
        .await
        .expect("the request ignored its cancellation")
        .unwrap_err();
    assert!(matches!(err, JobError::TimedOut), "{err:?}");
    // The pool's grace is 60 s: the kind gave up on the request by itself.
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    assert_eq!(server.seen().len(), 1);
}

//! The Prometheus exporter of `conveyor run`: `--metrics-addr` serves `GET /metrics` while the
//! run lasts, `--pushgateway` pushes the final values when it ends.
//!
//! The recorder is `metrics-exporter-prometheus`'s, installed globally **before** the pool is
//! built (the pool takes its metric handles when it is built). The job time histograms get
//! explicit buckets so they are exposed as Prometheus histograms, not summaries.
//!
//! The HTTP side is a few lines of HTTP/1.1 over a tokio `TcpListener` (no web framework):
//! it binds before the run starts, so `--metrics-addr 0` can print the port it got, and a
//! port that is taken is an error before any job runs.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use conveyor_pool::metrics::{JOB_RUN_SECONDS, JOB_WAIT_SECONDS};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bucket upper bounds (seconds) of `conveyor_job_wait_seconds` and
/// `conveyor_job_run_seconds`: 1 ms to 10 min, about three per decade (1–2.5–5).
///
/// Why these: jobs range from sub-millisecond (`noop`, a cached HTTP call, the wait of a job
/// that found a free worker) to minutes (`exec` batch work, the `--timeout` users set), so
/// the range must span 1 ms … 10 min; a job slower than 10 min lands in `+Inf` and still
/// counts. Three buckets per decade keep `histogram_quantile` within a factor of ~2.5 of the
/// true percentile anywhere in that range, the error a dashboard can live with, at 19 series
/// per kind per histogram — few enough that every worker's histograms can be summed across
/// instances (which a summary's quantiles cannot). Finer buckets would multiply the series
/// for every kind without making a p99 panel more useful.
pub const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0,
];

/// Installs the global Prometheus recorder and returns its handle.
///
/// # Errors
///
/// If a global recorder is already installed.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let mut builder = PrometheusBuilder::new();
    for name in [JOB_WAIT_SECONDS, JOB_RUN_SECONDS] {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), BUCKETS)
            .context("configuring histogram buckets")?;
    }
    builder.install_recorder().context("installing the metrics recorder")
}

/// Binds `addr` and serves `GET /metrics` from `handle` in a background task until the
/// process ends. Returns the address bound (the real port when `addr`'s is 0).
///
/// # Errors
///
/// If `addr` cannot be bound.
pub async fn serve(addr: SocketAddr, handle: PrometheusHandle) -> anyhow::Result<SocketAddr> {
    let listener =
        TcpListener::bind(addr).await.with_context(|| format!("--metrics-addr: cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, say: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                // A client that hangs up or stalls only loses its own answer.
                let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, &handle)).await;
            });
        }
    });
    Ok(bound)
}

/// Reads one request head and answers it.
async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", handle.render())
        }
        ("GET" | "HEAD", "/healthz") => ("200 OK", "text/plain; charset=utf-8", "ok\n".into()),
        ("GET" | "HEAD", _) => {
            ("404 Not Found", "text/plain; charset=utf-8", "not found; try /metrics\n".into())
        }
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", "only GET\n".into()),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&response).await?;
    stream.shutdown().await
}

/// PUTs `handle`'s current exposition to a Pushgateway at `url` (an `http://` URL whose path
/// names the job group, e.g. `/metrics/job/conveyor`), replacing that group's metrics.
///
/// # Errors
///
/// If the gateway cannot be reached in 10 s or answers with anything but 2xx.
pub async fn push(url: &url::Url, handle: &PrometheusHandle) -> anyhow::Result<()> {
    handle.run_upkeep();
    let body = handle.render();
    let host = url.host_str().unwrap_or("localhost");
    let port = url.port_or_known_default().unwrap_or(80);
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let exchange = async {
        let mut stream = TcpStream::connect((host, port)).await?;
        let request = format!(
            "PUT {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/plain; \
             version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within 10s"))
        .and_then(|r| r.map_err(anyhow::Error::from))
        .with_context(|| format!("--pushgateway: pushing to {url}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let status_line = answer.lines().next().unwrap_or("");
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    if !code.starts_with('2') {
        bail!("--pushgateway: {url} answered {status_line:?}");
    }
    Ok(())
}

//! The Prometheus exporter of `conveyor run`: `--metrics-addr` serves `GET /metrics` while the
//! run lasts, `--pushgateway` pushes the final values when it ends.
//!
//! The recorder is `metrics-exporter-prometheus`'s, installed globally **before** the pool is
//! built (the pool takes its metric handles when it is built). The job time histograms get
//! explicit buckets so they are exposed as Prometheus histograms, not summaries.
//!
//! `GET /metrics` and `GET /healthz` are an axum router on [`crate::listener`], `serve`'s
//! listener (header timeout, connection cap). It binds before the run starts, so
//! `--metrics-addr 0` can print the port it got, and a port that is taken is an error before
//! any job runs. The push is one `PUT` through reqwest.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use conveyor_pool::metrics::{JOB_RUN_SECONDS, JOB_WAIT_SECONDS};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::listener;

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

/// The Prometheus text format's content type.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a push may take, connecting included.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr` and serves `GET /metrics` from `handle` (and `GET /healthz`) in a background
/// task until the process ends. Returns the address bound (the real port when `addr`'s is 0).
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
    let limits = listener::Limits {
        header_timeout: listener::HEADER_TIMEOUT,
        max_connections: listener::default_max_connections(),
    };
    tokio::spawn(async move {
        // Never sent: the listener serves until the process ends.
        let (_open, close) = tokio::sync::oneshot::channel();
        listener::serve(listener, router(handle), limits, close).await;
    });
    Ok(bound)
}

/// `GET /metrics` (the exposition), `GET /healthz` (`ok`); `HEAD` too; anything else is a
/// 404 or a 405.
fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found; try /metrics\n") })
        .with_state(handle)
}

async fn metrics(State(handle): State<PrometheusHandle>) -> Response {
    ([(header::CONTENT_TYPE, EXPOSITION)], handle.render()).into_response()
}

/// PUTs `handle`'s current exposition to a Pushgateway at `url` (an `http://` URL whose path
/// names the job group, e.g. `/metrics/job/conveyor`), replacing that group's metrics.
///
/// # Errors
///
/// If the gateway cannot be reached in 10 s or answers with anything but 2xx.
pub async fn push(url: &url::Url, handle: &PrometheusHandle) -> anyhow::Result<()> {
    handle.run_upkeep();
    let client = reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        // `Content-Length`, not `content-length`: as a hand-written client sent it, for
        // gateways (and tests) that read headers case-sensitively.
        .http1_title_case_headers()
        .build()
        .context("--pushgateway: starting the HTTP client")?;
    let answer = client
        .put(url.as_str())
        .header(reqwest::header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(handle.render())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() { anyhow::anyhow!("no answer within 10s") } else { e.without_url().into() }
        })
        .with_context(|| format!("--pushgateway: pushing to {url}"))?;
    let status = answer.status();
    if !status.is_success() {
        bail!("--pushgateway: {url} answered \"{:?} {status}\"", answer.version());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn serves_metrics_and_healthz_on_the_port_it_bound() {
        let handle = PrometheusBuilder::new().build_recorder().handle();
        let bound = serve("127.0.0.1:0".parse().unwrap(), handle).await.unwrap();
        assert_ne!(bound.port(), 0);
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("http://{bound}{path}")).send();
        let metrics = get("/metrics").await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert_eq!(metrics.headers()[header::CONTENT_TYPE], EXPOSITION);
        let healthz = get("/healthz").await.unwrap();
        assert_eq!((healthz.status().as_u16(), healthz.text().await.unwrap()), (200, "ok\n".to_owned()));
        assert_eq!(get("/nope").await.unwrap().status(), 404);
        let post = client.post(format!("http://{bound}/metrics")).send().await.unwrap();
        assert_eq!(post.status(), 405);
    }
}

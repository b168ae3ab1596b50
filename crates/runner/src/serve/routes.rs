//! The HTTP API of `conveyor serve` (an axum [`Router`]).
//!
//! | request | answers |
//! |---|---|
//! | `POST /jobs` (a job file: JSON document or JSON Lines) | `202 {"ids": [...]}`; `400 {"errors": [...]}` (located as by `validate`, nothing queued); `409 {"errors": [...]}` for an `id` the server already accepted (nothing queued); `401` without the `--token`; `413` over `--max-body`; `503` while stopping |
//! | `GET /jobs/{id}` | `200 {"id", "status"}`: `queued`, `scheduled`, `running`, `retrying`, or the outcome, then with the ledger fields; `404` unknown |
//! | `DELETE /jobs/{id}` (token as for `POST`) | `202 {"id", "status": "cancelling"}` for a job in the pool (its line comes when it has stopped); `200` with the final status for a job that had not reached the pool (now `cancelled`, 0 attempts) or a periodic entry (now `stopped`); `409` already final; `404` unknown |
//! | `GET /metrics` | the Prometheus exposition |
//! | `GET /healthz` | `200 ok`; `503` with the reason once the ledger cannot be written (then `POST` answers `503` too) |
//!
//! Errors that are not about the job file are `{"error": "message"}`. The body is parsed as
//! a file named `request` (errors say `request:LINE:COL`, generated ids start `request-`);
//! a `limits` section applies to the whole server (the last request to set a key wins).
//! Periodic jobs (`every`, `cron`) are scheduled (see [`super::intake`]); their status is
//! `{"id", "status": "periodic", "runs", "skipped"}`, and each run has its own id.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use conveyor_pool::Pool;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use serde_json::json;

use super::state::{Cancelled, JobTable, Refused};
use crate::ledger::{Fault, RecordSender};
use crate::spec::{self, ParseOptions, SpecError};

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) table: Arc<JobTable>,
    pub(crate) pool: Pool,
    pub(crate) metrics: PrometheusHandle,
    pub(crate) token: Option<Arc<str>>,
    /// The ledger writer, for jobs `DELETE` finishes itself.
    pub(crate) records: RecordSender,
    /// The ledger writer's first error: once there is one, `POST` and `/healthz` answer 503.
    pub(crate) fault: Fault,
    /// `--allow-shell`: `shell` jobs are refused (400) without it.
    pub(crate) allow_shell: bool,
}

/// The routes, with request bodies limited to `max_body` bytes.
pub(crate) fn router(app: App, max_body: usize) -> Router {
    Router::new()
        .route("/jobs", post(post_jobs))
        .route("/jobs/{id}", get(get_job).delete(delete_job))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(app)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// `{"errors": [...]}`, each `{"path", "line", "column", "field", "message"}` in that order.
#[derive(Serialize)]
struct Errors<'a> {
    errors: &'a [SpecError],
}

/// `{"ids": [...]}`.
#[derive(Serialize)]
struct Ids<'a> {
    ids: Vec<&'a str>,
}

fn located(status: StatusCode, errors: &[SpecError]) -> Response {
    (status, axum::Json(Errors { errors })).into_response()
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(token) = &app.token else { return true };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
}

async fn post_jobs(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    if !app.table.is_open() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping; no new jobs");
    }
    if let Some(e) = app.fault.error() {
        return error(StatusCode::SERVICE_UNAVAILABLE, &ledger_unwritable(&e));
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "request body larger than --max-body");
        }
        Err(rejection) => return error(rejection.status(), &rejection.body_text()),
    };
    // The body is parsed on a blocking thread: a 16 MiB file takes a while.
    let allow_shell = app.allow_shell;
    let parsed = tokio::task::spawn_blocking(move || {
        let options = ParseOptions::default().allow_periodic(true).allow_shell(allow_shell);
        spec::parse_bytes("request", &body, &options)
    })
    .await;
    let batch = match parsed {
        Ok(Ok(batch)) => batch,
        Ok(Err(errors)) => return located(StatusCode::BAD_REQUEST, &errors),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "parsing the request failed"),
    };
    let limits = batch.limits;
    match app.table.accept(batch.jobs, None) {
        Ok(ids) => {
            for (key, n) in &limits.concurrency {
                app.pool.set_concurrency_limit(key.as_str(), Some(*n as usize));
            }
            for (key, rate) in &limits.rate {
                app.pool.set_rate_limit(key.as_str(), Some((rate.count, rate.period)));
            }
            (StatusCode::ACCEPTED, axum::Json(Ids { ids: ids.iter().map(AsRef::as_ref).collect() }))
                .into_response()
        }
        Err(Refused::Duplicates(errors)) => located(StatusCode::CONFLICT, &errors),
        Err(Refused::Closed) => error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping; no new jobs"),
    }
}

async fn get_job(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.table.status(&id) {
        Some(status) => (StatusCode::OK, axum::Json(status)).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("no job with id `{id}`")),
    }
}

/// `DELETE /jobs/{id}`: cancel a job or stop a periodic entry.
async fn delete_job(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    match app.table.cancel(&id) {
        Cancelled::Requested => {
            (StatusCode::ACCEPTED, axum::Json(json!({"id": id, "status": "cancelling"}))).into_response()
        }
        Cancelled::Unstarted(record) => {
            app.records.send(record);
            get_job(State(app), Path(id)).await
        }
        Cancelled::Periodic(schedule) => {
            if let Some(schedule) = schedule {
                schedule.stop().await;
            }
            get_job(State(app), Path(id)).await
        }
        Cancelled::AlreadyFinished => error(StatusCode::CONFLICT, &format!("job `{id}` already finished")),
        Cancelled::Starting => {
            error(StatusCode::CONFLICT, &format!("job `{id}` is being submitted by its schedule; try again"))
        }
        Cancelled::Unknown => error(StatusCode::NOT_FOUND, &format!("no job with id `{id}`")),
    }
}

async fn metrics(State(app): State<App>) -> Response {
    let body = app.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// `200 ok`, or `503` with the reason once the ledger cannot be written.
async fn healthz(State(app): State<App>) -> Response {
    match app.fault.error() {
        None => "ok\n".into_response(),
        Some(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", ledger_unwritable(&e))).into_response(),
    }
}

fn ledger_unwritable(e: &std::io::Error) -> String {
    format!("the ledger cannot be written ({e}); no new jobs")
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found; try POST /jobs, GET /jobs/{id}, /metrics or /healthz")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}

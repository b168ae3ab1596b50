//! The HTTP API of `conveyor serve` (an axum [`Router`]).
//!
//! | request | answers |
//! |---|---|
//! | `POST /jobs` (a job file: JSON document or JSON Lines) | `202 {"ids": [...]}`; `400 {"errors": [...]}` (located as by `validate`, nothing queued); `409 {"errors": [...]}` for an `id` the server already accepted (nothing queued); `401` without the `--token`; `413` over `--max-body`; `503` while stopping |
//! | `GET /jobs/{id}` | `200 {"id", "status"}`: `queued`, `scheduled`, `running`, `retrying`, or the outcome, then with the ledger fields; `404` unknown |
//! | `DELETE /jobs/{id}` (token as for `POST`) | `202 {"id", "status": "cancelling"}` for a job in the pool (its line comes when it has stopped); `200` with the final status for a job that had not reached the pool (now `cancelled`, 0 attempts) or a periodic entry (now `stopped`); `409` already final; `404` unknown |
//! | `GET /jobs?status=…&q=…&limit=…&after=…` | `{"jobs": [...], "next"}`, newest first; `400` for a bad parameter (see [`super::console`]) |
//! | `GET /`, `GET /job?id=ID`, `GET /stats`, `GET /jobs/{id}/spec`, `POST /jobs/{id}/rerun` | the web console and what it reads (see [`super::console`]) |
//! | `GET /metrics` | the Prometheus exposition |
//! | `GET /healthz` | `200 ok`; `503` with the reason once the ledger cannot be written (then `POST` answers `503` too) |
//!
//! Writing (`POST`, `DELETE`) needs `Authorization: Bearer TOKEN` when the server has a
//! `--token` (the scheme in any case, as RFC 7235 has it). The token, and a
//! `Content-Length` over `--max-body`, are checked from the headers before any body is read
//! (`401`/`413` at once, the body never read); a body that does not arrive within the body
//! timeout (see [`crate::listener`]) gets `408` and the connection is closed. A browser's
//! write from another site (`Sec-Fetch-Site: cross-site`/`same-site`, or an `Origin`
//! other than the request's host) is refused with `403`, token or not: without a token a
//! page elsewhere could otherwise post jobs or re-runs to a server on loopback.
//!
//! Errors that are not about the job file are `{"error": "message"}`. The body is parsed as
//! a file named `request` (errors say `request:LINE:COL`, generated ids start `request-`);
//! a `limits` section applies to the whole server (the last request to set a key wins).
//! Periodic jobs (`every`, `cron`) are scheduled (see [`super::intake`]); their status is
//! `{"id", "status": "periodic", "runs", "skipped"}`, and each run has its own id.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody as _};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use conveyor_pool::Pool;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use serde_json::json;

use super::console;
use super::state::{Cancelled, JobTable, Refused};
pub(crate) use crate::console::error;
use crate::console::refuse_write;
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
    pub(crate) records: RecordSender<crate::job::Done>,
    /// The ledger writer's first error: once there is one, `POST` and `/healthz` answer 503.
    pub(crate) fault: Fault,
    /// `--allow-shell`: `shell` jobs are refused (400) without it.
    pub(crate) allow_shell: bool,
    /// `--max-body`: the largest request body, in bytes.
    pub(crate) max_body: usize,
    /// How long a request body may take to arrive, from the end of its head.
    pub(crate) body_timeout: Duration,
}

/// The routes; every one passes [`gate`] first.
pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/jobs", get(console::list_jobs).post(post_jobs))
        .route("/jobs/{id}", get(get_job).delete(delete_job))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .merge(console::routes())
        // Only requests that match a route and method pass the gate (others get 404/405).
        .route_layer(middleware::from_fn_with_state(app.clone(), gate))
        .fallback(not_found)
        .with_state(app)
}

/// Checks what the headers alone can tell before any handler runs (and so before any
/// extractor reads the body): a request that writes (anything but `GET`/`HEAD`) needs the
/// token, and a declared body over `--max-body` is refused. Checking in the handler was
/// too late: its body extractor had already read up to `--max-body` into memory for any
/// client (#18).
async fn gate(State(app): State<App>, request: Request, next: Next) -> Response {
    if let Some(refusal) = refuse_write(app.token.as_deref(), &request) {
        return refusal;
    }
    if request.body().size_hint().lower() > app.max_body as u64 {
        return too_large();
    }
    next.run(request).await
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

fn too_large() -> Response {
    error(StatusCode::PAYLOAD_TOO_LARGE, "request body larger than --max-body")
}

/// Why a request body could not be read.
enum BodyError {
    TooLarge,
    Slow(Duration),
    Broken(axum::Error),
}

/// Reads `body` up to `limit` bytes, within `timeout`.
///
/// # Cancel safety
///
/// Not cancel safe: what was read is lost (the request is abandoned anyway).
async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Vec<u8>, BodyError> {
    let read = async {
        let mut body = pin!(body);
        // The gate refused a declared length over the limit; a chunked body is checked as
        // it comes.
        let declared = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
        let mut bytes = Vec::with_capacity(declared.min(limit));
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            let frame = frame.map_err(BodyError::Broken)?;
            if let Ok(data) = frame.into_data() {
                if bytes.len().saturating_add(data.len()) > limit {
                    return Err(BodyError::TooLarge);
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(bytes)
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(Err(BodyError::Slow(timeout)))
}

/// `503` while the server takes no new jobs: it is stopping, or the ledger cannot be
/// written.
pub(crate) fn intake_refusal(app: &App) -> Option<Response> {
    if !app.table.is_open() {
        return Some(error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping; no new jobs"));
    }
    app.fault.error().map(|e| error(StatusCode::SERVICE_UNAVAILABLE, &ledger_unwritable(&e)))
}

/// `POST /jobs`; the token was checked by [`gate`].
async fn post_jobs(State(app): State<App>, body: Body) -> Response {
    if let Some(refusal) = intake_refusal(&app) {
        return refusal;
    }
    let body = match read_body(body, app.max_body, app.body_timeout).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return too_large(),
        Err(BodyError::Slow(timeout)) => {
            let message = format!("request body not received within {}", humantime::format_duration(timeout));
            let mut response = error(StatusCode::REQUEST_TIMEOUT, &message);
            // The rest of the body may still come: the connection cannot serve another request.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        Err(BodyError::Broken(e)) => {
            return error(StatusCode::BAD_REQUEST, &format!("reading the request body: {e}"));
        }
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

/// `DELETE /jobs/{id}`: cancel a job or stop a periodic entry; the token was checked by
/// [`gate`].
async fn delete_job(State(app): State<App>, Path(id): Path<String>) -> Response {
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
    error(
        StatusCode::NOT_FOUND,
        "not found; try / (the console), POST /jobs, GET /jobs, GET /jobs/{id}, /metrics or /healthz",
    )
}

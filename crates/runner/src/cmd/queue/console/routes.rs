//! The queue console's routes, on one listener.
//!
//! | request | answers |
//! |---|---|
//! | `GET /`, `GET /job?id=ID`, `GET /console/…` | the console's page, script, style and icon ([`crate::console::pages`]) |
//! | `GET /jobs?status=…&q=…&queue=…&limit=…&after=…` | `{"jobs": [...], "next"}`, newest first ([`super::api::list`]) |
//! | `GET /stats` | counts by state, per queue, and the last two minutes of finishes ([`super::api::stats`]) |
//! | `GET /queues` | per named queue: waiting, scheduled, running, stuck, failed, oldest wait |
//! | `GET /workers` | live workers and what each holds; stuck jobs |
//! | `GET /jobs/{id}` | every field of a job and its attempts (who ran each); `404` unknown |
//! | `GET /jobs/{id}/spec` | the job's spec |
//! | `DELETE /jobs/{id}` | cancel: `200 {"id", "status": "cancelled"}`; `409` already final; `404` unknown |
//! | `POST /jobs/{id}/retry` | retry a failed or cancelled job under its id: `202 {"ids": [ID]}`; `409` not retryable |
//! | `GET /healthz` | `200 ok` when the database answers, else `503` |
//!
//! Writes (`DELETE`, `POST`) need `Authorization: Bearer TOKEN` when `--token-file` is
//! given, and are refused (`403`) from another site's page, token or not, as serve's are.
//! A database error is `503 {"error"}`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use conveyor_postgres::Queue;

use super::api;
use crate::console::{error, refuse_write};

/// What the handlers share.
#[derive(Clone)]
pub(super) struct App {
    pub(super) queue: Queue,
    pub(super) token: Option<Arc<str>>,
}

/// The routes; every one passes [`gate`] first.
pub(super) fn router(app: App) -> Router {
    crate::console::pages::routes()
        .route("/jobs", get(api::list))
        .route("/jobs/{id}", get(api::job).delete(api::cancel))
        .route("/jobs/{id}/spec", get(api::spec))
        .route("/jobs/{id}/retry", post(api::retry))
        .route("/stats", get(api::stats))
        .route("/queues", get(api::queues))
        .route("/workers", get(api::workers))
        .route("/healthz", get(api::healthz))
        .route_layer(middleware::from_fn_with_state(app.clone(), gate))
        .fallback(not_found)
        .with_state(app)
}

/// Writes need the token and must not come from another site's page.
async fn gate(State(app): State<App>, request: Request, next: Next) -> Response {
    match refuse_write(app.token.as_deref(), &request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found; try / (the console), GET /jobs, /stats, /queues or /workers")
}

//! `GET /stats`: what the console's header and live charts show, polled once a second.
//!
//! `{"counts": {STATUS: N, …}, "total": N, "now": UNIX_SECOND, "seconds": [{"t",
//! "succeeded", "failed", "panicked", "timed_out", "cancelled", "wait_mean", "wait_max"},
//! …]}`: job counts by status word (every word present, zeros included), and the last
//! [`WINDOW`](super::throughput::WINDOW) seconds of finishes by outcome with the wait
//! times of the jobs that finished each second (`null` when none had started), oldest
//! first. The counts scan the job table (one pass, under its lock); the series comes from
//! a fixed ring, so the answer has the same size whatever the load.

use std::time::SystemTime;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::super::routes::App;
use super::list::STATUSES;

/// `GET /stats`.
pub(crate) async fn stats(State(app): State<App>) -> Response {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let found = app.table.counts();
    let mut counts = Map::new();
    for word in STATUSES {
        counts.insert(word.into(), Value::from(found.get(word).copied().unwrap_or(0)));
    }
    let total: u64 = found.values().sum();
    let seconds = app.table.throughput(now);
    axum::Json(json!({"counts": counts, "total": total, "now": now, "seconds": seconds})).into_response()
}

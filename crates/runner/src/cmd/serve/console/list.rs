//! `GET /jobs`: the job list, newest first, a page at a time.
//!
//! The parameters are checked by [`crate::console::query`] (`status`, `q`, `limit`,
//! `after`); serve's status words are `queued`, `scheduled`, `running`, `retrying`,
//! `succeeded`, `failed`, `panicked`, `timed_out`, `cancelled`, `periodic`, `stopped`.
//!
//! The answer is `{"jobs": [...], "next": CURSOR | null}`; each job has `id`, `status`,
//! `name`, `kind`, `priority`, and once final `attempts`, `queued_at`, `finished_at`,
//! `wait_seconds`, `run_seconds` and `error` (`null` before). The cursor is opaque text;
//! paging on from it never repeats nor skips a job, however many arrive meanwhile (new jobs
//! go on the first page). An unknown parameter, a repeated one or a bad value is `400
//! {"error"}` saying which.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::super::routes::App;
use super::super::state::Row;
#[cfg(test)]
use crate::console::query::{DEFAULT_LIMIT, MAX_LIMIT, parse_cursor};
use crate::console::{ListQuery, cursor, error};

/// Every status word a job can have.
pub(crate) const STATUSES: [&str; 11] = [
    "queued",
    "scheduled",
    "running",
    "retrying",
    "succeeded",
    "failed",
    "panicked",
    "timed_out",
    "cancelled",
    "periodic",
    "stopped",
];

/// Checks a `GET /jobs` query against serve's status words.
///
/// # Errors
///
/// A message for people, naming the parameter.
pub(crate) fn parse(query: Option<&str>) -> Result<ListQuery, String> {
    ListQuery::parse(query, &STATUSES, &[])
}

/// Whether a job with this id and status belongs in the list.
fn keeps(query: &ListQuery, id: &str, status: &str) -> bool {
    (query.statuses.is_empty() || query.statuses.contains(&status))
        && query.q.as_deref().is_none_or(|q| contains_ignoring_ascii_case(id, q))
}

/// Whether `haystack` contains `needle` (already lower-case), ASCII case ignored.
fn contains_ignoring_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// The ledger fields a list row shows.
const LINE_FIELDS: [&str; 6] =
    ["attempts", "queued_at", "finished_at", "wait_seconds", "run_seconds", "error"];

/// A row's JSON: see the [module docs](self).
fn row_json(row: Row) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), Value::from(row.id.as_str()));
    out.insert("status".into(), Value::from(row.status));
    let (name, kind, priority) = match &row.spec {
        Some(spec) => (
            spec.name.as_deref().map_or(Value::Null, Value::from),
            Value::from(spec.kind.name()),
            Value::from(spec.priority),
        ),
        None => (Value::Null, Value::Null, Value::Null),
    };
    out.insert("name".into(), name);
    out.insert("kind".into(), kind);
    out.insert("priority".into(), priority);
    let mut line = match row.line.as_deref().map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    for field in LINE_FIELDS {
        out.insert(field.into(), line.remove(field).unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// `GET /jobs`.
pub(crate) async fn list_jobs(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let query = match parse(query.as_deref()) {
        Ok(query) => query,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let (rows, next) = app.table.list(query.before, query.limit, |id, status| keeps(&query, id, status));
    let jobs: Vec<Value> = rows.into_iter().map(row_json).collect();
    axum::Json(json!({"jobs": jobs, "next": next.map(cursor)})).into_response()
}

#[cfg(test)]
mod tests;

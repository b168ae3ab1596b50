//! `GET /jobs`: the job list, newest first, a page at a time.
//!
//! | parameter | meaning |
//! |---|---|
//! | `status` | keep jobs with one of these status words (comma-separated): `queued`, `scheduled`, `running`, `retrying`, `succeeded`, `failed`, `panicked`, `timed_out`, `cancelled`, `periodic`, `stopped` |
//! | `q` | keep jobs whose id contains this text (ASCII case ignored; at most 256 bytes) |
//! | `limit` | jobs per page, 1 to [`MAX_LIMIT`] (larger values are cut to it); default [`DEFAULT_LIMIT`] |
//! | `after` | the `next` of the previous page: the page goes on from there |
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

use super::super::routes::{App, error};
use super::super::state::Row;

/// The page size when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// The largest page: a larger `limit` is cut to this.
pub(crate) const MAX_LIMIT: usize = 500;
/// The longest `q`.
const MAX_SEARCH: usize = 256;

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

/// A checked `GET /jobs` query.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ListQuery {
    /// The status words to keep (all when empty).
    pub(crate) statuses: Vec<&'static str>,
    /// The id search, lower-cased.
    pub(crate) q: Option<String>,
    pub(crate) limit: usize,
    /// Where the page starts (exclusive), from `after`.
    pub(crate) before: Option<u64>,
}

/// The cursor of the job numbered `seq`.
fn cursor(seq: u64) -> String {
    format!("c{seq:x}")
}

fn parse_cursor(text: &str) -> Option<u64> {
    let hex = text.strip_prefix('c')?;
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

impl ListQuery {
    /// Checks a query string (`None`: no `?`).
    ///
    /// # Errors
    ///
    /// A message for people, naming the parameter.
    pub(crate) fn parse(query: Option<&str>) -> Result<ListQuery, String> {
        let mut out = ListQuery { limit: DEFAULT_LIMIT, ..ListQuery::default() };
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if seen.iter().any(|k| *k == key) {
                return Err(format!("`{key}` given twice"));
            }
            seen.push(key.to_string());
            match &*key {
                "status" => {
                    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                        let Some(known) = STATUSES.iter().find(|s| **s == word) else {
                            return Err(format!(
                                "unknown status `{word}`; expected one of {}",
                                STATUSES.join(", ")
                            ));
                        };
                        if !out.statuses.contains(known) {
                            out.statuses.push(known);
                        }
                    }
                }
                "q" => {
                    if value.len() > MAX_SEARCH {
                        return Err(format!("`q` is too long (at most {MAX_SEARCH} bytes)"));
                    }
                    if !value.is_empty() {
                        out.q = Some(value.to_ascii_lowercase());
                    }
                }
                "limit" => match value.parse::<usize>() {
                    Ok(0) | Err(_) => {
                        return Err(format!(
                            "`limit` must be a whole number from 1 to {MAX_LIMIT}, not `{value}`"
                        ));
                    }
                    Ok(n) => out.limit = n.min(MAX_LIMIT),
                },
                "after" => match parse_cursor(&value) {
                    Some(seq) => out.before = Some(seq),
                    None => return Err(format!("`after` is not a cursor from a `next`: `{value}`")),
                },
                other => {
                    return Err(format!("unknown parameter `{other}`; expected status, q, limit or after"));
                }
            }
        }
        Ok(out)
    }

    /// Whether a job with this id and status belongs in the list.
    fn keeps(&self, id: &str, status: &str) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&status))
            && self.q.as_deref().is_none_or(|q| contains_ignoring_ascii_case(id, q))
    }
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
    let query = match ListQuery::parse(query.as_deref()) {
        Ok(query) => query,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let (rows, next) = app.table.list(query.before, query.limit, |id, status| query.keeps(id, status));
    let jobs: Vec<Value> = rows.into_iter().map(row_json).collect();
    axum::Json(json!({"jobs": jobs, "next": next.map(cursor)})).into_response()
}

#[cfg(test)]
mod tests;

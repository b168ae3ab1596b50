//! The queue console's JSON answers, each one or two statements on the queue
//! ([`conveyor_postgres::Queue`]'s console reads).

use std::time::SystemTime;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use conveyor_postgres::{Cancelled, JobsQuery, Listed, Retried};
use serde_json::{Map, Value, json};

use super::routes::App;
use crate::console::{ListQuery, cursor, error};

/// Every status word `?status=` takes ([`Listed`]'s words).
const STATUSES: [&str; 9] =
    ["queued", "scheduled", "running", "stuck", "succeeded", "failed", "panicked", "timed_out", "cancelled"];
/// The final states, as the throughput series splits finishes.
const OUTCOMES: [&str; 5] = ["succeeded", "failed", "panicked", "timed_out", "cancelled"];
/// How many seconds the throughput series covers.
const WINDOW: u32 = 120;

fn unavailable(e: &conveyor_postgres::Error) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, &format!("{e:#}"))
}

/// `GET /jobs`: the job list, newest first; `queue=NAME` keeps one named queue.
pub(super) async fn list(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let query = match ListQuery::parse(query.as_deref(), &STATUSES, &["queue"]) {
        Ok(query) => query,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let mut jobs = JobsQuery::new(i64::try_from(query.limit).unwrap_or(i64::MAX));
    jobs.states = query.statuses.iter().filter_map(|w| Listed::parse(w)).collect();
    jobs.q.clone_from(&query.q);
    jobs.queue = query.filter("queue").map(str::to_owned);
    jobs.before = query.before.map(|seq| i64::try_from(seq).unwrap_or(i64::MAX));
    match app.queue.jobs_page(&jobs).await {
        Ok(page) => {
            let next = page.next.map(|seq| cursor(seq.unsigned_abs()));
            axum::Json(json!({"jobs": page.jobs, "next": next})).into_response()
        }
        Err(e) => unavailable(&e),
    }
}

/// Per queue, its counts in the `/queues` form: `waiting` (runnable), `scheduled`,
/// `running`, `stuck`, `failed` (failed, panicked and timed out), `succeeded`,
/// `cancelled`, every word's count and the oldest wait.
fn queue_summary(row: &Value) -> Value {
    let n = |word: &str| row["counts"][word].as_u64().unwrap_or(0);
    json!({
        "queue": row["queue"],
        "waiting": n("queued"),
        "scheduled": n("scheduled"),
        "running": n("running"),
        "stuck": n("stuck"),
        "failed": n("failed") + n("panicked") + n("timed_out"),
        "succeeded": n("succeeded"),
        "cancelled": n("cancelled"),
        "counts": row["counts"],
        "oldest_waiting_seconds": row["oldest_waiting_seconds"],
    })
}

/// `GET /queues`: `{"queues": [...]}` by name (see [`queue_summary`]).
pub(super) async fn queues(State(app): State<App>) -> Response {
    match app.queue.queue_counts().await {
        Ok(rows) => {
            axum::Json(json!({"queues": rows.iter().map(queue_summary).collect::<Vec<_>>()})).into_response()
        }
        Err(e) => unavailable(&e),
    }
}

/// The last [`WINDOW`] seconds up to `now`, oldest first, in serve's `/stats` form: `{"t",
/// OUTCOME: N…, "wait_mean", "wait_max"}`.
fn series(now: u64, rows: &[Value]) -> Vec<Value> {
    let start = now.saturating_sub(u64::from(WINDOW) - 1);
    let mut out: Vec<Map<String, Value>> = (start..=now)
        .map(|t| {
            let mut second = Map::new();
            second.insert("t".into(), Value::from(t));
            for o in OUTCOMES {
                second.insert(o.into(), Value::from(0));
            }
            second.insert("wait_mean".into(), Value::Null);
            second.insert("wait_max".into(), Value::Null);
            second
        })
        .collect();
    // (sum of waits, jobs with a wait) per second, for the mean across states.
    let mut waits = vec![(0.0_f64, 0_u64); out.len()];
    for row in rows {
        let (Some(t), Some(state), Some(n)) = (row["t"].as_u64(), row["state"].as_str(), row["n"].as_u64())
        else {
            continue;
        };
        let Some(i) = t.checked_sub(start).and_then(|i| usize::try_from(i).ok()).filter(|i| *i < out.len())
        else {
            continue;
        };
        if OUTCOMES.contains(&state) {
            out[i].insert(state.into(), Value::from(n));
        }
        if let (Some(mean), Some(max)) = (row["wait_mean"].as_f64(), row["wait_max"].as_f64()) {
            waits[i].0 += mean * n as f64;
            waits[i].1 += n;
            let old = out[i]["wait_max"].as_f64().unwrap_or(f64::MIN);
            out[i].insert("wait_max".into(), Value::from(old.max(max)));
        }
    }
    for (second, (sum, n)) in out.iter_mut().zip(waits) {
        if n > 0 {
            second.insert("wait_mean".into(), Value::from(sum / n as f64));
        }
    }
    out.into_iter().map(Value::Object).collect()
}

/// `GET /stats`: `{"counts": {WORD: N…}, "total", "now", "seconds": [...], "queues":
/// [...]}` — serve's shape, plus the per-queue counts (whose presence tells the page to
/// show the queue and worker panels).
pub(super) async fn stats(State(app): State<App>) -> Response {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (rows, recent) = match tokio::try_join!(app.queue.queue_counts(), app.queue.throughput(WINDOW)) {
        Ok(both) => both,
        Err(e) => return unavailable(&e),
    };
    let mut counts = Map::new();
    let mut total = 0;
    for word in STATUSES {
        let n: u64 = rows.iter().map(|r| r["counts"][word].as_u64().unwrap_or(0)).sum();
        total += n;
        counts.insert(word.into(), Value::from(n));
    }
    let queues: Vec<Value> = rows.iter().map(queue_summary).collect();
    axum::Json(json!({"counts": counts, "total": total, "now": now, "seconds": series(now, &recent), "queues": queues}))
        .into_response()
}

/// `GET /workers`: `{"workers": [...], "stuck": [...]}`.
pub(super) async fn workers(State(app): State<App>) -> Response {
    match app.queue.workers().await {
        Ok((workers, stuck)) => axum::Json(json!({"workers": workers, "stuck": stuck})).into_response(),
        Err(e) => unavailable(&e),
    }
}

/// `GET /jobs/{id}`.
pub(super) async fn job(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.queue.job(&id).await {
        Ok(Some(job)) => axum::Json(job).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("no job with id `{id}`")),
        Err(e) => unavailable(&e),
    }
}

/// `GET /jobs/{id}/spec`.
pub(super) async fn spec(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.queue.job_spec(&id).await {
        Ok(Some(spec)) => axum::Json(spec).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("no job with id `{id}`")),
        Err(e) => unavailable(&e),
    }
}

/// `DELETE /jobs/{id}`: cancel a waiting or running job.
pub(super) async fn cancel(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.queue.cancel(&id).await {
        Ok(Cancelled::Unknown) => error(StatusCode::NOT_FOUND, &format!("no job with id `{id}`")),
        Ok(Cancelled::AlreadyFinished(state)) => {
            error(StatusCode::CONFLICT, &format!("job `{id}` already finished ({state})"))
        }
        Ok(_) => axum::Json(json!({"id": id, "status": "cancelled"})).into_response(),
        Err(e) => unavailable(&e),
    }
}

/// `POST /jobs/{id}/retry`: a failed or cancelled job waits again, under its id.
pub(super) async fn retry(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.queue.retry(&id).await {
        Ok(Retried::Queued) => (StatusCode::ACCEPTED, axum::Json(json!({"ids": [id]}))).into_response(),
        Ok(Retried::Unknown) => error(StatusCode::NOT_FOUND, &format!("no job with id `{id}`")),
        Ok(Retried::NotRetryable(state)) => error(
            StatusCode::CONFLICT,
            &format!("job `{id}` is {state}; only failed, panicked, timed out or cancelled jobs are retried"),
        ),
        Ok(_) => error(StatusCode::CONFLICT, &format!("job `{id}` was not retried")),
        Err(e) => unavailable(&e),
    }
}

/// `GET /healthz`: `ok` when the database answers.
pub(super) async fn healthz(State(app): State<App>) -> Response {
    match sqlx_ping(&app).await {
        Ok(()) => "ok\n".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}\n")).into_response(),
    }
}

async fn sqlx_ping(app: &App) -> Result<(), conveyor_postgres::Error> {
    app.queue.jobs_page(&JobsQuery::new(1)).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_has_every_second_and_merges_states() {
        let rows = [
            json!({"t": 1000, "state": "succeeded", "n": 3, "wait_mean": 1.0, "wait_max": 2.0}),
            json!({"t": 1000, "state": "failed", "n": 1, "wait_mean": 5.0, "wait_max": 5.0}),
            json!({"t": 10, "state": "failed", "n": 9, "wait_mean": 1.0, "wait_max": 1.0}),
        ];
        let s = series(1000, &rows);
        assert_eq!(s.len(), WINDOW as usize);
        assert_eq!(s[0]["t"], 881);
        let last = &s[s.len() - 1];
        assert_eq!((last["succeeded"].as_u64(), last["failed"].as_u64()), (Some(3), Some(1)));
        assert_eq!(last["wait_mean"].as_f64(), Some(2.0));
        assert_eq!(last["wait_max"].as_f64(), Some(5.0));
        assert_eq!(s[0]["wait_mean"], Value::Null);
    }

    #[test]
    fn status_words_are_the_queue_s() {
        assert_eq!(STATUSES.to_vec(), Listed::ALL.map(Listed::as_str).to_vec());
    }
}

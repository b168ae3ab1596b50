//! A job's spec (`GET /jobs/{id}/spec`) and re-running a finished job
//! (`POST /jobs/{id}/rerun`), for the console's job page.
//!
//! A re-run is a new job: the finished job's spec under a new id, `ID-rerun-N` (the first
//! `N` from 1 that the server does not hold; re-running `ID-rerun-2` gives the next free
//! `ID-rerun-N`, not `ID-rerun-2-rerun-1`). It has its own ledger line and its own
//! `spec_hash` (the hash covers the id). Only final jobs can be re-run: a job still going
//! answers `409`; cancel it first.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::super::routes::{App, error, intake_refusal};
use super::super::state::Refused;
use crate::spec::{JobSpec, spec_hash};

/// The spec of a job as JSON: its canonical form (the one `spec_hash` covers; durations
/// normalised, defaults merged), with its id.
pub(crate) fn spec_json(spec: &JobSpec) -> Value {
    let mut value = serde_json::from_str::<Value>(&spec.canonical_json()).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("v");
        map.insert("id".into(), Value::from(spec.id.as_str()));
    }
    value
}

/// `GET /jobs/{id}/spec`.
pub(crate) async fn get_spec(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.table.spec(&id) {
        Some((spec, _)) => axum::Json(spec_json(&spec)).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("no job with id `{id}` (or a periodic entry)")),
    }
}

/// `POST /jobs/{id}/rerun` (the token was checked by the gate): `202 {"ids": [NEW]}`.
pub(crate) async fn rerun(State(app): State<App>, Path(id): Path<String>) -> Response {
    if let Some(refusal) = intake_refusal(&app) {
        return refusal;
    }
    let spec = match app.table.spec(&id) {
        Some((spec, true)) => spec,
        Some((_, false)) => {
            return error(
                StatusCode::CONFLICT,
                &format!("job `{id}` has not finished; only finished jobs are re-run (cancel it first)"),
            );
        }
        None => return error(StatusCode::NOT_FOUND, &format!("no finished job with id `{id}`")),
    };
    // The id is free when chosen; a request taking it meanwhile makes `accept` refuse,
    // and the next try picks the next free one.
    for _ in 0..3 {
        let mut again = JobSpec::clone(&spec);
        again.id = app.table.rerun_id(&id);
        again.id_generated = false;
        again.spec_hash = spec_hash(&again);
        match app.table.accept(vec![again], None) {
            Ok(ids) => {
                let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
                return (StatusCode::ACCEPTED, axum::Json(json!({"ids": ids}))).into_response();
            }
            Err(Refused::Duplicates(_)) => continue,
            Err(Refused::Closed) => break,
        }
    }
    error(StatusCode::SERVICE_UNAVAILABLE, "the job could not be queued again; try again")
}

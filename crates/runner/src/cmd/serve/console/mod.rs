//! The web console of `conveyor serve` and the JSON it reads, on the server's listener.
//!
//! | request | answers |
//! |---|---|
//! | `GET /` | the console: counts by state, live charts, the job list (filter, search, pages) |
//! | `GET /job?id=ID` | a job's page: its ledger fields, output tail and spec; cancel, re-run |
//! | `GET /console/…` | the console's script, style sheet and icon (embedded in the binary; [`crate::console::pages`]) |
//! | `GET /jobs?status=…&q=…&limit=…&after=…` | `{"jobs": [...], "next"}`, newest first ([`list`]) |
//! | `GET /stats` | counts by state and the last two minutes of finishes per second ([`stats`]) |
//! | `GET /jobs/{id}/spec` | the job's spec, canonical JSON ([`actions`]) |
//! | `POST /jobs/{id}/rerun` | `202 {"ids": [NEW]}`: a finished job queued again under a new id ([`actions`]) |
//!
//! The pages, headers, write checks and list query are shared with the queue's console
//! ([`crate::console`]); this module answers from serve's job table. The pages are plain HTML, CSS and a hand-written script (charts are SVG it draws), all
//! embedded with `include_str!`; they poll the JSON once a second (no server-sent events:
//! a poll is one short request, which the listener's connection cap and timeouts handle
//! like any other). Writing from the console (cancel is `DELETE /jobs/{id}`, re-run a
//! `POST`) sends the `--token` the user typed, kept in the tab's `sessionStorage`, as an
//! `Authorization` header — never in a URL.

mod actions;
mod list;
mod stats;
mod throughput;

pub(crate) use throughput::{Second, Throughput};

use axum::Router;
use axum::routing::{get, post};

use super::routes::App;

/// The console's routes, to merge into the server's router before its gate layer.
pub(crate) fn routes() -> Router<App> {
    crate::console::pages::routes()
        .route("/stats", get(stats::stats))
        .route("/jobs/{id}/spec", get(actions::get_spec))
        .route("/jobs/{id}/rerun", post(actions::rerun))
}

/// `GET /jobs`, on the same path as `POST /jobs`.
pub(crate) use list::list_jobs;

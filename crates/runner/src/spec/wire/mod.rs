//! The wire format: job-file structs exactly as written, deserialized by serde and described
//! by schemars, so the parser and `conveyor schema` cannot drift apart.
//!
//! - [`values`]: the value types (durations, ids, priorities, URLs, …), each checked while it
//!   is deserialized, so its error is located at the value;
//! - [`document`]: `retry`, the common fields, `defaults`, `limits` and the document;
//! - [`kind`]: the [`job_wire!`] macro, with which each kind's file (`kind/*.rs`) writes its
//!   flat job struct; the kind table in `kind/mod.rs` gathers them.
//!
//! Cross-field rules (`delay` with `not_before`, defaults merging) live in
//! [`super::resolve`].

mod document;
mod kind;
mod values;

pub(crate) use document::{
    COMMON_FIELDS, CommonWire, DOCUMENT_FIELDS, DefaultsWire, JobFileWire, LimitsWire, RETRY_FIELDS,
    RetryWire,
};
pub(crate) use kind::job_wire;
pub(crate) use values::{
    CronExpr, Dur, Env, Headers, HttpUrl, JobId, Method, NoNul, NonEmpty, PositiveDur, Priority, Probability,
    Rounds, Status, Timestamp, job_id_problem,
};

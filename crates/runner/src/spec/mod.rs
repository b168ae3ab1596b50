//! Job files: parsing and validating them into typed [`JobSpec`]s, with errors for people.
//!
//! A job file is a JSON document — `{"defaults": {...}, "limits": {...}, "jobs": [...]}` or a
//! bare array of jobs — or JSON Lines (`*.jsonl`, one job per line, read as a stream).
//! [`JobSpec`] and [`JobKind`] list the fields of a job and of each kind; [`json_schema`]
//! describes them for editors. The kinds are declared once, in the table of
//! [`kind`](crate::kind) (one row and one file each), which [`KindName`] lists.
//!
//! ```
//! use conveyor::spec::{parse_str, JobKind, ParseOptions};
//!
//! let text = r#"{"defaults": {"retry": {"max_attempts": 3}},
//!                "jobs": [{"id": "nap", "kind": "sleep", "duration": "250ms"},
//!                         {"id": "nap", "kind": "sleep", "duration": "soon"}]}"#;
//! let errors = parse_str("jobs.json", text, &ParseOptions::default()).unwrap_err();
//! let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
//! assert_eq!(shown, [
//!     "jobs.json:3:32: jobs[1].id: duplicate id `nap` (first defined at jobs.json:2:32)",
//!     "jobs.json:3:68: jobs[1].duration: invalid duration `soon`: expected a number followed \
//!      by a unit, such as \"250ms\" or \"1m30s\"",
//! ]);
//! # let _ = JobKind::Noop;
//! ```
//!
//! # Forms and defaults
//!
//! - `defaults` holds common fields (not `id`, not `kind`, not kind parameters) that every job
//!   of its file gets unless it sets them itself; `retry` merges field by field, `delay` /
//!   `not_before` count as one setting, and so do `every` / `cron`.
//! - `limits`: `{"concurrency": {"KEY": N}, "rate": {"KEY": "N/PERIOD"}}`; a job's
//!   `concurrency_key` selects both, unless the job has a `rate_key`, which then selects the
//!   rate limit. A key without a limit is unlimited. JSON Lines files have
//!   neither `defaults` nor `limits`.
//! - `null` is never a value: leave a field out to get its default.
//! - Unknown fields are errors, with "did you mean" when a known field is close.
//!
//! # Entry points
//!
//! - [`Loader`] → [`Validated`] → [`Jobs`]: files, folders and stdin, in two passes (check
//!   everything, then stream the jobs), so a million-line JSON Lines file needs little memory.
//! - [`parse_str`] / [`parse_bytes`]: input already in memory (an HTTP body), one call.
//! - [`json_schema`], [`spec_hash`], [`parse_duration`], [`format_duration`], [`Rate::parse`]:
//!   the pieces the CLI and server reuse.
//!
//! # How errors are located
//!
//! serde_json checks the syntax first (its messages and positions for syntax errors); then a
//! small span-keeping tree is built and the typed wire structs are deserialized from it, so
//! every other error points at the start of the offending value and names its field path (see
//! [`SpecError`]). Each job is deserialized on its own, so every job's first error is
//! reported, not just the file's; a file with a syntax error reports that one error.

pub(crate) mod de;
mod duration;
pub mod error;
mod fast;
mod file;
pub(crate) mod hash;
mod job;
pub(crate) mod json;
mod load;
mod print;
mod resolve;
mod schema;
mod suggest;
pub(crate) mod wire;

pub use duration::{MAX_DURATION, format_duration, parse_duration};
pub use error::SpecError;
pub use file::{Limits, Rate};
pub use hash::{SpecHash, spec_hash};
pub use job::{Backoff, JobKind, JobSpec, KindName, Origin, RetrySpec, Schedule, StartAt};
pub use load::{IntoJobs, JobBatch, Jobs, Loader, ParseOptions, Validated, parse_bytes, parse_str};
pub use print::print_errors;
pub use schema::json_schema;

//! Conveyor's runner: the `conveyor` binary's library half.
//!
//! For now it holds [`spec`], which turns job files (JSON documents or JSON Lines, from
//! files, folders, stdin or memory) into validated, typed job specs, and reports every
//! mistake in them as `PATH:LINE:COL: FIELD: message`. The command line, job kinds, ledger,
//! metrics and the commands ([`cmd`]) build on it.
//!
//! ```
//! use conveyor::spec::{parse_str, ParseOptions};
//!
//! let batch = parse_str(
//!     "jobs.jsonl",
//!     "{\"id\": \"a\", \"kind\": \"noop\"}\n{\"id\": \"b\", \"kind\": \"sleep\", \"duration\": \"10ms\"}\n",
//!     &ParseOptions::default(),
//! )
//! .unwrap();
//! assert_eq!(batch.jobs.len(), 2);
//!
//! let errors = parse_str("jobs.jsonl", "{\"kind\": \"noop\", \"timout\": \"1s\"}\n",
//!                        &ParseOptions::default()).unwrap_err();
//! assert_eq!(errors[0].to_string(),
//!            "jobs.jsonl:1:18: timout: unknown field `timout`; did you mean `timeout`?");
//! ```

#![warn(clippy::unwrap_used, clippy::expect_used)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub(crate) mod console;
pub mod exit;
pub mod exporter;
pub(crate) mod job;
pub mod kind;
pub mod ledger;
pub(crate) mod listener;
pub mod logging;
pub(crate) mod pass_through;
pub mod progress;
pub mod signals;
pub mod spec;
pub mod summary;

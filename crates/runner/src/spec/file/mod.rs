//! The three forms of a job file, `defaults` and `limits`.
//!
//! - A **document** (`*.json`): `{"defaults": {...}, "limits": {...}, "jobs": [...]}`, where
//!   only `jobs` is required, or a bare array of jobs `[...]`. Read whole (at most
//!   [`MAX_DOCUMENT`] bytes).
//! - **JSON Lines** (`*.jsonl`): one job object per line; blank lines are skipped. Read as a
//!   stream, one line (at most [`MAX_LINE`] bytes) at a time, so memory does not grow with
//!   the file. There is no `defaults` or `limits` in this form.
//! - Any other name, stdin, and in-memory input are **sniffed**: a document when the first
//!   non-blank character is `[`, or when it is `{` and the object it opens has a `jobs` key
//!   (or does not end on its first line); JSON Lines otherwise.
//!
//! A UTF-8 byte order mark at the start of a file is skipped. Text must be UTF-8.

mod document;
mod event;
mod format;
mod job;
mod limits;
mod lines;
mod syntax;

pub(crate) use document::parse_document;
pub(crate) use event::{Event, IdText, JobPath, LimitValue, Pos, SourceCtx};
pub(crate) use format::{Format, MAX_DOCUMENT, MAX_LINE};
pub use limits::{Limits, Rate};
pub(crate) use lines::{check_line, parse_line, parse_line_full};

//! The ledger: one JSON line per job at its final state, appended as it happens, and read
//! back by `--resume`.
//!
//! # Line format
//!
//! One [`Record`] is one line, and [`Record::write_line`] writes every line (`run`'s,
//! `serve`'s, the PostgreSQL export's). Fields, in this order: `id`, `name` (null if none),
//! `kind`, `priority`, `outcome` (`succeeded|failed|panicked|timed_out|cancelled`),
//! `attempts`, `queued_at`, `started_at` (null if it never started), `finished_at` (RFC 3339
//! UTC, milliseconds: `2025-06-01T12:00:00.123Z`), `wait_seconds`, `run_seconds`, `error`
//! (null or text), `spec_hash`, and for `exec`/`shell` jobs `exit_code` (null when the program did not exit by itself) and
//! `output_tail` (null when nothing was captured); the PostgreSQL export (`conveyor ledger`)
//! adds `worker` last.
//!
//! # Group commit
//!
//! A single writer thread takes the first ready record from a channel, then every record that
//! is ready too (`try_recv`, no timer), and hands their lines to the OS in one `write`: under
//! load many lines per system call, when idle one line at once. `conveyor run` sends records
//! through a [`RecordBatcher`], which hands them over 512 at a time under load and all at
//! once whenever the run's thread has nothing else to do. `kill -9` loses at most the lines
//! in flight (under load, up to 511 gathered and not yet handed over, besides those handed
//! over and not yet written); those jobs run again on `--resume` (at-least-once). `--fsync`
//! adds `sync_data` after every batch.
//!
//! # Resume
//!
//! [`ResumeSet::read`] keeps a 128-bit fingerprint of `(id, spec_hash)` for every
//! `succeeded` line (16 bytes a job: a million-job ledger costs ~25 MB). A torn last line (a
//! crash mid-write) is ignored, and [`open_for_append`] cuts it off so the file stays valid
//! JSON Lines.

mod format;
mod open;
mod record;
mod resume;
#[cfg(test)]
mod test_support;
mod timestamp;
mod writer;

pub use open::open_for_append;
pub use record::{Entry, ExecOutput, Record};
pub use resume::ResumeSet;
pub use timestamp::{Timestamps, timestamp};
pub use writer::{Fault, RecordBatcher, RecordSender, WriteEnd, Writer};

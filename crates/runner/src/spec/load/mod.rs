//! Loading job files from paths, folders, stdin and memory, in two passes.
//!
//! **Pass 1**, [`Loader::validate`], reads every source once, start to end, and returns every
//! error (up to [`ParseOptions::max_errors`]), or a [`Validated`] set that knows how many jobs
//! there are and what `limits` the files declare. Jobs are parsed and checked, then dropped:
//! all that is kept is one entry per id (a 128-bit hash of the id and where it was first
//! seen, 32 bytes) to find duplicates, so a 1M-line JSON Lines file is checked in bounded
//! memory apart from that.
//!
//! **Pass 2**, [`Validated::jobs`], reads the sources again and yields the
//! [`JobSpec`](super::JobSpec)s one by one, with the same generated ids. It can be run any
//! number of times.
//!
//! **stdin** (`-`) cannot be read twice: pass 1 copies it to an anonymous temporary file
//! (deleted when the [`Validated`] is dropped), which pass 2 reads again; if no temporary
//! file can be made, it is kept in memory instead.
//!
//! For input already in memory (an HTTP request body), [`parse_bytes`] and [`parse_str`] do
//! both passes at once and return every job or every error.

mod check;
mod ids;
mod lines;
mod loader;
mod memory;
mod options;
mod source;
mod split;
mod validated;

pub use loader::Loader;
pub use memory::{JobBatch, parse_bytes, parse_str};
pub use options::ParseOptions;
pub use validated::{IntoJobs, Jobs, Validated};

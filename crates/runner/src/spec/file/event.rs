//! What reading a source produces ([`Event`]), and what the parsing needs to know about it
//! ([`SourceCtx`]).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::limits::Rate;
use crate::spec::JobSpec;
use crate::spec::error::{SpecError, render_path};
use crate::spec::json::LineIndex;
use crate::spec::resolve::Issue;

/// Where a job sits in its file, to name it (and its `id`) in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobPath {
    /// `jobs[i]` of a document object.
    Jobs(usize),
    /// `[i]` of a bare array.
    Array(usize),
    /// The job of a JSON Lines line.
    Line,
}

impl JobPath {
    /// The path of the job, or of its member `child`.
    pub(crate) fn render(self, child: Option<&str>) -> Option<String> {
        let base = match self {
            JobPath::Jobs(i) => format!("jobs[{i}]"),
            JobPath::Array(i) => format!("[{i}]"),
            JobPath::Line => String::new(),
        };
        match (base.is_empty(), child) {
            (true, None) => None,
            (true, Some(c)) => Some(c.to_owned()),
            (false, None) => Some(base),
            (false, Some(c)) => Some(format!("{base}.{c}")),
        }
    }
}

/// A 1-based position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// A declared limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LimitValue {
    Concurrency(u32),
    Rate(Rate),
}

/// What reading a source produces, in file order.
#[derive(Debug)]
pub(crate) enum Event {
    /// A valid job (its id still empty when it is to be generated).
    Job {
        /// Shared from the start: the run loop hands it to the pool as it is.
        spec: Arc<JobSpec>,
        /// Where the explicit id is (or the job, when the id is generated).
        id_pos: Pos,
        path: JobPath,
    },
    /// The explicit id of a job that had errors: it still takes part in duplicate checks.
    Id { id: String, pos: Pos, path: JobPath },
    /// A valid job with an explicit id, whose spec was not built: only the check pass (which
    /// drops specs, see [`SourceCtx::hash`]) gets these, from the JSON Lines fast path.
    Valid {
        id: IdText,
        pos: Pos,
        path: JobPath,
        /// Whether the job uses a core while it runs (see [`crate::spec::JobKind::uses_a_core`]).
        core_bound: bool,
    },
    /// A limit from `limits`.
    Limit { key: String, value: LimitValue, pos: Pos, field: Option<String> },
    /// An error.
    Error(SpecError),
}

/// A job id as the check pass keeps it, which only needs it for a moment (to look it up in
/// the duplicate table, or to quote it in an error): ids of up to [`IdText::INLINE`] bytes —
/// nearly all — are held inline, so the usual line allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdText {
    /// `len` bytes of `bytes`.
    Inline { len: u8, bytes: [u8; IdText::INLINE] },
    /// A longer id.
    Heap(String),
}

impl IdText {
    /// The longest id held inline.
    pub(crate) const INLINE: usize = 30;

    pub(crate) fn new(id: &str) -> IdText {
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= IdText::INLINE => {
                let mut bytes = [0; IdText::INLINE];
                bytes[..id.len()].copy_from_slice(id.as_bytes());
                IdText::Inline { len, bytes }
            }
            _ => IdText::Heap(id.to_owned()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Whole characters of a `str` were copied in, so this never fails.
            IdText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            IdText::Heap(id) => id,
        }
    }

    /// The id's bytes, without checking them again (the duplicate table keys ids by their
    /// bytes; only a message needs the text).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            IdText::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IdText::Heap(id) => id.as_bytes(),
        }
    }
}

impl AsRef<[u8]> for IdText {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Display for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the parsing functions need to know about the source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SourceCtx<'c> {
    pub(crate) path: &'c Arc<Path>,
    pub(crate) allow_periodic: bool,
    /// Accept `shell` jobs ([`ParseOptions::allow_shell`](crate::spec::ParseOptions::allow_shell)).
    pub(crate) allow_shell: bool,
    /// Compute every job's `spec_hash`. When `false` (the check pass, which drops the jobs),
    /// only jobs whose id is generated from it get one; the others' stays empty.
    pub(crate) hash: bool,
}

impl SourceCtx<'_> {
    pub(super) fn error(&self, index: &LineIndex<'_>, issue: Issue) -> Event {
        let (line, column) = index.position(issue.at);
        Event::Error(SpecError {
            path: self.path.to_path_buf(),
            line,
            column,
            field: render_path(issue.path.iter().map(Into::into)),
            message: issue.message,
        })
    }

    pub(super) fn error_at(&self, index: &LineIndex<'_>, at: usize, message: impl Into<String>) -> Event {
        self.error(index, Issue { at, path: Vec::new(), message: message.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_paths() {
        assert_eq!(JobPath::Jobs(3).render(Some("id")).as_deref(), Some("jobs[3].id"));
        assert_eq!(JobPath::Array(0).render(None).as_deref(), Some("[0]"));
        assert_eq!(JobPath::Line.render(None), None);
        assert_eq!(JobPath::Line.render(Some("id")).as_deref(), Some("id"));
    }
}

//! What an attempt produced: [`KindOutput`] on success, [`KindError`] on failure.

use std::fmt;

/// What a job produced when it succeeded: the ledger's `exit_code` and `output_tail`, set
/// by `exec` and `shell` (`None` for the other kinds).
///
/// # Examples
///
/// ```
/// use conveyor::kind::KindOutput;
///
/// let output = KindOutput::default(); // what `noop`, `sleep`, … return
/// assert_eq!((output.exit_code, output.output_tail), (None, None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindOutput {
    /// The process's exit code (`exec`, `shell`: always `Some(0)` on success).
    pub exit_code: Option<i32>,
    /// The last [`KindEnv::output_limit`](super::KindEnv::output_limit) bytes of the
    /// process's stdout and stderr, interleaved as they arrived, as UTF-8 (invalid bytes
    /// replaced, a character cut in two dropped) (`exec`, `shell`).
    pub output_tail: Option<String>,
}

/// Why a job failed. Its `Display` is [`message`](Self::message), the ledger's `error`
/// text; for `exec` and `shell` it carries the exit code and output tail too.
///
/// # Examples
///
/// ```
/// use conveyor::kind::KindError;
///
/// let err = KindError::new("disk on fire");
/// assert_eq!(err.to_string(), "disk on fire");
/// assert_eq!(err.exit_code, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindError {
    /// What went wrong, for people: lowercase, no trailing period, the cause included
    /// (this is the last stop of the error, written to the ledger as it is).
    pub message: String,
    /// The process's exit code, if it exited (`None` when killed by a signal, when it never
    /// started, and for kinds other than `exec` and `shell`).
    pub exit_code: Option<i32>,
    /// The end of the process's output, as in [`KindOutput::output_tail`].
    pub output_tail: Option<String>,
}

impl KindError {
    /// An error with `message` and no exit code or output.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = conveyor::kind::KindError::new("cancelled");
    /// assert!(err.is_cancelled());
    /// ```
    pub fn new(message: impl Into<String>) -> KindError {
        KindError { message: message.into(), exit_code: None, output_tail: None }
    }

    /// The error of an attempt stopped by [`JobContext::cancelled`](conveyor_pool::JobContext::cancelled):
    /// `"cancelled"`.
    pub(crate) fn cancelled() -> KindError {
        KindError::new(CANCELLED)
    }

    /// Whether the attempt stopped because it was cancelled (or timed out: the pool signals
    /// both the same way).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conveyor::kind::KindError::new("boom").is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.message == CANCELLED
    }
}

const CANCELLED: &str = "cancelled";

impl fmt::Display for KindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KindError {}

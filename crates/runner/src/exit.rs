//! The exit codes of `conveyor`, as DESIGN.md promises them to scripts.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every job succeeded (jobs `--resume` skipped count as succeeded) |
//! | 1 | some job did not succeed (failed, panicked, timed out, or cancelled by `--fail-fast`) |
//! | 2 | invalid input or usage: nothing was run |
//! | 3 | stopped because the ledger could not be written: jobs may have run (the summary says which) |
//! | 130 | interrupted by SIGINT (Ctrl-C) |
//! | 143 | stopped by SIGTERM |

use std::process::ExitCode;

/// How a `conveyor` command ended.
///
/// # Examples
///
/// ```
/// use conveyor::exit::Exit;
/// assert_eq!(Exit::Interrupted.code(), 130);
/// assert_eq!(Exit::Terminated.code(), 143);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything succeeded.
    Success,
    /// 1: some job did not succeed.
    JobsFailed,
    /// 2: invalid input or usage; nothing ran.
    Usage,
    /// 3: stopped because the ledger could not be written; jobs may have run.
    LedgerFailed,
    /// 130: stopped by SIGINT.
    Interrupted,
    /// 143: stopped by SIGTERM.
    Terminated,
}

impl Exit {
    /// The numeric exit code.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor::exit::Exit::JobsFailed.code(), 1);
    /// ```
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::JobsFailed => 1,
            Exit::Usage => 2,
            Exit::LedgerFailed => 3,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// An error that is the user's to fix (bad flags, bad job files, a ledger that cannot be
/// opened): `main` prints it and exits 2. Any other error also exits 2; this type only marks
/// errors whose message is already complete, so `main` prints no cause chain after it.
///
/// # Examples
///
/// ```
/// use conveyor::exit::UsageError;
/// let e = UsageError::new("--resume needs --ledger PATH");
/// assert_eq!(e.to_string(), "--resume needs --ledger PATH");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(String);

impl UsageError {
    /// An error with this message.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = conveyor::exit::UsageError::new("bad flag");
    /// ```
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError(message.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Whether `err` (or one of its causes) is a broken pipe: stdout was closed by a reader such
/// as `head`, which is not an error for a command-line tool (ripgrep exits 0 then too).
///
/// # Examples
///
/// ```
/// let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
/// assert!(conveyor::exit::is_broken_pipe(&err));
/// ```
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
        // serde_json wraps I/O errors without exposing them as a source.
        let json = cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind);
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}

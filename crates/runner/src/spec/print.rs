//! How job-file errors are printed, by every command that reads job files.
//!
//! Human format: every error as `PATH:LINE:COL: FIELD: message` on stderr (the compiler
//! convention, so editors can jump to it), then one `conveyor:` line with the count.
//! JSON format (`--format json`): JSON Lines on stdout, one object per error, exactly
//! [`SpecError`]'s serialised form `{"path", "line", "column", "field", "message"}`
//! (`line`/`column` are 0 and `field` is null when they do not apply); nothing else.

use std::io::Write as _;

use super::SpecError;
use crate::cli::Format;

/// Prints `errors` in `format` (see [the module docs](self)). A closed output (a broken pipe) is
/// not an error: the exit code (2) still says the input was invalid.
///
/// # Errors
///
/// Writing to stdout or stderr failed for another reason.
pub fn print_errors(errors: &[SpecError], format: Format) -> std::io::Result<()> {
    match write_errors(errors, format) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn write_errors(errors: &[SpecError], format: Format) -> std::io::Result<()> {
    match format {
        Format::Human => {
            let mut err = std::io::stderr().lock();
            for e in errors {
                writeln!(err, "{e}")?;
            }
            let files: std::collections::BTreeSet<_> = errors.iter().map(|e| &e.path).collect();
            let (n, s) = (errors.len(), if errors.len() == 1 { "" } else { "s" });
            let (f, fs) = (files.len(), if files.len() == 1 { "" } else { "s" });
            writeln!(err, "conveyor: {n} error{s} in {f} file{fs}; nothing was run")?;
        }
        Format::Json => {
            let mut out = std::io::stdout().lock();
            for e in errors {
                serde_json::to_writer(&mut out, e)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

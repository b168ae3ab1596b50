//! Reading ledgers as a stream of lines: each file is read once, front to back (so a FIFO,
//! `<(…)` or stdin works), one line in memory at a time.
//!
//! A line that is not a ledger line stops the report with `PATH:LINE:COL: message`. The one
//! exception is a torn last line — the start of a ledger line with no newline, what a killed
//! run leaves — which is skipped with a warning, as `run --resume` skips it: a report about
//! a run that was killed is exactly when one wants a report.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context as _, bail};

use super::line::{self, Line};

/// The longest line read (a ledger line's `output_tail` is bounded, so a real one is far
/// shorter): past it, the file is not a ledger, and memory stays bounded.
pub(super) const MAX_LINE: usize = 16 << 20;

/// Every ledger line starts so: an unterminated last line that starts so (or is a start of
/// this) and does not parse was cut short.
const TORN_START: &[u8] = b"{\"id\":\"";

/// What was read from one ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Source {
    /// The path as given (`-` for stdin).
    pub(super) name: String,
    /// Ledger lines read.
    pub(super) lines: u64,
    /// The line number of a torn last line that was skipped, if any.
    pub(super) torn: Option<u64>,
}

/// Reads the ledger at `path` (`-`: stdin), handing each line to `each` in file order.
///
/// # Errors
///
/// `PATH: message` when the file cannot be opened or read (a folder, no permission), or has
/// no ledger line at all; `PATH:LINE:COL: message` for a line that is not a ledger line or is
/// longer than [`MAX_LINE`].
pub(super) fn read(path: &Path, each: &mut dyn FnMut(Line<'_>)) -> anyhow::Result<Source> {
    let name = path.display().to_string();
    let source = if path == Path::new("-") {
        read_from(&name, io::stdin().lock(), each)?
    } else {
        let file = File::open(path).with_context(|| format!("{name}: cannot open"))?;
        // Opening a folder succeeds on Linux; reading it would fail with a vaguer message.
        if file.metadata().with_context(|| format!("{name}: cannot read"))?.is_dir() {
            bail!("{name}: is a folder, not a ledger (give the ledger file, e.g. {name}/run.ledger.jsonl)");
        }
        read_from(&name, BufReader::with_capacity(256 * 1024, file), each)?
    };
    if source.lines == 0 {
        bail!("{name}: no ledger lines (a ledger has one JSON line per finished job)");
    }
    Ok(source)
}

/// [`read`] on an open stream named `name`.
pub(super) fn read_from(
    name: &str,
    mut reader: impl BufRead,
    each: &mut dyn FnMut(Line<'_>),
) -> anyhow::Result<Source> {
    let mut source = Source { name: name.to_owned(), lines: 0, torn: None };
    let mut buf = Vec::new();
    let mut number = 0u64;
    loop {
        buf.clear();
        number += 1;
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("{name}:{number}: cannot read"))?;
        if n == 0 {
            break;
        }
        let terminated = buf.last() == Some(&b'\n');
        if !terminated && buf.len() > MAX_LINE {
            bail!("{name}:{number}:1: not a ledger line: longer than {} MiB", MAX_LINE >> 20);
        }
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match line::parse(text) {
            Ok(line) => {
                source.lines += 1;
                each(line);
            }
            Err(_) if !terminated && is_torn(text) => {
                source.torn = Some(number);
                break;
            }
            Err(e) => bail!("{name}:{number}:{}: {}", e.column, e.message),
        }
    }
    Ok(source)
}

/// Whether an unterminated last line is the start of a ledger line.
fn is_torn(text: &[u8]) -> bool {
    text.starts_with(TORN_START) || TORN_START.starts_with(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"id":"a","kind":"noop","outcome":"succeeded","attempts":1,"queued_at":"2026-01-01T00:00:00Z","started_at":null,"finished_at":"2026-01-01T00:00:01Z","wait_seconds":0,"run_seconds":0,"error":null,"spec_hash":"h"}"#;

    fn ids(text: &str) -> anyhow::Result<(Vec<String>, Source)> {
        let mut ids = Vec::new();
        let source = read_from("l.jsonl", text.as_bytes(), &mut |l| ids.push(l.id.into_owned()))?;
        Ok((ids, source))
    }

    #[test]
    fn lines_are_read_in_order_and_blank_lines_skipped() {
        let text = format!("{A}\n\n{}\r\n{}", A.replace("\"a\"", "\"b\""), A.replace("\"a\"", "\"c\""));
        let (ids, source) = ids(&text).unwrap();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!((source.lines, source.torn), (3, None));
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_named() {
        for cut in ["{", "{\"id\":\"b\",\"kind\":\"no"] {
            let (ids, source) = ids(&format!("{A}\n{A}\n{cut}")).unwrap();
            assert_eq!(ids.len(), 2);
            assert_eq!(source.torn, Some(3), "{cut}");
        }
    }

    #[test]
    fn anything_else_is_a_located_error() {
        let e = ids(&format!("{A}\n{{\"id\":\"b\"\n{A}\n")).unwrap_err();
        assert!(e.to_string().starts_with("l.jsonl:2:"), "{e}");
        let e = ids(&format!("{A}\nhello")).unwrap_err();
        assert_eq!(e.to_string(), "l.jsonl:2:1: not a ledger line: expected value");
        let e = ids("{\"kind\": \"noop\"}\n").unwrap_err();
        assert!(e.to_string().starts_with("l.jsonl:1:16: not a ledger line: missing field `id`"), "{e}");
    }

    #[test]
    fn a_line_too_long_stops_at_the_limit() {
        let huge = format!("{{\"id\":\"{}", "x".repeat(MAX_LINE + 10));
        let mut reader = io::Cursor::new(format!("{A}\n{huge}\n"));
        let e = read_from("big", &mut reader, &mut |_| {}).unwrap_err();
        assert_eq!(e.to_string(), "big:2:1: not a ledger line: longer than 16 MiB");
        assert!(reader.position() < (MAX_LINE as u64) + 1024, "read on past the limit");
    }

    #[test]
    fn folders_and_empty_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("is a folder, not a ledger"), "{e}");
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "\n").unwrap();
        let e = read(&empty, &mut |_| {}).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("empty.jsonl: no ledger lines (a ledger has one JSON line per finished job)")
        );
        let e = read(&dir.path().join("missing"), &mut |_| {}).unwrap_err();
        assert!(format!("{e:#}").contains("missing: cannot open: No such file"), "{e:#}");
    }
}

//! Opening a ledger for appending: the check that a file is a ledger, and the repair of a
//! torn last line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use conveyor_pool::Outcome;

use super::record::Minimal;

/// Opens (creating if needed) a ledger for appending, after checking that it is one: its
/// first line and its last must be ledger lines (an `id`, a known `outcome` and a
/// `spec_hash`), so that `--ledger` pointed at a job file or any other file is refused
/// with the file untouched. A last line without a final newline is kept and terminated if
/// it is a whole ledger line, and cut off only if it is the start of one (a crash
/// mid-write), so new lines start on a line of their own.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidData`] when the file holds something else than ledger lines;
/// any I/O error opening, reading, truncating or terminating the file.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("l.jsonl");
/// let a = r#"{"id":"a","outcome":"succeeded","spec_hash":"h"}"#;
/// std::fs::write(&path, format!("{a}\n{{\"id\":\"b\",\"outc")).unwrap();
/// let _file = conveyor::ledger::open_for_append(&path).unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{a}\n"));
///
/// let jobs = dir.path().join("jobs.jsonl");
/// std::fs::write(&jobs, "{\"kind\": \"noop\"}\n").unwrap();
/// let e = conveyor::ledger::open_for_append(&jobs).unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
/// assert_eq!(std::fs::read_to_string(&jobs).unwrap(), "{\"kind\": \"noop\"}\n");
/// ```
pub fn open_for_append(path: &Path) -> io::Result<File> {
    let mut file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(file);
    }
    let first = first_line(&mut file)?;
    let last_start = last_line_start(&mut file, len)?;
    let mut last = Vec::new();
    file.seek(SeekFrom::Start(last_start))?;
    (&mut file).take(MAX_LINE).read_to_end(&mut last)?;
    let unterminated = !last.ends_with(b"\n");
    let whole_file_one_line = last_start == 0;
    // A file of one unterminated line is judged as a last line, below.
    let first_ok = (whole_file_one_line && unterminated) || first.as_deref().is_none_or(is_line);
    if !first_ok {
        return Err(not_a_ledger("its first line is not a ledger line"));
    }
    if unterminated {
        if is_line(&last) {
            // A whole line that lost only its newline (an editor, a copy): keep it.
            file.write_all(b"\n")?;
        } else if last.starts_with(TORN_START) || TORN_START.starts_with(&last) {
            // Cut short, even within its first bytes (a disk that filled up at `{"i`).
            file.set_len(last_start)?;
        } else {
            return Err(not_a_ledger("its last line is neither a ledger line nor the start of one"));
        }
    } else if !last.iter().all(u8::is_ascii_whitespace) && !is_line(&last) && !whole_file_one_line {
        return Err(not_a_ledger("its last line is not a ledger line"));
    }
    Ok(file)
}

/// Every ledger line starts so: a last line that starts so (or is a start of this) and does
/// not parse was cut short.
const TORN_START: &[u8] = b"{\"id\":\"";
/// The longest line looked at when checking a ledger (`output_tail` is bounded, so a
/// ledger line is far shorter).
const MAX_LINE: u64 = 16 << 20;

fn not_a_ledger(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a ledger: {why} (refusing to append to it; give a new file or an existing ledger)"),
    )
}

/// Whether `line` (with or without its newline) is a ledger line.
fn is_line(line: &[u8]) -> bool {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    serde_json::from_slice::<Minimal<'_>>(text)
        .is_ok_and(|m| Outcome::ALL.iter().any(|o| o.as_str() == m.outcome))
}

/// The first line that is not blank, if any (at most [`MAX_LINE`] bytes of it).
fn first_line(file: &mut File) -> io::Result<Option<Vec<u8>>> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&mut *file).take(MAX_LINE);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(line));
        }
    }
}

/// Where the last line of a file of `len` bytes starts: just after the last newline that
/// is not the file's final byte (reading backwards in blocks), or 0.
fn last_line_start(file: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len.saturating_sub(1);
    let mut block = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..n])?;
        if let Some(i) = block[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_longer_than_a_block_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let whole = "{\"id\":\"a\",\"outcome\":\"failed\",\"spec_hash\":\"h\"}\n";
        let mut text = format!("{whole}{{\"id\":\"b\",\"error\":\"");
        text.push_str(&"x".repeat(200_000));
        std::fs::write(&path, &text).unwrap();
        drop(open_for_append(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
        // Issue 18: a file with no ledger line is not a ledger; it is left as it is.
        std::fs::write(&path, "no newline at all").unwrap();
        assert_eq!(open_for_append(&path).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "no newline at all");
    }

    /// Issue 18: only the start of a ledger line is torn; a whole line that lost its newline
    /// is kept, and a ledger followed by anything else is not a ledger.
    #[test]
    fn only_a_cut_short_line_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let whole = "{\"id\":\"a\",\"outcome\":\"succeeded\",\"spec_hash\":\"h\"}";
        std::fs::write(&path, format!("{whole}\n{whole}")).unwrap();
        drop(open_for_append(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{whole}\n{whole}\n"));
        std::fs::write(&path, whole).unwrap();
        drop(open_for_append(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{whole}\n"));
        // A line cut within its first bytes is torn too (a full disk took the rest).
        for cut in ["{", "{\"", "{\"i", "{\"id\":"] {
            std::fs::write(&path, format!("{whole}\n{cut}")).unwrap();
            drop(open_for_append(&path).unwrap());
            assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{whole}\n"), "{cut}");
        }
        for junk in [format!("{whole}\nhello"), format!("{whole}\n[1, 2]\n"), "{\"kind\": \"noop\"}\n".into()]
        {
            std::fs::write(&path, &junk).unwrap();
            assert!(open_for_append(&path).is_err(), "{junk}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), junk);
        }
    }
}

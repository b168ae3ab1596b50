//! Reading a source's events: a document at once, JSON Lines line by line.

use std::io::{self, BufRead, Read};
use std::path::Path;
use std::sync::Arc;

use super::super::SpecError;
use super::super::file::{Event, Format, MAX_DOCUMENT, MAX_LINE, SourceCtx, parse_document, parse_line};
use super::ParseOptions;
use super::source::{Source, io_message};

/// The events of one source, read lazily. Owns its reader (no borrow of the [`Source`]), so
/// that [`IntoJobs`](super::IntoJobs) can own the [`Validated`](super::Validated) it reads.
pub(super) enum SourceEvents {
    /// Everything already parsed (a document, or a failure to open).
    Buffered(std::vec::IntoIter<Event>),
    /// A JSON Lines stream.
    Lines {
        path: Arc<Path>,
        allow_periodic: bool,
        allow_shell: bool,
        hash: bool,
        lines: LineReader<Box<dyn BufRead + Send>>,
        line_no: usize,
        pending: std::collections::VecDeque<Event>,
        scratch: Vec<Event>,
        done: bool,
    },
}

impl SourceEvents {
    pub(super) fn open(source: &Source, options: &ParseOptions, hash: bool) -> SourceEvents {
        let fail = |e: io::Error| {
            SourceEvents::Buffered(
                vec![Event::Error(SpecError::file(source.display.to_path_buf(), io_message(&e)))].into_iter(),
            )
        };
        let mut reader = match source.open() {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        let format = match source.format {
            Some(f) => f,
            None => match first_line(&mut *reader) {
                Ok(start) => {
                    let f = Format::sniff(&start);
                    // Start again from the top.
                    reader = match source.open() {
                        Ok(r) => r,
                        Err(e) => return fail(e),
                    };
                    f
                }
                Err(e) => return fail(e),
            },
        };
        let ctx = SourceCtx {
            path: &source.display,
            allow_periodic: options.allow_periodic,
            allow_shell: options.allow_shell,
            hash,
        };
        match format {
            Format::Document => {
                let mut bytes = Vec::new();
                if let Err(e) = (&mut reader).take(MAX_DOCUMENT + 1).read_to_end(&mut bytes) {
                    return fail(e);
                }
                let mut events = Vec::new();
                if bytes.len() as u64 > MAX_DOCUMENT {
                    events.push(Event::Error(SpecError::file(
                        source.display.to_path_buf(),
                        "file is larger than 256 MiB; use JSON Lines (.jsonl), which is read \
                         as a stream",
                    )));
                } else {
                    parse_document(&ctx, &bytes, &mut events);
                }
                SourceEvents::Buffered(events.into_iter())
            }
            Format::Lines => SourceEvents::Lines {
                path: Arc::clone(&source.display),
                allow_periodic: options.allow_periodic,
                allow_shell: options.allow_shell,
                hash,
                lines: LineReader::new(reader),
                line_no: 0,
                pending: Default::default(),
                scratch: Vec::new(),
                done: false,
            },
        }
    }
}

/// The input up to the end of the first line that is not blank (at most [`MAX_LINE`] bytes).
fn first_line(reader: &mut dyn BufRead) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let start = out.len();
        let n = reader.take((MAX_LINE - out.len().min(MAX_LINE)) as u64).read_until(b'\n', &mut out)?;
        if n == 0 || out.len() >= MAX_LINE || !out[start..].iter().all(u8::is_ascii_whitespace) {
            return Ok(out);
        }
    }
}

/// One line, as [`LineReader::next_line`] gives it.
pub(super) enum LineRead<'a> {
    /// The line, without its `\n`.
    Line(&'a [u8]),
    /// A line longer than [`MAX_LINE`], skipped.
    TooLong,
    End,
}

/// Reads lines, refusing to hold more than [`MAX_LINE`] bytes of one (the rest of a longer
/// line is skipped).
///
/// A line that lies whole in the reader's buffer — nearly every line — is lent from there,
/// not copied: one copy a line fewer, and the UTF-8 check's reads of a just-copied line no
/// longer wait on the copy's stores (that check held ~19% of the check pass's samples;
/// measured, `validate` of 200k lines went 34.5 → 33.3 ms). Only a line that straddles two
/// buffer fills is gathered in a buffer of its own.
pub(super) struct LineReader<R> {
    reader: R,
    /// A line that straddles buffer fills, or is too long.
    gathered: Vec<u8>,
    /// Bytes of the reader's buffer lent out by the last call, consumed at the next.
    lent: usize,
}

impl<R: BufRead> LineReader<R> {
    pub(super) fn new(reader: R) -> Self {
        LineReader { reader, gathered: Vec::new(), lent: 0 }
    }

    pub(super) fn next_line(&mut self) -> io::Result<LineRead<'_>> {
        self.reader.consume(std::mem::take(&mut self.lent));
        let whole = loop {
            match self.reader.fill_buf() {
                Ok(chunk) => break memchr::memchr(b'\n', chunk).filter(|&i| i <= MAX_LINE),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if let Some(i) = whole {
            // The buffer is not empty: this reads nothing (returning the first call's slice
            // does not borrow-check).
            let chunk = self.reader.fill_buf()?;
            self.lent = i + 1;
            return Ok(LineRead::Line(&chunk[..i]));
        }
        self.gather()
    }

    /// The slow path: a line that straddles buffer fills (or does not end in a `\n`).
    fn gather(&mut self) -> io::Result<LineRead<'_>> {
        let buf = &mut self.gathered;
        buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(match (any, too_long) {
                    (false, _) => LineRead::End,
                    (true, true) => LineRead::TooLong,
                    (true, false) => LineRead::Line(buf),
                });
            }
            any = true;
            let (take, found) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if buf.len() + take > MAX_LINE {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.reader.consume(if found { take + 1 } else { take });
            if found {
                return Ok(if too_long { LineRead::TooLong } else { LineRead::Line(buf) });
            }
        }
    }
}

impl Iterator for SourceEvents {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        match self {
            SourceEvents::Buffered(events) => events.next(),
            SourceEvents::Lines {
                path,
                allow_periodic,
                allow_shell,
                hash,
                lines,
                line_no,
                pending,
                scratch,
                done,
            } => loop {
                if let Some(event) = pending.pop_front() {
                    return Some(event);
                }
                if *done {
                    return None;
                }
                let read = lines.next_line();
                *line_no += 1;
                match read {
                    Ok(LineRead::End) => {
                        *done = true;
                    }
                    Ok(LineRead::TooLong) => pending.push_back(Event::Error(SpecError {
                        path: path.to_path_buf(),
                        line: *line_no,
                        column: 1,
                        field: None,
                        message: "line is longer than 16 MiB".to_owned(),
                    })),
                    Ok(LineRead::Line(line)) => {
                        let ctx = SourceCtx {
                            path,
                            allow_periodic: *allow_periodic,
                            allow_shell: *allow_shell,
                            hash: *hash,
                        };
                        parse_line(&ctx, line, *line_no, scratch);
                        // `pending` is empty here: the usual line's one event skips the queue.
                        if scratch.len() == 1 {
                            return scratch.pop();
                        }
                        pending.extend(scratch.drain(..));
                    }
                    Err(e) => {
                        *done = true;
                        pending.push_back(Event::Error(SpecError {
                            path: path.to_path_buf(),
                            line: *line_no,
                            column: 1,
                            field: None,
                            message: io_message(&e),
                        }));
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;

    #[test]
    fn reads_long_lines_in_pieces_and_refuses_huge_ones() {
        let mut data = vec![b'x'; MAX_LINE + 10];
        data.extend_from_slice(b"\nok\nlast");
        let mut lines = LineReader::new(BufReader::with_capacity(1000, &data[..]));
        assert!(matches!(lines.next_line().unwrap(), LineRead::TooLong));
        assert!(matches!(lines.next_line().unwrap(), LineRead::Line(b"ok")));
        assert!(matches!(lines.next_line().unwrap(), LineRead::Line(b"last")));
        assert!(matches!(lines.next_line().unwrap(), LineRead::End));
        assert!(matches!(lines.next_line().unwrap(), LineRead::End));

        // Lines lent from the buffer and lines gathered across its fills read the same.
        let data = b"abcdef\nxy\n\nlonger line\nz";
        for capacity in [1, 4, 7, 64] {
            let mut lines = LineReader::new(BufReader::with_capacity(capacity, &data[..]));
            let mut seen = Vec::new();
            while let LineRead::Line(line) = lines.next_line().unwrap() {
                seen.push(String::from_utf8(line.to_vec()).unwrap());
            }
            assert_eq!(seen, ["abcdef", "xy", "", "longer line", "z"], "buffer of {capacity}");
        }
    }
}

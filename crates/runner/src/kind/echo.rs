//! [`Echo`]: one attempt's output on its way to the run's [`Output`], grouped or tagged.
//!
//! Memory per attempt stays bounded: `grouped` holds at most
//! [`SPOOL_MEMORY`](super::output::SPOOL_MEMORY) bytes per
//! stream and spills the rest to a temporary file; `tagged` holds one partial line per
//! stream (at most [`LINE_LIMIT`] bytes) and at most one print in flight — the next read of
//! the pipe waits for it, so a slow reader of stdout slows the job down (its pipe fills)
//! instead of filling memory.

use memchr::{memchr_iter, memrchr};
use tokio::task::JoinHandle;

use super::output::{Output, OutputMode, Print, Spool};

/// The longest partial line `tagged` holds: a longer one goes out in pieces of this size,
/// each tagged and ended as a line of its own.
pub(super) const LINE_LIMIT: usize = 64 * 1024;

/// Which of the child's streams bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    Out,
    Err,
}

/// An attempt's output on its way to the [`Output`].
#[derive(Debug)]
pub(super) struct Echo {
    output: Output,
    style: Style,
    /// The last print handed over, until it is written.
    in_flight: Option<JoinHandle<()>>,
}

#[derive(Debug)]
enum Style {
    None,
    /// The attempt's streams, printed when it ends.
    Grouped(Print),
    /// `id` and a tab, and each stream's partial last line.
    Tagged {
        prefix: Box<[u8]>,
        out: Vec<u8>,
        err: Vec<u8>,
    },
}

impl Echo {
    /// The echo of job `id`'s attempt into `output`.
    pub(super) fn new(output: &Output, id: &str) -> Echo {
        let style = match output.mode() {
            OutputMode::None => Style::None,
            OutputMode::Grouped => Style::Grouped(Print::default()),
            OutputMode::Tagged => {
                let mut prefix = Vec::with_capacity(id.len() + 1);
                prefix.extend_from_slice(id.as_bytes());
                prefix.push(b'\t');
                Style::Tagged { prefix: prefix.into(), out: Vec::new(), err: Vec::new() }
            }
        };
        Echo { output: output.clone(), style, in_flight: None }
    }

    /// Whether output is shown at all (then stdout and stderr need pipes of their own).
    pub(super) fn is_on(&self) -> bool {
        !matches!(self.style, Style::None)
    }

    /// Waits until the last print handed over is written.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the print goes on without the waiter, and the next call waits for it.
    pub(super) async fn ready(&mut self) {
        if let Some(handle) = &mut self.in_flight {
            // The print's task catches its own failures; a join error (runtime shutting
            // down) leaves nothing to wait for.
            let _ = handle.await;
            self.in_flight = None;
        }
    }

    /// Takes `bytes` the child wrote to `stream`. Call [`ready`](Self::ready) first: a
    /// tagged line is handed over at once, and only one print is in flight at a time.
    pub(super) fn push(&mut self, stream: Stream, bytes: &[u8]) {
        match &mut self.style {
            Style::None => {}
            Style::Grouped(print) => match stream {
                Stream::Out => print.out.push(bytes),
                Stream::Err => print.err.push(bytes),
            },
            Style::Tagged { prefix, out, err } => {
                let partial = match stream {
                    Stream::Out => out,
                    Stream::Err => err,
                };
                let lines = tag_lines(prefix, partial, bytes);
                if !lines.is_empty() {
                    let print = match stream {
                        Stream::Out => Print { out: Spool::from_vec(lines), err: Spool::default() },
                        Stream::Err => Print { out: Spool::default(), err: Spool::from_vec(lines) },
                    };
                    debug_assert!(self.in_flight.is_none(), "push without ready");
                    self.in_flight = Some(self.output.spawn(print));
                }
            }
        }
    }

    /// Hands over what is left — a grouped attempt's whole output, a tagged attempt's
    /// partial last lines (each ended with a newline) — and waits until it is written.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: what was handed over is printed whole whether or not this waits.
    pub(super) async fn finish(&mut self) {
        self.ready().await;
        let print = match &mut self.style {
            Style::None => None,
            Style::Grouped(print) => Some(std::mem::take(print)),
            Style::Tagged { prefix, out, err } => {
                let end = |partial: &mut Vec<u8>| {
                    if partial.is_empty() {
                        return Spool::default();
                    }
                    let mut line = Vec::with_capacity(prefix.len() + partial.len() + 1);
                    line.extend_from_slice(prefix);
                    line.append(partial);
                    line.push(b'\n');
                    Spool::from_vec(line)
                };
                Some(Print { out: end(out), err: end(err) })
            }
        };
        if let Some(print) = print.filter(|p| !p.out.is_empty() || !p.err.is_empty()) {
            self.in_flight = Some(self.output.spawn(print));
            self.ready().await;
        }
    }
}

/// The whole lines of `partial` followed by `bytes`, each after `prefix`; what follows the
/// last newline stays in `partial` (cut into lines of its own past [`LINE_LIMIT`]).
fn tag_lines(prefix: &[u8], partial: &mut Vec<u8>, bytes: &[u8]) -> Vec<u8> {
    let mut lines = Vec::new();
    let rest = match memrchr(b'\n', bytes) {
        Some(last) => {
            let whole = &bytes[..=last];
            lines.reserve(
                partial.len() + whole.len() + prefix.len() * (1 + memchr_iter(b'\n', whole).count()),
            );
            let mut start = 0;
            for end in memchr_iter(b'\n', whole) {
                lines.extend_from_slice(prefix);
                if start == 0 {
                    lines.append(partial);
                }
                lines.extend_from_slice(&whole[start..=end]);
                start = end + 1;
            }
            &bytes[last + 1..]
        }
        None => bytes,
    };
    partial.extend_from_slice(rest);
    while partial.len() >= LINE_LIMIT {
        lines.extend_from_slice(prefix);
        lines.extend_from_slice(&partial[..LINE_LIMIT]);
        lines.push(b'\n');
        partial.drain(..LINE_LIMIT);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::{LINE_LIMIT, tag_lines};

    fn tagged(chunks: &[&[u8]]) -> (String, String) {
        let mut partial = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(tag_lines(b"j\t", &mut partial, chunk));
        }
        (String::from_utf8(out).unwrap(), String::from_utf8(partial).unwrap())
    }

    #[test]
    fn tags_whole_lines_and_keeps_the_partial_one() {
        assert_eq!(tagged(&[b"a\nb\n"]), ("j\ta\nj\tb\n".into(), String::new()));
        assert_eq!(tagged(&[b"a\nb"]), ("j\ta\n".into(), "b".into()));
        assert_eq!(tagged(&[b"he", b"llo\nwor", b"ld\n"]), ("j\thello\nj\tworld\n".into(), String::new()));
        assert_eq!(tagged(&[b"x", b"y"]), (String::new(), "xy".into()));
        assert_eq!(tagged(&[b"\n\n"]), ("j\t\nj\t\n".into(), String::new()));
    }

    #[test]
    fn cuts_a_line_past_the_limit() {
        let long = vec![b'z'; LINE_LIMIT + 5];
        let (out, partial) = tagged(&[&long]);
        assert_eq!(out.len(), 2 + LINE_LIMIT + 1);
        assert!(out.starts_with("j\tzz") && out.ends_with("z\n"));
        assert_eq!(partial, "zzzzz");
    }
}

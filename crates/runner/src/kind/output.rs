//! [`Output`]: where `exec` and `shell` jobs' output is shown while a run lasts
//! (`conveyor run --output`), one job at a time.
//!
//! # Invariants
//!
//! - Whatever is printed is handed over as one [`Print`], written whole while holding the
//!   run's one `turn` lock: two jobs' prints never interleave, and within a job they are
//!   written in the order they were handed over (a job waits for its last print before it
//!   hands over the next, and tokio's mutex is fair).
//! - Writing happens on tokio's blocking threads (a slow or stopped reader of stdout must
//!   not stall the runtime's threads, which read every job's pipes and run the timers), and
//!   inside [`Printer::suspend`], so the progress bar is taken off the terminal meanwhile.
//! - A print, once handed over, is done by a task of its own: a job whose attempt is
//!   dropped mid-way still has what it handed over printed whole.
//! - Write errors are ignored: a closed stdout (`| head`) must not fail jobs; the summary's
//!   own write decides what a broken pipe means for the run.

use std::fmt;
use std::fs::File;
use std::io::{self, Seek as _, Write};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::JoinHandle;

use crate::progress::Printer;

/// How `exec` and `shell` jobs' output is shown: `conveyor run --output`.
///
/// The ledger's `output_tail` is kept whatever the mode. [`KindEnv::new`](super::KindEnv::new)
/// starts with [`None`](OutputMode::None) (what `serve` and `worker` use: they have no
/// terminal); `conveyor run` defaults to [`Grouped`](OutputMode::Grouped), GNU parallel's
/// default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutputMode {
    /// Nothing is shown; only the ledger's tail is kept.
    #[default]
    None,
    /// Each attempt's stdout goes to stdout and its stderr to stderr, whole, when the
    /// attempt ends, never interleaved with another job's (`parallel --group`).
    Grouped,
    /// Each line goes out as it arrives, prefixed with the job's id and a tab, stdout to
    /// stdout and stderr to stderr (`parallel --tag --line-buffer`).
    Tagged,
}

/// Where process jobs print: the [`OutputMode`] and what all jobs of a run share to print
/// one at a time, above the progress bar. Cheap to clone.
///
/// # Examples
///
/// ```
/// use conveyor::kind::{KindEnv, Output, OutputMode};
/// use conveyor::progress::Progress;
///
/// let progress = Progress::new(false, 10);
/// let mut env = KindEnv::new(false, 42)?;
/// assert_eq!(env.output.mode(), OutputMode::None);
/// env.output = Output::new(OutputMode::Grouped, progress.printer());
/// assert_eq!(env.output.mode(), OutputMode::Grouped);
/// # anyhow::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct Output {
    mode: OutputMode,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Held while a print is written: one job's print at a time.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The progress bar to take off the terminal while writing, if any.
    printer: Option<Printer>,
    sink: Sink,
}

#[derive(Debug)]
enum Sink {
    /// The process's stdout and stderr.
    Std,
    /// Buffers, for [`Output::in_memory`].
    Memory(Arc<Mutex<Buffers>>),
}

#[derive(Debug, Default)]
struct Buffers {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Default for Output {
    /// [`OutputMode::None`]: nothing is shown.
    fn default() -> Output {
        Output::with_sink(OutputMode::None, None, Sink::Std)
    }
}

impl Output {
    /// Output in `mode` on the process's stdout and stderr, written above `printer`'s
    /// progress bar.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::kind::{Output, OutputMode};
    ///
    /// let output = Output::new(OutputMode::Tagged, conveyor::progress::Progress::new(false, 1).printer());
    /// assert_eq!(output.mode(), OutputMode::Tagged);
    /// ```
    pub fn new(mode: OutputMode, printer: Printer) -> Output {
        Output::with_sink(mode, Some(printer), Sink::Std)
    }

    /// Output in `mode` into memory instead of stdout and stderr, and a handle to read it:
    /// for tests, and for programs that embed the kinds.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::kind::{Output, OutputMode};
    ///
    /// let (output, captured) = Output::in_memory(OutputMode::Grouped);
    /// assert_eq!(output.mode(), OutputMode::Grouped);
    /// assert!(captured.stdout().is_empty() && captured.stderr().is_empty());
    /// ```
    pub fn in_memory(mode: OutputMode) -> (Output, Captured) {
        let buffers = Arc::new(Mutex::new(Buffers::default()));
        (Output::with_sink(mode, None, Sink::Memory(buffers.clone())), Captured { buffers })
    }

    fn with_sink(mode: OutputMode, printer: Option<Printer>, sink: Sink) -> Output {
        Output { mode, shared: Arc::new(Shared { turn: Arc::default(), printer, sink }) }
    }

    /// The mode.
    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    /// Hands `print` over to be written in its turn, on a task of its own; the handle
    /// resolves once it is written (dropping the handle does not stop it).
    pub(super) fn spawn(&self, print: Print) -> JoinHandle<()> {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let turn = shared.turn.clone().lock_owned().await;
            let written = tokio::task::spawn_blocking(move || {
                let _turn = turn;
                shared.write(print);
            });
            // A panic while writing (none is known) loses that print, not the job.
            let _ = written.await;
        })
    }
}

impl Shared {
    fn write(&self, print: Print) {
        let write = || match &self.sink {
            Sink::Std => print.write_to(&mut io::stdout().lock(), &mut io::stderr().lock()),
            Sink::Memory(buffers) => {
                let mut buffers = buffers.lock().unwrap_or_else(PoisonError::into_inner);
                let Buffers { out, err } = &mut *buffers;
                print.write_to(out, err);
            }
        };
        match &self.printer {
            Some(printer) => printer.suspend(write),
            None => write(),
        }
    }
}

/// What an [`Output::in_memory`] printed.
#[derive(Clone)]
pub struct Captured {
    buffers: Arc<Mutex<Buffers>>,
}

impl fmt::Debug for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captured").finish_non_exhaustive()
    }
}

impl Captured {
    /// Everything printed to "stdout" so far.
    pub fn stdout(&self) -> Vec<u8> {
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner).out.clone()
    }

    /// Everything printed to "stderr" so far.
    pub fn stderr(&self) -> Vec<u8> {
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner).err.clone()
    }
}

/// One print: bytes for stdout, then bytes for stderr, written together.
#[derive(Debug, Default)]
pub(super) struct Print {
    pub(super) out: Spool,
    pub(super) err: Spool,
}

impl Print {
    fn is_empty(&self) -> bool {
        self.out.is_empty() && self.err.is_empty()
    }

    fn write_to(self, out: &mut dyn Write, err: &mut dyn Write) {
        if self.is_empty() {
            return;
        }
        self.out.write_to(out);
        self.err.write_to(err);
    }
}

/// How many bytes of a stream a [`Spool`] holds in memory before it spills to a temporary
/// file: 64 KiB, so a run of many jobs holds at most 128 KiB per running job.
pub(super) const SPOOL_MEMORY: usize = 64 * 1024;

/// The bytes of one stream for one print: in memory up to [`SPOOL_MEMORY`], the rest in an
/// unlinked temporary file (as GNU parallel buffers to `$TMPDIR`). A job that prints
/// gigabytes costs disk, not memory.
#[derive(Debug, Default)]
pub(super) struct Spool {
    mem: Vec<u8>,
    file: Option<File>,
    /// The last byte pushed, to end an unterminated last line.
    last: Option<u8>,
    /// Why bytes were dropped: the temporary file could not be made or written.
    cut: Option<String>,
}

impl Spool {
    /// A spool holding `bytes` (in memory, whatever their length).
    pub(super) fn from_vec(bytes: Vec<u8>) -> Spool {
        Spool { last: bytes.last().copied(), mem: bytes, file: None, cut: None }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.last.is_none() && self.cut.is_none()
    }

    /// Appends `bytes`. The file write blocks the calling thread: it goes to the page cache
    /// (a few microseconds for the ≤ 8 KiB a pipe read gives), which costs less than a hop
    /// to a blocking thread per read.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.cut.is_some() {
            return;
        }
        self.last = bytes.last().copied();
        if self.file.is_none() && self.mem.len() + bytes.len() <= SPOOL_MEMORY {
            self.mem.extend_from_slice(bytes);
            return;
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => match tempfile::tempfile() {
                Ok(file) => self.file.insert(file),
                Err(e) => {
                    self.cut = Some(format!("cannot make a temporary file: {e}"));
                    return;
                }
            },
        };
        if let Err(e) = file.write_all(bytes) {
            self.cut = Some(format!("cannot write a temporary file: {e}"));
        }
    }

    /// Writes everything, then a newline if the last line had none (so that the next job's
    /// output, or the summary, starts on a line of its own), then a note if bytes were cut.
    fn write_to(self, w: &mut dyn Write) {
        let _ = self.copy_to(w);
    }

    fn copy_to(self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(&self.mem)?;
        if let Some(mut file) = self.file {
            file.rewind()?;
            io::copy(&mut file, w)?;
        }
        if self.last.is_some_and(|b| b != b'\n') {
            w.write_all(b"\n")?;
        }
        if let Some(why) = &self.cut {
            writeln!(w, "conveyor: [output cut here: {why}]")?;
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::{Print, SPOOL_MEMORY, Spool};

    fn written(spool: Spool) -> Vec<u8> {
        let mut out = Vec::new();
        Print { out: spool, err: Spool::default() }.write_to(&mut out, &mut Vec::new());
        out
    }

    #[test]
    fn ends_an_unterminated_last_line() {
        let mut spool = Spool::default();
        spool.push(b"a\nb");
        assert_eq!(written(spool), b"a\nb\n");
        assert_eq!(written(Spool::from_vec(b"x\n".to_vec())), b"x\n");
        assert_eq!(written(Spool::default()), b"");
    }

    #[test]
    fn spills_past_the_memory_cap_and_keeps_every_byte() {
        let mut spool = Spool::default();
        let chunk: Vec<u8> = (0..8192u32).map(|i| b'a' + (i % 26) as u8).collect();
        for _ in 0..40 {
            spool.push(&chunk);
        }
        assert!(spool.mem.len() <= SPOOL_MEMORY && spool.file.is_some());
        let out = written(spool);
        assert_eq!(out.len(), 40 * 8192 + 1);
        assert!(out.chunks(8192).take(40).all(|c| c == chunk.as_slice()));
    }
}

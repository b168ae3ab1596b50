//! The progress bar: done/total, counts by outcome, rate and ETA, on stderr (indicatif).
//! Shown when stderr is a terminal (`--progress auto`), or always / never; plain text
//! without colours when `NO_COLOR` is set.

use std::io::{IsTerminal, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use conveyor_pool::Outcome;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::summary::outcome_index;

/// A progress bar, or nothing (every method is then a no-op).
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    counts: [u64; 5],
    skipped: Arc<AtomicU64>,
    last_message: Instant,
}

/// Stderr that is not a terminal, as indicatif sees it: every draw becomes a line of its
/// own (no cursor movement, no escape codes), so `--progress always` logs progress.
#[derive(Debug)]
struct LineLog;

impl TermLike for LineLog {
    fn width(&self) -> u16 {
        120
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        writeln!(std::io::stderr(), "{s}")
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        if s.trim().is_empty() { Ok(()) } else { writeln!(std::io::stderr(), "{s}") }
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Prints lines on stderr above the progress bar (or plainly, when there is none).
#[derive(Debug, Clone)]
pub struct Printer {
    bar: Option<ProgressBar>,
}

impl Printer {
    /// Whether a bar is drawn (then the bar's line is cleared before each message).
    pub fn has_bar(&self) -> bool {
        self.bar.is_some()
    }

    /// Prints `line` on stderr.
    pub fn eprintln(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Runs `f` with the bar taken off the terminal, and draws it again after: what `f`
    /// writes to stdout or stderr lands above the bar, never inside it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write as _;
    ///
    /// let p = conveyor::progress::Progress::new(false, 3);
    /// p.printer().suspend(|| std::io::stdout().write_all(b"job output\n")).unwrap();
    /// ```
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }
}

/// Counts jobs `--resume` skipped, from any thread (the reader's), on the bar too.
#[derive(Debug, Clone)]
pub struct Skipper {
    bar: Option<ProgressBar>,
    skipped: Arc<AtomicU64>,
}

impl Skipper {
    /// Counts one skipped job.
    pub fn skip(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Jobs skipped so far.
    pub fn count(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

/// Whether colour is allowed: <https://no-color.org> — `NO_COLOR` set and not empty.
fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

impl Progress {
    /// A bar for `total` jobs on stderr if `show`, else a no-op.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = conveyor::progress::Progress::new(false, 10);
    /// p.finished(conveyor_pool::Outcome::Succeeded);
    /// p.finish();
    /// ```
    pub fn new(show: bool, total: u64) -> Progress {
        let bar = show.then(|| {
            let template = if colour() {
                "{elapsed_precise} {bar:30.cyan/blue} {pos}/{len} {rate:.dim} ETA {eta} {msg}"
            } else {
                "{elapsed_precise} {bar:30} {pos}/{len} {rate} ETA {eta} {msg}"
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} jobs/s", state.per_sec());
                })
                .progress_chars("=> ");
            let target = if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                // `--progress always` into a file or pipe: a plain line per second, a log.
                ProgressDrawTarget::term_like_with_hz(Box::new(LineLog), 1)
            };
            let bar = ProgressBar::with_draw_target(Some(total), target).with_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, counts: [0; 5], skipped: Arc::default(), last_message: Instant::now() }
    }

    /// Counts a job that reached its final state.
    pub fn finished(&mut self, outcome: Outcome) {
        let Some(bar) = &self.bar else { return };
        self.counts[outcome_index(outcome)] += 1;
        bar.inc(1);
        if self.last_message.elapsed() >= Duration::from_millis(100) {
            self.last_message = Instant::now();
            bar.set_message(self.message());
        }
    }

    /// A way to print messages on stderr from any thread without garbling the bar.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conveyor::progress::Progress::new(false, 3);
    /// p.printer().eprintln("conveyor: hello");
    /// ```
    pub fn printer(&self) -> Printer {
        Printer { bar: self.bar.clone() }
    }

    /// A counter of skipped jobs for another thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conveyor::progress::Progress::new(false, 3);
    /// let s = p.skipper();
    /// s.skip();
    /// assert_eq!(s.count(), 1);
    /// ```
    pub fn skipper(&self) -> Skipper {
        Skipper { bar: self.bar.clone(), skipped: self.skipped.clone() }
    }

    fn message(&self) -> String {
        let mut parts = Vec::new();
        for outcome in Outcome::ALL {
            let n = self.counts[outcome_index(outcome)];
            if n > 0 {
                parts.push(format!("{n} {}", outcome.as_str()));
            }
        }
        let skipped = self.skipped.load(Ordering::Relaxed);
        if skipped > 0 {
            parts.push(format!("{skipped} skipped"));
        }
        parts.join(", ")
    }

    /// Removes the bar (before the summary is printed).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.set_message(self.message());
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

//! The progress bar: done/total, counts by outcome, rate and ETA, on stderr (indicatif).
//! Shown when stderr is a terminal (`--progress auto`), or always / never; plain text
//! without colours when `NO_COLOR` is set.

use std::io::IsTerminal;
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
    log: Option<LineLog>,
    counts: [u64; 5],
    skipped: Arc<AtomicU64>,
    last_message: Instant,
}

/// `--progress always` when stderr is not a terminal (a file, a pipe, a CI log): a plain
/// line at most once a second while jobs finish, and a last one with the final count —
/// indicatif's redraws, replayed as lines, gave several a second and ended short of the
/// total.
#[derive(Debug)]
struct LineLog {
    total: u64,
    done: u64,
    start: Instant,
    last: Instant,
}

/// How often [`LineLog`] writes a line while jobs finish.
const LOG_EVERY: Duration = Duration::from_secs(1);

impl LineLog {
    fn line(&self, message: &str) -> String {
        let elapsed = self.start.elapsed();
        let secs = elapsed.as_secs();
        let rate = self.done as f64 / elapsed.as_secs_f64().max(1e-9);
        let eta = if self.done >= self.total || rate <= 0.0 {
            "0s".to_owned()
        } else {
            let left = Duration::from_secs_f64((self.total - self.done) as f64 / rate);
            humantime::format_duration(Duration::from_secs(left.as_secs())).to_string()
        };
        let (h, m, sec) = (secs / 3600, secs / 60 % 60, secs % 60);
        let mut line =
            format!("{h:02}:{m:02}:{sec:02} {}/{} {rate:.0} jobs/s ETA {eta}", self.done, self.total);
        if !message.is_empty() {
            line.push(' ');
            line.push_str(message);
        }
        line
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

/// The bar's terminal (stderr), as two columns narrower than it is.
///
/// indicatif pads the bar's line with spaces to the terminal's last column, leaving the cursor
/// there. A Ctrl-C typed at the terminal is echoed as `^C` at the cursor, which then wrapped
/// onto a line of its own: the bar's clear (before the stop message, and at the end) erased
/// only that line, and the bar's last frame stayed above the summary (issue 21). Two columns
/// short, `^C` lands on the bar's own line and is cleared with it.
#[derive(Debug)]
struct Margin(console::Term);

/// Columns left free at the end of the bar's line: room for the echoed `^C`.
const ECHO_ROOM: u16 = 2;

impl TermLike for Margin {
    fn width(&self) -> u16 {
        TermLike::width(&self.0).saturating_sub(ECHO_ROOM).max(1)
    }
    fn height(&self) -> u16 {
        TermLike::height(&self.0)
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        TermLike::move_cursor_up(&self.0, n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        TermLike::move_cursor_down(&self.0, n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        TermLike::move_cursor_right(&self.0, n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        TermLike::move_cursor_left(&self.0, n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        TermLike::write_line(&self.0, s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        TermLike::write_str(&self.0, s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        TermLike::clear_line(&self.0)
    }
    fn flush(&self) -> std::io::Result<()> {
        TermLike::flush(&self.0)
    }
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
        let terminal = std::io::stderr().is_terminal();
        let log = (show && !terminal).then(|| {
            let now = Instant::now();
            LineLog { total, done: 0, start: now, last: now }
        });
        let bar = (show && terminal).then(|| {
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
            let target =
                ProgressDrawTarget::term_like_with_hz(Box::new(Margin(console::Term::buffered_stderr())), 20);
            let bar = ProgressBar::with_draw_target(Some(total), target).with_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, log, counts: [0; 5], skipped: Arc::default(), last_message: Instant::now() }
    }

    /// Counts a job that reached its final state.
    pub fn finished(&mut self, outcome: Outcome) {
        if self.log.is_some() {
            self.counts[outcome_index(outcome)] += 1;
            let message = self.message();
            if let Some(log) = &mut self.log {
                log.done += 1;
                if log.last.elapsed() >= LOG_EVERY {
                    log.last = Instant::now();
                    eprintln!("{}", log.line(&message));
                }
            }
            return;
        }
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

    /// Removes the bar (before the summary is printed); a line log writes its last line,
    /// with every job counted.
    pub fn finish(&mut self) {
        let skipped = self.skipped.load(Ordering::Relaxed);
        let message = self.message();
        if let Some(mut log) = self.log.take() {
            log.done += skipped;
            eprintln!("{}", log.line(&message));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 21: after a Ctrl-C typed at a terminal the bar's last frame stayed above the
    /// summary, because the echoed `^C` wrapped past a bar drawn to the last column. The bar
    /// now ends two columns short, where `^C` fits. (Seen in tmux: `conveyor run` of slow
    /// jobs, `send-keys C-c`, `capture-pane`.)
    #[test]
    fn the_bar_leaves_room_for_an_echoed_ctrl_c() {
        let term = Margin(console::Term::buffered_stderr());
        let full = TermLike::width(&term.0);
        assert_eq!(TermLike::width(&term), full.saturating_sub(2).max(1));
        assert!(full < 3 || usize::from(TermLike::width(&term)) + "^C".len() <= usize::from(full));
        assert_eq!(TermLike::height(&term), TermLike::height(&term.0));
    }
}

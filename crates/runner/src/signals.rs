//! SIGINT and SIGTERM: the first asks for a graceful stop, the second for an abort.
//!
//! The run loop watches a [`StopState`] (a `tokio::sync::watch`): `Graceful` stops intake
//! and lets running jobs finish within `--grace`; `Abort` cancels everything at once.
//! `--fail-fast` uses the same channel (an abort caused by a failure).

use tokio::sync::watch;

/// Which signal stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C): exit 130.
    Interrupt,
    /// SIGTERM: exit 143.
    Terminate,
}

/// Why the run is stopping, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopState {
    /// Running normally.
    #[default]
    Running,
    /// A first signal: no new jobs; running ones may finish within the grace period.
    Graceful(Signal),
    /// Cancel everything now: a second signal (`Some(first signal)`), or `--fail-fast`
    /// (`None`).
    Abort(Option<Signal>),
    /// The ledger could not be written: no new jobs; running ones may finish within the
    /// grace period (their lines may still be written), as after a first signal.
    LedgerFailed,
}

impl StopState {
    /// The signal that started the stop, if a signal did.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::signals::{Signal, StopState};
    /// assert_eq!(StopState::Abort(Some(Signal::Terminate)).signal(), Some(Signal::Terminate));
    /// assert_eq!(StopState::Abort(None).signal(), None);
    /// ```
    pub fn signal(self) -> Option<Signal> {
        match self {
            StopState::Running | StopState::Abort(None) | StopState::LedgerFailed => None,
            StopState::Graceful(s) | StopState::Abort(Some(s)) => Some(s),
        }
    }

    /// Whether the run is stopping.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conveyor::signals::StopState::Running.is_stopping());
    /// ```
    pub fn is_stopping(self) -> bool {
        self != StopState::Running
    }

    /// Whether running jobs may still finish (within the grace period): a first signal, or
    /// a ledger that cannot be written.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::signals::{Signal, StopState};
    /// assert!(StopState::LedgerFailed.is_graceful());
    /// assert!(!StopState::Abort(Some(Signal::Interrupt)).is_graceful());
    /// ```
    pub fn is_graceful(self) -> bool {
        matches!(self, StopState::Graceful(_) | StopState::LedgerFailed)
    }
}

/// Moves `stop` on: `Running` → `Graceful(sig)` → `Abort(first sig)`.
fn escalate(stop: &watch::Sender<StopState>, sig: Signal) {
    stop.send_modify(|state| {
        *state = match *state {
            StopState::Running => StopState::Graceful(sig),
            StopState::Graceful(first) => StopState::Abort(Some(first)),
            StopState::LedgerFailed => StopState::Abort(Some(sig)),
            StopState::Abort(None) => StopState::Abort(Some(sig)),
            abort @ StopState::Abort(Some(_)) => abort,
        }
    });
}

/// Asks for an abort without a signal (`--fail-fast`); a no-op if already aborting.
///
/// # Examples
///
/// ```
/// use conveyor::signals::{abort, StopState};
/// let (tx, rx) = tokio::sync::watch::channel(StopState::Running);
/// abort(&tx);
/// assert_eq!(*rx.borrow(), StopState::Abort(None));
/// ```
pub fn abort(stop: &watch::Sender<StopState>) {
    stop.send_if_modified(|state| match *state {
        StopState::Running | StopState::LedgerFailed => {
            *state = StopState::Abort(None);
            true
        }
        StopState::Graceful(first) => {
            *state = StopState::Abort(Some(first));
            true
        }
        StopState::Abort(_) => false,
    });
}

/// Stops a running run because its ledger cannot be written (a no-op if it is already
/// stopping): no new jobs, running ones get the grace period.
///
/// # Examples
///
/// ```
/// use conveyor::signals::{ledger_failed, StopState};
/// let (tx, rx) = tokio::sync::watch::channel(StopState::Running);
/// ledger_failed(&tx);
/// assert_eq!(*rx.borrow(), StopState::LedgerFailed);
/// ```
pub fn ledger_failed(stop: &watch::Sender<StopState>) {
    stop.send_if_modified(|state| {
        let running = *state == StopState::Running;
        if running {
            *state = StopState::LedgerFailed;
        }
        running
    });
}

/// What a first signal prints: the stop, and how to escalate it. Any second signal cancels
/// the running jobs; after Ctrl-C the same key again is the obvious way, while a SIGTERM
/// (from `kill` or a service manager) names both, as Ctrl-C may not reach the process.
fn stopping_message(first: Signal) -> &'static str {
    match first {
        Signal::Interrupt => {
            "conveyor: stopping: no new jobs; running jobs may finish (Ctrl-C again cancels them)"
        }
        Signal::Terminate => {
            "conveyor: stopping (SIGTERM): no new jobs; running jobs may finish \
             (a second signal, SIGTERM or Ctrl-C, cancels them)"
        }
    }
}

/// Listens for SIGINT and SIGTERM for the rest of the process and escalates `stop` on each,
/// saying so on stderr through `printer`.
/// Must be called inside a tokio runtime.
///
/// # Errors
///
/// If the signal handlers cannot be installed.
pub fn listen(stop: watch::Sender<StopState>, printer: crate::progress::Printer) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let sig = tokio::select! {
                Some(()) = int.recv() => Signal::Interrupt,
                Some(()) = term.recv() => Signal::Terminate,
                else => return,
            };
            escalate(&stop, sig);
            let now = *stop.borrow();
            // Ctrl-C echoes `^C` without a newline: start on a line of our own.
            let nl = if sig == Signal::Interrupt
                && !printer.has_bar()
                && std::io::IsTerminal::is_terminal(&std::io::stderr())
            {
                "\n"
            } else {
                ""
            };
            match now {
                StopState::Graceful(_) | StopState::LedgerFailed => {
                    printer.eprintln(&format!("{nl}{}", stopping_message(sig)));
                }
                StopState::Abort(_) => printer.eprintln(&format!("{nl}conveyor: cancelling running jobs")),
                StopState::Running => {}
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_escalate() {
        let (tx, rx) = watch::channel(StopState::Running);
        escalate(&tx, Signal::Terminate);
        assert_eq!(*rx.borrow(), StopState::Graceful(Signal::Terminate));
        escalate(&tx, Signal::Interrupt);
        assert_eq!(*rx.borrow(), StopState::Abort(Some(Signal::Terminate)));
        escalate(&tx, Signal::Interrupt);
        assert_eq!(*rx.borrow(), StopState::Abort(Some(Signal::Terminate)));
    }

    /// Issue 21: after a SIGTERM the message said "Ctrl-C again cancels them", though the
    /// signal may not come from a terminal at all.
    #[test]
    fn the_stopping_message_after_sigterm_does_not_only_say_ctrl_c() {
        assert!(stopping_message(Signal::Interrupt).contains("(Ctrl-C again cancels them)"));
        let term = stopping_message(Signal::Terminate);
        assert!(!term.contains("Ctrl-C again"), "{term}");
        assert!(term.contains("a second signal, SIGTERM or Ctrl-C, cancels them"), "{term}");
        assert!(term.starts_with("conveyor: stopping"), "tests wait for this prefix: {term}");
    }

    #[test]
    fn fail_fast_keeps_the_signal() {
        let (tx, rx) = watch::channel(StopState::Graceful(Signal::Interrupt));
        abort(&tx);
        assert_eq!(*rx.borrow(), StopState::Abort(Some(Signal::Interrupt)));
        let (tx, rx) = watch::channel(StopState::Running);
        abort(&tx);
        escalate(&tx, Signal::Interrupt);
        assert_eq!(*rx.borrow(), StopState::Abort(Some(Signal::Interrupt)));
    }
}

//! Stopping a pool: [`Running`] counts the attempts running now, and [`stopper`] pauses
//! the pool on a stop request, waits for them within a grace period, then cancels the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use conveyor_pool::Pool;
use tokio::sync::{Notify, watch};

use crate::progress::Printer;
use crate::signals::StopState;

/// Counts attempts running now, so a graceful stop knows when they are all done.
#[derive(Default)]
pub(crate) struct Running {
    n: AtomicUsize,
    idle: Notify,
    /// Set once somebody waits in [`idle`](Self::idle): until then the last attempt out
    /// skips the wake-up (a lock in `Notify`), which a no-op job would pay every time.
    watched: AtomicBool,
}

/// One attempt counted in [`Running`] until it drops (see [`Running::enter`]).
pub(super) struct RunningGuard<'a>(&'a Running);

impl Running {
    /// Counts an attempt as running until the guard drops.
    pub(super) fn enter(&self) -> RunningGuard<'_> {
        self.n.fetch_add(1, Ordering::SeqCst);
        RunningGuard(self)
    }

    async fn idle(&self) {
        // SeqCst with the guard's decrement and load: either the guard sees `watched`, or
        // this sees the decremented count below.
        self.watched.store(true, Ordering::SeqCst);
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.n.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        let running = self.0;
        if running.n.fetch_sub(1, Ordering::SeqCst) == 1 && running.watched.load(Ordering::SeqCst) {
            running.idle.notify_waiters();
        }
    }
}

/// Waits for the first stop request; then pauses the pool, lets running attempts finish
/// within `grace` (unless an abort comes), and cancels whatever is left.
pub(crate) async fn stopper(
    pool: Pool,
    mut stop: watch::Receiver<StopState>,
    running: Arc<Running>,
    grace: Duration,
    printer: Printer,
) {
    let state = match stop.wait_for(|s| s.is_stopping()).await {
        Ok(s) => *s,
        Err(_) => return,
    };
    if state.is_graceful() {
        pool.pause();
        tokio::select! {
            () = running.idle() => {}
            () = tokio::time::sleep(grace) => {
                printer.eprintln("conveyor: grace period over; cancelling running jobs");
            }
            _ = stop.wait_for(|s| matches!(s, StopState::Abort(_))) => {}
        }
    }
    pool.shutdown_now().await;
}

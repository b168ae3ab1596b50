//! `sleep`: wait, like simulated I/O.

use std::pin::Pin;
use std::time::Duration;

use conveyor_pool::JobContext;

use super::table::Attempt;
use super::{KindError, KindOutput};
use crate::spec::JobKind;
use crate::spec::hash::{Param, Params};
use crate::spec::wire::{Dur, job_wire};

job_wire! {
    /// `sleep`: wait for `duration` (simulated I/O).
    SleepWire {
        /// How long to sleep, e.g. "250ms".
        duration: Dur,
    } => JobKind::Sleep { duration: duration.0 }
}

pub(super) const USES_A_CORE: bool = false;
pub(super) const SPAWNS_PROCESS: bool = false;

pub(super) fn canonical<'a>(duration: &Duration, out: &mut Params<'a>) {
    out.push("duration", Param::Duration(*duration));
}

/// One attempt: [`sleep`], boxed (a timer is large; the kinds' future stays small).
pub(super) fn run<'a>(
    at: Attempt<'a>,
    duration: &Duration,
) -> Pin<Box<impl Future<Output = Result<KindOutput, KindError>> + 'a>> {
    Box::pin(sleep(*duration, at.ctx))
}

/// Waits `duration`, or fails with "cancelled" as soon as the attempt is cancelled.
async fn sleep(duration: Duration, ctx: &JobContext) -> Result<KindOutput, KindError> {
    tokio::select! {
        // Cancellation first: an attempt cancelled as its sleep ends reports the cancel.
        biased;
        () = ctx.cancelled() => Err(KindError::cancelled()),
        () = tokio::time::sleep(duration) => Ok(KindOutput::default()),
    }
}

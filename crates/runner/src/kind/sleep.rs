//! `sleep`: wait, like simulated I/O.

use std::time::Duration;

use conveyor_pool::JobContext;

use super::{KindError, KindOutput};

/// Waits `duration`, or fails with "cancelled" as soon as the attempt is cancelled.
pub(super) async fn run(duration: Duration, ctx: &JobContext) -> Result<KindOutput, KindError> {
    tokio::select! {
        // Cancellation first: an attempt cancelled as its sleep ends reports the cancel.
        biased;
        () = ctx.cancelled() => Err(KindError::cancelled()),
        () = tokio::time::sleep(duration) => Ok(KindOutput::default()),
    }
}

//! `noop`: nothing at all, the throughput benchmark's job.

use super::{KindError, KindOutput};

/// Succeeds at once. No allocation, no await: what it measures is the runner's own cost.
pub(super) fn run() -> Result<KindOutput, KindError> {
    Ok(KindOutput { exit_code: None, output_tail: None })
}

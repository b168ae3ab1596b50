//! `noop`: nothing at all, the throughput benchmark's job.

use super::table::Attempt;
use super::{KindError, KindOutput};
use crate::spec::JobKind;
use crate::spec::hash::Params;
use crate::spec::wire::job_wire;

job_wire! {
    /// `noop`: does nothing (throughput measurement).
    NoopWire {} => JobKind::Noop
}

pub(super) const USES_A_CORE: bool = false;
pub(super) const SPAWNS_PROCESS: bool = false;

/// No parameters.
pub(super) fn canonical(_out: &mut Params<'_>) {}

/// Succeeds at once. No allocation, no await: what it measures is the runner's own cost.
#[expect(clippy::manual_async_fn, reason = "an `async fn` would keep `_at` in its future")]
pub(super) fn run(_at: Attempt<'_>) -> impl Future<Output = Result<KindOutput, KindError>> {
    async { Ok(KindOutput { exit_code: None, output_tail: None }) }
}

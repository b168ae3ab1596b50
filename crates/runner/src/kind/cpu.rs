//! `cpu`: CPU-bound hashing on tokio's blocking threads.

use conveyor_pool::JobContext;
use sha2::{Digest, Sha256};

use super::table::Attempt;
use super::{KindError, KindOutput};
use crate::spec::JobKind;
use crate::spec::hash::{Param, Params};
use crate::spec::wire::{Rounds, job_wire};

job_wire! {
    /// `cpu`: CPU-bound hashing, `rounds` times.
    CpuWire {
        /// Hashing rounds.
        rounds: Rounds,
    } => JobKind::Cpu { rounds: rounds.0 }
}

pub(super) const USES_A_CORE: bool = true;
pub(super) const SPAWNS_PROCESS: bool = false;

pub(super) fn canonical(rounds: &u64, out: &mut Params<'_>) {
    out.push("rounds", Param::Int(*rounds));
}

/// Rounds between two looks at the cancellation signal: about a millisecond of hashing.
const CHECK_EVERY: u64 = 4096;

/// Hashes a 32-byte state `rounds` times with SHA-256 (each round hashes the previous
/// digest) on a blocking thread, so the async workers never stall; stops with "cancelled"
/// within [`CHECK_EVERY`] rounds of the attempt being cancelled.
pub(super) fn run<'a>(
    at: Attempt<'a>,
    &rounds: &u64,
) -> impl Future<Output = Result<KindOutput, KindError>> + 'a {
    hash_job(rounds, at.ctx)
}

/// [`run`]'s body.
async fn hash_job(rounds: u64, ctx: &JobContext) -> Result<KindOutput, KindError> {
    let ctx = ctx.clone();
    let task = tokio::task::spawn_blocking(move || hash_rounds(rounds, || ctx.is_cancelled()));
    match task.await {
        Ok(Some(_digest)) => Ok(KindOutput::default()),
        Ok(None) => Err(KindError::cancelled()),
        // Only a panic (or a runtime shutting down) gets here; pass a panic on to the pool.
        Err(err) => match err.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(err) => Err(KindError::new(format!("cpu work did not finish: {err}"))),
        },
    }
}

/// The hashing loop; `None` when `cancelled` said stop.
pub(super) fn hash_rounds(rounds: u64, cancelled: impl Fn() -> bool) -> Option<[u8; 32]> {
    let mut state = [0u8; 32];
    let mut done = 0;
    while done < rounds {
        if cancelled() {
            return None;
        }
        let chunk = (rounds - done).min(CHECK_EVERY);
        for _ in 0..chunk {
            state = Sha256::digest(state).into();
        }
        done += chunk;
    }
    Some(state)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::{CHECK_EVERY, hash_rounds};

    #[test]
    fn hashes_every_round() {
        assert_eq!(hash_rounds(0, || false), Some([0; 32]));
        let one = hash_rounds(1, || false).unwrap();
        let two = hash_rounds(2, || false).unwrap();
        assert_ne!(one, two);
        assert_eq!(hash_rounds(CHECK_EVERY + 3, || false), hash_rounds(CHECK_EVERY + 3, || false));
    }

    #[test]
    fn stops_at_the_next_check() {
        let checks = Cell::new(0);
        let stop_on_second = || {
            checks.set(checks.get() + 1);
            checks.get() == 2
        };
        assert_eq!(hash_rounds(u64::MAX, stop_on_second), None);
        assert_eq!(checks.get(), 2);
    }
}

//! `fail`: fail on purpose, with a chance drawn from `--seed`, the job id and the attempt.

use super::table::Attempt;
use super::{KindError, KindOutput};
use crate::spec::JobKind;
use crate::spec::hash::{Param, Params};
use crate::spec::wire::{Probability, job_wire};

job_wire! {
    /// `fail`: fails with `probability` (default 1), with `message`.
    FailWire {
        /// Chance of failing, 0 to 1; default 1.
        probability: Option<Probability>,
        /// The error message.
        message: Option<String>,
    } => JobKind::Fail {
        probability: probability.map_or(1.0, |x| x.0),
        message,
    }
}

pub(super) const USES_A_CORE: bool = false;
pub(super) const SPAWNS_PROCESS: bool = false;

pub(super) fn canonical<'a>(probability: &f64, message: &'a Option<String>, out: &mut Params<'a>) {
    out.push("probability", Param::Float(*probability));
    out.push_some("message", message.as_deref().map(Param::Str));
}

/// The message of a `fail` job that sets none.
const DEFAULT_MESSAGE: &str = "failed on purpose";

/// One attempt: fails with `message` when the draw for (seed, job id, attempt) is below
/// `probability`. The draw is made at once; the future keeps only its result and the
/// message, so that `kind::run`'s future stays small.
pub(super) fn run<'a>(
    at: Attempt<'_>,
    probability: &f64,
    message: &'a Option<String>,
) -> impl Future<Output = Result<KindOutput, KindError>> + 'a {
    let fails = draw(at.env.seed, at.id, at.ctx.attempt()) < *probability;
    let message = message.as_deref();
    async move {
        if fails {
            Err(KindError::new(message.unwrap_or(DEFAULT_MESSAGE)))
        } else {
            Ok(KindOutput::default())
        }
    }
}

/// A number in `[0, 1)` that depends only on `seed`, `id` and `attempt`.
///
/// Not `rand`'s `StdRng`: its algorithm may change between `rand` versions, and a run must
/// fail the same jobs with the same `--seed` after an upgrade too. FNV-1a over the three
/// (the id's length included, so no two inputs run together), then SplitMix64's finaliser
/// to spread FNV's weak low bits, then the top 53 bits as a fraction.
pub(super) fn draw(seed: u64, id: &str, attempt: u32) -> f64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = FNV_OFFSET;
    let bytes = seed
        .to_le_bytes()
        .into_iter()
        .chain((id.len() as u64).to_le_bytes())
        .chain(id.bytes())
        .chain(attempt.to_le_bytes());
    for b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::draw;

    /// `draw(42, "job-1", 1)`, about 0.8434.
    const PINNED: u64 = 4605771605138250951;

    #[test]
    fn draw_is_stable_and_in_range() {
        // Pinned: a change here changes which jobs fail for a given --seed.
        assert_eq!(draw(42, "job-1", 1).to_bits(), PINNED);
        assert_eq!(draw(42, "job-1", 1), draw(42, "job-1", 1));
        assert_ne!(draw(42, "job-1", 1), draw(42, "job-1", 2));
        assert_ne!(draw(42, "job-1", 1), draw(43, "job-1", 1));
        assert_ne!(draw(42, "job-1", 1), draw(42, "job-2", 1));
        for i in 0..10_000u32 {
            let x = draw(u64::from(i), "x", i);
            assert!((0.0..1.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn draw_is_roughly_uniform() {
        let n = 100_000u32;
        let below = (0..n).filter(|&i| draw(7, &format!("j{i}"), 1) < 0.3).count();
        let ratio = below as f64 / f64::from(n);
        assert!((0.29..0.31).contains(&ratio), "{ratio}");
    }
}

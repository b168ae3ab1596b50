//! [`PassThrough`]: the hasher of tables whose keys are already uniform hashes (the id
//! fingerprints of the job-file check, the `--resume` fingerprints of the ledger), which
//! would only pay to hash them again.

use std::hash::{BuildHasherDefault, Hasher};

/// Uses a key that is already a uniform hash as its own hash: a `u64` as it is, a `u128` by
/// its low word. Other input (not expected) is folded in byte by byte, so it still hashes.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct PassThrough(u64);

/// What a `HashMap` or `HashSet` of hashes takes: `HashSet<u128, PassThroughState>`.
pub(crate) type PassThroughState = BuildHasherDefault<PassThrough>;

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u128(&mut self, n: u128) {
        // The low word: truncation is the point.
        self.0 = n as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher as _;

    use super::*;

    #[test]
    fn a_hash_is_its_own_hash() {
        let state = PassThroughState::default();
        assert_eq!(state.hash_one(0xdead_beef_u64), 0xdead_beef);
        assert_eq!(state.hash_one((7u128 << 64) | 42), 42);
        assert_ne!(state.hash_one("a"), state.hash_one("b"));
    }
}

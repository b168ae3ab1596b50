//! Ids: generated ids, and the 128-bit fingerprints the check keeps of every id.

use std::hash::{Hash, Hasher};

use crate::pass_through::PassThroughState;

pub(super) fn generated_base(stem: &str, hash: &str) -> String {
    format!("{stem}-{}", hash.get(..12).unwrap_or(hash))
}

pub(super) fn numbered(base: String, n: u32) -> String {
    if n <= 1 { base } else { format!("{base}-{n}") }
}

/// A 128-bit hash of an id: two foldhash runs with independent random seeds, drawn once per
/// process (both check-pass threads and pass 2 must agree; nothing stores these). A
/// collision among a million ids has a probability near 1e-27, far below any hardware error
/// rate, and the seeds are secret, so a job file cannot be written to collide. Two SipHash
/// runs did the same for ~500 instructions an id, a tenth of the check pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IdKey(u64, u64);

impl Hash for IdKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a hash: one word is enough for the table.
        state.write_u64(self.0);
    }
}

/// The fingerprint of an id, from its bytes.
pub(super) fn id_key(id: impl AsRef<[u8]>) -> IdKey {
    use std::hash::BuildHasher as _;
    let [a, b] = id_seeds();
    let id = id.as_ref();
    IdKey(a.hash_one(id), b.hash_one(id))
}

/// The first word of [`id_key`] alone (one hash run, not two).
pub(super) fn id_word(id: impl AsRef<[u8]>) -> u64 {
    use std::hash::BuildHasher as _;
    id_seeds()[0].hash_one(id.as_ref())
}

fn id_seeds() -> &'static [foldhash::quality::RandomState; 2] {
    static SEEDS: std::sync::OnceLock<[foldhash::quality::RandomState; 2]> = std::sync::OnceLock::new();
    SEEDS.get_or_init(Default::default)
}

/// Passes [`IdKey`]'s word through as the hash.
pub(super) type IdHasher = PassThroughState;

/// Where an id was first seen; `generated` counts jobs sharing a generated base id (0 for an
/// id written in a file).
#[derive(Debug, Clone, Copy)]
pub(super) struct IdEntry {
    pub(super) source: u32,
    pub(super) line: u32,
    pub(super) column: u32,
    pub(super) generated: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_keys_differ() {
        assert_ne!(id_key("a"), id_key("b"));
        assert_eq!(id_key("a"), id_key("a"));
        // The two halves are independent hashes, not one hash twice.
        let k = id_key("a");
        assert_ne!(k.0, k.1);
        assert_eq!(id_word("a"), k.0, "the check's one-word key is the fingerprint's first word");
        // Every thread gets the same fingerprint (the check pass runs on two).
        let other = std::thread::spawn(|| id_key("j-7")).join().unwrap();
        assert_eq!(other, id_key("j-7"));
    }
}

//! Formatting a ledger line's values: seconds and JSON strings, byte for byte as serde_json
//! writes them (timestamps are in [`super::timestamp`]).

use std::time::Duration;

/// `d` in whole microseconds (rounded): the ledger's seconds are `micros(d) / 1e6`.
fn micros(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round()
}

/// Durations under this many microseconds have their formatted seconds kept by [`Seconds`].
const SECONDS_KEPT: usize = 1 << 12;

/// The JSON text of a duration's seconds (µs precision) for durations under
/// [`SECONDS_KEPT`] µs, each formatted once (by [`json_f64`], so the bytes are the same) and
/// then copied: a job's wait and run are mostly a few µs to ms, and the shortest-digits float
/// formatting was the writer thread's largest single cost (~20 ns a value).
#[derive(Debug, Default, Clone)]
pub(super) struct Seconds {
    /// Slot `n` holds the text for `n` µs, its length in the last byte (0: not yet formatted).
    /// Empty until first used.
    slots: Vec<[u8; 16]>,
}

impl Seconds {
    /// Appends `d` in seconds, rounded to µs, as [`json_f64`] writes it.
    pub(super) fn write(&mut self, d: Duration, out: &mut Vec<u8>) {
        let n = micros(d);
        if !(0.0..SECONDS_KEPT as f64).contains(&n) {
            return json_f64(out, n / 1e6);
        }
        if self.slots.is_empty() {
            self.slots = vec![[0; 16]; SECONDS_KEPT];
        }
        // `n` is a whole number below SECONDS_KEPT: the cast is exact, and so the index.
        let slot = &mut self.slots[n as usize];
        if slot[15] == 0 {
            let mut text = Vec::with_capacity(16);
            json_f64(&mut text, n / 1e6);
            // At most "0.004095" (8 bytes) below SECONDS_KEPT µs.
            slot[..text.len()].copy_from_slice(&text);
            slot[15] = text.len() as u8;
        }
        out.extend_from_slice(&slot[..usize::from(slot[15])]);
    }
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
pub(super) fn json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Almost every string needs no escape: find out without an early exit, so the loop
    // vectorises, and copy it whole.
    let plain = bytes.iter().fold(true, |plain, &b| plain & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    let mut unicode = *b"\\u0000";
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                unicode[4] = HEX[usize::from(b >> 4)];
                unicode[5] = HEX[usize::from(b & 0xf)];
                &unicode
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

pub(super) fn json_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends a finite `f64` as serde_json writes it (`0.0`, `0.0015`, `1e-6`).
fn json_f64(out: &mut Vec<u8>, x: f64) {
    if x.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(x).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

pub(super) fn json_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::test_support::{duration, secs};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn kept_seconds_match_serde(ds in proptest::collection::vec(prop_oneof![
            // Under SECONDS_KEPT µs, where the text is kept, half-µs ties included.
            (0u64..5_000_000).prop_map(Duration::from_nanos),
            (0u64..5_000).prop_map(|us| Duration::from_nanos(us * 1000 + 500)),
            // A few values, so that slots are read back.
            (0u64..8, 0u64..1000).prop_map(|(us, ns)| Duration::from_nanos(us * 1000 + ns)),
            duration(),
        ], 1..32)) {
            // One cache across values, as the writer keeps it: a slot filled by one value
            // must only be used for values that write the same text.
            let mut seconds = Seconds::default();
            for d in ds {
                let mut out = Vec::new();
                seconds.write(d, &mut out);
                prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&secs(d)).unwrap());
            }
        }
    }
}

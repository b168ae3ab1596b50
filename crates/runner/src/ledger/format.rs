//! Formatting a ledger line's values: timestamps, seconds and JSON strings, byte for byte
//! as chrono and serde_json write them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 in UTC with milliseconds: `2025-06-01T12:00:00.123Z`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_millis(1_748_779_200_123);
/// assert_eq!(conveyor::ledger::timestamp(t), "2025-06-01T12:00:00.123Z");
/// ```
pub fn timestamp(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(24);
    Timestamps::default().write(t, &mut out);
    String::from_utf8(out).unwrap_or_else(|_| chrono_timestamp(t))
}

/// The reference form, through chrono: for instants the fast path does not cover (before
/// 1970 or after 9999).
pub(super) fn chrono_timestamp(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes [`timestamp`]s into a buffer, remembering the formatted date and time of the last
/// whole second: under load every line of a batch falls in the same second, and only its
/// milliseconds are formatted. What chrono does in ~700 instructions takes ~30.
///
/// It also keeps the `wait_seconds` and `run_seconds` values of short durations once
/// formatted (see [`Seconds`]).
#[derive(Debug, Default, Clone)]
pub struct Timestamps {
    /// Seconds since the Unix epoch of `prefix`, if any.
    second: Option<u64>,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`.
    prefix: [u8; 19],
    pub(super) seconds: Seconds,
}

/// 9999-12-31T23:59:59Z: later instants need more than four digits for the year.
const LAST_FOUR_DIGIT_SECOND: u64 = 253_402_300_799;

impl Timestamps {
    /// Appends `t` as [`timestamp`] formats it (no quotes).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use conveyor::ledger::Timestamps;
    ///
    /// let mut stamps = Timestamps::default();
    /// let mut out = Vec::new();
    /// stamps.write(UNIX_EPOCH + Duration::from_millis(951_782_400_007), &mut out);
    /// assert_eq!(out, b"2000-02-29T00:00:00.007Z");
    /// ```
    pub fn write(&mut self, t: SystemTime, out: &mut Vec<u8>) {
        let since = match t.duration_since(UNIX_EPOCH) {
            Ok(d) if d.as_secs() <= LAST_FOUR_DIGIT_SECOND => d,
            _ => {
                out.extend_from_slice(chrono_timestamp(t).as_bytes());
                return;
            }
        };
        let second = since.as_secs();
        if self.second != Some(second) {
            self.prefix = date_time(second);
            self.second = Some(second);
        }
        out.extend_from_slice(&self.prefix);
        // Truncated, not rounded, as chrono's `SecondsFormat::Millis` does.
        let ms = since.subsec_millis();
        out.extend_from_slice(&[b'.', digit(ms / 100), digit(ms / 10), digit(ms), b'Z']);
    }
}

/// The last decimal digit of `n`, as ASCII.
fn digit(n: u32) -> u8 {
    b'0' + (n % 10) as u8
}

/// `YYYY-MM-DDTHH:MM:SS` for `second` seconds after the Unix epoch (at most
/// [`LAST_FOUR_DIGIT_SECOND`]), by Howard Hinnant's `civil_from_days`.
fn date_time(second: u64) -> [u8; 19] {
    let days = second / 86_400;
    let in_day = (second % 86_400) as u32;
    // Days since 0000-03-01, counted in 400-year eras of 146,097 days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + u64::from(month <= 2)) as u32;
    let (h, m, s) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
    [
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        digit(month / 10),
        digit(month),
        b'-',
        digit(day / 10),
        digit(day),
        b'T',
        digit(h / 10),
        digit(h),
        b':',
        digit(m / 10),
        digit(m),
        b':',
        digit(s / 10),
        digit(s),
    ]
}

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
    use crate::ledger::test_support::{duration, instant, secs};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn timestamps_match_chrono(t in instant()) {
            prop_assert_eq!(timestamp(t), chrono_timestamp(t));
        }

        #[test]
        fn cached_timestamps_match_chrono(ts in proptest::collection::vec(instant(), 1..8)) {
            // One `Timestamps` across instants, as the writer keeps it: the cache must not
            // leak one second into another.
            let mut stamps = Timestamps::default();
            for t in ts {
                let mut out = Vec::new();
                stamps.write(t, &mut out);
                prop_assert_eq!(String::from_utf8(out).unwrap(), chrono_timestamp(t));
            }
        }

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

    #[test]
    fn timestamps_at_the_edges() {
        for ms in [
            0u64,
            999,
            951_782_399_999,     // 2000-02-28T23:59:59.999
            951_782_400_000,     // 2000-02-29 (a leap day in a century year)
            4_107_542_400_000,   // 2100-03-01 (2100 is no leap year)
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000, // 10000-01-01: chrono's `+10000`
        ] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(timestamp(t), chrono_timestamp(t), "{ms}");
        }
    }
}

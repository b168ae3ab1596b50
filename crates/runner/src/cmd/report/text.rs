//! Text on the page: HTML escaping of everything that comes from a ledger, and numbers,
//! durations and times written for people.

use std::fmt::Write as _;
use std::time::Duration;

/// `text` made safe inside HTML text and double- or single-quoted attribute values: `&`,
/// `<`, `>`, `"` and `'` as character references, and control characters (other than tab
/// and newline) as U+FFFD, so that ids, errors and output tails cannot open a tag, end an
/// attribute or confuse the terminal-like `<pre>` blocks.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A count with thin spaces between thousands: `12 345 678`.
pub(super) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() * 2);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202F}');
        }
        out.push(d);
    }
    out
}

/// A duration in the unit that reads best: `850 ns`, `12.5 µs`, `3.21 ms`, `1.50 s`,
/// `2m05s`, `3h02m`.
pub(super) fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let secs = d.as_secs_f64();
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        short(secs * 1e6, "µs")
    } else if ns < 1_000_000_000 {
        short(secs * 1e3, "ms")
    } else if secs < 60.0 {
        short(secs, "s")
    } else if secs < 3600.0 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = d.as_secs() / 60;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// Three significant figures at most, no trailing zeros: `12.5 ms`, `3 ms`, `250 ms`.
fn short(value: f64, unit: &str) -> String {
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    format!("{text} {unit}")
}

/// A width of the timeline's buckets, as in "per 2 s": `1 ms`, `10 s`, `2 min`, `1 h`,
/// `1 day`.
pub(super) fn width(ns: i64) -> String {
    let ms = ns / 1_000_000;
    let (value, unit) = match ms {
        ms if ms < 1_000 => (ms, "ms"),
        ms if ms < 60_000 => (ms / 1_000, "s"),
        ms if ms < 3_600_000 => (ms / 60_000, "min"),
        ms if ms < 86_400_000 => (ms / 3_600_000, "h"),
        ms if ms < 604_800_000 => (ms / 86_400_000, "day"),
        ms => (ms / 604_800_000, "week"),
    };
    let plural = if value != 1 && matches!(unit, "day" | "week") { "s" } else { "" };
    format!("{value} {unit}{plural}")
}

/// An instant (ns since the Unix epoch) as `2026-01-01 12:00:00.123 UTC`.
pub(super) fn instant(ns: i64) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(ns);
    let mut out = String::new();
    let _ = write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S%.3f UTC"));
    out
}

/// An offset from the run's start, for axis labels: `0`, `+1.5 s`, `+2m00s`.
pub(super) fn offset(ns: i64) -> String {
    if ns <= 0 {
        return "0".to_owned();
    }
    format!("+{}", duration(Duration::from_nanos(ns.unsigned_abs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_that_can_open_markup_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\"\u{1b}[31m\tok\n"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;\u{FFFD}[31m\tok\n"
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234), "1\u{202F}234");
        assert_eq!(count(1_234_567), "1\u{202F}234\u{202F}567");
        assert_eq!(duration(Duration::from_nanos(850)), "850 ns");
        assert_eq!(duration(Duration::from_micros(12_500)), "12.5 ms");
        assert_eq!(duration(Duration::from_millis(3)), "3 ms");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(duration(Duration::from_secs(3 * 3600 + 120)), "3h02m");
        assert_eq!(width(2_000_000_000), "2 s");
        assert_eq!(width(120_000_000_000), "2 min");
        assert_eq!(width(2 * 86_400_000_000_000), "2 days");
        assert_eq!(instant(1_500_000_000), "1970-01-01 00:00:01.500 UTC");
        assert_eq!(offset(0), "0");
        assert_eq!(offset(2_000_000_000), "+2 s");
    }
}

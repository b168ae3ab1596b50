//! Durations as job files write them: `"250ms"`, `"30s"`, `"1m30s"`, `"2h 15m"`.

use std::time::Duration;

/// The longest duration a job file may ask for: 100 years.
///
/// Far beyond any sensible timeout or delay, and far from the point where adding it to a
/// clock reading overflows.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_duration, MAX_DURATION};
///
/// assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
/// assert!(parse_duration("36501d").is_err());
/// ```
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Parses a duration the way job files write them.
///
/// A duration is one or more `NUMBER UNIT` pairs, optionally separated by spaces:
/// `"250ms"`, `"30s"`, `"1m30s"`, `"1h 30m"`, `"2days"`. Units (via the `humantime` crate):
/// `ns`, `us`/`µs`, `ms`, `s`/`sec`, `m`/`min`, `h`/`hr`, `d`/`day`, `w`/`week`, `M`/`month`,
/// `y`/`year` and their long forms. A bare number has no unit and is refused, and so are
/// negative durations and durations over [`MAX_DURATION`]. The `conveyor` flags that take a
/// duration (`--timeout`, `--grace`) use the same syntax.
///
/// # Errors
///
/// A message for people, e.g. ``unknown unit `x` (use ns, us, ms, s, m, h or d)``: without
/// the input, which the caller quotes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::spec::parse_duration;
///
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("-5s").unwrap_err(), "durations cannot be negative");
/// assert!(parse_duration("30").unwrap_err().contains("unit"));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration; write e.g. \"30s\" or \"1m30s\"".to_owned());
    }
    if trimmed.starts_with('-') {
        return Err("durations cannot be negative".to_owned());
    }
    if trimmed.starts_with('+') {
        return Err("expected a number followed by a unit, such as \"250ms\" or \"1m30s\"".into());
    }
    match humantime::parse_duration(trimmed) {
        Ok(d) if d > MAX_DURATION => Err("duration is too long (at most 100 years)".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(explain(trimmed, &e)),
    }
}

fn explain(text: &str, error: &humantime::DurationError) -> String {
    use humantime::DurationError as E;
    match error {
        E::UnknownUnit { unit, .. } if unit.is_empty() => {
            "missing unit: write e.g. \"30s\" or \"250ms\"".to_owned()
        }
        E::UnknownUnit { unit, .. } => {
            format!("unknown unit `{unit}` (use ns, us, ms, s, m, h or d)")
        }
        E::NumberOverflow => "duration is too long (at most 100 years)".to_owned(),
        E::Empty => "empty duration; write e.g. \"30s\" or \"1m30s\"".to_owned(),
        E::InvalidCharacter(_) | E::NumberExpected(_) => {
            if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
                "missing unit: write e.g. \"30s\" or \"250ms\"".to_owned()
            } else {
                "expected a number followed by a unit, such as \"250ms\" or \"1m30s\"".to_owned()
            }
        }
    }
}

/// Formats a duration in its canonical form, the one `spec_hash` uses.
///
/// The form is humantime's: units from years down to nanoseconds, largest first, separated by
/// spaces (`"1m 30s"`, `"250ms"`, `"0s"`). [`parse_duration`] reads it back to the same value,
/// so `"90s"` and `"1m30s"` both become `"1m 30s"`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::spec::{format_duration, parse_duration};
///
/// assert_eq!(format_duration(Duration::from_secs(90)), "1m 30s");
/// assert_eq!(format_duration(parse_duration("90s").unwrap()), "1m 30s");
/// assert_eq!(format_duration(Duration::ZERO), "0s");
/// ```
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let cases = [
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("1m30s", Duration::from_secs(90)),
            ("1m 30s", Duration::from_secs(90)),
            (" 2h ", Duration::from_secs(7200)),
            ("0s", Duration::ZERO),
            ("1us", Duration::from_micros(1)),
            ("3days", Duration::from_secs(3 * 86400)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn explains_bad_durations() {
        let cases = [
            ("", "empty duration; write e.g. \"30s\" or \"1m30s\""),
            ("-5s", "durations cannot be negative"),
            ("30", "missing unit: write e.g. \"30s\" or \"250ms\""),
            ("1.5", "missing unit: write e.g. \"30s\" or \"250ms\""),
            ("5x", "unknown unit `x` (use ns, us, ms, s, m, h or d)"),
            ("soon", "expected a number followed by a unit, such as \"250ms\" or \"1m30s\""),
            ("+5s", "expected a number followed by a unit, such as \"250ms\" or \"1m30s\""),
            ("101y", "duration is too long (at most 100 years)"),
            ("99999999999999999999999s", "duration is too long (at most 100 years)"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).unwrap_err(), want, "{text:?}");
        }
    }

    #[test]
    fn canonical_form_round_trips() {
        for text in ["90s", "1m30s", "250ms", "1h 1ns", "0s", "36500d"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{text}");
        }
        assert_eq!(
            format_duration(parse_duration("90s").unwrap()),
            format_duration(parse_duration("1m30s").unwrap())
        );
    }
}

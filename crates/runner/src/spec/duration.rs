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
        E::NumberOverflow => overflow(text),
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

/// Why humantime refused `text` with `NumberOverflow`, which it says both for a value too
/// large and for a fraction finer than it keeps: below 1ns for every unit, and below 1s for
/// `h`, `d`, `w`, `M` and `y` (it multiplies their fractions in whole seconds). Rejecting
/// is safer than rounding (`"0.1ns"` is not a zero timeout), but the message must say which.
fn overflow(text: &str) -> String {
    let mut total_seconds = 0f64;
    let mut too_fine = None;
    for (number, unit) in pairs(text) {
        let Some((unit_ns, step_ns)) = unit_nanos(unit) else { continue };
        let (int, frac) = number.split_once('.').unwrap_or((&number, ""));
        // Leading and trailing zeros make `"5"`, `".5"` and `"5."` parse alike.
        let value: f64 = format!("0{int}.{frac}0").parse().unwrap_or(f64::INFINITY);
        total_seconds += value * unit_ns as f64 / 1e9;
        if too_fine.is_none() && !whole_steps(frac, unit_ns, step_ns) {
            too_fine = Some((format!("{number}{unit}"), step_ns));
        }
    }
    match too_fine {
        _ if total_seconds > MAX_DURATION.as_secs_f64() => {
            "duration is too long (at most 100 years)".to_owned()
        }
        _ if total_seconds < 1e-9 => "duration is too short: the smallest unit is 1ns".to_owned(),
        Some((part, 1)) => {
            format!(
                "duration is too precise: `{part}` is not a whole number of nanoseconds (the smallest unit is 1ns)"
            )
        }
        Some((part, _)) => format!(
            "duration is too precise: `{part}` is not a whole number of seconds; write what is below \
             a second in smaller units, e.g. \"1h 1.5s\""
        ),
        // Not seen: humantime refused something this reading accepts.
        None => "duration is too long or too precise (at most 100 years, in whole nanoseconds)".to_owned(),
    }
}

/// The `NUMBER UNIT` pairs of `text`, the number without its spaces (humantime allows them).
fn pairs(text: &str) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let number_len =
            rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c.is_whitespace())).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after.find(|c: char| !(c.is_ascii_alphabetic() || c == 'µ')).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if number_len + unit_len == 0 {
            break; // a character humantime refuses elsewhere
        }
        out.push((number.chars().filter(|c| !c.is_whitespace()).collect(), unit));
        rest = after;
    }
    out
}

/// A unit's length and the step its fractions are kept in (humantime's units), in
/// nanoseconds.
fn unit_nanos(unit: &str) -> Option<(u128, u128)> {
    const S: u128 = 1_000_000_000;
    Some(match unit {
        "nanos" | "nsec" | "ns" => (1, 1),
        "usec" | "us" | "µs" => (1_000, 1),
        "millis" | "msec" | "ms" => (1_000_000, 1),
        "seconds" | "second" | "secs" | "sec" | "s" => (S, 1),
        "minutes" | "minute" | "min" | "mins" | "m" => (60 * S, 1),
        "hours" | "hour" | "hr" | "hrs" | "h" => (3_600 * S, S),
        "days" | "day" | "d" => (86_400 * S, S),
        "weeks" | "week" | "wk" | "wks" | "w" => (7 * 86_400 * S, S),
        "months" | "month" | "M" => (2_630_016 * S, S),
        "years" | "year" | "yr" | "yrs" | "y" => (31_557_600 * S, S),
        _ => return None,
    })
}

/// Whether the fraction `0.{frac}` of a unit of `unit_ns` is a whole number of `step_ns`.
fn whole_steps(frac: &str, unit_ns: u128, step_ns: u128) -> bool {
    let digits = frac.trim_end_matches('0');
    if digits.is_empty() {
        return true;
    }
    // Past 20 digits the product below may not fit; no unit is that finely divisible anyway.
    let (Ok(numerator), Ok(exp)) = (digits.parse::<u128>(), u32::try_from(digits.len())) else {
        return false;
    };
    let Some(denominator) = 10u128.checked_pow(exp).and_then(|d| d.checked_mul(step_ns)) else {
        return false;
    };
    numerator.checked_mul(unit_ns).is_some_and(|n| n % denominator == 0)
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
            ("99999999999999999999.5s", "duration is too long (at most 100 years)"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).unwrap_err(), want, "{text:?}");
        }
    }

    /// Issue 18: humantime refuses a fraction of a nanosecond with the error it uses for
    /// overflow, which was reported as "duration is too long".
    #[test]
    fn sub_nanosecond_durations_are_too_short_not_too_long() {
        let short = "duration is too short: the smallest unit is 1ns";
        for text in
            ["0.1ns", "0.5nsec", "0.0000000001s", "0.000000000000000000000001s", "0.0000001ms", "0.1 ns"]
        {
            assert_eq!(parse_duration(text).unwrap_err(), short, "{text:?}");
        }
        assert_eq!(
            parse_duration("1.5ns").unwrap_err(),
            "duration is too precise: `1.5ns` is not a whole number of nanoseconds (the smallest unit is 1ns)"
        );
        assert_eq!(
            parse_duration("1s 0.1ns").unwrap_err(),
            "duration is too precise: `0.1ns` is not a whole number of nanoseconds (the smallest unit is 1ns)"
        );
        assert_eq!(
            parse_duration("1.0001h").unwrap_err(),
            "duration is too precise: `1.0001h` is not a whole number of seconds; write what is below a \
             second in smaller units, e.g. \"1h 1.5s\""
        );
        // What humantime keeps still parses.
        assert_eq!(parse_duration("1.5us"), Ok(Duration::from_nanos(1_500)));
        assert_eq!(parse_duration("0.5h"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("0.000000001s"), Ok(Duration::from_nanos(1)));
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

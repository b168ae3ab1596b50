//! One ledger line as the report reads it: the fields it needs, parsed and checked.
//!
//! Both `run` ledgers and `conveyor ledger` exports are read: fields the report does not use
//! (`name`, `priority`, `worker`, any added later) are ignored, while a missing field that it
//! does use, a value of the wrong type, an unknown outcome or a bad timestamp is an error
//! located at a column of the line.

use std::borrow::Cow;
use std::time::Duration;

use conveyor_pool::Outcome;
use serde::Deserialize;

/// The ledger line's fields as written (see `crate::ledger`), borrowed where JSON allows.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    attempts: u32,
    #[serde(borrow)]
    queued_at: Cow<'a, str>,
    #[serde(borrow)]
    started_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    finished_at: Cow<'a, str>,
    wait_seconds: f64,
    run_seconds: f64,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    // Required although unused: every ledger line has it, and a job file's line has not.
    #[serde(borrow)]
    #[allow(dead_code)]
    spec_hash: Cow<'a, str>,
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(borrow, default)]
    output_tail: Option<Cow<'a, str>>,
}

/// A checked ledger line.
#[derive(Debug, Clone)]
pub(super) struct Line<'a> {
    /// The job's id.
    pub(super) id: Cow<'a, str>,
    /// Its kind.
    pub(super) kind: Cow<'a, str>,
    /// How it ended.
    pub(super) outcome: Outcome,
    /// Attempts started.
    pub(super) attempts: u32,
    /// Submitted, in nanoseconds since the Unix epoch.
    pub(super) queued_at: i64,
    /// First start, if it started.
    pub(super) started_at: Option<i64>,
    /// Final state reached.
    pub(super) finished_at: i64,
    /// Submit to first start.
    pub(super) wait: Duration,
    /// All attempts' run time.
    pub(super) run: Duration,
    /// Why it did not succeed.
    pub(super) error: Option<Cow<'a, str>>,
    /// An `exec`/`shell` job's exit code.
    pub(super) exit_code: Option<i64>,
    /// The end of an `exec`/`shell` job's output.
    pub(super) output_tail: Option<Cow<'a, str>>,
}

/// Why a line is not a ledger line, and where (1-based column, in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LineError {
    /// Where in the line.
    pub(super) column: usize,
    /// What is wrong.
    pub(super) message: String,
}

/// Parses one line (without its newline).
pub(super) fn parse(text: &[u8]) -> Result<Line<'_>, LineError> {
    // serde would take an array for a struct, field by field: say what a line must be.
    let start = text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
    if text.get(start).is_some_and(|&b| b == b'[') {
        return Err(LineError {
            column: start + 1,
            message: "not a ledger line: expected a JSON object".into(),
        });
    }
    let wire: Wire<'_> = serde_json::from_slice(text).map_err(|e| LineError {
        column: e.column().max(1),
        message: format!("not a ledger line: {}", serde_message(&e)),
    })?;
    let at = |field: &str, message: String| LineError { column: column_of(text, field), message };
    let outcome = Outcome::ALL.into_iter().find(|o| o.as_str() == wire.outcome).ok_or_else(|| {
        at(
            "outcome",
            format!(
                "outcome: unknown outcome {:?} (expected succeeded, failed, panicked, timed_out or cancelled)",
                wire.outcome
            ),
        )
    })?;
    let stamp = |field: &str, value: &str| {
        chrono::DateTime::parse_from_rfc3339(value)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .ok_or_else(|| at(field, format!("{field}: {value:?} is not an RFC 3339 timestamp")))
    };
    let seconds = |field: &str, value: f64| {
        Duration::try_from_secs_f64(value)
            .map_err(|_| at(field, format!("{field}: {value} is not a number of seconds ≥ 0")))
    };
    Ok(Line {
        outcome,
        attempts: wire.attempts,
        queued_at: stamp("queued_at", &wire.queued_at)?,
        started_at: wire.started_at.as_deref().map(|s| stamp("started_at", s)).transpose()?,
        finished_at: stamp("finished_at", &wire.finished_at)?,
        wait: seconds("wait_seconds", wire.wait_seconds)?,
        run: seconds("run_seconds", wire.run_seconds)?,
        id: wire.id,
        kind: wire.kind,
        error: wire.error,
        exit_code: wire.exit_code,
        output_tail: wire.output_tail,
    })
}

/// serde_json's message without its own " at line L column C" (the caller locates it).
fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The 1-based column of `"field"` in `text`, or 1 if it is not found.
fn column_of(text: &[u8], field: &str) -> usize {
    let key = format!("\"{field}\"");
    memchr::memmem::find(text, key.as_bytes()).map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"id":"a","name":null,"kind":"exec","priority":0,"outcome":"failed","attempts":2,"queued_at":"2026-01-01T00:00:00.000Z","started_at":"2026-01-01T00:00:00.500Z","finished_at":"2026-01-01T00:00:02.000Z","wait_seconds":0.5,"run_seconds":1.25,"error":"exit status 3","spec_hash":"ff","exit_code":3,"output_tail":"boom\n","worker":"w1"}"#;

    #[test]
    fn a_ledger_line_parses_and_extra_fields_are_ignored() {
        let line = parse(OK.as_bytes()).unwrap();
        assert_eq!((line.id.as_ref(), line.kind.as_ref(), line.outcome), ("a", "exec", Outcome::Failed));
        assert_eq!(line.attempts, 2);
        assert_eq!(line.finished_at - line.queued_at, 2_000_000_000);
        assert_eq!(line.started_at, Some(line.queued_at + 500_000_000));
        assert_eq!((line.wait, line.run), (Duration::from_millis(500), Duration::from_millis(1250)));
        assert_eq!((line.exit_code, line.output_tail.as_deref()), (Some(3), Some("boom\n")));
    }

    #[test]
    fn what_is_not_a_ledger_line_is_located() {
        let job = r#"{"id": "a", "kind": "noop"}"#;
        let e = parse(job.as_bytes()).unwrap_err();
        assert!(e.message.starts_with("not a ledger line: missing field"), "{e:?}");
        let e = parse(b"[1, 2]").unwrap_err();
        assert_eq!((e.column, e.message.as_str()), (1, "not a ledger line: expected a JSON object"));
        let e = parse(OK.replace("\"failed\"", "\"exploded\"").as_bytes()).unwrap_err();
        assert_eq!(e.column, OK.find("\"outcome\"").unwrap() + 1);
        assert!(e.message.contains("unknown outcome \"exploded\""), "{e:?}");
        let e = parse(OK.replace("2026-01-01T00:00:02.000Z", "yesterday").as_bytes()).unwrap_err();
        assert_eq!(e.message, "finished_at: \"yesterday\" is not an RFC 3339 timestamp");
        let e = parse(OK.replace("\"run_seconds\":1.25", "\"run_seconds\":-1").as_bytes()).unwrap_err();
        assert!(e.message.starts_with("run_seconds: -1 is not"), "{e:?}");
        let e = parse(&OK.as_bytes()[..40]).unwrap_err();
        assert!(e.message.starts_with("not a ledger line: EOF"), "{e:?}");
    }
}

//! The ledger's one record type, [`Record`]: the fields of one ledger line, borrowed from
//! whoever holds them, and the one function that writes its line.

use std::time::{Duration, SystemTime};

use conveyor_pool::Outcome;
use serde::Deserialize;

use super::format::{json_int, json_opt_str, json_str};
use super::timestamp::Timestamps;

/// What an `exec` or `shell` job's last attempt left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code, if the program exited by itself.
    pub exit_code: Option<i32>,
    /// The end of its combined output, if any was captured.
    pub output_tail: Option<String>,
}

/// One job at its final state: the fields of its ledger line, in line order, borrowed from
/// whoever holds them (a job's spec and its pool report in `run` and `serve`, a database row
/// in the PostgreSQL export), so that making one copies no string.
///
/// Every ledger line is written by [`write_line`](Self::write_line): `run`, `serve` and the
/// PostgreSQL export (which adds `worker`) write the same bytes for the same fields.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use conveyor::ledger::Record;
/// use conveyor_pool::Outcome;
///
/// let t = UNIX_EPOCH + Duration::from_secs(1_748_779_200);
/// let r = Record {
///     id: "a", name: None, kind: "noop", priority: 0, outcome: Outcome::Succeeded,
///     attempts: 1, queued_at: t, started_at: Some(t), finished_at: t,
///     wait: Duration::ZERO, run: Duration::from_millis(1), error: None,
///     spec_hash: "ff", exec: None, worker: None,
/// };
/// let mut line = Vec::new();
/// r.write_line(&mut line);
/// assert_eq!(String::from_utf8(line).unwrap(),
///     "{\"id\":\"a\",\"name\":null,\"kind\":\"noop\",\"priority\":0,\"outcome\":\"succeeded\",\
///      \"attempts\":1,\"queued_at\":\"2025-06-01T12:00:00.000Z\",\
///      \"started_at\":\"2025-06-01T12:00:00.000Z\",\"finished_at\":\"2025-06-01T12:00:00.000Z\",\
///      \"wait_seconds\":0.0,\"run_seconds\":0.001,\"error\":null,\"spec_hash\":\"ff\"}\n");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The job's id from its file (or generated).
    pub id: &'a str,
    /// Its name, if any.
    pub name: Option<&'a str>,
    /// Its kind (`sleep`, `exec`, …).
    pub kind: &'a str,
    /// Its priority.
    pub priority: i32,
    /// How it ended.
    pub outcome: Outcome,
    /// Attempts started (0 if it never ran).
    pub attempts: u32,
    /// When it was submitted (or, if it never was, when it was cancelled).
    pub queued_at: SystemTime,
    /// When its first attempt started.
    pub started_at: Option<SystemTime>,
    /// When it reached its final state.
    pub finished_at: SystemTime,
    /// Submit to first start (to the end if it never started).
    pub wait: Duration,
    /// All attempts' run time.
    pub run: Duration,
    /// Why it did not succeed.
    pub error: Option<&'a str>,
    /// The spec hash (see [`crate::spec::spec_hash`]).
    pub spec_hash: &'a str,
    /// For `exec` and `shell` jobs: `Some`, even if nothing ran (the line then has
    /// `exit_code` and `output_tail`).
    pub exec: Option<&'a ExecOutput>,
    /// The PostgreSQL export's last field, `worker` (who ran the final attempt; `Some(None)`
    /// writes `null`); `None` for the lines of `run` and `serve`, which have no such field.
    pub worker: Option<Option<&'a str>>,
}

/// What a [`Writer`](super::Writer) takes: a job's final state that can lend its
/// [`Record`]. `conveyor run` sends one that borrows the id, name and hash from the job's
/// spec, so that the run's busy thread copies none of them.
///
/// # Examples
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use conveyor::ledger::{Entry, Record};
/// use conveyor_pool::Outcome;
///
/// struct Ok(String);
/// impl Entry for Ok {
///     fn record(&self) -> Record<'_> {
///         Record {
///             id: &self.0, name: None, kind: "noop", priority: 0, outcome: Outcome::Succeeded,
///             attempts: 1, queued_at: UNIX_EPOCH, started_at: None, finished_at: UNIX_EPOCH,
///             wait: Default::default(), run: Default::default(), error: None, spec_hash: "ff",
///             exec: None, worker: None,
///         }
///     }
/// }
/// assert_eq!(Ok("a".into()).record().id, "a");
/// ```
pub trait Entry: Send + 'static {
    /// The fields of this entry's ledger line.
    fn record(&self) -> Record<'_>;
}

/// A record of `'static` fields is its own entry (for tests and examples; `run` and `serve`
/// send a job's final state, which lends its fields).
impl Entry for Record<'static> {
    fn record(&self) -> Record<'_> {
        *self
    }
}

impl Record<'_> {
    /// Appends this record's ledger line, `\n` included, to `out`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use conveyor::ledger::{ExecOutput, Record};
    /// use conveyor_pool::Outcome;
    ///
    /// let t = UNIX_EPOCH + Duration::from_secs(1_748_779_200);
    /// let exec = ExecOutput { exit_code: Some(1), output_tail: None };
    /// let r = Record {
    ///     id: "a", name: Some("x\"y"), kind: "exec", priority: -1,
    ///     outcome: Outcome::Failed, attempts: 2, queued_at: t, started_at: None,
    ///     finished_at: t, wait: Duration::from_micros(1), run: Duration::ZERO,
    ///     error: Some("exit 1"), spec_hash: "ff", exec: Some(&exec), worker: Some(Some("w1")),
    /// };
    /// let mut line = Vec::new();
    /// r.write_line(&mut line);
    /// let text = String::from_utf8(line).unwrap();
    /// assert!(text.ends_with(",\"exit_code\":1,\"output_tail\":null,\"worker\":\"w1\"}\n"));
    /// ```
    pub fn write_line(&self, out: &mut Vec<u8>) {
        self.write_line_with(out, &mut Timestamps::default());
    }

    /// [`write_line`](Self::write_line) with a [`Timestamps`] kept from line to line (the
    /// ledger writer's): the same bytes, written by hand rather than through serde, with no
    /// allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use conveyor::ledger::{Record, Timestamps};
    /// use conveyor_pool::Outcome;
    ///
    /// let t = UNIX_EPOCH + Duration::from_secs(1_748_779_200);
    /// let r = Record {
    ///     id: "a", name: None, kind: "noop", priority: 0, outcome: Outcome::Succeeded,
    ///     attempts: 1, queued_at: t, started_at: Some(t), finished_at: t,
    ///     wait: Duration::ZERO, run: Duration::ZERO, error: None, spec_hash: "ff", exec: None,
    ///     worker: None,
    /// };
    /// let (mut a, mut b) = (Vec::new(), Vec::new());
    /// r.write_line(&mut a);
    /// r.write_line_with(&mut b, &mut Timestamps::default());
    /// assert_eq!(a, b);
    /// ```
    pub fn write_line_with(&self, out: &mut Vec<u8>, stamps: &mut Timestamps) {
        out.extend_from_slice(b"{\"id\":");
        json_str(out, self.id);
        out.extend_from_slice(b",\"name\":");
        json_opt_str(out, self.name);
        out.extend_from_slice(b",\"kind\":");
        json_str(out, self.kind);
        out.extend_from_slice(b",\"priority\":");
        json_int(out, self.priority);
        out.extend_from_slice(b",\"outcome\":");
        json_str(out, self.outcome.as_str());
        out.extend_from_slice(b",\"attempts\":");
        json_int(out, self.attempts);
        out.extend_from_slice(b",\"queued_at\":\"");
        stamps.write(self.queued_at, out);
        out.extend_from_slice(b"\",\"started_at\":");
        match self.started_at {
            Some(t) => {
                out.push(b'"');
                stamps.write(t, out);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"finished_at\":\"");
        stamps.write(self.finished_at, out);
        out.extend_from_slice(b"\",\"wait_seconds\":");
        stamps.seconds.write(self.wait, out);
        out.extend_from_slice(b",\"run_seconds\":");
        stamps.seconds.write(self.run, out);
        out.extend_from_slice(b",\"error\":");
        json_opt_str(out, self.error);
        out.extend_from_slice(b",\"spec_hash\":");
        json_str(out, self.spec_hash);
        if let Some(exec) = self.exec {
            out.extend_from_slice(b",\"exit_code\":");
            match exec.exit_code {
                Some(code) => json_int(out, code),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"output_tail\":");
            json_opt_str(out, exec.output_tail.as_deref());
        }
        if let Some(worker) = self.worker {
            out.extend_from_slice(b",\"worker\":");
            json_opt_str(out, worker);
        }
        out.extend_from_slice(b"}\n");
    }
}

#[derive(Deserialize)]
pub(super) struct Minimal<'a> {
    #[serde(borrow)]
    pub(super) id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub(super) outcome: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub(super) spec_hash: std::borrow::Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::test_support::{Owned, duration, instant, record, secs};
    use crate::ledger::timestamp::chrono_timestamp;
    use proptest::prelude::*;
    use serde::Serialize;

    /// The ledger line as first written, through serde: the reference for the hand-written one.
    #[derive(Serialize)]
    struct Line<'a> {
        id: &'a str,
        name: Option<&'a str>,
        kind: &'a str,
        priority: i32,
        outcome: &'a str,
        attempts: u32,
        queued_at: String,
        started_at: Option<String>,
        finished_at: String,
        wait_seconds: f64,
        run_seconds: f64,
        error: Option<&'a str>,
        spec_hash: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_code: Option<Option<i32>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output_tail: Option<Option<&'a str>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        worker: Option<Option<&'a str>>,
    }

    fn reference_line(r: &Owned) -> Vec<u8> {
        let line = Line {
            id: &r.id,
            name: r.name.as_deref(),
            kind: r.kind,
            priority: r.priority,
            outcome: r.outcome.as_str(),
            attempts: r.attempts,
            queued_at: chrono_timestamp(r.queued_at),
            started_at: r.started_at.map(chrono_timestamp),
            finished_at: chrono_timestamp(r.finished_at),
            wait_seconds: secs(r.wait),
            run_seconds: secs(r.run),
            error: r.error.as_deref(),
            spec_hash: &r.spec_hash,
            exit_code: r.exec.as_ref().map(|e| e.exit_code),
            output_tail: r.exec.as_ref().map(|e| e.output_tail.as_deref()),
            worker: r.worker.as_ref().map(Option::as_deref),
        };
        let mut out = serde_json::to_vec(&line).unwrap();
        out.push(b'\n');
        out
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9-]{0,10}", any::<String>(), "[\\x00-\\x1f\"\\\\a\u{7f}é]{0,8}"]
    }

    prop_compose! {
        fn any_record()(
            id in text(),
            name in proptest::option::of(text()),
            kind in prop_oneof![Just("noop"), Just("exec"), Just("sleep")],
            priority in any::<i32>(),
            outcome in prop_oneof![
                Just(Outcome::Succeeded), Just(Outcome::Failed), Just(Outcome::Panicked),
                Just(Outcome::TimedOut), Just(Outcome::Cancelled),
            ],
            attempts in any::<u32>(),
            times in (instant(), proptest::option::of(instant()), instant()),
            wait in duration(),
            run in duration(),
            error in proptest::option::of(text()),
            hash in "[0-9a-f]{64}",
            exec in proptest::option::of((proptest::option::of(any::<i32>()), proptest::option::of(text()))),
            worker in proptest::option::of(proptest::option::of(text())),
        ) -> Owned {
            Owned {
                id,
                name,
                kind,
                priority,
                outcome,
                attempts,
                queued_at: times.0,
                started_at: times.1,
                finished_at: times.2,
                wait,
                run,
                error,
                spec_hash: hash,
                exec: exec.map(|(exit_code, output_tail)| ExecOutput { exit_code, output_tail }),
                worker,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn lines_match_serde(r in any_record()) {
            let mut out = Vec::new();
            r.record().write_line_with(&mut out, &mut Timestamps::default());
            prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(reference_line(&r)).unwrap());
        }
    }

    #[test]
    fn exec_lines_have_every_field_in_order() {
        let mut out = Vec::new();
        record("x", Outcome::Failed).record().write_line(&mut out);
        let text = String::from_utf8(out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        let mut want = vec![
            "id",
            "name",
            "kind",
            "priority",
            "outcome",
            "attempts",
            "queued_at",
            "started_at",
            "finished_at",
            "wait_seconds",
            "run_seconds",
            "error",
            "spec_hash",
            "exit_code",
            "output_tail",
        ];
        assert!(text.starts_with("{\"id\":\"x\",\"name\":\"n\",\"kind\":\"exec\""));
        want.sort_unstable();
        assert_eq!(sorted, want);
        assert_eq!(v["started_at"], serde_json::Value::Null);
        assert_eq!(v["queued_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["output_tail"], serde_json::Value::Null);
        assert_eq!(v["wait_seconds"], 0.0015);
    }
}

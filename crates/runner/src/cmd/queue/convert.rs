//! Between the runner's types and the queue's rows: [`JobSpec`] → [`NewJob`], a stored spec
//! → [`JobSpec`], a [`FinishedJob`] → a ledger line.

use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use conveyor_pool::Outcome;
use conveyor_postgres::{FinalState, FinishedJob, NewJob};
use serde_json::Value;

use crate::ledger::{ExecOutput, Record};
use crate::spec::{self, JobSpec, ParseOptions, StartAt};

/// The row for `spec`: its canonical JSON (a valid job itself) with the id always in.
pub(super) fn new_job(spec: &JobSpec, default_attempts: u32) -> NewJob {
    let mut stored: Value = serde_json::from_str(&spec.canonical_json()).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut stored {
        // The canonical form's version number is not a job field.
        map.remove("v");
        map.insert("id".into(), (*spec.id).into());
    }
    let mut job = NewJob::new(spec.id.to_string(), spec.kind.name(), stored);
    job.name = spec.name.clone();
    job.priority = spec.priority;
    job.spec_hash = spec.spec_hash.to_string();
    job.concurrency_key = spec.concurrency_key.clone();
    job.rate_key = spec.rate_key.clone();
    if let Some(queue) = &spec.queue {
        job.queue.clone_from(queue);
    }
    let attempts = spec.retry.max_attempts.unwrap_or(default_attempts).max(1);
    job.max_attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
    match spec.start {
        Some(StartAt::Delay(d)) => job.delay = Some(d),
        Some(StartAt::NotBefore(t)) => job.not_before = Some(t),
        _ => {}
    }
    job
}

/// The job a worker runs for a stored spec: parsed back with the loader (so it runs as
/// `conveyor run` would run it), with the queue's id, and no start time (the queue's
/// `run_at` already applied it).
pub(super) fn spec_of(id: &str, stored: &Value) -> anyhow::Result<JobSpec> {
    let text = stored.to_string();
    let mut batch = spec::parse_str("queue", &text, &ParseOptions::default()).map_err(|errors| {
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", shown.join("; "))
    })?;
    let mut job = batch.jobs.pop().context("the stored spec holds no job")?;
    job.id = id.into();
    job.start = None;
    Ok(job)
}

/// The `&'static str` the ledger wants for a kind stored as text.
pub(super) fn static_kind(kind: &str) -> &'static str {
    match kind {
        "noop" => "noop",
        "sleep" => "sleep",
        "fail" => "fail",
        "cpu" => "cpu",
        "exec" => "exec",
        "shell" => "shell",
        "http" => "http",
        _ => "unknown",
    }
}

fn outcome(state: FinalState) -> Outcome {
    match state {
        FinalState::Succeeded => Outcome::Succeeded,
        FinalState::Panicked => Outcome::Panicked,
        FinalState::TimedOut => Outcome::TimedOut,
        FinalState::Cancelled => Outcome::Cancelled,
        // `FinalState` may grow; a state the ledger has no word for reads as a failure.
        _ => Outcome::Failed,
    }
}

/// The ledger line of a finished job: `run`'s line plus `"worker"` (who ran the final
/// attempt), `\n` included.
pub(super) fn ledger_line(job: &FinishedJob, out: &mut Vec<u8>) {
    let at = |t: chrono::DateTime<chrono::Utc>| SystemTime::from(t);
    let queued = at(job.queued_at);
    let finished = at(job.finished_at);
    let started = job.started_at.map(at);
    let wait = started.unwrap_or(finished).duration_since(queued).unwrap_or_default();
    let kind = static_kind(&job.kind);
    let record = Record {
        id: job.id.as_str().into(),
        name: job.name.as_deref().map(Into::into),
        kind,
        priority: job.priority,
        outcome: outcome(job.state),
        attempts: job.attempts.unsigned_abs(),
        queued_at: queued,
        started_at: started,
        finished_at: finished,
        wait,
        run: Duration::try_from_secs_f64(job.run_seconds).unwrap_or_default(),
        error: job.error.clone(),
        spec_hash: job.spec_hash.as_str().into(),
        exec: spec::JobKind::named_spawns_process(kind)
            .then(|| ExecOutput { exit_code: job.exit_code, output_tail: job.output_tail.clone() }),
    };
    let start = out.len();
    record.write_line(out);
    // `write_line` ends the object with `}\n`: add the worker before it.
    if out.len() >= start + 2 && out.ends_with(b"}\n") {
        out.truncate(out.len() - 2);
        out.extend_from_slice(b",\"worker\":");
        let worker = serde_json::to_vec(&job.worker).unwrap_or_else(|_| b"null".to_vec());
        out.extend_from_slice(&worker);
        out.extend_from_slice(b"}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> JobSpec {
        spec::parse_str("t.jsonl", text, &ParseOptions::default()).unwrap().jobs.remove(0)
    }

    #[test]
    fn a_rate_key_travels_in_the_stored_spec() {
        let spec = one(r#"{"id": "r", "kind": "noop", "concurrency_key": "db", "rate_key": "api"}"#);
        let row = new_job(&spec, 1);
        assert_eq!(row.spec["rate_key"], "api");
        let back = spec_of(&spec.id, &row.spec).unwrap();
        assert_eq!((back.concurrency_key.as_deref(), back.rate_key.as_deref()), (Some("db"), Some("api")));
        assert_eq!(back.spec_hash, spec.spec_hash);
    }

    #[test]
    fn a_job_names_its_queue_and_defaults_to_default() {
        let text = r#"{"defaults": {"queue": "mail"}, "jobs": [
            {"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "queue": "bulk"}, {"id": "c", "kind": "noop", "queue": "default"}]}"#;
        let batch = spec::parse_str("q.json", text, &ParseOptions::default()).unwrap();
        let queues: Vec<String> = batch.jobs.iter().map(|s| new_job(s, 1).queue).collect();
        assert_eq!(queues, ["mail", "bulk", "default"]);
        let plain = one(r#"{"id": "d", "kind": "noop"}"#);
        assert_eq!(new_job(&plain, 1).queue, "default");
        assert!(
            spec::parse_str("q.jsonl", r#"{"kind": "noop", "queue": ""}"#, &ParseOptions::default()).is_err()
        );
    }

    #[test]
    fn a_stored_spec_parses_back_to_the_same_job() {
        for text in [
            r#"{"id": "s", "kind": "sleep", "duration": "1m30s", "timeout": "2h", "priority": -3,
                "retry": {"max_attempts": 3, "backoff": "fixed", "initial": "1s", "jitter": true},
                "concurrency_key": "db", "name": "nap"}"#,
            r#"{"kind": "exec", "program": "echo", "args": ["a b"], "env": {"X": "1"}, "cwd": "/tmp"}"#,
            r#"{"kind": "http", "url": "http://127.0.0.1:1/x", "headers": {"A": "b"}, "body": "hi"}"#,
            r#"{"kind": "fail", "probability": 0.5, "message": "boom"}"#,
            r#"{"kind": "cpu", "rounds": 10, "delay": "5s"}"#,
        ] {
            let spec = one(&text.replace('\n', " "));
            let row = new_job(&spec, 1);
            let back = spec_of(&spec.id, &row.spec).unwrap();
            assert_eq!(back.kind, spec.kind, "{text}");
            assert_eq!((back.priority, back.timeout, back.retry), (spec.priority, spec.timeout, spec.retry));
            assert_eq!(back.concurrency_key, spec.concurrency_key);
            assert_eq!(back.id, spec.id);
            assert_eq!(back.start, None);
        }
    }
}

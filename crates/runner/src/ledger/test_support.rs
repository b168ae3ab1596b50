//! Helpers shared by the ledger's unit tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conveyor_pool::Outcome;
use proptest::prelude::*;

use super::{Entry, ExecOutput, Record};

/// Seconds with microsecond precision: what the ledger writes for a duration.
pub(super) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

pub(super) fn instant() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        // Around now, where every real line is.
        (1_600_000_000_000_000_000u64..2_100_000_000_000_000_000)
            .prop_map(|ns| UNIX_EPOCH + Duration::from_nanos(ns)),
        // Anywhere up to year 9999, and beyond (the chrono fallback).
        (0u64..300_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n)),
        // Before 1970 (the chrono fallback).
        (1u64..10_000_000_000).prop_map(|s| UNIX_EPOCH - Duration::from_secs(s)),
    ]
}

pub(super) fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (0u64..10_000_000).prop_map(Duration::from_nanos),
        (0u64..100_000_000_000_000).prop_map(Duration::from_nanos),
    ]
}

/// A [`Record`]'s fields, owned: what the tests send to a writer.
#[derive(Debug, Clone)]
pub(super) struct Owned {
    pub(super) id: String,
    pub(super) name: Option<String>,
    pub(super) kind: &'static str,
    pub(super) priority: i32,
    pub(super) outcome: Outcome,
    pub(super) attempts: u32,
    pub(super) queued_at: SystemTime,
    pub(super) started_at: Option<SystemTime>,
    pub(super) finished_at: SystemTime,
    pub(super) wait: Duration,
    pub(super) run: Duration,
    pub(super) error: Option<String>,
    pub(super) spec_hash: String,
    pub(super) exec: Option<ExecOutput>,
    pub(super) worker: Option<Option<String>>,
}

impl Entry for Owned {
    fn record(&self) -> Record<'_> {
        Record {
            id: &self.id,
            name: self.name.as_deref(),
            kind: self.kind,
            priority: self.priority,
            outcome: self.outcome,
            attempts: self.attempts,
            queued_at: self.queued_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            wait: self.wait,
            run: self.run,
            error: self.error.as_deref(),
            spec_hash: &self.spec_hash,
            exec: self.exec.as_ref(),
            worker: self.worker.as_ref().map(Option::as_deref),
        }
    }
}

pub(super) fn record(id: &str, outcome: Outcome) -> Owned {
    Owned {
        id: id.into(),
        name: Some("n".into()),
        kind: "exec",
        priority: -3,
        outcome,
        attempts: 2,
        queued_at: UNIX_EPOCH,
        started_at: None,
        finished_at: UNIX_EPOCH + Duration::from_millis(1),
        wait: Duration::from_micros(1500),
        run: Duration::ZERO,
        error: Some("exit status 3".into()),
        spec_hash: "abc".into(),
        exec: Some(ExecOutput { exit_code: Some(3), output_tail: None }),
        worker: None,
    }
}

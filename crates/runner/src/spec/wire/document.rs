//! The job-file structs above the values: `retry`, the common fields, `defaults`, `limits`
//! and the document (the kinds' own structs are written by [`job_wire!`](super::job_wire)).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::values::{
    Attempts, CronExpr, Dur, JobId, Limit, NonEmpty, PositiveDur, Priority, RateWire, Timestamp,
};
use crate::kind::JobWire;
use crate::spec::job::Backoff;

/// `retry`, as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Retry")]
pub(crate) struct RetryWire {
    /// Attempts in all, the first included (at least 1).
    pub(crate) max_attempts: Option<Attempts>,
    /// How the wait between attempts grows: "fixed" or "exponential".
    pub(crate) backoff: Option<Backoff>,
    /// The first wait between attempts.
    pub(crate) initial: Option<Dur>,
    /// The longest wait between attempts (not less than `initial`).
    pub(crate) max: Option<Dur>,
    /// Randomise each wait.
    pub(crate) jitter: Option<bool>,
}

/// The retry field names, for "did you mean".
pub(crate) const RETRY_FIELDS: &[&str] = &["max_attempts", "backoff", "initial", "max", "jitter"];

/// The common fields of a job, as written (shared by [`DefaultsWire`] and the job structs).
#[derive(Debug, Clone, Default)]
pub(crate) struct CommonWire {
    pub(crate) id: Option<JobId>,
    pub(crate) name: Option<String>,
    pub(crate) priority: Option<Priority>,
    pub(crate) timeout: Option<PositiveDur>,
    pub(crate) retry: Option<RetryWire>,
    pub(crate) delay: Option<Dur>,
    pub(crate) not_before: Option<Timestamp>,
    pub(crate) concurrency_key: Option<NonEmpty>,
    pub(crate) rate_key: Option<NonEmpty>,
    pub(crate) every: Option<PositiveDur>,
    pub(crate) cron: Option<CronExpr>,
}

/// Fields every job may have (the `kind` field aside).
pub(crate) const COMMON_FIELDS: &[&str] = &[
    "id",
    "name",
    "priority",
    "timeout",
    "retry",
    "delay",
    "not_before",
    "concurrency_key",
    "rate_key",
    "every",
    "cron",
];

/// `defaults`: common fields applied to every job of the file (the job's own fields win).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Defaults")]
pub(crate) struct DefaultsWire {
    /// A name for people, for jobs that give none.
    pub(crate) name: Option<String>,
    /// Lower runs first; negative allowed.
    pub(crate) priority: Option<Priority>,
    /// Time limit for each attempt.
    pub(crate) timeout: Option<PositiveDur>,
    /// Retry settings, merged field by field with each job's `retry`.
    pub(crate) retry: Option<RetryWire>,
    /// Wait this long after loading before the first attempt (not with `not_before`).
    pub(crate) delay: Option<Dur>,
    /// Do not start before this instant (not with `delay`).
    pub(crate) not_before: Option<Timestamp>,
    /// The key whose `limits` the jobs obey.
    pub(crate) concurrency_key: Option<NonEmpty>,
    /// The key whose `limits.rate` the jobs obey, instead of their `concurrency_key`'s.
    pub(crate) rate_key: Option<NonEmpty>,
    /// `conveyor serve` only: run every period (not with `cron`).
    pub(crate) every: Option<PositiveDur>,
    /// `conveyor serve` only: run on a cron expression (not with `every`).
    pub(crate) cron: Option<CronExpr>,
}

impl DefaultsWire {
    pub(crate) fn into_common(self) -> CommonWire {
        CommonWire {
            id: None,
            name: self.name,
            priority: self.priority,
            timeout: self.timeout,
            retry: self.retry,
            delay: self.delay,
            not_before: self.not_before,
            concurrency_key: self.concurrency_key,
            rate_key: self.rate_key,
            every: self.every,
            cron: self.cron,
        }
    }
}

/// `limits`: per-key concurrency and rate limits.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Limits")]
pub(crate) struct LimitsWire {
    /// At most N jobs with this `concurrency_key` run at once.
    #[serde(default)]
    pub(crate) concurrency: BTreeMap<String, Limit>,
    /// At most N jobs with this `rate_key` (or, without one, this `concurrency_key`) start
    /// per PERIOD ("N/PERIOD").
    #[serde(default)]
    pub(crate) rate: BTreeMap<String, RateWire>,
}

/// The top-level keys of a document.
pub(crate) const DOCUMENT_FIELDS: &[&str] = &["defaults", "limits", "jobs"];

/// A whole job document (schema only; the parser reads the three keys itself so that every
/// job's errors are reported, not just the first).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "JobDocument",
    description = "A job document: `defaults` and `limits` apply to its `jobs`."
)]
#[allow(dead_code)]
pub(crate) struct DocumentWire {
    /// Common fields applied to every job of this file; the job's own fields win.
    defaults: Option<DefaultsWire>,
    /// Per-key concurrency and rate limits, for jobs' `concurrency_key`.
    limits: Option<LimitsWire>,
    /// The jobs.
    jobs: Vec<JobWire>,
}

/// A job file: a document object or a bare array of jobs (JSON Lines files hold one
/// `Job` per line).
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(description = "A Conveyor job file: a document object, or a bare array of jobs. (A JSON \
                   Lines file holds one `#/$defs/Job` per line.)")]
#[allow(dead_code)]
pub(crate) enum JobFileWire {
    /// `{"defaults": …, "limits": …, "jobs": […]}`
    Document(Box<DocumentWire>),
    /// `[job, …]`
    Jobs(Vec<JobWire>),
}

//! From wire structs to [`JobSpec`]: apply `defaults`, check the rules that span fields, and
//! turn deserialization errors into messages for people.
//!
//! # Merging `defaults`
//!
//! A job's own field wins over the file's default, field by field, with three refinements:
//! `retry` merges per sub-field (a job's `{"max_attempts": 5}` keeps the default `backoff`);
//! `delay` and `not_before` are one setting (a job's `not_before` replaces a default `delay`);
//! and `every` and `cron` are one setting likewise.

use std::path::Path;
use std::sync::Arc;

use super::de::{DeError, DeErrorKind, PathCtx};
use super::duration::format_duration;
use super::job::{JobKind, JobSpec, Origin, RetrySpec, Schedule, StartAt};
use super::json::{Node, Segment};
use super::suggest::{did_you_mean, one_of};
use super::wire::{self, COMMON_FIELDS, CommonWire, RetryWire};

/// A problem at a byte offset of the text being parsed, before it is given a line and column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Issue {
    pub(crate) at: usize,
    pub(crate) path: Vec<Segment>,
    pub(crate) message: String,
}

/// What was being deserialized when an error happened, for its message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Context<'k> {
    Job(&'k str),
    Defaults,
    Other,
}

/// Turns a deserialization error into an [`Issue`] with a message for people.
pub(crate) fn explain(error: DeError, fallback_at: usize, context: Context<'_>) -> Issue {
    let at = error.at.unwrap_or(fallback_at);
    let message = match &error.kind {
        DeErrorKind::Message(m) => m.clone(),
        DeErrorKind::UnknownField { field, expected } => unknown_field(field, expected, context, &error.path),
        DeErrorKind::MissingField(field) => match context {
            // Only direct members of the job are the kind's required parameters.
            Context::Job(kind) if error.path.len() <= 2 && wire::kind_fields(kind).contains(field) => {
                format!("missing field `{field}` (required by kind `{kind}`)")
            }
            _ => format!("missing field `{field}`"),
        },
        DeErrorKind::UnknownVariant { variant, expected } => {
            match did_you_mean(variant, expected.iter().copied()) {
                Some(s) => format!("unknown value `{variant}`; did you mean `{s}`?"),
                None => format!("unknown value `{variant}`; expected {}", one_of(expected)),
            }
        }
    };
    Issue { at, path: error.path, message }
}

fn unknown_field(
    field: &str,
    expected: &'static [&'static str],
    context: Context<'_>,
    path: &[Segment],
) -> String {
    // Only the job object itself (not `retry`, `env`, …) gets job-specific hints.
    let in_retry = path.iter().rev().nth(1) == Some(&Segment::Key("retry".into()));
    if let Some(suggestion) = did_you_mean(field, expected.iter().copied()) {
        return format!("unknown field `{field}`; did you mean `{suggestion}`?");
    }
    let owners: Vec<&str> =
        JobKind::NAMES.iter().copied().filter(|k| wire::kind_fields(k).contains(&field)).collect();
    match context {
        _ if in_retry => format!("unknown field `{field}`; `retry` takes {}", one_of(wire::RETRY_FIELDS)),
        Context::Job(_) if field == "kind" => "`kind` is given twice".to_owned(),
        Context::Job(kind) if !owners.is_empty() => format!(
            "unknown field `{field}` for kind `{kind}` (`{field}` belongs to {})",
            kinds_phrase(&owners)
        ),
        Context::Job(kind) => match wire::kind_fields(kind) {
            [] => format!(
                "unknown field `{field}` (kind `{kind}` takes only the common fields {})",
                one_of(COMMON_FIELDS)
            ),
            params => format!(
                "unknown field `{field}` (kind `{kind}` takes {} besides the common fields {})",
                one_of(params),
                one_of(COMMON_FIELDS)
            ),
        },
        Context::Defaults if field == "id" => {
            "`id` cannot have a default: every job needs its own".to_owned()
        }
        Context::Defaults if field == "kind" => {
            "`kind` cannot have a default: every job names its own".to_owned()
        }
        Context::Defaults if !owners.is_empty() => format!(
            "`{field}` is a parameter of {}; `defaults` holds only common fields",
            kinds_phrase(&owners)
        ),
        _ => format!("unknown field `{field}`; expected {}", one_of(expected)),
    }
}

fn kinds_phrase(kinds: &[&str]) -> String {
    match kinds {
        [one] => format!("kind `{one}`"),
        many => format!("kinds {}", one_of(many).replace(" or ", " and ")),
    }
}

/// A job file's `defaults`, checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Defaults {
    pub(crate) common: CommonWire,
}

/// Parses and checks `defaults` (its errors are reported once, not per job).
pub(crate) fn defaults(
    node: &Node<'_>,
    path: &PathCtx<'_>,
    allow_periodic: bool,
    issues: &mut Vec<Issue>,
) -> Defaults {
    let wire: wire::DefaultsWire = match super::de::from_node(node, path, &[]) {
        Ok(w) => w,
        Err(e) => {
            issues.push(explain(e, node.start, Context::Defaults));
            return Defaults::default();
        }
    };
    let mut common = wire.into_common();
    let here = |keys: &[&str], message: String| -> Issue { issue_at(node, path, keys, message) };
    if common.delay.is_some() && common.not_before.is_some() {
        issues.push(here(&["not_before"], both("delay", "not_before")));
        common.not_before = None;
    }
    if common.every.is_some() && common.cron.is_some() {
        issues.push(here(&["cron"], both("every", "cron")));
        common.cron = None;
    }
    if !allow_periodic {
        for field in ["every", "cron"] {
            if node.member(field).is_some() {
                issues.push(here(&[field], needs_serve(field)));
            }
        }
        common.every = None;
        common.cron = None;
    }
    if let Some(retry) = &common.retry
        && let (Some(initial), Some(max)) = (retry.initial, retry.max)
        && max.0 < initial.0
    {
        issues.push(here(
            &["retry", "max"],
            format!(
                "retry.max ({}) is less than retry.initial ({})",
                format_duration(max.0),
                format_duration(initial.0)
            ),
        ));
    }
    Defaults { common }
}

fn both(a: &str, b: &str) -> String {
    format!("`{a}` and `{b}` cannot both be set; keep one")
}

fn needs_serve(field: &str) -> String {
    format!(
        "`{field}` makes a periodic job, which needs `conveyor serve`; \
         `run` and `validate` take one-shot jobs only"
    )
}

/// An issue at the member reached by `keys` from `node` (or at `node` if there is none).
pub(crate) fn issue_at(node: &Node<'_>, path: &PathCtx<'_>, keys: &[&str], message: String) -> Issue {
    let mut segments = path.segments();
    let at = match node.find(keys) {
        Some(member) => {
            segments.extend(keys.iter().map(|k| Segment::Key((*k).to_owned())));
            member.value.start
        }
        None => node.start,
    };
    Issue { at, path: segments, message }
}

/// A job resolved from its file, before the loader gives it an id when it has none.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) spec: JobSpec,
    /// Offset of the explicit id's value, or of the job.
    pub(crate) id_at: usize,
}

/// Applies `defaults` to a job and checks the rules that span fields.
#[allow(clippy::too_many_arguments)]
pub(crate) fn job(
    own: CommonWire,
    kind: JobKind,
    defaults: &Defaults,
    node: &Node<'_>,
    path: &PathCtx<'_>,
    allow_periodic: bool,
    file: &Arc<Path>,
    origin: (usize, usize),
) -> Result<Resolved, Vec<Issue>> {
    let mut issues = Vec::new();
    let here = |keys: &[&str], message: String| -> Issue { issue_at(node, path, keys, message) };
    let d = &defaults.common;

    if own.delay.is_some() && own.not_before.is_some() {
        issues.push(here(&["not_before"], both("delay", "not_before")));
    }
    if own.every.is_some() && own.cron.is_some() {
        issues.push(here(&["cron"], both("every", "cron")));
    }
    if !allow_periodic {
        for field in ["every", "cron"] {
            if node.member(field).is_some() {
                issues.push(here(&[field], needs_serve(field)));
            }
        }
    }

    let (_, _, retry) = merge(&own, d, allow_periodic);
    let empty = RetryWire::default();
    let own_retry = own.retry.as_ref().unwrap_or(&empty);
    if let (Some(initial), Some(max)) = (retry.initial, retry.max) {
        // Both from `defaults`: already reported once there.
        if max < initial && (own_retry.initial.is_some() || own_retry.max.is_some()) {
            let (i, m) = (format_duration(initial), format_duration(max));
            issues.push(if own_retry.max.is_some() {
                let from = if own_retry.initial.is_some() { "" } else { ", from defaults" };
                here(&["retry", "max"], format!("retry.max ({m}) is less than retry.initial ({i}{from})"))
            } else {
                here(
                    &["retry", "initial"],
                    format!("retry.initial ({i}) is more than retry.max ({m}, from defaults)"),
                )
            });
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }

    let id_at = node.member("id").map_or(node.start, |m| m.value.start);
    Ok(Resolved { spec: build(own, kind, defaults, allow_periodic, file, origin), id_at })
}

/// The job's start, schedule and retry settings, its own merged over the defaults.
fn merge(
    own: &CommonWire,
    d: &CommonWire,
    allow_periodic: bool,
) -> (Option<StartAt>, Option<Schedule>, RetrySpec) {
    let start = match (own.delay, own.not_before) {
        (Some(delay), _) => Some(StartAt::Delay(delay.0)),
        (None, Some(t)) => Some(StartAt::NotBefore(t.0)),
        (None, None) => match (d.delay, d.not_before) {
            (Some(delay), _) => Some(StartAt::Delay(delay.0)),
            (None, Some(t)) => Some(StartAt::NotBefore(t.0)),
            (None, None) => None,
        },
    };
    let schedule = if !allow_periodic {
        None
    } else {
        match (own.every, &own.cron) {
            (Some(every), _) => Some(Schedule::Every(every.0)),
            (None, Some(cron)) => Some(Schedule::Cron(cron.0.clone())),
            (None, None) => match (d.every, &d.cron) {
                (Some(every), _) => Some(Schedule::Every(every.0)),
                (None, Some(cron)) => Some(Schedule::Cron(cron.0.clone())),
                (None, None) => None,
            },
        }
    };
    let empty = RetryWire::default();
    let own_retry = own.retry.as_ref().unwrap_or(&empty);
    let default_retry = d.retry.as_ref().unwrap_or(&empty);
    let retry = RetrySpec {
        max_attempts: own_retry.max_attempts.or(default_retry.max_attempts).map(|a| a.0),
        backoff: own_retry.backoff.or(default_retry.backoff),
        initial: own_retry.initial.or(default_retry.initial).map(|x| x.0),
        max: own_retry.max.or(default_retry.max).map(|x| x.0),
        jitter: own_retry.jitter.or(default_retry.jitter),
    };
    (start, schedule, retry)
}

/// The [`JobSpec`] of a job that passed [`job`]'s checks (or the JSON Lines fast path's,
/// which takes only jobs those checks cannot fault): defaults merged, `spec_hash` still
/// empty (the caller hashes the spec when it needs the hash; see `SourceCtx::hash`).
pub(crate) fn build(
    own: CommonWire,
    kind: JobKind,
    defaults: &Defaults,
    allow_periodic: bool,
    file: &Arc<Path>,
    origin: (usize, usize),
) -> JobSpec {
    let d = &defaults.common;
    let (start, schedule, retry) = merge(&own, d, allow_periodic);
    let explicit = own.id.map(|id| id.0);
    JobSpec {
        id_generated: explicit.is_none(),
        id: explicit.unwrap_or_default(),
        name: own.name.or_else(|| d.name.clone()),
        priority: own.priority.or(d.priority).map_or(0, |p| p.0),
        timeout: own.timeout.or(d.timeout).map(|t| t.0),
        retry,
        start,
        concurrency_key: own.concurrency_key.or_else(|| d.concurrency_key.clone()).map(|k| k.0),
        rate_key: own.rate_key.or_else(|| d.rate_key.clone()).map(|k| k.0),
        queue: own.queue.or_else(|| d.queue.clone()).map(|k| k.0),
        schedule,
        kind,
        spec_hash: super::SpecHash::default(),
        origin: Origin { path: Arc::clone(file), line: origin.0, column: origin.1 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::json;

    fn resolve(defaults_text: &str, job_text: &str, periodic: bool) -> Result<JobSpec, Vec<String>> {
        let d_tree = json::parse(defaults_text).unwrap();
        let mut issues = Vec::new();
        let d = defaults(&d_tree.root, &PathCtx::ROOT, periodic, &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        let tree = json::parse(job_text).unwrap();
        let Some(json::Value::String(kind)) = tree.root.member("kind").map(|m| &m.value.value) else {
            panic!("no kind")
        };
        let (common, kind) = wire::job_from_node(kind, &tree.root, &PathCtx::ROOT)
            .unwrap()
            .map_err(|e| vec![e.to_string()])?;
        let file: Arc<Path> = Path::new("t.json").into();
        job(common, kind, &d, &tree.root, &PathCtx::ROOT, periodic, &file, (1, 1))
            .map(|r| r.spec)
            .map_err(|issues| issues.into_iter().map(|i| i.message).collect())
    }

    #[test]
    fn job_fields_win_over_defaults() {
        let job = resolve(
            r#"{"priority": 5, "timeout": "10s", "name": "d", "concurrency_key": "db"}"#,
            r#"{"kind": "noop", "priority": -1}"#,
            false,
        )
        .unwrap();
        assert_eq!(job.priority, -1);
        assert_eq!(job.timeout, Some(std::time::Duration::from_secs(10)));
        assert_eq!(job.name.as_deref(), Some("d"));
        assert_eq!(job.concurrency_key.as_deref(), Some("db"));
    }

    #[test]
    fn retry_merges_field_by_field() {
        let job = resolve(
            r#"{"retry": {"max_attempts": 2, "backoff": "fixed", "initial": "1s"}}"#,
            r#"{"kind": "noop", "retry": {"max_attempts": 5, "max": "10s"}}"#,
            false,
        )
        .unwrap();
        assert_eq!(job.retry.max_attempts, Some(5));
        assert_eq!(job.retry.backoff, Some(crate::spec::Backoff::Fixed));
        assert_eq!(job.retry.initial, Some(std::time::Duration::from_secs(1)));
        assert_eq!(job.retry.max, Some(std::time::Duration::from_secs(10)));
    }

    #[test]
    fn start_and_schedule_are_single_settings() {
        let job = resolve(
            r#"{"delay": "5s", "every": "1m"}"#,
            r#"{"kind": "noop", "not_before": "2030-01-01T00:00:00Z", "cron": "0 * * * *"}"#,
            true,
        )
        .unwrap();
        assert!(matches!(job.start, Some(StartAt::NotBefore(_))));
        assert_eq!(job.schedule, Some(Schedule::Cron("0 * * * *".into())));
    }

    #[test]
    fn mixed_retry_bounds_are_checked_after_merging() {
        let errors =
            resolve(r#"{"retry": {"max": "1s"}}"#, r#"{"kind": "noop", "retry": {"initial": "5s"}}"#, false)
                .unwrap_err();
        assert_eq!(errors, ["retry.initial (5s) is more than retry.max (1s, from defaults)"]);
    }

    #[test]
    fn periodic_fields_need_serve() {
        let errors = resolve("{}", r#"{"kind": "noop", "every": "1m"}"#, false).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("needs `conveyor serve`"), "{errors:?}");
    }
}

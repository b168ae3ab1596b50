//! The canonical JSON writer behind [`spec_hash`](super::spec_hash).
//!
//! It writes straight into a `String`: no intermediate `serde_json::Value`, no sorting of the
//! common fields, which are written in key byte order by construction ([`KEY_ORDER`]). A
//! kind's parameters come from its `canonical` hook (through the kind table) as [`Params`],
//! kept in key byte order as they are pushed, and are merged in among the common fields as
//! the members are written. A proptest (in `tests.rs`) checks the bytes against a
//! `Value`-based writer, and pinned hashes check them against the first implementation.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use smallvec::SmallVec;

use crate::spec::duration::format_duration;
use crate::spec::job::{JobSpec, RetrySpec, Schedule, StartAt};

/// Version of the canonical form; bumped if what the hash covers ever changes.
pub(super) const CANONICAL_VERSION: u64 = 1;

/// One kind parameter's value, as the canonical form writes it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    /// A JSON string.
    Str(&'a str),
    /// A string in [`format_duration`]'s form.
    Duration(Duration),
    /// A whole number.
    Int(u64),
    /// A number as serde_json writes an `f64` (`null` if not finite).
    Float(f64),
    /// An array of strings.
    List(&'a [String]),
    /// An object of strings, in key byte order (a `BTreeMap`'s order).
    Map(&'a BTreeMap<String, String>),
    /// A path, as text (lossily).
    Path(&'a Path),
}

impl Param<'_> {
    fn write(self, out: &mut String) {
        match self {
            Param::Str(s) => write_string(s, out),
            Param::Duration(d) => write_string(&format_duration(d), out),
            Param::Int(n) => out.push_str(itoa::Buffer::new().format(n)),
            Param::Float(x) => out.push_str(&Value::from(x).to_string()),
            Param::List(items) => list(items, out),
            Param::Map(m) => map(m, out),
            Param::Path(p) => write_string(&p.to_string_lossy(), out),
        }
    }
}

/// A kind's parameters in canonical form, as its `canonical` hook pushes them: the set
/// ones only (an absent optional parameter is left out), any order.
#[derive(Debug, Default)]
pub(crate) struct Params<'a> {
    /// In key byte order.
    items: SmallVec<[(&'static str, Param<'a>); 6]>,
}

impl<'a> Params<'a> {
    /// Adds parameter `key` (a field name of the kind's wire struct) with `value`.
    pub(crate) fn push(&mut self, key: &'static str, value: Param<'a>) {
        let at =
            self.items.iter().position(|(k, _)| k.as_bytes() > key.as_bytes()).unwrap_or(self.items.len());
        self.items.insert(at, (key, value));
    }

    /// Adds `key` when `value` is set.
    pub(crate) fn push_some(&mut self, key: &'static str, value: Option<Param<'a>>) {
        if let Some(value) = value {
            self.push(key, value);
        }
    }

    /// The keys pushed, in byte order.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> Vec<&'static str> {
        self.items.iter().map(|(k, _)| *k).collect()
    }
}

/// Writes the canonical JSON of `job` into `out`; the id only when `with_id`.
pub(super) fn write_canonical_job(job: &JobSpec, with_id: bool, out: &mut String) {
    let mut params = Params::default();
    crate::kind::canonical_params(&job.kind, &mut params);
    let (delay, not_before) = match job.start {
        Some(StartAt::Delay(d)) => (Some(d), None),
        Some(StartAt::NotBefore(t)) => (None, Some(t)),
        None => (None, None),
    };
    let (every, cron) = match &job.schedule {
        Some(Schedule::Every(d)) => (Some(*d), None),
        Some(Schedule::Cron(c)) => (None, Some(c.as_str())),
        None => (None, None),
    };

    let mut w = Members::new(out, &params.items);
    if let Some(key) = &job.concurrency_key {
        w.key("concurrency_key");
        write_string(key, w.out);
    }
    if let Some(cron) = cron {
        w.key("cron");
        write_string(cron, w.out);
    }
    if let Some(d) = delay {
        w.key("delay");
        write_string(&format_duration(d), w.out);
    }
    if let Some(d) = every {
        w.key("every");
        write_string(&format_duration(d), w.out);
    }
    if with_id {
        w.key("id");
        write_string(&job.id, w.out);
    }
    w.key("kind");
    write_string(job.kind.name(), w.out);
    if let Some(name) = &job.name {
        w.key("name");
        write_string(name, w.out);
    }
    if let Some(t) = not_before {
        w.key("not_before");
        let t: DateTime<Utc> = t.into();
        write_string(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true), w.out);
    }
    w.key("priority");
    w.out.push_str(itoa::Buffer::new().format(job.priority));
    if let Some(key) = &job.rate_key {
        w.key("rate_key");
        write_string(key, w.out);
    }
    if !job.retry.is_empty() {
        w.key("retry");
        retry(&job.retry, w.out);
    }
    if let Some(t) = job.timeout {
        w.key("timeout");
        write_string(&format_duration(t), w.out);
    }
    w.key("v");
    w.out.push_str(itoa::Buffer::new().format(CANONICAL_VERSION));
    w.finish();
}

/// The common keys in the order [`write_canonical_job`] writes them.
#[cfg(test)]
pub(super) const KEY_ORDER: &[&str] = &[
    "concurrency_key",
    "cron",
    "delay",
    "every",
    "id",
    "kind",
    "name",
    "not_before",
    "priority",
    "rate_key",
    "retry",
    "timeout",
    "v",
];

/// Writes an object's `{`, then `,` between members, and the kind's parameters (`pending`,
/// in key byte order) each before the first member whose key is greater.
struct Members<'o, 'p> {
    out: &'o mut String,
    first: bool,
    pending: &'p [(&'static str, Param<'p>)],
}

impl<'o, 'p> Members<'o, 'p> {
    fn new(out: &'o mut String, pending: &'p [(&'static str, Param<'p>)]) -> Self {
        out.push('{');
        Members { out, first: true, pending }
    }

    /// `"key":` (canonical keys need no escaping), after the parameters that sort before it.
    fn key(&mut self, key: &str) {
        while let Some((&(k, value), rest)) = self.pending.split_first()
            && k.as_bytes() < key.as_bytes()
        {
            self.pending = rest;
            self.raw_key(k);
            value.write(self.out);
        }
        self.raw_key(key);
    }

    fn raw_key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    /// The parameters left (keys after the last member), and `}`.
    fn finish(mut self) {
        for &(k, value) in self.pending {
            self.raw_key(k);
            value.write(self.out);
        }
        self.out.push('}');
    }
}

fn list(items: &[String], out: &mut String) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(s, out);
    }
    out.push(']');
}

/// A `BTreeMap<String, _>` iterates in key byte order: the canonical order.
fn map(map: &BTreeMap<String, String>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_string(v, out);
    }
    out.push('}');
}

/// `retry`'s set parts, keys in byte order: backoff, initial, jitter, max, max_attempts.
fn retry(r: &RetrySpec, out: &mut String) {
    let mut w = Members::new(out, &[]);
    if let Some(b) = r.backoff {
        w.key("backoff");
        write_string(b.as_str(), w.out);
    }
    if let Some(d) = r.initial {
        w.key("initial");
        write_string(&format_duration(d), w.out);
    }
    if let Some(j) = r.jitter {
        w.key("jitter");
        w.out.push_str(if j { "true" } else { "false" });
    }
    if let Some(d) = r.max {
        w.key("max");
        write_string(&format_duration(d), w.out);
    }
    if let Some(n) = r.max_attempts {
        w.key("max_attempts");
        w.out.push_str(itoa::Buffer::new().format(n));
    }
    w.finish();
}

/// Writes `s` as a JSON string, escaped exactly as serde_json does.
fn write_string(s: &str, out: &mut String) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&Value::from(s).to_string());
    }
}

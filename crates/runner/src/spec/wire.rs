//! The wire format: job-file structs exactly as written, deserialized by serde and described
//! by schemars, so the parser and `conveyor schema` cannot drift apart.
//!
//! Each value type checks itself while it is deserialized (a duration parses, a probability
//! is within 0..=1, a URL is http(s)), so its error is located at the value; cross-field
//! rules (`delay` with `not_before`, defaults merging) live in [`super::resolve`].
//!
//! serde cannot combine `#[serde(flatten)]` with `deny_unknown_fields`, and a job is one flat
//! object (common fields + its kind's parameters) in which unknown fields are errors. So the
//! [`jobs!`] macro writes one flat struct per kind, repeating the common fields, plus the
//! `kind`-tagged enum the schema is derived from.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use smol_str::SmolStr;

use super::duration::parse_duration;
use super::file::Rate;
use super::job::{Backoff, JobKind};

/// Implements `JsonSchema` for a newtype with a fixed, inlined schema.
macro_rules! schema {
    ($ty:ty, $name:literal, $schema:tt) => {
        impl JsonSchema for $ty {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

/// A visitor that accepts only strings, expecting `$what`.
fn string<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<String, D::Error> {
    struct V(&'static str);
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    d.deserialize_str(V(what))
}

/// A visitor that accepts only whole numbers, expecting `$what`.
fn integer<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<i128, D::Error> {
    struct V(&'static str);
    impl Visitor<'_> for V {
        type Value = i128;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i128, E> {
            Ok(v.into())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i128, E> {
            Ok(v.into())
        }
    }
    d.deserialize_i64(V(what))
}

fn in_range<E: de::Error, T: TryFrom<i128>>(
    value: i128,
    min: i128,
    max: i128,
    message: impl FnOnce() -> String,
) -> Result<T, E> {
    if value < min || value > max {
        return Err(E::custom(message()));
    }
    T::try_from(value).map_err(|_| E::custom(message()))
}

/// A duration string, zero or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dur(pub(crate) Duration);

const DURATION_EXPECTED: &str = "a duration string such as \"30s\" or \"1m30s\"";
const DURATION_PATTERN: &str = r"^\s*([0-9]+(\.[0-9]+)?\s*[a-zA-Zµ]+\s*)+$";

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d, DURATION_EXPECTED)?;
        parse_duration(&text)
            .map(Dur)
            .map_err(|reason| de::Error::custom(format!("invalid duration `{text}`: {reason}")))
    }
}

schema!(Dur, "Duration", {
    "type": "string",
    "description": "A duration: numbers with units, e.g. \"250ms\", \"30s\", \"1m30s\", \"2h\".",
    "pattern": DURATION_PATTERN,
    "examples": ["250ms", "30s", "1m30s"]
});

/// A duration string greater than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PositiveDur(pub(crate) Duration);

impl<'de> Deserialize<'de> for PositiveDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d, DURATION_EXPECTED)?;
        match parse_duration(&text) {
            Ok(Duration::ZERO) => Err(de::Error::custom(format!("must be greater than zero (got `{text}`)"))),
            Ok(duration) => Ok(PositiveDur(duration)),
            Err(reason) => Err(de::Error::custom(format!("invalid duration `{text}`: {reason}"))),
        }
    }
}

schema!(PositiveDur, "PositiveDuration", {
    "type": "string",
    "description": "A duration greater than zero, e.g. \"30s\", \"1m30s\".",
    "pattern": DURATION_PATTERN,
    "examples": ["30s", "5m"]
});

/// An RFC 3339 timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp(pub(crate) SystemTime);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d, "an RFC 3339 timestamp such as \"2025-06-01T12:00:00Z\"")?;
        match chrono::DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) => Ok(Timestamp(SystemTime::from(t))),
            // chrono's reasons ("premature end of input") say little to people.
            Err(_) => Err(de::Error::custom(format!(
                "invalid timestamp `{text}`: expected RFC 3339, such as \
                 \"2025-06-01T12:00:00Z\" or \"2025-06-01T14:00:00+02:00\""
            ))),
        }
    }
}

schema!(Timestamp, "Timestamp", {
    "type": "string",
    "format": "date-time",
    "description": "An RFC 3339 timestamp, e.g. \"2025-06-01T12:00:00Z\"."
});

/// A cron expression `croner` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CronExpr(pub(crate) String);

impl<'de> Deserialize<'de> for CronExpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d, "a cron expression such as \"*/5 * * * *\"")?;
        match text.parse::<croner::Cron>() {
            Ok(_) => Ok(CronExpr(text.trim().to_owned())),
            Err(e) => {
                // croner says "Component error: Number out of bounds."; we say it lowercase.
                let reason = e.to_string();
                let reason = reason
                    .trim_end_matches('.')
                    .split(": ")
                    .map(|part| {
                        let mut chars = part.chars();
                        chars
                            .next()
                            .map(|c| c.to_lowercase().chain(chars).collect::<String>())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(": ");
                Err(de::Error::custom(format!("invalid cron expression `{text}`: {reason}")))
            }
        }
    }
}

schema!(CronExpr, "CronExpression", {
    "type": "string",
    "description": "A cron expression: 5 fields (minute hour day-of-month month day-of-week), \
                    or 6 with seconds first, e.g. \"*/5 * * * *\".",
    "examples": ["*/5 * * * *", "0 3 * * MON-FRI"]
});

/// A job id: 1 to 256 bytes, no control characters. Inline up to 23 bytes (no allocation,
/// nothing for the ledger thread to free); longer ones are shared, so that the spec, the
/// ledger and the pool job all hold one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobId(pub(crate) SmolStr);

/// Why `id` is not a valid job id, if it is not (the rules of [`JobId`]).
pub(crate) fn job_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("id must not be empty")
    } else if id.len() > 256 {
        Some("id is too long (at most 256 bytes)")
    } else if has_control(id) {
        Some("id must not contain control characters")
    } else {
        None
    }
}

/// Whether `s` has a control character (`char::is_control`: C0, DEL and C1). Byte by byte
/// for ASCII (every id in practice), where decoding characters cost ~5x more.
fn has_control(s: &str) -> bool {
    if s.is_ascii() { s.bytes().any(|b| b < 0x20 || b == 0x7f) } else { s.chars().any(char::is_control) }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SmolStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SmolStr, E> {
                match job_id_problem(v) {
                    Some(problem) => Err(E::custom(problem)),
                    None => Ok(SmolStr::new(v)),
                }
            }
        }
        d.deserialize_str(V).map(JobId)
    }
}

schema!(JobId, "JobId", {
    "type": "string",
    "minLength": 1,
    "maxLength": 256,
    "description": "Unique across everything loaded together. Generated when absent: \
                    `<file stem>-<12 hex digits of the spec hash>`."
});

/// A non-empty string without NUL bytes (program, script, cwd, concurrency key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NonEmpty(pub(crate) String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = string(d, "a non-empty string")?;
        if s.trim().is_empty() {
            Err(de::Error::custom("must not be empty"))
        } else if s.contains('\0') {
            Err(de::Error::custom("must not contain NUL characters"))
        } else {
            Ok(NonEmpty(s))
        }
    }
}

schema!(NonEmpty, "NonEmptyString", { "type": "string", "minLength": 1 });

/// A string without NUL bytes (a program argument or environment value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoNul(pub(crate) String);

impl<'de> Deserialize<'de> for NoNul {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = string(d, "a string")?;
        if s.contains('\0') {
            Err(de::Error::custom("must not contain NUL characters"))
        } else {
            Ok(NoNul(s))
        }
    }
}

schema!(NoNul, "String", { "type": "string" });

/// A job priority (`i32`, lower runs first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Priority(pub(crate) i32);

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = integer(d, "an integer priority (lower runs first)")?;
        in_range(n, i32::MIN.into(), i32::MAX.into(), || {
            format!("priority {n} is out of range ({} to {})", i32::MIN, i32::MAX)
        })
        .map(Priority)
    }
}

schema!(Priority, "Priority", {
    "type": "integer",
    "minimum": i32::MIN,
    "maximum": i32::MAX,
    "default": 0,
    "description": "Lower runs first; negative allowed. Default 0."
});

/// `retry.max_attempts`: at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attempts(pub(crate) u32);

impl<'de> Deserialize<'de> for Attempts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = integer(d, "a whole number of attempts (at least 1)")?;
        if n < 1 {
            return Err(de::Error::custom(format!("must be at least 1 (got {n}); 1 means no retries")));
        }
        in_range(n, 1, u32::MAX.into(), || format!("{n} attempts is too many (at most {})", u32::MAX))
            .map(Attempts)
    }
}

schema!(Attempts, "Attempts", {
    "type": "integer",
    "minimum": 1,
    "maximum": u32::MAX,
    "description": "Attempts in all, the first included; 1 means no retries."
});

/// `cpu.rounds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rounds(pub(crate) u64);

impl<'de> Deserialize<'de> for Rounds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = integer(d, "a whole number of rounds")?;
        if n < 0 {
            return Err(de::Error::custom(format!("must not be negative (got {n})")));
        }
        in_range(n, 0, u64::MAX.into(), || format!("{n} rounds is too many")).map(Rounds)
    }
}

schema!(Rounds, "Rounds", { "type": "integer", "minimum": 0 });

/// A concurrency limit: at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit(pub(crate) u32);

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = integer(d, "a whole number of concurrent jobs (at least 1)")?;
        if n < 1 {
            return Err(de::Error::custom(format!(
                "a concurrency limit must be at least 1 (got {n}); leave the key out for no limit"
            )));
        }
        in_range(n, 1, u32::MAX.into(), || {
            format!("concurrency limit {n} is too large (at most {})", u32::MAX)
        })
        .map(Limit)
    }
}

schema!(Limit, "ConcurrencyLimit", {
    "type": "integer",
    "minimum": 1,
    "maximum": u32::MAX,
    "description": "At most this many jobs with the key run at once."
});

/// `fail.probability`: 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Probability(pub(crate) f64);

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&p) {
            Ok(Probability(p))
        } else {
            Err(de::Error::custom(format!("probability must be between 0 and 1 (got {p})")))
        }
    }
}

schema!(Probability, "Probability", {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "default": 1,
    "description": "Chance of failing, 0 to 1. Default 1 (always fails)."
});

/// `http.expect_status`: 100 to 599.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status(pub(crate) u16);

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = integer(d, "an HTTP status code such as 200")?;
        in_range(n, 100, 599, || format!("{n} is not an HTTP status code (100 to 599)")).map(Status)
    }
}

schema!(Status, "StatusCode", {
    "type": "integer",
    "minimum": 100,
    "maximum": 599,
    "description": "The status that counts as success. When absent, any 2xx does."
});

/// `http.method`: an HTTP token, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Method(pub(crate) String);

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = string(d, "an HTTP method such as \"GET\"")?;
        if is_token(&m) {
            Ok(Method(m.to_ascii_uppercase()))
        } else {
            Err(de::Error::custom(format!("invalid HTTP method `{m}`")))
        }
    }
}

schema!(Method, "HttpMethod", {
    "type": "string",
    "default": "GET",
    "examples": ["GET", "POST", "PUT", "DELETE"]
});

/// `http.url`: an absolute `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl(pub(crate) String);

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d, "an http or https URL")?;
        match url::Url::parse(&text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(HttpUrl(u.into())),
            Ok(u) => Err(de::Error::custom(format!(
                "unsupported URL scheme `{}` in `{text}` (use http or https)",
                u.scheme()
            ))),
            Err(e) => Err(de::Error::custom(format!("invalid URL `{text}`: {e}"))),
        }
    }
}

schema!(HttpUrl, "HttpUrl", {
    "type": "string",
    "format": "uri",
    "pattern": "^[hH][tT][tT][pP][sS]?://"
});

/// `http.headers`: names are HTTP tokens (lower-cased, case-insensitively unique), values
/// have no line breaks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Headers(pub(crate) BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of header names and string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(HeaderName(name)) = map.next_key()? {
                    let NoBreak(value) = map.next_value()?;
                    if out.insert(name.clone(), value).is_some() {
                        return Err(de::Error::custom(format!(
                            "header `{name}` is given twice (header names ignore case)"
                        )));
                    }
                }
                Ok(Headers(out))
            }
        }
        d.deserialize_map(V)
    }
}

schema!(Headers, "Headers", {
    "type": "object",
    "additionalProperties": { "type": "string" },
    "propertyNames": { "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }
});

struct HeaderName(String);

impl<'de> Deserialize<'de> for HeaderName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = string(d, "a header name")?;
        if is_token(&name) {
            Ok(HeaderName(name.to_ascii_lowercase()))
        } else {
            Err(de::Error::custom(format!("invalid header name `{name}`")))
        }
    }
}

struct NoBreak(String);

impl<'de> Deserialize<'de> for NoBreak {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = string(d, "a string header value")?;
        if value.contains(['\r', '\n', '\0']) {
            Err(de::Error::custom("header values must not contain line breaks or NUL characters"))
        } else {
            Ok(NoBreak(value))
        }
    }
}

/// `exec.env`: names non-empty without `=`, values without NUL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Env(pub(crate) BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Env {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Env;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of variable names and string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Env, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(EnvName(name)) = map.next_key()? {
                    let NoNul(value) = map.next_value()?;
                    out.insert(name, value);
                }
                Ok(Env(out))
            }
        }
        d.deserialize_map(V)
    }
}

schema!(Env, "Environment", {
    "type": "object",
    "additionalProperties": { "type": "string" },
    "propertyNames": { "pattern": "^[^=\\u0000]+$" }
});

struct EnvName(String);

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = string(d, "a variable name")?;
        if name.is_empty() || name.contains(['=', '\0']) {
            Err(de::Error::custom(format!("invalid environment variable name `{name}`")))
        } else {
            Ok(EnvName(name))
        }
    }
}

/// A rate limit, `"N/PERIOD"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateWire(pub(crate) Rate);

impl<'de> Deserialize<'de> for RateWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d, "a rate such as \"10/1s\"")?;
        Rate::parse(&text)
            .map(RateWire)
            .map_err(|reason| de::Error::custom(format!("invalid rate `{text}`: {reason}")))
    }
}

schema!(RateWire, "Rate", {
    "type": "string",
    "description": "N starts per PERIOD: \"N/PERIOD\", e.g. \"10/1s\", \"100/1m\" (N at least 1).",
    "pattern": r"^\s*[0-9]+\s*/\s*.+$",
    "examples": ["10/1s", "100/1m"]
});

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
    pub(crate) queue: Option<NonEmpty>,
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
    "queue",
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
    /// The PostgreSQL queue's named queue (default `default`); in-memory runs ignore it.
    pub(crate) queue: Option<NonEmpty>,
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
            queue: self.queue,
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

/// Writes one flat struct per kind (the common fields, then the kind's parameters), the
/// schema enum over them, and the parameter-name lists.
macro_rules! jobs {
    ($(
        $(#[$kind_doc:meta])*
        $Variant:ident($Wire:ident) = $tag:literal {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        } => |$params:ident| $to_kind:expr;
    )*) => {
        $(
            $(#[$kind_doc])*
            #[derive(Debug, Clone, Deserialize, JsonSchema)]
            #[serde(deny_unknown_fields)]
            pub(crate) struct $Wire {
                /// Unique across everything loaded together; generated when absent.
                pub(crate) id: Option<JobId>,
                /// A name for people (logs, ledger).
                pub(crate) name: Option<String>,
                /// Lower runs first; negative allowed. Default 0.
                pub(crate) priority: Option<Priority>,
                /// Time limit for each attempt, e.g. "30s".
                pub(crate) timeout: Option<PositiveDur>,
                /// Retry settings.
                pub(crate) retry: Option<RetryWire>,
                /// Wait this long after loading before the first attempt (not with `not_before`).
                pub(crate) delay: Option<Dur>,
                /// Do not start before this instant, RFC 3339 (not with `delay`).
                pub(crate) not_before: Option<Timestamp>,
                /// Jobs with the same key obey that key's `limits`; no limit when none is set.
                pub(crate) concurrency_key: Option<NonEmpty>,
                /// The key whose `limits.rate` applies to the job; without it, the
                /// `concurrency_key` carries both limits.
                pub(crate) rate_key: Option<NonEmpty>,
                /// The PostgreSQL queue's named queue (default `default`); in-memory runs
                /// ignore it.
                pub(crate) queue: Option<NonEmpty>,
                /// `conveyor serve` only: run every period (not with `cron`).
                pub(crate) every: Option<PositiveDur>,
                /// `conveyor serve` only: run on a cron expression (not with `every`).
                pub(crate) cron: Option<CronExpr>,
                $( $(#[$field_meta])* pub(crate) $field: $ty, )*
            }

            impl $Wire {
                /// Splits the job into its common fields and its kind.
                pub(crate) fn split(self) -> (CommonWire, JobKind) {
                    let common = CommonWire {
                        id: self.id,
                        name: self.name,
                        priority: self.priority,
                        timeout: self.timeout,
                        retry: self.retry,
                        delay: self.delay,
                        not_before: self.not_before,
                        concurrency_key: self.concurrency_key,
                        rate_key: self.rate_key,
                        queue: self.queue,
                        every: self.every,
                        cron: self.cron,
                    };
                    #[allow(unused_variables)]
                    let $params = ($(self.$field,)*);
                    (common, $to_kind)
                }
            }
        )*

        /// One job: its `kind` picks which parameters it takes; the common fields go with every
        /// kind. (Schema only: the parser dispatches on `kind` itself, so that errors keep their
        /// positions.)
        #[derive(JsonSchema)]
        #[serde(tag = "kind", rename_all = "lowercase")]
        #[schemars(
            rename = "Job",
            description = "One job: `kind` picks which parameters it takes, besides the common \
                           fields every job may have."
        )]
        #[allow(dead_code)]
        pub(crate) enum JobWire {
            $( $(#[$kind_doc])* $Variant($Wire), )*
        }

        /// The parameter names of `kind`.
        pub(crate) fn kind_fields(kind: &str) -> &'static [&'static str] {
            match kind {
                $( $tag => &[$(stringify!($field)),*], )*
                _ => &[],
            }
        }

        /// Deserializes a job of `kind` from any deserializer that hides the `kind` member
        /// (the JSON Lines fast path's).
        pub(crate) fn job_from_de<'de, D: Deserializer<'de>>(
            kind: &str,
            d: D,
        ) -> Option<Result<(CommonWire, JobKind), D::Error>> {
            match kind {
                $( $tag => Some(<$Wire as Deserialize<'de>>::deserialize(d).map($Wire::split)), )*
                _ => None,
            }
        }

        /// As [`job_from_de`], for the check pass, which keeps nothing of a valid job: builds
        /// no spec parts, only says whether the job sets both `delay` and `not_before` (an
        /// error the full parser words).
        pub(crate) fn job_check_de<'de, D: Deserializer<'de>>(
            kind: &str,
            d: D,
        ) -> Option<Result<bool, D::Error>> {
            match kind {
                $( $tag => Some(
                    <$Wire as Deserialize<'de>>::deserialize(d)
                        .map(|w| w.delay.is_some() && w.not_before.is_some())
                ), )*
                _ => None,
            }
        }

        /// Deserializes a job of `kind` from its node (without the `kind` member).
        pub(crate) fn job_from_node(
            kind: &str,
            node: &super::json::Node<'_>,
            path: &super::de::PathCtx<'_>,
        ) -> Option<Result<(CommonWire, JobKind), super::de::DeError>> {
            match kind {
                $( $tag => Some(
                    super::de::from_node::<$Wire>(node, path, &["kind"]).map($Wire::split)
                ), )*
                _ => None,
            }
        }
    };
}

jobs! {
    /// `sleep`: wait for `duration` (simulated I/O).
    Sleep(SleepWire) = "sleep" {
        /// How long to sleep, e.g. "250ms".
        duration: Dur,
    } => |p| JobKind::Sleep { duration: p.0.0 };

    /// `exec`: run `program` with `args`, without a shell.
    Exec(ExecWire) = "exec" {
        /// The program to run (looked up in PATH when it has no `/`).
        program: NonEmpty,
        /// Its arguments.
        #[serde(default)]
        args: Vec<NoNul>,
        /// Environment variables to add.
        #[serde(default)]
        env: Env,
        /// Working directory.
        cwd: Option<NonEmpty>,
    } => |p| JobKind::Exec {
        program: p.0.0,
        args: p.1.into_iter().map(|a| a.0).collect(),
        env: p.2.0,
        cwd: p.3.map(|c| c.0.into()),
    };

    /// `shell`: run `script` with `sh -c` (only with `--allow-shell`).
    Shell(ShellWire) = "shell" {
        /// The shell script.
        script: NonEmpty,
    } => |p| JobKind::Shell { script: p.0.0 };

    /// `http`: one HTTP request; success is `expect_status`, or any 2xx.
    Http(HttpWire) = "http" {
        /// The method; default "GET".
        method: Option<Method>,
        /// An http or https URL.
        url: HttpUrl,
        /// Request headers.
        #[serde(default)]
        headers: Headers,
        /// Request body.
        body: Option<String>,
        /// The status that counts as success; any 2xx when absent.
        expect_status: Option<Status>,
    } => |p| JobKind::Http {
        method: p.0.map_or_else(|| "GET".to_owned(), |m| m.0),
        url: p.1.0,
        headers: p.2.0,
        body: p.3,
        expect_status: p.4.map(|s| s.0),
    };

    /// `cpu`: CPU-bound hashing, `rounds` times.
    Cpu(CpuWire) = "cpu" {
        /// Hashing rounds.
        rounds: Rounds,
    } => |p| JobKind::Cpu { rounds: p.0.0 };

    /// `noop`: does nothing (throughput measurement).
    Noop(NoopWire) = "noop" {} => |p| JobKind::Noop;

    /// `fail`: fails with `probability` (default 1), with `message`.
    Fail(FailWire) = "fail" {
        /// Chance of failing, 0 to 1; default 1.
        probability: Option<Probability>,
        /// The error message.
        message: Option<String>,
    } => |p| JobKind::Fail {
        probability: p.0.map_or(1.0, |x| x.0),
        message: p.1,
    };
}

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::has_control;

    proptest! {
        #[test]
        fn has_control_agrees_with_char_is_control(s in prop_oneof![
            any::<String>(),
            "[\\x00-\\x7f]{0,12}",
            "[a-z\u{7f}-\u{a0}é]{0,8}",
        ]) {
            prop_assert_eq!(has_control(&s), s.chars().any(char::is_control), "{:?}", s);
        }
    }
}

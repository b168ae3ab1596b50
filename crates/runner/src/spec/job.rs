//! [`JobSpec`] and its parts: what one job in a job file asks for, resolved and validated.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

/// One job, as a job file describes it: defaults applied, every value checked.
///
/// Made by [`parse_str`](super::parse_str), [`parse_bytes`](super::parse_bytes) or
/// [`Validated::jobs`](super::Validated::jobs). Optional fields are `None` when neither the
/// job nor its file's `defaults` set them; the runner fills those from its flags
/// (`--timeout`, `--max-attempts`) and its own defaults.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::spec::{parse_str, JobKind, ParseOptions};
///
/// let batch = parse_str(
///     "thumbs.json",
///     r#"{"defaults": {"timeout": "30s"},
///         "jobs": [{"id": "thumb-17", "kind": "exec", "priority": 2,
///                   "program": "convert", "args": ["in/17.png", "out/17.png"]}]}"#,
///     &ParseOptions::default(),
/// )
/// .unwrap();
/// let job = &batch.jobs[0];
/// assert_eq!(&*job.id, "thumb-17");
/// assert_eq!(job.priority, 2);
/// assert_eq!(job.timeout, Some(Duration::from_secs(30)));
/// assert!(matches!(&job.kind, JobKind::Exec { program, .. } if program == "convert"));
/// assert_eq!(job.spec_hash.len(), 64);
/// assert_eq!(job.origin.to_string(), "thumbs.json:2:18");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobSpec {
    /// Unique across everything loaded together. When the file gives none, it is generated:
    /// see [`id_generated`](Self::id_generated). Inline up to 23 bytes, shared beyond: a
    /// clone never copies a long id, and a short one costs no allocation.
    pub id: SmolStr,
    /// `true` when `id` was generated: `<file stem>-<first 12 hex digits of spec_hash>`, with
    /// `-2`, `-3`, … added for the second, third, … job with the same spec. It depends only
    /// on the file's name and the job's content, so reordering a file keeps every id.
    pub id_generated: bool,
    /// A name for people (logs, ledger), if given.
    pub name: Option<String>,
    /// Lower runs first; 0 when not given.
    pub priority: i32,
    /// Time limit for each attempt, if given (always greater than zero).
    pub timeout: Option<Duration>,
    /// Retry settings; each part is `None` when not given.
    pub retry: RetrySpec,
    /// When the first attempt may start, if not at once.
    pub start: Option<StartAt>,
    /// The key whose limits (`limits.concurrency` / `limits.rate`) the job obeys, if any.
    pub concurrency_key: Option<String>,
    /// The key whose `limits.rate` the job obeys instead of its `concurrency_key`'s, if any.
    pub rate_key: Option<String>,
    /// The PostgreSQL queue's named queue, if given (`default` when not); in-memory runs
    /// ignore it, and it is not part of the spec hash.
    pub queue: Option<String>,
    /// Run periodically (`conveyor serve` only; refused unless
    /// [`ParseOptions::allow_periodic`](super::ParseOptions::allow_periodic) is set).
    pub schedule: Option<Schedule>,
    /// What the job does.
    pub kind: JobKind,
    /// A hash of this spec, stable across key order, job order and formatting; see
    /// [`spec_hash`](super::spec_hash) for what it covers.
    pub spec_hash: super::SpecHash,
    /// Where the job is written (its opening `{`).
    pub origin: Origin,
}

impl JobSpec {
    /// The job's canonical JSON: what [`spec_hash`](Self::spec_hash) is the SHA-256 of.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{parse_str, ParseOptions};
    ///
    /// let batch = parse_str("a.jsonl", r#"{"timeout": "90s", "kind": "noop", "id": "n"}"#,
    ///                       &ParseOptions::default()).unwrap();
    /// assert_eq!(
    ///     batch.jobs[0].canonical_json(),
    ///     r#"{"id":"n","kind":"noop","priority":0,"timeout":"1m 30s","v":1}"#
    /// );
    /// ```
    pub fn canonical_json(&self) -> String {
        super::hash::canonical_json(self, !self.id_generated)
    }
}

/// Retry settings of a job. `None` parts fall back to the runner's defaults.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, Backoff, ParseOptions};
///
/// let batch = parse_str(
///     "r.json",
///     r#"{"defaults": {"retry": {"backoff": "exponential", "initial": "200ms"}},
///         "jobs": [{"kind": "noop", "retry": {"max_attempts": 3}}]}"#,
///     &ParseOptions::default(),
/// )
/// .unwrap();
/// let retry = &batch.jobs[0].retry;
/// assert_eq!(retry.max_attempts, Some(3));
/// assert_eq!(retry.backoff, Some(Backoff::Exponential)); // merged from defaults
/// assert_eq!(retry.jitter, None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RetrySpec {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: Option<u32>,
    /// How the wait between attempts grows.
    pub backoff: Option<Backoff>,
    /// The first wait between attempts.
    pub initial: Option<Duration>,
    /// The longest wait between attempts (never less than `initial` when both are set).
    pub max: Option<Duration>,
    /// Randomise each wait.
    pub jitter: Option<bool>,
}

impl RetrySpec {
    /// `true` when no part is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::RetrySpec;
    ///
    /// assert!(RetrySpec::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        *self == RetrySpec::default()
    }
}

/// How the wait between attempts grows: `"fixed"` or `"exponential"`.
///
/// # Examples
///
/// ```
/// use conveyor::spec::Backoff;
///
/// assert_eq!(Backoff::Exponential.as_str(), "exponential");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(description = "How the wait between attempts grows: \"fixed\" or \"exponential\".")]
pub enum Backoff {
    /// The same wait (`initial`) every time.
    Fixed,
    /// `initial`, doubled after each attempt, up to `max`.
    Exponential,
}

impl Backoff {
    /// The name used in job files.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor::spec::Backoff::Fixed.as_str(), "fixed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Backoff::Fixed => "fixed",
            Backoff::Exponential => "exponential",
        }
    }
}

/// When a job's first attempt may start: the job file's `delay` or `not_before`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::spec::{parse_str, ParseOptions, StartAt};
///
/// let batch = parse_str("d.jsonl", r#"{"kind": "noop", "delay": "5s"}"#,
///                       &ParseOptions::default()).unwrap();
/// assert_eq!(batch.jobs[0].start, Some(StartAt::Delay(Duration::from_secs(5))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartAt {
    /// This long after the job is loaded.
    Delay(Duration),
    /// No earlier than this instant.
    NotBefore(SystemTime),
}

/// How a periodic job repeats: the job file's `every` or `cron` (`conveyor serve` only).
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, ParseOptions, Schedule};
///
/// let options = ParseOptions::default().allow_periodic(true);
/// let batch = parse_str("p.jsonl", r#"{"kind": "noop", "cron": "*/5 * * * *"}"#, &options)
///     .unwrap();
/// assert_eq!(batch.jobs[0].schedule, Some(Schedule::Cron("*/5 * * * *".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Schedule {
    /// Every period (greater than zero).
    Every(Duration),
    /// On a cron expression, checked with the `croner` crate (5 fields, or 6 with seconds).
    Cron(String),
}

/// What a job does: its `kind` and that kind's parameters.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, JobKind, ParseOptions};
///
/// let batch = parse_str("k.jsonl", r#"{"kind": "http", "url": "http://127.0.0.1:8080/ok"}"#,
///                       &ParseOptions::default()).unwrap();
/// let JobKind::Http { method, url, expect_status, .. } = &batch.jobs[0].kind else {
///     panic!("not http")
/// };
/// assert_eq!((method.as_str(), url.as_str(), *expect_status), ("GET", "http://127.0.0.1:8080/ok", None));
/// assert_eq!(batch.jobs[0].kind.name(), "http");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobKind {
    /// `sleep`: wait, like simulated I/O.
    Sleep {
        /// How long.
        duration: Duration,
    },
    /// `exec`: run a program directly, without a shell.
    Exec {
        /// The program (looked up in `PATH` when it has no `/`).
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// Environment variables added to the runner's.
        env: BTreeMap<String, String>,
        /// Working directory, if not the runner's.
        cwd: Option<PathBuf>,
    },
    /// `shell`: run a script with `sh -c` (only with `--allow-shell`).
    Shell {
        /// The script.
        script: String,
    },
    /// `http`: make one HTTP request.
    Http {
        /// Upper-case method, `GET` when not given.
        method: String,
        /// An `http` or `https` URL, normalised by the `url` crate.
        url: String,
        /// Header names (lower-cased) and values.
        headers: BTreeMap<String, String>,
        /// Request body, if any.
        body: Option<String>,
        /// The status that counts as success; `None` means any 2xx.
        expect_status: Option<u16>,
    },
    /// `cpu`: CPU-bound hashing on a blocking thread.
    Cpu {
        /// Hashing rounds.
        rounds: u64,
    },
    /// `noop`: nothing, for measuring throughput.
    Noop,
    /// `fail`: fail on purpose, for testing retries and dashboards.
    Fail {
        /// Chance of failing, 0 to 1 (1 when not given).
        probability: f64,
        /// The error message, if given.
        message: Option<String>,
    },
}

impl JobKind {
    /// Every kind's name, as job files write it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conveyor::spec::JobKind::NAMES.contains(&"sleep"));
    /// ```
    pub const NAMES: &'static [&'static str] = &["sleep", "exec", "shell", "http", "cpu", "noop", "fail"];

    /// This kind's name (a low-cardinality label for metrics and the ledger).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor::spec::JobKind::Noop.name(), "noop");
    /// ```
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// Whether a job of this kind starts a process (`exec`, `shell`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::JobKind;
    ///
    /// assert!(JobKind::Shell { script: "true".into() }.spawns_process());
    /// assert!(!JobKind::Noop.spawns_process());
    /// ```
    pub fn spawns_process(&self) -> bool {
        matches!(self, JobKind::Exec { .. } | JobKind::Shell { .. })
    }

    /// [`spawns_process`](Self::spawns_process) for a kind's name (the check pass and the
    /// PostgreSQL ledger have only the name).
    pub(crate) fn named_spawns_process(name: &str) -> bool {
        matches!(name, "exec" | "shell")
    }

    /// Whether a job of this kind keeps a core busy while it runs (a process, or `cpu`'s
    /// hashing), so that running more of them at once than there are cores gains nothing:
    /// `conveyor run`'s default `--workers` follows it.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::JobKind;
    ///
    /// assert!(JobKind::Cpu { rounds: 1 }.uses_a_core());
    /// assert!(!JobKind::Noop.uses_a_core());
    /// ```
    pub fn uses_a_core(&self) -> bool {
        Self::named_uses_a_core(self.name())
    }

    /// [`uses_a_core`](Self::uses_a_core) for a kind's name (the check pass has only the name).
    pub(crate) fn named_uses_a_core(name: &str) -> bool {
        Self::named_spawns_process(name) || name == "cpu"
    }

    /// This kind's place in [`NAMES`](Self::NAMES), which gives its name.
    pub(crate) fn index(&self) -> usize {
        match self {
            JobKind::Sleep { .. } => 0,
            JobKind::Exec { .. } => 1,
            JobKind::Shell { .. } => 2,
            JobKind::Http { .. } => 3,
            JobKind::Cpu { .. } => 4,
            JobKind::Noop => 5,
            JobKind::Fail { .. } => 6,
        }
    }
}

/// Where something is written in a job file: `PATH:LINE:COL`, 1-based, columns in characters.
///
/// # Examples
///
/// ```
/// use conveyor::spec::Origin;
///
/// let origin = Origin { path: std::path::Path::new("jobs.json").into(), line: 3, column: 5 };
/// assert_eq!(origin.to_string(), "jobs.json:3:5");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file (shared by all jobs of the file): as given, `<stdin>`, or the name passed to
    /// [`parse_str`](super::parse_str).
    pub path: Arc<Path>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kinds_index_is_its_place_in_names() {
        // Each kind with the name its files use (`"kind": "…"`): `name` reads it from NAMES
        // at `index`, so a wrong index shows here as a wrong name.
        let kinds = [
            ("sleep", JobKind::Sleep { duration: Duration::ZERO }),
            (
                "exec",
                JobKind::Exec { program: String::new(), args: Vec::new(), env: BTreeMap::new(), cwd: None },
            ),
            ("shell", JobKind::Shell { script: String::new() }),
            (
                "http",
                JobKind::Http {
                    method: String::new(),
                    url: String::new(),
                    headers: BTreeMap::new(),
                    body: None,
                    expect_status: None,
                },
            ),
            ("cpu", JobKind::Cpu { rounds: 1 }),
            ("noop", JobKind::Noop),
            ("fail", JobKind::Fail { probability: 1.0, message: None }),
        ];
        assert_eq!(kinds.len(), JobKind::NAMES.len());
        for (name, kind) in &kinds {
            assert_eq!(JobKind::NAMES[kind.index()], *name);
            assert_eq!(kind.name(), *name);
            // The check pass and the PostgreSQL ledger know a kind by its name only.
            assert_eq!(JobKind::named_spawns_process(name), kind.spawns_process(), "{name}");
        }
    }
}

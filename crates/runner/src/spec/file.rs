//! The three forms of a job file, `defaults` and `limits`.
//!
//! - A **document** (`*.json`): `{"defaults": {...}, "limits": {...}, "jobs": [...]}`, where
//!   only `jobs` is required, or a bare array of jobs `[...]`. Read whole (at most
//!   [`MAX_DOCUMENT`] bytes).
//! - **JSON Lines** (`*.jsonl`): one job object per line; blank lines are skipped. Read as a
//!   stream, one line (at most [`MAX_LINE`] bytes) at a time, so memory does not grow with
//!   the file. There is no `defaults` or `limits` in this form.
//! - Any other name, stdin, and in-memory input are **sniffed**: a document when the first
//!   non-blank character is `[`, or when it is `{` and the object it opens has a `jobs` key
//!   (or does not end on its first line); JSON Lines otherwise.
//!
//! A UTF-8 byte order mark at the start of a file is skipped. Text must be UTF-8.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use super::de::{PathCtx, from_node};
use super::duration::{format_duration, parse_duration};
use super::error::{SpecError, render_path};
use super::json::{self, LineIndex, Node, Value};
use super::resolve::{self, Context, Defaults, Issue};
use super::suggest::did_you_mean;
use super::wire::{DOCUMENT_FIELDS, LimitsWire};
use super::{JobSpec, KindName};

/// The largest document (`.json`) read; JSON Lines files have no limit.
pub(crate) const MAX_DOCUMENT: u64 = 256 * 1024 * 1024;

/// The longest line of a JSON Lines file.
pub(crate) const MAX_LINE: usize = 16 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a source is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Document,
    Lines,
}

impl Format {
    /// The format a file name implies: `.jsonl` is JSON Lines, `.json` a document.
    pub(crate) fn from_name(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("jsonl") => Some(Format::Lines),
            Some(e) if e.eq_ignore_ascii_case("json") => Some(Format::Document),
            _ => None,
        }
    }

    /// Sniffs the format from the start of the input (see the module docs). Only the line
    /// holding the first non-blank character is looked at.
    pub(crate) fn sniff(bytes: &[u8]) -> Format {
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
            return Format::Lines;
        };
        match bytes[start] {
            b'[' => Format::Document,
            b'{' => {
                let rest = &bytes[start..];
                let line = rest.iter().position(|&b| b == b'\n').map_or(rest, |end| &rest[..end]);
                let mut de = serde_json::Deserializer::from_slice(line);
                match de::Deserializer::deserialize_map(&mut de, HasJobsKey) {
                    Ok(true) => Format::Document,
                    Ok(false) => Format::Lines,
                    // The object goes on past its first line: a pretty-printed document.
                    Err(e) if e.is_eof() => Format::Document,
                    Err(_) => Format::Lines,
                }
            }
            _ => Format::Lines,
        }
    }
}

/// Visits an object's keys only, answering whether one is `jobs`.
struct HasJobsKey;

impl<'de> Visitor<'de> for HasJobsKey {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            found |= key == "jobs";
            map.next_value::<IgnoredAny>()?;
        }
        Ok(found)
    }
}

/// Per-key limits declared by job files' `limits`, for jobs' `concurrency_key`.
///
/// A key without a limit is unlimited. The same key may be declared by several files only
/// with the same value.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::spec::{parse_str, ParseOptions, Rate};
///
/// let batch = parse_str(
///     "l.json",
///     r#"{"limits": {"concurrency": {"db": 4}, "rate": {"api": "10/1s"}},
///         "jobs": [{"kind": "noop", "concurrency_key": "db"}]}"#,
///     &ParseOptions::default(),
/// )
/// .unwrap();
/// assert_eq!(batch.limits.concurrency["db"], 4);
/// assert_eq!(batch.limits.rate["api"], Rate { count: 10, period: Duration::from_secs(1) });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// At most N jobs with the key run at once (N ≥ 1).
    pub concurrency: BTreeMap<String, u32>,
    /// At most `count` jobs with the key start per `period`.
    pub rate: BTreeMap<String, Rate>,
}

impl Limits {
    /// `true` when no limit is declared.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conveyor::spec::Limits::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.concurrency.is_empty() && self.rate.is_empty()
    }
}

/// A rate limit: `count` starts per `period`, written `"N/PERIOD"` (`"10/1s"`, `"100/1m"`,
/// or with a bare unit, `"5/s"`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::spec::Rate;
///
/// let rate = Rate::parse("100/1m").unwrap();
/// assert_eq!(rate, Rate { count: 100, period: Duration::from_secs(60) });
/// assert_eq!(rate.to_string(), "100/1m");
/// assert_eq!(Rate::parse("5/s").unwrap().period, Duration::from_secs(1));
/// assert!(Rate::parse("0/1s").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Starts allowed per period (at least 1).
    pub count: u32,
    /// The period (greater than zero).
    pub period: Duration,
}

impl Rate {
    /// Parses `"N/PERIOD"`.
    ///
    /// # Errors
    ///
    /// A message for people (without the input) when the text is not `N/PERIOD` with
    /// `N ≥ 1` and a period greater than zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::Rate;
    ///
    /// assert_eq!(Rate::parse("10/1s").unwrap().count, 10);
    /// assert!(Rate::parse("10 per second").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Rate, String> {
        const SHAPE: &str = "expected N/PERIOD, such as \"10/1s\" or \"100/1m\"";
        let Some((count, period)) = text.split_once('/') else {
            return Err(SHAPE.to_owned());
        };
        let count = count.trim();
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SHAPE.to_owned());
        }
        let count: u32 = count.parse().map_err(|_| format!("{count} is too many (at most {})", u32::MAX))?;
        if count == 0 {
            return Err("N must be at least 1".to_owned());
        }
        let period = period.trim();
        let period = if period.starts_with(|c: char| c.is_ascii_alphabetic()) {
            parse_duration(&format!("1{period}"))
        } else {
            parse_duration(period)
        }
        .map_err(|reason| format!("bad period: {reason}"))?;
        if period.is_zero() {
            return Err("the period must be greater than zero".to_owned());
        }
        Ok(Rate { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, format_duration(self.period).replace(' ', ""))
    }
}

/// Where a job sits in its file, to name it (and its `id`) in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobPath {
    /// `jobs[i]` of a document object.
    Jobs(usize),
    /// `[i]` of a bare array.
    Array(usize),
    /// The job of a JSON Lines line.
    Line,
}

impl JobPath {
    /// The path of the job, or of its member `child`.
    pub(crate) fn render(self, child: Option<&str>) -> Option<String> {
        let base = match self {
            JobPath::Jobs(i) => format!("jobs[{i}]"),
            JobPath::Array(i) => format!("[{i}]"),
            JobPath::Line => String::new(),
        };
        match (base.is_empty(), child) {
            (true, None) => None,
            (true, Some(c)) => Some(c.to_owned()),
            (false, None) => Some(base),
            (false, Some(c)) => Some(format!("{base}.{c}")),
        }
    }
}

/// A 1-based position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// A declared limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LimitValue {
    Concurrency(u32),
    Rate(Rate),
}

/// What reading a source produces, in file order.
#[derive(Debug)]
pub(crate) enum Event {
    /// A valid job (its id still empty when it is to be generated).
    Job {
        /// Shared from the start: the run loop hands it to the pool as it is.
        spec: Arc<JobSpec>,
        /// Where the explicit id is (or the job, when the id is generated).
        id_pos: Pos,
        path: JobPath,
    },
    /// The explicit id of a job that had errors: it still takes part in duplicate checks.
    Id { id: String, pos: Pos, path: JobPath },
    /// A valid job with an explicit id, whose spec was not built: only the check pass (which
    /// drops specs, see [`SourceCtx::hash`]) gets these, from the JSON Lines fast path.
    Valid {
        id: IdText,
        pos: Pos,
        path: JobPath,
        /// Whether the job uses a core while it runs (see [`super::JobKind::uses_a_core`]).
        core_bound: bool,
    },
    /// A limit from `limits`.
    Limit { key: String, value: LimitValue, pos: Pos, field: Option<String> },
    /// An error.
    Error(SpecError),
}

/// A job id as the check pass keeps it, which only needs it for a moment (to look it up in
/// the duplicate table, or to quote it in an error): ids of up to [`IdText::INLINE`] bytes —
/// nearly all — are held inline, so the usual line allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdText {
    /// `len` bytes of `bytes`.
    Inline { len: u8, bytes: [u8; IdText::INLINE] },
    /// A longer id.
    Heap(String),
}

impl IdText {
    /// The longest id held inline.
    pub(crate) const INLINE: usize = 30;

    pub(crate) fn new(id: &str) -> IdText {
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= IdText::INLINE => {
                let mut bytes = [0; IdText::INLINE];
                bytes[..id.len()].copy_from_slice(id.as_bytes());
                IdText::Inline { len, bytes }
            }
            _ => IdText::Heap(id.to_owned()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Whole characters of a `str` were copied in, so this never fails.
            IdText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            IdText::Heap(id) => id,
        }
    }

    /// The id's bytes, without checking them again (the duplicate table keys ids by their
    /// bytes; only a message needs the text).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            IdText::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IdText::Heap(id) => id.as_bytes(),
        }
    }
}

impl AsRef<[u8]> for IdText {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Display for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the parsing functions need to know about the source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SourceCtx<'c> {
    pub(crate) path: &'c Arc<Path>,
    pub(crate) allow_periodic: bool,
    /// Accept `shell` jobs ([`ParseOptions::allow_shell`](super::ParseOptions::allow_shell)).
    pub(crate) allow_shell: bool,
    /// Compute every job's `spec_hash`. When `false` (the check pass, which drops the jobs),
    /// only jobs whose id is generated from it get one; the others' stays empty.
    pub(crate) hash: bool,
}

impl SourceCtx<'_> {
    fn error(&self, index: &LineIndex<'_>, issue: Issue) -> Event {
        let (line, column) = index.position(issue.at);
        Event::Error(SpecError {
            path: self.path.to_path_buf(),
            line,
            column,
            field: render_path(issue.path.iter().map(Into::into)),
            message: issue.message,
        })
    }

    fn error_at(&self, index: &LineIndex<'_>, at: usize, message: impl Into<String>) -> Event {
        self.error(index, Issue { at, path: Vec::new(), message: message.into() })
    }
}

/// Checks that `bytes` are UTF-8 (reporting the first bad byte).
fn utf8<'b>(
    ctx: &SourceCtx<'_>,
    bytes: &'b [u8],
    first_line: usize,
    out: &mut Vec<Event>,
) -> Option<&'b str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(e) => {
            let at = e.valid_up_to();
            let index = LineIndex::new(bytes, first_line);
            out.push(ctx.error_at(
                &index,
                at,
                format!(
                    "invalid UTF-8 (byte 0x{:02X}); job files must be UTF-8",
                    bytes.get(at).copied().unwrap_or(0)
                ),
            ));
            None
        }
    }
}

/// A syntax error: where (byte offset) and what.
struct Syntax {
    at: usize,
    message: String,
    eof: bool,
}

/// serde_json's syntax check (its messages are the ones people know), with a few messages
/// made plainer; `None` when the text is valid.
fn syntax(text: &str, index: &LineIndex<'_>) -> Option<Syntax> {
    let e = serde_json::from_str::<IgnoredAny>(text).err()?;
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let mut message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    let mut at = index.offset_from_serde(e.line(), e.column());
    let bytes = text.as_bytes();
    match bytes.get(at) {
        Some(b']' | b'}')
            if matches!(message.as_str(), "expected value" | "key must be a string" | "trailing comma") =>
        {
            let before = bytes[..at].iter().rposition(|b| !b.is_ascii_whitespace());
            if let Some(comma) = before.filter(|&i| bytes[i] == b',') {
                at = comma;
                message = "trailing comma".to_owned();
            }
        }
        Some(b'/') => message = "comments are not allowed in JSON".to_owned(),
        Some(b'\'') => message = "strings must be in double quotes (\"), not single quotes".to_owned(),
        // serde_json read `nul…` as the start of `null`: point at the word, not its 2nd letter.
        _ if message == "expected ident" => {
            message = "expected value".to_owned();
            while at > 0 && bytes[at - 1].is_ascii_alphabetic() {
                at -= 1;
            }
        }
        _ => {}
    }
    Some(Syntax { at, message, eof: e.is_eof() })
}

/// Parses `text` into a span-keeping tree, with serde_json's syntax errors.
///
/// serde_json's check runs only when the tree parser fails or meets something on which the
/// two could differ (see [`json::Tree::plain`]): on a plain text both accept, so the check is
/// skipped — it was a third of a no-op job's parsing.
fn checked_parse<'t>(text: &'t str, index: &LineIndex<'_>) -> Result<json::Tree<'t>, Syntax> {
    match json::parse(text) {
        Ok(tree) if tree.plain => Ok(tree),
        parsed => match syntax(text, index) {
            Some(e) => Err(e),
            None => parsed.map_err(|e| Syntax { at: e.at, message: e.message, eof: false }),
        },
    }
}

/// Parses a whole document (`.json`, or sniffed as one).
pub(crate) fn parse_document(ctx: &SourceCtx<'_>, bytes: &[u8], out: &mut Vec<Event>) {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let Some(text) = utf8(ctx, bytes, 1, out) else {
        return;
    };
    let index = LineIndex::new(bytes, 1);
    if text.trim().is_empty() {
        out.push(ctx.error_at(
            &index,
            0,
            "empty file; expected a JSON object with a `jobs` array, or an array of jobs",
        ));
        return;
    }
    let tree = match checked_parse(text, &index) {
        Ok(tree) => tree,
        Err(e) => {
            out.push(ctx.error_at(&index, e.at, e.message));
            return;
        }
    };
    duplicates(ctx, &index, &tree, out);
    let root = &tree.root;
    match &root.value {
        Value::Array(jobs) => {
            let base = PathCtx::ROOT;
            for (i, job) in jobs.iter().enumerate() {
                let path = base.index(i);
                parse_job(ctx, &index, job, &path, JobPath::Array(i), &Defaults::default(), out);
            }
        }
        // A lone job where a document was expected: one clear error, not one per job field.
        Value::Object(_) if root.member("jobs").is_none() && root.member("kind").is_some() => {
            out.push(ctx.error_at(
                &index,
                root.start,
                "missing field `jobs`; this looks like a single job: put it in a `jobs` array, \
                 or in a .jsonl file (one job per line)",
            ));
        }
        Value::Object(members) => {
            let mut issues = Vec::new();
            let mut jobs_typo = false;
            for m in members {
                if !DOCUMENT_FIELDS.contains(&m.key.as_ref()) {
                    let message = match did_you_mean(&m.key, DOCUMENT_FIELDS.iter().copied()) {
                        Some(s) => {
                            jobs_typo |= s == "jobs";
                            format!("unknown field `{}`; did you mean `{s}`?", m.key)
                        }
                        None => format!(
                            "unknown field `{}`; a job document has `defaults`, `limits` and `jobs`",
                            m.key
                        ),
                    };
                    issues.push(Issue {
                        at: m.key_start,
                        path: vec![json::Segment::Key(m.key.to_string())],
                        message,
                    });
                }
            }
            let root_path = PathCtx::ROOT;
            let defaults = match root.member("defaults") {
                Some(m) => {
                    let path = root_path.key("defaults");
                    resolve::defaults(&m.value, &path, ctx.allow_periodic, &mut issues)
                }
                None => Defaults::default(),
            };
            if let Some(m) = root.member("limits") {
                limits(&index, &m.value, &mut issues, out);
            }
            out.extend(issues.into_iter().map(|i| ctx.error(&index, i)));
            match root.member("jobs").map(|m| &m.value) {
                Some(Node { value: Value::Array(jobs), .. }) => {
                    let base = root_path.key("jobs");
                    for (i, job) in jobs.iter().enumerate() {
                        let path = base.index(i);
                        parse_job(ctx, &index, job, &path, JobPath::Jobs(i), &defaults, out);
                    }
                }
                Some(other) => out.push(ctx.error(
                    &index,
                    Issue {
                        at: other.start,
                        path: vec![json::Segment::Key("jobs".into())],
                        message: format!("expected an array of jobs, found {}", other.type_name()),
                    },
                )),
                // A misspelt `jobs` has been reported already.
                None if jobs_typo => {}
                None => out.push(ctx.error_at(&index, root.start, "missing field `jobs`")),
            }
        }
        _ => out.push(ctx.error_at(
            &index,
            root.start,
            format!(
                "expected a JSON object with a `jobs` array, or an array of jobs; found {}",
                root.type_name()
            ),
        )),
    }
}

/// A JSON Lines line without its `\r` (a CRLF file) and, on the first line, the BOM.
fn line_body(line: &[u8], line_no: usize) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line_no == 1 { line.strip_prefix(BOM).unwrap_or(line) } else { line }
}

/// Parses one line of a JSON Lines file (`line` without its line break). Blank lines yield
/// nothing.
///
/// The usual line — a flat job object — takes the fast path ([`super::fast`]); anything else,
/// and every line with an error, goes through [`parse_line_full`].
pub(crate) fn parse_line(ctx: &SourceCtx<'_>, line: &[u8], line_no: usize, out: &mut Vec<Event>) {
    let text = line_body(line, line_no);
    if let Ok(text) = std::str::from_utf8(text)
        && let Some(event) = super::fast::job_line(ctx, text, line_no)
    {
        out.push(event);
        return;
    }
    parse_line_full(ctx, line, line_no, out);
}

/// The check pass's view of a JSON Lines line: the job's explicit id (borrowed from the line)
/// when the fast path takes it as a valid job ([`super::fast::check_line`]); `None` when the
/// line needs [`parse_line_full`], which says what it holds.
pub(crate) fn check_line<'l>(
    ctx: &SourceCtx<'_>,
    line: &'l [u8],
    line_no: usize,
) -> Option<super::fast::CheckedLine<'l>> {
    let text = line_body(line, line_no);
    super::fast::check_line(ctx, std::str::from_utf8(text).ok()?)
}

/// [`parse_line`] through the span-keeping tree, with every error located.
pub(crate) fn parse_line_full(ctx: &SourceCtx<'_>, line: &[u8], line_no: usize, out: &mut Vec<Event>) {
    let line = line_body(line, line_no);
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let Some(text) = utf8(ctx, line, line_no, out) else {
        return;
    };
    let index = LineIndex::new(line, line_no);
    let tree = match checked_parse(text, &index) {
        Ok(tree) => tree,
        Err(mut e) => {
            if e.eof {
                e.message.push_str(" (JSON Lines: each job is one complete object on one line)");
            }
            out.push(ctx.error_at(&index, e.at, e.message));
            return;
        }
    };
    duplicates(ctx, &index, &tree, out);
    let root = &tree.root;
    match &root.value {
        Value::Object(_) => {
            if let Some(jobs) = root.member("jobs") {
                out.push(
                    ctx.error(
                        &index,
                        Issue {
                            at: jobs.key_start,
                            path: vec![json::Segment::Key("jobs".into())],
                            message: "`jobs` belongs in a .json document; a JSON Lines file holds \
                                  one job object per line"
                                .into(),
                        },
                    ),
                );
                return;
            }
            parse_job(ctx, &index, root, &PathCtx::ROOT, JobPath::Line, &Defaults::default(), out);
        }
        Value::Array(_) => out.push(ctx.error_at(
            &index,
            root.start,
            "expected a job object, found an array (JSON Lines holds one job object per line; \
             name the file .json for an array of jobs)",
        )),
        _ => out.push(ctx.error_at(
            &index,
            root.start,
            format!(
                "expected a job object, found {} (JSON Lines holds one job object per line)",
                root.type_name()
            ),
        )),
    }
}

fn duplicates(ctx: &SourceCtx<'_>, index: &LineIndex<'_>, tree: &json::Tree<'_>, out: &mut Vec<Event>) {
    for dup in &tree.duplicates {
        let (line, column) = index.position(dup.first);
        out.push(ctx.error(
            index,
            Issue {
                at: dup.at,
                path: dup.path.clone(),
                message: format!("duplicate key `{}` (first at {line}:{column})", dup.key),
            },
        ));
    }
}

fn limits(index: &LineIndex<'_>, node: &Node<'_>, issues: &mut Vec<Issue>, out: &mut Vec<Event>) {
    let root = PathCtx::ROOT;
    let path = root.key("limits");
    let wire: LimitsWire = match from_node(node, &path, &[]) {
        Ok(w) => w,
        Err(e) => {
            issues.push(resolve::explain(e, node.start, Context::Other));
            return;
        }
    };
    let at = |section: &str, key: &str| -> Pos {
        let offset = node.find(&[section, key]).map_or(node.start, |m| m.value.start);
        let (line, column) = index.position(offset);
        Pos { line, column }
    };
    let field = |section: &str, key: &str| {
        render_path([
            super::error::SegmentRef::Key("limits"),
            super::error::SegmentRef::Key(section),
            super::error::SegmentRef::Key(key),
        ])
    };
    for (key, limit) in wire.concurrency {
        out.push(Event::Limit {
            pos: at("concurrency", &key),
            field: field("concurrency", &key),
            value: LimitValue::Concurrency(limit.0),
            key,
        });
    }
    for (key, rate) in wire.rate {
        out.push(Event::Limit {
            pos: at("rate", &key),
            field: field("rate", &key),
            value: LimitValue::Rate(rate.0),
            key,
        });
    }
}

/// Parses one job node into a [`Event::Job`], or its errors.
fn parse_job(
    ctx: &SourceCtx<'_>,
    index: &LineIndex<'_>,
    node: &Node<'_>,
    path: &PathCtx<'_>,
    job_path: JobPath,
    defaults: &Defaults,
    out: &mut Vec<Event>,
) {
    let fail = |issues: Vec<Issue>, out: &mut Vec<Event>| {
        out.extend(issues.into_iter().map(|i| ctx.error(index, i)));
        // A job with errors still claims its id, so duplicates are found in the same run.
        if let Some(m) = node.member("id")
            && let Value::String(id) = &m.value.value
        {
            let (line, column) = index.position(m.value.start);
            out.push(Event::Id { id: id.to_string(), pos: Pos { line, column }, path: job_path });
        }
    };
    let job_issue = |at: usize, keys: &[&str], message: String| {
        let mut segments = path.segments();
        segments.extend(keys.iter().map(|k| json::Segment::Key((*k).to_owned())));
        Issue { at, path: segments, message }
    };
    let Value::Object(members) = &node.value else {
        out.push(ctx.error(
            index,
            job_issue(node.start, &[], format!("expected a job object, found {}", node.type_name())),
        ));
        return;
    };
    let kind = match node.member("kind") {
        None => {
            let typo = members
                .iter()
                .find(|m| did_you_mean(&m.key, ["kind"]).is_some())
                .map(|m| format!("; is `{}` a typo?", m.key))
                .unwrap_or_default();
            let message =
                format!("missing field `kind` (one of {}){typo}", super::suggest::one_of(KindName::NAMES));
            fail(vec![job_issue(node.start, &[], message)], out);
            return;
        }
        Some(m) => match &m.value.value {
            Value::String(name) => match KindName::parse(name) {
                Some(kind) => kind,
                None => {
                    let message = match did_you_mean(name, KindName::NAMES.iter().copied()) {
                        Some(s) => format!("unknown kind `{name}`; did you mean `{s}`?"),
                        None => format!(
                            "unknown kind `{name}`; expected one of {}",
                            super::suggest::one_of(KindName::NAMES)
                        ),
                    };
                    fail(vec![job_issue(m.value.start, &["kind"], message)], out);
                    return;
                }
            },
            _ => {
                let message = format!("expected a job kind such as \"sleep\", found {}", m.value.type_name());
                fail(vec![job_issue(m.value.start, &["kind"], message)], out);
                return;
            }
        },
    };
    let parsed = match crate::kind::job_from_node(kind, node, path) {
        Ok(parsed) => parsed,
        Err(e) => {
            fail(vec![resolve::explain(e, node.start, Context::Job(kind))], out);
            return;
        }
    };
    let (common, kind) = parsed;
    let kind_is_shell = kind.kind_name() == KindName::Shell;
    let (line, column) = index.position(node.start);
    match resolve::job(common, kind, defaults, node, path, ctx.allow_periodic, ctx.path, (line, column)) {
        Ok(_) if !ctx.allow_shell && kind_is_shell => {
            let message = "`shell` jobs run scripts with `sh -c`, which needs --allow-shell \
                           (or use `exec` with `program` and `args`)";
            fail(vec![resolve::issue_at(node, path, &["kind"], message.to_owned())], out);
        }
        Ok(mut resolved) => {
            let (line, column) = index.position(resolved.id_at);
            if ctx.hash || resolved.spec.id_generated {
                resolved.spec.spec_hash = super::hash::spec_hash(&resolved.spec);
            }
            out.push(Event::Job {
                spec: Arc::new(resolved.spec),
                id_pos: Pos { line, column },
                path: job_path,
            });
        }
        Err(issues) => fail(issues, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_three_forms() {
        let cases: [(&str, Format); 10] = [
            ("[]", Format::Document),
            ("  \n [{\"kind\": \"noop\"}]", Format::Document),
            ("{\"jobs\": []}", Format::Document),
            ("{\"defaults\": {}, \"jobs\": []}\n", Format::Document),
            ("{\n  \"jobs\": []\n}", Format::Document),
            ("{\"kind\": \"noop\"}\n{\"kind\": \"noop\"}", Format::Lines),
            ("{\"kind\": \"noop\", oops}\n", Format::Lines),
            ("", Format::Lines),
            ("\u{feff}[]", Format::Document),
            ("garbage", Format::Lines),
        ];
        for (text, want) in cases {
            assert_eq!(Format::sniff(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn names_decide_the_format() {
        assert_eq!(Format::from_name(Path::new("a/b.JSONL")), Some(Format::Lines));
        assert_eq!(Format::from_name(Path::new("b.json")), Some(Format::Document));
        assert_eq!(Format::from_name(Path::new("b.txt")), None);
    }

    #[test]
    fn rates() {
        assert_eq!(Rate::parse(" 10 / 1s "), Ok(Rate { count: 10, period: Duration::from_secs(1) }));
        assert_eq!(Rate::parse("1/1m30s").unwrap().to_string(), "1/1m30s");
        for bad in ["", "10", "x/1s", "-1/1s", "0/1s", "10/0s", "10/-1s", "10/xyz", "99999999999/1s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn job_paths() {
        assert_eq!(JobPath::Jobs(3).render(Some("id")).as_deref(), Some("jobs[3].id"));
        assert_eq!(JobPath::Array(0).render(None).as_deref(), Some("[0]"));
        assert_eq!(JobPath::Line.render(None), None);
        assert_eq!(JobPath::Line.render(Some("id")).as_deref(), Some("id"));
    }
}

//! [`SpecError`]: one problem in a job file, located for people and for programs.
//!
//! ```
//! use conveyor::spec::error::SpecError;
//!
//! let e = SpecError::file("jobs/", "no *.json or *.jsonl files in this folder");
//! assert_eq!(e.to_string(), "jobs/: no *.json or *.jsonl files in this folder");
//! ```

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use super::json::Segment;

/// One problem found in a job file, with where it is.
///
/// `Display` follows the compiler convention, `PATH:LINE:COL: FIELD: message`, so editors
/// and terminals can jump to it; the `FIELD: ` part is left out when there is no field, and
/// `LINE:COL:` when there is no position (`line == 0`, e.g. a file that cannot be read).
/// It is for terminals: control characters in the path, field or message (text quoted from
/// the file, such as an unknown field's name) are shown escaped, Rust-style (`\u{1b}`,
/// `\r`, `\n`; see [`escape_controls`]), so a job file cannot move the cursor, clear the
/// screen or split one error over two lines. The fields themselves keep the exact text.
///
/// Serialised (serde) it is the object `{"path", "line", "column", "field", "message"}` used
/// by `--format json` and by `serve`'s `400` body; `field` is `null` when absent.
///
/// # Positions
///
/// `line` and `column` are 1-based and point at the *start* of the offending value (the
/// opening quote of a bad string, the key of an unknown field, the `{` of a job that misses a
/// field); for syntax errors they point where the JSON parser stopped. Columns count
/// characters, not bytes. In JSON Lines files the line is the file's line.
///
/// # Field paths
///
/// `field` names the value in JSON-path style, relative to the parsed document: in a
/// `{"jobs": [...]}` document `jobs[3].timeout`, `jobs[0].retry.max_attempts`,
/// `defaults.timeout`, `limits.rate.db`; in a bare array `[3].timeout`; in a JSON Lines file,
/// where `LINE` already says which job it is, the path inside that line's job: `timeout`,
/// `retry.initial`, `env.HOME`. Indexes are 0-based (like `jq`); keys that are not plain
/// identifiers are quoted: `headers["x-api key"]`. Errors about a whole job (a missing `kind`)
/// name the job (`jobs[3]`), or have no field in JSON Lines.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, ParseOptions};
///
/// let errors = parse_str(
///     "jobs.json",
///     r#"{"jobs": [{"kind": "sleep", "duration": "1x"}]}"#,
///     &ParseOptions::default(),
/// )
/// .unwrap_err();
/// assert_eq!(
///     errors[0].to_string(),
///     "jobs.json:1:41: jobs[0].duration: invalid duration `1x`: unknown unit `x` \
///      (use ns, us, ms, s, m, h or d)"
/// );
/// let json = serde_json::to_value(&errors[0]).unwrap();
/// assert_eq!(json["field"], "jobs[0].duration");
/// assert_eq!(json["line"], 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SpecError {
    /// The file the error is in: the path as given (or found in a folder), `<stdin>` for
    /// standard input, or the name given to [`parse_str`](super::parse_str).
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// 1-based line, or 0 when the error has no position.
    pub line: usize,
    /// 1-based column in characters, or 0 when the error has no position.
    pub column: usize,
    /// The field path (see "Field paths" above), if the error is about one value.
    pub field: Option<String>,
    /// What is wrong, lowercase, without a final period.
    pub message: String,
}

impl SpecError {
    /// An error about a whole file, without a position (e.g. it cannot be read).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::SpecError;
    ///
    /// let e = SpecError::file("missing.json", "no such file or directory");
    /// assert_eq!(e.to_string(), "missing.json: no such file or directory");
    /// ```
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> SpecError {
        SpecError { path: path.into(), line: 0, column: 0, field: None, message: message.into() }
    }

    /// `PATH:LINE:COL` (or `PATH` without a position): where the error is.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::SpecError;
    ///
    /// let e = SpecError { line: 3, column: 9, ..SpecError::file("a.json", "x") };
    /// assert_eq!(e.location(), "a.json:3:9");
    /// ```
    pub fn location(&self) -> String {
        location(&self.path, self.line, self.column)
    }
}

pub(crate) fn location(path: &Path, line: usize, column: usize) -> String {
    if line == 0 { format!("{}", path.display()) } else { format!("{}:{line}:{column}", path.display()) }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape_controls(&self.location()))?;
        if let Some(field) = &self.field {
            write!(f, ": {}", escape_controls(field))?;
        }
        write!(f, ": {}", escape_controls(&self.message))
    }
}

/// `text` with its control characters (C0, DEL and C1: what [`char::is_control`] says)
/// escaped as Rust's `Debug` writes them (`\u{1b}`, `\r`, `\n`, `\t`), for printing text
/// that came from input on a terminal; other characters, quotes and backslashes included,
/// are left as they are. Borrows when there is nothing to escape.
///
/// Human error output goes through it (a job file's ESC sequence must not clear the
/// screen); JSON output does not need it, as JSON escapes control characters itself.
///
/// # Examples
///
/// ```
/// use conveyor::spec::error::escape_controls;
///
/// assert_eq!(escape_controls("a\u{1b}[2J\rb"), r"a\u{1b}[2J\rb");
/// assert_eq!(escape_controls("`ok` \"é\" \\"), "`ok` \"é\" \\");
/// ```
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

impl std::error::Error for SpecError {}

fn lossy_path<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

/// Renders a field path (see [`SpecError`]'s "Field paths"); `None` for the empty path.
pub(crate) fn render_path<'s>(segments: impl IntoIterator<Item = SegmentRef<'s>>) -> Option<String> {
    let mut out = String::new();
    for segment in segments {
        match segment {
            SegmentRef::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
            SegmentRef::Key(key) if is_identifier(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            SegmentRef::Key(key) => {
                out.push('[');
                out.push_str(&serde_json::Value::from(key).to_string());
                out.push(']');
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A borrowed path segment.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SegmentRef<'s> {
    Key(&'s str),
    Index(usize),
}

impl<'s> From<&'s Segment> for SegmentRef<'s> {
    fn from(s: &'s Segment) -> Self {
        match s {
            Segment::Key(k) => SegmentRef::Key(k),
            Segment::Index(i) => SegmentRef::Index(*i),
        }
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_paths() {
        use SegmentRef::{Index, Key};
        assert_eq!(render_path([]), None);
        assert_eq!(render_path([Key("jobs"), Index(3), Key("timeout")]).as_deref(), Some("jobs[3].timeout"));
        assert_eq!(render_path([Index(0)]).as_deref(), Some("[0]"));
        assert_eq!(render_path([Key("headers"), Key("x api\"")]).as_deref(), Some(r#"headers["x api\""]"#));
    }

    #[test]
    fn display_follows_the_compiler_convention() {
        let mut e = SpecError {
            path: "a.json".into(),
            line: 3,
            column: 9,
            field: Some("jobs[0].id".into()),
            message: "duplicate id `x`".into(),
        };
        assert_eq!(e.to_string(), "a.json:3:9: jobs[0].id: duplicate id `x`");
        e.field = None;
        assert_eq!(e.to_string(), "a.json:3:9: duplicate id `x`");
        e.line = 0;
        assert_eq!(e.to_string(), "a.json: duplicate id `x`");
    }

    #[test]
    fn display_escapes_control_characters_but_the_fields_keep_them() {
        let e = SpecError {
            path: "a\u{1b}.json".into(),
            line: 1,
            column: 2,
            field: Some("x\ty".into()),
            message: "unknown field `\u{1b}[2J\r\n\u{9b}`".into(),
        };
        assert_eq!(e.to_string(), r"a\u{1b}.json:1:2: x\ty: unknown field `\u{1b}[2J\r\n\u{9b}`");
        assert_eq!(serde_json::to_value(&e).unwrap()["message"], "unknown field `\u{1b}[2J\r\n\u{9b}`");
    }

    #[test]
    fn serialises_to_the_documented_object() {
        let e = SpecError::file("<stdin>", "boom");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"path": "<stdin>", "line": 0, "column": 0, "field": null, "message": "boom"})
        );
    }
}

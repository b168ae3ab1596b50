//! UTF-8 and JSON syntax checks, and duplicate keys: the errors found before the wire
//! structs are read.

use serde::de::IgnoredAny;

use super::event::{Event, SourceCtx};
use crate::spec::json::{self, LineIndex};
use crate::spec::resolve::Issue;

/// Checks that `bytes` are UTF-8 (reporting the first bad byte).
pub(super) fn utf8<'b>(
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
pub(super) struct Syntax {
    pub(super) at: usize,
    pub(super) message: String,
    pub(super) eof: bool,
}

/// serde_json's syntax check (its messages are the ones people know), with a few messages
/// made plainer; `None` when the text is valid.
pub(super) fn syntax(text: &str, index: &LineIndex<'_>) -> Option<Syntax> {
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
pub(super) fn checked_parse<'t>(text: &'t str, index: &LineIndex<'_>) -> Result<json::Tree<'t>, Syntax> {
    match json::parse(text) {
        Ok(tree) if tree.plain => Ok(tree),
        parsed => match syntax(text, index) {
            Some(e) => Err(e),
            None => parsed.map_err(|e| Syntax { at: e.at, message: e.message, eof: false }),
        },
    }
}

pub(super) fn duplicates(
    ctx: &SourceCtx<'_>,
    index: &LineIndex<'_>,
    tree: &json::Tree<'_>,
    out: &mut Vec<Event>,
) {
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

//! JSON Lines: one job per line, through the fast path when it takes the line.

use super::event::{Event, JobPath, SourceCtx};
use super::format::BOM;
use super::job::parse_job;
use super::syntax::{checked_parse, duplicates, utf8};
use crate::spec::de::PathCtx;
use crate::spec::json::{self, LineIndex, Value};
use crate::spec::resolve::{Defaults, Issue};

/// A JSON Lines line without its `\r` (a CRLF file) and, on the first line, the BOM.
fn line_body(line: &[u8], line_no: usize) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line_no == 1 { line.strip_prefix(BOM).unwrap_or(line) } else { line }
}

/// Parses one line of a JSON Lines file (`line` without its line break). Blank lines yield
/// nothing.
///
/// The usual line — a flat job object — takes the fast path ([`crate::spec::fast`]); anything else,
/// and every line with an error, goes through [`parse_line_full`].
pub(crate) fn parse_line(ctx: &SourceCtx<'_>, line: &[u8], line_no: usize, out: &mut Vec<Event>) {
    let text = line_body(line, line_no);
    if let Ok(text) = std::str::from_utf8(text)
        && let Some(event) = crate::spec::fast::job_line(ctx, text, line_no)
    {
        out.push(event);
        return;
    }
    parse_line_full(ctx, line, line_no, out);
}

/// The check pass's view of a JSON Lines line: the job's explicit id (borrowed from the line)
/// when the fast path takes it as a valid job ([`crate::spec::fast::check_line`]); `None` when the
/// line needs [`parse_line_full`], which says what it holds.
pub(crate) fn check_line<'l>(
    ctx: &SourceCtx<'_>,
    line: &'l [u8],
    line_no: usize,
) -> Option<crate::spec::fast::CheckedLine<'l>> {
    let text = line_body(line, line_no);
    crate::spec::fast::check_line(ctx, std::str::from_utf8(text).ok()?)
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

//! Documents: `{"defaults", "limits", "jobs"}` or a bare array of jobs.

use super::event::{Event, JobPath, LimitValue, Pos, SourceCtx};
use super::format::BOM;
use super::job::parse_job;
use super::syntax::{checked_parse, duplicates, utf8};
use crate::spec::de::{PathCtx, from_node};
use crate::spec::error::render_path;
use crate::spec::json::{self, LineIndex, Node, Value};
use crate::spec::resolve::{self, Context, Defaults, Issue};
use crate::spec::suggest::did_you_mean;
use crate::spec::wire::{DOCUMENT_FIELDS, LimitsWire};

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

pub(super) fn limits(index: &LineIndex<'_>, node: &Node<'_>, issues: &mut Vec<Issue>, out: &mut Vec<Event>) {
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
            crate::spec::error::SegmentRef::Key("limits"),
            crate::spec::error::SegmentRef::Key(section),
            crate::spec::error::SegmentRef::Key(key),
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

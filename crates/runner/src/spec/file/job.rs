//! One job object of any form: its kind, its wire struct, its resolved spec or its errors.

use std::sync::Arc;

use super::event::{Event, JobPath, Pos, SourceCtx};
use crate::spec::KindName;
use crate::spec::de::PathCtx;
use crate::spec::json::{self, LineIndex, Node, Value};
use crate::spec::resolve::{self, Context, Defaults, Issue};
use crate::spec::suggest::did_you_mean;

/// Parses one job node into a [`Event::Job`], or its errors.
pub(super) fn parse_job(
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
            let message = format!(
                "missing field `kind` (one of {}){typo}",
                crate::spec::suggest::one_of(KindName::NAMES)
            );
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
                            crate::spec::suggest::one_of(KindName::NAMES)
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
                resolved.spec.spec_hash = crate::spec::hash::spec_hash(&resolved.spec);
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

//! The HTML page: one file, its style inline, its charts inline SVG, no script. A content
//! security policy (`default-src 'none'`) forbids every request and script, so the page is
//! safe to open whatever the ledger held (every ledger string is escaped besides).
//!
//! Numbers that tests and scripts read have stable ids and `data-count` attributes:
//! `#total-jobs`, `#total-OUTCOME` (jobs by final outcome), `#total-lines`, `#total-retries`,
//! and the charts `#chart-throughput`, `#chart-wait`, `#chart-run`.

use std::fmt::Write as _;
use std::time::Duration;

use conveyor_pool::Outcome;

use super::read::Source;
use super::spread::Spread;
use super::svg;
use super::tally::{ATTEMPT_ROWS, Summary};
use super::text::{count, duration, esc, instant, width};

const STYLE: &str = include_str!("style.css");

/// The whole page for `summary` of the ledgers `sources`.
pub(super) fn page(summary: &Summary, sources: &[Source]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("Conveyor report: {} jobs", summary.jobs);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\
         <meta name='viewport' content='width=device-width, initial-scale=1'>\
         <meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name='generator' content='conveyor {}'>\
         <title>{}</title><style>{STYLE}</style></head><body>{}<main>",
        env!("CARGO_PKG_VERSION"),
        esc(&title),
        svg::defs()
    );
    header(&mut out, summary, sources);
    totals(&mut out, summary);
    throughput(&mut out, summary);
    durations(&mut out, summary);
    failures(&mut out, summary);
    slowest(&mut out, summary);
    retries(&mut out, summary);
    kinds(&mut out, summary);
    out.push_str("</main></body></html>\n");
    out
}

fn header(out: &mut String, s: &Summary, sources: &[Source]) {
    let (start, end) = s.span;
    let elapsed = Duration::from_nanos(end.saturating_sub(start).max(0).unsigned_abs());
    let _ = write!(
        out,
        "<header><h1>Conveyor run report</h1><p class='span'>{} → {} <span class='muted'>({})</span></p><ul class='sources'>",
        instant(start),
        instant(end),
        duration(elapsed)
    );
    for src in sources {
        let torn = match src.torn {
            Some(line) => format!(", torn last line {line} skipped"),
            None => String::new(),
        };
        let _ = write!(out, "<li><code>{}</code>: {} lines{torn}</li>", esc(&src.name), count(src.lines));
    }
    out.push_str("</ul></header>");
}

/// A number card: `<div id=ID data-count=N>`.
fn card(out: &mut String, id: &str, n: u64, label: &str, mark: &str) {
    let _ = write!(
        out,
        "<div class='card' id='{id}' data-count='{n}'><span class='n'>{}</span><span class='label'>{mark}{label}</span></div>",
        count(n)
    );
}

fn totals(out: &mut String, s: &Summary) {
    out.push_str("<section id='totals'><h2>Totals</h2><div class='cards'>");
    card(out, "total-jobs", s.jobs, "jobs", "");
    for (o, &n) in Outcome::ALL.iter().zip(&s.by_outcome) {
        card(out, &format!("total-{}", o.as_str()), n, &o.as_str().replace('_', " "), &svg::swatch(*o));
    }
    card(out, "total-retries", s.retries, "retries", "");
    out.push_str("</div>");
    let reruns = s.lines - s.jobs;
    let _ = write!(
        out,
        "<p class='note' id='total-lines' data-count='{lines}'>Each job counts once, at its latest line. \
         {} ledger lines{}{}; the charts and tables below count every line.</p></section>",
        count(s.lines),
        if reruns > 0 { format!(", {} of them earlier runs of a job", count(reruns)) } else { String::new() },
        if s.duplicates > 0 {
            format!(", {} repeated lines skipped", count(s.duplicates))
        } else {
            String::new()
        },
        lines = s.lines
    );
}

fn legend(out: &mut String, counts: &[u64; 5]) {
    out.push_str("<ul class='legend'>");
    for (o, &n) in Outcome::ALL.iter().zip(counts) {
        let _ =
            write!(out, "<li>{}{} <span class='muted'>{}</span></li>", svg::swatch(*o), o.as_str(), count(n));
    }
    out.push_str("</ul>");
}

fn throughput(out: &mut String, s: &Summary) {
    out.push_str("<section id='throughput'><h2>Throughput over time</h2>");
    let Some(bars) = &s.timeline else {
        out.push_str("<p>No jobs.</p></section>");
        return;
    };
    let _ = write!(out, "<figure><div class='scroll'>{}</div><figcaption>", svg::throughput(bars));
    let _ = write!(out, "Jobs finished per {}, stacked by outcome:", width(bars.width));
    legend(out, &s.lines_by_outcome);
    out.push_str("</figcaption></figure><details><summary>Numbers</summary><div class='scroll'><table><thead><tr><th>from</th>");
    outcome_heads(out);
    for (i, c) in bars.counts.iter().enumerate() {
        if c.iter().all(|&n| n == 0) {
            continue;
        }
        let _ = write!(out, "<tr><td>{}</td>", instant(bars.start + bars.width * i as i64));
        outcome_cells(out, c);
    }
    out.push_str("</tbody></table></div></details></section>");
}

/// The outcome columns' headings, closing the table's head.
fn outcome_heads(out: &mut String) {
    for o in Outcome::ALL {
        let _ = write!(out, "<th class='num'>{}</th>", o.as_str());
    }
    out.push_str("</tr></thead><tbody>");
}

/// A row's counts by outcome, closing the row.
fn outcome_cells(out: &mut String, counts: &[u64; 5]) {
    for n in counts {
        let _ = write!(out, "<td class='num'>{}</td>", count(*n));
    }
    out.push_str("</tr>");
}

fn spread(out: &mut String, id: &str, what: &str, sp: &Spread) {
    let _ = write!(out, "<figure class='half'><h3>{}</h3>", esc(what));
    if sp.count() == 0 {
        out.push_str("<p>None.</p></figure>");
        return;
    }
    let _ = write!(out, "<div class='scroll'>{}</div>", svg::histogram(id, what, &sp.buckets()));
    // Pairs that wrap as a whole on a narrow screen, never within a value.
    let _ = write!(out, "<dl class='pct' id='{id}-percentiles'>");
    for (label, value) in [
        ("p50", sp.percentile(0.5)),
        ("p90", sp.percentile(0.9)),
        ("p99", sp.percentile(0.99)),
        ("max", sp.max()),
    ] {
        let _ = write!(out, "<div><dt>{label}</dt><dd>{}</dd></div>", duration(value));
    }
    out.push_str("</dl></figure>");
}

fn durations(out: &mut String, s: &Summary) {
    out.push_str("<section id='durations'><h2>Wait and run time</h2><div class='pair'>");
    spread(out, "chart-wait", "wait time (queued to first start)", &s.wait);
    spread(out, "chart-run", "run time (all attempts)", &s.run);
    out.push_str("</div></section>");
}

fn failures(out: &mut String, s: &Summary) {
    out.push_str("<section id='failures'><h2>Failures by kind and error</h2>");
    if s.failures.is_empty() {
        out.push_str("<p>No failures.</p></section>");
        return;
    }
    if s.failure_groups > s.failures.len() {
        let _ = write!(
            out,
            "<p class='note'>The {} largest of {} groups.</p>",
            s.failures.len(),
            count(s.failure_groups as u64)
        );
    }
    out.push_str(
        "<div class='scroll'><table><thead><tr><th class='num'>lines</th><th>kind</th><th>outcome</th>\
         <th>error</th><th>example</th></tr></thead><tbody>",
    );
    for g in &s.failures {
        let error = g
            .error
            .as_deref()
            .map_or("<span class='muted'>(none)</span>".to_owned(), |e| format!("<code>{}</code>", esc(e)));
        let mut example = format!("<code>{}</code>", esc(&g.example));
        if let Some(code) = g.exit_code {
            let _ = write!(example, " <span class='muted'>exit {code}</span>");
        }
        if let Some(tail) = g.output_tail.as_deref().filter(|t| !t.is_empty()) {
            let _ = write!(example, "<details><summary>output</summary><pre>{}</pre></details>", esc(tail));
        }
        let _ = write!(
            out,
            "<tr data-count='{n}'><td class='num'>{}</td><td>{}</td><td>{}{}</td><td class='error'>{error}</td><td>{example}</td></tr>",
            count(g.count),
            esc(&g.kind),
            svg::swatch(g.outcome),
            g.outcome.as_str(),
            n = g.count
        );
    }
    out.push_str("</tbody></table></div></section>");
}

fn slowest(out: &mut String, s: &Summary) {
    out.push_str("<section id='slowest'><h2>Slowest jobs</h2><div class='scroll'><table><thead><tr>\
                  <th>id</th><th>kind</th><th>outcome</th><th class='num'>attempts</th><th class='num'>run</th>\
                  <th class='num'>wait</th><th>finished</th></tr></thead><tbody>");
    for j in &s.slowest {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}{}</td><td class='num'>{}</td><td class='num' data-ns='{}'>{}</td>\
             <td class='num'>{}</td><td>{}</td></tr>",
            esc(&j.id),
            esc(&j.kind),
            svg::swatch(j.outcome),
            j.outcome.as_str(),
            j.attempts,
            j.run.as_nanos(),
            duration(j.run),
            duration(j.wait),
            instant(j.finished_at)
        );
    }
    out.push_str("</tbody></table></div></section>");
}

fn retries(out: &mut String, s: &Summary) {
    let retried: u64 = s.attempts[2..].iter().flatten().sum();
    let _ = write!(
        out,
        "<section id='retries'><h2>Retries</h2><p>{} retr{} in all; {} line{} needed more than one attempt.</p>\
         <div class='scroll'><table><thead><tr><th>attempts</th>",
        count(s.retries),
        if s.retries == 1 { "y" } else { "ies" },
        count(retried),
        if retried == 1 { "" } else { "s" }
    );
    outcome_heads(out);
    for (i, row) in s.attempts.iter().enumerate() {
        if row.iter().all(|&n| n == 0) {
            continue;
        }
        let label = if i == ATTEMPT_ROWS - 1 { format!("{i} or more") } else { i.to_string() };
        let _ = write!(out, "<tr data-attempts='{i}'><td>{label}</td>");
        outcome_cells(out, row);
    }
    out.push_str("</tbody></table></div></section>");
}

fn kinds(out: &mut String, s: &Summary) {
    out.push_str("<section id='kinds'><h2>Jobs by kind</h2><div class='scroll'><table><thead><tr><th>kind</th><th class='num'>jobs</th>");
    outcome_heads(out);
    for (kind, row) in &s.by_kind {
        let _ = write!(out, "<tr><td>{}</td><td class='num'>{}</td>", esc(kind), count(row.iter().sum()));
        outcome_cells(out, row);
    }
    out.push_str("</tbody></table></div></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::report::tally::tests::{line, tally};

    fn sources() -> Vec<Source> {
        vec![Source { name: "<b>run</b>.jsonl".into(), lines: 3, torn: Some(4) }]
    }

    #[test]
    fn totals_have_stable_ids_and_the_page_needs_nothing_else() {
        let s = tally(&[
            line("a", "noop", "succeeded", 1, 1, 0.1, None),
            line("b", "fail", "failed", 2, 2, 0.2, Some("boom")),
            line("c", "sleep", "timed_out", 1, 3, 5.0, Some("timed out")),
        ]);
        let html = page(&s, &sources());
        for (id, n) in [
            ("total-jobs", 3),
            ("total-succeeded", 1),
            ("total-failed", 1),
            ("total-timed_out", 1),
            ("total-cancelled", 0),
            ("total-retries", 1),
            ("total-lines", 3),
        ] {
            assert!(html.contains(&format!("id='{id}' data-count='{n}'")), "{id} {n}");
        }
        for id in ["chart-throughput", "chart-wait", "chart-run"] {
            assert!(html.contains(&format!("<svg id='{id}'")), "{id}");
        }
        assert!(html.contains("default-src 'none'"));
        assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("torn last line 4 skipped"));
    }

    #[test]
    fn ledger_text_is_escaped_everywhere() {
        let evil = "<img src=x onerror=alert(1)>'\"&";
        let s = tally(&[line(evil, "exec<b>", "failed", 1, 1, 0.1, Some(evil))]);
        let html = page(&s, &sources());
        assert!(!html.contains("<img") && !html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&#39;&quot;&amp;"));
    }
}

//! `conveyor report LEDGER… [-o FILE]`: one self-contained HTML page about a run, from its
//! ledgers (`run --ledger` files or `conveyor ledger` exports).
//!
//! The ledgers are read once, as a stream ([`read`]), into a [`tally`] of fixed-size
//! aggregates (plus a 128-bit fingerprint per job id, for the totals), then drawn
//! ([`page`], [`svg`]) and written whole ([`output`]). The page has no script: its charts are
//! SVG drawn here, so it opens from a file, offline, under a content security policy that
//! forbids every request.
//!
//! # Decisions
//!
//! - **Output**: `-o conveyor-report.html` in the current folder by default: a fixed name
//!   that a script can rely on, that is never beside an input that cannot take it (a FIFO,
//!   stdin, a read-only ledger folder), and that does not look like a ledger (a `*.jsonl`
//!   name would be picked up by `conveyor run FOLDER`). `-o -` writes to stdout.
//! - **Several ledgers** are merged: each job id counts once in the totals, at its latest
//!   line; the charts count every line (see [`tally`]).
//! - **Bad input** stops the report with `PATH:LINE:COL: message` (exit 2), except a torn
//!   last line, which is skipped with a warning, as `run --resume` skips it.

mod line;
mod output;
mod page;
mod read;
mod spread;
mod svg;
mod tally;
mod text;
mod timeline;

use crate::cli::ReportArgs;
use crate::exit::Exit;

use output::Output;
use tally::Tally;

/// `conveyor report`: reads the ledgers, writes the page; exit 0.
///
/// # Errors
///
/// A ledger cannot be read or holds a line that is not a ledger line (`PATH:LINE:COL:
/// message`), the output is one of the inputs or a folder, or the page cannot be written.
pub fn report(args: ReportArgs) -> anyhow::Result<Exit> {
    let output = Output::new(&args.output);
    output.check(&args.ledgers)?;
    let mut tally = Tally::new();
    let mut sources = Vec::with_capacity(args.ledgers.len());
    for path in &args.ledgers {
        let source = read::read(path, &mut |line| tally.add(line))?;
        if let Some(line) = source.torn {
            tracing::warn!(
                "{}:{line}:1: torn last line skipped (the run was stopped mid-write)",
                source.name
            );
        }
        sources.push(source);
    }
    let summary = tally.finish();
    let html = page::page(&summary, &sources);
    output.write(html.as_bytes())?;
    if let Output::File(path) = &output {
        eprintln!(
            "conveyor: wrote {} ({} jobs, {} lines from {} ledger{})",
            path.display(),
            summary.jobs,
            summary.lines,
            sources.len(),
            if sources.len() == 1 { "" } else { "s" }
        );
    }
    Ok(Exit::Success)
}

//! Ledger lines gathered into what the page shows, one line at a time.
//!
//! # Jobs and lines
//!
//! A job's id may be on several lines: a `--resume`d run appends a new line for each job that
//! did not succeed before, and two ledgers given together may overlap. The **totals** count
//! jobs: each id once, at its latest line (greatest `finished_at`; the later-read line on a
//! tie). The **charts and tables** count executions: every line is a job reaching a final
//! state at its time, so a job that failed on Monday and succeeded on its rerun on Tuesday
//! shows as a failure on Monday and a success on Tuesday. A line read twice (the same id and
//! `finished_at`, e.g. a ledger given twice, or an export beside the run's own ledger) counts
//! once anywhere.
//!
//! # Memory
//!
//! Everything but the per-id map is of fixed size: time buckets that widen, log-scale
//! duration buckets, the [`TOP`] slowest lines in a heap, and at most [`MAX_GROUPS`] failure
//! groups. The map keeps 128-bit fingerprints, not ids: ~48 bytes a job and ~16 a line, so a
//! million jobs need some 64 MB, and no line's text is kept past its turn.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::time::Duration;

use conveyor_pool::Outcome;
use foldhash::quality::FixedState;

use super::line::Line;
use super::spread::Spread;
use super::timeline::{Bars, Timeline, index};

/// How many of the slowest lines the page lists.
pub(super) const TOP: usize = 20;
/// The most distinct failure groups kept; further errors count under one "other" group.
pub(super) const MAX_GROUPS: usize = 10_000;
/// The most distinct kinds kept apart; further ones count as `other`.
const MAX_KINDS: usize = 64;
/// Ids, errors and output tails are cut to this many bytes (at a character boundary) when kept.
const MAX_TEXT: usize = 2_000;

/// Attempt counts shown apart: 0, 1, 2, 3, 4, and 5 or more.
pub(super) const ATTEMPT_ROWS: usize = 6;

/// The latest line of one job.
#[derive(Debug, Clone, Copy)]
struct Latest {
    finished_at: i64,
    outcome: u8,
    kind: u16,
}

/// One of the slowest lines; ordered by run time, then read order (earlier is greater).
#[derive(Debug, Clone)]
pub(super) struct Slow {
    /// All attempts' run time.
    pub(super) run: Duration,
    /// Read order, so that equal run times keep the earlier line.
    pub(super) seq: Reverse<u64>,
    /// The job's id.
    pub(super) id: String,
    /// Its kind.
    pub(super) kind: String,
    /// How the line ended.
    pub(super) outcome: Outcome,
    /// Attempts started.
    pub(super) attempts: u32,
    /// Its wait.
    pub(super) wait: Duration,
    /// When it finished (ns since the epoch).
    pub(super) finished_at: i64,
}

impl Slow {
    fn key(&self) -> (Duration, Reverse<u64>) {
        (self.run, self.seq)
    }
}

impl PartialEq for Slow {
    fn eq(&self, other: &Slow) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Slow {}

impl PartialOrd for Slow {
    fn partial_cmp(&self, other: &Slow) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Slow {
    fn cmp(&self, other: &Slow) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// Failures with the same kind, outcome and error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Group {
    /// The kind.
    pub(super) kind: String,
    /// The outcome (never `succeeded`).
    pub(super) outcome: Outcome,
    /// The error (cut to a bounded length), or `None` for lines without one (and for the
    /// group of errors past [`MAX_GROUPS`]).
    pub(super) error: Option<String>,
    /// Lines in the group.
    pub(super) count: u64,
    /// The first line's id.
    pub(super) example: String,
    /// The first line's exit code, for `exec`/`shell` jobs.
    pub(super) exit_code: Option<i64>,
    /// The first line's output tail (cut to a bounded length).
    pub(super) output_tail: Option<String>,
}

/// What the page shows.
#[derive(Debug, Clone)]
pub(super) struct Summary {
    /// Distinct job ids.
    pub(super) jobs: u64,
    /// Jobs by final outcome ([`Outcome::ALL`] order).
    pub(super) by_outcome: [u64; 5],
    /// Jobs by kind and final outcome, kinds in name order.
    pub(super) by_kind: Vec<(String, [u64; 5])>,
    /// Lines counted (duplicates excluded).
    pub(super) lines: u64,
    /// Lines by outcome.
    pub(super) lines_by_outcome: [u64; 5],
    /// Lines skipped as repeats of a line already read.
    pub(super) duplicates: u64,
    /// Earliest `queued_at` and latest `finished_at` (ns since the epoch).
    pub(super) span: (i64, i64),
    /// Lines finished over time.
    pub(super) timeline: Option<Bars>,
    /// Wait times of every line.
    pub(super) wait: Spread,
    /// Run times of lines that started.
    pub(super) run: Spread,
    /// Failure groups, largest first, at most [`TOP`].
    pub(super) failures: Vec<Group>,
    /// How many failure groups there were in all.
    pub(super) failure_groups: usize,
    /// The slowest lines, slowest first.
    pub(super) slowest: Vec<Slow>,
    /// Lines by attempts (0..=4, then 5 or more) and outcome.
    pub(super) attempts: [[u64; 5]; ATTEMPT_ROWS],
    /// Retries: attempts beyond the first, summed over lines.
    pub(super) retries: u64,
}

/// The running tally.
#[derive(Debug, Default)]
pub(super) struct Tally {
    seeds: [FixedState; 2],
    latest: HashMap<u128, Latest, FixedState>,
    seen: HashSet<u128, FixedState>,
    seq: u64,
    kinds: Vec<String>,
    lines_by_outcome: [u64; 5],
    duplicates: u64,
    span: Option<(i64, i64)>,
    timeline: Timeline,
    wait: Spread,
    run: Spread,
    groups: HashMap<(u16, u8, Option<String>), Group>,
    slowest: BinaryHeap<Reverse<Slow>>,
    attempts: [[u64; 5]; ATTEMPT_ROWS],
    retries: u64,
}

impl Tally {
    /// An empty tally.
    pub(super) fn new() -> Tally {
        Tally { seeds: [FixedState::with_seed(1), FixedState::with_seed(2)], ..Tally::default() }
    }

    fn fingerprint(&self, parts: &[&[u8]]) -> u128 {
        let half = |s: &FixedState| {
            s.hash_one(parts) // slices hash with their lengths: ("ab","c") ≠ ("a","bc")
        };
        (u128::from(half(&self.seeds[0])) << 64) | u128::from(half(&self.seeds[1]))
    }

    /// The index of `kind` in `kinds`, added if new; past [`MAX_KINDS`] kinds, `other`'s.
    fn kind_index(&mut self, kind: &str) -> u16 {
        let kind = cut(kind);
        let known = self.kinds.iter().position(|k| k == kind);
        let kind = if known.is_none() && self.kinds.len() >= MAX_KINDS - 1 { "other" } else { kind };
        if let Some(i) = self.kinds.iter().position(|k| k == kind) {
            return i as u16;
        }
        self.kinds.push(kind.to_owned());
        (self.kinds.len() - 1) as u16
    }

    /// Counts one line.
    pub(super) fn add(&mut self, line: Line<'_>) {
        let id = line.id.as_bytes();
        let stamp = line.finished_at.to_le_bytes();
        if !self.seen.insert(self.fingerprint(&[id, &stamp])) {
            self.duplicates += 1;
            return;
        }
        self.seq += 1;
        let outcome = index(line.outcome);
        let kind = self.kind_index(&line.kind);
        let latest = Latest { finished_at: line.finished_at, outcome: outcome as u8, kind };
        match self.latest.entry(self.fingerprint(&[id])) {
            Entry::Vacant(v) => {
                v.insert(latest);
            }
            Entry::Occupied(mut o) if o.get().finished_at <= line.finished_at => {
                o.insert(latest);
            }
            Entry::Occupied(_) => {}
        }
        self.lines_by_outcome[outcome] += 1;
        let (low, high) = self.span.unwrap_or((line.queued_at, line.finished_at));
        self.span = Some((low.min(line.queued_at), high.max(line.finished_at)));
        self.timeline.add(line.finished_at, line.outcome);
        self.wait.add(line.wait);
        if line.started_at.is_some() || line.attempts > 0 {
            self.run.add(line.run);
        }
        self.attempts[(line.attempts as usize).min(ATTEMPT_ROWS - 1)][outcome] += 1;
        self.retries += u64::from(line.attempts.saturating_sub(1));
        if line.outcome != Outcome::Succeeded {
            self.group(&line, kind, outcome as u8);
        }
        self.keep_if_slow(&line);
    }

    fn group(&mut self, line: &Line<'_>, kind: u16, outcome: u8) {
        let mut error = line.error.as_deref().map(|e| cut(e).to_owned());
        if self.groups.len() >= MAX_GROUPS && !self.groups.contains_key(&(kind, outcome, error.clone())) {
            error = None;
        }
        let group = self.groups.entry((kind, outcome, error.clone())).or_insert_with(|| Group {
            kind: self.kinds[kind as usize].clone(),
            outcome: line.outcome,
            error,
            count: 0,
            example: cut(&line.id).to_owned(),
            exit_code: line.exit_code,
            output_tail: line.output_tail.as_deref().map(|t| cut_end(t).to_owned()),
        });
        group.count += 1;
    }

    fn keep_if_slow(&mut self, line: &Line<'_>) {
        let full = self.slowest.len() >= TOP;
        if full && self.slowest.peek().is_some_and(|Reverse(min)| min.run >= line.run) {
            return;
        }
        self.slowest.push(Reverse(Slow {
            run: line.run,
            seq: Reverse(self.seq),
            id: cut(&line.id).to_owned(),
            kind: cut(&line.kind).to_owned(),
            outcome: line.outcome,
            attempts: line.attempts,
            wait: line.wait,
            finished_at: line.finished_at,
        }));
        if self.slowest.len() > TOP {
            self.slowest.pop();
        }
    }

    /// What the page shows.
    pub(super) fn finish(self) -> Summary {
        let mut by_outcome = [0u64; 5];
        let mut by_kind = vec![[0u64; 5]; self.kinds.len()];
        for l in self.latest.values() {
            by_outcome[l.outcome as usize] += 1;
            by_kind[l.kind as usize][l.outcome as usize] += 1;
        }
        let mut by_kind: Vec<(String, [u64; 5])> = self.kinds.into_iter().zip(by_kind).collect();
        by_kind.sort_by(|a, b| a.0.cmp(&b.0));
        let failure_groups = self.groups.len();
        let mut failures: Vec<Group> = self.groups.into_values().collect();
        failures.sort_by(|a, b| {
            b.count.cmp(&a.count).then_with(|| (&a.kind, &a.error).cmp(&(&b.kind, &b.error)))
        });
        failures.truncate(TOP);
        let mut slowest: Vec<Slow> = self.slowest.into_iter().map(|Reverse(s)| s).collect();
        slowest.sort_by(|a, b| b.cmp(a));
        Summary {
            jobs: self.latest.len() as u64,
            by_outcome,
            by_kind,
            lines: self.seq,
            lines_by_outcome: self.lines_by_outcome,
            duplicates: self.duplicates,
            span: self.span.unwrap_or_default(),
            timeline: self.timeline.bars(),
            wait: self.wait,
            run: self.run,
            failures,
            failure_groups,
            slowest,
            attempts: self.attempts,
            retries: self.retries,
        }
    }
}

/// The first [`MAX_TEXT`] bytes of `text`, at a character boundary.
fn cut(text: &str) -> &str {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The last [`MAX_TEXT`] bytes of `text`, at a character boundary.
fn cut_end(text: &str) -> &str {
    let mut start = text.len().saturating_sub(MAX_TEXT);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::cmd::report::line::parse;

    /// A ledger line: `finished` seconds after 2026-01-01T00:00:00Z, queued one second
    /// before, waited 0.1 s.
    pub(in crate::cmd::report) fn line(
        id: &str,
        kind: &str,
        outcome: &str,
        attempts: u32,
        finished: u32,
        run: f64,
        error: Option<&str>,
    ) -> String {
        let error = error.map_or("null".to_owned(), |e| serde_json::to_string(e).unwrap());
        format!(
            r#"{{"id":{id:?},"name":null,"kind":"{kind}","priority":0,"outcome":"{outcome}","attempts":{attempts},"queued_at":"2026-01-01T00:{:02}:{:02}Z","started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:{:02}:{:02}Z","wait_seconds":0.1,"run_seconds":{run},"error":{error},"spec_hash":"h"}}"#,
            (finished - 1) / 60,
            (finished - 1) % 60,
            finished / 60,
            finished % 60,
        )
    }

    pub(in crate::cmd::report) fn tally(lines: &[String]) -> Summary {
        let mut t = Tally::new();
        for l in lines {
            t.add(parse(l.as_bytes()).unwrap());
        }
        t.finish()
    }

    #[test]
    fn totals_count_each_id_once_at_its_latest_line() {
        let s = tally(&[
            line("a", "noop", "succeeded", 1, 1, 0.1, None),
            line("b", "fail", "failed", 3, 2, 0.2, Some("boom")),
            line("c", "sleep", "timed_out", 1, 3, 5.0, Some("timed out")),
            // b again, later: a --resume'd run where it succeeded.
            line("b", "fail", "succeeded", 1, 10, 0.3, None),
            // c again, but earlier (a ledger given out of order): c stays timed out.
            line("c", "sleep", "cancelled", 0, 2, 0.0, None),
            // a line read twice counts once.
            line("a", "noop", "succeeded", 1, 1, 0.1, None),
        ]);
        assert_eq!(s.jobs, 3);
        assert_eq!(s.by_outcome, [2, 0, 0, 1, 0]);
        assert_eq!((s.lines, s.duplicates), (5, 1));
        assert_eq!(s.lines_by_outcome, [2, 1, 0, 1, 1]);
        assert_eq!(s.retries, 2);
        let kinds: Vec<_> = s.by_kind.iter().map(|(k, c)| (k.as_str(), *c)).collect();
        assert_eq!(kinds, [("fail", [1, 0, 0, 0, 0]), ("noop", [1, 0, 0, 0, 0]), ("sleep", [0, 0, 0, 1, 0])]);
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert_eq!(s.span, (t0, t0 + 10_000_000_000));
    }

    #[test]
    fn failures_are_grouped_by_kind_outcome_and_error_with_one_example() {
        let mut lines = Vec::new();
        for i in 0..5 {
            lines.push(line(&format!("x{i}"), "exec", "failed", 1, 1 + i, 0.1, Some("exit status 1")));
        }
        lines.push(line("y", "exec", "failed", 1, 9, 0.1, Some("exit status 2")));
        lines.push(line("z", "http", "failed", 1, 9, 0.1, Some("exit status 1")));
        lines.push(line("t", "exec", "timed_out", 2, 9, 0.1, Some("exit status 1")));
        lines.push(line("ok", "exec", "succeeded", 1, 9, 0.1, None));
        let s = tally(&lines);
        assert_eq!(s.failure_groups, 4);
        let top = &s.failures[0];
        assert_eq!(
            (top.kind.as_str(), top.outcome, top.error.as_deref()),
            ("exec", Outcome::Failed, Some("exit status 1"))
        );
        assert_eq!((top.count, top.example.as_str()), (5, "x0"));
        assert_eq!(s.failures.iter().map(|g| g.count).sum::<u64>(), 8);
    }

    #[test]
    fn the_slowest_are_kept_in_order_and_ties_keep_the_first() {
        let lines: Vec<String> = (0..100)
            .map(|i| line(&format!("j{i}"), "cpu", "succeeded", 1, 1, f64::from(i % 50), None))
            .collect();
        let s = tally(&lines);
        assert_eq!(s.slowest.len(), TOP);
        let ids: Vec<&str> = s.slowest.iter().take(4).map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["j49", "j99", "j48", "j98"]);
        assert_eq!(s.slowest[TOP - 1].run, Duration::from_secs(40));
    }

    #[test]
    fn attempts_and_retries_are_counted_per_line() {
        let s = tally(&[
            line("a", "fail", "succeeded", 1, 1, 0.1, None),
            line("b", "fail", "succeeded", 3, 1, 0.1, None),
            line("c", "fail", "failed", 7, 1, 0.1, Some("no")),
            line("d", "fail", "cancelled", 0, 1, 0.0, None),
        ]);
        assert_eq!(s.retries, 2 + 6);
        assert_eq!(s.attempts[0], [0, 0, 0, 0, 1]);
        assert_eq!(s.attempts[1], [1, 0, 0, 0, 0]);
        assert_eq!(s.attempts[3], [1, 0, 0, 0, 0]);
        assert_eq!(s.attempts[5], [0, 1, 0, 0, 0]);
        assert_eq!(s.wait.count(), 4);
    }

    #[test]
    fn timeline_counts_every_line() {
        let s = tally(&[
            line("a", "noop", "succeeded", 1, 1, 0.1, None),
            line("a", "noop", "failed", 1, 3, 0.1, Some("x")),
        ]);
        let bars = s.timeline.unwrap();
        let total: u64 = bars.counts.iter().flatten().sum();
        assert_eq!(total, 2);
        assert_eq!(s.jobs, 1);
        assert_eq!(s.by_outcome, [0, 1, 0, 0, 0]);
    }

    #[test]
    fn kinds_past_the_limit_count_as_other() {
        let lines: Vec<String> = (0..100)
            .map(|i| line(&format!("j{i}"), &format!("k{i:03}"), "succeeded", 1, 1, 0.1, None))
            .collect();
        let s = tally(&lines);
        assert_eq!(s.by_kind.len(), MAX_KINDS);
        let other = s.by_kind.iter().find(|(k, _)| k == "other").map(|(_, c)| c[0]);
        assert_eq!(other, Some(100 - (MAX_KINDS as u64 - 1)));
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT);
        assert!(cut(&long).len() <= MAX_TEXT && cut(&long).chars().all(|c| c == 'é'));
        assert!(cut_end(&long).len() <= MAX_TEXT && cut_end(&long).chars().all(|c| c == 'é'));
    }
}

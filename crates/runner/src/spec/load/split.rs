//! Pass 1 of one big JSON Lines file on two threads.
//!
//! The check pass is the only part of a run that cannot overlap with running jobs, and it
//! left one of the two cores idle. The file is cut at the first line break after its middle;
//! each half is read by its own thread into its own id table. The halves' result is used only
//! when it is clean — no error, no generated id (their numbering depends on order), no id in
//! both halves or in an earlier file — and then the second half's entries are renumbered to
//! whole-file lines and merged. Otherwise [`check`](super::check::check) reads the file again
//! on one thread, which finds and words every problem exactly as it always has.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::super::file::{Event, Format, MAX_LINE, Pos, SourceCtx, check_line, parse_line_full};
use super::ParseOptions;
use super::ids::{IdEntry, IdHasher, IdKey, id_key, id_word};
use super::lines::{LineRead, LineReader};
use super::source::{Data, Source};

/// Files smaller than this are checked on one thread (a second one would not pay).
const MIN_BYTES: u64 = 1 << 20;

/// What one half found: its ids (lines counted from `first_line`), jobs (and how many
/// start a process) and lines.
struct Half {
    seen: Seen,
    jobs: u64,
    core_jobs: u64,
    lines: usize,
}

/// The ids one half has seen.
enum Seen {
    /// Each id's fingerprint and place: what the tables of other files are made of.
    Places(HashMap<IdKey, IdEntry, IdHasher>),
    /// One word of each id's fingerprint, when nothing reads where an id was (the only
    /// file, whose ids are only compared with each other). Half the entries of `Places`
    /// (an eighth of the bytes), and cache misses were most of an insert. A collision of
    /// two words reads as a duplicate, which sends the file to the exact one-thread
    /// check: slower, never wrong.
    Words(HashSet<u64, IdHasher>),
}

impl Seen {
    fn new(words: bool, capacity: usize) -> Seen {
        if words {
            Seen::Words(HashSet::with_capacity_and_hasher(capacity, IdHasher::default()))
        } else {
            Seen::Places(HashMap::with_capacity_and_hasher(capacity, IdHasher::default()))
        }
    }

    /// Records `id` at `at`; `Some(false)` if it was seen before (`None`: a place too far
    /// for the table).
    fn insert(&mut self, source: u32, id: &[u8], at: Pos) -> Option<bool> {
        Some(match self {
            Seen::Words(words) => words.insert(id_word(id)),
            Seen::Places(places) => {
                let entry = IdEntry {
                    source,
                    line: u32::try_from(at.line).ok()?,
                    column: u32::try_from(at.column).ok()?,
                    generated: 0,
                };
                places.insert(id_key(id), entry).is_none()
            }
        })
    }

    /// Whether an id is in both (`true` when they cannot be compared).
    fn overlaps(&self, other: &Seen) -> bool {
        match (self, other) {
            (Seen::Places(a), Seen::Places(b)) => b.keys().any(|k| a.contains_key(k)),
            (Seen::Words(a), Seen::Words(b)) => b.iter().any(|k| a.contains(k)),
            _ => true,
        }
    }

    /// Whether an id is in the table of earlier files (`true` when that cannot be told).
    fn any_in(&self, ids: &HashMap<IdKey, IdEntry, IdHasher>) -> bool {
        match self {
            Seen::Places(places) => places.keys().any(|k| ids.contains_key(k)),
            Seen::Words(_) => !ids.is_empty(),
        }
    }
}

/// Checks `source` on two threads against the ids of earlier sources, `ids`, and, when
/// `more` sources follow, merges its own ids into them; its job count and how many of them
/// start a process, or `None` when the caller must check it on one thread.
pub(super) fn check(
    source: &Source,
    source_no: u32,
    options: &ParseOptions,
    ids: &mut HashMap<IdKey, IdEntry, IdHasher>,
    more: bool,
) -> Option<(u64, u64)> {
    if source.format != Some(Format::Lines) || matches!(source.data, Data::Memory(_)) {
        return None;
    }
    let len = std::fs::metadata(path_of(source)?).ok()?.len();
    if len < MIN_BYTES {
        return None;
    }
    let cut = cut_after_middle(source, len)?;
    // When the ids are merged (more sources follow), the first half's table is sized for
    // the whole file, so that the second half's entries merge into it without a rehash:
    // peak memory is then what one thread's growing table reached (old and new tables
    // side by side), not a merged copy besides both halves. The last source's ids are
    // only looked up across the halves, not merged: nothing reads them afterwards.
    let lines = estimate_lines(source, len)?;
    let first_capacity = if more { lines } else { lines / 2 };
    // The only source (the usual run): its ids are only compared with each other.
    let words = !more && ids.is_empty();
    let (first, second) = std::thread::scope(|scope| {
        let second =
            scope.spawn(|| half(source, source_no, options, (cut, len), 2, Seen::new(words, lines / 2)));
        let first = half(source, source_no, options, (0, cut), 1, Seen::new(words, first_capacity));
        (first, second.join().ok().flatten())
    });
    let (first, second) = (first?, second?);
    let counts = (first.jobs + second.jobs, first.core_jobs + second.core_jobs);
    // The second half's lines were numbered from 2 (so that a byte order mark is only
    // skipped on the file's first line): renumber them after the first half's.
    let shift = u32::try_from(first.lines).ok()?.checked_sub(1)?;
    if !ids.is_empty() && (first.seen.any_in(ids) || second.seen.any_in(ids)) {
        return None;
    }
    if first.seen.overlaps(&second.seen) {
        return None;
    }
    if !more {
        return Some(counts);
    }
    let (Seen::Places(mut merged), Seen::Places(later)) = (first.seen, second.seen) else {
        return None;
    };
    for (key, mut entry) in later {
        entry.line = entry.line.checked_add(shift)?;
        merged.insert(key, entry);
    }
    if ids.is_empty() {
        *ids = merged;
    } else {
        ids.extend(merged);
    }
    Some(counts)
}

/// The file's line count, estimated from its first 64 KiB (at least 1).
fn estimate_lines(source: &Source, len: u64) -> Option<usize> {
    let mut sample = Vec::with_capacity(64 * 1024);
    open_at(source, 0)?.take(64 * 1024).read_to_end(&mut sample).ok()?;
    let breaks = sample.iter().filter(|&&b| b == b'\n').count().max(1) as u64;
    let estimate = len.saturating_mul(breaks) / (sample.len().max(1) as u64);
    // Over-estimating wastes memory: cap the hint at one table entry per 16 bytes.
    usize::try_from(estimate.min(len / 16).max(1)).ok()
}

fn path_of(source: &Source) -> Option<&Path> {
    match &source.data {
        Data::File(path) => Some(path),
        Data::Temp(file) => Some(file.path()),
        Data::Memory(_) => None,
    }
}

fn open_at(source: &Source, at: u64) -> Option<BufReader<File>> {
    use std::io::Seek as _;
    let mut file = match &source.data {
        Data::File(path) => File::open(path).ok()?,
        Data::Temp(file) => file.reopen().ok()?,
        Data::Memory(_) => return None,
    };
    file.seek(io::SeekFrom::Start(at)).ok()?;
    Some(BufReader::with_capacity(64 * 1024, file))
}

/// The offset just after the first line break at or after the middle.
fn cut_after_middle(source: &Source, len: u64) -> Option<u64> {
    let middle = len / 2;
    let mut reader = open_at(source, middle)?;
    let mut skipped = Vec::new();
    let n = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut skipped).ok()?;
    (skipped.last() == Some(&b'\n')).then(|| middle + n as u64).filter(|&cut| cut < len)
}

/// Checks bytes `start..end` of the file, numbering lines from `first_line`; `None` as
/// soon as anything is not clean.
fn half(
    source: &Source,
    source_no: u32,
    options: &ParseOptions,
    (start, end): (u64, u64),
    first_line: usize,
    seen: Seen,
) -> Option<Half> {
    let mut lines = LineReader::new(open_at(source, start)?.take(end - start));
    let ctx = SourceCtx {
        path: &source.display,
        allow_periodic: options.allow_periodic,
        allow_shell: options.allow_shell,
        hash: false,
    };
    let mut out = Half { seen, jobs: 0, core_jobs: 0, lines: 0 };
    let mut events = Vec::new();
    loop {
        let line = match lines.next_line().ok()? {
            LineRead::End => return Some(out),
            LineRead::TooLong => return None,
            LineRead::Line(line) => line,
        };
        let line_no = first_line + out.lines;
        out.lines += 1;
        // The usual line, a valid flat job, lends its id; any other goes through the full
        // parser, whose events say the same (or that the line is not clean).
        if let Some(job) = check_line(&ctx, line, line_no) {
            let at = Pos { line: line_no, column: job.id_column };
            out.add(source_no, job.id.as_bytes(), at, job.core_bound)?;
            continue;
        }
        parse_line_full(&ctx, line, line_no, &mut events);
        for event in events.drain(..) {
            match &event {
                Event::Valid { id, pos, core_bound, .. } => {
                    out.add(source_no, id.as_bytes(), *pos, *core_bound)?
                }
                Event::Job { spec, id_pos, .. } if !spec.id_generated => {
                    out.add(source_no, spec.id.as_bytes(), *id_pos, spec.kind.uses_a_core())?
                }
                _ => return None,
            }
        }
    }
}

impl Half {
    /// Counts a valid job with an explicit id; `None` if the id was seen before.
    fn add(&mut self, source: u32, id: &[u8], at: Pos, core_bound: bool) -> Option<()> {
        if !self.seen.insert(source, id, at)? {
            return None;
        }
        self.jobs += 1;
        self.core_jobs += u64::from(core_bound);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::split;
    use super::*;
    use crate::spec::Loader;

    /// A JSON Lines file big enough to be checked on two threads: `n` no-op jobs `j-0`…
    fn big_file(n: usize, extra: &[(usize, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        let mut text = String::new();
        for i in 0..n {
            match extra.iter().find(|(at, _)| *at == i) {
                Some((_, line)) => text.push_str(line),
                None => text.push_str(&format!("{{\"id\": \"j-{i}\", \"kind\": \"noop\"}}")),
            }
            text.push('\n');
        }
        assert!(text.len() as u64 > 1 << 20, "too small to be split");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_clean_big_file_checks_in_two_halves_like_one() {
        let (_dir, path) = big_file(40_000, &[]);
        let mut ids = HashMap::default();
        let split = split::check(&Source::file(path.clone()), 0, &ParseOptions::default(), &mut ids, true);
        assert_eq!(split, Some((40_000, 0)), "the two-thread check must take a clean big file");
        assert_eq!(ids.get(&id_key("j-39999")).map(|e| e.line), Some(40_000));
        // The last source's ids are not kept: nothing after it needs them.
        let mut last = HashMap::default();
        let split = split::check(&Source::file(path.clone()), 0, &ParseOptions::default(), &mut last, false);
        assert_eq!((split, last.len()), (Some((40_000, 0)), 0));
        // A big file before another one: an id of the second file that the big file has too
        // is found in the merged table, with the big file's line (in its second half).
        let dir = path.parent().unwrap();
        let other = dir.join("other.jsonl");
        std::fs::write(
            &other,
            "{\"id\": \"x\", \"kind\": \"noop\"}\n{\"id\": \"j-39000\", \"kind\": \"noop\"}\n",
        )
        .unwrap();
        let errors = Loader::new(ParseOptions::default()).path(&path).path(&other).validate().unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("big.jsonl:39001:"), "{}", errors[0].message);
        let v = Loader::new(ParseOptions::default()).path(&path).validate().unwrap();
        assert_eq!(v.job_count(), 40_000);
        let ids: Vec<String> = v.jobs().map(|j| j.unwrap().id.to_string()).collect();
        assert_eq!(ids.len(), 40_000);
        assert_eq!(ids[39_999], "j-39999");
    }

    #[test]
    fn core_jobs_are_counted_on_every_path_of_the_check() {
        // In each half of a big file, with explicit and generated ids, and in a JSON file.
        let exec = "{\"id\": \"x-1\", \"kind\": \"exec\", \"program\": \"true\"}";
        let shell = "{\"id\": \"x-2\", \"kind\": \"shell\", \"script\": \"true\"}";
        let sleep = "{\"id\": \"x-3\", \"kind\": \"sleep\", \"duration\": \"1s\"}";
        let (dir, path) = big_file(40_000, &[(3, exec), (39_000, shell), (39_001, sleep)]);
        let options = ParseOptions { allow_shell: true, ..ParseOptions::default() };
        let split = split::check(&Source::file(path.clone()), 0, &options, &mut HashMap::default(), false);
        assert_eq!(split, Some((40_000, 2)));
        let json = dir.path().join("more.json");
        std::fs::write(
            &json,
            r#"[{"kind": "exec", "program": "true"}, {"kind": "noop"}, {"kind": "shell", "script": ":"}]"#,
        )
        .unwrap();
        let v = Loader::new(options).path(&path).path(&json).validate().unwrap();
        assert_eq!((v.job_count(), v.core_job_count()), (40_003, 4));
    }

    #[test]
    fn problems_across_the_halves_are_found_and_worded_as_on_one_thread() {
        // A duplicate whose first occurrence is in the first half and the second in the
        // second: only the whole-file check sees both.
        let dup = "{\"id\": \"j-5\", \"kind\": \"noop\"}";
        let (_dir, path) = big_file(40_000, &[(39_000, dup)]);
        let split = split::check(
            &Source::file(path.clone()),
            0,
            &ParseOptions::default(),
            &mut HashMap::default(),
            false,
        );
        assert_eq!(split, None, "a duplicate across the halves must send the file to one thread");
        // And one within a half (the only file's halves keep a word of each id, not its line).
        let (_dir, near) = big_file(40_000, &[(20, dup)]);
        let options = ParseOptions::default();
        assert_eq!(split::check(&Source::file(near), 0, &options, &mut HashMap::default(), false), None);
        let errors = Loader::new(ParseOptions::default()).path(&path).validate().unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let p = path.display();
        assert_eq!(shown, [format!("{p}:39001:8: id: duplicate id `j-5` (first defined at {p}:6:8)")]);

        // An error in the second half keeps its whole-file line number.
        let (_dir, path) = big_file(40_000, &[(30_000, "{\"kind\": \"nop\"}")]);
        let errors = Loader::new(ParseOptions::default()).path(&path).validate().unwrap_err();
        assert_eq!(errors[0].line, 30_001);

        // Generated ids are numbered in file order: checked on one thread.
        let same = "{\"kind\": \"noop\"}";
        let (_dir, path) = big_file(40_000, &[(10, same), (39_000, same)]);
        let v = Loader::new(ParseOptions::default()).path(&path).validate().unwrap();
        let generated: Vec<String> =
            v.jobs().map(|j| j.unwrap()).filter(|j| j.id_generated).map(|j| j.id.to_string()).collect();
        assert_eq!(generated.len(), 2);
        assert_eq!(generated[1], format!("{}-2", generated[0]));
    }
}

//! The ledger: one JSON line per job at its final state, appended as it happens, and read
//! back by `--resume`.
//!
//! # Line format
//!
//! Fields, in this order: `id`, `name` (null if none), `kind`, `priority`, `outcome`
//! (`succeeded|failed|panicked|timed_out|cancelled`), `attempts`, `queued_at`, `started_at`
//! (null if it never started), `finished_at` (RFC 3339 UTC, milliseconds: `2025-06-01T12:00:
//! 00.123Z`), `wait_seconds`, `run_seconds`, `error` (null or text), `spec_hash`, and for
//! `exec`/`shell` jobs `exit_code` (null when the program did not exit by itself) and
//! `output_tail` (null when nothing was captured).
//!
//! # Group commit
//!
//! A single writer thread takes the first ready record from a channel, then every record that
//! is ready too (`try_recv`, no timer), and hands their lines to the OS in one `write`: under
//! load many lines per system call, when idle one line at once. `conveyor run` sends records
//! through a [`RecordBatcher`], which hands them over 512 at a time under load and all at
//! once whenever the run's thread has nothing else to do. `kill -9` loses at most the lines
//! in flight (under load, up to 511 gathered and not yet handed over, besides those handed
//! over and not yet written); those jobs run again on `--resume` (at-least-once). `--fsync`
//! adds `sync_data` after every batch.
//!
//! # Resume
//!
//! [`ResumeSet::read`] keeps a 128-bit fingerprint of `(id, spec_hash)` for every
//! `succeeded` line (16 bytes a job: a million-job ledger costs ~25 MB). A torn last line (a
//! crash mid-write) is ignored, and [`open_for_append`] cuts it off so the file stays valid
//! JSON Lines.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};
use conveyor_pool::Outcome;
use serde::Deserialize;

/// What an `exec` or `shell` job's last attempt left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code, if the program exited by itself.
    pub exit_code: Option<i32>,
    /// The end of its combined output, if any was captured.
    pub output_tail: Option<String>,
}

/// One job at its final state: a ledger line, and what the summary counts.
#[derive(Debug, Clone)]
pub struct Record {
    /// The job's id from its file (or generated).
    pub id: Arc<str>,
    /// Its name, if any.
    pub name: Option<Arc<str>>,
    /// Its kind (`sleep`, `exec`, …).
    pub kind: &'static str,
    /// Its priority.
    pub priority: i32,
    /// How it ended.
    pub outcome: Outcome,
    /// Attempts started (0 if it never ran).
    pub attempts: u32,
    /// When it was submitted (or, if it never was, when it was cancelled).
    pub queued_at: SystemTime,
    /// When its first attempt started.
    pub started_at: Option<SystemTime>,
    /// When it reached its final state.
    pub finished_at: SystemTime,
    /// Submit to first start (to the end if it never started).
    pub wait: Duration,
    /// All attempts' run time.
    pub run: Duration,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// The spec hash (see [`crate::spec::spec_hash`]).
    pub spec_hash: Arc<str>,
    /// For `exec` and `shell` jobs: `Some`, even if nothing ran.
    pub exec: Option<ExecOutput>,
}

/// A [`Record`] lent rather than owned: the fields of one ledger line. The writer thread
/// formats lines and shows observers this view, so that whoever sends it a job's final state
/// (an [`Entry`]) need not copy the job's id, name and hash into a `Record` first.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use conveyor::ledger::{RecordRef, Timestamps};
/// use conveyor_pool::Outcome;
///
/// let t = UNIX_EPOCH + Duration::from_secs(1_748_779_200);
/// let view = RecordRef {
///     id: "a", name: None, kind: "noop", priority: 0, outcome: Outcome::Succeeded,
///     attempts: 1, queued_at: t, started_at: Some(t), finished_at: t,
///     wait: Duration::ZERO, run: Duration::from_millis(1), error: None,
///     spec_hash: "ff", exec: None,
/// };
/// let mut line = Vec::new();
/// view.write_line_with(&mut line, &mut Timestamps::default());
/// assert!(line.starts_with(b"{\"id\":\"a\",\"name\":null,\"kind\":\"noop\""));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    // Each field is its `Record` namesake, borrowed: the meaning is documented there once.
    /// [`Record::id`].
    pub id: &'a str,
    /// [`Record::name`].
    pub name: Option<&'a str>,
    /// [`Record::kind`].
    pub kind: &'static str,
    /// [`Record::priority`].
    pub priority: i32,
    /// [`Record::outcome`].
    pub outcome: Outcome,
    /// [`Record::attempts`].
    pub attempts: u32,
    /// [`Record::queued_at`].
    pub queued_at: SystemTime,
    /// [`Record::started_at`].
    pub started_at: Option<SystemTime>,
    /// [`Record::finished_at`].
    pub finished_at: SystemTime,
    /// [`Record::wait`].
    pub wait: Duration,
    /// [`Record::run`].
    pub run: Duration,
    /// [`Record::error`].
    pub error: Option<&'a str>,
    /// [`Record::spec_hash`].
    pub spec_hash: &'a str,
    /// [`Record::exec`].
    pub exec: Option<&'a ExecOutput>,
}

/// What a [`Writer`] takes: a job's final state that can lend its ledger line's fields.
/// [`Record`] is one; `conveyor run` sends a lighter one that borrows them from the job's
/// spec, so that the run's busy thread copies none of them.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use conveyor::ledger::{Entry, Record};
/// use conveyor_pool::Outcome;
///
/// let t = UNIX_EPOCH + Duration::from_secs(1);
/// let r = Record {
///     id: "a".into(), name: None, kind: "noop", priority: 0, outcome: Outcome::Succeeded,
///     attempts: 1, queued_at: t, started_at: Some(t), finished_at: t,
///     wait: Duration::ZERO, run: Duration::ZERO, error: None, spec_hash: "ff".into(), exec: None,
/// };
/// assert_eq!(r.view().id, "a");
/// ```
pub trait Entry: Send + 'static {
    /// The fields of this entry's ledger line.
    fn view(&self) -> RecordRef<'_>;
}

impl Entry for Record {
    fn view(&self) -> RecordRef<'_> {
        RecordRef {
            id: &self.id,
            name: self.name.as_deref(),
            kind: self.kind,
            priority: self.priority,
            outcome: self.outcome,
            attempts: self.attempts,
            queued_at: self.queued_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            wait: self.wait,
            run: self.run,
            error: self.error.as_deref(),
            spec_hash: &self.spec_hash,
            exec: self.exec.as_ref(),
        }
    }
}

impl From<RecordRef<'_>> for Record {
    /// An owned copy of the line's fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use conveyor::ledger::{Entry, Record, RecordRef};
    /// use conveyor_pool::Outcome;
    ///
    /// let t = UNIX_EPOCH + Duration::from_secs(1);
    /// let view = RecordRef {
    ///     id: "a", name: Some("n"), kind: "noop", priority: 3, outcome: Outcome::Failed,
    ///     attempts: 2, queued_at: t, started_at: None, finished_at: t,
    ///     wait: Duration::ZERO, run: Duration::ZERO, error: Some("boom"), spec_hash: "ff", exec: None,
    /// };
    /// let record = Record::from(view);
    /// let (mut a, mut b) = (Vec::new(), Vec::new());
    /// record.write_line(&mut a);
    /// view.write_line_with(&mut b, &mut Default::default());
    /// assert_eq!(a, b);
    /// ```
    fn from(r: RecordRef<'_>) -> Record {
        Record {
            id: r.id.into(),
            name: r.name.map(Into::into),
            kind: r.kind,
            priority: r.priority,
            outcome: r.outcome,
            attempts: r.attempts,
            queued_at: r.queued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            wait: r.wait,
            run: r.run,
            error: r.error.map(str::to_owned),
            spec_hash: r.spec_hash.into(),
            exec: r.exec.cloned(),
        }
    }
}

/// RFC 3339 in UTC with milliseconds: `2025-06-01T12:00:00.123Z`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_millis(1_748_779_200_123);
/// assert_eq!(conveyor::ledger::timestamp(t), "2025-06-01T12:00:00.123Z");
/// ```
pub fn timestamp(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(24);
    Timestamps::default().write(t, &mut out);
    String::from_utf8(out).unwrap_or_else(|_| chrono_timestamp(t))
}

/// The reference form, through chrono: for instants the fast path does not cover (before
/// 1970 or after 9999).
fn chrono_timestamp(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes [`timestamp`]s into a buffer, remembering the formatted date and time of the last
/// whole second: under load every line of a batch falls in the same second, and only its
/// milliseconds are formatted. What chrono does in ~700 instructions takes ~30.
///
/// It also keeps the `wait_seconds` and `run_seconds` values of short durations once
/// formatted (see [`Seconds`]).
#[derive(Debug, Default, Clone)]
pub struct Timestamps {
    /// Seconds since the Unix epoch of `prefix`, if any.
    second: Option<u64>,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`.
    prefix: [u8; 19],
    seconds: Seconds,
}

/// 9999-12-31T23:59:59Z: later instants need more than four digits for the year.
const LAST_FOUR_DIGIT_SECOND: u64 = 253_402_300_799;

impl Timestamps {
    /// Appends `t` as [`timestamp`] formats it (no quotes).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use conveyor::ledger::Timestamps;
    ///
    /// let mut stamps = Timestamps::default();
    /// let mut out = Vec::new();
    /// stamps.write(UNIX_EPOCH + Duration::from_millis(951_782_400_007), &mut out);
    /// assert_eq!(out, b"2000-02-29T00:00:00.007Z");
    /// ```
    pub fn write(&mut self, t: SystemTime, out: &mut Vec<u8>) {
        let since = match t.duration_since(UNIX_EPOCH) {
            Ok(d) if d.as_secs() <= LAST_FOUR_DIGIT_SECOND => d,
            _ => {
                out.extend_from_slice(chrono_timestamp(t).as_bytes());
                return;
            }
        };
        let second = since.as_secs();
        if self.second != Some(second) {
            self.prefix = date_time(second);
            self.second = Some(second);
        }
        out.extend_from_slice(&self.prefix);
        // Truncated, not rounded, as chrono's `SecondsFormat::Millis` does.
        let ms = since.subsec_millis();
        out.extend_from_slice(&[b'.', digit(ms / 100), digit(ms / 10), digit(ms), b'Z']);
    }
}

/// The last decimal digit of `n`, as ASCII.
fn digit(n: u32) -> u8 {
    b'0' + (n % 10) as u8
}

/// `YYYY-MM-DDTHH:MM:SS` for `second` seconds after the Unix epoch (at most
/// [`LAST_FOUR_DIGIT_SECOND`]), by Howard Hinnant's `civil_from_days`.
fn date_time(second: u64) -> [u8; 19] {
    let days = second / 86_400;
    let in_day = (second % 86_400) as u32;
    // Days since 0000-03-01, counted in 400-year eras of 146,097 days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + u64::from(month <= 2)) as u32;
    let (h, m, s) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
    [
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        digit(month / 10),
        digit(month),
        b'-',
        digit(day / 10),
        digit(day),
        b'T',
        digit(h / 10),
        digit(h),
        b':',
        digit(m / 10),
        digit(m),
        b':',
        digit(s / 10),
        digit(s),
    ]
}

/// `d` in whole microseconds (rounded): the ledger's seconds are `micros(d) / 1e6`.
fn micros(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round()
}

/// Durations under this many microseconds have their formatted seconds kept by [`Seconds`].
const SECONDS_KEPT: usize = 1 << 12;

/// The JSON text of a duration's seconds (µs precision) for durations under
/// [`SECONDS_KEPT`] µs, each formatted once (by [`json_f64`], so the bytes are the same) and
/// then copied: a job's wait and run are mostly a few µs to ms, and the shortest-digits float
/// formatting was the writer thread's largest single cost (~20 ns a value).
#[derive(Debug, Default, Clone)]
struct Seconds {
    /// Slot `n` holds the text for `n` µs, its length in the last byte (0: not yet formatted).
    /// Empty until first used.
    slots: Vec<[u8; 16]>,
}

impl Seconds {
    /// Appends `d` in seconds, rounded to µs, as [`json_f64`] writes it.
    fn write(&mut self, d: Duration, out: &mut Vec<u8>) {
        let n = micros(d);
        if !(0.0..SECONDS_KEPT as f64).contains(&n) {
            return json_f64(out, n / 1e6);
        }
        if self.slots.is_empty() {
            self.slots = vec![[0; 16]; SECONDS_KEPT];
        }
        // `n` is a whole number below SECONDS_KEPT: the cast is exact, and so the index.
        let slot = &mut self.slots[n as usize];
        if slot[15] == 0 {
            let mut text = Vec::with_capacity(16);
            json_f64(&mut text, n / 1e6);
            // At most "0.004095" (8 bytes) below SECONDS_KEPT µs.
            slot[..text.len()].copy_from_slice(&text);
            slot[15] = text.len() as u8;
        }
        out.extend_from_slice(&slot[..usize::from(slot[15])]);
    }
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
fn json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Almost every string needs no escape: find out without an early exit, so the loop
    // vectorises, and copy it whole.
    let plain = bytes.iter().fold(true, |plain, &b| plain & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    let mut unicode = *b"\\u0000";
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                unicode[4] = HEX[usize::from(b >> 4)];
                unicode[5] = HEX[usize::from(b & 0xf)];
                &unicode
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn json_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends a finite `f64` as serde_json writes it (`0.0`, `0.0015`, `1e-6`).
fn json_f64(out: &mut Vec<u8>, x: f64) {
    if x.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(x).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn json_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

impl Record {
    /// Appends this record's ledger line, `\n` included, to `out`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use conveyor::ledger::Record;
    /// use conveyor_pool::Outcome;
    ///
    /// let t = UNIX_EPOCH + Duration::from_secs(1_748_779_200);
    /// let r = Record {
    ///     id: "a".into(), name: None, kind: "noop", priority: 0, outcome: Outcome::Succeeded,
    ///     attempts: 1, queued_at: t, started_at: Some(t), finished_at: t,
    ///     wait: Duration::ZERO, run: Duration::from_millis(1), error: None,
    ///     spec_hash: "ff".into(), exec: None,
    /// };
    /// let mut line = Vec::new();
    /// r.write_line(&mut line);
    /// assert_eq!(String::from_utf8(line).unwrap(),
    ///     "{\"id\":\"a\",\"name\":null,\"kind\":\"noop\",\"priority\":0,\"outcome\":\"succeeded\",\
    ///      \"attempts\":1,\"queued_at\":\"2025-06-01T12:00:00.000Z\",\
    ///      \"started_at\":\"2025-06-01T12:00:00.000Z\",\"finished_at\":\"2025-06-01T12:00:00.000Z\",\
    ///      \"wait_seconds\":0.0,\"run_seconds\":0.001,\"error\":null,\"spec_hash\":\"ff\"}\n");
    /// ```
    pub fn write_line(&self, out: &mut Vec<u8>) {
        self.write_line_with(out, &mut Timestamps::default());
    }

    /// [`write_line`](Self::write_line) with a [`Timestamps`] kept from line to line (the
    /// ledger writer's): the same bytes, written by hand rather than through serde, with no
    /// allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use conveyor::ledger::{Record, Timestamps};
    /// use conveyor_pool::Outcome;
    ///
    /// let t = UNIX_EPOCH + Duration::from_secs(1_748_779_200);
    /// let r = Record {
    ///     id: "a".into(), name: Some("x\"y".into()), kind: "exec", priority: -1,
    ///     outcome: Outcome::Failed, attempts: 2, queued_at: t, started_at: None,
    ///     finished_at: t, wait: Duration::from_micros(1), run: Duration::ZERO,
    ///     error: Some("exit 1".into()), spec_hash: "ff".into(),
    ///     exec: Some(conveyor::ledger::ExecOutput { exit_code: Some(1), output_tail: None }),
    /// };
    /// let (mut a, mut b) = (Vec::new(), Vec::new());
    /// r.write_line(&mut a);
    /// r.write_line_with(&mut b, &mut Timestamps::default());
    /// assert_eq!(a, b);
    /// assert!(String::from_utf8(a).unwrap().ends_with(",\"exit_code\":1,\"output_tail\":null}\n"));
    /// ```
    pub fn write_line_with(&self, out: &mut Vec<u8>, stamps: &mut Timestamps) {
        self.view().write_line_with(out, stamps);
    }
}

impl RecordRef<'_> {
    /// Appends this line, `\n` included, to `out`: the bytes [`Record::write_line`] writes,
    /// with `stamps` kept from line to line (the ledger writer's), and no allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use conveyor::ledger::{Entry, Record, Timestamps};
    /// use conveyor_pool::Outcome;
    ///
    /// let t = UNIX_EPOCH + Duration::from_secs(1_748_779_200);
    /// let r = Record {
    ///     id: "a".into(), name: None, kind: "noop", priority: 0, outcome: Outcome::Succeeded,
    ///     attempts: 1, queued_at: t, started_at: Some(t), finished_at: t,
    ///     wait: Duration::ZERO, run: Duration::ZERO, error: None, spec_hash: "ff".into(), exec: None,
    /// };
    /// let (mut a, mut b) = (Vec::new(), Vec::new());
    /// r.write_line(&mut a);
    /// r.view().write_line_with(&mut b, &mut Timestamps::default());
    /// assert_eq!(a, b);
    /// ```
    pub fn write_line_with(&self, out: &mut Vec<u8>, stamps: &mut Timestamps) {
        out.extend_from_slice(b"{\"id\":");
        json_str(out, self.id);
        out.extend_from_slice(b",\"name\":");
        json_opt_str(out, self.name);
        out.extend_from_slice(b",\"kind\":");
        json_str(out, self.kind);
        out.extend_from_slice(b",\"priority\":");
        json_int(out, self.priority);
        out.extend_from_slice(b",\"outcome\":");
        json_str(out, self.outcome.as_str());
        out.extend_from_slice(b",\"attempts\":");
        json_int(out, self.attempts);
        out.extend_from_slice(b",\"queued_at\":\"");
        stamps.write(self.queued_at, out);
        out.extend_from_slice(b"\",\"started_at\":");
        match self.started_at {
            Some(t) => {
                out.push(b'"');
                stamps.write(t, out);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"finished_at\":\"");
        stamps.write(self.finished_at, out);
        out.extend_from_slice(b"\",\"wait_seconds\":");
        stamps.seconds.write(self.wait, out);
        out.extend_from_slice(b",\"run_seconds\":");
        stamps.seconds.write(self.run, out);
        out.extend_from_slice(b",\"error\":");
        json_opt_str(out, self.error);
        out.extend_from_slice(b",\"spec_hash\":");
        json_str(out, self.spec_hash);
        if let Some(exec) = self.exec {
            out.extend_from_slice(b",\"exit_code\":");
            match exec.exit_code {
                Some(code) => json_int(out, code),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"output_tail\":");
            json_opt_str(out, exec.output_tail.as_deref());
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Opens (creating if needed) a ledger for appending, after checking that it is one: its
/// first line and its last must be ledger lines (an `id`, a known `outcome` and a
/// `spec_hash`), so that `--ledger` pointed at a job file or any other file is refused
/// with the file untouched. A last line without a final newline is kept and terminated if
/// it is a whole ledger line, and cut off only if it is the start of one (a crash
/// mid-write), so new lines start on a line of their own.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidData`] when the file holds something else than ledger lines;
/// any I/O error opening, reading, truncating or terminating the file.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("l.jsonl");
/// let a = r#"{"id":"a","outcome":"succeeded","spec_hash":"h"}"#;
/// std::fs::write(&path, format!("{a}\n{{\"id\":\"b\",\"outc")).unwrap();
/// let _file = conveyor::ledger::open_for_append(&path).unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{a}\n"));
///
/// let jobs = dir.path().join("jobs.jsonl");
/// std::fs::write(&jobs, "{\"kind\": \"noop\"}\n").unwrap();
/// let e = conveyor::ledger::open_for_append(&jobs).unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
/// assert_eq!(std::fs::read_to_string(&jobs).unwrap(), "{\"kind\": \"noop\"}\n");
/// ```
pub fn open_for_append(path: &Path) -> io::Result<File> {
    let mut file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(file);
    }
    let first = first_line(&mut file)?;
    let last_start = last_line_start(&mut file, len)?;
    let mut last = Vec::new();
    file.seek(SeekFrom::Start(last_start))?;
    (&mut file).take(MAX_LINE).read_to_end(&mut last)?;
    let unterminated = !last.ends_with(b"\n");
    let whole_file_one_line = last_start == 0;
    // A file of one unterminated line is judged as a last line, below.
    let first_ok = (whole_file_one_line && unterminated) || first.as_deref().is_none_or(is_line);
    if !first_ok {
        return Err(not_a_ledger("its first line is not a ledger line"));
    }
    if unterminated {
        if is_line(&last) {
            // A whole line that lost only its newline (an editor, a copy): keep it.
            file.write_all(b"\n")?;
        } else if last.starts_with(TORN_START) {
            file.set_len(last_start)?;
        } else {
            return Err(not_a_ledger("its last line is neither a ledger line nor the start of one"));
        }
    } else if !last.iter().all(u8::is_ascii_whitespace) && !is_line(&last) && !whole_file_one_line {
        return Err(not_a_ledger("its last line is not a ledger line"));
    }
    Ok(file)
}

/// Every ledger line starts so: a last line that does and does not parse was cut short.
const TORN_START: &[u8] = b"{\"id\":\"";
/// The longest line looked at when checking a ledger (`output_tail` is bounded, so a
/// ledger line is far shorter).
const MAX_LINE: u64 = 16 << 20;

fn not_a_ledger(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a ledger: {why} (refusing to append to it; give a new file or an existing ledger)"),
    )
}

/// Whether `line` (with or without its newline) is a ledger line.
fn is_line(line: &[u8]) -> bool {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    serde_json::from_slice::<Minimal<'_>>(text)
        .is_ok_and(|m| Outcome::ALL.iter().any(|o| o.as_str() == m.outcome))
}

/// The first line that is not blank, if any (at most [`MAX_LINE`] bytes of it).
fn first_line(file: &mut File) -> io::Result<Option<Vec<u8>>> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&mut *file).take(MAX_LINE);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(line));
        }
    }
}

/// Where the last line of a file of `len` bytes starts: just after the last newline that
/// is not the file's final byte (reading backwards in blocks), or 0.
fn last_line_start(file: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len.saturating_sub(1);
    let mut block = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..n])?;
        if let Some(i) = block[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Which jobs a ledger shows as succeeded, for `--resume`.
#[derive(Debug, Default)]
pub struct ResumeSet {
    done: HashSet<u128, BuildHasherDefault<U128Hasher>>,
    /// Lines that could not be read (a torn last line, or damage); ignored.
    pub unreadable: u64,
}

#[derive(Deserialize)]
struct Minimal<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    outcome: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    spec_hash: std::borrow::Cow<'a, str>,
}

/// A 128-bit fingerprint of `(id, spec_hash)`: two SipHash-1-3 passes with different
/// prefixes. Only compared within one process, so the unspecified algorithm is fine.
fn fingerprint(id: &str, spec_hash: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        spec_hash.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// Keys are already uniform hashes: use their low bits as they are.
#[derive(Default)]
struct U128Hasher(u64);

impl Hasher for U128Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

impl ResumeSet {
    /// Reads the ledger at `path`; a missing file is an empty ledger.
    ///
    /// # Errors
    ///
    /// I/O errors other than "not found".
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::ledger::ResumeSet;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("l.jsonl");
    /// std::fs::write(&path, concat!(
    ///     "{\"id\":\"a\",\"outcome\":\"succeeded\",\"spec_hash\":\"h1\"}\n",
    ///     "{\"id\":\"b\",\"outcome\":\"failed\",\"spec_hash\":\"h2\"}\n",
    ///     "{\"id\":\"c\",\"outc")).unwrap();
    /// let set = ResumeSet::read(&path).unwrap();
    /// assert!(set.contains("a", "h1"));
    /// assert!(!set.contains("a", "edited"));
    /// assert!(!set.contains("b", "h2"));
    /// assert_eq!(set.unreadable, 1);
    /// ```
    pub fn read(path: &Path) -> io::Result<ResumeSet> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ResumeSet::default()),
            Err(e) => return Err(e),
        };
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut set = ResumeSet::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Minimal<'_>>(text) {
                Ok(m) if m.outcome == "succeeded" => {
                    set.done.insert(fingerprint(&m.id, &m.spec_hash));
                }
                Ok(_) => {}
                Err(_) => set.unreadable += 1,
            }
        }
        Ok(set)
    }

    /// Whether `id` has a `succeeded` line for `spec_hash`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conveyor::ledger::ResumeSet::default().contains("a", "h"));
    /// ```
    pub fn contains(&self, id: &str, spec_hash: &str) -> bool {
        !self.done.is_empty() && self.done.contains(&fingerprint(id, spec_hash))
    }

    /// Succeeded jobs known.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor::ledger::ResumeSet::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether no succeeded job is known.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conveyor::ledger::ResumeSet::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }
}

/// Records in flight between the pool and a [`Writer::spawn`] writer; the sender waits when
/// the writer is this far behind (a stalled disk), which bounds memory.
const IN_FLIGHT: usize = 16 * 1024;
/// Batches in flight to a [`Writer::spawn_batched`] writer: the same bound in records.
const IN_FLIGHT_BATCHES: usize = IN_FLIGHT / BATCH_RECORDS;
/// Records a [`RecordBatcher`] gathers before it hands them over without waiting to be
/// flushed.
const BATCH_RECORDS: usize = 512;
/// Most bytes handed to one `write` (more lines wait for the next batch).
const BATCH_BYTES: usize = 1 << 20;

/// What goes to the writer thread.
enum Msg<T> {
    One(T),
    Many(Vec<T>),
    End,
}

/// Sends [`Entry`]s ([`Record`]s by default) to a [`Writer`]; cheap to clone. Waits when the writer is
/// [`IN_FLIGHT`] records behind.
#[derive(Debug, Clone)]
pub struct RecordSender<T = Record>(SyncSender<Msg<T>>);

impl<T: Entry> RecordSender<T> {
    /// Hands `record` to the writer (dropped if the writer has finished).
    pub fn send(&self, record: T) {
        // The writer only goes away after `finish`, when no job is left to report.
        let _ = self.0.send(Msg::One(record));
    }

    /// Hands `records` to the writer in one message (nothing if empty).
    fn send_batch(&self, records: Vec<T>) {
        if !records.is_empty() {
            let _ = self.0.send(Msg::Many(records));
        }
    }
}

/// Gathers the records of one busy thread and hands them to the writer [`BATCH_RECORDS`]
/// at a time, or whenever [`flush`](Self::flush) is called — `conveyor run` calls it each
/// time its runtime thread runs out of work, just before it sleeps. Under load that is one
/// channel message (and at most one wake-up of the writer) per batch instead of per job;
/// when idle, every record is handed over as soon as nothing else is left to do (no timer).
///
/// # Examples
///
/// ```
/// use conveyor::ledger::{RecordBatcher, Writer};
/// let (tx, writer) = Writer::spawn(None, false, 0u64, |n: &mut u64, _record| *n += 1);
/// let batcher = RecordBatcher::new(tx);
/// batcher.flush(); // nothing gathered: nothing sent
/// let (seen, end) = writer.finish();
/// assert_eq!(seen, 0);
/// end.result().unwrap();
/// ```
#[derive(Debug)]
pub struct RecordBatcher<T = Record> {
    pending: std::sync::Mutex<Vec<T>>,
    tx: RecordSender<T>,
}

impl<T: Entry> RecordBatcher<T> {
    /// A batcher that sends to `tx`.
    pub fn new(tx: RecordSender<T>) -> RecordBatcher<T> {
        RecordBatcher { pending: std::sync::Mutex::new(Vec::new()), tx }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `record`; sends the batch when it is full.
    pub fn push(&self, record: T) {
        let full = {
            let mut pending = self.pending();
            if pending.capacity() == 0 {
                pending.reserve_exact(BATCH_RECORDS);
            }
            pending.push(record);
            (pending.len() >= BATCH_RECORDS).then(|| std::mem::take(&mut *pending))
        };
        if let Some(batch) = full {
            self.tx.send_batch(batch);
        }
    }

    /// Sends what has been gathered, if anything.
    pub fn flush(&self) {
        let batch = std::mem::take(&mut *self.pending());
        self.tx.send_batch(batch);
    }
}

/// The writer thread: receives [`Entry`]s ([`Record`]s by default), writes their ledger
/// lines with group commit, and shows every line to an observer (the summary, the progress
/// bar).
///
/// A write that fails does not end the thread: it reports the error at once through
/// [`fault`](Self::fault) (so that the run can stop taking jobs), keeps observing every
/// record, and tries each later batch again on a line of its own (a disk that was full may
/// have room again), counting the records whose lines were lost.
#[derive(Debug)]
pub struct Writer<S, T = Record> {
    thread: JoinHandle<(S, WriteEnd)>,
    end: SyncSender<Msg<T>>,
    fault: Fault,
}

/// How a [`Writer`] ended: the first write error, if any, and how many records have no line.
#[derive(Debug, Default)]
pub struct WriteEnd {
    /// The first write error.
    pub error: Option<Arc<io::Error>>,
    /// Records whose lines could not be written.
    pub lost: u64,
}

impl WriteEnd {
    /// `Ok` when every line was written.
    ///
    /// # Errors
    ///
    /// The first write error, when some line was not written.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conveyor::ledger::WriteEnd::default().result().is_ok());
    /// ```
    pub fn result(&self) -> io::Result<()> {
        match &self.error {
            None => Ok(()),
            Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

/// The first write error of a [`Writer`], seen as soon as it happens: a ledger that cannot
/// be written stops `conveyor run` and makes `serve` unhealthy. Cheap to clone.
///
/// # Examples
///
/// ```
/// use conveyor::ledger::{Record, Writer};
/// let (_tx, writer) = Writer::<(), Record>::spawn_batched(None, false, (), |_, _| {});
/// assert!(writer.fault().error().is_none());
/// # let _ = writer.finish();
/// ```
#[derive(Debug, Clone)]
pub struct Fault(tokio::sync::watch::Receiver<Option<Arc<io::Error>>>);

impl Fault {
    /// The first write error, if one happened.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor::ledger::{Record, Writer};
    /// # let (_tx, writer) = Writer::<(), Record>::spawn_batched(None, false, (), |_, _| {});
    /// assert!(writer.fault().error().is_none());
    /// # let _ = writer.finish();
    /// ```
    pub fn error(&self) -> Option<Arc<io::Error>> {
        self.0.borrow().clone()
    }

    /// Waits for the first write error; pending forever if the writer ends without one.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads a shared value.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor::ledger::{Record, Writer};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (_tx, writer) = Writer::<(), Record>::spawn_batched(None, false, (), |_, _| {});
    /// let fault = writer.fault();
    /// let waited = tokio::time::timeout(std::time::Duration::from_millis(1), fault.occurred()).await;
    /// assert!(waited.is_err(), "no write failed");
    /// # let _ = writer.finish();
    /// # });
    /// ```
    pub async fn occurred(&self) -> Arc<io::Error> {
        let mut rx = self.0.clone();
        let seen = rx.wait_for(Option::is_some).await.ok().and_then(|e| e.clone());
        match seen {
            Some(e) => e,
            // The writer ended without an error.
            None => std::future::pending().await,
        }
    }
}

impl<S: Send + 'static> Writer<S> {
    /// Starts the thread; `file` is `None` for runs without a ledger (records are then only
    /// observed): `observe(&mut state, record)` sees every record, on the writer thread.
    ///
    /// # Panics
    ///
    /// If the thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::ledger::Writer;
    /// let (tx, writer) = Writer::spawn(None, false, 0u64, |n: &mut u64, _record| *n += 1);
    /// drop(tx);
    /// let (seen, end) = writer.finish();
    /// assert_eq!(seen, 0);
    /// end.result().unwrap();
    /// ```
    pub fn spawn(
        file: Option<File>,
        fsync: bool,
        state: S,
        observe: fn(&mut S, &RecordRef<'_>),
    ) -> (RecordSender, Writer<S>) {
        Self::spawn_with(IN_FLIGHT, file, fsync, state, observe)
    }
}

impl<S: Send + 'static, T: Entry> Writer<S, T> {
    /// As [`spawn`](Self::spawn), for records sent through a [`RecordBatcher`] (which this
    /// returns): the writer is allowed as many records behind, counted in batches.
    ///
    /// # Panics
    ///
    /// If the thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::ledger::Writer;
    /// use conveyor::ledger::Record;
    /// let (batcher, writer) =
    ///     Writer::<u64, Record>::spawn_batched(None, false, 0, |n: &mut u64, _record| *n += 1);
    /// batcher.flush();
    /// let (seen, end) = writer.finish();
    /// assert_eq!(seen, 0);
    /// end.result().unwrap();
    /// ```
    pub fn spawn_batched(
        file: Option<File>,
        fsync: bool,
        state: S,
        observe: fn(&mut S, &RecordRef<'_>),
    ) -> (RecordBatcher<T>, Writer<S, T>) {
        let (tx, writer) = Self::spawn_with(IN_FLIGHT_BATCHES, file, fsync, state, observe);
        (RecordBatcher::new(tx), writer)
    }

    fn spawn_with(
        in_flight: usize,
        file: Option<File>,
        fsync: bool,
        state: S,
        observe: fn(&mut S, &RecordRef<'_>),
    ) -> (RecordSender<T>, Writer<S, T>) {
        let (tx, rx) = sync_channel(in_flight);
        let (fault_tx, fault_rx) = tokio::sync::watch::channel(None);
        let thread = std::thread::Builder::new()
            .name("conveyor-ledger".into())
            .spawn(move || write_loop(rx, file, fsync, state, observe, &fault_tx))
            .unwrap_or_else(|e| panic!("cannot start the ledger thread: {e}"));
        (RecordSender(tx.clone()), Writer { thread, end: tx, fault: Fault(fault_rx) })
    }

    /// The writer's [`Fault`]: its first write error, as soon as it happens.
    pub fn fault(&self) -> Fault {
        self.fault.clone()
    }

    /// Writes every record sent so far, stops the thread, and gives back the observer's
    /// state and how the writing went. Records sent after this are dropped.
    pub fn finish(self) -> (S, WriteEnd) {
        let _ = self.end.send(Msg::End);
        match self.thread.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

fn write_loop<S, T: Entry>(
    rx: Receiver<Msg<T>>,
    mut file: Option<File>,
    fsync: bool,
    mut state: S,
    observe: fn(&mut S, &RecordRef<'_>),
    fault: &tokio::sync::watch::Sender<Option<Arc<io::Error>>>,
) -> (S, WriteEnd) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut stamps = Timestamps::default();
    let mut end = WriteEnd::default();
    let mut done = false;
    while !done {
        let Ok(first) = rx.recv() else { break };
        // Records in `buf`, counted only while a write has failed (to report what was lost).
        let mut lines = 0u64;
        let counting = end.error.is_some();
        if counting {
            // The failed write may have left part of a line: start on a line of our own (the
            // empty line this makes when it did not is skipped by every reader).
            buf.push(b'\n');
        }
        let mut take = |msg: Msg<T>, buf: &mut Vec<u8>| {
            let mut one = |entry: &T| {
                let r = entry.view();
                observe(&mut state, &r);
                if file.is_some() {
                    r.write_line_with(buf, &mut stamps);
                    lines += u64::from(counting);
                }
            };
            match msg {
                Msg::One(r) => one(&r),
                Msg::Many(records) => records.iter().for_each(one),
                Msg::End => return true,
            }
            false
        };
        done = take(first, &mut buf);
        while !done && buf.len() < BATCH_BYTES {
            match rx.try_recv() {
                Ok(msg) => done = take(msg, &mut buf),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if let Some(f) = &mut file
            && buf.len() > usize::from(counting)
        {
            let written = f.write_all(&buf).and_then(|()| if fsync { f.sync_data() } else { Ok(()) });
            match written {
                Ok(()) => {}
                Err(e) if end.error.is_none() => {
                    // The batch's lines are lost: count them (a partial write's whole lines
                    // may be there; a reader skips the line it cut), and tell the run now.
                    end.lost += buf.iter().filter(|&&b| b == b'\n').count() as u64;
                    let e = Arc::new(e);
                    end.error = Some(e.clone());
                    fault.send_replace(Some(e));
                }
                Err(_) => end.lost += lines,
            }
        }
        buf.clear();
    }
    (state, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;

    /// The ledger line as first written, through serde: the reference for the hand-written one.
    #[derive(Serialize)]
    struct Line<'a> {
        id: &'a str,
        name: Option<&'a str>,
        kind: &'a str,
        priority: i32,
        outcome: &'a str,
        attempts: u32,
        queued_at: String,
        started_at: Option<String>,
        finished_at: String,
        wait_seconds: f64,
        run_seconds: f64,
        error: Option<&'a str>,
        spec_hash: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_code: Option<Option<i32>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output_tail: Option<Option<&'a str>>,
    }

    /// Seconds with microsecond precision: what the ledger writes for a duration.
    fn secs(d: Duration) -> f64 {
        (d.as_secs_f64() * 1e6).round() / 1e6
    }

    fn reference_line(r: &Record) -> Vec<u8> {
        let line = Line {
            id: &r.id,
            name: r.name.as_deref(),
            kind: r.kind,
            priority: r.priority,
            outcome: r.outcome.as_str(),
            attempts: r.attempts,
            queued_at: chrono_timestamp(r.queued_at),
            started_at: r.started_at.map(chrono_timestamp),
            finished_at: chrono_timestamp(r.finished_at),
            wait_seconds: secs(r.wait),
            run_seconds: secs(r.run),
            error: r.error.as_deref(),
            spec_hash: &r.spec_hash,
            exit_code: r.exec.as_ref().map(|e| e.exit_code),
            output_tail: r.exec.as_ref().map(|e| e.output_tail.as_deref()),
        };
        let mut out = serde_json::to_vec(&line).unwrap();
        out.push(b'\n');
        out
    }

    fn instant() -> impl Strategy<Value = SystemTime> {
        prop_oneof![
            // Around now, where every real line is.
            (1_600_000_000_000_000_000u64..2_100_000_000_000_000_000)
                .prop_map(|ns| UNIX_EPOCH + Duration::from_nanos(ns)),
            // Anywhere up to year 9999, and beyond (the chrono fallback).
            (0u64..300_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n)),
            // Before 1970 (the chrono fallback).
            (1u64..10_000_000_000).prop_map(|s| UNIX_EPOCH - Duration::from_secs(s)),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9-]{0,10}", any::<String>(), "[\\x00-\\x1f\"\\\\a\u{7f}é]{0,8}"]
    }

    fn duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            Just(Duration::ZERO),
            (0u64..10_000_000).prop_map(Duration::from_nanos),
            (0u64..100_000_000_000_000).prop_map(Duration::from_nanos),
        ]
    }

    prop_compose! {
        fn any_record()(
            id in text(),
            name in proptest::option::of(text()),
            kind in prop_oneof![Just("noop"), Just("exec"), Just("sleep")],
            priority in any::<i32>(),
            outcome in prop_oneof![
                Just(Outcome::Succeeded), Just(Outcome::Failed), Just(Outcome::Panicked),
                Just(Outcome::TimedOut), Just(Outcome::Cancelled),
            ],
            attempts in any::<u32>(),
            times in (instant(), proptest::option::of(instant()), instant()),
            wait in duration(),
            run in duration(),
            error in proptest::option::of(text()),
            hash in "[0-9a-f]{64}",
            exec in proptest::option::of((proptest::option::of(any::<i32>()), proptest::option::of(text()))),
        ) -> Record {
            Record {
                id: id.into(),
                name: name.map(Into::into),
                kind,
                priority,
                outcome,
                attempts,
                queued_at: times.0,
                started_at: times.1,
                finished_at: times.2,
                wait,
                run,
                error,
                spec_hash: hash.into(),
                exec: exec.map(|(exit_code, output_tail)| ExecOutput { exit_code, output_tail }),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn timestamps_match_chrono(t in instant()) {
            prop_assert_eq!(timestamp(t), chrono_timestamp(t));
        }

        #[test]
        fn cached_timestamps_match_chrono(ts in proptest::collection::vec(instant(), 1..8)) {
            // One `Timestamps` across instants, as the writer keeps it: the cache must not
            // leak one second into another.
            let mut stamps = Timestamps::default();
            for t in ts {
                let mut out = Vec::new();
                stamps.write(t, &mut out);
                prop_assert_eq!(String::from_utf8(out).unwrap(), chrono_timestamp(t));
            }
        }

        #[test]
        fn kept_seconds_match_serde(ds in proptest::collection::vec(prop_oneof![
            // Under SECONDS_KEPT µs, where the text is kept, half-µs ties included.
            (0u64..5_000_000).prop_map(Duration::from_nanos),
            (0u64..5_000).prop_map(|us| Duration::from_nanos(us * 1000 + 500)),
            // A few values, so that slots are read back.
            (0u64..8, 0u64..1000).prop_map(|(us, ns)| Duration::from_nanos(us * 1000 + ns)),
            duration(),
        ], 1..32)) {
            // One cache across values, as the writer keeps it: a slot filled by one value
            // must only be used for values that write the same text.
            let mut seconds = Seconds::default();
            for d in ds {
                let mut out = Vec::new();
                seconds.write(d, &mut out);
                prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&secs(d)).unwrap());
            }
        }

        #[test]
        fn lines_match_serde(r in any_record()) {
            let mut out = Vec::new();
            r.write_line_with(&mut out, &mut Timestamps::default());
            prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(reference_line(&r)).unwrap());
        }
    }

    #[test]
    fn timestamps_at_the_edges() {
        for ms in [
            0u64,
            999,
            951_782_399_999,     // 2000-02-28T23:59:59.999
            951_782_400_000,     // 2000-02-29 (a leap day in a century year)
            4_107_542_400_000,   // 2100-03-01 (2100 is no leap year)
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000, // 10000-01-01: chrono's `+10000`
        ] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(timestamp(t), chrono_timestamp(t), "{ms}");
        }
    }

    fn record(id: &str, outcome: Outcome) -> Record {
        Record {
            id: id.into(),
            name: Some("n".into()),
            kind: "exec",
            priority: -3,
            outcome,
            attempts: 2,
            queued_at: UNIX_EPOCH,
            started_at: None,
            finished_at: UNIX_EPOCH + Duration::from_millis(1),
            wait: Duration::from_micros(1500),
            run: Duration::ZERO,
            error: Some("exit status 3".into()),
            spec_hash: "abc".into(),
            exec: Some(ExecOutput { exit_code: Some(3), output_tail: None }),
        }
    }

    #[test]
    fn exec_lines_have_every_field_in_order() {
        let mut out = Vec::new();
        record("x", Outcome::Failed).write_line(&mut out);
        let text = String::from_utf8(out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        let mut want = vec![
            "id",
            "name",
            "kind",
            "priority",
            "outcome",
            "attempts",
            "queued_at",
            "started_at",
            "finished_at",
            "wait_seconds",
            "run_seconds",
            "error",
            "spec_hash",
            "exit_code",
            "output_tail",
        ];
        assert!(text.starts_with("{\"id\":\"x\",\"name\":\"n\",\"kind\":\"exec\""));
        want.sort_unstable();
        assert_eq!(sorted, want);
        assert_eq!(v["started_at"], serde_json::Value::Null);
        assert_eq!(v["queued_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["output_tail"], serde_json::Value::Null);
        assert_eq!(v["wait_seconds"], 0.0015);
    }

    #[test]
    fn a_batcher_holds_records_until_full_or_flushed_and_keeps_their_order() {
        // The observer reports each id it sees; a record sent straight after a batcher call
        // is a marker: the channel is FIFO, so once the marker is seen, everything the batcher
        // had sent before it has been seen too.
        let (seen_tx, seen) = std::sync::mpsc::channel::<String>();
        let (tx, writer) =
            Writer::spawn(None, false, seen_tx, |out: &mut std::sync::mpsc::Sender<String>, r| {
                let _ = out.send(r.id.to_string());
            });
        let batcher = RecordBatcher::new(tx.clone());
        let until_marker = |marker: &str| -> Vec<String> {
            tx.send(record(marker, Outcome::Succeeded));
            let mut got = Vec::new();
            loop {
                let id = seen.recv().unwrap();
                if id == marker {
                    return got;
                }
                got.push(id);
            }
        };
        for i in 0..BATCH_RECORDS - 1 {
            batcher.push(record(&format!("a{i}"), Outcome::Succeeded));
        }
        assert!(until_marker("m1").is_empty(), "a batch short of full waits for a flush");
        batcher.push(record("last", Outcome::Failed));
        let full = until_marker("m2");
        assert_eq!(full.len(), BATCH_RECORDS);
        assert_eq!(full[0], "a0");
        assert_eq!(full[BATCH_RECORDS - 1], "last");
        batcher.flush();
        assert!(until_marker("m3").is_empty(), "flushing nothing sends nothing");
        for id in ["x", "y", "z"] {
            batcher.push(record(id, Outcome::Cancelled));
        }
        batcher.flush();
        assert_eq!(until_marker("m4"), ["x", "y", "z"]);
        drop((batcher, tx));
        let (_, end) = writer.finish();
        end.result().unwrap();
    }

    /// Regression (issue 18): a failed write was noticed only at the end of the run.
    #[test]
    fn a_failed_write_is_reported_at_once_and_counts_the_lost_lines() {
        let full = OpenOptions::new().append(true).open("/dev/full").unwrap();
        let (tx, writer) = Writer::spawn(Some(full), false, 0u32, |n: &mut u32, _r| *n += 1);
        let fault = writer.fault();
        assert!(fault.error().is_none());
        tx.send(record("a", Outcome::Succeeded));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let e = runtime.block_on(fault.occurred());
        assert_eq!(e.raw_os_error(), Some(28), "ENOSPC: {e}");
        tx.send(record("b", Outcome::Succeeded));
        tx.send(record("c", Outcome::Failed));
        drop(tx);
        let (seen, end) = writer.finish();
        assert_eq!(seen, 3, "every record is still observed");
        assert_eq!(end.lost, 3);
        assert!(end.result().is_err());
    }

    #[test]
    fn writer_writes_every_record_once_and_resume_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let file = open_for_append(&path).unwrap();
        let (tx, writer) = Writer::spawn(Some(file), true, 0u32, |n: &mut u32, _r| *n += 1);
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let outcome = if i % 2 == 0 { Outcome::Succeeded } else { Outcome::Failed };
                        tx.send(record(&format!("{t}-{i}"), outcome));
                    }
                })
            })
            .collect();
        drop(tx);
        for s in senders {
            s.join().unwrap();
        }
        let (seen, end) = writer.finish();
        end.result().unwrap();
        assert_eq!(seen, 2000);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2000);
        let set = ResumeSet::read(&path).unwrap();
        assert_eq!(set.len(), 1000);
        assert!(set.contains("3-498", "abc"));
        assert!(!set.contains("3-499", "abc"));
        assert_eq!(set.unreadable, 0);
    }

    #[test]
    fn torn_tail_longer_than_a_block_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let whole = "{\"id\":\"a\",\"outcome\":\"failed\",\"spec_hash\":\"h\"}\n";
        let mut text = format!("{whole}{{\"id\":\"b\",\"error\":\"");
        text.push_str(&"x".repeat(200_000));
        std::fs::write(&path, &text).unwrap();
        drop(open_for_append(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
        // Issue 18: a file with no ledger line is not a ledger; it is left as it is.
        std::fs::write(&path, "no newline at all").unwrap();
        assert_eq!(open_for_append(&path).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "no newline at all");
    }

    /// Issue 18: only the start of a ledger line is torn; a whole line that lost its newline
    /// is kept, and a ledger followed by anything else is not a ledger.
    #[test]
    fn only_a_cut_short_line_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        let whole = "{\"id\":\"a\",\"outcome\":\"succeeded\",\"spec_hash\":\"h\"}";
        std::fs::write(&path, format!("{whole}\n{whole}")).unwrap();
        drop(open_for_append(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{whole}\n{whole}\n"));
        std::fs::write(&path, whole).unwrap();
        drop(open_for_append(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{whole}\n"));
        for junk in [format!("{whole}\nhello"), format!("{whole}\n[1, 2]\n"), "{\"kind\": \"noop\"}\n".into()]
        {
            std::fs::write(&path, &junk).unwrap();
            assert!(open_for_append(&path).is_err(), "{junk}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), junk);
        }
    }
}

//! The spool task: scans `inbox`, claims each job file into its slot, submits its jobs, writes
//! the file's ledger from the lines the job table sends, and moves the file to `done` or
//! `failed`.
//!
//! Every problem is about one file (or the inbox) and is logged once: a file that cannot be
//! run goes to `failed` with its reason; a file that cannot even be claimed is remembered and
//! skipped until it leaves the inbox (or the server restarts); an unreadable inbox is logged
//! when it becomes unreadable, not at every scan.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use conveyor_pool::Pool;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use super::super::state::{JobTable, Origin, Refused, SpoolLine};
use super::SCAN_EVERY;
use super::dirs::{SLOT_LEDGER, SpoolDirs};
use super::names::{BESIDE, ERRORS_SUFFIX, LEDGER_SUFFIX, NAME_MAX, free_name, takes, too_long};
use super::read::read;
use crate::signals::StopState;
use crate::spec::{self, ParseOptions, SpecError};

/// A file the spool renamed into its slot `work/N/`.
struct Claimed {
    /// Its number (the jobs' [`Origin`]).
    origin: Origin,
    /// The name it had in `inbox` (and has in its slot).
    name: String,
    /// Where it was, as errors and logs name it.
    from: PathBuf,
    /// Its slot.
    slot: PathBuf,
    /// Where it is now: `slot/NAME`.
    path: PathBuf,
}

/// A file whose jobs are running.
struct InFlight {
    file: Claimed,
    /// Its ledger in the slot.
    ledger_path: PathBuf,
    /// `None` if it could not be created or written: the file then ends in `failed`.
    ledger: Option<BufWriter<File>>,
    remaining: usize,
    all_succeeded: bool,
}

/// The spool task: scans `inbox` until the server stops, and writes each file's ledger from
/// the lines the job table sends, until the table drops its sender (after the drain).
pub(crate) async fn run(
    dirs: SpoolDirs,
    table: Arc<JobTable>,
    pool: Pool,
    options: ParseOptions,
    mut lines: mpsc::UnboundedReceiver<SpoolLine>,
    mut stop: watch::Receiver<StopState>,
) {
    let mut spool = Spool {
        dirs,
        table,
        pool,
        options,
        files: HashMap::new(),
        last: 0,
        noted: HashSet::new(),
        inbox_unreadable: false,
    };
    let mut scan = tokio::time::interval(SCAN_EVERY);
    scan.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut scanning = true;
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => spool.line(line),
                None => break,
            },
            _ = scan.tick(), if scanning => {
                if stop.borrow().is_stopping() {
                    scanning = false;
                } else {
                    scanning = spool.scan().await;
                }
            }
            changed = stop.changed(), if scanning => {
                if changed.is_err() || stop.borrow().is_stopping() {
                    scanning = false;
                }
            }
        }
    }
    for file in spool.files.values() {
        tracing::warn!(file = %file.file.path.display(), remaining = file.remaining,
            "spool file left in work: some of its jobs have no ledger line");
    }
}

struct Spool {
    dirs: SpoolDirs,
    table: Arc<JobTable>,
    pool: Pool,
    options: ParseOptions,
    files: HashMap<Origin, InFlight>,
    /// The last file number given.
    last: Origin,
    /// Names in `inbox` not to look at again while they are there: not job files (warned
    /// once) or files that could not be claimed (logged once).
    noted: HashSet<OsString>,
    /// Whether the last scan could not read `inbox` (logged once until it can again).
    inbox_unreadable: bool,
}

/// An entry of `inbox`.
struct Entry {
    name: OsString,
    is_file: bool,
}

impl Spool {
    /// Takes every complete file in `inbox`, in name order. Returns `false` once the server
    /// refuses jobs (it is stopping).
    async fn scan(&mut self) -> bool {
        let entries = match list(&self.dirs.inbox).await {
            Ok(entries) => entries,
            Err(e) => {
                if !std::mem::replace(&mut self.inbox_unreadable, true) {
                    tracing::error!(file = %self.dirs.inbox.display(), error = %e, "spool: cannot read the inbox");
                }
                return true;
            }
        };
        if std::mem::replace(&mut self.inbox_unreadable, false) {
            tracing::info!(file = %self.dirs.inbox.display(), "spool: the inbox can be read again");
        }
        // A name that left the inbox is news when it comes back.
        let present: HashSet<&OsString> = entries.iter().map(|e| &e.name).collect();
        self.noted.retain(|name| present.contains(name));
        for entry in &entries {
            if self.noted.contains(&entry.name) {
                continue;
            }
            let name = match entry.name.to_str() {
                Some(name) if takes(name) => name,
                name => {
                    let shown = entry.name.to_string_lossy();
                    if entry.is_file && !shown.starts_with('.') {
                        let why = match name {
                            Some(_) => "spool: not a *.json or *.jsonl file; left alone",
                            None => "spool: the name is not UTF-8; left alone",
                        };
                        tracing::warn!(file = %self.dirs.inbox.join(&entry.name).display(), "{why}");
                    }
                    self.noted.insert(entry.name.clone());
                    continue;
                }
            };
            if !self.take(name).await {
                return false;
            }
        }
        true
    }

    /// Claims and submits one file. Returns `false` if the server refused it (stopping).
    async fn take(&mut self, name: &str) -> bool {
        let from = self.dirs.inbox.join(name);
        let file = match self.claim(&from, name) {
            Ok(Some(file)) => file,
            // Gone meanwhile (renamed away again by its writer): nothing to take.
            Ok(None) => return true,
            Err(e) => {
                tracing::error!(file = %from.display(), error = %e,
                    "spool: cannot claim the file; left in the inbox until it is renamed or the server restarts");
                self.noted.insert(name.into());
                return true;
            }
        };
        if too_long(name) {
            let message = format!(
                "the name is too long ({} bytes): `{LEDGER_SUFFIX}` must fit after it within the \
                 {NAME_MAX}-byte limit of a name; use at most {} bytes",
                name.len(),
                NAME_MAX - BESIDE
            );
            self.reject(file, &[error_at(&from, message)]);
            return true;
        }
        let work = file.path.clone();
        let shown = from.clone();
        let options = self.options.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let bytes = read(&work).map_err(|message| vec![error_at(&shown, message)])?;
            let batch = spec::parse_bytes(&shown.to_string_lossy(), &bytes, &options)?;
            let periodic = refuse_periodic(&batch.jobs);
            if periodic.is_empty() { Ok(batch) } else { Err(periodic) }
        })
        .await;
        let batch = match parsed {
            Ok(Ok(batch)) => batch,
            Ok(Err(errors)) => {
                self.reject(file, &errors);
                return true;
            }
            Err(e) => {
                let error = error_at(&from, format!("reading the file failed: {e}"));
                self.reject(file, &[error]);
                return true;
            }
        };
        let count = batch.jobs.len();
        let limits = batch.limits;
        match self.table.accept(batch.jobs, Some(file.origin)) {
            Ok(_) => {}
            Err(Refused::Duplicates(errors)) => {
                self.reject(file, &errors);
                return true;
            }
            Err(Refused::Closed) => {
                let back = free_name(&self.dirs.inbox, name, 0);
                match std::fs::rename(&file.path, &back) {
                    Ok(()) => release(&file.slot),
                    Err(e) => tracing::error!(file = %file.path.display(), error = %e,
                        "spool: cannot put the file back; it goes back to the inbox at the next start"),
                }
                return false;
            }
        }
        for (key, n) in &limits.concurrency {
            self.pool.set_concurrency_limit(key.as_str(), Some(*n as usize));
        }
        for (key, rate) in &limits.rate {
            self.pool.set_rate_limit(key.as_str(), Some((rate.count, rate.period)));
        }
        let ledger_path = file.slot.join(SLOT_LEDGER);
        let ledger = match File::create(&ledger_path) {
            Ok(ledger) => Some(BufWriter::new(ledger)),
            Err(e) => {
                tracing::error!(file = %ledger_path.display(), error = %e, "spool: cannot create the file's ledger");
                None
            }
        };
        tracing::info!(file = %from.display(), jobs = count, "spool: took a job file");
        let origin = file.origin;
        let file = InFlight { file, ledger_path, all_succeeded: ledger.is_some(), ledger, remaining: count };
        if count == 0 {
            self.finish(file);
        } else {
            self.files.insert(origin, file);
        }
        true
    }

    /// Renames `from` into a new slot: the claim, atomic, so a file is taken once. `None` if
    /// it is gone.
    fn claim(&mut self, from: &Path, name: &str) -> io::Result<Option<Claimed>> {
        let (origin, slot) = self.dirs.new_slot(&mut self.last)?;
        let path = slot.join(name);
        match std::fs::rename(from, &path) {
            Ok(()) => {
                Ok(Some(Claimed { origin, name: name.to_owned(), from: from.to_path_buf(), slot, path }))
            }
            Err(e) => {
                release(&slot);
                if e.kind() == io::ErrorKind::NotFound { Ok(None) } else { Err(e) }
            }
        }
    }

    /// Writes a finished job's line to its file's ledger; moves the file once it is whole.
    fn line(&mut self, line: SpoolLine) {
        let Some(file) = self.files.get_mut(&line.origin) else { return };
        if let Some(ledger) = &mut file.ledger {
            let written = ledger.write_all(line.line.as_bytes()).and_then(|()| ledger.write_all(b"\n"));
            if let Err(e) = written {
                tracing::error!(file = %file.ledger_path.display(), error = %e, "spool: writing the file's ledger");
                file.ledger = None;
                file.all_succeeded = false;
            }
        }
        file.all_succeeded &= line.succeeded;
        file.remaining -= 1;
        if file.remaining == 0
            && let Some(file) = self.files.remove(&line.origin)
        {
            self.finish(file);
        }
    }

    /// Moves a file whose jobs all have their lines to `done` or `failed`: its ledger first.
    fn finish(&self, mut file: InFlight) {
        let flushed = match file.ledger.take() {
            Some(mut ledger) => ledger.flush().and_then(|()| ledger.get_ref().sync_data()).is_ok(),
            None => false,
        };
        let dir = if file.all_succeeded && flushed { &self.dirs.done } else { &self.dirs.failed };
        let to = free_name(dir, &file.file.name, BESIDE);
        // A ledger that could not be created is not there to move; the file still moves.
        let ledger = match std::fs::rename(&file.ledger_path, beside(&to, LEDGER_SUFFIX)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
        match ledger.and_then(|()| std::fs::rename(&file.file.path, &to)) {
            Ok(()) => {
                tracing::info!(file = %to.display(), "spool: file done");
                release(&file.file.slot);
            }
            Err(e) => tracing::error!(file = %file.file.path.display(), error = %e,
                "spool: cannot move the finished file; it goes back to the inbox at the next start"),
        }
    }

    /// Moves a file that is not run to `failed` with its errors beside it.
    fn reject(&self, file: Claimed, errors: &[SpecError]) {
        let to = free_name(&self.dirs.failed, &file.name, BESIDE);
        let text: String = errors.iter().map(|e| format!("{e}\n")).collect();
        let errors_path = beside(&to, ERRORS_SUFFIX);
        // Written whole, then renamed: whoever watches `failed` never reads half a reason.
        // The file moves even without its errors: they are in the log too.
        if let Err(e) = write_whole(&errors_path, &text) {
            tracing::error!(file = %errors_path.display(), error = %e, "spool: cannot write the file's errors");
        }
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        match std::fs::rename(&file.path, &to) {
            Ok(()) => {
                tracing::warn!(file = %to.display(), errors = errors.len(), reason = %first, "spool: invalid job file");
                release(&file.slot);
            }
            Err(e) => tracing::error!(file = %file.from.display(), error = %e, reason = %first,
                "spool: cannot move the invalid file to failed; it stays in work until the next start"),
        }
    }
}

/// Deletes an emptied slot. One left behind (it is not empty) is only logged: the next start
/// deals with it.
fn release(slot: &Path) {
    if let Err(e) = std::fs::remove_dir(slot) {
        tracing::warn!(file = %slot.display(), error = %e, "spool: cannot delete the slot in work");
    }
}

/// Writes `text` to a temporary file beside `path`, then renames it to `path`.
fn write_whole(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(text.as_bytes())?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `file` + `suffix`: what goes beside a file in `done`/`failed`.
fn beside(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// An error about the whole file (no line).
fn error_at(path: &Path, message: String) -> SpecError {
    SpecError { path: path.to_path_buf(), line: 0, column: 0, field: None, message }
}

/// A located error for each periodic job: the spool runs files that end.
fn refuse_periodic(jobs: &[spec::JobSpec]) -> Vec<SpecError> {
    jobs.iter()
        .filter(|j| j.schedule.is_some())
        .map(|j| SpecError {
            path: j.origin.path.to_path_buf(),
            line: j.origin.line,
            column: j.origin.column,
            field: None,
            message: "periodic jobs (`every`, `cron`) never end, so a spool file cannot hold them; \
                      POST them to /jobs"
                .into(),
        })
        .collect()
}

/// The entries of `dir` (of any type: what a job name holds is checked once claimed), sorted
/// by name (files are taken in name order).
async fn list(dir: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut dir = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = dir.next_entry().await? {
        let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
        entries.push(Entry { name: entry.file_name(), is_file });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

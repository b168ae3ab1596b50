//! `--spool DIR`: job files dropped into `DIR/inbox` are run, then moved to `DIR/done` (every
//! job succeeded) or `DIR/failed` (some did not, or the file is invalid), with
//! `NAME.ledger.jsonl` (the file's own ledger: one line per job) or `NAME.errors.txt` (the
//! located errors of an invalid file) beside them.
//!
//! # Taking a file only when it is complete
//!
//! Writers must write elsewhere (or under a hidden or `.tmp` name) and then **rename** the
//! file into `inbox` — the rename is atomic, so the server never sees half a file. It only
//! takes `*.json` and `*.jsonl` names that do not start with `.`; anything else in `inbox` is
//! left alone (with one warning per name). The folder is scanned every [`SCAN_EVERY`].
//!
//! # Life of a file
//!
//! ```text
//!  inbox/NAME ──rename──► work/N.NAME ──(every job has its line)──► done/NAME   + done/NAME.ledger.jsonl
//!                          + work/N.NAME.ledger.jsonl                 failed/NAME + failed/NAME.ledger.jsonl
//! ```
//!
//! The claim is a rename too, so a file is taken once. Its jobs join the server's job table
//! (ids unique across the server, as for `POST /jobs`; generated ids start with the file's
//! stem) and the global ledger. When the last job's line is written the ledger is renamed
//! beside its file first, then the file, so a reader that sees `done/NAME` finds the whole
//! ledger. A name already in `done`/`failed` gets `-2`, `-3`, … before its extension.
//!
//! A file whose jobs the server already has (a duplicate `id`) or that holds periodic jobs
//! (`every`/`cron`: post those to `POST /jobs`, they never end) fails with its errors.
//! Files still in `work` when the server starts (it was killed mid-file) go back to `inbox`
//! and run again — at-least-once, like `conveyor run --resume` after a crash. One server per
//! spool folder.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use conveyor_pool::Pool;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use super::state::{JobTable, Origin, Refused, SpoolLine};
use crate::signals::StopState;
use crate::spec::{self, ParseOptions, SpecError};

/// How often `inbox` is scanned for new files.
pub(crate) const SCAN_EVERY: Duration = Duration::from_millis(200);

/// The four folders of a spool.
#[derive(Debug, Clone)]
pub(crate) struct SpoolDirs {
    root: PathBuf,
    inbox: PathBuf,
    work: PathBuf,
    done: PathBuf,
    failed: PathBuf,
}

impl SpoolDirs {
    /// Creates the folders under `root` (if missing) and puts files a killed server left in
    /// `work` back into `inbox`. Returns the names it put back.
    pub(crate) fn prepare(root: &Path) -> io::Result<(SpoolDirs, Vec<String>)> {
        let dirs = SpoolDirs {
            root: root.to_path_buf(),
            inbox: root.join("inbox"),
            work: root.join("work"),
            done: root.join("done"),
            failed: root.join("failed"),
        };
        for dir in [&dirs.inbox, &dirs.work, &dirs.done, &dirs.failed] {
            std::fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
        }
        let mut back = Vec::new();
        for entry in std::fs::read_dir(&dirs.work).map_err(|e| with_path(e, &dirs.work))? {
            let entry = entry.map_err(|e| with_path(e, &dirs.work))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if file.ends_with(LEDGER_SUFFIX) {
                // Its jobs run again; so their lines will be written again.
                std::fs::remove_file(&path).map_err(|e| with_path(e, &path))?;
                continue;
            }
            let name = file.split_once('.').map_or(file.as_str(), |(_, name)| name);
            let to = free_name(&dirs.inbox, name);
            std::fs::rename(&path, &to).map_err(|e| with_path(e, &path))?;
            back.push(name.to_owned());
        }
        Ok((dirs, back))
    }

    /// The spool folder as given.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
}

const LEDGER_SUFFIX: &str = ".ledger.jsonl";

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Whether the spool takes a file of this name from `inbox`.
fn takes(name: &str) -> bool {
    !name.starts_with('.')
        && Path::new(name).extension().and_then(OsStr::to_str).is_some_and(|e| e == "json" || e == "jsonl")
}

/// `dir/name`, or `dir/STEM-2.EXT`, `dir/STEM-3.EXT`, … if that is taken (by a file or its
/// ledger or errors).
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let taken = |n: &str| {
        dir.join(n).exists()
            || dir.join(format!("{n}{LEDGER_SUFFIX}")).exists()
            || dir.join(format!("{n}.errors.txt")).exists()
    };
    if !taken(name) {
        return dir.join(name);
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    (2u64..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|n| !taken(n))
        .map_or_else(|| dir.join(name), |n| dir.join(n))
}

/// A file whose jobs are running.
struct InFlight {
    /// The name it had in `inbox`.
    name: String,
    /// Where it is now.
    path: PathBuf,
    /// Its ledger in `work` (`None` if it could not be created: it then ends in `failed`).
    ledger_path: PathBuf,
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
    let mut spool =
        Spool { dirs, table, pool, options, files: HashMap::new(), next: 0, warned: HashSet::new() };
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
        tracing::warn!(file = %file.path.display(), remaining = file.remaining,
            "spool file left in work: some of its jobs have no ledger line");
    }
}

struct Spool {
    dirs: SpoolDirs,
    table: Arc<JobTable>,
    pool: Pool,
    options: ParseOptions,
    files: HashMap<Origin, InFlight>,
    next: Origin,
    warned: HashSet<String>,
}

impl Spool {
    /// Takes every complete file in `inbox`, in name order. Returns `false` once the server
    /// refuses jobs (it is stopping).
    async fn scan(&mut self) -> bool {
        let names = match list(&self.dirs.inbox).await {
            Ok(names) => names,
            Err(e) => {
                tracing::error!(error = %e, "spool: cannot read the inbox");
                return true;
            }
        };
        for name in names {
            if !takes(&name) {
                if !name.starts_with('.') && self.warned.insert(name.clone()) {
                    tracing::warn!(file = %self.dirs.inbox.join(&name).display(),
                        "spool: not a *.json or *.jsonl file; left alone");
                }
                continue;
            }
            if !self.take(&name).await {
                return false;
            }
        }
        true
    }

    /// Claims and submits one file. Returns `false` if the server refused it (stopping).
    async fn take(&mut self, name: &str) -> bool {
        self.next += 1;
        let origin = self.next;
        let from = self.dirs.inbox.join(name);
        let path = self.dirs.work.join(format!("{origin}.{name}"));
        match tokio::fs::rename(&from, &path).await {
            Ok(()) => {}
            // Gone meanwhile (renamed away again by its writer): nothing to take.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
            Err(e) => {
                tracing::error!(file = %from.display(), error = %e, "spool: cannot claim the file");
                return true;
            }
        }
        let shown = from.to_string_lossy().into_owned();
        let work = path.clone();
        let options = self.options.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&work).map_err(|e| vec![read_error(&shown, &e)])?;
            let batch = spec::parse_bytes(&shown, &bytes, &options)?;
            let periodic = refuse_periodic(&batch.jobs);
            if periodic.is_empty() { Ok(batch) } else { Err(periodic) }
        })
        .await;
        let batch = match parsed {
            Ok(Ok(batch)) => batch,
            Ok(Err(errors)) => {
                self.reject(name, &path, &errors);
                return true;
            }
            Err(e) => {
                let error = SpecError {
                    path: from.clone(),
                    line: 0,
                    column: 0,
                    field: None,
                    message: format!("reading the file failed: {e}"),
                };
                self.reject(name, &path, &[error]);
                return true;
            }
        };
        let count = batch.jobs.len();
        let limits = batch.limits;
        match self.table.accept(batch.jobs, Some(origin)) {
            Ok(_) => {}
            Err(Refused::Duplicates(errors)) => {
                self.reject(name, &path, &errors);
                return true;
            }
            Err(Refused::Closed) => {
                let back = free_name(&self.dirs.inbox, name);
                if let Err(e) = std::fs::rename(&path, &back) {
                    tracing::error!(file = %path.display(), error = %e, "spool: cannot put the file back");
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
        let ledger_path = self.dirs.work.join(format!("{origin}.{name}{LEDGER_SUFFIX}"));
        let ledger = match File::create(&ledger_path) {
            Ok(file) => Some(BufWriter::new(file)),
            Err(e) => {
                tracing::error!(file = %ledger_path.display(), error = %e, "spool: cannot create the file's ledger");
                None
            }
        };
        tracing::info!(file = %from.display(), jobs = count, "spool: took a job file");
        let file = InFlight {
            name: name.to_owned(),
            path,
            ledger_path,
            all_succeeded: ledger.is_some(),
            ledger,
            remaining: count,
        };
        if count == 0 {
            self.finish(file);
        } else {
            self.files.insert(origin, file);
        }
        true
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
        let to = free_name(dir, &file.name);
        // A ledger that could not be created is not there to move; the file still moves.
        let ledger = match std::fs::rename(&file.ledger_path, ledger_beside(&to)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
        let moved = ledger.and_then(|()| std::fs::rename(&file.path, &to));
        match moved {
            Ok(()) => tracing::info!(file = %to.display(), "spool: file done"),
            Err(e) => {
                tracing::error!(file = %file.path.display(), error = %e, "spool: cannot move the finished file")
            }
        }
    }

    /// Moves an invalid file to `failed` with its errors beside it.
    fn reject(&self, name: &str, path: &Path, errors: &[SpecError]) {
        let to = free_name(&self.dirs.failed, name);
        let text: String = errors.iter().map(|e| format!("{e}\n")).collect();
        let errors_path = PathBuf::from(format!("{}.errors.txt", to.display()));
        let moved = std::fs::write(&errors_path, text).and_then(|()| std::fs::rename(path, &to));
        match moved {
            Ok(()) => tracing::warn!(file = %to.display(), errors = errors.len(), "spool: invalid job file"),
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "spool: cannot move the invalid file")
            }
        }
    }
}

fn ledger_beside(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}{LEDGER_SUFFIX}", file.display()))
}

fn read_error(shown: &str, e: &io::Error) -> SpecError {
    SpecError { path: shown.into(), line: 0, column: 0, field: None, message: format!("cannot read: {e}") }
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

/// The names in `dir`, sorted (files are taken in name order).
async fn list(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        if entry.file_type().await.is_ok_and(|t| t.is_file()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_job_files_are_taken() {
        assert!(takes("a.json") && takes("b.jsonl") && takes("x.y.jsonl"));
        assert!(!takes(".a.json") && !takes("a.json.tmp") && !takes("a.part") && !takes("jsonl"));
    }

    #[test]
    fn taken_names_get_a_number() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_name(dir.path(), "a.jsonl"), dir.path().join("a.jsonl"));
        std::fs::write(dir.path().join("a.jsonl"), "").unwrap();
        assert_eq!(free_name(dir.path(), "a.jsonl"), dir.path().join("a-2.jsonl"));
        std::fs::write(dir.path().join("a-2.jsonl.ledger.jsonl"), "").unwrap();
        assert_eq!(free_name(dir.path(), "a.jsonl"), dir.path().join("a-3.jsonl"));
    }

    #[test]
    fn prepare_puts_unfinished_files_back() {
        let dir = tempfile::tempdir().unwrap();
        let (dirs, back) = SpoolDirs::prepare(dir.path()).unwrap();
        assert!(back.is_empty());
        std::fs::write(dirs.work.join("7.batch.jsonl"), "{}").unwrap();
        std::fs::write(dirs.work.join("7.batch.jsonl.ledger.jsonl"), "{}").unwrap();
        let (dirs, back) = SpoolDirs::prepare(dir.path()).unwrap();
        assert_eq!(back, ["batch.jsonl"]);
        assert!(dirs.inbox.join("batch.jsonl").exists());
        assert_eq!(std::fs::read_dir(&dirs.work).unwrap().count(), 0);
    }
}

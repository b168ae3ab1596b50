//! [`JobTable`]: every job the server accepted, by id, from acceptance to its ledger line.
//!
//! An entry is live (accepted; once the intake task has submitted it, its [`JobHandle`]
//! tells the live status — the intake submits in acceptance order and waits while the pool's
//! queue is full), periodic (a job file entry with `every`/`cron`: each of its runs is a live
//! entry of its own, `ID@TIME`), or done (its ledger line, kept as text).
//!
//! A job taken from a spool file carries that file's number ([`Origin`]): when it finishes,
//! its ledger line also goes to the spool task, which writes the file's own ledger.
//!
//! Entries are numbered in acceptance order: [`JobTable::list`] pages through them newest
//! first (the console's `GET /jobs`), and [`JobTable::finish`] counts each finish per second
//! for its charts.
//!
//! The table is also where intake closes: [`JobTable::accept`] queues a batch for the intake
//! task under the same lock that [`JobTable::close`] takes, so once `close` returns no batch
//! can slip in, and the intake task sees every batch accepted before it.
//!
//! # Memory
//!
//! A finished job costs its ledger line and its spec (a few hundred bytes; the spec is kept
//! for the console's job page and re-runs) until it is older than
//! `--keep` (default 24 h): then [`JobTable::expire`] forgets it — `GET /jobs/{id}` answers
//! 404 and its id may be used again (the ledger keeps every line). Jobs not yet finished
//! and periodic entries are never expired.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use conveyor_pool::{CancelHandle, JobHandle, JobStatus, Outcome, ScheduleHandle};
use serde_json::{Map, Value};
use smol_str::SmolStr;
use tokio::sync::mpsc;

use super::console::Throughput;
use crate::job::Meta;
use crate::ledger::Record;
use crate::spec::{JobSpec, SpecError};

/// One accepted job on its way to the intake task.
pub(crate) struct Accepted {
    /// The job's spec (`meta.spec`) and report.
    pub(crate) meta: Arc<Meta>,
}

/// What the intake task receives: one request's jobs, in file order.
pub(crate) type Batch = Vec<Accepted>;

/// The spool file a job came from (a number the spool task gives each file it takes).
pub(crate) type Origin = u64;

/// A finished job's ledger line, for the spool task that writes its file's own ledger.
pub(crate) struct SpoolLine {
    /// The file.
    pub(crate) origin: Origin,
    /// Whether the job succeeded.
    pub(crate) succeeded: bool,
    /// The ledger line, without its newline.
    pub(crate) line: Box<str>,
}

/// Where a live job is.
enum Handle {
    /// Accepted; the intake task has not handed it to the pool yet.
    Waiting,
    /// In the pool.
    Pooled(JobHandle<()>),
    /// Run `number` of the periodic entry `entry` (its schedule submits it).
    Run { entry: SmolStr, number: u64 },
}

enum Entry {
    Live {
        meta: Arc<Meta>,
        handle: Handle,
        origin: Option<Origin>,
    },
    Periodic {
        schedule: Option<ScheduleHandle>,
    },
    /// A periodic entry stopped by `DELETE /jobs/{id}` (its schedule keeps the counts).
    Stopped {
        schedule: Option<ScheduleHandle>,
    },
    /// A finished job: its ledger line, when it finished (for [`JobTable::expire`]), its
    /// outcome (for the list's filter, without parsing the line) and its spec (for the
    /// console's job page and re-runs).
    Done {
        line: Box<str>,
        at: Instant,
        outcome: Outcome,
        spec: Arc<JobSpec>,
    },
}

struct Inner {
    /// `None` once intake is closed.
    intake: Option<mpsc::UnboundedSender<Batch>>,
    /// Where lines of spool jobs go; `None` without `--spool` or once the spool is done.
    spool: Option<mpsc::UnboundedSender<SpoolLine>>,
    jobs: HashMap<SmolStr, Entry>,
    /// The id of each periodic entry's latest run.
    last_run: HashMap<SmolStr, SmolStr>,
    /// Every entry by acceptance number (the list's order, newest last), and each id's
    /// number: an id used again after [`JobTable::expire`] gets a new number, and the
    /// old one is gone from both.
    order: BTreeMap<u64, SmolStr>,
    seq: HashMap<SmolStr, u64>,
    next_seq: u64,
    /// Finishes per second, for the console's charts.
    throughput: Throughput,
}

/// Why [`JobTable::accept`] refused a batch.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The server is stopping.
    Closed,
    /// Ids the server already accepted, located in the request.
    Duplicates(Vec<SpecError>),
}

/// What [`JobTable::cancel`] did.
pub(crate) enum Cancelled {
    /// The job is in the pool: it was told to stop (its line comes when it has).
    Requested,
    /// The job had not reached the pool: it is finished now, with this record.
    Unstarted(Record),
    /// A periodic entry: no run starts from now on (the caller stops the schedule).
    Periodic(Option<ScheduleHandle>),
    /// The job already has its ledger line, or its schedule was stopped.
    AlreadyFinished,
    /// A periodic run its schedule is submitting at this instant: try again.
    Starting,
    /// No such id.
    Unknown,
}

/// One job of a list page ([`JobTable::list`]), taken under the lock; the caller builds
/// its JSON outside it.
pub(crate) struct Row {
    /// The job's id.
    pub(crate) id: SmolStr,
    /// Its status word, as `GET /jobs/{id}` has it.
    pub(crate) status: &'static str,
    /// Its spec (`None` for a periodic entry).
    pub(crate) spec: Option<Arc<JobSpec>>,
    /// Its ledger line, once finished.
    pub(crate) line: Option<Box<str>>,
}

/// Every accepted job, by id. See the [module docs](self).
pub(crate) struct JobTable {
    inner: Mutex<Inner>,
}

impl Inner {
    /// Adds (or replaces) `id`, as the newest entry.
    fn insert(&mut self, id: SmolStr, entry: Entry) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(old) = self.seq.insert(id.clone(), seq) {
            self.order.remove(&old);
        }
        self.order.insert(seq, id.clone());
        self.jobs.insert(id, entry);
    }

    fn remove(&mut self, id: &str) {
        self.jobs.remove(id);
        if let Some(seq) = self.seq.remove(id) {
            self.order.remove(&seq);
        }
    }

    /// The status word of `entry` (see [`JobTable::status`]).
    fn state(&self, entry: &Entry) -> &'static str {
        match entry {
            Entry::Live { handle: Handle::Waiting, .. } => "queued",
            Entry::Live { handle: Handle::Pooled(handle), .. } => status_name(handle.status()),
            Entry::Live { handle: Handle::Run { entry, number }, .. } => {
                run_handle(self, entry, *number).map_or("queued", |h| status_name(h.status()))
            }
            Entry::Periodic { .. } => "periodic",
            Entry::Stopped { .. } => "stopped",
            Entry::Done { outcome, .. } => outcome.as_str(),
        }
    }
}

/// The Unix second of `at` (0 before 1970).
fn unix_second(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl JobTable {
    /// An open table feeding `intake`, and `spool` with the lines of spool jobs.
    pub(crate) fn new(
        intake: mpsc::UnboundedSender<Batch>,
        spool: Option<mpsc::UnboundedSender<SpoolLine>>,
    ) -> JobTable {
        JobTable {
            inner: Mutex::new(Inner {
                intake: Some(intake),
                spool,
                jobs: HashMap::new(),
                last_run: HashMap::new(),
                order: BTreeMap::new(),
                seq: HashMap::new(),
                next_seq: 0,
                throughput: Throughput::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a request's jobs: all or none. A job's own `id` must be new to the server
    /// (else [`Refused::Duplicates`], one error per such job, at its opening `{`); a
    /// generated id that is already taken (the same id-less job posted again) gets `-2`,
    /// `-3`, … until it is free, so posting a file twice runs it twice. Returns the ids.
    /// `origin` is the spool file the jobs come from, if any.
    pub(crate) fn accept(&self, jobs: Vec<JobSpec>, origin: Option<Origin>) -> Result<Vec<SmolStr>, Refused> {
        let mut inner = self.lock();
        let Some(intake) = inner.intake.clone() else { return Err(Refused::Closed) };
        let duplicates: Vec<SpecError> = jobs
            .iter()
            .filter(|j| !j.id_generated && inner.jobs.contains_key(&*j.id))
            .map(|j| SpecError {
                path: j.origin.path.to_path_buf(),
                line: j.origin.line,
                column: j.origin.column,
                field: None,
                message: format!("duplicate id `{}`: the server already accepted a job with this id", j.id),
            })
            .collect();
        if !duplicates.is_empty() {
            return Err(Refused::Duplicates(duplicates));
        }
        let own: HashSet<SmolStr> = jobs.iter().filter(|j| !j.id_generated).map(|j| j.id.clone()).collect();
        let mut batch = Vec::with_capacity(jobs.len());
        let mut ids = Vec::with_capacity(jobs.len());
        for mut spec in jobs {
            if spec.id_generated && inner.jobs.contains_key(&*spec.id) {
                let base = spec.id.clone();
                spec.id = (2u64..)
                    .map(|n| format!("{base}-{n}"))
                    .find(|id| !inner.jobs.contains_key(id.as_str()) && !own.contains(id.as_str()))
                    .map_or(base, SmolStr::from);
            }
            let periodic = spec.schedule.is_some();
            let meta = Arc::new(Meta::new(Arc::new(spec)));
            let entry = if periodic {
                Entry::Periodic { schedule: None }
            } else {
                Entry::Live { meta: meta.clone(), handle: Handle::Waiting, origin }
            };
            inner.insert(meta.id().clone(), entry);
            ids.push(meta.id().clone());
            batch.push(Accepted { meta });
        }
        if intake.send(batch).is_err() {
            // The intake task is gone (it only ends after `close`): treat as closed.
            for id in &ids {
                inner.remove(id);
            }
            return Err(Refused::Closed);
        }
        Ok(ids)
    }

    /// Closes intake: [`accept`](Self::accept) refuses from now on, and the intake task
    /// ends once it has taken every batch accepted before.
    pub(crate) fn close(&self) {
        self.lock().intake = None;
    }

    /// Whether intake is still open.
    pub(crate) fn is_open(&self) -> bool {
        self.lock().intake.is_some()
    }

    /// Notes that `id` is in the pool (unless it already finished: then `handle` is
    /// dropped, which detaches nothing that still runs).
    pub(crate) fn pooled(&self, id: &str, handle: JobHandle<()>) {
        let mut inner = self.lock();
        match inner.jobs.get_mut(id) {
            Some(Entry::Live { handle: slot, .. }) => *slot = Handle::Pooled(handle),
            // Cancelled (`DELETE`) while the intake submitted it: it has its line already,
            // so it must not run. Cancelled outside the lock: the pool may finish it at
            // once, and its finish hook comes back to this table.
            Some(Entry::Done { .. }) => {
                drop(inner);
                handle.cancel();
            }
            _ => {}
        }
    }

    /// Whether `id` still waits for the intake (not cancelled meanwhile).
    pub(crate) fn is_waiting(&self, id: &str) -> bool {
        matches!(self.lock().jobs.get(id), Some(Entry::Live { handle: Handle::Waiting, .. }))
    }

    /// `DELETE /jobs/{id}`: cancels a job that is not final yet, or stops a periodic entry.
    /// A job that has not reached the pool is finished here, as `cancelled` with 0 attempts
    /// (the caller sends the record to the ledger).
    pub(crate) fn cancel(&self, id: &str) -> Cancelled {
        let handle = {
            let mut inner = self.lock();
            match inner.jobs.get_mut(id) {
                None => return Cancelled::Unknown,
                Some(Entry::Done { .. } | Entry::Stopped { .. }) => return Cancelled::AlreadyFinished,
                Some(entry @ Entry::Periodic { .. }) => {
                    let Entry::Periodic { schedule } =
                        std::mem::replace(entry, Entry::Stopped { schedule: None })
                    else {
                        return Cancelled::AlreadyFinished;
                    };
                    *entry = Entry::Stopped { schedule: schedule.clone() };
                    return Cancelled::Periodic(schedule);
                }
                Some(Entry::Live { handle: Handle::Pooled(handle), .. }) => handle.cancel_handle(),
                Some(Entry::Live { handle: Handle::Run { entry, number }, .. }) => {
                    let (entry, number) = (entry.clone(), *number);
                    match run_handle(&inner, &entry, number) {
                        Some(handle) => handle,
                        // Its schedule is submitting it right now.
                        None => return Cancelled::Starting,
                    }
                }
                Some(Entry::Live { handle: Handle::Waiting, .. }) => {
                    drop(inner);
                    return match self
                        .finish(id, |m| m.unstarted("cancelled by DELETE /jobs/{id} before it started"))
                    {
                        Some(record) => Cancelled::Unstarted(record),
                        None => Cancelled::AlreadyFinished,
                    };
                }
            }
        };
        // Outside the lock: the pool may finish the job (and call back into the table) at once.
        handle.cancel();
        Cancelled::Requested
    }

    /// Notes the schedule of the periodic entry `id`. Returns `false` (and stops nothing:
    /// the caller does) when intake has closed meanwhile or the entry was stopped.
    pub(crate) fn scheduled(&self, id: &str, schedule: ScheduleHandle) -> bool {
        let mut inner = self.lock();
        if inner.intake.is_none() {
            return false;
        }
        match inner.jobs.get_mut(id) {
            Some(Entry::Periodic { schedule: slot @ None }) => {
                *slot = Some(schedule);
                true
            }
            _ => false,
        }
    }

    /// Registers run `number` of the periodic entry `entry` under `spec.id` (made unique
    /// with `-2`, `-3`, … if it is taken) and returns its meta. Runs are registered even
    /// after intake closed: the pool refuses them then, and [`sweep`](Self::sweep) finishes
    /// them.
    pub(crate) fn register_run(&self, mut spec: JobSpec, entry: &SmolStr, number: u64) -> Arc<Meta> {
        let mut inner = self.lock();
        if inner.jobs.contains_key(&*spec.id) {
            let base = spec.id.clone();
            spec.id = (2u64..)
                .map(|n| format!("{base}-{n}"))
                .find(|id| !inner.jobs.contains_key(id.as_str()))
                .map_or(base, SmolStr::from);
        }
        let meta = Arc::new(Meta::new(Arc::new(spec)));
        let handle = Handle::Run { entry: entry.clone(), number };
        inner.insert(meta.id().clone(), Entry::Live { meta: meta.clone(), handle, origin: None });
        inner.last_run.insert(entry.clone(), meta.id().clone());
        meta
    }

    /// The schedules of every periodic entry (to stop them when the server stops).
    pub(crate) fn schedules(&self) -> Vec<ScheduleHandle> {
        let inner = self.lock();
        inner
            .jobs
            .values()
            .filter_map(|e| match e {
                Entry::Periodic { schedule } => schedule.clone(),
                _ => None,
            })
            .collect()
    }

    /// Finishes every job that has no ledger line yet as `cancelled` with `why`, and returns
    /// their records. The last step of a drain: once the pool has stopped, a job still
    /// without its line (a periodic run the stopping pool refused) never gets one otherwise.
    pub(crate) fn sweep(&self, why: &str) -> Vec<Record> {
        let ids: Vec<SmolStr> = {
            let inner = self.lock();
            inner
                .jobs
                .iter()
                .filter(|(_, e)| matches!(e, Entry::Live { .. }))
                .map(|(id, _)| id.clone())
                .collect()
        };
        ids.iter().filter_map(|id| self.finish(id, |m| m.unstarted(why))).collect()
    }

    /// Forgets finished jobs that finished before `cutoff`; returns how many.
    pub(crate) fn expire(&self, cutoff: Instant) -> usize {
        let mut inner = self.lock();
        let old: Vec<SmolStr> = inner
            .jobs
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Done { at, .. } if *at < cutoff))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &old {
            inner.remove(id);
        }
        old.len()
    }

    /// Drops the sender of spool lines, so the spool task sees the end once it has every
    /// line sent before.
    pub(crate) fn close_spool(&self) {
        self.lock().spool = None;
    }

    /// Finishes `id` once: builds its record with `make`, keeps its ledger line, and returns
    /// the record for the ledger writer. `None` if `id` is unknown or already finished.
    pub(crate) fn finish(&self, id: &str, make: impl FnOnce(&Meta) -> Record) -> Option<Record> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let entry = inner.jobs.get_mut(id)?;
        let (record, origin, spec) = match entry {
            Entry::Live { meta, origin, .. } => (make(meta), *origin, meta.spec.clone()),
            Entry::Periodic { .. } | Entry::Stopped { .. } | Entry::Done { .. } => return None,
        };
        let mut line = Vec::with_capacity(256);
        record.write_line(&mut line);
        let text: Box<str> = String::from_utf8_lossy(&line).trim_end().into();
        if let (Some(origin), Some(spool)) = (origin, &inner.spool) {
            let succeeded = record.outcome == Outcome::Succeeded;
            // The spool task ends only after `close_spool`; a send error means it failed
            // early, and the global ledger still has the line.
            let _ = spool.send(SpoolLine { origin, succeeded, line: text.clone() });
        }
        *entry = Entry::Done { line: text, at: Instant::now(), outcome: record.outcome, spec };
        // Only jobs that started have a wait time worth charting.
        let wait = record.started_at.is_some().then_some(record.wait);
        inner.throughput.record(unix_second(record.finished_at), record.outcome, wait);
        Some(record)
    }

    /// The status document of `id`: `{"id", "status"}` while it is not final (`queued`,
    /// `scheduled`, `running`, `retrying`), and once it is, `status` is the outcome and the
    /// ledger line's fields follow. `None` if unknown.
    pub(crate) fn status(&self, id: &str) -> Option<Value> {
        let inner = self.lock();
        let entry = inner.jobs.get(id)?;
        let status = match entry {
            Entry::Live { .. } => inner.state(entry),
            Entry::Periodic { schedule } | Entry::Stopped { schedule } => {
                let (runs, skipped) = schedule.as_ref().map_or((0, 0), |s| (s.runs(), s.skipped()));
                let status = if matches!(entry, Entry::Periodic { .. }) { "periodic" } else { "stopped" };
                let last_run = inner.last_run.get(id).map(SmolStr::as_str);
                return Some(serde_json::json!({
                    "id": id, "status": status, "runs": runs, "skipped": skipped, "last_run": last_run,
                }));
            }
            Entry::Done { line, .. } => {
                let mut fields = match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(map)) => map,
                    _ => Map::new(),
                };
                let outcome = fields.get("outcome").cloned().unwrap_or(Value::Null);
                fields.insert("id".into(), Value::from(id));
                fields.insert("status".into(), outcome);
                return Some(Value::Object(fields));
            }
        };
        Some(serde_json::json!({"id": id, "status": status}))
    }
}

impl JobTable {
    /// Up to `limit` jobs, newest first, that `keep(id, status)` accepts, from those
    /// accepted before the job numbered `before` (all when `None`), and the number to pass
    /// as `before` for the next page (`None` when no job after these matches).
    ///
    /// Jobs accepted meanwhile get higher numbers, so paging on never repeats or skips a
    /// job that stays in the table (a job whose status changes between pages may leave or
    /// join a filter). Scans under the lock: fine for the table's size (one pass over at
    /// most every entry, no allocation but the page).
    pub(crate) fn list(
        &self,
        before: Option<u64>,
        limit: usize,
        mut keep: impl FnMut(&str, &'static str) -> bool,
    ) -> (Vec<Row>, Option<u64>) {
        let inner = self.lock();
        let mut rows = Vec::with_capacity(limit.min(inner.order.len()));
        let mut last = None;
        let range = inner.order.range(..before.unwrap_or(u64::MAX));
        for (&seq, id) in range.rev() {
            let Some(entry) = inner.jobs.get(id) else { continue };
            let status = inner.state(entry);
            if !keep(id, status) {
                continue;
            }
            if rows.len() == limit {
                return (rows, last);
            }
            let (spec, line) = match entry {
                Entry::Live { meta, .. } => (Some(meta.spec.clone()), None),
                Entry::Done { line, spec, .. } => (Some(spec.clone()), Some(line.clone())),
                Entry::Periodic { .. } | Entry::Stopped { .. } => (None, None),
            };
            rows.push(Row { id: id.clone(), status, spec, line });
            last = Some(seq);
        }
        (rows, None)
    }

    /// How many jobs have each status word (only words with at least one job).
    pub(crate) fn counts(&self) -> BTreeMap<&'static str, u64> {
        let inner = self.lock();
        let mut counts = BTreeMap::new();
        for entry in inner.jobs.values() {
            *counts.entry(inner.state(entry)).or_insert(0) += 1;
        }
        counts
    }

    /// The spec of `id` and whether the job is final (periodic entries have none).
    pub(crate) fn spec(&self, id: &str) -> Option<(Arc<JobSpec>, bool)> {
        match self.lock().jobs.get(id)? {
            Entry::Live { meta, .. } => Some((meta.spec.clone(), false)),
            Entry::Done { spec, .. } => Some((spec.clone(), true)),
            Entry::Periodic { .. } | Entry::Stopped { .. } => None,
        }
    }

    /// The first id `{base}-rerun-N` (N = 1, 2, …) the table does not hold, where `base` is
    /// `id` without a `-rerun-N` suffix of its own (a re-run of a re-run is the next one).
    pub(crate) fn rerun_id(&self, id: &str) -> SmolStr {
        let base = match id.rsplit_once("-rerun-") {
            Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
            _ => id,
        };
        let inner = self.lock();
        (1u64..)
            .map(|n| SmolStr::from(format!("{base}-rerun-{n}")))
            .find(|id| !inner.jobs.contains_key(id))
            .unwrap_or_default()
    }

    /// The last `window` seconds of finishes up to the Unix second `now`, oldest first.
    pub(crate) fn throughput(&self, now: u64) -> Vec<super::console::Second> {
        self.lock().throughput.series(now)
    }
}

/// The status word of a job in the pool.
fn status_name(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Scheduled => "scheduled",
        JobStatus::Queued => "queued",
        JobStatus::Retrying => "retrying",
        // `Finished` too: resolved, its ledger line is being made.
        _ => "running",
    }
}

/// A handle on run `number` of the periodic entry `entry`, once its schedule submitted it.
fn run_handle(inner: &Inner, entry: &str, number: u64) -> Option<CancelHandle> {
    let (Entry::Periodic { schedule: Some(schedule) } | Entry::Stopped { schedule: Some(schedule) }) =
        inner.jobs.get(entry)?
    else {
        return None;
    };
    schedule.current().filter(|(n, _)| *n == number).map(|(_, handle)| handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ParseOptions, parse_str};

    fn jobs(text: &str) -> Vec<JobSpec> {
        parse_str("request", text, &ParseOptions::default().allow_periodic(true)).unwrap().jobs
    }

    fn accept(table: &JobTable, text: &str) -> Result<Vec<SmolStr>, Refused> {
        table.accept(jobs(text), None)
    }

    #[test]
    fn ids_are_unique_across_requests() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let table = JobTable::new(tx, None);
        let ids = accept(&table, "{\"id\": \"a\", \"kind\": \"noop\"}\n{\"kind\": \"noop\"}\n").unwrap();
        assert_eq!(ids[0].as_str(), "a");
        assert_eq!(rx.try_recv().unwrap().len(), 2);

        let Err(Refused::Duplicates(errors)) =
            accept(&table, "{\"kind\": \"noop\"}\n{\"id\": \"a\", \"kind\": \"noop\"}\n")
        else {
            panic!("duplicate accepted")
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "request:2:1: duplicate id `a`: the server already accepted a job with this id"
        );
        assert!(rx.try_recv().is_err(), "nothing queued");

        let again = accept(&table, "{\"kind\": \"noop\"}\n").unwrap();
        assert_eq!(again[0].as_ref(), format!("{}-2", ids[1]));
        assert_eq!(table.status("a").unwrap(), serde_json::json!({"id": "a", "status": "queued"}));
        assert!(table.status("nope").is_none());
    }

    #[test]
    fn finished_jobs_show_their_ledger_line_once() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let table = JobTable::new(tx, None);
        accept(&table, "{\"id\": \"a\", \"kind\": \"noop\"}").unwrap();
        assert!(table.finish("a", |m| m.unstarted("stopped")).is_some());
        assert!(table.finish("a", |m| m.unstarted("stopped")).is_none());
        let status = table.status("a").unwrap();
        assert_eq!(status["status"], "cancelled");
        assert_eq!(status["outcome"], "cancelled");
        assert_eq!(status["attempts"], 0);
        assert_eq!(status["error"], "stopped");
    }

    #[test]
    fn spool_jobs_send_their_line_once_and_sweep_finishes_the_rest() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let (lines_tx, mut lines) = mpsc::unbounded_channel();
        let table = JobTable::new(tx, Some(lines_tx));
        table
            .accept(
                jobs("{\"id\": \"s1\", \"kind\": \"noop\"}\n{\"id\": \"s2\", \"kind\": \"noop\"}"),
                Some(7),
            )
            .unwrap();
        accept(
            &table,
            "{\"id\": \"h\", \"kind\": \"noop\"}\n{\"id\": \"p\", \"kind\": \"noop\", \"every\": \"1m\"}",
        )
        .unwrap();
        assert!(table.finish("s1", |m| m.unstarted("x")).is_some());
        assert!(table.finish("h", |m| m.unstarted("x")).is_some());
        let line = lines.try_recv().unwrap();
        assert_eq!((line.origin, line.succeeded), (7, false));
        assert!(line.line.starts_with("{\"id\":\"s1\""), "{}", line.line);
        assert!(lines.try_recv().is_err(), "only spool jobs send lines");

        // A periodic entry has no line of its own; its runs are live entries.
        assert_eq!(table.status("p").unwrap()["status"], "periodic");
        let run = jobs("{\"id\": \"p@t\", \"kind\": \"noop\"}").remove(0);
        let parent = SmolStr::new("p");
        table.register_run(run.clone(), &parent, 1);
        assert_eq!(table.status("p@t").unwrap()["status"], "queued");
        assert_eq!(table.register_run(run, &parent, 2).id().as_str(), "p@t-2");
        assert_eq!(table.status("p").unwrap()["last_run"], "p@t-2");

        let mut swept: Vec<String> = table.sweep("stopped").iter().map(|r| r.id.to_string()).collect();
        swept.sort();
        assert_eq!(swept, ["p@t", "p@t-2", "s2"]);
        assert!(lines.try_recv().unwrap().line.contains("\"s2\""));
        assert!(table.sweep("stopped").is_empty());
        table.close_spool();
        assert!(lines.try_recv().is_err());
    }

    #[test]
    fn finished_jobs_expire_and_their_ids_can_be_used_again() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let table = JobTable::new(tx, None);
        accept(&table, "{\"id\": \"old\", \"kind\": \"noop\"}\n{\"id\": \"live\", \"kind\": \"noop\"}")
            .unwrap();
        assert!(table.finish("old", |m| m.unstarted("x")).is_some());
        let cutoff = Instant::now();
        assert!(table.finish("live", |m| m.unstarted("x")).is_some());
        assert_eq!(table.expire(cutoff), 1);
        assert!(table.status("old").is_none());
        assert_eq!(table.status("live").unwrap()["status"], "cancelled");
        assert_eq!(accept(&table, "{\"id\": \"old\", \"kind\": \"noop\"}").unwrap()[0].as_str(), "old");
        assert_eq!(table.expire(Instant::now()), 1, "only finished jobs expire");
    }

    #[test]
    fn rerun_ids_count_up_from_the_original() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let table = JobTable::new(tx, None);
        accept(&table, "{\"id\": \"a\", \"kind\": \"noop\"}\n{\"id\": \"a-rerun-1\", \"kind\": \"noop\"}")
            .unwrap();
        assert_eq!(table.rerun_id("a"), "a-rerun-2");
        assert_eq!(table.rerun_id("a-rerun-1"), "a-rerun-2", "a re-run of a re-run is the next one");
        assert_eq!(table.rerun_id("b-rerun-7"), "b-rerun-1");
        assert_eq!(table.rerun_id("x-rerun-"), "x-rerun--rerun-1");
        assert!(table.spec("a").is_some_and(|(spec, done)| spec.id == "a" && !done));
        assert!(table.finish("a", |m| m.unstarted("x")).is_some());
        assert!(table.spec("a").is_some_and(|(_, done)| done), "the spec outlives the run");
    }

    #[test]
    fn a_closed_table_refuses() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let table = JobTable::new(tx, None);
        table.close();
        assert!(!table.is_open());
        assert!(matches!(accept(&table, "{\"kind\": \"noop\"}"), Err(Refused::Closed)));
    }
}

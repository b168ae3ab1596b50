//! [`JobTable`]: every job the server accepted, by id, from acceptance to its ledger line.
//!
//! An entry is `Waiting` (accepted, not yet handed to the pool: the intake task submits in
//! acceptance order and waits while the pool's queue is full), `Pooled` (in the pool; its
//! [`JobHandle`] tells the live status), or `Done` (its ledger line, kept as text).
//!
//! The table is also where intake closes: [`JobTable::accept`] queues a batch for the intake
//! task under the same lock that [`JobTable::close`] takes, so once `close` returns no batch
//! can slip in, and the intake task sees every batch accepted before it.
//!
//! # Memory
//!
//! The table keeps one entry per accepted job for the life of the process (a finished job
//! costs its ledger line, a few hundred bytes), so ids stay unique and `GET /jobs/{id}`
//! answers for every job ever accepted. It grows with the number of accepted jobs; a
//! long-lived server with millions of jobs would need expiry (not done yet).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use conveyor_pool::{JobHandle, JobStatus};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::ledger::Record;
use crate::run::Meta;
use crate::spec::{JobSpec, SpecError};

/// One accepted job on its way to the intake task.
pub(crate) struct Accepted {
    pub(crate) spec: JobSpec,
    pub(crate) meta: Arc<Meta>,
}

/// What the intake task receives: one request's jobs, in file order.
pub(crate) type Batch = Vec<Accepted>;

enum Entry {
    Waiting(Arc<Meta>),
    Pooled(Arc<Meta>, JobHandle<()>),
    Done(Box<str>),
}

struct Inner {
    /// `None` once intake is closed.
    intake: Option<mpsc::UnboundedSender<Batch>>,
    jobs: HashMap<Arc<str>, Entry>,
}

/// Why [`JobTable::accept`] refused a batch.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The server is stopping.
    Closed,
    /// Ids the server already accepted, located in the request.
    Duplicates(Vec<SpecError>),
}

/// Every accepted job, by id. See the [module docs](self).
pub(crate) struct JobTable {
    inner: Mutex<Inner>,
}

impl JobTable {
    /// An open table feeding `intake`.
    pub(crate) fn new(intake: mpsc::UnboundedSender<Batch>) -> JobTable {
        JobTable { inner: Mutex::new(Inner { intake: Some(intake), jobs: HashMap::new() }) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a request's jobs: all or none. A job's own `id` must be new to the server
    /// (else [`Refused::Duplicates`], one error per such job, at its opening `{`); a
    /// generated id that is already taken (the same id-less job posted again) gets `-2`,
    /// `-3`, … until it is free, so posting a file twice runs it twice. Returns the ids.
    pub(crate) fn accept(&self, jobs: Vec<JobSpec>) -> Result<Vec<Arc<str>>, Refused> {
        let mut inner = self.lock();
        let Some(intake) = inner.intake.clone() else { return Err(Refused::Closed) };
        let duplicates: Vec<SpecError> = jobs
            .iter()
            .filter(|j| !j.id_generated && inner.jobs.contains_key(j.id.as_str()))
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
        let own: HashSet<String> = jobs.iter().filter(|j| !j.id_generated).map(|j| j.id.clone()).collect();
        let mut batch = Vec::with_capacity(jobs.len());
        let mut ids = Vec::with_capacity(jobs.len());
        for mut spec in jobs {
            if spec.id_generated && inner.jobs.contains_key(spec.id.as_str()) {
                let base = std::mem::take(&mut spec.id);
                spec.id = (2u64..)
                    .map(|n| format!("{base}-{n}"))
                    .find(|id| !inner.jobs.contains_key(id.as_str()) && !own.contains(id))
                    .unwrap_or(base);
            }
            let meta = Arc::new(Meta::of(&spec));
            inner.jobs.insert(meta.id.clone(), Entry::Waiting(meta.clone()));
            ids.push(meta.id.clone());
            batch.push(Accepted { spec, meta });
        }
        if intake.send(batch).is_err() {
            // The intake task is gone (it only ends after `close`): treat as closed.
            for id in &ids {
                inner.jobs.remove(id);
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
        if let Some(entry) = inner.jobs.get_mut(id)
            && let Entry::Waiting(meta) = entry
        {
            *entry = Entry::Pooled(meta.clone(), handle);
        }
    }

    /// Finishes `id` once: builds its record with `make`, keeps its ledger line, and returns
    /// the record for the ledger writer. `None` if `id` is unknown or already finished.
    pub(crate) fn finish(&self, id: &str, make: impl FnOnce(&Meta) -> Record) -> Option<Record> {
        let mut inner = self.lock();
        let entry = inner.jobs.get_mut(id)?;
        let record = match entry {
            Entry::Waiting(meta) | Entry::Pooled(meta, _) => make(meta),
            Entry::Done(_) => return None,
        };
        let mut line = Vec::with_capacity(256);
        record.write_line(&mut line);
        let text = String::from_utf8_lossy(&line);
        *entry = Entry::Done(text.trim_end().into());
        Some(record)
    }

    /// The status document of `id`: `{"id", "status"}` while it is not final (`queued`,
    /// `scheduled`, `running`, `retrying`), and once it is, `status` is the outcome and the
    /// ledger line's fields follow. `None` if unknown.
    pub(crate) fn status(&self, id: &str) -> Option<Value> {
        let inner = self.lock();
        let status = match inner.jobs.get(id)? {
            Entry::Waiting(_) => "queued",
            Entry::Pooled(_, handle) => match handle.status() {
                JobStatus::Scheduled => "scheduled",
                JobStatus::Queued => "queued",
                JobStatus::Retrying => "retrying",
                // `Finished` too: resolved, its ledger line is being made.
                _ => "running",
            },
            Entry::Done(line) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ParseOptions, parse_str};

    fn jobs(text: &str) -> Vec<JobSpec> {
        parse_str("request", text, &ParseOptions::default()).unwrap().jobs
    }

    #[test]
    fn ids_are_unique_across_requests() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let table = JobTable::new(tx);
        let ids = table.accept(jobs("{\"id\": \"a\", \"kind\": \"noop\"}\n{\"kind\": \"noop\"}\n")).unwrap();
        assert_eq!(ids[0].as_ref(), "a");
        assert_eq!(rx.try_recv().unwrap().len(), 2);

        let Err(Refused::Duplicates(errors)) =
            table.accept(jobs("{\"kind\": \"noop\"}\n{\"id\": \"a\", \"kind\": \"noop\"}\n"))
        else {
            panic!("duplicate accepted")
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "request:2:1: duplicate id `a`: the server already accepted a job with this id"
        );
        assert!(rx.try_recv().is_err(), "nothing queued");

        let again = table.accept(jobs("{\"kind\": \"noop\"}\n")).unwrap();
        assert_eq!(again[0].as_ref(), format!("{}-2", ids[1]));
        assert_eq!(table.status("a").unwrap(), serde_json::json!({"id": "a", "status": "queued"}));
        assert!(table.status("nope").is_none());
    }

    #[test]
    fn finished_jobs_show_their_ledger_line_once() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let table = JobTable::new(tx);
        table.accept(jobs("{\"id\": \"a\", \"kind\": \"noop\"}")).unwrap();
        assert!(table.finish("a", |m| m.unstarted("stopped")).is_some());
        assert!(table.finish("a", |m| m.unstarted("stopped")).is_none());
        let status = table.status("a").unwrap();
        assert_eq!(status["status"], "cancelled");
        assert_eq!(status["outcome"], "cancelled");
        assert_eq!(status["attempts"], 0);
        assert_eq!(status["error"], "stopped");
    }

    #[test]
    fn a_closed_table_refuses() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let table = JobTable::new(tx);
        table.close();
        assert!(!table.is_open());
        assert!(matches!(table.accept(jobs("{\"kind\": \"noop\"}")), Err(Refused::Closed)));
    }
}

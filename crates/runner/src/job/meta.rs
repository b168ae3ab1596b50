//! [`Meta`], a pool job's tag: its spec, an exec job's output and who reports it; and the
//! ledger records of how it ended ([`Meta::finished`], [`Meta::unstarted`], [`Done`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use conveyor_pool::{Finished, Outcome};
use smol_str::SmolStr;

use crate::ledger::{Entry, ExecOutput, Record, RecordRef};
use crate::spec::JobSpec;

/// A job's spec and what the finish hook needs beyond the pool's report (`serve` uses it
/// too). It is the pool job's tag, which the job's body reads through its context: one
/// reference for the whole job, where copying the id, name and hash out of the spec cost
/// three.
pub(crate) struct Meta {
    pub(crate) spec: Arc<JobSpec>,
    /// `exec` and `shell` only: the last attempt's exit code and output.
    exec: Option<Mutex<ExecOutput>>,
    /// Set by whoever reports the job's final state: the finish hook or, for a job the pool
    /// refused, the intake ([`claim_report`](Self::claim_report)).
    reported: AtomicBool,
}

impl Meta {
    pub(crate) fn new(spec: Arc<JobSpec>) -> Meta {
        Meta {
            exec: spec.kind.spawns_process().then(|| Mutex::new(ExecOutput::default())),
            reported: AtomicBool::new(false),
            spec,
        }
    }

    /// The job's id.
    pub(crate) fn id(&self) -> &SmolStr {
        &self.spec.id
    }

    /// The `Meta` a finished job carries as its pool tag (see [`pool_job`](super::pool_job)); `None` for a
    /// job that is not ours.
    pub(crate) fn of_finished(f: &Finished) -> Option<Arc<Meta>> {
        f.job.tag.clone()?.downcast::<Meta>().ok()
    }

    /// `true` once, for the first caller: the one that reports the job (exactly one record
    /// a job, whichever of the finish hook and a refused submission comes first).
    pub(crate) fn claim_report(&self) -> bool {
        !self.reported.swap(true, Ordering::AcqRel)
    }

    pub(super) fn set_exec(&self, exit_code: Option<i32>, output_tail: Option<String>) {
        if let Some(slot) = &self.exec {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = ExecOutput { exit_code, output_tail };
        }
    }

    fn exec(&self) -> Option<ExecOutput> {
        self.exec.as_ref().map(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }

    /// How the job ended, from the pool's report.
    fn ending(&self, f: &Finished) -> Ending {
        Ending {
            outcome: f.outcome,
            attempts: f.attempts,
            queued_at: f.queued_at,
            started_at: f.started_at,
            finished_at: f.finished_at,
            wait: f.wait,
            run: f.run,
            error: f.error.clone(),
            exec: self.exec(),
        }
    }

    /// How a job that was never submitted ended: cancelled now, because the run stopped.
    fn never_started(&self, why: &str) -> Ending {
        let now = SystemTime::now();
        Ending {
            outcome: Outcome::Cancelled,
            attempts: 0,
            queued_at: now,
            started_at: None,
            finished_at: now,
            wait: Duration::ZERO,
            run: Duration::ZERO,
            error: Some(why.to_owned()),
            exec: self.exec(),
        }
    }

    /// The job's ledger line: the spec's fields and `ending`'s.
    fn line<'a>(&'a self, ending: &'a Ending) -> RecordRef<'a> {
        let spec = &*self.spec;
        RecordRef {
            id: &spec.id,
            name: spec.name.as_deref(),
            kind: spec.kind.name(),
            priority: spec.priority,
            outcome: ending.outcome,
            attempts: ending.attempts,
            queued_at: ending.queued_at,
            started_at: ending.started_at,
            finished_at: ending.finished_at,
            wait: ending.wait,
            run: ending.run,
            error: ending.error.as_deref(),
            spec_hash: &spec.spec_hash,
            exec: ending.exec.as_ref(),
        }
    }

    /// The record of a job that reached its final state in the pool.
    pub(crate) fn finished(&self, f: &Finished) -> Record {
        Record::from(self.line(&self.ending(f)))
    }

    /// The record of a job that was never submitted: the run stopped first.
    pub(crate) fn unstarted(&self, why: &str) -> Record {
        Record::from(self.line(&self.never_started(why)))
    }
}

/// How a job ended: the fields of its ledger line that do not come from its spec.
struct Ending {
    outcome: Outcome,
    attempts: u32,
    queued_at: SystemTime,
    started_at: Option<SystemTime>,
    finished_at: SystemTime,
    wait: Duration,
    run: Duration,
    error: Option<String>,
    exec: Option<ExecOutput>,
}

/// A job's final state on its way to `conveyor run`'s ledger writer: how it ended and its
/// [`Meta`], which lends the writer the id, name and hash straight from the spec. The run's
/// thread copies none of them, and the spec is freed on the writer's thread.
pub(crate) struct Done {
    meta: Arc<Meta>,
    ending: Ending,
}

impl Done {
    /// The pool's report `f` of the job `meta`.
    pub(crate) fn finished(meta: Arc<Meta>, f: &Finished) -> Done {
        Done { ending: meta.ending(f), meta }
    }

    /// A job that was never submitted: the run stopped first.
    pub(crate) fn unstarted(meta: Arc<Meta>, why: &str) -> Done {
        Done { ending: meta.never_started(why), meta }
    }
}

impl Entry for Done {
    fn view(&self) -> RecordRef<'_> {
        self.meta.line(&self.ending)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use conveyor_pool::{Finished, Pool};

    use super::{Done, Meta};
    use crate::job::{Running, Shared, pool_job};
    use crate::kind::KindEnv;
    use crate::ledger::{Entry, Timestamps};
    use crate::spec::{ParseOptions, parse_str};

    /// `run`'s writer formats a [`Done`], `serve`'s a `Record` from [`Meta::finished`]: for
    /// the same report, the same line, whatever the outcome and kind.
    #[tokio::test(flavor = "current_thread")]
    async fn run_and_serve_write_the_same_line_for_a_report() {
        let text = concat!(
            "{\"id\": \"ok\", \"name\": \"n\", \"kind\": \"noop\", \"priority\": -2}\n",
            "{\"id\": \"bad\", \"kind\": \"fail\", \"probability\": 1, \"message\": \"boom\"}\n",
            "{\"id\": \"proc\", \"kind\": \"exec\", \"program\": \"sh\", \"args\": [\"-c\", \"echo hi; exit 3\"]}\n",
        );
        let jobs = parse_str("t.jsonl", text, &ParseOptions::default()).unwrap().jobs;
        // (serve's line, run's line) for each job.
        type Lines = Vec<(Vec<u8>, Vec<u8>)>;
        let lines: Arc<Mutex<Lines>> = Arc::default();
        let seen = lines.clone();
        let pool = Pool::builder()
            .on_finish(move |f: &Finished| {
                let meta = Meta::of_finished(f).unwrap();
                let (mut served, mut ran) = (Vec::new(), Vec::new());
                meta.finished(f).write_line(&mut served);
                Done::finished(meta, f).view().write_line_with(&mut ran, &mut Timestamps::default());
                seen.lock().unwrap().push((served, ran));
            })
            .build();
        let shared = Shared::new(KindEnv::new(false, 1).unwrap(), Arc::new(Running::default()), 1);
        for spec in jobs {
            drop(pool.submit(pool_job(&Arc::new(Meta::new(Arc::new(spec))), &shared)).await.unwrap());
        }
        pool.join().await;
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 3);
        for (served, ran) in lines.iter() {
            assert_eq!(String::from_utf8_lossy(served), String::from_utf8_lossy(ran));
        }
        let all: String = lines.iter().map(|(l, _)| String::from_utf8_lossy(l).into_owned()).collect();
        for needle in ["\"name\":\"n\"", "\"priority\":-2", "\"error\":\"boom\"", "\"exit_code\":3", "hi"] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
    }
}

//! [`Meta`], a pool job's tag: its spec, an exec job's output and who reports it; and how
//! it ended ([`Done`], made by [`Meta::finished`] or [`Meta::unstarted`]), which lends the
//! ledger its [`Record`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use conveyor_pool::{Finished, Outcome};
use smol_str::SmolStr;

use crate::ledger::{Entry, ExecOutput, Record};
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

    /// The final state of this job from the pool's report `f` (moving the reference in: the
    /// run's finish hook pays no reference count for it).
    pub(crate) fn finished(self: Arc<Self>, f: &Finished) -> Done {
        Done {
            outcome: f.outcome,
            attempts: f.attempts,
            queued_at: f.queued_at,
            started_at: f.started_at,
            finished_at: f.finished_at,
            wait: f.wait,
            run: f.run,
            error: f.error.clone(),
            exec: self.exec(),
            meta: self,
        }
    }

    /// The final state of this job when it was never submitted: cancelled now, because the
    /// run stopped first.
    pub(crate) fn unstarted(self: Arc<Self>, why: &str) -> Done {
        let now = SystemTime::now();
        Done {
            outcome: Outcome::Cancelled,
            attempts: 0,
            queued_at: now,
            started_at: None,
            finished_at: now,
            wait: Duration::ZERO,
            run: Duration::ZERO,
            error: Some(why.to_owned()),
            exec: self.exec(),
            meta: self,
        }
    }
}

/// A job's final state, on its way to a ledger writer (and, in `serve`, kept for its status):
/// how it ended, and its [`Meta`], which lends the [`Record`] the id, name and hash straight
/// from the spec. The thread that makes it copies none of them, and in `conveyor run` the
/// spec is freed on the writer's thread.
pub(crate) struct Done {
    meta: Arc<Meta>,
    pub(crate) outcome: Outcome,
    attempts: u32,
    queued_at: SystemTime,
    started_at: Option<SystemTime>,
    finished_at: SystemTime,
    wait: Duration,
    run: Duration,
    error: Option<String>,
    exec: Option<ExecOutput>,
}

impl Entry for Done {
    fn record(&self) -> Record<'_> {
        let spec = &*self.meta.spec;
        Record {
            id: &spec.id,
            name: spec.name.as_deref(),
            kind: spec.kind.name(),
            priority: spec.priority,
            outcome: self.outcome,
            attempts: self.attempts,
            queued_at: self.queued_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            wait: self.wait,
            run: self.run,
            error: self.error.as_deref(),
            spec_hash: &spec.spec_hash,
            exec: self.exec.as_ref(),
            worker: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use conveyor_pool::{Finished, Pool};

    use super::Meta;
    use crate::job::{Running, Shared, pool_job};
    use crate::kind::KindEnv;
    use crate::ledger::Entry;
    use crate::spec::{ParseOptions, parse_str};

    /// A job's ledger line takes its id, name and priority from the spec, its outcome and
    /// error from the pool's report, and an exec job's exit code and output from its `Meta`.
    #[tokio::test(flavor = "current_thread")]
    async fn a_finished_job_lends_its_line_every_field() {
        let text = concat!(
            "{\"id\": \"ok\", \"name\": \"n\", \"kind\": \"noop\", \"priority\": -2}\n",
            "{\"id\": \"bad\", \"kind\": \"fail\", \"probability\": 1, \"message\": \"boom\"}\n",
            "{\"id\": \"proc\", \"kind\": \"exec\", \"program\": \"sh\", \"args\": [\"-c\", \"echo hi; exit 3\"]}\n",
        );
        let jobs = parse_str("t.jsonl", text, &ParseOptions::default()).unwrap().jobs;
        let lines: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let seen = lines.clone();
        let pool = Pool::builder()
            .on_finish(move |f: &Finished| {
                let mut line = Vec::new();
                Meta::of_finished(f).unwrap().finished(f).record().write_line(&mut line);
                seen.lock().unwrap().push(line);
            })
            .build();
        let shared = Shared::new(KindEnv::new(false, 1).unwrap(), Arc::new(Running::default()), 1);
        for spec in jobs {
            drop(pool.submit(pool_job(&Arc::new(Meta::new(Arc::new(spec))), &shared)).await.unwrap());
        }
        pool.join().await;
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 3);
        let all: String = lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        for needle in ["\"name\":\"n\"", "\"priority\":-2", "\"error\":\"boom\"", "\"exit_code\":3", "hi"] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
    }
}

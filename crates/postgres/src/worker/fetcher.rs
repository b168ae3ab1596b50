//! The fetcher of one lane (queue): claims ahead into the local pool's bounded queue (the
//! prefetch buffer, sized claim by claim: [`super::prefetch`]), and hands each attempt's end
//! to the completer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conveyor_pool::{Job, JobError, Pool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::handler::{Context, Done, Failure, Handler, JobInfo, Retry};
use super::prefetch::{Observed, Prefetch};
use super::shared::{CLAIMED_JOBS_TOTAL, CLAIMS_TOTAL, Cell, Fate, Held, PREFETCH, Shared, Write};
use crate::lease::{ClaimFilter, Claimed, Completion};
use crate::state::FinalState;

/// How often a worker that is to exit when idle looks again while other workers finish.
const IDLE_RECHECK: Duration = Duration::from_millis(20);

/// One lane: its pool (slots = workers, slots + the prefetch's cap = capacity), claim filter
/// and prefetch.
pub(crate) struct Lane {
    pub(crate) index: usize,
    pub(crate) pool: Pool,
    pub(crate) filter: ClaimFilter,
    pub(crate) slots: usize,
    pub(crate) prefetch: Prefetch,
}

impl Lane {
    /// The jobs the lane may hold now: its slots and its prefetch.
    fn room(&self) -> usize {
        self.slots + self.prefetch.get()
    }

    /// Claim in batches of at least half the room (unless nothing is held): a claim's cost
    /// is mostly per statement (its index scan passes the entries of jobs claimed since the
    /// last vacuum), so fewer, larger claims win — quarter-room claims made the default
    /// flags 4x slower on 20k no-ops.
    fn min_claim(&self, batch: usize) -> usize {
        (self.room().min(batch) / 2).max(1)
    }

    /// The lane's claim metrics, registered once (`queue` label: its queue, `*` for every
    /// queue), if the worker records metrics.
    fn metrics(&self, on: bool) -> Option<LaneMetrics> {
        let label = self.filter.queue.clone().unwrap_or_else(|| "*".to_owned());
        on.then(|| LaneMetrics {
            claims: metrics::counter!(CLAIMS_TOTAL, "queue" => label.clone()),
            claimed: metrics::counter!(CLAIMED_JOBS_TOTAL, "queue" => label.clone()),
            prefetch: metrics::gauge!(PREFETCH, "queue" => label),
        })
    }
}

/// One lane's claim metrics.
struct LaneMetrics {
    claims: metrics::Counter,
    claimed: metrics::Counter,
    prefetch: metrics::Gauge,
}

pub(crate) async fn fetcher(shared: Arc<Shared>, mut lane: Lane, writes: mpsc::UnboundedSender<Write>) {
    let state = &shared.lanes[lane.index];
    let metrics = lane.metrics(shared.config.metrics);
    if let Some(m) = &metrics {
        m.prefetch.set(lane.prefetch.get() as f64);
    }
    let mut failing = false;
    let mut idle_recheck = IDLE_RECHECK;
    loop {
        if shared.stopping.is_cancelled() {
            return;
        }
        let inflight = state.inflight.load(Ordering::SeqCst);
        let free = lane.room().saturating_sub(inflight);
        if free == 0 || (free < lane.min_claim(shared.config.batch) && inflight > 0) {
            tokio::select! {
                () = state.freed.notified() => {}
                () = shared.stopping.cancelled() => {}
            }
            continue;
        }
        let want = free.min(shared.config.batch);
        let sent = Instant::now();
        let claimed =
            shared.config.queue.claim_matching(shared.name(), want, shared.lease(), &lane.filter).await;
        match claimed {
            Ok(jobs) => {
                if failing {
                    eprintln!("conveyor: the queue answers again");
                    failing = false;
                }
                let full = jobs.len() == want;
                adapt(&shared, &mut lane, metrics.as_ref(), want, jobs.len(), inflight);
                if !jobs.is_empty() {
                    idle_recheck = IDLE_RECHECK;
                }
                for job in jobs {
                    start(&shared, &lane, &writes, job, sent);
                }
                if full {
                    continue;
                }
            }
            Err(e) => {
                if !failing {
                    eprintln!("conveyor: warning: {}; trying again", conveyor_pool::error::chain_text(&e));
                    failing = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shared.stopping.cancelled() => {}
                }
                continue;
            }
        }
        if shared.config.exit_when_idle {
            if shared.inflight() > 0 || !shared.held().is_empty() {
                // The queue ran dry for us: what is left is ours, finishing. Look again when
                // an attempt ends or an outcome is written, not at the next poll.
                let written = shared.written.notified();
                tokio::select! {
                    () = written => {}
                    () = state.freed.notified() => {}
                    () = state.wake.notified() => {}
                    () = tokio::time::sleep(shared.config.poll) => {}
                    () = shared.stopping.cancelled() => {}
                }
                continue;
            }
            let kinds = shared.kinds.clone();
            let queues: Option<Vec<String>> =
                shared.config.lanes.iter().map(|l| l.queue.clone()).collect::<Option<Vec<_>>>();
            match shared.config.queue.pending(Some(&kinds), queues.as_deref()).await {
                Ok(0) => {
                    shared.idle.cancel();
                    return;
                }
                Ok(_) => {
                    // What is left runs elsewhere (or waits for a retry): look again soon
                    // rather than at the next poll, so an idle exit is not a poll late;
                    // backing off to the poll while it lasts.
                    let recheck = idle_recheck.min(shared.config.poll);
                    idle_recheck = idle_recheck.saturating_mul(2);
                    tokio::select! {
                        () = state.wake.notified() => {}
                        () = tokio::time::sleep(recheck) => {}
                        () = shared.stopping.cancelled() => {}
                    }
                    continue;
                }
                Err(_) => {}
            }
        }
        // Sleep until a notification, a freed slot with a short claim, the next poll, or the
        // next delayed job or retry.
        let nap = match shared.config.queue.next_due().await {
            Ok(Some(due)) => shared.config.poll.min(due + Duration::from_millis(1)),
            _ => shared.config.poll,
        };
        tokio::select! {
            () = state.wake.notified() => {}
            () = tokio::time::sleep(nap) => {}
            () = shared.stopping.cancelled() => {}
        }
    }
}

/// Sizes the lane's prefetch again after a claim of `got` of `want` jobs sent with `held`
/// jobs held (before its jobs are added), and counts the claim.
fn adapt(
    shared: &Shared,
    lane: &mut Lane,
    metrics: Option<&LaneMetrics>,
    want: usize,
    got: usize,
    held: usize,
) {
    let held_after = shared.lanes[lane.index].inflight.load(Ordering::SeqCst).min(held);
    let before = lane.prefetch.get();
    let after = lane.prefetch.after(Observed { wanted: want, got, held_before: held, held_after });
    if let Some(m) = metrics {
        m.claims.increment(1);
        m.claimed.increment(got as u64);
        if after != before {
            m.prefetch.set(after as f64);
        }
    }
}

/// Hands one claimed attempt to the lane's pool (its queue is the prefetch buffer).
fn start(
    shared: &Arc<Shared>,
    lane: &Lane,
    writes: &mpsc::UnboundedSender<Write>,
    job: Claimed,
    sent: Instant,
) {
    let lease = job.lease();
    let Some(handler) = shared.config.handlers.get(&job.kind).cloned() else {
        // Claims filter by kind, so this is a job whose handler went away: give it back.
        let _ = writes.send(Write::Unclaim(lease));
        return;
    };
    let cell = Arc::new(Cell { started: AtomicBool::new(false), lease_lost: CancellationToken::new() });
    shared.held().insert(
        job.id.clone(),
        Held {
            token: job.token,
            cancel: None,
            valid_until: sent + shared.lease(),
            fate: Fate::Running,
            cell: cell.clone(),
        },
    );
    let own = job.own_attempts().max(1).unsigned_abs();
    let info = Arc::new(JobInfo {
        id: job.id,
        kind: job.kind,
        queue: job.queue,
        args: job.spec,
        attempt: own,
        max_attempts: job.max_attempts.max(1).unsigned_abs(),
    });
    let timeout = handler.timeout(&info).or(shared.config.timeout);
    let body = {
        let (info, handler, cell, shared) = (info.clone(), handler.clone(), cell.clone(), shared.clone());
        Job::new(move |pool_ctx| {
            let go = shared.begin(&info.id, &cell);
            let ctx = Context { job: info.clone(), pool: pool_ctx, lease_lost: cell.lease_lost.clone() };
            let handler: Arc<dyn Handler> = handler.clone();
            async move {
                if !go {
                    // Given back or lost: nothing is written for it as an outcome.
                    return Err(Failure::fatal("not started: the job is given back or its lease is lost"));
                }
                handler.run(ctx).await
            }
        })
    };
    let mut pool_job = body.kind(info.kind.as_str()).priority(job.priority);
    if let Some(t) = timeout {
        pool_job = pool_job.timeout(t);
    }
    let state = &shared.lanes[lane.index];
    state.inflight.fetch_add(1, Ordering::SeqCst);
    match lane.pool.try_submit(pool_job) {
        Ok(handle) => {
            if let Some(h) = shared.held().get_mut(&info.id) {
                h.cancel = Some(handle.cancel_handle());
                if h.fate != Fate::Running {
                    handle.cancel();
                }
            }
            let (shared, writes, index) = (shared.clone(), writes.clone(), lane.index);
            tokio::spawn(async move {
                let started = Instant::now();
                let result = handle.await;
                let run = started.elapsed();
                let lane = &shared.lanes[index];
                lane.inflight.fetch_sub(1, Ordering::SeqCst);
                lane.freed.notify_one();
                settle(&shared, &writes, &info, &cell, timeout, result, run);
            });
        }
        Err(_) => {
            state.inflight.fetch_sub(1, Ordering::SeqCst);
            if let Some(h) = shared.held().get_mut(&info.id) {
                h.fate = Fate::Released;
            }
            let _ = writes.send(Write::Unclaim(lease));
        }
    }
}

/// Turns an attempt's end into its write: outcome, retry, release or give-back.
fn settle(
    shared: &Shared,
    writes: &mpsc::UnboundedSender<Write>,
    info: &JobInfo,
    cell: &Cell,
    timeout: Option<Duration>,
    result: Result<Done, JobError>,
    run: Duration,
) {
    let (token, fate) = match shared.held().get(&info.id) {
        Some(h) => (h.token, h.fate),
        None => return,
    };
    let lease = crate::lease::Lease { id: info.id.clone(), token };
    let give_back = |lease| {
        if cell.started.load(Ordering::SeqCst) { Write::Release(lease) } else { Write::Unclaim(lease) }
    };
    match fate {
        Fate::Running => {}
        Fate::Released => {
            let _ = writes.send(give_back(lease));
            return;
        }
        Fate::Lost => {
            shared.held().remove(&info.id);
            return;
        }
    }
    let mut c = Completion::new(lease, FinalState::Succeeded);
    c.run = run;
    let (retry, retryable) = match result {
        Ok(done) => {
            c.exit_code = done.exit_code;
            c.output_tail = done.output_tail;
            (Retry::Never, false)
        }
        Err(JobError::Cancelled | JobError::Shutdown) => {
            // Nobody but this worker cancels its pool's jobs: a give-back.
            let _ = writes.send(give_back(c.lease));
            return;
        }
        Err(JobError::TimedOut) => {
            c.outcome = FinalState::TimedOut;
            c.error = Some(match timeout {
                Some(t) => format!("timed out after {t:?}"),
                None => "timed out".to_owned(),
            });
            (Retry::Policy, true)
        }
        Err(JobError::Failed(err)) => match err.downcast::<Failure>() {
            Ok(f) => {
                c.outcome = f.state;
                c.error = Some(f.error);
                c.exit_code = f.exit_code;
                c.output_tail = f.output_tail;
                (f.retry, true)
            }
            Err(other) => {
                c.outcome = FinalState::Failed;
                c.error = Some(other.to_string());
                (Retry::Policy, true)
            }
        },
        Err(other) => {
            c.outcome = match other.outcome() {
                conveyor_pool::Outcome::Panicked => FinalState::Panicked,
                conveyor_pool::Outcome::Cancelled => FinalState::Cancelled,
                conveyor_pool::Outcome::TimedOut => FinalState::TimedOut,
                _ => FinalState::Failed,
            };
            c.error = Some(other.to_string());
            (Retry::Never, false)
        }
    };
    if retryable && info.attempt < info.max_attempts {
        c.retry_after = match retry {
            Retry::Policy => Some(shared.config.retry.delay(info.attempt)),
            Retry::After(d) => Some(d),
            _ => None,
        };
        if c.retry_after.is_some() && shared.config.metrics {
            metrics::counter!("conveyor_job_retries_total", "kind" => info.kind.clone()).increment(1);
        }
    }
    let _ = writes.send(Write::Complete(c));
}

//! The completer: writes outcomes, releases and give-backs in batches (whatever is ready,
//! after waiting at most the completion delay for more), each fenced by its lease token,
//! retrying while the database is away and the leases are still ours. It ends, flushed,
//! when every sender is gone.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::shared::{Shared, Write, leases_lost};
use crate::lease::Lease;

/// Writes per statement at most.
const WRITE_BATCH: usize = 1000;

pub(crate) async fn completer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + shared.config.completion_delay;
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(w)) => batch.push(w),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        let mut completions = Vec::new();
        let mut releases = Vec::new();
        let mut unclaims = Vec::new();
        for w in batch.drain(..) {
            match w {
                Write::Complete(c) => completions.push(c),
                Write::Release(l) => releases.push(l),
                Write::Unclaim(l) => unclaims.push(l),
            }
        }
        write_completions(&shared, completions).await;
        let queue = &shared.config.queue;
        if !releases.is_empty() {
            let result = queue.release(&releases).await;
            given_back(&shared, &releases, result);
        }
        if !unclaims.is_empty() {
            let result = queue.unclaim(&unclaims).await;
            given_back(&shared, &unclaims, result);
        }
        shared.written.notify_waiters();
    }
}

async fn write_completions(shared: &Shared, mut completions: Vec<crate::lease::Completion>) {
    let mut warned = false;
    while !completions.is_empty() {
        match shared.config.queue.complete(&completions).await {
            Ok(written) => {
                let written: HashSet<String> = written.into_iter().collect();
                let mut held = shared.held();
                let mut lost = 0;
                for c in &completions {
                    held.remove(&c.lease.id);
                    lost += usize::from(!written.contains(&c.lease.id));
                }
                drop(held);
                if lost > 0 {
                    eprintln!(
                        "conveyor: {lost} outcome(s) not recorded: the lease was lost (another worker has the job)"
                    );
                    leases_lost(shared, lost);
                }
                return;
            }
            Err(e) => {
                if !warned {
                    eprintln!("conveyor: warning: {}; trying again", conveyor_pool::error::chain_text(&e));
                    warned = true;
                }
                // Keep only what is still surely ours; the rest will be rescued.
                let now = Instant::now();
                let before = completions.len();
                {
                    let mut held = shared.held();
                    completions.retain(|c| {
                        let ours = held.get(&c.lease.id).is_some_and(|h| h.valid_until > now);
                        if !ours {
                            held.remove(&c.lease.id);
                        }
                        ours
                    });
                }
                leases_lost(shared, before - completions.len());
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// After a release or a give-back of `leases`: the jobs are no longer held, whether the
/// statement went through or not (if not, their leases expire and the rescuer takes them).
fn given_back(shared: &Shared, leases: &[Lease], result: Result<u64, crate::Error>) {
    if let Err(e) = result {
        eprintln!(
            "conveyor: warning: {}; {} job(s) will be rescued when their lease expires",
            conveyor_pool::error::chain_text(&e),
            leases.len()
        );
    }
    let mut held = shared.held();
    for l in leases {
        held.remove(&l.id);
    }
}

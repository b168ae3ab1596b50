//! The worker loop: pop a job, take its keys' slot or token, run it.

use std::sync::Arc;
use std::sync::atomic::Ordering::*;

use super::engine::Inner;
use crate::limit::Acquire;

/// Worker number `index` (0-based): [`JobContext::worker`](crate::JobContext::worker).
pub(super) async fn worker(pool: Arc<Inner>, index: u32) {
    work(&pool, index).await;
    if pool.live_workers.fetch_sub(1, SeqCst) == 1 {
        // The last worker is gone: jobs still parked for their key (say, a paused key) will
        // never be popped again; resolve them rather than leave their handles hanging.
        for task in pool.limits.drain() {
            task.abandon(&pool, task.core().stop_error(&pool));
        }
    }
}

async fn work(pool: &Arc<Inner>, index: u32) {
    // When the last attempt stopped, while this worker has not waited since: the next
    // attempt's start, one clock read fewer a job when jobs follow each other. (The start is
    // then early by the bookkeeping in between — the result's delivery, the `on_finish`
    // hook, the pop — well under a microsecond for a short hook.)
    let mut stopped_at = None;
    loop {
        if pool.paused.load(SeqCst) {
            stopped_at = None;
            if !pool.wait_resumed().await {
                return;
            }
        }
        let task = match pool.queue.try_pop() {
            Ok(task) => task,
            Err(_) => {
                stopped_at = None;
                // Before sleeping, let the other tasks on this thread (often the submitter)
                // run once: a job pushed meanwhile is taken without a sleep and a wake-up.
                tokio::task::yield_now().await;
                match pool.queue.pop().await {
                    Some(task) => task,
                    None => return,
                }
            }
        };
        if pool.paused.load(SeqCst) {
            // Paused while this worker waited in `pop`: put the job back in its very place
            // (same priority, same push order) and run nothing. (Waking idle workers on
            // pause instead would cost every idle worker a registration per wait.)
            match task.core().queued_key() {
                Some(key) => pool.queue.unpop(task, key),
                None => pool.requeue_now(task),
            }
            continue;
        }
        let core = task.core();
        if core.key.is_none() && core.rate_key.is_none() {
            stopped_at = task.run(pool, stopped_at.take(), index).await;
            continue;
        }
        // Borrow the keys through a second reference to the job (its own reference count,
        // which only this thread touches now) rather than cloning the keys' shared `Arc`s.
        let held = task.clone();
        let mut task = task;
        if let Some(rate_key) = held.core().rate_key.as_ref() {
            // First a token of the rate key (unless a slot is what the job waits for).
            if !held.core().rate_taken.load(Relaxed) {
                match pool.limits.acquire(rate_key, task) {
                    Acquire::Token(t, ready, timer) => {
                        pool.start_released(rate_key, ready, timer);
                        task = t;
                    }
                    Acquire::Run(t) => task = t,
                    Acquire::Parked(timer) => {
                        stopped_at = None;
                        pool.start_released(rate_key, Vec::new(), timer);
                        continue;
                    }
                }
            }
        }
        let Some(key) = held.core().key.as_ref() else {
            // A rate key alone: the token was all it waited for.
            held.core().rate_taken.store(false, Relaxed);
            stopped_at = task.run(pool, stopped_at.take(), index).await;
            continue;
        };
        match pool.limits.acquire(key, task) {
            Acquire::Run(task) => {
                stopped_at = task.run(pool, stopped_at.take(), index).await;
                let (ready, timer) = pool.limits.release(key);
                pool.start_released(key, ready, timer);
            }
            Acquire::Token(task, ready, timer) => {
                // Not a token key's stage (the mode says a slot): queue it again to retry.
                pool.start_released(key, ready, timer);
                pool.requeue_now(task);
            }
            Acquire::Parked(timer) => {
                stopped_at = None;
                pool.start_released(key, Vec::new(), timer);
            }
        }
    }
}

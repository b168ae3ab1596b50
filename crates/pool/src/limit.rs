//! Per-key concurrency and rate limits, and pausing a key: the pool's `asyncio.Semaphore`
//! and rate limiter, without holding a worker.
//!
//! # How a waiting job holds no worker
//!
//! A worker pops the best job from the queue as usual. If the job has a key that cannot start
//! now (at its concurrency limit, out of rate tokens, or paused), the worker *parks* it here,
//! in the key's own priority-ordered list, and pops the next job instead. When a job of the
//! key finishes an attempt (or a token is due, or the key is resumed or its limit raised),
//! the best parked jobs go back into the queue at their priority — as many as can start —
//! so priority order still holds among the runnable jobs. Parked jobs still count as queued
//! (`conveyor_queue_depth`, status `Queued`) and can be cancelled.
//!
//! # Two keys: a rate key beside the concurrency key
//!
//! A job with a [`rate_key`](crate::Job::rate_key) goes through two stages: first a rate
//! token of its rate key ([`Mode::Token`]: the key's rate limit and pause, not its
//! concurrency limit — the job never counts as running there), then a slot of its
//! concurrency key ([`Mode::Slot`]: that key's concurrency limit and pause, not its rate
//! limit). `Core::rate_taken` says which stage a job is at; it changes only under the lock.
//! A job with one key ([`Mode::Both`]) takes a token and a slot of it at once, as always.
//! A key's parked list may mix modes; releases go in priority order and stop at the first
//! job that cannot start.
//!
//! # Lock order
//!
//! The key table's mutex is never held while taking the queue's lock: released jobs are
//! pushed after it is dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use parking_lot::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::cell::Task;
use crate::core::Core;

type Item = Arc<dyn Task>;

/// A token bucket: `count` starts per `per`, with bursts of up to `count`.
#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    /// Time for one token to come back.
    refill: Duration,
    last: Instant,
}

impl Bucket {
    fn new(count: u32, per: Duration) -> Self {
        let count = count.max(1);
        Bucket {
            capacity: f64::from(count),
            tokens: f64::from(count),
            refill: per / count,
            last: Instant::now(),
        }
    }

    fn refresh(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        if self.refill.is_zero() {
            self.tokens = self.capacity;
        } else {
            self.tokens =
                (self.tokens + elapsed.as_secs_f64() / self.refill.as_secs_f64()).min(self.capacity);
        }
    }

    /// Whole tokens available now.
    fn available(&mut self, now: Instant) -> usize {
        self.refresh(now);
        // Guard against float dust just under a whole token.
        (self.tokens + 1e-9).floor() as usize
    }

    fn take(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    /// How long until the next whole token.
    fn next_token(&self) -> Duration {
        let missing = (1.0 - self.tokens).max(0.0);
        self.refill.mul_f64(missing).max(Duration::from_micros(1))
    }
}

#[derive(Default)]
struct KeyState {
    concurrency: Option<usize>,
    rate: Option<Bucket>,
    paused: bool,
    running: usize,
    /// Jobs sent back to the queue by a release, not yet popped again: they have a start
    /// promised, so the next release does not send more than can start.
    released: usize,
    parked: BTreeMap<(i32, u64), Item>,
    timer_armed: bool,
}

impl KeyState {
    fn is_idle(&self) -> bool {
        self.concurrency.is_none()
            && self.rate.is_none()
            && !self.paused
            && self.running == 0
            && self.released == 0
            && self.parked.is_empty()
    }

    /// How many more jobs of `mode` may start now (not counting those already released).
    fn room(&mut self, mode: Mode) -> usize {
        if self.paused {
            return 0;
        }
        let mut room = match (mode, self.concurrency) {
            (Mode::Token, _) | (_, None) => usize::MAX,
            (_, Some(limit)) => limit.saturating_sub(self.running),
        };
        if let (Mode::Both | Mode::Token, Some(bucket)) = (mode, &mut self.rate) {
            // The clock is read only for rate-limited keys.
            room = room.min(bucket.available(Instant::now()));
        }
        room.saturating_sub(self.released)
    }
}

/// What a job asks of the key it waits on (see "Two keys" above).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// One key for both limits: a token (if rate-limited) and a slot.
    Both,
    /// A token of the rate key only.
    Token,
    /// A slot of the concurrency key only (the token came from the rate key).
    Slot,
}

impl Mode {
    /// The mode of `core` now, with the key it waits on. Read under the lock.
    fn of(core: &Core) -> Option<(Mode, &Arc<str>)> {
        match (core.rate_key(), core.key()) {
            (Some(rate), _) if !core.rate_taken.load(Relaxed) => Some((Mode::Token, rate)),
            (Some(_), Some(key)) => Some((Mode::Slot, key)),
            (Some(_), None) => None,
            (None, key) => key.map(|k| (Mode::Both, k)),
        }
    }
}

/// What [`Limits::acquire`] decided.
pub(crate) enum Acquire {
    /// Run it (a start was counted; call [`Limits::release`] after the attempt).
    Run(Item),
    /// Took its rate key's token ([`Mode::Token`]): go on to its concurrency key, if any.
    /// Also what may start now on the rate key (to be queued) and whether to arm its timer.
    Token(Item, Vec<Item>, Option<Duration>),
    /// Parked; the worker goes on. `Some(delay)`: arm a timer for the next rate token.
    Parked(Option<Duration>),
}

/// Keys hash with FxHash: the map is looked up twice per keyed job, and SipHash's DoS
/// resistance buys nothing for keys the embedding program chose.
type KeyMap = HashMap<Arc<str>, KeyState, rustc_hash::FxBuildHasher>;

/// The per-key state of a pool.
#[derive(Default)]
pub(crate) struct Limits {
    keys: Mutex<KeyMap>,
}

impl Limits {
    /// parking_lot's mutex: held for a few dozen nanoseconds by workers on different cores,
    /// it spins briefly where std's would put the waiter to sleep in the kernel.
    fn lock(&self) -> MutexGuard<'_, KeyMap> {
        self.keys.lock()
    }

    /// Decides whether `task` (which has a key: `key`, the one [`Mode::of`] names) may
    /// start now.
    pub(crate) fn acquire(&self, key: &Arc<str>, task: Item) -> Acquire {
        let mut keys = self.lock();
        let mode = Mode::of(task.core()).map_or(Mode::Both, |(mode, _)| mode);
        // `get_mut` first: cloning the key (a shared `Arc`) on every job would make all
        // threads fight over its reference count.
        if !keys.contains_key(key) {
            keys.insert(key.clone(), KeyState::default());
        }
        let Some(state) = keys.get_mut(key) else { return Acquire::Run(task) };
        if task.core().take_released() {
            state.released = state.released.saturating_sub(1);
        }
        if state.room(mode) > 0 {
            if mode == Mode::Token {
                if let Some(bucket) = &mut state.rate {
                    bucket.take();
                }
                task.core().rate_taken.store(true, Relaxed);
                // Nothing ends on this key to release the next waiters: look now (a timer
                // for the next token, say).
                let (ready, timer) = take_ready(state);
                if state.is_idle() {
                    keys.remove(key);
                }
                return Acquire::Token(task, ready, timer);
            }
            state.running += 1;
            if mode == Mode::Both {
                if let Some(bucket) = &mut state.rate {
                    bucket.take();
                }
            } else {
                // This attempt's token is spent; a retry takes a new one.
                task.core().rate_taken.store(false, Relaxed);
            }
            return Acquire::Run(task);
        }
        let core = task.core();
        state.parked.insert((core.priority, core.id().get()), task);
        Acquire::Parked(arm_timer(state))
    }

    /// Counts an attempt of `key` as ended; returns the parked jobs that may start now (to be
    /// queued by the caller) and whether to arm a rate timer.
    pub(crate) fn release(&self, key: &Arc<str>) -> (Vec<Item>, Option<Duration>) {
        let mut keys = self.lock();
        let Some(state) = keys.get_mut(key) else { return (Vec::new(), None) };
        state.running = state.running.saturating_sub(1);
        let out = take_ready(state);
        if state.is_idle() {
            keys.remove(key);
        }
        out
    }

    /// A rate timer of `key` fired.
    pub(crate) fn on_timer(&self, key: &Arc<str>) -> (Vec<Item>, Option<Duration>) {
        let mut keys = self.lock();
        let Some(state) = keys.get_mut(key) else { return (Vec::new(), None) };
        state.timer_armed = false;
        take_ready(state)
    }

    /// Applies `change` to `key`'s settings; returns what may start now.
    pub(crate) fn configure(
        &self,
        key: &Arc<str>,
        change: impl FnOnce(&mut Settings<'_>),
    ) -> (Vec<Item>, Option<Duration>) {
        let mut keys = self.lock();
        let state = keys.entry(key.clone()).or_default();
        change(&mut Settings { state });
        let out = take_ready(state);
        if state.is_idle() {
            keys.remove(key);
        }
        out
    }

    /// Takes a parked job out (for cancel); `None` if it is not parked.
    pub(crate) fn unpark(&self, core: &Core) -> Option<Item> {
        let mut keys = self.lock();
        let (_, key) = Mode::of(core)?;
        let state = keys.get_mut(key)?;
        let task = state.parked.remove(&(core.priority, core.id().get()));
        if state.is_idle() {
            keys.remove(key);
        }
        task
    }

    /// A job that a release sent back to the queue was cancelled before a worker took it
    /// again: gives its promised start back to the key (else the key's room stays one short
    /// for good). Returns what may start now.
    /// Also returns the key (to arm its timer on).
    pub(crate) fn unrelease(&self, core: &Core) -> (Option<Arc<str>>, Vec<Item>, Option<Duration>) {
        let mut keys = self.lock();
        let Some((_, key)) = Mode::of(core) else { return (None, Vec::new(), None) };
        let Some(state) = keys.get_mut(key) else { return (None, Vec::new(), None) };
        // The mark is swapped under the lock, as in `acquire`: one of them counts it out.
        if !core.take_released() {
            return (None, Vec::new(), None);
        }
        state.released = state.released.saturating_sub(1);
        let (ready, timer) = take_ready(state);
        if state.is_idle() {
            keys.remove(key);
        }
        (Some(key.clone()), ready, timer)
    }

    /// Takes every parked job out (for shutdown).
    pub(crate) fn drain(&self) -> Vec<Item> {
        let mut keys = self.lock();
        let mut all = Vec::new();
        for state in keys.values_mut() {
            all.extend(std::mem::take(&mut state.parked).into_values());
        }
        keys.retain(|_, s| !s.is_idle());
        all
    }
}

/// A key's settings, changed through [`Limits::configure`].
pub(crate) struct Settings<'a> {
    state: &'a mut KeyState,
}

impl Settings<'_> {
    pub(crate) fn concurrency(&mut self, limit: Option<usize>) {
        self.state.concurrency = limit;
    }

    pub(crate) fn rate(&mut self, rate: Option<(u32, Duration)>) {
        self.state.rate = rate.map(|(count, per)| Bucket::new(count, per));
        // A timer armed for the old rate's next token may be far off (or never come): let
        // the next `take_ready` arm one for the new rate. A stale one firing is harmless.
        self.state.timer_armed = false;
    }

    pub(crate) fn paused(&mut self, paused: bool) {
        self.state.paused = paused;
    }
}

/// Arms the key's rate timer if jobs wait for tokens and none is armed.
fn arm_timer(state: &mut KeyState) -> Option<Duration> {
    if state.timer_armed || state.paused || state.parked.is_empty() {
        return None;
    }
    let bucket = state.rate.as_ref()?;
    let at_limit = match state.parked.first_key_value().and_then(|(_, t)| Mode::of(t.core())) {
        // Slot waiters ignore this key's tokens.
        Some((Mode::Slot, _)) => return None,
        Some((Mode::Token, _)) => false,
        _ => state.concurrency.is_some_and(|l| state.running >= l),
    };
    if at_limit || bucket.tokens >= 1.0 {
        // A release (not a token) is what they wait for.
        return None;
    }
    state.timer_armed = true;
    Some(bucket.next_token())
}

fn take_ready(state: &mut KeyState) -> (Vec<Item>, Option<Duration>) {
    if state.parked.is_empty() {
        // Nothing waits: skip the clock read and the bookkeeping (the common case).
        return (Vec::new(), None);
    }
    let mut ready = Vec::new();
    // The room of each mode, computed on first need (one clock read at most).
    let mut rooms: [Option<usize>; 3] = [None; 3];
    while let Some((_, task)) = state.parked.first_key_value() {
        let mode = Mode::of(task.core()).map_or(Mode::Both, |(mode, _)| mode);
        let room = match rooms[mode as usize] {
            Some(room) => room,
            None => {
                let room = state.room(mode);
                rooms[mode as usize] = Some(room);
                room
            }
        };
        if ready.len() >= room {
            break;
        }
        let Some((_, task)) = state.parked.pop_first() else { break };
        task.core().mark_released();
        ready.push(task);
    }
    state.released += ready.len();
    (ready, arm_timer(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_refills_at_its_rate_and_caps_at_burst() {
        let mut b = Bucket::new(2, Duration::from_secs(1));
        let now = Instant::now();
        assert_eq!(b.available(now), 2);
        b.take();
        b.take();
        assert_eq!(b.available(now), 0);
        assert_eq!(b.next_token(), Duration::from_millis(500));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(b.available(Instant::now()), 1);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.available(Instant::now()), 2, "capped at the burst");
    }
}

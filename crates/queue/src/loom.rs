//! A shim so the synchronisation core can be model-checked with loom.
//!
//! Under `--cfg loom` the queue's mutex and `Arc` come from loom, which explores every
//! interleaving of the threads in a model; otherwise the mutex is `parking_lot`'s.
//!
//! Why not `std::sync::Mutex`: the queue's critical sections are tens of nanoseconds, and with
//! producers and consumers on different cores the lock is often contended. std's mutex puts
//! a waiter to sleep in the kernel quickly (a futex wait, then a futex wake for the holder),
//! which measured 2–4x slower than async-channel's lock-free ring in the 1P/1C and 4P/4C
//! benchmarks; `parking_lot` spins adaptively first, and the holder is usually done by then.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

/// Locks `m`. (loom's mutex can be poisoned; the queue's state is consistent at every unlock
/// point — no user code runs under the lock — so poison is ignored.)
#[cfg(loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Locks `m`.
#[cfg(not(loom))]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

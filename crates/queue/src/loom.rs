//! A shim so the synchronisation core can be model-checked with loom.
//!
//! Under `--cfg loom` the queue's mutex and `Arc` come from loom, which explores every
//! interleaving of the threads in a model; otherwise they are std's.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, ignoring poison: the queue's state is consistent at every unlock point (no user
/// code runs while the lock is held), so a panic elsewhere cannot leave it half-updated.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

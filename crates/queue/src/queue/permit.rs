//! [`Permit`]: a reserved slot, from [`Queue::reserve`](super::Queue::reserve).

use std::fmt;
use std::task::Waker;

use super::{Queue, wake};
use crate::loom::lock;

/// A reserved slot in a [`Queue`], from [`Queue::reserve`]: pushing through it cannot fail
/// or wait. Dropping it unused gives the slot back.
///
/// A permit taken before [`Queue::close`] may still push after it; consumers are not told
/// the queue is drained until every permit is used or dropped.
///
/// # Examples
///
/// ```
/// use conveyor_queue::Queue;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let q = Queue::bounded(1);
/// let permit = q.reserve().await.unwrap();
/// drop(permit); // slot returned
/// assert!(q.try_push(1, 0).is_ok());
/// # }
/// ```
#[must_use = "a permit holds a queue slot until it is used or dropped"]
pub struct Permit<'a, T> {
    pub(super) queue: &'a Queue<T>,
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

impl<T> Permit<'_, T> {
    /// Pushes `item` with `priority` into the reserved slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let q = Queue::bounded(1);
    /// let key = q.reserve().await.unwrap().push("x", 4);
    /// assert_eq!(q.remove(key), Some("x"));
    /// # }
    /// ```
    pub fn push(self, item: T, priority: i32) -> crate::Key {
        let queue = self.queue;
        std::mem::forget(self);
        let mut state = lock(&queue.shared.state);
        state.reserved -= 1;
        let key = state.store.push(item, priority);
        let waker = state.poppers.notify_if_idle();
        drop(state);
        wake(waker);
        key
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        let mut state = lock(&self.queue.shared.state);
        state.reserved -= 1;
        let mut wakers: Vec<Waker> = state.pushers.notify_one().into_iter().collect();
        if state.finished() {
            wakers.extend(state.poppers.notify_all());
        }
        drop(state);
        wakers.into_iter().for_each(Waker::wake);
    }
}

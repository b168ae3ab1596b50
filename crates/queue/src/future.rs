//! The futures returned by [`Queue::push`], [`Queue::reserve`] and [`Queue::pop`].
//!
//! Each holds at most a slot in one of the queue's wait lists; its `Drop` releases the slot
//! and passes on a wake-up it received but did not use, which is what makes dropping any of
//! them (in `select!`, on timeout, on task abort) lose nothing and strand nobody.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{ClosedError, PushError};
use crate::queue::{Key, Permit, Queue};

/// Future of [`Queue::push`]: resolves once the item is queued, or the queue is closed.
///
/// # Examples
///
/// ```
/// use conveyor_queue::Queue;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let q = Queue::bounded(1);
/// let push = q.push("a", 0); // nothing happens until awaited
/// assert!(q.is_empty());
/// push.await.unwrap();
/// assert_eq!(q.len(), 1);
/// # }
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Push<'a, T> {
    queue: &'a Queue<T>,
    item: Option<T>,
    priority: i32,
    slot: Option<usize>,
}

impl<'a, T> Push<'a, T> {
    pub(crate) fn new(queue: &'a Queue<T>, item: T, priority: i32) -> Self {
        Push { queue, item: Some(item), priority, slot: None }
    }
}

// The item is never pinned: it moves into the queue by value.
impl<T> Unpin for Push<'_, T> {}

impl<T> Future for Push<'_, T> {
    type Output = Result<Key, PushError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.queue.poll_push(&mut this.slot, &mut this.item, this.priority, cx)
    }
}

impl<T> Drop for Push<'_, T> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            self.queue.cancel_push_wait(&mut self.slot);
        }
    }
}

impl<T> fmt::Debug for Push<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Push").field("priority", &self.priority).finish_non_exhaustive()
    }
}

/// Future of [`Queue::reserve`]: resolves to a [`Permit`] once there is room.
///
/// # Examples
///
/// ```
/// use conveyor_queue::Queue;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let q = Queue::bounded(1);
/// q.reserve().await.unwrap().push(5, 0);
/// assert_eq!(q.try_pop(), Ok(5));
/// # }
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Reserve<'a, T> {
    queue: &'a Queue<T>,
    slot: Option<usize>,
}

impl<'a, T> Reserve<'a, T> {
    pub(crate) fn new(queue: &'a Queue<T>) -> Self {
        Reserve { queue, slot: None }
    }
}

impl<'a, T> Future for Reserve<'a, T> {
    type Output = Result<Permit<'a, T>, ClosedError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let queue: &'a Queue<T> = this.queue;
        queue.poll_reserve(&mut this.slot, cx)
    }
}

impl<T> Drop for Reserve<'_, T> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            self.queue.cancel_push_wait(&mut self.slot);
        }
    }
}

impl<T> fmt::Debug for Reserve<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve").finish_non_exhaustive()
    }
}

/// Future of [`Queue::pop`]: resolves to the best item, or `None` once the queue is closed
/// and drained.
///
/// # Examples
///
/// ```
/// use conveyor_queue::Queue;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let q = Queue::bounded(1);
/// q.try_push(1, 0).unwrap();
/// assert_eq!(q.pop().await, Some(1));
/// # }
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Pop<'a, T> {
    queue: &'a Queue<T>,
    slot: Option<usize>,
}

impl<'a, T> Pop<'a, T> {
    pub(crate) fn new(queue: &'a Queue<T>) -> Self {
        Pop { queue, slot: None }
    }
}

impl<T> Future for Pop<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.queue.poll_pop(&mut this.slot, cx)
    }
}

impl<T> Drop for Pop<'_, T> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            self.queue.cancel_pop_wait(&mut self.slot);
        }
    }
}

impl<T> fmt::Debug for Pop<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pop").finish_non_exhaustive()
    }
}

//! A [`Stream`] over a queue's items.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::queue::Queue;

/// A [`Stream`] of items popped from a [`Queue`], from [`Queue::stream`]; it ends once the
/// queue is closed and drained. Several streams over one queue share its items (each item
/// goes to exactly one of them).
///
/// Dropping the stream between items loses nothing, exactly like dropping a
/// [`Pop`](crate::Pop).
///
/// # Examples
///
/// ```
/// use conveyor_queue::Queue;
/// use futures_util::StreamExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let q = Queue::bounded(4);
/// q.try_push(2, 2).unwrap();
/// q.try_push(1, 1).unwrap();
/// q.close();
/// let mut s = q.stream();
/// while let Some(x) = s.next().await {
///     println!("{x}");
/// }
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct PopStream<T> {
    queue: Queue<T>,
    slot: Option<usize>,
}

impl<T> PopStream<T> {
    pub(crate) fn new(queue: Queue<T>) -> Self {
        PopStream { queue, slot: None }
    }

    /// The queue this stream pops from.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q: Queue<u8> = Queue::bounded(1);
    /// assert_eq!(q.stream().get_ref().capacity(), Some(1));
    /// ```
    pub fn get_ref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Unpin for PopStream<T> {}

impl<T> Stream for PopStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        this.queue.poll_pop(&mut this.slot, cx)
    }
}

impl<T> Drop for PopStream<T> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            self.queue.cancel_pop_wait(&mut self.slot);
        }
    }
}

impl<T> fmt::Debug for PopStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PopStream").field("queue", &self.queue).finish_non_exhaustive()
    }
}

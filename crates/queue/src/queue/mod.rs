//! The queue handle and its operations; its [`Key`], [`Builder`] and [`Permit`] each have a
//! file.

mod builder;
mod key;
mod permit;

pub use builder::Builder;
pub use key::Key;
pub use permit::Permit;

use std::fmt;
use std::task::{Context, Poll, Waker};

use crate::error::{ClosedError, PushError, TryPopError, TryPushError};
use crate::future::{Pop, Push, Reserve};
use crate::loom::{Arc, Mutex, lock};
use crate::store::{Order, Store};
use crate::stream::PopStream;
use crate::waiters::WaitList;

#[repr(C)]
pub(crate) struct State<T> {
    /// First: its hot fields share the lock's cache line.
    pub(crate) store: Store<T>,
    /// Slots promised to outstanding [`Permit`]s; they count against capacity.
    reserved: usize,
    closed: bool,
    pub(crate) poppers: WaitList,
    pub(crate) pushers: WaitList,
}

impl<T> State<T> {
    /// Closed, empty, and no permit can still add an item: consumers may stop.
    fn finished(&self) -> bool {
        self.closed && self.store.len() == 0 && self.reserved == 0
    }

    /// After a pop: the next sleeping consumer's wake-up, if items are left and no wake-up is
    /// on its way (the chain that replaces one wake-up per push, see [`WaitList`]).
    fn next_popper(&mut self) -> Option<Waker> {
        if self.store.len() > 0 { self.poppers.notify_if_idle() } else { None }
    }

    /// What `taken` items that just left the queue owe the sleepers, to wake once the lock is
    /// dropped: a sleeping producer per freed slot, the consumers' chain when a consumer took
    /// them (`chain`, see [`next_popper`](Self::next_popper)), and every consumer if that
    /// finished the queue (those that slept after `close` while a permit was out must see
    /// `None`).
    fn after_taking(&mut self, taken: usize, chain: bool) -> Wakeups {
        let mut wakeups = Wakeups::default();
        for i in 0..taken {
            let Some(w) = self.pushers.has_sleepers().then(|| self.pushers.notify_one()).flatten() else {
                break;
            };
            // The first in a field of its own: a single pop with a full queue allocates nothing.
            if i == 0 { wakeups.pusher = Some(w) } else { wakeups.wakers.push(w) }
        }
        if chain {
            wakeups.next_popper = self.next_popper();
        }
        if self.finished() {
            wakeups.wakers.extend(self.poppers.notify_all());
        }
        wakeups
    }
}

/// Wake-ups collected under the lock by [`State::after_taking`], fired after it is dropped.
/// Nothing is allocated unless somebody sleeps.
#[derive(Default)]
#[must_use = "the sleepers stay asleep unless `wake` is called"]
struct Wakeups {
    pusher: Option<Waker>,
    next_popper: Option<Waker>,
    wakers: Vec<Waker>,
}

impl Wakeups {
    fn wake(self) {
        wake(self.pusher);
        wake(self.next_popper);
        self.wakers.into_iter().for_each(Waker::wake);
    }
}

/// Cache-line aligned, lock first: the lock word and the store's hot fields (see `Store`)
/// are one line, which is what a push or pop on another core has to fetch.
#[repr(C, align(64))]
pub(crate) struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
}

/// An async, bounded, multi-producer multi-consumer priority queue.
///
/// Lower priority values are served first; equal priorities in push order (FIFO), or in
/// reverse push order when built with [`Builder::lifo`]. `Queue` is a cheap handle: clone it
/// to share the queue between tasks.
///
/// See the [crate documentation](crate) for the cancel safety of every async method.
///
/// # Examples
///
/// ```
/// use conveyor_queue::Queue;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let q = Queue::bounded(16);
/// q.push("low", 5).await.unwrap();
/// q.push("high", 1).await.unwrap();
/// assert_eq!(q.pop().await, Some("high"));
/// # }
/// ```
pub struct Queue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { shared: self.shared.clone() }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Queue")
            .field("len", &state.store.len())
            .field("capacity", &self.capacity())
            .field("closed", &state.closed)
            .finish()
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

impl Queue<()> {
    // Defined on `Queue<()>` only so that `Queue::builder()` needs no type annotation; the
    // item type is chosen by `Builder::build`.
    /// A builder for a queue with non-default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q: Queue<u8> = Queue::builder().capacity(4).lifo().build();
    /// assert_eq!(q.capacity(), Some(4));
    /// ```
    pub fn builder() -> Builder {
        Builder { capacity: usize::MAX, order: Order::Fifo, aging: None }
    }
}

impl<T> Queue<T> {
    /// A FIFO-among-equals queue holding at most `capacity` items.
    ///
    /// # Panics
    ///
    /// Panics if `capacity` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q: Queue<u8> = Queue::bounded(100);
    /// assert_eq!(q.capacity(), Some(100));
    /// ```
    #[track_caller]
    pub fn bounded(capacity: usize) -> Self {
        Queue::builder().capacity(capacity).build()
    }

    /// A FIFO-among-equals queue without a bound: `push` never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q: Queue<u8> = Queue::unbounded();
    /// assert_eq!(q.capacity(), None);
    /// ```
    pub fn unbounded() -> Self {
        Queue::builder().build()
    }

    fn has_room(&self, state: &State<T>) -> bool {
        state.store.len() + state.reserved < self.shared.capacity
    }

    /// Pushes `item` with `priority`, waiting while the queue is full.
    ///
    /// Returns the item's [`Key`], for [`remove`](Self::remove).
    ///
    /// # Errors
    ///
    /// [`PushError`] with the item if the queue is closed (before or while waiting).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in the sense that nothing is lost or stranded: if the future is dropped
    /// before it completes, the item was not queued and is dropped with the future, and a
    /// wake-up it had received passes to the next waiting producer. To keep the item when
    /// giving up, use [`reserve`](Self::reserve) and push through the [`Permit`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let q = Queue::bounded(1);
    /// q.push(1, 0).await.unwrap();
    /// let q2 = q.clone();
    /// let waiting = tokio::spawn(async move { q2.push(2, 0).await });
    /// assert_eq!(q.pop().await, Some(1)); // makes room: the waiting push completes
    /// waiting.await.unwrap().unwrap();
    /// assert_eq!(q.pop().await, Some(2));
    /// # }
    /// ```
    pub fn push(&self, item: T, priority: i32) -> Push<'_, T> {
        Push::new(self, item, priority)
    }

    /// Pushes `item` with `priority` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TryPushError::Full`] or [`TryPushError::Closed`], each holding the very item.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::{Queue, TryPushError};
    /// let q = Queue::bounded(1);
    /// q.try_push("a", 0).unwrap();
    /// assert_eq!(q.try_push("b", 0), Err(TryPushError::Full("b")));
    /// ```
    pub fn try_push(&self, item: T, priority: i32) -> Result<Key, TryPushError<T>> {
        let mut state = lock(&self.shared.state);
        if state.closed {
            return Err(TryPushError::Closed(item));
        }
        if !self.has_room(&state) {
            return Err(TryPushError::Full(item));
        }
        let key = state.store.push(item, priority);
        let waker = state.poppers.notify_if_idle();
        drop(state);
        wake(waker);
        Ok(key)
    }

    pub(crate) fn poll_push(
        &self,
        slot: &mut Option<usize>,
        item: &mut Option<T>,
        priority: i32,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Key, PushError<T>>> {
        let mut state = lock(&self.shared.state);
        let Some(value) = item.take() else {
            // Polled after completion: a programming error in the caller's executor.
            panic!("`Push` polled after completion");
        };
        if state.closed {
            state.pushers.cancel(slot);
            return Poll::Ready(Err(PushError(value)));
        }
        if !self.has_room(&state) {
            *item = Some(value);
            state.pushers.register(slot, cx.waker());
            return Poll::Pending;
        }
        state.pushers.cancel(slot);
        let key = state.store.push(value, priority);
        let waker = state.poppers.notify_if_idle();
        drop(state);
        wake(waker);
        Poll::Ready(Ok(key))
    }

    /// Releases a producer's wait slot; passes on a wake-up it did not use.
    pub(crate) fn cancel_push_wait(&self, slot: &mut Option<usize>) {
        let mut state = lock(&self.shared.state);
        let waker = (state.pushers.cancel(slot) && !state.closed && self.has_room(&state))
            .then(|| state.pushers.notify_one())
            .flatten();
        drop(state);
        wake(waker);
    }

    /// Waits for room, then reserves it: the returned [`Permit`] pushes without waiting and
    /// without failing. Reserve-then-push lets a producer give up while waiting and keep its
    /// item.
    ///
    /// # Errors
    ///
    /// [`ClosedError`] if the queue is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped `reserve` holds no slot, and a wake-up it had received passes to
    /// the next waiting producer. It loses its place in the line of waiting producers.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let q = Queue::bounded(1);
    /// let permit = q.reserve().await.unwrap();
    /// assert!(q.try_push("other", 0).unwrap_err().is_full()); // the slot is taken
    /// permit.push("mine", 0);
    /// assert_eq!(q.pop().await, Some("mine"));
    /// # }
    /// ```
    pub fn reserve(&self) -> Reserve<'_, T> {
        Reserve::new(self)
    }

    /// Reserves a slot if there is room now; the [`Permit`] then pushes without failing.
    ///
    /// # Errors
    ///
    /// [`TryPushError::Full`] or [`TryPushError::Closed`] holding `()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(1);
    /// let permit = q.try_reserve().unwrap();
    /// assert!(q.try_reserve().unwrap_err().is_full());
    /// permit.push("x", 0);
    /// assert_eq!(q.try_pop(), Ok("x"));
    /// ```
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TryPushError<()>> {
        let mut state = lock(&self.shared.state);
        if state.closed {
            return Err(TryPushError::Closed(()));
        }
        if !self.has_room(&state) {
            return Err(TryPushError::Full(()));
        }
        state.reserved += 1;
        Ok(Permit { queue: self })
    }

    pub(crate) fn poll_reserve(
        &self,
        slot: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Permit<'_, T>, ClosedError>> {
        let mut state = lock(&self.shared.state);
        if state.closed {
            state.pushers.cancel(slot);
            return Poll::Ready(Err(ClosedError));
        }
        if !self.has_room(&state) {
            state.pushers.register(slot, cx.waker());
            return Poll::Pending;
        }
        state.pushers.cancel(slot);
        state.reserved += 1;
        Poll::Ready(Ok(Permit { queue: self }))
    }

    /// Pops the best item, waiting while the queue is empty.
    ///
    /// Returns `None` only once the queue is closed *and* drained.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an item is taken only when the future completes, so a dropped `pop`
    /// (say, the losing branch of `tokio::select!`) loses nothing, and a wake-up it had
    /// received passes to another waiting consumer.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let q = Queue::bounded(4);
    /// q.push('b', 2).await.unwrap();
    /// q.push('a', 1).await.unwrap();
    /// q.close();
    /// assert_eq!(q.pop().await, Some('a'));
    /// assert_eq!(q.pop().await, Some('b'));
    /// assert_eq!(q.pop().await, None);
    /// # }
    /// ```
    pub fn pop(&self) -> Pop<'_, T> {
        Pop::new(self)
    }

    /// Pops the best item if there is one now.
    ///
    /// # Errors
    ///
    /// [`TryPopError::Empty`] if nothing is queued, [`TryPopError::Closed`] once the queue is
    /// closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::{Queue, TryPopError};
    /// let q = Queue::bounded(2);
    /// q.try_push(9, 0).unwrap();
    /// assert_eq!(q.try_pop(), Ok(9));
    /// assert_eq!(q.try_pop(), Err(TryPopError::Empty));
    /// ```
    pub fn try_pop(&self) -> Result<T, TryPopError> {
        let mut state = lock(&self.shared.state);
        match state.store.pop() {
            Some(item) => {
                let wakeups = state.after_taking(1, true);
                drop(state);
                wakeups.wake();
                Ok(item)
            }
            None if state.finished() => Err(TryPopError::Closed),
            None => Err(TryPopError::Empty),
        }
    }

    /// Pops up to `limit` of the best items at once, appending them to `buf` best first;
    /// returns how many it took (at least one). One lock for the lot: a consumer that handles
    /// items quickly pays the queue's synchronisation once per batch instead of once per item.
    ///
    /// The items are out of the queue from then on: a consumer that finds it must not handle
    /// some of them yet puts them back with [`unpop`](Self::unpop). Taking many at once
    /// trades order across consumers for speed: an item pushed later with a better priority
    /// waits behind the batch's items that its consumer has not handled yet, so keep `limit`
    /// small when items take long.
    ///
    /// # Errors
    ///
    /// [`TryPopError::Empty`] if nothing is queued, [`TryPopError::Closed`] once the queue is
    /// closed and drained (nothing is appended to `buf` then).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::{Queue, TryPopError};
    /// let q = Queue::bounded(8);
    /// for (item, prio) in [("c", 2), ("a", 0), ("b", 1)] {
    ///     q.try_push(item, prio).unwrap();
    /// }
    /// let mut batch = Vec::new();
    /// assert_eq!(q.try_pop_many(&mut batch, 2), Ok(2));
    /// assert_eq!(batch, ["a", "b"]);
    /// assert_eq!(q.try_pop_many(&mut batch, 2), Ok(1));
    /// assert_eq!(batch, ["a", "b", "c"]);
    /// assert_eq!(q.try_pop_many(&mut batch, 2), Err(TryPopError::Empty));
    /// ```
    pub fn try_pop_many(&self, buf: &mut Vec<T>, limit: usize) -> Result<usize, TryPopError> {
        let mut state = lock(&self.shared.state);
        let before = buf.len();
        while buf.len() - before < limit {
            let Some(item) = state.store.pop() else { break };
            buf.push(item);
        }
        let taken = buf.len() - before;
        if taken == 0 {
            return Err(if state.finished() { TryPopError::Closed } else { TryPopError::Empty });
        }
        let wakeups = state.after_taking(taken, true);
        drop(state);
        wakeups.wake();
        Ok(taken)
    }

    pub(crate) fn poll_pop(&self, slot: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = lock(&self.shared.state);
        if let Some(item) = state.store.pop() {
            state.poppers.cancel(slot);
            let wakeups = state.after_taking(1, true);
            drop(state);
            wakeups.wake();
            return Poll::Ready(Some(item));
        }
        if state.finished() {
            state.poppers.cancel(slot);
            return Poll::Ready(None);
        }
        state.poppers.register(slot, cx.waker());
        Poll::Pending
    }

    /// Releases a consumer's wait slot; passes on a wake-up it did not use.
    pub(crate) fn cancel_pop_wait(&self, slot: &mut Option<usize>) {
        let mut state = lock(&self.shared.state);
        let waker = (state.poppers.cancel(slot) && (state.store.len() > 0 || state.finished()))
            .then(|| state.poppers.notify_one())
            .flatten();
        drop(state);
        wake(waker);
    }

    /// A [`Stream`](futures_core::Stream) of popped items that ends once the queue is closed
    /// and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// use futures_util::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let q = Queue::bounded(8);
    /// for (item, prio) in [("c", 3), ("a", 1), ("b", 2)] {
    ///     q.push(item, prio).await.unwrap();
    /// }
    /// q.close();
    /// let all: Vec<_> = q.stream().collect().await;
    /// assert_eq!(all, ["a", "b", "c"]);
    /// # }
    /// ```
    pub fn stream(&self) -> PopStream<T> {
        PopStream::new(self.clone())
    }

    /// Puts an item that was popped back in its old place — its key's priority and push
    /// order — as if it had never been taken (for a consumer that popped, then found it must
    /// not handle the item yet). It does not wait for room and ignores `close`: the slot was
    /// the item's a moment ago. Wakes a waiting consumer.
    ///
    /// Passing a key that did not come with this item breaks nothing but order.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(4);
    /// let a = q.try_push("a", 0).unwrap();
    /// q.try_push("b", 0).unwrap();
    /// let item = q.try_pop().unwrap();
    /// q.unpop(item, a);
    /// assert_eq!(q.try_pop(), Ok("a")); // still before "b"
    /// ```
    pub fn unpop(&self, item: T, key: Key) {
        let mut state = lock(&self.shared.state);
        state.store.unpop(item, key);
        let waker = state.poppers.notify_if_idle();
        drop(state);
        wake(waker);
    }

    /// Takes a still-queued item out by its key, without scanning the queue.
    ///
    /// Returns `None` if the item was already popped or removed: removing a popped key is a
    /// no-op. Frees a slot for a waiting producer.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(4);
    /// let a = q.try_push("a", 0).unwrap();
    /// q.try_push("b", 0).unwrap();
    /// assert_eq!(q.remove(a), Some("a"));
    /// assert_eq!(q.remove(a), None);
    /// assert_eq!(q.try_pop(), Ok("b"));
    /// ```
    pub fn remove(&self, key: Key) -> Option<T> {
        let mut state = lock(&self.shared.state);
        let item = state.store.remove(key)?;
        let wakeups = state.after_taking(1, false);
        drop(state);
        wakeups.wake();
        Some(item)
    }

    /// Takes every queued item out at once, best first (for example to cancel them all).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(4);
    /// q.try_push("later", 2).unwrap();
    /// q.try_push("sooner", 1).unwrap();
    /// assert_eq!(q.drain(), ["sooner", "later"]);
    /// assert!(q.is_empty());
    /// ```
    pub fn drain(&self) -> Vec<T> {
        let mut state = lock(&self.shared.state);
        let items = state.store.drain();
        let mut wakers = state.pushers.notify_all();
        if state.finished() {
            wakers.extend(state.poppers.notify_all());
        }
        drop(state);
        wakers.into_iter().for_each(Waker::wake);
        items
    }

    /// Closes the queue: pushes fail from now on (handing the item back) and consumers drain
    /// what is left, then get `None`. Wakes every waiting producer and consumer.
    ///
    /// Returns `true` if this call closed the queue, `false` if it was already closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(2);
    /// q.try_push(1, 0).unwrap();
    /// assert!(q.close());
    /// assert!(!q.close());
    /// assert!(q.try_push(2, 0).unwrap_err().is_closed());
    /// assert_eq!(q.try_pop(), Ok(1)); // still drained
    /// ```
    pub fn close(&self) -> bool {
        let mut state = lock(&self.shared.state);
        if state.closed {
            return false;
        }
        state.closed = true;
        let mut wakers = state.poppers.notify_all();
        wakers.extend(state.pushers.notify_all());
        drop(state);
        wakers.into_iter().for_each(Waker::wake);
        true
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q: Queue<()> = Queue::bounded(1);
    /// assert!(!q.is_closed());
    /// q.close();
    /// assert!(q.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.state).closed
    }

    /// The number of queued items.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(4);
    /// q.try_push((), 0).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.shared.state).store.len()
    }

    /// Whether nothing is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// assert!(Queue::<u8>::bounded(1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on queued items, `None` if unbounded.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// assert_eq!(Queue::<u8>::bounded(3).capacity(), Some(3));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        (self.shared.capacity != usize::MAX).then_some(self.shared.capacity)
    }

    /// The number of queued items with `priority`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(4);
    /// q.try_push('a', 1).unwrap();
    /// q.try_push('b', 1).unwrap();
    /// assert_eq!(q.count(1), 2);
    /// assert_eq!(q.count(0), 0);
    /// ```
    pub fn count(&self, priority: i32) -> usize {
        lock(&self.shared.state).store.count(priority)
    }

    /// `(priority, count)` for every priority that has queued items, best first.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(4);
    /// q.try_push('a', 7).unwrap();
    /// q.try_push('b', -1).unwrap();
    /// q.try_push('c', 7).unwrap();
    /// assert_eq!(q.counts(), [(-1, 1), (7, 2)]);
    /// ```
    pub fn counts(&self) -> Vec<(i32, usize)> {
        lock(&self.shared.state).store.counts()
    }
}

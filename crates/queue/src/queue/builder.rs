//! [`Builder`]: a queue with non-default settings.

use std::time::Duration;

use super::{Queue, Shared, State};
use crate::loom::{Arc, Mutex};
use crate::store::{Aging, Order, Store};
use crate::waiters::WaitList;

/// Configures a [`Queue`]: capacity, LIFO order among equals, aging.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor_queue::Queue;
///
/// let q: Queue<u32> = Queue::builder()
///     .capacity(1024)
///     .aging(Duration::from_secs(1))
///     .build();
/// assert_eq!(q.capacity(), Some(1024));
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    pub(super) capacity: usize,
    pub(super) order: Order,
    pub(super) aging: Option<Duration>,
}

impl Builder {
    /// Bounds the queue to `capacity` items. Default: unbounded.
    ///
    /// # Panics
    ///
    /// Panics if `capacity` is 0: such a queue could never accept an item.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q: Queue<()> = Queue::builder().capacity(2).build();
    /// assert_eq!(q.capacity(), Some(2));
    /// ```
    #[track_caller]
    pub fn capacity(mut self, capacity: usize) -> Self {
        assert!(capacity > 0, "queue capacity must be at least 1");
        self.capacity = capacity;
        self
    }

    /// Serves equal priorities newest first (asyncio's `LifoQueue`). Default: FIFO.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::builder().lifo().build();
    /// q.try_push(1, 0).unwrap();
    /// q.try_push(2, 0).unwrap();
    /// assert_eq!(q.try_pop(), Ok(2));
    /// ```
    pub fn lifo(mut self) -> Self {
        self.order = Order::Lifo;
        self
    }

    /// Turns aging on: an item's effective priority improves by one for every `step` it waits,
    /// so a steady stream of priority-0 items cannot starve a priority-9 item forever (it is
    /// served after at most `9 * step` of waiting behind them). Default: off, and order is
    /// strict. Time is tokio's clock, so it follows `tokio::time::pause`.
    ///
    /// With aging on, a pop compares the head of every non-empty priority, so it costs O(p)
    /// for p distinct queued priorities instead of O(1).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conveyor_queue::Queue;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let q = Queue::builder().aging(Duration::from_secs(1)).build();
    /// q.try_push("old, unimportant", 3).unwrap();
    /// tokio::time::advance(Duration::from_secs(5)).await;
    /// q.try_push("new, important", 0).unwrap();
    /// // Effective priority 3 - 5 = -2 beats 0.
    /// assert_eq!(q.try_pop(), Ok("old, unimportant"));
    /// # }
    /// ```
    pub fn aging(mut self, step: Duration) -> Self {
        self.aging = Some(step);
        self
    }

    /// Creates the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q: Queue<String> = Queue::builder().build();
    /// assert!(q.is_empty());
    /// ```
    pub fn build<T>(self) -> Queue<T> {
        let state = State {
            store: Store::new(self.order, self.aging.map(Aging::new)),
            reserved: 0,
            closed: false,
            poppers: WaitList::new(),
            pushers: WaitList::new(),
        };
        Queue { shared: Arc::new(Shared { state: Mutex::new(state), capacity: self.capacity }) }
    }
}

//! [`Key`]: a queued item's identity, for [`Queue::remove`](super::Queue::remove).

/// Identifies a queued item so that [`Queue::remove`] can take it out again.
///
/// Keys are unique for the life of a queue: a key whose item was popped or removed never
/// matches another item.
///
/// # Examples
///
/// ```
/// use conveyor_queue::Queue;
///
/// let q = Queue::bounded(8);
/// let key = q.try_push("report", 3).unwrap();
/// assert_eq!(key.priority(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub(crate) priority: i32,
    pub(crate) seq: u64,
}

impl Key {
    /// The priority the item was pushed with.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(1);
    /// assert_eq!(q.try_push((), -2).unwrap().priority(), -2);
    /// ```
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// The item's sequence number: its place in the queue's push order.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::Queue;
    /// let q = Queue::bounded(2);
    /// let a = q.try_push((), 0).unwrap();
    /// let b = q.try_push((), 0).unwrap();
    /// assert!(a.seq() < b.seq());
    /// ```
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Rebuilds a key from its [`priority`](Self::priority) and [`seq`](Self::seq), for
    /// callers that store keys in atomics. A key that never came from this queue matches
    /// nothing, so `remove` with it returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::{Key, Queue};
    /// let q = Queue::bounded(2);
    /// let k = q.try_push("x", 4).unwrap();
    /// assert_eq!(q.remove(Key::from_parts(k.priority(), k.seq())), Some("x"));
    /// ```
    pub fn from_parts(priority: i32, seq: u64) -> Key {
        Key { priority, seq }
    }
}

//! Errors of the queue's operations, each handing the rejected item back.

use std::fmt;

/// The error of [`Queue::push`](crate::Queue::push): the queue was closed, and here is the item.
///
/// # Examples
///
/// ```
/// use conveyor_queue::{PushError, Queue};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let q = Queue::bounded(4);
/// q.close();
/// let PushError(item) = q.push("job", 0).await.unwrap_err();
/// assert_eq!(item, "job");
/// # }
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct PushError<T>(pub T);

impl<T> PushError<T> {
    /// Returns the item that could not be pushed.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::PushError;
    /// assert_eq!(PushError(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PushError(..)")
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue closed")
    }
}

impl<T> std::error::Error for PushError<T> {}

/// The error of [`Queue::try_push`](crate::Queue::try_push), with the item handed back.
///
/// # Examples
///
/// ```
/// use conveyor_queue::{Queue, TryPushError};
///
/// let q = Queue::bounded(1);
/// q.try_push('a', 0).unwrap();
/// let err = q.try_push('b', 0).unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(err.into_inner(), 'b');
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum TryPushError<T> {
    /// The queue holds `capacity` items (counting reserved slots).
    Full(T),
    /// The queue was closed.
    Closed(T),
}

impl<T> TryPushError<T> {
    /// Returns the item that could not be pushed.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::TryPushError;
    /// assert_eq!(TryPushError::Closed(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TryPushError::Full(item) | TryPushError::Closed(item) => item,
        }
    }

    /// Whether the push failed because the queue was full.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::TryPushError;
    /// assert!(TryPushError::Full(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TryPushError::Full(_))
    }

    /// Whether the push failed because the queue was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_queue::TryPushError;
    /// assert!(TryPushError::Closed(()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TryPushError::Closed(_))
    }
}

impl<T> fmt::Debug for TryPushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPushError::Full(_) => f.write_str("Full(..)"),
            TryPushError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TryPushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPushError::Full(_) => f.write_str("queue full"),
            TryPushError::Closed(_) => f.write_str("queue closed"),
        }
    }
}

impl<T> std::error::Error for TryPushError<T> {}

impl<T> From<PushError<T>> for TryPushError<T> {
    fn from(PushError(item): PushError<T>) -> Self {
        TryPushError::Closed(item)
    }
}

/// The error of [`Queue::try_pop`](crate::Queue::try_pop).
///
/// # Examples
///
/// ```
/// use conveyor_queue::{Queue, TryPopError};
///
/// let q = Queue::<u8>::bounded(1);
/// assert_eq!(q.try_pop(), Err(TryPopError::Empty));
/// q.close();
/// assert_eq!(q.try_pop(), Err(TryPopError::Closed));
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum TryPopError {
    /// Nothing is queued right now; more may come.
    Empty,
    /// The queue is closed and drained: nothing will ever come.
    Closed,
}

impl fmt::Display for TryPopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPopError::Empty => f.write_str("queue empty"),
            TryPopError::Closed => f.write_str("queue closed and drained"),
        }
    }
}

impl std::error::Error for TryPopError {}

/// The error of [`Queue::reserve`](crate::Queue::reserve): the queue was closed.
///
/// # Examples
///
/// ```
/// use conveyor_queue::Queue;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let q = Queue::<u8>::bounded(1);
/// q.close();
/// assert!(q.reserve().await.is_err());
/// # }
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct ClosedError;

impl fmt::Display for ClosedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue closed")
    }
}

impl std::error::Error for ClosedError {}

//! What a shutdown did.

/// What happened to the jobs that resolved during a [`Pool::shutdown`](crate::Pool::shutdown)
/// or [`Pool::shutdown_now`](crate::Pool::shutdown_now) call — every job unresolved when it
/// began is in exactly one of these counts.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Pool};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build();
/// pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
/// let report = pool.shutdown(Duration::from_secs(10)).await;
/// assert_eq!(report.finished, 1);
/// assert_eq!(report.total(), 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Jobs that ran to an outcome of their own (succeeded, failed, panicked, timed out).
    pub finished: u64,
    /// Jobs that were cancelled after they had started (or while waiting to retry).
    pub cancelled: u64,
    /// Jobs that never started ([`JobError::Shutdown`](crate::JobError::Shutdown), or
    /// cancelled while queued).
    pub never_started: u64,
}

impl ShutdownReport {
    /// All jobs the report counts.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = conveyor_pool::ShutdownReport::default();
    /// assert_eq!(r.total(), 0);
    /// ```
    pub fn total(&self) -> u64 {
        self.finished + self.cancelled + self.never_started
    }
}

//! The errors of the queue.

/// What can go wrong talking to the queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A statement failed or the server could not be reached; `context` says what was being
    /// done.
    #[error("{context}")]
    Database {
        /// What was being done.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be created or migrated.
    #[error("migrating the queue's schema")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A submitted job's id is already in the queue (the whole submission was rolled back).
    #[error("job id `{0}` is already in the queue")]
    DuplicateId(String),
}

impl Error {
    /// `true` for a duplicate job id.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conveyor_postgres::Error::DuplicateId("a".into()).is_duplicate_id());
    /// ```
    pub fn is_duplicate_id(&self) -> bool {
        matches!(self, Error::DuplicateId(_))
    }
}

/// Attaches `context` to a driver error.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Database { context, source }
}

//! The errors of the queue.

use std::fmt;
use std::time::Duration;

/// What can go wrong talking to the queue.
///
/// `Display` says what was being done, never why: the cause is the
/// [`source`](std::error::Error::source), a [`DriverError`], so a reporter that prints the
/// whole chain (anyhow's `{:#}`) names each cause once.
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
        source: DriverError<sqlx::Error>,
    },
    /// The server did not answer the first connection within the given time.
    #[error("connecting to the queue's database: no answer within {}s", .0.as_secs())]
    ConnectTimedOut(Duration),
    /// The schema could not be created or migrated.
    #[error("migrating the queue's schema")]
    Migrate(#[source] DriverError<sqlx::migrate::MigrateError>),
    /// A submitted job's id is already in the queue (the whole submission was rolled back).
    #[error("job id `{0}` is already in the queue")]
    DuplicateId(String),
    /// A typed job's arguments could not be serialised or deserialised.
    #[error("encoding or decoding job arguments")]
    Args(#[source] serde_json::Error),
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

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(DriverError(e))
    }
}

/// A driver (sqlx) error as the cause of an [`Error`].
///
/// sqlx's messages already contain their own causes (`error returned from database: {0}`,
/// with that same `{0}` as `source()`), so printing the chain of a bare sqlx error shows
/// every cause twice (`…: database "x" does not exist: database "x" does not exist`). This
/// wrapper shows the driver's message and, as its `source`, only the first cause that
/// message does not already end with: a chain printed whole names each cause once. The
/// driver's error itself is [`get_ref`](DriverError::get_ref).
///
/// # Examples
///
/// ```
/// use std::error::Error as _;
/// use conveyor_postgres::error::DriverError;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
/// let e = DriverError::new(sqlx::Error::Io(io));
/// assert_eq!(e.to_string(), "error communicating with database: connection refused");
/// assert!(e.source().is_none());
/// ```
pub struct DriverError<E>(E);

impl<E> DriverError<E> {
    /// Wraps a driver error.
    pub fn new(error: E) -> DriverError<E> {
        DriverError(error)
    }

    /// The driver's error.
    pub fn get_ref(&self) -> &E {
        &self.0
    }

    /// The driver's error, unwrapped.
    pub fn into_inner(self) -> E {
        self.0
    }
}

impl<E: fmt::Debug> fmt::Debug for DriverError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: fmt::Display> fmt::Display for DriverError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for DriverError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let shown = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            if !shown.ends_with(&cause.to_string()) {
                return Some(cause);
            }
            next = cause.source();
        }
        None
    }
}

/// Attaches `context` to a driver error.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Database { context, source: DriverError(source) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message of `e`'s chain, as anyhow's `{:#}` prints them.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(cause) = next {
            out.push(cause.to_string());
            next = cause.source();
        }
        out
    }

    #[test]
    fn a_database_error_names_its_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        // What the driver alone would print: the cause twice.
        assert_eq!(
            chain(&sqlx::Error::Io(std::io::Error::new(io.kind(), "connection refused"))),
            ["error communicating with database: connection refused", "connection refused"]
        );
        let e = db("connecting to the queue's database")(sqlx::Error::Io(io));
        assert_eq!(
            chain(&e),
            ["connecting to the queue's database", "error communicating with database: connection refused"]
        );
    }

    #[test]
    fn a_migration_error_names_its_causes_once() {
        let io = std::io::Error::other("broken pipe");
        let e = Error::from(sqlx::migrate::MigrateError::Execute(sqlx::Error::Io(io)));
        assert_eq!(
            chain(&e),
            [
                "migrating the queue's schema",
                "while executing migrations: error communicating with database: broken pipe"
            ]
        );
    }

    #[test]
    fn a_cause_the_message_does_not_contain_is_kept() {
        /// `Display` is `text`, `source` is `cause`.
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl fmt::Display for Layer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|l| l as _)
            }
        }
        // The outer message includes the middle one, not the innermost.
        let inner = Layer("disk full", None);
        let e =
            DriverError::new(Layer("outer: middle", Some(Box::new(Layer("middle", Some(Box::new(inner)))))));
        assert_eq!(chain(&e), ["outer: middle", "disk full"]);
    }
}

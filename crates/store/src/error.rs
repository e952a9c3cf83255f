//! The storage error: a kind and the context in which it happened.

use std::fmt;

/// What went wrong in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The database failed.
    Database,
    /// The database cannot be reached now; the same request may succeed a moment later.
    Unavailable,
    /// Sealed data could not be opened, or sealing failed (wrong root key, tampering).
    Seal,
    /// Stored data does not have the shape it should.
    Corrupt,
    /// A change conflicts with what is stored (a name taken, an id reused).
    Conflict,
    /// The object is soft-deleted: it can be recovered or purged, and its name cannot be reused meanwhile.
    Deleted,
    /// The secret or key is a certificate's (the certificate of the same name holds it): only the certificate's
    /// own operations change it.
    Managed,
    /// The database rolled a transaction back for contention (a deadlock, a serialization failure) more
    /// times than it was retried; the same request may succeed a moment later.
    Contention,
    /// A file (root key, database path) could not be read or written.
    Io,
}

/// A storage error.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {detail}")]
pub struct Error {
    kind: ErrorKind,
    context: String,
    detail: String,
}

impl Error {
    /// An error of `kind` while doing `context`, caused by `detail`.
    pub fn new(kind: ErrorKind, context: impl fmt::Display, detail: impl fmt::Display) -> Self {
        Self { kind, context: context.to_string(), detail: detail.to_string() }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the same call may succeed a moment later (the database is unreachable or contended).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Contention)
    }
}

/// The result type of storage.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Names what was being done when a database call failed.
pub(crate) trait DatabaseContext<T> {
    fn context(self, context: &str) -> Result<T>;
}

impl<T> DatabaseContext<T> for Result<T> {
    fn context(self, context: &str) -> Result<T> {
        self.map_err(|e| Error { context: context.to_owned(), ..e })
    }
}

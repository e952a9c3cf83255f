//! The server's own error type, for start-up and infrastructure failures. Request-level failures have their
//! protocol's envelope instead: [`crate::vault::error::VaultError`] and [`crate::identity::error::OAuthFailure`].

use std::fmt;

/// What failed while starting or running the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The configuration is not valid.
    Config,
    /// A file or socket operation failed.
    Io,
    /// TLS material could not be created or loaded.
    Tls,
    /// Storage failed.
    Store,
    /// A domain operation failed (keys, hashing).
    Domain,
}

/// A server error: kind, context and cause.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {detail}")]
pub struct Error {
    kind: ErrorKind,
    context: String,
    detail: String,
}

impl Error {
    /// An error of `kind` while `context`, caused by `detail`.
    pub fn new(kind: ErrorKind, context: impl fmt::Display, detail: impl fmt::Display) -> Self {
        Self { kind, context: context.to_string(), detail: detail.to_string() }
    }

    /// An I/O failure.
    pub fn io(context: impl fmt::Display, detail: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Io, context, detail)
    }

    /// A TLS failure.
    pub fn tls(context: impl fmt::Display, detail: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Tls, context, detail)
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<strongroom_store::Error> for Error {
    fn from(e: strongroom_store::Error) -> Self {
        Self::new(ErrorKind::Store, "storage", e)
    }
}

impl From<strongroom_core::Error> for Error {
    fn from(e: strongroom_core::Error) -> Self {
        Self::new(ErrorKind::Domain, "domain", e)
    }
}

impl From<crate::config::ConfigError> for Error {
    fn from(e: crate::config::ConfigError) -> Self {
        Self::new(ErrorKind::Config, "configuration", e)
    }
}

/// The result type of the server.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The server's own error type, for start-up and infrastructure failures. Request-level failures have their
//! protocol's envelope instead: [`crate::vault::error::VaultError`], [`crate::identity::error::OAuthFailure`]
//! and [`crate::management::error::ManagementError`]; what those share is decided here: how a storage failure
//! that is not the client's doing is answered ([`StoreFault`]), and that a 500 logs its cause and says nothing
//! of it to the client ([`InternalFailure`]).

use std::fmt;

use axum::http::StatusCode;

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
    /// A change to the machine (`strongroom trust`: trust store, hosts file) is not permitted or not supported.
    System,
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

/// A storage failure that is not the client's doing, as every protocol answers it: 503 with `Retry-After` when
/// the database cannot be reached (a retry can succeed), 500 otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// The database is unreachable for now.
    Unavailable,
    /// Anything else: a fault of the server.
    Internal,
}

impl StoreFault {
    /// Judges `e` and logs it: a warning when retrying can help, an error otherwise.
    pub fn of(e: &strongroom_store::Error) -> Self {
        if e.is_transient() {
            tracing::warn!("storage is unavailable: {e}");
            Self::Unavailable
        } else {
            tracing::error!("storage failed: {e}");
            Self::Internal
        }
    }

    /// The status it is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the client may retry (and is told when, by `Retry-After`).
    pub fn retryable(self) -> bool {
        self == Self::Unavailable
    }
}

/// A protocol's envelope for a failure inside the server: a generic 500 whose body says nothing of the cause,
/// which goes to the log instead. Used as `.map_err(VaultError::internal_while("encoding the policy"))`.
pub trait InternalFailure: Sized {
    /// The protocol's generic 500.
    fn generic_internal() -> Self;

    /// For `map_err`: logs that `context` failed and why, and answers the generic 500. Only for causes whose
    /// text holds no data (encoding, the random generator, a conversion, a signature): never a decoding of
    /// stored data, whose errors may quote it.
    fn internal_while<E: fmt::Display>(context: &'static str) -> impl FnOnce(E) -> Self {
        move |cause| {
            tracing::error!("{context} failed: {cause}");
            Self::generic_internal()
        }
    }

    /// For `map_err` where the caller states the cause and the error's own text stays out of the log: a
    /// decoding of stored data (its errors may quote the data, and the data may be a key), or an error with
    /// no text.
    fn internal_because<E>(cause: &'static str) -> impl FnOnce(E) -> Self {
        move |_| {
            tracing::error!("{cause}");
            Self::generic_internal()
        }
    }

    /// For `ok_or_else`: logs that `what` is missing where the server needs it, and answers the generic 500.
    fn internal_missing(what: &'static str) -> impl FnOnce() -> Self {
        move || {
            tracing::error!("{what} is missing");
            Self::generic_internal()
        }
    }
}

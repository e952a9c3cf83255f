//! The error type of the domain: one type with a kind a caller can match on, and a message for people.

use std::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Input broke a rule; the message names the rule.
    InvalidInput,
    /// An access token or credential was not acceptable.
    InvalidCredential,
    /// A cryptographic operation failed (bad key material, a library error).
    Crypto,
}

/// A domain error: a kind and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` explained by `message`.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Self { kind, message: message.to_string() }
    }

    /// Input broke the rule explained by `message`.
    pub fn invalid_input(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A credential or token was refused for the reason in `message`.
    pub fn invalid_credential(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidCredential, message)
    }

    /// A cryptographic failure described by `message`.
    pub fn crypto(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Crypto, message)
    }

    /// The kind of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The result type of the domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

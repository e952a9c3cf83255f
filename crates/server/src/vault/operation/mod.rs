//! Stage 6's front half: which operation a request asks for (method and path), with which query parameters.
//! Routing reads only the request line, so it can name the operation for the permission check and the audit
//! record before any body is read.
//!
//! Every operation is one row of [`table::OPERATIONS`]: method and path, Key Vault's audit name, the RBAC
//! data action, the access-policy permission, the collection, the service limit it counts against, and the
//! handler that runs it. Routing, the permission check, the service limits, the audit record, dispatch and the
//! tables of `docs/authorization.md` all read that table.

pub mod pattern;
mod query;
pub mod table;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;

use axum::http::Method;
use axum::response::Response;
use strongroom_core::directory::VaultKind;
use strongroom_core::rbac::{Action, Collection, Target};

pub use self::pattern::Params;
use self::pattern::{Pattern, Segments};
pub use self::query::{MAX_RESULTS, Query};
use super::context::Context;
use super::error::VaultError;
use crate::limits::Budget;

/// What an operation answers, once it has run.
pub type OperationFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, VaultError>> + Send + 'a>>;

/// How a row runs its operation: the vault's context, the path's parameters, the request body. Each handler
/// boxes its own future, so that a request's future is as large as the operation it runs rather than the
/// largest of all (moving a future of several kilobytes into the connection's task cost every request a
/// copy of that size).
pub type Handler = for<'a> fn(&'a Context<'a>, Params<'a>, &'a [u8]) -> OperationFuture<'a>;

/// A data-plane operation: one row of [`table::OPERATIONS`].
pub struct Operation {
    /// The HTTP method (after `X-HTTP-METHOD`).
    pub method: Method,
    /// The path pattern ([`pattern`] says the notation).
    pub path: Pattern,
    /// Key Vault's name for the operation in audit logs (`SecretGet`).
    pub audit_name: &'static str,
    /// The RBAC data action it needs in a key vault; `None` when vaults do not serve it.
    pub action: Option<Action>,
    /// The local RBAC data action it needs in a Managed HSM; `None` when HSMs do not serve it.
    pub hsm_action: Option<Action>,
    /// The access-policy permission it needs (Key Vault's legacy model), from the collection's list.
    pub permission: &'static str,
    /// The collection it acts on.
    pub collection: Collection,
    /// The service limit it counts against.
    pub budget: Budget,
    /// What runs it.
    pub handler: Handler,
}

/// The collections a vault's path may start with: a known path with another method is `405`, not `404`.
const VAULT_COLLECTIONS: &[&str] =
    &["secrets", "deletedsecrets", "keys", "deletedkeys", "certificates", "deletedcertificates"];

/// The collections a Managed HSM's path may start with.
const HSM_COLLECTIONS: &[&str] = &["keys", "deletedkeys", "settings"];

/// A request matched to its operation, with what its path gave.
#[derive(Clone, Copy)]
pub struct Routed<'p> {
    /// The row.
    pub operation: &'static Operation,
    /// The path's parameters.
    pub params: Params<'p>,
    /// The data action it needs in the vault at hand (a key vault's or a Managed HSM's).
    pub action: Action,
}

impl std::fmt::Debug for Routed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routed").field("operation", &self.operation.audit_name).field("params", &self.params).finish()
    }
}

impl<'p> Routed<'p> {
    /// The operation a method and path ask for in a vault of `kind`: the first row that matches and that
    /// `kind` serves. A path under a collection with no row for the method is `405`; anything else unknown
    /// is `404`.
    pub fn route(method: &Method, path: &'p str, kind: VaultKind) -> Result<Self, VaultError> {
        let segments = Segments::of(path);
        for operation in table::OPERATIONS.iter().filter(|row| row.method == *method) {
            let Some(action) = operation.action_in(kind) else { continue };
            if let Some(params) = operation.path.matches(&segments) {
                return Ok(Routed { operation, params, action });
            }
        }
        let collections = match kind {
            VaultKind::Vault => VAULT_COLLECTIONS,
            VaultKind::ManagedHsm => HSM_COLLECTIONS,
        };
        if collections.contains(&segments.first()) && segments.len <= 3 {
            return Err(VaultError::method_not_allowed(method.as_str(), path));
        }
        Err(VaultError::path_not_found(path))
    }

    /// What the operation touches; collection-wide operations name no object.
    pub fn target(&self) -> Target<'p> {
        Target { collection: self.operation.collection, name: self.params.object() }
    }

    /// Runs the operation.
    pub fn run<'a>(&self, cx: &'a Context<'a>, body: &'a [u8]) -> OperationFuture<'a>
    where
        'p: 'a,
    {
        (self.operation.handler)(cx, self.params, body)
    }
}

impl Operation {
    /// The data action the operation needs in a vault of `kind`, if that kind serves it.
    pub fn action_in(&self, kind: VaultKind) -> Option<Action> {
        match kind {
            VaultKind::Vault => self.action,
            VaultKind::ManagedHsm => self.hsm_action,
        }
    }
}

/// A cryptographic operation with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoOperation {
    /// Sign a digest.
    Sign,
    /// Verify a signature of a digest.
    Verify,
    /// Encrypt.
    Encrypt,
    /// Decrypt.
    Decrypt,
    /// Wrap a key.
    WrapKey,
    /// Unwrap a key.
    UnwrapKey,
}

impl CryptoOperation {
    /// Its JSON Web Key operation name (`key_ops`).
    pub fn as_str(self) -> &'static str {
        match self {
            CryptoOperation::Sign => "sign",
            CryptoOperation::Verify => "verify",
            CryptoOperation::Encrypt => "encrypt",
            CryptoOperation::Decrypt => "decrypt",
            CryptoOperation::WrapKey => "wrapKey",
            CryptoOperation::UnwrapKey => "unwrapKey",
        }
    }
}

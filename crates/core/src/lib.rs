//! The pure domain of Strongroom.
//!
//! Tenants and security principals, access tokens (minting and validation), Azure RBAC evaluation, the vault
//! firewall's rule evaluation and the rules of vault objects. Nothing here performs I/O: no HTTP, no SQL, no
//! files, no clock (callers pass the time), so every rule is unit-tested on its own.

pub mod assertion;
pub mod backup;
pub mod certificate;
pub mod credential;
pub mod directory;
pub mod error;
pub mod events;
pub mod first_party;
pub mod full_backup;
pub mod graph_query;
pub mod key;
pub mod network;
pub mod object;
pub mod policy;
pub mod provision;
pub mod rbac;
pub mod redirect;
pub mod release;
pub mod rotation;
pub mod secret;
pub mod security_domain;
pub mod token;

pub use error::{Error, ErrorKind};

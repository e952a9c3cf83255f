//! Wire types of Strongroom.
//!
//! Everything here crosses the network or lands in a file that other programs read: the Key Vault data-plane
//! JSON, the Entra-compatible OAuth 2.0 / OpenID Connect JSON, the management API's Azure Resource Manager and
//! Microsoft Graph JSON, and the audit record. Field names keep the
//! protocol's own spelling (`contentType`, `nextLink`, `error_description`); the Rust names follow Rust style.
//! This crate knows nothing of storage or HTTP frameworks: it is serde models only.

pub mod arm;
pub mod audit;
pub mod graph;
pub mod keyvault;
pub mod managed_hsm;
pub mod oauth;

//! The Strongroom server: one HTTPS listener that is both an Entra-ID-compatible token service and an
//! Azure-Key-Vault-compatible vault, routed by host name.
//!
//! Start-up: [`config`] (or [`dev`]) gives the settings and desired state, [`installation::Installation`]
//! opens the data directory and store and applies the desired state, then starts the listener ([`http`]).
//! Vault requests run the seed's request flow in [`vault`]; the token service lives in [`identity`].

pub(crate) mod audit;
pub mod clock;
pub(crate) mod cluster;
pub mod config;
pub mod dev;
pub(crate) mod endpoints;
pub mod error;
pub mod events;
pub(crate) mod http;
pub mod identity;
pub mod installation;
pub mod limits;
pub(crate) mod management;
pub(crate) mod metrics;
pub(crate) mod portal;
pub mod signing;
pub mod state;
pub mod sweeper;
pub(crate) mod test_controls;
pub(crate) mod tls;
pub mod trust;
pub(crate) mod vault;

pub use error::{Error, ErrorKind, Result};

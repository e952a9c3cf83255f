//! The Entra-ID-compatible token service: OpenID discovery, signing keys, and the token endpoint.
//!
//! The tenant in the path is an id or a name. Every failure answers in Entra's error shape
//! ([`error::OAuthFailure`]), with the AADSTS code SDKs and people recognise.

pub mod authority;
pub mod browser;
pub mod client_auth;
pub mod device;
pub mod discovery;
pub mod error;
pub mod flows;
pub mod issuer_keys;
pub mod managed;
pub mod mint;
pub mod pages;
pub mod sign_in_log;
pub mod throttle;
pub mod token;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The routes of the token service.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
        .route("/{tenant}/discovery/keys", get(discovery::keys))
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
        .route("/{tenant}/oauth2/token", post(token::token_v1))
        .route("/{tenant}/.well-known/openid-configuration", get(discovery::openid_configuration_v1))
        .route("/{tenant}/userrealm/{user}", get(users::user_realm))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device::device_code))
        .route("/devicelogin", get(device::verification_page).post(device::verify))
        .route("/{tenant}/oauth2/v2.0/authorize", get(browser::sign_in_page).post(browser::sign_in))
        .route("/msi/token", get(managed::msi).post(managed::msi))
        .fallback(error::not_found)
        .with_state(state)
}

/// The routes of the plain-HTTP managed-identity listener (`imds_listen`).
pub fn managed_identity_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metadata/identity/oauth2/token", get(managed::imds))
        .route("/metadata/identity/oauth2/token/", get(managed::imds))
        // MSAL for Java joins AZURE_POD_IDENTITY_AUTHORITY_HOST and the path with a second slash.
        .route("//metadata/identity/oauth2/token", get(managed::imds))
        .route("/msi/token", get(managed::msi).post(managed::msi))
        .fallback(error::not_found)
        .with_state(state)
}

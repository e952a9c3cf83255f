//! User sign-in at the token endpoint: the resource-owner password grant (with MSAL's user-realm lookup) and
//! refresh tokens, and the token response every user flow shares (access token, ID token, client info,
//! rotated refresh token).

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::digest;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use strongroom_core::credential;
use strongroom_core::directory::{Directory, Principal, Tenant};
use strongroom_core::network::ClientAddress;
use uuid::Uuid;

use super::authority::Authority;
use super::error::OAuthFailure;
use super::mint;
use super::throttle::Presented;
use super::token::user_resource;
use crate::error::InternalFailure;
use crate::state::AppState;

/// How long a refresh token lives (Entra's default for most clients).
const REFRESH_TOKEN_DAYS: i64 = 90;

/// What a refresh token stands for, kept sealed in the store under the token's hash.
#[derive(Debug, Serialize, Deserialize)]
struct RefreshGrant {
    tenant_id: Uuid,
    user_id: Uuid,
    client_id: Uuid,
    scope: String,
    /// When the user signed in (Unix milliseconds), carried from token to rotated token: a password change
    /// or disabling after it revokes the token. Grants stored before the field existed read as 0.
    #[serde(default)]
    signed_in_at_ms: i64,
}

/// The response of every user flow.
#[derive(Debug, Serialize)]
struct UserTokenResponse {
    token_type: &'static str,
    scope: String,
    expires_in: u64,
    ext_expires_in: u64,
    access_token: String,
    refresh_token: String,
    id_token: String,
    client_info: String,
}

/// A user signed in through `client_id`, asking for `scope` (one resource, or only OpenID scopes).
pub struct SignedIn<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The user.
    pub user: &'a Principal,
    /// The public client.
    pub client_id: Uuid,
    /// The scopes asked for, echoed in the response.
    pub scope: String,
    /// The sign-in request's nonce, for the ID token.
    pub nonce: Option<String>,
    /// When the user proved who they are (Unix milliseconds): the refresh token keeps it, so that a later
    /// password change revokes it and every token rotated from it.
    pub signed_in_at_ms: i64,
}

/// Issues the tokens of a successful user sign-in.
pub async fn issue(state: &AppState, directory: &Directory, signed_in: SignedIn<'_>) -> Result<Response, OAuthFailure> {
    let resource = user_resource(&signed_in.scope).ok_or_else(|| OAuthFailure::invalid_scope(&signed_in.scope))?;
    let audience = mint::audience_for(state, &resource)
        .ok_or_else(|| OAuthFailure::unknown_resource(&resource, &signed_in.tenant.name))?;
    let access = mint::user_access_token(state, directory, signed_in.user, signed_in.client_id, &audience)
        .ok_or_else(OAuthFailure::internal)?;
    let id_token = mint::id_token(state, &signed_in.tenant.name, signed_in.user, signed_in.client_id, signed_in.nonce)
        .ok_or_else(OAuthFailure::internal)?;

    let mut secret = [0u8; 32];
    aws_lc_rs::rand::fill(&mut secret).map_err(OAuthFailure::internal_while("drawing a refresh token"))?;
    let refresh_token = URL_SAFE_NO_PAD.encode(secret);
    let grant = RefreshGrant {
        tenant_id: signed_in.tenant.id,
        user_id: signed_in.user.object_id,
        client_id: signed_in.client_id,
        scope: signed_in.scope.clone(),
        signed_in_at_ms: signed_in.signed_in_at_ms,
    };
    let grant = serde_json::to_vec(&grant).map_err(OAuthFailure::internal_while("encoding a refresh grant"))?;
    state
        .store
        .put_refresh_token(&token_hash(&refresh_token), &grant, state.clock.now_seconds() + REFRESH_TOKEN_DAYS * 86_400)
        .await
        .map_err(|e| {
            tracing::error!("storing a refresh token failed: {e}");
            OAuthFailure::internal()
        })?;

    let client_info = serde_json::json!({ "uid": signed_in.user.object_id, "utid": signed_in.tenant.id });
    let mut response = Json(UserTokenResponse {
        token_type: "Bearer",
        scope: signed_in.scope,
        expires_in: access.lifetime,
        ext_expires_in: access.lifetime,
        access_token: access.token,
        refresh_token,
        id_token,
        client_info: URL_SAFE_NO_PAD.encode(client_info.to_string()),
    })
    .into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    Ok(response)
}

/// Refresh tokens are random 256-bit values, so a plain SHA-256 is a safe lookup key.
fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// Uses `token` up, as a refresh would, so that it can never be redeemed again (a portal session's sign-out).
pub async fn revoke_refresh_token(state: &AppState, token: &str) {
    if let Err(e) = state.store.take_refresh_token(&token_hash(token), state.clock.now_seconds()).await {
        tracing::error!("revoking a refresh token failed: {e}");
    }
}

/// `grant_type=password`.
pub async fn password(
    state: &AppState,
    directory: &Directory,
    tenant: &Tenant,
    client_id: Uuid,
    form: &HashMap<String, String>,
    address: ClientAddress,
) -> Result<Response, OAuthFailure> {
    let username = form.get("username").ok_or_else(|| OAuthFailure::missing_parameter("username"))?;
    let password = form.get("password").ok_or_else(|| OAuthFailure::missing_parameter("password"))?.clone();
    let scope = form.get("scope").ok_or_else(|| OAuthFailure::missing_parameter("scope"))?.clone();
    let user = check_password(state, directory, tenant, username, password, address).await?;
    issue(
        state,
        directory,
        SignedIn { tenant, user, client_id, scope, nonce: None, signed_in_at_ms: state.clock.now_millis() },
    )
    .await
}

/// Checks a user's password, counting failures against brute force; used by every flow that signs a user in.
/// A user name with control characters is refused before anything else: it names no user, and must reach no
/// log or notice.
pub async fn check_password<'a>(
    state: &AppState,
    directory: &'a Directory,
    tenant: &Tenant,
    username: &str,
    password: String,
    address: ClientAddress,
) -> Result<&'a Principal, OAuthFailure> {
    if !credential::is_valid_sign_in_name(username) {
        return Err(OAuthFailure::invalid_username());
    }
    // Failures count against the user, whichever of its names was typed (`alice`, `alice@contoso`), so that
    // two spellings are not two guessing budgets; a name that is nobody's counts under itself.
    let found = directory.user_by_sign_in_name(tenant.id, username);
    let principal_key = match found {
        Some((user, _)) => user.object_id.to_string(),
        None => format!("{}/{}", tenant.id, username.to_ascii_lowercase()),
    };
    let attempt = state.sign_in_throttle.begin(Presented::Password, &principal_key, address).await?;
    let Some((user, details)) = found else {
        attempt.failed(state).await;
        return Err(OAuthFailure::user_not_found(username, &tenant.name));
    };
    let hash = details.password_hash.clone();
    let verified = state.verification_gate.run(move || credential::verify_secret(&password, &hash)).await?;
    if !verified {
        attempt.failed(state).await;
        return Err(OAuthFailure::invalid_user_credentials());
    }
    attempt.succeeded(state, Presented::Password).await;
    if !details.enabled {
        return Err(OAuthFailure::user_disabled());
    }
    Ok(user)
}

/// The user a stored grant (refresh token, code) names, if it still exists, may sign in, and has not had its
/// grants revoked since `signed_in_at_ms`: a password change or reset, or a disabling, revokes what was
/// granted before it (the instant is in the directory, so every node and a restarted one agree).
pub fn granted_user(directory: &Directory, user_id: Uuid, signed_in_at_ms: i64) -> Result<&Principal, OAuthFailure> {
    let user = directory.principal(user_id).ok_or_else(OAuthFailure::expired_grant)?;
    let details = directory.users.get(&user.object_id).ok_or_else(OAuthFailure::expired_grant)?;
    if !details.enabled {
        return Err(OAuthFailure::user_disabled());
    }
    if !details.honours_grant_from(signed_in_at_ms) {
        return Err(OAuthFailure::revoked_grant());
    }
    Ok(user)
}

/// `grant_type=refresh_token`: the old token is used up and a new one issued (rotation), in the tenant it
/// was issued in (which a multi-tenant authority learns from it).
pub async fn refresh(
    state: &AppState,
    directory: &Directory,
    authority: Authority<'_>,
    client_id: Uuid,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthFailure> {
    let token = form.get("refresh_token").ok_or_else(|| OAuthFailure::missing_parameter("refresh_token"))?;
    let grant = state.store.take_refresh_token(&token_hash(token), state.clock.now_seconds()).await.map_err(|e| {
        tracing::error!("reading a refresh token failed: {e}");
        OAuthFailure::internal()
    })?;
    let grant: RefreshGrant =
        grant.and_then(|g| serde_json::from_slice(&g).ok()).ok_or_else(OAuthFailure::expired_grant)?;
    if grant.client_id != client_id {
        return Err(OAuthFailure::grant_mismatch("the refresh token was issued to another client or tenant"));
    }
    let tenant = authority.admit_grant(directory, grant.tenant_id, client_id)?;
    let user = granted_user(directory, grant.user_id, grant.signed_in_at_ms)?;
    let scope = form.get("scope").cloned().unwrap_or(grant.scope);
    let signed_in_at_ms = grant.signed_in_at_ms;
    issue(state, directory, SignedIn { tenant, user, client_id, scope, nonce: None, signed_in_at_ms }).await
}

/// The answer of MSAL's user-realm lookup.
#[derive(Debug, Serialize)]
pub struct UserRealm {
    ver: &'static str,
    account_type: &'static str,
    domain_name: String,
    cloud_instance_name: String,
    cloud_audience_urn: &'static str,
}

/// `GET /{tenant}/userrealm/{user}` (MSAL asks it at `common`): an account whose domain is a tenant's name
/// is managed (there is no federation to follow); any other domain is unknown here, as Entra says of a
/// domain it does not hold.
pub async fn user_realm(
    State(state): State<Arc<AppState>>,
    Path((_tenant, user)): Path<(String, String)>,
) -> Json<UserRealm> {
    let domain_name = user.rsplit_once('@').map_or(String::new(), |(_, domain)| domain.to_owned());
    let managed = !domain_name.is_empty() && state.directory().tenant(&domain_name).is_some();
    Json(UserRealm {
        ver: "1.0",
        account_type: if managed { "Managed" } else { "Unknown" },
        domain_name,
        cloud_instance_name: state.endpoints.login_host().to_owned(),
        cloud_audience_urn: "urn:federation:MicrosoftOnline",
    })
}

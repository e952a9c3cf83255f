//! Minting access tokens for a principal, shared by every grant and the managed-identity endpoints.

use strongroom_core::directory::{Directory, Principal, VaultKind};
use strongroom_core::token::{AccessClaims, IdClaims, group_claims};
use uuid::Uuid;

use crate::endpoints::{KEY_VAULT_APP_ID, MANAGED_HSM_APP_ID};
use crate::state::AppState;

/// How the client proved itself, as Entra's `appidacr`/`azpacr` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// A client secret (`1`).
    Secret,
    /// A certificate or another signed assertion, and managed identities (`2`).
    Certificate,
}

impl ClientAuthentication {
    fn claim(self) -> &'static str {
        match self {
            ClientAuthentication::Secret => "1",
            ClientAuthentication::Certificate => "2",
        }
    }
}

/// An app-only token for `principal` (whose client id is `client_id`), for `audience`.
#[derive(Debug, Clone)]
pub struct AppToken<'a> {
    /// The principal the token names (`oid`, `sub`).
    pub principal: &'a Principal,
    /// The client id (`appid`, `azp`).
    pub client_id: Uuid,
    /// The audience, already checked to be a resource this server serves.
    pub audience: String,
    /// How the client authenticated.
    pub authentication: ClientAuthentication,
    /// A managed identity's resource id.
    pub managed_identity_resource_id: Option<String>,
}

/// A signed token and its lifetime in seconds.
pub struct Minted {
    /// The JWT.
    pub token: String,
    /// Issued at, Unix seconds.
    pub issued_at: i64,
    /// Lifetime in seconds.
    pub lifetime: u64,
}

/// Signs `request`; `None` when signing failed (logged).
pub fn app_token(state: &AppState, request: AppToken<'_>) -> Option<Minted> {
    let now = state.clock.now_seconds();
    let lifetime = state.token_lifetime_seconds;
    let object_id = request.principal.object_id.to_string();
    let client_id = request.client_id.to_string();
    let claims = AccessClaims {
        aud: request.audience,
        iss: state.endpoints.issuer(request.principal.tenant_id),
        iat: now,
        nbf: now,
        exp: now + i64::try_from(lifetime).unwrap_or(3600),
        tid: request.principal.tenant_id.to_string(),
        oid: object_id.clone(),
        sub: object_id,
        azp: client_id.clone(),
        azpacr: request.authentication.claim().to_owned(),
        appid: client_id,
        appidacr: request.authentication.claim().to_owned(),
        idtyp: "app".to_owned(),
        ver: "2.0".to_owned(),
        uti: Uuid::new_v4().simple().to_string(),
        groups: Vec::new(),
        xms_mirid: request.managed_identity_resource_id,
        scp: None,
        claim_names: None,
        claim_sources: None,
    };
    sign(state, &claims, now, lifetime)
}

/// A user's access token for `audience`, obtained through the public client `client_id`.
pub fn user_access_token(
    state: &AppState,
    directory: &Directory,
    user: &Principal,
    client_id: Uuid,
    audience: &str,
) -> Option<Minted> {
    let now = state.clock.now_seconds();
    let lifetime = state.token_lifetime_seconds;
    let groups: Vec<String> = directory.groups_of(user.object_id).iter().map(Uuid::to_string).collect();
    // Past Entra's limit the ids are left out; the vault reads membership from the directory anyway.
    let (groups, claim_names, claim_sources) = group_claims(&user.object_id.to_string(), &groups);
    let claims = AccessClaims {
        aud: audience.to_owned(),
        iss: state.endpoints.issuer(user.tenant_id),
        iat: now,
        nbf: now,
        exp: now + i64::try_from(lifetime).unwrap_or(3600),
        tid: user.tenant_id.to_string(),
        oid: user.object_id.to_string(),
        sub: user.object_id.to_string(),
        azp: client_id.to_string(),
        azpacr: "0".to_owned(),
        appid: client_id.to_string(),
        appidacr: "0".to_owned(),
        idtyp: "user".to_owned(),
        ver: "2.0".to_owned(),
        uti: Uuid::new_v4().simple().to_string(),
        groups,
        xms_mirid: None,
        scp: Some("user_impersonation".to_owned()),
        claim_names,
        claim_sources,
    };
    sign(state, &claims, now, lifetime)
}

/// The ID token telling `client_id` who signed in.
pub fn id_token(
    state: &AppState,
    tenant_name: &str,
    user: &Principal,
    client_id: Uuid,
    nonce: Option<String>,
) -> Option<String> {
    let now = state.clock.now_seconds();
    let lifetime = state.token_lifetime_seconds;
    let claims = IdClaims {
        aud: client_id.to_string(),
        iss: state.endpoints.issuer(user.tenant_id),
        iat: now,
        nbf: now,
        exp: now + i64::try_from(lifetime).unwrap_or(3600),
        sub: user.object_id.to_string(),
        oid: user.object_id.to_string(),
        tid: user.tenant_id.to_string(),
        preferred_username: format!("{}@{tenant_name}", user.name),
        name: user.name.clone(),
        nonce,
        ver: "2.0".to_owned(),
    };
    sign(state, &claims, now, lifetime).map(|minted| minted.token)
}

fn sign(state: &AppState, claims: &impl serde::Serialize, now: i64, lifetime: u64) -> Option<Minted> {
    match state.keys.get().current().and_then(|key| key.sign(claims)) {
        Ok(token) => Some(Minted { token, issued_at: now, lifetime }),
        Err(e) => {
            tracing::error!("signing a token failed: {e}");
            None
        }
    }
}

/// The audience for a requested resource, if it is one this server issues tokens for: the vault resource or
/// the Managed HSM resource, named as such (a trailing slash is tolerated) or by Key Vault's or Managed HSM's
/// application id; or the management API, by this server's Resource Manager or Graph URL or any of the names
/// Azure's go by.
pub fn audience_for(state: &AppState, resource: &str) -> Option<String> {
    let requested = resource.trim_end_matches('/');
    for (kind, app_id) in [(VaultKind::Vault, KEY_VAULT_APP_ID), (VaultKind::ManagedHsm, MANAGED_HSM_APP_ID)] {
        let own = state.endpoints.resource_of(kind);
        if requested.eq_ignore_ascii_case(own) || requested.eq_ignore_ascii_case(app_id) {
            return Some(own.to_owned());
        }
    }
    state.endpoints.management_audiences().into_iter().find(|m| m.eq_ignore_ascii_case(requested)).map(str::to_owned)
}

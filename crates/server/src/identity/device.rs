//! The device-code flow: a device without a browser asks for a code, the user signs in on the verification
//! page from any browser and types the code, and the device polls the token endpoint until then.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use strongroom_core::credential;
use strongroom_core::directory::Directory;
use uuid::Uuid;

use super::authority::Authority;
use super::error::OAuthFailure;
use super::flows::{self, DeviceGrant};
use super::mint;
use super::pages;
use super::token::{read_form, user_resource};
use super::users::{self, SignedIn};
use crate::error::InternalFailure;
use crate::state::AppState;
use crate::vault::ConnectionInfo;

/// How long a device code lives, seconds.
const LIFETIME: i64 = 900;
/// Letters of user codes: no vowels (no words), no look-alikes.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// The answer of the device-code endpoint.
#[derive(Debug, Serialize)]
pub struct DeviceCodeResponse {
    user_code: String,
    device_code: String,
    verification_uri: String,
    expires_in: i64,
    interval: u32,
    message: String,
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub async fn device_code(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Json<DeviceCodeResponse>, OAuthFailure> {
    let form = read_form(&body)?;
    let directory = state.directory();
    let authority = Authority::parse(&directory, &tenant)?;
    let client_id = form.get("client_id").ok_or_else(|| OAuthFailure::missing_parameter("client_id"))?;
    let client = authority.client(&directory, client_id)?;
    let scope = form.get("scope").ok_or_else(|| OAuthFailure::missing_parameter("scope"))?;
    let resource = user_resource(scope).ok_or_else(|| OAuthFailure::invalid_scope(scope))?;
    mint::audience_for(&state, &resource).ok_or_else(|| OAuthFailure::unknown_resource(&resource, &tenant))?;

    let device_code =
        credential::generate_client_secret().map_err(OAuthFailure::internal_while("drawing a device code"))?;
    let user_code = user_code().ok_or_else(OAuthFailure::internal_missing("a drawn user code"))?;
    // From the configured login host, never the request's Host: the page a user is sent to is this server's.
    let verification_uri = format!("{}/devicelogin", state.endpoints.authority_host());
    let grant = DeviceGrant {
        // At a multi-tenant authority the user who approves the code decides the tenant.
        tenant_id: match authority {
            Authority::Tenant(tenant) => Some(tenant.id),
            Authority::AnyOrganization | Authority::Consumers => None,
        },
        client_id: client.client_id(),
        scope: scope.clone(),
        user_code: user_code.clone(),
        expires: state.clock.now_seconds() + LIFETIME,
        approved_by: None,
        approved_at_ms: 0,
    };
    flows::add_device(&state, &device_code, &grant).await?;
    Ok(Json(DeviceCodeResponse {
        message: format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
        ),
        user_code,
        device_code,
        verification_uri,
        expires_in: LIFETIME,
        interval: 1,
    }))
}

/// Eight letters, drawn without modulo bias.
fn user_code() -> Option<String> {
    let mut code = String::with_capacity(8);
    let limit = 256 - 256 % USER_CODE_ALPHABET.len();
    while code.len() < 8 {
        let mut byte = [0u8; 1];
        aws_lc_rs::rand::fill(&mut byte).ok()?;
        if usize::from(byte[0]) < limit {
            code.push(char::from(USER_CODE_ALPHABET[usize::from(byte[0]) % USER_CODE_ALPHABET.len()]));
        }
    }
    Some(code)
}

const CODE_FIELD: &str = "<label>Code <input name=\"user_code\" autocomplete=\"one-time-code\"></label>";

/// `GET /devicelogin`: the verification page.
pub async fn verification_page() -> Response {
    pages::sign_in_form("Sign in to a device", "/devicelogin", &[], CODE_FIELD, None)
}

/// `POST /devicelogin`: the user's code and credentials.
pub async fn verify(
    State(state): State<Arc<AppState>>,
    Extension(connection): Extension<ConnectionInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let retry =
        |message: &str| pages::sign_in_form("Sign in to a device", "/devicelogin", &[], CODE_FIELD, Some(message));
    let Ok(form) = read_form(&body) else { return retry(pages::REPEATED_FIELD) };
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    if !pages::is_genuine(&headers, &form, state.endpoints.authority_host()) {
        return retry(pages::NOT_GENUINE);
    }
    let directory = state.directory();
    let user_code = field("user_code");
    let pending = match flows::device_tenant(&state, user_code.trim()).await {
        Ok(pending) => pending,
        Err(failure) => return retry(failure.message()),
    };
    let tenant = match pending {
        Some(Some(tenant_id)) => directory.tenants().iter().find(|t| t.id == tenant_id),
        // Asked for at `organizations`: the user's own tenant, from the user name's domain.
        Some(None) => match Authority::AnyOrganization.tenant_of_user(&directory, &field("username")) {
            Ok(tenant) => Some(tenant),
            Err(failure) => return retry(failure.message()),
        },
        None => None,
    };
    let Some(tenant) = tenant else {
        return retry("That code is not valid or has expired.");
    };
    let signed_in =
        users::check_password(&state, &directory, tenant, &field("username"), field("password"), connection.client)
            .await;
    let approved = match signed_in {
        Ok(user) => flows::approve_device(&state, user_code.trim(), tenant.id, user.object_id).await,
        Err(failure) => Err(failure),
    };
    match approved {
        Ok(true) => pages::message(
            StatusCode::OK,
            "You are signed in",
            "You have signed in to the application on your device. You may now close this window.",
        ),
        Ok(false) => retry("That code is not valid or has expired."),
        Err(failure) => retry(failure.message()),
    }
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`: tokens once the user has signed in, in the
/// user's tenant.
pub async fn poll(
    state: &AppState,
    directory: &Directory,
    authority: Authority<'_>,
    client_id: Uuid,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthFailure> {
    let device_code = form
        .get("device_code")
        .or_else(|| form.get("code"))
        .ok_or_else(|| OAuthFailure::missing_parameter("device_code"))?;
    let grant = flows::poll_device(state, device_code).await?.ok_or_else(OAuthFailure::expired_device_code)?;
    if grant.client_id != client_id {
        return Err(OAuthFailure::grant_mismatch("the device code was issued to another client or tenant"));
    }
    let tenant = grant.tenant_id.map(|id| authority.admit_grant(directory, id, client_id)).transpose()?;
    let user_id = grant.approved_by.ok_or_else(OAuthFailure::authorization_pending)?;
    // An approved code always has its tenant: the approving user's.
    let tenant = tenant.ok_or_else(OAuthFailure::expired_device_code)?;
    let user = users::granted_user(directory, user_id, grant.approved_at_ms)?;
    let signed_in =
        SignedIn { tenant, user, client_id, scope: grant.scope, nonce: None, signed_in_at_ms: grant.approved_at_ms };
    users::issue(state, directory, signed_in).await
}

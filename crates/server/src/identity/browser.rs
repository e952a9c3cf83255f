//! The authorization-code flow with PKCE: the browser signs in on the authorize page, the client receives a
//! code at its loopback redirect URI (by `query` or `form_post`) and redeems it with the PKCE verifier. The
//! ID token carries the request's `nonce`.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::digest;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use strongroom_core::directory::{Directory, Tenant};
use strongroom_core::{credential, redirect};
use uuid::Uuid;

use super::error::OAuthFailure;
use super::flows::{self, CodeGrant};
use super::mint::{self, now_seconds};
use super::pages;
use super::token::requested_resource;
use super::users::{self, SignedIn};
use crate::state::AppState;
use crate::vault::ConnectionInfo;

/// How long an authorization code lives, seconds.
const CODE_LIFETIME: i64 = 600;
/// Parameters of the sign-in request that the form carries through.
const CARRIED: &[&str] = &[
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "response_mode",
    "code_challenge",
    "code_challenge_method",
    "nonce",
];

/// A checked sign-in request.
struct Request {
    client_id: Uuid,
    redirect_uri: String,
}

/// Checks what can be checked before anyone signs in. A bad request gets an error page (see
/// [`refusal_page`]), never a redirect to a URI that was not vetted.
fn check(
    state: &AppState,
    directory: &Directory,
    tenant: &Tenant,
    params: &HashMap<String, String>,
) -> Result<Request, String> {
    let refuse = Err;
    let client_id = params.get("client_id").cloned().unwrap_or_default();
    let Some(application) = Uuid::parse_str(&client_id).ok().and_then(|id| directory.application(tenant.id, id)) else {
        return refuse(OAuthFailure::unknown_client(&client_id, &tenant.name).message().to_owned());
    };
    if params.get("response_type").map(String::as_str) != Some("code") {
        return refuse("Only response_type=code is supported.".to_owned());
    }
    let redirect_uri = params.get("redirect_uri").cloned().unwrap_or_default();
    let owner = directory.credential_owner(application.object_id);
    let registered = directory.application_credentials(owner).map_or(&[][..], |c| c.redirect_uris.as_slice());
    if !redirect::is_allowed(registered, &redirect_uri) {
        return refuse(format!(
            "AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
        ));
    }
    let scope = params.get("scope").cloned().unwrap_or_default();
    let resource_known = requested_resource(&scope).and_then(|resource| mint::audience_for(state, &resource)).is_some();
    if !resource_known {
        return refuse(OAuthFailure::invalid_scope(&scope).message().to_owned());
    }
    Ok(Request { client_id: application.client_id.unwrap_or_default(), redirect_uri })
}

fn refusal_page(message: &str) -> Response {
    pages::message(StatusCode::BAD_REQUEST, "Sign-in failed", message)
}

fn carried(params: &HashMap<String, String>) -> Vec<(String, String)> {
    CARRIED.iter().filter_map(|name| params.get(*name).map(|value| ((*name).to_owned(), value.clone()))).collect()
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: the sign-in page.
pub async fn sign_in_page(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let directory = state.directory();
    let Some(tenant) = directory.tenant(&tenant) else {
        return pages::message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            OAuthFailure::tenant_not_found(&tenant).message(),
        );
    };
    if let Err(message) = check(&state, &directory, tenant, &params) {
        return refusal_page(&message);
    }
    pages::sign_in_form("Sign in", "", &carried(&params), "", None)
}

/// `POST /{tenant}/oauth2/v2.0/authorize`: the user's credentials; on success, the code goes to the client.
pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Extension(connection): Extension<ConnectionInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    if !pages::is_genuine(&headers, params.get("strongroom_form")) {
        return pages::sign_in_form("Sign in", "", &carried(&params), "", Some(pages::NOT_GENUINE));
    }
    let directory = state.directory();
    let Some(tenant) = directory.tenant(&tenant) else {
        return pages::message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            OAuthFailure::tenant_not_found(&tenant).message(),
        );
    };
    let request = match check(&state, &directory, tenant, &params) {
        Ok(request) => request,
        Err(message) => return refusal_page(&message),
    };
    let field = |name: &str| params.get(name).cloned().unwrap_or_default();
    let user = match users::check_password(
        &state,
        &directory,
        tenant,
        &field("username"),
        field("password"),
        connection.client,
    )
    .await
    {
        Ok(user) => user,
        Err(failure) => return pages::sign_in_form("Sign in", "", &carried(&params), "", Some(failure.message())),
    };
    let Ok(code) = credential::generate_client_secret() else {
        return pages::message(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", "The code could not be created.");
    };
    let challenge = params.get("code_challenge").filter(|c| !c.is_empty()).map(|challenge| {
        (challenge.clone(), params.get("code_challenge_method").cloned().unwrap_or_else(|| "plain".to_owned()))
    });
    let grant = CodeGrant {
        tenant_id: tenant.id,
        client_id: request.client_id,
        redirect_uri: request.redirect_uri.clone(),
        scope: field("scope"),
        nonce: params.get("nonce").cloned(),
        code_challenge: challenge,
        user_id: user.object_id,
        expires: now_seconds() + CODE_LIFETIME,
    };
    if let Err(failure) = flows::add_code(state.store.as_ref(), &code, &grant).await {
        return pages::sign_in_form("Sign in", "", &carried(&params), "", Some(failure.message()));
    }
    let state_param = field("state");
    if params.get("response_mode").map(String::as_str) == Some("form_post") {
        return pages::form_post(&request.redirect_uri, &[("code", &code), ("state", &state_param)]);
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("code", &code).append_pair("state", &state_param);
    let separator = if request.redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{}{separator}{}", request.redirect_uri, query.finish());
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `grant_type=authorization_code`: the code, once, with its PKCE verifier.
pub async fn redeem(
    state: &AppState,
    directory: &Directory,
    tenant: &Tenant,
    client_id: Uuid,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthFailure> {
    let code = form.get("code").ok_or_else(|| OAuthFailure::missing_parameter("code"))?;
    let grant = flows::take_code(state.store.as_ref(), code).await?.ok_or_else(OAuthFailure::expired_grant)?;
    if grant.client_id != client_id || grant.tenant_id != tenant.id {
        return Err(OAuthFailure::grant_mismatch("the code was issued to another client or tenant"));
    }
    if form.get("redirect_uri").is_some_and(|uri| uri != &grant.redirect_uri) {
        return Err(OAuthFailure::grant_mismatch("the redirect URI differs from the sign-in request's"));
    }
    if let Some((challenge, method)) = &grant.code_challenge {
        let verifier = form.get("code_verifier").ok_or_else(|| OAuthFailure::missing_parameter("code_verifier"))?;
        let computed = match method.as_str() {
            "S256" => URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes())),
            _ => verifier.clone(),
        };
        if &computed != challenge {
            return Err(OAuthFailure::grant_mismatch("the PKCE code verifier does not match the challenge"));
        }
    }
    let user = users::active_user(directory, grant.user_id)?;
    let scope = form.get("scope").cloned().unwrap_or(grant.scope);
    users::issue(state, directory, SignedIn { tenant, user, client_id, scope, nonce: grant.nonce }).await
}

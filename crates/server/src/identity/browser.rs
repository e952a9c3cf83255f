//! The authorization-code flow: the browser signs in on the authorize page, the client receives a code at a
//! redirect URI it registered (or, for a public client that registered none, its loopback listener), by
//! `query` or `form_post`, and redeems it. Public clients must use PKCE with S256; confidential clients
//! authenticate at redemption (see [`super::token`]). The ID token carries the request's `nonce`.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use strongroom_core::directory::{ClientApplication, Directory};
use strongroom_core::first_party::FirstPartyClient;
use strongroom_core::{credential, redirect};
use url::Url;
use uuid::Uuid;

use super::authority::Authority;
use super::error::OAuthFailure;
use super::flows::{self, CodeGrant};
use super::mint;
use super::pages;
use super::token::{read_form, user_resource};
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
    /// The redirect URI as the request spelt it: redemption must repeat it.
    redirect_uri: String,
    /// Where the browser goes: the redirect URI as a browser parses it.
    destination: Url,
    /// The PKCE challenge (S256 only).
    code_challenge: Option<String>,
}

/// PKCE: a public client must send an S256 challenge (`plain` would hand the verifier to whoever sees the
/// authorize URL); a confidential client may. RFC 7636 §4.2: 43 to 128 unreserved characters.
fn code_challenge(params: &HashMap<String, String>, public_client: bool) -> Result<Option<String>, String> {
    let challenge = params.get("code_challenge").filter(|c| !c.is_empty());
    let Some(challenge) = challenge else {
        return match public_client {
            true => Err("AADSTS9002325: Proof Key for Code Exchange is required: this public client must send a code_challenge with code_challenge_method=S256.".to_owned()),
            false => Ok(None),
        };
    };
    if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err("The code_challenge_method must be S256: plain challenges are not accepted.".to_owned());
    }
    let well_formed = (43..=128).contains(&challenge.len())
        && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return Err("AADSTS501491: Invalid size of Code_Challenge parameter.".to_owned());
    }
    Ok(Some(challenge.clone()))
}

/// Checks what can be checked before anyone signs in. A bad request gets an error page (see
/// [`refusal_page`]), never a redirect to a URI that was not vetted.
fn check(
    state: &AppState,
    directory: &Directory,
    authority: Authority<'_>,
    params: &HashMap<String, String>,
) -> Result<Request, String> {
    let refuse = Err;
    let client_id = params.get("client_id").cloned().unwrap_or_default();
    let client = match authority.client(directory, &client_id) {
        Ok(client) => client,
        Err(failure) => return refuse(failure.message().to_owned()),
    };
    if params.get("response_type").map(String::as_str) != Some("code") {
        return refuse("Only response_type=code is supported.".to_owned());
    }
    let redirect_uri = params.get("redirect_uri").cloned().unwrap_or_default();
    // A first-party client served by this server (the portal) has one redirect URI: its path on the login origin.
    let own_redirect;
    let registered = match client {
        ClientApplication::FirstParty(FirstPartyClient { redirect_path: Some(path), .. }) => {
            own_redirect = [format!("{}{path}", state.endpoints.authority_host())];
            &own_redirect[..]
        }
        _ => directory.redirect_uris(client),
    };
    let public_client = !directory.is_confidential(client);
    let Some(destination) = redirect::resolve(registered, &redirect_uri, public_client) else {
        return refuse(format!(
            "AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
        ));
    };
    let code_challenge = code_challenge(params, public_client)?;
    let scope = params.get("scope").cloned().unwrap_or_default();
    let resource_known = user_resource(&scope).and_then(|resource| mint::audience_for(state, &resource)).is_some();
    if !resource_known {
        return refuse(OAuthFailure::invalid_scope(&scope).message().to_owned());
    }
    Ok(Request { client_id: client.client_id(), redirect_uri, destination, code_challenge })
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
    let authority = match Authority::parse(&directory, &tenant) {
        Ok(authority) => authority,
        Err(failure) => return pages::message(StatusCode::BAD_REQUEST, "Sign-in failed", failure.message()),
    };
    if let Err(message) = check(&state, &directory, authority, &params) {
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
    let Ok(params) = read_form(&body) else { return refusal_page(pages::REPEATED_FIELD) };
    if !pages::is_genuine(&headers, &params, state.endpoints.authority_host()) {
        return pages::sign_in_form("Sign in", "", &carried(&params), "", Some(pages::NOT_GENUINE));
    }
    let directory = state.directory();
    let authority = match Authority::parse(&directory, &tenant) {
        Ok(authority) => authority,
        Err(failure) => return pages::message(StatusCode::BAD_REQUEST, "Sign-in failed", failure.message()),
    };
    let request = match check(&state, &directory, authority, &params) {
        Ok(request) => request,
        Err(message) => return refusal_page(&message),
    };
    let field = |name: &str| params.get(name).cloned().unwrap_or_default();
    // At a multi-tenant authority the user's own tenant, from the user name's domain.
    let tenant = match authority.tenant_of_user(&directory, &field("username")) {
        Ok(tenant) => tenant,
        Err(failure) => return pages::sign_in_form("Sign in", "", &carried(&params), "", Some(failure.message())),
    };
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
    let grant = CodeGrant {
        tenant_id: tenant.id,
        client_id: request.client_id,
        redirect_uri: request.redirect_uri,
        scope: field("scope"),
        nonce: params.get("nonce").cloned(),
        code_challenge: request.code_challenge.map(|challenge| (challenge, "S256".to_owned())),
        user_id: user.object_id,
        expires: state.clock.now_seconds() + CODE_LIFETIME,
        signed_in_at_ms: state.clock.now_millis(),
    };
    if let Err(failure) = flows::add_code(&state, &code, &grant).await {
        return pages::sign_in_form("Sign in", "", &carried(&params), "", Some(failure.message()));
    }
    let state_param = field("state");
    let mut destination = request.destination;
    if params.get("response_mode").map(String::as_str) == Some("form_post") {
        return pages::form_post(destination.as_str(), &[("code", &code), ("state", &state_param)]);
    }
    destination.query_pairs_mut().append_pair("code", &code).append_pair("state", &state_param);
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(destination.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `grant_type=authorization_code`: the code, once, by the client it was issued to, naming the redirect URI
/// it was sent to, with the PKCE verifier of its challenge (which a public client's code always has). A
/// confidential client has proven itself before this (see [`super::token`]).
pub async fn redeem(
    state: &AppState,
    directory: &Directory,
    authority: Authority<'_>,
    client_id: Uuid,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthFailure> {
    let code = form.get("code").ok_or_else(|| OAuthFailure::missing_parameter("code"))?;
    let redirect_uri = form.get("redirect_uri").ok_or_else(|| OAuthFailure::missing_parameter("redirect_uri"))?;
    let grant = flows::take_code(state, code).await?.ok_or_else(OAuthFailure::expired_grant)?;
    if grant.client_id != client_id {
        return Err(OAuthFailure::grant_mismatch("the code was issued to another client or tenant"));
    }
    let tenant = authority.admit_grant(directory, grant.tenant_id, client_id)?;
    // A client that is gone counts as public: its code must carry the PKCE challenge.
    let public_client =
        !directory.client_application(tenant.id, client_id).is_some_and(|c| directory.is_confidential(c));
    if redirect_uri != &grant.redirect_uri {
        return Err(OAuthFailure::grant_mismatch("the redirect URI differs from the sign-in request's"));
    }
    match &grant.code_challenge {
        Some((challenge, method)) => {
            let verifier = form.get("code_verifier").ok_or_else(|| OAuthFailure::missing_parameter("code_verifier"))?;
            let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
            let matches =
                method == "S256" && verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok();
            if !matches {
                return Err(OAuthFailure::grant_mismatch("the PKCE code verifier does not match the challenge"));
            }
        }
        None if public_client => {
            return Err(OAuthFailure::grant_mismatch("a public client's code needs its PKCE challenge"));
        }
        None => {}
    }
    let user = users::granted_user(directory, grant.user_id, grant.signed_in_at_ms)?;
    let scope = form.get("scope").cloned().unwrap_or(grant.scope);
    let signed_in_at_ms = grant.signed_in_at_ms;
    users::issue(state, directory, SignedIn { tenant, user, client_id, scope, nonce: grant.nonce, signed_in_at_ms })
        .await
}

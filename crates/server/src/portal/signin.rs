//! Signing in to the portal and out of it: authorization code with PKCE at this server's own authorize page,
//! as the portal's first-party client; the code is redeemed at the token endpoint, and the tokens stay in
//! the session.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use strongroom_core::first_party::PORTAL;
use uuid::Uuid;

use super::backend::Backend;
use super::session::{self, SESSION_COOKIE, SIGN_IN_COOKIE, Session, SignedIn};
use super::{Form, failure, html};
use crate::identity::users;
use crate::state::AppState;

/// What the portal reads of the ID token it was handed by the token endpoint itself.
#[derive(Deserialize)]
struct IdClaims {
    tid: Uuid,
    oid: Uuid,
    #[serde(default)]
    preferred_username: String,
    #[serde(default)]
    nonce: String,
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}{}", state.endpoints.authority_host(), PORTAL.redirect_path.unwrap_or_default())
}

/// The page of a browser with no session, answered with `status`.
pub fn landing(status: StatusCode) -> Response {
    let body = maud::html! {
        p { "Sign in with your work account to see the vaults you hold a role in." }
        p { a.button href="/portal/signin" { "Sign in" } }
    };
    html::respond(status, html::page("Strongroom portal", None, None, body))
}

/// `GET /portal/signin`: to the authorize page, with a PKCE challenge, a state and a nonce kept for the return.
pub fn start(state: &AppState) -> Response {
    let Some((cookie, pending)) = state.portal.begin_sign_in(state.clock.now_seconds()) else {
        return failure(StatusCode::INTERNAL_SERVER_ERROR, "The sign-in could not be started.");
    };
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, pending.verifier.as_bytes()));
    let scope = format!("{}/.default openid profile offline_access", state.endpoints.management_resource());
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &PORTAL.client_id.to_string())
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect_uri(state))
        .append_pair("scope", &scope)
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let location = format!("{}/organizations/oauth2/v2.0/authorize?{query}", state.endpoints.authority_host());
    let mut response = html::redirect(&location);
    if let Some(cookie) = session::set_cookie(SIGN_IN_COOKIE, Some(&cookie)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /portal/callback`: the code comes back; redeemed, it opens the session.
pub async fn finish(backend: &Backend<'_>, headers: &HeaderMap, query: &Form) -> Response {
    let state = backend.state;
    let now = state.clock.now_seconds();
    let pending = session::cookie(headers, SIGN_IN_COOKIE).and_then(|c| state.portal.finish_sign_in(c, now));
    let returned_state = query.get("state").map_or("", String::as_str);
    let Some(pending) =
        pending.filter(|p| verify_slices_are_equal(p.state.as_bytes(), returned_state.as_bytes()).is_ok())
    else {
        return failure(StatusCode::BAD_REQUEST, "This sign-in has expired or was started elsewhere. Sign in again.");
    };
    let code = query.get("code").map_or("", String::as_str);
    let redirect = redirect_uri(state);
    let scope = format!("{}/.default offline_access", state.endpoints.management_resource());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", pending.verifier.as_str()),
        ("scope", scope.as_str()),
    ];
    let answer = match backend.token("organizations", &form).await {
        Ok(answer) => answer,
        Err(refusal) => return failure(StatusCode::BAD_REQUEST, &refusal.message),
    };
    // The ID token came straight from the token endpoint, inside this server: its signature needs no check
    // (OpenID Connect Core §3.1.3.7), its nonce does.
    let claims = answer
        .id_token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|payload| serde_json::from_slice::<IdClaims>(&payload).ok())
        .filter(|claims| verify_slices_are_equal(claims.nonce.as_bytes(), pending.nonce.as_bytes()).is_ok());
    let Some(claims) = claims else {
        return failure(StatusCode::BAD_REQUEST, "The sign-in's ID token did not match this sign-in.");
    };
    let signed_in = SignedIn {
        tenant_id: claims.tid,
        user_id: claims.oid,
        user_name: claims.preferred_username,
        refresh_token: answer.refresh_token,
        access: (state.endpoints.management_resource().to_owned(), answer.access_token, now + answer.expires_in - 120),
    };
    // A session the browser already had ends: a new sign-in replaces it.
    if let Some(old) = session::cookie(headers, SESSION_COOKIE).and_then(|c| state.portal.close(c)) {
        end(state, &old).await;
    }
    let Some(cookie) = state.portal.open(signed_in, now, state.clock.now_millis()) else {
        return failure(StatusCode::INTERNAL_SERVER_ERROR, "The session could not be opened.");
    };
    let mut response = html::redirect("/portal/");
    let cookies = [session::set_cookie(SESSION_COOKIE, Some(&cookie)), session::set_cookie(SIGN_IN_COOKIE, None)];
    for set in cookies.into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, set);
    }
    response
}

/// Ends `session` (already out of the store) and uses its refresh token up. The tokens' lock is held
/// throughout, so that no refresh under way can leave a newer refresh token behind.
pub async fn end(state: &AppState, session: &Session) {
    let tokens = session.tokens.lock().await;
    session.end();
    users::revoke_refresh_token(state, &tokens.refresh_token).await;
}

/// `POST /portal/signout`: the session ends here and its refresh token can never be redeemed again.
pub async fn sign_out(state: &AppState, headers: &HeaderMap) -> Response {
    if let Some(session) = session::cookie(headers, SESSION_COOKIE).and_then(|c| state.portal.close(c)) {
        end(state, &session).await;
    }
    let body = maud::html! {
        p { "Your session has ended, and its tokens can no longer be used." }
        p { a.button href="/portal/signin" { "Sign in" } }
    };
    let mut response = html::respond(StatusCode::OK, html::page("You are signed out", None, None, body));
    if let Some(clear) = session::set_cookie(SESSION_COOKIE, None) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

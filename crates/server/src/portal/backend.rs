//! The portal's calls. Every action a person takes is a request to a vault's data plane, the management API or
//! the token service, made with the person's own token and from the person's own address (the browser's
//! connection), and served by the same pipeline as an SDK's: the firewall, token validation, authorization and
//! the audit log apply unchanged. Nothing here decides access.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use serde::Deserialize;
use serde_json::Value;
use strongroom_core::directory::VaultKind;
use strongroom_core::first_party::PORTAL;
use tower::ServiceExt;

use super::session::Session;
use crate::management;
use crate::state::AppState;
use crate::vault::{self, ConnectionInfo};

/// Largest answer read from a call (a page of a list, a certificate).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// An access token is renewed this long before it expires, seconds.
const RENEW_BEFORE_SECONDS: i64 = 120;
/// The `User-Agent` the portal's calls carry, which their audit records show.
const USER_AGENT: &str = "strongroom-portal";

/// Where a call goes.
#[derive(Debug, Clone, Copy)]
pub enum Service<'a> {
    /// The data plane of the vault of this name.
    Vault(&'a str),
    /// The Resource-Manager-shaped management API.
    Management,
    /// The Graph-shaped directory.
    Graph,
}

/// A call's refusal, in the words of the service that refused it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The answer's status.
    pub status: StatusCode,
    /// The most specific error code (an inner error's, when there is one).
    pub code: String,
    /// What the person is told.
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_owned(), message: message.into() }
    }

    /// The refusal an error answer of Key Vault, Resource Manager, Graph or the token service states.
    fn from_answer(status: StatusCode, answer: &Value) -> Self {
        let text = |pointer: &str| answer.pointer(pointer).and_then(Value::as_str);
        let code = text("/error/innererror/code")
            .or_else(|| text("/error/code"))
            .or_else(|| text("/error"))
            .unwrap_or("Unknown")
            .to_owned();
        let stated = text("/error/message").or_else(|| text("/error_description")).unwrap_or("The request failed.");
        // The portal's own words for an RBAC refusal, as Azure's portal says it, before the service's details.
        let message = match code.as_str() {
            "ForbiddenByRbac" => format!(
                "The operation is not allowed by RBAC. If role assignments were recently changed, please wait several \
                 minutes for role assignments to become effective. {stated}"
            ),
            _ => stated.to_owned(),
        };
        Self { status, code, message }
    }
}

/// A token endpoint's answer to the portal.
#[derive(Deserialize)]
pub struct TokenAnswer {
    /// The access token.
    pub access_token: String,
    /// The rotated refresh token.
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// The ID token (sign-in only).
    #[serde(default)]
    pub id_token: String,
}

/// The pipelines a request of the browser's connection can reach.
pub struct Backend<'a> {
    /// Server state.
    pub state: &'a Arc<AppState>,
    /// The browser's connection: calls come from its address.
    pub connection: &'a ConnectionInfo,
    /// The token service.
    pub identity: &'a Router,
}

impl Backend<'_> {
    /// Asks the token endpoint of `tenant` (an id, or `organizations`) with `form`, as the portal client.
    pub async fn token(&self, tenant: &str, form: &[(&str, &str)]) -> Result<TokenAnswer, Refusal> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &PORTAL.client_id.to_string())
            .extend_pairs(form)
            .finish();
        let uri = format!("{}/{tenant}/oauth2/v2.0/token", self.state.endpoints.authority_host());
        let mut request = request(Method::POST, &uri, None, Body::from(body))?;
        request
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        request.extensions_mut().insert(self.connection.clone());
        let response = match self.identity.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (status, answer) = read(response).await?;
        if !status.is_success() {
            let refusal = Refusal::from_answer(status, &answer);
            // A grant the token service no longer honours (revoked, expired, its user disabled) ends the session.
            if refusal.code == "invalid_grant" {
                let message =
                    format!("Your sign-in is no longer valid: sign out and sign in again. {}", refusal.message);
                return Err(Refusal { status: StatusCode::UNAUTHORIZED, message, ..refusal });
            }
            return Err(refusal);
        }
        serde_json::from_value(answer).map_err(|_| {
            Refusal::new(StatusCode::BAD_GATEWAY, "Internal", "The token service's answer was unreadable.")
        })
    }

    /// Calls `service` at `path` (with its query) as the session's person; the answer's JSON (`Null` when it
    /// has no body), or the refusal.
    pub async fn call(
        &self,
        session: &Session,
        service: Service<'_>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        let endpoints = &self.state.endpoints;
        let (resource, base) = match service {
            Service::Vault(name) => (endpoints.vault_resource(), endpoints.vault_url(name)),
            Service::Management => (endpoints.management_resource(), endpoints.management_resource().to_owned()),
            Service::Graph => (endpoints.graph_resource(), endpoints.graph_resource().to_owned()),
        };
        let token = self.access_token(session, resource).await?;
        let uri = format!("{base}{path}");
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let mut request = request(method, &uri, Some(&token), body)?;
        request.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let state = Arc::clone(self.state);
        let response = match service {
            Service::Vault(name) => {
                let host = uri.trim_start_matches("https://").split('/').next().unwrap_or_default().to_owned();
                let (name, kind) = (name.to_ascii_lowercase(), VaultKind::Vault);
                vault::handle(state, self.connection.clone(), &host, &name, kind, request).await
            }
            Service::Management | Service::Graph => {
                Box::pin(management::handle(state, self.connection.client, request)).await
            }
        };
        let (status, answer) = read(response).await?;
        match status.is_success() {
            true => Ok(answer),
            false => Err(Refusal::from_answer(status, &answer)),
        }
    }

    /// The session's access token for `resource`, renewed with its refresh token when it is about to expire.
    async fn access_token(&self, session: &Session, resource: &str) -> Result<String, Refusal> {
        let now = self.state.clock.now_seconds();
        let mut tokens = session.tokens.lock().await;
        if session.has_ended() {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "SessionEnded",
                "Your session has ended. Sign in again.",
            ));
        }
        if let Some((token, _)) = tokens.access.get(resource).filter(|(_, until)| *until > now) {
            return Ok(token.clone());
        }
        let scope = format!("{resource}/.default offline_access");
        let refresh_token = tokens.refresh_token.clone();
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str()), ("scope", &scope)];
        let answer = match self.token(&session.tenant_id.to_string(), &form).await {
            Ok(answer) => answer,
            Err(refusal) => {
                // A grant no longer honoured ends the session: its next request signs in again.
                if refusal.status == StatusCode::UNAUTHORIZED {
                    session.end();
                }
                return Err(refusal);
            }
        };
        tokens.refresh_token = answer.refresh_token;
        let until = now + answer.expires_in - RENEW_BEFORE_SECONDS;
        tokens.access.insert(resource.to_owned(), (answer.access_token.clone(), until));
        Ok(answer.access_token)
    }
}

fn request(method: Method, uri: &str, token: Option<&str>, body: Body) -> Result<Request<Body>, Refusal> {
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri
        .parse()
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "BadParameter", "The request's address is not valid."))?;
    let host = request.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    let headers = request.headers_mut();
    if let Some(host) = host {
        headers.insert(header::HOST, host);
    }
    headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    if let Some(value) = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(request)
}

async fn read(response: axum::response::Response) -> Result<(StatusCode, Value), Refusal> {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .map_err(|_| Refusal::new(StatusCode::BAD_GATEWAY, "Internal", "The answer was too large to show."))?;
    if bytes.is_empty() {
        return Ok((status, Value::Null));
    }
    let answer =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Ok((status, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_services_words_and_the_portals_for_rbac() {
        let rbac = serde_json::json!({"error": {"code": "Forbidden", "message": "Caller is not authorized.",
            "innererror": {"code": "ForbiddenByRbac"}}});
        let refusal = Refusal::from_answer(StatusCode::FORBIDDEN, &rbac);
        assert_eq!(refusal.code, "ForbiddenByRbac");
        assert!(refusal.message.starts_with("The operation is not allowed by RBAC."));
        assert!(refusal.message.ends_with("Caller is not authorized."));
        let firewall = serde_json::json!({"error": {"code": "Forbidden", "message": "Client address is not authorized.",
            "innererror": {"code": "ForbiddenByFirewall"}}});
        assert_eq!(Refusal::from_answer(StatusCode::FORBIDDEN, &firewall).message, "Client address is not authorized.");
        let oauth = serde_json::json!({"error": "invalid_grant", "error_description": "AADSTS70008: expired."});
        let refusal = Refusal::from_answer(StatusCode::BAD_REQUEST, &oauth);
        assert_eq!((refusal.code.as_str(), refusal.message.as_str()), ("invalid_grant", "AADSTS70008: expired."));
    }
}

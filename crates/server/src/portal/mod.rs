//! The portal: the web console where a person signs in with a user name and password and runs the vaults
//! they hold a role in, served at `/portal/` on the login origin.
//!
//! It has no side door. It is a first-party public client of this server's own authority
//! ([`strongroom_core::first_party::PORTAL`]): people sign in on the authorize page, with its lock-out, and the
//! portal redeems the code with PKCE ([`signin`]). The tokens stay in the server-side session ([`session`]);
//! the browser holds a random id in an `HttpOnly` cookie. Every action is a call, with the person's token and
//! from the person's address, to the same vault, management or token pipeline an SDK reaches ([`backend`]),
//! so the firewall, RBAC or access policies, and the audit log decide and record it. Every form carries the
//! session's anti-forgery token, and a post without it, or from another origin, is refused.
//!
//! Pages are server-rendered HTML ([`html`]) that work without script; the one small script only copies a
//! revealed value to the clipboard.

mod assets;
pub mod backend;
mod html;
mod pages;
pub mod session;
mod signin;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderName, Method, Request, StatusCode, header};
use axum::response::Response;
use maud::html;
use serde_json::Value;
use strongroom_core::directory::Vault;

use self::backend::{Backend, Refusal, Service};
pub use self::session::Sessions;
use self::session::{SESSION_COOKIE, Session};
use crate::state::AppState;
use crate::vault::ConnectionInfo;

/// Largest form read.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// Whether `path` is the portal's.
pub fn serves(path: &str) -> bool {
    path == "/portal" || path.starts_with("/portal/")
}

/// A form's fields; a field sent twice is refused.
pub type Form = HashMap<String, String>;

/// A signed-in person's request to a page.
pub struct Visit<'a> {
    /// Server state.
    pub state: &'a Arc<AppState>,
    /// The person's session.
    pub session: Arc<Session>,
    /// The query's fields.
    pub query: Form,
    /// The posted form, for a `POST`.
    pub form: Option<Form>,
    backend: Backend<'a>,
}

impl Visit<'_> {
    /// Calls `service` as the person.
    pub async fn call(
        &self,
        service: Service<'_>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        self.backend.call(&self.session, service, method, path, body).await
    }

    /// A field of the posted form, or of the query for a `GET`; empty when absent.
    pub fn field(&self, name: &str) -> &str {
        self.form.as_ref().unwrap_or(&self.query).get(name).map_or("", String::as_str)
    }

    /// The vault called `name` in the person's tenant, as the directory knows it (for its Resource Manager id
    /// and permission model; what the person may do there is decided by each call). Another tenant's vault is
    /// not found, as one that does not exist.
    pub fn vault(&self, name: &str) -> Option<Vault> {
        let directory = self.state.directory();
        let vault = directory.vault(name).filter(|v| v.kind == strongroom_core::directory::VaultKind::Vault);
        vault.filter(|v| v.tenant_id == self.session.tenant_id).cloned()
    }
}

/// Serves a portal request of the browser on `connection`.
pub async fn handle(
    state: Arc<AppState>,
    connection: ConnectionInfo,
    identity: Router,
    request: Request<Body>,
) -> Response {
    let started = std::time::Instant::now();
    let mut response = serve(state, connection, identity, request).await;
    // The server's time on the page, for browsers' developer tools and the portal's performance test.
    let took = format!("total;dur={:.1}", started.elapsed().as_secs_f64() * 1000.0);
    if let Ok(took) = axum::http::HeaderValue::from_str(&took) {
        response.headers_mut().insert(HeaderName::from_static("server-timing"), took);
    }
    response
}

async fn serve(state: Arc<AppState>, connection: ConnectionInfo, identity: Router, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    // Cookies and the sign-in's redirect URI belong to the login origin: the portal is served there only.
    if !on_login_host(&state, &parts) {
        let location = format!("{}{}", state.endpoints.authority_host(), parts.uri.path());
        return match parts.method {
            Method::GET | Method::HEAD => html::redirect(&location),
            _ => failure(StatusCode::MISDIRECTED_REQUEST, "The portal is served at its own address only."),
        };
    }
    let path = parts.uri.path().trim_start_matches("/portal").trim_matches('/').to_owned();
    let segments: Vec<&str> = if path.is_empty() { vec![] } else { path.split('/').collect() };
    let query = parse_form(parts.uri.query().unwrap_or_default().as_bytes()).unwrap_or_default();
    let backend = Backend { state: &state, connection: &connection, identity: &identity };
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["static", name]) => return assets::serve(name),
        (&Method::GET, ["signin"]) => return signin::start(&state),
        (&Method::GET, ["callback"]) => return signin::finish(&backend, &parts.headers, &query).await,
        _ => {}
    }
    let now = state.clock.now_seconds();
    let cookie = session::cookie(&parts.headers, SESSION_COOKIE);
    let mut session = cookie.and_then(|c| state.portal.find(c, now));
    // A person disabled, or whose password was changed or reset, since signing in: the session ends at once,
    // not when its access tokens expire.
    if let Some(found) = session.take_if(|s| !still_honoured(&state, s)) {
        state.portal.close(cookie.unwrap_or_default());
        signin::end(&state, &found).await;
    }
    let Some(session) = session else {
        return match parts.method {
            // A page that needs a session says so; the portal's front page just offers to sign in.
            Method::GET | Method::HEAD if segments.is_empty() => signin::landing(StatusCode::OK),
            Method::GET | Method::HEAD => signin::landing(StatusCode::UNAUTHORIZED),
            _ => failure(StatusCode::FORBIDDEN, "Your session has ended. Sign in again."),
        };
    };
    let form = match parts.method {
        Method::POST => match read_posted(&state, &parts, &session, body).await {
            Ok(form) => Some(form),
            Err(response) => return response,
        },
        Method::GET | Method::HEAD => None,
        _ => return failure(StatusCode::METHOD_NOT_ALLOWED, "The portal answers GET and POST only."),
    };
    if let (Some(_), ["signout"]) = (&form, segments.as_slice()) {
        return signin::sign_out(&state, &parts.headers).await;
    }
    let visit = Visit { state: &state, session, query, form, backend };
    pages::route(&visit, &segments).await
}

/// Whether the person of `session` may still sign in, and has had no grants revoked since signing in.
fn still_honoured(state: &AppState, session: &Session) -> bool {
    state
        .directory()
        .users
        .get(&session.user_id)
        .is_some_and(|user| user.enabled && user.honours_grant_from(session.signed_in_at_ms))
}

fn on_login_host(state: &AppState, parts: &Parts) -> bool {
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    host.eq_ignore_ascii_case(state.endpoints.login_host())
}

/// A posted form of the session's own pages: sent from this origin (by the browser's `Origin` and
/// `Sec-Fetch-Site`, when it sends them) and carrying the session's anti-forgery token.
async fn read_posted(state: &AppState, parts: &Parts, session: &Session, body: Body) -> Result<Form, Response> {
    let forged = || {
        failure(
            StatusCode::FORBIDDEN,
            "The form was not sent from this portal's own page. Reload the page and try again.",
        )
    };
    let text = |name: HeaderName| parts.headers.get(name).map(|v| v.to_str().unwrap_or_default());
    let same_site = text(HeaderName::from_static("sec-fetch-site")).is_none_or(|site| site == "same-origin");
    let same_origin = text(header::ORIGIN).is_none_or(|origin| origin == state.endpoints.authority_host());
    if !same_site || !same_origin {
        return Err(forged());
    }
    let bytes: Bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| failure(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
    let form = parse_form(&bytes).ok_or_else(|| failure(StatusCode::BAD_REQUEST, "The form sent a field twice."))?;
    match session.is_own_form(form.get("csrf").map(String::as_str)) {
        true => Ok(form),
        false => Err(forged()),
    }
}

/// The fields of a URL-encoded form or query; `None` when a field comes twice.
fn parse_form(bytes: &[u8]) -> Option<Form> {
    let mut form = Form::new();
    for (name, value) in form_urlencoded::parse(bytes) {
        if form.insert(name.into_owned(), value.into_owned()).is_some() {
            return None;
        }
    }
    Some(form)
}

/// A page that says what went wrong, and nothing else.
fn failure(status: StatusCode, message: &str) -> Response {
    let body = html! { (html::alert(message)) p { a href="/portal/" { "Back to the portal" } } };
    html::respond(status, html::page("Something went wrong", None, None, body))
}

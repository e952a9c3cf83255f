//! The sign-in log: one row per token request, in the shape of Entra's sign-in logs — who asked (the claimed
//! client, the tenant, a person's sign-in name), from where, for which resource, how the client proved
//! itself, and the outcome with its AADSTS code. Never a credential or a token.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use strongroom_proto::audit::{AuditRecord, SignIn};

use crate::audit::header_text;
use crate::state::AppState;

/// Which of Entra's sign-in tables a request's row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInKind {
    /// A person (password, device code, browser, refresh token).
    User,
    /// An application for itself (client credentials).
    ServicePrincipal,
    /// A managed identity.
    ManagedIdentity,
}

/// The row of one token request, begun when it arrives and written when it is answered.
pub struct SignInLog {
    started: std::time::Instant,
    time: String,
    kind: SignInKind,
    request_id: String,
    client_request_id: Option<String>,
    caller: String,
    /// The tenant signed in to, once known.
    pub tenant: String,
    /// The client id named, once known.
    pub app_id: String,
    grant: String,
    credential: &'static str,
    user: Option<String>,
    /// The resource asked for, once read.
    pub resource: Option<String>,
}

/// Longest text taken from a request's form into a row: the fields are the client's to fill.
const MAX_FIELD: usize = 512;

impl SignInLog {
    /// The row of a token request arriving now from `caller`, with its form.
    pub fn token_request(
        state: &AppState,
        tenant: &str,
        caller: String,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Self {
        let field = |name: &str| form.get(name).map(|v| bounded(v));
        let grant = field("grant_type").unwrap_or_default();
        let kind = if grant == "client_credentials" { SignInKind::ServicePrincipal } else { SignInKind::User };
        let credential = if form.contains_key("client_assertion") {
            "clientAssertion"
        } else if form.contains_key("client_secret") || headers.contains_key("authorization") {
            "clientSecret"
        } else {
            "none"
        };
        let mut log = Self::begin(state, kind, caller, headers, grant);
        log.tenant = state.directory().tenant(tenant).map_or_else(|| bounded(tenant), |t| t.id.to_string());
        log.app_id = field("client_id").unwrap_or_default();
        log.credential = credential;
        log.user = field("username");
        log.resource = field("scope");
        log
    }

    /// The row of a managed identity's token request arriving now from `caller`.
    pub fn managed_identity_request(state: &AppState, caller: String, headers: &HeaderMap) -> Self {
        Self::begin(state, SignInKind::ManagedIdentity, caller, headers, "managed_identity".to_owned())
    }

    fn begin(state: &AppState, kind: SignInKind, caller: String, headers: &HeaderMap, grant: String) -> Self {
        Self {
            started: std::time::Instant::now(),
            time: state.clock.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            kind,
            request_id: crate::audit::request_id(),
            client_request_id: header_text(headers, "client-request-id"),
            caller,
            tenant: String::new(),
            app_id: String::new(),
            grant,
            credential: "none",
            user: None,
            resource: None,
        }
    }

    /// Writes the row of the request, answered with `status`; a failure brings its AADSTS number (or, where
    /// the endpoint has none, its error name) and its description.
    pub async fn finish(self, state: &AppState, status: StatusCode, failure: Option<(String, String)>) {
        state.metrics.grant(&self.grant, status.is_success());
        let (category, wrap): (&str, fn(Box<SignIn>) -> AuditRecord) = match self.kind {
            SignInKind::User => ("SignInLogs", AuditRecord::UserSignIn),
            SignInKind::ServicePrincipal => ("ServicePrincipalSignInLogs", AuditRecord::ServicePrincipalSignIn),
            SignInKind::ManagedIdentity => ("ManagedIdentitySignInLogs", AuditRecord::ManagedIdentitySignIn),
        };
        let person = self.kind == SignInKind::User;
        let protocol = match self.grant.as_str() {
            "password" => "ropc",
            "urn:ietf:params:oauth:grant-type:device_code" => "deviceCode",
            "authorization_code" | "refresh_token" => "oAuth2",
            _ => "none",
        };
        let (result_type, result_description) = match failure {
            Some((code, description)) => (code, Some(description)),
            None => ("0".to_owned(), None),
        };
        let row = SignIn {
            time_generated: self.time,
            operation_name: "Sign-in activity".to_owned(),
            operation_version: "1.0".to_owned(),
            category: category.to_owned(),
            result_signature: if status.is_success() { "SUCCESS" } else { "FAILURE" }.to_owned(),
            result_type,
            result_description,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            correlation_id: self.client_request_id.unwrap_or_else(|| self.request_id.clone()),
            id: self.request_id,
            ip_address: self.caller,
            tenant_id: self.tenant,
            app_id: self.app_id,
            client_credential_type: (self.kind == SignInKind::ServicePrincipal).then(|| self.credential.to_owned()),
            resource_identity: self.resource,
            authentication_protocol: person.then(|| protocol.to_owned()),
            user_principal_name: self.user.filter(|_| person),
        };
        state.audit.record(wrap(Box::new(row))).await;
    }
}

fn bounded(text: &str) -> String {
    text.chars().take(MAX_FIELD).collect()
}

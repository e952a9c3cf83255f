//! The token endpoints, `POST /{tenant}/oauth2/v2.0/token` and the legacy `/{tenant}/oauth2/token`: they read
//! the form, find the client, and dispatch on `grant_type` — client credentials here, user grants in
//! [`super::users`], [`super::device`] and [`super::browser`].
//!
//! Fields SDKs add for their own purposes (`client_info`, `claims`, `x-client-*` telemetry) are accepted and
//! ignored.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use strongroom_core::directory::Directory;
use strongroom_proto::audit::{AuditClaims, AuditIdentity, AuditRecord};
use strongroom_proto::oauth::TokenResponse;
use uuid::Uuid;

use super::client_auth::{self, Claimant};
use super::error::OAuthFailure;
use super::mint::{self, AppToken};
use super::{browser, device, users};
use crate::state::AppState;
use crate::vault::ConnectionInfo;

/// OpenID scopes that may accompany a resource scope and grant nothing by themselves.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "offline_access", "email"];

/// Which token endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/oauth2/v2.0/token`: scopes.
    V2,
    /// `/oauth2/token`: the legacy endpoint, with `resource=` and string-valued numbers.
    V1,
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    state: State<Arc<AppState>>,
    tenant: Path<String>,
    connection: Extension<ConnectionInfo>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let audit = SignInAudit::start(&state, &tenant, &connection, &uri, &form);
    let result = match form.contains_key("resource") {
        true => Err(OAuthFailure::resource_on_v2()),
        false => issue(state.clone(), tenant, connection, headers, form, Endpoint::V2).await,
    };
    audit.finish(&state, outcome(&result)).await;
    result
}

/// `POST /{tenant}/oauth2/token`: the v1 endpoint names its resource instead of a scope.
pub async fn token_v1(
    state: State<Arc<AppState>>,
    tenant: Path<String>,
    connection: Extension<ConnectionInfo>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let mut form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    if let Some(resource) = form.get("resource").cloned()
        && !form.contains_key("scope")
    {
        form.insert("scope".to_owned(), format!("{}/.default", resource.trim_end_matches('/')));
    }
    let audit = SignInAudit::start(&state, &tenant, &connection, &uri, &form);
    let result = issue(state.clone(), tenant, connection, headers, form, Endpoint::V1).await;
    audit.finish(&state, outcome(&result)).await;
    result
}

/// The status and AADSTS code of a token request's result (taken before any await: a response is not `Sync`).
fn outcome(result: &Result<Response, OAuthFailure>) -> (StatusCode, Option<String>) {
    match result {
        Ok(response) => (response.status(), None),
        Err(failure) => (failure.status(), Some(format!("AADSTS{}", failure.code()))),
    }
}

/// The sign-in log: one audit record per token request — who asked (the claimed client, the tenant), from
/// where, for which grant, and the outcome with its AADSTS code. Never a credential or a token.
struct SignInAudit {
    started: std::time::Instant,
    time: String,
    tenant: String,
    client_id: String,
    grant_type: String,
    caller: String,
    request_uri: String,
}

impl SignInAudit {
    fn start(
        state: &AppState,
        tenant: &str,
        connection: &ConnectionInfo,
        uri: &Uri,
        form: &HashMap<String, String>,
    ) -> Self {
        let field = |name: &str| form.get(name).cloned().unwrap_or_default();
        Self {
            started: std::time::Instant::now(),
            time: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            tenant: state.directory().tenant(tenant).map_or_else(|| tenant.to_owned(), |t| t.id.to_string()),
            client_id: field("client_id"),
            grant_type: field("grant_type"),
            caller: connection.client.to_string(),
            request_uri: uri.path().to_owned(),
        }
    }

    async fn finish(self, state: &AppState, (status, failure): (StatusCode, Option<String>)) {
        let request_id = crate::audit::request_id();
        state
            .audit
            .record(AuditRecord {
                time: self.time,
                resource_id: Some(format!("/tenants/{}", self.tenant)),
                operation_name: "TokenIssue".to_owned(),
                operation_version: self.grant_type,
                result_type: if status.is_success() { "Success" } else { "Failure" }.to_owned(),
                result_signature: status.canonical_reason().unwrap_or("Unknown").to_owned(),
                result_description: failure,
                duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                caller_ip_address: self.caller,
                identity: Some(AuditIdentity {
                    claim: AuditClaims { oid: String::new(), appid: self.client_id, tid: self.tenant },
                }),
                request_uri: self.request_uri,
                http_status_code: status.as_u16(),
                is_address_authorized: None,
                is_rbac_authorized: None,
                correlation_id: request_id.clone(),
                request_id,
            })
            .await;
    }
}

async fn issue(
    State(state): State<Arc<AppState>>,
    Path(tenant_in_path): Path<String>,
    Extension(connection): Extension<ConnectionInfo>,
    headers: HeaderMap,
    form: HashMap<String, String>,
    endpoint: Endpoint,
) -> Result<Response, OAuthFailure> {
    let directory = state.directory();
    let tenant =
        directory.tenant(&tenant_in_path).ok_or_else(|| OAuthFailure::tenant_not_found(&tenant_in_path))?.clone();
    let grant_type = form.get("grant_type").ok_or_else(|| OAuthFailure::missing_parameter("grant_type"))?;

    let client_id = form
        .get("client_id")
        .cloned()
        .or_else(|| client_auth::basic_credentials(&headers).map(|(id, _)| id))
        .ok_or_else(|| OAuthFailure::missing_parameter("client_id"))?;
    let application = Uuid::parse_str(&client_id)
        .ok()
        .and_then(|id| directory.application(tenant.id, id))
        .ok_or_else(|| OAuthFailure::unknown_client(&client_id, &tenant.name))?
        .clone();
    let app_id = application.client_id.unwrap_or_default();
    let address = connection.client;

    match grant_type.as_str() {
        "client_credentials" => {
            let claimant = Claimant { tenant: &tenant, application: &application, client_id: &client_id, address };
            client_credentials(&state, &directory, &claimant, &form, &headers, endpoint).await
        }
        "password" => users::password(&state, &directory, &tenant, app_id, &form, address).await,
        "refresh_token" => users::refresh(&state, &directory, &tenant, app_id, &form).await,
        "urn:ietf:params:oauth:grant-type:device_code" => {
            device::poll(&state, &directory, &tenant, app_id, &form).await
        }
        "authorization_code" => browser::redeem(&state, &directory, &tenant, app_id, &form).await,
        other => Err(OAuthFailure::unsupported_grant_type(other)),
    }
}

/// `grant_type=client_credentials`: an app-only token for the application itself.
async fn client_credentials(
    state: &AppState,
    directory: &Directory,
    claimant: &Claimant<'_>,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
    endpoint: Endpoint,
) -> Result<Response, OAuthFailure> {
    let scope = form.get("scope").ok_or_else(|| OAuthFailure::missing_parameter("scope"))?;
    let resource = requested_resource(scope).ok_or_else(|| OAuthFailure::invalid_scope(scope))?;
    let audience = mint::audience_for(state, &resource)
        .ok_or_else(|| OAuthFailure::unknown_resource(&resource, &claimant.tenant.name))?;
    let authentication = client_auth::authenticate(state, directory, claimant, form, headers).await?;
    let minted = mint::app_token(
        state,
        AppToken {
            principal: claimant.application,
            client_id: claimant.application.client_id.unwrap_or_default(),
            audience,
            authentication,
            managed_identity_resource_id: None,
        },
    )
    .ok_or_else(OAuthFailure::internal)?;
    let mut response = match endpoint {
        Endpoint::V2 => Json(TokenResponse {
            token_type: "Bearer".to_owned(),
            expires_in: minted.lifetime,
            ext_expires_in: minted.lifetime,
            access_token: minted.token,
        })
        .into_response(),
        Endpoint::V1 => {
            let expires_on = minted.issued_at + i64::try_from(minted.lifetime).unwrap_or(0);
            Json(serde_json::json!({
                "token_type": "Bearer",
                "expires_in": minted.lifetime.to_string(),
                "ext_expires_in": minted.lifetime.to_string(),
                "expires_on": expires_on.to_string(),
                "not_before": minted.issued_at.to_string(),
                "resource": resource,
                "access_token": minted.token,
            }))
            .into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The one resource of a scope list such as `https://vault.localhost:8443/.default`; OpenID scopes may come
/// along. `None` when there is not exactly one `/.default` scope.
pub fn requested_resource(scope: &str) -> Option<String> {
    let mut resources = scope.split_whitespace().filter(|s| !OIDC_SCOPES.contains(s));
    let only = resources.next()?;
    if resources.next().is_some() {
        return None;
    }
    only.strip_suffix("/.default").filter(|r| !r.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_exactly_one_default_resource() {
        assert_eq!(
            requested_resource("https://vault.localhost:8443/.default").as_deref(),
            Some("https://vault.localhost:8443")
        );
        assert_eq!(
            requested_resource("https://vault.localhost:8443/.default offline_access openid profile").as_deref(),
            Some("https://vault.localhost:8443")
        );
        assert_eq!(requested_resource("https://vault.localhost:8443/user_impersonation"), None);
        assert_eq!(requested_resource("https://a/.default https://b/.default"), None);
        assert_eq!(requested_resource("openid"), None);
        assert_eq!(requested_resource("/.default"), None);
    }
}

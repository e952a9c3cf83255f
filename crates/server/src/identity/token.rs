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
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strongroom_core::directory::{ClientApplication, Directory, Tenant};
use strongroom_core::network::ClientAddress;
use strongroom_proto::oauth::TokenResponse;
use uuid::Uuid;

use super::authority::{Authority, client_of};
use super::client_auth::{self, Claimant};
use super::error::OAuthFailure;
use super::mint::{self, AppToken};
use super::sign_in_log::SignInLog;
use super::{browser, device, users};
use crate::endpoints::AZURE_GRAPH_RESOURCE;
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
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    answer(state, tenant, connection, headers, read_form(&body), Endpoint::V2).await
}

/// `POST /{tenant}/oauth2/token`: the v1 endpoint names its resource instead of a scope.
pub async fn token_v1(
    state: State<Arc<AppState>>,
    tenant: Path<String>,
    connection: Extension<ConnectionInfo>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let mut form = read_form(&body);
    if let Ok(form) = &mut form
        && let Some(resource) = form.get("resource").cloned()
        && !form.contains_key("scope")
    {
        form.insert("scope".to_owned(), format!("{}/.default", resource.trim_end_matches('/')));
    }
    answer(state, tenant, connection, headers, form, Endpoint::V1).await
}

/// Answers a token request whose form was read as `form`, and writes its sign-in row.
async fn answer(
    state: State<Arc<AppState>>,
    tenant: Path<String>,
    connection: Extension<ConnectionInfo>,
    headers: HeaderMap,
    form: Result<HashMap<String, String>, OAuthFailure>,
    endpoint: Endpoint,
) -> Result<Response, OAuthFailure> {
    let caller = connection.client.to_string();
    let log = SignInLog::token_request(&state, &tenant, caller, &headers, form.as_ref().unwrap_or(&HashMap::new()));
    let result = match form {
        Err(failure) => Err(failure),
        Ok(form) if endpoint == Endpoint::V2 && form.contains_key("resource") => Err(OAuthFailure::resource_on_v2()),
        Ok(form) => issue(state.clone(), tenant, connection, headers, form, endpoint).await,
    };
    let (status, failure) = outcome(&result);
    log.finish(&state, status, failure).await;
    result
}

/// The status, AADSTS number and description of a token request's result (taken before any await: a
/// response is not `Sync`).
fn outcome(result: &Result<Response, OAuthFailure>) -> (StatusCode, Option<(String, String)>) {
    match result {
        Ok(response) => (response.status(), None),
        Err(failure) => {
            let description = format!("AADSTS{}: {}", failure.code(), failure.message());
            (failure.status(), Some((failure.code().to_string(), description)))
        }
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
    let authority = Authority::parse(&directory, &tenant_in_path)?;
    let grant_type = form.get("grant_type").ok_or_else(|| OAuthFailure::missing_parameter("grant_type"))?;
    let client_id = form
        .get("client_id")
        .cloned()
        .or_else(|| client_auth::basic_credentials(&headers).map(|(id, _)| id))
        .ok_or_else(|| OAuthFailure::missing_parameter("client_id"))?;
    let address = connection.client;
    let caller =
        Caller { state: &state, directory: &directory, client_id: &client_id, address, form: &form, headers: &headers };

    match grant_type.as_str() {
        "client_credentials" => {
            // An app-only token is always for one tenant's application: a multi-tenant authority names none.
            let Authority::Tenant(tenant) = authority else { return Err(OAuthFailure::no_tenant_information()) };
            let ClientApplication::Registered(application) = client_of(&directory, tenant, &client_id)? else {
                // Microsoft's first-party clients are public: they sign users in, never themselves.
                return Err(OAuthFailure::public_client_credential(&client_id));
            };
            let claimant = Claimant { tenant, application, client_id: &client_id, address };
            client_credentials(&state, &directory, &claimant, &form, &headers, endpoint).await
        }
        "password" => {
            let username = form.get("username").ok_or_else(|| OAuthFailure::missing_parameter("username"))?;
            let tenant = authority.tenant_of_user(&directory, username)?;
            let client = client_of(&directory, tenant, &client_id)?;
            caller.authenticate_confidential(tenant, client).await?;
            users::password(&state, &directory, tenant, client.client_id(), &form, address).await
        }
        grant @ ("refresh_token" | "urn:ietf:params:oauth:grant-type:device_code" | "authorization_code") => {
            // At a tenant's authority the client proves itself before its grant is touched; at a multi-tenant
            // one the grant names the tenant, and only a public client may redeem it there
            // (`Authority::admit_grant`).
            let client_uuid = match authority {
                Authority::Tenant(tenant) => {
                    let client = client_of(&directory, tenant, &client_id)?;
                    caller.authenticate_confidential(tenant, client).await?;
                    client.client_id()
                }
                Authority::AnyOrganization | Authority::Consumers => Uuid::parse_str(&client_id)
                    .map_err(|_| OAuthFailure::unknown_client(&client_id, &tenant_in_path))?,
            };
            match grant {
                "refresh_token" => users::refresh(&state, &directory, authority, client_uuid, &form).await,
                "authorization_code" => browser::redeem(&state, &directory, authority, client_uuid, &form).await,
                _ => device::poll(&state, &directory, authority, client_uuid, &form).await,
            }
        }
        other => Err(OAuthFailure::unsupported_grant_type(other)),
    }
}

/// What a user grant's client presents.
struct Caller<'a> {
    state: &'a AppState,
    directory: &'a Directory,
    client_id: &'a str,
    address: ClientAddress,
    form: &'a HashMap<String, String>,
    headers: &'a HeaderMap,
}

impl Caller<'_> {
    /// A confidential client redeeming a grant (a code, a refresh token) or signing a user in (password,
    /// device code) proves itself first, as Entra requires (AADSTS7000218 without a credential): a stolen
    /// code or refresh token is worth nothing without the application's secret, certificate or federated
    /// identity, and nobody signs users in under a confidential application's name without it. Public
    /// clients — Microsoft's first-party ones among them — have none to present; their codes are bound to
    /// the PKCE verifier instead.
    async fn authenticate_confidential(
        &self,
        tenant: &Tenant,
        client: ClientApplication<'_>,
    ) -> Result<(), OAuthFailure> {
        if let ClientApplication::Registered(application) = client
            && self.directory.is_confidential(client)
        {
            let claimant = Claimant { tenant, application, client_id: self.client_id, address: self.address };
            client_auth::authenticate(self.state, self.directory, &claimant, self.form, self.headers).await?;
        }
        Ok(())
    }
}

/// Reads the form body every token-service endpoint takes. A parameter sent twice is refused (RFC 6749
/// §3.1): which of two values a check saw and which one was used must never be a question.
pub fn read_form(body: &[u8]) -> Result<HashMap<String, String>, OAuthFailure> {
    let mut form = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if form.contains_key(name.as_ref()) {
            return Err(OAuthFailure::malformed_request(&format!("the parameter '{name}' is repeated")));
        }
        form.insert(name.into_owned(), value.into_owned());
    }
    Ok(form)
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

/// The resource a user's sign-in asks for: the one resource of `scope` ([`requested_resource`]), or Microsoft
/// Graph when `scope` holds nothing but OpenID scopes (`openid`, `openid profile offline_access`): Entra then
/// issues the ID token and, with it, an access token for Graph, which opens no vault.
pub fn user_resource(scope: &str) -> Option<String> {
    let mut scopes = scope.split_whitespace().peekable();
    if scopes.peek().is_some() && scopes.all(|s| OIDC_SCOPES.contains(&s)) {
        return Some(AZURE_GRAPH_RESOURCE.to_owned());
    }
    requested_resource(scope)
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

    #[test]
    fn a_user_sign_in_with_only_openid_scopes_is_for_microsoft_graph() {
        for scope in ["openid", "openid profile offline_access", " profile  openid email "] {
            assert_eq!(user_resource(scope).as_deref(), Some("https://graph.microsoft.com"), "{scope}");
        }
        assert_eq!(
            user_resource("https://vault.localhost:8443/.default openid profile").as_deref(),
            Some("https://vault.localhost:8443")
        );
        assert_eq!(user_resource(""), None);
        assert_eq!(user_resource("openid User.Read"), None);
        assert_eq!(user_resource("openid https://a/.default https://b/.default"), None);
    }

    #[test]
    fn a_repeated_parameter_refuses_the_form() {
        let form = read_form(b"grant_type=password&scope=a%20b&x=").unwrap_or_default();
        assert_eq!((form.get("scope").map(String::as_str), form.get("x").map(String::as_str)), (Some("a b"), Some("")));
        assert!(read_form(b"redirect_uri=http://a&redirect_uri=http://b").is_err());
        assert!(read_form(b"a=1&a").is_err());
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_body_is_read_or_refused_without_a_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
                let _ = read_form(&body);
            }

            #[test]
            fn distinct_fields_read_back_as_sent(fields in prop::collection::hash_map(".{0,12}", ".{0,40}", 0..8)) {
                let mut body = form_urlencoded::Serializer::new(String::new());
                for (name, value) in &fields {
                    body.append_pair(name, value);
                }
                prop_assert_eq!(read_form(body.finish().as_bytes()).ok(), Some(fields));
            }
        }
    }
}

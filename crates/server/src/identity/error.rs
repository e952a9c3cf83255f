//! Entra's error envelope: `{"error","error_description":"AADSTS{code}: …","error_codes":[code],…}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strongroom_core::assertion::Refusal;
use strongroom_proto::oauth::OAuthError;
use time::macros::format_description;
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::{InternalFailure, StoreFault};

/// A token-service failure with its AADSTS code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFailure {
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: String,
}

impl OAuthFailure {
    fn new(status: StatusCode, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self { status, error, code, message: message.into() }
    }

    /// AADSTS90002: the tenant in the path does not exist.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    }

    /// AADSTS900144: a required parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// AADSTS900144's sibling for a body that is not a form.
    pub fn malformed_request(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9002313,
            format!("Invalid request. Request is malformed or invalid: {detail}"),
        )
    }

    /// AADSTS70003: the grant type is not supported.
    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }

    /// AADSTS700016: no such application in the tenant.
    pub fn unknown_client(client_id: &str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        )
    }

    /// AADSTS901002: the v2.0 endpoint takes scopes, not `resource`.
    pub fn resource_on_v2() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            901002,
            "The 'resource' request parameter is not supported. Use 'scope' with '{resource}/.default'.",
        )
    }

    /// AADSTS7000215: the client secret is wrong.
    pub fn invalid_client_secret(client_id: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    /// AADSTS7000222: the client secret matched, but has expired.
    pub fn expired_client_secret(client_id: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!("The provided client secret keys for app '{client_id}' are expired."),
        )
    }

    /// AADSTS7000218: no client credential in the request.
    pub fn missing_client_credential() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// AADSTS700025: a public client presented a credential, or asked for a grant only a confidential client
    /// may use (Microsoft's first-party public clients never get app-only tokens).
    pub fn public_client_credential(client_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            700025,
            format!(
                "Client '{client_id}' is public so neither 'client_assertion' nor 'client_secret' should be presented, and it cannot use the client credentials grant."
            ),
        )
    }

    /// AADSTS90019: a multi-tenant authority (`organizations`, `common`) and nothing that names the tenant:
    /// no user name with a tenant's domain, or a grant (client credentials) that has no user.
    pub fn no_tenant_information() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90019,
            "No tenant-identifying information found in either the request or implied by any provided credentials.",
        )
    }

    /// AADSTS50020: `consumers` is for personal Microsoft accounts; every account here is a work or school
    /// account of a tenant.
    pub fn work_account_at_consumers() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50020,
            "User account from this identity provider does not exist in tenant 'Microsoft Services' and cannot access the application in that tenant: work and school accounts sign in through 'organizations', 'common' or their tenant.",
        )
    }

    /// AADSTS50027-style: `client_assertion_type` is not the JWT-bearer type.
    pub fn invalid_assertion_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_assertion_type' with the value 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
        )
    }

    /// A client assertion was refused, with the AADSTS code for the reason.
    pub fn refused_assertion(refusal: Refusal) -> Self {
        let (status, error, code, message) = match refusal {
            Refusal::Malformed => {
                (StatusCode::BAD_REQUEST, "invalid_request", 50027, "JWT token is invalid or malformed.")
            }
            Refusal::UnknownCertificate => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700027,
                "Client assertion failed signature validation: no certificate registered on the application has the thumbprint in its header.",
            ),
            Refusal::BadSignature => {
                (StatusCode::UNAUTHORIZED, "invalid_client", 700027, "Client assertion failed signature validation.")
            }
            Refusal::OutsideValidity => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ),
            Refusal::WrongSubject => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                50048,
                "Subject mismatches Issuer claim in the client assertion: both must be the client id.",
            ),
            Refusal::WrongAudience => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                50027,
                "The client assertion's audience is not this token endpoint.",
            ),
            Refusal::Replayed => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                50012,
                "The client assertion was already used: its jti has been seen before.",
            ),
            Refusal::MissingId => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed: the client assertion must carry a jti claim.",
            ),
            Refusal::TooLong => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range: it may live at most 10 minutes.",
            ),
            Refusal::NoFederatedMatch => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                70021,
                "No matching federated identity record found for presented assertion.",
            ),
        };
        Self::new(status, error, code, message)
    }

    /// AADSTS70011: the scope is not `{resource}/.default`.
    pub fn invalid_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{scope}'. The scope of a client-credentials request is '{{resource}}/.default'."
            ),
        )
    }

    /// AADSTS500011: the scope names a resource that does not exist.
    pub fn unknown_resource(resource: &str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!("The resource principal named {resource} was not found in the tenant named {tenant}."),
        )
    }

    /// A path the token service does not serve.
    pub fn endpoint_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request",
            900561,
            "The endpoint does not exist or does not accept this method.",
        )
    }

    /// Something failed inside the server.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 50000, "There was an error issuing a token.")
    }

    /// AADSTS50034: no such user.
    pub fn user_not_found(user: &str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50034,
            format!(
                "The user account {user} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."
            ),
        )
    }

    /// AADSTS50126: wrong password.
    pub fn invalid_user_credentials() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        )
    }

    /// AADSTS50057: the user is disabled.
    pub fn user_disabled() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", 50057, "The user account is disabled.")
    }

    /// AADSTS50053: too many failed sign-ins; locked for a while.
    pub fn locked_out() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50053,
            "The account is locked because of too many failed sign-in attempts. Try again later.",
        )
    }

    /// AADSTS90100: the user name is empty, too long or holds control characters.
    pub fn invalid_username() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", 90100, "The parameter 'username' is empty or not valid.")
    }

    /// AADSTS90055: too many sign-ins are being checked at once; the client should retry shortly.
    pub fn busy() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            90055,
            "There are too many incoming requests. Please try again later.",
        )
    }

    /// AADSTS70008: the refresh token, code or device code has expired, was used, or was revoked.
    pub fn expired_grant() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity, was already used, or was revoked.",
        )
    }

    /// AADSTS50173: the grant was made before the user's password changed or the user was disabled.
    pub fn revoked_grant() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
        )
    }

    /// AADSTS70000: the grant belongs to another client or redirect URI, or PKCE failed.
    pub fn grant_mismatch(detail: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", 70000, format!("The provided grant is invalid: {detail}"))
    }

    /// AADSTS70016: the user has not signed in on the verification page yet; keep polling.
    pub fn authorization_pending() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    }

    /// AADSTS70020: the device code has expired or is unknown.
    pub fn expired_device_code() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid: it has expired or does not exist.",
        )
    }

    /// The explanation, without the AADSTS prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The AADSTS code.
    pub fn code(&self) -> u32 {
        self.code
    }
}

impl From<strongroom_store::Error> for OAuthFailure {
    fn from(e: strongroom_store::Error) -> Self {
        match StoreFault::of(&e) {
            // AADSTS90033 is Entra's "a transient error has occurred".
            fault if fault.retryable() => Self::new(
                fault.status(),
                "temporarily_unavailable",
                90033,
                "A transient error has occurred. Please try again.",
            ),
            _ => Self::internal(),
        }
    }
}

impl InternalFailure for OAuthFailure {
    fn generic_internal() -> Self {
        Self::internal()
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        let now = Clock::unmoved_now();
        let timestamp =
            now.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z")).unwrap_or_default();
        let trace_id = Uuid::new_v4().to_string();
        let correlation_id = Uuid::new_v4().to_string();
        let body = OAuthError {
            error: self.error.to_owned(),
            error_description: format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.code, self.message
            ),
            error_codes: vec![self.code],
            timestamp,
            trace_id,
            correlation_id,
            error_uri: format!("https://login.microsoftonline.com/error?code={}", self.code),
        };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The fallback of the token service's router.
pub async fn not_found() -> OAuthFailure {
    OAuthFailure::endpoint_not_found()
}

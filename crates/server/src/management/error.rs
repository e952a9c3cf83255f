//! The management API's one error envelope, `{"error":{"code","message"}}` — the shape Azure Resource Manager
//! and Microsoft Graph share — decided in this one place.

use crate::error::{InternalFailure, StoreFault};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strongroom_proto::arm::{CloudError, CloudErrorBody};

/// What a 503 says: the database cannot be reached now, and the node keeps trying to reconnect.
const UNAVAILABLE: &str = "The service cannot reach its storage right now. Try again shortly.";
/// How long a client should wait before retrying after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// A failed management request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementError {
    status: StatusCode,
    code: &'static str,
    message: String,
    challenge: Option<String>,
}

impl ManagementError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), challenge: None }
    }

    /// 401: no token, or a token this service does not accept; `challenge` is the `WWW-Authenticate` value.
    pub fn authentication_failed(reason: &str, challenge: String) -> Self {
        Self {
            challenge: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, "AuthenticationFailed", format!("Authentication failed. {reason}"))
        }
    }

    /// 401: the token is from another tenant than the subscription in the path.
    pub fn wrong_tenant(challenge: String) -> Self {
        Self {
            challenge: Some(challenge),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationTokenTenant",
                "The access token is from the wrong issuer. It must match the tenant associated with this subscription.",
            )
        }
    }

    /// 403 from the resource manager: the caller lacks `action` at `scope`.
    pub fn authorization_failed(object_id: &str, action: &str, scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{object_id}' with object id '{object_id}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        )
    }

    /// 403 from the directory: the caller's directory roles do not allow the operation.
    pub fn insufficient_privileges() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 404 with the resource manager's or the directory's code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 400 with a code naming the rule.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 409 with a code naming the conflict.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 405 for a known path with a method it does not take.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("{method} is not allowed on {path}."))
    }

    /// 429: too many requests of this kind are running; the client retries.
    pub fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many audit-log queries are running. Retry in a few seconds.",
        )
    }

    /// 500, details only in the log.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The server could not complete the request.",
        )
    }

    /// The code, for the audit record.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<strongroom_store::Error> for ManagementError {
    fn from(e: strongroom_store::Error) -> Self {
        match e.kind() {
            strongroom_store::ErrorKind::Conflict => ManagementError::conflict("Conflict", e.to_string()),
            _ => match StoreFault::of(&e) {
                fault if fault.retryable() => ManagementError::new(fault.status(), "ServiceUnavailable", UNAVAILABLE),
                _ => ManagementError::internal(),
            },
        }
    }
}

impl InternalFailure for ManagementError {
    fn generic_internal() -> Self {
        ManagementError::internal()
    }
}

impl From<strongroom_core::Error> for ManagementError {
    fn from(e: strongroom_core::Error) -> Self {
        match e.kind() {
            strongroom_core::ErrorKind::InvalidInput => ManagementError::bad_request("InvalidRequest", e.message()),
            _ => {
                tracing::error!("a domain operation failed: {e}");
                ManagementError::internal()
            }
        }
    }
}

impl From<strongroom_core::graph_query::QueryError> for ManagementError {
    fn from(e: strongroom_core::graph_query::QueryError) -> Self {
        match e {
            strongroom_core::graph_query::QueryError::Unsupported(message) => {
                ManagementError::bad_request("Request_UnsupportedQuery", message)
            }
            strongroom_core::graph_query::QueryError::Invalid(message) => {
                ManagementError::bad_request("BadRequest", message)
            }
        }
    }
}

impl IntoResponse for ManagementError {
    fn into_response(self) -> Response {
        let body = CloudError { error: CloudErrorBody { code: self.code.to_owned(), message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response
    }
}

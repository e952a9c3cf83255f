//! The audit record: one JSON line per vault request, modelled on Key Vault's `AuditEvent` diagnostic log,
//! and one per token request (a sign-in log). It never carries a secret value, a password, a client secret or
//! a token.

use serde::{Deserialize, Serialize};

/// One audited request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// RFC 3339 UTC time the request arrived.
    pub time: String,
    /// The vault, `{tenant}/{vault}`; absent when the host named no known vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Key Vault's operation name, e.g. `SecretGet`.
    pub operation_name: String,
    /// The api-version the client asked for.
    pub operation_version: String,
    /// `Success` or `Failure`.
    pub result_type: String,
    /// The HTTP reason, e.g. `OK`, `Unauthorized`, `Forbidden`.
    pub result_signature: String,
    /// The error code (`innererror.code` where present), for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_description: Option<String>,
    /// Milliseconds spent on the request.
    pub duration_ms: u64,
    /// The address the request came from.
    pub caller_ip_address: String,
    /// The caller, from the validated token; absent when no token was validated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<AuditIdentity>,
    /// Method, path and query of the request (they carry no secrets).
    pub request_uri: String,
    /// The status code sent.
    pub http_status_code: u16,
    /// Vault requests: whether the firewall let the caller's address through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_address_authorized: Option<bool>,
    /// Vault requests: whether the permission check granted the operation (false also when not reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_rbac_authorized: Option<bool>,
    /// The client's `x-ms-client-request-id`, or the server's request id.
    pub correlation_id: String,
    /// The server's request id (`x-ms-request-id`).
    pub request_id: String,
}

/// The caller's identity claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIdentity {
    /// The claims that name the caller.
    pub claim: AuditClaims,
}

/// The identity claims recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditClaims {
    /// Object id of the principal.
    pub oid: String,
    /// Client id of the application that obtained the token.
    pub appid: String,
    /// Tenant id.
    pub tid: String,
}

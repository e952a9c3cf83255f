//! The audit log: one JSON line per request, each a row of the Azure Monitor table that Azure itself would
//! write it to, named by the row's `Type` column. Vault requests are rows of Key Vault's resource-specific
//! `AZKVAuditLogs` table; token requests are rows of Entra's sign-in logs (`SigninLogs` for people,
//! `AADServicePrincipalSignInLogs` for applications, `AADManagedIdentitySignInLogs` for managed identities);
//! management requests are rows of the activity log (`AzureActivity`). Column names are Azure's, so a log
//! shipper can send the lines to Log Analytics tables, or queries written for them can read ours.
//!
//! A row never carries a secret value, a password, a client secret or a token.

use serde::{Deserialize, Serialize};

mod encode;

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum AuditRecord {
    /// A vault request, or something the server did to a vault's object by itself.
    #[serde(rename = "AZKVAuditLogs")]
    KeyVault(Box<KeyVaultAudit>),
    /// A token request for a person.
    #[serde(rename = "SigninLogs")]
    UserSignIn(Box<SignIn>),
    /// A token request of an application for itself.
    #[serde(rename = "AADServicePrincipalSignInLogs")]
    ServicePrincipalSignIn(Box<SignIn>),
    /// A token request of a managed identity.
    #[serde(rename = "AADManagedIdentitySignInLogs")]
    ManagedIdentitySignIn(Box<SignIn>),
    /// A management (Resource Manager or Graph) request.
    #[serde(rename = "AzureActivity")]
    Activity(Box<Activity>),
}

impl AuditRecord {
    /// When the request arrived (RFC 3339, UTC).
    pub fn time(&self) -> &str {
        match self {
            AuditRecord::KeyVault(row) => &row.time_generated,
            AuditRecord::UserSignIn(row)
            | AuditRecord::ServicePrincipalSignIn(row)
            | AuditRecord::ManagedIdentitySignIn(row) => &row.time_generated,
            AuditRecord::Activity(row) => &row.time_generated,
        }
    }
}

/// A row of `AZKVAuditLogs`: one vault request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyVaultAudit {
    /// RFC 3339 UTC time the request arrived.
    pub time_generated: String,
    /// The vault's Resource Manager id; absent when the host named no known vault.
    #[serde(rename = "_ResourceId", skip_serializing_if = "Option::is_none")]
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
    /// The client's `x-ms-client-request-id`, or else the server's `x-ms-request-id`.
    pub correlation_id: String,
    /// The caller, from the validated token; absent when no token was validated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<AuditIdentity>,
    /// The object (or vault) the request was for, as a URL without its query.
    pub id: String,
    /// The URL asked for, with its query (which carries no secrets).
    pub request_uri: String,
    /// The status code sent.
    pub http_status_code: u16,
    /// The client's `User-Agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_info: Option<String>,
    /// Whether the firewall let the caller's address through.
    pub is_address_authorized: bool,
    /// How the firewall let it through: `PublicIp`, `Subnet` or `PrivateConnection`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_authorization_type: Option<String>,
    /// Under Azure RBAC, whether a role assignment granted the operation.
    pub is_rbac_authorized: bool,
    /// Under access policies, whether a policy granted the operation.
    pub is_access_policy_match: bool,
    /// The TLS version of the connection, as Key Vault spells it (`TLS1_3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
}

/// The caller's identity, as Key Vault logs it: the claims that name it, under their claim-type names. The
/// tenant is the vault's (a token of another tenant is refused), which `_ResourceId` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIdentity {
    /// The claims that name the caller.
    pub claim: AuditClaims,
}

/// The identity claims recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditClaims {
    /// Object id of the principal.
    #[serde(rename = "http://schemas.microsoft.com/identity/claims/objectidentifier")]
    pub oid: String,
    /// Client id of the application that obtained the token.
    pub appid: String,
    /// `app` or `user`.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub idtyp: String,
}

/// A row of Entra's sign-in logs: one token request. Only columns that the user, service-principal and
/// managed-identity sign-in tables share are written for all three; a person's own columns only for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignIn {
    /// RFC 3339 UTC time the request arrived.
    pub time_generated: String,
    /// Always `Sign-in activity`.
    pub operation_name: String,
    /// Always `1.0`.
    pub operation_version: String,
    /// `SignInLogs`, `ServicePrincipalSignInLogs` or `ManagedIdentitySignInLogs`.
    pub category: String,
    /// `0` for success, or the AADSTS error number.
    pub result_type: String,
    /// `SUCCESS` or `FAILURE`.
    pub result_signature: String,
    /// Why it failed, in the token service's words (its AADSTS message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_description: Option<String>,
    /// Milliseconds spent on the request.
    pub duration_ms: u64,
    /// The id of this sign-in (the server's request id).
    pub id: String,
    /// The client's `client-request-id`, or else the sign-in's id.
    pub correlation_id: String,
    /// The address the request came from.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// The tenant signed in to (its id, or the name in the path when no tenant has it).
    pub tenant_id: String,
    /// The client id the request named.
    pub app_id: String,
    /// Applications only: how the client proved itself, `clientSecret`, `clientAssertion` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_credential_type: Option<String>,
    /// The resource the token was asked for (its scope or resource URI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_identity: Option<String>,
    /// People only: the grant, as Entra names the protocol (`ropc`, `deviceCode`, `authorizationCode`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_protocol: Option<String>,
    /// People only: the sign-in name given, for password sign-ins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
}

/// A row of the activity log (`AzureActivity`): one management request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Activity {
    /// RFC 3339 UTC time the request arrived.
    pub time_generated: String,
    /// Always `Administrative`.
    pub category_value: String,
    /// The permission the request needed, e.g. `Microsoft.KeyVault/vaults/write` (`Unknown` before routing).
    pub operation_name_value: String,
    /// `Success` or `Failure`.
    pub activity_status_value: String,
    /// The HTTP reason, e.g. `OK`, `Created`, `Forbidden`.
    pub activity_substatus_value: String,
    /// `Informational`, or `Error` for failures.
    pub level: String,
    /// The caller's object id; empty when no token was validated.
    pub caller: String,
    /// The address the request came from.
    pub caller_ip_address: String,
    /// The client's `x-ms-client-request-id`, or else the server's `x-ms-request-id`.
    pub correlation_id: String,
    /// The server's `x-ms-request-id`.
    pub event_data_id: String,
    /// The resource the request was for (its path).
    #[serde(rename = "_ResourceId")]
    pub resource_id: String,
    /// The caller's tenant; empty when no token was validated.
    pub tenant_id: String,
    /// What the permission check was asked.
    pub authorization: ActivityAuthorization,
    /// The HTTP request.
    #[serde(rename = "HTTPRequest")]
    pub http_request: ActivityRequest,
    /// The outcome.
    pub properties: ActivityProperties,
}

/// The `Authorization` column of an activity row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityAuthorization {
    /// The permission asked for.
    pub action: String,
    /// The scope it was asked at.
    pub scope: String,
    /// Whether it was granted.
    pub granted: bool,
}

/// The `HTTPRequest` column of an activity row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityRequest {
    /// The client's `x-ms-client-request-id`, if it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    /// The address the request came from.
    pub client_ip_address: String,
    /// The HTTP method.
    pub method: String,
    /// The api-version asked for.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub api_version: String,
}

/// The `Properties` column of an activity row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityProperties {
    /// The HTTP reason, e.g. `Forbidden`.
    pub status_code: String,
    /// The status code sent.
    pub http_status_code: u16,
    /// The error code of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Milliseconds spent on the request.
    pub duration_ms: u64,
}

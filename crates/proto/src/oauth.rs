//! Entra ID (v2.0) OAuth 2.0 and OpenID Connect JSON.

use serde::{Deserialize, Serialize};

/// A successful token response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires; a JSON number (the Rust SDK needs a number).
    pub expires_in: u64,
    /// Entra's extended lifetime; the same as `expires_in` here.
    pub ext_expires_in: u64,
    /// The signed JWT.
    pub access_token: String,
}

/// An OAuth error in Entra's shape: `error_description` starts with `AADSTS{code}:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// The RFC 6749 error, e.g. `invalid_client`.
    pub error: String,
    /// `AADSTS{code}: {message} Trace ID: … Correlation ID: … Timestamp: …`.
    pub error_description: String,
    /// The AADSTS codes, as numbers.
    pub error_codes: Vec<u32>,
    /// `YYYY-MM-DD hh:mm:ssZ`.
    pub timestamp: String,
    /// The id of this request.
    pub trace_id: String,
    /// The client's correlation id, or a fresh one.
    pub correlation_id: String,
    /// Where the code is explained.
    pub error_uri: String,
}

/// The OpenID Connect discovery document of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdConfiguration {
    /// `https://{login}/{tenant-id}/v2.0`.
    pub issuer: String,
    /// Where browsers sign in.
    pub authorization_endpoint: String,
    /// Where tokens are issued.
    pub token_endpoint: String,
    /// Where device codes are issued.
    pub device_authorization_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// Where browsers sign out.
    pub end_session_endpoint: String,
    /// Supported client authentication methods.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Supported response modes.
    pub response_modes_supported: Vec<String>,
    /// Supported response types.
    pub response_types_supported: Vec<String>,
    /// Supported scopes.
    pub scopes_supported: Vec<String>,
    /// Subject types.
    pub subject_types_supported: Vec<String>,
    /// Signing algorithms of id tokens.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Claims that may appear in tokens.
    pub claims_supported: Vec<String>,
    /// The tenant's region scope (Entra sends `WW` for worldwide).
    pub tenant_region_scope: Option<String>,
    /// The cloud's instance name.
    pub cloud_instance_name: String,
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonWebKeySet {
    /// The keys.
    pub keys: Vec<JsonWebKey>,
}

/// An RSA public signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonWebKey {
    /// `RSA`.
    pub kty: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub usage: String,
    /// The key id that tokens name in their header.
    pub kid: String,
    /// `RS256`.
    pub alg: String,
    /// Modulus, base64url.
    pub n: String,
    /// Public exponent, base64url.
    pub e: String,
    /// The issuer this key signs for (Entra's `{tenantid}` template).
    pub issuer: String,
}

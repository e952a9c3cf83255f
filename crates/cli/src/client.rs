//! The management client behind the admin commands: signs in to the token service with an application's
//! client secret (the `AZURE_*` variables `strongroom dev` writes, or flags) and calls the management API.

use std::path::PathBuf;

use clap::Args;
use reqwest::Method;
use serde_json::Value;

/// The scope of management tokens.
const MANAGEMENT_SCOPE: &str = "https://management.azure.com/.default";
/// The Resource Manager api-version sent (any is accepted).
const API_VERSION: &str = "2022-07-01";

/// Where the server is and who signs in to it.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// The authority host, e.g. https://localhost:8443.
    #[arg(long, env = "AZURE_AUTHORITY_HOST", global = true, hide_env_values = true)]
    authority_host: Option<String>,
    /// The tenant (id or name) to sign in to.
    #[arg(long, env = "AZURE_TENANT_ID", global = true, hide_env_values = true)]
    tenant: Option<String>,
    /// The application signing in.
    #[arg(long, env = "AZURE_CLIENT_ID", global = true, hide_env_values = true)]
    client_id: Option<String>,
    /// Its client secret (prefer the environment variable: a flag shows in the process list).
    #[arg(long, env = "AZURE_CLIENT_SECRET", global = true, hide_env_values = true)]
    client_secret: Option<String>,
    /// A PEM file of CA certificates to trust (e.g. the installation's ca.pem).
    #[arg(long, env = "SSL_CERT_FILE", global = true, hide_env_values = true)]
    ca_file: Option<PathBuf>,
}

/// A signed-in management client.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// The caller's tenant id, which is its subscription id.
    pub tenant_id: String,
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, String> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{name} is not set (flag or environment variable)"))
}

impl Client {
    /// Signs in with the application's client secret.
    pub async fn sign_in(connection: &Connection) -> Result<Self, String> {
        let base = required(&connection.authority_host, "AZURE_AUTHORITY_HOST")?.trim_end_matches('/').to_owned();
        let tenant = required(&connection.tenant, "AZURE_TENANT_ID")?;
        let client_id = required(&connection.client_id, "AZURE_CLIENT_ID")?;
        let secret = required(&connection.client_secret, "AZURE_CLIENT_SECRET")?;
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = &connection.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{} holds no PEM certificate: {e}", ca.display()))?;
            builder = builder.tls_certs_only(certificates);
        }
        let http = builder.build().map_err(|e| format!("cannot make an HTTPS client: {e}"))?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", MANAGEMENT_SCOPE),
        ];
        let response = http
            .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("cannot reach {base}: {e}"))?;
        let body: Value = response.json().await.map_err(|e| format!("the token service answered oddly: {e}"))?;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| {
                format!("sign-in refused: {}", body["error_description"].as_str().unwrap_or("no reason given"))
            })?
            .to_owned();
        let tenant_id = claim(&token, "tid").ok_or("the token names no tenant")?;
        Ok(Self { http, base, token, tenant_id })
    }

    /// Calls `method path` with an optional JSON body; returns the JSON answer, or the error it carries.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = format!("{}{path}{separator}api-version={API_VERSION}", self.base);
        let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let value: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status.is_success() {
            return Ok(value);
        }
        let code = value["error"]["code"].as_str().unwrap_or("Error");
        let message = value["error"]["message"].as_str().unwrap_or("");
        Err(format!("({code}) {message} [HTTP {}]", status.as_u16()))
    }

    /// The subscription prefix of the caller's tenant.
    pub fn subscription(&self) -> String {
        format!("/subscriptions/{}", self.tenant_id)
    }
}

/// A claim of a JWT, read without verifying it (the client only learns its own tenant from it).
fn claim(token: &str, name: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims[name].as_str().map(str::to_owned)
}

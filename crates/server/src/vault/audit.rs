//! Stage 7, the audit: one `AZKVAuditLogs` row per vault request, whatever the outcome. It begins before the
//! other stages, learns what they establish (the operation, the caller, which checks passed) and is written
//! last, through [`crate::audit`]. The query carries no secrets; bodies and tokens are never recorded.

use axum::http::StatusCode;
use axum::http::request::Parts;
use strongroom_core::directory::{AuthorizationModel, Vault};
use strongroom_proto::audit::{AuditIdentity, AuditRecord, KeyVaultAudit};
use uuid::Uuid;

use super::operation::Query;
use crate::audit::{Arrival, RequestFacts, header_text};
use crate::clock::Clock;
use crate::state::AppState;

/// The record of one vault request, filled in as the stages run.
pub(super) struct VaultAudit<'r> {
    arrival: Arrival,
    /// The host the vault was addressed as.
    host: &'r str,
    /// The vault addressed.
    vault_name: &'r str,
    /// The connection's TLS version, as Key Vault spells it.
    tls_version: Option<&'static str>,
    /// Key Vault's name of the operation asked for, once routing knows it.
    pub(super) operation_name: &'static str,
    /// The caller, once authenticated.
    pub(super) identity: Option<AuditIdentity>,
    /// How the firewall let the caller through (`PublicIp`, `Subnet`, `PrivateConnection`), once it has.
    pub(super) address_authorization: Option<&'static str>,
    /// Whether the permission check granted the operation.
    pub(super) authorized: bool,
}

impl<'r> VaultAudit<'r> {
    /// The record of a request arriving now for `vault_name`, addressed as `host`, over `tls_version`.
    pub(super) fn begin(clock: &Clock, host: &'r str, vault_name: &'r str, tls_version: Option<&'static str>) -> Self {
        VaultAudit {
            arrival: Arrival::at(clock),
            host,
            vault_name,
            tls_version,
            operation_name: "Unknown",
            identity: None,
            address_authorization: None,
            authorized: false,
        }
    }

    /// The id the response carries in `x-ms-request-id`.
    pub(super) fn request_id(&self) -> &str {
        &self.arrival.request_id
    }

    /// Writes the record of `request`, answered with `status` (and the error code of a `failure`) to the
    /// caller at `client`.
    pub(super) async fn record(
        self,
        state: &AppState,
        request: &Parts,
        client: &str,
        status: StatusCode,
        failure: Option<&'static str>,
    ) {
        let directory = state.directory();
        let vault = directory.vault(self.vault_name);
        // Counted for vaults that exist only: a name in a request's host must not grow the metrics.
        if let Some(vault) = vault {
            let elapsed = self.arrival.started.elapsed();
            state.metrics.vault_call(&vault.name, self.operation_name, status.as_u16(), elapsed);
        }
        let settled = RequestFacts { arrival: self.arrival, headers: &request.headers, status }.settle();
        let uri = &request.uri;
        // Strings on the warm path are joined, not formatted: `format!`'s machinery cost more than the copying.
        let id = ["https://", self.host, uri.path()].concat();
        let request_uri = match uri.query() {
            Some(query) => [id.as_str(), "?", query].concat(),
            None => id.clone(),
        };
        let policies = vault.is_some_and(|v| v.authorization == AuthorizationModel::AccessPolicies);
        let row = KeyVaultAudit {
            resource_id: vault.map(resource_id),
            operation_name: self.operation_name.to_owned(),
            operation_version: Query::raw_api_version(uri.query()),
            result_type: settled.result_type.to_owned(),
            result_signature: settled.reason.to_owned(),
            result_description: failure.map(str::to_owned),
            duration_ms: settled.duration_ms,
            caller_ip_address: client.to_owned(),
            correlation_id: settled.correlation_id(),
            identity: self.identity,
            id,
            request_uri,
            http_status_code: status.as_u16(),
            client_info: header_text(&request.headers, "user-agent"),
            is_address_authorized: self.address_authorization.is_some(),
            address_authorization_type: self.address_authorization.map(str::to_owned),
            is_rbac_authorized: self.authorized && !policies,
            is_access_policy_match: self.authorized && policies,
            tls_version: self.tls_version.map(str::to_owned),
            time_generated: settled.time,
        };
        state.audit.record(AuditRecord::KeyVault(Box::new(row))).await;
    }
}

/// The record of something the server did by itself to the object `name` of `collection` in `vault` (a
/// scheduled rotation, an expiry notice): no caller, no request, the object it acted on.
pub fn system_event(state: &AppState, vault: &Vault, collection: &str, name: &str, operation: &str) -> AuditRecord {
    let time = state.clock.now().format(&time::format_description::well_known::Rfc3339);
    let id = [state.endpoints.vault_url(&vault.name).trim_end_matches('/'), "/", collection, "/", name].concat();
    AuditRecord::KeyVault(Box::new(KeyVaultAudit {
        time_generated: time.unwrap_or_default(),
        resource_id: Some(resource_id(vault)),
        operation_name: operation.to_owned(),
        operation_version: String::new(),
        result_type: "Success".to_owned(),
        result_signature: "OK".to_owned(),
        result_description: None,
        duration_ms: 0,
        caller_ip_address: String::new(),
        correlation_id: crate::audit::request_id(),
        identity: None,
        request_uri: id.clone(),
        id,
        http_status_code: 200,
        client_info: Some("Strongroom scheduler".to_owned()),
        is_address_authorized: true,
        address_authorization_type: None,
        is_rbac_authorized: false,
        is_access_policy_match: false,
        tls_version: None,
    }))
}

/// The vault's Resource Manager id, the `_ResourceId` that Azure Monitor files its rows under (lowercase, as
/// Log Analytics writes it).
pub fn resource_id(vault: &Vault) -> String {
    [
        "/subscriptions/",
        &hyphenated(vault.subscription_id),
        "/resourcegroups/",
        &vault.resource_group.to_ascii_lowercase(),
        "/providers/microsoft.keyvault/vaults/",
        &vault.name,
    ]
    .concat()
}

fn hyphenated(id: Uuid) -> String {
    id.hyphenated().encode_lower(&mut Uuid::encode_buffer()).to_owned()
}

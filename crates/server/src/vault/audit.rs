//! Stage 7, the audit: one record per vault request, whatever the outcome. It begins before the other
//! stages, learns what they establish (the operation, the caller, which checks passed) and is written last,
//! through [`crate::audit`]. The query carries no secrets; bodies and tokens are never recorded.

use axum::http::StatusCode;
use axum::http::request::Parts;
use strongroom_proto::audit::{AuditIdentity, AuditRecord};
use uuid::Uuid;

use super::operation::Query;
use crate::audit::{Arrival, RequestFacts};
use crate::clock::Clock;
use crate::state::AppState;

/// The record of one vault request, filled in as the stages run.
pub(super) struct VaultAudit<'r> {
    arrival: Arrival,
    /// The host the vault was addressed as.
    host: &'r str,
    /// The vault addressed.
    vault_name: &'r str,
    /// Key Vault's name of the operation asked for, once routing knows it.
    pub(super) operation_name: &'static str,
    /// The caller, once authenticated.
    pub(super) identity: Option<AuditIdentity>,
    /// Whether the firewall let the caller through.
    pub(super) address_authorized: bool,
    /// Whether the permission check granted the operation.
    pub(super) rbac_authorized: bool,
}

impl<'r> VaultAudit<'r> {
    /// The record of a request arriving now for `vault_name`, addressed as `host`.
    pub(super) fn begin(clock: &Clock, host: &'r str, vault_name: &'r str) -> Self {
        VaultAudit {
            arrival: Arrival::at(clock),
            host,
            vault_name,
            operation_name: "Unknown",
            identity: None,
            address_authorized: false,
            rbac_authorized: false,
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
        let facts = RequestFacts { arrival: self.arrival, headers: &request.headers, client, status, failure };
        let uri = &request.uri;
        let record = AuditRecord {
            // Strings on the warm path are joined, not formatted: `format!`'s machinery cost more than the copying.
            resource_id: vault.map(|v| {
                ["/tenants/", v.tenant_id.hyphenated().encode_lower(&mut Uuid::encode_buffer()), "/vaults/", &v.name]
                    .concat()
            }),
            operation_name: self.operation_name.to_owned(),
            operation_version: Query::raw_api_version(uri.query()),
            identity: self.identity,
            request_uri: ["https://", self.host, uri.path_and_query().map_or(uri.path(), |pq| pq.as_str())].concat(),
            is_address_authorized: Some(self.address_authorized),
            is_rbac_authorized: Some(self.rbac_authorized),
            ..facts.record()
        };
        state.audit.record(record).await;
    }
}

//! Soft-deleted vaults and Managed HSMs in Resource Manager: list, get and purge work alike for both kinds, and
//! differ only in what a [`DeletedKind`] names — their actions, words, wire shape and the purge's answer.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Serialize;
use strongroom_core::directory::{Change, DeletedVault, VaultKind};
use strongroom_core::rbac::{Action, Scope};
use strongroom_proto::arm::ListResult;

use super::error::ManagementError;
use super::{Context, json_response};

/// What differs between the soft-deleted resources of one kind and another's.
pub(super) struct DeletedKind<R> {
    /// The kind.
    pub kind: VaultKind,
    /// The action that reads them.
    pub read: Action,
    /// The action that purges one.
    pub purge: Action,
    /// What users call one (`vault`, `Managed HSM`).
    pub noun: &'static str,
    /// The error code for one that is not there.
    pub not_found_code: &'static str,
    /// What a purge answers: the SDKs' purge of an HSM is a long-running operation that expects `202`.
    pub purged: StatusCode,
    /// One as Resource Manager shows it.
    pub resource: fn(&Context<'_>, &DeletedVault) -> R,
}

impl<R: Serialize> DeletedKind<R> {
    /// `GET` of the collection, or `GET` or `POST …/purge` of the one at `location` named `name`.
    pub(super) async fn handle(
        &self,
        cx: &mut Context<'_>,
        one: Option<(&str, &str, bool)>,
    ) -> Result<Response, ManagementError> {
        match (one, cx.method.clone()) {
            (None, Method::GET) => {
                cx.authorize(self.read, None, &Scope::Tenant, None)?;
                let subscription = cx.subscription_id();
                let value: Vec<R> = cx
                    .directory
                    .deleted_vaults
                    .iter()
                    .filter(|d| d.vault.kind == self.kind)
                    .filter(|d| d.vault.tenant_id == cx.tenant.id && d.vault.subscription_id == subscription)
                    .map(|d| (self.resource)(cx, d))
                    .collect();
                Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
            }
            (Some((location, name, false)), Method::GET) => {
                cx.authorize(self.read, None, &Scope::Tenant, None)?;
                Ok(json_response(StatusCode::OK, &(self.resource)(cx, &self.find(cx, location, name)?)))
            }
            (Some((location, name, true)), Method::POST) => {
                cx.authorize(self.purge, None, &Scope::Tenant, None)?;
                let deleted = self.find(cx, location, name)?;
                if deleted.vault.purge_protection {
                    return Err(ManagementError::conflict(
                        "PurgeProtectionEnabled",
                        format!(
                            "The {} '{name}' has purge protection on: it is purged when its retention ends, not \
                             before.",
                            self.noun
                        ),
                    ));
                }
                cx.apply(vec![Change::PurgeVault { vault_id: deleted.vault.id }]).await?;
                Ok(json_response(self.purged, &serde_json::json!({})))
            }
            (_, method) => Err(ManagementError::method_not_allowed(method.as_str(), "Microsoft.KeyVault")),
        }
    }

    /// This tenant's soft-deleted resource `name` of the kind in the path's subscription, at `location`.
    fn find(&self, cx: &Context<'_>, location: &str, name: &str) -> Result<DeletedVault, ManagementError> {
        cx.directory
            .deleted_vault(name)
            .filter(|d| d.vault.kind == self.kind)
            .filter(|d| d.vault.tenant_id == cx.tenant.id && d.vault.subscription_id == cx.subscription_id())
            .filter(|d| d.vault.location.eq_ignore_ascii_case(location))
            .cloned()
            .ok_or_else(|| self.not_found(name))
    }

    /// The answer for a soft-deleted resource `name` that is not there.
    pub(super) fn not_found(&self, name: &str) -> ManagementError {
        ManagementError::not_found(self.not_found_code, format!("No deleted {} named '{name}' was found.", self.noun))
    }
}

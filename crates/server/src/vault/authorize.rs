//! Stage 4, the permission check: Azure RBAC over the vault's role assignments, or the vault's access
//! policies, whichever model the vault uses; in a Managed HSM its local RBAC, which only the HSM's own
//! assignments feed — from the directory snapshot (no database on this path).

use strongroom_core::directory::{AuthorizationModel, Directory, Vault, VaultKind};
use strongroom_core::policy::{self, PolicyDecision};
use strongroom_core::rbac::{self, Scope, Target, hsm};

use super::authenticate::Caller;
use super::error::VaultError;
use super::operation::Routed;

/// Grants the operation to `caller` — by its row's data action under RBAC, by its row's access-policy
/// permission under access policies — or refuses with `ForbiddenByRbac` / `AccessDenied`.
pub fn check(directory: &Directory, vault: &Vault, caller: &Caller, operation: &Routed<'_>) -> Result<(), VaultError> {
    let (action, permission, target) = (operation.action, operation.operation.permission, operation.target());
    // Group membership comes from the directory, not the token: it is current, and never overflows.
    let groups = directory.groups_of(caller.object_id);
    if vault.kind == VaultKind::ManagedHsm {
        return check_local_rbac(directory, vault, caller, &groups, operation);
    }
    if vault.authorization == AuthorizationModel::AccessPolicies {
        return match policy::decide(&vault.access_policies, caller.object_id, &groups, target.collection, permission) {
            PolicyDecision::Granted => Ok(()),
            decision => Err(access_denied(vault, caller, groups.len(), target, permission, decision)),
        };
    }
    let permitted = rbac::is_permitted(
        directory.assignments_for_vault(vault),
        rbac::Caller { object_id: caller.object_id, groups: &groups },
        action,
        target,
    );
    if permitted {
        return Ok(());
    }
    let resource = match target.name {
        Some(name) => format!("/vaults/{}/{}/{name}", vault.name, target.collection.as_str()),
        None => format!("/vaults/{}", vault.name),
    };
    Err(VaultError::forbidden_by_rbac(format!(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={};oid={};iss={}\r\nAction: '{}'\r\nResource: '{}'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: {};location=local\r\n",
        caller.claims.appid,
        caller.claims.oid,
        caller.claims.iss,
        action.as_str(),
        resource.to_ascii_lowercase(),
        vault.name
    )))
}

/// Managed HSM's local RBAC: the HSM's own assignments, at `/`, `/keys` or the key, grant the operation's
/// data action. An operation on role assignments or definitions is judged at the scope its path names, so
/// that a role held at `/keys` manages `/keys` and never `/`; one on the HSM as a whole (its security domain,
/// full backups, settings) needs an assignment at `/`.
fn check_local_rbac(
    directory: &Directory,
    hsm: &Vault,
    caller: &Caller,
    groups: &[uuid::Uuid],
    operation: &Routed<'_>,
) -> Result<(), VaultError> {
    let assignments = directory.role_assignments(hsm.id);
    let who = rbac::Caller { object_id: caller.object_id, groups };
    let (permitted, scope) = match operation.params.scope() {
        Some(text) => {
            let scope = hsm::parse_scope(text).ok_or_else(|| {
                VaultError::bad_parameter(format!(
                    "'/{text}' is not a scope of a Managed HSM: use '/', '/keys' or '/keys/{{name}}'."
                ))
            })?;
            (rbac::is_permitted_on(assignments, who, operation.action, &scope, None), hsm::scope_text(&scope))
        }
        // The HSM's own operations that name no key act on the whole HSM.
        None if operation.operation.action.is_none() && operation.params.object().is_none() => {
            (rbac::is_permitted_on(assignments, who, operation.action, &Scope::Vault, None), "/".to_owned())
        }
        None => {
            let target = operation.target();
            let scope = target.name.map_or_else(|| "/keys".to_owned(), |name| format!("/keys/{name}"));
            (rbac::is_permitted(assignments, who, operation.action, target), scope)
        }
    };
    match permitted {
        true => Ok(()),
        // Managed HSM's refusal names the action and the scope, nothing of the caller's assignments.
        false => Err(VaultError::local_rbac_denied(format!(
            "Not authorized to access {} on {scope}",
            operation.action.as_str()
        ))),
    }
}

fn access_denied(
    vault: &Vault,
    caller: &Caller,
    groups: usize,
    target: Target<'_>,
    permission: &str,
    decision: PolicyDecision,
) -> VaultError {
    let claims = &caller.claims;
    let who = format!("appid={};oid={};numgroups={groups};iss={}", claims.appid, claims.oid, claims.iss);
    let message = match decision {
        PolicyDecision::NotFound => format!(
            "Access denied. Caller was not found on any access policy.\r\nCaller: {who}\r\nVault: {};location=local",
            vault.name
        ),
        _ => format!(
            "The user, group or application '{who}' does not have {} {permission} permission on key vault '{};location=local'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
            target.collection.as_str(),
            vault.name
        ),
    };
    VaultError::access_denied(message)
}

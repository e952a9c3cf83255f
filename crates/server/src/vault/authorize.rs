//! Stage 4, the permission check: Azure RBAC over the vault's role assignments, from the directory
//! snapshot (no database on this path).

use strongroom_core::directory::{AuthorizationModel, Directory, Vault};
use strongroom_core::rbac::{self, Target};

use super::authenticate::Caller;
use super::error::VaultError;

/// Grants `action` on `target` to `caller`, or refuses with `ForbiddenByRbac`.
pub fn check(
    directory: &Directory,
    vault: &Vault,
    caller: &Caller,
    action: &str,
    target: Target<'_>,
) -> Result<(), VaultError> {
    let permitted = match vault.authorization {
        // Group membership comes from the directory, not the token: it is current, and never overflows.
        AuthorizationModel::Rbac => rbac::is_permitted(
            directory.role_assignments(vault.id),
            rbac::Caller { object_id: caller.object_id, groups: &directory.groups_of(caller.object_id) },
            action,
            target,
        ),
        // Access policies arrive with their own issue; until then such a vault grants nothing.
        AuthorizationModel::AccessPolicies => false,
    };
    if permitted {
        return Ok(());
    }
    let resource = match target.name {
        Some(name) => format!("/vaults/{}/{}/{name}", vault.name, target.collection.as_str()),
        None => format!("/vaults/{}", vault.name),
    };
    Err(VaultError::forbidden_by_rbac(format!(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={};oid={};iss={}\r\nAction: '{action}'\r\nResource: '{}'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: {};location=local\r\n",
        caller.claims.appid,
        caller.claims.oid,
        caller.claims.iss,
        resource.to_ascii_lowercase(),
        vault.name
    )))
}

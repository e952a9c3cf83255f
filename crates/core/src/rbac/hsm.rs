//! Managed HSM's local RBAC: its built-in roles, the scopes its assignments take, and the custom roles an HSM
//! defines for itself. An HSM's role assignments live in the HSM (its data plane manages them) and only they
//! grant its data actions (`Microsoft.KeyVault/managedHsm/…`); Azure role assignments never reach them.

use std::sync::{Arc, LazyLock};

use uuid::Uuid;

use super::roles::{Role, RoleDefinition, RoleKind, RolePermissions};
use super::{Collection, Scope};
use crate::error::{Error, Result};

/// Managed HSM Administrator: security domain, full backup and restore, and role management.
pub const ADMINISTRATOR: Uuid = Uuid::from_u128(0xa290e904_7015_4bba_90c8_60543313cdb4);

/// The data actions of one built-in role, each after `Microsoft.KeyVault/managedHsm/`.
struct BuiltIn {
    id: Uuid,
    name: &'static str,
    description: &'static str,
    data_actions: &'static [&'static str],
}

const ROLE_MANAGEMENT: [&str; 6] = [
    "roleAssignments/delete/action",
    "roleAssignments/read/action",
    "roleAssignments/write/action",
    "roleDefinitions/read/action",
    "roleDefinitions/write/action",
    "roleDefinitions/delete/action",
];

/// The built-in roles as a Managed HSM lists them: names, ids and data actions as its role definitions show
/// them (the Restore User's from Microsoft's documentation of the roles, which also gives the descriptions;
/// the service itself answers an empty description).
const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        id: ADMINISTRATOR,
        name: "Managed HSM Administrator",
        description: "Grants permissions to perform all operations related to the security domain, full backup and restore, and role management.",
        data_actions: &[
            ROLE_MANAGEMENT[0],
            ROLE_MANAGEMENT[1],
            ROLE_MANAGEMENT[2],
            ROLE_MANAGEMENT[3],
            ROLE_MANAGEMENT[4],
            ROLE_MANAGEMENT[5],
            "securitydomain/download/action",
            "securitydomain/download/read",
            "securitydomain/upload/action",
            "securitydomain/upload/read",
            "securitydomain/transferkey/read",
            "backup/start/action",
            "restore/start/action",
            "backup/status/action",
            "restore/status/action",
            "settings/read/action",
            "settings/write/action",
        ],
    },
    BuiltIn {
        id: Uuid::from_u128(0x515eb02d_2335_4d2d_92f2_b1cbdf9c3778),
        name: "Managed HSM Crypto Officer",
        description: "Grants permissions to perform all role management, purge or recover deleted keys, and export keys.",
        data_actions: &[
            ROLE_MANAGEMENT[0],
            ROLE_MANAGEMENT[1],
            ROLE_MANAGEMENT[2],
            ROLE_MANAGEMENT[3],
            ROLE_MANAGEMENT[4],
            ROLE_MANAGEMENT[5],
            "keys/deletedKeys/read/action",
            "keys/deletedKeys/delete",
            "keys/deletedKeys/recover/action",
            "keys/export/action",
        ],
    },
    BuiltIn {
        id: Uuid::from_u128(0x21dbd100_6940_42c2_9190_5d6cb909625b),
        name: "Managed HSM Crypto User",
        description: "Grants permissions to perform all key management operations except purge or recover deleted keys and export keys.",
        data_actions: &[
            "roleDefinitions/read/action",
            "roleAssignments/read/action",
            "keys/read/action",
            "keys/write/action",
            "keys/delete",
            "keys/create",
            "keys/rotate/action",
            "keys/import/action",
            "keys/release/action",
            "keys/backup/action",
            "keys/restore/action",
            "keys/encrypt/action",
            "keys/decrypt/action",
            "keys/wrap/action",
            "keys/unwrap/action",
            "keys/sign/action",
            "keys/verify/action",
            "keys/derive/action",
            "rng/action",
        ],
    },
    BuiltIn {
        id: Uuid::from_u128(0x4bd23610_cdcf_4971_bdee_bdc562cc28e4),
        name: "Managed HSM Policy Administrator",
        description: "Grants permission to create and delete role assignments.",
        data_actions: &[
            "roleDefinitions/read/action",
            "roleDefinitions/write/action",
            "roleDefinitions/delete/action",
            "roleAssignments/read/action",
            "roleAssignments/write/action",
            "roleAssignments/delete/action",
        ],
    },
    BuiltIn {
        id: Uuid::from_u128(0x2c18b078_7c48_4d3a_af88_5a3a1b3f82b3),
        name: "Managed HSM Crypto Auditor",
        description: "Grants read permissions to read (but not use) key attributes.",
        data_actions: &[
            "roleAssignments/read/action",
            "roleDefinitions/read/action",
            "keys/read/action",
            "keys/deletedKeys/read/action",
        ],
    },
    BuiltIn {
        id: Uuid::from_u128(0x33413926_3206_4cdd_b39a_83574fe37a17),
        name: "Managed HSM Crypto Service Encryption User",
        description: "Grants permissions to use a key for service encryption.",
        data_actions: &["keys/read/action", "keys/wrap/action", "keys/unwrap/action"],
    },
    BuiltIn {
        id: Uuid::from_u128(0x21dbd100_6940_42c2_9190_5d6cb909625c),
        name: "Managed HSM Crypto Service Release User",
        description: "Grants permissions to release a key to a trusted execution environment.",
        data_actions: &["keys/release/action"],
    },
    BuiltIn {
        id: Uuid::from_u128(0x7b127d3c_77bd_4e3e_bbe0_dbb8971fa7f8),
        name: "Managed HSM Backup User",
        description: "Grants permissions to perform single-key or whole-HSM backup.",
        data_actions: &["backup/start/action", "backup/status/action", "keys/backup/action"],
    },
    BuiltIn {
        id: Uuid::from_u128(0x6efe6056_5259_49d2_8b3d_d3d73544b20b),
        name: "Managed HSM Restore User",
        description: "Grants permission to perform single-key or whole-HSM restore.",
        data_actions: &["restore/start/action", "restore/status/action", "keys/restore/action"],
    },
];

static BUILT_IN_ROLES: LazyLock<Vec<Role>> = LazyLock::new(|| {
    let prefixed = |names: &[&str]| names.iter().map(|n| format!("Microsoft.KeyVault/managedHsm/{n}")).collect();
    BUILT_IN
        .iter()
        .map(|role| {
            let permissions =
                RolePermissions { data_actions: prefixed(role.data_actions), ..RolePermissions::default() };
            Arc::new(RoleDefinition::new(role.id, role.name, role.description, RoleKind::BuiltIn, permissions))
        })
        .collect()
});

/// Every built-in role of a Managed HSM.
pub fn built_in_roles() -> &'static [Role] {
    &BUILT_IN_ROLES
}

/// A custom role of the Managed HSM `hsm_id` (of `tenant_id`), checked: a name that no built-in role has,
/// and patterns without blanks. Unlike Azure's, an HSM's custom role may grant nothing yet.
pub fn custom_role(
    tenant_id: Uuid,
    hsm_id: Uuid,
    id: Uuid,
    name: &str,
    description: &str,
    permissions: RolePermissions,
) -> Result<RoleDefinition> {
    if name.trim().is_empty() {
        return Err(Error::invalid_input("a role definition needs a roleName"));
    }
    let patterns = permissions.actions.iter().chain(&permissions.data_actions);
    let patterns = patterns.chain(&permissions.not_actions).chain(&permissions.not_data_actions);
    if let Some(bad) = patterns.clone().find(|p| p.trim().is_empty() || p.contains(char::is_whitespace)) {
        return Err(Error::invalid_input(format_args!("role '{name}': '{bad}' is not an action pattern")));
    }
    if built_in_roles().iter().any(|r| r.name.eq_ignore_ascii_case(name)) {
        return Err(Error::invalid_input(format_args!("'{name}' is the name of a built-in role")));
    }
    Ok(RoleDefinition::new(id, name, description, RoleKind::HsmCustom { tenant_id, hsm_id }, permissions))
}

/// A local RBAC scope as Managed HSM writes it: `/` (the whole HSM), `/keys` (every key) or `/keys/{name}`.
pub fn parse_scope(text: &str) -> Option<Scope> {
    let text = text.trim_matches('/');
    match text.split_once('/') {
        _ if text.is_empty() => Some(Scope::Vault),
        None if text.eq_ignore_ascii_case("keys") => Some(Scope::Collection(Collection::Keys)),
        Some((keys, name)) if keys.eq_ignore_ascii_case("keys") && !name.is_empty() && !name.contains('/') => {
            Some(Scope::Object { collection: Collection::Keys, name: name.to_owned() })
        }
        _ => None,
    }
}

/// A local RBAC scope as Managed HSM writes it.
pub fn scope_text(scope: &Scope) -> String {
    match scope {
        Scope::Tenant | Scope::Vault => "/".to_owned(),
        scope => format!("/{}", scope.relative_path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::{Action, Caller, RoleAssignment, Target, find_role, is_permitted};

    fn role(name: &str) -> Role {
        find_role(built_in_roles(), name).cloned().unwrap_or_else(|| built_in_roles()[0].clone())
    }

    #[test]
    fn built_in_roles_grant_what_managed_hsm_says() {
        let user = role("Managed HSM Crypto User");
        assert_eq!(user.id.to_string(), "21dbd100-6940-42c2-9190-5d6cb909625b");
        assert!(user.grants(Action::HsmKeysEncrypt) && user.grants(Action::HsmRandomBytes));
        assert!(!user.grants(Action::HsmDeletedKeysPurge) && !user.grants(Action::HsmKeysExport));
        let administrator = role("Managed HSM Administrator");
        assert!(administrator.grants(Action::HsmBackupStart) && administrator.grants(Action::HsmRoleAssignmentsWrite));
        assert!(!administrator.grants(Action::HsmKeysRead), "the administrator manages the HSM, not its keys");
        let auditor = role("2c18b078-7c48-4d3a-af88-5a3a1b3f82b3");
        assert!(auditor.grants(Action::HsmKeysRead) && !auditor.grants(Action::HsmKeysSign));
        // Managed HSM's roles grant nothing in a vault, and Key Vault's nothing in an HSM.
        assert!(!user.grants(Action::KeysEncrypt));
        let vault_admin =
            crate::rbac::built_in_role("Key Vault Administrator").cloned().unwrap_or_else(|| user.clone());
        assert!(!vault_admin.grants(Action::HsmKeysEncrypt));
    }

    #[test]
    fn scopes_are_the_hsm_the_keys_or_one_key() {
        assert_eq!(parse_scope("/"), Some(Scope::Vault));
        assert_eq!(parse_scope("/keys"), Some(Scope::Collection(Collection::Keys)));
        let one = parse_scope("/keys/k1");
        assert_eq!(one, Some(Scope::Object { collection: Collection::Keys, name: "k1".into() }));
        for bad in ["/secrets", "/keys/a/b", "/certificates/c", "/other"] {
            assert_eq!(parse_scope(bad), None, "{bad}");
        }
        for text in ["/", "/keys", "/keys/k1"] {
            assert_eq!(parse_scope(text).map(|s| scope_text(&s)).as_deref(), Some(text));
        }
    }

    #[test]
    fn an_assignment_at_one_key_grants_nothing_on_another() {
        let caller = Uuid::new_v4();
        let assignment = |scope| RoleAssignment {
            id: Uuid::new_v4(),
            principal_id: caller,
            role: role("Managed HSM Crypto User"),
            scope,
            provisioned: false,
        };
        let at_key = [assignment(Scope::Object { collection: Collection::Keys, name: "k1".into() })];
        let me = Caller { object_id: caller, groups: &[] };
        let key = |name| Target { collection: Collection::Keys, name: Some(name) };
        let all_keys = Target { collection: Collection::Keys, name: None };
        assert!(is_permitted(&at_key, me, Action::HsmKeysSign, key("k1")));
        assert!(!is_permitted(&at_key, me, Action::HsmKeysSign, key("k2")));
        assert!(!is_permitted(&at_key, me, Action::HsmKeysRead, all_keys));
        let at_keys = [assignment(Scope::Collection(Collection::Keys))];
        assert!(is_permitted(&at_keys, me, Action::HsmKeysSign, key("k2")));
        assert!(is_permitted(&at_keys, me, Action::HsmKeysRead, all_keys));
    }
}

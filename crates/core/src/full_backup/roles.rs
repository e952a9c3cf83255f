//! A Managed HSM's local RBAC in a full backup: its custom role definitions and its role assignments, as Managed
//! HSM's full backups carry them.
//!
//! A full restore adds them to the HSM beside what it holds and takes nothing away: the caller restoring keeps
//! the access that let them restore, and the configuration's assignments stay. A custom role comes back under
//! its id, or as the HSM's role of the same name, or (its id being another HSM's, when the backup is restored
//! into a second HSM) under a new id; its assignments follow it. An assignment the HSM holds already (same
//! principal, role and scope) is not made twice.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::directory::{Change, Directory, Vault};
use crate::error::{Error, Result};
use crate::rbac::{Role, RoleAssignment, RolePermissions, hsm};

/// A custom role of the HSM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpRole {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// What it grants.
    pub permissions: RolePermissions,
}

/// A role assignment of the HSM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpAssignment {
    /// The principal it grants to.
    pub principal_id: Uuid,
    /// The role: a built-in role's id or one of [`LocalRoles::role_definitions`].
    pub role_id: Uuid,
    /// Where it applies, as Managed HSM writes scopes (`/`, `/keys`, `/keys/{name}`).
    pub scope: String,
}

/// The HSM's custom roles and role assignments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalRoles {
    /// Its custom role definitions.
    pub role_definitions: Vec<BackedUpRole>,
    /// Its role assignments.
    pub role_assignments: Vec<BackedUpAssignment>,
}

impl LocalRoles {
    /// What `directory` holds of the HSM `hsm_id`'s local RBAC.
    pub fn of(directory: &Directory, hsm_id: Uuid) -> Self {
        let role_definitions = directory
            .hsm_custom_roles(hsm_id)
            .map(|role| BackedUpRole {
                id: role.id,
                name: role.name.clone(),
                description: role.description.clone(),
                permissions: role.permissions.clone(),
            })
            .collect();
        let role_assignments = directory
            .role_assignments(hsm_id)
            .iter()
            .map(|a| BackedUpAssignment {
                principal_id: a.principal_id,
                role_id: a.role.id,
                scope: hsm::scope_text(&a.scope),
            })
            .collect();
        Self { role_definitions, role_assignments }
    }

    /// The directory changes that add these roles and assignments to `hsm`, as `directory` stands.
    pub fn restore_into(&self, directory: &Directory, hsm: &Vault) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        let mut restored: HashMap<Uuid, Role> = HashMap::new();
        for backed_up in &self.role_definitions {
            let own = directory
                .hsm_custom_roles(hsm.id)
                .find(|r| r.id == backed_up.id || r.name.eq_ignore_ascii_case(&backed_up.name));
            let id = match own {
                Some(role) => role.id,
                None if directory.role_definitions.iter().any(|r| r.id == backed_up.id) => Uuid::new_v4(),
                None => backed_up.id,
            };
            let definition = hsm::custom_role(
                hsm.tenant_id,
                hsm.id,
                id,
                &backed_up.name,
                &backed_up.description,
                backed_up.permissions.clone(),
            )?;
            let role = Role::new(definition);
            changes.push(Change::PutRoleDefinition(role.clone()));
            restored.insert(backed_up.id, role);
        }
        let mut held: Vec<(Uuid, Uuid, String)> = directory
            .role_assignments(hsm.id)
            .iter()
            .map(|a| (a.principal_id, a.role.id, hsm::scope_text(&a.scope)))
            .collect();
        for backed_up in &self.role_assignments {
            let role = match restored.get(&backed_up.role_id) {
                Some(role) => role.clone(),
                None => hsm::built_in_roles().iter().find(|r| r.id == backed_up.role_id).cloned().ok_or_else(|| {
                    Error::invalid_input(format_args!(
                        "The backup is invalid: a role assignment names the role {}, which it does not hold.",
                        backed_up.role_id
                    ))
                })?,
            };
            let scope = hsm::parse_scope(&backed_up.scope).ok_or_else(|| {
                Error::invalid_input(format_args!("The backup is invalid: {:?} is no scope.", backed_up.scope))
            })?;
            let key = (backed_up.principal_id, role.id, hsm::scope_text(&scope));
            if held.contains(&key) {
                continue;
            }
            held.push(key);
            let assignment = RoleAssignment {
                id: Uuid::new_v4(),
                principal_id: backed_up.principal_id,
                role,
                scope,
                provisioned: false,
            };
            changes.push(Change::PutRoleAssignment { tenant_id: hsm.tenant_id, vault_id: Some(hsm.id), assignment });
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{AuthorizationModel, Sku, Tags, VaultKind};
    use crate::network::NetworkRules;
    use crate::rbac::Scope;

    const CRYPTO_USER: &str = "21dbd100-6940-42c2-9190-5d6cb909625b";

    fn hsm(name: &str) -> Vault {
        Vault {
            id: Uuid::new_v4(),
            kind: VaultKind::ManagedHsm,
            tenant_id: Uuid::from_u128(1),
            name: name.into(),
            authorization: AuthorizationModel::Rbac,
            soft_delete_retention_days: 90,
            purge_protection: false,
            network: NetworkRules::default(),
            access_policies: Vec::new(),
            subscription_id: Uuid::from_u128(2),
            resource_group: "strongroom".into(),
            location: "local".into(),
            sku: Sku::Premium,
            tags: Tags::new(),
        }
    }

    fn custom(hsm: &Vault, name: &str) -> Result<Role> {
        let permissions = RolePermissions {
            data_actions: vec!["Microsoft.KeyVault/managedHsm/keys/read/action".into()],
            ..RolePermissions::default()
        };
        Ok(Role::new(hsm::custom_role(hsm.tenant_id, hsm.id, Uuid::new_v4(), name, "reads keys", permissions)?))
    }

    fn assignment(principal: u128, role: &Role, scope: Scope) -> RoleAssignment {
        RoleAssignment {
            id: Uuid::new_v4(),
            principal_id: Uuid::from_u128(principal),
            role: role.clone(),
            scope,
            provisioned: false,
        }
    }

    /// What `changes` put: role names, and assignments as (principal, role name, scope).
    fn put(changes: &[Change]) -> (Vec<String>, Vec<(u128, String, String)>) {
        let mut roles = Vec::new();
        let mut assignments = Vec::new();
        for change in changes {
            match change {
                Change::PutRoleDefinition(role) => roles.push(role.name.clone()),
                Change::PutRoleAssignment { assignment: a, .. } => {
                    assignments.push((a.principal_id.as_u128(), a.role.name.clone(), hsm::scope_text(&a.scope)))
                }
                _ => {}
            }
        }
        (roles, assignments)
    }

    #[test]
    fn roles_come_back_beside_what_the_hsm_holds_and_under_new_ids_in_another_hsm() -> Result<()> {
        let (source, target) = (hsm("source"), hsm("target"));
        let reader = custom(&source, "Key Reader")?;
        let crypto_user = hsm::built_in_roles().iter().find(|r| r.id.to_string() == CRYPTO_USER).cloned();
        let crypto_user = crypto_user.ok_or_else(|| Error::invalid_input("no Crypto User"))?;
        let keys = Scope::Collection(crate::rbac::Collection::Keys);
        let mut directory = Directory { vaults: vec![source.clone(), target.clone()], ..Directory::default() };
        directory.role_definitions.push(reader.clone());
        directory
            .role_assignments
            .insert(source.id, vec![assignment(7, &reader, keys.clone()), assignment(8, &crypto_user, Scope::Vault)]);
        directory.role_assignments.insert(target.id, vec![assignment(8, &crypto_user, Scope::Vault)]);
        let backed_up = LocalRoles::of(&directory, source.id);
        assert_eq!(backed_up.role_definitions.len(), 1);
        assert_eq!(backed_up.role_assignments.len(), 2);

        // Into its own HSM: nothing new (the role is put again as it was, under its id).
        let changes = backed_up.restore_into(&directory, &source)?;
        assert_eq!(put(&changes), (vec!["Key Reader".to_owned()], vec![]));
        assert!(matches!(&changes[0], Change::PutRoleDefinition(role) if role.id == reader.id));

        // Into another HSM: the custom role under a new id (the source keeps its own), its assignment following
        // it; the assignment the target holds already is not made twice.
        let changes = backed_up.restore_into(&directory, &target)?;
        assert_eq!(
            put(&changes),
            (vec!["Key Reader".to_owned()], vec![(7, "Key Reader".to_owned(), "/keys".to_owned())])
        );
        let Some(Change::PutRoleDefinition(copy)) = changes.first() else { return Err(Error::invalid_input("none")) };
        assert_ne!(copy.id, reader.id);
        assert!(matches!(copy.kind, crate::rbac::RoleKind::HsmCustom { hsm_id, .. } if hsm_id == target.id));
        let Some(Change::PutRoleAssignment { vault_id, assignment, .. }) = changes.get(1) else {
            return Err(Error::invalid_input("none"));
        };
        assert_eq!((*vault_id, assignment.role.id), (Some(target.id), copy.id));

        // An assignment naming a role the backup lacks makes it invalid.
        let mut broken = backed_up.clone();
        broken.role_definitions.clear();
        assert!(broken.restore_into(&directory, &target).is_err_and(|e| e.message().contains("does not hold")));
        Ok(())
    }
}

//! Resource Manager paths: which tenant (subscription), vault and object a path addresses, and what it asks
//! for there. Segment names compare case-insensitively, as ARM does.

use strongroom_core::rbac::{Collection, Scope};
use uuid::Uuid;

use super::error::ManagementError;

/// The one resource group of a Strongroom tenant.
pub const RESOURCE_GROUP: &str = "strongroom";

/// What a path asks for at its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// The resource itself (a vault).
    Resource,
    /// The vaults of the resource group.
    Vaults,
    /// A vault's access policies, with the edit the path names (`add`, `replace`, `remove`).
    AccessPolicies(String),
    /// Role assignments at the scope, or one by name.
    RoleAssignments(Option<String>),
    /// Role definitions, or one by id.
    RoleDefinitions(Option<String>),
    /// User-assigned managed identities, or one by name.
    ManagedIdentities(Option<String>),
}

/// A parsed Resource Manager path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmPath {
    /// The subscription, which is the tenant.
    pub tenant_id: Uuid,
    /// The vault, if the path goes down to one.
    pub vault: Option<String>,
    /// An object of the vault, if the path goes down to one.
    pub object: Option<(Collection, String)>,
    /// What is asked for.
    pub tail: Tail,
}

impl ArmPath {
    /// Parses `/subscriptions/{tenant}[/resourceGroups/strongroom[/providers/Microsoft.KeyVault/vaults[/{vault}
    /// [/{secrets|keys|certificates}/{name}]]]][/providers/Microsoft.Authorization/{roleAssignments|roleDefinitions}[/{id}]]`.
    pub fn parse(path: &str) -> Result<Self, ManagementError> {
        let not_found = || {
            ManagementError::not_found(
                "InvalidResourceType",
                format!("The path '{path}' names no resource type of this server."),
            )
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let is = |i: usize, name: &str| segments.get(i).is_some_and(|s| s.eq_ignore_ascii_case(name));
        if !is(0, "subscriptions") {
            return Err(not_found());
        }
        let tenant_id = segments.get(1).and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| {
            ManagementError::bad_request("InvalidSubscriptionId", "The subscription id is a tenant's GUID.")
        })?;
        let mut i = 2;
        let mut in_group = false;
        if is(i, "resourceGroups") {
            let group = segments.get(i + 1).copied().unwrap_or_default();
            if !group.eq_ignore_ascii_case(RESOURCE_GROUP) {
                return Err(ManagementError::not_found(
                    "ResourceGroupNotFound",
                    format!("Resource group '{group}' could not be found; every tenant has one, '{RESOURCE_GROUP}'."),
                ));
            }
            in_group = true;
            i += 2;
        }
        let mut vault = None;
        let mut object = None;
        if in_group
            && is(i, "providers")
            && is(i + 1, "Microsoft.ManagedIdentity")
            && is(i + 2, "userAssignedIdentities")
        {
            let tail = match &segments[i + 3..] {
                [] => Tail::ManagedIdentities(None),
                [name] => Tail::ManagedIdentities(Some((*name).to_owned())),
                _ => return Err(not_found()),
            };
            return Ok(Self { tenant_id, vault, object, tail });
        }
        if in_group && is(i, "providers") && is(i + 1, "Microsoft.KeyVault") && is(i + 2, "vaults") {
            match segments.get(i + 3) {
                None => return Ok(Self { tenant_id, vault, object, tail: Tail::Vaults }),
                Some(name) => vault = Some((*name).to_owned()),
            }
            i += 4;
            if is(i, "accessPolicies") && segments.len() == i + 2 {
                let kind = segments[i + 1].to_owned();
                return Ok(Self { tenant_id, vault, object, tail: Tail::AccessPolicies(kind) });
            }
            if let Some(collection) = segments.get(i).and_then(|s| Collection::parse(&s.to_ascii_lowercase())) {
                let name = segments.get(i + 1).filter(|n| !n.is_empty()).ok_or_else(not_found)?;
                object = Some((collection, (*name).to_owned()));
                i += 2;
            }
        }
        let tail = if i == segments.len() {
            if vault.is_none() || object.is_some() {
                return Err(not_found());
            }
            Tail::Resource
        } else if is(i, "providers") && is(i + 1, "Microsoft.Authorization") && segments.len() <= i + 4 {
            let id = segments.get(i + 3).map(|s| (*s).to_owned());
            if is(i + 2, "roleAssignments") {
                Tail::RoleAssignments(id)
            } else if is(i + 2, "roleDefinitions") {
                Tail::RoleDefinitions(id)
            } else {
                return Err(not_found());
            }
        } else {
            return Err(not_found());
        };
        Ok(Self { tenant_id, vault, object, tail })
    }

    /// The RBAC scope the path addresses (a resource group is its tenant's scope).
    pub fn scope(&self) -> Scope {
        match (&self.vault, &self.object) {
            (None, _) => Scope::Tenant,
            (Some(_), None) => Scope::Vault,
            (Some(_), Some((collection, name))) => Scope::Object { collection: *collection, name: name.clone() },
        }
    }
}

/// The canonical resource id of a scope of `tenant_id` (with the vault's name for vault and object scopes).
pub fn scope_id(tenant_id: Uuid, vault: Option<&str>, scope: &Scope) -> String {
    let subscription = format!("/subscriptions/{tenant_id}");
    match (vault, scope) {
        (Some(vault), Scope::Vault) => vault_id(tenant_id, vault),
        (Some(vault), Scope::Object { collection, name }) => {
            format!("{}/{}/{name}", vault_id(tenant_id, vault), collection.as_str())
        }
        _ => subscription,
    }
}

/// The resource id of a vault.
pub fn vault_id(tenant_id: Uuid, vault: &str) -> String {
    format!("/subscriptions/{tenant_id}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/{vault}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_scope_and_request() {
        let t = Uuid::new_v4();
        let vaults = format!("/subscriptions/{t}/resourceGroups/Strongroom/providers/Microsoft.KeyVault/vaults");
        let parsed = ArmPath::parse(&vaults).ok();
        assert_eq!(parsed.map(|p| p.tail), Some(Tail::Vaults));
        let vault = ArmPath::parse(&format!("{vaults}/billing")).ok();
        assert_eq!(
            vault.as_ref().map(|p| (p.vault.as_deref(), p.scope(), &p.tail)),
            Some((Some("billing"), Scope::Vault, &Tail::Resource))
        );
        let assignments = format!("{vaults}/billing/secrets/db/providers/Microsoft.Authorization/roleAssignments/x");
        let parsed = ArmPath::parse(&assignments).ok();
        assert_eq!(
            parsed.as_ref().map(ArmPath::scope),
            Some(Scope::Object { collection: Collection::Secrets, name: "db".into() })
        );
        assert_eq!(parsed.map(|p| p.tail), Some(Tail::RoleAssignments(Some("x".into()))));
        let tenant =
            ArmPath::parse(&format!("/subscriptions/{t}/providers/Microsoft.Authorization/roleDefinitions")).ok();
        assert_eq!(tenant.map(|p| (p.scope(), p.tail)), Some((Scope::Tenant, Tail::RoleDefinitions(None))));
        assert!(
            ArmPath::parse(&format!("/subscriptions/{t}/resourceGroups/other/providers/Microsoft.KeyVault/vaults"))
                .is_err()
        );
        assert!(ArmPath::parse("/subscriptions/not-a-guid").is_err());
        assert!(ArmPath::parse(&format!("/subscriptions/{t}")).is_err());
        assert!(ArmPath::parse(&format!("{vaults}/billing/widgets/x")).is_err());
        let policies = ArmPath::parse(&format!("{vaults}/billing/accessPolicies/add")).ok();
        assert_eq!(policies.map(|p| (p.scope(), p.tail)), Some((Scope::Vault, Tail::AccessPolicies("add".into()))));
    }
}

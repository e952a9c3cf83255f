//! Resource Manager paths: which tenant (subscription), vault and object a path addresses, and what it asks
//! for there. Segment names compare case-insensitively, as ARM does.

use strongroom_core::directory::Vault;
use strongroom_core::rbac::{Collection, Scope};
use uuid::Uuid;

use super::error::ManagementError;

/// What a path asks for at its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// The subscription itself.
    Subscription,
    /// The subscription's locations.
    Locations,
    /// The generic resources query of the subscription or resource group.
    Resources,
    /// The resource providers, or one by namespace.
    Providers(Option<String>),
    /// The subscription's resource groups.
    ResourceGroups,
    /// The resource group itself.
    ResourceGroup,
    /// The resource itself (a vault).
    Resource,
    /// The vaults of the resource group, or of the subscription.
    Vaults,
    /// A vault's access policies, with the edit the path names (`add`, `replace`, `remove`).
    AccessPolicies(String),
    /// Role assignments at the scope, or one by name.
    RoleAssignments(Option<String>),
    /// Role definitions, or one by id.
    RoleDefinitions(Option<String>),
    /// A vault's audit log (`providers/Microsoft.Insights/logs` at the vault's scope).
    AuditLogs,
    /// A vault's Event Grid event subscriptions, or one by name
    /// (`providers/Microsoft.EventGrid/eventSubscriptions[/{name}]` at the vault's scope).
    EventSubscriptions(Option<String>),
    /// A vault's dead-lettered events (`providers/Strongroom.Events/deadLetteredEvents`).
    DeadLetteredEvents,
    /// A vault's injected faults (`providers/Strongroom.Testing/faults/default`, test controls).
    Faults,
    /// The server's clock (`providers/Strongroom.Testing/clock` at the subscription, test controls).
    Clock,
    /// User-assigned managed identities, or one by name.
    ManagedIdentities(Option<String>),
    /// `Microsoft.KeyVault/checkNameAvailability`, or with `managed_hsm` `checkMhsmNameAvailability`.
    CheckNameAvailability {
        /// Whether the name asked about is a Managed HSM's.
        managed_hsm: bool,
    },
    /// The subscription's soft-deleted vaults.
    DeletedVaults,
    /// The subscription's soft-deleted Managed HSMs.
    DeletedManagedHsms,
    /// The Managed HSMs of the resource group, or of the subscription.
    ManagedHsms,
    /// One Managed HSM of the resource group, by name.
    ManagedHsm(String),
    /// One soft-deleted vault (or, with `managed_hsm`, Managed HSM) at a location, or its purge (`purge` true).
    DeletedVault {
        /// Whether the path names a deleted Managed HSM (`deletedManagedHSMs`).
        managed_hsm: bool,
        /// The location the path names.
        location: String,
        /// The vault's name.
        name: String,
        /// Whether the path is the vault's `purge` action.
        purge: bool,
    },
}

/// A parsed Resource Manager path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmPath {
    /// The subscription as the path gives it: a subscription's id, or (for older clients) its tenant's id,
    /// which stands for the tenant's default subscription.
    pub subscription: Uuid,
    /// The resource group, if the path goes down to one.
    pub resource_group: Option<String>,
    /// The vault, if the path goes down to one.
    pub vault: Option<String>,
    /// An object of the vault, if the path goes down to one.
    pub object: Option<(Collection, String)>,
    /// What is asked for.
    pub tail: Tail,
}

impl ArmPath {
    /// Parses `/subscriptions/{subscription}[/resourceGroups/{group}[/providers/Microsoft.KeyVault/vaults[/{vault}
    /// [/{secrets|keys|certificates}/{name}]]]][/providers/Microsoft.Authorization/{roleAssignments|roleDefinitions}[/{id}]]`
    /// and the subscription's own paths (locations, resources, providers, resource groups, Key Vault's
    /// subscription-wide operations).
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
        let subscription = segments.get(1).and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| {
            ManagementError::bad_request("InvalidSubscriptionId", "The provided subscription identifier is malformed.")
        })?;
        let at = |resource_group: Option<String>, tail: Tail| Self {
            subscription,
            resource_group,
            vault: None,
            object: None,
            tail,
        };
        let owned = |i: usize| segments.get(i).map(|s| (*s).to_owned());
        let rest = &segments[2..];
        let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
        let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
        match lower.as_slice() {
            [] => return Ok(at(None, Tail::Subscription)),
            ["locations"] => return Ok(at(None, Tail::Locations)),
            ["resources"] => return Ok(at(None, Tail::Resources)),
            ["providers"] => return Ok(at(None, Tail::Providers(None))),
            ["providers", namespace] if *namespace != "microsoft.authorization" => {
                return Ok(at(None, Tail::Providers(owned(3))));
            }
            ["resourcegroups"] => return Ok(at(None, Tail::ResourceGroups)),
            ["resourcegroups", _] => return Ok(at(owned(3), Tail::ResourceGroup)),
            ["resourcegroups", _, "resources"] => return Ok(at(owned(3), Tail::Resources)),
            ["providers", "microsoft.keyvault", "vaults"] => return Ok(at(None, Tail::Vaults)),
            ["providers", "strongroom.testing", "clock"] => return Ok(at(None, Tail::Clock)),
            ["providers", "microsoft.keyvault", "checknameavailability"] => {
                return Ok(at(None, Tail::CheckNameAvailability { managed_hsm: false }));
            }
            ["providers", "microsoft.keyvault", "checkmhsmnameavailability"] => {
                return Ok(at(None, Tail::CheckNameAvailability { managed_hsm: true }));
            }
            ["providers", "microsoft.keyvault", "deletedvaults"] => return Ok(at(None, Tail::DeletedVaults)),
            ["providers", "microsoft.keyvault", "deletedmanagedhsms"] => {
                return Ok(at(None, Tail::DeletedManagedHsms));
            }
            ["providers", "microsoft.keyvault", "locations", _, deleted, _, tail @ ..]
                if matches!(*deleted, "deletedvaults" | "deletedmanagedhsms") && matches!(tail, [] | ["purge"]) =>
            {
                let (location, name) = (rest[3].to_owned(), rest[5].to_owned());
                let (managed_hsm, purge) = (*deleted == "deletedmanagedhsms", !tail.is_empty());
                return Ok(at(None, Tail::DeletedVault { managed_hsm, location, name, purge }));
            }
            ["providers", "microsoft.keyvault", "managedhsms"] => return Ok(at(None, Tail::ManagedHsms)),
            ["resourcegroups", _, "providers", "microsoft.keyvault", "managedhsms"] => {
                return Ok(at(owned(3), Tail::ManagedHsms));
            }
            ["resourcegroups", _, "providers", "microsoft.keyvault", "managedhsms", _] => {
                return Ok(at(owned(3), Tail::ManagedHsm(rest[5].to_owned())));
            }
            _ => {}
        }
        let mut i = 2;
        let mut resource_group = None;
        if is(i, "resourceGroups") {
            resource_group = owned(i + 1);
            i += 2;
        }
        let mut vault = None;
        let mut object = None;
        if resource_group.is_some()
            && is(i, "providers")
            && is(i + 1, "Microsoft.ManagedIdentity")
            && is(i + 2, "userAssignedIdentities")
        {
            let tail = match &segments[i + 3..] {
                [] => Tail::ManagedIdentities(None),
                [name] => Tail::ManagedIdentities(Some((*name).to_owned())),
                _ => return Err(not_found()),
            };
            return Ok(at(resource_group, tail));
        }
        if resource_group.is_some() && is(i, "providers") && is(i + 1, "Microsoft.KeyVault") && is(i + 2, "vaults") {
            match segments.get(i + 3) {
                None => return Ok(at(resource_group, Tail::Vaults)),
                Some(name) => vault = Some((*name).to_owned()),
            }
            i += 4;
            if is(i, "accessPolicies") && segments.len() == i + 2 {
                let kind = segments[i + 1].to_owned();
                return Ok(Self { vault, ..at(resource_group, Tail::AccessPolicies(kind)) });
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
        } else if vault.is_some()
            && object.is_none()
            && is(i, "providers")
            && is(i + 1, "Microsoft.Insights")
            && is(i + 2, "logs")
            && segments.len() == i + 3
        {
            Tail::AuditLogs
        } else if vault.is_some()
            && object.is_none()
            && is(i, "providers")
            && is(i + 1, "Microsoft.EventGrid")
            && is(i + 2, "eventSubscriptions")
            && (segments.len() == i + 3 || segments.len() == i + 4)
        {
            Tail::EventSubscriptions(segments.get(i + 3).filter(|n| !n.is_empty()).map(|n| (*n).to_owned()))
        } else if vault.is_some()
            && object.is_none()
            && is(i, "providers")
            && is(i + 1, "Strongroom.Events")
            && is(i + 2, "deadLetteredEvents")
            && segments.len() == i + 3
        {
            Tail::DeadLetteredEvents
        } else if vault.is_some()
            && object.is_none()
            && is(i, "providers")
            && is(i + 1, "Strongroom.Testing")
            && is(i + 2, "faults")
            && is(i + 3, "default")
            && segments.len() == i + 4
        {
            Tail::Faults
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
        Ok(Self { subscription, resource_group, vault, object, tail })
    }

    /// The RBAC scope the path addresses (a subscription or resource group is its tenant's scope).
    pub fn scope(&self) -> Scope {
        match (&self.vault, &self.object) {
            (None, _) => Scope::Tenant,
            (Some(_), None) => Scope::Vault,
            (Some(_), Some((collection, name))) => Scope::Object { collection: *collection, name: name.clone() },
        }
    }
}

/// The canonical resource id of a scope in the subscription shown as `subscription_id`: the subscription for
/// the tenant's scope, else under the vault.
pub fn scope_id(subscription_id: Uuid, vault: Option<&Vault>, scope: &Scope) -> String {
    match (vault, scope) {
        (Some(vault), Scope::Vault) => vault_id(subscription_id, vault),
        (Some(vault), Scope::Object { collection, name }) => {
            format!("{}/{}/{name}", vault_id(subscription_id, vault), collection.as_str())
        }
        _ => subscription_id_path(subscription_id),
    }
}

/// `/subscriptions/{id}`.
pub fn subscription_id_path(subscription_id: Uuid) -> String {
    format!("/subscriptions/{subscription_id}")
}

/// The resource id of a resource group.
pub fn resource_group_id(subscription_id: Uuid, group: &str) -> String {
    format!("/subscriptions/{subscription_id}/resourceGroups/{group}")
}

/// The resource id of a vault, in the subscription shown as `subscription_id`.
pub fn vault_id(subscription_id: Uuid, vault: &Vault) -> String {
    format!(
        "{}/providers/Microsoft.KeyVault/vaults/{}",
        resource_group_id(subscription_id, &vault.resource_group),
        vault.name
    )
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
        let other =
            ArmPath::parse(&format!("/subscriptions/{t}/resourceGroups/other/providers/Microsoft.KeyVault/vaults"));
        assert_eq!(other.ok().map(|p| (p.resource_group, p.tail)), Some((Some("other".into()), Tail::Vaults)));
        assert!(ArmPath::parse("/subscriptions/not-a-guid").is_err());
        assert_eq!(ArmPath::parse(&format!("/subscriptions/{t}")).ok().map(|p| p.tail), Some(Tail::Subscription));
        let group = ArmPath::parse(&format!("/subscriptions/{t}/resourcegroups/Billing")).ok();
        assert_eq!(group.map(|p| (p.resource_group, p.tail)), Some((Some("Billing".into()), Tail::ResourceGroup)));
        let purge = format!("/subscriptions/{t}/providers/Microsoft.KeyVault/locations/local/deletedVaults/old/purge");
        assert_eq!(
            ArmPath::parse(&purge).ok().map(|p| p.tail),
            Some(Tail::DeletedVault { managed_hsm: false, location: "local".into(), name: "old".into(), purge: true })
        );
        let hsms = format!("/subscriptions/{t}/resourceGroups/Strongroom/providers/Microsoft.KeyVault/managedHSMs");
        assert_eq!(ArmPath::parse(&hsms).ok().map(|p| p.tail), Some(Tail::ManagedHsms));
        let hsm = ArmPath::parse(&format!("{hsms}/Vault9")).ok();
        assert_eq!(
            hsm.map(|p| (p.resource_group, p.vault, p.tail)),
            Some((Some("Strongroom".into()), None, Tail::ManagedHsm("Vault9".into())))
        );
        let all = format!("/subscriptions/{t}/providers/Microsoft.KeyVault/managedHSMs");
        assert_eq!(ArmPath::parse(&all).ok().map(|p| (p.resource_group, p.tail)), Some((None, Tail::ManagedHsms)));
        let deleted = format!("/subscriptions/{t}/providers/Microsoft.KeyVault/locations/local/deletedManagedHSMs/h1");
        assert_eq!(
            ArmPath::parse(&deleted).ok().map(|p| p.tail),
            Some(Tail::DeletedVault { managed_hsm: true, location: "local".into(), name: "h1".into(), purge: false })
        );
        assert!(ArmPath::parse(&format!("{hsms}/h1/keys/k")).is_err());
        let by_subscription = ArmPath::parse(&format!("/subscriptions/{t}/providers/Microsoft.KeyVault/vaults")).ok();
        assert_eq!(by_subscription.map(|p| (p.resource_group, p.tail)), Some((None, Tail::Vaults)));
        let provider = ArmPath::parse(&format!("/subscriptions/{t}/providers/Microsoft.KeyVault")).ok();
        assert_eq!(provider.map(|p| p.tail), Some(Tail::Providers(Some("Microsoft.KeyVault".into()))));
        assert!(ArmPath::parse(&format!("{vaults}/billing/widgets/x")).is_err());
        let events = ArmPath::parse(&format!("{vaults}/billing/providers/Microsoft.EventGrid/eventSubscriptions/s1"));
        assert_eq!(events.ok().map(|p| p.tail), Some(Tail::EventSubscriptions(Some("s1".into()))));
        let all = ArmPath::parse(&format!("{vaults}/billing/providers/microsoft.eventgrid/eventsubscriptions"));
        assert_eq!(all.ok().map(|p| p.tail), Some(Tail::EventSubscriptions(None)));
        let dead = ArmPath::parse(&format!("{vaults}/billing/providers/Strongroom.Events/deadLetteredEvents"));
        assert_eq!(dead.ok().map(|p| p.tail), Some(Tail::DeadLetteredEvents));
        let policies = ArmPath::parse(&format!("{vaults}/billing/accessPolicies/add")).ok();
        assert_eq!(policies.map(|p| (p.scope(), p.tail)), Some((Scope::Vault, Tail::AccessPolicies("add".into()))));
    }
}

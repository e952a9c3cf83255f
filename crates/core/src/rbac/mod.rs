//! Azure RBAC: role definitions ([`roles`]), the actions they grant ([`action`]), role assignments and their
//! evaluation.
//!
//! A caller may perform an action when some assignment applies to it (by object id, or a group it belongs to,
//! transitively), at the target's scope or above, of a role that grants the action. Each role's grant is its
//! allowed patterns minus its `not` patterns, compiled once; assignments add up, they never take away.

use uuid::Uuid;

pub mod action;
pub mod hsm;
pub mod roles;

pub use action::{Action, ActionSet};
pub use roles::{Role, RoleDefinition, RoleKind, RolePermissions, built_in_role, built_in_roles, find_role};

/// The kinds of vault objects, as they appear in paths and scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    /// `secrets`
    Secrets,
    /// `keys`
    Keys,
    /// `certificates`
    Certificates,
}

impl Collection {
    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Secrets => "secrets",
            Collection::Keys => "keys",
            Collection::Certificates => "certificates",
        }
    }

    /// The collection named by a path segment.
    pub fn parse(segment: &str) -> Option<Self> {
        match segment {
            "secrets" => Some(Collection::Secrets),
            "keys" => Some(Collection::Keys),
            "certificates" => Some(Collection::Certificates),
            _ => None,
        }
    }
}

/// Where an assignment applies: the whole vault, or one object and its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole tenant (Azure's subscription scope): every vault, and the directory.
    Tenant,
    /// The whole vault.
    Vault,
    /// Every object of one collection (Managed HSM's `/keys`).
    Collection(Collection),
    /// One object.
    Object {
        /// Its collection.
        collection: Collection,
        /// Its name; object names compare case-insensitively.
        name: String,
    },
}

impl Scope {
    /// Parses `secrets/{name}` (or `keys/…`, `certificates/…`); an empty or `/` scope is the vault.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim_matches('/');
        if text.is_empty() {
            return Some(Scope::Vault);
        }
        let (collection, name) = text.split_once('/')?;
        let collection = Collection::parse(collection)?;
        if name.is_empty() || name.contains('/') {
            return None;
        }
        Some(Scope::Object { collection, name: name.to_owned() })
    }

    /// Whether an assignment at this scope covers `target`.
    fn covers(&self, target: &Target<'_>) -> bool {
        match self {
            Scope::Tenant | Scope::Vault => true,
            Scope::Collection(collection) => target.collection == *collection,
            Scope::Object { collection, name } => {
                target.collection == *collection && target.name.is_some_and(|n| n.eq_ignore_ascii_case(name))
            }
        }
    }

    /// Whether an assignment at this scope covers the resource at `resource` (for control-plane actions on
    /// assignments and vaults). The caller passes only assignments of the resource's tenant and vault.
    fn covers_resource(&self, resource: &Scope) -> bool {
        match (self, resource) {
            (Scope::Tenant, _) => true,
            (Scope::Vault, Scope::Vault | Scope::Collection(_) | Scope::Object { .. }) => true,
            (Scope::Collection(collection), Scope::Collection(c) | Scope::Object { collection: c, .. }) => {
                collection == c
            }
            (Scope::Object { collection, name }, Scope::Object { collection: c, name: n }) => {
                collection == c && name.eq_ignore_ascii_case(n)
            }
            _ => false,
        }
    }

    /// The scope as a path relative to its vault: empty for the vault, `secrets/{name}` for one object; the
    /// tenant scope is `/`.
    pub fn relative_path(&self) -> String {
        match self {
            Scope::Tenant => "/".to_owned(),
            Scope::Vault => String::new(),
            Scope::Collection(collection) => collection.as_str().to_owned(),
            Scope::Object { collection, name } => format!("{}/{name}", collection.as_str()),
        }
    }
}

/// A role assignment on one vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// The assignment's own id.
    pub id: Uuid,
    /// The principal (user, group, service principal, managed identity) it grants to.
    pub principal_id: Uuid,
    /// The role.
    pub role: Role,
    /// Where it applies.
    pub scope: Scope,
    /// Whether the configuration file declared it (and so replaces it at every start); assignments made
    /// through the management API are kept.
    pub provisioned: bool,
}

/// What an operation touches: a collection, and the object when the operation names one. Collection-level
/// operations (list, restore) have no name and are granted only by vault-scoped assignments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The collection.
    pub collection: Collection,
    /// The object's name, if the operation is on one object.
    pub name: Option<&'a str>,
}

/// The caller as RBAC sees it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The token's `oid`.
    pub object_id: Uuid,
    /// The groups the caller is a member of.
    pub groups: &'a [Uuid],
}

/// Whether `assignments` grant `caller` the data action `action` on `target`.
pub fn is_permitted<'a>(
    assignments: impl IntoIterator<Item = &'a RoleAssignment>,
    caller: Caller<'_>,
    action: Action,
    target: Target<'_>,
) -> bool {
    applicable(assignments, caller, |scope| scope.covers(&target)).any(|a| a.role.grants(action))
}

/// Whether `assignments` grant `caller` the control-plane or directory action `action` on the resource at
/// `resource`; with `assigning`, the granting role must also be allowed to hand out that role (the Key Vault
/// Data Access Administrator's condition).
pub fn is_permitted_on<'a>(
    assignments: impl IntoIterator<Item = &'a RoleAssignment>,
    caller: Caller<'_>,
    action: Action,
    resource: &Scope,
    assigning: Option<&RoleDefinition>,
) -> bool {
    applicable(assignments, caller, |scope| scope.covers_resource(resource))
        .any(|a| a.role.grants(action) && assigning.is_none_or(|role| a.role.may_assign(role.id)))
}

/// The assignments that apply to `caller` at a scope `covers` accepts.
fn applicable<'a>(
    assignments: impl IntoIterator<Item = &'a RoleAssignment>,
    caller: Caller<'_>,
    covers: impl Fn(&Scope) -> bool,
) -> impl Iterator<Item = &'a RoleAssignment> {
    assignments.into_iter().filter(move |a| {
        (a.principal_id == caller.object_id || caller.groups.contains(&a.principal_id)) && covers(&a.scope)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::{SecretsGet as SECRETS_GET, SecretsReadMetadata as SECRETS_READ_METADATA};

    fn grant(principal: Uuid, role_name: &str, scope: Scope) -> RoleAssignment {
        let role = built_in_role(role_name).cloned().unwrap_or_else(|| built_in_roles()[0].clone());
        RoleAssignment { id: Uuid::new_v4(), principal_id: principal, role, scope, provisioned: true }
    }

    const SECRET: Target<'static> = Target { collection: Collection::Secrets, name: Some("db-password") };
    const SECRETS: Target<'static> = Target { collection: Collection::Secrets, name: None };

    #[test]
    fn nothing_is_granted_without_an_assignment() {
        let assignments = [grant(Uuid::new_v4(), "Key Vault Administrator", Scope::Vault)];
        let stranger = Caller { object_id: Uuid::new_v4(), groups: &[] };
        assert!(!is_permitted(&assignments, stranger, SECRETS_GET, SECRET));
    }

    #[test]
    fn object_scope_covers_that_object_only_and_never_the_collection() {
        let me = Uuid::new_v4();
        let caller = Caller { object_id: me, groups: &[] };
        let scope = Scope::parse("secrets/DB-Password");
        assert!(scope.is_some());
        let assignments = [grant(me, "Key Vault Secrets User", scope.unwrap_or(Scope::Vault))];
        assert!(is_permitted(&assignments, caller, SECRETS_GET, SECRET));
        let other = Target { collection: Collection::Secrets, name: Some("other") };
        assert!(!is_permitted(&assignments, caller, SECRETS_GET, other));
        assert!(!is_permitted(&assignments, caller, SECRETS_READ_METADATA, SECRETS));
    }

    #[test]
    fn group_assignments_apply_to_members() {
        let group = Uuid::new_v4();
        let groups = [group];
        let member = Caller { object_id: Uuid::new_v4(), groups: &groups };
        let assignments = [grant(group, "Key Vault Secrets User", Scope::Vault)];
        assert!(is_permitted(&assignments, member, SECRETS_GET, SECRET));
    }

    #[test]
    fn control_plane_scopes_cover_what_lies_below() {
        let me = Uuid::new_v4();
        let caller = Caller { object_id: me, groups: &[] };
        let object = Scope::Object { collection: Collection::Secrets, name: "a".into() };
        let on_vault = [grant(me, "Key Vault Data Access Administrator", Scope::Vault)];
        let secrets_user = built_in_role("Key Vault Secrets User").cloned();
        let owner = built_in_role("Owner").cloned();
        let (Some(secrets_user), Some(owner)) = (secrets_user, owner) else { return };
        let write = Action::RoleAssignmentsWrite;
        assert!(is_permitted_on(&on_vault, caller, write, &object, Some(&secrets_user)));
        assert!(is_permitted_on(&on_vault, caller, write, &Scope::Vault, Some(&secrets_user)));
        assert!(!is_permitted_on(&on_vault, caller, write, &Scope::Vault, Some(&owner)));
        assert!(!is_permitted_on(&on_vault, caller, write, &Scope::Tenant, Some(&secrets_user)));
        let on_object = [grant(me, "Owner", object.clone())];
        assert!(is_permitted_on(&on_object, caller, write, &object, Some(&owner)));
        assert!(!is_permitted_on(&on_object, caller, write, &Scope::Vault, None));
        let on_tenant = [grant(me, "Owner", Scope::Tenant)];
        assert!(is_permitted_on(&on_tenant, caller, Action::VaultsWrite, &Scope::Tenant, None));
        assert!(!is_permitted(&on_tenant, caller, SECRETS_GET, SECRET));
    }

    #[test]
    fn scopes_parse() {
        assert_eq!(Scope::parse(""), Some(Scope::Vault));
        assert_eq!(Scope::parse("/"), Some(Scope::Vault));
        assert!(Scope::parse("widgets/x").is_none());
        assert!(Scope::parse("secrets/").is_none());
        assert!(Scope::parse("secrets/a/b").is_none());
    }
}

/// Property tests: scopes and role definitions from any text parse or are refused, never panic, and keep the
/// planes apart.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    fn pattern() -> impl Strategy<Value = String> {
        prop_oneof![
            "[*a-zA-Z./]{0,40}",
            "\\PC{0,20}",
            Just("*".to_owned()),
            Just("Microsoft.KeyVault/vaults/*".to_owned()),
            Just("microsoft.directory/*".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn scopes_parse_or_are_refused_and_round_trip(text in prop_oneof!["\\PC{0,40}", "(secrets|keys|certificates|x)?/?[a-z/]{0,12}"]) {
            if let Some(scope) = Scope::parse(&text) {
                prop_assert_ne!(&scope, &Scope::Tenant);
                prop_assert_eq!(Scope::parse(&scope.relative_path()), Some(scope));
            }
        }

        #[test]
        fn custom_roles_never_grant_across_planes_or_panic(
            name in "\\PC{0,20}",
            actions in proptest::collection::vec(pattern(), 0..4),
            data_actions in proptest::collection::vec(pattern(), 0..4),
            not_data_actions in proptest::collection::vec(pattern(), 0..2),
        ) {
            let permissions = RolePermissions { actions, not_actions: vec![], data_actions, not_data_actions };
            if let Ok(role) = RoleDefinition::custom(Uuid::nil(), Uuid::nil(), &name, "", permissions.clone()) {
                for action in Action::ALL {
                    let patterns = match action.plane() {
                        action::Plane::Data => &permissions.data_actions,
                        action::Plane::Control => &permissions.actions,
                        action::Plane::Directory => {
                            // A custom Azure role never grants a directory action, whatever it says.
                            prop_assert!(!role.grants(*action), "{}", action.as_str());
                            continue;
                        }
                    };
                    if role.grants(*action) {
                        prop_assert!(patterns.iter().any(|p| action::matches(p, action.as_str())));
                    }
                }
            }
        }
    }
}

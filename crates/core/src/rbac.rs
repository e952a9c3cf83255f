//! Azure RBAC for the vault data plane: built-in role definitions, assignments and their evaluation.
//!
//! Effective permissions are the union of the data actions of every assignment that applies to the caller
//! (by object id or group) at the target's scope or above, minus the union of their not-data-actions. Action
//! patterns compare case-insensitively and `*` matches any run of characters, as in Azure.

use uuid::Uuid;

/// The data actions the vault checks (`Microsoft.KeyVault/vaults/...`).
pub mod actions {
    /// Read a secret's value.
    pub const SECRETS_GET: &str = "Microsoft.KeyVault/vaults/secrets/getSecret/action";
    /// Read secret metadata: list secrets and versions, read deleted secrets.
    pub const SECRETS_READ_METADATA: &str = "Microsoft.KeyVault/vaults/secrets/readMetadata/action";
    /// Create a secret or a new version.
    pub const SECRETS_SET: &str = "Microsoft.KeyVault/vaults/secrets/setSecret/action";
    /// Change a secret version's properties.
    pub const SECRETS_UPDATE: &str = "Microsoft.KeyVault/vaults/secrets/update/action";
    /// Delete a secret.
    pub const SECRETS_DELETE: &str = "Microsoft.KeyVault/vaults/secrets/delete";
    /// Back a secret up.
    pub const SECRETS_BACKUP: &str = "Microsoft.KeyVault/vaults/secrets/backup/action";
    /// Restore a secret from a backup.
    pub const SECRETS_RESTORE: &str = "Microsoft.KeyVault/vaults/secrets/restore/action";
    /// Recover a deleted secret.
    pub const SECRETS_RECOVER: &str = "Microsoft.KeyVault/vaults/secrets/recover/action";
    /// Purge a deleted secret.
    pub const SECRETS_PURGE: &str = "Microsoft.KeyVault/vaults/secrets/purge/action";
}

/// A role definition: a named set of data actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The role's GUID (the last segment of its definition id).
    pub id: &'static str,
    /// The display name, e.g. `Key Vault Secrets User`.
    pub name: &'static str,
    /// Granted data-action patterns.
    pub data_actions: &'static [&'static str],
    /// Data-action patterns taken away again.
    pub not_data_actions: &'static [&'static str],
}

/// The built-in Key Vault data-plane roles, with Azure's ids and data actions.
pub const BUILT_IN_ROLES: &[RoleDefinition] = &[
    RoleDefinition {
        id: "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        name: "Key Vault Administrator",
        data_actions: &["Microsoft.KeyVault/vaults/*"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "a4417e6f-fecd-4de8-b567-7b0420556985",
        name: "Key Vault Certificates Officer",
        data_actions: &[
            "Microsoft.KeyVault/vaults/certificatecas/*",
            "Microsoft.KeyVault/vaults/certificates/*",
            "Microsoft.KeyVault/vaults/certificatecontacts/write",
        ],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
        name: "Key Vault Certificate User",
        data_actions: &[
            "Microsoft.KeyVault/vaults/certificates/read",
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            "Microsoft.KeyVault/vaults/keys/read",
        ],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        name: "Key Vault Crypto Officer",
        data_actions: &["Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "12338af0-0e69-4776-bea7-57ae8d297424",
        name: "Key Vault Crypto User",
        data_actions: &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/update/action",
            "Microsoft.KeyVault/vaults/keys/backup/action",
            "Microsoft.KeyVault/vaults/keys/encrypt/action",
            "Microsoft.KeyVault/vaults/keys/decrypt/action",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
            "Microsoft.KeyVault/vaults/keys/sign/action",
            "Microsoft.KeyVault/vaults/keys/verify/action",
        ],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        name: "Key Vault Crypto Service Encryption User",
        data_actions: &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "08bbd89e-9f13-488c-ac41-acfcb10c90ab",
        name: "Key Vault Crypto Service Release User",
        data_actions: &["Microsoft.KeyVault/vaults/keys/release/action"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        name: "Key Vault Secrets Officer",
        data_actions: &["Microsoft.KeyVault/vaults/secrets/*"],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "4633458b-17de-408a-b874-0445c86b69e6",
        name: "Key Vault Secrets User",
        data_actions: &[
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "8b54135c-b56d-4d72-a534-26097cfdc8d8",
        name: "Key Vault Data Access Administrator",
        data_actions: &[],
        not_data_actions: &[],
    },
    RoleDefinition {
        id: "21090545-7ca7-4776-b22c-e363652d74d2",
        name: "Key Vault Reader",
        data_actions: &["Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"],
        not_data_actions: &[],
    },
];

/// The built-in role named `reference`: its display name (any case), its GUID, or its full definition id
/// `/providers/Microsoft.Authorization/roleDefinitions/{guid}`.
pub fn built_in_role(reference: &str) -> Option<&'static RoleDefinition> {
    let guid = reference.rsplit('/').next().unwrap_or(reference);
    BUILT_IN_ROLES.iter().find(|role| role.name.eq_ignore_ascii_case(reference) || role.id.eq_ignore_ascii_case(guid))
}

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
    /// The whole vault.
    Vault,
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
            Scope::Vault => true,
            Scope::Object { collection, name } => {
                target.collection == *collection && target.name.is_some_and(|n| n.eq_ignore_ascii_case(name))
            }
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
    pub role: &'static RoleDefinition,
    /// Where it applies.
    pub scope: Scope,
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
    action: &str,
    target: Target<'_>,
) -> bool {
    let mut granted = false;
    for assignment in assignments {
        let applies = assignment.principal_id == caller.object_id || caller.groups.contains(&assignment.principal_id);
        if !applies || !assignment.scope.covers(&target) {
            continue;
        }
        let role = assignment.role;
        if role.not_data_actions.iter().any(|pattern| action_matches(pattern, action)) {
            continue;
        }
        granted |= role.data_actions.iter().any(|pattern| action_matches(pattern, action));
    }
    granted
}

/// Case-insensitive match of an Azure action pattern, where `*` stands for any run of characters.
fn action_matches(pattern: &str, action: &str) -> bool {
    let pattern = pattern.as_bytes();
    let action = action.as_bytes();
    let (mut p, mut a) = (0, 0);
    // Where the last `*` was, and the action position it currently stands for; classic greedy matching.
    let mut star: Option<(usize, usize)> = None;
    while a < action.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, a));
            p += 1;
        } else if p < pattern.len() && pattern[p].eq_ignore_ascii_case(&action[a]) {
            p += 1;
            a += 1;
        } else if let Some((star_p, star_a)) = star {
            p = star_p + 1;
            a = star_a + 1;
            star = Some((star_p, star_a + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::actions::*;
    use super::*;

    fn role(name: &str) -> &'static RoleDefinition {
        built_in_role(name).unwrap_or(&BUILT_IN_ROLES[0])
    }

    fn grant(principal: Uuid, role_name: &str, scope: Scope) -> RoleAssignment {
        RoleAssignment { id: Uuid::new_v4(), principal_id: principal, role: role(role_name), scope }
    }

    const SECRET: Target<'static> = Target { collection: Collection::Secrets, name: Some("db-password") };
    const SECRETS: Target<'static> = Target { collection: Collection::Secrets, name: None };

    #[test]
    fn patterns_match_like_azure() {
        assert!(action_matches("Microsoft.KeyVault/vaults/*", SECRETS_GET));
        assert!(action_matches("microsoft.keyvault/VAULTS/secrets/*", SECRETS_GET));
        assert!(action_matches("Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keys/read"));
        assert!(!action_matches("Microsoft.KeyVault/vaults/*/read", SECRETS_GET));
        assert!(!action_matches("Microsoft.KeyVault/vaults/secrets/*", "Microsoft.KeyVault/vaults/keys/read"));
        assert!(action_matches(SECRETS_GET, SECRETS_GET));
        assert!(!action_matches(SECRETS_GET, SECRETS_SET));
    }

    #[test]
    fn roles_are_found_by_name_id_or_definition_id() {
        assert_eq!(role("key vault secrets user").id, "4633458b-17de-408a-b874-0445c86b69e6");
        assert!(built_in_role("4633458b-17de-408a-b874-0445c86b69e6").is_some());
        assert!(
            built_in_role("/providers/Microsoft.Authorization/roleDefinitions/21090545-7ca7-4776-b22c-e363652d74d2")
                .is_some_and(|r| r.name == "Key Vault Reader")
        );
        assert!(built_in_role("Owner").is_none());
    }

    #[test]
    fn built_in_roles_grant_their_documented_actions() {
        let me = Uuid::new_v4();
        let caller = Caller { object_id: me, groups: &[] };
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("Key Vault Administrator", &[(SECRETS_GET, true), (SECRETS_SET, true), (SECRETS_PURGE, true)]),
            ("Key Vault Secrets Officer", &[(SECRETS_GET, true), (SECRETS_SET, true), (SECRETS_DELETE, true)]),
            (
                "Key Vault Secrets User",
                &[(SECRETS_GET, true), (SECRETS_READ_METADATA, true), (SECRETS_SET, false), (SECRETS_DELETE, false)],
            ),
            ("Key Vault Reader", &[(SECRETS_READ_METADATA, true), (SECRETS_GET, false), (SECRETS_SET, false)]),
            ("Key Vault Crypto Officer", &[(SECRETS_GET, false), (SECRETS_READ_METADATA, false)]),
        ];
        for (role_name, expectations) in cases {
            let assignments = [grant(me, role_name, Scope::Vault)];
            for (action, expected) in *expectations {
                assert_eq!(is_permitted(&assignments, caller, action, SECRET), *expected, "{role_name} / {action}");
            }
        }
    }

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
    fn scopes_parse() {
        assert_eq!(Scope::parse(""), Some(Scope::Vault));
        assert_eq!(Scope::parse("/"), Some(Scope::Vault));
        assert!(Scope::parse("widgets/x").is_none());
        assert!(Scope::parse("secrets/").is_none());
        assert!(Scope::parse("secrets/a/b").is_none());
    }
}

//! Role definitions: Azure's built-in roles (Key Vault data roles and the control-plane roles that manage
//! vaults and access), Entra directory roles, and custom roles a tenant defines. Each definition compiles its
//! patterns to an [`ActionSet`] once, so checks never match patterns on the request path.

use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::action::{Action, ActionSet, Plane, compile};
use crate::error::{Error, Result};

/// What a role grants, as Azure writes it: action patterns and the patterns taken away again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolePermissions {
    /// Control-plane (or, for a directory role, directory) action patterns.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Patterns removed from `actions`.
    #[serde(default)]
    pub not_actions: Vec<String>,
    /// Data-plane action patterns.
    #[serde(default)]
    pub data_actions: Vec<String>,
    /// Patterns removed from `data_actions`.
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

/// Which kind of role a definition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    /// An Azure built-in role.
    BuiltIn,
    /// An Entra directory role: its actions are directory actions, assigned tenant-wide.
    Directory,
    /// A role a tenant defined; it can be assigned in that tenant only.
    Custom {
        /// The tenant that owns it.
        tenant_id: Uuid,
    },
    /// A role a Managed HSM defined; it can be assigned in that HSM only.
    HsmCustom {
        /// The tenant of the HSM.
        tenant_id: Uuid,
        /// The HSM that owns it.
        hsm_id: Uuid,
    },
}

/// A role definition with its compiled action set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The role's GUID (the last segment of its definition id).
    pub id: Uuid,
    /// The display name, e.g. `Key Vault Secrets User`.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Built-in, directory or custom.
    pub kind: RoleKind,
    /// The patterns it was defined with.
    pub permissions: RolePermissions,
    /// The roles it may assign and unassign, when its `roleAssignments` actions are limited by a condition
    /// (Key Vault Data Access Administrator); empty means no limit.
    pub assignable_roles: Vec<Uuid>,
    granted: ActionSet,
}

impl RoleDefinition {
    /// A role, its patterns compiled.
    pub fn new(id: Uuid, name: &str, description: &str, kind: RoleKind, permissions: RolePermissions) -> Self {
        let control_plane = if kind == RoleKind::Directory { Plane::Directory } else { Plane::Control };
        let control = compile(control_plane, &permissions.actions, &permissions.not_actions);
        let data = compile(Plane::Data, &permissions.data_actions, &permissions.not_data_actions);
        let granted = data.iter().fold(control, ActionSet::with);
        Self {
            id,
            name: name.to_owned(),
            description: description.to_owned(),
            kind,
            permissions,
            assignable_roles: Vec::new(),
            granted,
        }
    }

    /// A custom role of `tenant_id`, checked: a name, at least one pattern, and no directory actions.
    pub fn custom(
        tenant_id: Uuid,
        id: Uuid,
        name: &str,
        description: &str,
        permissions: RolePermissions,
    ) -> Result<Self> {
        if name.trim().is_empty() {
            return Err(Error::invalid_input("a role definition needs a roleName"));
        }
        let patterns = permissions.actions.iter().chain(&permissions.data_actions);
        if patterns.clone().next().is_none() {
            return Err(Error::invalid_input(format_args!(
                "role '{name}' grants nothing: give actions or dataActions"
            )));
        }
        if let Some(bad) = patterns.clone().find(|p| p.trim().is_empty() || p.contains(char::is_whitespace)) {
            return Err(Error::invalid_input(format_args!("role '{name}': '{bad}' is not an action pattern")));
        }
        if built_in_role(name).is_some() {
            return Err(Error::invalid_input(format_args!("'{name}' is the name of a built-in role")));
        }
        Ok(Self::new(id, name, description, RoleKind::Custom { tenant_id }, permissions))
    }

    /// Whether the role grants `action`.
    pub fn grants(&self, action: Action) -> bool {
        self.granted.contains(action)
    }

    /// Whether an assignment of this role may create or remove an assignment of `role`.
    pub fn may_assign(&self, role: Uuid) -> bool {
        self.assignable_roles.is_empty() || self.assignable_roles.contains(&role)
    }

    /// The definition id, `/providers/Microsoft.Authorization/roleDefinitions/{guid}`.
    pub fn definition_id(&self) -> String {
        format!("/providers/Microsoft.Authorization/roleDefinitions/{}", self.id)
    }
}

fn strings(patterns: &[&str]) -> Vec<String> {
    patterns.iter().map(|p| (*p).to_owned()).collect()
}

/// A built-in role from its id, name, description and pattern lists.
fn built_in(id: &str, name: &str, description: &str, actions: &[&str], not_actions: &[&str], data: &[&str]) -> Role {
    let permissions = RolePermissions {
        actions: strings(actions),
        not_actions: strings(not_actions),
        data_actions: strings(data),
        not_data_actions: Vec::new(),
    };
    Arc::new(RoleDefinition::new(
        Uuid::parse_str(id).unwrap_or_default(),
        name,
        description,
        RoleKind::BuiltIn,
        permissions,
    ))
}

fn directory_role(id: Uuid, name: &str, description: &str, actions: &[&str]) -> Role {
    let permissions = RolePermissions { actions: strings(actions), ..RolePermissions::default() };
    Arc::new(RoleDefinition::new(id, name, description, RoleKind::Directory, permissions))
}

/// A shared role definition.
pub type Role = Arc<RoleDefinition>;

/// Entra's Global Administrator.
pub const GLOBAL_ADMINISTRATOR: Uuid = Uuid::from_u128(0x62e9039469f542379190012177145e10);
/// Entra's User Administrator.
pub const USER_ADMINISTRATOR: Uuid = Uuid::from_u128(0xfe930be75e6247db91af98c3a49a38b1);
/// Entra's Groups Administrator.
pub const GROUPS_ADMINISTRATOR: Uuid = Uuid::from_u128(0xfdd7a751b60b444a984c02652fe8fa1c);
/// Entra's Application Administrator.
pub const APPLICATION_ADMINISTRATOR: Uuid = Uuid::from_u128(0x9b895d922cd344c79d02a6ac2d5ea5c3);
/// Entra's Directory Readers.
pub const DIRECTORY_READERS: Uuid = Uuid::from_u128(0x88d8e3e38f554a1e953a9b9898b8876b);
/// Entra's Privileged Role Administrator.
pub const PRIVILEGED_ROLE_ADMINISTRATOR: Uuid = Uuid::from_u128(0xe8611ab8c18946e894e160213ab1f814);
/// Entra's Privileged Authentication Administrator.
pub const PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: Uuid = Uuid::from_u128(0x7be44c8aadaf4e2a84d6ab2649e08a13);

/// The control-plane reads Key Vault's data roles carry.
const VAULT_READS: &[&str] = &[
    "Microsoft.Authorization/*/read",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
];

/// The roles the Key Vault Data Access Administrator may assign: the Key Vault data roles but itself.
const DATA_ACCESS_ASSIGNABLE: &[&str] = &[
    "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "a4417e6f-fecd-4de8-b567-7b0420556985",
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "12338af0-0e69-4776-bea7-57ae8d297424",
    "21090545-7ca7-4776-b22c-e363652d74d2",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "4633458b-17de-408a-b874-0445c86b69e6",
];

static BUILT_IN_ROLES: LazyLock<Vec<Role>> = LazyLock::new(|| {
    let kv = "Microsoft.KeyVault/vaults/";
    let mut data_access_administrator = RoleDefinition::clone(&built_in(
        "8b54135c-b56d-4d72-a534-26097cfdc8d8",
        "Key Vault Data Access Administrator",
        "Manage access to Key Vault by adding or removing role assignments for the Key Vault Administrator, Officer and User roles.",
        &[
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "Microsoft.Authorization/*/read",
            "Microsoft.KeyVault/vaults/*/read",
        ],
        &[],
        &[],
    ));
    data_access_administrator.assignable_roles =
        DATA_ACCESS_ASSIGNABLE.iter().filter_map(|id| Uuid::parse_str(id).ok()).collect();
    vec![
        built_in(
            "00482a5a-887f-4fb3-b363-3b7fe8e74483",
            "Key Vault Administrator",
            "Perform all data plane operations on a key vault and all objects in it.",
            VAULT_READS,
            &[],
            &[&format!("{kv}*")],
        ),
        built_in(
            "a4417e6f-fecd-4de8-b567-7b0420556985",
            "Key Vault Certificates Officer",
            "Perform any action on the certificates of a key vault, except manage permissions.",
            VAULT_READS,
            &[],
            &[
                &format!("{kv}certificatecas/*"),
                &format!("{kv}certificates/*"),
                &format!("{kv}certificatecontacts/write"),
            ],
        ),
        built_in(
            "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
            "Key Vault Certificate User",
            "Read entire certificate contents including secret and key portion.",
            &[],
            &[],
            &[
                &format!("{kv}certificates/read"),
                &format!("{kv}secrets/getSecret/action"),
                &format!("{kv}secrets/readMetadata/action"),
                &format!("{kv}keys/read"),
            ],
        ),
        built_in(
            "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
            "Key Vault Crypto Officer",
            "Perform any action on the keys of a key vault, except manage permissions.",
            VAULT_READS,
            &[],
            &[&format!("{kv}keys/*"), &format!("{kv}keyrotationpolicies/*")],
        ),
        built_in(
            "12338af0-0e69-4776-bea7-57ae8d297424",
            "Key Vault Crypto User",
            "Perform cryptographic operations using keys.",
            &[],
            &[],
            &[
                &format!("{kv}keys/read"),
                &format!("{kv}keys/update/action"),
                &format!("{kv}keys/backup/action"),
                &format!("{kv}keys/encrypt/action"),
                &format!("{kv}keys/decrypt/action"),
                &format!("{kv}keys/wrap/action"),
                &format!("{kv}keys/unwrap/action"),
                &format!("{kv}keys/sign/action"),
                &format!("{kv}keys/verify/action"),
            ],
        ),
        built_in(
            "e147488a-f6f5-4113-8e2d-b22465e65bf6",
            "Key Vault Crypto Service Encryption User",
            "Read metadata of keys and perform wrap/unwrap operations.",
            &[],
            &[],
            &[&format!("{kv}keys/read"), &format!("{kv}keys/wrap/action"), &format!("{kv}keys/unwrap/action")],
        ),
        built_in(
            "08bbd89e-9f13-488c-ac41-acfcb10c90ab",
            "Key Vault Crypto Service Release User",
            "Release keys.",
            &[],
            &[],
            &[&format!("{kv}keys/release/action")],
        ),
        built_in(
            "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
            "Key Vault Secrets Officer",
            "Perform any action on the secrets of a key vault, except manage permissions.",
            VAULT_READS,
            &[],
            &[&format!("{kv}secrets/*")],
        ),
        built_in(
            "4633458b-17de-408a-b874-0445c86b69e6",
            "Key Vault Secrets User",
            "Read secret contents.",
            &[],
            &[],
            &[&format!("{kv}secrets/getSecret/action"), &format!("{kv}secrets/readMetadata/action")],
        ),
        Arc::new(data_access_administrator),
        built_in(
            "21090545-7ca7-4776-b22c-e363652d74d2",
            "Key Vault Reader",
            "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values.",
            VAULT_READS,
            &[],
            &[&format!("{kv}*/read"), &format!("{kv}secrets/readMetadata/action")],
        ),
        built_in(
            "a68e7c17-0ab2-4c09-9a58-125dae29748c",
            "Key Vault Purge Operator",
            "Allows permanent deletion of soft-deleted vaults.",
            &[
                "Microsoft.Authorization/*/read",
                "Microsoft.KeyVault/locations/deletedVaults/read",
                "Microsoft.KeyVault/locations/deletedVaults/purge/action",
            ],
            &[],
            &[],
        ),
        built_in(
            "f25e0fa2-a7c8-4377-a976-54943a77a395",
            "Key Vault Contributor",
            "Manage key vaults, but not their data or who may access them.",
            &["Microsoft.Authorization/*/read", "Microsoft.KeyVault/*"],
            &[
                "Microsoft.KeyVault/locations/deletedVaults/purge/action",
                "Microsoft.KeyVault/hsmPools/*",
                "Microsoft.KeyVault/managedHsms/*",
            ],
            &[],
        ),
        built_in(
            "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            "Owner",
            "Grants full access to manage all resources, including assigning roles.",
            &["*"],
            &[],
            &[],
        ),
        built_in(
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
            "Contributor",
            "Grants full access to manage all resources, but not to assign roles.",
            &["*"],
            &[
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
            ],
            &[],
        ),
        built_in("acdd72a7-3374-48ba-b6ae-a2d3f4fd3f6e", "Reader", "View all resources.", &["*/read"], &[], &[]),
        built_in(
            "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
            "User Access Administrator",
            "Manage user access to Azure resources.",
            &["*/read", "Microsoft.Authorization/*"],
            &[],
            &[],
        ),
        directory_role(
            GLOBAL_ADMINISTRATOR,
            "Global Administrator",
            "Manage every aspect of the directory.",
            &["microsoft.directory/*"],
        ),
        directory_role(
            APPLICATION_ADMINISTRATOR,
            "Application Administrator",
            "Register applications and manage their credentials.",
            &["microsoft.directory/applications/*"],
        ),
        directory_role(
            USER_ADMINISTRATOR,
            "User Administrator",
            "Manage users and groups.",
            &["microsoft.directory/users/*", "microsoft.directory/groups/*"],
        ),
        directory_role(
            GROUPS_ADMINISTRATOR,
            "Groups Administrator",
            "Manage groups and their members.",
            &["microsoft.directory/groups/*"],
        ),
        directory_role(
            PRIVILEGED_ROLE_ADMINISTRATOR,
            "Privileged Role Administrator",
            "Manage role assignments in the directory, and the membership of role-assignable groups.",
            &["microsoft.directory/roleAssignments/allProperties/allTasks", "microsoft.directory/*/read"],
        ),
        directory_role(
            PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
            "Privileged Authentication Administrator",
            "Reset passwords and sign-in settings of any user, administrators included.",
            &["microsoft.directory/users/read", "microsoft.directory/users/update"],
        ),
        directory_role(DIRECTORY_READERS, "Directory Readers", "Read the directory.", &["microsoft.directory/*/read"]),
    ]
});

/// Every built-in role.
pub fn built_in_roles() -> &'static [Role] {
    &BUILT_IN_ROLES
}

/// The built-in role named `reference`: its display name (any case), its GUID, or its definition id
/// `…/providers/Microsoft.Authorization/roleDefinitions/{guid}`.
pub fn built_in_role(reference: &str) -> Option<&'static Role> {
    find_role(built_in_roles(), reference)
}

/// The role of `roles` named `reference` as [`built_in_role`] reads it.
pub fn find_role<'a>(roles: impl IntoIterator<Item = &'a Role>, reference: &str) -> Option<&'a Role> {
    let guid = reference.rsplit('/').next().and_then(|g| Uuid::parse_str(g).ok());
    roles.into_iter().find(|role| role.name.eq_ignore_ascii_case(reference) || Some(role.id) == guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> &'static Role {
        built_in_role(name).unwrap_or(&BUILT_IN_ROLES[0])
    }

    #[test]
    fn roles_are_found_by_name_id_or_definition_id() {
        assert_eq!(role("key vault secrets user").id.to_string(), "4633458b-17de-408a-b874-0445c86b69e6");
        assert!(built_in_role("4633458b-17de-408a-b874-0445c86b69e6").is_some());
        assert!(
            built_in_role("/providers/Microsoft.Authorization/roleDefinitions/21090545-7ca7-4776-b22c-e363652d74d2")
                .is_some_and(|r| r.name == "Key Vault Reader")
        );
        assert!(built_in_role("Owner").is_some());
        assert!(built_in_role("Emperor").is_none());
        let ids: std::collections::HashSet<Uuid> = built_in_roles().iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), built_in_roles().len());
        assert!(!ids.contains(&Uuid::nil()));
    }

    #[test]
    fn built_in_roles_grant_their_documented_actions() {
        use Action::*;
        let cases: &[(&str, &[Action], &[Action])] = &[
            (
                "Key Vault Administrator",
                &[SecretsGet, SecretsSet, SecretsPurge, KeysSign],
                &[VaultsWrite, RoleAssignmentsWrite],
            ),
            ("Key Vault Secrets Officer", &[SecretsGet, SecretsSet, SecretsDelete], &[KeysRead]),
            ("Key Vault Secrets User", &[SecretsGet, SecretsReadMetadata], &[SecretsSet, SecretsDelete]),
            (
                "Key Vault Reader",
                &[SecretsReadMetadata, KeysRead, CertificatesRead, KeyRotationPoliciesRead],
                &[SecretsGet],
            ),
            ("Key Vault Crypto Officer", &[KeysCreate, KeyRotationPoliciesWrite], &[SecretsGet]),
            ("Owner", &[VaultsWrite, RoleAssignmentsWrite, RoleDefinitionsWrite], &[SecretsGet, UsersCreate]),
            (
                "Contributor",
                &[VaultsWrite, VaultAccessPoliciesWrite, RoleAssignmentsRead],
                &[RoleAssignmentsWrite, SecretsGet],
            ),
            // Azure: Microsoft.KeyVault/* less purging and HSMs; access policies included, role assignments not.
            (
                "Key Vault Contributor",
                &[VaultsWrite, VaultsDelete, VaultAccessPoliciesWrite],
                &[DeletedVaultsPurge, RoleAssignmentsWrite, SecretsGet],
            ),
            ("Key Vault Purge Operator", &[DeletedVaultsPurge], &[VaultsWrite, SecretsPurge]),
            (
                "Key Vault Data Access Administrator",
                &[RoleAssignmentsWrite, RoleAssignmentsDelete],
                &[VaultsWrite, SecretsGet],
            ),
            ("User Access Administrator", &[RoleAssignmentsWrite, RoleDefinitionsWrite, VaultsRead], &[VaultsWrite]),
            ("Reader", &[VaultsRead, RoleAssignmentsRead], &[VaultsWrite, SecretsReadMetadata]),
            ("Global Administrator", &[UsersCreate, ApplicationCredentialsUpdate], &[VaultsWrite, SecretsGet]),
            ("Application Administrator", &[ApplicationsCreate, ApplicationCredentialsUpdate], &[UsersCreate]),
            ("User Administrator", &[UsersCreate, GroupsUpdate], &[ApplicationsCreate, DirectoryRoleAssignmentsManage]),
            ("Groups Administrator", &[GroupsUpdate], &[UsersUpdate, DirectoryRoleAssignmentsManage]),
            ("Global Administrator", &[DirectoryRoleAssignmentsManage], &[]),
            (
                "Privileged Role Administrator",
                &[DirectoryRoleAssignmentsManage, GroupsRead],
                &[GroupsUpdate, UsersUpdate],
            ),
            (
                "Privileged Authentication Administrator",
                &[UsersUpdate],
                &[GroupsUpdate, DirectoryRoleAssignmentsManage],
            ),
        ];
        for (name, granted, refused) in cases {
            for action in *granted {
                assert!(role(name).grants(*action), "{name} should grant {}", action.as_str());
            }
            for action in *refused {
                assert!(!role(name).grants(*action), "{name} should not grant {}", action.as_str());
            }
        }
    }

    /// A role as Azure defines it (tests/fixtures/azure-roles.json).
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct AzureRole {
        id: Uuid,
        role_name: String,
        #[serde(flatten)]
        permissions: RolePermissions,
        #[serde(default)]
        condition_role_definition_ids: Vec<Uuid>,
    }

    /// `patterns` sorted, less those of providers Strongroom does not serve (support tickets, deployments,
    /// alert rules, Event Grid …): only the Key Vault and Authorization providers' actions exist here.
    fn served(patterns: &[String]) -> Vec<String> {
        let mut served: Vec<String> = patterns
            .iter()
            .filter(|pattern| {
                let provider = pattern.split('/').next().unwrap_or_default();
                provider == "*"
                    || provider.eq_ignore_ascii_case("Microsoft.KeyVault")
                    || provider.eq_ignore_ascii_case("Microsoft.Authorization")
            })
            .cloned()
            .collect();
        served.sort();
        served
    }

    #[test]
    fn built_in_roles_are_azures_definitions() -> std::result::Result<(), serde_json::Error> {
        let text = include_str!("../../../../tests/fixtures/azure-roles.json");
        #[derive(Deserialize)]
        struct Fixture {
            roles: Vec<AzureRole>,
        }
        let azure: Fixture = serde_json::from_str(text)?;
        for expected in &azure.roles {
            let name = &expected.role_name;
            let role = built_in_role(&expected.id.to_string());
            assert!(role.is_some(), "{name} is not a built-in role");
            let Some(role) = role else { continue };
            assert_eq!((&role.name, role.kind), (name, RoleKind::BuiltIn), "{}", expected.id);
            let (ours, theirs) = (&role.permissions, &expected.permissions);
            assert_eq!(served(&ours.actions), served(&theirs.actions), "{name}: actions");
            assert_eq!(served(&ours.not_actions), served(&theirs.not_actions), "{name}: notActions");
            assert_eq!(ours.data_actions, theirs.data_actions, "{name}: dataActions");
            assert_eq!(ours.not_data_actions, theirs.not_data_actions, "{name}: notDataActions");
            let sorted = |ids: &[Uuid]| std::collections::BTreeSet::from_iter(ids.iter().copied());
            let (assignable, condition) =
                (sorted(&role.assignable_roles), sorted(&expected.condition_role_definition_ids));
            assert_eq!(assignable, condition, "{name}: the roles its condition lets it assign");
        }
        // Every other Azure role of ours is in the file too, but one whose definition the reference lacks.
        let unlisted: Vec<&str> = built_in_roles()
            .iter()
            .filter(|role| role.kind == RoleKind::BuiltIn && !azure.roles.iter().any(|r| r.id == role.id))
            .map(|role| role.name.as_str())
            .collect();
        assert_eq!(unlisted, ["Key Vault Purge Operator"]);
        Ok(())
    }

    #[test]
    fn the_data_access_administrator_assigns_only_key_vault_data_roles() {
        let admin = role("Key Vault Data Access Administrator");
        assert!(admin.may_assign(role("Key Vault Secrets User").id));
        assert!(!admin.may_assign(role("Owner").id));
        assert!(!admin.may_assign(admin.id));
        assert!(role("Owner").may_assign(role("Owner").id));
    }

    #[test]
    fn custom_roles_are_checked() {
        let tenant = Uuid::new_v4();
        let permissions = RolePermissions {
            data_actions: vec!["Microsoft.KeyVault/vaults/secrets/*".into()],
            not_data_actions: vec!["Microsoft.KeyVault/vaults/secrets/purge/action".into()],
            ..RolePermissions::default()
        };
        let custom = RoleDefinition::custom(tenant, Uuid::new_v4(), "Secret keeper", "", permissions.clone());
        assert!(custom.as_ref().is_ok_and(|r| r.grants(Action::SecretsDelete) && !r.grants(Action::SecretsPurge)));
        assert!(RoleDefinition::custom(tenant, Uuid::new_v4(), "Owner", "", permissions).is_err());
        assert!(RoleDefinition::custom(tenant, Uuid::new_v4(), "Nothing", "", RolePermissions::default()).is_err());
    }
}

//! The actions Strongroom authorizes, each on one of three planes, and the bit sets that role definitions
//! compile to so that a permission check is one bit test per assignment.
//!
//! Azure keeps the planes apart: a role's `actions` (control plane) never grant a data action, its
//! `dataActions` never grant a control-plane action, and Entra directory roles grant only directory actions.

/// Where an action lives, and so which of a role's pattern lists can grant it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Key Vault data-plane operations (`dataActions`).
    Data,
    /// Azure Resource Manager operations (`actions`).
    Control,
    /// Entra directory operations (a directory role's allowed resource actions).
    Directory,
}

macro_rules! actions {
    ($( $(#[$doc:meta])* $variant:ident = ($plane:ident, $name:literal), )*) => {
        /// An action Strongroom checks before an operation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Action {
            $( $(#[$doc])* $variant, )*
        }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The action's name as Azure spells it.
            pub fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }

            /// The plane the action belongs to.
            pub fn plane(self) -> Plane {
                match self { $(Action::$variant => Plane::$plane,)* }
            }
        }
    };
}

actions! {
    /// Read a vault's audit log (Azure Monitor's resource-context access to `AZKVAuditLogs`).
    AuditLogsRead = (Control, "Microsoft.Insights/logs/AZKVAuditLogs/read"),
    /// Delete a certificate issuer.
    CertificateIssuersDelete = (Data, "Microsoft.KeyVault/vaults/certificatecas/delete"),
    /// Read certificate issuers.
    CertificateIssuersRead = (Data, "Microsoft.KeyVault/vaults/certificatecas/read"),
    /// Create or change a certificate issuer.
    CertificateIssuersWrite = (Data, "Microsoft.KeyVault/vaults/certificatecas/write"),
    /// Set or delete certificate contacts.
    CertificateContactsWrite = (Data, "Microsoft.KeyVault/vaults/certificatecontacts/write"),
    /// Delete a certificate.
    CertificatesDelete = (Data, "Microsoft.KeyVault/vaults/certificates/delete"),
    /// Read certificates, their versions, policies and pending operations.
    CertificatesRead = (Data, "Microsoft.KeyVault/vaults/certificates/read"),
    /// Back a certificate up.
    CertificatesBackup = (Data, "Microsoft.KeyVault/vaults/certificates/backup/action"),
    /// Purge a deleted certificate.
    CertificatesPurge = (Data, "Microsoft.KeyVault/vaults/certificates/purge/action"),
    /// Change a certificate, its policy or its pending operation.
    CertificatesUpdate = (Data, "Microsoft.KeyVault/vaults/certificates/update/action"),
    /// Create a certificate or merge a signed one.
    CertificatesCreate = (Data, "Microsoft.KeyVault/vaults/certificates/create/action"),
    /// Import a certificate.
    CertificatesImport = (Data, "Microsoft.KeyVault/vaults/certificates/import/action"),
    /// Recover a deleted certificate.
    CertificatesRecover = (Data, "Microsoft.KeyVault/vaults/certificates/recover/action"),
    /// Restore a certificate from a backup.
    CertificatesRestore = (Data, "Microsoft.KeyVault/vaults/certificates/restore/action"),
    /// Read a key's rotation policy.
    KeyRotationPoliciesRead = (Data, "Microsoft.KeyVault/vaults/keyrotationpolicies/read"),
    /// Change a key's rotation policy.
    KeyRotationPoliciesWrite = (Data, "Microsoft.KeyVault/vaults/keyrotationpolicies/write"),
    /// Read keys (public parts), their versions and deleted keys.
    KeysRead = (Data, "Microsoft.KeyVault/vaults/keys/read"),
    /// Change a key's properties.
    KeysUpdate = (Data, "Microsoft.KeyVault/vaults/keys/update/action"),
    /// Create a key.
    KeysCreate = (Data, "Microsoft.KeyVault/vaults/keys/create/action"),
    /// Import a key.
    KeysImport = (Data, "Microsoft.KeyVault/vaults/keys/import/action"),
    /// Recover a deleted key.
    KeysRecover = (Data, "Microsoft.KeyVault/vaults/keys/recover/action"),
    /// Restore a key from a backup.
    KeysRestore = (Data, "Microsoft.KeyVault/vaults/keys/restore/action"),
    /// Delete a key.
    KeysDelete = (Data, "Microsoft.KeyVault/vaults/keys/delete"),
    /// Back a key up.
    KeysBackup = (Data, "Microsoft.KeyVault/vaults/keys/backup/action"),
    /// Purge a deleted key.
    KeysPurge = (Data, "Microsoft.KeyVault/vaults/keys/purge/action"),
    /// Encrypt with a key.
    KeysEncrypt = (Data, "Microsoft.KeyVault/vaults/keys/encrypt/action"),
    /// Decrypt with a key.
    KeysDecrypt = (Data, "Microsoft.KeyVault/vaults/keys/decrypt/action"),
    /// Wrap a key.
    KeysWrap = (Data, "Microsoft.KeyVault/vaults/keys/wrap/action"),
    /// Unwrap a key.
    KeysUnwrap = (Data, "Microsoft.KeyVault/vaults/keys/unwrap/action"),
    /// Sign with a key.
    KeysSign = (Data, "Microsoft.KeyVault/vaults/keys/sign/action"),
    /// Verify with a key.
    KeysVerify = (Data, "Microsoft.KeyVault/vaults/keys/verify/action"),
    /// Release an exportable key.
    KeysRelease = (Data, "Microsoft.KeyVault/vaults/keys/release/action"),
    /// Rotate a key.
    KeysRotate = (Data, "Microsoft.KeyVault/vaults/keys/rotate/action"),
    /// Draw random bytes (`POST /rng`). Azure has this only on Managed HSM (`managedHsm/rng/action`); Strongroom
    /// files it under keys, so the roles that hold `vaults/keys/*` hold it.
    KeysRandomBytes = (Data, "Microsoft.KeyVault/vaults/keys/rng/action"),
    /// Delete a secret.
    SecretsDelete = (Data, "Microsoft.KeyVault/vaults/secrets/delete"),
    /// Back a secret up.
    SecretsBackup = (Data, "Microsoft.KeyVault/vaults/secrets/backup/action"),
    /// Purge a deleted secret.
    SecretsPurge = (Data, "Microsoft.KeyVault/vaults/secrets/purge/action"),
    /// Change a secret version's properties.
    SecretsUpdate = (Data, "Microsoft.KeyVault/vaults/secrets/update/action"),
    /// Recover a deleted secret.
    SecretsRecover = (Data, "Microsoft.KeyVault/vaults/secrets/recover/action"),
    /// Restore a secret from a backup.
    SecretsRestore = (Data, "Microsoft.KeyVault/vaults/secrets/restore/action"),
    /// Read secret metadata: list secrets and versions, read deleted secrets.
    SecretsReadMetadata = (Data, "Microsoft.KeyVault/vaults/secrets/readMetadata/action"),
    /// Read a secret's value.
    SecretsGet = (Data, "Microsoft.KeyVault/vaults/secrets/getSecret/action"),
    /// Create a secret or a new version.
    SecretsSet = (Data, "Microsoft.KeyVault/vaults/secrets/setSecret/action"),

    /// Managed HSM: read keys (public parts) and their versions.
    HsmKeysRead = (Data, "Microsoft.KeyVault/managedHsm/keys/read/action"),
    /// Managed HSM: change a key's properties or its rotation policy.
    HsmKeysWrite = (Data, "Microsoft.KeyVault/managedHsm/keys/write/action"),
    /// Managed HSM: create a key.
    HsmKeysCreate = (Data, "Microsoft.KeyVault/managedHsm/keys/create"),
    /// Managed HSM: delete a key.
    HsmKeysDelete = (Data, "Microsoft.KeyVault/managedHsm/keys/delete"),
    /// Managed HSM: rotate a key.
    HsmKeysRotate = (Data, "Microsoft.KeyVault/managedHsm/keys/rotate/action"),
    /// Managed HSM: import a key.
    HsmKeysImport = (Data, "Microsoft.KeyVault/managedHsm/keys/import/action"),
    /// Managed HSM: release an exportable key.
    HsmKeysRelease = (Data, "Microsoft.KeyVault/managedHsm/keys/release/action"),
    /// Managed HSM: export a key (set it exportable).
    HsmKeysExport = (Data, "Microsoft.KeyVault/managedHsm/keys/export/action"),
    /// Managed HSM: back one key up.
    HsmKeysBackup = (Data, "Microsoft.KeyVault/managedHsm/keys/backup/action"),
    /// Managed HSM: restore one key, from its backup or from a full backup.
    HsmKeysRestore = (Data, "Microsoft.KeyVault/managedHsm/keys/restore/action"),
    /// Managed HSM: encrypt with a key.
    HsmKeysEncrypt = (Data, "Microsoft.KeyVault/managedHsm/keys/encrypt/action"),
    /// Managed HSM: decrypt with a key.
    HsmKeysDecrypt = (Data, "Microsoft.KeyVault/managedHsm/keys/decrypt/action"),
    /// Managed HSM: wrap a key.
    HsmKeysWrap = (Data, "Microsoft.KeyVault/managedHsm/keys/wrap/action"),
    /// Managed HSM: unwrap a key.
    HsmKeysUnwrap = (Data, "Microsoft.KeyVault/managedHsm/keys/unwrap/action"),
    /// Managed HSM: sign with a key.
    HsmKeysSign = (Data, "Microsoft.KeyVault/managedHsm/keys/sign/action"),
    /// Managed HSM: verify with a key.
    HsmKeysVerify = (Data, "Microsoft.KeyVault/managedHsm/keys/verify/action"),
    /// Managed HSM: read deleted keys.
    HsmDeletedKeysRead = (Data, "Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action"),
    /// Managed HSM: recover a deleted key.
    HsmDeletedKeysRecover = (Data, "Microsoft.KeyVault/managedHsm/keys/deletedKeys/recover/action"),
    /// Managed HSM: purge a deleted key.
    HsmDeletedKeysPurge = (Data, "Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete"),
    /// Managed HSM: draw random bytes.
    HsmRandomBytes = (Data, "Microsoft.KeyVault/managedHsm/rng/action"),
    /// Managed HSM: read local role assignments.
    HsmRoleAssignmentsRead = (Data, "Microsoft.KeyVault/managedHsm/roleAssignments/read/action"),
    /// Managed HSM: create local role assignments.
    HsmRoleAssignmentsWrite = (Data, "Microsoft.KeyVault/managedHsm/roleAssignments/write/action"),
    /// Managed HSM: delete local role assignments.
    HsmRoleAssignmentsDelete = (Data, "Microsoft.KeyVault/managedHsm/roleAssignments/delete/action"),
    /// Managed HSM: read local role definitions.
    HsmRoleDefinitionsRead = (Data, "Microsoft.KeyVault/managedHsm/roleDefinitions/read/action"),
    /// Managed HSM: create or change local custom roles.
    HsmRoleDefinitionsWrite = (Data, "Microsoft.KeyVault/managedHsm/roleDefinitions/write/action"),
    /// Managed HSM: delete local custom roles.
    HsmRoleDefinitionsDelete = (Data, "Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action"),
    /// Managed HSM: start a full backup.
    HsmBackupStart = (Data, "Microsoft.KeyVault/managedHsm/backup/start/action"),
    /// Managed HSM: read a full backup's status.
    HsmBackupStatus = (Data, "Microsoft.KeyVault/managedHsm/backup/status/action"),
    /// Managed HSM: start a full or selective restore.
    HsmRestoreStart = (Data, "Microsoft.KeyVault/managedHsm/restore/start/action"),
    /// Managed HSM: read a restore's status.
    HsmRestoreStatus = (Data, "Microsoft.KeyVault/managedHsm/restore/status/action"),
    /// Managed HSM: read its settings.
    HsmSettingsRead = (Data, "Microsoft.KeyVault/managedHsm/settings/read/action"),
    /// Managed HSM: change its settings.
    HsmSettingsWrite = (Data, "Microsoft.KeyVault/managedHsm/settings/write/action"),
    /// Managed HSM: download the security domain.
    HsmSecurityDomainDownload = (Data, "Microsoft.KeyVault/managedHsm/securitydomain/download/action"),
    /// Managed HSM: read the security domain download's status.
    HsmSecurityDomainDownloadRead = (Data, "Microsoft.KeyVault/managedHsm/securitydomain/download/read"),
    /// Managed HSM: upload a security domain.
    HsmSecurityDomainUpload = (Data, "Microsoft.KeyVault/managedHsm/securitydomain/upload/action"),
    /// Managed HSM: read the security domain upload's status.
    HsmSecurityDomainUploadRead = (Data, "Microsoft.KeyVault/managedHsm/securitydomain/upload/read"),
    /// Managed HSM: read the transfer key a security domain is uploaded under.
    HsmSecurityDomainTransferKeyRead = (Data, "Microsoft.KeyVault/managedHsm/securitydomain/transferkey/read"),

    /// Read a vault's properties.
    VaultsRead = (Control, "Microsoft.KeyVault/vaults/read"),
    /// Create a vault or change its properties, network rules included.
    VaultsWrite = (Control, "Microsoft.KeyVault/vaults/write"),
    /// Delete a vault.
    VaultsDelete = (Control, "Microsoft.KeyVault/vaults/delete"),
    /// Change a vault's access policies.
    VaultAccessPoliciesWrite = (Control, "Microsoft.KeyVault/vaults/accessPolicies/write"),
    /// Read a Managed HSM's properties.
    ManagedHsmsRead = (Control, "Microsoft.KeyVault/managedHSMs/read"),
    /// Create a Managed HSM or change its properties.
    ManagedHsmsWrite = (Control, "Microsoft.KeyVault/managedHSMs/write"),
    /// Delete a Managed HSM.
    ManagedHsmsDelete = (Control, "Microsoft.KeyVault/managedHSMs/delete"),
    /// Read deleted vaults.
    DeletedVaultsRead = (Control, "Microsoft.KeyVault/locations/deletedVaults/read"),
    /// Purge a deleted vault.
    DeletedVaultsPurge = (Control, "Microsoft.KeyVault/locations/deletedVaults/purge/action"),
    /// Read deleted Managed HSMs.
    DeletedManagedHsmsRead = (Control, "Microsoft.KeyVault/locations/deletedManagedHsms/read"),
    /// Purge a deleted Managed HSM.
    DeletedManagedHsmsPurge = (Control, "Microsoft.KeyVault/locations/deletedManagedHsms/purge/action"),
    /// Read a subscription. Strongroom shows a subscription to anyone holding an Azure role in its tenant; the
    /// action names the request in the audit.
    SubscriptionsRead = (Control, "Microsoft.Resources/subscriptions/read"),
    /// Read resource groups, and the resources query.
    ResourceGroupsRead = (Control, "Microsoft.Resources/subscriptions/resourceGroups/read"),
    /// Create a resource group or change its tags.
    ResourceGroupsWrite = (Control, "Microsoft.Resources/subscriptions/resourceGroups/write"),
    /// Delete a resource group, with the vaults in it.
    ResourceGroupsDelete = (Control, "Microsoft.Resources/subscriptions/resourceGroups/delete"),
    /// Read role assignments.
    RoleAssignmentsRead = (Control, "Microsoft.Authorization/roleAssignments/read"),
    /// Create role assignments.
    RoleAssignmentsWrite = (Control, "Microsoft.Authorization/roleAssignments/write"),
    /// Delete role assignments.
    RoleAssignmentsDelete = (Control, "Microsoft.Authorization/roleAssignments/delete"),
    /// Read role definitions.
    RoleDefinitionsRead = (Control, "Microsoft.Authorization/roleDefinitions/read"),
    /// Create or change custom role definitions.
    RoleDefinitionsWrite = (Control, "Microsoft.Authorization/roleDefinitions/write"),
    /// Delete custom role definitions.
    RoleDefinitionsDelete = (Control, "Microsoft.Authorization/roleDefinitions/delete"),

    /// Read user-assigned managed identities.
    ManagedIdentitiesRead = (Control, "Microsoft.ManagedIdentity/userAssignedIdentities/read"),
    /// Create or change user-assigned managed identities.
    ManagedIdentitiesWrite = (Control, "Microsoft.ManagedIdentity/userAssignedIdentities/write"),
    /// Delete user-assigned managed identities.
    ManagedIdentitiesDelete = (Control, "Microsoft.ManagedIdentity/userAssignedIdentities/delete"),
    /// Read a resource's Event Grid event subscriptions (and a vault's dead-lettered events).
    EventSubscriptionsRead = (Control, "Microsoft.EventGrid/eventSubscriptions/read"),
    /// Create or change an Event Grid event subscription.
    EventSubscriptionsWrite = (Control, "Microsoft.EventGrid/eventSubscriptions/write"),
    /// Delete an Event Grid event subscription.
    EventSubscriptionsDelete = (Control, "Microsoft.EventGrid/eventSubscriptions/delete"),
    /// Test controls: set or clear the faults a vault injects (installations with `test_controls` only).
    TestFaultsWrite = (Control, "Strongroom.Testing/faults/write"),
    /// Test controls: move the server's clock (installations with `test_controls` only).
    TestClockWrite = (Control, "Strongroom.Testing/clock/write"),

    /// Read users.
    UsersRead = (Directory, "microsoft.directory/users/read"),
    /// Create users.
    UsersCreate = (Directory, "microsoft.directory/users/create"),
    /// Change users: password, enabled, group membership.
    UsersUpdate = (Directory, "microsoft.directory/users/update"),
    /// Delete users.
    UsersDelete = (Directory, "microsoft.directory/users/delete"),
    /// Read groups.
    GroupsRead = (Directory, "microsoft.directory/groups/read"),
    /// Create groups.
    GroupsCreate = (Directory, "microsoft.directory/groups/create"),
    /// Change groups and their members.
    GroupsUpdate = (Directory, "microsoft.directory/groups/update"),
    /// Delete groups.
    GroupsDelete = (Directory, "microsoft.directory/groups/delete"),
    /// Read applications and service principals.
    ApplicationsRead = (Directory, "microsoft.directory/applications/read"),
    /// Register applications.
    ApplicationsCreate = (Directory, "microsoft.directory/applications/create"),
    /// Add and remove an application's credentials.
    ApplicationCredentialsUpdate = (Directory, "microsoft.directory/applications/credentials/update"),
    /// Delete applications.
    ApplicationsDelete = (Directory, "microsoft.directory/applications/delete"),
    /// Manage who holds directory roles, and so the membership of role-assignable groups (Entra's Privileged
    /// Role Administrator).
    DirectoryRoleAssignmentsManage = (Directory, "microsoft.directory/roleAssignments/allProperties/allTasks"),
}

impl Action {
    /// Whether the action is one of a Managed HSM's security domain, the only ones an HSM that is not
    /// activated serves.
    pub fn is_security_domain(self) -> bool {
        matches!(
            self,
            Action::HsmSecurityDomainDownload
                | Action::HsmSecurityDomainDownloadRead
                | Action::HsmSecurityDomainUpload
                | Action::HsmSecurityDomainUploadRead
                | Action::HsmSecurityDomainTransferKeyRead
        )
    }
}

/// A set of actions: what a role definition grants, compiled once from its patterns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionSet(u128);

impl ActionSet {
    /// The empty set.
    pub const EMPTY: ActionSet = ActionSet(0);

    /// Whether `action` is in the set.
    pub fn contains(self, action: Action) -> bool {
        self.0 & Self::bit(action) != 0
    }

    /// The set with `action` added.
    #[must_use]
    pub fn with(self, action: Action) -> ActionSet {
        ActionSet(self.0 | Self::bit(action))
    }

    /// The actions of the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.iter().copied().filter(move |a| self.contains(*a))
    }

    fn bit(action: Action) -> u128 {
        1u128 << (action as u8)
    }
}

/// Whether `action` matches the Azure action pattern `pattern`: case-insensitive, `*` stands for any run of
/// characters.
pub fn matches(pattern: &str, action: &str) -> bool {
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

/// The actions of `plane` that some pattern of `allowed` matches and no pattern of `denied` does.
pub fn compile(plane: Plane, allowed: &[String], denied: &[String]) -> ActionSet {
    Action::ALL
        .iter()
        .copied()
        .filter(|a| a.plane() == plane)
        .filter(|a| allowed.iter().any(|p| matches(p, a.as_str())) && !denied.iter().any(|p| matches(p, a.as_str())))
        .fold(ActionSet::EMPTY, ActionSet::with)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_fits_the_set() {
        assert!(Action::ALL.len() <= 128);
        for (index, action) in Action::ALL.iter().enumerate() {
            assert_eq!(*action as usize, index);
            assert!(ActionSet::EMPTY.with(*action).contains(*action));
        }
    }

    #[test]
    fn patterns_match_like_azure() {
        let get = Action::SecretsGet.as_str();
        assert!(matches("Microsoft.KeyVault/vaults/*", get));
        assert!(matches("microsoft.keyvault/VAULTS/secrets/*", get));
        assert!(matches("Microsoft.KeyVault/vaults/*/read", Action::KeysRead.as_str()));
        assert!(!matches("Microsoft.KeyVault/vaults/*/read", get));
        assert!(!matches("Microsoft.KeyVault/vaults/secrets/*", Action::KeysRead.as_str()));
        assert!(matches(get, get));
        assert!(!matches(get, Action::SecretsSet.as_str()));
    }

    #[test]
    fn planes_stay_apart() {
        let everything = vec!["*".to_owned()];
        let data = compile(Plane::Data, &everything, &[]);
        assert!(data.contains(Action::SecretsGet));
        assert!(!data.contains(Action::VaultsWrite));
        let control = compile(Plane::Control, &everything, &["Microsoft.Authorization/*/write".to_owned()]);
        assert!(control.contains(Action::VaultsWrite));
        assert!(!control.contains(Action::RoleAssignmentsWrite));
        assert!(!control.contains(Action::UsersCreate));
        assert!(!control.contains(Action::SecretsGet));
    }
}

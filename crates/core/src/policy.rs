//! The legacy access-policy model of Key Vault: per vault, a list of entries granting a principal (or a group
//! it belongs to) named permissions on keys, secrets and certificates. Permission names compare
//! case-insensitively; `all` grants every permission of its list.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::rbac::Collection;

/// Most entries a vault may have.
pub const MAX_ENTRIES: usize = 1024;

/// The permission names of each list (`all` included).
pub const SECRET_PERMISSIONS: &[&str] =
    &["all", "get", "list", "set", "delete", "backup", "restore", "recover", "purge"];
/// Key permissions.
pub const KEY_PERMISSIONS: &[&str] = &[
    "all",
    "encrypt",
    "decrypt",
    "wrapkey",
    "unwrapkey",
    "sign",
    "verify",
    "get",
    "list",
    "create",
    "update",
    "import",
    "delete",
    "backup",
    "restore",
    "recover",
    "purge",
    "release",
    "rotate",
    "getrotationpolicy",
    "setrotationpolicy",
];
/// Certificate permissions.
pub const CERTIFICATE_PERMISSIONS: &[&str] = &[
    "all",
    "get",
    "list",
    "delete",
    "create",
    "import",
    "update",
    "managecontacts",
    "getissuers",
    "listissuers",
    "setissuers",
    "deleteissuers",
    "manageissuers",
    "recover",
    "purge",
    "backup",
    "restore",
];

/// One access-policy entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPolicy {
    /// The principal (or group) the entry is for.
    pub object_id: Uuid,
    /// Secret permissions, lower case.
    pub secrets: Vec<String>,
    /// Key permissions, lower case.
    pub keys: Vec<String>,
    /// Certificate permissions, lower case.
    pub certificates: Vec<String>,
}

impl AccessPolicy {
    /// An entry for `object_id`, its permission names checked and lower-cased.
    pub fn new(object_id: Uuid, secrets: &[String], keys: &[String], certificates: &[String]) -> Result<Self> {
        let check = |names: &[String], allowed: &[&str], list: &str| {
            names
                .iter()
                .map(|name| {
                    let lower = name.to_ascii_lowercase();
                    match allowed.contains(&lower.as_str()) {
                        true => Ok(lower),
                        false => Err(Error::invalid_input(format_args!(
                            "'{name}' is not a {list} permission; use one of: {}",
                            allowed.join(", ")
                        ))),
                    }
                })
                .collect::<Result<Vec<_>>>()
        };
        Ok(Self {
            object_id,
            secrets: check(secrets, SECRET_PERMISSIONS, "secrets")?,
            keys: check(keys, KEY_PERMISSIONS, "keys")?,
            certificates: check(certificates, CERTIFICATE_PERMISSIONS, "certificates")?,
        })
    }

    fn list(&self, collection: Collection) -> &[String] {
        match collection {
            Collection::Secrets => &self.secrets,
            Collection::Keys => &self.keys,
            Collection::Certificates => &self.certificates,
        }
    }
}

/// What the access policies say about a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyDecision {
    /// An entry grants the permission.
    Granted,
    /// Entries name the caller, but none grants the permission.
    Denied,
    /// No entry names the caller at all.
    NotFound,
}

/// Whether `policies` grant `permission` on `collection` to the principal `object_id` (member of `groups`).
pub fn decide(
    policies: &[AccessPolicy],
    object_id: Uuid,
    groups: &[Uuid],
    collection: Collection,
    permission: &str,
) -> PolicyDecision {
    let mut named = false;
    for policy in policies.iter().filter(|p| p.object_id == object_id || groups.contains(&p.object_id)) {
        named = true;
        let list = policy.list(collection);
        let manage_issuers = collection == Collection::Certificates
            && permission.ends_with("issuers")
            && list.iter().any(|p| p == "manageissuers");
        if manage_issuers || list.iter().any(|p| p == "all" || p.eq_ignore_ascii_case(permission)) {
            return PolicyDecision::Granted;
        }
    }
    if named { PolicyDecision::Denied } else { PolicyDecision::NotFound }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(object_id: Uuid, secrets: &[&str]) -> Result<AccessPolicy> {
        let secrets: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
        AccessPolicy::new(object_id, &secrets, &[], &[])
    }

    #[test]
    fn entries_grant_their_permissions_to_their_principal_and_its_groups() -> Result<()> {
        let (alice, ops, stranger) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let policies = [entry(alice, &["Get", "LIST"])?, entry(ops, &["set"])?];
        assert_eq!(decide(&policies, alice, &[], Collection::Secrets, "get"), PolicyDecision::Granted);
        assert_eq!(decide(&policies, alice, &[], Collection::Secrets, "set"), PolicyDecision::Denied);
        assert_eq!(decide(&policies, alice, &[ops], Collection::Secrets, "set"), PolicyDecision::Granted);
        assert_eq!(decide(&policies, alice, &[], Collection::Keys, "get"), PolicyDecision::Denied);
        assert_eq!(decide(&policies, stranger, &[], Collection::Secrets, "get"), PolicyDecision::NotFound);
        let all = [entry(alice, &["all"])?];
        assert_eq!(decide(&all, alice, &[], Collection::Secrets, "purge"), PolicyDecision::Granted);
        Ok(())
    }

    #[test]
    fn unknown_permission_names_are_refused() {
        assert!(
            entry(Uuid::new_v4(), &["read"]).is_err_and(|e| e.message().contains("'read' is not a secrets permission"))
        );
    }
}

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

/// How `PUT …/vaults/{name}/accessPolicies/{kind}` changes a vault's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyEdit {
    /// `add`: the permissions join the principal's entry (created if missing).
    Add,
    /// `replace`: the principal's entry becomes the given one.
    Replace,
    /// `remove`: the permissions leave the principal's entry; an entry left with none is removed.
    Remove,
}

impl PolicyEdit {
    /// The edit a path segment names (any case).
    pub fn parse(kind: &str) -> Option<Self> {
        match kind.to_ascii_lowercase().as_str() {
            "add" => Some(PolicyEdit::Add),
            "replace" => Some(PolicyEdit::Replace),
            "remove" => Some(PolicyEdit::Remove),
            _ => None,
        }
    }
}

/// `entries` after `edit` with `changes` (entries of checked permissions), as Key Vault applies them.
pub fn edit(entries: &[AccessPolicy], edit: PolicyEdit, changes: &[AccessPolicy]) -> Result<Vec<AccessPolicy>> {
    fn union(a: &mut Vec<String>, b: &[String]) {
        b.iter().for_each(|p| {
            if !a.contains(p) {
                a.push(p.clone())
            }
        });
    }
    let mut result = entries.to_vec();
    for change in changes {
        let position = result.iter().position(|e| e.object_id == change.object_id);
        match (edit, position) {
            (PolicyEdit::Add, Some(i)) => {
                union(&mut result[i].secrets, &change.secrets);
                union(&mut result[i].keys, &change.keys);
                union(&mut result[i].certificates, &change.certificates);
            }
            (PolicyEdit::Add | PolicyEdit::Replace, None) => result.push(change.clone()),
            (PolicyEdit::Replace, Some(i)) => result[i] = change.clone(),
            (PolicyEdit::Remove, Some(i)) => {
                let entry = &mut result[i];
                entry.secrets.retain(|p| !change.secrets.contains(p));
                entry.keys.retain(|p| !change.keys.contains(p));
                entry.certificates.retain(|p| !change.certificates.contains(p));
                if entry.secrets.is_empty() && entry.keys.is_empty() && entry.certificates.is_empty() {
                    result.remove(i);
                }
            }
            (PolicyEdit::Remove, None) => {}
        }
    }
    if result.len() > MAX_ENTRIES {
        return Err(Error::invalid_input(format_args!("a vault has at most {MAX_ENTRIES} access-policy entries")));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_add_replace_and_remove_permissions() -> Result<()> {
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let start = [entry(alice, &["get"])?];
        let added = edit(&start, PolicyEdit::Add, &[entry(alice, &["list", "get"])?, entry(bob, &["set"])?])?;
        assert_eq!(added, [entry(alice, &["get", "list"])?, entry(bob, &["set"])?]);
        let replaced = edit(&added, PolicyEdit::Replace, &[entry(alice, &["purge"])?])?;
        assert_eq!(replaced[0], entry(alice, &["purge"])?);
        let removed = edit(&replaced, PolicyEdit::Remove, &[entry(alice, &["purge"])?, entry(bob, &["get"])?])?;
        assert_eq!(removed, [entry(bob, &["set"])?]);
        assert_eq!(PolicyEdit::parse("Replace"), Some(PolicyEdit::Replace));
        assert_eq!(PolicyEdit::parse("merge"), None);
        Ok(())
    }

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

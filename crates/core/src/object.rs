//! The vault object model: secrets, keys and certificates are objects, each a name with versions, soft-deleted
//! and recovered as one. What kind an object is, is the collection it lives in ([`Collection`]: `secrets`,
//! `keys`, `certificates`, as paths and role scopes name it). Every version has the same client-settable
//! properties; a key's or a certificate's version also carries the server's own record of it ([`ObjectVersion::metadata`]),
//! in clear, so that lists and deleted objects show it without unsealing the value.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::error::{Error, Result};
pub use crate::rbac::Collection;

/// Longest content type, in characters.
pub const MAX_CONTENT_TYPE_CHARS: usize = 255;
/// Most tags on one object.
pub const MAX_TAGS: usize = 15;
/// Longest tag name or value, in characters.
pub const MAX_TAG_CHARS: usize = 256;
/// Longest object name.
pub const MAX_NAME_CHARS: usize = 127;

/// Checks an object name: 1 to 127 characters of `0-9`, `a-z`, `A-Z` and `-`.
pub fn validate_name(name: &str) -> Result<()> {
    let valid_chars = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if name.is_empty() || name.len() > MAX_NAME_CHARS || !valid_chars {
        return Err(Error::invalid_input(format_args!(
            "The request URI contains an invalid name: {name}. Names are 1 to {MAX_NAME_CHARS} characters of \
             0-9, a-z, A-Z and -."
        )));
    }
    Ok(())
}

/// The key under which a name is stored: identity is case-insensitive, the original case is kept elsewhere.
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A fresh version id: 32 lowercase hex digits.
pub fn new_version() -> String {
    Uuid::new_v4().simple().to_string()
}

/// Whether `text` has the shape of a version id.
pub fn is_version(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The properties of a version a client may set, whatever the kind of object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionProperties {
    /// A free-form content type (a secret's; keys and certificates have none).
    pub content_type: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Whether the version can be used.
    pub enabled: bool,
    /// Not-before time, Unix seconds.
    pub not_before: Option<i64>,
    /// Expiry time, Unix seconds.
    pub expires: Option<i64>,
}

impl Default for VersionProperties {
    fn default() -> Self {
        Self { content_type: None, tags: BTreeMap::new(), enabled: true, not_before: None, expires: None }
    }
}

impl VersionProperties {
    /// Checks the content-type and tag limits.
    pub fn validate(&self) -> Result<()> {
        if let Some(content_type) = &self.content_type
            && content_type.chars().count() > MAX_CONTENT_TYPE_CHARS
        {
            return Err(Error::invalid_input(format_args!(
                "contentType is longer than the maximum of {MAX_CONTENT_TYPE_CHARS} characters."
            )));
        }
        self.validate_tags()
    }

    /// Checks the tag limits only.
    pub fn validate_tags(&self) -> Result<()> {
        if self.tags.len() > MAX_TAGS {
            return Err(Error::invalid_input(format_args!(
                "Too many tags: {} given, at most {MAX_TAGS} are allowed.",
                self.tags.len()
            )));
        }
        for (name, value) in &self.tags {
            if name.is_empty() || name.chars().count() > MAX_TAG_CHARS || value.chars().count() > MAX_TAG_CHARS {
                return Err(Error::invalid_input(format_args!(
                    "Tag names must be 1 to {MAX_TAG_CHARS} characters and tag values at most {MAX_TAG_CHARS}."
                )));
            }
        }
        Ok(())
    }
}

/// A stored version of an object, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// The object's name, in the case it was created with.
    pub name: String,
    /// The version id.
    pub version: String,
    /// What a client sets.
    pub properties: VersionProperties,
    /// The server's record of a key's or a certificate's version (its type and permitted operations, its
    /// leaf…), JSON that the kind's own module reads and writes; `None` for a secret.
    pub metadata: Option<String>,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Last update time, Unix seconds.
    pub updated: i64,
}

impl ObjectVersion {
    /// A new version of `name` with a fresh id, made at `now`.
    pub fn new(name: &str, properties: VersionProperties, metadata: Option<String>, now: i64) -> Self {
        Self { name: name.to_owned(), version: new_version(), properties, metadata, created: now, updated: now }
    }
}

/// A change to a version; `None` leaves a property as it is. The value never changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionUpdate {
    /// A new content type.
    pub content_type: Option<String>,
    /// A new record of the server's (a key's permitted operations changed).
    pub metadata: Option<String>,
    /// New tags, replacing the old ones.
    pub tags: Option<BTreeMap<String, String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// A new not-before time.
    pub not_before: Option<i64>,
    /// A new expiry time.
    pub expires: Option<i64>,
}

impl VersionUpdate {
    /// Checks the limits of what the update sets (each limit concerns one property, so a valid update keeps
    /// valid properties valid).
    pub fn validate(&self) -> Result<()> {
        VersionProperties {
            content_type: self.content_type.clone(),
            tags: self.tags.clone().unwrap_or_default(),
            ..VersionProperties::default()
        }
        .validate()
    }

    /// `version` with this update applied at time `now`.
    pub fn apply_to(&self, version: &ObjectVersion, now: i64) -> ObjectVersion {
        let properties = &version.properties;
        ObjectVersion {
            properties: VersionProperties {
                content_type: self.content_type.clone().or_else(|| properties.content_type.clone()),
                tags: self.tags.clone().unwrap_or_else(|| properties.tags.clone()),
                enabled: self.enabled.unwrap_or(properties.enabled),
                not_before: self.not_before.or(properties.not_before),
                expires: self.expires.or(properties.expires),
            },
            metadata: self.metadata.clone().or_else(|| version.metadata.clone()),
            updated: now,
            ..version.clone()
        }
    }
}

/// A soft-deleted object: its newest version and when it was deleted and will be purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedObject {
    /// The newest version at deletion.
    pub latest: ObjectVersion,
    /// When it was deleted, Unix seconds.
    pub deleted_date: i64,
    /// When it will be purged, Unix seconds.
    pub scheduled_purge_date: i64,
}

/// When an object deleted at `deleted_at` is purged, for a vault keeping deleted objects `retention_days`.
pub fn scheduled_purge_date(deleted_at: i64, retention_days: u32) -> i64 {
    deleted_at + i64::from(retention_days) * 86_400
}

/// Key Vault's `recoveryLevel` and `recoverableDays` for a vault's soft-delete settings.
pub fn recovery_level(retention_days: u32, purge_protection: bool) -> (&'static str, u32) {
    let level = match (retention_days >= 90, purge_protection) {
        (true, false) => "Recoverable+Purgeable",
        (true, true) => "Recoverable",
        (false, false) => "CustomizedRecoverable+Purgeable",
        (false, true) => "CustomizedRecoverable",
    };
    (level, retention_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_key_vault_rules() {
        assert!(validate_name("db-Password-1").is_ok());
        assert!(validate_name(&"a".repeat(127)).is_ok());
        for bad in ["", "has space", "under_score", "dot.ted", "ünï", &"a".repeat(128)] {
            let err = validate_name(bad).err();
            assert!(err.is_some_and(|e| e.message().contains("invalid name")), "{bad:?} was accepted");
        }
    }

    #[test]
    fn versions_are_32_lowercase_hex() {
        let version = new_version();
        assert!(is_version(&version));
        assert_eq!(version, version.to_ascii_lowercase());
        assert!(!is_version("versions"));
    }

    #[test]
    fn property_limits() {
        let mut props = VersionProperties { content_type: Some("x".repeat(256)), ..Default::default() };
        assert!(props.validate().is_err());
        props.content_type = Some("text/plain".into());
        assert!(props.validate().is_ok());
        props.tags = (0..16).map(|i| (format!("t{i}"), "v".into())).collect();
        assert!(props.validate().is_err());
        props.tags = [("k".to_string(), "v".repeat(257))].into();
        assert!(props.validate().is_err());
        props.tags = [("k".to_string(), "v".repeat(256))].into();
        assert!(props.validate().is_ok());
    }

    #[test]
    fn updates_change_only_what_they_name() -> Result<()> {
        let properties = VersionProperties { content_type: Some("text/plain".into()), ..Default::default() };
        let before = ObjectVersion::new("n", properties, Some("{\"kty\":\"RSA\"}".into()), 1);
        let update =
            VersionUpdate { enabled: Some(false), tags: Some([("a".into(), "b".into())].into()), ..Default::default() };
        update.validate()?;
        let after = update.apply_to(&before, 7);
        assert_eq!(after.properties.content_type.as_deref(), Some("text/plain"));
        assert!(!after.properties.enabled);
        assert_eq!(after.properties.tags.len(), 1);
        assert_eq!((after.metadata.as_deref(), after.created, after.updated), (before.metadata.as_deref(), 1, 7));
        let recorded = VersionUpdate { metadata: Some("{}".into()), ..Default::default() }.apply_to(&before, 8);
        assert_eq!(recorded.metadata.as_deref(), Some("{}"));
        let too_long = VersionUpdate { content_type: Some("x".repeat(300)), ..Default::default() };
        assert!(too_long.validate().is_err());
        Ok(())
    }

    #[test]
    fn purge_dates_follow_retention() {
        assert_eq!(scheduled_purge_date(1_000, 7), 1_000 + 7 * 86_400);
    }

    #[test]
    fn recovery_levels() {
        assert_eq!(recovery_level(90, false), ("Recoverable+Purgeable", 90));
        assert_eq!(recovery_level(90, true), ("Recoverable", 90));
        assert_eq!(recovery_level(7, false), ("CustomizedRecoverable+Purgeable", 7));
        assert_eq!(recovery_level(30, true), ("CustomizedRecoverable", 30));
    }
}

//! Backup blobs: every version of an object, sealed with AES-256-GCM under the installation's backup key and
//! bound to the tenant whose vault made it.
//!
//! A blob names the key that sealed it (by a thumbprint), so an installation can restore blobs of another one
//! only when it was configured with that installation's backup key. It names its tenant too, authenticated
//! with the contents: a blob restores only into a vault of the same tenant, as Key Vault restores only within
//! the subscription that made the backup, whichever installation opens it. Tampering (the tenant included),
//! truncation and foreign keys are all refused.
//!
//! Layout: `SRB2 ‖ key thumbprint(8) ‖ tenant id(16) ‖ nonce(12) ‖ ciphertext ‖ tag(16)`, the header before the
//! nonce being the associated data; carried on the wire as base64url. Blobs of the first format (`SRB1`) named
//! no tenant: which tenant made one cannot be proven, so they are refused.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::object::{self, Collection, ObjectVersion, VersionProperties};

const MAGIC: &[u8; 4] = b"SRB2";
/// The first format's magic: blobs that name no tenant.
const UNBOUND_MAGIC: &[u8; 4] = b"SRB1";
const THUMBPRINT_LEN: usize = 8;
const TENANT_LEN: usize = 16;
const HEADER_LEN: usize = 4 + THUMBPRINT_LEN + TENANT_LEN;
const TAG_LEN: usize = 16;

/// Most versions one backup may carry (Key Vault's limit).
pub const MAX_VERSIONS: usize = 500;

/// A key that seals and opens backups.
pub struct BackupKey {
    thumbprint: [u8; THUMBPRINT_LEN],
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupKey").field("thumbprint", &self.thumbprint).finish_non_exhaustive()
    }
}

impl BackupKey {
    /// The key with these 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::invalid_input("a backup key is exactly 32 bytes"))?;
        let mut thumbprint = [0u8; THUMBPRINT_LEN];
        thumbprint.copy_from_slice(&digest::digest(&digest::SHA256, bytes).as_ref()[..THUMBPRINT_LEN]);
        Ok(Self { thumbprint, key })
    }

    /// Seals `payload`, a backup made in a vault of `tenant`.
    pub fn seal(&self, tenant: Uuid, payload: &[u8]) -> Result<Vec<u8>> {
        let mut blob = Vec::with_capacity(HEADER_LEN + NONCE_LEN + payload.len() + TAG_LEN);
        blob.extend_from_slice(MAGIC);
        blob.extend_from_slice(&self.thumbprint);
        blob.extend_from_slice(tenant.as_bytes());
        let mut body = payload.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(&blob[..HEADER_LEN]), &mut body)
            .map_err(|_| Error::crypto("sealing a backup failed"))?;
        blob.extend_from_slice(nonce.as_ref());
        blob.extend_from_slice(&body);
        Ok(blob)
    }
}

/// How a backup names the kind of object it holds.
fn kind_of(collection: Collection) -> Option<String> {
    match collection {
        Collection::Secrets => None,
        other => Some(other.as_str().to_owned()),
    }
}

/// Opens `blob` with whichever of `keys` sealed it, for a restore into a vault of `tenant`: a blob another
/// tenant made is refused, as is one that names no tenant.
pub fn open(keys: &[BackupKey], blob: &[u8], tenant: Uuid) -> Result<Vec<u8>> {
    let invalid = || Error::invalid_input("The backup blob is invalid: it is malformed or was tampered with.");
    if blob.starts_with(UNBOUND_MAGIC) {
        return Err(Error::invalid_input(
            "The backup blob was made by an earlier version of Strongroom that did not bind backups to their \
             tenant; it cannot be restored, because the tenant it came from cannot be proven.",
        ));
    }
    if !blob.starts_with(MAGIC) || blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(invalid());
    }
    let (header, rest) = blob.split_at(HEADER_LEN);
    let thumbprint = &header[MAGIC.len()..MAGIC.len() + THUMBPRINT_LEN];
    let key = keys.iter().find(|k| k.thumbprint == thumbprint).ok_or_else(|| {
        Error::invalid_input(
            "The backup was made by another Strongroom installation, which this one is not configured to trust.",
        )
    })?;
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| invalid())?;
    let mut body = sealed.to_vec();
    let length = key.key.open_in_place(nonce, Aad::from(header), &mut body).map_err(|_| invalid())?.len();
    body.truncate(length);
    // The tenant is checked once the header is known to be authentic.
    if header[MAGIC.len() + THUMBPRINT_LEN..] != *tenant.as_bytes() {
        return Err(Error::invalid_input(
            "The backup blob cannot be restored here: it was made in another tenant (subscription). A backup \
             restores only into a vault of the tenant that made it.",
        ));
    }
    Ok(body)
}

/// What a backup carries: every version of one object with its value — a secret, or a key (whose value is its
/// sealed material), told apart by `kind` so that neither restores as the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectBackup {
    /// The object's name.
    pub name: String,
    /// `keys` for a key; absent for a secret (the format of the first secret backups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its versions, oldest first.
    pub versions: Vec<BackedUpVersion>,
}

/// One version in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpVersion {
    /// The version id.
    pub version: String,
    /// The value.
    pub value: String,
    /// Content type. Backups made before versions had [`ObjectVersion::metadata`] carry a key's or a
    /// certificate's metadata here.
    pub content_type: Option<String>,
    /// The server's record of a key's or a certificate's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// Tags.
    pub tags: std::collections::BTreeMap<String, String>,
    /// Enabled.
    pub enabled: bool,
    /// Not before.
    pub not_before: Option<i64>,
    /// Expires.
    pub expires: Option<i64>,
    /// Created.
    pub created: i64,
    /// Updated.
    pub updated: i64,
}

impl ObjectBackup {
    /// A backup of `versions` (oldest first) of the object `name` of `collection`.
    pub fn new(collection: Collection, name: &str, versions: Vec<(ObjectVersion, String)>) -> Result<Self> {
        if versions.len() > MAX_VERSIONS {
            return Err(Error::invalid_input(format_args!(
                "The object has {} versions; a backup can carry at most {MAX_VERSIONS}.",
                versions.len()
            )));
        }
        Ok(Self::of_any_length(collection, name, versions))
    }

    /// A backup of `versions` however many there are (a full backup carries every version, as Managed HSM's).
    pub(crate) fn of_any_length(collection: Collection, name: &str, versions: Vec<(ObjectVersion, String)>) -> Self {
        let versions = versions
            .into_iter()
            .map(|(v, value)| BackedUpVersion {
                version: v.version,
                value,
                content_type: v.properties.content_type,
                metadata: v.metadata,
                tags: v.properties.tags,
                enabled: v.properties.enabled,
                not_before: v.properties.not_before,
                expires: v.properties.expires,
                created: v.created,
                updated: v.updated,
            })
            .collect();
        Self { name: name.to_owned(), kind: kind_of(collection), versions }
    }

    /// The versions to restore into `collection`, oldest first, after checking they are well formed and of
    /// that kind.
    pub fn into_versions(self, collection: Collection) -> Result<Vec<(ObjectVersion, String)>> {
        self.into_versions_within(collection, MAX_VERSIONS)
    }

    /// [`ObjectBackup::into_versions`] with at most `limit` versions.
    pub(crate) fn into_versions_within(
        self,
        collection: Collection,
        limit: usize,
    ) -> Result<Vec<(ObjectVersion, String)>> {
        if self.kind != kind_of(collection) {
            return Err(Error::invalid_input(format_args!(
                "The backup blob is invalid: it does not hold {}.",
                match collection {
                    Collection::Keys => "a key",
                    Collection::Certificates => "a certificate",
                    Collection::Secrets => "a secret",
                }
            )));
        }
        object::validate_name(&self.name)?;
        if self.versions.is_empty() || self.versions.len() > limit {
            return Err(Error::invalid_input("The backup blob is invalid: it carries no or too many versions."));
        }
        self.versions
            .into_iter()
            .map(|v| {
                if !object::is_version(&v.version) {
                    return Err(Error::invalid_input("The backup blob is invalid: a version id is malformed."));
                }
                // A key's or a certificate's metadata rode in the content type of backups made before it had
                // a place of its own; a secret's content type is the client's.
                let (content_type, metadata) = match (collection, v.metadata) {
                    (Collection::Secrets, _) => (v.content_type, None),
                    (_, None) => (None, v.content_type),
                    (_, metadata) => (v.content_type, metadata),
                };
                let properties = VersionProperties {
                    content_type,
                    tags: v.tags,
                    enabled: v.enabled,
                    not_before: v.not_before,
                    expires: v.expires,
                };
                properties.validate()?;
                let version = ObjectVersion {
                    name: self.name.clone(),
                    version: v.version,
                    properties,
                    metadata,
                    created: v.created,
                    updated: v.updated,
                };
                Ok((version, v.value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Result<BackupKey> {
        BackupKey::from_bytes(&[byte; 32])
    }

    const TENANT: Uuid = Uuid::from_u128(0xA);
    const OTHER_TENANT: Uuid = Uuid::from_u128(0xB);

    #[test]
    fn blobs_open_with_their_key_only_and_detect_tampering() -> Result<()> {
        let ours = key(1)?;
        let blob = ours.seal(TENANT, b"payload")?;
        assert_eq!(open(&[key(1)?], &blob, TENANT)?, b"payload");
        assert!(open(&[key(2)?], &blob, TENANT).is_err_and(|e| e.message().contains("not configured to trust")));
        assert_eq!(open(&[key(2)?, key(1)?], &blob, TENANT)?, b"payload");
        let mut tampered = blob.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x40;
        assert!(open(&[key(1)?], &tampered, TENANT).is_err_and(|e| e.message().contains("tampered")));
        assert!(open(&[key(1)?], &blob[..20], TENANT).is_err());
        assert!(open(&[key(1)?], b"garbage", TENANT).is_err());
        Ok(())
    }

    #[test]
    fn blobs_restore_only_in_the_tenant_that_made_them() -> Result<()> {
        let blob = key(1)?.seal(TENANT, b"payload")?;
        assert!(open(&[key(1)?], &blob, OTHER_TENANT).is_err_and(|e| e.message().contains("another tenant")));
        // Rewriting the tenant in the header breaks the seal: the tenant is authenticated, not just named.
        let mut moved = blob.clone();
        moved[4 + THUMBPRINT_LEN..HEADER_LEN].copy_from_slice(OTHER_TENANT.as_bytes());
        assert!(open(&[key(1)?], &moved, OTHER_TENANT).is_err_and(|e| e.message().contains("tampered")));
        // A trusted installation's blob is held to the same rule.
        let theirs = key(2)?.seal(TENANT, b"payload")?;
        assert!(open(&[key(1)?, key(2)?], &theirs, OTHER_TENANT).is_err());
        assert_eq!(open(&[key(1)?, key(2)?], &theirs, TENANT)?, b"payload");
        // A first-format blob names no tenant: refused.
        let mut unbound = blob.clone();
        unbound[..4].copy_from_slice(UNBOUND_MAGIC);
        assert!(open(&[key(1)?], &unbound, TENANT).is_err_and(|e| e.message().contains("earlier version")));
        Ok(())
    }

    #[test]
    fn backups_round_trip_and_respect_the_version_limit() -> Result<()> {
        let version = ObjectVersion {
            name: "db".into(),
            version: object::new_version(),
            properties: VersionProperties::default(),
            metadata: None,
            created: 1,
            updated: 2,
        };
        let backup = ObjectBackup::new(Collection::Secrets, "db", vec![(version.clone(), "v".into())])?;
        assert!(backup.clone().into_versions(Collection::Keys).is_err(), "a secret's backup is no key");
        assert_eq!(backup.into_versions(Collection::Secrets)?, vec![(version.clone(), "v".to_owned())]);
        let too_many = (0..=MAX_VERSIONS).map(|_| (version.clone(), String::new())).collect();
        assert!(ObjectBackup::new(Collection::Secrets, "db", too_many).is_err());
        Ok(())
    }

    #[test]
    fn a_key_backup_of_the_time_before_metadata_restores_its_metadata() -> Result<()> {
        let facts = r#"{"kty":"EC","crv":"P-256","key_ops":["sign","verify"]}"#;
        let key = ObjectVersion {
            name: "k".into(),
            version: object::new_version(),
            properties: VersionProperties::default(),
            metadata: Some(facts.into()),
            created: 1,
            updated: 1,
        };
        let backup = ObjectBackup::new(Collection::Keys, "k", vec![(key.clone(), "material".into())])?;
        assert_eq!(backup.clone().into_versions(Collection::Keys)?, vec![(key.clone(), "material".to_owned())]);
        // What earlier versions wrote: the metadata in the content type, no metadata member.
        let mut old = serde_json::to_value(&backup).map_err(|e| Error::invalid_input(e.to_string()))?;
        old["versions"][0]["content_type"] = facts.into();
        if let Some(version) = old["versions"][0].as_object_mut() {
            version.remove("metadata");
        }
        let old: ObjectBackup = serde_json::from_value(old).map_err(|e| Error::invalid_input(e.to_string()))?;
        assert_eq!(old.into_versions(Collection::Keys)?, vec![(key, "material".to_owned())]);
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn blobs_of_any_shape_never_panic(
            random in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            at in proptest::prelude::any::<usize>(),
            xor in 1u8..,
            cut in proptest::prelude::any::<usize>(),
        ) {
            let failed = |e: Error| proptest::test_runner::TestCaseError::fail(e.message().to_owned());
            let keys = [key(1).map_err(failed)?];
            let _ = open(&keys, &random, TENANT);
            let mut damaged = keys[0].seal(TENANT, &random).map_err(failed)?;
            let index = at % damaged.len();
            damaged[index] ^= xor;
            proptest::prop_assert!(open(&keys, &damaged, TENANT).is_err(), "a changed byte never opens");
            damaged.truncate(cut % damaged.len());
            proptest::prop_assert!(open(&keys, &damaged, TENANT).is_err());
        }

        #[test]
        fn backup_payloads_of_any_shape_never_panic(
            text in proptest::prelude::any::<String>(),
            name in proptest::prelude::any::<String>(),
            version in proptest::prelude::any::<String>(),
            content_type in proptest::prelude::any::<Option<String>>(),
            not_before in proptest::prelude::any::<Option<i64>>(),
        ) {
            if let Ok(backup) = serde_json::from_str::<ObjectBackup>(&text) {
                let _ = backup.into_versions(Collection::Secrets);
            }
            let version = BackedUpVersion {
                version,
                value: String::new(),
                content_type,
                metadata: None,
                tags: std::collections::BTreeMap::new(),
                enabled: true,
                not_before,
                expires: None,
                created: 0,
                updated: 0,
            };
            let backup = ObjectBackup { name, kind: None, versions: vec![version] };
            for collection in [Collection::Secrets, Collection::Keys, Collection::Certificates] {
                let _ = backup.clone().into_versions(collection);
            }
        }
    }
}

//! Full backups of a Managed HSM: every key with all its versions (deleted keys too, with their deletion
//! dates, and each key's rotation policy) and its local RBAC ([`roles`]), in one folder of a declared storage
//! target ([`storage`]), restored whole or one key at a time. Jobs run in the background; [`job`] is their state.
//!
//! A backup folder, `mhsm-{hsm}-{yyyyMMddHHmmssff}`, holds one file, [`CONTENTS_FILE`]: the [`HsmBackup`] as
//! JSON, sealed exactly as a single object's backup is ([`crate::backup::BackupKey::seal`]: AES-256-GCM under
//! the installation's backup key, bound to the tenant). So a backup opens only in an installation that holds
//! that key, and only for an HSM of the same tenant; any changed, cut or foreign byte is refused, and the whole
//! file is read before anything is restored. The keys' material inside is sealed again under the HSM's root
//! secret, which only its security domain carries: the server restores keys only where they open.

pub mod job;
pub mod roles;
pub mod storage;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::backup::{self, BackupKey, ObjectBackup};
use crate::error::{Error, Result};
use crate::object::{Collection, ObjectVersion, name_key};

pub use self::roles::LocalRoles;

/// The one file of a backup folder.
pub const CONTENTS_FILE: &str = "backup.sealed";

/// What [`HsmBackup::format`] says, so that a single object's backup is never taken for a full one.
const FORMAT: &str = "strongroom-managed-hsm-backup/1";

/// Longest folder name accepted in a restore.
const MAX_FOLDER_CHARS: usize = 200;

/// The folder name of a backup of the HSM `hsm` made at `unix_millis`, as Managed HSM names them:
/// `mhsm-{name}-{yyyyMMddHHmmss}` and hundredths of a second.
pub fn folder_name(hsm: &str, unix_millis: i64) -> Result<String> {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
        .map_err(|_| Error::invalid_input("the time of a backup is out of range"))?;
    Ok(format!(
        "mhsm-{}-{:04}{:02}{:02}{:02}{:02}{:02}{:02}",
        hsm.to_ascii_lowercase(),
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        time.millisecond() / 10
    ))
}

/// Checks a folder a restore names: letters, digits and hyphens only, so that it names one folder of the
/// target and nothing outside it.
pub fn validate_folder(folder: &str) -> Result<()> {
    let valid = !folder.is_empty()
        && folder.len() <= MAX_FOLDER_CHARS
        && folder.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match valid {
        true => Ok(()),
        false => Err(Error::invalid_input(format_args!(
            "The folder to restore is invalid: {folder:?}. A backup folder's name is letters, digits and hyphens, \
             as a backup named it (for example mhsm-myhsm-2026120412000000)."
        ))),
    }
}

/// When a backed-up key was deleted, and when it is to be purged (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// When it was deleted.
    pub deleted_date: i64,
    /// When it will be purged.
    pub scheduled_purge_date: i64,
}

/// One key of a full backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpKey {
    /// Its name and every version with its material, as a single key's backup carries them.
    #[serde(flatten)]
    pub object: ObjectBackup,
    /// Its rotation policy, as kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// When the key is soft-deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Deletion>,
}

/// A key to restore: every version (oldest first) with its material, its policy, its deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyToRestore {
    /// The versions with their values.
    pub versions: Vec<(ObjectVersion, Zeroizing<String>)>,
    /// Its rotation policy.
    pub policy: Option<String>,
    /// When it is soft-deleted.
    pub deleted: Option<Deletion>,
}

impl BackedUpKey {
    /// The key `name` with `versions` (oldest first, with their values), `policy` and `deleted`.
    pub fn new(
        name: &str,
        versions: Vec<(ObjectVersion, String)>,
        policy: Option<String>,
        deleted: Option<Deletion>,
    ) -> Self {
        Self { object: ObjectBackup::of_any_length(Collection::Keys, name, versions), policy, deleted }
    }

    fn into_restored(self) -> Result<KeyToRestore> {
        let versions = self.object.into_versions_within(Collection::Keys, usize::MAX)?;
        Ok(KeyToRestore {
            versions: versions.into_iter().map(|(v, value)| (v, Zeroizing::new(value))).collect(),
            policy: self.policy,
            deleted: self.deleted,
        })
    }
}

/// What a backup folder holds: the keys of one Managed HSM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HsmBackup {
    /// [`FORMAT`].
    format: String,
    /// The HSM it was made of.
    pub hsm: String,
    /// When, Unix seconds.
    pub made: i64,
    /// Its keys, by name.
    pub keys: Vec<BackedUpKey>,
    /// Its custom roles and role assignments.
    #[serde(default)]
    pub roles: LocalRoles,
    /// The proof of the security domain of the HSM it was made of ([`crate::security_domain::HsmRoot::proof`]),
    /// base64: it restores only into an HSM of that security domain, whether or not it holds keys.
    #[serde(default)]
    pub security_domain: Option<String>,
}

impl HsmBackup {
    /// The backup of the HSM `hsm`'s `keys` and `roles` made at `made`, in the security domain `security_domain`
    /// proves.
    pub fn new(hsm: &str, made: i64, mut keys: Vec<BackedUpKey>, roles: LocalRoles, security_domain: String) -> Self {
        keys.sort_by_key(|key| name_key(&key.object.name));
        Self { format: FORMAT.into(), hsm: hsm.to_owned(), made, keys, roles, security_domain: Some(security_domain) }
    }

    /// The backup as the sealed contents of its folder, for an HSM of `tenant`.
    pub fn seal(&self, key: &BackupKey, tenant: Uuid) -> Result<Vec<u8>> {
        let payload = Zeroizing::new(
            serde_json::to_vec(self).map_err(|e| Error::invalid_input(format_args!("encoding a backup: {e}")))?,
        );
        key.seal(tenant, &payload)
    }

    /// Opens a folder's sealed contents with whichever of `keys` sealed them, for a restore into an HSM of
    /// `tenant`.
    pub fn open(keys: &[BackupKey], sealed: &[u8], tenant: Uuid) -> Result<Self> {
        let payload = Zeroizing::new(backup::open(keys, sealed, tenant)?);
        let backup: HsmBackup = serde_json::from_slice(&payload).map_err(|_| not_a_full_backup())?;
        if backup.format != FORMAT {
            return Err(not_a_full_backup());
        }
        Ok(backup)
    }

    /// The keys to restore, checked: every key when `only` is `None`, else the key `only` (in any case).
    pub fn into_keys(self, only: Option<&str>) -> Result<Vec<KeyToRestore>> {
        let mut seen = std::collections::HashSet::new();
        if let Some(duplicate) = self.keys.iter().find(|key| !seen.insert(name_key(&key.object.name))) {
            return Err(Error::invalid_input(format_args!(
                "The backup is invalid: it holds the key {} twice.",
                duplicate.object.name
            )));
        }
        let chosen: Vec<BackedUpKey> = match only {
            None => self.keys,
            Some(name) => {
                let key = self
                    .keys
                    .into_iter()
                    .find(|key| key.object.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| Error::invalid_input(format_args!("The backup holds no key named {name}.")))?;
                vec![key]
            }
        };
        chosen.into_iter().map(BackedUpKey::into_restored).collect()
    }
}

fn not_a_full_backup() -> Error {
    Error::invalid_input("The backup folder is invalid: its contents are not a Managed HSM's full backup.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{VersionProperties, new_version};

    const TENANT: Uuid = Uuid::from_u128(7);

    fn version(name: &str, created: i64) -> (ObjectVersion, String) {
        let version = ObjectVersion {
            name: name.into(),
            version: new_version(),
            properties: VersionProperties::default(),
            metadata: Some(r#"{"kty":"oct-HSM","key_ops":["encrypt"]}"#.into()),
            created,
            updated: created,
        };
        (version, format!("material of {name} at {created}"))
    }

    fn backup() -> HsmBackup {
        let deleted = Deletion { deleted_date: 5, scheduled_purge_date: 95 };
        HsmBackup::new(
            "contoso",
            9,
            vec![
                BackedUpKey::new(
                    "Signing",
                    vec![version("Signing", 1), version("Signing", 2)],
                    Some("{}".into()),
                    None,
                ),
                BackedUpKey::new("old", vec![version("old", 3)], None, Some(deleted)),
            ],
            LocalRoles::default(),
            "proof".into(),
        )
    }

    #[test]
    fn folder_names_follow_managed_hsm_and_restores_name_one_folder() -> Result<()> {
        assert_eq!(folder_name("Contoso", 1_764_849_600_123)?, "mhsm-contoso-2025120412000012");
        validate_folder("mhsm-contoso-2025120412000012")?;
        for bad in ["", "../etc", "a/b", "mhsm.x", "a b", &"a".repeat(201)] {
            assert!(validate_folder(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn a_sealed_backup_gives_back_every_key_or_the_one_asked_for() -> Result<()> {
        let key = BackupKey::from_bytes(&[3; 32])?;
        let made = backup();
        let sealed = made.seal(&key, TENANT)?;
        assert!(!sealed.windows(8).any(|w| w == b"material"), "the material is not in clear");
        let opened = HsmBackup::open(std::slice::from_ref(&key), &sealed, TENANT)?;
        assert_eq!(opened, made);
        let keys = opened.clone().into_keys(None)?;
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].versions.iter().map(|(v, _)| v.created).collect::<Vec<_>>(), [3], "sorted by name");
        assert_eq!(keys[0].deleted, Some(Deletion { deleted_date: 5, scheduled_purge_date: 95 }));
        assert_eq!((keys[1].versions.len(), keys[1].policy.as_deref()), (2, Some("{}")));
        assert_eq!(&*keys[1].versions[1].1, "material of Signing at 2");
        let one = opened.clone().into_keys(Some("SIGNING"))?;
        assert_eq!((one.len(), one[0].versions[0].0.name.as_str()), (1, "Signing"));
        assert!(opened.into_keys(Some("missing")).is_err_and(|e| e.message().contains("no key named missing")));
        Ok(())
    }

    #[test]
    fn foreign_tampered_and_other_blobs_are_refused() -> Result<()> {
        let key = BackupKey::from_bytes(&[3; 32])?;
        let sealed = backup().seal(&key, TENANT)?;
        let keys = std::slice::from_ref(&key);
        assert!(HsmBackup::open(keys, &sealed, Uuid::from_u128(8)).is_err(), "another tenant");
        assert!(HsmBackup::open(&[BackupKey::from_bytes(&[4; 32])?], &sealed, TENANT).is_err(), "another key");
        let mut tampered = sealed.clone();
        tampered[40] ^= 1;
        assert!(HsmBackup::open(keys, &tampered, TENANT).is_err());
        assert!(HsmBackup::open(keys, &sealed[..sealed.len() - 1], TENANT).is_err());
        // A single key's backup blob, sealed the same way, is no full backup.
        let single = ObjectBackup::new(Collection::Keys, "k", vec![version("k", 1)])?;
        let blob = key.seal(TENANT, &serde_json::to_vec(&single).map_err(Error::invalid_input)?)?;
        assert!(HsmBackup::open(keys, &blob, TENANT).is_err_and(|e| e.message().contains("not a Managed HSM")));
        Ok(())
    }

    #[test]
    fn a_backup_with_a_key_twice_or_a_bad_version_restores_nothing() -> Result<()> {
        let mut twice = backup();
        twice.keys.push(BackedUpKey::new("SIGNING", vec![version("SIGNING", 4)], None, None));
        assert!(twice.into_keys(Some("old")).is_err_and(|e| e.message().contains("twice")));
        let mut bad = backup();
        bad.keys[0].object.versions[0].version = "../../x".into();
        assert!(bad.into_keys(None).is_err());
        Ok(())
    }
}

//! `[[backup_storage]]`: the blob containers Managed HSM full backups go to. Strongroom cannot reach Azure
//! Storage; the operator declares each container URL clients will name, the directory that stands for it, and
//! who may use it (see `strongroom_core::full_backup::storage`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use strongroom_core::directory::validate_vault_name;
use strongroom_core::full_backup::storage::{StorageTarget, TokenHash};
use toml::Spanned;

use super::{Located, at};

/// One `[[backup_storage]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackupStorageSection {
    url: Spanned<String>,
    directory: Spanned<PathBuf>,
    #[serde(default)]
    sas_token_sha256: Vec<Spanned<String>>,
    #[serde(default)]
    managed_identity_hsms: Vec<Spanned<String>>,
}

impl BackupStorageSection {
    /// The target; a relative directory is taken from `base`, the configuration's folder.
    fn validate(self, base: &Path) -> Result<StorageTarget, Located> {
        let token_hashes = self.sas_token_sha256.iter().map(token_hash).collect::<Result<Vec<_>, _>>()?;
        for hsm in &self.managed_identity_hsms {
            validate_vault_name(hsm.get_ref())
                .map_err(|e| at(hsm, format!("`managed_identity_hsms`: {}", e.message())))?;
        }
        if token_hashes.is_empty() && self.managed_identity_hsms.is_empty() {
            return Err(at(
                &self.url,
                "a backup storage target needs `sas_token_sha256` (the SHA-256 of each SAS token it accepts) or \
                 `managed_identity_hsms` (the HSMs whose managed identity may use it)",
            ));
        }
        let directory = base.join(self.directory.get_ref());
        let hsms = self.managed_identity_hsms.into_iter().map(Spanned::into_inner).collect();
        StorageTarget::new(self.url.get_ref(), directory, token_hashes, hsms).map_err(|e| at(&self.url, e.message()))
    }
}

/// The targets, each container declared once.
pub(super) fn validate(sections: Vec<BackupStorageSection>, base: &Path) -> Result<Vec<StorageTarget>, Located> {
    let mut targets: Vec<StorageTarget> = Vec::new();
    for section in sections {
        let url = section.url.clone();
        let target = section.validate(base)?;
        if targets.iter().any(|t| t.url() == target.url()) {
            return Err(at(&url, format!("the backup storage target {} is declared twice", target.url())));
        }
        targets.push(target);
    }
    Ok(targets)
}

/// A SAS token's SHA-256, as 64 hex digits (`printf %s "$token" | sha256sum`).
fn token_hash(text: &Spanned<String>) -> Result<TokenHash, Located> {
    let hex = text.get_ref().trim();
    let mut hash = [0u8; 32];
    let valid = hex.len() == 64
        && hex.is_ascii()
        && hash
            .iter_mut()
            .enumerate()
            .all(|(i, byte)| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map(|b| *byte = b).is_ok());
    match valid {
        true => Ok(hash),
        false => Err(at(text, "`sas_token_sha256` entries are 64 hex digits: the SHA-256 of a SAS token")),
    }
}

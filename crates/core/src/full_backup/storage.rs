//! Storage targets: the blob containers a full backup may be written to and read from. Strongroom cannot reach
//! Azure Storage, so the operator declares each container URL the clients will name, the directory that stands
//! for it, and who may use it: the holders of a SAS token (kept as its SHA-256 only), and the Managed HSMs whose
//! managed identity the operator has granted the container — what Azure checks with a role assignment on the
//! storage account.

use std::path::PathBuf;

use aws_lc_rs::{constant_time, digest};
use url::Url;

use crate::error::{Error, Result};

/// The SHA-256 of a SAS token, as a storage target keeps it.
pub type TokenHash = [u8; 32];

/// A declared blob container and the directory that holds what is written to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageTarget {
    /// The container URL, normalised (`https://account.host/container`, no trailing slash).
    url: String,
    /// Where its folders are kept.
    pub directory: PathBuf,
    /// The SAS tokens accepted, hashed.
    token_hashes: Vec<TokenHash>,
    /// The Managed HSMs (names, lowercase) whose managed identity may use the container.
    managed_identity_hsms: Vec<String>,
}

/// How a request proves it may use a storage target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageAccess<'a> {
    /// A SAS token, as the client sent it.
    SasToken(&'a str),
    /// The HSM's own managed identity (`useManagedIdentity: true`).
    ManagedIdentity,
}

impl StorageTarget {
    /// The target of the container `url`, kept in `directory`, open to the SAS tokens of `token_hashes` and to
    /// the managed identities of `managed_identity_hsms`. The URL is a container's: a scheme, a host and exactly
    /// one path segment (as the SDKs split a folder's URL: the first segment is the container).
    pub fn new(
        url: &str,
        directory: PathBuf,
        token_hashes: Vec<TokenHash>,
        managed_identity_hsms: Vec<String>,
    ) -> Result<Self> {
        let url = container_url(url).ok_or_else(|| {
            Error::invalid_input(
                "a storage target's `url` is a blob container's URL: https://{account host}/{container}, with \
                 exactly one path segment and no query",
            )
        })?;
        let managed_identity_hsms = managed_identity_hsms.iter().map(|name| name.to_ascii_lowercase()).collect();
        Ok(Self { url, directory, token_hashes, managed_identity_hsms })
    }

    /// The container URL, normalised.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether `uri` (a request's `storageResourceUri`) names this container.
    pub fn is_named_by(&self, uri: &str) -> bool {
        container_url(uri).is_some_and(|normalised| normalised == self.url)
    }

    /// Checks that the Managed HSM `hsm` may use the container with `access`.
    pub fn admit(&self, hsm: &str, access: StorageAccess<'_>) -> Result<()> {
        let admitted = match access {
            StorageAccess::SasToken(token) => {
                let hash = hash_sas_token(token);
                // Every hash is compared, in constant time, whichever matches.
                self.token_hashes
                    .iter()
                    .fold(false, |found, known| constant_time::verify_slices_are_equal(known, &hash).is_ok() | found)
            }
            StorageAccess::ManagedIdentity => self.managed_identity_hsms.iter().any(|h| h.eq_ignore_ascii_case(hsm)),
        };
        match (admitted, access) {
            (true, _) => Ok(()),
            (false, StorageAccess::SasToken(_)) => Err(Error::invalid_credential(format_args!(
                "The SAS token does not grant access to the storage container {}.",
                self.url
            ))),
            (false, StorageAccess::ManagedIdentity) => Err(Error::invalid_credential(format_args!(
                "The managed identity of the Managed HSM {hsm} has no access to the storage container {}.",
                self.url
            ))),
        }
    }

    /// The URL of the folder `folder` in the container.
    pub fn folder_url(&self, folder: &str) -> String {
        format!("{}/{folder}", self.url)
    }
}

/// The declared target that `uri` names.
pub fn find<'a>(targets: &'a [StorageTarget], uri: &str) -> Result<&'a StorageTarget> {
    targets.iter().find(|target| target.is_named_by(uri)).ok_or_else(|| {
        Error::invalid_input(format_args!(
            "The storage resource URI {uri} is not a blob container this service can write to: it is not one of \
             the installation's declared backup storage targets."
        ))
    })
}

/// The SHA-256 of a SAS token (a leading `?`, as copied from a URL, is not part of it).
pub fn hash_sas_token(token: &str) -> TokenHash {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest::digest(&digest::SHA256, token.trim_start_matches('?').as_bytes()).as_ref());
    hash
}

/// `text` as a normalised container URL: scheme and host lowercase, default port dropped, one path segment
/// without a trailing slash; `None` when it is not one.
fn container_url(text: &str) -> Option<String> {
    let url = Url::parse(text.trim()).ok()?;
    if !matches!(url.scheme(), "https" | "http") || url.query().is_some() || url.fragment().is_some() {
        return None;
    }
    let host = url.host_str()?;
    let mut segments = url.path_segments()?.filter(|s| !s.is_empty());
    let container = segments.next()?;
    if segments.next().is_some() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!("{}://{host}{port}/{container}", url.scheme()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn target() -> Result<StorageTarget> {
        StorageTarget::new(
            "https://Backups.blob.localhost/hsm/",
            PathBuf::from("/backups"),
            vec![hash_sas_token("sv=2024&sig=abc")],
            vec!["Contoso".into()],
        )
    }

    #[test]
    fn a_target_is_named_by_its_container_url_in_any_spelling() -> Result<()> {
        let target = target()?;
        assert_eq!(target.url(), "https://backups.blob.localhost/hsm");
        for uri in ["https://backups.blob.localhost/hsm", "https://BACKUPS.blob.localhost:443/hsm/"] {
            assert!(target.is_named_by(uri), "{uri}");
        }
        for uri in ["https://backups.blob.localhost/other", "https://backups.blob.localhost/hsm/x", "hsm", ""] {
            assert!(!target.is_named_by(uri), "{uri}");
        }
        assert!(find(std::slice::from_ref(&target), "https://elsewhere.localhost/hsm").is_err());
        assert_eq!(target.folder_url("mhsm-a-1"), "https://backups.blob.localhost/hsm/mhsm-a-1");
        Ok(())
    }

    #[test]
    fn only_container_urls_are_targets() {
        for url in ["https://a.localhost", "https://a.localhost/c/d", "https://a.localhost/c?sig=x", "ftp://a/c", "c"] {
            assert!(StorageTarget::new(url, PathBuf::new(), vec![], vec![]).is_err(), "{url}");
        }
    }

    #[test]
    fn a_target_admits_its_tokens_and_its_managed_identities_only() -> Result<()> {
        let target = target()?;
        target.admit("any", StorageAccess::SasToken("sv=2024&sig=abc"))?;
        target.admit("any", StorageAccess::SasToken("?sv=2024&sig=abc"))?;
        let refused = target.admit("any", StorageAccess::SasToken("sv=2024&sig=abd"));
        assert!(refused.is_err_and(|e| e.kind() == ErrorKind::InvalidCredential && !e.message().contains("sig")));
        target.admit("contoso", StorageAccess::ManagedIdentity)?;
        assert!(target.admit("fabrikam", StorageAccess::ManagedIdentity).is_err());
        Ok(())
    }
}

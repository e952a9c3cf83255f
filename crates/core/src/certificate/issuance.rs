//! Issuance: a certificate's operation (its pending or last issuance), a request waiting for a CA outside, what
//! is kept with a certificate, and what its lifetime actions ask of the scheduler at a given time.
//!
//! Each type here has its own stored layout, the one earlier versions stored, so old records still read.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::certifies;
use super::lifetime::LifetimeActionType;
use super::policy::{IssuerKind, IssuerParameters, Policy};
use crate::error::{Error, Result};
use crate::key::PrivateKey;

/// Where an issuance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationStatus {
    /// Waiting (for a CA's signature).
    #[serde(rename = "inProgress")]
    InProgress,
    /// Done: the certificate has a new version.
    #[serde(rename = "completed")]
    Completed,
    /// Cancelled at the caller's request.
    #[serde(rename = "cancelled")]
    Cancelled,
    /// Failed.
    #[serde(rename = "failed")]
    Failed,
}

impl OperationStatus {
    /// Key Vault's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::InProgress => "inProgress",
            OperationStatus::Completed => "completed",
            OperationStatus::Cancelled => "cancelled",
            OperationStatus::Failed => "failed",
        }
    }
}

/// A certificate's issuance (Key Vault's certificate operation). Earlier versions also kept the URL of the
/// certificate made (`target`); it is derived from the status when answered, and ignored when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Who issues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<IssuerParameters>,
    /// The certificate signing request, standard base64 DER, when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr: Option<String>,
    /// Whether cancellation was asked for.
    #[serde(default)]
    pub cancellation_requested: bool,
    /// Where it stands.
    pub status: OperationStatus,
    /// What the status means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    /// The request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Operation {
    /// A new request to `issuer` for a certificate of the CSR `csr` (DER), in progress.
    pub fn requested(issuer: IssuerParameters, csr: &[u8]) -> Self {
        Operation {
            issuer: Some(issuer),
            csr: Some(STANDARD.encode(csr)),
            cancellation_requested: false,
            status: OperationStatus::InProgress,
            status_details: Some("Pending certificate created. Please merge the signed certificate.".to_owned()),
            request_id: Some(Uuid::new_v4().simple().to_string()),
        }
    }

    /// The issuance of an imported certificate: done, with no request.
    pub fn imported(issuer: IssuerParameters) -> Self {
        Operation {
            issuer: Some(issuer),
            csr: None,
            cancellation_requested: false,
            status: OperationStatus::Completed,
            status_details: None,
            request_id: None,
        }
    }

    /// This request, done.
    pub fn completed(self) -> Self {
        Operation { status: OperationStatus::Completed, status_details: None, ..self }
    }

    /// This request, cancelled.
    pub fn cancelled(self) -> Self {
        Operation { cancellation_requested: true, status: OperationStatus::Cancelled, ..self }
    }

    /// How the answer to a create tells of this issuance: in progress, as Key Vault's does — the SDK pollers
    /// only start polling (and then fetch the certificate) when the first answer is not final; their first
    /// poll finds it completed.
    pub fn as_first_answer(&self) -> Self {
        Operation { status: OperationStatus::InProgress, ..self.clone() }
    }

    /// Whether it made a certificate (whose URL the answer then names).
    pub fn made_a_certificate(&self) -> bool {
        self.status == OperationStatus::Completed
    }
}

/// A certificate request waiting for a CA outside to sign its CSR (issuer [`super::policy::UNKNOWN_ISSUER`]):
/// its private key stays with it, kept sealed, until the signed chain is merged or the request deleted.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "StoredPending", into = "StoredPending")]
pub struct PendingCertificate {
    /// The certificate's name.
    pub name: String,
    /// The policy the certificate will have.
    pub policy: Policy,
    /// The request.
    pub operation: Operation,
    /// The key the CSR is for.
    pub key: PrivateKey,
    /// Whether the version will be enabled, when the create said.
    pub enabled: Option<bool>,
    /// The version's tags, when the create gave them.
    pub tags: Option<BTreeMap<String, String>>,
}

impl std::fmt::Debug for PendingCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCertificate").field("name", &self.name).finish_non_exhaustive()
    }
}

impl PendingCertificate {
    /// Checks the signed chain (leaf first) a CA sent for this request: there is one, and its leaf is for the
    /// request's key.
    pub fn check_chain(&self, chain: &[Vec<u8>]) -> Result<()> {
        let leaf = chain.first().ok_or_else(|| Error::invalid_input("'x5c', the signed chain, is required."))?;
        if !certifies(leaf, &self.key)? {
            return Err(Error::invalid_input("The merged certificate is not for the pending request's key."));
        }
        Ok(())
    }
}

/// A pending request as kept: the key as base64 PKCS#8 and the version's attributes as the create gave them.
#[derive(Serialize, Deserialize)]
struct StoredPending {
    /// Absent in the records of the first versions, whose name was only in the record's own name.
    #[serde(default)]
    name: Option<String>,
    policy: Policy,
    operation: Operation,
    pkcs8: String,
    #[serde(default)]
    attributes: Option<StoredAttributes>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize)]
struct StoredAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
}

impl TryFrom<StoredPending> for PendingCertificate {
    type Error = Error;

    fn try_from(stored: StoredPending) -> Result<Self> {
        let der = Zeroizing::new(
            STANDARD
                .decode(&stored.pkcs8)
                .map_err(|_| Error::invalid_input("a pending request's key is not base64"))?,
        );
        Ok(PendingCertificate {
            name: stored.name.unwrap_or_default(),
            policy: stored.policy,
            operation: stored.operation,
            key: PrivateKey::from_pkcs8(&der)?,
            enabled: stored.attributes.and_then(|a| a.enabled),
            tags: stored.tags,
        })
    }
}

impl From<PendingCertificate> for StoredPending {
    fn from(pending: PendingCertificate) -> Self {
        StoredPending {
            name: Some(pending.name),
            policy: pending.policy,
            operation: pending.operation,
            pkcs8: STANDARD.encode(pending.key.material()),
            attributes: Some(StoredAttributes { enabled: pending.enabled }),
            tags: pending.tags,
        }
    }
}

/// What is kept with a certificate: its policy, its last issuance, and the version whose coming expiry was
/// last told to the contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptPolicy {
    /// The policy of the versions to come.
    pub policy: Policy,
    /// The last issuance.
    pub operation: Operation,
    /// The version the contacts were last told of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noticed_version: Option<String>,
}

/// What a certificate's lifetime actions ask for at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing.
    Nothing,
    /// A new version (with a new key unless the policy reuses it).
    Renewal,
    /// Telling the contacts that the latest version expires soon.
    Notice,
}

impl KeptPolicy {
    /// What is due at `now` for the latest version `version`, valid from `not_before` to `expires`. A
    /// certificate a CA outside signs cannot renew by itself; self-signed ones and those of the vault's issuers
    /// can. The contacts hear once per version.
    pub fn due(&self, version: &str, not_before: i64, expires: i64, now: i64) -> Due {
        let reached = |kind| self.policy.due_at(kind, not_before, expires).is_some_and(|at| now >= at);
        let renewable = self.policy.issuer_kind() != IssuerKind::External;
        if renewable && reached(LifetimeActionType::AutoRenew) {
            Due::Renewal
        } else if reached(LifetimeActionType::EmailContacts) && self.noticed_version.as_deref() != Some(version) {
            Due::Notice
        } else {
            Due::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::policy::{IssuerRequest, PolicyRequest, X509Request};
    use crate::key::{Curve, KeySpec, KeyType};

    const DAY: i64 = 86_400;

    fn policy(issuer: &str, actions: &str) -> Result<Policy> {
        let json = format!(
            r#"{{"x509_props":{{"subject":"CN=a"}},"issuer":{{"name":"{issuer}"}},"lifetime_actions":{actions}}}"#
        );
        serde_json::from_str(&json).map_err(Error::invalid_input)
    }

    fn key() -> Result<PrivateKey> {
        PrivateKey::generate(&KeySpec { kty: KeyType::Ec, size: None, public_exponent: None, curve: Some(Curve::P256) })
    }

    #[test]
    fn renewal_is_due_at_the_trigger_unless_a_ca_outside_signs() -> Result<()> {
        let renew = r#"[{"trigger":{"lifetime_percentage":80},"action":{"action_type":"AutoRenew"}}]"#;
        let (not_before, expires) = (0, 100 * DAY);
        for issuer in ["Self", "corp-ca"] {
            let kept = KeptPolicy {
                policy: policy(issuer, renew)?,
                operation: Operation::imported(policy(issuer, renew)?.issuer),
                noticed_version: None,
            };
            assert_eq!(kept.due("v1", not_before, expires, 80 * DAY - 1), Due::Nothing, "{issuer}");
            assert_eq!(kept.due("v1", not_before, expires, 80 * DAY), Due::Renewal, "{issuer}");
        }
        let external = policy("Unknown", renew)?;
        let kept = KeptPolicy {
            operation: Operation::imported(external.issuer.clone()),
            policy: external,
            noticed_version: None,
        };
        assert_eq!(kept.due("v1", not_before, expires, 99 * DAY), Due::Nothing);
        Ok(())
    }

    #[test]
    fn contacts_hear_once_per_version() -> Result<()> {
        let notify = r#"[{"trigger":{"days_before_expiry":10},"action":{"action_type":"EmailContacts"}}]"#;
        let external = policy("Unknown", notify)?;
        let mut kept = KeptPolicy {
            operation: Operation::imported(external.issuer.clone()),
            policy: external,
            noticed_version: None,
        };
        assert_eq!(kept.due("v1", 0, 100 * DAY, 89 * DAY), Due::Nothing);
        assert_eq!(kept.due("v1", 0, 100 * DAY, 90 * DAY), Due::Notice);
        kept.noticed_version = Some("v1".into());
        assert_eq!(kept.due("v1", 0, 100 * DAY, 95 * DAY), Due::Nothing, "told already");
        assert_eq!(kept.due("v2", 0, 100 * DAY, 95 * DAY), Due::Notice, "a new version is told of");
        Ok(())
    }

    #[test]
    fn a_request_is_in_progress_then_completed_or_cancelled() -> Result<()> {
        let issuer = policy("Unknown", "[]")?.issuer;
        let requested = Operation::requested(issuer, b"csr");
        assert_eq!(requested.status, OperationStatus::InProgress);
        assert_eq!(requested.csr.as_deref(), Some("Y3Ny"));
        assert!(requested.request_id.as_ref().is_some_and(|id| id.len() == 32));
        assert!(!requested.made_a_certificate());
        let completed = requested.clone().completed();
        assert!(completed.made_a_certificate() && completed.status_details.is_none());
        let first_answer = completed.as_first_answer();
        assert_eq!(first_answer.status, OperationStatus::InProgress);
        assert!(!first_answer.made_a_certificate(), "the first answer names no certificate yet");
        let cancelled = requested.cancelled();
        assert!(cancelled.cancellation_requested);
        assert_eq!(cancelled.status.as_str(), "cancelled");
        Ok(())
    }

    #[test]
    fn a_merged_chain_must_be_for_the_pending_key() -> Result<()> {
        let policy = PolicyRequest {
            x509: Some(X509Request { subject: Some("CN=a".into()), ..X509Request::default() }),
            issuer: Some(IssuerRequest { name: Some("Unknown".into()), ..IssuerRequest::default() }),
            ..PolicyRequest::default()
        }
        .completed()?;
        let pending_key = key()?;
        let subject = policy.subject()?;
        let operation = Operation::requested(policy.issuer.clone(), &subject.signing_request(&pending_key)?);
        let pending = PendingCertificate {
            name: "a".into(),
            policy,
            operation,
            key: pending_key.clone(),
            enabled: None,
            tags: None,
        };
        let message = |r: Result<()>| r.err().map(|e| e.message().to_owned()).unwrap_or_default();
        assert_eq!(message(pending.check_chain(&[])), "'x5c', the signed chain, is required.");
        let other = subject.self_signed(&key()?, 1_700_000_000)?;
        assert_eq!(
            message(pending.check_chain(&[other])),
            "The merged certificate is not for the pending request's key."
        );
        assert!(pending.check_chain(&[subject.self_signed(&pending_key, 1_700_000_000)?]).is_ok());
        Ok(())
    }

    #[test]
    fn records_stored_by_older_versions_still_read() -> Result<()> {
        let pkcs8 = STANDARD.encode(key()?.material());
        let policy = r#"{"key_props":{"exportable":true,"kty":"RSA","key_size":2048,"reuse_key":false},
            "secret_props":{"contentType":"application/x-pkcs12"},"x509_props":{"subject":"CN=w","ekus":[],
            "key_usage":[],"validity_months":12},"lifetime_actions":[],"issuer":{"name":"Unknown"}}"#;
        let operation = r#"{"issuer":{"name":"Unknown"},"csr":"Y3Ny","cancellation_requested":false,
            "status":"inProgress","status_details":"Pending certificate created. Please merge the signed certificate.",
            "request_id":"0123"}"#;
        let pending = format!(
            r#"{{"policy":{policy},"operation":{operation},"pkcs8":"{pkcs8}",
            "attributes":{{"enabled":false,"exp":5}},"tags":{{"team":"pki"}}}}"#
        );
        let read: PendingCertificate = serde_json::from_str(&pending).map_err(Error::invalid_input)?;
        assert_eq!(read.name, "", "the first versions' records name no certificate");
        assert_eq!(read.enabled, Some(false));
        assert_eq!(read.operation.status, OperationStatus::InProgress);
        assert_eq!(read.tags.as_ref().and_then(|t| t.get("team")).map(String::as_str), Some("pki"));
        let again: PendingCertificate =
            serde_json::from_slice(&serde_json::to_vec(&read).map_err(Error::invalid_input)?)
                .map_err(Error::invalid_input)?;
        assert_eq!(again.key.material(), read.key.material());

        let kept = format!(
            r#"{{"policy":{policy},"operation":{{"issuer":{{"name":"Self"}},"cancellation_requested":false,
            "status":"completed","target":"https://v.vault.localhost/certificates/w"}},"noticed_version":"abc"}}"#
        );
        let kept: KeptPolicy = serde_json::from_str(&kept).map_err(Error::invalid_input)?;
        assert!(kept.operation.made_a_certificate());
        assert_eq!(kept.noticed_version.as_deref(), Some("abc"));
        let json = serde_json::to_string(&kept).map_err(Error::invalid_input)?;
        assert!(!json.contains("target"), "no URL is kept: {json}");
        assert_eq!(serde_json::from_str::<KeptPolicy>(&json).map_err(Error::invalid_input)?, kept);
        Ok(())
    }
}

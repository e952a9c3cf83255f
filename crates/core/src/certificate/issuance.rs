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
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OperationError>,
}

/// Why an issuance failed, as the operation's `error` tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationError {
    /// A code a program can match.
    pub code: String,
    /// What happened.
    pub message: String,
}

/// What Key Vault answers to a change of an operation that is no longer in progress.
pub const NOT_IN_PROGRESS: &str = "Pending status must be in progress to allow update.";

impl Operation {
    /// A new request to `issuer` for a certificate of the CSR `csr` (DER), in progress: for issuer `Unknown`,
    /// the CSR waits for a CA outside and a merge; for any other, the issuer is at work.
    pub fn requested(issuer: IssuerParameters, csr: &[u8]) -> Self {
        let details = match issuer.kind() {
            IssuerKind::External => "Pending certificate created. Please merge the signed certificate.",
            _ => {
                "Pending certificate created. Certificate request is in progress. This may take some time based on \
                 the issuer provider. Please check again later."
            }
        };
        Operation {
            issuer: Some(issuer),
            csr: Some(STANDARD.encode(csr)),
            cancellation_requested: false,
            status: OperationStatus::InProgress,
            status_details: Some(details.to_owned()),
            request_id: Some(Uuid::new_v4().simple().to_string()),
            error: None,
        }
    }

    /// An issuance done with no request: an imported certificate, or a renewal whose operation was deleted.
    pub fn finished(issuer: IssuerParameters) -> Self {
        Operation {
            issuer: Some(issuer),
            csr: None,
            cancellation_requested: false,
            status: OperationStatus::Completed,
            status_details: None,
            request_id: None,
            error: None,
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

    /// This request, failed for the reason `error`.
    pub fn failed(self, error: OperationError) -> Self {
        Operation {
            status: OperationStatus::Failed,
            status_details: Some(error.message.clone()),
            error: Some(error),
            ..self
        }
    }

    /// Whether it is still in progress (and so may be cancelled, merged or completed).
    pub fn in_progress(&self) -> bool {
        self.status == OperationStatus::InProgress
    }

    /// Whether it made a certificate (whose URL the answer then names).
    pub fn made_a_certificate(&self) -> bool {
        self.status == OperationStatus::Completed
    }
}

/// A certificate version not issued yet, as Key Vault keeps one from its create on: readable, disabled, with no
/// certificate. Its request waits for a CA outside to sign its CSR (issuer [`super::policy::UNKNOWN_ISSUER`]),
/// for the time an issuer takes (what it did waits in [`PendingCertificate::issuing`]), or for nothing
/// when it failed or was cancelled. Its private key stays with it, kept sealed, until the version is issued
/// or a new create replaces it. Once its operation is deleted it stays, disabled, without one.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "StoredPending", into = "StoredPending")]
pub struct PendingCertificate {
    /// The certificate's name.
    pub name: String,
    /// The id of the version it becomes.
    pub version: String,
    /// When it was requested.
    pub created: i64,
    /// The policy the certificate will have.
    pub policy: Policy,
    /// The request.
    pub operation: Operation,
    /// Whether the request was deleted (the version then stays without one).
    pub operation_deleted: bool,
    /// What the issuer did, and when the operation tells of it.
    pub issuing: Option<Issuing>,
    /// The key the CSR is for.
    pub key: PrivateKey,
    /// Whether the version will be enabled, when the create said.
    pub enabled: Option<bool>,
    /// The version's tags, when the create gave them.
    pub tags: Option<BTreeMap<String, String>>,
}

/// What an issuer did for a pending version, and when its operation tells of it (Key Vault's issuers take
/// seconds: the operation is in progress, and may be cancelled, until then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuing {
    /// What the issuer did.
    pub outcome: IssuanceOutcome,
    /// When the operation ends with it, Unix seconds.
    pub ready_at: i64,
}

/// What an issuer did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuanceOutcome {
    /// It signed this chain, leaf first, DER.
    Signed(Vec<Vec<u8>>),
    /// It could not issue, for this reason.
    Failed(OperationError),
}

impl std::fmt::Debug for PendingCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCertificate").field("name", &self.name).finish_non_exhaustive()
    }
}

impl PendingCertificate {
    /// A new pending version of the certificate `name`, requested at `now`.
    pub fn new(name: &str, policy: Policy, operation: Operation, key: PrivateKey, now: i64) -> Self {
        PendingCertificate {
            name: name.to_owned(),
            version: crate::object::new_version(),
            created: now,
            policy,
            operation,
            operation_deleted: false,
            issuing: None,
            key,
            enabled: None,
            tags: None,
        }
    }

    /// Its request, unless deleted.
    pub fn live_operation(&self) -> Option<&Operation> {
        (!self.operation_deleted).then_some(&self.operation)
    }

    /// Whether its request is still in progress.
    pub fn in_progress(&self) -> bool {
        self.live_operation().is_some_and(Operation::in_progress)
    }

    /// Whether an issuer is at work on it: a new create for the certificate then conflicts, as in Key Vault. A
    /// request that waits for a merge is replaced by a new one instead (Microsoft's own JavaScript sample
    /// `operations.js` creates twice in a row with issuer `Unknown`).
    pub fn issuer_at_work(&self) -> bool {
        self.in_progress() && self.issuing.is_some()
    }

    /// What its issuer did, once the issuer's time has passed at `now`.
    pub fn ready(&self, now: i64) -> Option<&IssuanceOutcome> {
        self.issuing.as_ref().filter(|i| self.in_progress() && now >= i.ready_at).map(|i| &i.outcome)
    }

    /// Cancels its request, which must be in progress: no certificate comes of it.
    pub fn cancel(&mut self) -> Result<()> {
        if !self.in_progress() {
            return Err(Error::invalid_input(NOT_IN_PROGRESS));
        }
        self.operation = self.operation.clone().cancelled();
        self.issuing = None;
        Ok(())
    }

    /// Its request, failed for the reason `error`: no certificate comes of it.
    pub fn fail(&mut self, error: OperationError) {
        self.operation = self.operation.clone().failed(error);
        self.issuing = None;
    }

    /// Deletes its request: no certificate comes of it, and the version stays, disabled, with none.
    pub fn delete_operation(&mut self) {
        self.operation_deleted = true;
        self.issuing = None;
    }

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

/// A pending request as kept: the key as base64 PKCS#8, the signed chain as base64 DER, and the version's
/// attributes as the create gave them.
#[derive(Serialize, Deserialize)]
struct StoredPending {
    /// Absent in the records of the first versions, whose name was only in the record's own name.
    #[serde(default)]
    name: Option<String>,
    /// Absent in records made before pending versions were readable: such a record gets an id when read.
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    created: i64,
    policy: Policy,
    operation: Operation,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    operation_deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuing: Option<StoredIssuing>,
    pkcs8: String,
    #[serde(default)]
    attributes: Option<StoredAttributes>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

/// What an issuer did: the chain it signed (base64 DER), or why it failed.
#[derive(Serialize, Deserialize)]
struct StoredIssuing {
    ready_at: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    chain: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<OperationError>,
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
        let issuing = match stored.issuing {
            None => None,
            Some(StoredIssuing { ready_at, error: Some(error), .. }) => {
                Some(Issuing { outcome: IssuanceOutcome::Failed(error), ready_at })
            }
            Some(StoredIssuing { ready_at, chain, error: None }) => {
                let chain = chain
                    .iter()
                    .map(|c| STANDARD.decode(c))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| Error::invalid_input("a pending request's chain is not base64"))?;
                Some(Issuing { outcome: IssuanceOutcome::Signed(chain), ready_at })
            }
        };
        Ok(PendingCertificate {
            name: stored.name.unwrap_or_default(),
            version: stored.version.unwrap_or_else(crate::object::new_version),
            created: stored.created,
            policy: stored.policy,
            operation: stored.operation,
            operation_deleted: stored.operation_deleted,
            issuing,
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
            version: Some(pending.version),
            created: pending.created,
            policy: pending.policy,
            operation: pending.operation,
            operation_deleted: pending.operation_deleted,
            issuing: pending.issuing.map(|i| match i.outcome {
                IssuanceOutcome::Signed(chain) => StoredIssuing {
                    ready_at: i.ready_at,
                    chain: chain.iter().map(|c| STANDARD.encode(c)).collect(),
                    error: None,
                },
                IssuanceOutcome::Failed(error) => {
                    StoredIssuing { ready_at: i.ready_at, chain: Vec::new(), error: Some(error) }
                }
            }),
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
    /// The last issuance, unless its operation was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
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
    use crate::object;

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
                operation: Some(Operation::finished(policy(issuer, renew)?.issuer)),
                noticed_version: None,
            };
            assert_eq!(kept.due("v1", not_before, expires, 80 * DAY - 1), Due::Nothing, "{issuer}");
            assert_eq!(kept.due("v1", not_before, expires, 80 * DAY), Due::Renewal, "{issuer}");
        }
        let external = policy("Unknown", renew)?;
        let kept = KeptPolicy {
            operation: Some(Operation::finished(external.issuer.clone())),
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
            operation: Some(Operation::finished(external.issuer.clone())),
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
        let cancelled = requested.cancelled();
        assert!(cancelled.cancellation_requested);
        assert_eq!(cancelled.status.as_str(), "cancelled");
        Ok(())
    }

    #[test]
    fn a_pending_version_is_cancelled_only_in_progress_and_completes_when_its_time_comes() -> Result<()> {
        let self_signed = policy("Self", "[]")?;
        let operation = Operation::requested(self_signed.issuer.clone(), b"csr");
        assert!(operation.status_details.as_deref().is_some_and(|d| d.contains("Certificate request is in progress")));
        let mut pending = PendingCertificate::new("a", self_signed, operation, key()?, 100);
        let signed = IssuanceOutcome::Signed(vec![b"leaf".to_vec()]);
        pending.issuing = Some(Issuing { outcome: signed.clone(), ready_at: 102 });
        assert!(pending.in_progress() && pending.issuer_at_work());
        assert_eq!(pending.ready(101), None, "the issuer's time has not passed");
        assert_eq!(pending.ready(102), Some(&signed));
        let again: PendingCertificate =
            serde_json::from_slice(&serde_json::to_vec(&pending).map_err(Error::invalid_input)?)
                .map_err(Error::invalid_input)?;
        assert_eq!(
            (again.issuing, again.version, again.created),
            (pending.issuing.clone(), pending.version.clone(), 100)
        );
        let mut cancelled = pending.clone();
        cancelled.cancel()?;
        assert_eq!(cancelled.operation.status, OperationStatus::Cancelled);
        assert_eq!(cancelled.ready(200), None, "a cancelled request issues nothing");
        let refused = cancelled.cancel().err().map(|e| e.message().to_owned());
        assert_eq!(refused.as_deref(), Some(NOT_IN_PROGRESS));
        pending.delete_operation();
        assert!(pending.live_operation().is_none() && !pending.in_progress() && pending.ready(200).is_none());
        let failed = Operation::requested(policy("corp", "[]")?.issuer, b"csr")
            .failed(OperationError { code: "Unreachable".into(), message: "no".into() });
        assert_eq!((failed.status.as_str(), failed.status_details.as_deref()), ("failed", Some("no")));
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
        let pending = PendingCertificate::new("a", policy, operation, pending_key.clone(), 0);
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
        assert!(object::is_version(&read.version) && again.version == read.version, "an id once read is kept");

        let kept = format!(
            r#"{{"policy":{policy},"operation":{{"issuer":{{"name":"Self"}},"cancellation_requested":false,
            "status":"completed","target":"https://v.vault.localhost/certificates/w"}},"noticed_version":"abc"}}"#
        );
        let kept: KeptPolicy = serde_json::from_str(&kept).map_err(Error::invalid_input)?;
        assert!(kept.operation.as_ref().is_some_and(Operation::made_a_certificate));
        assert_eq!(kept.noticed_version.as_deref(), Some("abc"));
        let json = serde_json::to_string(&kept).map_err(Error::invalid_input)?;
        assert!(!json.contains("target"), "no URL is kept: {json}");
        assert_eq!(serde_json::from_str::<KeptPolicy>(&json).map_err(Error::invalid_input)?, kept);
        Ok(())
    }
}

//! Stage 5's front half: which operation a request asks for (method and path), with which query
//! parameters. Routing reads only the request line, so it can name the operation for the permission check
//! and the audit record before any body is read.

use axum::http::Method;
use strongroom_core::rbac::{Action, Collection, Target};

use super::error::VaultError;

/// Every data-plane api-version Key Vault has published, previews included (the Azure CLI sends
/// `7.6-preview.2`). Each is answered with the behaviour of the newest release, which keeps every field the
/// older ones had: no published version removed one.
pub const API_VERSIONS: &[&str] = &[
    "2015-06-01",
    "2016-10-01",
    "7.0-preview",
    "7.0",
    "7.1-preview",
    "7.1",
    "7.2-preview",
    "7.2",
    "7.3-preview",
    "7.3",
    "7.4-preview.1",
    "7.4",
    "7.5-preview.1",
    "7.5",
    "7.6-preview.1",
    "7.6-preview.2",
    "7.6",
    "2025-06-01",
    "2025-06-01-preview",
    "2025-07-01",
    "2025-07-01-preview",
    "2026-01-01-preview",
    "2026-04-01",
];
const LATEST_API_VERSION: &str = "2026-04-01";

/// Default and largest page size of list operations.
pub const MAX_RESULTS: usize = 25;

/// A data-plane operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `PUT /secrets/{name}`
    SetSecret {
        /// The secret.
        name: String,
    },
    /// `GET /secrets/{name}[/{version}]`
    GetSecret {
        /// The secret.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `PATCH /secrets/{name}[/{version}]`
    UpdateSecret {
        /// The secret.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `DELETE /secrets/{name}`
    DeleteSecret {
        /// The secret.
        name: String,
    },
    /// `GET /secrets`
    ListSecrets,
    /// `GET /secrets/{name}/versions`
    ListSecretVersions {
        /// The secret.
        name: String,
    },
    /// `POST /secrets/{name}/backup`
    BackupSecret {
        /// The secret.
        name: String,
    },
    /// `POST /secrets/restore`
    RestoreSecret,
    /// `GET /deletedsecrets`
    ListDeletedSecrets,
    /// `GET /deletedsecrets/{name}`
    GetDeletedSecret {
        /// The secret.
        name: String,
    },
    /// `POST /deletedsecrets/{name}/recover`
    RecoverDeletedSecret {
        /// The secret.
        name: String,
    },
    /// `DELETE /deletedsecrets/{name}`
    PurgeDeletedSecret {
        /// The secret.
        name: String,
    },
    /// An operation on keys.
    Key(KeyOperation),
    /// An operation on certificates.
    Certificate(CertificateOp),
}

/// An operation on `/certificates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateOp {
    /// `POST /certificates/{name}/create`
    Create {
        /// The certificate.
        name: String,
    },
    /// `POST /certificates/{name}/import`
    Import {
        /// The certificate.
        name: String,
    },
    /// `GET /certificates/{name}[/{version}]`
    Get {
        /// The certificate.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `GET /certificates/{name}/pending`
    GetOperation {
        /// The certificate.
        name: String,
    },
    /// `POST /certificates/{name}/pending/merge`
    Merge {
        /// The certificate.
        name: String,
    },
    /// `PATCH /certificates/{name}/pending`
    CancelOperation {
        /// The certificate.
        name: String,
    },
    /// `DELETE /certificates/{name}/pending`
    DeleteOperation {
        /// The certificate.
        name: String,
    },
    /// `GET /certificates/{name}/policy`
    GetPolicy {
        /// The certificate.
        name: String,
    },
    /// `GET /certificates`
    List,
    /// `POST /certificates/{name}/backup`
    Backup {
        /// The certificate.
        name: String,
    },
    /// `POST /certificates/restore`
    Restore,
    /// `GET /certificates/issuers`
    ListIssuers,
    /// `GET /certificates/issuers/{issuer}`
    GetIssuer {
        /// The issuer.
        name: String,
    },
    /// `PUT` (`replace`) or `PATCH /certificates/issuers/{issuer}`
    SetIssuer {
        /// The issuer.
        name: String,
        /// Whether the issuer is replaced (`PUT`) rather than changed (`PATCH`).
        replace: bool,
    },
    /// `DELETE /certificates/issuers/{issuer}`
    DeleteIssuer {
        /// The issuer.
        name: String,
    },
    /// `GET /certificates/contacts`
    GetContacts,
    /// `PUT /certificates/contacts`
    SetContacts,
    /// `DELETE /certificates/contacts`
    DeleteContacts,
    /// `GET /certificates/{name}/versions`
    ListVersions {
        /// The certificate.
        name: String,
    },
    /// `PATCH /certificates/{name}[/{version}]`
    Update {
        /// The certificate.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `PATCH /certificates/{name}/policy`
    UpdatePolicy {
        /// The certificate.
        name: String,
    },
    /// `DELETE /certificates/{name}`
    Delete {
        /// The certificate.
        name: String,
    },
    /// `GET /deletedcertificates`
    ListDeleted,
    /// `GET /deletedcertificates/{name}`
    GetDeleted {
        /// The certificate.
        name: String,
    },
    /// `POST /deletedcertificates/{name}/recover`
    Recover {
        /// The certificate.
        name: String,
    },
    /// `DELETE /deletedcertificates/{name}`
    Purge {
        /// The certificate.
        name: String,
    },
}

impl CertificateOp {
    fn route(segments: &[&str], method: &Method) -> Option<Self> {
        use CertificateOp::*;
        let name = |n: &&str| (*n).to_owned();
        Some(match (segments, method) {
            (["certificates"] | ["certificates", ""], &Method::GET) => List,
            (["certificates", "issuers"] | ["certificates", "issuers", ""], &Method::GET) => ListIssuers,
            (["certificates", "issuers", n], &Method::GET) => GetIssuer { name: name(n) },
            (["certificates", "issuers", n], &Method::PUT) => SetIssuer { name: name(n), replace: true },
            (["certificates", "issuers", n], &Method::PATCH) => SetIssuer { name: name(n), replace: false },
            (["certificates", "issuers", n], &Method::DELETE) => DeleteIssuer { name: name(n) },
            (["certificates", "contacts"], &Method::GET) => GetContacts,
            (["certificates", "contacts"], &Method::PUT) => SetContacts,
            (["certificates", "contacts"], &Method::DELETE) => DeleteContacts,
            (["certificates", "restore"], &Method::POST) => Restore,
            (["certificates", n, "backup"], &Method::POST) => Backup { name: name(n) },
            (["certificates", n, "create"], &Method::POST) => Create { name: name(n) },
            (["certificates", n, "import"], &Method::POST) => Import { name: name(n) },
            (["certificates", n, "pending"], &Method::GET) => GetOperation { name: name(n) },
            (["certificates", n, "pending"], &Method::PATCH) => CancelOperation { name: name(n) },
            (["certificates", n, "pending"], &Method::DELETE) => DeleteOperation { name: name(n) },
            (["certificates", n, "pending", "merge"], &Method::POST) => Merge { name: name(n) },
            (["certificates", n, "policy"], &Method::GET) => GetPolicy { name: name(n) },
            (["certificates", n, "versions"], &Method::GET) => ListVersions { name: name(n) },
            (["certificates", n] | ["certificates", n, ""], &Method::GET) => Get { name: name(n), version: None },
            (["certificates", n, v], &Method::GET) => Get { name: name(n), version: Some(name(v)) },
            (["certificates", n, "policy"], &Method::PATCH) => UpdatePolicy { name: name(n) },
            (["certificates", n] | ["certificates", n, ""], &Method::PATCH) => Update { name: name(n), version: None },
            (["certificates", n, v], &Method::PATCH) => Update { name: name(n), version: Some(name(v)) },
            (["certificates", n], &Method::DELETE) => Delete { name: name(n) },
            (["deletedcertificates"] | ["deletedcertificates", ""], &Method::GET) => ListDeleted,
            (["deletedcertificates", n], &Method::GET) => GetDeleted { name: name(n) },
            (["deletedcertificates", n, "recover"], &Method::POST) => Recover { name: name(n) },
            (["deletedcertificates", n], &Method::DELETE) => Purge { name: name(n) },
            _ => return None,
        })
    }

    fn audit_name(&self) -> &'static str {
        match self {
            CertificateOp::Create { .. } => "CertificateCreate",
            CertificateOp::Import { .. } => "CertificateImport",
            CertificateOp::Get { .. } => "CertificateGet",
            CertificateOp::GetOperation { .. } => "CertificatePendingGet",
            CertificateOp::Merge { .. } => "CertificatePendingMerge",
            CertificateOp::CancelOperation { .. } => "CertificatePendingUpdate",
            CertificateOp::DeleteOperation { .. } => "CertificatePendingDelete",
            CertificateOp::GetPolicy { .. } => "CertificatePolicyGet",
            CertificateOp::List => "CertificateList",
            CertificateOp::Backup { .. } => "CertificateBackup",
            CertificateOp::Restore => "CertificateRestore",
            CertificateOp::ListIssuers => "CertificateIssuerList",
            CertificateOp::GetIssuer { .. } => "CertificateIssuerGet",
            CertificateOp::SetIssuer { .. } => "CertificateIssuerSet",
            CertificateOp::DeleteIssuer { .. } => "CertificateIssuerDelete",
            CertificateOp::GetContacts => "CertificateContactsGet",
            CertificateOp::SetContacts => "CertificateContactsSet",
            CertificateOp::DeleteContacts => "CertificateContactsDelete",
            CertificateOp::ListVersions { .. } => "CertificateListVersions",
            CertificateOp::Update { .. } => "CertificateUpdate",
            CertificateOp::UpdatePolicy { .. } => "CertificatePolicyUpdate",
            CertificateOp::Delete { .. } => "CertificateDelete",
            CertificateOp::ListDeleted => "CertificateListDeleted",
            CertificateOp::GetDeleted { .. } => "CertificateGetDeleted",
            CertificateOp::Recover { .. } => "CertificateRecover",
            CertificateOp::Purge { .. } => "CertificatePurge",
        }
    }

    /// The RBAC data action and the access-policy permission.
    fn needs(&self) -> (Action, &'static str) {
        match self {
            CertificateOp::Create { .. } => (Action::CertificatesCreate, "create"),
            CertificateOp::Import { .. } => (Action::CertificatesImport, "import"),
            CertificateOp::Backup { .. } => (Action::CertificatesBackup, "backup"),
            CertificateOp::Restore => (Action::CertificatesRestore, "restore"),
            CertificateOp::ListIssuers => (Action::CertificateIssuersRead, "listissuers"),
            CertificateOp::GetIssuer { .. } => (Action::CertificateIssuersRead, "getissuers"),
            CertificateOp::SetIssuer { .. } => (Action::CertificateIssuersWrite, "setissuers"),
            CertificateOp::DeleteIssuer { .. } => (Action::CertificateIssuersDelete, "deleteissuers"),
            // Key Vault documents no read action for contacts; reading them is reading certificates.
            CertificateOp::GetContacts => (Action::CertificatesRead, "managecontacts"),
            CertificateOp::SetContacts | CertificateOp::DeleteContacts => {
                (Action::CertificateContactsWrite, "managecontacts")
            }
            CertificateOp::Merge { .. } => (Action::CertificatesCreate, "create"),
            CertificateOp::CancelOperation { .. } | CertificateOp::DeleteOperation { .. } => {
                (Action::CertificatesUpdate, "update")
            }
            CertificateOp::Get { .. } | CertificateOp::GetOperation { .. } | CertificateOp::GetPolicy { .. } => {
                (Action::CertificatesRead, "get")
            }
            CertificateOp::List | CertificateOp::ListVersions { .. } | CertificateOp::ListDeleted => {
                (Action::CertificatesRead, "list")
            }
            CertificateOp::GetDeleted { .. } => (Action::CertificatesRead, "get"),
            CertificateOp::Update { .. } | CertificateOp::UpdatePolicy { .. } => (Action::CertificatesUpdate, "update"),
            CertificateOp::Delete { .. } => (Action::CertificatesDelete, "delete"),
            CertificateOp::Recover { .. } => (Action::CertificatesRecover, "recover"),
            CertificateOp::Purge { .. } => (Action::CertificatesPurge, "purge"),
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            CertificateOp::Create { name }
            | CertificateOp::Import { name }
            | CertificateOp::Get { name, .. }
            | CertificateOp::GetOperation { name }
            | CertificateOp::Merge { name }
            | CertificateOp::CancelOperation { name }
            | CertificateOp::DeleteOperation { name }
            | CertificateOp::GetPolicy { name }
            | CertificateOp::ListVersions { name }
            | CertificateOp::Update { name, .. }
            | CertificateOp::UpdatePolicy { name }
            | CertificateOp::Delete { name }
            | CertificateOp::GetDeleted { name }
            | CertificateOp::Recover { name }
            | CertificateOp::Purge { name }
            | CertificateOp::Backup { name } => Some(name.as_str()),
            CertificateOp::List
            | CertificateOp::ListDeleted
            | CertificateOp::Restore
            | CertificateOp::ListIssuers
            | CertificateOp::GetIssuer { .. }
            | CertificateOp::SetIssuer { .. }
            | CertificateOp::DeleteIssuer { .. }
            | CertificateOp::GetContacts
            | CertificateOp::SetContacts
            | CertificateOp::DeleteContacts => None,
        }
    }
}

/// An operation on `/keys` or `/deletedkeys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOperation {
    /// `POST /keys/{name}/create`
    Create {
        /// The key.
        name: String,
    },
    /// `GET /keys/{name}[/{version}]`
    Get {
        /// The key.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `PATCH /keys/{name}[/{version}]`
    Update {
        /// The key.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `DELETE /keys/{name}`
    Delete {
        /// The key.
        name: String,
    },
    /// `PUT /keys/{name}`
    Import {
        /// The key.
        name: String,
    },
    /// `POST /keys/{name}/rotate`
    Rotate {
        /// The key.
        name: String,
    },
    /// `GET /keys/{name}/rotationpolicy`
    GetRotationPolicy {
        /// The key.
        name: String,
    },
    /// `PUT /keys/{name}/rotationpolicy`
    SetRotationPolicy {
        /// The key.
        name: String,
    },
    /// `GET /keys/{name}/{version}/attestation`
    GetAttestation {
        /// The key.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `POST /rng`
    RandomBytes,
    /// `POST /keys/{name}[/{version}]/release`
    Release {
        /// The key.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `POST /keys/{name}/backup`
    Backup {
        /// The key.
        name: String,
    },
    /// `POST /keys/restore`
    Restore,
    /// `GET /keys`
    List,
    /// `GET /keys/{name}/versions`
    ListVersions {
        /// The key.
        name: String,
    },
    /// `GET /deletedkeys`
    ListDeleted,
    /// `GET /deletedkeys/{name}`
    GetDeleted {
        /// The key.
        name: String,
    },
    /// `POST /deletedkeys/{name}/recover`
    Recover {
        /// The key.
        name: String,
    },
    /// `DELETE /deletedkeys/{name}`
    Purge {
        /// The key.
        name: String,
    },
    /// `POST /keys/{name}[/{version}]/{sign|verify|encrypt|decrypt|wrapkey|unwrapkey}`
    Crypto {
        /// The key.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
        /// What to do.
        operation: CryptoOperation,
    },
}

/// A cryptographic operation with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoOperation {
    /// Sign a digest.
    Sign,
    /// Verify a signature of a digest.
    Verify,
    /// Encrypt.
    Encrypt,
    /// Decrypt.
    Decrypt,
    /// Wrap a key.
    WrapKey,
    /// Unwrap a key.
    UnwrapKey,
}

impl CryptoOperation {
    const ALL: [(CryptoOperation, &'static str); 6] = [
        (CryptoOperation::Sign, "sign"),
        (CryptoOperation::Verify, "verify"),
        (CryptoOperation::Encrypt, "encrypt"),
        (CryptoOperation::Decrypt, "decrypt"),
        (CryptoOperation::WrapKey, "wrapKey"),
        (CryptoOperation::UnwrapKey, "unwrapKey"),
    ];

    /// The operation a path segment names (any case).
    fn parse(segment: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, name)| name.eq_ignore_ascii_case(segment)).map(|(op, _)| *op)
    }

    /// Its JSON Web Key operation name (`key_ops`), which is also its access-policy permission.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(op, _)| *op == self).map_or("", |(_, name)| name)
    }
}

impl KeyOperation {
    fn route(segments: &[&str], method: &Method) -> Option<Self> {
        use KeyOperation::*;
        let name = |n: &&str| (*n).to_owned();
        let version = |v: &&str| (!v.is_empty()).then(|| (*v).to_owned());
        let crypto = |n: &&str, v: Option<String>, op: &&str| {
            CryptoOperation::parse(op).map(|operation| Crypto { name: name(n), version: v, operation })
        };
        Some(match (segments, method) {
            (["keys"] | ["keys", ""], &Method::GET) => List,
            (["keys", n, "create"], &Method::POST) => Create { name: name(n) },
            (["keys", "restore"], &Method::POST) => Restore,
            (["keys", n], &Method::PUT) => Import { name: name(n) },
            (["keys", n, "rotate"], &Method::POST) => Rotate { name: name(n) },
            (["keys", n, "rotationpolicy"], &Method::GET) => GetRotationPolicy { name: name(n) },
            (["keys", n, "rotationpolicy"], &Method::PUT) => SetRotationPolicy { name: name(n) },
            (["keys", n, v, "attestation"], &Method::GET) => GetAttestation { name: name(n), version: version(v) },
            (["rng"], &Method::POST) => RandomBytes,
            (["keys", n, "release"], &Method::POST) => Release { name: name(n), version: None },
            (["keys", n, v, "release"], &Method::POST) => Release { name: name(n), version: version(v) },
            (["keys", n, "backup"], &Method::POST) => Backup { name: name(n) },
            (["keys", n] | ["keys", n, ""], &Method::GET) => Get { name: name(n), version: None },
            (["keys", n] | ["keys", n, ""], &Method::PATCH) => Update { name: name(n), version: None },
            (["keys", n], &Method::DELETE) => Delete { name: name(n) },
            (["keys", n, "versions"], &Method::GET) => ListVersions { name: name(n) },
            (["keys", n, op], &Method::POST) => crypto(n, None, op)?,
            (["keys", n, v], &Method::GET) => Get { name: name(n), version: version(v) },
            (["keys", n, v], &Method::PATCH) => Update { name: name(n), version: version(v) },
            (["keys", n, v, op], &Method::POST) => crypto(n, version(v), op)?,
            (["deletedkeys"] | ["deletedkeys", ""], &Method::GET) => ListDeleted,
            (["deletedkeys", n], &Method::GET) => GetDeleted { name: name(n) },
            (["deletedkeys", n], &Method::DELETE) => Purge { name: name(n) },
            (["deletedkeys", n, "recover"], &Method::POST) => Recover { name: name(n) },
            _ => return None,
        })
    }

    fn audit_name(&self) -> &'static str {
        match self {
            KeyOperation::Create { .. } => "KeyCreate",
            KeyOperation::Get { .. } => "KeyGet",
            KeyOperation::Update { .. } => "KeyUpdate",
            KeyOperation::Delete { .. } => "KeyDelete",
            KeyOperation::Import { .. } => "KeyImport",
            KeyOperation::Rotate { .. } => "KeyRotate",
            KeyOperation::GetRotationPolicy { .. } => "KeyGetRotationPolicy",
            KeyOperation::SetRotationPolicy { .. } => "KeySetRotationPolicy",
            KeyOperation::GetAttestation { .. } => "KeyGetAttestation",
            KeyOperation::RandomBytes => "RandomBytes",
            KeyOperation::Release { .. } => "KeyRelease",
            KeyOperation::Backup { .. } => "KeyBackup",
            KeyOperation::Restore => "KeyRestore",
            KeyOperation::List => "KeyList",
            KeyOperation::ListVersions { .. } => "KeyListVersions",
            KeyOperation::ListDeleted => "KeyListDeleted",
            KeyOperation::GetDeleted { .. } => "KeyGetDeleted",
            KeyOperation::Recover { .. } => "KeyRecover",
            KeyOperation::Purge { .. } => "KeyPurge",
            KeyOperation::Crypto { operation, .. } => match operation {
                CryptoOperation::Sign => "KeySign",
                CryptoOperation::Verify => "KeyVerify",
                CryptoOperation::Encrypt => "KeyEncrypt",
                CryptoOperation::Decrypt => "KeyDecrypt",
                CryptoOperation::WrapKey => "KeyWrap",
                CryptoOperation::UnwrapKey => "KeyUnwrap",
            },
        }
    }

    /// The RBAC data action and the access-policy permission.
    fn needs(&self) -> (Action, &'static str) {
        match self {
            KeyOperation::Create { .. } => (Action::KeysCreate, "create"),
            KeyOperation::Get { .. } | KeyOperation::GetDeleted { .. } | KeyOperation::GetAttestation { .. } => {
                (Action::KeysRead, "get")
            }
            // Access policies name these `getrotationpolicy` and `setrotationpolicy`.
            KeyOperation::GetRotationPolicy { .. } => (Action::KeyRotationPoliciesRead, "getrotationpolicy"),
            KeyOperation::SetRotationPolicy { .. } => (Action::KeyRotationPoliciesWrite, "setrotationpolicy"),
            // No access-policy permission exists for it; whoever may read keys may draw random bytes.
            KeyOperation::RandomBytes => (Action::KeysRandomBytes, "get"),
            KeyOperation::Release { .. } => (Action::KeysRelease, "release"),
            KeyOperation::List | KeyOperation::ListVersions { .. } | KeyOperation::ListDeleted => {
                (Action::KeysRead, "list")
            }
            KeyOperation::Update { .. } => (Action::KeysUpdate, "update"),
            KeyOperation::Delete { .. } => (Action::KeysDelete, "delete"),
            KeyOperation::Import { .. } => (Action::KeysImport, "import"),
            KeyOperation::Rotate { .. } => (Action::KeysRotate, "rotate"),
            KeyOperation::Backup { .. } => (Action::KeysBackup, "backup"),
            KeyOperation::Restore => (Action::KeysRestore, "restore"),
            KeyOperation::Recover { .. } => (Action::KeysRecover, "recover"),
            KeyOperation::Purge { .. } => (Action::KeysPurge, "purge"),
            KeyOperation::Crypto { operation, .. } => match operation {
                CryptoOperation::Sign => (Action::KeysSign, "sign"),
                CryptoOperation::Verify => (Action::KeysVerify, "verify"),
                CryptoOperation::Encrypt => (Action::KeysEncrypt, "encrypt"),
                CryptoOperation::Decrypt => (Action::KeysDecrypt, "decrypt"),
                CryptoOperation::WrapKey => (Action::KeysWrap, "wrapkey"),
                CryptoOperation::UnwrapKey => (Action::KeysUnwrap, "unwrapkey"),
            },
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            KeyOperation::Create { name }
            | KeyOperation::Get { name, .. }
            | KeyOperation::Update { name, .. }
            | KeyOperation::Delete { name }
            | KeyOperation::Import { name }
            | KeyOperation::Rotate { name }
            | KeyOperation::GetRotationPolicy { name }
            | KeyOperation::SetRotationPolicy { name }
            | KeyOperation::GetAttestation { name, .. }
            | KeyOperation::Release { name, .. }
            | KeyOperation::Backup { name }
            | KeyOperation::ListVersions { name }
            | KeyOperation::GetDeleted { name }
            | KeyOperation::Recover { name }
            | KeyOperation::Purge { name }
            | KeyOperation::Crypto { name, .. } => Some(name.as_str()),
            KeyOperation::List | KeyOperation::ListDeleted | KeyOperation::Restore | KeyOperation::RandomBytes => None,
        }
    }
}

impl Operation {
    /// The operation a method and path ask for.
    pub fn route(method: &Method, path: &str) -> Result<Self, VaultError> {
        use Operation::*;
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let Some(operation) = KeyOperation::route(&segments, method) {
            return Ok(Key(operation));
        }
        if let Some(operation) = CertificateOp::route(&segments, method) {
            return Ok(Certificate(operation));
        }
        let name = |n: &&str| (*n).to_owned();
        let operation = match (segments.as_slice(), method) {
            (["secrets"] | ["secrets", ""], &Method::GET) => ListSecrets,
            (["secrets", "restore"], &Method::POST) => RestoreSecret,
            (["secrets", n], &Method::PUT) => SetSecret { name: name(n) },
            (["secrets", n] | ["secrets", n, ""], &Method::GET) => GetSecret { name: name(n), version: None },
            (["secrets", n] | ["secrets", n, ""], &Method::PATCH) => UpdateSecret { name: name(n), version: None },
            (["secrets", n], &Method::DELETE) => DeleteSecret { name: name(n) },
            (["secrets", n, "versions"], &Method::GET) => ListSecretVersions { name: name(n) },
            (["secrets", n, "backup"], &Method::POST) => BackupSecret { name: name(n) },
            (["secrets", n, v], &Method::GET) => GetSecret { name: name(n), version: Some(name(v)) },
            (["secrets", n, v], &Method::PATCH) => UpdateSecret { name: name(n), version: Some(name(v)) },
            (["deletedsecrets"] | ["deletedsecrets", ""], &Method::GET) => ListDeletedSecrets,
            (["deletedsecrets", n], &Method::GET) => GetDeletedSecret { name: name(n) },
            (["deletedsecrets", n], &Method::DELETE) => PurgeDeletedSecret { name: name(n) },
            (["deletedsecrets", n, "recover"], &Method::POST) => RecoverDeletedSecret { name: name(n) },
            ([collection, ..], _)
                if matches!(
                    *collection,
                    "secrets" | "deletedsecrets" | "keys" | "deletedkeys" | "certificates" | "deletedcertificates"
                ) && segments.len() <= 3 =>
            {
                return Err(VaultError::method_not_allowed(method.as_str(), path));
            }
            _ => return Err(VaultError::path_not_found(path)),
        };
        Ok(operation)
    }

    /// Key Vault's name for the operation in audit logs.
    pub fn audit_name(&self) -> &'static str {
        match self {
            Operation::SetSecret { .. } => "SecretSet",
            Operation::GetSecret { .. } => "SecretGet",
            Operation::UpdateSecret { .. } => "SecretUpdate",
            Operation::DeleteSecret { .. } => "SecretDelete",
            Operation::ListSecrets => "SecretList",
            Operation::ListSecretVersions { .. } => "SecretListVersions",
            Operation::BackupSecret { .. } => "SecretBackup",
            Operation::RestoreSecret => "SecretRestore",
            Operation::ListDeletedSecrets => "SecretListDeleted",
            Operation::GetDeletedSecret { .. } => "SecretGetDeleted",
            Operation::RecoverDeletedSecret { .. } => "SecretRecover",
            Operation::PurgeDeletedSecret { .. } => "SecretPurge",
            Operation::Key(key) => key.audit_name(),
            Operation::Certificate(certificate) => certificate.audit_name(),
        }
    }

    /// The RBAC data action the operation needs.
    pub fn action(&self) -> Action {
        match self {
            Operation::SetSecret { .. } => Action::SecretsSet,
            Operation::GetSecret { .. } => Action::SecretsGet,
            Operation::UpdateSecret { .. } => Action::SecretsUpdate,
            Operation::DeleteSecret { .. } => Action::SecretsDelete,
            Operation::ListSecrets
            | Operation::ListSecretVersions { .. }
            | Operation::ListDeletedSecrets
            | Operation::GetDeletedSecret { .. } => Action::SecretsReadMetadata,
            Operation::BackupSecret { .. } => Action::SecretsBackup,
            Operation::RestoreSecret => Action::SecretsRestore,
            Operation::RecoverDeletedSecret { .. } => Action::SecretsRecover,
            Operation::PurgeDeletedSecret { .. } => Action::SecretsPurge,
            Operation::Key(key) => key.needs().0,
            Operation::Certificate(certificate) => certificate.needs().0,
        }
    }

    /// The access-policy permission the operation needs (Key Vault's legacy model).
    pub fn permission(&self) -> &'static str {
        match self {
            Operation::GetSecret { .. } | Operation::GetDeletedSecret { .. } => "get",
            Operation::ListSecrets | Operation::ListSecretVersions { .. } | Operation::ListDeletedSecrets => "list",
            Operation::SetSecret { .. } | Operation::UpdateSecret { .. } => "set",
            Operation::DeleteSecret { .. } => "delete",
            Operation::BackupSecret { .. } => "backup",
            Operation::RestoreSecret => "restore",
            Operation::RecoverDeletedSecret { .. } => "recover",
            Operation::PurgeDeletedSecret { .. } => "purge",
            Operation::Key(key) => key.needs().1,
            Operation::Certificate(certificate) => certificate.needs().1,
        }
    }

    /// What the operation touches; collection-wide operations name no object.
    pub fn target(&self) -> Target<'_> {
        let name = match self {
            Operation::SetSecret { name }
            | Operation::GetSecret { name, .. }
            | Operation::UpdateSecret { name, .. }
            | Operation::DeleteSecret { name }
            | Operation::ListSecretVersions { name }
            | Operation::BackupSecret { name }
            | Operation::GetDeletedSecret { name }
            | Operation::RecoverDeletedSecret { name }
            | Operation::PurgeDeletedSecret { name } => Some(name.as_str()),
            Operation::ListSecrets | Operation::RestoreSecret | Operation::ListDeletedSecrets => None,
            Operation::Key(key) => return Target { collection: Collection::Keys, name: key.name() },
            Operation::Certificate(certificate) => {
                return Target { collection: Collection::Certificates, name: certificate.name() };
            }
        };
        Target { collection: Collection::Secrets, name }
    }
}

/// The query parameters operations use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The api-version, checked against [`API_VERSIONS`].
    pub api_version: String,
    /// `maxresults`, 1..=25.
    pub max_results: Option<usize>,
    /// `$skiptoken`: where a list continues.
    pub skip_token: Option<String>,
    /// `outContentType`: the format a certificate-backed secret is wanted in.
    pub out_content_type: Option<String>,
    /// `includePending`: list certificates whose request waits for a merge too.
    pub include_pending: bool,
}

impl Query {
    /// The api-version as sent, for the audit record, even when it is not valid.
    pub fn raw_api_version(query: Option<&str>) -> String {
        pairs(query).find(|(k, _)| k == "api-version").map(|(_, v)| v).unwrap_or_default()
    }

    /// Parses and checks a query string. Keys are percent-decoded (JS sends `api%2Dversion`).
    pub fn parse(query: Option<&str>) -> Result<Self, VaultError> {
        let mut parsed = Query::default();
        for (key, value) in pairs(query) {
            match key.as_str() {
                "api-version" => parsed.api_version = value,
                "maxresults" => {
                    let n = value.parse::<usize>().ok().filter(|n| (1..=MAX_RESULTS).contains(n)).ok_or_else(|| {
                        VaultError::bad_parameter(format!(
                            "Invalid maxresults '{value}': it must be an integer between 1 and {MAX_RESULTS}."
                        ))
                    })?;
                    parsed.max_results = Some(n);
                }
                "$skiptoken" => parsed.skip_token = Some(value),
                "outContentType" => parsed.out_content_type = Some(value),
                "includePending" => parsed.include_pending = value.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        if parsed.api_version.is_empty() {
            return Err(VaultError::bad_parameter("The api-version query parameter is required."));
        }
        if !API_VERSIONS.contains(&parsed.api_version.as_str()) {
            return Err(VaultError::bad_parameter(format!(
                "The specified version ({}) is not recognized. Consider using the latest supported version ({LATEST_API_VERSION}).",
                parsed.api_version
            )));
        }
        Ok(parsed)
    }
}

fn pairs(query: Option<&str>) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Option<Operation> {
        Operation::route(&method, path).ok()
    }

    #[test]
    fn secret_paths_route_with_and_without_trailing_slash() {
        let latest = Some(Operation::GetSecret { name: "db".into(), version: None });
        assert_eq!(route(Method::GET, "/secrets/db"), latest);
        assert_eq!(route(Method::GET, "/secrets/db/"), latest);
        assert_eq!(
            route(Method::GET, "/secrets/db/0123456789abcdef0123456789abcdef"),
            Some(Operation::GetSecret { name: "db".into(), version: Some("0123456789abcdef0123456789abcdef".into()) })
        );
        assert_eq!(
            route(Method::GET, "/secrets/db/versions"),
            Some(Operation::ListSecretVersions { name: "db".into() })
        );
        assert_eq!(route(Method::GET, "/secrets"), Some(Operation::ListSecrets));
        assert_eq!(route(Method::PUT, "/secrets/db"), Some(Operation::SetSecret { name: "db".into() }));
        assert_eq!(route(Method::PUT, "/secrets/db/x"), None);
        assert_eq!(
            route(Method::PATCH, "/secrets/db/"),
            Some(Operation::UpdateSecret { name: "db".into(), version: None })
        );
        assert_eq!(route(Method::POST, "/secrets/restore"), Some(Operation::RestoreSecret));
        assert_eq!(
            route(Method::GET, "/secrets/restore"),
            Some(Operation::GetSecret { name: "restore".into(), version: None })
        );
        assert_eq!(route(Method::POST, "/secrets/db/backup"), Some(Operation::BackupSecret { name: "db".into() }));
        assert_eq!(
            route(Method::DELETE, "/deletedsecrets/db"),
            Some(Operation::PurgeDeletedSecret { name: "db".into() })
        );
        assert_eq!(
            route(Method::POST, "/deletedsecrets/db/recover"),
            Some(Operation::RecoverDeletedSecret { name: "db".into() })
        );
        assert!(matches!(Operation::route(&Method::POST, "/secrets/db"), Err(e) if e.status() == 405));
        assert_eq!(route(Method::GET, "/widgets"), None);
    }

    #[test]
    fn key_paths_route_to_key_operations() {
        let key = |op| Some(Operation::Key(op));
        assert_eq!(route(Method::POST, "/keys/k/create"), key(KeyOperation::Create { name: "k".into() }));
        assert_eq!(route(Method::GET, "/keys/k/"), key(KeyOperation::Get { name: "k".into(), version: None }));
        let sign = |version: Option<&str>| {
            key(KeyOperation::Crypto {
                name: "k".into(),
                version: version.map(str::to_owned),
                operation: CryptoOperation::Sign,
            })
        };
        assert_eq!(route(Method::POST, "/keys/k/sign"), sign(None));
        assert_eq!(route(Method::POST, "/keys/k//sign"), sign(None));
        assert_eq!(
            route(Method::POST, "/keys/k/0123456789abcdef0123456789abcdef/sign"),
            sign(Some("0123456789abcdef0123456789abcdef"))
        );
        assert!(matches!(
            route(Method::POST, "/keys/k/v/wrapkey"),
            Some(Operation::Key(KeyOperation::Crypto { operation: CryptoOperation::WrapKey, .. }))
        ));
        assert_eq!(route(Method::DELETE, "/deletedkeys/k"), key(KeyOperation::Purge { name: "k".into() }));
        assert_eq!(
            route(Method::PUT, "/keys/k/rotationpolicy"),
            key(KeyOperation::SetRotationPolicy { name: "k".into() })
        );
        assert_eq!(
            route(Method::GET, "/keys/k//attestation"),
            key(KeyOperation::GetAttestation { name: "k".into(), version: None })
        );
        assert_eq!(route(Method::POST, "/rng"), key(KeyOperation::RandomBytes));
        assert_eq!(route(Method::POST, "/keys/k/v/levitate"), None);
        let sign_op =
            Operation::Key(KeyOperation::Crypto { name: "k".into(), version: None, operation: CryptoOperation::Sign });
        assert_eq!((sign_op.action(), sign_op.permission()), (Action::KeysSign, "sign"));
        assert_eq!(sign_op.target(), Target { collection: Collection::Keys, name: Some("k") });
    }

    #[test]
    fn queries_decode_keys_and_check_values() {
        let q = Query::parse(Some("api%2Dversion=7.4&maxresults=2&%24skiptoken=abc"));
        assert_eq!(
            q.ok(),
            Some(Query {
                api_version: "7.4".into(),
                max_results: Some(2),
                skip_token: Some("abc".into()),
                out_content_type: None,
                include_pending: false,
            })
        );
        assert!(Query::parse(Some("api-version=2026-04-01")).is_ok());
        assert!(Query::parse(Some("api-version=7.9")).is_err());
        // The Azure CLI's version, and previews that were never published.
        assert!(Query::parse(Some("api-version=7.6-preview.2")).is_ok());
        assert!(Query::parse(Some("api-version=7.6-preview.3")).is_err());
        assert!(Query::parse(Some("api-version=7.4-preview")).is_err());
        assert!(Query::parse(None).is_err());
        assert!(Query::parse(Some("api-version=7.4&maxresults=26")).is_err());
        assert!(Query::parse(Some("api-version=7.4&maxresults=0")).is_err());
    }
}

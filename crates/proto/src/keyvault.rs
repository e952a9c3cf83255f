//! Key Vault data-plane JSON (api-versions 7.0 to 2026-04-01), as the official SDKs send and parse it.
//!
//! Long on purpose (about 870 lines): one plain serde struct per JSON shape of the Key Vault REST API, no logic,
//! named as the SDKs' models are, so a reader looks a shape up by that name; split by collection, the shapes
//! the collections share (errors, pages, deletion, backups) would have no home.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Tags of a vault object: string names to string values.
pub type Tags = BTreeMap<String, String>;

/// The error envelope of every failed Key Vault request: `{"error":{"code","message","innererror"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVaultError {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The body of [`KeyVaultError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `SecretNotFound`, `Forbidden`, `BadParameter`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// A more specific code, e.g. `ForbiddenByRbac`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub innererror: Option<InnerError>,
}

/// The nested error of an [`ErrorDetail`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerError {
    /// The specific code.
    pub code: String,
}

/// Attributes of a secret version. Timestamps are integer Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretAttributes {
    /// Whether the secret's value can be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Not-before time (informational).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry time (informational).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Creation time (server-set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// Last update time (server-set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
    /// Days a deleted secret stays recoverable (server-set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recoverable_days: Option<u32>,
    /// The deletion recovery level, e.g. `Recoverable+Purgeable` (server-set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_level: Option<String>,
}

/// Body of `PUT /secrets/{name}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretSetParameters {
    /// The secret value. Required.
    pub value: Option<String>,
    /// Tags to attach.
    #[serde(default)]
    pub tags: Option<Tags>,
    /// A free-form content type, at most 255 characters.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Attributes; server-set members are ignored.
    #[serde(default)]
    pub attributes: Option<SecretAttributes>,
}

/// A secret version with its value: the answer of set and get.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretBundle {
    /// The value. Omitted where an operation does not return it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `{vault}/secrets/{name}/{version}`.
    pub id: String,
    /// The content type, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The attributes.
    pub attributes: SecretAttributes,
    /// The tags, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// For a certificate's secret: `{vault}/keys/{name}/{version}`, the certificate's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Whether the secret backs a certificate (and lives and dies with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
}

/// A secret in a list: no value; `id` has no version in `GET /secrets`, a version in `GET /secrets/{n}/versions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretItem {
    /// The identifier.
    pub id: String,
    /// The attributes.
    pub attributes: SecretAttributes,
    /// The tags, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// The content type, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// One page of a list operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items of this page.
    pub value: Vec<T>,
    /// The absolute URL of the next page, `null` on the last page.
    pub next_link: Option<String>,
}

/// Body of `PATCH /secrets/{name}/{version}`: what is given changes, the rest stays.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretUpdateParameters {
    /// A new content type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// New attributes; server-set members are ignored.
    #[serde(default)]
    pub attributes: Option<SecretAttributes>,
    /// New tags, replacing the old ones.
    #[serde(default)]
    pub tags: Option<Tags>,
}

/// What deleted objects carry besides their bundle or item.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deletion {
    /// `{vault}/deletedsecrets/{name}`: where the deleted object is recovered or purged.
    pub recovery_id: String,
    /// When it was deleted, Unix seconds.
    pub deleted_date: i64,
    /// When it will be purged, Unix seconds.
    pub scheduled_purge_date: i64,
}

/// A deleted secret (`DeletedSecretBundle`), without its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedSecretBundle {
    /// The secret's newest version.
    #[serde(flatten)]
    pub bundle: SecretBundle,
    /// The deletion.
    #[serde(flatten)]
    pub deletion: Deletion,
}

/// A deleted secret in a list (`DeletedSecretItem`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedSecretItem {
    /// The secret's newest version.
    #[serde(flatten)]
    pub item: SecretItem,
    /// The deletion.
    #[serde(flatten)]
    pub deletion: Deletion,
}

/// An opaque backup blob, base64url: the answer of backup and the body of restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupBlob {
    /// The blob.
    pub value: Option<String>,
}

/// A key's public half as a JSON Web Key, with its id and permitted operations. Never a private member.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JsonWebKey {
    /// `{vault}/keys/{name}/{version}`.
    pub kid: String,
    /// `RSA`, `RSA-HSM`, `EC`, `EC-HSM`, `oct`, `oct-HSM`.
    pub kty: String,
    /// Operations the key may be used for.
    pub key_ops: Vec<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// A key's attributes: those of secrets, and whether the key may be released.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyAttributes {
    /// The attributes keys share with secrets.
    #[serde(flatten)]
    pub common: SecretAttributes,
    /// Whether the key may leave the vault by secure key release (set at creation only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
}

/// The policy under which an exportable key is released (`KeyReleasePolicy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyReleasePolicy {
    /// The policy's media type; `application/json; charset=utf-8`.
    #[serde(rename = "contentType", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Whether the policy can never change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// The policy document, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// A key version (`KeyBundle`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyBundle {
    /// The key's public half.
    pub key: JsonWebKey,
    /// The attributes.
    pub attributes: KeyAttributes,
    /// The tags, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Whether the key backs a certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// The release policy of an exportable key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_policy: Option<KeyReleasePolicy>,
}

/// A key in a list (`KeyItem`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyItem {
    /// `{vault}/keys/{name}`, with the version in `GET /keys/{n}/versions`.
    pub kid: String,
    /// The attributes.
    pub attributes: KeyAttributes,
    /// The tags, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Whether the key backs a certificate (and lives and dies with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
}

/// A deleted key (`DeletedKeyBundle`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedKeyBundle {
    /// The key's newest version.
    #[serde(flatten)]
    pub bundle: KeyBundle,
    /// The deletion.
    #[serde(flatten)]
    pub deletion: Deletion,
}

/// A deleted key in a list (`DeletedKeyItem`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedKeyItem {
    /// The key's newest version.
    #[serde(flatten)]
    pub item: KeyItem,
    /// The deletion.
    #[serde(flatten)]
    pub deletion: Deletion,
}

/// Body of `POST /keys/{name}/create`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyCreateParameters {
    /// The key type. Required.
    pub kty: Option<String>,
    /// RSA modulus bits, or AES key bits.
    #[serde(default)]
    pub key_size: Option<u32>,
    /// RSA public exponent.
    #[serde(default)]
    pub public_exponent: Option<u32>,
    /// EC curve.
    #[serde(default)]
    pub crv: Option<String>,
    /// Permitted operations; default: every operation the key type supports.
    #[serde(default)]
    pub key_ops: Option<Vec<String>>,
    /// Attributes; server-set members are ignored.
    #[serde(default)]
    pub attributes: Option<KeyAttributes>,
    /// The release policy of an exportable key.
    #[serde(default)]
    pub release_policy: Option<KeyReleasePolicy>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Tags>,
}

/// Body of `PUT /keys/{name}` (import).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyImportParameters {
    /// The key as a JSON Web Key with its private members. Required.
    pub key: Option<serde_json::Value>,
    /// Whether to report the key as an HSM key.
    #[serde(rename = "Hsm", default)]
    pub hsm: Option<bool>,
    /// Attributes; server-set members are ignored.
    #[serde(default)]
    pub attributes: Option<KeyAttributes>,
    /// The release policy of an exportable key.
    #[serde(default)]
    pub release_policy: Option<KeyReleasePolicy>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Tags>,
}

/// Body of `PATCH /keys/{name}/{version}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyUpdateParameters {
    /// New permitted operations.
    #[serde(default)]
    pub key_ops: Option<Vec<String>>,
    /// New attributes.
    #[serde(default)]
    pub attributes: Option<KeyAttributes>,
    /// A new release policy (unless the current one is immutable).
    #[serde(default)]
    pub release_policy: Option<KeyReleasePolicy>,
    /// New tags.
    #[serde(default)]
    pub tags: Option<Tags>,
}

/// Body of encrypt, decrypt, wrapKey, unwrapKey, sign (`value` is the digest) and verify (`digest` and the
/// signature in `value`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyOperationParameters {
    /// The algorithm. Required.
    pub alg: Option<String>,
    /// The input, base64url. Required.
    pub value: Option<String>,
    /// For verify: the digest, base64url.
    #[serde(default)]
    pub digest: Option<String>,
    /// For AES-CBC, and AES-GCM decryption: the initialisation vector, base64url.
    #[serde(default)]
    pub iv: Option<String>,
    /// For AES-GCM: additional authenticated data, base64url.
    #[serde(default)]
    pub aad: Option<String>,
    /// For AES-GCM decryption: the authentication tag, base64url.
    #[serde(default)]
    pub tag: Option<String>,
}

/// The answer of encrypt, decrypt, wrapKey, unwrapKey and sign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyOperationResult {
    /// The key version used.
    pub kid: String,
    /// The output, base64url.
    pub value: String,
    /// AES encryption: the initialisation vector used, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iv: Option<String>,
    /// AES-GCM encryption: the authentication tag, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// AES-GCM encryption: the additional authenticated data, echoed, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad: Option<String>,
}

/// The answer of verify.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyVerifyResult {
    /// Whether the signature verifies.
    pub value: bool,
}

/// A key's rotation policy (`KeyRotationPolicy`), as sent and as answered.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationPolicy {
    /// `{vault}/keys/{name}/rotationpolicy` (server-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What happens when.
    #[serde(default)]
    pub lifetime_actions: Option<Vec<KeyLifetimeAction>>,
    /// The policy's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<KeyRotationPolicyAttributes>,
}

/// One lifetime action of a rotation policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyLifetimeAction {
    /// When.
    #[serde(default)]
    pub trigger: Option<KeyLifetimeTrigger>,
    /// What.
    #[serde(default)]
    pub action: Option<KeyLifetimeActionType>,
}

/// When a lifetime action happens: one of the two durations.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyLifetimeTrigger {
    /// ISO 8601 duration after the newest version's creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_after_create: Option<String>,
    /// ISO 8601 duration before the newest version's expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_before_expiry: Option<String>,
}

/// What a lifetime action does.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyLifetimeActionType {
    /// `Rotate` or `Notify`.
    #[serde(rename = "type", default)]
    pub action_type: Option<String>,
}

/// The attributes of a rotation policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationPolicyAttributes {
    /// ISO 8601 duration each new version lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
    /// When the policy was first set (server-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// When the policy was last changed (server-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
}

/// Body of `POST /rng`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RandomBytesRequest {
    /// How many bytes, 1..=128. Required.
    pub count: Option<i64>,
}

/// Answer of `POST /rng`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RandomBytes {
    /// The bytes, base64url.
    pub value: String,
}

/// Body of `POST /keys/{name}/{version}/release`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyReleaseParameters {
    /// The target's attestation token. Required.
    pub target: Option<String>,
    /// A nonce the answer repeats.
    #[serde(default)]
    pub nonce: Option<String>,
    /// How the key is wrapped for the target.
    #[serde(default)]
    pub enc: Option<String>,
}

/// Answer of a release: a JWS signed by the vault whose payload holds the wrapped key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyReleaseResult {
    /// The JWS.
    pub value: String,
}

/// A certificate's policy (`CertificatePolicy`): how its versions are issued. Members are snake_case on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatePolicy {
    /// `{vault}/certificates/{name}/policy` (server-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The key's properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_props: Option<CertificateKeyProperties>,
    /// The secret's properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_props: Option<CertificateSecretProperties>,
    /// What the certificate says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_props: Option<X509Properties>,
    /// What happens as the certificate ages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_actions: Option<Vec<CertificateLifetimeAction>>,
    /// Who issues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<IssuerParameters>,
    /// The policy's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Value>,
}

/// The key of a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateKeyProperties {
    /// Whether the private key may be exported (in the secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
    /// `RSA`, `RSA-HSM`, `EC`, `EC-HSM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kty: Option<String>,
    /// RSA modulus bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    /// Whether renewals keep the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_key: Option<bool>,
    /// EC curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
}

/// The secret of a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSecretProperties {
    /// `application/x-pkcs12` or `application/x-pem-file`.
    #[serde(rename = "contentType", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// What an issued certificate says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509Properties {
    /// The subject, an X.500 name such as `CN=example, O=Contoso`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Extended key usage OIDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekus: Option<Vec<String>>,
    /// Subject alternative names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sans: Option<SubjectAlternativeNames>,
    /// Key usages (`digitalSignature`, `keyEncipherment`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<Vec<String>>,
    /// How many months an issued certificate is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_months: Option<u32>,
}

/// Subject alternative names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectAlternativeNames {
    /// E-mail addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    /// DNS names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_names: Option<Vec<String>>,
    /// User principal names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upns: Option<Vec<String>>,
    /// URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uris: Option<Vec<String>>,
    /// IP addresses.
    #[serde(rename = "ipAddresses", default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<Vec<String>>,
}

/// One lifetime action of a certificate policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateLifetimeAction {
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<CertificateLifetimeTrigger>,
    /// What.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<CertificateLifetimeActionType>,
}

/// When a certificate lifetime action happens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateLifetimeTrigger {
    /// At this percentage of the validity, 1..=99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_percentage: Option<u32>,
    /// This many days before expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_before_expiry: Option<u32>,
}

/// What a certificate lifetime action does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateLifetimeActionType {
    /// `AutoRenew` or `EmailContacts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
}

/// Who issues a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerParameters {
    /// `Self`, `Unknown`, or an issuer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The certificate type an issuer offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
    /// Whether the certificate is to be logged publicly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_transparency: Option<bool>,
}

/// Body of `POST /certificates/{name}/create`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CertificateCreateParameters {
    /// The policy; Key Vault's default when absent.
    #[serde(default)]
    pub policy: Option<CertificatePolicy>,
    /// Attributes.
    #[serde(default)]
    pub attributes: Option<SecretAttributes>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Tags>,
    /// Whether the chain keeps the order it was given in.
    #[serde(rename = "preserveCertOrder", default)]
    pub preserve_cert_order: Option<bool>,
}

/// A certificate's pending (or last) issuance (`CertificateOperation`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateOperation {
    /// `{vault}/certificates/{name}/pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who issues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<IssuerParameters>,
    /// The certificate signing request, standard base64 DER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr: Option<String>,
    /// Whether cancellation was asked for.
    #[serde(default)]
    pub cancellation_requested: bool,
    /// `inProgress`, `completed`, `cancelled` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// What the status means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    /// The certificate the operation made, when completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Why it failed, when `status` is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// A certificate version (`CertificateBundle`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateBundle {
    /// `{vault}/certificates/{name}/{version}`.
    pub id: String,
    /// `{vault}/keys/{name}/{version}`.
    pub kid: String,
    /// `{vault}/secrets/{name}/{version}`.
    pub sid: String,
    /// SHA-1 thumbprint, base64url; absent while the version is pending.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub x5t: String,
    /// The certificate, standard base64 DER; absent while the version is pending.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cer: String,
    /// The version's operation, while it is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingReference>,
    /// The secret's content type.
    #[serde(rename = "contentType", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The attributes.
    pub attributes: SecretAttributes,
    /// The policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<CertificatePolicy>,
    /// The tags, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// Where a pending certificate version's operation is (`PendingCertificate`'s `pending`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReference {
    /// `{vault}/certificates/{name}/pending`.
    pub id: String,
}

/// A certificate in a list (`CertificateItem`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateItem {
    /// `{vault}/certificates/{name}`, with the version in `GET /certificates/{n}/versions`.
    pub id: String,
    /// SHA-1 thumbprint, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub x5t: String,
    /// The attributes.
    pub attributes: SecretAttributes,
    /// The tags, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// A deleted certificate (`DeletedCertificateBundle`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedCertificateBundle {
    /// The certificate's newest version.
    #[serde(flatten)]
    pub bundle: CertificateBundle,
    /// The deletion.
    #[serde(flatten)]
    pub deletion: Deletion,
}

/// A deleted certificate in a list (`DeletedCertificateItem`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedCertificateItem {
    /// The certificate's newest version.
    #[serde(flatten)]
    pub item: CertificateItem,
    /// The deletion.
    #[serde(flatten)]
    pub deletion: Deletion,
}

/// Body of `PATCH /certificates/{name}[/{version}]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CertificateUpdateParameters {
    /// A new policy for the versions to come.
    #[serde(default)]
    pub policy: Option<CertificatePolicy>,
    /// New attributes.
    #[serde(default)]
    pub attributes: Option<SecretAttributes>,
    /// New tags.
    #[serde(default)]
    pub tags: Option<Tags>,
}

/// Body of `POST /certificates/{name}/import`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CertificateImportParameters {
    /// The certificate with its private key: base64 of a PKCS#12 file or of PEM, or PEM text. Required.
    pub value: Option<String>,
    /// The PKCS#12 file's password.
    #[serde(default)]
    pub pwd: Option<String>,
    /// The policy.
    #[serde(default)]
    pub policy: Option<CertificatePolicy>,
    /// Attributes.
    #[serde(default)]
    pub attributes: Option<SecretAttributes>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Tags>,
    /// Whether the chain keeps the order it was given in.
    #[serde(rename = "preserveCertOrder", default)]
    pub preserve_cert_order: Option<bool>,
}

/// Body of `POST /certificates/{name}/pending/merge`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CertificateMergeParameters {
    /// The signed certificate and its chain, leaf first, each standard base64 DER. Required.
    pub x5c: Option<Vec<String>>,
    /// Attributes.
    #[serde(default)]
    pub attributes: Option<SecretAttributes>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Tags>,
}

/// The vault's certificate contacts (`Contacts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contacts {
    /// `{vault}/certificates/contacts` (server-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<Contact>>,
}

/// One certificate contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A certificate issuer (`IssuerBundle`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerBundle {
    /// `{vault}/certificates/issuers/{name}` (server-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The provider: `Strongroom` (this installation's local CA), or another CA's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The account at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<IssuerCredentials>,
    /// The organisation at the provider, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_details: Option<serde_json::Value>,
    /// The issuer's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<IssuerAttributes>,
}

/// An issuer's account; the password is kept sealed and never answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerCredentials {
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd: Option<String>,
}

/// An issuer's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerAttributes {
    /// Whether certificates may be issued by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// When it was created (server-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// When it was last changed (server-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
}

/// An issuer in a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateIssuerItem {
    /// `{vault}/certificates/issuers/{name}`.
    pub id: String,
    /// The provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// The body of a Managed HSM's security domain download: the operators' wrapping certificates and the quorum.
#[derive(Debug, Clone, Deserialize)]
pub struct CertificateInfo {
    /// Three to ten RSA public keys, each with its certificate in `x5c`.
    #[serde(default)]
    pub certificates: Vec<SecurityDomainJsonWebKey>,
    /// How many of them bring the security domain back.
    pub required: Option<usize>,
}

/// A wrapping certificate's public key as the security domain commands send it; only `x5c` is read, the rest
/// describes the same key.
#[derive(Debug, Clone, Deserialize)]
pub struct SecurityDomainJsonWebKey {
    /// The certificate (standard base64 DER), the chain's leaf first.
    #[serde(default)]
    pub x5c: Vec<String>,
}

/// A security domain (the answer of a download) or a restore blob (the body of an upload): JSON text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecurityDomainObject {
    /// The JSON text.
    pub value: String,
}

/// Where a security domain download or upload stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecurityDomainOperationStatus {
    /// `Success`, `InProgress` or `Failed`.
    pub status: String,
    /// What happened, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
}

/// The key an upload's restore blob is wrapped to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferKey {
    /// `jwk`.
    pub key_format: String,
    /// The public JSON Web Key, as JSON text (the CLI parses it again).
    pub transfer_key: String,
}

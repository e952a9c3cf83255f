//! Certificates: issuance by policy, and the certificate, its policy and its last issuance read back. Every
//! certificate version is written with its key (`/keys/{name}/{version}`, managed) and its secret
//! (`/secrets/{name}/{version}`, PKCS#12 or PEM as the policy says) in one transaction, under one version id.
//!
//! Self-signed issuance (`issuer.name = "Self"`) is done by the time create answers 202; the first poll of
//! `/pending` finds it completed, so the SDK pollers do not wait. `issuer.name = "Unknown"` answers with a real
//! CSR and keeps the key sealed until the CA-signed chain is merged. An issuer of the vault whose provider is
//! `Strongroom` signs with the CA of the vault's tenant (see `certificate_authority`), never with the CA behind
//! Strongroom's own TLS. A certificate never takes the name of a plain secret or key, and its own key and secret
//! change only through it. Backups carry the certificate with the versions of its key and secret it made.

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use strongroom_core::backup::SecretBackup;
use strongroom_core::certificate::{self, Subject};
use strongroom_core::key::{Curve, KeySpec, KeyType, PrivateKey};
use strongroom_core::secret::{self, DeletedSecret, SecretProperties, SecretUpdate, SecretVersion};
use strongroom_proto::keyvault::{
    CertificateBundle, CertificateCreateParameters, CertificateImportParameters, CertificateIssuerItem,
    CertificateItem, CertificateKeyProperties, CertificateLifetimeAction, CertificateLifetimeActionType,
    CertificateLifetimeTrigger, CertificateMergeParameters, CertificateOperation, CertificatePolicy,
    CertificateSecretProperties, CertificateUpdateParameters, Contacts, DeletedCertificateBundle,
    DeletedCertificateItem, Deletion, IssuerAttributes, IssuerBundle, IssuerParameters, Page, SecretAttributes,
    SubjectAlternativeNames, Tags, X509Properties,
};
use strongroom_store::{Collection, Place, Store, VaultSetting, VersionSelector};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::error::VaultError;
use super::secrets::{Context, open_backup, parse_body, refuse_if_purge_protected, seal_backup};
use super::{certificate_authority, keys, scheduled};
use crate::error::InternalFailure;
use crate::state::AppState;

/// What a certificate version's properties say about it, in clear: a certificate is public, so lists, deleted
/// certificates and reads need nothing unsealed (and the version's sealed value is empty: its private parts
/// live in its key and its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CertificateFacts {
    /// The leaf, standard base64 DER.
    cer: String,
    secret_content_type: String,
}

impl CertificateFacts {
    /// The leaf's SHA-1 thumbprint, base64url.
    fn x5t(&self) -> String {
        STANDARD.decode(&self.cer).map(|der| certificate::thumbprint(&der)).unwrap_or_default()
    }
}

/// What is kept with the certificate: its policy, its last issuance, and the version whose coming expiry was
/// last told to the contacts.
#[derive(Serialize, Deserialize)]
struct Kept {
    policy: CertificatePolicy,
    operation: CertificateOperation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    noticed_version: Option<String>,
}

fn place(cx: &Context<'_>) -> Place {
    Place::certificates(cx.vault.id)
}

/// Key Vault's default policy, filled in where a request's policy leaves members out.
fn completed_policy(mut policy: CertificatePolicy) -> CertificatePolicy {
    policy.id = None;
    let key = policy.key_props.get_or_insert_with(CertificateKeyProperties::default);
    key.exportable.get_or_insert(true);
    let kty = key.kty.get_or_insert_with(|| "RSA".to_owned()).clone();
    if kty.starts_with("RSA") {
        key.key_size.get_or_insert(2048);
    } else {
        key.crv.get_or_insert_with(|| "P-256".to_owned());
    }
    key.reuse_key.get_or_insert(false);
    policy
        .secret_props
        .get_or_insert_with(CertificateSecretProperties::default)
        .content_type
        .get_or_insert_with(|| certificate::PKCS12.to_owned());
    let x509 = policy.x509_props.get_or_insert_with(X509Properties::default);
    x509.validity_months.get_or_insert(12);
    x509.key_usage.get_or_insert_with(|| vec!["digitalSignature".to_owned(), "keyEncipherment".to_owned()]);
    x509.ekus.get_or_insert_with(|| vec!["1.3.6.1.5.5.7.3.1".to_owned(), "1.3.6.1.5.5.7.3.2".to_owned()]);
    policy.issuer.get_or_insert_with(IssuerParameters::default).name.get_or_insert_with(|| "Self".to_owned());
    policy.lifetime_actions.get_or_insert_with(|| {
        vec![CertificateLifetimeAction {
            trigger: Some(CertificateLifetimeTrigger { lifetime_percentage: Some(80), days_before_expiry: None }),
            action: Some(CertificateLifetimeActionType { action_type: Some("AutoRenew".to_owned()) }),
        }]
    });
    policy
}

/// What the policy asks the certificate to say, checked.
fn subject_of(policy: &CertificatePolicy) -> Result<Subject, VaultError> {
    let x509 = policy.x509_props.clone().unwrap_or_default();
    let sans = x509.sans.unwrap_or_default();
    let SubjectAlternativeNames { emails, dns_names, upns, uris, ip_addresses } = sans;
    let ips = ip_addresses
        .unwrap_or_default()
        .iter()
        .map(|ip| ip.parse::<IpAddr>().map_err(|_| VaultError::bad_parameter(format!("'{ip}' is not an IP address."))))
        .collect::<Result<Vec<_>, _>>()?;
    let name = x509.subject.filter(|s| !s.trim().is_empty());
    let dns_names = dns_names.unwrap_or_default();
    if name.is_none() && dns_names.is_empty() {
        return Err(VaultError::bad_parameter("A certificate policy needs a subject or a DNS name."));
    }
    let subject = Subject {
        name: name.unwrap_or_default(),
        dns_names,
        emails: emails.unwrap_or_default(),
        upns: upns.unwrap_or_default(),
        uris: uris.unwrap_or_default(),
        ips,
        ekus: x509.ekus.unwrap_or_default(),
        key_usage: x509.key_usage.unwrap_or_default(),
        validity_months: x509.validity_months.unwrap_or(12),
    };
    subject.validate()?;
    Ok(subject)
}

/// The key the policy asks for.
fn key_spec(policy: &CertificatePolicy) -> Result<KeySpec, VaultError> {
    let key = policy.key_props.clone().unwrap_or_default();
    let kty = KeyType::parse(key.kty.as_deref().unwrap_or("RSA"))?;
    if !kty.operations().contains(&"sign") {
        return Err(VaultError::bad_parameter("A certificate's key is RSA or EC."));
    }
    let curve = key.crv.as_deref().map(Curve::parse).transpose()?;
    let rsa = kty.operations().contains(&"encrypt");
    Ok(KeySpec {
        kty,
        size: if rsa { key.key_size } else { None },
        public_exponent: None,
        curve: if rsa { None } else { curve },
    })
}

/// `POST /certificates/{name}/create`: issue a new version as the policy says.
pub async fn create(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    secret::validate_name(name)?;
    let params: CertificateCreateParameters = parse_body(body, "CertificateCreateParameters")?;
    let policy = completed_policy(params.policy.unwrap_or_default());
    let issuer = policy.issuer.as_ref().and_then(|i| i.name.clone()).unwrap_or_default();
    let subject = subject_of(&policy)?;
    check_lifetime_actions(&policy)?;
    let key = PrivateKey::generate(&key_spec(&policy)?)?;
    let now = cx.state.clock.now_seconds();
    let mut operation = CertificateOperation {
        id: None,
        issuer: policy.issuer.clone(),
        csr: Some(STANDARD.encode(subject.signing_request(&key)?)),
        cancellation_requested: false,
        status: Some("inProgress".to_owned()),
        status_details: Some("Pending certificate created. Please merge the signed certificate.".to_owned()),
        target: None,
        request_id: Some(Uuid::new_v4().simple().to_string()),
    };
    if issuer.eq_ignore_ascii_case("Unknown") {
        // The CSR waits for a CA: the key is kept sealed until the signed chain is merged.
        let pending = Pending {
            name: Some(name.to_owned()),
            policy,
            operation: operation.clone(),
            pkcs8: STANDARD.encode(key.material()),
            attributes: params.attributes,
            tags: params.tags,
        };
        put_pending(cx, name, Some(&pending)).await?;
        return Ok((StatusCode::ACCEPTED, Json(with_id(cx, name, operation))).into_response());
    }
    let chain = match issuer.eq_ignore_ascii_case("Self") {
        true => vec![subject.self_signed(&key, now)?],
        false => issue_with(cx.state, cx.vault.id, &issuer, &subject, &key, now).await?,
    };
    operation.status = Some("completed".to_owned());
    operation.status_details = None;
    operation.target = Some(format!("{}/certificates/{name}", cx.base_url));
    let issued = Issued { chain, key, policy, operation: operation.clone() };
    store_version(cx.state.store.as_ref(), cx.vault.id, name, issued, params.attributes, params.tags, now).await?;
    // The answer to the create says `inProgress`, as Key Vault's does: the SDK pollers only start polling (and
    // then fetch the certificate) when the first answer is not final. Their first poll finds it completed.
    let accepted = CertificateOperation { status: Some("inProgress".to_owned()), target: None, ..operation };
    Ok((StatusCode::ACCEPTED, Json(with_id(cx, name, accepted))).into_response())
}

/// A certificate whose CSR waits for a CA's signature: kept sealed (it holds the private key) as an
/// installation setting named by vault and certificate until it is merged or deleted.
#[derive(Serialize, Deserialize)]
struct Pending {
    #[serde(default)]
    name: Option<String>,
    policy: CertificatePolicy,
    operation: CertificateOperation,
    pkcs8: String,
    attributes: Option<SecretAttributes>,
    tags: Option<Tags>,
}

fn pending_prefix(cx: &Context<'_>) -> String {
    format!("{}/", VaultSetting::PendingCertificate.name(cx.vault.id))
}

fn pending_setting(cx: &Context<'_>, name: &str) -> String {
    format!("{}{}", pending_prefix(cx), secret::name_key(name))
}

async fn pending(cx: &Context<'_>, name: &str) -> Result<Option<Pending>, VaultError> {
    match cx.state.store.sealed_setting(&pending_setting(cx, name)).await? {
        Some(bytes) if !bytes.is_empty() => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(VaultError::internal_because("a pending certificate request is unreadable")),
        _ => Ok(None),
    }
}

/// Keeps `pending`, or forgets it (an empty setting) when `None`.
async fn put_pending(cx: &Context<'_>, name: &str, pending: Option<&Pending>) -> Result<(), VaultError> {
    let bytes = match pending {
        Some(p) => Zeroizing::new(
            serde_json::to_vec(p).map_err(VaultError::internal_while("encoding a pending certificate request"))?,
        ),
        None => Zeroizing::new(Vec::new()),
    };
    Ok(cx.state.store.put_sealed_setting(&pending_setting(cx, name), &bytes).await?)
}

/// `POST /certificates/{name}/pending/merge`: the CA-signed chain for the pending CSR becomes a new version.
pub async fn merge(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let params: CertificateMergeParameters = parse_body(body, "CertificateMergeParameters")?;
    let pending = pending(cx, name).await?.ok_or_else(|| VaultError::operation_not_found(name))?;
    let chain = params
        .x5c
        .unwrap_or_default()
        .iter()
        .map(|c| STANDARD.decode(c).map_err(|_| VaultError::bad_parameter("Each x5c entry is base64 DER.")))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = chain.first().ok_or_else(|| VaultError::bad_parameter("'x5c', the signed chain, is required."))?;
    let key = PrivateKey::from_pkcs8(&Zeroizing::new(
        STANDARD
            .decode(&pending.pkcs8)
            .map_err(VaultError::internal_because("a pending certificate request's key is not base64"))?,
    ))?;
    if !certificate::certifies(leaf, &key)? {
        return Err(VaultError::bad_parameter("The merged certificate is not for the pending request's key."));
    }
    let operation = CertificateOperation {
        status: Some("completed".to_owned()),
        status_details: None,
        target: Some(format!("{}/certificates/{name}", cx.base_url)),
        ..pending.operation
    };
    let issued = Issued { chain, key, policy: pending.policy.clone(), operation };
    let attributes = params.attributes.or(pending.attributes);
    let version = store_version(
        cx.state.store.as_ref(),
        cx.vault.id,
        name,
        issued,
        attributes,
        params.tags.or(pending.tags),
        cx.state.clock.now_seconds(),
    )
    .await?;
    put_pending(cx, name, None).await?;
    Ok((StatusCode::CREATED, Json(bundle(cx, &version, Some(pending.policy))?)).into_response())
}

/// `PATCH /certificates/{name}/pending` with `cancellation_requested`: the pending request is cancelled.
pub async fn cancel_operation(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let request: serde_json::Value = parse_body(body, "CertificateOperationUpdateParameter")?;
    let mut pending = pending(cx, name).await?.ok_or_else(|| VaultError::operation_not_found(name))?;
    if request.get("cancellation_requested").and_then(serde_json::Value::as_bool) == Some(true) {
        pending.operation.cancellation_requested = true;
        pending.operation.status = Some("cancelled".to_owned());
        put_pending(cx, name, Some(&pending)).await?;
    }
    Ok(Json(with_id(cx, name, pending.operation)).into_response())
}

/// `DELETE /certificates/{name}/pending`: the pending request and its key are forgotten.
pub async fn delete_operation(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let pending = pending(cx, name).await?.ok_or_else(|| VaultError::operation_not_found(name))?;
    put_pending(cx, name, None).await?;
    Ok(Json(with_id(cx, name, pending.operation)).into_response())
}

/// A certificate version ready to be kept: its chain (leaf first), its key, the policy and the issuance.
struct Issued {
    chain: Vec<Vec<u8>>,
    key: PrivateKey,
    policy: CertificatePolicy,
    operation: CertificateOperation,
}

/// Writes a new version of the certificate `name` — the certificate, its key and its secret (in the policy's
/// content type, with the private key only if exportable) under one version id, valid as the leaf says — and
/// keeps the policy and the operation with it, all in one transaction.
async fn store_version(
    store: &dyn Store,
    vault_id: Uuid,
    name: &str,
    issued: Issued,
    attributes: Option<SecretAttributes>,
    tags: Option<Tags>,
    now: i64,
) -> Result<SecretVersion, VaultError> {
    let Issued { chain, key, policy, operation } = issued;
    let leaf = chain.first().ok_or_else(|| VaultError::bad_parameter("The certificate chain is empty."))?;
    let validity = certificate::validity(leaf)?;
    let secret_content_type = policy
        .secret_props
        .as_ref()
        .and_then(|s| s.content_type.clone())
        .unwrap_or_else(|| certificate::PKCS12.to_owned());
    let exportable = policy.key_props.as_ref().and_then(|k| k.exportable).unwrap_or(true);
    let secret_value = match secret_content_type.as_str() {
        certificate::PKCS12 => STANDARD.encode(certificate::pkcs12(&chain, exportable.then_some(&key))?),
        certificate::PEM => certificate::pem(&chain, exportable.then_some(&key)),
        other => {
            return Err(VaultError::bad_parameter(format!(
                "The secret content type '{other}' is not supported: use {} or {}.",
                certificate::PKCS12,
                certificate::PEM
            )));
        }
    };

    let attributes = attributes.unwrap_or_default();
    let properties = |content_type: Option<String>| SecretProperties {
        content_type,
        tags: tags.clone().unwrap_or_default(),
        enabled: attributes.enabled.unwrap_or(true),
        not_before: Some(validity.0),
        expires: Some(validity.1),
    };
    properties(None).validate_tags()?;
    let version_id = secret::new_version();
    let version = |properties: SecretProperties| SecretVersion {
        name: name.to_owned(),
        version: version_id.clone(),
        properties,
        created: now,
        updated: now,
    };
    let facts = CertificateFacts { cer: STANDARD.encode(leaf), secret_content_type: secret_content_type.clone() };
    let facts = serde_json::to_string(&facts).map_err(VaultError::internal_while("encoding a certificate's facts"))?;
    let (key_version, sealed_key) = keys::certificate_key_version(&key, name, &version_id, properties(None), now)?;
    let kept = serde_json::to_string(&Kept { policy, operation, noticed_version: None })
        .map_err(VaultError::internal_while("encoding a certificate's policy"))?;
    let certificate_version = version(properties(Some(facts)));
    let versions = vec![
        (Place::certificates(vault_id), certificate_version.clone(), Zeroizing::new(String::new())),
        (Place::keys(vault_id), key_version, sealed_key),
        (Place::secrets(vault_id), version(properties(Some(secret_content_type))), Zeroizing::new(secret_value)),
    ];
    store
        .put_linked_versions(versions, Some((Place::certificates(vault_id), name.to_owned(), kept)))
        .await
        .map_err(|e| VaultError::from_certificate_store(name, e))?;
    Ok(certificate_version)
}

/// `POST /certificates/{name}/import`: a certificate with its private key, from a PKCS#12 file (with or without
/// a password) or PEM (the key, then the chain), base64 or as text.
pub async fn import(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    secret::validate_name(name)?;
    let params: CertificateImportParameters = parse_body(body, "CertificateImportParameters")?;
    let value =
        params.value.ok_or_else(|| VaultError::bad_parameter("'value', the certificate to import, is required."))?;
    let bytes = match STANDARD.decode(value.trim()) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(_) => Zeroizing::new(value.into_bytes()),
    };
    let (key, chain, was_pem) = certificate::open(&bytes, params.pwd.as_deref().unwrap_or_default())?;
    let leaf = chain.first().ok_or_else(|| VaultError::bad_parameter("The imported file holds no certificate."))?;
    let mut policy = params.policy.unwrap_or_default();
    let secret = policy.secret_props.get_or_insert_with(CertificateSecretProperties::default);
    secret.content_type.get_or_insert_with(|| if was_pem { certificate::PEM } else { certificate::PKCS12 }.to_owned());
    let key_props = policy.key_props.get_or_insert_with(CertificateKeyProperties::default);
    key_props.kty = Some(key.kty().as_str().to_owned());
    match key.curve() {
        Some(curve) => key_props.crv = Some(curve.as_str().to_owned()),
        None => {
            key_props.key_size =
                Some(u32::try_from(key.size_bits()?).map_err(VaultError::internal_while("reading a key's size"))?)
        }
    }
    let x509 = policy.x509_props.get_or_insert_with(X509Properties::default);
    x509.subject.get_or_insert(certificate::subject_of(leaf)?);
    policy.issuer.get_or_insert_with(IssuerParameters::default).name.get_or_insert_with(|| "Unknown".to_owned());
    let policy = completed_policy(policy);
    let operation = CertificateOperation {
        issuer: policy.issuer.clone(),
        status: Some("completed".to_owned()),
        target: Some(format!("{}/certificates/{name}", cx.base_url)),
        ..CertificateOperation::default()
    };
    let issued = Issued { chain, key, policy: policy.clone(), operation };
    let version = store_version(
        cx.state.store.as_ref(),
        cx.vault.id,
        name,
        issued,
        params.attributes,
        params.tags,
        cx.state.clock.now_seconds(),
    )
    .await?;
    Ok(Json(bundle(cx, &version, Some(policy))?).into_response())
}

fn with_id(cx: &Context<'_>, name: &str, mut operation: CertificateOperation) -> CertificateOperation {
    operation.id = Some(format!("{}/certificates/{name}/pending", cx.base_url));
    operation
}

async fn kept(cx: &Context<'_>, name: &str) -> Result<Option<Kept>, VaultError> {
    match cx.state.store.object_policy(place(cx), name).await? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(VaultError::internal_because("a certificate's stored policy is unreadable")),
    }
}

fn policy_with_id(cx: &Context<'_>, name: &str, mut policy: CertificatePolicy) -> CertificatePolicy {
    policy.id = Some(format!("{}/certificates/{name}/policy", cx.base_url));
    policy
}

/// `GET /certificates/{name}/pending`: the pending request, or else the last issuance.
pub async fn get_operation(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    if let Some(pending) = pending(cx, name).await? {
        return Ok(Json(with_id(cx, name, pending.operation)).into_response());
    }
    let kept = kept(cx, name).await?.ok_or_else(|| VaultError::operation_not_found(name))?;
    Ok(Json(with_id(cx, name, kept.operation)).into_response())
}

/// `GET /certificates/{name}/policy`.
pub async fn get_policy(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let kept = kept(cx, name).await?.ok_or_else(|| VaultError::certificate_not_found(name))?;
    Ok(Json(policy_with_id(cx, name, kept.policy)).into_response())
}

/// `GET /certificates/{name}[/{version}]`.
pub async fn get(cx: &Context<'_>, name: &str, version: Option<&str>) -> Result<Response, VaultError> {
    let version = read(cx, name, version).await?;
    let policy = kept(cx, name).await?.map(|k| k.policy);
    Ok(Json(bundle(cx, &version, policy)?).into_response())
}

async fn read(cx: &Context<'_>, name: &str, version: Option<&str>) -> Result<SecretVersion, VaultError> {
    let selector = match version {
        None => VersionSelector::Latest,
        Some(v) if secret::is_version(v) => VersionSelector::Exact(v),
        Some(_) => return Err(VaultError::certificate_not_found(name)),
    };
    let (version, _) = cx
        .state
        .store
        .read_version(place(cx), name, selector)
        .await?
        .ok_or_else(|| VaultError::certificate_not_found(name))?;
    Ok(version)
}

fn bundle(
    cx: &Context<'_>,
    version: &SecretVersion,
    policy: Option<CertificatePolicy>,
) -> Result<CertificateBundle, VaultError> {
    let facts = facts(version)?;
    let base = cx.base_url;
    let (n, v) = (&version.name, &version.version);
    Ok(CertificateBundle {
        id: format!("{base}/certificates/{n}/{v}"),
        kid: format!("{base}/keys/{n}/{v}"),
        sid: format!("{base}/secrets/{n}/{v}"),
        x5t: facts.x5t(),
        cer: facts.cer,
        content_type: Some(facts.secret_content_type),
        attributes: cx.attributes(version),
        policy: policy.map(|p| policy_with_id(cx, n, p)),
        tags: (!version.properties.tags.is_empty()).then(|| version.properties.tags.clone()),
    })
}

/// A certificate, its key and its secret: they are deleted, recovered and purged together.
fn linked_places(cx: &Context<'_>) -> [Place; 3] {
    [place(cx), Place::keys(cx.vault.id), Place::secrets(cx.vault.id)]
}

fn deletion(cx: &Context<'_>, deleted: &DeletedSecret) -> Deletion {
    Deletion {
        recovery_id: format!("{}/deletedcertificates/{}", cx.base_url, deleted.latest.name),
        deleted_date: deleted.deleted_date,
        scheduled_purge_date: deleted.scheduled_purge_date,
    }
}

/// `DELETE /certificates/{name}`: soft delete of the certificate with its key and its secret.
pub async fn delete(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let policy = kept(cx, name).await?.map(|k| k.policy);
    let now = cx.state.clock.now_seconds();
    let purge_at = now + i64::from(cx.vault.soft_delete_retention_days) * 86_400;
    let deleted = cx
        .state
        .store
        .delete_object(&linked_places(cx), name, now, purge_at)
        .await?
        .ok_or_else(|| VaultError::certificate_not_found(name))?;
    let bundle = bundle(cx, &deleted.latest, policy)?;
    Ok(Json(DeletedCertificateBundle { bundle, deletion: deletion(cx, &deleted) }).into_response())
}

/// `GET /deletedcertificates/{name}`.
pub async fn get_deleted(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let deleted = cx
        .state
        .store
        .deleted_object(place(cx), name)
        .await?
        .ok_or_else(|| VaultError::deleted_certificate_not_found(name))?;
    let bundle = bundle(cx, &deleted.latest, None)?;
    Ok(Json(DeletedCertificateBundle { bundle, deletion: deletion(cx, &deleted) }).into_response())
}

/// `GET /deletedcertificates`.
pub async fn list_deleted(cx: &Context<'_>) -> Result<Response, VaultError> {
    let page = cx.state.store.list_deleted(place(cx), cx.page_request()).await?;
    let value: Vec<DeletedCertificateItem> = page
        .items
        .iter()
        .map(|d| DeletedCertificateItem { item: item(cx, &d.latest, false), deletion: deletion(cx, d) })
        .collect();
    Ok(Json(Page { value, next_link: cx.next_link("/deletedcertificates", page.next) }).into_response())
}

/// `POST /deletedcertificates/{name}/recover`: the certificate, its key and its secret back.
pub async fn recover(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    cx.state
        .store
        .recover_object(&linked_places(cx), name)
        .await?
        .ok_or_else(|| VaultError::deleted_certificate_not_found(name))?;
    get(cx, name, None).await
}

/// `DELETE /deletedcertificates/{name}`: the certificate, its key and its secret gone for good, unless purge
/// protection forbids it.
pub async fn purge(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    refuse_if_purge_protected(cx)?;
    if !cx.state.store.purge_object(&linked_places(cx), name).await? {
        return Err(VaultError::deleted_certificate_not_found(name));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH /certificates/{name}[/{version}]`: the version's attributes and tags, and the policy of the versions
/// to come.
pub async fn update(cx: &Context<'_>, name: &str, version: Option<&str>, body: &[u8]) -> Result<Response, VaultError> {
    let params: CertificateUpdateParameters = parse_body(body, "CertificateUpdateParameters")?;
    let current = read(cx, name, version).await?;
    let attributes = params.attributes.unwrap_or_default();
    let update = SecretUpdate {
        content_type: None,
        tags: params.tags,
        enabled: attributes.enabled,
        not_before: None,
        expires: None,
    };
    SecretProperties { tags: update.tags.clone().unwrap_or_default(), ..SecretProperties::default() }
        .validate_tags()?;
    let mut policy = kept(cx, name).await?.map(|k| k.policy);
    if let Some(requested) = params.policy {
        policy = Some(set_policy_in_store(cx, &current.name, requested).await?);
    }
    let updated = cx
        .state
        .store
        .update_version(
            place(cx),
            name,
            VersionSelector::Exact(&current.version),
            &update,
            cx.state.clock.now_seconds(),
        )
        .await?
        .ok_or_else(|| VaultError::certificate_not_found(name))?;
    Ok(Json(bundle(cx, &updated, policy)?).into_response())
}

/// `PATCH /certificates/{name}/policy`: the members given replace those of the policy.
pub async fn update_policy(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let requested: CertificatePolicy = parse_body(body, "CertificatePolicy")?;
    let policy = set_policy_in_store(cx, name, requested).await?;
    Ok(Json(policy_with_id(cx, name, policy)).into_response())
}

/// Merges `requested` into the kept policy, checks it, and keeps it.
async fn set_policy_in_store(
    cx: &Context<'_>,
    name: &str,
    requested: CertificatePolicy,
) -> Result<CertificatePolicy, VaultError> {
    let mut kept = kept(cx, name).await?.ok_or_else(|| VaultError::certificate_not_found(name))?;
    let current = kept.policy;
    let merged = completed_policy(CertificatePolicy {
        id: None,
        key_props: requested.key_props.or(current.key_props),
        secret_props: requested.secret_props.or(current.secret_props),
        x509_props: requested.x509_props.or(current.x509_props),
        lifetime_actions: requested.lifetime_actions.or(current.lifetime_actions),
        issuer: requested.issuer.or(current.issuer),
        attributes: requested.attributes.or(current.attributes),
    });
    subject_of(&merged)?;
    key_spec(&merged)?;
    check_lifetime_actions(&merged)?;
    kept.policy = merged.clone();
    let json = serde_json::to_string(&kept).map_err(VaultError::internal_while("encoding a certificate's policy"))?;
    if !cx.state.store.put_object_policy(place(cx), name, &json).await? {
        return Err(VaultError::certificate_not_found(name));
    }
    Ok(merged)
}

fn facts(version: &SecretVersion) -> Result<CertificateFacts, VaultError> {
    version
        .properties
        .content_type
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(VaultError::internal_missing("a certificate's readable facts"))
}

fn item(cx: &Context<'_>, version: &SecretVersion, with_version: bool) -> CertificateItem {
    let id = match with_version {
        true => format!("{}/certificates/{}/{}", cx.base_url, version.name, version.version),
        false => format!("{}/certificates/{}", cx.base_url, version.name),
    };
    CertificateItem {
        id,
        x5t: facts(version).map(|f| f.x5t()).unwrap_or_default(),
        attributes: cx.attributes(version),
        tags: (!version.properties.tags.is_empty()).then(|| version.properties.tags.clone()),
    }
}

/// `GET /certificates[?includePending=true]`: the newest version of each certificate, and with
/// `includePending` the certificates whose CSR waits for a merge (on the first page).
pub async fn list(cx: &Context<'_>) -> Result<Response, VaultError> {
    let page = cx.state.store.list_objects(place(cx), cx.page_request()).await?;
    let mut value: Vec<CertificateItem> = page.items.iter().map(|v| item(cx, v, false)).collect();
    if cx.query.include_pending && cx.query.skip_token.is_none() {
        for (_, bytes) in cx.state.store.sealed_settings(&pending_prefix(cx)).await? {
            let Ok(pending) = serde_json::from_slice::<Pending>(&bytes) else { continue };
            let Some(name) = pending.name else { continue };
            if value.iter().any(|item| item.id.rsplit('/').next() == Some(name.as_str())) {
                continue;
            }
            value.push(CertificateItem {
                id: format!("{}/certificates/{name}", cx.base_url),
                x5t: String::new(),
                attributes: SecretAttributes { enabled: Some(false), ..SecretAttributes::default() },
                tags: pending.tags.clone(),
            });
        }
    }
    Ok(Json(Page { value, next_link: cx.next_link("/certificates", page.next) }).into_response())
}

/// `GET /certificates/{name}/versions`.
pub async fn list_versions(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let page = cx.state.store.list_versions(place(cx), name, cx.page_request()).await?;
    if page.items.is_empty() && cx.query.skip_token.is_none() {
        return Err(VaultError::certificate_not_found(name));
    }
    let value: Vec<CertificateItem> = page.items.iter().map(|v| item(cx, v, true)).collect();
    Ok(Json(Page { value, next_link: cx.next_link(&format!("/certificates/{name}/versions"), page.next) })
        .into_response())
}

/// When a lifetime action of the policy is due for a version valid from `not_before` to `expires`, if it has one
/// of `kind` (`AutoRenew` or `EmailContacts`).
fn due_at(policy: &CertificatePolicy, kind: &str, not_before: i64, expires: i64) -> Option<i64> {
    let action = policy.lifetime_actions.as_ref()?.iter().find(|a| {
        a.action.as_ref().and_then(|t| t.action_type.as_deref()).is_some_and(|t| t.eq_ignore_ascii_case(kind))
    })?;
    let trigger = action.trigger.as_ref()?;
    match (trigger.lifetime_percentage, trigger.days_before_expiry) {
        (Some(percent), _) => Some(not_before + (expires - not_before) * i64::from(percent.clamp(1, 99)) / 100),
        (None, Some(days)) => Some(expires - i64::from(days) * 86_400),
        (None, None) => None,
    }
}

/// Checks the policy's lifetime actions as Key Vault does.
fn check_lifetime_actions(policy: &CertificatePolicy) -> Result<(), VaultError> {
    for action in policy.lifetime_actions.iter().flatten() {
        let kind = action.action.as_ref().and_then(|a| a.action_type.as_deref()).unwrap_or_default();
        if !["AutoRenew", "EmailContacts"].iter().any(|k| k.eq_ignore_ascii_case(kind)) {
            return Err(VaultError::bad_parameter(format!(
                "The lifetime action '{kind}' is not supported: use AutoRenew or EmailContacts."
            )));
        }
        match action.trigger.as_ref().map(|t| (t.lifetime_percentage, t.days_before_expiry)) {
            Some((Some(p), None)) if (1..=99).contains(&p) => {}
            Some((None, Some(d))) if d >= 1 => {}
            _ => {
                return Err(VaultError::bad_parameter(
                    "A lifetime action's trigger has either lifetime_percentage (1..99) or days_before_expiry (≥ 1).",
                ));
            }
        }
    }
    Ok(())
}

/// One scheduler pass at `now`: renews every self-signed or local-CA-issued certificate whose AutoRenew action
/// is due (a new version, with a new key unless the policy reuses it), and tells the contacts once per version
/// when an EmailContacts action is due (an audit event). Returns how many were renewed; failures are logged.
pub async fn run_schedule(state: &AppState, now: i64) -> usize {
    scheduled::for_each_policy(state, Collection::Certificates, |place, name, json| async move {
        renew_if_due(state, place, &name, &json, now).await
    })
    .await
}

async fn renew_if_due(state: &AppState, place: Place, name: &str, json: &str, now: i64) -> Result<bool, VaultError> {
    let store = state.store.as_ref();
    let mut kept: Kept = serde_json::from_str(json)
        .map_err(VaultError::internal_because("a certificate's stored policy is unreadable"))?;
    let Some((latest, _)) = store.read_version(place, name, VersionSelector::Latest).await? else {
        return Ok(false);
    };
    let (Some(not_before), Some(expires)) = (latest.properties.not_before, latest.properties.expires) else {
        return Ok(false);
    };
    // A certificate a CA outside signs (issuer `Unknown`) cannot renew by itself; self-signed ones and those of
    // the vault's local-CA issuers can.
    let issuer = kept.policy.issuer.as_ref().and_then(|i| i.name.clone()).unwrap_or_default();
    let renewable = !issuer.eq_ignore_ascii_case("Unknown");
    if renewable && due_at(&kept.policy, "AutoRenew", not_before, expires).is_some_and(|at| now >= at) {
        let reuse = kept.policy.key_props.as_ref().and_then(|k| k.reuse_key).unwrap_or(false);
        let key = match reuse {
            true => keys::certificate_key(store, place.vault_id, name, &latest.version).await?,
            false => PrivateKey::generate(&key_spec(&kept.policy)?)?,
        };
        let subject = subject_of(&kept.policy)?;
        let chain = match issuer.eq_ignore_ascii_case("Self") {
            true => vec![subject.self_signed(&key, now)?],
            false => issue_with(state, place.vault_id, &issuer, &subject, &key, now).await?,
        };
        let issued = Issued { chain, key, policy: kept.policy, operation: kept.operation };
        let tags = (!latest.properties.tags.is_empty()).then(|| latest.properties.tags.clone());
        let version = store_version(store, place.vault_id, name, issued, None, tags, now).await?;
        tracing::info!(certificate = %name, version = %version.version, "renewed by its policy");
        scheduled::record(state, place, name, "CertificateAutoRenew").await;
        return Ok(true);
    }
    let notice = due_at(&kept.policy, "EmailContacts", not_before, expires).is_some_and(|at| now >= at);
    if notice && kept.noticed_version.as_deref() != Some(latest.version.as_str()) {
        tracing::warn!(certificate = %name, version = %latest.version, expires, "the certificate expires soon");
        scheduled::record(state, place, name, "CertificateNearExpiryEmailContacts").await;
        kept.noticed_version = Some(latest.version);
        let json =
            serde_json::to_string(&kept).map_err(VaultError::internal_while("encoding a certificate's policy"))?;
        store.put_object_policy(place, name, &json).await?;
    }
    Ok(false)
}

fn contacts_setting(cx: &Context<'_>) -> String {
    VaultSetting::CertificateContacts.name(cx.vault.id)
}

async fn contacts(cx: &Context<'_>) -> Result<Option<Contacts>, VaultError> {
    match cx.state.store.sealed_setting(&contacts_setting(cx)).await? {
        Some(bytes) if !bytes.is_empty() => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(VaultError::internal_because("a vault's certificate contacts are unreadable")),
        _ => Ok(None),
    }
}

fn contacts_with_id(cx: &Context<'_>, mut contacts: Contacts) -> Contacts {
    contacts.id = Some(format!("{}/certificates/contacts", cx.base_url));
    contacts
}

/// `GET /certificates/contacts`: the vault's certificate contacts (kept sealed: they are personal data).
pub async fn get_contacts(cx: &Context<'_>) -> Result<Response, VaultError> {
    let contacts = contacts(cx).await?.ok_or_else(VaultError::contacts_not_found)?;
    Ok(Json(contacts_with_id(cx, contacts)).into_response())
}

/// `PUT /certificates/contacts`: replaces the contacts; each has an e-mail address.
pub async fn set_contacts(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let requested: Contacts = parse_body(body, "Contacts")?;
    let list = requested.contacts.unwrap_or_default();
    if list.iter().any(|c| !c.email.as_deref().is_some_and(|e| e.contains('@'))) {
        return Err(VaultError::bad_parameter("Each certificate contact has an e-mail address."));
    }
    let contacts = Contacts { id: None, contacts: Some(list) };
    let bytes = Zeroizing::new(
        serde_json::to_vec(&contacts).map_err(VaultError::internal_while("encoding certificate contacts"))?,
    );
    cx.state.store.put_sealed_setting(&contacts_setting(cx), &bytes).await?;
    Ok(Json(contacts_with_id(cx, contacts)).into_response())
}

/// `DELETE /certificates/contacts`: forgets the contacts and answers with them.
pub async fn delete_contacts(cx: &Context<'_>) -> Result<Response, VaultError> {
    let contacts = contacts(cx).await?.ok_or_else(VaultError::contacts_not_found)?;
    cx.state.store.put_sealed_setting(&contacts_setting(cx), &[]).await?;
    Ok(Json(contacts_with_id(cx, contacts)).into_response())
}

/// The provider of issuers backed by the CA of the vault's tenant.
const TENANT_CA_PROVIDER: &str = "Strongroom";

fn issuers_setting(vault_id: Uuid) -> String {
    VaultSetting::CertificateIssuers.name(vault_id)
}

/// The vault's issuers by name key (kept sealed: they may hold a provider password).
async fn issuers(cx: &Context<'_>) -> Result<BTreeMap<String, (String, IssuerBundle)>, VaultError> {
    issuers_of(cx.state.store.as_ref(), cx.vault.id).await
}

async fn issuers_of(store: &dyn Store, vault_id: Uuid) -> Result<BTreeMap<String, (String, IssuerBundle)>, VaultError> {
    match store.sealed_setting(&issuers_setting(vault_id)).await? {
        Some(bytes) if !bytes.is_empty() => serde_json::from_slice(&bytes)
            .map_err(VaultError::internal_because("a vault's certificate issuers are unreadable")),
        _ => Ok(BTreeMap::new()),
    }
}

async fn put_issuers(cx: &Context<'_>, issuers: &BTreeMap<String, (String, IssuerBundle)>) -> Result<(), VaultError> {
    let bytes = Zeroizing::new(
        serde_json::to_vec(issuers).map_err(VaultError::internal_while("encoding certificate issuers"))?,
    );
    Ok(cx.state.store.put_sealed_setting(&issuers_setting(cx.vault.id), &bytes).await?)
}

/// An issuer as answered: with its id, never with its password.
fn issuer_answer(cx: &Context<'_>, name: &str, mut issuer: IssuerBundle) -> IssuerBundle {
    issuer.id = Some(format!("{}/certificates/issuers/{name}", cx.base_url));
    if let Some(credentials) = issuer.credentials.as_mut() {
        credentials.pwd = None;
    }
    issuer
}

fn issuer_not_found(name: &str) -> VaultError {
    VaultError::not_found("CertificateIssuerNotFound", format!("Issuer not found: {name}"))
}

/// `GET /certificates/issuers`.
pub async fn list_issuers(cx: &Context<'_>) -> Result<Response, VaultError> {
    let value: Vec<CertificateIssuerItem> = issuers(cx)
        .await?
        .into_values()
        .map(|(name, issuer)| CertificateIssuerItem {
            id: format!("{}/certificates/issuers/{name}", cx.base_url),
            provider: issuer.provider,
        })
        .collect();
    Ok(Json(Page { value, next_link: None }).into_response())
}

/// `GET /certificates/issuers/{issuer}`.
pub async fn get_issuer(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let (name, issuer) = issuers(cx).await?.remove(&secret::name_key(name)).ok_or_else(|| issuer_not_found(name))?;
    Ok(Json(issuer_answer(cx, &name, issuer)).into_response())
}

/// `PUT /certificates/issuers/{issuer}` (a new issuer, or a replacement) and `PATCH` (the members given).
pub async fn set_issuer(cx: &Context<'_>, name: &str, body: &[u8], replace: bool) -> Result<Response, VaultError> {
    secret::validate_name(name)?;
    let requested: IssuerBundle = parse_body(body, "CertificateIssuerSetParameters")?;
    let mut all = issuers(cx).await?;
    let key = secret::name_key(name);
    let now = cx.state.clock.now_seconds();
    let current = all.remove(&key);
    let issuer = match (replace, current) {
        (false, None) => return Err(issuer_not_found(name)),
        (false, Some((_, current))) => IssuerBundle {
            id: None,
            provider: requested.provider.or(current.provider),
            credentials: requested.credentials.or(current.credentials),
            org_details: requested.org_details.or(current.org_details),
            attributes: Some(IssuerAttributes {
                enabled: requested
                    .attributes
                    .as_ref()
                    .and_then(|a| a.enabled)
                    .or(current.attributes.as_ref().and_then(|a| a.enabled)),
                created: current.attributes.as_ref().and_then(|a| a.created),
                updated: Some(now),
            }),
        },
        (true, previous) => IssuerBundle {
            id: None,
            attributes: Some(IssuerAttributes {
                enabled: Some(requested.attributes.as_ref().and_then(|a| a.enabled).unwrap_or(true)),
                created: previous
                    .as_ref()
                    .and_then(|(_, p)| p.attributes.as_ref())
                    .and_then(|a| a.created)
                    .or(Some(now)),
                updated: Some(now),
            }),
            ..requested
        },
    };
    if issuer.provider.as_deref().is_none_or(str::is_empty) {
        return Err(VaultError::bad_parameter("An issuer names its provider."));
    }
    all.insert(key, (name.to_owned(), issuer.clone()));
    put_issuers(cx, &all).await?;
    Ok(Json(issuer_answer(cx, name, issuer)).into_response())
}

/// `DELETE /certificates/issuers/{issuer}`.
pub async fn delete_issuer(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let mut all = issuers(cx).await?;
    let (name, issuer) = all.remove(&secret::name_key(name)).ok_or_else(|| issuer_not_found(name))?;
    put_issuers(cx, &all).await?;
    Ok(Json(issuer_answer(cx, &name, issuer)).into_response())
}

/// The certificate `subject` for `key`, signed by the vault's issuer `name`: only issuers backed by the CA of the
/// vault's tenant can sign here. Returns the chain, leaf first.
async fn issue_with(
    state: &AppState,
    vault_id: Uuid,
    issuer_name: &str,
    subject: &Subject,
    key: &PrivateKey,
    now: i64,
) -> Result<Vec<Vec<u8>>, VaultError> {
    let (_, issuer) =
        issuers_of(state.store.as_ref(), vault_id).await?.remove(&secret::name_key(issuer_name)).ok_or_else(|| {
            VaultError::bad_parameter(format!(
                "The issuer '{issuer_name}' is not one of this vault's: use 'Self', 'Unknown' or a configured issuer."
            ))
        })?;
    if issuer.attributes.as_ref().and_then(|a| a.enabled) == Some(false) {
        return Err(VaultError::bad_parameter(format!("The issuer '{issuer_name}' is disabled.")));
    }
    if !issuer.provider.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(TENANT_CA_PROVIDER)) {
        return Err(VaultError::bad_parameter(format!(
            "The issuer '{issuer_name}' is a provider Strongroom cannot reach; only '{TENANT_CA_PROVIDER}' issuers \
             (the tenant's certificate authority) sign here. Use issuer 'Unknown' to get a CSR for any other CA."
        )));
    }
    let tenant_id = state.directory().vaults().iter().find(|v| v.id == vault_id).map(|v| v.tenant_id);
    let tenant_id = tenant_id.ok_or_else(VaultError::internal_missing("the tenant of a vault being restored into"))?;
    certificate_authority::issue(state, tenant_id, subject, key, now).await
}

/// A certificate's backup: the histories of the certificate, its key and its secret, and its policy.
#[derive(Serialize, Deserialize)]
struct CertificateBackup {
    certificate: SecretBackup,
    key: SecretBackup,
    secret: SecretBackup,
    #[serde(default)]
    kept: Option<String>,
}

/// `POST /certificates/{name}/backup`: every version of the certificate, and of its key and its secret the
/// versions it made (under its version ids), in one blob sealed under the installation's backup key.
pub async fn backup(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let store = cx.state.store.as_ref();
    let mut parts = Vec::new();
    let mut certificate_versions = Vec::new();
    for place in linked_places(cx) {
        let mut history = store.history(place, name).await?.ok_or_else(|| VaultError::certificate_not_found(name))?;
        if place.collection == Collection::Certificates {
            certificate_versions = history.iter().map(|(v, _)| v.version.clone()).collect();
        } else {
            history.retain(|(v, _)| certificate_versions.contains(&v.version));
        }
        let canonical = history.first().map_or(name, |(v, _)| v.name.as_str()).to_owned();
        let versions = history.into_iter().map(|(version, value)| (version, value.to_string())).collect();
        parts.push(SecretBackup::new(place.collection, &canonical, versions)?);
    }
    let [certificate, key, secret]: [SecretBackup; 3] =
        parts.try_into().map_err(VaultError::internal_because("a certificate backup did not have its three parts"))?;
    let kept = store.object_policy(place(cx), name).await?;
    Ok(Json(seal_backup(cx, &CertificateBackup { certificate, key, secret, kept })?).into_response())
}

/// `POST /certificates/restore`: the certificate of a backup blob with its key and secret, every version, under
/// its own name — all or nothing.
pub async fn restore(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let payload = open_backup(cx, body)?;
    let backup: CertificateBackup = serde_json::from_slice(&payload)
        .map_err(|_| VaultError::bad_parameter("The backup blob is invalid: it does not hold a certificate."))?;
    let name = backup.certificate.name.clone();
    let zeroized = |versions: Vec<(SecretVersion, String)>| -> Vec<_> {
        versions.into_iter().map(|(v, value)| (v, Zeroizing::new(value))).collect()
    };
    let [certificates, keys, secrets] = linked_places(cx);
    let objects = vec![
        (certificates, zeroized(backup.certificate.into_versions(certificates.collection)?)),
        (keys, zeroized(backup.key.into_versions(keys.collection)?)),
        (secrets, zeroized(backup.secret.into_versions(secrets.collection)?)),
    ];
    let policy = backup.kept.map(|kept| (certificates, name.clone(), kept));
    let restored =
        cx.state.store.restore_object(objects, policy).await.map_err(|e| VaultError::from_secret_store(&name, e))?;
    let policy = kept(cx, &restored.name).await?.map(|k| k.policy);
    Ok(Json(bundle(cx, &restored, policy)?).into_response())
}

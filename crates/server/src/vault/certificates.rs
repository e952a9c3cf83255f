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

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use strongroom_core::backup::ObjectBackup;
use strongroom_core::certificate::issuance::{Due, KeptPolicy, Operation, PendingCertificate};
use strongroom_core::certificate::issuer::{self, Issuer};
use strongroom_core::certificate::policy::{IssuerKind, Policy};
use strongroom_core::certificate::{self, Subject};
use strongroom_core::key::PrivateKey;
use strongroom_core::object::{self, Collection, DeletedObject, ObjectVersion, VersionProperties, VersionUpdate};
use strongroom_proto::keyvault::{
    CertificateBundle, CertificateCreateParameters, CertificateImportParameters, CertificateIssuerItem,
    CertificateItem, CertificateMergeParameters, CertificatePolicy, CertificateUpdateParameters, Contacts,
    DeletedCertificateBundle, DeletedCertificateItem, Deletion, IssuerBundle, Page, SecretAttributes, Tags,
};
use strongroom_store::{Place, Store, VersionSelector};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::context::{Context, parse_body, tags_of};
use super::error::VaultError;
use super::lifecycle::{self, Kind, Restoring, backup_of, versions_to_restore};
use super::{certificate_authority, keys, scheduled};
use crate::error::InternalFailure;
use crate::state::AppState;

mod wire;

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

fn place(cx: &Context<'_>) -> Place {
    lifecycle::place::<Certificates>(cx)
}

/// `POST /certificates/{name}/create`: issue a new version as the policy says.
pub async fn create(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    object::validate_name(name)?;
    let params: CertificateCreateParameters = parse_body(body, "CertificateCreateParameters")?;
    let policy = wire::policy_request(params.policy.unwrap_or_default()).completed()?;
    policy.validate()?;
    let subject = policy.subject()?;
    let key = PrivateKey::generate(&policy.key_spec()?)?;
    let operation = Operation::requested(policy.issuer.clone(), &subject.signing_request(&key)?);
    if policy.issuer_kind() == IssuerKind::External {
        // The CSR waits for a CA: the key is kept sealed until the signed chain is merged.
        let enabled = params.attributes.and_then(|a| a.enabled);
        let pending = PendingCertificate { name: name.to_owned(), policy, operation, key, enabled, tags: params.tags };
        cx.state.store.put_pending_certificate(cx.vault.id, &pending).await?;
        return Ok((StatusCode::ACCEPTED, Json(operation_answer(cx, name, pending.operation))).into_response());
    }
    let now = cx.state.clock.now_seconds();
    let chain = sign(cx.state, cx.vault.id, &policy, &subject, &key, now).await?;
    let operation = operation.completed();
    let first_answer = operation.as_first_answer();
    let issued = Issued { chain, key, policy, operation };
    let enabled = params.attributes.and_then(|a| a.enabled);
    store_version(cx.state.store.as_ref(), cx.vault.id, name, issued, enabled, params.tags, now).await?;
    Ok((StatusCode::ACCEPTED, Json(operation_answer(cx, name, first_answer))).into_response())
}

/// The chain (leaf first) of a certificate saying `subject` for `key`, signed as `policy` says, valid from
/// `now`: by the key itself, or by the vault's issuer.
async fn sign(
    state: &AppState,
    vault_id: Uuid,
    policy: &Policy,
    subject: &Subject,
    key: &PrivateKey,
    now: i64,
) -> Result<Vec<Vec<u8>>, VaultError> {
    match policy.issuer_kind() {
        IssuerKind::SelfSigned => Ok(vec![subject.self_signed(key, now)?]),
        IssuerKind::Vault(name) => issue_with(state, vault_id, name, subject, key, now).await,
        IssuerKind::External => {
            // Callers keep such a request pending instead: only a CA outside can sign it.
            tracing::error!("a certificate for a CA outside was to be signed here");
            Err(VaultError::internal())
        }
    }
}

async fn pending(cx: &Context<'_>, name: &str) -> Result<PendingCertificate, VaultError> {
    cx.state.store.pending_certificate(cx.vault.id, name).await?.ok_or_else(|| VaultError::operation_not_found(name))
}

/// `POST /certificates/{name}/pending/merge`: the CA-signed chain for the pending CSR becomes a new version.
pub async fn merge(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let params: CertificateMergeParameters = parse_body(body, "CertificateMergeParameters")?;
    let pending = pending(cx, name).await?;
    let chain = params
        .x5c
        .unwrap_or_default()
        .iter()
        .map(|c| STANDARD.decode(c).map_err(|_| VaultError::bad_parameter("Each x5c entry is base64 DER.")))
        .collect::<Result<Vec<_>, _>>()?;
    pending.check_chain(&chain)?;
    let PendingCertificate { policy, operation, key, enabled, tags, .. } = pending;
    let enabled = params.attributes.map_or(enabled, |a| a.enabled);
    let issued = Issued { chain, key, policy: policy.clone(), operation: operation.completed() };
    let store = cx.state.store.as_ref();
    let version =
        store_version(store, cx.vault.id, name, issued, enabled, params.tags.or(tags), cx.state.clock.now_seconds())
            .await?;
    store.delete_pending_certificate(cx.vault.id, name).await?;
    Ok((StatusCode::CREATED, Json(bundle(cx, &version, Some(policy))?)).into_response())
}

/// `PATCH /certificates/{name}/pending` with `cancellation_requested`: the pending request is cancelled.
pub async fn cancel_operation(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let request: serde_json::Value = parse_body(body, "CertificateOperationUpdateParameter")?;
    let mut pending = pending(cx, name).await?;
    if request.get("cancellation_requested").and_then(serde_json::Value::as_bool) == Some(true) {
        pending.operation = pending.operation.cancelled();
        cx.state.store.put_pending_certificate(cx.vault.id, &pending).await?;
    }
    Ok(Json(operation_answer(cx, name, pending.operation)).into_response())
}

/// `DELETE /certificates/{name}/pending`: the pending request and its key are forgotten.
pub async fn delete_operation(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let pending = pending(cx, name).await?;
    cx.state.store.delete_pending_certificate(cx.vault.id, name).await?;
    Ok(Json(operation_answer(cx, name, pending.operation)).into_response())
}

/// A certificate version ready to be kept: its chain (leaf first), its key, the policy and the issuance.
struct Issued {
    chain: Vec<Vec<u8>>,
    key: PrivateKey,
    policy: Policy,
    operation: Operation,
}

/// Writes a new version of the certificate `name` — the certificate, its key and its secret (in the policy's
/// content type, with the private key only if exportable) under one version id, valid as the leaf says — and
/// keeps the policy and the operation with it, all in one transaction.
async fn store_version(
    store: &dyn Store,
    vault_id: Uuid,
    name: &str,
    issued: Issued,
    enabled: Option<bool>,
    tags: Option<Tags>,
    now: i64,
) -> Result<ObjectVersion, VaultError> {
    let Issued { chain, key, policy, operation } = issued;
    let leaf = chain.first().ok_or_else(|| VaultError::bad_parameter("The certificate chain is empty."))?;
    let validity = certificate::validity(leaf)?;
    let secret_value = policy.secret_value(&chain, &key)?;
    let secret_content_type = policy.content_type.clone();
    let properties = |content_type: Option<String>| VersionProperties {
        content_type,
        tags: tags.clone().unwrap_or_default(),
        enabled: enabled.unwrap_or(true),
        not_before: Some(validity.0),
        expires: Some(validity.1),
    };
    properties(None).validate_tags()?;
    let version_id = object::new_version();
    let version = |properties: VersionProperties, metadata: Option<String>| ObjectVersion {
        name: name.to_owned(),
        version: version_id.clone(),
        properties,
        metadata,
        created: now,
        updated: now,
    };
    let facts = CertificateFacts { cer: STANDARD.encode(leaf), secret_content_type: secret_content_type.clone() };
    let facts = serde_json::to_string(&facts).map_err(VaultError::internal_while("encoding a certificate's facts"))?;
    let (key_version, sealed_key) = keys::certificate_key_version(&key, name, &version_id, properties(None), now)?;
    let kept = serde_json::to_string(&KeptPolicy { policy, operation, noticed_version: None })
        .map_err(VaultError::internal_while("encoding a certificate's policy"))?;
    let certificate_version = version(properties(None), Some(facts));
    let versions = vec![
        (Place::certificates(vault_id), certificate_version.clone(), Zeroizing::new(String::new())),
        (Place::keys(vault_id), key_version, sealed_key),
        (Place::secrets(vault_id), version(properties(Some(secret_content_type)), None), Zeroizing::new(secret_value)),
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
    object::validate_name(name)?;
    let params: CertificateImportParameters = parse_body(body, "CertificateImportParameters")?;
    let value =
        params.value.ok_or_else(|| VaultError::bad_parameter("'value', the certificate to import, is required."))?;
    let bytes = match STANDARD.decode(value.trim()) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(_) => Zeroizing::new(value.into_bytes()),
    };
    let (key, chain, was_pem) = certificate::open(&bytes, params.pwd.as_deref().unwrap_or_default())?;
    let leaf = chain.first().ok_or_else(|| VaultError::bad_parameter("The imported file holds no certificate."))?;
    let requested = wire::policy_request(params.policy.unwrap_or_default());
    let policy = requested.for_import(&key, certificate::subject_of(leaf)?, was_pem)?;
    let operation = Operation::imported(policy.issuer.clone());
    let issued = Issued { chain, key, policy: policy.clone(), operation };
    let enabled = params.attributes.and_then(|a| a.enabled);
    let store = cx.state.store.as_ref();
    let version =
        store_version(store, cx.vault.id, name, issued, enabled, params.tags, cx.state.clock.now_seconds()).await?;
    Ok(Json(bundle(cx, &version, Some(policy))?).into_response())
}

fn operation_answer(
    cx: &Context<'_>,
    name: &str,
    operation: Operation,
) -> strongroom_proto::keyvault::CertificateOperation {
    let base = cx.base_url;
    wire::operation_answer(
        operation,
        format!("{base}/certificates/{name}/pending"),
        format!("{base}/certificates/{name}"),
    )
}

async fn kept(cx: &Context<'_>, name: &str) -> Result<Option<KeptPolicy>, VaultError> {
    match cx.state.store.object_policy(place(cx), name).await? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(VaultError::internal_because("a certificate's stored policy is unreadable")),
    }
}

fn policy_with_id(cx: &Context<'_>, name: &str, policy: Policy) -> CertificatePolicy {
    wire::policy_answer(policy, format!("{}/certificates/{name}/policy", cx.base_url))
}

/// `GET /certificates/{name}/pending`: the pending request, or else the last issuance.
pub async fn get_operation(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    if let Some(pending) = cx.state.store.pending_certificate(cx.vault.id, name).await? {
        return Ok(Json(operation_answer(cx, name, pending.operation)).into_response());
    }
    let kept = kept(cx, name).await?.ok_or_else(|| VaultError::operation_not_found(name))?;
    Ok(Json(operation_answer(cx, name, kept.operation)).into_response())
}

/// `GET /certificates/{name}/policy`.
pub async fn get_policy(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let kept = kept(cx, name).await?.ok_or_else(|| VaultError::certificate_not_found(name))?;
    Ok(Json(policy_with_id(cx, name, kept.policy)).into_response())
}

fn bundle(cx: &Context<'_>, version: &ObjectVersion, policy: Option<Policy>) -> Result<CertificateBundle, VaultError> {
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

/// `PATCH /certificates/{name}[/{version}]`: the version's attributes and tags, and the policy of the versions
/// to come.
pub async fn update(cx: &Context<'_>, name: &str, version: Option<&str>, body: &[u8]) -> Result<Response, VaultError> {
    let params: CertificateUpdateParameters = parse_body(body, "CertificateUpdateParameters")?;
    let (current, _) = lifecycle::read_version::<Certificates>(cx, name, version).await?;
    let attributes = params.attributes.unwrap_or_default();
    let update = VersionUpdate {
        content_type: None,
        metadata: None,
        tags: params.tags,
        enabled: attributes.enabled,
        not_before: None,
        expires: None,
    };
    update.validate()?;
    let mut policy = kept(cx, name).await?.map(|k| k.policy);
    if let Some(requested) = params.policy {
        policy = Some(set_policy_in_store(cx, &current.name, requested).await?);
    }
    let updated =
        lifecycle::update_version::<Certificates>(cx, name, VersionSelector::Exact(&current.version), &update).await?;
    Ok(Json(bundle(cx, &updated, policy)?).into_response())
}

/// `PATCH /certificates/{name}/policy`: the members given replace those of the policy.
pub async fn update_policy(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let requested: CertificatePolicy = parse_body(body, "CertificatePolicy")?;
    let policy = set_policy_in_store(cx, name, requested).await?;
    Ok(Json(policy_with_id(cx, name, policy)).into_response())
}

/// Merges `requested` into the kept policy, checks it, and keeps it.
async fn set_policy_in_store(cx: &Context<'_>, name: &str, requested: CertificatePolicy) -> Result<Policy, VaultError> {
    let mut kept = kept(cx, name).await?.ok_or_else(|| VaultError::certificate_not_found(name))?;
    kept.policy = wire::policy_request(requested).over(kept.policy)?;
    let json = serde_json::to_string(&kept).map_err(VaultError::internal_while("encoding a certificate's policy"))?;
    if !cx.state.store.put_object_policy(place(cx), name, &json).await? {
        return Err(VaultError::certificate_not_found(name));
    }
    Ok(kept.policy)
}

fn facts(version: &ObjectVersion) -> Result<CertificateFacts, VaultError> {
    version
        .metadata
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(VaultError::internal_missing("a certificate's readable metadata"))
}

/// `GET /certificates[?includePending=true]`: the newest version of each certificate, and with
/// `includePending` the certificates whose CSR waits for a merge (on the first page).
pub async fn list(cx: &Context<'_>) -> Result<Response, VaultError> {
    let (mut value, next) = lifecycle::items::<Certificates>(cx).await?;
    if cx.query.include_pending && cx.query.skip_token.is_none() {
        for pending in cx.state.store.pending_certificates(cx.vault.id).await? {
            let name = pending.name;
            if value.iter().any(|item| item.id.rsplit('/').next() == Some(name.as_str())) {
                continue;
            }
            value.push(CertificateItem {
                id: format!("{}/certificates/{name}", cx.base_url),
                x5t: String::new(),
                attributes: SecretAttributes { enabled: Some(false), ..SecretAttributes::default() },
                tags: pending.tags,
            });
        }
    }
    Ok(Json(Page { value, next_link: cx.next_link("/certificates", next) }).into_response())
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
    let mut kept: KeptPolicy = serde_json::from_str(json)
        .map_err(VaultError::internal_because("a certificate's stored policy is unreadable"))?;
    let Some((latest, _)) = store.read_version(place, name, VersionSelector::Latest).await? else {
        return Ok(false);
    };
    let (Some(not_before), Some(expires)) = (latest.properties.not_before, latest.properties.expires) else {
        return Ok(false);
    };
    match kept.due(&latest.version, not_before, expires, now) {
        Due::Nothing => Ok(false),
        Due::Renewal => {
            let key = match kept.policy.key.reuse_key {
                true => keys::certificate_key(store, place.vault_id, name, &latest.version).await?,
                false => PrivateKey::generate(&kept.policy.key_spec()?)?,
            };
            let subject = kept.policy.subject()?;
            let chain = sign(state, place.vault_id, &kept.policy, &subject, &key, now).await?;
            let issued = Issued { chain, key, policy: kept.policy, operation: kept.operation };
            let tags = (!latest.properties.tags.is_empty()).then(|| latest.properties.tags.clone());
            let version = store_version(store, place.vault_id, name, issued, None, tags, now).await?;
            tracing::info!(certificate = %name, version = %version.version, "renewed by its policy");
            scheduled::record(state, place, name, "CertificateAutoRenew").await;
            Ok(true)
        }
        Due::Notice => {
            tracing::warn!(certificate = %name, version = %latest.version, expires, "the certificate expires soon");
            scheduled::record(state, place, name, "CertificateNearExpiryEmailContacts").await;
            kept.noticed_version = Some(latest.version);
            let json =
                serde_json::to_string(&kept).map_err(VaultError::internal_while("encoding a certificate's policy"))?;
            store.put_object_policy(place, name, &json).await?;
            Ok(false)
        }
    }
}

fn contacts_answer(cx: &Context<'_>, contacts: Vec<issuer::Contact>) -> Contacts {
    wire::contacts_answer(contacts, format!("{}/certificates/contacts", cx.base_url))
}

/// `GET /certificates/contacts`: the vault's certificate contacts (kept sealed: they are personal data).
pub async fn get_contacts(cx: &Context<'_>) -> Result<Response, VaultError> {
    let contacts =
        cx.state.store.certificate_contacts(cx.vault.id).await?.ok_or_else(VaultError::contacts_not_found)?;
    Ok(Json(contacts_answer(cx, contacts)).into_response())
}

/// `PUT /certificates/contacts`: replaces the contacts; each has an e-mail address.
pub async fn set_contacts(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let contacts = wire::contacts_request(parse_body(body, "Contacts")?)?;
    cx.state.store.set_certificate_contacts(cx.vault.id, &contacts).await?;
    Ok(Json(contacts_answer(cx, contacts)).into_response())
}

/// `DELETE /certificates/contacts`: forgets the contacts and answers with them.
pub async fn delete_contacts(cx: &Context<'_>) -> Result<Response, VaultError> {
    let store = cx.state.store.as_ref();
    let contacts = store.certificate_contacts(cx.vault.id).await?.ok_or_else(VaultError::contacts_not_found)?;
    store.delete_certificate_contacts(cx.vault.id).await?;
    Ok(Json(contacts_answer(cx, contacts)).into_response())
}

fn issuer_id(cx: &Context<'_>, name: &str) -> String {
    format!("{}/certificates/issuers/{name}", cx.base_url)
}

/// An issuer as answered: with its id, never with its password.
fn issuer_answer(cx: &Context<'_>, issuer: Issuer) -> IssuerBundle {
    let id = issuer_id(cx, &issuer.name);
    wire::issuer_answer(issuer, id)
}

fn issuer_not_found(name: &str) -> VaultError {
    VaultError::not_found("CertificateIssuerNotFound", format!("Issuer not found: {name}"))
}

async fn issuer(cx: &Context<'_>, name: &str) -> Result<Issuer, VaultError> {
    cx.state.store.certificate_issuer(cx.vault.id, name).await?.ok_or_else(|| issuer_not_found(name))
}

/// `GET /certificates/issuers`.
pub async fn list_issuers(cx: &Context<'_>) -> Result<Response, VaultError> {
    let issuers = cx.state.store.certificate_issuers(cx.vault.id).await?;
    let value: Vec<CertificateIssuerItem> = issuers
        .into_iter()
        .map(|issuer| CertificateIssuerItem { id: issuer_id(cx, &issuer.name), provider: Some(issuer.provider) })
        .collect();
    Ok(Json(Page { value, next_link: None }).into_response())
}

/// `GET /certificates/issuers/{issuer}`.
pub async fn get_issuer(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    Ok(Json(issuer_answer(cx, issuer(cx, name).await?)).into_response())
}

/// `PUT /certificates/issuers/{issuer}` (a new issuer, or a replacement) and `PATCH` (the members given).
pub async fn set_issuer(cx: &Context<'_>, name: &str, body: &[u8], replace: bool) -> Result<Response, VaultError> {
    object::validate_name(name)?;
    let requested: IssuerBundle = parse_body(body, "CertificateIssuerSetParameters")?;
    let change = wire::issuer_change(requested);
    let now = cx.state.clock.now_seconds();
    let issuer = match replace {
        true => Issuer::set(name, change, cx.state.store.certificate_issuer(cx.vault.id, name).await?.as_ref(), now)?,
        // Kept, and answered, under the spelling of this request.
        false => Issuer { name: name.to_owned(), ..issuer(cx, name).await?.updated(change, now)? },
    };
    cx.state.store.put_certificate_issuer(cx.vault.id, &issuer).await?;
    Ok(Json(issuer_answer(cx, issuer)).into_response())
}

/// `DELETE /certificates/issuers/{issuer}`.
pub async fn delete_issuer(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let issuer = issuer(cx, name).await?;
    cx.state.store.delete_certificate_issuer(cx.vault.id, name).await?;
    Ok(Json(issuer_answer(cx, issuer)).into_response())
}

/// The certificate `subject` for `key`, signed by the vault's issuer `name`: only enabled issuers backed by the
/// CA of the vault's tenant can sign here. Returns the chain, leaf first.
async fn issue_with(
    state: &AppState,
    vault_id: Uuid,
    issuer_name: &str,
    subject: &Subject,
    key: &PrivateKey,
    now: i64,
) -> Result<Vec<Vec<u8>>, VaultError> {
    let issuer = state.store.certificate_issuer(vault_id, issuer_name).await?;
    let issuer = issuer.ok_or_else(|| issuer::not_an_issuer_of_the_vault(issuer_name))?;
    issuer.check_can_sign()?;
    let tenant_id = state.directory().vaults().iter().find(|v| v.id == vault_id).map(|v| v.tenant_id);
    let tenant_id = tenant_id.ok_or_else(VaultError::internal_missing("the tenant of a vault being restored into"))?;
    certificate_authority::issue(state, tenant_id, subject, key, now).await
}

/// A certificate's backup: the histories of the certificate, its key and its secret, and its policy.
#[derive(Serialize, Deserialize)]
pub struct CertificateBackup {
    certificate: ObjectBackup,
    key: ObjectBackup,
    secret: ObjectBackup,
    #[serde(default)]
    kept: Option<String>,
}

/// The kind of the vault's certificates. A certificate's key and secret are deleted, recovered and purged with
/// it; its backup carries the versions of its key and secret it made (under its version ids), and its policy.
pub struct Certificates;

impl Kind for Certificates {
    const COLLECTION: Collection = Collection::Certificates;
    const LINKED: &'static [Collection] = &[Collection::Certificates, Collection::Keys, Collection::Secrets];
    const NO_VERSIONS_IS_NOT_FOUND: bool = true;
    type Bundle = CertificateBundle;
    type Item = CertificateItem;
    type DeletedBundle = DeletedCertificateBundle;
    type DeletedItem = DeletedCertificateItem;
    type KeptPolicy = Option<Policy>;
    type Backup = CertificateBackup;

    fn not_found(name: &str) -> VaultError {
        VaultError::certificate_not_found(name)
    }

    fn deleted_not_found(name: &str) -> VaultError {
        VaultError::deleted_certificate_not_found(name)
    }

    fn refused(name: &str, error: strongroom_store::Error) -> VaultError {
        VaultError::from_secret_store(name, error)
    }

    async fn kept_policy(cx: &Context<'_>, name: &str) -> Result<Option<Policy>, VaultError> {
        Ok(kept(cx, name).await?.map(|k| k.policy))
    }

    /// The certificate (public: nothing is unsealed) with its policy.
    async fn read(
        cx: &Context<'_>,
        name: &str,
        version: ObjectVersion,
        _value: Zeroizing<String>,
    ) -> Result<CertificateBundle, VaultError> {
        let policy = Self::kept_policy(cx, name).await?;
        bundle(cx, &version, policy)
    }

    async fn recovered(cx: &Context<'_>, version: ObjectVersion) -> Result<Response, VaultError> {
        let policy = Self::kept_policy(cx, &version.name).await?;
        Ok(Json(bundle(cx, &version, policy)?).into_response())
    }

    fn deleted_bundle(
        cx: &Context<'_>,
        deleted: &DeletedObject,
        policy: Option<Policy>,
        deletion: Deletion,
    ) -> Result<DeletedCertificateBundle, VaultError> {
        Ok(DeletedCertificateBundle { bundle: bundle(cx, &deleted.latest, policy)?, deletion })
    }

    fn item(cx: &Context<'_>, version: &ObjectVersion, with_version: bool) -> CertificateItem {
        let id = match with_version {
            true => format!("{}/certificates/{}/{}", cx.base_url, version.name, version.version),
            false => format!("{}/certificates/{}", cx.base_url, version.name),
        };
        CertificateItem {
            id,
            x5t: facts(version).map(|f| f.x5t()).unwrap_or_default(),
            attributes: cx.attributes(version),
            tags: tags_of(version),
        }
    }

    fn deleted_item(item: CertificateItem, deletion: Deletion) -> DeletedCertificateItem {
        DeletedCertificateItem { item, deletion }
    }

    async fn back_up(cx: &Context<'_>, name: &str) -> Result<CertificateBackup, VaultError> {
        let store = cx.state.store.as_ref();
        let mut parts = Vec::new();
        let mut certificate_versions = Vec::new();
        for place in linked_places(cx) {
            let mut history = store.history(place, name).await?.ok_or_else(|| Self::not_found(name))?;
            if place.collection == Collection::Certificates {
                certificate_versions = history.iter().map(|(v, _)| v.version.clone()).collect();
            } else {
                history.retain(|(v, _)| certificate_versions.contains(&v.version));
            }
            parts.push(backup_of(place.collection, name, history)?);
        }
        let [certificate, key, secret]: [ObjectBackup; 3] =
            parts.try_into().map_err(VaultError::internal_because("a certificate's backup lacks its key or secret"))?;
        let kept = store.object_policy(place(cx), name).await?;
        Ok(CertificateBackup { certificate, key, secret, kept })
    }

    fn restoring(cx: &Context<'_>, payload: &[u8]) -> Result<Restoring, VaultError> {
        let backup: CertificateBackup = serde_json::from_slice(payload)
            .map_err(|_| VaultError::bad_parameter("The backup blob is invalid: it does not hold a certificate."))?;
        let name = backup.certificate.name.clone();
        let [certificates, keys, secrets] = linked_places(cx);
        let objects = vec![
            (certificates, versions_to_restore(backup.certificate, certificates)?),
            (keys, versions_to_restore(backup.key, keys)?),
            (secrets, versions_to_restore(backup.secret, secrets)?),
        ];
        let policy = backup.kept.map(|kept| (certificates, name.clone(), kept));
        Ok(Restoring { name, objects, policy })
    }
}

/// A certificate, its key and its secret.
fn linked_places(cx: &Context<'_>) -> [Place; 3] {
    [place(cx), Place::keys(cx.vault.id), Place::secrets(cx.vault.id)]
}

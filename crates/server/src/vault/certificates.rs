//! Certificates: issuance by policy, and the certificate, its policy and its last issuance read back. Every
//! certificate version is written with its key (`/keys/{name}/{version}`, managed) and its secret
//! (`/secrets/{name}/{version}`, PKCS#12 or PEM as the policy says) in one transaction, under one version id.
//!
//! As in Key Vault, a create makes a pending version at once — readable, disabled, with no certificate yet —
//! whose operation is in progress for the time the issuer takes (`[server] certificate_issuance_seconds`, during
//! which it can be cancelled or deleted); the first request after that time (or the scheduler) makes it the
//! certificate's new version. With no such time, the version is issued before create answers and the first poll
//! of `/pending` finds it completed. `issuer.name = "Unknown"` answers with a real CSR and keeps the key sealed
//! until the CA-signed chain is merged. An issuer of the vault whose provider is `Strongroom` signs with the CA of
//! the vault's tenant (see `certificate_authority`), never with the CA behind Strongroom's own TLS; one of any
//! other provider is accepted, and its operation fails, since only Key Vault reaches DigiCert or GlobalSign. A certificate never takes the name of a plain secret or key, and its own key and secret
//! change only through it. Backups carry the certificate with the versions of its key and secret it made.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use strongroom_core::backup::ObjectBackup;
use strongroom_core::certificate::issuance::{
    Due, IssuanceOutcome, Issuing, KeptPolicy, Operation, PendingCertificate,
};
use strongroom_core::certificate::issuer::{self, Issuer};
use strongroom_core::certificate::policy::{IssuerKind, Policy};
use strongroom_core::certificate::{self, Subject};
use strongroom_core::key::PrivateKey;
use strongroom_core::object::{self, Collection, DeletedObject, ObjectVersion, VersionProperties, VersionUpdate};
use strongroom_proto::keyvault::{
    CertificateBundle, CertificateCreateParameters, CertificateImportParameters, CertificateIssuerItem,
    CertificateItem, CertificateMergeParameters, CertificatePolicy, CertificateUpdateParameters, Contacts,
    DeletedCertificateBundle, DeletedCertificateItem, Deletion, IssuerBundle, Page, PendingReference, SecretAttributes,
    Tags,
};
use strongroom_store::{PageRequest, Place, Store, VersionSelector};
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

/// `POST /certificates/{name}/create`: a new pending version, issued as the policy says: by its key, by the
/// vault's issuer, or by a CA outside once its CSR is signed and merged. Refused while an issuer is at work on
/// the last one; one waiting for a merge is replaced.
pub async fn create(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    object::validate_name(name)?;
    let params: CertificateCreateParameters = parse_body(body, "CertificateCreateParameters")?;
    let policy = wire::policy_request(params.policy.unwrap_or_default()).completed()?;
    policy.validate()?;
    let subject = policy.subject()?;
    let (state, vault_id) = (cx.state, cx.vault.id);
    if settled(state, vault_id, name).await?.is_some_and(|p| p.issuer_at_work()) {
        return Err(VaultError::operation_in_progress(name));
    }
    check_name_free(state.store.as_ref(), vault_id, name).await?;
    let now = state.clock.now_seconds();
    let key = PrivateKey::generate(&policy.key_spec()?)?;
    let operation = Operation::requested(policy.issuer.clone(), &subject.signing_request(&key)?);
    let mut pending = PendingCertificate::new(name, policy, operation, key, now);
    pending.enabled = params.attributes.and_then(|a| a.enabled);
    pending.tags = params.tags;
    // The answer tells of the request in progress, whatever comes of it: the SDK pollers only poll (and then
    // fetch the certificate) when the first answer is not final.
    let answer = (StatusCode::ACCEPTED, Json(operation_answer(cx, name, pending.operation.clone())));
    let store = state.store.as_ref();
    match issue(state, vault_id, &pending.policy, &subject, &pending.key, now).await? {
        // A CA outside signs the CSR; the chain comes back by a merge.
        None => {}
        Some(outcome) if state.certificate_issuance_seconds > 0 => {
            let ready_at = now.saturating_add_unsigned(state.certificate_issuance_seconds);
            pending.issuing = Some(Issuing { outcome, ready_at });
        }
        Some(IssuanceOutcome::Failed(error)) => pending.fail(error),
        Some(IssuanceOutcome::Signed(chain)) => {
            let issued = Issued::of(&pending, chain);
            store_version(store, vault_id, name, issued, pending.enabled, pending.tags, now).await?;
            // A cancelled, failed or abandoned version of an earlier create is replaced by this one.
            store.delete_pending_certificate(vault_id, name).await?;
            return Ok(answer.into_response());
        }
    }
    store.put_pending_certificate(vault_id, &pending).await?;
    Ok(answer.into_response())
}

/// Refuses at once a create whose version could not be kept later: the name is a soft-deleted certificate's, or
/// a plain secret's or key's (live or soft-deleted). Storing the version checks again, in its transaction.
async fn check_name_free(store: &dyn Store, vault_id: Uuid, name: &str) -> Result<(), VaultError> {
    let exists = |place| async move {
        let one = PageRequest { after: None, limit: 1 };
        Ok::<_, VaultError>(!store.list_versions(place, name, one).await?.items.is_empty())
    };
    if store.deleted_object(Place::certificates(vault_id), name).await?.is_some() {
        return Err(VaultError::certificate_is_deleted(name));
    }
    if exists(Place::certificates(vault_id)).await? {
        return Ok(());
    }
    for place in [Place::secrets(vault_id), Place::keys(vault_id)] {
        if exists(place).await? || store.deleted_object(place, name).await?.is_some() {
            return Err(VaultError::certificate_name_taken(name));
        }
    }
    Ok(())
}

/// What the issuer does with the certificate `subject` for `key`, as `policy` says, valid from `now`: signs it
/// (the key itself, or the vault's issuer of the tenant's CA), fails (an issuer whose provider only Key Vault
/// reaches), or nothing yet (`None`: a CA outside signs the CSR). A vault issuer that is missing or disabled, or
/// a name the tenant's CA may not certify, is the request's error.
async fn issue(
    state: &AppState,
    vault_id: Uuid,
    policy: &Policy,
    subject: &Subject,
    key: &PrivateKey,
    now: i64,
) -> Result<Option<IssuanceOutcome>, VaultError> {
    let chain = match policy.issuer_kind() {
        IssuerKind::SelfSigned => vec![subject.self_signed(key, now)?],
        IssuerKind::External => return Ok(None),
        IssuerKind::Vault(name) => {
            let issuer = state.store.certificate_issuer(vault_id, name).await?;
            let issuer = issuer.ok_or_else(|| issuer::not_an_issuer_of_the_vault(name))?;
            if !issuer.is_reachable() {
                return Ok(Some(IssuanceOutcome::Failed(issuer.unreachable())));
            }
            issuer.check_can_sign()?;
            sign_by_tenant_ca(state, vault_id, subject, key, now).await?
        }
    };
    Ok(Some(IssuanceOutcome::Signed(chain)))
}

/// The pending version of the certificate `name`, brought up to now: one whose issuer's time has passed becomes
/// the certificate's new version, and is then no longer pending.
async fn settled(state: &AppState, vault_id: Uuid, name: &str) -> Result<Option<PendingCertificate>, VaultError> {
    match state.store.pending_certificate(vault_id, name).await? {
        None => Ok(None),
        Some(pending) => brought_up(state.store.as_ref(), vault_id, name, pending, state.clock.now_seconds()).await,
    }
}

/// The pending version `pending` of `name` at `now`: once its issuer's time has passed, its operation ends as the
/// issuer did — a new version of the certificate (no longer pending: `None`), or a failure.
async fn brought_up(
    store: &dyn Store,
    vault_id: Uuid,
    name: &str,
    mut pending: PendingCertificate,
    now: i64,
) -> Result<Option<PendingCertificate>, VaultError> {
    match pending.ready(now).cloned() {
        None => Ok(Some(pending)),
        Some(IssuanceOutcome::Signed(chain)) => {
            complete(store, vault_id, name, pending, chain, now).await?;
            Ok(None)
        }
        Some(IssuanceOutcome::Failed(error)) => {
            pending.fail(error);
            store.put_pending_certificate(vault_id, &pending).await?;
            Ok(Some(pending))
        }
    }
}

/// Issues the pending version `pending` of `name` with `chain` (leaf first) at `now`: it becomes the
/// certificate's new version, its operation completed. Of two requests completing it at once, only the one that
/// takes the pending version away stores it (the other gets `None`); if storing fails, it is pending again.
async fn complete(
    store: &dyn Store,
    vault_id: Uuid,
    name: &str,
    pending: PendingCertificate,
    chain: Vec<Vec<u8>>,
    now: i64,
) -> Result<Option<ObjectVersion>, VaultError> {
    if !store.delete_pending_certificate(vault_id, name).await? {
        return Ok(None);
    }
    let issued = Issued::of(&pending, chain);
    match store_version(store, vault_id, name, issued, pending.enabled, pending.tags.clone(), now).await {
        Ok(version) => Ok(Some(version)),
        Err(e) => {
            store.put_pending_certificate(vault_id, &pending).await?;
            Err(e)
        }
    }
}

/// The pending version of `name` whose operation is not deleted.
async fn pending_with_operation(cx: &Context<'_>, name: &str) -> Result<PendingCertificate, VaultError> {
    settled(cx.state, cx.vault.id, name)
        .await?
        .filter(|p| p.live_operation().is_some())
        .ok_or_else(|| VaultError::operation_not_found(name))
}

/// `POST /certificates/{name}/pending/merge`: the CA-signed chain for the pending CSR becomes a new version.
/// Each `x5c` entry is DER, or PEM or base64 text (as the JavaScript SDK's sample sends it), as Key Vault takes.
pub async fn merge(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let params: CertificateMergeParameters = parse_body(body, "CertificateMergeParameters")?;
    let mut pending = pending_with_operation(cx, name).await?;
    if !pending.in_progress() {
        return Err(VaultError::operation_not_in_progress());
    }
    let mut chain = Vec::new();
    for entry in params.x5c.unwrap_or_default() {
        let bytes = STANDARD.decode(entry.trim()).unwrap_or_else(|_| entry.into_bytes());
        chain.extend(certificate::merged_certificates(&bytes)?);
    }
    pending.check_chain(&chain)?;
    if let Some(attributes) = params.attributes {
        pending.enabled = attributes.enabled;
    }
    pending.tags = params.tags.or(pending.tags);
    let policy = pending.policy.clone();
    let now = cx.state.clock.now_seconds();
    let version = complete(cx.state.store.as_ref(), cx.vault.id, name, pending, chain, now)
        .await?
        .ok_or_else(|| VaultError::operation_not_found(name))?;
    Ok((StatusCode::CREATED, Json(bundle(cx, &version, Some(policy))?)).into_response())
}

/// `PATCH /certificates/{name}/pending` with `cancellation_requested`: the request in progress is cancelled; an
/// operation that has ended cannot change.
pub async fn cancel_operation(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let request: serde_json::Value = parse_body(body, "CertificateOperationUpdateParameter")?;
    let Some(mut pending) = settled(cx.state, cx.vault.id, name).await? else {
        // Completed (or never begun): no request to change.
        return Err(match kept(cx, name).await?.and_then(|k| k.operation) {
            Some(_) => VaultError::operation_not_in_progress(),
            None => VaultError::operation_not_found(name),
        });
    };
    if pending.live_operation().is_none() {
        return Err(VaultError::operation_not_found(name));
    }
    if !pending.in_progress() {
        return Err(VaultError::operation_not_in_progress());
    }
    if request.get("cancellation_requested").and_then(serde_json::Value::as_bool) == Some(true) {
        pending.cancel()?;
        cx.state.store.put_pending_certificate(cx.vault.id, &pending).await?;
    }
    Ok(Json(operation_answer(cx, name, pending.operation)).into_response())
}

/// `DELETE /certificates/{name}/pending`: the operation is forgotten and answered. A pending version then issues
/// nothing and stays, disabled, without an operation, as Key Vault's does.
pub async fn delete_operation(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let store = cx.state.store.as_ref();
    if let Some(mut pending) = settled(cx.state, cx.vault.id, name).await? {
        let operation = pending.live_operation().cloned().ok_or_else(|| VaultError::operation_not_found(name))?;
        pending.delete_operation();
        store.put_pending_certificate(cx.vault.id, &pending).await?;
        return Ok(Json(operation_answer(cx, name, operation)).into_response());
    }
    let mut kept = kept(cx, name).await?.ok_or_else(|| VaultError::operation_not_found(name))?;
    let operation = kept.operation.take().ok_or_else(|| VaultError::operation_not_found(name))?;
    let json = serde_json::to_string(&kept).map_err(VaultError::internal_while("encoding a certificate's policy"))?;
    if !store.put_object_policy(place(cx), name, &json).await? {
        return Err(VaultError::operation_not_found(name));
    }
    Ok(Json(operation_answer(cx, name, operation)).into_response())
}

/// A certificate version ready to be kept: its id, its chain (leaf first), its key, the policy and the issuance.
struct Issued {
    version: String,
    chain: Vec<Vec<u8>>,
    key: PrivateKey,
    policy: Policy,
    operation: Operation,
}

impl Issued {
    /// The pending version `pending`, issued with `chain`: its operation completed.
    fn of(pending: &PendingCertificate, chain: Vec<Vec<u8>>) -> Self {
        Issued {
            version: pending.version.clone(),
            chain,
            key: pending.key.clone(),
            policy: pending.policy.clone(),
            operation: pending.operation.clone().completed(),
        }
    }
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
    let Issued { version: version_id, chain, key, policy, operation } = issued;
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
    let kept = serde_json::to_string(&KeptPolicy { policy, operation: Some(operation), noticed_version: None })
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
    let operation = Operation::finished(policy.issuer.clone());
    let issued = Issued { version: object::new_version(), chain, key, policy: policy.clone(), operation };
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

/// `GET /certificates/{name}/pending`: the pending request, or else the last issuance, unless deleted.
pub async fn get_operation(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let operation = match settled(cx.state, cx.vault.id, name).await? {
        Some(pending) => pending.live_operation().cloned(),
        None => kept(cx, name).await?.and_then(|k| k.operation),
    };
    let operation = operation.ok_or_else(|| VaultError::operation_not_found(name))?;
    Ok(Json(operation_answer(cx, name, operation)).into_response())
}

/// `GET /certificates/{name}[/{version}]`: a version; while a create is pending, its version (the latest):
/// disabled, without a certificate, naming its operation.
pub async fn get(cx: &Context<'_>, name: &str, version: Option<&str>) -> Result<Response, VaultError> {
    if let Some(pending) = settled(cx.state, cx.vault.id, name).await?
        && version.is_none_or(|v| v == pending.version)
    {
        return Ok(Json(pending_bundle(cx, name, &pending)).into_response());
    }
    lifecycle::get::<Certificates>(cx, name, version).await
}

/// `GET /certificates/{name}/versions`: every version, the pending one last.
pub async fn list_versions(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let pending = settled(cx.state, cx.vault.id, name).await?;
    let page = cx.state.store.list_versions(place(cx), name, cx.page_request()).await?;
    let first_page = cx.query.skip_token.is_none();
    let mut value: Vec<CertificateItem> = page.items.iter().map(|v| Certificates::item(cx, v, true)).collect();
    if let Some(pending) = pending.filter(|_| first_page) {
        value.push(Certificates::item(cx, &pending_version(name, &pending), true));
    }
    if value.is_empty() && first_page {
        return Err(VaultError::certificate_not_found(name));
    }
    Ok(Json(Page { value, next_link: cx.next_link(&format!("/certificates/{name}/versions"), page.next) })
        .into_response())
}

/// `DELETE /certificates/{name}`: the certificate with its key and secret, and its pending version if any.
pub async fn delete(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let deleted = lifecycle::delete::<Certificates>(cx, name).await?;
    cx.state.store.delete_pending_certificate(cx.vault.id, name).await?;
    Ok(deleted)
}

/// A pending version as a version: disabled, with the create's tags.
fn pending_version(name: &str, pending: &PendingCertificate) -> ObjectVersion {
    ObjectVersion {
        name: name.to_owned(),
        version: pending.version.clone(),
        properties: VersionProperties {
            content_type: None,
            tags: pending.tags.clone().unwrap_or_default(),
            enabled: false,
            not_before: None,
            expires: None,
        },
        metadata: None,
        created: pending.created,
        updated: pending.created,
    }
}

/// A pending version as answered: no certificate yet, and the operation's URL while it has one.
fn pending_bundle(cx: &Context<'_>, name: &str, pending: &PendingCertificate) -> CertificateBundle {
    let base = cx.base_url;
    let v = &pending.version;
    let version = pending_version(name, pending);
    CertificateBundle {
        id: format!("{base}/certificates/{name}/{v}"),
        kid: format!("{base}/keys/{name}/{v}"),
        sid: format!("{base}/secrets/{name}/{v}"),
        x5t: String::new(),
        cer: String::new(),
        pending: pending
            .live_operation()
            .map(|_| PendingReference { id: format!("{base}/certificates/{name}/pending") }),
        content_type: Some(pending.policy.content_type.clone()),
        attributes: cx.attributes(&version),
        policy: Some(policy_with_id(cx, name, pending.policy.clone())),
        tags: tags_of(&version),
    }
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
        pending: None,
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

/// One scheduler pass at `now`: issues the pending versions whose issuer's time has passed, renews every
/// self-signed or local-CA-issued certificate whose AutoRenew action is due (a new version, with a new key unless
/// the policy reuses it), and tells the contacts once per version when an EmailContacts action is due (an audit
/// event). Returns how many were renewed; failures are logged.
pub async fn run_schedule(state: &AppState, now: i64) -> usize {
    complete_due_issuances(state, now).await;
    scheduled::for_each_policy(state, Collection::Certificates, |place, name, json| async move {
        renew_if_due(state, place, &name, &json, now).await
    })
    .await
}

/// Ends the operation of every pending version, in every vault, whose issuer's time has passed at `now`
/// (requests that read one do so first; this is for those nobody reads). Failures are logged.
async fn complete_due_issuances(state: &AppState, now: i64) {
    let store = state.store.as_ref();
    for vault in state.directory().vaults() {
        let pending = match store.pending_certificates(vault.id).await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::error!(vault = %vault.name, "the pending certificates cannot be read: {e}");
                continue;
            }
        };
        for pending in pending.into_iter().filter(|p| p.ready(now).is_some()) {
            let name = pending.name.clone();
            if let Err(e) = brought_up(store, vault.id, &name, pending, now).await {
                tracing::error!(certificate = %name, "a pending certificate could not be issued: {}", e.message());
            }
        }
    }
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
            let chain = match issue(state, place.vault_id, &kept.policy, &subject, &key, now).await? {
                Some(IssuanceOutcome::Signed(chain)) => chain,
                None => return Ok(false),
                Some(IssuanceOutcome::Failed(error)) => return Err(VaultError::bad_parameter(error.message)),
            };
            let operation = kept.operation.unwrap_or_else(|| Operation::finished(kept.policy.issuer.clone()));
            let issued = Issued { version: object::new_version(), chain, key, policy: kept.policy, operation };
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

/// The certificate `subject` for `key`, signed by the CA of the vault's tenant. Returns the chain, leaf first.
async fn sign_by_tenant_ca(
    state: &AppState,
    vault_id: Uuid,
    subject: &Subject,
    key: &PrivateKey,
    now: i64,
) -> Result<Vec<Vec<u8>>, VaultError> {
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
        VaultError::refused_for_certificate(name, error)
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

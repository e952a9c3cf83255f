//! A Managed HSM's security domain over HTTP, as `az keyvault security-domain` and the
//! `azure-keyvault-securitydomain` SDK drive it: download (which activates a new HSM), the transfer key an
//! upload is wrapped to, upload, and the status of each. The format is [`strongroom_core::security_domain`]'s.
//!
//! Per HSM, one sealed setting keeps the HSM's root secret, set once and never replaced (none until the first
//! download or upload: the HSM is not yet activated; two requests or nodes that race to set it agree on the
//! first), and another the transfer key an upload waits for and the outcome of the last download and upload.
//! Both operations finish within the request; their answers point the SDK's poller at the status paths, which
//! already say `Success`.
//!
//! The root secret seals the material of the HSM's keys ([`HsmRoot`]), so keys and full backups move only
//! between HSMs of one security domain. Until it exists, the HSM serves its security domain and nothing else
//! ([`activated_root`]), as Managed HSM does; an HSM the configuration marks `activated` gets its root at start.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use strongroom_core::directory::{Vault, VaultKind};
use strongroom_core::rbac::Action;
use strongroom_core::security_domain::{self, HsmRoot, TransferKey, WrappingCertificate};
use strongroom_proto::keyvault::{
    CertificateInfo, SecurityDomainObject, SecurityDomainOperationStatus, TransferKey as TransferKeyAnswer,
};
use strongroom_store::Store;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::context::{Context, parse_body};
use super::error::VaultError;
use crate::error::InternalFailure;
use crate::state::AppState;

/// The header that names an operation's status path.
const ASYNC_OPERATION: &str = "azure-asyncoperation";
const SUCCESS: &str = "Success";

/// What an HSM keeps of its security domain operations, sealed (its root secret is kept apart, set once).
#[derive(Default, Serialize, Deserialize)]
struct Kept {
    /// The transfer key the next upload must be wrapped to.
    transfer_key: Option<KeptTransferKey>,
    /// What the last download did.
    download: Option<String>,
    /// What the last upload did.
    upload: Option<String>,
}

/// A transfer key: its private key's PKCS#8 and its certificate, base64.
#[derive(Clone, Serialize, Deserialize)]
struct KeptTransferKey {
    pkcs8: String,
    certificate: String,
}

fn setting(hsm_id: Uuid) -> String {
    format!("security-domain/{hsm_id}")
}

fn root_setting(hsm_id: Uuid) -> String {
    format!("security-domain/{hsm_id}/root")
}

/// The HSM's root secret, or `None` while it is not activated.
async fn stored_root(store: &dyn Store, hsm_id: Uuid) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
    Ok(store.sealed_setting(&root_setting(hsm_id)).await?)
}

/// Makes `secret` the HSM's root secret unless it has one, and answers the root it has then: `secret`, or the
/// one another request or node set first (the store creates the setting once, atomically).
async fn settle_root(store: &dyn Store, hsm_id: Uuid, secret: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if store.create_sealed_setting(&root_setting(hsm_id), secret).await? {
        return Ok(Zeroizing::new(secret.to_vec()));
    }
    stored_root(store, hsm_id).await?.ok_or_else(VaultError::internal_missing("an HSM's root secret, once set"))
}

/// The roots of the HSMs this node has found activated, as key-sealing keys. An activated HSM never takes
/// another root (an upload of another security domain is refused), so a root is kept for the process's life.
#[derive(Default)]
pub struct HsmRoots {
    roots: RwLock<HashMap<Uuid, Arc<HsmRoot>>>,
}

impl HsmRoots {
    fn get(&self, hsm_id: Uuid) -> Option<Arc<HsmRoot>> {
        self.roots.read().ok()?.get(&hsm_id).cloned()
    }

    fn put(&self, hsm_id: Uuid, root: &Arc<HsmRoot>) {
        let mut roots = self.roots.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        roots.insert(hsm_id, Arc::clone(root));
    }
}

/// The root of the HSM `hsm_id`, or `None` while it is not activated: from this node's memory, else from the
/// store (another node may have activated it).
pub async fn root_of(state: &AppState, hsm_id: Uuid) -> Result<Option<Arc<HsmRoot>>, VaultError> {
    if let Some(root) = state.hsm_roots.get(hsm_id) {
        return Ok(Some(root));
    }
    let Some(secret) = stored_root(state.store.as_ref(), hsm_id).await? else { return Ok(None) };
    let root = Arc::new(HsmRoot::new(&secret)?);
    state.hsm_roots.put(hsm_id, &root);
    Ok(Some(root))
}

/// Stage 6's door in a Managed HSM: the root that seals its keys. An HSM whose security domain was neither
/// downloaded nor uploaded serves only its security domain, as Managed HSM does; a vault has no root.
pub async fn activated_root(
    state: &AppState,
    vault: &Vault,
    action: Action,
) -> Result<Option<Arc<HsmRoot>>, VaultError> {
    if vault.kind != VaultKind::ManagedHsm {
        return Ok(None);
    }
    match root_of(state, vault.id).await? {
        Some(root) => Ok(Some(root)),
        None if action.is_security_domain() => Ok(None),
        None => Err(VaultError::not_activated(&vault.name)),
    }
}

/// Activates the HSM `hsm_id` with a root secret of its own, unless it has one: an HSM the configuration
/// marks `activated`, at start.
pub async fn activate(store: &dyn Store, hsm_id: Uuid) -> Result<(), VaultError> {
    if stored_root(store, hsm_id).await?.is_none() {
        settle_root(store, hsm_id, &security_domain::new_root_secret()?).await?;
    }
    Ok(())
}

/// The HSM's record, and whether one is stored.
async fn kept(store: &dyn Store, hsm_id: Uuid) -> Result<(Kept, bool), VaultError> {
    let Some(bytes) = store.sealed_setting(&setting(hsm_id)).await? else { return Ok((Kept::default(), false)) };
    let kept = serde_json::from_slice(&bytes)
        .map_err(VaultError::internal_because("an HSM's security domain is unreadable"))?;
    Ok((kept, true))
}

/// Changes the HSM's record with `change` and keeps it. The first record is created, not replaced: when two
/// requests (or nodes) make it at once, the loser changes the winner's record instead, so that an HSM is
/// activated with one root secret.
async fn update<T>(
    store: &dyn Store,
    hsm_id: Uuid,
    change: impl Fn(&mut Kept) -> Result<T, VaultError>,
) -> Result<T, VaultError> {
    let name = setting(hsm_id);
    for _ in 0..2 {
        let (mut kept, stored) = kept(store, hsm_id).await?;
        let answer = change(&mut kept)?;
        let bytes = Zeroizing::new(
            serde_json::to_vec(&kept).map_err(VaultError::internal_while("encoding an HSM's security domain"))?,
        );
        if stored {
            store.put_sealed_setting(&name, &bytes).await?;
            return Ok(answer);
        }
        if store.create_sealed_setting(&name, &bytes).await? {
            return Ok(answer);
        }
    }
    Err(VaultError::internal())
}

/// `POST /securitydomain/download`: the security domain of the HSM's root secret (made now, the first time,
/// which activates the HSM), split among the certificates with the quorum asked.
pub async fn download(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let info: CertificateInfo = parse_body(body, "CertificateInfo")?;
    let required = info.required.ok_or_else(|| VaultError::bad_parameter("The quorum 'required' is missing."))?;
    let certificates = info
        .certificates
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let der = key.x5c.first().and_then(|c| STANDARD.decode(c).ok()).ok_or_else(|| {
                VaultError::bad_parameter(format!("Wrapping certificate {index} has no base64 certificate in x5c."))
            })?;
            Ok(WrappingCertificate::from_der(&der, index)?)
        })
        .collect::<Result<Vec<_>, VaultError>>()?;
    // A request that could make no security domain activates nothing.
    security_domain::check_quorum(certificates.len(), required)?;
    let store = cx.state.store.as_ref();
    let root_secret = match stored_root(store, cx.vault.id).await? {
        Some(root) => root,
        None => settle_root(store, cx.vault.id, &security_domain::new_root_secret()?).await?,
    };
    let value = security_domain::download(&root_secret, &certificates, required)?;
    update(store, cx.vault.id, |kept| {
        kept.download = Some(format!("The security domain was downloaded with a quorum of {required}."));
        Ok(())
    })
    .await?;
    Ok(accepted(cx, "download", Json(SecurityDomainObject { value })))
}

/// `GET /securitydomain/download/pending`.
pub async fn download_status(cx: &Context<'_>) -> Result<Response, VaultError> {
    let details = kept(cx.state.store.as_ref(), cx.vault.id).await?.0.download;
    status(details.ok_or_else(|| VaultError::security_domain_operation_not_found("download"))?)
}

/// `GET /securitydomain/upload`: a new transfer key, which the next upload must be wrapped to.
pub async fn transfer_key(cx: &Context<'_>) -> Result<Response, VaultError> {
    let transfer = TransferKey::generate(cx.state.clock.now_seconds())?;
    let stored = KeptTransferKey {
        pkcs8: STANDARD.encode(transfer.pkcs8()),
        certificate: STANDARD.encode(transfer.certificate().der()),
    };
    update(cx.state.store.as_ref(), cx.vault.id, |kept| {
        kept.transfer_key = Some(stored.clone());
        Ok(())
    })
    .await?;
    Ok(Json(TransferKeyAnswer { key_format: "jwk".into(), transfer_key: transfer.jwk()? }).into_response())
}

/// `POST /securitydomain/upload`: the root secret a restore blob brings, wrapped to the transfer key. A new HSM
/// takes it and is activated; an activated HSM accepts only its own.
pub async fn upload(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let blob: SecurityDomainObject = parse_body(body, "SecurityDomain")?;
    let store = cx.state.store.as_ref();
    let stored = kept(store, cx.vault.id).await?.0.transfer_key.ok_or_else(|| {
        VaultError::bad_parameter(
            "No transfer key was issued: get one first (az keyvault security-domain init-recovery).",
        )
    })?;
    let decode = |text: &str| STANDARD.decode(text).map_err(VaultError::internal_because("a stored transfer key"));
    let transfer = TransferKey::from_parts(&decode(&stored.pkcs8)?, &decode(&stored.certificate)?)?;
    let uploaded = security_domain::upload(&blob.value, &transfer)?;
    // A new HSM takes the uploaded root; an activated one only its own (compared in constant time).
    let root = settle_root(store, cx.vault.id, &uploaded).await?;
    verify_slices_are_equal(&root, &uploaded).map_err(|_| VaultError::security_domain_conflict())?;
    let details = update(store, cx.vault.id, |kept| {
        // The transfer key serves one upload: a second with it is refused.
        if kept.transfer_key.as_ref().is_none_or(|k| k.certificate != stored.certificate) {
            return Err(VaultError::bad_parameter(
                "The transfer key was used or replaced: get a new one (az keyvault security-domain init-recovery).",
            ));
        }
        kept.transfer_key = None;
        kept.upload = Some("The security domain was restored.".to_owned());
        Ok(kept.upload.clone())
    })
    .await?;
    let body = SecurityDomainOperationStatus { status: SUCCESS.into(), status_details: details };
    Ok(accepted(cx, "upload", Json(body)))
}

/// `GET /securitydomain/upload/pending`.
pub async fn upload_status(cx: &Context<'_>) -> Result<Response, VaultError> {
    let details = kept(cx.state.store.as_ref(), cx.vault.id).await?.0.upload;
    status(details.ok_or_else(|| VaultError::security_domain_operation_not_found("upload"))?)
}

fn status(details: String) -> Result<Response, VaultError> {
    Ok(Json(SecurityDomainOperationStatus { status: SUCCESS.into(), status_details: Some(details) }).into_response())
}

/// `202 Accepted` with `body`, pointing the poller at the operation's status path, to be read after a second.
fn accepted(cx: &Context<'_>, operation: &str, body: impl IntoResponse) -> Response {
    let mut response = (StatusCode::ACCEPTED, body).into_response();
    let status_url = format!("{}/securitydomain/{operation}/pending?api-version={}", cx.base_url, cx.query.api_version);
    if let Ok(value) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(ASYNC_OPERATION, value);
    }
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

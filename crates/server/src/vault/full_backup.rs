//! Managed HSM full backup and restore (`KeyVaultBackupClient`, `az keyvault backup start` / `restore start`):
//! what a job does, and how it runs in the background while the client polls.
//!
//! A backup reads every key of the HSM (all versions, deleted keys, rotation policies) in one read, with the
//! HSM's custom roles and role assignments and a proof of its security domain, seals it ([`HsmBackup::seal`])
//! and writes it as a new folder of a declared storage target. A restore reads and opens the whole folder and
//! checks that the proof and every key open under the HSM's root before it writes anything, then replaces the
//! HSM's keys (or the one key asked for) and, in a full restore, adds the backup's roles beside the HSM's own,
//! in one store transaction: it succeeds whole or fails with nothing written.

pub mod folder;
pub mod jobs;

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use strongroom_core::full_backup::job::{HEARTBEAT_SECONDS, Job, JobError, JobKind, JobStatus};
use strongroom_core::full_backup::storage::{self, StorageAccess, StorageTarget};
use strongroom_core::full_backup::{self, BackedUpKey, HsmBackup, KeyToRestore, LocalRoles};
use strongroom_core::security_domain::HsmRoot;
use strongroom_proto::full_backup::{
    JobOperation, RestoreOperationParameters, SasTokenParameter, SelectiveKeyRestoreParameters,
};
use strongroom_proto::keyvault::ErrorDetail;
use strongroom_store::{Place, Replacing, WholeObject};
use uuid::Uuid;

use super::context::{Context, parse_body};
use super::error::VaultError;
use super::keys::KeySealing;
use crate::error::InternalFailure;
use crate::state::AppState;

/// How long clients wait between polls, in seconds: jobs here take moments.
const RETRY_AFTER_SECONDS: &str = "1";

/// The Managed HSM a job works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hsm {
    /// Its id: its keys are stored under it as a vault's are.
    pub vault_id: Uuid,
    /// Its tenant: backups are bound to it.
    pub tenant_id: Uuid,
    /// Its name, as backup folders are named after it.
    pub name: String,
}

/// Where a job reads or writes: a declared target, and what the request proved to use it.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The target.
    pub target: StorageTarget,
    /// The SAS token sent, or `None` for the HSM's managed identity.
    pub sas_token: Option<zeroize::Zeroizing<String>>,
}

impl Storage {
    /// Checks that `hsm` may use the target.
    fn admit(&self, hsm: &Hsm) -> Result<(), JobError> {
        let access = match &self.sas_token {
            Some(token) => StorageAccess::SasToken(token),
            None => StorageAccess::ManagedIdentity,
        };
        self.target.admit(&hsm.name, access).map_err(|e| job_error("AuthenticationFailed", e.message()))
    }
}

/// Backs up every key of `hsm` into a new folder of `storage`; the answer is the folder's URL.
pub async fn back_up(state: &AppState, hsm: &Hsm, storage: &Storage) -> Result<String, JobError> {
    storage.admit(hsm)?;
    let now_millis = state.clock.now_millis();
    let folder = full_backup::folder_name(&hsm.name, now_millis).map_err(|e| job_error("BadParameter", e.message()))?;
    let objects = state.store.whole_objects(Place::keys(hsm.vault_id)).await.map_err(internal("reading the keys"))?;
    let keys = objects
        .into_iter()
        .filter_map(|object| {
            let name = object.versions.first()?.0.name.clone();
            let versions = object.versions.into_iter().map(|(v, value)| (v, value.to_string())).collect();
            Some(BackedUpKey::new(&name, versions, object.policy, object.deleted))
        })
        .collect();
    let roles = LocalRoles::of(&state.directory(), hsm.vault_id);
    let proof = root(state, hsm).await?.proof().map_err(internal("proving the security domain"))?;
    let backup = HsmBackup::new(&hsm.name, now_millis / 1000, keys, roles, STANDARD.encode(proof));
    let sealing_key = state.backup_keys.first().ok_or_else(|| internal("sealing")("no backup key"))?;
    let sealed = backup.seal(sealing_key, hsm.tenant_id).map_err(internal("sealing the backup"))?;
    folder::write(&storage.target.directory, &folder, sealed).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            job_error("Conflict", format!("The backup folder {folder} exists already; start the backup again."))
        }
        _ => internal("writing the backup folder")(e),
    })?;
    Ok(storage.target.folder_url(&folder))
}

/// Restores the folder `folder` of `storage` into `hsm`: every key (replacing all the HSM's keys), or only the
/// key `only` (replacing that key).
pub async fn restore(
    state: &AppState,
    hsm: &Hsm,
    storage: &Storage,
    folder: &str,
    only: Option<&str>,
) -> Result<(), JobError> {
    let backup = read_backup(state, hsm, storage, folder).await?;
    let (roles, proof) = (backup.roles.clone(), backup.security_domain.clone());
    let keys = backup.into_keys(only).map_err(invalid_backup)?;
    check_security_domain(state, hsm, proof.as_deref(), &keys).await?;
    let objects = keys
        .into_iter()
        .map(|key| WholeObject { versions: key.versions, policy: key.policy, deleted: key.deleted })
        .collect();
    // The directory's writers take turns: the roles are planned from the directory as it stands at the write.
    let _writer = state.directory.lock_writes().await;
    let (replacing, changes) = match only {
        None => {
            let directory = state.directory();
            let target = directory.vaults().iter().find(|v| v.id == hsm.vault_id).ok_or_else(|| {
                job_error("HsmNotFound", "The Managed HSM was deleted while the restore ran; nothing was written.")
            })?;
            (Replacing::Everything, roles.restore_into(&directory, target).map_err(invalid_backup)?)
        }
        Some(_) => (Replacing::TheirNames, Vec::new()),
    };
    state
        .store
        .replace_objects(Place::keys(hsm.vault_id), objects, replacing, changes)
        .await
        .map_err(internal("writing the restored keys"))?;
    let directory = state.store.load_directory().await.map_err(internal("reading the restored roles"))?;
    state.directory.set(directory);
    Ok(())
}

/// Starts a job of `kind` on `hsm` that runs `work` in the background, and answers its first state; `None`
/// when another job of the HSM is running.
pub async fn start<W>(
    state: &Arc<AppState>,
    hsm: &Hsm,
    kind: JobKind,
    work: W,
) -> Result<Option<Job>, strongroom_store::Error>
where
    W: Future<Output = Result<Option<String>, JobError>> + Send + 'static,
{
    let now = state.clock.now_seconds();
    let job = Job::start(kind, now);
    if !jobs::claim(state.store.as_ref(), hsm.vault_id, &job.id, now).await? {
        return Ok(None);
    }
    if let Err(e) = jobs::record(state.store.as_ref(), hsm.vault_id, &job, now).await {
        let _ = jobs::release(state.store.as_ref(), hsm.vault_id, &job.id, now).await;
        return Err(e);
    }
    let (state, vault_id, started) = (Arc::clone(state), hsm.vault_id, job.clone());
    tokio::spawn(async move {
        // The work, with a heartbeat beside it, in one task: no heartbeat is recorded after the end.
        let mut work = std::pin::pin!(work);
        let period = std::time::Duration::from_secs(HEARTBEAT_SECONDS);
        let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = beats.tick() => {
                    let now = state.clock.now_seconds();
                    let beating = started.clone().beat(now);
                    if let Err(e) = jobs::record(state.store.as_ref(), vault_id, &beating, now).await {
                        tracing::warn!(job = %started.id, "recording a Managed HSM job's heartbeat failed: {e}");
                    }
                }
            }
        };
        let now = state.clock.now_seconds();
        let ended = match outcome {
            Ok(folder_url) => started.succeed(now, folder_url),
            Err(error) => started.fail(now, error),
        };
        // Freed before the end is recorded, so that a client that saw the end may start the next job at once.
        if let Err(e) = jobs::release(state.store.as_ref(), vault_id, &ended.id, now).await {
            tracing::error!(job = %ended.id, "freeing the Managed HSM for its next job failed: {e}");
        }
        if let Err(e) = jobs::record(state.store.as_ref(), vault_id, &ended, now).await {
            tracing::error!(job = %ended.id, "recording the end of a Managed HSM job failed: {e}");
        }
    });
    Ok(Some(job))
}

/// The opened backup in the folder `folder` of `storage`, once `hsm` is admitted to it.
async fn read_backup(state: &AppState, hsm: &Hsm, storage: &Storage, folder: &str) -> Result<HsmBackup, JobError> {
    storage.admit(hsm)?;
    let sealed = folder::read(&storage.target.directory, folder).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => job_error(
            "BlobNotFound",
            format!("The backup folder {} does not exist.", storage.target.folder_url(folder)),
        ),
        _ => internal("reading the backup folder")(e),
    })?;
    HsmBackup::open(&state.backup_keys, &sealed, hsm.tenant_id).map_err(invalid_backup)
}

fn invalid_backup(e: strongroom_core::error::Error) -> JobError {
    job_error("InvalidBackup", e.message())
}

fn job_error(code: &str, message: impl Into<String>) -> JobError {
    JobError { code: code.into(), message: message.into() }
}

/// A failure of the server's own: logged with its cause, answered without it.
fn internal<E: std::fmt::Display>(context: &'static str) -> impl FnOnce(E) -> JobError {
    move |e| {
        tracing::error!("Managed HSM job: {context} failed: {e}");
        job_error("InternalError", "The operation failed because of an internal error; it wrote nothing.")
    }
}

/// `POST /backup`: starts a full backup to the container the body names.
pub async fn begin_backup(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let params: SasTokenParameter = parse_body(body, "SASTokenParameter")?;
    let storage = storage_of(cx, Some(params))?;
    let (state, hsm) = (Arc::clone(cx.state), hsm_of(cx));
    let work = async move { back_up(&state, &hsm, &storage).await.map(Some) };
    started(cx, JobKind::Backup, work).await
}

/// `POST /prebackup`: checks that a full backup to the container the body names would be allowed.
pub async fn begin_pre_backup(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let params: SasTokenParameter = parse_body(body, "PreBackupOperationParameters")?;
    let storage = storage_of(cx, Some(params))?;
    let hsm = hsm_of(cx);
    started(cx, JobKind::Backup, async move { storage.admit(&hsm).map(|()| None) }).await
}

/// `PUT /restore`: starts a full restore of the folder the body names.
pub async fn begin_restore(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let params: RestoreOperationParameters = parse_body(body, "RestoreOperationParameters")?;
    let (storage, folder) = restore_source(cx, params.sas_token_parameters, params.folder_to_restore)?;
    let (state, hsm) = (Arc::clone(cx.state), hsm_of(cx));
    let work = async move { restore(&state, &hsm, &storage, &folder, None).await.map(|()| None) };
    started(cx, JobKind::Restore, work).await
}

/// `PUT /prerestore`: checks that the folder the body names could be restored (it is there, opens and is
/// whole), writing nothing.
pub async fn begin_pre_restore(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let params: RestoreOperationParameters = parse_body(body, "PreRestoreOperationParameters")?;
    let (storage, folder) = restore_source(cx, params.sas_token_parameters, params.folder_to_restore)?;
    let (state, hsm) = (Arc::clone(cx.state), hsm_of(cx));
    let work = async move { check_restore(&state, &hsm, &storage, &folder).await.map(|()| None) };
    started(cx, JobKind::Restore, work).await
}

/// `PUT /keys/{name}/restore`: starts a restore of the one key `name` from the folder the body names.
pub async fn begin_selective_restore(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    strongroom_core::object::validate_name(name)?;
    let params: SelectiveKeyRestoreParameters = parse_body(body, "SelectiveKeyRestoreOperationParameters")?;
    let (storage, folder) = restore_source(cx, params.sas_token_parameters, params.folder)?;
    let (state, hsm, name) = (Arc::clone(cx.state), hsm_of(cx), name.to_owned());
    let work = async move { restore(&state, &hsm, &storage, &folder, Some(&name)).await.map(|()| None) };
    started(cx, JobKind::Restore, work).await
}

/// `GET /backup/{jobId}/pending` and `GET /restore/{jobId}/pending`: the job's state now.
pub async fn status(cx: &Context<'_>, kind: JobKind, job_id: &str) -> Result<Response, VaultError> {
    let now = cx.state.clock.now_seconds();
    let store = cx.state.store.as_ref();
    let mut job = jobs::find(store, cx.vault.id, job_id, now)
        .await?
        .filter(|job| job.kind == kind)
        .ok_or_else(|| VaultError::job_not_found(job_id))?;
    if job.is_orphaned(now) {
        // Its node stopped: the job ends now, and frees the HSM for the next.
        job = job.abandon(now);
        jobs::record(store, cx.vault.id, &job, now).await?;
        jobs::release(store, cx.vault.id, &job.id, now).await?;
    }
    Ok(Json(operation_of(&job)).into_response())
}

/// The HSM of the request.
fn hsm_of(cx: &Context<'_>) -> Hsm {
    Hsm { vault_id: cx.vault.id, tenant_id: cx.vault.tenant_id, name: cx.vault.name.clone() }
}

/// The declared target a request names, with the credential it sent; a request that names no declared target
/// or no credential is refused at once.
fn storage_of(cx: &Context<'_>, params: Option<SasTokenParameter>) -> Result<Storage, VaultError> {
    let params = params.ok_or_else(|| VaultError::bad_parameter("sasTokenParameters is required."))?;
    let uri = params
        .storage_resource_uri
        .filter(|uri| !uri.trim().is_empty())
        .ok_or_else(|| VaultError::bad_parameter("storageResourceUri is required."))?;
    let target = storage::find(&cx.state.backup_storage, &uri)?.clone();
    let sas_token = match (params.use_managed_identity.unwrap_or(false), params.token) {
        (true, _) => None,
        (false, Some(token)) if !token.is_empty() => Some(zeroize::Zeroizing::new(token)),
        (false, _) => {
            return Err(VaultError::bad_parameter("A SAS token is required unless useManagedIdentity is true."));
        }
    };
    Ok(Storage { target, sas_token })
}

/// What a restore reads: the target and the folder in it.
fn restore_source(
    cx: &Context<'_>,
    params: Option<SasTokenParameter>,
    folder: Option<String>,
) -> Result<(Storage, String), VaultError> {
    let storage = storage_of(cx, params)?;
    let folder = folder.ok_or_else(|| VaultError::bad_parameter("The folder to restore is required."))?;
    full_backup::validate_folder(&folder)?;
    Ok((storage, folder))
}

/// What a pre-restore checks: the same as a restore, up to the write.
async fn check_restore(state: &AppState, hsm: &Hsm, storage: &Storage, folder: &str) -> Result<(), JobError> {
    let backup = read_backup(state, hsm, storage, folder).await?;
    let proof = backup.security_domain.clone();
    let keys = backup.into_keys(None).map_err(invalid_backup)?;
    check_security_domain(state, hsm, proof.as_deref(), &keys).await
}

/// Checks that the backup was made in `hsm`'s security domain (its `proof` opens under the HSM's root) and that
/// every key's material opens there: a backup restores only into an HSM of the security domain it was made in,
/// as Managed HSM's do — its roles too, even when it holds no key whose material would not open.
async fn check_security_domain(
    state: &AppState,
    hsm: &Hsm,
    proof: Option<&str>,
    keys: &[KeyToRestore],
) -> Result<(), JobError> {
    let root = root(state, hsm).await?;
    if !proof.and_then(|proof| STANDARD.decode(proof).ok()).is_some_and(|proof| root.proves(&proof)) {
        return Err(job_error(
            "InvalidBackup",
            "The backup was made in an HSM of another security domain: it restores only into an HSM of that \
             security domain (upload it to a new HSM to restore the backup there).",
        ));
    }
    let versions = keys.iter().flat_map(|key| key.versions.iter().map(|(version, value)| (version, value.as_str())));
    KeySealing::Hsm(root).check_opens(versions).map_err(|e| job_error("InvalidBackup", e.message()))
}

/// The root of `hsm`, which a job runs in only once it is activated.
async fn root(state: &AppState, hsm: &Hsm) -> Result<Arc<HsmRoot>, JobError> {
    let root = super::security_domain::root_of(state, hsm.vault_id)
        .await
        .map_err(|e| internal("finding the HSM's root")(e.message().to_owned()))?;
    root.ok_or_else(|| internal("finding the HSM's root")("the HSM is not activated"))
}

/// Starts `work` as a job of `kind` and answers `202` with where to poll it.
async fn started<W>(cx: &Context<'_>, kind: JobKind, work: W) -> Result<Response, VaultError>
where
    W: Future<Output = Result<Option<String>, JobError>> + Send + 'static,
{
    let job = start(cx.state, &hsm_of(cx), kind, work).await?.ok_or_else(VaultError::job_in_progress)?;
    let status_url = format!("{}/{}/{}/pending?api-version={}", cx.base_url, kind.path(), job.id, cx.query.api_version);
    let headers = [
        (HeaderName::from_static("azure-asyncoperation"), HeaderValue::from_str(&status_url)),
        (header::RETRY_AFTER, Ok(HeaderValue::from_static(RETRY_AFTER_SECONDS))),
    ];
    let mut response = (StatusCode::ACCEPTED, Json(operation_of(&job))).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.map_err(VaultError::internal_because("a status URL is no header"))?);
    }
    Ok(response)
}

/// A job as the wire shows it.
fn operation_of(job: &Job) -> JobOperation {
    JobOperation {
        status: match job.status {
            JobStatus::InProgress => "InProgress",
            JobStatus::Succeeded => "Succeeded",
            JobStatus::Failed => "Failed",
        }
        .into(),
        status_details: job.status_details.clone(),
        error: job.error.as_ref().map(|e| ErrorDetail {
            code: e.code.clone(),
            message: e.message.clone(),
            innererror: None,
        }),
        start_time: job.start,
        end_time: job.end,
        job_id: job.id.clone(),
        azure_storage_blob_container_uri: (job.kind == JobKind::Backup).then(|| job.folder_url.clone()),
    }
}

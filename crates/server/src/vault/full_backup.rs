//! Managed HSM full backup and restore (`KeyVaultBackupClient`, `az keyvault backup start` / `restore start`):
//! what a job does, and how it runs in the background while the client polls.
//!
//! A backup reads every key of the HSM (all versions, deleted keys, rotation policies) in one read, seals it
//! ([`HsmBackup::seal`]) and writes it as a new folder of a declared storage target. A restore reads and opens
//! the whole folder before it writes anything, then replaces the HSM's keys (or the one key asked for) in one
//! store transaction: it succeeds whole or fails with nothing written.

pub mod folder;
pub mod jobs;

use std::future::Future;
use std::sync::Arc;

use strongroom_core::full_backup::job::{Job, JobError, JobKind};
use strongroom_core::full_backup::storage::{StorageAccess, StorageTarget};
use strongroom_core::full_backup::{self, BackedUpKey, HsmBackup};
use strongroom_store::{Place, Replacing, WholeObject};
use uuid::Uuid;

use crate::state::AppState;

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
    let backup = HsmBackup::new(&hsm.name, now_millis / 1000, keys);
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
    storage.admit(hsm)?;
    let sealed = folder::read(&storage.target.directory, folder).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => job_error(
            "BlobNotFound",
            format!("The backup folder {} does not exist.", storage.target.folder_url(folder)),
        ),
        _ => internal("reading the backup folder")(e),
    })?;
    let invalid = |e: strongroom_core::error::Error| job_error("InvalidBackup", e.message());
    let keys = HsmBackup::open(&state.backup_keys, &sealed, hsm.tenant_id).and_then(|b| b.into_keys(only));
    let objects = keys
        .map_err(invalid)?
        .into_iter()
        .map(|key| WholeObject { versions: key.versions, policy: key.policy, deleted: key.deleted })
        .collect();
    let replacing = match only {
        None => Replacing::Everything,
        Some(_) => Replacing::TheirNames,
    };
    state
        .store
        .replace_objects(Place::keys(hsm.vault_id), objects, replacing)
        .await
        .map_err(internal("writing the restored keys"))?;
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
    if !jobs::claim(state.store.as_ref(), hsm.vault_id, now).await? {
        return Ok(None);
    }
    let job = Job::start(kind, now);
    if let Err(e) = jobs::record(state.store.as_ref(), hsm.vault_id, &job, now).await {
        let _ = jobs::release(state.store.as_ref(), hsm.vault_id, now).await;
        return Err(e);
    }
    let (state, vault_id, started) = (Arc::clone(state), hsm.vault_id, job.clone());
    tokio::spawn(async move {
        let outcome = work.await;
        let now = state.clock.now_seconds();
        let ended = match outcome {
            Ok(folder_url) => started.succeed(now, folder_url),
            Err(error) => started.fail(now, error),
        };
        if let Err(e) = jobs::record(state.store.as_ref(), vault_id, &ended, now).await {
            tracing::error!(job = %ended.id, "recording the end of a Managed HSM job failed: {e}");
        }
        if let Err(e) = jobs::release(state.store.as_ref(), vault_id, now).await {
            tracing::error!(job = %ended.id, "freeing the Managed HSM for its next job failed: {e}");
        }
    });
    Ok(Some(job))
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

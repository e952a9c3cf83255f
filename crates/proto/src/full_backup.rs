//! Managed HSM full backup and restore (data-plane `backuprestore.json`): the requests that start them and the
//! long-running operations clients poll.

use serde::{Deserialize, Serialize};

use crate::keyvault::ErrorDetail;

/// Where a backup goes or a restore reads from: `SASTokenParameter`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SasTokenParameter {
    /// The blob container's URL.
    pub storage_resource_uri: Option<String>,
    /// A SAS token for it (never logged).
    pub token: Option<String>,
    /// Whether the HSM's own managed identity is used instead of a token.
    #[serde(default)]
    pub use_managed_identity: Option<bool>,
}

/// `PUT /restore` and `PUT /prerestore`: `RestoreOperationParameters`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOperationParameters {
    /// The container and the credential.
    pub sas_token_parameters: Option<SasTokenParameter>,
    /// The backup's folder in the container.
    pub folder_to_restore: Option<String>,
}

/// `PUT /keys/{name}/restore`: `SelectiveKeyRestoreOperationParameters`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectiveKeyRestoreParameters {
    /// The container and the credential.
    pub sas_token_parameters: Option<SasTokenParameter>,
    /// The backup's folder in the container.
    pub folder: Option<String>,
}

/// A backup's or restore's state: `FullBackupOperation`, `RestoreOperation`, `SelectiveKeyRestoreOperation`
/// (the last two without the container URI). Absent values are `null`, as Managed HSM answers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOperation {
    /// `InProgress`, `Succeeded` or `Failed`.
    pub status: String,
    /// A word on the job.
    pub status_details: Option<String>,
    /// Why it failed.
    pub error: Option<ErrorDetail>,
    /// When it started, Unix seconds.
    pub start_time: i64,
    /// When it ended, Unix seconds.
    pub end_time: Option<i64>,
    /// Its id.
    pub job_id: String,
    /// A backup's folder URL, once it succeeded (backups only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_storage_blob_container_uri: Option<Option<String>>,
}

//! Stage 5's back half for secrets: every operation, with Key Vault's JSON and status codes. Its [`Context`]
//! serves the keys operations too.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use strongroom_core::backup::{self, SecretBackup};
use strongroom_core::directory::Vault;
use strongroom_core::secret::{self, DeletedSecret, SecretProperties, SecretUpdate, SecretVersion};
use strongroom_proto::keyvault::{
    BackupBlob, DeletedSecretBundle, DeletedSecretItem, Deletion, Page, SecretAttributes, SecretBundle, SecretItem,
    SecretSetParameters, SecretUpdateParameters,
};
use strongroom_store::{PageRequest, Place, VersionSelector};
use zeroize::Zeroizing;

use super::error::VaultError;
use super::operation::{MAX_RESULTS, Query};
use crate::error::InternalFailure;
use crate::state::AppState;

/// What a secrets or keys operation works with.
pub struct Context<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// The vault.
    pub vault: &'a Vault,
    /// `https://{host}[:port]` as the client addressed the vault, for ids and links.
    pub base_url: &'a str,
    /// Query parameters.
    pub query: &'a Query,
}

impl Context<'_> {
    /// Where the vault's secrets are stored.
    fn place(&self) -> Place {
        Place::secrets(self.vault.id)
    }

    pub(super) fn attributes(&self, version: &SecretVersion) -> SecretAttributes {
        let (level, days) = secret::recovery_level(self.vault.soft_delete_retention_days, self.vault.purge_protection);
        SecretAttributes {
            enabled: Some(version.properties.enabled),
            nbf: version.properties.not_before,
            exp: version.properties.expires,
            created: Some(version.created),
            updated: Some(version.updated),
            recoverable_days: Some(days),
            recovery_level: Some(level.to_owned()),
        }
    }

    fn bundle(&self, version: &SecretVersion, value: Option<String>) -> SecretBundle {
        SecretBundle {
            value,
            id: [self.base_url, "/secrets/", &version.name, "/", &version.version].concat(),
            content_type: version.properties.content_type.clone(),
            attributes: self.attributes(version),
            tags: (!version.properties.tags.is_empty()).then(|| version.properties.tags.clone()),
            kid: None,
            managed: None,
        }
    }

    /// Whether `version` is a certificate's secret: only such secrets have a certificate's content type, and
    /// then the certificate's version of the same id says so (a cached read).
    async fn backs_a_certificate(&self, version: &SecretVersion) -> Result<bool, VaultError> {
        let certificate_type = matches!(
            version.properties.content_type.as_deref(),
            Some(strongroom_core::certificate::PKCS12 | strongroom_core::certificate::PEM)
        );
        if !certificate_type {
            return Ok(false);
        }
        let certificates = Place::certificates(self.vault.id);
        let selector = VersionSelector::Exact(&version.version);
        Ok(self.state.store.read_version(certificates, &version.name, selector).await?.is_some())
    }

    fn item(&self, version: &SecretVersion, with_version: bool) -> SecretItem {
        let id = match with_version {
            true => [self.base_url, "/secrets/", &version.name, "/", &version.version].concat(),
            false => format!("{}/secrets/{}", self.base_url, version.name),
        };
        SecretItem {
            id,
            attributes: self.attributes(version),
            tags: (!version.properties.tags.is_empty()).then(|| version.properties.tags.clone()),
            content_type: version.properties.content_type.clone(),
        }
    }

    fn deletion(&self, deleted: &DeletedSecret) -> Deletion {
        Deletion {
            recovery_id: format!("{}/deletedsecrets/{}", self.base_url, deleted.latest.name),
            deleted_date: deleted.deleted_date,
            scheduled_purge_date: deleted.scheduled_purge_date,
        }
    }

    fn deleted_bundle(&self, deleted: &DeletedSecret) -> DeletedSecretBundle {
        DeletedSecretBundle { bundle: self.bundle(&deleted.latest, None), deletion: self.deletion(deleted) }
    }

    pub(super) fn page_request(&self) -> PageRequest<'_> {
        PageRequest { after: self.query.skip_token.as_deref(), limit: self.query.max_results.unwrap_or(MAX_RESULTS) }
    }

    /// The absolute link to the page after `token` of the collection at `path`.
    pub(super) fn next_link(&self, path: &str, token: Option<String>) -> Option<String> {
        let token = token?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("api-version", &self.query.api_version).append_pair("$skiptoken", &token);
        if let Some(max) = self.query.max_results {
            query.append_pair("maxresults", &max.to_string());
        }
        Some(format!("{}{path}?{}", self.base_url, query.finish()))
    }
}

pub(super) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, VaultError> {
    serde_json::from_slice(body)
        .map_err(|e| VaultError::bad_parameter(format!("The request body is not a valid {what} object: {e}")))
}

/// The version a path names; a version id of the wrong shape cannot exist.
fn selector<'a>(name: &str, version: Option<&'a str>) -> Result<VersionSelector<'a>, VaultError> {
    match version {
        None => Ok(VersionSelector::Latest),
        Some(version) if secret::is_version(version) => Ok(VersionSelector::Exact(version)),
        Some(_) => Err(VaultError::secret_not_found(name)),
    }
}

/// `PUT /secrets/{name}`: a new version.
pub async fn set(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    secret::validate_name(name)?;
    let params: SecretSetParameters = parse_body(body, "SecretSetParameters")?;
    let value =
        params.value.ok_or_else(|| VaultError::bad_parameter("The secret value is required: 'value' is missing."))?;
    secret::validate_value(&value)?;
    let attributes = params.attributes.unwrap_or_default();
    let properties = SecretProperties {
        content_type: params.content_type,
        tags: params.tags.unwrap_or_default(),
        enabled: attributes.enabled.unwrap_or(true),
        not_before: attributes.nbf,
        expires: attributes.exp,
    };
    properties.validate()?;
    let now = cx.state.clock.now_seconds();
    let version =
        SecretVersion { name: name.to_owned(), version: secret::new_version(), properties, created: now, updated: now };
    let stored = cx
        .state
        .store
        .put_version(cx.place(), &version, &value)
        .await
        .map_err(|e| VaultError::from_secret_store(name, e))?;
    Ok(Json(cx.bundle(&stored, Some(value))).into_response())
}

/// `GET /secrets/{name}[/{version}]`.
pub async fn get(cx: &Context<'_>, name: &str, version: Option<&str>) -> Result<Response, VaultError> {
    let selector = selector(name, version)?;
    let (version, value) = cx
        .state
        .store
        .read_version(cx.place(), name, selector)
        .await?
        .ok_or_else(|| VaultError::secret_not_found(name))?;
    if !version.properties.enabled {
        return Err(VaultError::forbidden("Operation get is not allowed on a disabled secret.".to_owned()));
    }
    let managed = cx.backs_a_certificate(&version).await?;
    let mut bundle = cx.bundle(&version, Some(value.to_string()));
    if managed {
        bundle.kid = Some(format!("{}/keys/{}/{}", cx.base_url, version.name, version.version));
        bundle.managed = Some(true);
    }
    if let Some(format) = &cx.query.out_content_type {
        if !managed {
            return Err(VaultError::bad_parameter(format!(
                "outContentType '{format}' applies only to secrets that back a certificate; '{name}' does not."
            )));
        }
        if version.properties.content_type.as_deref() != Some(format.as_str()) {
            bundle.value = Some(strongroom_core::certificate::convert(&value, format)?);
            bundle.content_type = Some(format.clone());
        }
    }
    Ok(Json(bundle).into_response())
}

/// `PATCH /secrets/{name}[/{version}]`: properties only; the value never changes.
pub async fn update(cx: &Context<'_>, name: &str, version: Option<&str>, body: &[u8]) -> Result<Response, VaultError> {
    let selector = selector(name, version)?;
    let params: SecretUpdateParameters = parse_body(body, "SecretUpdateParameters")?;
    let attributes = params.attributes.unwrap_or_default();
    let update = SecretUpdate {
        content_type: params.content_type,
        tags: params.tags,
        enabled: attributes.enabled,
        not_before: attributes.nbf,
        expires: attributes.exp,
    };
    update.validate()?;
    let updated = cx
        .state
        .store
        .update_version(cx.place(), name, selector, &update, cx.state.clock.now_seconds())
        .await
        .map_err(|e| VaultError::from_secret_store(name, e))?
        .ok_or_else(|| VaultError::secret_not_found(name))?;
    Ok(Json(cx.bundle(&updated, None)).into_response())
}

/// `DELETE /secrets/{name}`: soft delete, with every version.
pub async fn delete(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let now = cx.state.clock.now_seconds();
    let purge_at = secret::scheduled_purge_date(now, cx.vault.soft_delete_retention_days);
    let deleted = cx
        .state
        .store
        .delete_object(&[cx.place()], name, now, purge_at)
        .await
        .map_err(|e| VaultError::from_secret_store(name, e))?
        .ok_or_else(|| VaultError::secret_not_found(name))?;
    Ok(Json(cx.deleted_bundle(&deleted)).into_response())
}

/// `GET /deletedsecrets/{name}`.
pub async fn get_deleted(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let deleted = cx
        .state
        .store
        .deleted_object(cx.place(), name)
        .await?
        .ok_or_else(|| VaultError::deleted_secret_not_found(name))?;
    Ok(Json(cx.deleted_bundle(&deleted)).into_response())
}

/// `GET /deletedsecrets`.
pub async fn list_deleted(cx: &Context<'_>) -> Result<Response, VaultError> {
    let page = cx.state.store.list_deleted(cx.place(), cx.page_request()).await?;
    let value = page
        .items
        .iter()
        .map(|deleted| DeletedSecretItem { item: cx.item(&deleted.latest, false), deletion: cx.deletion(deleted) })
        .collect();
    Ok(Json(Page { value, next_link: cx.next_link("/deletedsecrets", page.next) }).into_response())
}

/// `POST /deletedsecrets/{name}/recover`.
pub async fn recover(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let recovered = cx
        .state
        .store
        .recover_object(&[cx.place()], name)
        .await
        .map_err(|e| VaultError::from_secret_store(name, e))?
        .ok_or_else(|| VaultError::deleted_secret_not_found(name))?;
    Ok(Json(cx.bundle(&recovered, None)).into_response())
}

/// Refuses a purge in a vault with purge protection, as Key Vault words it.
pub(super) fn refuse_if_purge_protected(cx: &Context<'_>) -> Result<(), VaultError> {
    if !cx.vault.purge_protection {
        return Ok(());
    }
    Err(VaultError::forbidden(format!(
        "Operation \"purge\" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.\r\nVault: {};location=local",
        cx.vault.name
    )))
}

/// `DELETE /deletedsecrets/{name}`: gone for good, unless purge protection forbids it.
pub async fn purge(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    refuse_if_purge_protected(cx)?;
    let purged =
        cx.state.store.purge_object(&[cx.place()], name).await.map_err(|e| VaultError::from_secret_store(name, e))?;
    if !purged {
        return Err(VaultError::deleted_secret_not_found(name));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /secrets/{name}/backup`: every version in one sealed blob.
pub async fn backup(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    Ok(Json(backup_blob(cx, cx.place(), name, VaultError::secret_not_found).await?).into_response())
}

/// The backup blob of every version of the object `name` at `place`.
pub(super) async fn backup_blob(
    cx: &Context<'_>,
    place: Place,
    name: &str,
    not_found: fn(&str) -> VaultError,
) -> Result<BackupBlob, VaultError> {
    let history = cx.state.store.history(place, name).await?.ok_or_else(|| not_found(name))?;
    let canonical = history.first().map_or(name, |(v, _)| v.name.as_str()).to_owned();
    let versions = history.into_iter().map(|(version, value)| (version, value.to_string())).collect();
    seal_backup(cx, &SecretBackup::new(place.collection, &canonical, versions)?)
}

/// `backup` as a blob sealed under the installation's backup key.
pub(super) fn seal_backup(cx: &Context<'_>, backup: &impl serde::Serialize) -> Result<BackupBlob, VaultError> {
    let payload = Zeroizing::new(serde_json::to_vec(backup).map_err(VaultError::internal_while("encoding a backup"))?);
    let blob = cx
        .state
        .backup_keys
        .first()
        .ok_or_else(VaultError::internal_missing("this installation's backup key"))?
        .seal(cx.vault.tenant_id, &payload)?;
    Ok(BackupBlob { value: Some(URL_SAFE_NO_PAD.encode(blob)) })
}

/// The payload of the backup blob a restore request's `body` carries, opened with a trusted backup key — only
/// when it was made in this vault's tenant (Key Vault restores only within the subscription that backed up).
pub(super) fn open_backup(cx: &Context<'_>, body: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let params: BackupBlob = parse_body(body, "RestoreParameters")?;
    let encoded =
        params.value.ok_or_else(|| VaultError::bad_parameter("The backup blob is required: 'value' is missing."))?;
    let blob = URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(&encoded))
        .map_err(|_| VaultError::bad_parameter("The backup blob is not valid base64url."))?;
    Ok(Zeroizing::new(backup::open(&cx.state.backup_keys, &blob, cx.vault.tenant_id)?))
}

/// `POST /secrets/restore`: the secret of a backup blob, with every version, under its own name.
pub async fn restore(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let restored = restore_blob(cx, cx.place(), body, VaultError::from_secret_store).await?;
    Ok(Json(cx.bundle(&restored, None)).into_response())
}

/// Restores the object of the backup blob in `body` at `place`; `refusal` says why the store refused it.
pub(super) async fn restore_blob(
    cx: &Context<'_>,
    place: Place,
    body: &[u8],
    refusal: fn(&str, strongroom_store::Error) -> VaultError,
) -> Result<SecretVersion, VaultError> {
    let payload = open_backup(cx, body)?;
    let backup: SecretBackup = serde_json::from_slice(&payload)
        .map_err(|_| VaultError::bad_parameter("The backup blob is invalid: it does not hold a vault object."))?;
    let name = backup.name.clone();
    let versions =
        backup.into_versions(place.collection)?.into_iter().map(|(v, value)| (v, Zeroizing::new(value))).collect();
    cx.state.store.restore_object(vec![(place, versions)], None).await.map_err(|e| refusal(&name, e))
}

/// `GET /secrets`: the newest version of each secret, without values, ids without version.
pub async fn list(cx: &Context<'_>) -> Result<Response, VaultError> {
    let page = cx.state.store.list_objects(cx.place(), cx.page_request()).await?;
    Ok(Json(Page {
        value: page.items.iter().map(|v| cx.item(v, false)).collect(),
        next_link: cx.next_link("/secrets", page.next),
    })
    .into_response())
}

/// `GET /secrets/{name}/versions`: every version, without values.
pub async fn list_versions(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let page = cx.state.store.list_versions(cx.place(), name, cx.page_request()).await?;
    Ok(Json(Page {
        value: page.items.iter().map(|v| cx.item(v, true)).collect(),
        next_link: cx.next_link(&format!("/secrets/{name}/versions"), page.next),
    })
    .into_response())
}

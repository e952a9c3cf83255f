//! Secrets: setting a version is theirs; the rest of their lifecycle is [`lifecycle`](super::lifecycle)'s,
//! over [`Secrets`]. A read of a certificate's secret says so (`kid`, `managed`) and may convert it
//! (`outContentType`).

use axum::Json;
use axum::response::{IntoResponse, Response};
use strongroom_core::object::{self, Collection, DeletedObject, ObjectVersion, VersionProperties, VersionUpdate};
use strongroom_core::secret;
use strongroom_proto::keyvault::{
    DeletedSecretBundle, DeletedSecretItem, Deletion, SecretBundle, SecretItem, SecretSetParameters,
    SecretUpdateParameters,
};
use strongroom_store::{Place, VersionSelector};
use zeroize::Zeroizing;

use super::context::{Context, parse_body, tags_of};
use super::error::VaultError;
use super::lifecycle::{self, Kind, Restoring};

/// The kind of the vault's secrets.
pub struct Secrets;

impl Secrets {
    fn bundle(cx: &Context<'_>, version: &ObjectVersion, value: Option<String>) -> SecretBundle {
        SecretBundle {
            value,
            id: [cx.base_url, "/secrets/", &version.name, "/", &version.version].concat(),
            content_type: version.properties.content_type.clone(),
            attributes: cx.attributes(version),
            tags: tags_of(version),
            kid: None,
            managed: None,
        }
    }

    /// Whether `version` is a certificate's secret: only such secrets have a certificate's content type, and
    /// then the certificate's version of the same id says so (a cached read).
    async fn backs_a_certificate(cx: &Context<'_>, version: &ObjectVersion) -> Result<bool, VaultError> {
        let certificate_type = matches!(
            version.properties.content_type.as_deref(),
            Some(strongroom_core::certificate::PKCS12 | strongroom_core::certificate::PEM)
        );
        if !certificate_type {
            return Ok(false);
        }
        let certificates = Place::certificates(cx.vault.id);
        let selector = VersionSelector::Exact(&version.version);
        Ok(cx.state.store.read_version(certificates, &version.name, selector).await?.is_some())
    }
}

impl Kind for Secrets {
    const COLLECTION: Collection = Collection::Secrets;
    const LINKED: &'static [Collection] = &[Collection::Secrets];
    const NO_VERSIONS_IS_NOT_FOUND: bool = false;
    type Bundle = SecretBundle;
    type Item = SecretItem;
    type DeletedBundle = DeletedSecretBundle;
    type DeletedItem = DeletedSecretItem;
    type KeptPolicy = ();
    type Backup = strongroom_core::backup::ObjectBackup;

    fn not_found(name: &str) -> VaultError {
        VaultError::secret_not_found(name)
    }

    fn deleted_not_found(name: &str) -> VaultError {
        VaultError::deleted_secret_not_found(name)
    }

    fn refused(name: &str, error: strongroom_store::Error) -> VaultError {
        VaultError::from_secret_store(name, error)
    }

    /// The value of an enabled secret; a certificate's secret with its key's id, converted when
    /// `outContentType` asks.
    async fn read(
        cx: &Context<'_>,
        name: &str,
        version: ObjectVersion,
        value: Zeroizing<String>,
    ) -> Result<SecretBundle, VaultError> {
        if !version.properties.enabled {
            return Err(VaultError::forbidden("Operation get is not allowed on a disabled secret.".to_owned()));
        }
        let managed = Self::backs_a_certificate(cx, &version).await?;
        let mut bundle = Self::bundle(cx, &version, Some(value.to_string()));
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
        Ok(bundle)
    }

    async fn recovered(cx: &Context<'_>, version: ObjectVersion) -> Result<Response, VaultError> {
        Ok(Json(Self::bundle(cx, &version, None)).into_response())
    }

    fn deleted_bundle(
        cx: &Context<'_>,
        deleted: &DeletedObject,
        (): (),
        deletion: Deletion,
    ) -> Result<DeletedSecretBundle, VaultError> {
        Ok(DeletedSecretBundle { bundle: Self::bundle(cx, &deleted.latest, None), deletion })
    }

    fn item(cx: &Context<'_>, version: &ObjectVersion, with_version: bool) -> SecretItem {
        let id = match with_version {
            true => [cx.base_url, "/secrets/", &version.name, "/", &version.version].concat(),
            false => format!("{}/secrets/{}", cx.base_url, version.name),
        };
        SecretItem {
            id,
            attributes: cx.attributes(version),
            tags: tags_of(version),
            content_type: version.properties.content_type.clone(),
        }
    }

    fn deleted_item(item: SecretItem, deletion: Deletion) -> DeletedSecretItem {
        DeletedSecretItem { item, deletion }
    }

    async fn back_up(cx: &Context<'_>, name: &str) -> Result<Self::Backup, VaultError> {
        lifecycle::history_backup::<Self>(cx, lifecycle::place::<Self>(cx), name).await
    }

    fn restoring(cx: &Context<'_>, payload: &[u8]) -> Result<Restoring, VaultError> {
        lifecycle::restoring_one(lifecycle::place::<Self>(cx), payload)
    }
}

/// `PUT /secrets/{name}`: a new version.
pub async fn set(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    object::validate_name(name)?;
    let params: SecretSetParameters = parse_body(body, "SecretSetParameters")?;
    let value =
        params.value.ok_or_else(|| VaultError::bad_parameter("The secret value is required: 'value' is missing."))?;
    secret::validate_value(&value)?;
    let attributes = params.attributes.unwrap_or_default();
    let properties = VersionProperties {
        content_type: params.content_type,
        tags: params.tags.unwrap_or_default(),
        enabled: attributes.enabled.unwrap_or(true),
        not_before: attributes.nbf,
        expires: attributes.exp,
    };
    properties.validate()?;
    let version = ObjectVersion::new(name, properties, None, cx.state.clock.now_seconds());
    let stored = cx
        .state
        .store
        .put_version(lifecycle::place::<Secrets>(cx), &version, &value)
        .await
        .map_err(|e| VaultError::from_secret_store(name, e))?;
    Ok(Json(Secrets::bundle(cx, &stored, Some(value))).into_response())
}

/// `PATCH /secrets/{name}[/{version}]`: properties only; the value never changes.
pub async fn update(cx: &Context<'_>, name: &str, version: Option<&str>, body: &[u8]) -> Result<Response, VaultError> {
    let selector = lifecycle::selector::<Secrets>(name, version)?;
    let params: SecretUpdateParameters = parse_body(body, "SecretUpdateParameters")?;
    let attributes = params.attributes.unwrap_or_default();
    let update = VersionUpdate {
        content_type: params.content_type,
        metadata: None,
        tags: params.tags,
        enabled: attributes.enabled,
        not_before: attributes.nbf,
        expires: attributes.exp,
    };
    update.validate()?;
    let updated = lifecycle::update_version::<Secrets>(cx, name, selector, &update).await?;
    Ok(Json(Secrets::bundle(cx, &updated, None)).into_response())
}

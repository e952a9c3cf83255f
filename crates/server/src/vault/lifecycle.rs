//! The lifecycle every kind of vault object shares — read, list, list versions, delete, read and list the
//! deleted, recover, purge, back up and restore — written once over [`Kind`], which each kind's module
//! implements with what is its own: how a version renders, which objects go with it, what its backup holds.
//! An update is written by each kind (its request body is its own) around [`update_version`].

use std::future::Future;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::Serialize;
use strongroom_core::backup::{self, ObjectBackup};
use strongroom_core::object::{self, Collection, DeletedObject, ObjectVersion, VersionUpdate};
use strongroom_proto::keyvault::{BackupBlob, Deletion, Page};
use strongroom_store::{Place, VersionSelector, VersionWithValue};
use zeroize::Zeroizing;

use super::context::{Context, parse_body};
use super::error::VaultError;
use crate::error::InternalFailure;

/// What one kind of vault object (secrets, keys, certificates) brings to the shared lifecycle.
pub trait Kind {
    /// Where objects of this kind live.
    const COLLECTION: Collection;
    /// The collections whose object of the same name goes with one of this kind — deleted, recovered and
    /// purged with it, itself first (a certificate takes its key and its secret along).
    const LINKED: &'static [Collection];
    /// Whether listing the versions of an object that does not exist is an error (a secret's answers an empty
    /// page).
    const NO_VERSIONS_IS_NOT_FOUND: bool;

    /// A version as a read answers it.
    type Bundle: Serialize + Send;
    /// A version in a list.
    type Item: Serialize + Send;
    /// A deleted object's newest version.
    type DeletedBundle: Serialize + Send;
    /// A deleted object in a list.
    type DeletedItem: Serialize + Send;
    /// The policy kept with an object that its bundles show (a certificate's), read before a deletion hides
    /// it; a deleted object read later shows none.
    type KeptPolicy: Default + Send;
    /// What a backup blob of this kind holds.
    type Backup: Serialize + Send;

    /// No such (live) object.
    fn not_found(name: &str) -> VaultError;
    /// No such deleted object.
    fn deleted_not_found(name: &str) -> VaultError;
    /// Why the store refused a change to the object `name`.
    fn refused(name: &str, error: strongroom_store::Error) -> VaultError;

    /// The policy kept with the live object `name` that its bundles show.
    fn kept_policy(cx: &Context<'_>, name: &str) -> impl Future<Output = Result<Self::KeptPolicy, VaultError>> + Send {
        let _ = (cx, name);
        async { Ok(Self::KeptPolicy::default()) }
    }
    /// The answer to a read of `version` of the object the path names `name`, whose value is `value`.
    fn read(
        cx: &Context<'_>,
        name: &str,
        version: ObjectVersion,
        value: Zeroizing<String>,
    ) -> impl Future<Output = Result<Self::Bundle, VaultError>> + Send;
    /// The answer to a recovery or a restore, of which `version` is the newest.
    fn recovered(cx: &Context<'_>, version: ObjectVersion)
    -> impl Future<Output = Result<Response, VaultError>> + Send;
    /// The bundle of a deleted object's newest version (its value stays sealed), with the policy kept with it.
    fn deleted_bundle(
        cx: &Context<'_>,
        deleted: &DeletedObject,
        policy: Self::KeptPolicy,
        deletion: Deletion,
    ) -> Result<Self::DeletedBundle, VaultError>;
    /// A version in a list: its id with the version when `with_version`.
    fn item(cx: &Context<'_>, version: &ObjectVersion, with_version: bool) -> Self::Item;
    /// A deleted object in a list.
    fn deleted_item(item: Self::Item, deletion: Deletion) -> Self::DeletedItem;

    /// The backup of the live object `name`.
    fn back_up(cx: &Context<'_>, name: &str) -> impl Future<Output = Result<Self::Backup, VaultError>> + Send;
    /// What restoring the opened backup `payload` writes.
    fn restoring(cx: &Context<'_>, payload: &[u8]) -> Result<Restoring, VaultError>;
}

/// What a restore writes: objects with every version (each oldest first), and a policy kept with one of them.
pub struct Restoring {
    /// The name the backup holds, for the errors.
    pub name: String,
    /// The objects, the kind's own first.
    pub objects: Vec<(Place, Vec<VersionWithValue>)>,
    /// A policy to keep with its object, by place and name.
    pub policy: Option<(Place, String, String)>,
}

/// Where objects of `K` live in the request's vault.
pub(super) fn place<K: Kind>(cx: &Context<'_>) -> Place {
    Place { vault_id: cx.vault.id, collection: K::COLLECTION }
}

/// The object of `K` and those that go with it.
fn linked_places<K: Kind>(cx: &Context<'_>) -> Vec<Place> {
    K::LINKED.iter().map(|collection| Place { vault_id: cx.vault.id, collection: *collection }).collect()
}

/// The version a path names; a version id of the wrong shape cannot exist.
pub(super) fn selector<'a, K: Kind>(name: &str, version: Option<&'a str>) -> Result<VersionSelector<'a>, VaultError> {
    match version {
        None => Ok(VersionSelector::Latest),
        Some(version) if object::is_version(version) => Ok(VersionSelector::Exact(version)),
        Some(_) => Err(K::not_found(name)),
    }
}

/// The version of the live object `name` that a path names, with its value.
pub(super) async fn read_version<K: Kind>(
    cx: &Context<'_>,
    name: &str,
    version: Option<&str>,
) -> Result<VersionWithValue, VaultError> {
    let selector = selector::<K>(name, version)?;
    cx.state.store.read_version(place::<K>(cx), name, selector).await?.ok_or_else(|| K::not_found(name))
}

/// `GET /{collection}/{name}[/{version}]`.
pub async fn get<K: Kind>(cx: &Context<'_>, name: &str, version: Option<&str>) -> Result<Response, VaultError> {
    let (version, value) = read_version::<K>(cx, name, version).await?;
    Ok(Json(K::read(cx, name, version, value).await?).into_response())
}

/// Applies `update` to the version `selector` picks of the live object `name`, now.
pub(super) async fn update_version<K: Kind>(
    cx: &Context<'_>,
    name: &str,
    selector: VersionSelector<'_>,
    update: &VersionUpdate,
) -> Result<ObjectVersion, VaultError> {
    cx.state
        .store
        .update_version(place::<K>(cx), name, selector, update, cx.state.clock.now_seconds())
        .await
        .map_err(|e| K::refused(name, e))?
        .ok_or_else(|| K::not_found(name))
}

/// The items and the continuation token of one page of the newest version of each live object.
pub(super) async fn items<K: Kind>(cx: &Context<'_>) -> Result<(Vec<K::Item>, Option<String>), VaultError> {
    let page = cx.state.store.list_objects(place::<K>(cx), cx.page_request()).await?;
    Ok((page.items.iter().map(|v| K::item(cx, v, false)).collect(), page.next))
}

/// The path of the collection of `K`, for next links.
fn collection_path<K: Kind>() -> String {
    ["/", K::COLLECTION.as_str()].concat()
}

/// `GET /{collection}`: the newest version of each object, without values, ids without version.
pub async fn list<K: Kind>(cx: &Context<'_>) -> Result<Response, VaultError> {
    let (value, next) = items::<K>(cx).await?;
    Ok(Json(Page { value, next_link: cx.next_link(&collection_path::<K>(), next) }).into_response())
}

/// `GET /{collection}/{name}/versions`: every version, without values.
pub async fn list_versions<K: Kind>(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let page = cx.state.store.list_versions(place::<K>(cx), name, cx.page_request()).await?;
    if K::NO_VERSIONS_IS_NOT_FOUND && page.items.is_empty() && cx.query.skip_token.is_none() {
        return Err(K::not_found(name));
    }
    let value: Vec<K::Item> = page.items.iter().map(|v| K::item(cx, v, true)).collect();
    let path = format!("/{}/{name}/versions", K::COLLECTION.as_str());
    Ok(Json(Page { value, next_link: cx.next_link(&path, page.next) }).into_response())
}

/// Where a deleted object is recovered or purged, and when it was deleted and will be purged.
fn deletion<K: Kind>(cx: &Context<'_>, deleted: &DeletedObject) -> Deletion {
    Deletion {
        recovery_id: [cx.base_url, "/deleted", K::COLLECTION.as_str(), "/", &deleted.latest.name].concat(),
        deleted_date: deleted.deleted_date,
        scheduled_purge_date: deleted.scheduled_purge_date,
    }
}

/// `DELETE /{collection}/{name}`: soft delete, with every version and the objects that go with it.
pub async fn delete<K: Kind>(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let policy = K::kept_policy(cx, name).await?;
    let now = cx.state.clock.now_seconds();
    let purge_at = object::scheduled_purge_date(now, cx.vault.soft_delete_retention_days);
    let deleted = cx
        .state
        .store
        .delete_object(&linked_places::<K>(cx), name, now, purge_at)
        .await
        .map_err(|e| K::refused(name, e))?
        .ok_or_else(|| K::not_found(name))?;
    Ok(Json(K::deleted_bundle(cx, &deleted, policy, deletion::<K>(cx, &deleted))?).into_response())
}

/// `GET /deleted{collection}/{name}`.
pub async fn get_deleted<K: Kind>(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let deleted =
        cx.state.store.deleted_object(place::<K>(cx), name).await?.ok_or_else(|| K::deleted_not_found(name))?;
    Ok(Json(K::deleted_bundle(cx, &deleted, K::KeptPolicy::default(), deletion::<K>(cx, &deleted))?).into_response())
}

/// `GET /deleted{collection}`.
pub async fn list_deleted<K: Kind>(cx: &Context<'_>) -> Result<Response, VaultError> {
    let page = cx.state.store.list_deleted(place::<K>(cx), cx.page_request()).await?;
    let value: Vec<K::DeletedItem> = page
        .items
        .iter()
        .map(|deleted| K::deleted_item(K::item(cx, &deleted.latest, false), deletion::<K>(cx, deleted)))
        .collect();
    let path = ["/deleted", K::COLLECTION.as_str()].concat();
    Ok(Json(Page { value, next_link: cx.next_link(&path, page.next) }).into_response())
}

/// `POST /deleted{collection}/{name}/recover`: the object back, with those that go with it.
pub async fn recover<K: Kind>(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let recovered = cx
        .state
        .store
        .recover_object(&linked_places::<K>(cx), name)
        .await
        .map_err(|e| K::refused(name, e))?
        .ok_or_else(|| K::deleted_not_found(name))?;
    K::recovered(cx, recovered).await
}

/// Refuses a purge in a vault with purge protection, as Key Vault words it.
fn refuse_if_purge_protected(cx: &Context<'_>) -> Result<(), VaultError> {
    if !cx.vault.purge_protection {
        return Ok(());
    }
    Err(VaultError::forbidden(format!(
        "Operation \"purge\" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.\r\nVault: {};location=local",
        cx.vault.name
    )))
}

/// `DELETE /deleted{collection}/{name}`: gone for good with those that go with it, unless purge protection
/// forbids it.
pub async fn purge<K: Kind>(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    refuse_if_purge_protected(cx)?;
    let purged = cx.state.store.purge_object(&linked_places::<K>(cx), name).await.map_err(|e| K::refused(name, e))?;
    if !purged {
        return Err(K::deleted_not_found(name));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /{collection}/{name}/backup`: the object in one blob sealed under the installation's backup key and
/// bound to the vault's tenant.
pub async fn backup<K: Kind>(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let backup = K::back_up(cx, name).await?;
    let payload = Zeroizing::new(serde_json::to_vec(&backup).map_err(VaultError::internal_while("encoding a backup"))?);
    let blob = cx
        .state
        .backup_keys
        .first()
        .ok_or_else(VaultError::internal_missing("the installation's backup key"))?
        .seal(cx.vault.tenant_id, &payload)?;
    Ok(Json(BackupBlob { value: Some(URL_SAFE_NO_PAD.encode(blob)) }).into_response())
}

/// `POST /{collection}/restore`: the object of a backup blob, with every version, under its own name — all or
/// nothing. The blob opens only with a trusted backup key, and only when it was made in this vault's tenant
/// (Key Vault restores only within the subscription that backed up).
pub async fn restore<K: Kind>(cx: &Context<'_>, body: &[u8]) -> Result<Response, VaultError> {
    let params: BackupBlob = parse_body(body, "RestoreParameters")?;
    let encoded =
        params.value.ok_or_else(|| VaultError::bad_parameter("The backup blob is required: 'value' is missing."))?;
    let blob = URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(&encoded))
        .map_err(|_| VaultError::bad_parameter("The backup blob is not valid base64url."))?;
    let payload = Zeroizing::new(backup::open(&cx.state.backup_keys, &blob, cx.vault.tenant_id)?);
    let Restoring { name, objects, policy } = K::restoring(cx, &payload)?;
    let restored = cx.state.store.restore_object(objects, policy).await.map_err(|e| K::refused(&name, e))?;
    K::recovered(cx, restored).await
}

/// The backup of every version of the object `name` at `place`, a secret's or a key's.
pub(super) async fn history_backup<K: Kind>(
    cx: &Context<'_>,
    place: Place,
    name: &str,
) -> Result<ObjectBackup, VaultError> {
    let history = cx.state.store.history(place, name).await?.ok_or_else(|| K::not_found(name))?;
    backup_of(place.collection, name, history)
}

/// The backup of `history` (oldest first) of the object `name` of `collection`, under the name's first spelling.
pub(super) fn backup_of(
    collection: Collection,
    name: &str,
    history: Vec<VersionWithValue>,
) -> Result<ObjectBackup, VaultError> {
    let canonical = history.first().map_or(name, |(v, _)| v.name.as_str()).to_owned();
    let versions = history.into_iter().map(|(version, value)| (version, value.to_string())).collect();
    Ok(ObjectBackup::new(collection, &canonical, versions)?)
}

/// The versions of `backup` to restore at `place`, their values kept zeroized.
pub(super) fn versions_to_restore(backup: ObjectBackup, place: Place) -> Result<Vec<VersionWithValue>, VaultError> {
    Ok(backup.into_versions(place.collection)?.into_iter().map(|(v, value)| (v, Zeroizing::new(value))).collect())
}

/// What restoring the backup of one object (a secret or a key) at `place` writes.
pub(super) fn restoring_one(place: Place, payload: &[u8]) -> Result<Restoring, VaultError> {
    let backup: ObjectBackup = serde_json::from_slice(payload)
        .map_err(|_| VaultError::bad_parameter("The backup blob is invalid: it does not hold a vault object."))?;
    let name = backup.name.clone();
    Ok(Restoring { name, objects: vec![(place, versions_to_restore(backup, place)?)], policy: None })
}

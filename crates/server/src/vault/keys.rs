//! Keys: create, import, rotate, update and the cryptographic operations, with Key Vault's JSON; the rest of
//! their lifecycle is [`lifecycle`](super::lifecycle)'s, over [`Keys`]. Key material is sealed in the object
//! store like a secret value — in a Managed HSM, first under the HSM's root ([`KeySealing`]); the version's
//! metadata records, in clear, what lists and deleted keys show without unsealing: the key's type, curve and
//! permitted operations.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use strongroom_core::directory::VaultKind;
use strongroom_core::key::{
    CipherInput, Curve, EncryptionAlgorithm, KeySpec, KeyType, PrivateJwk, PrivateKey, SignatureAlgorithm,
};
use strongroom_core::object::{self, Collection, DeletedObject, ObjectVersion, VersionProperties, VersionUpdate};
use strongroom_core::release::ReleasePolicy;
use strongroom_core::security_domain::HsmRoot;
use strongroom_proto::keyvault::{
    DeletedKeyBundle, DeletedKeyItem, Deletion, JsonWebKey, KeyAttributes, KeyBundle, KeyCreateParameters,
    KeyImportParameters, KeyItem, KeyOperationParameters, KeyOperationResult, KeyReleasePolicy, KeyUpdateParameters,
    KeyVerifyResult, RandomBytes, RandomBytesRequest, Tags,
};
use strongroom_store::{Place, Store, VersionSelector};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::context::{Context, parse_body, tags_of};
use super::error::VaultError;
use super::lifecycle::{self, Kind, Restoring};
use super::operation::CryptoOperation;
use super::rotation;
use crate::error::InternalFailure;
use crate::state::AppState;

/// The kind of the vault's keys.
pub struct Keys;

impl Kind for Keys {
    const COLLECTION: Collection = Collection::Keys;
    const LINKED: &'static [Collection] = &[Collection::Keys];
    const NO_VERSIONS_IS_NOT_FOUND: bool = true;
    type Bundle = KeyBundle;
    type Item = KeyItem;
    type DeletedBundle = DeletedKeyBundle;
    type DeletedItem = DeletedKeyItem;
    type KeptPolicy = ();
    type Backup = strongroom_core::backup::ObjectBackup;

    fn not_found(name: &str) -> VaultError {
        VaultError::key_not_found(name)
    }

    fn deleted_not_found(name: &str) -> VaultError {
        VaultError::deleted_key_not_found(name)
    }

    fn refused(name: &str, error: strongroom_store::Error) -> VaultError {
        VaultError::from_key_store(name, error)
    }

    /// The public key and its attributes.
    async fn read(
        cx: &Context<'_>,
        _name: &str,
        version: ObjectVersion,
        sealed: Zeroizing<String>,
    ) -> Result<KeyBundle, VaultError> {
        let key = parsed(cx, &version, &sealed)?;
        bundle(cx, &version, Some(&key))
    }

    async fn recovered(cx: &Context<'_>, version: ObjectVersion) -> Result<Response, VaultError> {
        lifecycle::get::<Self>(cx, &version.name, Some(&version.version)).await
    }

    /// Its newest version's public facts (the material stays sealed).
    fn deleted_bundle(
        cx: &Context<'_>,
        deleted: &DeletedObject,
        (): (),
        deletion: Deletion,
    ) -> Result<DeletedKeyBundle, VaultError> {
        Ok(DeletedKeyBundle { bundle: bundle(cx, &deleted.latest, None)?, deletion })
    }

    fn item(cx: &Context<'_>, version: &ObjectVersion, with_version: bool) -> KeyItem {
        let kid = match with_version {
            true => kid(cx, version),
            false => format!("{}/keys/{}", cx.base_url, version.name),
        };
        let facts = facts(version).ok();
        KeyItem {
            kid,
            attributes: KeyAttributes {
                common: cx.attributes(version),
                exportable: Some(facts.as_ref().is_some_and(|f| f.exportable)),
            },
            tags: tags_of(version),
            managed: facts.is_some_and(|f| f.managed).then_some(true),
        }
    }

    fn deleted_item(item: KeyItem, deletion: Deletion) -> DeletedKeyItem {
        DeletedKeyItem { item, deletion }
    }

    /// Every version, private material included.
    async fn back_up(cx: &Context<'_>, name: &str) -> Result<Self::Backup, VaultError> {
        lifecycle::history_backup::<Self>(cx, place(cx), name).await
    }

    /// A restore holds to the key types the vault may hold, as a create or an import does, and its material
    /// must open here: a Managed HSM's key only in an HSM of the same security domain.
    fn restoring(cx: &Context<'_>, payload: &[u8]) -> Result<Restoring, VaultError> {
        let restoring = lifecycle::restoring_one(place(cx), payload)?;
        let sealing = KeySealing::of(cx)?;
        for (_, versions) in &restoring.objects {
            for (version, _) in versions {
                key_type_in(cx, facts(version)?.kty)?;
            }
            sealing.check_opens(versions.iter().map(|(version, value)| (version, value.as_str())))?;
        }
        Ok(restoring)
    }
}

/// What the server records about a key version (its metadata, in clear).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct KeyFacts {
    kty: KeyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<Curve>,
    key_ops: Vec<String>,
    /// Whether the key may be released; set at creation, never changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) exportable: bool,
    /// The release policy of an exportable key, as the client gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) release_policy: Option<KeyReleasePolicy>,
    /// Whether the key backs a certificate (and lives and dies with it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    managed: bool,
}

impl KeyFacts {
    fn new(key: &PrivateKey, key_ops: Option<Vec<String>>, release: Release) -> Result<Self, VaultError> {
        Ok(Self {
            kty: key.kty(),
            crv: key.curve(),
            key_ops: self::key_ops(key.kty(), key_ops)?,
            exportable: release.exportable,
            release_policy: release.policy,
            managed: false,
        })
    }
}

/// The version of a certificate's key: `key` under the certificate's name and version id, managed, with
/// `properties` (the certificate's attributes and tags), made at `now`; with its sealed value.
pub(super) fn certificate_key_version(
    key: &PrivateKey,
    name: &str,
    version: &str,
    properties: VersionProperties,
    now: i64,
) -> Result<(ObjectVersion, Zeroizing<String>), VaultError> {
    let facts = KeyFacts { managed: true, ..KeyFacts::new(key, None, Release::default())? };
    let version = ObjectVersion {
        version: version.to_owned(),
        ..ObjectVersion::new(name, properties, Some(metadata(&facts)?), now)
    };
    let sealed = sealed(&KeySealing::Vault, &version, key)?;
    Ok((version, sealed))
}

/// The key of a certificate's version, for a renewal that keeps it.
pub(super) async fn certificate_key(
    store: &dyn Store,
    vault_id: Uuid,
    name: &str,
    version: &str,
) -> Result<PrivateKey, VaultError> {
    let selector = VersionSelector::Exact(version);
    let (_, key) = load_from(store, &KeySealing::Vault, Place::keys(vault_id), name, selector).await?;
    Ok(key)
}

/// What seals a key version's material inside its stored value, beneath the store's own sealing: nothing more
/// in a vault; in a Managed HSM, the HSM's root, which its security domain carries, so that the material opens
/// only where that security domain was downloaded or uploaded.
#[derive(Clone)]
pub(super) enum KeySealing {
    /// A key vault's: the store's sealing alone.
    Vault,
    /// A Managed HSM's.
    Hsm(Arc<HsmRoot>),
}

impl KeySealing {
    /// The sealing of the request's vault or HSM.
    pub(super) fn of(cx: &Context<'_>) -> Result<Self, VaultError> {
        match (cx.vault.kind, &cx.hsm_root) {
            (VaultKind::Vault, _) => Ok(KeySealing::Vault),
            (VaultKind::ManagedHsm, Some(root)) => Ok(KeySealing::Hsm(Arc::clone(root))),
            (VaultKind::ManagedHsm, None) => Err(VaultError::not_activated(&cx.vault.name)),
        }
    }

    /// The sealing of the vault or HSM `vault_id`, away from a request (the rotation scheduler).
    pub(super) async fn of_vault(state: &AppState, vault_id: Uuid) -> Result<Self, VaultError> {
        let kind = state.directory().vaults().iter().find(|v| v.id == vault_id).map(|v| v.kind);
        match kind {
            Some(VaultKind::ManagedHsm) => match super::security_domain::root_of(state, vault_id).await? {
                Some(root) => Ok(KeySealing::Hsm(root)),
                None => Err(VaultError::internal_missing("an HSM's root for its keys")()),
            },
            _ => Ok(KeySealing::Vault),
        }
    }

    /// Checks that the material of each of `versions` (with their stored values) opens under this sealing: a
    /// key backed up in a Managed HSM of another security domain, or in the other kind of vault, does not.
    pub(super) fn check_opens<'v>(
        &self,
        versions: impl IntoIterator<Item = (&'v ObjectVersion, &'v str)>,
    ) -> Result<(), VaultError> {
        for (version, value) in versions {
            if material(self, version, value)?.is_none() {
                return Err(VaultError::bad_parameter(match self {
                    KeySealing::Vault => {
                        "The backup's key material does not open in a key vault: it was backed \
                                          up in a Managed HSM."
                    }
                    KeySealing::Hsm(_) => {
                        "The backup's key material does not open in this Managed HSM: it was \
                                           backed up in a key vault, or in an HSM of another security domain \
                                           (upload that security domain to a new HSM to restore it there)."
                    }
                }));
            }
        }
        Ok(())
    }
}

/// A key version's sealed material (the private key as PKCS#8 DER, or the AES key) as stored: base64, in a
/// vault; in a Managed HSM, sealed first under the HSM's root ([`HsmRoot::seal`]).
#[derive(Serialize, Deserialize)]
enum SealedKey {
    #[serde(rename = "material", alias = "pkcs8")]
    Plain(String),
    #[serde(rename = "hsm_material")]
    UnderHsmRoot(String),
}

/// The associated data binding a Managed HSM key's material to its name and version.
fn hsm_context(version: &ObjectVersion) -> String {
    format!("key/{}/{}", object::name_key(&version.name), version.version)
}

fn sealed(sealing: &KeySealing, version: &ObjectVersion, key: &PrivateKey) -> Result<Zeroizing<String>, VaultError> {
    let stored = match sealing {
        KeySealing::Vault => SealedKey::Plain(STANDARD.encode(key.material())),
        KeySealing::Hsm(root) => {
            SealedKey::UnderHsmRoot(STANDARD.encode(root.seal(key.material(), &hsm_context(version))?))
        }
    };
    serde_json::to_string(&stored)
        .map(Zeroizing::new)
        .map_err(VaultError::internal_while("encoding a key's sealed material"))
}

/// What a create or import says about release: exportable with a policy, or neither.
#[derive(Debug, Default)]
struct Release {
    exportable: bool,
    policy: Option<KeyReleasePolicy>,
}

impl Release {
    fn requested(attributes: Option<&KeyAttributes>, policy: Option<KeyReleasePolicy>) -> Result<Self, VaultError> {
        let exportable = attributes.and_then(|a| a.exportable).unwrap_or(false);
        match (exportable, policy) {
            (false, None) => Ok(Self::default()),
            (true, Some(policy)) => Ok(Self { exportable, policy: Some(checked_release_policy(policy)?) }),
            (true, None) => Err(VaultError::bad_parameter("An exportable key needs a release policy.")),
            (false, Some(_)) => Err(VaultError::bad_parameter("Only an exportable key has a release policy.")),
        }
    }
}

/// A release policy whose document parses as one, with its content type filled in.
fn checked_release_policy(mut policy: KeyReleasePolicy) -> Result<KeyReleasePolicy, VaultError> {
    let data = decode(policy.data.as_deref(), "release_policy.data")?;
    ReleasePolicy::parse(&data)?;
    policy.content_type.get_or_insert_with(|| "application/json; charset=utf-8".to_owned());
    Ok(policy)
}

pub(super) fn facts(version: &ObjectVersion) -> Result<KeyFacts, VaultError> {
    version
        .metadata
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .ok_or_else(VaultError::internal_missing("a key's readable metadata"))
}

pub(super) fn place(cx: &Context<'_>) -> Place {
    lifecycle::place::<Keys>(cx)
}

pub(super) fn kid(cx: &Context<'_>, version: &ObjectVersion) -> String {
    format!("{}/keys/{}/{}", cx.base_url, version.name, version.version)
}

pub(super) fn jwk(
    cx: &Context<'_>,
    version: &ObjectVersion,
    key: Option<&PrivateKey>,
) -> Result<JsonWebKey, VaultError> {
    let facts = facts(version)?;
    let public = key.map(PrivateKey::public_jwk).transpose()?.unwrap_or_default();
    Ok(JsonWebKey {
        kid: kid(cx, version),
        kty: facts.kty.as_str().to_owned(),
        key_ops: facts.key_ops,
        n: public.n,
        e: public.e,
        crv: facts.crv.map(|c| c.as_str().to_owned()),
        x: public.x,
        y: public.y,
    })
}

pub(super) fn bundle(
    cx: &Context<'_>,
    version: &ObjectVersion,
    key: Option<&PrivateKey>,
) -> Result<KeyBundle, VaultError> {
    let facts = facts(version)?;
    Ok(KeyBundle {
        key: jwk(cx, version, key)?,
        attributes: KeyAttributes { common: cx.attributes(version), exportable: Some(facts.exportable) },
        tags: tags_of(version),
        managed: facts.managed.then_some(true),
        release_policy: facts.release_policy,
    })
}

fn key_ops(kty: KeyType, requested: Option<Vec<String>>) -> Result<Vec<String>, VaultError> {
    let allowed = kty.operations();
    let ops = requested.unwrap_or_else(|| allowed.iter().map(|op| (*op).to_owned()).collect());
    match ops.iter().find(|op| !allowed.contains(&op.as_str())) {
        Some(op) => {
            Err(VaultError::bad_parameter(format!("The key operation '{op}' is not valid for a {} key.", kty.as_str())))
        }
        None => Ok(ops),
    }
}

fn metadata(facts: &KeyFacts) -> Result<String, VaultError> {
    serde_json::to_string(facts).map_err(VaultError::internal_while("encoding a key's metadata"))
}

/// Most parsed keys kept; past it the cache starts over.
const PARSED_KEYS: usize = 10_000;

/// Key versions' material, parsed once. A version's material never changes, so the parsed key is found by
/// vault, key name and version id; whether the version may be used (enabled, validity, permitted operations, not deleted)
/// is still decided from the store's answer on every request. Parsing costs as much as a signature (an RSA
/// key is checked, an EC key's public point computed), so this halves the work of a warm `sign`.
#[derive(Default)]
pub struct ParsedKeys {
    keys: RwLock<HashMap<(Uuid, String, String), PrivateKey>>,
}

impl ParsedKeys {
    fn entry(vault: Uuid, version: &ObjectVersion) -> (Uuid, String, String) {
        (vault, object::name_key(&version.name), version.version.clone())
    }

    fn get(&self, vault: Uuid, version: &ObjectVersion) -> Option<PrivateKey> {
        self.keys.read().ok()?.get(&Self::entry(vault, version)).cloned()
    }

    fn put(&self, vault: Uuid, version: &ObjectVersion, key: &PrivateKey) {
        let mut keys = self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if keys.len() >= PARSED_KEYS {
            keys.clear();
        }
        keys.insert(Self::entry(vault, version), key.clone());
    }
}

/// The version a path names, with its private key.
pub(super) async fn load(
    cx: &Context<'_>,
    name: &str,
    version: Option<&str>,
) -> Result<(ObjectVersion, PrivateKey), VaultError> {
    let (version, sealed) = lifecycle::read_version::<Keys>(cx, name, version).await?;
    let key = parsed(cx, &version, &sealed)?;
    Ok((version, key))
}

/// The private key a version's sealed value holds, parsed once per version; the request using it is weighed
/// by it against the service limits.
fn parsed(cx: &Context<'_>, version: &ObjectVersion, sealed: &str) -> Result<PrivateKey, VaultError> {
    let key = match cx.state.parsed_keys.get(cx.vault.id, version) {
        Some(key) => key,
        None => {
            let key = unseal(&KeySealing::of(cx)?, version, sealed)?;
            cx.state.parsed_keys.put(cx.vault.id, version, &key);
            key
        }
    };
    cx.weigh_key(&key);
    Ok(key)
}

/// The version of `name` at `place` that `selector` picks, with its private key.
async fn load_from(
    store: &dyn Store,
    sealing: &KeySealing,
    place: Place,
    name: &str,
    selector: VersionSelector<'_>,
) -> Result<(ObjectVersion, PrivateKey), VaultError> {
    let (version, sealed) =
        store.read_version(place, name, selector).await?.ok_or_else(|| VaultError::key_not_found(name))?;
    let key = unseal(sealing, &version, &sealed)?;
    Ok((version, key))
}

/// The key a version's sealed value holds; its material must open under `sealing`.
fn unseal(sealing: &KeySealing, version: &ObjectVersion, sealed: &str) -> Result<PrivateKey, VaultError> {
    let facts = facts(version)?;
    let material = material(sealing, version, sealed)?
        .ok_or_else(VaultError::internal_missing("key material that opens as its vault's kind seals it"))?;
    Ok(PrivateKey::from_material(facts.kty, facts.crv, &material)?)
}

/// The material a version's stored value holds, or `None` when `sealing` does not open it: material of the
/// other kind of vault, or of an HSM of another security domain.
fn material(
    sealing: &KeySealing,
    version: &ObjectVersion,
    sealed: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
    let stored: SealedKey =
        serde_json::from_str(sealed).map_err(VaultError::internal_because("a key's sealed material is unreadable"))?;
    let decode = |text: &str| {
        STANDARD
            .decode(text)
            .map(Zeroizing::new)
            .map_err(VaultError::internal_because("a key's material is not base64"))
    };
    Ok(match (sealing, stored) {
        (KeySealing::Vault, SealedKey::Plain(text)) => Some(decode(&text)?),
        (KeySealing::Hsm(root), SealedKey::UnderHsmRoot(text)) => {
            root.open(&decode(&text)?, &hsm_context(version)).ok()
        }
        _ => None,
    })
}

/// The key type a request for `kty` gets here: in a Managed HSM every key is a hardware key (`RSA` is made
/// `RSA-HSM`, as Managed HSM does); a vault refuses a type its SKU does not hold (`-HSM` keys need a premium
/// vault, as in Azure).
fn key_type_in(cx: &Context<'_>, kty: KeyType) -> Result<KeyType, VaultError> {
    match cx.vault.kind {
        VaultKind::ManagedHsm => Ok(kty.hsm()),
        // Symmetric keys are Managed HSM's alone: Key Vault refuses them in a vault of either SKU.
        VaultKind::Vault if matches!(kty, KeyType::Oct | KeyType::OctHsm) => {
            Err(VaultError::key_type_not_supported(kty))
        }
        VaultKind::Vault if cx.vault.sku.holds(kty) => Ok(kty),
        VaultKind::Vault => {
            Err(VaultError::forbidden("Hardware key operation not allowed on standard vault.".to_owned()))
        }
    }
}

/// `POST /keys/{name}/create`: a new key, or a new version of one.
pub async fn create(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    object::validate_name(name)?;
    let params: KeyCreateParameters = parse_body(body, "KeyCreateParameters")?;
    let kty = params.kty.as_deref().ok_or_else(|| VaultError::bad_parameter("The key type 'kty' is required."))?;
    let kty = key_type_in(cx, KeyType::parse(kty)?)?;
    let crv = params.crv.as_deref().map(Curve::parse).transpose()?;
    let spec = KeySpec { kty, size: params.key_size, public_exponent: params.public_exponent, curve: crv };
    let key = PrivateKey::generate(&spec)?;
    let release = Release::requested(params.attributes.as_ref(), params.release_policy)?;
    let facts = KeyFacts::new(&key, params.key_ops, release)?;
    let properties = new_properties(params.attributes, params.tags);
    store_new_version(cx, name, properties, &facts, &key).await
}

/// `PUT /keys/{name}`: a new version from an imported JWK with its private members.
pub async fn import(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    object::validate_name(name)?;
    let params: KeyImportParameters = parse_body(body, "KeyImportParameters")?;
    let jwk =
        params.key.ok_or_else(|| VaultError::bad_parameter("The key to import is required: 'key' is missing."))?;
    let jwk: PrivateJwk = serde_json::from_value(jwk)
        .map_err(|e| VaultError::bad_parameter(format!("The key to import is not a JSON Web Key: {e}")))?;
    let hsm = cx.vault.kind == VaultKind::ManagedHsm || params.hsm.unwrap_or(false);
    let key = PrivateKey::import(&jwk, hsm)?;
    key_type_in(cx, key.kty())?;
    let release = Release::requested(params.attributes.as_ref(), params.release_policy)?;
    let facts = KeyFacts::new(&key, jwk.key_ops.clone(), release)?;
    let properties = new_properties(params.attributes, params.tags);
    store_new_version(cx, name, properties, &facts, &key).await
}

/// `POST /keys/{name}/rotate`: a new version now.
pub async fn rotate(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let now = cx.state.clock.now_seconds();
    let (version, key) = rotate_in(cx.state.store.as_ref(), &KeySealing::of(cx)?, place(cx), name, now).await?;
    cx.weigh_key(&key);
    Ok(Json(bundle(cx, &version, Some(&key))?).into_response())
}

/// Makes a new version of the key `name` at `place`, at time `now`: new material of the same type and size or
/// curve, the same permitted operations and tags, enabled, and the expiry its rotation policy gives. The
/// rotate operation and the rotation scheduler both come here.
pub(super) async fn rotate_in(
    store: &dyn Store,
    sealing: &KeySealing,
    place: Place,
    name: &str,
    now: i64,
) -> Result<(ObjectVersion, PrivateKey), VaultError> {
    let (current, old) = load_from(store, sealing, place, name, VersionSelector::Latest).await?;
    let kty = facts(&current)?.kty;
    // RSA and AES keys keep their size, EC keys their curve.
    let size = match old.curve() {
        None => Some(u32::try_from(old.size_bits()?).map_err(VaultError::internal_while("reading a key's size"))?),
        Some(_) => None,
    };
    let key = PrivateKey::generate(&KeySpec { kty, size, public_exponent: None, curve: old.curve() })?;
    let policy = rotation::policy_of(store, place, name).await?;
    let expires = policy.and_then(|p| p.new_version_expiry(now));
    let properties = VersionProperties { enabled: true, not_before: None, expires, ..current.properties };
    let version = ObjectVersion::new(&current.name, properties, current.metadata, now);
    let version = seal_version(store, sealing, place, version, &key).await?;
    Ok((version, key))
}

/// The properties of a new version: the attributes and tags the request gave.
fn new_properties(attributes: Option<KeyAttributes>, tags: Option<Tags>) -> VersionProperties {
    let attributes = attributes.unwrap_or_default().common;
    VersionProperties {
        content_type: None,
        tags: tags.unwrap_or_default(),
        enabled: attributes.enabled.unwrap_or(true),
        not_before: attributes.nbf,
        expires: attributes.exp,
    }
}

/// Seals `key` as a new version of `name` with `properties` and `facts`, and answers with its bundle.
async fn store_new_version(
    cx: &Context<'_>,
    name: &str,
    properties: VersionProperties,
    facts: &KeyFacts,
    key: &PrivateKey,
) -> Result<Response, VaultError> {
    let version = ObjectVersion::new(name, properties, Some(metadata(facts)?), cx.state.clock.now_seconds());
    let stored = seal_version(cx.state.store.as_ref(), &KeySealing::of(cx)?, place(cx), version, key).await?;
    cx.weigh_key(key);
    Ok(Json(bundle(cx, &stored, Some(key))?).into_response())
}

/// Seals `key` as `version` at `place`.
async fn seal_version(
    store: &dyn Store,
    sealing: &KeySealing,
    place: Place,
    version: ObjectVersion,
    key: &PrivateKey,
) -> Result<ObjectVersion, VaultError> {
    version.properties.validate()?;
    let sealed = sealed(sealing, &version, key)?;
    store.put_version(place, &version, &sealed).await.map_err(|e| VaultError::from_key_store(&version.name, e))
}

/// `PATCH /keys/{name}[/{version}]`: attributes, tags and permitted operations; the key material never changes.
pub async fn update(cx: &Context<'_>, name: &str, version: Option<&str>, body: &[u8]) -> Result<Response, VaultError> {
    let params: KeyUpdateParameters = parse_body(body, "KeyUpdateParameters")?;
    let (current, key) = load(cx, name, version).await?;
    let mut facts = facts(&current)?;
    if let Some(ops) = params.key_ops {
        facts.key_ops = key_ops(facts.kty, Some(ops))?;
    }
    if let Some(policy) = params.release_policy {
        if !facts.exportable {
            return Err(VaultError::bad_parameter("Only an exportable key has a release policy."));
        }
        if facts.release_policy.as_ref().is_some_and(|p| p.immutable == Some(true)) {
            return Err(VaultError::bad_parameter("The key's release policy is immutable."));
        }
        facts.release_policy = Some(checked_release_policy(policy)?);
    }
    let attributes = params.attributes.unwrap_or_default().common;
    let update = VersionUpdate {
        content_type: None,
        metadata: Some(metadata(&facts)?),
        tags: params.tags,
        enabled: attributes.enabled,
        not_before: attributes.nbf,
        expires: attributes.exp,
    };
    update.validate()?;
    let updated =
        lifecycle::update_version::<Keys>(cx, name, VersionSelector::Exact(&current.version), &update).await?;
    Ok(Json(bundle(cx, &updated, Some(&key))?).into_response())
}

/// `POST /rng`: 1 to 128 bytes from the system's generator.
pub fn random_bytes(body: &[u8]) -> Result<Response, VaultError> {
    let request: RandomBytesRequest = parse_body(body, "GetRandomBytesRequest")?;
    let count = request
        .count
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| (1..=128).contains(n))
        .ok_or_else(|| VaultError::bad_parameter("'count' is required: a number of bytes from 1 to 128."))?;
    let mut bytes = vec![0u8; count];
    aws_lc_rs::rand::fill(&mut bytes).map_err(VaultError::internal_while("drawing random bytes"))?;
    Ok(Json(RandomBytes { value: URL_SAFE_NO_PAD.encode(bytes) }).into_response())
}

pub(super) fn decode(value: Option<&str>, what: &str) -> Result<Vec<u8>, VaultError> {
    let value = value.ok_or_else(|| VaultError::bad_parameter(format!("'{what}' is required.")))?;
    decode_optional(Some(value), what).map(Option::unwrap_or_default)
}

fn decode_optional(value: Option<&str>, what: &str) -> Result<Option<Vec<u8>>, VaultError> {
    value
        .map(|value| {
            URL_SAFE_NO_PAD
                .decode(value.trim_end_matches('='))
                .map_err(|_| VaultError::bad_parameter(format!("'{what}' is not base64url.")))
        })
        .transpose()
}

/// Refuses `operation` on a version that is disabled or outside its validity period.
pub(super) fn usable(version: &ObjectVersion, operation: &str, now: i64) -> Result<(), VaultError> {
    let properties = &version.properties;
    if !properties.enabled {
        return Err(VaultError::forbidden(format!("Operation {operation} is not allowed on a disabled key.")));
    }
    if properties.not_before.is_some_and(|nbf| now < nbf) || properties.expires.is_some_and(|exp| now >= exp) {
        return Err(VaultError::forbidden(format!(
            "Operation {operation} is not allowed on a key outside its validity period."
        )));
    }
    Ok(())
}

/// `POST /keys/{name}[/{version}]/{operation}`: a cryptographic operation with the key, if it is enabled, inside
/// its validity and permitted the operation.
pub async fn crypto(
    cx: &Context<'_>,
    name: &str,
    version: Option<&str>,
    operation: CryptoOperation,
    body: &[u8],
) -> Result<Response, VaultError> {
    let params: KeyOperationParameters = parse_body(body, "KeyOperationsParameters")?;
    let (version, key) = load(cx, name, version).await?;
    let op = operation.as_str();
    usable(&version, op, cx.state.clock.now_seconds())?;
    if !facts(&version)?.key_ops.iter().any(|permitted| permitted == op) {
        return Err(VaultError::key_operation_forbidden(op));
    }
    let alg = params.alg.as_deref().ok_or_else(|| VaultError::bad_parameter("The algorithm 'alg' is required."))?;
    let value = decode(params.value.as_deref(), "value")?;
    let (iv, aad, tag) = (
        decode_optional(params.iv.as_deref(), "iv")?,
        decode_optional(params.aad.as_deref(), "aad")?,
        decode_optional(params.tag.as_deref(), "tag")?,
    );
    let input = CipherInput { iv: iv.as_deref(), aad: aad.as_deref(), tag: tag.as_deref() };
    let encoded = |bytes: Option<Vec<u8>>| bytes.map(|b| URL_SAFE_NO_PAD.encode(b));
    let (output, iv, tag) = match operation {
        CryptoOperation::Sign => (key.sign(SignatureAlgorithm::parse(alg)?, &value)?, None, None),
        CryptoOperation::Verify => {
            let digest = decode(params.digest.as_deref(), "digest")?;
            let valid = key.verify(SignatureAlgorithm::parse(alg)?, &digest, &value)?;
            return Ok(Json(KeyVerifyResult { value: valid }).into_response());
        }
        CryptoOperation::Encrypt => {
            let encrypted = key.encrypt(EncryptionAlgorithm::parse(alg)?, &value, &input)?;
            (encrypted.value, encrypted.iv, encrypted.tag)
        }
        CryptoOperation::Decrypt => {
            (key.decrypt(EncryptionAlgorithm::parse(alg)?, &value, &input)?.to_vec(), None, None)
        }
        CryptoOperation::WrapKey => (key.wrap(EncryptionAlgorithm::parse(alg)?, &value)?, None, None),
        CryptoOperation::UnwrapKey => (key.unwrap_key(EncryptionAlgorithm::parse(alg)?, &value)?.to_vec(), None, None),
    };
    // GCM's additional data is echoed with its tag, as Managed HSM does.
    let aad = if tag.is_some() { encoded(aad) } else { None };
    Ok(Json(KeyOperationResult {
        kid: kid(cx, &version),
        value: URL_SAFE_NO_PAD.encode(output),
        iv: encoded(iv),
        tag: encoded(tag),
        aad,
    })
    .into_response())
}

//! The store's behaviour, checked on SQLite and — when `STRONGROOM_TEST_POSTGRES` names a server — on a
//! fresh PostgreSQL database per test.

use std::sync::Arc;

use strongroom_core::certificate::issuance::{Operation, PendingCertificate};
use strongroom_core::certificate::issuer::{Contact, Issuer, IssuerAttributes, IssuerCredentials};
use strongroom_core::certificate::policy::Policy;
use strongroom_core::directory::Change;
use strongroom_core::directory::{
    AuthorizationModel, DeletedVault, ResourceGroup, Sku, Subscription, Tags, Tenant, Vault,
};
use strongroom_core::key::{Curve, KeySpec, KeyType, PrivateKey};
use strongroom_core::network::NetworkRules;
use strongroom_core::object::{ObjectVersion, VersionProperties, VersionUpdate};
use strongroom_core::rbac::{Role, RolePermissions, hsm};
use tempfile::TempDir;
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::postgres::{PostgresStore, create_database};
use crate::seal::RootKey;
use crate::sql::schema::{POSTGRES, SQLITE};
use crate::sql::{Backend, SqlStore, values};
use crate::sqlite::{SqliteBackend, SqliteStore};
use crate::{Deletion, Ephemeral, IfLive, PageRequest, Place, Replacing, Store, VersionSelector};

/// The variable naming a PostgreSQL server for the tests.
pub(crate) const POSTGRES_ENV: &str = "STRONGROOM_TEST_POSTGRES";

fn io(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, "test", e)
}

fn corrupt(what: &str) -> Error {
    Error::new(ErrorKind::Corrupt, "test", what)
}

/// A first version of the object `name`.
pub(crate) fn version(name: &str) -> ObjectVersion {
    ObjectVersion::new(name, VersionProperties::default(), None, 1)
}

/// Adds a tenant with a subscription and its default resource group, and a vault in it; returns the vault's id.
pub(crate) async fn add_vault(store: &dyn Store) -> Result<Uuid> {
    let tenant = Tenant { id: Uuid::new_v4(), name: "t".into() };
    let subscription = Subscription { id: Uuid::new_v4(), tenant_id: tenant.id, name: "s".into(), is_default: true };
    let group = ResourceGroup {
        subscription_id: subscription.id,
        name: "strongroom".into(),
        location: "local".into(),
        tags: Tags::new(),
    };
    let vault = Vault {
        id: Uuid::new_v4(),
        kind: Default::default(),
        tenant_id: tenant.id,
        name: "v".into(),
        authorization: AuthorizationModel::Rbac,
        soft_delete_retention_days: 90,
        purge_protection: false,
        network: NetworkRules::default(),
        access_policies: Vec::new(),
        subscription_id: subscription.id,
        resource_group: group.name.clone(),
        location: group.location.clone(),
        sku: Sku::Premium,
        tags: Tags::from([("env".into(), "test".into())]),
    };
    let vault_id = vault.id;
    let changes = vec![
        Change::CreateTenant(tenant),
        Change::PutSubscription(subscription),
        Change::PutResourceGroup(group),
        Change::PutVault(vault),
    ];
    store.apply(changes).await?;
    Ok(vault_id)
}

/// A fresh PostgreSQL database's URL, or `None` (said once per test) when no server is configured. Under CI
/// (`CI=true`) a missing server is an error: the PostgreSQL half of a test never passes by skipping there.
pub(crate) async fn postgres_database() -> Result<Option<String>> {
    let Ok(url) = std::env::var(POSTGRES_ENV) else {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            return Err(Error::new(ErrorKind::Database, "test", format!("{POSTGRES_ENV} is not set under CI")));
        }
        eprintln!("{POSTGRES_ENV} is not set: the PostgreSQL half of this test is skipped");
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || create_database(&url))
        .await
        .map_err(|e| Error::new(ErrorKind::Database, "test", e))?
        .map(Some)
}

/// Each backend with one vault: SQLite always, PostgreSQL when configured.
async fn stores() -> Result<Vec<(Arc<dyn Store>, Uuid, TempDir)>> {
    let dir = tempfile::tempdir().map_err(io)?;
    let root = RootKey::load_or_create(&dir.path().join("root.key"))?;
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("strongroom.db"), root)?);
    let mut stores = vec![(Arc::clone(&sqlite), add_vault(sqlite.as_ref()).await?, dir)];
    if let Some(url) = postgres_database().await? {
        let dir = tempfile::tempdir().map_err(io)?;
        let root = RootKey::load_or_create(&dir.path().join("root.key"))?;
        let postgres: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url, None, root).await?);
        stores.push((Arc::clone(&postgres), add_vault(postgres.as_ref()).await?, dir));
    }
    Ok(stores)
}

#[tokio::test]
async fn secrets_list_by_name_with_paging() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        for name in ["c", "a", "b", "a"] {
            store.put_version(Place::secrets(vault), &version(name), "x").await?;
        }
        let first = store.list_objects(Place::secrets(vault), PageRequest { after: None, limit: 2 }).await?;
        let names: Vec<_> = first.items.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let second =
            store.list_objects(Place::secrets(vault), PageRequest { after: first.next.as_deref(), limit: 2 }).await?;
        assert_eq!(second.items.len(), 1);
        assert_eq!(second.next, None);
    }
    Ok(())
}

#[tokio::test]
async fn a_key_and_a_secret_of_one_name_are_separate_objects() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        let (secrets, keys) = (Place::secrets(vault), Place::keys(vault));
        store.put_version(secrets, &version("shared"), "secret value").await?;
        store.put_version(keys, &version("shared"), "key material").await?;
        let read = |place| store.read_version(place, "shared", VersionSelector::Latest);
        assert_eq!(read(secrets).await?.map(|(_, v)| v.to_string()).as_deref(), Some("secret value"));
        assert_eq!(read(keys).await?.map(|(_, v)| v.to_string()).as_deref(), Some("key material"));
        store.delete_object(&[keys], "shared", 1, 2).await?;
        assert!(read(keys).await?.is_none());
        assert!(read(secrets).await?.is_some(), "deleting the key leaves the secret");
        let listed = store.list_objects(secrets, PageRequest { after: None, limit: 25 }).await?;
        assert_eq!(listed.items.len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn deletion_hides_a_secret_until_it_is_recovered_or_purged() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        store.put_version(Place::secrets(vault), &version("Gone"), "v1").await?;
        let deleted = store
            .delete_object(&[Place::secrets(vault)], "gone", 100, 200)
            .await?
            .ok_or_else(|| corrupt("not deleted"))?;
        assert_eq!(
            (deleted.latest.name.as_str(), deleted.deleted_date, deleted.scheduled_purge_date),
            ("Gone", 100, 200)
        );
        assert!(store.read_version(Place::secrets(vault), "gone", VersionSelector::Latest).await?.is_none());
        assert!(
            store.list_objects(Place::secrets(vault), PageRequest { after: None, limit: 25 }).await?.items.is_empty()
        );
        assert_eq!(
            store.list_deleted(Place::secrets(vault), PageRequest { after: None, limit: 25 }).await?.items.len(),
            1
        );
        let refused = store.put_version(Place::secrets(vault), &version("gone"), "v2").await;
        assert!(refused.is_err_and(|e| e.kind() == ErrorKind::Deleted));
        assert!(store.delete_object(&[Place::secrets(vault)], "gone", 100, 200).await?.is_none());

        assert_eq!(
            store.recover_object(&[Place::secrets(vault)], "gone").await?.map(|v| v.name),
            Some("Gone".to_owned())
        );
        assert!(store.recover_object(&[Place::secrets(vault)], "gone").await?.is_none());
        assert!(!store.purge_object(&[Place::secrets(vault)], "gone").await?, "a live secret is not purged");

        store.delete_object(&[Place::secrets(vault)], "gone", 100, 200).await?;
        assert_eq!(store.purge_expired(199).await?, 0);
        assert_eq!(store.purge_expired(200).await?, 1);
        assert!(store.deleted_object(Place::secrets(vault), "gone").await?.is_none());
        store.put_version(Place::secrets(vault), &version("gone"), "reborn").await?;
    }
    Ok(())
}

#[tokio::test]
async fn restore_recreates_every_version_and_refuses_taken_names() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        let (first, second) = (version("kept"), version("kept"));
        store.put_version(Place::secrets(vault), &first, "one").await?;
        store.put_version(Place::secrets(vault), &second, "two").await?;
        let history = store.history(Place::secrets(vault), "kept").await?.ok_or_else(|| corrupt("no history"))?;
        assert_eq!(history.len(), 2);

        let taken = store.restore_object(vec![(Place::secrets(vault), history.clone())], None).await;
        assert!(taken.is_err_and(|e| e.kind() == ErrorKind::Conflict));
        store.delete_object(&[Place::secrets(vault)], "kept", 1, 2).await?;
        let deleted = store.restore_object(vec![(Place::secrets(vault), history.clone())], None).await;
        assert!(deleted.is_err_and(|e| e.kind() == ErrorKind::Deleted));
        store.purge_object(&[Place::secrets(vault)], "kept").await?;

        let newest = store.restore_object(vec![(Place::secrets(vault), history)], None).await?;
        assert_eq!(newest.version, second.version);
        let old = store.read_version(Place::secrets(vault), "kept", VersionSelector::Exact(&first.version)).await?;
        assert_eq!(old.map(|(_, v)| v.to_string()).as_deref(), Some("one"));
    }
    Ok(())
}

#[tokio::test]
async fn a_whole_collection_is_read_and_replaced_in_one_transaction() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        let keys = Place::keys(vault);
        let (first, second) = (version("Alpha"), version("alpha"));
        store.put_version(keys, &first, "a1").await?;
        store.put_version(keys, &second, "a2").await?;
        assert!(store.put_object_policy(keys, "alpha", r#"{"p":1}"#).await?);
        store.put_version(keys, &version("gone"), "g").await?;
        store.delete_object(&[keys], "gone", 10, 20).await?;
        store.put_version(Place::secrets(vault), &version("alpha"), "a secret").await?;

        let whole = store.whole_objects(keys).await?;
        assert_eq!(whole.len(), 2);
        let values: Vec<_> = whole[0].versions.iter().map(|(v, value)| (v.version.as_str(), value.as_str())).collect();
        assert_eq!(values, [(first.version.as_str(), "a1"), (second.version.as_str(), "a2")]);
        assert_eq!(whole[0].policy.as_deref(), Some(r#"{"p":1}"#));
        assert_eq!(whole[1].deleted, Some(Deletion { deleted_date: 10, scheduled_purge_date: 20 }));

        // Everything replaced, with a role restored beside: a later key goes, the others come back as they were;
        // secrets are untouched.
        let tenant_id = store.load_directory().await?.vaults().iter().find(|v| v.id == vault).map(|v| v.tenant_id);
        let role = |name: &str| -> Result<Change> {
            let permissions = RolePermissions {
                data_actions: vec!["Microsoft.KeyVault/managedHsm/keys/read/action".into()],
                ..RolePermissions::default()
            };
            let tenant_id = tenant_id.ok_or_else(|| corrupt("no vault"))?;
            let role = hsm::custom_role(tenant_id, vault, Uuid::new_v4(), name, "", permissions)
                .map_err(|e| Error::new(ErrorKind::Corrupt, "test", e))?;
            Ok(Change::PutRoleDefinition(Role::new(role)))
        };
        let restored_role = |name: &'static str| {
            let store = Arc::clone(&store);
            async move {
                let directory = store.load_directory().await?;
                Ok::<_, crate::Error>(directory.hsm_custom_roles(vault).any(|r| r.name == name))
            }
        };
        store.put_version(keys, &version("later"), "l").await?;
        store.replace_objects(keys, whole.clone(), Replacing::Everything, vec![role("restored")?]).await?;
        assert_eq!(store.whole_objects(keys).await?, whole);
        assert!(restored_role("restored").await?);
        assert!(store.read_version(Place::secrets(vault), "alpha", VersionSelector::Latest).await?.is_some());

        // A bad object anywhere, and nothing is written.
        store.put_version(keys, &version("later"), "l").await?;
        let before = store.whole_objects(keys).await?;
        let twice = vec![whole[1].clone(), whole[0].clone(), whole[0].clone()];
        let refused = store.replace_objects(keys, twice, Replacing::Everything, vec![role("never")?]).await;
        assert!(refused.is_err_and(|e| e.kind() == ErrorKind::Conflict));
        assert_eq!(store.whole_objects(keys).await?, before);
        assert!(!restored_role("never").await?, "the directory change went with the refused objects");

        // One name replaced: its later version goes, the other keys stay.
        store.put_version(keys, &version("alpha"), "a3").await?;
        store.replace_objects(keys, vec![whole[0].clone()], Replacing::TheirNames, Vec::new()).await?;
        let after = store.whole_objects(keys).await?;
        assert_eq!((after.len(), &after[0]), (3, &whole[0]));
        assert_eq!(after[1].deleted, whole[1].deleted);
    }
    Ok(())
}

#[tokio::test]
async fn updates_change_properties_not_values() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        store.put_version(Place::secrets(vault), &version("u"), "value").await?;
        let update = VersionUpdate { enabled: Some(false), ..Default::default() };
        let updated = store.update_version(Place::secrets(vault), "u", VersionSelector::Latest, &update, 99).await?;
        assert_eq!(updated.map(|v| (v.properties.enabled, v.updated)), Some((false, 99)));
        let (stored, value) = store
            .read_version(Place::secrets(vault), "u", VersionSelector::Latest)
            .await?
            .ok_or_else(|| corrupt("gone"))?;
        assert_eq!((stored.properties.enabled, value.as_str()), (false, "value"));
        assert!(
            store.update_version(Place::secrets(vault), "nope", VersionSelector::Latest, &update, 99).await?.is_none()
        );
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_writers_of_one_object_each_add_a_version() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        let writers = (0..8).map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for round in 0..5 {
                    store
                        .put_version(Place::secrets(vault), &version("contended"), &format!("{writer}-{round}"))
                        .await?;
                }
                Ok::<_, Error>(())
            })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.map_err(|e| Error::new(ErrorKind::Database, "test", e))??;
        }
        let history = store.history(Place::secrets(vault), "contended").await?.ok_or_else(|| corrupt("gone"))?;
        assert_eq!(history.len(), 40);
    }
    Ok(())
}

/// A certificate's version with its key's and secret's, under one version id.
fn certificate(vault: Uuid, name: &str) -> Vec<(Place, ObjectVersion, zeroize::Zeroizing<String>)> {
    let first = version(name);
    [Place::certificates(vault), Place::keys(vault), Place::secrets(vault)]
        .into_iter()
        .map(|place| (place, first.clone(), zeroize::Zeroizing::new(String::from("v"))))
        .collect()
}

#[tokio::test]
async fn a_certificate_and_a_plain_secret_or_key_never_share_a_name() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        let (secrets, keys) = (Place::secrets(vault), Place::keys(vault));
        store.put_version(secrets, &version("plain"), "mine").await?;
        let taken = store.put_linked_versions(certificate(vault, "plain"), None).await;
        assert!(taken.is_err_and(|e| e.kind() == ErrorKind::Conflict));
        assert!(store.read_version(keys, "plain", VersionSelector::Latest).await?.is_none(), "nothing written");

        store.put_linked_versions(certificate(vault, "cert"), None).await?;
        store.put_linked_versions(certificate(vault, "cert"), None).await?;
        let managed = |e: Error| e.kind() == ErrorKind::Managed;
        assert!(store.put_version(secrets, &version("cert"), "x").await.is_err_and(managed));
        assert!(store.put_version(keys, &version("cert"), "x").await.is_err_and(managed));
        let update = VersionUpdate { enabled: Some(false), ..VersionUpdate::default() };
        assert!(store.update_version(secrets, "cert", VersionSelector::Latest, &update, 2).await.is_err_and(managed));
        assert!(store.delete_object(&[secrets], "cert", 1, 2).await.is_err_and(managed));
        let linked = [Place::certificates(vault), keys, secrets];
        assert!(store.delete_object(&linked, "cert", 1, 2).await?.is_some(), "the certificate takes them along");
        assert!(store.purge_object(&[keys], "cert").await.is_err_and(managed));
        assert!(store.purge_object(&linked, "cert").await?);
        assert!(store.history(secrets, "cert").await?.is_none());
    }
    Ok(())
}

#[tokio::test]
async fn a_plain_secret_and_a_certificate_racing_for_a_name_do_not_both_win() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        for round in 0..10 {
            let name = format!("raced-{round}");
            let (one, two) = (Arc::clone(&store), Arc::clone(&store));
            let (plain_name, certificate_name) = (name.clone(), name.clone());
            let plain = tokio::spawn(async move {
                one.put_version(Place::secrets(vault), &version(&plain_name), "plain").await.is_ok()
            });
            let certifying =
                tokio::spawn(async move { two.put_linked_versions(certificate(vault, &certificate_name), None).await });
            let plain_won = plain.await.map_err(|e| Error::new(ErrorKind::Database, "test", e))?;
            let certificate_won = certifying.await.map_err(|e| Error::new(ErrorKind::Database, "test", e))?.is_ok();
            assert!(plain_won != certificate_won, "round {round}: exactly one takes the name");
            let history = store.history(Place::secrets(vault), &name).await?.ok_or_else(|| corrupt("gone"))?;
            assert_eq!(history.len(), 1, "round {round}: the secret holds one writer's version only");
        }
    }
    Ok(())
}

/// A pending request of the certificate `name` for a new key.
fn pending(name: &str) -> Result<PendingCertificate> {
    let policy: Policy = serde_json::from_str(r#"{"x509_props":{"subject":"CN=p"},"issuer":{"name":"Unknown"}}"#)
        .map_err(|e| corrupt(&e.to_string()))?;
    let spec = KeySpec { kty: KeyType::Ec, size: None, public_exponent: None, curve: Some(Curve::P256) };
    let key = PrivateKey::generate(&spec).map_err(|e| corrupt(e.message()))?;
    let operation = Operation::requested(policy.issuer.clone(), b"csr");
    Ok(PendingCertificate::new(name, policy, operation, key, 0))
}

fn issuer(name: &str, password: &str) -> Issuer {
    Issuer {
        name: name.to_owned(),
        provider: "DigiCert".to_owned(),
        credentials: Some(IssuerCredentials { account_id: None, pwd: Some(password.to_owned()) }),
        org_details: None,
        attributes: IssuerAttributes::default(),
    }
}

#[tokio::test]
async fn certificate_contacts_issuers_and_pending_requests_are_kept_per_vault_by_name() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        assert_eq!(store.certificate_contacts(vault).await?, None);
        store.set_certificate_contacts(vault, &[]).await?;
        assert_eq!(store.certificate_contacts(vault).await?, Some(Vec::new()), "an empty list is a list");
        let contact = Contact { email: "pki@contoso.com".into(), name: Some("PKI".into()), phone: None };
        store.set_certificate_contacts(vault, std::slice::from_ref(&contact)).await?;
        assert_eq!(store.certificate_contacts(vault).await?, Some(vec![contact]));
        assert!(store.delete_certificate_contacts(vault).await?);
        assert!(!store.delete_certificate_contacts(vault).await?);

        store.put_certificate_issuer(vault, &issuer("Zeta", "one")).await?;
        store.put_certificate_issuer(vault, &issuer("alpha", "two")).await?;
        store.put_certificate_issuer(vault, &issuer("ZETA", "three")).await?;
        let names: Vec<_> = store.certificate_issuers(vault).await?.into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["alpha", "ZETA"], "by name, one per name in any case");
        let zeta = store.certificate_issuer(vault, "zeta").await?.and_then(|i| i.credentials).and_then(|c| c.pwd);
        assert_eq!(zeta.as_deref(), Some("three"));
        assert!(store.delete_certificate_issuer(vault, "Alpha").await?);
        assert!(store.certificate_issuer(vault, "alpha").await?.is_none());

        store.put_pending_certificate(vault, &pending("Waiting")?).await?;
        let read = store.pending_certificate(vault, "WAITING").await?.ok_or_else(|| corrupt("no request"))?;
        assert_eq!(read.name, "Waiting");
        assert_eq!(store.pending_certificates(vault).await?.len(), 1);
        assert!(store.delete_pending_certificate(vault, "waiting").await?);
        assert!(!store.delete_pending_certificate(vault, "waiting").await?);
        assert!(store.pending_certificates(vault).await?.is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn a_purged_vault_takes_its_certificate_data_along() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        let directory = store.load_directory().await?;
        let first = directory.vaults().first().cloned().ok_or_else(|| corrupt("no vault"))?;
        let other = Uuid::new_v4();
        store.apply(vec![Change::PutVault(Vault { id: other, name: "w".into(), ..first })]).await?;
        for vault in [vault, other] {
            let contact = Contact { email: "pki@contoso.com".into(), name: None, phone: None };
            store.set_certificate_contacts(vault, &[contact]).await?;
            store.put_certificate_issuer(vault, &issuer("corp", "issuer-password")).await?;
            store.put_pending_certificate(vault, &pending("waiting")?).await?;
        }
        store.apply(vec![Change::PurgeVault { vault_id: vault }]).await?;
        assert!(store.certificate_contacts(vault).await?.is_none());
        assert!(store.certificate_issuers(vault).await?.is_empty());
        assert!(store.pending_certificates(vault).await?.is_empty());
        assert!(store.certificate_contacts(other).await?.is_some(), "another vault's data stays");
        assert_eq!(store.certificate_issuers(other).await?.len(), 1);
        assert_eq!(store.pending_certificates(other).await?.len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn a_soft_deleted_vault_keeps_its_objects_until_it_is_recovered_or_purged() -> Result<()> {
    for (store, vault_id, _dir) in stores().await? {
        store.put_version(Place::secrets(vault_id), &version("kept"), "value").await?;
        let directory = store.load_directory().await?;
        let vault = directory.vaults().iter().find(|v| v.id == vault_id).cloned().ok_or_else(|| corrupt("vault"))?;
        assert_eq!((vault.sku, vault.tags.get("env").map(String::as_str)), (Sku::Premium, Some("test")));
        store.apply(vec![Change::SoftDeleteVault(DeletedVault::of(vault.clone(), 1_000))]).await?;
        let directory = store.load_directory().await?;
        assert!(directory.vault("v").is_none(), "a deleted vault does not serve");
        let deleted = directory.deleted_vault("V").ok_or_else(|| corrupt("deleted vault"))?;
        assert_eq!((deleted.deleted_at, deleted.scheduled_purge), (1_000, 1_000 + 90 * 86_400));
        let rewritten = store.apply(vec![Change::PutVault(Vault { purge_protection: true, ..vault.clone() })]).await;
        assert!(rewritten.is_err_and(|e| e.kind() == ErrorKind::Conflict), "a deleted vault is not rewritten");
        let group = Change::DeleteResourceGroup { subscription_id: vault.subscription_id, name: "STRONGROOM".into() };
        store.apply(vec![Change::RecoverVault { vault_id }]).await?;
        assert!(store.apply(vec![group.clone()]).await.is_err_and(|e| e.kind() == ErrorKind::Conflict));
        let recovered = store.load_directory().await?;
        assert_eq!(recovered.vault("v"), Some(&vault));
        let read = store.read_version(Place::secrets(vault_id), "kept", VersionSelector::Latest).await?;
        assert_eq!(read.map(|(_, value)| value.to_string()).as_deref(), Some("value"));

        store.apply(vec![Change::SoftDeleteVault(DeletedVault::of(vault, 2_000))]).await?;
        store.apply(vec![Change::PurgeVault { vault_id }, group]).await?;
        let purged = store.load_directory().await?;
        assert!(purged.vault("v").is_none() && purged.deleted_vault("v").is_none());
        assert!(purged.resource_groups.is_empty(), "the emptied group was deleted");
        assert!(store.read_version(Place::secrets(vault_id), "kept", VersionSelector::Latest).await?.is_none());
        assert!(store.check_integrity().await?.problems.is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn a_setting_is_created_once() -> Result<()> {
    for (store, _, _dir) in stores().await? {
        assert!(store.create_sealed_setting("first", b"one").await?);
        assert!(!store.create_sealed_setting("first", b"two").await?);
        assert_eq!(store.sealed_setting("first").await?.map(|v| v.to_vec()), Some(b"one".to_vec()));
        store.put_sealed_setting("prefix/a", b"a").await?;
        store.put_sealed_setting("prefix/b", b"b").await?;
        let names: Vec<String> = store.sealed_settings("prefix/").await?.into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["prefix/a", "prefix/b"]);
    }
    Ok(())
}

#[tokio::test]
async fn a_copy_of_a_whole_store_restores_into_an_empty_one_of_either_kind() -> Result<()> {
    let dir = tempfile::tempdir().map_err(io)?;
    let source =
        SqliteStore::open(&dir.path().join("source.db"), RootKey::load_or_create(&dir.path().join("root.key"))?)?;
    let vault = add_vault(&source).await?;
    let kept = version("kept");
    source.put_version(Place::secrets(vault), &kept, "value-1").await?;
    source.put_version(Place::keys(vault), &version("key"), "material").await?;
    source.delete_object(&[Place::keys(vault)], "key", 10, 20).await?;
    source.put_sealed_setting("token-signing-keys", b"keys").await?;
    source.put_certificate_issuer(vault, &issuer("corp", "issuer-password")).await?;
    let copy = source.export_copy().await?;
    assert!(!copy.windows(7).any(|w| w == b"value-1"), "the copy is sealed");

    let mut targets: Vec<Arc<dyn Store>> = vec![Arc::new(SqliteStore::open(
        &dir.path().join("target.db"),
        RootKey::load_or_create(&dir.path().join("root.key"))?,
    )?)];
    if let Some(url) = postgres_database().await? {
        targets.push(Arc::new(
            PostgresStore::connect(&url, None, RootKey::load_or_create(&dir.path().join("root.key"))?).await?,
        ));
    }
    for target in targets {
        assert!(target.import_copy(copy.clone()).await? > 5);
        let read = target.read_version(Place::secrets(vault), "kept", VersionSelector::Exact(&kept.version)).await?;
        assert_eq!(read.map(|(_, v)| v.to_string()).as_deref(), Some("value-1"));
        assert!(target.deleted_object(Place::keys(vault), "key").await?.is_some());
        assert_eq!(target.sealed_setting("token-signing-keys").await?.map(|v| v.to_vec()), Some(b"keys".to_vec()));
        assert_eq!(target.certificate_issuers(vault).await?.len(), 1, "certificate data is copied too");
        assert_eq!(target.load_directory().await?.vaults().len(), 1);
        let integrity = target.check_integrity().await?;
        assert_eq!((integrity.objects, integrity.versions, integrity.problems), (2, 2, Vec::<String>::new()));
        let again = target.import_copy(copy.clone()).await;
        assert!(again.is_err_and(|e| e.kind() == ErrorKind::Conflict), "a store that is not empty is refused");
    }
    let stranger = tempfile::tempdir().map_err(io)?;
    let other =
        SqliteStore::open(&stranger.path().join("s.db"), RootKey::load_or_create(&stranger.path().join("root.key"))?)?;
    assert!(
        other.import_copy(copy).await.is_err_and(|e| e.kind() == ErrorKind::Corrupt),
        "another root key cannot read it"
    );
    Ok(())
}

#[tokio::test]
async fn short_lived_state_is_first_come_and_taken_once() -> Result<()> {
    const NOW: i64 = 1_900_000_000;
    async fn put(
        store: &Arc<dyn Store>,
        kind: &str,
        key: &str,
        value: &[u8],
        expires: i64,
        if_live: IfLive,
    ) -> Result<bool> {
        store.put_ephemeral(Ephemeral { kind, key, value, expires }, NOW, if_live).await
    }
    for (store, _, _dir) in stores().await? {
        let now = NOW;
        let later = now + 600;
        assert!(put(&store, "assertion-id", "client/jti-1", b"", later, IfLive::Keep).await?);
        assert!(!put(&store, "assertion-id", "client/jti-1", b"", later, IfLive::Keep).await?, "used once");
        assert!(put(&store, "assertion-id", "other/jti-1", b"", later, IfLive::Keep).await?);
        assert!(put(&store, "assertion-id", "client/jti-2", b"", now - 10, IfLive::Keep).await?);
        assert!(put(&store, "assertion-id", "client/jti-2", b"", later, IfLive::Keep).await?, "expired is gone");

        put(&store, "code", "abc", b"grant", later, IfLive::Replace).await?;
        put(&store, "code", "abc", b"grant-2", later, IfLive::Replace).await?;
        assert_eq!(store.ephemeral("code", "abc", now).await?.map(|v| v.to_vec()), Some(b"grant-2".to_vec()));
        assert_eq!(store.take_ephemeral("code", "abc", now).await?.map(|v| v.to_vec()), Some(b"grant-2".to_vec()));
        assert!(store.take_ephemeral("code", "abc", now).await?.is_none(), "taken once");
        put(&store, "code", "old", b"grant", now - 1, IfLive::Replace).await?;
        assert!(store.take_ephemeral("code", "old", now).await?.is_none(), "an expired entry is not taken");
    }
    Ok(())
}

#[tokio::test]
async fn an_upsert_never_moves_or_rewrites_another_tenants_row() -> Result<()> {
    use strongroom_core::rbac::{Role, RoleDefinition, RolePermissions};
    for (store, vault_id, _dir) in stores().await? {
        let directory = store.load_directory().await?;
        let victim = directory.vaults().iter().find(|v| v.id == vault_id).cloned().ok_or_else(|| corrupt("vault"))?;
        let attacker = Tenant { id: Uuid::new_v4(), name: "attacker".into() };
        store.apply(vec![Change::CreateTenant(attacker.clone())]).await?;
        let permissions =
            |pattern: &str| RolePermissions { data_actions: vec![pattern.to_owned()], ..RolePermissions::default() };
        let role_id = Uuid::new_v4();
        let own = RoleDefinition::custom(victim.tenant_id, role_id, "Reader of one", "", permissions("x/read"));
        store.apply(vec![Change::PutRoleDefinition(Role::new(own.map_err(|_| corrupt("role"))?))]).await?;

        let stolen = RoleDefinition::custom(attacker.id, role_id, "Everything", "", permissions("*"));
        let refused =
            store.apply(vec![Change::PutRoleDefinition(Role::new(stolen.map_err(|_| corrupt("role"))?))]).await;
        assert!(refused.is_err_and(|e| e.kind() == ErrorKind::Conflict));
        let moved =
            Vault { tenant_id: attacker.id, authorization: AuthorizationModel::AccessPolicies, ..victim.clone() };
        let refused = store.apply(vec![Change::PutVault(moved)]).await;
        assert!(refused.is_err_and(|e| e.kind() == ErrorKind::Conflict));

        let after = store.load_directory().await?;
        let role = after.role_definitions.iter().find(|r| r.id == role_id).ok_or_else(|| corrupt("role kept"))?;
        assert_eq!(
            (role.name.as_str(), role.kind),
            ("Reader of one", strongroom_core::rbac::RoleKind::Custom { tenant_id: victim.tenant_id })
        );
        assert_eq!(after.vaults().iter().find(|v| v.id == vault_id), Some(&victim));
    }
    Ok(())
}

/// What a database of the schema before the `metadata` column holds: a key, a certificate (with its key and its
/// secret) and a plain secret, written as the code of that time wrote them — a key's and a certificate's
/// metadata in `content_type`.
fn write_before_metadata(db: &mut dyn crate::sql::Database, old: &[&str], root: &RootKey, vault: Uuid) -> Result<()> {
    for (index, migration) in old.iter().enumerate() {
        db.execute_batch(migration)?;
        if index == 0 {
            db.execute("CREATE TABLE schema_version (version BIGINT NOT NULL)", &[])?;
        }
        db.execute("INSERT INTO schema_version (version) VALUES (?1)", values![index + 1])?;
    }
    let tenant = Uuid::new_v4();
    db.execute("INSERT INTO tenants (id, name, name_key) VALUES (?1, 't', 't')", values![tenant])?;
    db.execute(
        "INSERT INTO vaults (id, tenant_id, name, name_key, \"authorization\", retention_days, purge_protection, \
         network) VALUES (?1, ?2, 'v', 'v', 'rbac', 90, 0, '{\"default_action\":\"allow\",\"ip_rules\":[]}')",
        values![vault, tenant],
    )?;
    for (place, name, content_type, value) in old_objects(vault) {
        let scope = place.scope();
        let version = old_version(name);
        let sealed = root.seal(value.as_bytes(), &super::objects::context(place, name, &version))?;
        db.execute(
            "INSERT INTO objects (scope, vault_id, name_key, name) VALUES (?1, ?2, ?3, ?3)",
            values![&scope, vault, name],
        )?;
        db.execute(
            "INSERT INTO object_versions (scope, vault_id, name_key, name, version, seq, sealed_value, content_type, \
             tags, enabled, nbf, exp, created, updated) VALUES (?1, ?2, ?3, ?3, ?4, 1, ?5, ?6, '{}', 1, NULL, NULL, 1, 1)",
            values![&scope, vault, name, version, sealed, content_type],
        )?;
    }
    Ok(())
}

const OLD_KEY_FACTS: &str = r#"{"kty":"EC","crv":"P-256","key_ops":["sign","verify"]}"#;
const OLD_CERTIFICATE_FACTS: &str = r#"{"cer":"MIIB","secret_content_type":"application/x-pkcs12"}"#;

/// The objects [`write_before_metadata`] writes: place, name, content type as stored then, value.
fn old_objects(vault: Uuid) -> [(Place, &'static str, &'static str, &'static str); 5] {
    [
        (Place::keys(vault), "k", OLD_KEY_FACTS, "key material"),
        (Place::certificates(vault), "c", OLD_CERTIFICATE_FACTS, ""),
        (Place::keys(vault), "c", r#"{"kty":"RSA","key_ops":["sign"],"managed":true}"#, "certificate key"),
        (Place::secrets(vault), "c", "application/x-pkcs12", "certificate secret"),
        (Place::secrets(vault), "s", "text/plain", "plain secret"),
    ]
}

/// The migrations up to the one that added the metadata column.
fn before_metadata(migrations: &'static [&'static str]) -> &'static [&'static str] {
    let step = migrations.iter().position(|m| *m == super::schema::METADATA_COLUMN).unwrap_or(migrations.len());
    &migrations[..step]
}

/// The version id an old object's one version has.
fn old_version(name: &str) -> String {
    format!("{:0>32}", name.as_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[tokio::test]
async fn keys_and_certificates_of_the_schema_before_metadata_upgrade_with_it() -> Result<()> {
    let dir = tempfile::tempdir().map_err(io)?;
    let vault = Uuid::new_v4();
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    let root = RootKey::load_or_create(&dir.path().join("root.key"))?;
    let sqlite = SqliteBackend::open(&dir.path().join("old.db"))?;
    sqlite.run(true, &mut |db| write_before_metadata(db, before_metadata(SQLITE), &root, vault))?;
    stores.push(Arc::new(SqlStore::new(sqlite, root)?));
    if let Some(url) = postgres_database().await? {
        let root = RootKey::load_or_create(&dir.path().join("root.key"))?;
        let store = tokio::task::spawn_blocking(move || {
            let postgres = crate::postgres::backend_without_schema(&url)?;
            postgres.run(true, &mut |db| write_before_metadata(db, before_metadata(POSTGRES), &root, vault))?;
            SqlStore::new(postgres, root)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Database, "test", e))??;
        stores.push(Arc::new(store));
    }
    for store in stores {
        let read = |place, name| store.read_version(place, name, VersionSelector::Latest);
        for (place, name, _, value) in old_objects(vault) {
            let (version, stored) = read(place, name).await?.ok_or_else(|| corrupt("an old object is gone"))?;
            assert_eq!((version.version, stored.as_str()), (old_version(name), value));
        }
        let (key, _) = read(Place::keys(vault), "k").await?.ok_or_else(|| corrupt("key"))?;
        assert_eq!((key.metadata.as_deref(), key.properties.content_type), (Some(OLD_KEY_FACTS), None));
        let (certificate, _) = read(Place::certificates(vault), "c").await?.ok_or_else(|| corrupt("certificate"))?;
        assert_eq!(
            (certificate.metadata.as_deref(), certificate.properties.content_type),
            (Some(OLD_CERTIFICATE_FACTS), None)
        );
        let (managed_key, _) = read(Place::keys(vault), "c").await?.ok_or_else(|| corrupt("certificate's key"))?;
        assert!(
            managed_key.metadata.is_some_and(|m| m.contains("managed"))
                && managed_key.properties.content_type.is_none()
        );
        for (name, content_type) in [("c", "application/x-pkcs12"), ("s", "text/plain")] {
            let (secret, _) = read(Place::secrets(vault), name).await?.ok_or_else(|| corrupt("secret"))?;
            assert_eq!((secret.properties.content_type.as_deref(), secret.metadata), (Some(content_type), None));
        }
        let listed = store.list_objects(Place::keys(vault), PageRequest { after: None, limit: 25 }).await?;
        assert!(listed.items.iter().all(|v| v.metadata.is_some() && v.properties.content_type.is_none()));
        assert!(store.check_integrity().await?.problems.is_empty());
        // The vault is filed in the subscription its tenant was given, in the default group.
        let directory = store.load_directory().await?;
        let old = directory.vaults().iter().find(|v| v.id == vault).ok_or_else(|| corrupt("the old vault"))?;
        let subscription = directory.default_subscription(old.tenant_id).map(|s| s.id);
        assert_eq!((Some(old.subscription_id), old.resource_group.as_str()), (subscription, "strongroom"));
        assert!(directory.resource_group(old.subscription_id, "strongroom").is_some());
        assert_eq!((old.sku, old.location.as_str()), (Sku::Standard, "local"));
    }
    Ok(())
}

#[tokio::test]
async fn metadata_is_kept_apart_from_the_content_type_and_updated_with_it() -> Result<()> {
    for (store, vault, _dir) in stores().await? {
        let key = ObjectVersion::new("k", VersionProperties::default(), Some("{\"kty\":\"EC\"}".into()), 5);
        store.put_version(Place::keys(vault), &key, "material").await?;
        let update = VersionUpdate { metadata: Some("{\"kty\":\"RSA\"}".into()), ..VersionUpdate::default() };
        let updated = store.update_version(Place::keys(vault), "k", VersionSelector::Latest, &update, 9).await?;
        assert_eq!(updated.map(|v| (v.metadata, v.updated)), Some((Some("{\"kty\":\"RSA\"}".to_owned()), 9)));
        let (read, _) = store
            .read_version(Place::keys(vault), "k", VersionSelector::Latest)
            .await?
            .ok_or_else(|| corrupt("gone"))?;
        assert_eq!((read.metadata.as_deref(), read.properties.content_type), (Some("{\"kty\":\"RSA\"}"), None));
        let history = store.history(Place::keys(vault), "k").await?.ok_or_else(|| corrupt("no history"))?;
        assert_eq!(history[0].0.metadata, read.metadata);
    }
    Ok(())
}

fn webhook(name: &str) -> strongroom_core::events::EventSubscription {
    use strongroom_core::events::{DeliverySchema, SubscriptionSource};
    strongroom_core::events::EventSubscription {
        name: name.into(),
        endpoint: "https://hooks.example/kv".into(),
        included_event_types: None,
        subject_begins_with: None,
        subject_ends_with: None,
        schema: DeliverySchema::EventGrid,
        max_delivery_attempts: 30,
        event_time_to_live_minutes: 1440,
        source: SubscriptionSource::Api,
    }
}

fn event_types(entries: &[crate::OutboxEntry]) -> Vec<(String, String)> {
    let mut types: Vec<_> = entries.iter().map(|e| (e.subscription.name.clone(), e.event.event_type())).collect();
    types.sort();
    types
}

#[tokio::test]
async fn an_event_commits_with_its_change_or_not_at_all() -> Result<()> {
    use strongroom_core::events::{Happening, VaultEvent};
    for (store, vault, _dir) in stores().await? {
        // No subscription, no event.
        store.put_version(Place::secrets(vault), &version("before"), "x").await?;
        assert!(store.claim_events(i64::MAX / 2, 1000, 10).await?.is_empty());
        assert!(store.put_event_subscription(vault, &webhook("first")).await?);
        assert!(!store.put_event_subscription(vault, &webhook("First")).await?, "names compare in any case");
        assert!(store.put_event_subscription(vault, &webhook("second")).await?);
        let stored = store.put_version(Place::secrets(vault), &version("db"), "x").await?;
        // A certificate whose policy cannot be kept fails whole: its version and its event are both gone.
        let orphan_policy = Some((Place::certificates(vault), "nobody".to_owned(), "{}".to_owned()));
        assert!(store.put_linked_versions(certificate(vault, "tls"), orphan_policy).await.is_err());
        assert!(store.read_version(Place::certificates(vault), "tls", VersionSelector::Latest).await?.is_none());
        // So does a directory change that fails after its event.
        let event = VaultEvent::new(1, Happening::AccessPolicyChanged);
        let failing = vec![Change::RaiseEvent { vault_id: vault, event }, Change::RecoverVault { vault_id: vault }];
        assert!(store.apply(failing).await.is_err(), "the vault is not deleted");
        let claimed = store.claim_events(i64::MAX / 2, 1000, 10).await?;
        let expected = [
            ("First".to_owned(), "Microsoft.KeyVault.SecretNewVersionCreated".to_owned()),
            ("second".to_owned(), "Microsoft.KeyVault.SecretNewVersionCreated".to_owned()),
        ];
        assert_eq!(event_types(&claimed), expected);
        assert_eq!(claimed[0].event.id, claimed[1].event.id, "one event, one id, for every subscription");
        match &claimed[0].event.happening {
            Happening::Object { version, .. } => assert_eq!(version, &stored.version),
            other => return Err(corrupt(&format!("{other:?}"))),
        }
        // The certificate's version reports itself alone.
        store.put_linked_versions(certificate(vault, "tls"), None).await?;
        let certificates = store.claim_events(i64::MAX / 2, 1000, 10).await?;
        assert_eq!(certificates.len(), 2);
        assert!(certificates.iter().all(|e| e.event.event_type() == "Microsoft.KeyVault.CertificateNewVersionCreated"));
        // Deleting a subscription takes its events along.
        assert!(store.delete_event_subscription(vault, "SECOND").await?);
        assert!(!store.delete_event_subscription(vault, "second").await?);
        assert_eq!(store.event_subscriptions(Some(vault)).await?.len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn a_claim_holds_until_its_lease_ends_and_fences_a_late_claimer() -> Result<()> {
    use crate::EventOutcome;
    for (store, vault, _dir) in stores().await? {
        store.put_event_subscription(vault, &webhook("hook")).await?;
        let now = store.put_version(Place::keys(vault), &version("k"), "x").await?.created * 1000;
        let first = store.claim_events(now, 30_000, 10).await?;
        assert_eq!((first.len(), first[0].attempts), (1, 1));
        assert!(store.claim_events(now + 29_000, 30_000, 10).await?.is_empty(), "the lease holds");
        // The first claimer died: after the lease, another takes the event.
        let second = store.claim_events(now + 30_000, 30_000, 10).await?;
        assert_eq!((second.len(), second[0].attempts), (1, 2));
        assert!(!store.finish_event(&first[0], EventOutcome::Delivered).await?, "a lost claim records nothing");
        let retry = EventOutcome::Retry { due_millis: now + 100_000, error: "503".into() };
        assert!(store.finish_event(&second[0], retry).await?);
        assert!(store.claim_events(now + 99_000, 30_000, 10).await?.is_empty(), "not due yet");
        let third = store.claim_events(now + 100_000, 30_000, 10).await?;
        assert_eq!(third[0].last_error.as_deref(), Some("503"));
        let dead = EventOutcome::DeadLetter { at_millis: now + 100_001, error: "gone".into() };
        assert!(store.finish_event(&third[0], dead).await?);
        assert!(store.claim_events(i64::MAX / 2, 30_000, 10).await?.is_empty());
        let letters = store.dead_lettered_events(vault).await?;
        assert_eq!(letters.len(), 1);
        assert_eq!((letters[0].attempts, letters[0].last_error.as_deref()), (3, Some("gone")));
        assert_eq!(letters[0].dead_at, Some(now + 100_001));
        let delivered = store.put_version(Place::keys(vault), &version("k2"), "x").await?.created * 1000;
        let claimed = store.claim_events(delivered, 30_000, 10).await?;
        assert!(store.finish_event(&claimed[0], EventOutcome::Delivered).await?);
        assert!(store.claim_events(i64::MAX / 2, 30_000, 10).await?.is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn near_expiry_and_expiry_are_enqueued_once_per_version() -> Result<()> {
    use strongroom_core::object::VersionProperties;
    for (store, vault, _dir) in stores().await? {
        let now: i64 = 1_700_000_000;
        let expiring = |name: &str, exp: i64| {
            ObjectVersion::new(name, VersionProperties { expires: Some(exp), ..Default::default() }, None, now)
        };
        // Before any subscription nothing is marked: a later subscription still hears of it.
        store.put_version(Place::secrets(vault), &expiring("soon", now + 10 * 86_400), "x").await?;
        assert_eq!(store.enqueue_expiry_events(now * 1000).await?, 0);
        store.put_event_subscription(vault, &webhook("hook")).await?;
        store.put_version(Place::secrets(vault), &expiring("later", now + 100 * 86_400), "x").await?;
        store.put_version(Place::keys(vault), &expiring("gone", now - 1), "x").await?;
        let _ = store.claim_events(i64::MAX / 2, 1, 100).await?;
        assert_eq!(store.enqueue_expiry_events(now * 1000).await?, 2);
        assert_eq!(store.enqueue_expiry_events(now * 1000).await?, 0, "once per version");
        let due = store.claim_events(i64::MAX / 2, 1, 100).await?;
        let mut types = event_types(&due);
        types.dedup();
        let expected = [
            ("hook".to_owned(), "Microsoft.KeyVault.KeyExpired".to_owned()),
            ("hook".to_owned(), "Microsoft.KeyVault.SecretNearExpiry".to_owned()),
        ];
        assert_eq!(types, expected);
        assert_eq!(store.enqueue_expiry_events((now + 11 * 86_400) * 1000).await?, 1, "soon expired");
        assert_eq!(store.enqueue_expiry_events((now + 200 * 86_400) * 1000).await?, 1, "later expired, unwarned");
        assert_eq!(store.enqueue_expiry_events((now + 300 * 86_400) * 1000).await?, 0);
    }
    Ok(())
}

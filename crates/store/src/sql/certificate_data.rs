//! A vault's certificate data beside its objects: its contacts (one list per vault), its issuers and its
//! requests waiting for a CA (one row per name). Each record is the domain type's own JSON, sealed whole and
//! bound to its row: an issuer may hold a password, a pending request holds a private key, and contacts are
//! personal data. The rows go with their vault.
//!
//! Versions before these tables kept the same records as sealed settings named `{kind}/{vault id}[/{name}]`;
//! [`move_from_settings`] moves them here when a store opens (see the schema step that creates the tables).

use serde::Serialize;
use serde::de::DeserializeOwned;
use strongroom_core::certificate::issuance::PendingCertificate;
use strongroom_core::certificate::issuer::{Contact, Issuer};
use strongroom_core::object::name_key;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{Database, corrupt, setting_context, values};
use crate::error::{DatabaseContext, Error, ErrorKind, Result};
use crate::seal::RootKey;

/// A table of named records, one row per vault and name.
#[derive(Debug, Clone, Copy)]
pub(super) enum Named {
    /// `certificate_issuers`.
    Issuers,
    /// `pending_certificates`.
    Pending,
}

impl Named {
    fn table(self) -> &'static str {
        match self {
            Named::Issuers => "certificate_issuers",
            Named::Pending => "pending_certificates",
        }
    }
}

fn context(table: &str, vault_id: Uuid, key: &str) -> Vec<u8> {
    format!("{table}/{vault_id}/{key}").into_bytes()
}

fn sealed<T: Serialize>(root_key: &RootKey, record: &T, context: &[u8]) -> Result<Vec<u8>> {
    let json = Zeroizing::new(
        serde_json::to_vec(record).map_err(|e| Error::new(ErrorKind::Corrupt, "writing a certificate record", e))?,
    );
    root_key.seal(&json, context)
}

fn opened<T: DeserializeOwned>(root_key: &RootKey, sealed: &[u8], context: &[u8]) -> Result<T> {
    let json = root_key.open(sealed, context)?;
    serde_json::from_slice(&json).map_err(|e| corrupt(format_args!("a certificate record: {e}")))
}

/// The vault's certificate contacts, when they were set.
pub(super) fn contacts(db: &mut dyn Database, root_key: &RootKey, vault_id: Uuid) -> Result<Option<Vec<Contact>>> {
    let row = db
        .query_row("SELECT sealed_value FROM certificate_contacts WHERE vault_id = ?1", values![vault_id])
        .context("reading certificate contacts")?;
    let context = context("certificate_contacts", vault_id, "");
    row.map(|row| opened(root_key, &row.get::<Vec<u8>>(0)?, &context)).transpose()
}

/// Sets the vault's certificate contacts.
pub(super) fn put_contacts(
    db: &mut dyn Database,
    root_key: &RootKey,
    vault_id: Uuid,
    contacts: &[Contact],
) -> Result<()> {
    let sealed = sealed(root_key, &contacts, &context("certificate_contacts", vault_id, ""))?;
    db.execute(
        "INSERT INTO certificate_contacts (vault_id, sealed_value) VALUES (?1, ?2) \
         ON CONFLICT (vault_id) DO UPDATE SET sealed_value = ?2",
        values![vault_id, sealed],
    )
    .context("storing certificate contacts")
    .map(drop)
}

/// Forgets the vault's certificate contacts; `false` when there were none.
pub(super) fn delete_contacts(db: &mut dyn Database, vault_id: Uuid) -> Result<bool> {
    let deleted = db
        .execute("DELETE FROM certificate_contacts WHERE vault_id = ?1", values![vault_id])
        .context("deleting certificate contacts")?;
    Ok(deleted > 0)
}

/// Every record of the vault in `named`, by name.
pub(super) fn records<T: DeserializeOwned>(
    db: &mut dyn Database,
    root_key: &RootKey,
    named: Named,
    vault_id: Uuid,
) -> Result<Vec<T>> {
    let table = named.table();
    let rows = db
        .query(
            &format!("SELECT name_key, sealed_value FROM {table} WHERE vault_id = ?1 ORDER BY name_key"),
            values![vault_id],
        )
        .context("reading certificate records")?;
    rows.iter()
        .map(|row| opened(root_key, &row.get::<Vec<u8>>(1)?, &context(table, vault_id, &row.get::<String>(0)?)))
        .collect()
}

/// The record `name` of the vault in `named`.
pub(super) fn record<T: DeserializeOwned>(
    db: &mut dyn Database,
    root_key: &RootKey,
    named: Named,
    vault_id: Uuid,
    name: &str,
) -> Result<Option<T>> {
    let (table, key) = (named.table(), name_key(name));
    let row = db
        .query_row(
            &format!("SELECT sealed_value FROM {table} WHERE vault_id = ?1 AND name_key = ?2"),
            values![vault_id, &key],
        )
        .context("reading a certificate record")?;
    row.map(|row| opened(root_key, &row.get::<Vec<u8>>(0)?, &context(table, vault_id, &key))).transpose()
}

/// Keeps `record` as `name` of the vault in `named`, replacing what was there under the name in any case (the
/// name takes this spelling, as the record does).
pub(super) fn put_record<T: Serialize>(
    db: &mut dyn Database,
    root_key: &RootKey,
    named: Named,
    vault_id: Uuid,
    name: &str,
    record: &T,
) -> Result<()> {
    let (table, key) = (named.table(), name_key(name));
    let sealed = sealed(root_key, record, &context(table, vault_id, &key))?;
    db.execute(
        &format!(
            "INSERT INTO {table} (vault_id, name_key, name, sealed_value) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (vault_id, name_key) DO UPDATE SET name = ?3, sealed_value = ?4"
        ),
        values![vault_id, &key, name, sealed],
    )
    .context("storing a certificate record")
    .map(drop)
}

/// Removes the record `name` of the vault in `named`; `false` when there was none.
pub(super) fn delete_record(db: &mut dyn Database, named: Named, vault_id: Uuid, name: &str) -> Result<bool> {
    let table = named.table();
    let deleted = db
        .execute(
            &format!("DELETE FROM {table} WHERE vault_id = ?1 AND name_key = ?2"),
            values![vault_id, name_key(name)],
        )
        .context("deleting a certificate record")?;
    Ok(deleted > 0)
}

/// Removes everything of the vault's here (inside the vault's deletion).
pub(super) fn delete_vault_data(db: &mut dyn Database, vault_id: Uuid) -> Result<()> {
    for table in ["certificate_contacts", "certificate_issuers", "pending_certificates"] {
        db.execute(&format!("DELETE FROM {table} WHERE vault_id = ?1"), values![vault_id])
            .context("deleting a vault's certificate data")?;
    }
    Ok(())
}

/// The settings earlier versions kept this data in: `{kind}/{vault id}`, and for pending requests
/// `{kind}/{vault id}/{name key}`. An empty value was a forgotten record.
const OLD_SETTINGS: [&str; 3] = ["certificate-contacts/", "certificate-issuers/", "pending-certificate/"];

/// The issuers' setting: name key to the issuer's first spelling and the issuer.
type OldIssuers = std::collections::BTreeMap<String, (String, Issuer)>;

/// The contacts' setting.
#[derive(serde::Deserialize)]
struct OldContacts {
    #[serde(default)]
    contacts: Option<Vec<Contact>>,
}

/// Moves certificate data an earlier version kept as settings into the tables, in one transaction: the
/// records are opened and sealed again (a sealed value is bound to its row), then the settings go. Settings
/// of a vault that no longer exists are dropped. Idempotent: with nothing left to move it only looks.
pub(super) fn move_from_settings(db: &mut dyn Database, root_key: &RootKey) -> Result<()> {
    let lock = db.for_update();
    for prefix in OLD_SETTINGS {
        let rows = db
            .query(
                &format!("SELECT name, value FROM settings WHERE substr(name, 1, ?2) = ?1{lock}"),
                values![prefix, prefix.chars().count()],
            )
            .context("reading old certificate settings")?;
        for row in rows {
            let name: String = row.get(0)?;
            let value = root_key.open(&row.get::<Vec<u8>>(1)?, &setting_context(&name))?;
            move_setting(db, root_key, prefix, &name, &value)?;
            db.execute("DELETE FROM settings WHERE name = ?1", values![&name]).context("removing an old setting")?;
        }
    }
    Ok(())
}

fn move_setting(db: &mut dyn Database, root_key: &RootKey, prefix: &str, name: &str, value: &[u8]) -> Result<()> {
    let rest = name.strip_prefix(prefix).unwrap_or_default();
    let (vault, item) = rest.split_once('/').unwrap_or((rest, ""));
    let vault_id: Uuid = vault.parse().map_err(|_| corrupt(format_args!("the setting {name}")))?;
    let vault_exists =
        db.query_row("SELECT 1 FROM vaults WHERE id = ?1", values![vault_id]).context("finding a vault")?.is_some();
    if value.is_empty() || !vault_exists {
        return Ok(());
    }
    let read = |what: &str| corrupt(format_args!("the old {what} of vault {vault_id}"));
    match prefix {
        "certificate-contacts/" => {
            let old: OldContacts = serde_json::from_slice(value).map_err(|_| read("certificate contacts"))?;
            put_contacts(db, root_key, vault_id, &old.contacts.unwrap_or_default())
        }
        "certificate-issuers/" => {
            let old: OldIssuers = serde_json::from_slice(value).map_err(|_| read("certificate issuers"))?;
            old.into_values().try_for_each(|(name, mut issuer)| {
                issuer.name.clone_from(&name);
                put_record(db, root_key, Named::Issuers, vault_id, &name, &issuer)
            })
        }
        _ => {
            let mut pending: PendingCertificate =
                serde_json::from_slice(value).map_err(|_| read("pending certificate request"))?;
            if pending.name.is_empty() {
                item.clone_into(&mut pending.name);
            }
            let name = pending.name.clone();
            put_record(db, root_key, Named::Pending, vault_id, &name, &pending)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use strongroom_core::certificate::issuer::Contact;

    use super::super::schema::{POSTGRES, SQLITE};
    use super::*;
    use crate::Store;
    use crate::sql::tests::version;

    /// Where the schema step that creates these tables is, in `migrations`.
    pub(crate) fn step_of_the_tables(migrations: &[&str]) -> usize {
        migrations.iter().position(|m| m.contains("CREATE TABLE certificate_issuers")).unwrap_or(migrations.len())
    }

    #[test]
    fn both_dialects_have_the_step() {
        assert!(step_of_the_tables(SQLITE) < SQLITE.len());
        assert!(step_of_the_tables(POSTGRES) < POSTGRES.len());
    }

    /// Writes, in a database at the schema before the tables, a vault with what the settings of an earlier
    /// version held: contacts, two issuers, a pending request with its name and one without (the first
    /// versions'), a forgotten request (empty), and an orphan of a deleted vault. Returns the vault's id.
    pub(crate) fn write_old_certificate_settings(
        db: &mut dyn Database,
        root_key: &RootKey,
        pkcs8: &str,
    ) -> Result<Uuid> {
        let (tenant, vault) = (Uuid::new_v4(), Uuid::new_v4());
        db.execute("INSERT INTO tenants (id, name, name_key) VALUES (?1, 't', 't')", values![tenant])?;
        db.execute(
            "INSERT INTO vaults (id, tenant_id, name, name_key, \"authorization\", retention_days, purge_protection, \
             network) VALUES (?1, ?2, 'v', 'v', 'rbac', 90, 0, '{\"default_action\":\"allow\",\"ip_rules\":[]}')",
            values![vault, tenant],
        )?;
        let policy = r#"{"key_props":{"exportable":true,"kty":"EC","reuse_key":false,"crv":"P-256"},
            "secret_props":{"contentType":"application/x-pkcs12"},"x509_props":{"subject":"CN=w","ekus":[],
            "key_usage":[],"validity_months":12},"lifetime_actions":[],"issuer":{"name":"Unknown"}}"#;
        let operation =
            r#"{"issuer":{"name":"Unknown"},"csr":"Y3Ny","cancellation_requested":false,"status":"inProgress"}"#;
        let settings = [
            (format!("certificate-contacts/{vault}"), r#"{"contacts":[{"email":"pki@contoso.com"}]}"#.to_owned()),
            (
                format!("certificate-issuers/{vault}"),
                r#"{"corp":["Corp",{"provider":"Strongroom","credentials":{"pwd":"issuer-password"},
                "attributes":{"enabled":true,"created":1,"updated":1}}],"digi":["Digi",{"provider":"DigiCert"}]}"#
                    .to_owned(),
            ),
            (
                format!("pending-certificate/{vault}/waiting"),
                format!(r#"{{"name":"Waiting","policy":{policy},"operation":{operation},"pkcs8":"{pkcs8}"}}"#),
            ),
            (
                format!("pending-certificate/{vault}/nameless"),
                format!(r#"{{"policy":{policy},"operation":{operation},"pkcs8":"{pkcs8}","tags":{{"a":"b"}}}}"#),
            ),
            (format!("pending-certificate/{vault}/forgotten"), String::new()),
            (format!("certificate-issuers/{}", Uuid::new_v4()), r#"{"x":["X",{"provider":"P"}]}"#.to_owned()),
            ("token-signing-keys".to_owned(), "keys".to_owned()),
        ];
        for (name, value) in settings {
            let sealed = root_key.seal(value.as_bytes(), &setting_context(&name))?;
            db.execute("INSERT INTO settings (name, value) VALUES (?1, ?2)", values![&name, sealed])?;
        }
        Ok(vault)
    }

    /// Checks that what [`write_old_certificate_settings`] wrote reads from the tables, and the settings are
    /// gone but for the one that was not certificate data.
    pub(crate) async fn check_moved_certificate_data(store: &dyn Store, vault: Uuid) -> Result<()> {
        let contacts = store.certificate_contacts(vault).await?;
        assert_eq!(contacts, Some(vec![Contact { email: "pki@contoso.com".into(), name: None, phone: None }]));
        let issuers = store.certificate_issuers(vault).await?;
        let names: Vec<_> = issuers.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["Corp", "Digi"]);
        let corp = store.certificate_issuer(vault, "CORP").await?;
        assert_eq!(corp.and_then(|i| i.credentials).and_then(|c| c.pwd).as_deref(), Some("issuer-password"));
        let pending = store.pending_certificates(vault).await?;
        let names: Vec<_> = pending.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["nameless", "Waiting"], "the forgotten request is not moved");
        assert!(store.pending_certificate(vault, "waiting").await?.is_some());
        for prefix in OLD_SETTINGS {
            assert_eq!(store.sealed_settings(prefix).await?.len(), 0, "{prefix} settings are gone");
        }
        assert!(store.sealed_setting("token-signing-keys").await?.is_some(), "other settings stay");
        // The vault is usable as before, and deleting it takes the moved data along.
        store.put_version(crate::Place::secrets(vault), &version("s"), "v").await?;
        Ok(())
    }
}

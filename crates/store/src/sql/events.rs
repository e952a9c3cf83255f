//! The event outbox: a vault's event subscriptions, and one row per event and subscription written in the
//! same transaction as the change the event reports, so that a change and its events commit together or not
//! at all. A delivery worker claims due rows with a lease (`lease_until`): a node that dies mid-delivery
//! leaves its rows to whoever claims them after the lease. Delivered rows are deleted; a row that used up its
//! attempts stays, dead-lettered (`dead_at`), with its last error.

use strongroom_core::events::{
    CollectionName, EventSubscription, Happening, NEAR_EXPIRY_SECONDS, ObjectChange, VaultEvent,
};
use strongroom_core::object::{ObjectVersion, name_key};
use uuid::Uuid;

use super::{Database, Dialect, Row, corrupt, values};
use crate::error::{DatabaseContext, Result};
use crate::{Collection, EventOutcome, OutboxEntry, Place};

fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| corrupt(format_args!("encoding {what}: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(format_args!("a stored {what} does not read: {e}")))
}

/// Enqueues `event` of `vault_id` for each of the vault's subscriptions (none: nothing is written); returns
/// how many rows.
pub(super) fn enqueue(db: &mut dyn Database, vault_id: Uuid, event: &VaultEvent) -> Result<u64> {
    db.execute(
        "INSERT INTO event_outbox (event_id, vault_id, subscription, event, enqueued, due) \
         SELECT CAST(?1 AS TEXT), vault_id, name_key, CAST(?3 AS TEXT), CAST(?4 AS BIGINT), CAST(?4 AS BIGINT) FROM event_subscriptions WHERE vault_id = ?2",
        values![event.id, vault_id, encode("an event", event)?, event.time_millis],
    )
    .context("enqueueing an event")
}

/// Enqueues the `…NewVersionCreated` event of a version just stored at `place`.
pub(super) fn new_version(db: &mut dyn Database, place: Place, version: &ObjectVersion) -> Result<u64> {
    let event = VaultEvent::new(
        version.created.saturating_mul(1000),
        Happening::Object {
            change: ObjectChange::NewVersionCreated,
            collection: place.collection.into(),
            name: version.name.clone(),
            version: version.version.clone(),
            nbf: version.properties.not_before,
            exp: version.properties.expires,
        },
    );
    enqueue(db, place.vault_id, &event)
}

/// Keeps `subscription` for the vault, replacing one of the same name; `true` when it is new. A changed
/// subscription keeps the events waiting for it.
pub(super) fn put_subscription(
    db: &mut dyn Database,
    vault_id: Uuid,
    subscription: &EventSubscription,
) -> Result<bool> {
    let key = subscription.name.to_ascii_lowercase();
    let existed = db
        .query_row("SELECT 1 FROM event_subscriptions WHERE vault_id = ?1 AND name_key = ?2", values![vault_id, &key])
        .context("reading an event subscription")?
        .is_some();
    db.execute(
        "INSERT INTO event_subscriptions (vault_id, name_key, definition) VALUES (?1, ?2, ?3) \
         ON CONFLICT (vault_id, name_key) DO UPDATE SET definition = ?3",
        values![vault_id, key, encode("an event subscription", subscription)?],
    )
    .context("storing an event subscription")?;
    Ok(!existed)
}

/// The subscriptions of `vault_id`, or of every vault, by vault and name.
pub(super) fn subscriptions(db: &mut dyn Database, vault_id: Option<Uuid>) -> Result<Vec<(Uuid, EventSubscription)>> {
    let rows = match vault_id {
        Some(id) => db.query(
            "SELECT vault_id, definition FROM event_subscriptions WHERE vault_id = ?1 ORDER BY name_key",
            values![id],
        ),
        None => db.query("SELECT vault_id, definition FROM event_subscriptions ORDER BY vault_id, name_key", &[]),
    }
    .context("reading event subscriptions")?;
    rows.iter().map(|row| Ok((row.get(0)?, decode("event subscription", &row.get::<String>(1)?)?))).collect()
}

/// Removes a subscription with the events waiting for it (and its dead letters); `false` when there was none.
pub(super) fn delete_subscription(db: &mut dyn Database, vault_id: Uuid, name: &str) -> Result<bool> {
    let key = name.to_ascii_lowercase();
    db.execute("DELETE FROM event_outbox WHERE vault_id = ?1 AND subscription = ?2", values![vault_id, &key])
        .context("removing a subscription's events")?;
    let removed = db
        .execute("DELETE FROM event_subscriptions WHERE vault_id = ?1 AND name_key = ?2", values![vault_id, &key])
        .context("removing an event subscription")?;
    Ok(removed == 1)
}

/// Removes every subscription, event and marker of a vault being purged.
pub(super) fn purge_vault(db: &mut dyn Database, vault_id: Uuid) -> Result<()> {
    for table in ["event_outbox", "event_subscriptions", "event_marks"] {
        db.execute(&format!("DELETE FROM {table} WHERE vault_id = ?1"), values![vault_id])
            .context("purging a vault's events")?;
    }
    Ok(())
}

const ENTRY_COLUMNS: &str = "o.event_id, o.vault_id, o.event, o.enqueued, o.attempts, o.lease_until, o.dead_at, \
                             o.last_error, s.definition";

fn entry(row: &Row) -> Result<OutboxEntry> {
    Ok(OutboxEntry {
        vault_id: row.get(1)?,
        event: decode("event", &row.get::<String>(2)?)?,
        enqueued_millis: row.get(3)?,
        attempts: row.get(4)?,
        lease_until: row.get(5)?,
        dead_at: row.get(6)?,
        last_error: row.get(7)?,
        subscription: decode("event subscription", &row.get::<String>(8)?)?,
    })
}

/// Whether any row is due at `now_millis` and free to claim: a read, so that an idle worker's look every second
/// takes no write lock.
pub(super) fn any_due(db: &mut dyn Database, now_millis: i64) -> Result<bool> {
    Ok(db
        .query_row(
            "SELECT 1 FROM event_outbox WHERE dead_at IS NULL AND due <= ?1 AND lease_until <= ?1 LIMIT 1",
            values![now_millis],
        )
        .context("looking for due events")?
        .is_some())
}

/// Claims up to `limit` rows due at `now_millis` that no live lease holds, leasing them until
/// `now_millis + lease_millis` and counting the attempt. On PostgreSQL rows another node is claiming are
/// skipped rather than waited for.
pub(super) fn claim(
    db: &mut dyn Database,
    now_millis: i64,
    lease_millis: i64,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let skip_locked = match db.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE OF o SKIP LOCKED",
    };
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM event_outbox o JOIN event_subscriptions s \
         ON s.vault_id = o.vault_id AND s.name_key = o.subscription \
         WHERE o.dead_at IS NULL AND o.due <= ?1 AND o.lease_until <= ?1 ORDER BY o.due LIMIT ?2{skip_locked}"
    );
    let rows = db.query(&sql, values![now_millis, limit]).context("claiming events")?;
    let lease_until = now_millis.saturating_add(lease_millis);
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut entry = entry(row)?;
        let event_id: Uuid = row.get(0)?;
        db.execute(
            "UPDATE event_outbox SET lease_until = ?4, attempts = attempts + 1 \
             WHERE vault_id = ?1 AND subscription = ?2 AND event_id = ?3",
            values![entry.vault_id, entry.subscription.name.to_ascii_lowercase(), event_id, lease_until],
        )
        .context("leasing an event")?;
        entry.lease_until = lease_until;
        entry.attempts += 1;
        claimed.push(entry);
    }
    Ok(claimed)
}

/// Records what became of a claimed row — unless its lease was lost meanwhile (another node holds it now,
/// or delivered it already); `false` then.
pub(super) fn finish(db: &mut dyn Database, entry: &OutboxEntry, outcome: &EventOutcome) -> Result<bool> {
    let key = values![entry.vault_id, entry.subscription.name.to_ascii_lowercase(), entry.event.id, entry.lease_until]
        .to_vec();
    let held = "vault_id = ?1 AND subscription = ?2 AND event_id = ?3 AND lease_until = ?4";
    let written = match outcome {
        EventOutcome::Delivered => db.execute(&format!("DELETE FROM event_outbox WHERE {held}"), &key),
        EventOutcome::Retry { due_millis, error } => {
            let mut params = key.clone();
            params.extend_from_slice(values![*due_millis, error.as_str()]);
            db.execute(
                &format!("UPDATE event_outbox SET due = ?5, last_error = ?6, lease_until = 0 WHERE {held}"),
                &params,
            )
        }
        EventOutcome::DeadLetter { at_millis, error } => {
            let mut params = key.clone();
            params.extend_from_slice(values![*at_millis, error.as_str()]);
            db.execute(
                &format!("UPDATE event_outbox SET dead_at = ?5, last_error = ?6, lease_until = 0 WHERE {held}"),
                &params,
            )
        }
    }
    .context("recording an event's delivery")?;
    Ok(written == 1)
}

/// The dead-lettered events of a vault, oldest first.
pub(super) fn dead_letters(db: &mut dyn Database, vault_id: Uuid) -> Result<Vec<OutboxEntry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM event_outbox o JOIN event_subscriptions s \
         ON s.vault_id = o.vault_id AND s.name_key = o.subscription \
         WHERE o.vault_id = ?1 AND o.dead_at IS NOT NULL ORDER BY o.dead_at, o.event_id"
    );
    db.query(&sql, values![vault_id]).context("reading dead-lettered events")?.iter().map(entry).collect()
}

/// Enqueues the near-expiry and expiry events due at `now_millis` for the current version of every live
/// object of a vault with subscriptions, each once per version (a marker row says it was enqueued); returns
/// how many events. A version found already expired gets its expiry event only.
pub(super) fn enqueue_expiries(db: &mut dyn Database, now_millis: i64) -> Result<usize> {
    let now = now_millis.div_euclid(1000);
    let rows = db
        .query(
            "SELECT v.scope, v.name, v.version, v.nbf, v.exp, \
             EXISTS (SELECT 1 FROM event_marks m WHERE m.scope = v.scope AND m.name_key = v.name_key \
                     AND m.version = v.version AND m.change = 'NearExpiry') \
             FROM object_versions v JOIN objects o ON o.scope = v.scope AND o.name_key = v.name_key \
             WHERE o.deleted_at IS NULL AND v.exp IS NOT NULL AND v.exp <= ?1 \
             AND v.vault_id IN (SELECT vault_id FROM event_subscriptions) \
             AND v.seq = (SELECT MAX(w.seq) FROM object_versions w WHERE w.scope = v.scope AND w.name_key = v.name_key) \
             AND NOT EXISTS (SELECT 1 FROM event_marks m WHERE m.scope = v.scope AND m.name_key = v.name_key \
                             AND m.version = v.version AND m.change = 'Expired')",
            values![now.saturating_add(NEAR_EXPIRY_SECONDS)],
        )
        .context("finding versions near their expiry")?;
    let mut enqueued = 0;
    for row in &rows {
        let scope: String = row.get(0)?;
        let place = Place::parse_scope(&scope).ok_or_else(|| corrupt(format_args!("the scope {scope}")))?;
        let (name, version): (String, String) = (row.get(1)?, row.get(2)?);
        let (nbf, exp): (Option<i64>, i64) = (row.get(3)?, row.get(4)?);
        let near_sent: bool = row.get(5)?;
        let change = if exp <= now {
            ObjectChange::Expired
        } else if near_sent {
            continue;
        } else {
            ObjectChange::NearExpiry
        };
        // A version found expired is marked near-expiry as well: its near-expiry event would come too late.
        let marks: &[&str] = match change {
            ObjectChange::Expired if !near_sent => &["NearExpiry", "Expired"],
            ObjectChange::Expired => &["Expired"],
            _ => &["NearExpiry"],
        };
        for mark in marks {
            db.execute(
                "INSERT INTO event_marks (scope, vault_id, name_key, version, change) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT DO NOTHING",
                values![&scope, place.vault_id, name_key(&name), &version, *mark],
            )
            .context("marking an expiry event")?;
        }
        if is_managed(db, place, &name)? {
            // A certificate's key and secret are the certificate's: its own events report them.
            continue;
        }
        let collection: CollectionName = place.collection.into();
        let event =
            VaultEvent::new(now_millis, Happening::Object { change, collection, name, version, nbf, exp: Some(exp) });
        enqueue(db, place.vault_id, &event)?;
        enqueued += 1;
    }
    Ok(enqueued)
}

/// Whether the key or secret `name` at `place` is a certificate's.
fn is_managed(db: &mut dyn Database, place: Place, name: &str) -> Result<bool> {
    if place.collection == Collection::Certificates {
        return Ok(false);
    }
    let certificates = Place { collection: Collection::Certificates, ..place };
    Ok(db
        .query_row(
            "SELECT 1 FROM objects WHERE scope = ?1 AND name_key = ?2",
            values![certificates.scope(), name_key(name)],
        )
        .context("reading an object")?
        .is_some())
}

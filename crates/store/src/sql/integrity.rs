//! The integrity check: what a crash must never leave behind. The database's own check (SQLite's
//! `integrity_check` and `foreign_key_check`), then Strongroom's rules: every version belongs to an object and
//! every object has versions numbered 1, 2, … without a gap, and every sealed value opens with the root key
//! (a torn or foreign write would not).

use super::{Database, Dialect, Row, corrupt, objects, setting_context};
use crate::error::{DatabaseContext, Result};
use crate::seal::RootKey;
use crate::{Integrity, Place};

pub(super) fn check(db: &mut dyn Database, root_key: &RootKey) -> Result<Integrity> {
    let mut report = Integrity::default();
    if db.dialect() == Dialect::Sqlite {
        let rows = db.query("PRAGMA integrity_check", &[]).context("checking the database file")?;
        let verdict: Vec<String> = rows.iter().map(|r| r.get(0)).collect::<Result<_>>()?;
        if verdict != ["ok"] {
            report.problems.extend(verdict.into_iter().map(|line| format!("SQLite: {line}")));
        }
        let dangling = db.query("PRAGMA foreign_key_check", &[]).context("checking references")?;
        report.problems.extend(dangling.iter().map(|r| format!("a row of {} refers to nothing", describe(r))));
    }
    let orphans = db
        .query(
            "SELECT v.scope, v.name_key FROM object_versions v \
             LEFT JOIN objects o ON o.scope = v.scope AND o.name_key = v.name_key WHERE o.scope IS NULL",
            &[],
        )
        .context("finding versions without an object")?;
    report.problems.extend(orphans.iter().map(|r| format!("a version of {} has no object", describe(r))));
    let numbering = db
        .query(
            "SELECT o.scope, o.name_key, COUNT(v.seq), COALESCE(MIN(v.seq), 0), COALESCE(MAX(v.seq), 0) FROM objects o \
             LEFT JOIN object_versions v ON v.scope = o.scope AND v.name_key = o.name_key \
             GROUP BY o.scope, o.name_key",
            &[],
        )
        .context("counting versions")?;
    for row in &numbering {
        let (count, first, last): (i64, i64, i64) = (row.get(2)?, row.get(3)?, row.get(4)?);
        report.objects += 1;
        report.versions += usize::try_from(count).unwrap_or(0);
        if count == 0 || first != 1 || last != count {
            report.problems.push(format!("{} has versions {first}..{last} ({count} of them)", describe(row)));
        }
    }
    let sealed = db
        .query("SELECT scope, name_key, version, sealed_value FROM object_versions", &[])
        .context("reading sealed values")?;
    for row in &sealed {
        let scope: String = row.get(0)?;
        let place = Place::parse_scope(&scope).ok_or_else(|| corrupt(format_args!("scope {scope}")))?;
        let context = objects::context(place, &row.get::<String>(1)?, &row.get::<String>(2)?);
        if root_key.open(&row.get::<Vec<u8>>(3)?, &context).is_err() {
            report.problems.push(format!("a version of {} does not open", describe(row)));
        }
    }
    for row in &db.query("SELECT name, value FROM settings", &[]).context("reading settings")? {
        let name: String = row.get(0)?;
        if root_key.open(&row.get::<Vec<u8>>(1)?, &setting_context(&name)).is_err() {
            report.problems.push(format!("the setting {name} does not open"));
        }
    }
    Ok(report)
}

fn describe(row: &Row) -> String {
    let text = |i| row.get::<String>(i).unwrap_or_default();
    format!("{}/{}", text(0), text(1))
}

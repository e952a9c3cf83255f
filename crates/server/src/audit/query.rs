//! Reading the audit log back: the newest records of one resource that match a filter, found by reading the
//! file from its end, so that a query of recent activity costs the same however long the log has grown.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use strongroom_proto::audit::{AuditRecord, KeyVaultAudit};

/// How much of the log's end one query reads at most: a query never scans an unbounded file.
const MAX_SCANNED_BYTES: u64 = 64 * 1024 * 1024;
/// The block the file is read backwards in.
const BLOCK: u64 = 64 * 1024;
/// Most records one query answers.
pub const MAX_RECORDS: usize = 500;

/// What a query of the audit log asks for. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The vault (its `_ResourceId`, [`crate::vault::audit::resource_id`]) whose records are read.
    pub resource_id: String,
    /// Records at or after this time (an RFC 3339 prefix such as `2026-12-03T10:00`).
    pub from: String,
    /// Records before this time (the same form).
    pub to: String,
    /// The caller's object id or application id.
    pub caller: String,
    /// The operation name, such as `SecretGet` (any case).
    pub operation: String,
    /// `Success` or `Failure` (any case).
    pub outcome: String,
    /// The caller's address.
    pub address: String,
}

impl AuditFilter {
    /// Whether `record` is one the filter asks for: a vault's row (`AZKVAuditLogs`) that matches every field.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        match record {
            AuditRecord::KeyVault(row) => self.matches_row(row),
            _ => false,
        }
    }

    fn matches_row(&self, row: &KeyVaultAudit) -> bool {
        let matches = |wanted: &str, actual: &str| wanted.is_empty() || wanted.eq_ignore_ascii_case(actual);
        let by_caller = self.caller.is_empty()
            || row.identity.as_ref().is_some_and(|i| {
                i.claim.oid.eq_ignore_ascii_case(&self.caller) || i.claim.appid.eq_ignore_ascii_case(&self.caller)
            });
        // Times of one format compare as text; the filter's are prefixes of the records'.
        let time = row.time_generated.as_str();
        row.resource_id.as_deref().is_some_and(|id| id.eq_ignore_ascii_case(&self.resource_id))
            && (self.from.is_empty() || time >= self.from.as_str())
            && (self.to.is_empty() || time < self.to.as_str())
            && by_caller
            && matches(&self.operation, &row.operation_name)
            && matches(&self.outcome, &row.result_type)
            && matches(&self.address, &row.caller_ip_address)
    }
}

/// The newest records in the audit log's files in `dir` ([`super::file::log_files`]) that `filter` matches,
/// newest first, at most `limit`.
pub fn newest(dir: &Path, filter: &AuditFilter, limit: usize) -> std::io::Result<Vec<AuditRecord>> {
    let mut found = Vec::new();
    let mut budget = MAX_SCANNED_BYTES;
    for path in super::file::log_files(dir) {
        if found.len() >= limit || budget == 0 {
            break;
        }
        budget -= scan(&path, filter, limit, budget, &mut found)?;
    }
    Ok(found)
}

/// Adds to `found` the newest matching records of the file at `path`, reading at most `budget` bytes from its
/// end, until `found` holds `limit`; returns the bytes read.
fn scan(
    path: &Path,
    filter: &AuditFilter,
    limit: usize,
    budget: u64,
    found: &mut Vec<AuditRecord>,
) -> std::io::Result<u64> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        // A file rotated away (or never written) between listing and opening holds nothing to find.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let length = file.metadata()?.len();
    let stop = length.saturating_sub(budget);
    // Lines of other resources are skipped before they are parsed: the writer spells the id exactly so.
    let needle = format!("\"_ResourceId\":{}", serde_json::Value::String(filter.resource_id.clone()));
    let needle = needle.as_bytes();
    // The bytes after the last line break read so far: the start of a line whose beginning is in an earlier block.
    let mut carried: Vec<u8> = Vec::new();
    let mut end = length;
    while end > stop && found.len() < limit {
        let start = end.saturating_sub(BLOCK).max(stop);
        let mut block = vec![0; usize::try_from(end - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&carried);
        let mut lines: Vec<&[u8]> = block.split(|b| *b == b'\n').collect();
        // The first piece may be cut (unless the file starts here): it waits for the block before.
        carried = if start > stop { lines.remove(0).to_vec() } else { Vec::new() };
        for line in lines.into_iter().rev().filter(|l| l.windows(needle.len()).any(|w| w == needle)) {
            if let Ok(record) = serde_json::from_slice::<AuditRecord>(line)
                && filter.matches(&record)
            {
                found.push(record);
                if found.len() == limit {
                    break;
                }
            }
        }
        end = start;
    }
    Ok(length - end)
}

#[cfg(test)]
mod tests {
    use strongroom_proto::audit::{AuditClaims, AuditIdentity};

    use super::*;

    fn record(time: &str, vault: &str, operation: &str, oid: &str, ok: bool) -> AuditRecord {
        AuditRecord::KeyVault(Box::new(KeyVaultAudit {
            time_generated: time.into(),
            resource_id: Some(format!("/subscriptions/s/resourcegroups/g/providers/microsoft.keyvault/vaults/{vault}")),
            operation_name: operation.into(),
            operation_version: "7.5".into(),
            result_type: if ok { "Success" } else { "Failure" }.into(),
            result_signature: "OK".into(),
            result_description: None,
            duration_ms: 1,
            caller_ip_address: "127.0.0.1".into(),
            correlation_id: String::new(),
            identity: Some(AuditIdentity {
                claim: AuditClaims { oid: oid.into(), appid: "app".into(), idtyp: String::new() },
            }),
            id: String::new(),
            request_uri: String::new(),
            http_status_code: if ok { 200 } else { 403 },
            client_info: None,
            is_address_authorized: true,
            address_authorization_type: Some("PublicIp".into()),
            is_rbac_authorized: ok,
            is_access_policy_match: false,
            tls_version: None,
        }))
    }

    #[test]
    fn the_newest_matching_records_of_the_vault_come_first_across_blocks() {
        let dir = tempfile::tempdir().ok();
        let path = dir.as_ref().map(|d| d.path().to_owned()).unwrap_or_default();
        let mut text = String::new();
        // Enough records to span several blocks, so lines cut at block edges are joined again; the older half
        // in a rotated file.
        for i in 0..3_000 {
            if i == 1_500 {
                assert!(
                    std::fs::write(path.join("audit-20261203T102500Z-000000.log"), std::mem::take(&mut text)).is_ok()
                );
            }
            let vault = if i % 3 == 0 { "other" } else { "dev" };
            let operation = if i % 2 == 0 { "SecretGet" } else { "SecretSet" };
            let line = serde_json::to_string(&record(
                &format!("2026-12-03T10:{:02}:{:02}Z", i / 60 % 60, i % 60),
                vault,
                operation,
                "alice",
                i % 5 != 0,
            ));
            text.push_str(&line.unwrap_or_default());
            text.push('\n');
        }
        assert!(std::fs::write(path.join("audit.log"), text).is_ok());
        let filter = AuditFilter {
            resource_id: "/subscriptions/s/resourcegroups/g/providers/microsoft.keyvault/vaults/dev".into(),
            operation: "secretget".into(),
            outcome: "success".into(),
            ..AuditFilter::default()
        };
        let found = newest(&path, &filter, 1_000).unwrap_or_default();
        let expected = (0..3_000).filter(|i| i % 3 != 0 && i % 2 == 0 && i % 5 != 0).count();
        assert_eq!(found.len(), expected);
        assert!(found.windows(2).all(|w| w[0].time() >= w[1].time()), "newest first");
        assert!(found.iter().all(|r| filter.matches(r)));
        assert_eq!(newest(&path, &filter, 3).map(|r| r.len()).unwrap_or_default(), 3);
        let nobody = AuditFilter { caller: "mallory".into(), ..filter.clone() };
        assert!(newest(&path, &nobody, 10).unwrap_or_default().is_empty());
        let window = AuditFilter { from: "2026-12-03T10:01".into(), to: "2026-12-03T10:02".into(), ..filter };
        assert!(
            newest(&path, &window, 1_000).unwrap_or_default().iter().all(|r| r.time().starts_with("2026-12-03T10:01"))
        );
    }
}

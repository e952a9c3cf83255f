//! The `AZKVAuditLogs` row as JSON, on the warm path. Every vault request writes one, and `serde_json` escapes
//! strings a byte at a time, which made encoding the row a sixth of a warm `GET`'s instructions. Here column
//! names, which never need escaping, are copied as they are, and so is every value with nothing to escape (the
//! usual case), found by a scan the compiler vectorises; a value that needs escaping goes through `serde_json`.
//! The bytes are exactly those `serde_json` writes for [`AuditRecord::KeyVault`] (a test holds them to it).

use serde::Serialize;

use super::{AuditIdentity, KeyVaultAudit};

impl KeyVaultAudit {
    /// Appends the row, tagged `"Type":"AZKVAuditLogs"`, to `out` as one JSON object.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let mut row = Object::begin(out);
        row.string("Type", "AZKVAuditLogs")?;
        row.string("TimeGenerated", &self.time_generated)?;
        row.optional_string("_ResourceId", self.resource_id.as_deref())?;
        row.string("OperationName", &self.operation_name)?;
        row.string("OperationVersion", &self.operation_version)?;
        row.string("ResultType", &self.result_type)?;
        row.string("ResultSignature", &self.result_signature)?;
        row.optional_string("ResultDescription", self.result_description.as_deref())?;
        row.value("DurationMs", &self.duration_ms)?;
        row.string("CallerIpAddress", &self.caller_ip_address)?;
        row.string("CorrelationId", &self.correlation_id)?;
        if let Some(identity) = &self.identity {
            row.key("Identity");
            write_identity(identity, row.out)?;
        }
        row.string("Id", &self.id)?;
        row.string("RequestUri", &self.request_uri)?;
        row.value("HttpStatusCode", &self.http_status_code)?;
        row.optional_string("ClientInfo", self.client_info.as_deref())?;
        row.value("IsAddressAuthorized", &self.is_address_authorized)?;
        row.optional_string("AddressAuthorizationType", self.address_authorization_type.as_deref())?;
        row.value("IsRbacAuthorized", &self.is_rbac_authorized)?;
        row.value("IsAccessPolicyMatch", &self.is_access_policy_match)?;
        row.optional_string("TlsVersion", self.tls_version.as_deref())?;
        row.end();
        Ok(())
    }
}

fn write_identity(identity: &AuditIdentity, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut outer = Object::begin(out);
    outer.key("claim");
    let mut claims = Object::begin(outer.out);
    claims.string("http://schemas.microsoft.com/identity/claims/objectidentifier", &identity.claim.oid)?;
    claims.string("appid", &identity.claim.appid)?;
    if !identity.claim.idtyp.is_empty() {
        claims.string("idtyp", &identity.claim.idtyp)?;
    }
    claims.end();
    outer.end();
    Ok(())
}

/// A JSON object being written: its members' separators and names.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Object<'o> {
    fn begin(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, first: true }
    }

    /// Writes `"name":`; `name` is one of this module's column names, none of which needs escaping.
    fn key(&mut self, name: &'static str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn string(&mut self, name: &'static str, value: &str) -> serde_json::Result<()> {
        self.key(name);
        write_string(value, self.out)
    }

    fn optional_string(&mut self, name: &'static str, value: Option<&str>) -> serde_json::Result<()> {
        match value {
            Some(value) => self.string(name, value),
            None => Ok(()),
        }
    }

    /// A number or a boolean, as `serde_json` writes it.
    fn value(&mut self, name: &'static str, value: &impl Serialize) -> serde_json::Result<()> {
        self.key(name);
        serde_json::to_writer(&mut *self.out, value)
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// Writes `value` as a JSON string: copied between quotes when nothing in it needs escaping (JSON escapes
/// control characters, `"` and `\`; `serde_json` nothing else), else escaped by `serde_json`.
fn write_string(value: &str, out: &mut Vec<u8>) -> serde_json::Result<()> {
    // Counting rather than `all`, so that the scan has no early exit and vectorises.
    let to_escape = value.bytes().filter(|&b| b < 0x20 || b == b'"' || b == b'\\').count();
    if to_escape > 0 {
        return serde_json::to_writer(&mut *out, value);
    }
    out.reserve(value.len() + 2);
    out.push(b'"');
    out.extend_from_slice(value.as_bytes());
    out.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditClaims, AuditRecord};

    fn row() -> KeyVaultAudit {
        KeyVaultAudit {
            time_generated: "2026-12-04T18:00:00.123Z".to_owned(),
            resource_id: Some("/subscriptions/0b1f/resourcegroups/rg/providers/microsoft.keyvault/vaults/v".to_owned()),
            operation_name: "SecretGet".to_owned(),
            operation_version: "7.6".to_owned(),
            result_type: "Success".to_owned(),
            result_signature: "OK".to_owned(),
            result_description: Some("ForbiddenByRbac".to_owned()),
            duration_ms: 12,
            caller_ip_address: "127.0.0.1".to_owned(),
            correlation_id: "c0ffee".to_owned(),
            identity: Some(AuditIdentity {
                claim: AuditClaims { oid: "o".to_owned(), appid: "a".to_owned(), idtyp: "app".to_owned() },
            }),
            id: "https://v.vault.localhost/secrets/s".to_owned(),
            request_uri: "https://v.vault.localhost/secrets/s?api-version=7.6".to_owned(),
            http_status_code: 200,
            client_info: Some("azsdk-python-keyvault-secrets/4.12.0".to_owned()),
            is_address_authorized: true,
            address_authorization_type: Some("PublicIp".to_owned()),
            is_rbac_authorized: true,
            is_access_policy_match: false,
            tls_version: Some("TLS1_3".to_owned()),
        }
    }

    fn same_as_serde(row: KeyVaultAudit) {
        let mut fast = Vec::new();
        assert!(row.write_json(&mut fast).is_ok());
        let serde = serde_json::to_vec(&AuditRecord::KeyVault(Box::new(row))).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&serde));
    }

    #[test]
    fn a_full_row_is_written_as_serde_json_writes_it() {
        same_as_serde(row());
    }

    #[test]
    fn a_row_without_its_optional_columns_is_written_as_serde_json_writes_it() {
        let mut bare = row();
        bare.resource_id = None;
        bare.result_description = None;
        bare.identity = None;
        bare.client_info = None;
        bare.address_authorization_type = None;
        bare.tls_version = None;
        same_as_serde(bare);
        let mut no_idtyp = row();
        if let Some(identity) = &mut no_idtyp.identity {
            identity.claim.idtyp.clear();
        }
        same_as_serde(no_idtyp);
    }

    #[test]
    fn values_that_need_escaping_are_escaped_as_serde_json_escapes_them() {
        let mut odd = row();
        odd.client_info = Some("agent \"quoted\" \\ back\tslash\u{1} é ✓ \u{7f}".to_owned());
        odd.request_uri = "https://v/secrets/s?x=\n".to_owned();
        odd.correlation_id = String::new();
        same_as_serde(odd);
    }
}

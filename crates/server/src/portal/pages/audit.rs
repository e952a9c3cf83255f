//! The audit log of a vault, filtered by time, caller, operation, outcome and address: the management API's
//! query of it, which needs the right to read the vault's logs.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde_json::Value;
use strongroom_proto::audit::{AuditRecord, KeyVaultAudit};

use super::{ARM_API, VaultPage, status_of};
use crate::portal::html::{self, Tab};

const FILTERS: [(&str, &str); 5] = [
    ("from", "From (e.g. 2026-12-03T10:00)"),
    ("to", "To"),
    ("caller", "Caller (object id, application id or a user's sign-in name)"),
    ("operation", "Operation"),
    ("address", "Address"),
];

/// `/portal/vaults/{vault}/audit`.
pub async fn show(page: &VaultPage<'_>) -> Response {
    let visit = page.visit;
    let path = filtered_path(visit);
    let answer = page.management(Method::GET, &path, None).await;
    let status = answer.as_ref().map_or_else(status_of, |_| StatusCode::OK);
    let outcome = visit.field("outcome");
    let body = html! {
        form method="get" action=(page.url(Tab::Audit)) {
            fieldset {
                legend { "Filter" }
                @for (name, label) in FILTERS {
                    label for=(name) { (label) }
                    input id=(name) type="text" name=(name) value=(visit.field(name));
                }
                label for="outcome" { "Outcome" }
                select #outcome name="outcome" {
                    @for (value, label) in [("", "Any"), ("Success", "Success"), ("Failure", "Failure")] {
                        option value=(value) selected[outcome == value] { (label) }
                    }
                }
                p { button type="submit" { "Filter" } }
            }
        }
        @match &answer {
            Err(failed) => (html::alert(&failed.message)),
            Ok(answer) => {
                table #audit {
                    caption { "The newest records first" }
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Operation" } th scope="col" { "Caller" }
                        th scope="col" { "Address" } th scope="col" { "Status" } th scope="col" { "Result" } } }
                    tbody {
                        @for row in rows(answer) {
                            @let (oid, appid) = row.identity.as_ref().map_or(("", ""), |i| (&i.claim.oid, &i.claim.appid));
                            tr {
                                td { (row.time_generated) }
                                td { (row.operation_name) }
                                td { (caller(visit, oid, appid)) }
                                td { (row.caller_ip_address) }
                                td { (row.http_status_code) }
                                td { (row.result_type) " " (row.result_description.as_deref().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    };
    page.render(status, Tab::Audit, "Audit log", body)
}

/// The vault's rows in the log query's answer.
fn rows(answer: &Value) -> Vec<KeyVaultAudit> {
    let records = answer.get("value").cloned().and_then(|v| serde_json::from_value::<Vec<AuditRecord>>(v).ok());
    let vault_rows = records.into_iter().flatten().filter_map(|record| match record {
        AuditRecord::KeyVault(row) => Some(*row),
        _ => None,
    });
    vault_rows.collect()
}

/// The log query's path for the filters the visit's query gives.
fn filtered_path(visit: &crate::portal::Visit<'_>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("api-version", ARM_API).append_pair("top", "100");
    for (name, _) in FILTERS {
        let mut value = visit.field(name).trim().to_owned();
        // A user's sign-in name stands for the user's object id, which the records carry.
        if name == "caller" && value.contains('@') {
            let directory = visit.state.directory();
            if let Some((user, _)) = directory.user_by_sign_in_name(visit.session.tenant_id, &value) {
                value = user.object_id.to_string();
            }
        }
        if !value.is_empty() {
            query.append_pair(name, &value);
        }
    }
    if !visit.field("outcome").is_empty() {
        query.append_pair("outcome", visit.field("outcome"));
    }
    format!("/providers/Microsoft.Insights/logs?{}", query.finish())
}

/// A record's caller, by name when the directory knows it.
fn caller(visit: &crate::portal::Visit<'_>, oid: &str, appid: &str) -> String {
    let directory = visit.state.directory();
    let named = uuid::Uuid::parse_str(oid).ok().and_then(|id| directory.principal(id)).map(|p| p.name.clone());
    match (named, oid.is_empty()) {
        (Some(name), _) => name,
        (None, false) => oid.to_owned(),
        (None, true) => appid.to_owned(),
    }
}

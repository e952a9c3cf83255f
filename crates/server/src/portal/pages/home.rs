//! The portal's home (the tenants and vaults the person holds a role in) and the directory (for those whose
//! directory role lets them read it through Graph).

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde_json::Value;

use crate::portal::Visit;
use crate::portal::backend::Service;
use crate::portal::html::{self, Tab};

/// `/portal/`: the vaults the person, or a group of theirs, holds any role or access policy in, by tenant.
pub fn vaults(visit: &Visit<'_>) -> Response {
    let directory = visit.state.directory();
    let vaults = directory.vaults_visible_to(visit.session.user_id);
    let tenant_name = |id| directory.tenants.iter().find(|t| t.id == id).map_or(String::new(), |t| t.name.clone());
    let body = html! {
        p { "Signed in to tenant " strong { (tenant_name(visit.session.tenant_id)) } " (" code { (visit.session.tenant_id) } ")." }
        @if vaults.is_empty() {
            p { "You hold no role in any vault. Someone who manages access to a vault can give you one." }
        } @else {
            table #vaults {
                caption { "Vaults you have a role in" }
                thead { tr { th scope="col" { "Vault" } th scope="col" { "Tenant" } th scope="col" { "Resource group" }
                    th scope="col" { "URI" } } }
                tbody {
                    @for vault in &vaults {
                        tr {
                            td { a href=(html::vault_url(&vault.name, Tab::Overview)) { (vault.name) } }
                            td { (tenant_name(vault.tenant_id)) }
                            td { (vault.resource_group) }
                            td { (visit.state.endpoints.vault_url(&vault.name)) }
                        }
                    }
                }
            }
        }
    };
    html::respond(StatusCode::OK, html::page("Vaults", Some(&visit.session), None, body))
}

/// What the directory page lists: Graph's collection, its heading, and the fields shown.
const COLLECTIONS: [(&str, &str); 4] = [
    ("users", "Users"),
    ("groups", "Groups"),
    ("applications", "Applications"),
    ("servicePrincipals", "Service principals and managed identities"),
];

/// `/portal/directory`: users, groups, applications (with their credentials' expiry) and service principals.
pub async fn directory(visit: &Visit<'_>) -> Response {
    let mut sections = Vec::new();
    for (collection, label) in COLLECTIONS {
        let listed = visit.call(Service::Graph, Method::GET, &format!("/v1.0/{collection}?$top=100"), None).await;
        sections.push((collection, label, listed));
    }
    let status = match sections.iter().find_map(|(_, _, listed)| listed.as_ref().err()) {
        Some(failed) => super::status_of(failed),
        None => StatusCode::OK,
    };
    let body = html! {
        @for (collection, label, listed) in &sections {
            section aria-labelledby=(collection) {
                h2 id=(collection) { (label) }
                @match listed {
                    Err(failed) => (html::alert(&failed.message)),
                    Ok(answer) => {
                        table {
                            thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Details" } } }
                            tbody {
                                @for item in answer.get("value").and_then(Value::as_array).into_iter().flatten() {
                                    @let text = |p: &str| item.pointer(p).and_then(Value::as_str).unwrap_or_default();
                                    tr {
                                        td { (text("/displayName")) " " (text("/userPrincipalName")) }
                                        td { code { (text("/id")) } }
                                        td { (details(item)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html::respond(status, html::page("Directory", Some(&visit.session), None, body))
}

/// What a directory object shows besides its name: an application's id and credentials with their expiry, a
/// service principal's kind, whether a user may sign in.
fn details(item: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(app_id) = item.get("appId").and_then(Value::as_str) {
        parts.push(format!("client id {app_id}"));
    }
    if let Some(kind) = item.get("servicePrincipalType").and_then(Value::as_str) {
        parts.push(kind.to_owned());
    }
    if let Some(enabled) = item.get("accountEnabled").and_then(Value::as_bool) {
        parts.push(if enabled { "may sign in" } else { "disabled" }.to_owned());
    }
    for kind in ["passwordCredentials", "keyCredentials"] {
        for credential in item.get(kind).and_then(Value::as_array).into_iter().flatten() {
            let ends = credential.get("endDateTime").and_then(Value::as_str).unwrap_or("never");
            let noun = if kind == "passwordCredentials" { "secret" } else { "certificate" };
            parts.push(format!("{noun} expiring {ends}"));
        }
    }
    parts.join("; ")
}

//! Deleted secrets, keys and certificates, with recover and purge.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde_json::Value;

use super::{VaultPage, action_button, last_segment, list_page, object_name, status_of};
use crate::portal::backend::Refusal;
use crate::portal::html::{self, Tab};

const KINDS: [(&str, &str); 3] = [("secrets", "Secrets"), ("keys", "Keys"), ("certificates", "Certificates")];

/// `/portal/vaults/{vault}/deleted`; posted: recover or purge one.
pub async fn show(page: &VaultPage<'_>) -> Response {
    let visit = page.visit;
    let mut refusal = None;
    if visit.form.is_some() {
        match act(page).await {
            Ok(notice) => return page.done(&page.url(Tab::Deleted), notice),
            Err(failed) => refusal = Some(failed),
        }
    }
    let mut sections = Vec::new();
    for (kind, label) in KINDS {
        let listed = page.data(Method::GET, &format!("/deleted{kind}?maxresults=25"), None).await;
        sections.push((kind, label, listed));
    }
    let status = refusal.as_ref().map_or(StatusCode::OK, status_of);
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        @for (kind, label, listed) in &sections {
            section aria-labelledby=(kind) {
                h2 id=(kind) { (label) }
                @match listed {
                    Err(failed) => (html::alert(&failed.message)),
                    Ok(answer) => {
                        @let (items, _) = list_page(answer);
                        @if items.is_empty() { p { "None." } } @else {
                            table {
                                thead { tr { th scope="col" { "Name" } th scope="col" { "Deleted" }
                                    th scope="col" { "Purged automatically" } th scope="col" { "Actions" } } }
                                tbody {
                                    @for item in &items {
                                        @let id = item.get("recoveryId").and_then(Value::as_str).unwrap_or_default();
                                        @let name = last_segment(id);
                                        tr {
                                            td { (name) }
                                            td { (html::time(item.get("deletedDate").and_then(Value::as_i64))) }
                                            td { (html::time(item.get("scheduledPurgeDate").and_then(Value::as_i64))) }
                                            td {
                                                (action_button(visit, &page.url(Tab::Deleted), "recover", &[("kind", kind), ("name", name)], "Recover"))
                                                (action_button(visit, &page.url(Tab::Deleted), "purge", &[("kind", kind), ("name", name)], "Purge"))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page.render(status, Tab::Deleted, "Deleted objects", body)
}

async fn act(page: &VaultPage<'_>) -> Result<String, Refusal> {
    let visit = page.visit;
    let kind = KINDS.iter().map(|(k, _)| *k).find(|k| *k == visit.field("kind")).unwrap_or("secrets");
    let name = object_name(visit.field("name"))?;
    match visit.field("action") {
        "recover" => {
            page.data(Method::POST, &format!("/deleted{kind}/{name}/recover"), None).await?;
            Ok(format!("{name} was recovered."))
        }
        "purge" => {
            page.data(Method::DELETE, &format!("/deleted{kind}/{name}"), None).await?;
            Ok(format!("{name} was purged: it can no longer be recovered."))
        }
        other => Err(super::unknown_action(other)),
    }
}

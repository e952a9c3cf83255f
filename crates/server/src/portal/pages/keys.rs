//! Keys: the list, a new RSA or EC key, and one key's versions, rotation and rotation policy.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::{VaultPage, action_button, date, enabled, last_segment, list_page, next_link, object_name, status_of};
use crate::portal::backend::Refusal;
use crate::portal::html::{self, Tab};

const KEY_TYPES: [&str; 4] = ["RSA", "EC", "RSA-HSM", "EC-HSM"];
const RSA_SIZES: [&str; 3] = ["2048", "3072", "4096"];
const CURVES: [&str; 4] = ["P-256", "P-384", "P-521", "P-256K"];

/// `/portal/vaults/{vault}/keys`: the list, and a new key when posted.
pub async fn list(page: &VaultPage<'_>) -> Response {
    let visit = page.visit;
    let mut refusal = None;
    if visit.form.is_some() {
        match page.after_create(Tab::Keys, "Created key", create(page).await) {
            Ok(done) => return done,
            Err(failed) => refusal = Some(failed),
        }
    }
    let (status, table) = page.listing("keys", |items, next| table(page, items, next)).await;
    let status = refusal.as_ref().map_or(status, status_of);
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        (table)
        form method="post" action=(page.url(Tab::Keys)) {
            (html::csrf(&visit.session))
            fieldset {
                legend { "New key" }
                label for="name" { "Name" }
                input #name type="text" name="name" required autocomplete="off" value=(visit.field("name"));
                label for="kty" { "Key type" }
                select #kty name="kty" { @for kty in KEY_TYPES { option value=(kty) { (kty) } } }
                label for="key_size" { "RSA key size" }
                select #key_size name="key_size" { @for size in RSA_SIZES { option value=(size) { (size) } } }
                label for="crv" { "Curve (EC)" }
                select #crv name="crv" { @for crv in CURVES { option value=(crv) { (crv) } } }
                p { button type="submit" { "Create key" } }
            }
        }
    };
    page.render(status, Tab::Keys, "Keys", body)
}

fn table(page: &VaultPage<'_>, items: &[Value], next: Option<&str>) -> Markup {
    html! {
        @if items.is_empty() { p { "No keys yet." } } @else {
            table #keys {
                caption { "Keys" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Enabled" } th scope="col" { "Updated" }
                    th scope="col" { "Expires" } } }
                tbody {
                    // A certificate's key is managed through its certificate.
                    @for item in items.iter().filter(|i| i.get("managed").is_none()) {
                        @let name = last_segment(item.get("kid").and_then(Value::as_str).unwrap_or_default());
                        tr {
                            td { a href={ (page.url(Tab::Keys)) "/" (html::encode(name)) } { (name) } }
                            td { (if enabled(item) { "Yes" } else { "No" }) }
                            td { (date(item, "updated")) }
                            td { (date(item, "exp")) }
                        }
                    }
                }
            }
            (next_link(&page.url(Tab::Keys), next))
        }
    }
}

async fn create(page: &VaultPage<'_>) -> Result<String, Refusal> {
    let visit = page.visit;
    let name = object_name(visit.field("name").trim())?;
    let kty = visit.field("kty");
    let mut body = json!({ "kty": kty });
    if kty.starts_with("EC") {
        body["crv"] = json!(visit.field("crv"));
    } else {
        body["key_size"] = json!(visit.field("key_size").parse::<u32>().unwrap_or(2048));
    }
    page.data(Method::POST, &format!("/keys/{name}/create"), Some(&body)).await?;
    Ok(name.to_owned())
}

/// `/portal/vaults/{vault}/keys/{name}`: versions and rotation policy; posted: rotate, set the policy, delete.
pub async fn item(page: &VaultPage<'_>, name: &str) -> Response {
    let visit = page.visit;
    let name = match object_name(name) {
        Ok(name) => name,
        Err(refusal) => return page.render(StatusCode::NOT_FOUND, Tab::Keys, name, html::alert(&refusal.message)),
    };
    let here = format!("{}/{name}", page.url(Tab::Keys));
    let mut refusal = None;
    if visit.form.is_some() {
        match act(page, name).await {
            Ok((location, notice)) => return page.done(&location, notice),
            Err(failed) => refusal = Some(failed),
        }
    }
    let versions = page.data(Method::GET, &format!("/keys/{name}/versions?maxresults=25"), None).await;
    let policy = page.data(Method::GET, &format!("/keys/{name}/rotationpolicy"), None).await;
    let (mut status, versions) = match versions {
        Ok(answer) => {
            let (mut items, _) = list_page(&answer);
            items.sort_by_key(|v| std::cmp::Reverse(super::attribute(v, "created").and_then(Value::as_i64)));
            (StatusCode::OK, versions_table(&items))
        }
        Err(failed) => (status_of(&failed), html::alert(&failed.message)),
    };
    if let Some(refusal) = &refusal {
        status = status_of(refusal);
    }
    let rotate_after = policy
        .as_ref()
        .ok()
        .and_then(|p| p.get("lifetimeActions"))
        .and_then(Value::as_array)
        .and_then(|actions| {
            actions.iter().find(|a| a.pointer("/action/type").and_then(Value::as_str) == Some("Rotate"))
        })
        .and_then(|a| a.pointer("/trigger/timeAfterCreate"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let expiry = policy
        .as_ref()
        .ok()
        .and_then(|p| p.pointer("/attributes/expiryTime"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        (versions)
        p { (action_button(visit, &here, "rotate", &[], "Rotate now")) " " (action_button(visit, &here, "delete", &[], "Delete key")) }
        form method="post" action=(here) {
            (html::csrf(&visit.session))
            input type="hidden" name="action" value="policy";
            fieldset {
                legend { "Rotation policy" }
                @if let Err(failed) = &policy { (html::alert(&failed.message)) }
                label for="rotate_after" { "Rotate this long after creation (ISO 8601, e.g. P90D; empty: never)" }
                input #rotate_after type="text" name="rotate_after" value=(rotate_after);
                label for="expiry" { "New versions expire after (ISO 8601, e.g. P1Y)" }
                input #expiry type="text" name="expiry" value=(expiry);
                p { button type="submit" { "Save rotation policy" } }
            }
        }
    };
    page.render(status, Tab::Keys, name, body)
}

async fn act(page: &VaultPage<'_>, name: &str) -> Result<(String, String), Refusal> {
    let visit = page.visit;
    let here = format!("{}/{name}", page.url(Tab::Keys));
    match visit.field("action") {
        "rotate" => {
            page.data(Method::POST, &format!("/keys/{name}/rotate"), None).await?;
            Ok((here, format!("Key {name} was rotated: a new version is current.")))
        }
        "policy" => {
            let mut lifetime_actions = vec![];
            if !visit.field("rotate_after").trim().is_empty() {
                lifetime_actions.push(json!({ "trigger": { "timeAfterCreate": visit.field("rotate_after").trim() },
                    "action": { "type": "Rotate" } }));
            }
            let mut body = json!({ "lifetimeActions": lifetime_actions, "attributes": {} });
            if !visit.field("expiry").trim().is_empty() {
                body["attributes"]["expiryTime"] = json!(visit.field("expiry").trim());
            }
            page.data(Method::PUT, &format!("/keys/{name}/rotationpolicy"), Some(&body)).await?;
            Ok((here, "The rotation policy was saved.".to_owned()))
        }
        "delete" => {
            page.data(Method::DELETE, &format!("/keys/{name}"), None).await?;
            Ok((page.url(Tab::Keys), format!("Key {name} was deleted.")))
        }
        other => Err(super::unknown_action(other)),
    }
}

fn versions_table(versions: &[Value]) -> Markup {
    html! {
        table #versions {
            caption { "Versions" }
            thead { tr { th scope="col" { "Version" } th scope="col" { "Enabled" } th scope="col" { "Created" }
                th scope="col" { "Expires" } } }
            tbody {
                @for item in versions {
                    tr {
                        td { code { (last_segment(item.get("kid").and_then(Value::as_str).unwrap_or_default())) } }
                        td { (if enabled(item) { "Yes" } else { "No" }) }
                        td { (date(item, "created")) }
                        td { (date(item, "exp")) }
                    }
                }
            }
        }
    }
}

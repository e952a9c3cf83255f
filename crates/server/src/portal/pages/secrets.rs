//! Secrets: the list, a new secret, and one secret's versions, where a value stays hidden until "Show value"
//! (each a `SecretGet` in the audit log) and new versions, enabling and disabling, and deletion are done.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::{
    VaultPage, action_button, date, enabled, last_segment, list_page, next_link, object_name, status_of, tags_text,
    typed_date, typed_tags,
};
use crate::portal::backend::Refusal;
use crate::portal::html::{self, Tab};

/// `/portal/vaults/{vault}/secrets`: the list, and a new secret when posted.
pub async fn list(page: &VaultPage<'_>) -> Response {
    let visit = page.visit;
    let mut refusal = None;
    if visit.form.is_some() {
        match page.after_create(Tab::Secrets, "Created secret", create(page, visit.field("name")).await) {
            Ok(done) => return done,
            Err(failed) => refusal = Some(failed),
        }
    }
    let (status, table) = page.listing("secrets", |items, next| table(page, items, next)).await;
    let status = refusal.as_ref().map_or(status, status_of);
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        (table)
        form method="post" action=(page.url(Tab::Secrets)) {
            (html::csrf(&visit.session))
            fieldset {
                legend { "New secret" }
                label for="name" { "Name" }
                input #name type="text" name="name" required autocomplete="off" value=(visit.field("name"));
                label for="value" { "Value" }
                textarea #value name="value" required autocomplete="off" rows="3" {}
                (properties_fields(visit.field("content_type")))
                label { input type="checkbox" name="enabled" value="true" checked; "Enabled" }
                p { button type="submit" { "Create secret" } }
            }
        }
    };
    page.render(status, Tab::Secrets, "Secrets", body)
}

fn table(page: &VaultPage<'_>, items: &[Value], next: Option<&str>) -> Markup {
    html! {
        @if items.is_empty() { p { "No secrets yet." } } @else {
            table #secrets {
                caption { "Secrets" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Enabled" } th scope="col" { "Content type" }
                    th scope="col" { "Updated" } th scope="col" { "Expires" } } }
                tbody {
                    @for item in items {
                        @let name = last_segment(item.get("id").and_then(Value::as_str).unwrap_or_default());
                        tr {
                            td { a href={ (page.url(Tab::Secrets)) "/" (html::encode(name)) } { (name) } }
                            td { (if enabled(item) { "Yes" } else { "No" }) }
                            td { (item.get("contentType").and_then(Value::as_str).unwrap_or_default()) }
                            td { (super::date(item, "updated")) }
                            td { (date(item, "exp")) }
                        }
                    }
                }
            }
            (next_link(&page.url(Tab::Secrets), next))
        }
    }
}

/// The fields a secret's version has besides its value: content type, tags, dates.
fn properties_fields(content_type: &str) -> Markup {
    html! {
        label for="content_type" { "Content type" }
        input #content_type type="text" name="content_type" value=(content_type);
        label for="tags" { "Tags (one name=value per line)" }
        textarea #tags name="tags" rows="2" {}
        label for="nbf" { "Not before" }
        input #nbf type="date" name="nbf";
        label for="exp" { "Expires" }
        input #exp type="date" name="exp";
    }
}

/// Sets a version of the secret `name` from the posted form.
async fn create(page: &VaultPage<'_>, name: &str) -> Result<String, Refusal> {
    let visit = page.visit;
    let name = object_name(name.trim())?;
    let mut attributes = json!({ "enabled": visit.field("enabled") == "true" || visit.form.is_none() });
    for field in ["nbf", "exp"] {
        if let Some(at) = typed_date(visit.field(field))? {
            attributes[field] = json!(at);
        }
    }
    let mut body = json!({ "value": visit.field("value"), "attributes": attributes });
    if !visit.field("content_type").is_empty() {
        body["contentType"] = json!(visit.field("content_type"));
    }
    let tags = typed_tags(visit.field("tags"))?;
    if !tags.is_empty() {
        body["tags"] = Value::Object(tags);
    }
    page.data(Method::PUT, &format!("/secrets/{name}"), Some(&body)).await?;
    Ok(name.to_owned())
}

/// `/portal/vaults/{vault}/secrets/{name}`: its versions; posted: show a value, a new version, enable,
/// disable, delete.
pub async fn item(page: &VaultPage<'_>, name: &str) -> Response {
    let visit = page.visit;
    let name = match object_name(name) {
        Ok(name) => name,
        Err(refusal) => return page.render(StatusCode::NOT_FOUND, Tab::Secrets, name, html::alert(&refusal.message)),
    };
    let here = format!("{}/{name}", page.url(Tab::Secrets));
    let mut shown: Option<(String, String)> = None;
    let mut refusal = None;
    if visit.form.is_some() {
        match act(page, name, &mut shown).await {
            Ok(Some((location, notice))) => return page.done(&location, notice),
            Ok(None) => {}
            Err(failed) => refusal = Some(failed),
        }
    }
    let versions = page.data(Method::GET, &format!("/secrets/{name}/versions?maxresults=25"), None).await;
    let (mut status, versions) = match versions {
        Ok(answer) => {
            let (mut items, _) = list_page(&answer);
            items.sort_by_key(|v| std::cmp::Reverse(super::attribute(v, "created").and_then(Value::as_i64)));
            (StatusCode::OK, versions_table(page, &here, &items))
        }
        Err(failed) => (status_of(&failed), html::alert(&failed.message)),
    };
    if let Some(refusal) = &refusal {
        status = status_of(refusal);
    }
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        @if let Some((version, value)) = &shown {
            section aria-labelledby="shown" {
                h2 #shown { "Value of version " (if version.is_empty() { "(current)" } else { version }) }
                output #secret-value { (value) }
                p { button.quiet type="button" data-copy="secret-value" { "Copy" } }
            }
        }
        (versions)
        form method="post" action=(here) {
            (html::csrf(&visit.session))
            input type="hidden" name="action" value="new-version";
            input type="hidden" name="enabled" value="true";
            fieldset {
                legend { "New version" }
                label for="value" { "Value" }
                textarea #value name="value" required autocomplete="off" rows="3" {}
                (properties_fields(""))
                p { button type="submit" { "Add version" } }
            }
        }
        (action_button(visit, &here, "delete", &[], "Delete secret"))
    };
    page.render(status, Tab::Secrets, name, body)
}

/// What a form posted on a secret's page asks for: `Some` (where to go, and what to say) after a change,
/// `None` after a value was shown (into `shown`).
async fn act(
    page: &VaultPage<'_>,
    name: &str,
    shown: &mut Option<(String, String)>,
) -> Result<Option<(String, String)>, Refusal> {
    let visit = page.visit;
    let here = format!("{}/{name}", page.url(Tab::Secrets));
    let version = match visit.field("version") {
        "" => "",
        version => object_name(version)?,
    };
    match visit.field("action") {
        "show" => {
            let secret = page.data(Method::GET, &format!("/secrets/{name}/{version}"), None).await?;
            let value = secret.get("value").and_then(Value::as_str).unwrap_or_default().to_owned();
            *shown = Some((version.to_owned(), value));
            Ok(None)
        }
        "new-version" => {
            create(page, name).await?;
            Ok(Some((here, format!("A new version of {name} was added."))))
        }
        action @ ("enable" | "disable") => {
            let body = json!({ "attributes": { "enabled": action == "enable" } });
            page.data(Method::PATCH, &format!("/secrets/{name}/{version}"), Some(&body)).await?;
            Ok(Some((here, format!("The version was {action}d."))))
        }
        "delete" => {
            page.data(Method::DELETE, &format!("/secrets/{name}"), None).await?;
            Ok(Some((page.url(Tab::Secrets), format!("Secret {name} was deleted."))))
        }
        other => Err(super::unknown_action(other)),
    }
}

fn versions_table(page: &VaultPage<'_>, here: &str, versions: &[Value]) -> Markup {
    let visit = page.visit;
    html! {
        table #versions {
            caption { "Versions" }
            thead { tr { th scope="col" { "Version" } th scope="col" { "Enabled" } th scope="col" { "Created" }
                th scope="col" { "Not before" } th scope="col" { "Expires" } th scope="col" { "Content type" }
                th scope="col" { "Tags" } th scope="col" { "Actions" } } }
            tbody {
                @for item in versions {
                    @let version = last_segment(item.get("id").and_then(Value::as_str).unwrap_or_default());
                    tr {
                        td { code { (version) } }
                        td { (if enabled(item) { "Yes" } else { "No" }) }
                        td { (date(item, "created")) }
                        td { (date(item, "nbf")) }
                        td { (date(item, "exp")) }
                        td { (item.get("contentType").and_then(Value::as_str).unwrap_or_default()) }
                        td { (tags_text(item)) }
                        td {
                            (action_button(visit, here, "show", &[("version", version)], "Show value"))
                            @if enabled(item) {
                                (action_button(visit, here, "disable", &[("version", version)], "Disable"))
                            } @else {
                                (action_button(visit, here, "enable", &[("version", version)], "Enable"))
                            }
                        }
                    }
                }
            }
        }
    }
}

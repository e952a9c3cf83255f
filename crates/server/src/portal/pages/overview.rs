//! A vault's overview (its Resource Manager properties), its networking (the firewall), and its access
//! policies: read and changed through the management API, which decides who may.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::{ARM_API, VaultPage, status_of};
use crate::portal::backend::Refusal;
use crate::portal::html::{self, Tab};

/// The vault's Resource Manager resource, as the person may read it.
async fn resource(page: &VaultPage<'_>) -> Result<Value, Refusal> {
    page.management(Method::GET, &format!("?api-version={ARM_API}"), None).await
}

/// `/portal/vaults/{vault}`: its properties as Resource Manager shows them to the person (who needs the right
/// to read the vault); without that right, only its URI, which its host name already tells.
pub async fn show(page: &VaultPage<'_>) -> Response {
    let vault = page.vault;
    let answer = resource(page).await;
    let status = answer.as_ref().map_or_else(status_of, |_| StatusCode::OK);
    let property = |p: &str| answer.as_ref().ok().and_then(|a| a.pointer(p)).map(shown).unwrap_or_default();
    let model = match answer.as_ref().ok().and_then(|a| a.pointer("/properties/enableRbacAuthorization")) {
        Some(Value::Bool(true)) => "Azure role-based access control",
        Some(_) => "Vault access policy",
        None => "",
    };
    let body = html! {
        dl {
            dt { "Vault URI" } dd #vault-uri { (page.visit.state.endpoints.vault_url(&vault.name)) }
        }
        @match &answer {
            Err(failed) => (html::alert(&failed.message)),
            Ok(_) => {
                dl {
                    dt { "Permission model" } dd { (model) }
                    dt { "Resource id" } dd { (property("/id")) }
                    dt { "Location" } dd { (property("/location")) }
                    dt { "Pricing tier" } dd { (property("/properties/sku/name")) }
                    dt { "Soft delete, days" } dd { (property("/properties/softDeleteRetentionInDays")) }
                    dt { "Purge protection" } dd { (property("/properties/enablePurgeProtection")) }
                    dt { "Public network access" } dd { (property("/properties/publicNetworkAccess")) }
                    dt { "Firewall default action" } dd { (property("/properties/networkAcls/defaultAction")) }
                    dt { "Tags" } dd { (property("/tags")) }
                }
            }
        }
    };
    page.render(status, Tab::Overview, &vault.name, body)
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Object(map) => map.iter().map(|(k, v)| format!("{k}={}", shown(v))).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `/portal/vaults/{vault}/networking`; posted: the firewall is replaced by the form's.
pub async fn networking(page: &VaultPage<'_>) -> Response {
    let visit = page.visit;
    let mut refusal = None;
    if visit.form.is_some() {
        match save_networking(page).await {
            Ok(()) => return page.done(&page.url(Tab::Networking), "The networking settings were saved.".into()),
            Err(failed) => refusal = Some(failed),
        }
    }
    let answer = resource(page).await;
    let status = match (&refusal, &answer) {
        (Some(refusal), _) => status_of(refusal),
        (None, Err(failed)) => status_of(failed),
        _ => StatusCode::OK,
    };
    let acls = answer.as_ref().ok().and_then(|a| a.pointer("/properties/networkAcls")).cloned().unwrap_or_default();
    let lines = |list: &str, field: &str| -> String {
        acls.get(list)
            .and_then(Value::as_array)
            .map(|rules| {
                rules.iter().filter_map(|r| r.get(field).and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
            })
            .unwrap_or_default()
    };
    let default_action = acls.get("defaultAction").and_then(Value::as_str).unwrap_or("Allow");
    let bypass = acls.get("bypass").and_then(Value::as_str).unwrap_or("AzureServices");
    let public = answer
        .as_ref()
        .ok()
        .and_then(|a| a.pointer("/properties/publicNetworkAccess"))
        .and_then(Value::as_str)
        .unwrap_or("Enabled");
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        @if let Err(failed) = &answer { (html::alert(&failed.message)) }
        form method="post" action=(page.url(Tab::Networking)) {
            (html::csrf(&visit.session))
            fieldset {
                legend { "Firewall" }
                label for="public" { "Public network access" }
                (choice("public", &["Enabled", "Disabled"], public))
                label for="default_action" { "Default action" }
                (choice("default_action", &["Allow", "Deny"], default_action))
                label for="ip_rules" { "IP rules (one address or CIDR range per line)" }
                textarea #ip_rules name="ip_rules" rows="4" { (lines("ipRules", "value")) }
                label for="vnet_rules" { "Virtual network rules (one subnet resource id per line)" }
                textarea #vnet_rules name="vnet_rules" rows="3" { (lines("virtualNetworkRules", "id")) }
                label { input type="checkbox" name="trusted" value="true" checked[bypass == "AzureServices"]; "Allow trusted Microsoft services to bypass this firewall" }
                p { button type="submit" { "Save networking" } }
            }
        }
    };
    page.render(status, Tab::Networking, "Networking", body)
}

fn choice(name: &str, options: &[&str], selected: &str) -> Markup {
    html! {
        select id=(name) name=(name) {
            @for option in options { option value=(option) selected[*option == selected] { (option) } }
        }
    }
}

async fn save_networking(page: &VaultPage<'_>) -> Result<(), Refusal> {
    let visit = page.visit;
    let lines = |field: &str| -> Vec<String> {
        visit.field(field).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    };
    let body = json!({ "properties": {
        "publicNetworkAccess": visit.field("public"),
        "networkAcls": {
            "defaultAction": visit.field("default_action"),
            "bypass": if visit.field("trusted") == "true" { "AzureServices" } else { "None" },
            "ipRules": lines("ip_rules").into_iter().map(|value| json!({ "value": value })).collect::<Vec<_>>(),
            "virtualNetworkRules": lines("vnet_rules").into_iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
        },
    }});
    page.management(Method::PATCH, &format!("?api-version={ARM_API}"), Some(&body)).await.map(|_| ())
}

/// `/portal/vaults/{vault}/policies`; posted: an entry added (or its permissions replaced) or removed.
pub async fn policies(page: &VaultPage<'_>) -> Response {
    let visit = page.visit;
    let mut refusal = None;
    if visit.form.is_some() {
        match save_policy(page).await {
            Ok(notice) => return page.done(&page.url(Tab::Policies), notice),
            Err(failed) => refusal = Some(failed),
        }
    }
    let answer = resource(page).await;
    let status = match (&refusal, &answer) {
        (Some(refusal), _) => status_of(refusal),
        (None, Err(failed)) => status_of(failed),
        _ => StatusCode::OK,
    };
    let directory = visit.state.directory();
    let entries = answer
        .as_ref()
        .ok()
        .and_then(|a| a.pointer("/properties/accessPolicies"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let list = |entry: &Value, kind: &str| {
        entry
            .pointer(&format!("/permissions/{kind}"))
            .and_then(Value::as_array)
            .map(|p| p.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        @if let Err(failed) = &answer { (html::alert(&failed.message)) }
        table #access-policies {
            caption { "Access policies" }
            thead { tr { th scope="col" { "Principal" } th scope="col" { "Secrets" } th scope="col" { "Keys" }
                th scope="col" { "Certificates" } th scope="col" { "Actions" } } }
            tbody {
                @for entry in &entries {
                    @let object_id = entry.get("objectId").and_then(Value::as_str).unwrap_or_default();
                    @let name = uuid::Uuid::parse_str(object_id).ok().and_then(|id| directory.principal(id)).map_or(object_id.to_owned(), |p| p.name.clone());
                    tr {
                        td { (name) }
                        td { (list(entry, "secrets")) }
                        td { (list(entry, "keys")) }
                        td { (list(entry, "certificates")) }
                        td { (super::action_button(visit, &page.url(Tab::Policies), "remove", &[("principal", object_id)], "Remove")) }
                    }
                }
            }
        }
        form method="post" action=(page.url(Tab::Policies)) {
            (html::csrf(&visit.session))
            input type="hidden" name="action" value="add";
            fieldset {
                legend { "Add access policy" }
                label for="principal" { "Principal (a user's sign-in name, a name, or an object id)" }
                input #principal type="text" name="principal" required autocomplete="off";
                @for (kind, example) in [("secrets", "get, list, set"), ("keys", "get, list, create"), ("certificates", "get, list")] {
                    label for=(kind) { "Permissions on " (kind) " (comma-separated, e.g. " (example) ")" }
                    input id=(kind) type="text" name=(kind);
                }
                p { button type="submit" { "Add access policy" } }
            }
        }
    };
    page.render(status, Tab::Policies, "Access policies", body)
}

async fn save_policy(page: &VaultPage<'_>) -> Result<String, Refusal> {
    let visit = page.visit;
    // Who may not read the vault learns nothing of the directory from the name they typed.
    resource(page).await?;
    let principal = super::access::principal_id(page, visit.field("principal").trim())?;
    let permissions = |kind: &str| -> Vec<String> {
        visit.field(kind).split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_ascii_lowercase).collect()
    };
    let (edit, notice) = match visit.field("action") {
        "add" => ("add", "The access policy was added."),
        "remove" => ("remove", "The access policy was removed."),
        other => return Err(super::unknown_action(other)),
    };
    let body = json!({ "properties": { "accessPolicies": [{
        "tenantId": page.vault.tenant_id,
        "objectId": principal,
        "permissions": { "secrets": permissions("secrets"), "keys": permissions("keys"), "certificates": permissions("certificates") },
    }]}});
    page.management(Method::PUT, &format!("/accessPolicies/{edit}?api-version={ARM_API}"), Some(&body)).await?;
    Ok(notice.to_owned())
}

//! Access control: the role assignments that reach the vault (at its scope, its objects' and above), the
//! built-in and custom roles described, and adding or removing an assignment — each a call to the management
//! API's `Microsoft.Authorization` endpoints, which decide who may.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AUTHORIZATION_API, VaultPage, status_of};
use crate::portal::backend::Refusal;
use crate::portal::html::{self, Tab};

/// `/portal/vaults/{vault}/access`; posted: add or remove an assignment.
pub async fn show(page: &VaultPage<'_>) -> Response {
    let visit = page.visit;
    let mut refusal = None;
    if visit.form.is_some() {
        match act(page).await {
            Ok(notice) => return page.done(&page.url(Tab::Access), notice),
            Err(failed) => refusal = Some(failed),
        }
    }
    let assignments = page.management(Method::GET, &assignments_path(), None).await;
    let definitions = format!("/providers/Microsoft.Authorization/roleDefinitions?api-version={AUTHORIZATION_API}");
    let roles = page.management(Method::GET, &definitions, None).await;
    let roles: Vec<Value> =
        roles.as_ref().ok().and_then(|r| r.get("value")).and_then(Value::as_array).cloned().unwrap_or_default();
    let role_name = |id: &str| {
        roles
            .iter()
            .find(|r| r.get("id").and_then(Value::as_str).is_some_and(|rid| rid.eq_ignore_ascii_case(id)))
            .and_then(|r| r.pointer("/properties/roleName"))
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_owned()
    };
    let directory = visit.state.directory();
    let principal_name = |id: &str| {
        let found = Uuid::parse_str(id).ok().and_then(|id| directory.principal(id));
        match found {
            Some(p) => {
                let tenant = directory.tenants.iter().find(|t| t.id == p.tenant_id).map_or("", |t| t.name.as_str());
                match p.kind {
                    strongroom_core::directory::PrincipalKind::User => format!("{}@{tenant}", p.name),
                    kind => format!("{} ({})", p.name, kind.as_str()),
                }
            }
            None => id.to_owned(),
        }
    };
    let status = match (&refusal, &assignments) {
        (Some(refusal), _) => status_of(refusal),
        (None, Err(failed)) => status_of(failed),
        _ => StatusCode::OK,
    };
    let vault_id = crate::management::resource::vault_id(page.vault.subscription_id, page.vault);
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        @match &assignments {
            Err(failed) => (html::alert(&failed.message)),
            Ok(answer) => {
                table #role-assignments {
                    caption { "Role assignments" }
                    thead { tr { th scope="col" { "Principal" } th scope="col" { "Role" } th scope="col" { "Scope" }
                        th scope="col" { "Actions" } } }
                    tbody {
                        @for assignment in answer.get("value").and_then(Value::as_array).into_iter().flatten() {
                            @let id = assignment.get("id").and_then(Value::as_str).unwrap_or_default();
                            @let text = |p: &str| assignment.pointer(p).and_then(Value::as_str).unwrap_or_default();
                            @let scope = text("/properties/scope");
                            tr {
                                td { (principal_name(text("/properties/principalId"))) }
                                td { (role_name(text("/properties/roleDefinitionId"))) }
                                td { (shown_scope(scope, &vault_id)) }
                                td { (super::action_button(visit, &page.url(Tab::Access), "remove", &[("id", id)], "Remove")) }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action=(page.url(Tab::Access)) {
            (html::csrf(&visit.session))
            input type="hidden" name="action" value="add";
            fieldset {
                legend { "Add role assignment" }
                label for="role" { "Role" }
                select #role name="role" {
                    @for role in &roles {
                        @let name = role.pointer("/properties/roleName").and_then(Value::as_str).unwrap_or_default();
                        option value=(role.get("id").and_then(Value::as_str).unwrap_or_default()) { (name) }
                    }
                }
                label for="principal" { "Principal (a user's sign-in name, a group's, application's or identity's name, or an object id)" }
                input #principal type="text" name="principal" required autocomplete="off";
                label for="scope" { "Scope (empty for the whole vault, or secrets/NAME, keys/NAME, certificates/NAME)" }
                input #scope type="text" name="scope" autocomplete="off";
                p { button type="submit" { "Add role assignment" } }
            }
        }
        section aria-labelledby="roles" {
            h2 #roles { "Roles" }
            dl {
                @for role in &roles {
                    dt { (role.pointer("/properties/roleName").and_then(Value::as_str).unwrap_or_default()) }
                    dd { (role.pointer("/properties/description").and_then(Value::as_str).unwrap_or_default()) }
                }
            }
        }
    };
    page.render(status, Tab::Access, "Access control", body)
}

/// The role assignments reaching the vault, under its Resource Manager id.
fn assignments_path() -> String {
    format!("/providers/Microsoft.Authorization/roleAssignments?api-version={AUTHORIZATION_API}")
}

/// An assignment's scope, relative to the vault where it is in it.
fn shown_scope(scope: &str, vault_id: &str) -> String {
    match scope.strip_prefix(vault_id) {
        Some("") => "This vault".to_owned(),
        Some(rest) => rest.trim_start_matches('/').to_owned(),
        None => format!("{scope} (inherited)"),
    }
}

fn invalid(message: String) -> Refusal {
    Refusal { status: StatusCode::BAD_REQUEST, code: "InvalidRequest".into(), message }
}

async fn act(page: &VaultPage<'_>) -> Result<String, Refusal> {
    let visit = page.visit;
    match visit.field("action") {
        "add" => {
            // Who may not read the vault's assignments learns nothing of the directory from the name they typed.
            page.management(Method::GET, &assignments_path(), None).await?;
            let principal = principal_id(page, visit.field("principal").trim())?;
            let scope = match visit.field("scope").trim().trim_matches('/') {
                "" => String::new(),
                scope => {
                    let valid = scope.split_once('/').is_some_and(|(collection, name)| {
                        ["secrets", "keys", "certificates"].contains(&collection) && super::object_name(name).is_ok()
                    });
                    if !valid {
                        return Err(invalid(format!("'{scope}' is not a scope of this vault.")));
                    }
                    format!("/{scope}")
                }
            };
            let path = format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments/{}?api-version={AUTHORIZATION_API}",
                Uuid::new_v4()
            );
            let body = json!({ "properties": { "roleDefinitionId": visit.field("role"), "principalId": principal } });
            page.management(Method::PUT, &path, Some(&body)).await?;
            Ok("The role assignment was added.".to_owned())
        }
        "remove" => {
            let id = visit.field("id");
            let well_formed = id.starts_with("/subscriptions/")
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-.".contains(&b))
                && !id.split('/').any(|segment| segment == "." || segment == "..")
                && id
                    .rsplit_once("/providers/Microsoft.Authorization/roleAssignments/")
                    .is_some_and(|(_, name)| Uuid::parse_str(name).is_ok());
            if !well_formed {
                return Err(invalid("That is not a role assignment.".to_owned()));
            }
            let path = format!("{id}?api-version={AUTHORIZATION_API}");
            visit.call(crate::portal::backend::Service::Management, Method::DELETE, &path, None).await?;
            Ok("The role assignment was removed.".to_owned())
        }
        other => Err(super::unknown_action(other)),
    }
}

/// The object id a typed principal names in the person's tenant: an object id as it is, a user by sign-in
/// name, or a group, application or identity by name.
pub(super) fn principal_id(page: &VaultPage<'_>, typed: &str) -> Result<Uuid, Refusal> {
    if let Ok(id) = Uuid::parse_str(typed) {
        return Ok(id);
    }
    let directory = page.visit.state.directory();
    let tenant = page.visit.session.tenant_id;
    directory
        .user_by_sign_in_name(tenant, typed)
        .map(|(p, _)| p.object_id)
        .or_else(|| {
            directory
                .principals()
                .iter()
                .find(|p| p.tenant_id == tenant && p.name.eq_ignore_ascii_case(typed))
                .map(|p| p.object_id)
        })
        .ok_or_else(|| {
            invalid(format!("No user, group, application or identity called '{typed}' was found in your tenant."))
        })
}

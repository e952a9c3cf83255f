//! Service principals as Graph has them — found by id, `(appId='…')` or filter, created for an application,
//! patched and deleted as Entra allows — and `directoryObjects/getByIds`, by which `az` resolves an object id.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use strongroom_core::directory::{Change, Principal, PrincipalKind};
use strongroom_core::rbac::Action;
use strongroom_proto::graph::{Collection, GetByIds, NewServicePrincipal};
use uuid::Uuid;

use super::super::error::ManagementError;
use super::super::{Context, json_response};
use super::views::{GraphType, directory_object, service_principal};
use super::{context_url, new_principal, no_content, not_found, tenant_principals, update_application};

/// The tenant's service principals: its applications (each its own service principal here), the service
/// principals of other tenants' applications, and managed identities.
pub(super) fn service_principals_of<'a>(cx: &'a Context<'_>) -> impl Iterator<Item = &'a Principal> {
    tenant_principals(cx).filter(|p| matches!(p.kind, PrincipalKind::Application | PrincipalKind::ManagedIdentity))
}

/// A service principal by object id, or by `(appId='…')`.
pub(super) fn find_service_principal(cx: &Context<'_>, id: &str) -> Result<Principal, ManagementError> {
    let app_id = id.strip_prefix("(appId=").and_then(|r| r.strip_suffix(')'));
    let key = app_id.map(|k| k.replace("%27", "'")).unwrap_or_else(|| id.to_owned());
    let wanted = Uuid::parse_str(key.trim_matches('\'')).map_err(|_| not_found(id))?;
    service_principals_of(cx)
        .find(|p| match app_id {
            Some(_) => p.client_id == Some(wanted),
            None => p.object_id == wanted,
        })
        .cloned()
        .ok_or_else(|| not_found(id))
}

/// The application a service principal of the tenant's own application is (one object here), or a refusal
/// for a service principal whose credentials live elsewhere.
pub(super) fn own_application(cx: &Context<'_>, sp: &Principal) -> Result<Principal, ManagementError> {
    let own = sp.kind == PrincipalKind::Application && !cx.directory.service_principals.contains_key(&sp.object_id);
    if own {
        return Ok(sp.clone());
    }
    Err(ManagementError::bad_request(
        "Request_BadRequest",
        match sp.kind {
            PrincipalKind::ManagedIdentity => {
                "A managed identity's credentials are managed by Azure, not through Graph."
            }
            _ => "This service principal's credentials are its application's, in the application's own tenant.",
        },
    ))
}

/// `POST /servicePrincipals {"appId"}`. The tenant's own application is its own service principal here
/// (created with it), so for it the answer is that service principal, as if just created — what
/// `az ad sp create-for-rbac` and `az ad sp create` need. For another tenant's multi-tenant application, a
/// service principal of it is created in this tenant (it signs in with the application's credentials).
pub(super) async fn create_service_principal(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::ApplicationsCreate)?;
    let body: NewServicePrincipal = cx.json()?;
    if body.account_enabled == Some(false) {
        return Err(ManagementError::bad_request(
            "Request_BadRequest",
            "Service principals here are enabled: accountEnabled false is not supported.",
        ));
    }
    let no_application = || {
        ManagementError::bad_request(
            "Request_BadRequest",
            format!(
                "The appId '{}' of the service principal does not reference a valid application object.",
                body.app_id
            ),
        )
    };
    let app_id = Uuid::parse_str(&body.app_id).map_err(|_| no_application())?;
    if let Some(existing) = service_principals_of(cx).find(|p| p.client_id == Some(app_id)).cloned() {
        if own_application(cx, &existing).is_ok() {
            return Ok(json_response(StatusCode::CREATED, &service_principal(cx, &existing)));
        }
        return Err(ManagementError::conflict(
            "Request_MultipleObjectsWithSameKeyValue",
            format!("The service principal name {app_id} is already in use."),
        ));
    }
    let home = cx
        .directory
        .principals()
        .iter()
        .find(|p| {
            p.kind == PrincipalKind::Application
                && p.client_id == Some(app_id)
                && !cx.directory.service_principals.contains_key(&p.object_id)
        })
        .filter(|home| home.multi_tenant)
        .cloned()
        .ok_or_else(no_application)?;
    if tenant_principals(cx).any(|p| p.kind == PrincipalKind::Application && p.name.eq_ignore_ascii_case(&home.name)) {
        return Err(ManagementError::conflict(
            "Request_MultipleObjectsWithSameKeyValue",
            format!("Another application of this tenant is already called '{}'.", home.name),
        ));
    }
    let principal = new_principal(cx, PrincipalKind::Application, &home.name, Some(app_id));
    cx.apply(vec![
        Change::CreatePrincipal(principal.clone()),
        Change::PutServicePrincipal { object_id: principal.object_id, application: home.object_id },
    ])
    .await?;
    Ok(json_response(StatusCode::CREATED, &service_principal(cx, &principal)))
}

/// `PATCH /servicePrincipals/{id}`. What a service principal holds here is its application's: certificates
/// (`keyCredentials`) of the tenant's own application are replaced as the application's are; any other
/// property must keep its value, since nothing else of it can change.
pub(super) async fn update_service_principal(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::ApplicationCredentialsUpdate)?;
    let sp = find_service_principal(cx, id)?;
    let body: serde_json::Map<String, Value> = cx.json()?;
    if body.keys().any(|k| k == "keyCredentials") {
        if body.len() > 1 {
            return Err(ManagementError::bad_request(
                "Request_BadRequest",
                "keyCredentials is changed on its own, without other properties.",
            ));
        }
        let app = own_application(cx, &sp)?;
        return update_application(cx, &app.object_id.to_string()).await;
    }
    let current = serde_json::to_value(service_principal(cx, &sp)).unwrap_or_default();
    if let Some((name, _)) = body.iter().find(|(name, value)| current.get(name.as_str()) != Some(value)) {
        return Err(ManagementError::bad_request(
            "Request_BadRequest",
            format!("The property '{name}' of a service principal cannot be changed on this server."),
        ));
    }
    Ok(no_content())
}

/// `DELETE /servicePrincipals/{id}`: a service principal of another tenant's application goes, and with it
/// its role assignments (a deleted principal's assignments grant nothing in Entra either, and a new service
/// principal never inherits them). The tenant's own application and its service principal are one object
/// here, so that one is deleted as the application; a managed identity's goes with the identity.
pub(super) async fn delete_service_principal(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::ApplicationsDelete)?;
    let sp = find_service_principal(cx, id)?;
    if !cx.directory.service_principals.contains_key(&sp.object_id) {
        return Err(ManagementError::bad_request(
            "Request_BadRequest",
            match sp.kind {
                PrincipalKind::ManagedIdentity => {
                    "A managed identity's service principal is deleted with the identity, through Resource Manager."
                        .to_owned()
                }
                _ => format!(
                    "This application and its service principal are one object on this server: delete the application (DELETE /v1.0/applications/{}).",
                    sp.object_id
                ),
            },
        ));
    }
    cx.apply(vec![Change::DeletePrincipal { object_id: sp.object_id }]).await?;
    Ok(no_content())
}

/// The largest number of ids getByIds takes.
pub(super) const MAX_IDS: usize = 1000;

/// `POST /directoryObjects/getByIds`: the tenant's objects among `ids`, in their order, of the `types` asked
/// for (every type when none are named) and the caller may read; ids of nothing readable are left out, as
/// Graph does for ids it does not find. An application here is also its service principal: it is shown as
/// the service principal when that type is wanted (role assignments name service principals), else as the
/// application.
pub(super) fn get_by_ids(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    let body: GetByIds = cx.json()?;
    if body.ids.len() > MAX_IDS {
        return Err(ManagementError::bad_request("Request_BadRequest", format!("At most {MAX_IDS} ids are accepted.")));
    }
    let all = [GraphType::User, GraphType::Group, GraphType::ServicePrincipal, GraphType::Application];
    let wanted: Vec<GraphType> = match &body.types {
        None => all.to_vec(),
        Some(types) => {
            all.into_iter().filter(|t| types.iter().any(|name| name.eq_ignore_ascii_case(t.name()))).collect()
        }
    };
    let readable: Vec<GraphType> = wanted.iter().copied().filter(|t| cx.permits_directory(t.read_action())).collect();
    // The audit names the read that decided; with nothing readable, the refusal.
    match (readable.first(), wanted.first()) {
        (Some(first), _) => cx.authorize_directory(first.read_action())?,
        (None, Some(first)) => cx.authorize_directory(first.read_action())?,
        (None, None) => {}
    }
    let value: Vec<Value> = body
        .ids
        .iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .filter_map(|id| tenant_principals(cx).find(|p| p.object_id == id))
        .filter_map(|p| {
            let is_own_application = own_application(cx, p).is_ok();
            let shown = [GraphType::of(p), GraphType::Application]
                .into_iter()
                .filter(|t| *t == GraphType::of(p) || is_own_application)
                .find(|t| readable.contains(t))?;
            Some(directory_object(cx, p, shown))
        })
        .collect();
    let collection = Collection { context: Some(context_url(cx, "directoryObjects")), next_link: None, value };
    Ok(json_response(StatusCode::OK, &collection))
}

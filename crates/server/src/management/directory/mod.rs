//! The directory, shaped as Microsoft Graph `v1.0`: applications (with their service principals and client
//! secrets), users and groups of the caller's tenant. Entra directory roles decide who may do what: Global
//! Administrator everything, Application Administrator applications, User Administrator users and groups.
//!
//! Credentials: client secrets (returned once, by `addPassword`, and stored only as Argon2id hashes),
//! certificates (`keyCredentials`, replaced by `PATCH`) and federated credentials
//! (`federatedIdentityCredentials`).
//!
//! This module routes `/v1.0/…`, reads Graph's query options and serves applications, users and groups;
//! [`service_principals`] serves service principals and `directoryObjects/getByIds`, and [`views`] is how
//! each principal reads as a Graph object.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use strongroom_core::assertion::{CertificateCredential, FederatedCredential};
use strongroom_core::credential::{self, StoredSecret};
use strongroom_core::directory::Change;
use strongroom_core::directory::{Principal, PrincipalKind, User, may_manage_user};
use strongroom_core::graph_query::{Filterable, GraphQuery};
use strongroom_core::rbac::Action;
use strongroom_core::redirect;
use strongroom_proto::graph::{
    AddPassword, Application, ApplicationUpdate, CheckMemberGroups, Collection, FederatedIdentityCredential, Group,
    ObjectReference, PasswordCredential, RemovePassword, User as GraphUser,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use self::service_principals::{
    create_service_principal, delete_service_principal, find_service_principal, get_by_ids, own_application,
    service_principals_of, update_service_principal,
};
use self::views::{
    GraphType, application, credentials_of, derived_id, directory_object, federated_view, group, key_id, rfc3339,
    service_principal, user,
};
use super::error::ManagementError;
use super::{Context, json_response};

mod service_principals;
mod views;

/// How long a client secret lives when `addPassword` names no end (Graph's default).
const DEFAULT_SECRET_DAYS: i64 = 730;

/// Serves `/v1.0/{rest}`.
pub async fn handle(cx: &mut Context<'_>, rest: &str) -> Result<Response, ManagementError> {
    let trimmed = rest.trim_matches('/');
    let mut segments: Vec<&str> = trimmed.split('/').collect();
    // Graph's alternate key, `/servicePrincipals(appId='…')`, is the collection and the key.
    let alternate_key = segments.first().and_then(|first| first.find('(').map(|at| first.split_at(at)));
    if let Some((collection, key)) = alternate_key {
        segments.splice(0..1, [collection, key]);
    }
    let method = cx.method.clone();
    let lists = method == Method::GET && matches!(segments.as_slice(), [_] | [_, _, "members"]);
    if !lists {
        // Only collections take query options; one given elsewhere is refused, never ignored.
        graph_query(cx, NOTHING)?;
    }
    let path = format!("/v1.0/{trimmed}");
    match (segments.as_slice(), &method) {
        (["applications"], &Method::GET) => {
            cx.authorize_directory(Action::ApplicationsRead)?;
            let value = home_applications(cx).iter().map(|p| application(cx, p)).collect();
            listing(cx, &path, value, APPLICATIONS, "applications")
        }
        (["applications"], &Method::POST) => create_application(cx).await,
        (["applications", id], &Method::GET) => {
            cx.authorize_directory(Action::ApplicationsRead)?;
            let app = find_application(cx, id)?;
            entity(cx, "applications", &application(cx, &app))
        }
        (["applications", id], &Method::DELETE) => {
            cx.authorize_directory(Action::ApplicationsDelete)?;
            let app = find_application(cx, id)?;
            // Its service principals in other tenants go with it: they sign in with its credentials.
            let mut changes: Vec<Change> = cx
                .directory
                .service_principals
                .iter()
                .filter(|(_, home)| **home == app.object_id)
                .map(|(sp, _)| Change::DeletePrincipal { object_id: *sp })
                .collect();
            changes.push(Change::DeletePrincipal { object_id: app.object_id });
            cx.apply(changes).await?;
            Ok(no_content())
        }
        (["applications", id], &Method::PATCH) => update_application(cx, id).await,
        (["applications", id, "federatedIdentityCredentials"], &Method::GET) => {
            cx.authorize_directory(Action::ApplicationsRead)?;
            let app = find_application(cx, id)?;
            let value = credentials_of(cx, &app).federated.iter().map(federated_view).collect();
            Ok(json_response(StatusCode::OK, &Collection::<FederatedIdentityCredential>::of(value)))
        }
        (["applications", id, "federatedIdentityCredentials"], &Method::POST) => add_federated(cx, id).await,
        (["applications", id, "federatedIdentityCredentials", name], &Method::DELETE) => {
            remove_federated(cx, id, name).await
        }
        (["applications", id, "addPassword"], &Method::POST) => add_password(cx, id).await,
        (["applications", id, "removePassword"], &Method::POST) => remove_password(cx, id).await,
        (["servicePrincipals"], &Method::GET) => {
            cx.authorize_directory(Action::ApplicationsRead)?;
            let value = service_principals_of(cx).map(|p| service_principal(cx, p)).collect();
            listing(cx, &path, value, SERVICE_PRINCIPALS, "servicePrincipals")
        }
        (["servicePrincipals"], &Method::POST) => create_service_principal(cx).await,
        (["servicePrincipals", id], &Method::GET) => {
            cx.authorize_directory(Action::ApplicationsRead)?;
            let found = find_service_principal(cx, id)?;
            entity(cx, "servicePrincipals", &service_principal(cx, &found))
        }
        (["servicePrincipals", id], &Method::PATCH) => update_service_principal(cx, id).await,
        (["servicePrincipals", id], &Method::DELETE) => delete_service_principal(cx, id).await,
        (["servicePrincipals", id, operation @ ("addPassword" | "removePassword")], &Method::POST) => {
            // A service principal in its application's tenant is the application here: its secrets are the
            // application's.
            cx.authorize_directory(Action::ApplicationCredentialsUpdate)?;
            let app = own_application(cx, &find_service_principal(cx, id)?)?.object_id.to_string();
            match *operation {
                "addPassword" => add_password(cx, &app).await,
                _ => remove_password(cx, &app).await,
            }
        }
        (["directoryObjects", "getByIds"], &Method::POST) => get_by_ids(cx),
        (["directoryObjects" | "users" | "groups" | "servicePrincipals", id, "checkMemberGroups"], &Method::POST) => {
            check_member_groups(cx, id)
        }
        (["me"], &Method::GET) => {
            // The signed-in user reads itself without a directory role (Graph's `User.Read`).
            let me = tenant_principals(cx)
                .find(|p| p.kind == PrincipalKind::User && p.object_id == cx.caller.object_id)
                .cloned()
                .ok_or_else(|| {
                    ManagementError::bad_request(
                        "BadRequest",
                        "/me request is only valid with delegated authentication flow.",
                    )
                })?;
            entity(cx, "users", &user(cx, &me))
        }
        (["users"], &Method::GET) => {
            cx.authorize_directory(Action::UsersRead)?;
            let value: Vec<GraphUser> =
                tenant_principals(cx).filter(|p| p.kind == PrincipalKind::User).map(|p| user(cx, p)).collect();
            listing(cx, &path, value, USERS, "users")
        }
        (["users"], &Method::POST) => create_user(cx).await,
        (["users", id], &Method::GET) => {
            cx.authorize_directory(Action::UsersRead)?;
            let found = find(cx, PrincipalKind::User, id)?;
            entity(cx, "users", &user(cx, &found))
        }
        (["users", id], &Method::PATCH) => update_user(cx, id).await,
        (["users", id], &Method::DELETE) => delete_user(cx, id).await,
        (["groups"], &Method::GET) => {
            cx.authorize_directory(Action::GroupsRead)?;
            let value: Vec<Group> =
                tenant_principals(cx).filter(|p| p.kind == PrincipalKind::Group).map(|p| group(cx, p)).collect();
            listing(cx, &path, value, GROUPS, "groups")
        }
        (["groups"], &Method::POST) => create_group(cx).await,
        (["groups", id], &Method::GET) => {
            cx.authorize_directory(Action::GroupsRead)?;
            let found = find(cx, PrincipalKind::Group, id)?;
            entity(cx, "groups", &group(cx, &found))
        }
        (["groups", id], &Method::DELETE) => delete_group(cx, id).await,
        (["groups", id, "members"], &Method::GET) => {
            cx.authorize_directory(Action::GroupsRead)?;
            let found = find(cx, PrincipalKind::Group, id)?;
            let mut members: Vec<&Principal> = cx
                .directory
                .memberships
                .iter()
                .filter(|(_, groups)| groups.contains(&found.object_id))
                .filter_map(|(member, _)| cx.directory.principal(*member))
                .collect();
            members.sort_by_key(|p| p.object_id);
            let value = members.into_iter().map(|p| directory_object(cx, p, GraphType::of(p))).collect();
            listing(cx, &path, value, MEMBERS, "directoryObjects")
        }
        (["groups", id, "members", "$ref"], &Method::POST) => {
            let reference: ObjectReference = cx.json()?;
            let member = reference.odata_id.rsplit('/').next().unwrap_or_default().to_owned();
            change_membership(cx, id, &member, true).await
        }
        (["groups", id, "members", member, "$ref"], &Method::DELETE) => change_membership(cx, id, member, false).await,
        _ => Err(ManagementError::not_found(
            "Request_ResourceNotFound",
            format!("{} /v1.0/{rest} is not a directory operation of this server.", method.as_str()),
        )),
    }
}

/// What a filter may name on each collection, and what `$select` may keep.
const APPLICATIONS: Filterable<'static> = Filterable {
    scalars: &["id", "appId", "displayName", "signInAudience", "publisherDomain"],
    collections: &["identifierUris", "tags"],
    selectable: &[
        "id",
        "appId",
        "displayName",
        "signInAudience",
        "publisherDomain",
        "passwordCredentials",
        "keyCredentials",
        "publicClient",
        "identifierUris",
        "requiredResourceAccess",
        "appRoles",
        "tags",
    ],
};
const SERVICE_PRINCIPALS: Filterable<'static> = Filterable {
    scalars: &["id", "appId", "displayName", "servicePrincipalType", "appOwnerOrganizationId", "appDisplayName"],
    collections: &["servicePrincipalNames", "alternativeNames", "tags"],
    selectable: &[
        "id",
        "accountEnabled",
        "appId",
        "appDisplayName",
        "appOwnerOrganizationId",
        "displayName",
        "servicePrincipalType",
        "servicePrincipalNames",
        "alternativeNames",
        "signInAudience",
        "passwordCredentials",
        "keyCredentials",
        "replyUrls",
        "tags",
        "appRoles",
        "oauth2PermissionScopes",
    ],
};
const USERS: Filterable<'static> = Filterable {
    scalars: &["id", "displayName", "userPrincipalName", "mail", "givenName", "surname"],
    collections: &[],
    selectable: &[
        "id",
        "displayName",
        "userPrincipalName",
        "mail",
        "givenName",
        "surname",
        "jobTitle",
        "businessPhones",
        "accountEnabled",
    ],
};
const GROUPS: Filterable<'static> = Filterable {
    scalars: &["id", "displayName", "mail", "mailNickname"],
    collections: &["groupTypes"],
    selectable: &[
        "id",
        "displayName",
        "mail",
        "mailNickname",
        "description",
        "securityEnabled",
        "mailEnabled",
        "groupTypes",
        "isAssignableToRole",
    ],
};
/// A group's members, of every kind: what all directory objects have.
const MEMBERS: Filterable<'static> =
    Filterable { scalars: &["id", "displayName"], collections: &[], selectable: &["id", "displayName"] };
/// Where no query option applies.
const NOTHING: Filterable<'static> = Filterable { scalars: &[], collections: &[], selectable: &[] };

/// The request's Graph query options, read against `filterable`.
fn graph_query(cx: &Context<'_>, filterable: Filterable<'_>) -> Result<GraphQuery, ManagementError> {
    Ok(GraphQuery::parse(query_pairs(cx).iter().map(|(k, v)| (k.as_str(), v.as_str())), filterable)?)
}

fn query_pairs(cx: &Context<'_>) -> Vec<(String, String)> {
    form_urlencoded::parse(cx.query.as_deref().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `{graph}/v1.0/$metadata#{set}`: what a response holds, as Graph names it.
fn context_url(cx: &Context<'_>, set: &str) -> String {
    format!("{}/v1.0/$metadata#{set}", cx.origin)
}

/// A collection answer from `path`: `items` filtered, paged and cut down as the query options say, with the
/// link to the next page (the request's own options and the next `$skiptoken`) when there is one.
fn listing<T: Serialize>(
    cx: &Context<'_>,
    path: &str,
    items: Vec<T>,
    filterable: Filterable<'_>,
    set: &str,
) -> Result<Response, ManagementError> {
    let query = graph_query(cx, filterable)?;
    let items = items.iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>().map_err(|e| {
        tracing::error!("encoding a directory object failed: {e}");
        ManagementError::internal()
    })?;
    let page = query.apply(items);
    let next_link = page.next.map(|skiptoken| {
        let mut next = form_urlencoded::Serializer::new(String::new());
        for (name, value) in
            query_pairs(cx).iter().filter(|(k, _)| !k.trim_start_matches('$').eq_ignore_ascii_case("skiptoken"))
        {
            next.append_pair(name, value);
        }
        next.append_pair("$skiptoken", &skiptoken);
        format!("{}{path}?{}", cx.origin, next.finish())
    });
    let collection = Collection { context: Some(context_url(cx, set)), next_link, value: page.items };
    Ok(json_response(StatusCode::OK, &collection))
}

/// One object of the entity set `set`, with Graph's `@odata.context`.
fn entity(cx: &Context<'_>, set: &str, item: &impl Serialize) -> Result<Response, ManagementError> {
    let mut value = serde_json::to_value(item).map_err(|e| {
        tracing::error!("encoding a directory object failed: {e}");
        ManagementError::internal()
    })?;
    if let Some(object) = value.as_object_mut() {
        object.insert("@odata.context".to_owned(), Value::String(context_url(cx, &format!("{set}/$entity"))));
    }
    Ok(json_response(StatusCode::OK, &value))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn tenant_principals<'a>(cx: &'a Context<'_>) -> impl Iterator<Item = &'a Principal> {
    let tenant = cx.tenant.id;
    cx.directory.principals().iter().filter(move |p| p.tenant_id == tenant)
}

/// The tenant's own applications (service principals of other tenants' applications are not application
/// objects here).
fn home_applications(cx: &Context<'_>) -> Vec<Principal> {
    tenant_principals(cx)
        .filter(|p| p.kind == PrincipalKind::Application && !cx.directory.service_principals.contains_key(&p.object_id))
        .cloned()
        .collect()
}

fn not_found(id: &str) -> ManagementError {
    ManagementError::not_found(
        "Request_ResourceNotFound",
        format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

/// An application by object id, client id, or `(appId='…')`.
fn find_application(cx: &Context<'_>, id: &str) -> Result<Principal, ManagementError> {
    let key = id.strip_prefix("(appId='").and_then(|r| r.strip_suffix("')")).unwrap_or(id);
    let wanted = Uuid::parse_str(key).map_err(|_| not_found(id))?;
    home_applications(cx)
        .into_iter()
        .find(|p| p.object_id == wanted || p.client_id == Some(wanted))
        .ok_or_else(|| not_found(id))
}

/// The most group ids `checkMemberGroups` takes, as in Graph.
const MAX_CHECKED_GROUPS: usize = 20;

/// `checkMemberGroups`: which of the groups named the object `id` belongs to, directly or through other groups.
fn check_member_groups(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::GroupsRead)?;
    let body: CheckMemberGroups = cx.json()?;
    if body.group_ids.len() > MAX_CHECKED_GROUPS {
        return Err(ManagementError::bad_request(
            "Request_BadRequest",
            format!("At most {MAX_CHECKED_GROUPS} group ids are accepted."),
        ));
    }
    let object_id = Uuid::parse_str(id)
        .ok()
        .filter(|object_id| tenant_principals(cx).any(|p| p.object_id == *object_id))
        .ok_or_else(|| not_found(id))?;
    let member_of = cx.directory.groups_of(object_id);
    let value: Vec<Value> = body
        .group_ids
        .iter()
        .filter(|group| Uuid::parse_str(group).is_ok_and(|group| member_of.contains(&group)))
        .map(|group| Value::String(group.clone()))
        .collect();
    Ok(json_response(StatusCode::OK, &Collection::of(value)))
}

/// A principal of `kind` by object id (or, for users, by sign-in name).
fn find(cx: &Context<'_>, kind: PrincipalKind, id: &str) -> Result<Principal, ManagementError> {
    let by_id = Uuid::parse_str(id).ok();
    let found = match by_id {
        Some(object_id) => tenant_principals(cx).find(|p| p.kind == kind && p.object_id == object_id).cloned(),
        None if kind == PrincipalKind::User => {
            cx.directory.user_by_sign_in_name(cx.tenant.id, id).map(|(p, _)| p.clone())
        }
        None => None,
    };
    found.ok_or_else(|| not_found(id))
}

/// Refuses a name the tenant already uses for a principal of `kind`, or one that is not a plain name.
fn check_new_name(cx: &Context<'_>, kind: PrincipalKind, name: &str) -> Result<(), ManagementError> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !plain {
        return Err(ManagementError::bad_request(
            "Request_BadRequest",
            "A name is 1 to 64 letters, digits, '-', '_' and '.'.",
        ));
    }
    if tenant_principals(cx).any(|p| p.kind == kind && p.name.eq_ignore_ascii_case(name)) {
        return Err(ManagementError::bad_request(
            "Request_BadRequest",
            format!("Another object with the same value for property displayName already exists: '{name}'."),
        ));
    }
    Ok(())
}

fn new_principal(cx: &Context<'_>, kind: PrincipalKind, name: &str, client_id: Option<Uuid>) -> Principal {
    Principal {
        object_id: Uuid::new_v4(),
        tenant_id: cx.tenant.id,
        kind,
        name: name.to_owned(),
        client_id,
        trusted_service: false,
        multi_tenant: false,
    }
}

async fn create_application(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::ApplicationsCreate)?;
    let body: Application = cx.json()?;
    check_new_name(cx, PrincipalKind::Application, &body.display_name)?;
    let mut principal = new_principal(cx, PrincipalKind::Application, &body.display_name, Some(Uuid::new_v4()));
    principal.multi_tenant = match body.sign_in_audience.as_deref() {
        None | Some("AzureADMyOrg") => false,
        Some("AzureADMultipleOrgs") => true,
        Some(other) => {
            return Err(ManagementError::bad_request(
                "Request_BadRequest",
                format!("signInAudience '{other}' is not supported: use AzureADMyOrg or AzureADMultipleOrgs."),
            ));
        }
    };
    cx.apply(vec![Change::CreatePrincipal(principal.clone())]).await?;
    Ok(json_response(StatusCode::CREATED, &application(cx, &principal)))
}

async fn add_federated(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::ApplicationCredentialsUpdate)?;
    let app = find_application(cx, id)?;
    let body: FederatedIdentityCredential = cx.json()?;
    let [audience] = body.audiences.as_slice() else {
        return Err(ManagementError::bad_request("Request_BadRequest", "audiences holds exactly one audience."));
    };
    let credential = FederatedCredential {
        name: body.name.clone(),
        issuer: body.issuer.clone(),
        subject: body.subject.clone(),
        audience: audience.clone(),
        keys: Vec::new(),
    };
    credential.validate()?;
    let mut credentials = credentials_of(cx, &app);
    if credentials.federated.iter().any(|c| c.name.eq_ignore_ascii_case(&credential.name)) {
        return Err(ManagementError::conflict(
            "Request_MultipleObjectsWithSameKeyValue",
            format!("The application already has a federated credential named '{}'.", credential.name),
        ));
    }
    let view = federated_view(&credential);
    credentials.federated.push(credential);
    cx.apply(vec![Change::PutApplicationCredentials { object_id: app.object_id, credentials }]).await?;
    Ok(json_response(StatusCode::CREATED, &view))
}

async fn remove_federated(cx: &mut Context<'_>, id: &str, name: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::ApplicationCredentialsUpdate)?;
    let app = find_application(cx, id)?;
    let mut credentials = credentials_of(cx, &app);
    let before = credentials.federated.len();
    credentials
        .federated
        .retain(|c| !c.name.eq_ignore_ascii_case(name) && derived_id(&c.name).to_string() != name.to_ascii_lowercase());
    if credentials.federated.len() == before {
        return Err(not_found(name));
    }
    cx.apply(vec![Change::PutApplicationCredentials { object_id: app.object_id, credentials }]).await?;
    Ok(no_content())
}

/// `PATCH /applications/{id}`: replaces the application's certificates (`keyCredentials`) and redirect URIs
/// (`publicClient`, `web`, `spa`), each when given.
async fn update_application(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::ApplicationCredentialsUpdate)?;
    let app = find_application(cx, id)?;
    let body: ApplicationUpdate = cx.json()?;
    let mut credentials = credentials_of(cx, &app);
    if let Some(keys) = body.key_credentials {
        let mut certificates = Vec::new();
        for key in keys {
            let der = key
                .key
                .as_deref()
                .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k.trim()).ok())
                .ok_or_else(|| {
                    ManagementError::bad_request(
                        "Request_BadRequest",
                        "keyCredentials[].key is a base64 DER certificate.",
                    )
                })?;
            certificates.push(CertificateCredential::from_der(&der)?);
        }
        credentials.certificates = certificates;
    }
    let platforms = [body.public_client, body.web, body.spa];
    if platforms.iter().any(Option::is_some) {
        let uris: Vec<String> = platforms.into_iter().flatten().flat_map(|p| p.redirect_uris).collect();
        uris.iter().try_for_each(|uri| redirect::validate(uri))?;
        credentials.redirect_uris = uris;
    }
    cx.apply(vec![Change::PutApplicationCredentials { object_id: app.object_id, credentials }]).await?;
    Ok(no_content())
}

async fn add_password(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::ApplicationCredentialsUpdate)?;
    let app = find_application(cx, id)?;
    let body: AddPassword = if cx.body.is_empty() { AddPassword::default() } else { cx.json()? };
    let now = cx.state.clock.now_seconds();
    let expires = match &body.password_credential.end_date_time {
        Some(end) => OffsetDateTime::parse(end, &Rfc3339)
            .map_err(|_| ManagementError::bad_request("Request_BadRequest", "endDateTime is an RFC 3339 time."))?
            .unix_timestamp(),
        None => now + DEFAULT_SECRET_DAYS * 86_400,
    };
    if expires <= now {
        return Err(ManagementError::bad_request("Request_BadRequest", "endDateTime is in the past."));
    }
    let secret_text = credential::generate_client_secret()?;
    let stored = StoredSecret { hash: credential::hash_secret(&secret_text)?, expires: Some(expires) };
    let credential = PasswordCredential {
        key_id: Some(key_id(&stored).to_string()),
        display_name: body.password_credential.display_name,
        end_date_time: rfc3339(expires),
        secret_text: Some(secret_text),
    };
    cx.apply(vec![Change::AddClientSecret { object_id: app.object_id, secret: stored }]).await?;
    Ok(json_response(StatusCode::OK, &credential))
}

async fn remove_password(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::ApplicationCredentialsUpdate)?;
    let app = find_application(cx, id)?;
    let body: RemovePassword = cx.json()?;
    let stored = cx
        .directory
        .client_secrets(app.object_id)
        .iter()
        .find(|s| key_id(s).to_string().eq_ignore_ascii_case(&body.key_id))
        .cloned()
        .ok_or_else(|| not_found(&body.key_id))?;
    cx.apply(vec![Change::RemoveClientSecret { object_id: app.object_id, hash: stored.hash }]).await?;
    Ok(no_content())
}

fn password_hash(password: &str) -> Result<String, ManagementError> {
    if password.chars().count() < 8 {
        return Err(ManagementError::bad_request("Request_BadRequest", "A password is at least 8 characters."));
    }
    Ok(credential::hash_secret(password)?)
}

async fn create_user(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::UsersCreate)?;
    let body: GraphUser = cx.json()?;
    let name = match body.user_principal_name.rsplit_once('@') {
        Some((name, domain)) if domain.eq_ignore_ascii_case(&cx.tenant.name) => name.to_owned(),
        Some(_) => {
            return Err(ManagementError::bad_request(
                "Request_BadRequest",
                format!("userPrincipalName must end with @{}.", cx.tenant.name),
            ));
        }
        None if !body.user_principal_name.is_empty() => body.user_principal_name.clone(),
        None => body.display_name.clone(),
    };
    check_new_name(cx, PrincipalKind::User, &name)?;
    let password = body
        .password_profile
        .as_ref()
        .ok_or_else(|| ManagementError::bad_request("Request_BadRequest", "passwordProfile.password is required."))?;
    let details = User::new(password_hash(&password.password)?, body.account_enabled.unwrap_or(true));
    let principal = new_principal(cx, PrincipalKind::User, &name, None);
    cx.apply(vec![
        Change::CreatePrincipal(principal.clone()),
        Change::PutUser { object_id: principal.object_id, user: details },
    ])
    .await?;
    Ok(json_response(StatusCode::CREATED, &user(cx, &principal)))
}

async fn update_user(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::UsersUpdate)?;
    let principal = find(cx, PrincipalKind::User, id)?;
    check_may_manage(cx, &principal)?;
    let body: serde_json::Value = cx.json()?;
    let stored = cx.directory.users.get(&principal.object_id).ok_or_else(|| not_found(id))?;
    let mut enabled = stored.enabled;
    let mut new_hash = stored.password_hash.clone();
    if let Some(value) = body.get("accountEnabled") {
        enabled = value
            .as_bool()
            .ok_or_else(|| ManagementError::bad_request("Request_BadRequest", "accountEnabled is true or false."))?;
    }
    if let Some(password) = body.pointer("/passwordProfile/password") {
        let password = password.as_str().ok_or_else(|| {
            ManagementError::bad_request("Request_BadRequest", "passwordProfile.password is a string.")
        })?;
        new_hash = password_hash(password)?;
    }
    // A reset or a disabling revokes the user's refresh tokens and pending codes, on every node.
    let details = stored.changed_to(new_hash, enabled, cx.state.clock.now_millis());
    cx.apply(vec![Change::PutUser { object_id: principal.object_id, user: details }]).await?;
    Ok(no_content())
}

/// Entra's "who can reset passwords", which also decides who may enable, disable or delete a user: the
/// caller's directory roles must allow managing a holder of the target's.
fn check_may_manage(cx: &Context<'_>, target: &Principal) -> Result<(), ManagementError> {
    let actor = cx.directory.directory_roles_of(cx.tenant.id, cx.caller.object_id);
    let held = cx.directory.directory_roles_of(cx.tenant.id, target.object_id);
    if may_manage_user(&actor, &held) { Ok(()) } else { Err(ManagementError::insufficient_privileges()) }
}

async fn create_group(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::GroupsCreate)?;
    let body: Group = cx.json()?;
    if body.is_assignable_to_role == Some(true) {
        // Only those who manage directory roles create role-assignable groups (Entra's rule); directory roles
        // are assigned in the configuration, so such a group is declared there.
        cx.authorize_directory(Action::DirectoryRoleAssignmentsManage)?;
        return Err(ManagementError::bad_request(
            "Request_BadRequest",
            "Role-assignable groups are declared in the configuration, with the directory roles they hold.",
        ));
    }
    check_new_name(cx, PrincipalKind::Group, &body.display_name)?;
    let principal = new_principal(cx, PrincipalKind::Group, &body.display_name, None);
    cx.apply(vec![Change::CreatePrincipal(principal.clone())]).await?;
    Ok(json_response(StatusCode::CREATED, &group(cx, &principal)))
}

async fn delete_user(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::UsersDelete)?;
    let principal = find(cx, PrincipalKind::User, id)?;
    check_may_manage(cx, &principal)?;
    cx.apply(vec![Change::DeletePrincipal { object_id: principal.object_id }]).await?;
    Ok(no_content())
}

async fn delete_group(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::GroupsDelete)?;
    let principal = find(cx, PrincipalKind::Group, id)?;
    if cx.directory.membership_grants_directory_roles(cx.tenant.id, principal.object_id) {
        cx.authorize_directory(Action::DirectoryRoleAssignmentsManage)?;
    }
    cx.apply(vec![Change::DeletePrincipal { object_id: principal.object_id }]).await?;
    Ok(no_content())
}

async fn change_membership(
    cx: &mut Context<'_>,
    group_id: &str,
    member: &str,
    add: bool,
) -> Result<Response, ManagementError> {
    cx.authorize_directory(Action::GroupsRead)?;
    let group = find(cx, PrincipalKind::Group, group_id)?;
    let member = Uuid::parse_str(member)
        .ok()
        .and_then(|id| tenant_principals(cx).find(|p| p.object_id == id))
        .cloned()
        .ok_or_else(|| not_found(member))?;
    if cx.directory.membership_grants_directory_roles(cx.tenant.id, group.object_id) {
        // Joining hands out a directory role: Entra lets only Privileged Role and Global Administrators
        // change a role-assignable group's members, and such a group has no groups as members.
        cx.authorize_directory(Action::DirectoryRoleAssignmentsManage)?;
        if add && member.kind == PrincipalKind::Group {
            return Err(ManagementError::bad_request(
                "Request_BadRequest",
                "A group cannot be a member of a role-assignable group.",
            ));
        }
    } else {
        cx.authorize_directory(Action::GroupsUpdate)?;
    }
    let member = member.object_id;
    let mut groups = cx.directory.memberships.get(&member).cloned().unwrap_or_default();
    let present = groups.contains(&group.object_id);
    match (add, present) {
        (true, true) => {
            return Err(ManagementError::bad_request(
                "Request_BadRequest",
                "One or more added object references already exist for the following modified properties: 'members'.",
            ));
        }
        (false, false) => return Err(not_found(&member.to_string())),
        (true, false) => groups.push(group.object_id),
        (false, true) => groups.retain(|g| *g != group.object_id),
    }
    cx.apply(vec![Change::PutMemberships { member, groups }]).await?;
    Ok(no_content())
}

//! The directory, shaped as Microsoft Graph `v1.0`: applications (with their service principals and client
//! secrets), users and groups of the caller's tenant. Entra directory roles decide who may do what: Global
//! Administrator everything, Application Administrator applications, User Administrator users and groups.
//!
//! Credentials: client secrets (returned once, by `addPassword`, and stored only as Argon2id hashes),
//! certificates (`keyCredentials`, replaced by `PATCH`) and federated credentials
//! (`federatedIdentityCredentials`).

use aws_lc_rs::digest;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use strongroom_core::assertion::{CertificateCredential, FederatedCredential};
use strongroom_core::credential::{self, StoredSecret};
use strongroom_core::directory::Change;
use strongroom_core::directory::{ApplicationCredentials, Principal, PrincipalKind, User, may_manage_user};
use strongroom_core::graph_query::{Filterable, GraphQuery};
use strongroom_core::rbac::Action;
use strongroom_core::redirect;
use strongroom_proto::graph::{
    AddPassword, Application, ApplicationUpdate, Collection, FederatedIdentityCredential, GetByIds, Group,
    KeyCredential, NewServicePrincipal, ObjectReference, PasswordCredential, RedirectUris, RemovePassword,
    ServicePrincipal, User as GraphUser,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::error::ManagementError;
use super::{Context, json_response};

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

/// A stable id for a credential, derived from what identifies it (a secret's stored hash, a certificate's
/// thumbprint, a federated credential's name), so that nothing more needs storing.
fn derived_id(identity: &str) -> Uuid {
    let digest = digest::digest(&digest::SHA256, identity.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn key_id(secret: &StoredSecret) -> Uuid {
    derived_id(&secret.hash)
}

fn credentials_of(cx: &Context<'_>, app: &Principal) -> ApplicationCredentials {
    cx.directory.application_credentials(app.object_id).cloned().unwrap_or_default()
}

fn federated_view(credential: &FederatedCredential) -> FederatedIdentityCredential {
    FederatedIdentityCredential {
        id: derived_id(&credential.name).to_string(),
        name: credential.name.clone(),
        issuer: credential.issuer.clone(),
        subject: credential.subject.clone(),
        audiences: vec![credential.audience.clone()],
    }
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

fn rfc3339(seconds: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(seconds).ok()?.format(&Rfc3339).ok()
}

fn sign_in_audience(app: &Principal) -> String {
    if app.multi_tenant { "AzureADMultipleOrgs" } else { "AzureADMyOrg" }.to_owned()
}

/// An application's client secrets, without their values.
fn password_credentials(cx: &Context<'_>, app: &Principal) -> Vec<PasswordCredential> {
    cx.directory
        .client_secrets(app.object_id)
        .iter()
        .map(|s| PasswordCredential {
            key_id: Some(key_id(s).to_string()),
            end_date_time: s.expires.and_then(rfc3339),
            ..PasswordCredential::default()
        })
        .collect()
}

/// An application's certificates.
fn key_credentials(cx: &Context<'_>, app: &Principal) -> Vec<KeyCredential> {
    credentials_of(cx, app)
        .certificates
        .iter()
        .map(|c| KeyCredential {
            key_id: Some(derived_id(&c.sha256).to_string()),
            kind: "AsymmetricX509Cert".to_owned(),
            usage: "Verify".to_owned(),
            key: None,
            custom_key_identifier: Some(c.sha1.clone()),
            end_date_time: rfc3339(c.not_after),
        })
        .collect()
}

fn application(cx: &Context<'_>, app: &Principal) -> Application {
    Application {
        id: app.object_id.to_string(),
        app_id: app.client_id.map(|c| c.to_string()).unwrap_or_default(),
        display_name: app.name.clone(),
        sign_in_audience: Some(sign_in_audience(app)),
        password_credentials: password_credentials(cx, app),
        public_client: Some(RedirectUris { redirect_uris: credentials_of(cx, app).redirect_uris }),
        key_credentials: key_credentials(cx, app),
        publisher_domain: Some(cx.tenant.name.clone()),
        ..Application::default()
    }
}

/// The tenant's service principals: its applications (each its own service principal here), the service
/// principals of other tenants' applications, and managed identities.
fn service_principals_of<'a>(cx: &'a Context<'_>) -> impl Iterator<Item = &'a Principal> {
    tenant_principals(cx).filter(|p| matches!(p.kind, PrincipalKind::Application | PrincipalKind::ManagedIdentity))
}

/// A service principal by object id, or by `(appId='…')`.
fn find_service_principal(cx: &Context<'_>, id: &str) -> Result<Principal, ManagementError> {
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
fn own_application(cx: &Context<'_>, sp: &Principal) -> Result<Principal, ManagementError> {
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

fn service_principal(cx: &Context<'_>, sp: &Principal) -> ServicePrincipal {
    let app_id = sp.client_id.map(|c| c.to_string()).unwrap_or_default();
    let home = cx.directory.service_principals.get(&sp.object_id).and_then(|home| cx.directory.principal(*home));
    let mut view = ServicePrincipal {
        id: sp.object_id.to_string(),
        account_enabled: Some(true),
        app_id: app_id.clone(),
        app_display_name: Some(home.unwrap_or(sp).name.clone()),
        app_owner_organization_id: Some(home.unwrap_or(sp).tenant_id.to_string()),
        display_name: sp.name.clone(),
        service_principal_type: "Application".to_owned(),
        service_principal_names: vec![app_id],
        sign_in_audience: Some(sign_in_audience(home.unwrap_or(sp))),
        ..ServicePrincipal::default()
    };
    match sp.kind {
        PrincipalKind::ManagedIdentity => {
            view.service_principal_type = "ManagedIdentity".to_owned();
            view.app_display_name = None;
            view.app_owner_organization_id = None;
            view.sign_in_audience = Some("AzureADMyOrg".to_owned());
            let resource_id = cx.directory.managed_identity_resource_id(sp.object_id);
            view.alternative_names.extend(resource_id.clone());
            view.service_principal_names.extend(resource_id);
        }
        _ if home.is_none() => {
            view.password_credentials = password_credentials(cx, sp);
            view.key_credentials = key_credentials(cx, sp);
            view.reply_urls = credentials_of(cx, sp).redirect_uris;
        }
        _ => {}
    }
    view
}

/// `POST /servicePrincipals {"appId"}`. The tenant's own application is its own service principal here
/// (created with it), so for it the answer is that service principal, as if just created — what
/// `az ad sp create-for-rbac` and `az ad sp create` need. For another tenant's multi-tenant application, a
/// service principal of it is created in this tenant (it signs in with the application's credentials).
async fn create_service_principal(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
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
async fn update_service_principal(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
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
async fn delete_service_principal(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
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

/// What a directory object is, as Graph's `@odata.type` and getByIds' `types` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GraphType {
    User,
    Group,
    ServicePrincipal,
    Application,
}

impl GraphType {
    /// The type a principal is shown as among directory objects: an application as its service principal.
    fn of(principal: &Principal) -> Self {
        match principal.kind {
            PrincipalKind::User => GraphType::User,
            PrincipalKind::Group => GraphType::Group,
            PrincipalKind::Application | PrincipalKind::ManagedIdentity => GraphType::ServicePrincipal,
        }
    }

    fn name(self) -> &'static str {
        match self {
            GraphType::User => "user",
            GraphType::Group => "group",
            GraphType::ServicePrincipal => "servicePrincipal",
            GraphType::Application => "application",
        }
    }

    /// The directory action that reads objects of this type.
    fn read_action(self) -> Action {
        match self {
            GraphType::User => Action::UsersRead,
            GraphType::Group => Action::GroupsRead,
            GraphType::ServicePrincipal | GraphType::Application => Action::ApplicationsRead,
        }
    }
}

/// `principal` shown as `kind`, with its `@odata.type`.
fn directory_object(cx: &Context<'_>, principal: &Principal, kind: GraphType) -> Value {
    let view = match kind {
        GraphType::User => serde_json::to_value(user(cx, principal)),
        GraphType::Group => serde_json::to_value(group(cx, principal)),
        GraphType::ServicePrincipal => serde_json::to_value(service_principal(cx, principal)),
        GraphType::Application => serde_json::to_value(application(cx, principal)),
    };
    let mut view = view.unwrap_or_default();
    if let Some(object) = view.as_object_mut() {
        object.insert("@odata.type".to_owned(), Value::String(format!("#microsoft.graph.{}", kind.name())));
    }
    view
}

/// The largest number of ids getByIds takes.
const MAX_IDS: usize = 1000;

/// `POST /directoryObjects/getByIds`: the tenant's objects among `ids`, in their order, of the `types` asked
/// for (every type when none are named) and the caller may read; ids of nothing readable are left out, as
/// Graph does for ids it does not find. An application here is also its service principal: it is shown as
/// the service principal when that type is wanted (role assignments name service principals), else as the
/// application.
fn get_by_ids(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
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

fn user(cx: &Context<'_>, principal: &Principal) -> GraphUser {
    GraphUser {
        id: principal.object_id.to_string(),
        display_name: principal.name.clone(),
        user_principal_name: format!("{}@{}", principal.name, cx.tenant.name),
        account_enabled: cx.directory.users.get(&principal.object_id).map(|u| u.enabled),
        ..GraphUser::default()
    }
}

fn group(cx: &Context<'_>, principal: &Principal) -> Group {
    let role_assignable =
        principal.kind == PrincipalKind::Group && cx.directory.is_role_assignable(cx.tenant.id, principal.object_id);
    Group {
        id: principal.object_id.to_string(),
        display_name: principal.name.clone(),
        mail_nickname: Some(principal.name.clone()),
        security_enabled: Some(true),
        mail_enabled: Some(false),
        is_assignable_to_role: (principal.kind == PrincipalKind::Group).then_some(role_assignable),
        ..Group::default()
    }
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

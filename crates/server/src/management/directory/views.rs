//! How the directory's principals read as Graph objects: applications, service principals, users and groups,
//! their credentials (never a secret's value), and `@odata.type` where objects of several kinds meet.

use aws_lc_rs::digest;
use serde_json::Value;
use strongroom_core::assertion::FederatedCredential;
use strongroom_core::credential::StoredSecret;
use strongroom_core::directory::{ApplicationCredentials, Principal, PrincipalKind};
use strongroom_core::rbac::Action;
use strongroom_proto::graph::{
    Application, FederatedIdentityCredential, Group, KeyCredential, PasswordCredential, RedirectUris, ServicePrincipal,
    User as GraphUser,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::super::Context;

/// A stable id for a credential, derived from what identifies it (a secret's stored hash, a certificate's
/// thumbprint, a federated credential's name), so that nothing more needs storing.
pub(super) fn derived_id(identity: &str) -> Uuid {
    let digest = digest::digest(&digest::SHA256, identity.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

pub(super) fn key_id(secret: &StoredSecret) -> Uuid {
    derived_id(&secret.hash)
}

pub(super) fn credentials_of(cx: &Context<'_>, app: &Principal) -> ApplicationCredentials {
    cx.directory.application_credentials(app.object_id).cloned().unwrap_or_default()
}

pub(super) fn federated_view(credential: &FederatedCredential) -> FederatedIdentityCredential {
    FederatedIdentityCredential {
        id: derived_id(&credential.name).to_string(),
        name: credential.name.clone(),
        issuer: credential.issuer.clone(),
        subject: credential.subject.clone(),
        audiences: vec![credential.audience.clone()],
    }
}

pub(super) fn rfc3339(seconds: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(seconds).ok()?.format(&Rfc3339).ok()
}

pub(super) fn sign_in_audience(app: &Principal) -> String {
    if app.multi_tenant { "AzureADMultipleOrgs" } else { "AzureADMyOrg" }.to_owned()
}

/// An application's client secrets, without their values.
pub(super) fn password_credentials(cx: &Context<'_>, app: &Principal) -> Vec<PasswordCredential> {
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
pub(super) fn key_credentials(cx: &Context<'_>, app: &Principal) -> Vec<KeyCredential> {
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

pub(super) fn application(cx: &Context<'_>, app: &Principal) -> Application {
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

pub(super) fn service_principal(cx: &Context<'_>, sp: &Principal) -> ServicePrincipal {
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

/// What a directory object is, as Graph's `@odata.type` and getByIds' `types` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GraphType {
    User,
    Group,
    ServicePrincipal,
    Application,
}

impl GraphType {
    /// The type a principal is shown as among directory objects: an application as its service principal.
    pub(super) fn of(principal: &Principal) -> Self {
        match principal.kind {
            PrincipalKind::User => GraphType::User,
            PrincipalKind::Group => GraphType::Group,
            PrincipalKind::Application | PrincipalKind::ManagedIdentity => GraphType::ServicePrincipal,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            GraphType::User => "user",
            GraphType::Group => "group",
            GraphType::ServicePrincipal => "servicePrincipal",
            GraphType::Application => "application",
        }
    }

    /// The directory action that reads objects of this type.
    pub(super) fn read_action(self) -> Action {
        match self {
            GraphType::User => Action::UsersRead,
            GraphType::Group => Action::GroupsRead,
            GraphType::ServicePrincipal | GraphType::Application => Action::ApplicationsRead,
        }
    }
}

/// `principal` shown as `kind`, with its `@odata.type`.
pub(super) fn directory_object(cx: &Context<'_>, principal: &Principal, kind: GraphType) -> Value {
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

pub(super) fn user(cx: &Context<'_>, principal: &Principal) -> GraphUser {
    GraphUser {
        id: principal.object_id.to_string(),
        display_name: principal.name.clone(),
        user_principal_name: format!("{}@{}", principal.name, cx.tenant.name),
        account_enabled: cx.directory.users.get(&principal.object_id).map(|u| u.enabled),
        ..GraphUser::default()
    }
}

pub(super) fn group(cx: &Context<'_>, principal: &Principal) -> Group {
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

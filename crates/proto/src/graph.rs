//! Microsoft Graph shapes of the directory API: applications, service principals, users, groups and
//! password credentials.

use serde::{Deserialize, Serialize};

/// A Graph collection: one page of it, with the link to the next page when there is one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Collection<T> {
    /// What the collection is: `{graph}/v1.0/$metadata#{entity set}`.
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The URL of the next page.
    #[serde(rename = "@odata.nextLink", default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    /// The items.
    pub value: Vec<T>,
}

impl<T> Collection<T> {
    /// A collection of `value`, with no context and no next page.
    pub fn of(value: Vec<T>) -> Self {
        Self { context: None, next_link: None, value }
    }
}

/// An application object (and, in Strongroom, its service principal's object id).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// The object id.
    #[serde(default)]
    pub id: String,
    /// The client id.
    #[serde(default)]
    pub app_id: String,
    /// The name.
    pub display_name: String,
    /// `AzureADMyOrg` or `AzureADMultipleOrgs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    /// Its client secrets, without their values.
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    /// Its certificates.
    #[serde(default)]
    pub key_credentials: Vec<KeyCredential>,
    /// Where its sign-ins may return to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<RedirectUris>,
    /// Its application id URIs: none here (applications are known by their client id).
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    /// The APIs it asks permissions of: none here (access is decided by roles).
    #[serde(default)]
    pub required_resource_access: Vec<serde_json::Value>,
    /// Roles it defines: none here.
    #[serde(default)]
    pub app_roles: Vec<serde_json::Value>,
    /// Free-form tags: none here.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The tenant's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_domain: Option<String>,
}

/// The redirect URIs of an application platform (`publicClient`, `web`, `spa`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectUris {
    /// The URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

/// A certificate an application signs client assertions with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    /// Its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `AsymmetricX509Cert`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `Verify`.
    #[serde(default)]
    pub usage: String,
    /// The certificate, base64 DER; given on update, never returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The SHA-1 thumbprint (base64), as `x5t` names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<String>,
    /// When the certificate expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
}

/// The body of an application update: Strongroom changes its certificates and redirect URIs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationUpdate {
    /// The certificates, replacing the ones the application has.
    #[serde(default)]
    pub key_credentials: Option<Vec<KeyCredential>>,
    /// Public-client redirect URIs; with `web` and `spa`, they replace the registered ones.
    #[serde(default)]
    pub public_client: Option<RedirectUris>,
    /// Web redirect URIs.
    #[serde(default)]
    pub web: Option<RedirectUris>,
    /// Single-page-application redirect URIs.
    #[serde(default)]
    pub spa: Option<RedirectUris>,
}

/// A federated identity credential of an application.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedIdentityCredential {
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// Its name, unique on the application.
    pub name: String,
    /// The external issuer.
    pub issuer: String,
    /// The external subject.
    pub subject: String,
    /// The audience, exactly one.
    pub audiences: Vec<String>,
}

/// A service principal: an application or managed identity as a tenant's security principal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    /// The object id (what roles are assigned to).
    #[serde(default)]
    pub id: String,
    /// Whether it may sign in (always, here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    /// The client id.
    #[serde(default)]
    pub app_id: String,
    /// The application's name.
    #[serde(default)]
    pub app_display_name: Option<String>,
    /// The tenant that holds the application object.
    #[serde(default)]
    pub app_owner_organization_id: Option<String>,
    /// The name.
    #[serde(default)]
    pub display_name: String,
    /// `Application` or `ManagedIdentity`.
    #[serde(default)]
    pub service_principal_type: String,
    /// The names it is known by: its client id (and, for a managed identity, its resource id).
    #[serde(default)]
    pub service_principal_names: Vec<String>,
    /// Other names: a managed identity's resource id.
    #[serde(default)]
    pub alternative_names: Vec<String>,
    /// `AzureADMyOrg` or `AzureADMultipleOrgs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    /// Its client secrets, without their values (those of its application, here).
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    /// Its certificates (those of its application, here).
    #[serde(default)]
    pub key_credentials: Vec<KeyCredential>,
    /// Where its sign-ins may return to.
    #[serde(default)]
    pub reply_urls: Vec<String>,
    /// Free-form tags: none here.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Roles its application defines: none here.
    #[serde(default)]
    pub app_roles: Vec<serde_json::Value>,
    /// Delegated permissions its application exposes: none here.
    #[serde(default)]
    pub oauth2_permission_scopes: Vec<serde_json::Value>,
}

/// The body of `POST /servicePrincipals`: the application to make a service principal of.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewServicePrincipal {
    /// The application's client id.
    pub app_id: String,
    /// Whether it may sign in; only `true` is accepted.
    #[serde(default)]
    pub account_enabled: Option<bool>,
}

/// The body of `POST /directoryObjects/getByIds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetByIds {
    /// Object ids, at most 1000.
    pub ids: Vec<String>,
    /// The kinds wanted (`user`, `group`, `servicePrincipal`, `application`, …); all when absent.
    #[serde(default)]
    pub types: Option<Vec<String>>,
}

/// The body of `POST /{directoryObjects|users|groups|servicePrincipals}/{id}/checkMemberGroups`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckMemberGroups {
    /// Group object ids, at most 20.
    pub group_ids: Vec<String>,
}

/// A client secret. `secretText` is present once, in the answer to `addPassword`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    /// Its id, for `removePassword`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// A label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// When it stops working (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    /// The secret, once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_text: Option<String>,
}

/// The body of `addPassword`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddPassword {
    /// The credential's label and expiry.
    #[serde(default)]
    pub password_credential: PasswordCredential,
}

/// The body of `removePassword`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovePassword {
    /// The credential's id.
    pub key_id: String,
}

/// A user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The object id.
    #[serde(default)]
    pub id: String,
    /// The sign-in name within the tenant.
    #[serde(default)]
    pub display_name: String,
    /// `{name}@{tenant}`.
    #[serde(default)]
    pub user_principal_name: String,
    /// The mail address: none here.
    #[serde(default)]
    pub mail: Option<String>,
    /// Given name: none here.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Surname: none here.
    #[serde(default)]
    pub surname: Option<String>,
    /// Job title: none here.
    #[serde(default)]
    pub job_title: Option<String>,
    /// Phone numbers: none here.
    #[serde(default)]
    pub business_phones: Vec<String>,
    /// Whether the user may sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    /// The password, on create and update only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_profile: Option<PasswordProfile>,
}

/// A user's password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordProfile {
    /// The password.
    pub password: String,
}

/// A group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The object id.
    #[serde(default)]
    pub id: String,
    /// The name.
    pub display_name: String,
    /// Its mail alias: its name, here.
    #[serde(default)]
    pub mail_nickname: Option<String>,
    /// A description: none here.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it is a security group (always, here).
    #[serde(default)]
    pub security_enabled: Option<bool>,
    /// Whether it is a mail group (never, here).
    #[serde(default)]
    pub mail_enabled: Option<bool>,
    /// Its kinds (`Unified`, `DynamicMembership`): none here.
    #[serde(default)]
    pub group_types: Vec<String>,
    /// Whether directory roles may be assigned to it (Entra's role-assignable groups): given on create,
    /// never changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_assignable_to_role: Option<bool>,
}

/// A reference to a directory object: `{"@odata.id": "…/directoryObjects/{id}"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectReference {
    /// The object's URL; its last segment is the object id.
    #[serde(rename = "@odata.id")]
    pub odata_id: String,
}

//! Stage 5's back half for secrets: set, get, list, list versions, with Key Vault's JSON.

use axum::Json;
use axum::response::{IntoResponse, Response};
use strongroom_core::directory::Vault;
use strongroom_core::secret::{self, SecretProperties, SecretVersion};
use strongroom_proto::keyvault::{Page, SecretAttributes, SecretBundle, SecretItem, SecretSetParameters};
use strongroom_store::{PageRequest, VersionSelector};

use super::error::VaultError;
use super::operation::{MAX_RESULTS, Query};
use crate::identity::token::now_seconds;
use crate::state::AppState;

/// What a secrets operation works with.
pub struct Context<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// The vault.
    pub vault: &'a Vault,
    /// `https://{host}[:port]` as the client addressed the vault, for ids and links.
    pub base_url: &'a str,
    /// Query parameters.
    pub query: &'a Query,
}

impl Context<'_> {
    fn attributes(&self, version: &SecretVersion) -> SecretAttributes {
        let (level, days) = secret::recovery_level(self.vault.soft_delete_retention_days, self.vault.purge_protection);
        SecretAttributes {
            enabled: Some(version.properties.enabled),
            nbf: version.properties.not_before,
            exp: version.properties.expires,
            created: Some(version.created),
            updated: Some(version.updated),
            recoverable_days: Some(days),
            recovery_level: Some(level.to_owned()),
        }
    }

    fn bundle(&self, version: &SecretVersion, value: Option<String>) -> SecretBundle {
        SecretBundle {
            value,
            id: format!("{}/secrets/{}/{}", self.base_url, version.name, version.version),
            content_type: version.properties.content_type.clone(),
            attributes: self.attributes(version),
            tags: (!version.properties.tags.is_empty()).then(|| version.properties.tags.clone()),
        }
    }

    fn item(&self, version: &SecretVersion, with_version: bool) -> SecretItem {
        let id = match with_version {
            true => format!("{}/secrets/{}/{}", self.base_url, version.name, version.version),
            false => format!("{}/secrets/{}", self.base_url, version.name),
        };
        SecretItem {
            id,
            attributes: self.attributes(version),
            tags: (!version.properties.tags.is_empty()).then(|| version.properties.tags.clone()),
            content_type: version.properties.content_type.clone(),
        }
    }

    fn page_request(&self) -> PageRequest<'_> {
        PageRequest { after: self.query.skip_token.as_deref(), limit: self.query.max_results.unwrap_or(MAX_RESULTS) }
    }

    /// The absolute link to the page after `token` of the collection at `path`.
    fn next_link(&self, path: &str, token: Option<String>) -> Option<String> {
        let token = token?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("api-version", &self.query.api_version).append_pair("$skiptoken", &token);
        if let Some(max) = self.query.max_results {
            query.append_pair("maxresults", &max.to_string());
        }
        Some(format!("{}{path}?{}", self.base_url, query.finish()))
    }
}

/// `PUT /secrets/{name}`: a new version.
pub async fn set(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    secret::validate_name(name)?;
    let params: SecretSetParameters = serde_json::from_slice(body).map_err(|e| {
        VaultError::bad_parameter(format!("The request body is not a valid SecretSetParameters object: {e}"))
    })?;
    let value =
        params.value.ok_or_else(|| VaultError::bad_parameter("The secret value is required: 'value' is missing."))?;
    secret::validate_value(&value)?;
    let attributes = params.attributes.unwrap_or_default();
    let properties = SecretProperties {
        content_type: params.content_type,
        tags: params.tags.unwrap_or_default(),
        enabled: attributes.enabled.unwrap_or(true),
        not_before: attributes.nbf,
        expires: attributes.exp,
    };
    properties.validate()?;
    let now = now_seconds();
    let version =
        SecretVersion { name: name.to_owned(), version: secret::new_version(), properties, created: now, updated: now };
    let stored = cx.state.store.put_secret_version(cx.vault.id, &version, &value).await?;
    Ok(Json(cx.bundle(&stored, Some(value))).into_response())
}

/// `GET /secrets/{name}[/{version}]`.
pub async fn get(cx: &Context<'_>, name: &str, version: Option<&str>) -> Result<Response, VaultError> {
    let selector = match version {
        Some(version) if !secret::is_version(version) => return Err(VaultError::secret_not_found(name)),
        Some(version) => VersionSelector::Exact(version),
        None => VersionSelector::Latest,
    };
    let (version, value) = cx
        .state
        .store
        .secret_version(cx.vault.id, name, selector)
        .await?
        .ok_or_else(|| VaultError::secret_not_found(name))?;
    if !version.properties.enabled {
        return Err(VaultError::forbidden("Operation get is not allowed on a disabled secret.".to_owned()));
    }
    Ok(Json(cx.bundle(&version, Some(value.to_string()))).into_response())
}

/// `GET /secrets`: the newest version of each secret, without values, ids without version.
pub async fn list(cx: &Context<'_>) -> Result<Response, VaultError> {
    let page = cx.state.store.list_secrets(cx.vault.id, cx.page_request()).await?;
    Ok(Json(Page {
        value: page.items.iter().map(|v| cx.item(v, false)).collect(),
        next_link: cx.next_link("/secrets", page.next),
    })
    .into_response())
}

/// `GET /secrets/{name}/versions`: every version, without values.
pub async fn list_versions(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let page = cx.state.store.list_secret_versions(cx.vault.id, name, cx.page_request()).await?;
    Ok(Json(Page {
        value: page.items.iter().map(|v| cx.item(v, true)).collect(),
        next_link: cx.next_link(&format!("/secrets/{name}/versions"), page.next),
    })
    .into_response())
}

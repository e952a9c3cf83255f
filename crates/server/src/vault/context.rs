//! What every operation of stage 6 works with: the request's [`Context`] — state, vault, the address the
//! client used, the query — and the pieces of Key Vault's JSON that every kind of object answers alike.

use std::sync::Arc;

use strongroom_core::directory::Vault;
use strongroom_core::key::PrivateKey;
use strongroom_core::object::{self, ObjectVersion};
use strongroom_core::security_domain::HsmRoot;
use strongroom_proto::keyvault::SecretAttributes;
use strongroom_store::PageRequest;

use super::error::VaultError;
use super::operation::{MAX_RESULTS, Query};
use crate::limits::Admission;
use crate::state::AppState;

/// What an operation works with.
pub struct Context<'a> {
    /// Shared state (shared further by the jobs an operation leaves running).
    pub state: &'a Arc<AppState>,
    /// The vault.
    pub vault: &'a Vault,
    /// `https://{host}[:port]` as the client addressed the vault, for ids and links.
    pub base_url: &'a str,
    /// Query parameters.
    pub query: &'a Query,
    /// How the request was counted against the vault's service limits.
    pub admission: &'a Admission,
    /// A Managed HSM's root, which seals its keys' material; `None` in a vault, and in an HSM that is not
    /// activated (which serves only its security domain).
    pub hsm_root: Option<Arc<HsmRoot>>,
}

impl Context<'_> {
    /// A version's attributes as Key Vault shows them, with the vault's recovery level.
    pub(super) fn attributes(&self, version: &ObjectVersion) -> SecretAttributes {
        let (level, days) = object::recovery_level(self.vault.soft_delete_retention_days, self.vault.purge_protection);
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

    /// Counts what the operation weighs against the service limits now that it knows the key it uses: Key
    /// Vault counts operations with larger keys and HSM keys for more.
    pub(super) fn weigh_key(&self, key: &PrivateKey) {
        self.state.limits.weigh(self.admission, key);
    }

    /// The page the query asks for.
    pub(super) fn page_request(&self) -> PageRequest<'_> {
        PageRequest { after: self.query.skip_token.as_deref(), limit: self.query.max_results.unwrap_or(MAX_RESULTS) }
    }

    /// The absolute link to the page after `token` of the collection at `path`.
    pub(super) fn next_link(&self, path: &str, token: Option<String>) -> Option<String> {
        let token = token?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("api-version", &self.query.api_version).append_pair("$skiptoken", &token);
        if let Some(max) = self.query.max_results {
            query.append_pair("maxresults", &max.to_string());
        }
        Some(format!("{}{path}?{}", self.base_url, query.finish()))
    }
}

/// The request body as the JSON object `what`, or a `BadParameter` that names it.
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, VaultError> {
    serde_json::from_slice(body)
        .map_err(|e| VaultError::bad_parameter(format!("The request body is not a valid {what} object: {e}")))
}

/// Tags as Key Vault shows them: absent when there are none.
pub(super) fn tags_of(version: &ObjectVersion) -> Option<strongroom_proto::keyvault::Tags> {
    (!version.properties.tags.is_empty()).then(|| version.properties.tags.clone())
}

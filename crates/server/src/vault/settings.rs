//! A Managed HSM's account settings (`KeyVaultSettingsClient`, `az keyvault setting`): named values, each a
//! string whatever its type, kept per HSM.

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use strongroom_proto::managed_hsm::{Setting, SettingUpdate, SettingsList};

use super::context::{Context, parse_body};
use super::error::VaultError;
use crate::error::InternalFailure;

/// Every setting a Managed HSM has: its name, type and value until changed.
const SETTINGS: &[(&str, &str, &str)] = &[("AllowKeyManagementOperationsThroughARM", "boolean", "false")];

/// Where an HSM's changed settings are kept.
fn stored_under(cx: &Context<'_>) -> String {
    format!("managed-hsm-settings/{}", cx.vault.id)
}

/// The HSM's changed settings, by name.
async fn changed(cx: &Context<'_>) -> Result<BTreeMap<String, String>, VaultError> {
    match cx.state.store.sealed_setting(&stored_under(cx)).await? {
        None => Ok(BTreeMap::new()),
        Some(stored) => serde_json::from_slice(&stored)
            .map_err(VaultError::internal_because("a Managed HSM's settings are unreadable")),
    }
}

fn view(name: &str, setting_type: &str, value: String) -> Setting {
    Setting { name: name.to_owned(), value, setting_type: setting_type.to_owned() }
}

/// The setting `name` (any case), or Managed HSM's 404.
fn known(name: &str) -> Result<&'static (&'static str, &'static str, &'static str), VaultError> {
    SETTINGS
        .iter()
        .find(|(known, _, _)| known.eq_ignore_ascii_case(name))
        .ok_or_else(|| VaultError::not_found("SettingNotFound", format!("The setting {name} does not exist.")))
}

/// `GET /settings`.
pub async fn list(cx: &Context<'_>) -> Result<Response, VaultError> {
    let changed = changed(cx).await?;
    let settings = SETTINGS
        .iter()
        .map(|(name, kind, default)| {
            view(name, kind, changed.get(*name).cloned().unwrap_or_else(|| (*default).to_owned()))
        })
        .collect();
    Ok(Json(SettingsList { settings }).into_response())
}

/// `GET /settings/{name}`.
pub async fn get(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let (name, kind, default) = known(name)?;
    let value = changed(cx).await?.remove(*name).unwrap_or_else(|| (*default).to_owned());
    Ok(Json(view(name, kind, value)).into_response())
}

/// `PATCH /settings/{name}`: a boolean setting takes `true` or `false`.
pub async fn update(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let (name, kind, _) = known(name)?;
    let request: SettingUpdate = parse_body(body, "UpdateSettingRequest")?;
    let value = match request.value.to_ascii_lowercase().as_str() {
        value @ ("true" | "false") => value.to_owned(),
        _ => return Err(VaultError::bad_parameter(format!("The value of {name} is 'true' or 'false'."))),
    };
    // Settings change rarely and one at a time; the last write wins, as in Managed HSM.
    let mut changed = changed(cx).await?;
    changed.insert((*name).to_owned(), value.clone());
    let stored =
        serde_json::to_vec(&changed).map_err(VaultError::internal_while("writing a Managed HSM's settings"))?;
    cx.state.store.put_sealed_setting(&stored_under(cx), &stored).await?;
    Ok(Json(view(name, kind, value)).into_response())
}

//! Every method of `SecretClient`, in the order an application's life would call them.

use crate::ensure;
use crate::witness::{Outcome, Witness, error_codes, expect_refusal, unique_name, wait_for};
use azure_security_keyvault_secrets::{
    ResourceExt,
    models::{
        RestoreSecretParameters, SecretAttributes, SecretClientGetSecretOptions,
        SecretClientUpdateSecretPropertiesOptions, SetSecretParameters, UpdateSecretPropertiesParameters,
    },
};
use futures::TryStreamExt;
use std::{collections::HashMap, sync::Arc};

fn version(version: &str) -> Option<SecretClientGetSecretOptions<'static>> {
    Some(SecretClientGetSecretOptions { secret_version: Some(version.to_string()), ..Default::default() })
}

pub async fn every_secret_client_method(witness: Arc<Witness>) -> Outcome {
    let client = witness.secrets("witness", witness.admin()?)?;
    let name = unique_name("rust-secret");

    let first = client
        .set_secret(
            &name,
            SetSecretParameters {
                value: Some("v1".into()),
                content_type: Some("text/plain".into()),
                tags: Some(HashMap::from([("team".to_string(), "rust".to_string())])),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?
        .into_model()?;
    ensure!(
        first.value.as_deref() == Some("v1")
            && first.content_type.as_deref() == Some("text/plain")
            && first.tags.as_ref().and_then(|tags| tags.get("team")).map(String::as_str) == Some("rust"),
        "set answered {first:?}"
    );
    let first_version = first.resource_id()?.version.ok_or("the first version has no version")?;
    let second = client
        .set_secret(&name, SetSecretParameters { value: Some("v2".into()), ..Default::default() }.try_into()?, None)
        .await?
        .into_model()?;
    let second_version = second.resource_id()?.version.ok_or("the second version has no version")?;

    let latest = client.get_secret(&name, None).await?.into_model()?;
    ensure!(latest.value.as_deref() == Some("v2"), "latest: {:?}", latest.value);
    let old = client.get_secret(&name, version(&first_version)).await?.into_model()?;
    ensure!(old.value.as_deref() == Some("v1"), "first version: {:?}", old.value);

    let updated = client
        .update_secret_properties(
            &name,
            UpdateSecretPropertiesParameters {
                secret_attributes: Some(SecretAttributes { enabled: Some(false), ..Default::default() }),
                content_type: Some("application/json".into()),
                ..Default::default()
            }
            .try_into()?,
            Some(SecretClientUpdateSecretPropertiesOptions {
                secret_version: Some(first_version.clone()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    ensure!(
        updated.attributes.as_ref().and_then(|a| a.enabled) == Some(false)
            && updated.content_type.as_deref() == Some("application/json"),
        "update answered {updated:?}"
    );
    let body =
        expect_refusal(client.get_secret(&name, version(&first_version)).await, 403, "a disabled version's value")?;
    ensure!(error_codes(&body).0 == "Forbidden", "a disabled version: {body}");

    let mut listed = false;
    let mut pager = client.list_secret_properties(None)?;
    while let Some(properties) = pager.try_next().await? {
        listed |= properties.resource_id()?.name == name;
    }
    ensure!(listed, "{name} is not listed");
    let versions: Vec<_> = client.list_secret_properties_versions(&name, None)?.try_collect().await?;
    ensure!(versions.len() == 2, "expected 2 versions, listed {}", versions.len());

    let backup = client.backup_secret(&name, None).await?.into_model()?.value.ok_or("an empty backup")?;
    ensure!(!backup.is_empty(), "an empty backup");

    let deleted = client.delete_secret(&name, None).await?.into_model()?;
    ensure!(deleted.recovery_id.is_some(), "delete answered no recovery id");
    wait_for("the deleted secret", || client.get_deleted_secret(&name, None)).await?;
    let mut among_deleted = false;
    let mut pager = client.list_deleted_secret_properties(None)?;
    while let Some(properties) = pager.try_next().await? {
        among_deleted |= properties.resource_id()?.name == name;
    }
    ensure!(among_deleted, "{name} is not among the deleted secrets");
    client.recover_deleted_secret(&name, None).await?;
    wait_for("the recovered secret", || client.get_secret(&name, None)).await?;

    client.delete_secret(&name, None).await?;
    wait_for("the deleted secret", || client.get_deleted_secret(&name, None)).await?;
    client.purge_deleted_secret(&name, None).await?;
    let body = expect_refusal(client.get_deleted_secret(&name, None).await, 404, "a purged secret")?;
    ensure!(error_codes(&body).0 == "SecretNotFound", "a purged secret: {body}");

    let restored = client
        .restore_secret(RestoreSecretParameters { secret_backup: Some(backup) }.try_into()?, None)
        .await?
        .into_model()?;
    ensure!(restored.resource_id()?.name == name, "restore answered {restored:?}");
    let again = client.get_secret(&name, version(&second_version)).await?.into_model()?;
    ensure!(again.value.as_deref() == Some("v2"), "the restored secret: {:?}", again.value);
    Ok(())
}

pub async fn a_secret_that_does_not_exist_is_not_found(witness: Arc<Witness>) -> Outcome {
    let client = witness.secrets("witness", witness.admin()?)?;
    let body = expect_refusal(client.get_secret("never-set", None).await, 404, "a secret never set")?;
    ensure!(error_codes(&body).0 == "SecretNotFound", "a secret never set: {body}");
    Ok(())
}

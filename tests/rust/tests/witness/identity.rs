//! azure_identity's credentials, each reading the seeded secret, and the refusals: a wrong secret at the token
//! endpoint, no role (RBAC), a reader's get, the firewall.

use crate::ensure;
use crate::witness::{
    self, NOBODY_APP, Outcome, READER_APP, SEEDED_VALUE, Skipped, TENANT, WORKLOAD_APP, Witness, error_codes,
    expect_refusal, secret_of,
};
use azure_core::credentials::TokenCredential;
use azure_identity::{
    ClientAssertionCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use futures::TryStreamExt;
use std::sync::Arc;

/// Reads the seeded secret of vault `witness` with `credential`, as the application would.
async fn read_seeded(witness: &Witness, credential: Arc<dyn TokenCredential>) -> Outcome {
    let client = witness.secrets("witness", credential)?;
    let secret = client.get_secret("seeded", None).await?.into_model()?;
    ensure!(secret.value.as_deref() == Some(SEEDED_VALUE), "seeded secret: {:?}", secret.value);
    Ok(())
}

pub async fn client_secret_credential(witness: Arc<Witness>) -> Outcome {
    read_seeded(&witness, witness.admin()?).await
}

/// A certificate made by the test (openssl), given to the credential as PKCS#12; the SDK signs an RS256
/// assertion whose `x5t` is the certificate's SHA-1 thumbprint in standard base64 (with padding).
pub async fn client_certificate_credential(witness: Arc<Witness>) -> Outcome {
    read_seeded(&witness, witness.certificate_credential()?).await
}

pub async fn workload_identity_credential(witness: Arc<Witness>) -> Outcome {
    let token_file = witness.folder().join(witness::unique_name("federated-token"));
    std::fs::write(&token_file, witness.federated_token()?)?;
    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions { client_options: witness.client_options() },
        client_id: Some(WORKLOAD_APP.to_string()),
        tenant_id: Some(TENANT.to_string()),
        token_file_path: Some(token_file),
    }))?;
    read_seeded(&witness, credential).await
}

/// The App Service source: azure_identity reads `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` from the process
/// environment only, so tests/rust/run sets them (for the port it chose) before this process starts. Without
/// both, `ManagedIdentityCredential` would pick the IMDS source at 169.254.169.254, which must never be
/// called from here: the test is skipped instead.
pub async fn managed_identity_credential_app_service(witness: Arc<Witness>) -> Outcome {
    let expected = format!("https://localhost:{}/msi/token", witness.port());
    let endpoint = std::env::var("IDENTITY_ENDPOINT").unwrap_or_default();
    if endpoint != expected || std::env::var("IDENTITY_HEADER").is_err() {
        return Err(Skipped(format!(
            "IDENTITY_ENDPOINT={expected} and IDENTITY_HEADER are not both set (tests/rust/run sets them)"
        ))
        .into());
    }
    ensure!(
        std::env::var("IDENTITY_HEADER").as_deref() == Ok(witness::IDENTITY_HEADER),
        "IDENTITY_HEADER is not web-01's"
    );
    let credential = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
        client_options: witness.client_options(),
        ..Default::default()
    }))?;
    read_seeded(&witness, credential).await
}

/// A wrong client secret: the token endpoint's 401 (`invalid_client`, AADSTS7000215) reaches the caller
/// through the credential's error. An application no other test signs in as with a wrong secret, so that
/// nothing here can lock out another test's application.
pub async fn a_wrong_client_secret_gets_no_token(witness: Arc<Witness>) -> Outcome {
    let client = witness.secrets("witness", witness.secret_credential(READER_APP, "not-the-secret-0123456789")?)?;
    let body = expect_refusal(client.get_secret("seeded", None).await, 401, "a wrong client secret")?;
    ensure!(body["error"] == "invalid_client", "the token endpoint answered {body}");
    let codes = body["error_codes"].as_array().cloned().unwrap_or_default();
    ensure!(codes.iter().any(|code| code == 7000215), "expected AADSTS7000215, got {body}");
    Ok(())
}

pub async fn an_application_without_a_role_is_refused_by_rbac(witness: Arc<Witness>) -> Outcome {
    let client = witness.secrets("witness", witness.secret_credential(NOBODY_APP, &secret_of("nobody"))?)?;
    let body = expect_refusal(client.get_secret("seeded", None).await, 403, "no role")?;
    ensure!(error_codes(&body) == ("Forbidden", "ForbiddenByRbac"), "no role: {body}");
    Ok(())
}

pub async fn a_reader_sees_properties_but_no_value(witness: Arc<Witness>) -> Outcome {
    let client = witness.secrets("witness", witness.secret_credential(READER_APP, &secret_of("reader"))?)?;
    let mut pager = client.list_secret_properties(None)?;
    let mut seen = false;
    while let Some(properties) = pager.try_next().await? {
        seen |= properties.id.as_deref().is_some_and(|id| id.ends_with("/secrets/seeded"));
    }
    ensure!(seen, "a reader does not see the seeded secret listed");
    let body = expect_refusal(client.get_secret("seeded", None).await, 403, "a reader's get")?;
    ensure!(error_codes(&body) == ("Forbidden", "ForbiddenByRbac"), "a reader's get: {body}");
    Ok(())
}

pub async fn the_firewall_refuses_a_loopback_caller(witness: Arc<Witness>) -> Outcome {
    let client = witness.secrets("walled", witness.admin()?)?;
    let body = expect_refusal(client.get_secret("anything", None).await, 403, "the firewall")?;
    ensure!(error_codes(&body).1 == "ForbiddenByFirewall", "the firewall: {body}");
    Ok(())
}

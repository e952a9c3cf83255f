//! Every `CertificateClient` method: creation by policy (polled), import, merge of a CSR signed by the test's
//! own CA, pending operations, contacts, issuers and the lifecycle. Certificates and PKCS#12 files are read
//! and made with OpenSSL.

use crate::ensure;
use crate::witness::{
    Failure, Outcome, Witness, error_codes, expect_refusal, random_serial, rsa_key, self_signed, unique_name, wait_for,
};
use azure_core::{base64, http::poller::PollerOptions, time::Duration};
use azure_security_keyvault_certificates::{
    CertificateClient, ResourceExt,
    models::{
        Certificate, CertificateClientCreateCertificateOptions, CertificateClientGetCertificateOptions,
        CertificateClientUpdateCertificatePropertiesOptions, CertificatePolicy, Contact, Contacts,
        CreateCertificateParameters, ImportCertificateParameters, IssuerCredentials, IssuerParameters, KeyProperties,
        KeyType, MergeCertificateParameters, RestoreCertificateParameters, SecretProperties, SetIssuerParameters,
        SubjectAlternativeNames, UpdateCertificateOperationParameter, UpdateCertificatePropertiesParameters,
        UpdateIssuerParameters, X509CertificateProperties,
    },
};
use azure_security_keyvault_secrets::models::{ContentType, SecretClientGetSecretOptions};
use futures::{StreamExt, TryStreamExt};
use openssl::{
    hash::MessageDigest,
    nid::Nid,
    pkcs12::Pkcs12,
    x509::{X509, X509Builder, X509Req, extension::SubjectAlternativeName},
};
use std::{collections::HashMap, sync::Arc};

/// The policy of the SDK samples: a self-signed RSA certificate kept as PKCS#12.
fn self_signed_policy(subject: &str) -> CertificatePolicy {
    CertificatePolicy {
        issuer_parameters: Some(IssuerParameters { name: Some("Self".into()), ..Default::default() }),
        x509_certificate_properties: Some(X509CertificateProperties {
            subject: Some(subject.into()),
            validity_in_months: Some(12),
            subject_alternative_names: Some(SubjectAlternativeNames {
                dns_names: Some(vec!["witness.example".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        key_properties: Some(KeyProperties {
            key_type: Some(KeyType::Rsa),
            key_size: Some(2048),
            exportable: Some(true),
            ..Default::default()
        }),
        secret_properties: Some(SecretProperties { content_type: Some("application/x-pkcs12".into()) }),
        ..Default::default()
    }
}

/// The same, for an issuer the vault does not know: the operation stays pending with a CSR.
fn unknown_issuer_policy(subject: &str) -> CertificatePolicy {
    CertificatePolicy {
        issuer_parameters: Some(IssuerParameters { name: Some("Unknown".into()), ..Default::default() }),
        ..self_signed_policy(subject)
    }
}

/// Polls once a second (the poller's default, without a Retry-After, is 30 seconds).
fn poll_every_second() -> Option<CertificateClientCreateCertificateOptions<'static>> {
    Some(CertificateClientCreateCertificateOptions {
        method_options: PollerOptions { frequency: Duration::seconds(1), ..Default::default() },
    })
}

/// Creates a self-signed certificate and waits for it, as the README does.
async fn create_self_signed(client: &CertificateClient, name: &str, subject: &str) -> Result<Certificate, Failure> {
    let parameters = CreateCertificateParameters {
        certificate_policy: Some(self_signed_policy(subject)),
        tags: Some(HashMap::from([("team".to_string(), "rust".to_string())])),
        ..Default::default()
    };
    Ok(client.begin_create_certificate(name, parameters.try_into()?, poll_every_second())?.await?.into_model()?)
}

/// Starts a certificate of issuer Unknown: the first status the poller yields, which is pending.
async fn create_pending(client: &CertificateClient, name: &str, subject: &str) -> Outcome {
    let parameters =
        CreateCertificateParameters { certificate_policy: Some(unknown_issuer_policy(subject)), ..Default::default() };
    let mut poller = client.begin_create_certificate(name, parameters.try_into()?, poll_every_second())?;
    let first = poller.next().await.ok_or("the poller yielded nothing")??.into_model()?;
    ensure!(first.status.as_deref() == Some("inProgress"), "a certificate of issuer Unknown: {:?}", first.status);
    Ok(())
}

fn parse(certificate: &Certificate) -> Result<X509, Failure> {
    Ok(X509::from_der(certificate.cer.as_deref().ok_or("no cer")?)?)
}

fn common_name(certificate: &X509) -> Option<String> {
    let entry = certificate.subject_name().entries_by_nid(Nid::COMMONNAME).next()?;
    entry.data().to_string().ok()
}

/// A self-signed certificate from a policy: its secret is a PKCS#12 whose key matches the certificate (and
/// the same secret as PEM on request); policy get/update, properties update, list, versions.
pub async fn a_self_signed_certificate_from_a_policy(witness: Arc<Witness>) -> Outcome {
    let client = witness.certificates()?;
    let name = unique_name("rust-cert");
    let created = create_self_signed(&client, &name, "CN=witness.example").await?;
    let parsed = parse(&created)?;
    ensure!(common_name(&parsed).as_deref() == Some("witness.example"), "subject {:?}", parsed.subject_name());
    let names: Vec<String> = parsed
        .subject_alt_names()
        .map(|names| names.iter().filter_map(|n| n.dnsname().map(String::from)).collect())
        .unwrap_or_default();
    ensure!(names == ["witness.example"], "subject alternative names {names:?}");

    let secrets = witness.secrets("witness", witness.admin()?)?;
    let secret = secrets.get_secret(&name, None).await?.into_model()?;
    let pfx = base64::decode(secret.value.as_deref().ok_or("no secret value")?)?;
    let parsed_pfx = Pkcs12::from_der(&pfx)?.parse2("")?;
    let (key, leaf) =
        (parsed_pfx.pkey.ok_or("no key in the PKCS#12")?, parsed_pfx.cert.ok_or("no certificate in the PKCS#12")?);
    ensure!(leaf.to_der()? == created.cer.clone().unwrap_or_default(), "the PKCS#12's certificate differs");
    ensure!(
        key.public_key_to_der()? == parsed.public_key()?.public_key_to_der()?,
        "the PKCS#12's key is not the certificate's"
    );
    let pem = secrets
        .get_secret(
            &name,
            Some(SecretClientGetSecretOptions { out_content_type: Some(ContentType::Pem), ..Default::default() }),
        )
        .await?
        .into_model()?;
    let pem = pem.value.unwrap_or_default();
    ensure!(
        pem.contains("PRIVATE KEY-----") && pem.contains("-----BEGIN CERTIFICATE-----"),
        "the secret as PEM: no key and certificate"
    );

    let mut policy = client.get_certificate_policy(&name, None).await?.into_model()?;
    let subject = policy.x509_certificate_properties.as_ref().and_then(|p| p.subject.clone());
    ensure!(subject.as_deref() == Some("CN=witness.example"), "policy subject {subject:?}");
    if let Some(properties) = policy.x509_certificate_properties.as_mut() {
        properties.validity_in_months = Some(6);
    }
    let updated_policy = client.update_certificate_policy(&name, policy.try_into()?, None).await?.into_model()?;
    ensure!(
        updated_policy.x509_certificate_properties.and_then(|p| p.validity_in_months) == Some(6),
        "the policy's validity was not updated"
    );
    let version = created.resource_id()?.version.ok_or("no version")?;
    let got = client
        .get_certificate(
            &name,
            Some(CertificateClientGetCertificateOptions {
                certificate_version: Some(version.clone()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    ensure!(got.cer == created.cer && got.kid.is_some() && got.sid.is_some(), "get by version answered {got:?}");
    let updated = client
        .update_certificate_properties(
            &name,
            UpdateCertificatePropertiesParameters {
                tags: Some(HashMap::from([("team".to_string(), "ops".to_string())])),
                ..Default::default()
            }
            .try_into()?,
            Some(CertificateClientUpdateCertificatePropertiesOptions {
                certificate_version: Some(version),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    ensure!(
        updated.tags.as_ref().and_then(|tags| tags.get("team")).map(String::as_str) == Some("ops"),
        "update answered {:?}",
        updated.tags
    );
    let mut listed = false;
    let mut pager = client.list_certificate_properties(None)?;
    while let Some(properties) = pager.try_next().await? {
        listed |= properties.resource_id()?.name == name;
    }
    ensure!(listed, "{name} is not listed");
    let versions: Vec<_> = client.list_certificate_properties_versions(&name, None)?.try_collect().await?;
    ensure!(versions.len() == 1, "expected 1 version, listed {}", versions.len());
    Ok(())
}

/// A PKCS#12 made by OpenSSL imports with its password (a wrong one → 400), and so does a PEM of key and
/// certificate; each certificate keeps its key.
pub async fn importing_a_pkcs12_and_a_pem(witness: Arc<Witness>) -> Outcome {
    let client = witness.certificates()?;
    let key = rsa_key(2048)?;
    let certificate = self_signed(&key, "imported.example", false)?;
    let pfx = Pkcs12::builder().name("imported").pkey(&key).cert(&certificate).build2("pfx-password")?.to_der()?;
    let import = |value: String, password: Option<&str>, content_type: &str| ImportCertificateParameters {
        base64_encoded_certificate: Some(value),
        password: password.map(String::from),
        certificate_policy: Some(CertificatePolicy {
            secret_properties: Some(SecretProperties { content_type: Some(content_type.into()) }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = unique_name("rust-imported");
    let imported = client
        .import_certificate(
            &name,
            import(base64::encode(&pfx), Some("pfx-password"), "application/x-pkcs12").try_into()?,
            None,
        )
        .await?
        .into_model()?;
    ensure!(imported.cer.as_deref() == Some(&certificate.to_der()?[..]), "the imported PKCS#12's certificate differs");
    let refused = client
        .import_certificate(
            &unique_name("rust-badpassword"),
            import(base64::encode(&pfx), Some("wrong"), "application/x-pkcs12").try_into()?,
            None,
        )
        .await;
    let body = expect_refusal(refused, 400, "a PKCS#12 with the wrong password")?;
    ensure!(!error_codes(&body).0.is_empty(), "wrong password: {body}");

    let pem =
        format!("{}{}", String::from_utf8(key.private_key_to_pem_pkcs8()?)?, String::from_utf8(certificate.to_pem()?)?);
    let name = unique_name("rust-imported-pem");
    let imported = client
        .import_certificate(&name, import(pem, None, "application/x-pem-file").try_into()?, None)
        .await?
        .into_model()?;
    ensure!(imported.cer.as_deref() == Some(&certificate.to_der()?[..]), "the imported PEM's certificate differs");
    Ok(())
}

/// Issuer Unknown: the vault makes the key and a CSR; a CA of the test's own signs it; merge completes it.
pub async fn merging_a_certificate_signed_elsewhere(witness: Arc<Witness>) -> Outcome {
    let client = witness.certificates()?;
    let name = unique_name("rust-merged");
    create_pending(&client, &name, "CN=merged.example").await?;
    let operation = client.get_certificate_operation(&name, None).await?.into_model()?;
    let request = X509Req::from_der(operation.csr.as_deref().ok_or("the pending operation has no CSR")?)?;
    let requested_key = request.public_key()?;
    ensure!(request.verify(&requested_key)?, "the CSR's signature does not verify");

    let ca_key = rsa_key(2048)?;
    let ca = self_signed(&ca_key, "Witness CA", true)?;
    let mut leaf = X509Builder::new()?;
    leaf.set_version(2)?;
    leaf.set_serial_number(random_serial()?.as_ref())?;
    leaf.set_subject_name(request.subject_name())?;
    leaf.set_issuer_name(ca.subject_name())?;
    leaf.set_pubkey(&requested_key)?;
    leaf.set_not_before(ca.not_before())?;
    leaf.set_not_after(ca.not_after())?;
    let names = SubjectAlternativeName::new().dns("witness.example").build(&leaf.x509v3_context(Some(&ca), None))?;
    leaf.append_extension(names)?;
    leaf.sign(&ca_key, MessageDigest::sha256())?;
    let leaf = leaf.build();

    let merged = client
        .merge_certificate(
            &name,
            MergeCertificateParameters {
                x509_certificates: Some(vec![leaf.to_der()?, ca.to_der()?]),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?
        .into_model()?;
    let merged = parse(&merged)?;
    let ca_public = ca.public_key()?;
    ensure!(merged.verify(&ca_public)?, "the merged certificate is not the CA's");
    ensure!(common_name(&merged).as_deref() == Some("merged.example"), "merged subject {:?}", merged.subject_name());
    let operation = client.get_certificate_operation(&name, None).await?.into_model()?;
    ensure!(
        operation.status.as_deref() == Some("completed"),
        "after the merge the operation is {:?}",
        operation.status
    );
    Ok(())
}

/// A pending certificate operation, cancelled and deleted before anyone signs its CSR.
pub async fn a_cancelled_certificate_request(witness: Arc<Witness>) -> Outcome {
    let client = witness.certificates()?;
    let name = unique_name("rust-cancelled");
    create_pending(&client, &name, "CN=cancelled.example").await?;
    let cancelled = client
        .update_certificate_operation(
            &name,
            UpdateCertificateOperationParameter { cancellation_requested: Some(true) }.try_into()?,
            None,
        )
        .await?
        .into_model()?;
    ensure!(cancelled.cancellation_requested == Some(true), "cancel answered {:?}", cancelled.cancellation_requested);
    client.delete_certificate_operation(&name, None).await?;
    let body = expect_refusal(client.get_certificate_operation(&name, None).await, 404, "a deleted operation")?;
    ensure!(!error_codes(&body).0.is_empty(), "a deleted operation: {body}");
    Ok(())
}

/// The vault's contacts, and issuers (whose password is never answered).
pub async fn contacts_and_issuers(witness: Arc<Witness>) -> Outcome {
    let client = witness.certificates()?;
    let contacts = Contacts {
        contact_list: Some(vec![Contact {
            email: Some("ops@witness.example".into()),
            name: Some("Ops".into()),
            phone: Some("555-0100".into()),
        }]),
        ..Default::default()
    };
    client.set_contacts(contacts.try_into()?, None).await?;
    let got = client.get_contacts(None).await?.into_model()?;
    let email = got.contact_list.as_ref().and_then(|list| list.first()).and_then(|c| c.email.clone());
    ensure!(email.as_deref() == Some("ops@witness.example"), "contacts: {email:?}");
    client.delete_contacts(None).await?;

    let issuer = unique_name("rust-issuer");
    client
        .set_issuer(
            &issuer,
            SetIssuerParameters {
                provider: Some("Test".into()),
                credentials: Some(IssuerCredentials {
                    account_id: Some("account".into()),
                    password: Some("issuer-password".into()),
                }),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?;
    let read = client.get_issuer(&issuer, None).await?.into_model()?;
    ensure!(read.provider.as_deref() == Some("Test"), "issuer provider {:?}", read.provider);
    ensure!(read.credentials.and_then(|c| c.password).is_none(), "the issuer's password was answered");
    client
        .update_issuer(
            &issuer,
            UpdateIssuerParameters { provider: Some("Test".into()), ..Default::default() }.try_into()?,
            None,
        )
        .await?;
    let mut found = false;
    let mut pager = client.list_issuer_properties(None)?;
    while let Some(properties) = pager.try_next().await? {
        found |= properties.id.as_deref().is_some_and(|id| id.ends_with(&format!("/{issuer}")));
    }
    ensure!(found, "issuer {issuer} is not listed");
    client.delete_issuer(&issuer, None).await?;
    Ok(())
}

/// Delete, get and list deleted, recover, purge, backup and restore of a certificate.
pub async fn certificate_lifecycle(witness: Arc<Witness>) -> Outcome {
    let client = witness.certificates()?;
    let name = unique_name("rust-life");
    let original = create_self_signed(&client, &name, "CN=life.example").await?;
    let backup = client.backup_certificate(&name, None).await?.into_model()?.value.ok_or("an empty backup")?;
    let deleted = client.delete_certificate(&name, None).await?.into_model()?;
    ensure!(deleted.recovery_id.is_some(), "delete answered no recovery id");
    wait_for("the deleted certificate", || client.get_deleted_certificate(&name, None)).await?;
    let mut among_deleted = false;
    let mut pager = client.list_deleted_certificate_properties(None)?;
    while let Some(properties) = pager.try_next().await? {
        among_deleted |= properties.resource_id()?.name == name;
    }
    ensure!(among_deleted, "{name} is not among the deleted certificates");
    client.recover_deleted_certificate(&name, None).await?;
    wait_for("the recovered certificate", || client.get_certificate(&name, None)).await?;
    client.delete_certificate(&name, None).await?;
    wait_for("the deleted certificate", || client.get_deleted_certificate(&name, None)).await?;
    client.purge_deleted_certificate(&name, None).await?;
    let body = expect_refusal(client.get_certificate(&name, None).await, 404, "a purged certificate")?;
    ensure!(error_codes(&body).0 == "CertificateNotFound", "a purged certificate: {body}");
    let restored = client
        .restore_certificate(RestoreCertificateParameters { certificate_backup: Some(backup) }.try_into()?, None)
        .await?
        .into_model()?;
    ensure!(restored.cer == original.cer, "the restored certificate differs");
    Ok(())
}

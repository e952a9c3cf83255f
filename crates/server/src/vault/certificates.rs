//! Certificates: issuance by policy, and the certificate, its policy and its last issuance read back. Every
//! certificate version is written with its key (`/keys/{name}/{version}`, managed) and its secret
//! (`/secrets/{name}/{version}`, PKCS#12 or PEM as the policy says) in one transaction, under one version id.
//!
//! What is built: self-signed issuance (`issuer.name = "Self"`), which is done by the time create answers 202;
//! the first poll of `/pending` finds it completed, so the SDK pollers do not wait. Not yet: the CSR and merge flow,
//! issuers, import, contacts, update, delete/recover/purge, backup/restore and auto-renewal.

use std::net::IpAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use strongroom_core::certificate::{self, Subject};
use strongroom_core::key::{Curve, KeySpec, KeyType, PrivateKey};
use strongroom_core::secret::{self, SecretProperties, SecretVersion};
use strongroom_proto::keyvault::{
    CertificateBundle, CertificateCreateParameters, CertificateItem, CertificateKeyProperties,
    CertificateLifetimeAction, CertificateLifetimeActionType, CertificateLifetimeTrigger, CertificateOperation,
    CertificatePolicy, CertificateSecretProperties, IssuerParameters, Page, SubjectAlternativeNames, X509Properties,
};
use strongroom_store::{Place, VersionSelector};
use zeroize::Zeroizing;

use super::error::VaultError;
use super::keys;
use super::secrets::{Context, parse_body};
use crate::identity::mint::now_seconds;

/// What a certificate version's properties say about it, in clear.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CertificateFacts {
    x5t: String,
    secret_content_type: String,
}

/// The sealed part of a certificate version: its DER, standard base64 (not secret, but kept like the rest).
#[derive(Serialize, Deserialize)]
struct SealedCertificate {
    cer: String,
}

/// What is kept with the certificate: its policy and its last issuance.
#[derive(Serialize, Deserialize)]
struct Kept {
    policy: CertificatePolicy,
    operation: CertificateOperation,
}

fn place(cx: &Context<'_>) -> Place {
    Place::certificates(cx.vault.id)
}

/// Key Vault's default policy, filled in where a request's policy leaves members out.
fn completed_policy(mut policy: CertificatePolicy) -> CertificatePolicy {
    policy.id = None;
    let key = policy.key_props.get_or_insert_with(CertificateKeyProperties::default);
    key.exportable.get_or_insert(true);
    let kty = key.kty.get_or_insert_with(|| "RSA".to_owned()).clone();
    if kty.starts_with("RSA") {
        key.key_size.get_or_insert(2048);
    } else {
        key.crv.get_or_insert_with(|| "P-256".to_owned());
    }
    key.reuse_key.get_or_insert(false);
    policy
        .secret_props
        .get_or_insert_with(CertificateSecretProperties::default)
        .content_type
        .get_or_insert_with(|| certificate::PKCS12.to_owned());
    let x509 = policy.x509_props.get_or_insert_with(X509Properties::default);
    x509.validity_months.get_or_insert(12);
    x509.key_usage.get_or_insert_with(|| vec!["digitalSignature".to_owned(), "keyEncipherment".to_owned()]);
    x509.ekus.get_or_insert_with(|| vec!["1.3.6.1.5.5.7.3.1".to_owned(), "1.3.6.1.5.5.7.3.2".to_owned()]);
    policy.issuer.get_or_insert_with(IssuerParameters::default).name.get_or_insert_with(|| "Self".to_owned());
    policy.lifetime_actions.get_or_insert_with(|| {
        vec![CertificateLifetimeAction {
            trigger: Some(CertificateLifetimeTrigger { lifetime_percentage: Some(80), days_before_expiry: None }),
            action: Some(CertificateLifetimeActionType { action_type: Some("AutoRenew".to_owned()) }),
        }]
    });
    policy
}

/// What the policy asks the certificate to say, checked.
fn subject_of(policy: &CertificatePolicy) -> Result<Subject, VaultError> {
    let x509 = policy.x509_props.clone().unwrap_or_default();
    let sans = x509.sans.unwrap_or_default();
    let SubjectAlternativeNames { emails, dns_names, upns, uris, ip_addresses } = sans;
    let ips = ip_addresses
        .unwrap_or_default()
        .iter()
        .map(|ip| ip.parse::<IpAddr>().map_err(|_| VaultError::bad_parameter(format!("'{ip}' is not an IP address."))))
        .collect::<Result<Vec<_>, _>>()?;
    let name = x509.subject.filter(|s| !s.trim().is_empty());
    let dns_names = dns_names.unwrap_or_default();
    if name.is_none() && dns_names.is_empty() {
        return Err(VaultError::bad_parameter("A certificate policy needs a subject or a DNS name."));
    }
    let subject = Subject {
        name: name.unwrap_or_default(),
        dns_names,
        emails: emails.unwrap_or_default(),
        upns: upns.unwrap_or_default(),
        uris: uris.unwrap_or_default(),
        ips,
        ekus: x509.ekus.unwrap_or_default(),
        key_usage: x509.key_usage.unwrap_or_default(),
        validity_months: x509.validity_months.unwrap_or(12),
    };
    subject.validate()?;
    Ok(subject)
}

/// The key the policy asks for.
fn key_spec(policy: &CertificatePolicy) -> Result<KeySpec, VaultError> {
    let key = policy.key_props.clone().unwrap_or_default();
    let kty = KeyType::parse(key.kty.as_deref().unwrap_or("RSA"))?;
    if !kty.operations().contains(&"sign") {
        return Err(VaultError::bad_parameter("A certificate's key is RSA or EC."));
    }
    let curve = key.crv.as_deref().map(Curve::parse).transpose()?;
    let rsa = kty.operations().contains(&"encrypt");
    Ok(KeySpec {
        kty,
        size: if rsa { key.key_size } else { None },
        public_exponent: None,
        curve: if rsa { None } else { curve },
    })
}

/// `POST /certificates/{name}/create`: issue a new version as the policy says.
pub async fn create(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    secret::validate_name(name)?;
    let params: CertificateCreateParameters = parse_body(body, "CertificateCreateParameters")?;
    let policy = completed_policy(params.policy.unwrap_or_default());
    let issuer = policy.issuer.as_ref().and_then(|i| i.name.clone()).unwrap_or_default();
    if !issuer.eq_ignore_ascii_case("Self") {
        return Err(VaultError::bad_parameter(format!(
            "The issuer '{issuer}' is not supported yet: Strongroom issues self-signed certificates (issuer 'Self')."
        )));
    }
    let subject = subject_of(&policy)?;
    let key = PrivateKey::generate(&key_spec(&policy)?)?;
    let now = now_seconds();
    let der = subject.self_signed(&key, now)?;
    let csr = subject.signing_request(&key)?;
    let secret_content_type = policy
        .secret_props
        .as_ref()
        .and_then(|s| s.content_type.clone())
        .unwrap_or_else(|| certificate::PKCS12.to_owned());
    let exportable = policy.key_props.as_ref().and_then(|k| k.exportable).unwrap_or(true);
    let secret_value = match secret_content_type.as_str() {
        certificate::PKCS12 => {
            STANDARD.encode(certificate::pkcs12(std::slice::from_ref(&der), exportable.then_some(&key))?)
        }
        certificate::PEM => certificate::pem(std::slice::from_ref(&der), exportable.then_some(&key)),
        other => {
            return Err(VaultError::bad_parameter(format!(
                "The secret content type '{other}' is not supported: use {} or {}.",
                certificate::PKCS12,
                certificate::PEM
            )));
        }
    };

    let attributes = params.attributes.unwrap_or_default();
    let validity = (now, now + i64::from(subject.validity_months) * 30 * 86_400);
    let properties = |content_type: Option<String>| SecretProperties {
        content_type,
        tags: params.tags.clone().unwrap_or_default(),
        enabled: attributes.enabled.unwrap_or(true),
        not_before: Some(validity.0),
        expires: Some(validity.1),
    };
    properties(None).validate_tags()?;
    let version_id = secret::new_version();
    let version = |properties: SecretProperties| SecretVersion {
        name: name.to_owned(),
        version: version_id.clone(),
        properties,
        created: now,
        updated: now,
    };
    let facts =
        CertificateFacts { x5t: certificate::thumbprint(&der), secret_content_type: secret_content_type.clone() };
    let facts = serde_json::to_string(&facts).map_err(|_| VaultError::internal())?;
    let sealed =
        serde_json::to_string(&SealedCertificate { cer: STANDARD.encode(&der) }).map_err(|_| VaultError::internal())?;
    let (key_version, sealed_key) = keys::certificate_key_version(&key, name, &version_id, properties(None), now)?;

    let operation = CertificateOperation {
        id: None,
        issuer: policy.issuer.clone(),
        csr: Some(STANDARD.encode(&csr)),
        cancellation_requested: false,
        status: Some("completed".to_owned()),
        status_details: None,
        target: Some(format!("{}/certificates/{name}", cx.base_url)),
        request_id: Some(uuid::Uuid::new_v4().simple().to_string()),
    };
    let kept = serde_json::to_string(&Kept { policy: policy.clone(), operation: operation.clone() })
        .map_err(|_| VaultError::internal())?;
    let versions = vec![
        (place(cx), version(properties(Some(facts))), Zeroizing::new(sealed)),
        (Place::keys(cx.vault.id), key_version, sealed_key),
        (Place::secrets(cx.vault.id), version(properties(Some(secret_content_type))), Zeroizing::new(secret_value)),
    ];
    cx.state
        .store
        .put_linked_versions(versions, Some((place(cx), name.to_owned(), kept)))
        .await
        .map_err(|e| VaultError::from_secret_store(name, e))?;
    // The answer to the create says `inProgress`, as Key Vault's does: the SDK pollers only start polling (and
    // then fetch the certificate) when the first answer is not final. Their first poll finds it completed.
    let accepted = CertificateOperation { status: Some("inProgress".to_owned()), target: None, ..operation };
    Ok((StatusCode::ACCEPTED, Json(with_id(cx, name, accepted))).into_response())
}

fn with_id(cx: &Context<'_>, name: &str, mut operation: CertificateOperation) -> CertificateOperation {
    operation.id = Some(format!("{}/certificates/{name}/pending", cx.base_url));
    operation
}

async fn kept(cx: &Context<'_>, name: &str) -> Result<Option<Kept>, VaultError> {
    match cx.state.store.object_policy(place(cx), name).await? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json).map(Some).map_err(|_| VaultError::internal()),
    }
}

fn policy_with_id(cx: &Context<'_>, name: &str, mut policy: CertificatePolicy) -> CertificatePolicy {
    policy.id = Some(format!("{}/certificates/{name}/policy", cx.base_url));
    policy
}

/// `GET /certificates/{name}/pending`: the last issuance.
pub async fn get_operation(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let kept = kept(cx, name).await?.ok_or_else(|| VaultError::operation_not_found(name))?;
    Ok(Json(with_id(cx, name, kept.operation)).into_response())
}

/// `GET /certificates/{name}/policy`.
pub async fn get_policy(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let kept = kept(cx, name).await?.ok_or_else(|| VaultError::certificate_not_found(name))?;
    Ok(Json(policy_with_id(cx, name, kept.policy)).into_response())
}

/// `GET /certificates/{name}[/{version}]`.
pub async fn get(cx: &Context<'_>, name: &str, version: Option<&str>) -> Result<Response, VaultError> {
    let selector = match version {
        None => VersionSelector::Latest,
        Some(v) if secret::is_version(v) => VersionSelector::Exact(v),
        Some(_) => return Err(VaultError::certificate_not_found(name)),
    };
    let (version, sealed) = cx
        .state
        .store
        .read_version(place(cx), name, selector)
        .await?
        .ok_or_else(|| VaultError::certificate_not_found(name))?;
    let sealed: SealedCertificate = serde_json::from_str(&sealed).map_err(|_| VaultError::internal())?;
    let facts = facts(&version)?;
    let policy = kept(cx, name).await?.map(|k| policy_with_id(cx, &version.name, k.policy));
    let base = cx.base_url;
    let (n, v) = (&version.name, &version.version);
    Ok(Json(CertificateBundle {
        id: format!("{base}/certificates/{n}/{v}"),
        kid: format!("{base}/keys/{n}/{v}"),
        sid: format!("{base}/secrets/{n}/{v}"),
        x5t: facts.x5t,
        cer: sealed.cer,
        content_type: Some(facts.secret_content_type),
        attributes: cx.attributes(&version),
        policy,
        tags: (!version.properties.tags.is_empty()).then(|| version.properties.tags.clone()),
    })
    .into_response())
}

fn facts(version: &SecretVersion) -> Result<CertificateFacts, VaultError> {
    version
        .properties
        .content_type
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(VaultError::internal)
}

fn item(cx: &Context<'_>, version: &SecretVersion, with_version: bool) -> CertificateItem {
    let id = match with_version {
        true => format!("{}/certificates/{}/{}", cx.base_url, version.name, version.version),
        false => format!("{}/certificates/{}", cx.base_url, version.name),
    };
    CertificateItem {
        id,
        x5t: facts(version).map(|f| f.x5t).unwrap_or_default(),
        attributes: cx.attributes(version),
        tags: (!version.properties.tags.is_empty()).then(|| version.properties.tags.clone()),
    }
}

/// `GET /certificates`: the newest version of each certificate.
pub async fn list(cx: &Context<'_>) -> Result<Response, VaultError> {
    let page = cx.state.store.list_objects(place(cx), cx.page_request()).await?;
    let value: Vec<CertificateItem> = page.items.iter().map(|v| item(cx, v, false)).collect();
    Ok(Json(Page { value, next_link: cx.next_link("/certificates", page.next) }).into_response())
}

/// `GET /certificates/{name}/versions`.
pub async fn list_versions(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let page = cx.state.store.list_versions(place(cx), name, cx.page_request()).await?;
    if page.items.is_empty() && cx.query.skip_token.is_none() {
        return Err(VaultError::certificate_not_found(name));
    }
    let value: Vec<CertificateItem> = page.items.iter().map(|v| item(cx, v, true)).collect();
    Ok(Json(Page { value, next_link: cx.next_link(&format!("/certificates/{name}/versions"), page.next) })
        .into_response())
}

//! Certificates: the list, a new self-signed certificate from a policy form, one certificate's versions and
//! pending operation (with its CSR), and downloads: the public certificate as CER or PEM, and, for those the
//! vault lets read its secret, the certificate with its private key as PFX or PEM.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::{VaultPage, action_button, date, enabled, last_segment, list_page, next_link, object_name, status_of};
use crate::portal::backend::Refusal;
use crate::portal::html::{self, Tab};

const PKCS12: &str = "application/x-pkcs12";
const PEM: &str = "application/x-pem-file";

/// `/portal/vaults/{vault}/certificates`: the list, and a new certificate when posted.
pub async fn list(page: &VaultPage<'_>) -> Response {
    let visit = page.visit;
    let mut refusal = None;
    if visit.form.is_some() {
        match page.after_create(Tab::Certificates, "Requested certificate", create(page).await) {
            Ok(done) => return done,
            Err(failed) => refusal = Some(failed),
        }
    }
    let (status, table) = page.listing("certificates", |items, next| table(page, items, next)).await;
    let status = refusal.as_ref().map_or(status, status_of);
    let subject = match visit.field("subject") {
        "" => "CN=example.com",
        subject => subject,
    };
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        (table)
        form method="post" action=(page.url(Tab::Certificates)) {
            (html::csrf(&visit.session))
            fieldset {
                legend { "New certificate" }
                p { "Self-signed, or signed by the tenant's certificate authority when its issuer is named." }
                label for="name" { "Name" }
                input #name type="text" name="name" required autocomplete="off" value=(visit.field("name"));
                label for="subject" { "Subject" }
                input #subject type="text" name="subject" required value=(subject);
                label for="validity" { "Validity (months)" }
                input #validity type="number" name="validity" min="1" max="120" value="12";
                label for="issuer" { "Issuer" }
                select #issuer name="issuer" {
                    option value="Self" { "Self (self-signed)" }
                    option value="Unknown" { "Unknown (a CSR to have signed elsewhere)" }
                }
                label for="kty" { "Key type" }
                select #kty name="kty" { option value="RSA" { "RSA 2048" } option value="EC" { "EC P-256" } }
                label for="content_type" { "Format" }
                select #content_type name="content_type" {
                    option value=(PKCS12) { "PKCS #12 (PFX)" }
                    option value=(PEM) { "PEM" }
                }
                p { button type="submit" { "Create certificate" } }
            }
        }
    };
    page.render(status, Tab::Certificates, "Certificates", body)
}

fn table(page: &VaultPage<'_>, items: &[Value], next: Option<&str>) -> Markup {
    html! {
        @if items.is_empty() { p { "No certificates yet." } } @else {
            table #certificates {
                caption { "Certificates" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Enabled" } th scope="col" { "Updated" }
                    th scope="col" { "Expires" } } }
                tbody {
                    @for item in items {
                        @let name = last_segment(item.get("id").and_then(Value::as_str).unwrap_or_default());
                        tr {
                            td { a href={ (page.url(Tab::Certificates)) "/" (html::encode(name)) } { (name) } }
                            td { (if enabled(item) { "Yes" } else { "No" }) }
                            td { (date(item, "updated")) }
                            td { (date(item, "exp")) }
                        }
                    }
                }
            }
            (next_link(&page.url(Tab::Certificates), next))
        }
    }
}

async fn create(page: &VaultPage<'_>) -> Result<String, Refusal> {
    let visit = page.visit;
    let name = object_name(visit.field("name").trim())?;
    let key = match visit.field("kty") {
        "EC" => json!({ "kty": "EC", "crv": "P-256", "exportable": true, "reuse_key": false }),
        _ => json!({ "kty": "RSA", "key_size": 2048, "exportable": true, "reuse_key": false }),
    };
    let content_type = if visit.field("content_type") == PEM { PEM } else { PKCS12 };
    let issuer = if visit.field("issuer") == "Unknown" { "Unknown" } else { "Self" };
    let body = json!({ "policy": {
        "key_props": key,
        "secret_props": { "contentType": content_type },
        "x509_props": { "subject": visit.field("subject"), "validity_months": visit.field("validity").parse::<u32>().unwrap_or(12) },
        "issuer": { "name": issuer },
    }});
    page.data(Method::POST, &format!("/certificates/{name}/create"), Some(&body)).await?;
    Ok(name.to_owned())
}

/// `/portal/vaults/{vault}/certificates/{name}`: the current version, the versions, the pending operation;
/// posted: delete.
pub async fn item(page: &VaultPage<'_>, name: &str) -> Response {
    let visit = page.visit;
    let name = match object_name(name) {
        Ok(name) => name,
        Err(refusal) => {
            return page.render(StatusCode::NOT_FOUND, Tab::Certificates, name, html::alert(&refusal.message));
        }
    };
    let here = format!("{}/{name}", page.url(Tab::Certificates));
    let mut refusal = None;
    if visit.form.is_some() {
        match visit.field("action") {
            "delete" => match page.data(Method::DELETE, &format!("/certificates/{name}"), None).await {
                Ok(_) => return page.done(&page.url(Tab::Certificates), format!("Certificate {name} was deleted.")),
                Err(failed) => refusal = Some(failed),
            },
            other => refusal = Some(super::unknown_action(other)),
        }
    }
    let pending = page.data(Method::GET, &format!("/certificates/{name}/pending"), None).await.ok();
    let current = page.data(Method::GET, &format!("/certificates/{name}/"), None).await;
    let versions = page.data(Method::GET, &format!("/certificates/{name}/versions?maxresults=25"), None).await;
    let status = match (&refusal, &current, &pending) {
        (Some(refusal), _, _) => status_of(refusal),
        (None, Err(failed), None) => status_of(failed),
        _ => StatusCode::OK,
    };
    let operation_status = pending.as_ref().and_then(|p| p.get("status")).and_then(Value::as_str);
    let body = html! {
        @if let Some(refusal) = &refusal { (html::alert(&refusal.message)) }
        @if let Some(pending) = &pending {
            section aria-labelledby="operation" {
                h2 #operation { "Operation" }
                dl {
                    dt { "Status" } dd #operation-status { (operation_status.unwrap_or_default()) }
                    @if let Some(detail) = pending.get("status_details").and_then(Value::as_str) { dt { "Details" } dd { (detail) } }
                    @if let Some(error) = pending.pointer("/error/message").and_then(Value::as_str) { dt { "Error" } dd { (error) } }
                }
                @if let (Some("inProgress"), Some(csr)) = (operation_status, pending.get("csr").and_then(Value::as_str)) {
                    h3 { "Certificate signing request" }
                    pre #csr { "-----BEGIN CERTIFICATE REQUEST-----\n" (wrap(csr)) "-----END CERTIFICATE REQUEST-----" }
                }
            }
        }
        @match &current {
            Ok(certificate) => {
                section aria-labelledby="current" {
                    h2 #current { "Current version" }
                    dl {
                        dt { "Thumbprint (x5t)" } dd #thumbprint { (certificate.get("x5t").and_then(Value::as_str).unwrap_or_default()) }
                        dt { "Subject" } dd { (certificate.pointer("/policy/x509_props/subject").and_then(Value::as_str).unwrap_or_default()) }
                        dt { "Enabled" } dd { (if enabled(certificate) { "Yes" } else { "No" }) }
                        dt { "Not before" } dd { (date(certificate, "nbf")) }
                        dt { "Expires" } dd { (date(certificate, "exp")) }
                    }
                    @if certificate.get("cer").is_some() {
                        p {
                            a href={ (here) "/download?format=cer" } download { "Download CER" } " · "
                            a href={ (here) "/download?format=pem" } download { "Download PEM (public)" }
                        }
                        form.inline method="post" action={ (here) "/download" } {
                            (html::csrf(&visit.session))
                            button.quiet type="submit" { "Download with private key" }
                        }
                    }
                }
            }
            Err(failed) => { @if pending.is_none() { (html::alert(&failed.message)) } }
        }
        @if let Ok(answer) = &versions { (versions_table(&list_page(answer).0)) }
        p { (action_button(visit, &here, "delete", &[], "Delete certificate")) }
    };
    page.render(status, Tab::Certificates, name, body)
}

fn versions_table(versions: &[Value]) -> Markup {
    html! {
        @if !versions.is_empty() {
            table #versions {
                caption { "Versions" }
                thead { tr { th scope="col" { "Version" } th scope="col" { "Thumbprint" } th scope="col" { "Created" }
                    th scope="col" { "Expires" } } }
                tbody {
                    @for item in versions {
                        tr {
                            td { code { (last_segment(item.get("id").and_then(Value::as_str).unwrap_or_default())) } }
                            td { (item.get("x5t").and_then(Value::as_str).unwrap_or_default()) }
                            td { (date(item, "created")) }
                            td { (date(item, "exp")) }
                        }
                    }
                }
            }
        }
    }
}

/// Base64 in PEM's 64-character lines.
fn wrap(base64: &str) -> String {
    base64.as_bytes().chunks(64).map(|line| format!("{}\n", String::from_utf8_lossy(line))).collect()
}

/// `/portal/vaults/{vault}/certificates/{name}/download`: `GET ?format=cer|pem` the public certificate;
/// `POST` the certificate with its private key, read as its secret (a `SecretGet`, which the vault may refuse).
pub async fn download(page: &VaultPage<'_>, name: &str) -> Response {
    let visit = page.visit;
    let result = match object_name(name) {
        Ok(name) => match visit.form.is_some() {
            true => with_private_key(page, name).await,
            false => public(page, name, visit.field("format")).await,
        },
        Err(refusal) => Err(refusal),
    };
    match result {
        Ok((content_type, file_name, bytes)) => {
            let mut response = ([(header::CONTENT_TYPE, content_type)], bytes).into_response();
            if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
                response.headers_mut().insert(header::CONTENT_DISPOSITION, disposition);
            }
            html::protect(&mut response);
            response
        }
        Err(refusal) => page.render(status_of(&refusal), Tab::Certificates, name, html::alert(&refusal.message)),
    }
}

type Download = (&'static str, String, Vec<u8>);

async fn public(page: &VaultPage<'_>, name: &str, format: &str) -> Result<Download, Refusal> {
    let certificate = page.data(Method::GET, &format!("/certificates/{name}/"), None).await?;
    let cer = certificate.get("cer").and_then(Value::as_str).unwrap_or_default();
    match format {
        "pem" => {
            let pem = format!("-----BEGIN CERTIFICATE-----\n{}-----END CERTIFICATE-----\n", wrap(cer));
            Ok(("application/x-pem-file", format!("{name}.pem"), pem.into_bytes()))
        }
        _ => {
            let der = STANDARD.decode(cer).unwrap_or_default();
            Ok(("application/pkix-cert", format!("{name}.cer"), der))
        }
    }
}

async fn with_private_key(page: &VaultPage<'_>, name: &str) -> Result<Download, Refusal> {
    let secret = page.data(Method::GET, &format!("/secrets/{name}/"), None).await?;
    let value = secret.get("value").and_then(Value::as_str).unwrap_or_default();
    match secret.get("contentType").and_then(Value::as_str) {
        Some(PEM) => Ok((PEM, format!("{name}.pem"), value.as_bytes().to_vec())),
        _ => Ok((PKCS12, format!("{name}.pfx"), STANDARD.decode(value).unwrap_or_default())),
    }
}

//! Key Vault's certificate JSON to the domain's types and back: the policy, the operation, issuers and
//! contacts. Only members move here; every rule is the domain's (`strongroom_core::certificate`).

use strongroom_core::certificate::issuance::Operation;
use strongroom_core::certificate::issuer::{Contact, Issuer, IssuerChange, IssuerCredentials};
use strongroom_core::certificate::lifetime::{ActionTypeRequest, LifetimeActionRequest, TriggerRequest};
use strongroom_core::certificate::policy::{
    IssuerParameters, IssuerRequest, KeyRequest, Policy, PolicyRequest, SecretRequest, SubjectAlternativeNames,
    X509Request,
};
use strongroom_proto::keyvault as wire;

/// What a request's policy says.
pub(super) fn policy_request(policy: wire::CertificatePolicy) -> PolicyRequest {
    let wire::CertificatePolicy { id: _, key_props, secret_props, x509_props, lifetime_actions, issuer, attributes } =
        policy;
    PolicyRequest {
        key: key_props.map(|k| KeyRequest {
            exportable: k.exportable,
            kty: k.kty,
            key_size: k.key_size,
            reuse_key: k.reuse_key,
            crv: k.crv,
        }),
        secret: secret_props.map(|s| SecretRequest { content_type: s.content_type }),
        x509: x509_props.map(|x| X509Request {
            subject: x.subject,
            ekus: x.ekus,
            sans: x.sans.map(|s| SubjectAlternativeNames {
                emails: s.emails,
                dns_names: s.dns_names,
                upns: s.upns,
                uris: s.uris,
                ip_addresses: s.ip_addresses,
            }),
            key_usage: x.key_usage,
            validity_months: x.validity_months,
        }),
        lifetime_actions: lifetime_actions.map(|actions| {
            actions
                .into_iter()
                .map(|a| LifetimeActionRequest {
                    trigger: a.trigger.map(|t| TriggerRequest {
                        lifetime_percentage: t.lifetime_percentage,
                        days_before_expiry: t.days_before_expiry,
                    }),
                    action: a.action.map(|t| ActionTypeRequest { action_type: t.action_type }),
                })
                .collect()
        }),
        issuer: issuer.map(|i| IssuerRequest { name: i.name, cty: i.cty, cert_transparency: i.cert_transparency }),
        attributes,
    }
}

fn issuer_parameters(issuer: IssuerParameters) -> wire::IssuerParameters {
    wire::IssuerParameters { name: Some(issuer.name), cty: issuer.cty, cert_transparency: issuer.cert_transparency }
}

/// A policy as answered, under `id`: every member, as the request's defaults completed it.
pub(super) fn policy_answer(policy: Policy, id: String) -> wire::CertificatePolicy {
    let PolicyRequest { key, secret, x509, lifetime_actions, issuer: _, attributes } =
        PolicyRequest::from(policy.clone());
    wire::CertificatePolicy {
        id: Some(id),
        key_props: key.map(|k| wire::CertificateKeyProperties {
            exportable: k.exportable,
            kty: k.kty,
            key_size: k.key_size,
            reuse_key: k.reuse_key,
            crv: k.crv,
        }),
        secret_props: secret.map(|s| wire::CertificateSecretProperties { content_type: s.content_type }),
        x509_props: x509.map(|x| wire::X509Properties {
            subject: x.subject,
            ekus: x.ekus,
            sans: x.sans.map(|s| wire::SubjectAlternativeNames {
                emails: s.emails,
                dns_names: s.dns_names,
                upns: s.upns,
                uris: s.uris,
                ip_addresses: s.ip_addresses,
            }),
            key_usage: x.key_usage,
            validity_months: x.validity_months,
        }),
        lifetime_actions: lifetime_actions.map(|actions| {
            actions
                .into_iter()
                .map(|a| wire::CertificateLifetimeAction {
                    trigger: a.trigger.map(|t| wire::CertificateLifetimeTrigger {
                        lifetime_percentage: t.lifetime_percentage,
                        days_before_expiry: t.days_before_expiry,
                    }),
                    action: a.action.map(|t| wire::CertificateLifetimeActionType { action_type: t.action_type }),
                })
                .collect()
        }),
        issuer: Some(issuer_parameters(policy.issuer)),
        attributes,
    }
}

/// An operation as answered, under `id`, naming `target` when it made a certificate and its error when it failed.
pub(super) fn operation_answer(operation: Operation, id: String, target: String) -> wire::CertificateOperation {
    wire::CertificateOperation {
        id: Some(id),
        target: operation.made_a_certificate().then_some(target),
        issuer: operation.issuer.map(issuer_parameters),
        csr: operation.csr,
        cancellation_requested: operation.cancellation_requested,
        status: Some(operation.status.as_str().to_owned()),
        status_details: operation.status_details,
        request_id: operation.request_id,
        error: operation.error.map(|e| wire::ErrorDetail { code: e.code, message: e.message, innererror: None }),
    }
}

/// What a request says of an issuer.
pub(super) fn issuer_change(issuer: wire::IssuerBundle) -> IssuerChange {
    IssuerChange {
        provider: issuer.provider,
        credentials: issuer.credentials.map(|c| IssuerCredentials { account_id: c.account_id, pwd: c.pwd }),
        org_details: issuer.org_details,
        enabled: issuer.attributes.and_then(|a| a.enabled),
    }
}

/// An issuer as answered, under `id`: never with its password.
pub(super) fn issuer_answer(issuer: Issuer, id: String) -> wire::IssuerBundle {
    let issuer = issuer.without_password();
    wire::IssuerBundle {
        id: Some(id),
        provider: Some(issuer.provider),
        credentials: issuer.credentials.map(|c| wire::IssuerCredentials { account_id: c.account_id, pwd: c.pwd }),
        org_details: issuer.org_details,
        attributes: Some(wire::IssuerAttributes {
            enabled: issuer.attributes.enabled,
            created: issuer.attributes.created,
            updated: issuer.attributes.updated,
        }),
    }
}

/// The contacts a request gives, each checked.
pub(super) fn contacts_request(contacts: wire::Contacts) -> Result<Vec<Contact>, strongroom_core::Error> {
    contacts.contacts.unwrap_or_default().into_iter().map(|c| Contact::new(c.email, c.name, c.phone)).collect()
}

/// The contacts as answered, under `id`.
pub(super) fn contacts_answer(contacts: Vec<Contact>, id: String) -> wire::Contacts {
    let contacts = contacts.into_iter().map(|c| wire::Contact { email: Some(c.email), name: c.name, phone: c.phone });
    wire::Contacts { id: Some(id), contacts: Some(contacts.collect()) }
}

//! A certificate policy: what each issued version says, with which key, in which secret form, who issues it and
//! what happens as it ages. A request may leave any member out ([`PolicyRequest`]); Key Vault's defaults
//! complete it into the [`Policy`] kept with the certificate.
//!
//! The kept form's layout is the request layout below — the members as Key Vault spells them — declared here,
//! not borrowed from the wire types, so that a change of the wire never changes what is stored; it is also
//! what every earlier version stored, so old records read as they are (a record reads through the same
//! completion a request goes through).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::lifetime::{self, LifetimeAction, LifetimeActionRequest, LifetimeActionType};
use super::{PEM, PKCS12, Subject};
use crate::error::{Error, Result};
use crate::key::{Curve, KeySpec, KeyType, PrivateKey};

/// The issuer name of a self-signed certificate.
pub const SELF_ISSUER: &str = "Self";
/// The issuer name of a certificate a CA outside signs: its request waits, with a CSR, for the signed chain.
pub const UNKNOWN_ISSUER: &str = "Unknown";

/// A certificate policy as a request gives it: every member may be absent. In an update, a member given
/// replaces the kept one whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRequest {
    /// The key.
    #[serde(rename = "key_props", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyRequest>,
    /// The secret.
    #[serde(rename = "secret_props", default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRequest>,
    /// What the certificate says.
    #[serde(rename = "x509_props", default, skip_serializing_if = "Option::is_none")]
    pub x509: Option<X509Request>,
    /// What happens as it ages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_actions: Option<Vec<LifetimeActionRequest>>,
    /// Who issues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<IssuerRequest>,
    /// The policy's attributes, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Value>,
}

/// The key as a request gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRequest {
    /// Whether the private key may leave in the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
    /// `RSA`, `RSA-HSM`, `EC` or `EC-HSM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kty: Option<String>,
    /// RSA modulus bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    /// Whether renewals keep the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_key: Option<bool>,
    /// The EC curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
}

/// The secret as a request gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRequest {
    /// [`PKCS12`] or [`PEM`].
    #[serde(rename = "contentType", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// What the certificate says, as a request gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509Request {
    /// The subject, an X.500 name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Extended key usage OIDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekus: Option<Vec<String>>,
    /// Subject alternative names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sans: Option<SubjectAlternativeNames>,
    /// Key usages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<Vec<String>>,
    /// Months of validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_months: Option<u32>,
}

/// Subject alternative names, kept as given (checked when a certificate is made of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectAlternativeNames {
    /// E-mail addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    /// DNS names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_names: Option<Vec<String>>,
    /// User principal names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upns: Option<Vec<String>>,
    /// URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uris: Option<Vec<String>>,
    /// IP addresses.
    #[serde(rename = "ipAddresses", default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<Vec<String>>,
}

/// Who issues the certificate, as a request names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerRequest {
    /// [`SELF_ISSUER`], [`UNKNOWN_ISSUER`], or the name of one of the vault's issuers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The certificate type an issuer offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
    /// Whether the certificate is to be logged publicly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_transparency: Option<bool>,
}

/// A complete policy, as kept with a certificate: Key Vault's defaults filled in, the key's type and curve and
/// the lifetime actions checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyRequest", into = "PolicyRequest")]
pub struct Policy {
    /// The key.
    pub key: KeyProperties,
    /// The secret's content type ([`PKCS12`] or [`PEM`]; another is refused when a version is made).
    pub content_type: String,
    /// What the certificate says.
    pub x509: X509Properties,
    /// What happens as a version ages.
    pub lifetime_actions: Vec<LifetimeAction>,
    /// Who issues it.
    pub issuer: IssuerParameters,
    /// The policy's attributes, kept as given.
    pub attributes: Option<serde_json::Value>,
}

/// A policy's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyProperties {
    /// Whether the private key may leave in the secret (default yes).
    pub exportable: bool,
    /// Its type (default RSA).
    pub kty: KeyType,
    /// RSA modulus bits (default 2048 for RSA; kept as given otherwise).
    pub key_size: Option<u32>,
    /// The EC curve (default P-256 for EC; kept as given otherwise).
    pub curve: Option<Curve>,
    /// Whether renewals keep the key (default no).
    pub reuse_key: bool,
}

/// What a policy's certificates say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Properties {
    /// The subject, when given.
    pub subject: Option<String>,
    /// Subject alternative names, when given.
    pub sans: Option<SubjectAlternativeNames>,
    /// Extended key usage OIDs (default server and client authentication).
    pub ekus: Vec<String>,
    /// Key usages (default `digitalSignature` and `keyEncipherment`).
    pub key_usage: Vec<String>,
    /// Months of validity (default 12).
    pub validity_months: u32,
}

/// Who issues a policy's certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerParameters {
    /// [`SELF_ISSUER`] (the default), [`UNKNOWN_ISSUER`], or one of the vault's issuers.
    pub name: String,
    /// The certificate type an issuer offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
    /// Whether the certificate is to be logged publicly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_transparency: Option<bool>,
}

impl IssuerParameters {
    /// How certificates of this issuer are issued, by its name.
    pub fn kind(&self) -> IssuerKind<'_> {
        let name = self.name.as_str();
        if name.eq_ignore_ascii_case(SELF_ISSUER) {
            IssuerKind::SelfSigned
        } else if name.eq_ignore_ascii_case(UNKNOWN_ISSUER) {
            IssuerKind::External
        } else {
            IssuerKind::Vault(name)
        }
    }
}

/// How a policy's certificates are issued, by its issuer's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind<'a> {
    /// Signed by its own key, at once.
    SelfSigned,
    /// By a CA outside: a CSR waits for the signed chain to be merged.
    External,
    /// By the vault's issuer of this name.
    Vault(&'a str),
}

const SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl PolicyRequest {
    /// The policy with Key Vault's defaults where this leaves members out; the key's type and curve and the
    /// lifetime actions must be ones Key Vault knows.
    pub fn completed(self) -> Result<Policy> {
        let key = self.key.unwrap_or_default();
        let kty = KeyType::parse(key.kty.as_deref().unwrap_or("RSA"))?;
        let rsa = matches!(kty, KeyType::Rsa | KeyType::RsaHsm);
        let curve = key.crv.as_deref().map(Curve::parse).transpose()?;
        let x509 = self.x509.unwrap_or_default();
        let lifetime_actions = match self.lifetime_actions {
            Some(actions) => actions.iter().map(LifetimeActionRequest::parse).collect::<Result<_>>()?,
            None => vec![LifetimeAction::DEFAULT],
        };
        let issuer = self.issuer.unwrap_or_default();
        Ok(Policy {
            key: KeyProperties {
                exportable: key.exportable.unwrap_or(true),
                kty,
                key_size: if rsa { Some(key.key_size.unwrap_or(2048)) } else { key.key_size },
                curve: if rsa { curve } else { Some(curve.unwrap_or(Curve::P256)) },
                reuse_key: key.reuse_key.unwrap_or(false),
            },
            content_type: self.secret.and_then(|s| s.content_type).unwrap_or_else(|| PKCS12.to_owned()),
            x509: X509Properties {
                subject: x509.subject,
                sans: x509.sans,
                ekus: x509.ekus.unwrap_or_else(|| strings(&[SERVER_AUTH, CLIENT_AUTH])),
                key_usage: x509.key_usage.unwrap_or_else(|| strings(&["digitalSignature", "keyEncipherment"])),
                validity_months: x509.validity_months.unwrap_or(12),
            },
            lifetime_actions,
            issuer: IssuerParameters {
                name: issuer.name.unwrap_or_else(|| SELF_ISSUER.to_owned()),
                cty: issuer.cty,
                cert_transparency: issuer.cert_transparency,
            },
            attributes: self.attributes,
        })
    }

    /// This update over the `current` policy: each member given replaces the current one whole, then the
    /// defaults complete it and the result is checked as a new policy is.
    pub fn over(self, current: Policy) -> Result<Policy> {
        let current = PolicyRequest::from(current);
        let merged = PolicyRequest {
            key: self.key.or(current.key),
            secret: self.secret.or(current.secret),
            x509: self.x509.or(current.x509),
            lifetime_actions: self.lifetime_actions.or(current.lifetime_actions),
            issuer: self.issuer.or(current.issuer),
            attributes: self.attributes.or(current.attributes),
        }
        .completed()?;
        merged.validate()?;
        Ok(merged)
    }

    /// The policy of an imported certificate whose key is `key` and whose leaf's subject is `leaf_subject`:
    /// the key's type and size or curve are the key's, and unless the request says otherwise the subject is
    /// the leaf's, the secret keeps the form it came in (`was_pem`) and the issuer is [`UNKNOWN_ISSUER`].
    pub fn for_import(mut self, key: &PrivateKey, leaf_subject: String, was_pem: bool) -> Result<Policy> {
        let secret = self.secret.get_or_insert_with(SecretRequest::default);
        secret.content_type.get_or_insert_with(|| if was_pem { PEM } else { PKCS12 }.to_owned());
        let key_request = self.key.get_or_insert_with(KeyRequest::default);
        key_request.kty = Some(key.kty().as_str().to_owned());
        match key.curve() {
            Some(curve) => key_request.crv = Some(curve.as_str().to_owned()),
            None => {
                let bits =
                    u32::try_from(key.size_bits()?).map_err(|_| Error::invalid_input("The key is too large."))?;
                key_request.key_size = Some(bits);
            }
        }
        self.x509.get_or_insert_with(X509Request::default).subject.get_or_insert(leaf_subject);
        self.issuer.get_or_insert_with(IssuerRequest::default).name.get_or_insert_with(|| UNKNOWN_ISSUER.to_owned());
        self.completed()
    }
}

impl From<Policy> for PolicyRequest {
    fn from(policy: Policy) -> Self {
        let Policy { key, content_type, x509, lifetime_actions, issuer, attributes } = policy;
        PolicyRequest {
            key: Some(KeyRequest {
                exportable: Some(key.exportable),
                kty: Some(key.kty.as_str().to_owned()),
                key_size: key.key_size,
                reuse_key: Some(key.reuse_key),
                crv: key.curve.map(|c| c.as_str().to_owned()),
            }),
            secret: Some(SecretRequest { content_type: Some(content_type) }),
            x509: Some(X509Request {
                subject: x509.subject,
                ekus: Some(x509.ekus),
                sans: x509.sans,
                key_usage: Some(x509.key_usage),
                validity_months: Some(x509.validity_months),
            }),
            lifetime_actions: Some(lifetime_actions.into_iter().map(LifetimeActionRequest::from).collect()),
            issuer: Some(IssuerRequest {
                name: Some(issuer.name),
                cty: issuer.cty,
                cert_transparency: issuer.cert_transparency,
            }),
            attributes,
        }
    }
}

impl TryFrom<PolicyRequest> for Policy {
    type Error = Error;

    /// A kept policy read back. Before lifetime actions were checked on import, an imported certificate could
    /// keep one Key Vault refuses; such an action never did anything, so it is left out rather than making
    /// the certificate unreadable.
    fn try_from(mut kept: PolicyRequest) -> Result<Self> {
        if let Some(actions) = kept.lifetime_actions.as_mut() {
            actions.retain(|action| action.parse().is_ok());
        }
        kept.completed()
    }
}

impl Policy {
    /// Checks what a new or updated policy must satisfy before anything is issued with it: a certificate can
    /// be made of it, with a key Key Vault issues certificates for.
    pub fn validate(&self) -> Result<()> {
        self.subject()?;
        self.key_spec()?;
        Ok(())
    }

    /// What the policy asks the certificate to say, checked: a subject or a DNS name at least.
    pub fn subject(&self) -> Result<Subject> {
        let x509 = &self.x509;
        let sans = x509.sans.clone().unwrap_or_default();
        let ips = sans
            .ip_addresses
            .unwrap_or_default()
            .iter()
            .map(|ip| {
                ip.parse::<IpAddr>().map_err(|_| Error::invalid_input(format_args!("'{ip}' is not an IP address.")))
            })
            .collect::<Result<Vec<_>>>()?;
        let name = x509.subject.clone().filter(|s| !s.trim().is_empty());
        let dns_names = sans.dns_names.unwrap_or_default();
        if name.is_none() && dns_names.is_empty() {
            return Err(Error::invalid_input("A certificate policy needs a subject or a DNS name."));
        }
        let subject = Subject {
            name: name.unwrap_or_default(),
            dns_names,
            emails: sans.emails.unwrap_or_default(),
            upns: sans.upns.unwrap_or_default(),
            uris: sans.uris.unwrap_or_default(),
            ips,
            ekus: x509.ekus.clone(),
            key_usage: x509.key_usage.clone(),
            validity_months: x509.validity_months,
        };
        subject.validate()?;
        Ok(subject)
    }

    /// The key a new version gets: RSA (of the policy's size) or EC (on its curve).
    pub fn key_spec(&self) -> Result<KeySpec> {
        let kty = self.key.kty;
        if !kty.operations().contains(&"sign") {
            return Err(Error::invalid_input("A certificate's key is RSA or EC."));
        }
        let rsa = kty.operations().contains(&"encrypt");
        Ok(KeySpec {
            kty,
            size: if rsa { self.key.key_size } else { None },
            public_exponent: None,
            curve: if rsa { None } else { self.key.curve },
        })
    }

    /// How its certificates are issued.
    pub fn issuer_kind(&self) -> IssuerKind<'_> {
        self.issuer.kind()
    }

    /// When the action `kind` is due for a version valid from `not_before` to `expires`, if the policy has one.
    pub fn due_at(&self, kind: LifetimeActionType, not_before: i64, expires: i64) -> Option<i64> {
        lifetime::due_at(&self.lifetime_actions, kind, not_before, expires)
    }

    /// The value of a version's secret: the chain (leaf first) in the policy's content type, with the private
    /// key only when it is exportable.
    pub fn secret_value(&self, chain: &[Vec<u8>], key: &PrivateKey) -> Result<String> {
        use base64::Engine;
        let key = self.key.exportable.then_some(key);
        match self.content_type.as_str() {
            PKCS12 => Ok(base64::engine::general_purpose::STANDARD.encode(super::pkcs12(chain, key)?)),
            PEM => Ok(super::pem(chain, key)),
            other => Err(Error::invalid_input(format_args!(
                "The secret content type '{other}' is not supported: use {PKCS12} or {PEM}."
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::lifetime::{ActionTypeRequest, LifetimeTrigger, TriggerRequest};

    fn message<T: std::fmt::Debug>(result: Result<T>) -> String {
        result.err().map(|e| e.message().to_owned()).unwrap_or_default()
    }

    fn named(subject: &str) -> PolicyRequest {
        PolicyRequest {
            x509: Some(X509Request { subject: Some(subject.to_owned()), ..X509Request::default() }),
            ..PolicyRequest::default()
        }
    }

    #[test]
    fn an_empty_request_gets_key_vaults_defaults() -> Result<()> {
        let policy = PolicyRequest::default().completed()?;
        assert_eq!(
            policy.key,
            KeyProperties { exportable: true, kty: KeyType::Rsa, key_size: Some(2048), curve: None, reuse_key: false }
        );
        assert_eq!(policy.content_type, PKCS12);
        assert_eq!(policy.x509.validity_months, 12);
        assert_eq!(policy.x509.key_usage, ["digitalSignature", "keyEncipherment"]);
        assert_eq!(policy.x509.ekus, [SERVER_AUTH, CLIENT_AUTH]);
        assert_eq!(policy.x509.subject, None);
        assert_eq!(policy.issuer.name, SELF_ISSUER);
        assert_eq!(policy.issuer_kind(), IssuerKind::SelfSigned);
        assert_eq!(policy.lifetime_actions, [LifetimeAction::DEFAULT]);
        Ok(())
    }

    #[test]
    fn an_ec_key_defaults_to_p256_and_keeps_what_is_given() -> Result<()> {
        let request = PolicyRequest {
            key: Some(KeyRequest { kty: Some("EC-HSM".into()), exportable: Some(false), ..KeyRequest::default() }),
            lifetime_actions: Some(Vec::new()),
            ..named("CN=a")
        };
        let policy = request.completed()?;
        assert_eq!(policy.key.curve, Some(Curve::P256));
        assert_eq!(policy.key.key_size, None);
        assert!(!policy.key.exportable);
        assert!(policy.lifetime_actions.is_empty(), "an empty list stays empty");
        assert_eq!(
            policy.key_spec()?,
            KeySpec { kty: KeyType::EcHsm, size: None, public_exponent: None, curve: Some(Curve::P256) }
        );
        Ok(())
    }

    #[test]
    fn unknown_key_types_curves_and_lifetime_actions_are_refused() {
        let with_key = |kty: &str, crv: Option<&str>| PolicyRequest {
            key: Some(KeyRequest { kty: Some(kty.into()), crv: crv.map(str::to_owned), ..KeyRequest::default() }),
            ..named("CN=a")
        };
        assert!(message(with_key("rsa", None).completed()).contains("'rsa'"));
        assert_eq!(
            message(with_key("RSA", Some("P-999")).completed()),
            "The curve 'P-999' is not supported: use P-256, P-384, P-521 or P-256K."
        );
        let oct = with_key("oct", None).completed();
        assert_eq!(message(oct.and_then(|p| p.validate())), "A certificate's key is RSA or EC.");
        let renew_never = PolicyRequest {
            lifetime_actions: Some(vec![LifetimeActionRequest {
                trigger: Some(TriggerRequest { lifetime_percentage: Some(100), days_before_expiry: None }),
                action: Some(ActionTypeRequest { action_type: Some("AutoRenew".into()) }),
            }]),
            ..named("CN=a")
        };
        assert_eq!(
            message(renew_never.completed()),
            "A lifetime action's trigger has either lifetime_percentage (1..99) or days_before_expiry (≥ 1)."
        );
    }

    #[test]
    fn a_policy_names_a_subject_or_a_dns_name_and_valid_addresses() -> Result<()> {
        assert_eq!(
            message(PolicyRequest::default().completed()?.subject()),
            "A certificate policy needs a subject or a DNS name."
        );
        assert_eq!(message(named("  ").completed()?.subject()), "A certificate policy needs a subject or a DNS name.");
        let sans = |ips: &[&str]| PolicyRequest {
            x509: Some(X509Request {
                sans: Some(SubjectAlternativeNames {
                    dns_names: Some(vec!["app.contoso.com".into()]),
                    ip_addresses: Some(ips.iter().map(|ip| (*ip).to_owned()).collect()),
                    ..SubjectAlternativeNames::default()
                }),
                validity_months: Some(24),
                ..X509Request::default()
            }),
            ..PolicyRequest::default()
        };
        let subject = sans(&["10.0.0.1", "::1"]).completed()?.subject()?;
        assert_eq!(subject.dns_names, ["app.contoso.com"]);
        assert_eq!(subject.ips.len(), 2);
        assert_eq!(subject.validity_months, 24);
        assert_eq!(message(sans(&["10.0.0.300"]).completed()?.subject()), "'10.0.0.300' is not an IP address.");
        let too_long = PolicyRequest {
            x509: Some(X509Request { validity_months: Some(1201), ..named("CN=a").x509.unwrap_or_default() }),
            ..PolicyRequest::default()
        };
        assert_eq!(message(too_long.completed()?.validate()), "validity_months is 1 to 1200.");
        Ok(())
    }

    #[test]
    fn an_update_replaces_the_members_it_gives_and_is_checked() -> Result<()> {
        let current = PolicyRequest {
            secret: Some(SecretRequest { content_type: Some(PEM.into()) }),
            issuer: Some(IssuerRequest { name: Some("Unknown".into()), ..IssuerRequest::default() }),
            ..named("CN=old")
        }
        .completed()?;
        let updated = named("CN=new").over(current.clone())?;
        assert_eq!(updated.x509.subject.as_deref(), Some("CN=new"));
        assert_eq!(updated.content_type, PEM, "members not given stay");
        assert_eq!(updated.issuer_kind(), IssuerKind::External);
        let emptied = PolicyRequest { x509: Some(X509Request::default()), ..PolicyRequest::default() };
        assert_eq!(message(emptied.over(current)), "A certificate policy needs a subject or a DNS name.");
        Ok(())
    }

    #[test]
    fn an_imported_policy_takes_the_key_and_subject_of_the_file() -> Result<()> {
        let key = PrivateKey::generate(&KeySpec {
            kty: KeyType::Ec,
            size: None,
            public_exponent: None,
            curve: Some(Curve::P384),
        })?;
        let policy = PolicyRequest::default().for_import(&key, "CN=imported".into(), true)?;
        assert_eq!((policy.key.kty, policy.key.curve), (KeyType::Ec, Some(Curve::P384)));
        assert_eq!(policy.x509.subject.as_deref(), Some("CN=imported"));
        assert_eq!(policy.content_type, PEM);
        assert_eq!(policy.issuer_kind(), IssuerKind::External);
        let asked = PolicyRequest {
            issuer: Some(IssuerRequest { name: Some("Self".into()), ..IssuerRequest::default() }),
            ..named("CN=mine")
        };
        let policy = asked.for_import(&key, "CN=imported".into(), false)?;
        assert_eq!(policy.x509.subject.as_deref(), Some("CN=mine"));
        assert_eq!(policy.content_type, PKCS12);
        assert_eq!(policy.issuer_kind(), IssuerKind::SelfSigned);
        Ok(())
    }

    #[test]
    fn issuers_are_told_apart_by_name_in_any_case() -> Result<()> {
        let with_issuer = |name: &str| PolicyRequest {
            issuer: Some(IssuerRequest { name: Some(name.into()), ..IssuerRequest::default() }),
            ..PolicyRequest::default()
        };
        assert_eq!(with_issuer("self").completed()?.issuer_kind(), IssuerKind::SelfSigned);
        assert_eq!(with_issuer("UNKNOWN").completed()?.issuer_kind(), IssuerKind::External);
        let policy = with_issuer("corp-ca").completed()?;
        assert_eq!(policy.issuer_kind(), IssuerKind::Vault("corp-ca"));
        Ok(())
    }

    #[test]
    fn the_secret_takes_the_policys_form_and_the_key_only_when_exportable() -> Result<()> {
        let key = PrivateKey::generate(&KeySpec {
            kty: KeyType::Ec,
            size: None,
            public_exponent: None,
            curve: Some(Curve::P256),
        })?;
        let mut policy =
            PolicyRequest { secret: Some(SecretRequest { content_type: Some(PEM.into()) }), ..named("CN=a") }
                .completed()?;
        let chain = vec![policy.subject()?.self_signed(&key, 1_700_000_000)?];
        assert!(policy.secret_value(&chain, &key)?.contains("PRIVATE KEY"));
        policy.key.exportable = false;
        assert!(!policy.secret_value(&chain, &key)?.contains("PRIVATE KEY"));
        policy.content_type = "text/plain".into();
        assert_eq!(
            message(policy.secret_value(&chain, &key)),
            "The secret content type 'text/plain' is not supported: use application/x-pkcs12 or application/x-pem-file."
        );
        Ok(())
    }

    /// A policy as the versions before the domain types kept it (the wire's JSON, completed).
    const STORED_BEFORE: &str = r#"{"key_props":{"exportable":true,"kty":"EC","reuse_key":false,"crv":"P-384"},
        "secret_props":{"contentType":"application/x-pem-file"},
        "x509_props":{"subject":"CN=old","ekus":["1.3.6.1.5.5.7.3.1"],"sans":{"dns_names":["old.example"]},
        "key_usage":["digitalSignature"],"validity_months":6},
        "lifetime_actions":[{"trigger":{"days_before_expiry":30},"action":{"action_type":"EmailContacts"}},
        {"trigger":{"lifetime_percentage":90},"action":{"action_type":"Revoke"}}],
        "issuer":{"name":"Unknown","cert_transparency":false}}"#;

    #[test]
    fn a_policy_stored_by_an_older_version_still_reads_and_round_trips() -> Result<()> {
        let policy: Policy = serde_json::from_str(STORED_BEFORE).map_err(Error::invalid_input)?;
        assert_eq!(policy.key.curve, Some(Curve::P384));
        assert_eq!(policy.content_type, PEM);
        assert_eq!(policy.x509.validity_months, 6);
        assert_eq!(policy.issuer.cert_transparency, Some(false));
        assert_eq!(
            policy.lifetime_actions,
            [LifetimeAction {
                action: LifetimeActionType::EmailContacts,
                trigger: LifetimeTrigger::DaysBeforeExpiry(30)
            }],
            "an action Key Vault refuses, which an old import could keep, is left out"
        );
        let again: Policy = serde_json::from_str(&serde_json::to_string(&policy).map_err(Error::invalid_input)?)
            .map_err(Error::invalid_input)?;
        assert_eq!(again, policy);
        Ok(())
    }
}

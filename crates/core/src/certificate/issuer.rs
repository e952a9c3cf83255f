//! A vault's certificate issuers and contacts: who may sign its certificates (with the account the provider
//! knows it by) and who hears that one expires. Both are kept sealed: an issuer may hold a password, and
//! contacts are personal data.
//!
//! Each type has its own stored layout, the one earlier versions stored (less the server-set `id`), so old
//! records still read.

use serde::{Deserialize, Serialize};

use super::issuance::OperationError;
use crate::error::{Error, Result};

/// The provider of issuers backed by the certificate authority of the vault's tenant: the only one that signs
/// here (any other CA is reached through issuer `Unknown` and a CSR).
pub const TENANT_CA_PROVIDER: &str = "Strongroom";

/// A vault's certificate issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuer {
    /// Its name, as first spelled (absent in older records, whose name was kept beside them).
    #[serde(default)]
    pub name: String,
    /// The provider: [`TENANT_CA_PROVIDER`], or another CA's name.
    pub provider: String,
    /// The account at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<IssuerCredentials>,
    /// The organisation at the provider, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_details: Option<serde_json::Value>,
    /// Whether it may issue, and when it was created and last changed.
    #[serde(default)]
    pub attributes: IssuerAttributes,
}

/// An issuer's account. The password is never answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerCredentials {
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd: Option<String>,
}

/// An issuer's attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerAttributes {
    /// Whether certificates may be issued by it (absent: yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// When it was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
}

/// An issuer as a request gives it: a `PUT` replaces the issuer with it, a `PATCH` changes the members given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerChange {
    /// The provider.
    pub provider: Option<String>,
    /// The account.
    pub credentials: Option<IssuerCredentials>,
    /// The organisation.
    pub org_details: Option<serde_json::Value>,
    /// Whether it may issue.
    pub enabled: Option<bool>,
}

fn named_provider(provider: Option<String>) -> Result<String> {
    provider.filter(|p| !p.is_empty()).ok_or_else(|| Error::invalid_input("An issuer names its provider."))
}

impl Issuer {
    /// The issuer `name` as `request` sets it at `now`, replacing `previous` (whose creation time it keeps);
    /// enabled unless the request says otherwise.
    pub fn set(name: &str, request: IssuerChange, previous: Option<&Issuer>, now: i64) -> Result<Self> {
        Ok(Issuer {
            name: name.to_owned(),
            provider: named_provider(request.provider)?,
            credentials: request.credentials,
            org_details: request.org_details,
            attributes: IssuerAttributes {
                enabled: Some(request.enabled.unwrap_or(true)),
                created: previous.and_then(|p| p.attributes.created).or(Some(now)),
                updated: Some(now),
            },
        })
    }

    /// This issuer with the members `request` gives changed at `now`.
    pub fn updated(self, request: IssuerChange, now: i64) -> Result<Self> {
        Ok(Issuer {
            provider: named_provider(request.provider.or(Some(self.provider)))?,
            credentials: request.credentials.or(self.credentials),
            org_details: request.org_details.or(self.org_details),
            attributes: IssuerAttributes {
                enabled: request.enabled.or(self.attributes.enabled),
                created: self.attributes.created,
                updated: Some(now),
            },
            name: self.name,
        })
    }

    /// The issuer as answered: without its password.
    pub fn without_password(mut self) -> Self {
        if let Some(credentials) = self.credentials.as_mut() {
            credentials.pwd = None;
        }
        self
    }

    /// Whether its provider is one Strongroom reaches: the tenant's CA. Any other (DigiCert, GlobalSign, …) only
    /// Key Vault reaches; a certificate of such an issuer is accepted and its operation fails ([`Self::unreachable`]).
    pub fn is_reachable(&self) -> bool {
        self.provider.eq_ignore_ascii_case(TENANT_CA_PROVIDER)
    }

    /// Why an issuance by this issuer, whose provider Strongroom cannot reach, failed.
    pub fn unreachable(&self) -> OperationError {
        OperationError {
            code: "CertificateIssuerProviderUnreachable".to_owned(),
            message: format!(
                "The issuer '{}' is of the provider '{}', which Strongroom cannot reach: only '{TENANT_CA_PROVIDER}' \
                 issuers (the tenant's certificate authority) sign here. Use issuer 'Unknown' to get a CSR for any \
                 other CA.",
                self.name, self.provider
            ),
        }
    }

    /// Checks that it can sign a certificate here: it is enabled, and its provider is the tenant's CA.
    pub fn check_can_sign(&self) -> Result<()> {
        let name = &self.name;
        if self.attributes.enabled == Some(false) {
            return Err(Error::invalid_input(format_args!("The issuer '{name}' is disabled.")));
        }
        if !self.provider.eq_ignore_ascii_case(TENANT_CA_PROVIDER) {
            return Err(Error::invalid_input(format_args!(
                "The issuer '{name}' is a provider Strongroom cannot reach; only '{TENANT_CA_PROVIDER}' issuers \
                 (the tenant's certificate authority) sign here. Use issuer 'Unknown' to get a CSR for any other CA."
            )));
        }
        Ok(())
    }
}

/// The refusal of a certificate whose issuer is none of the vault's.
pub fn not_an_issuer_of_the_vault(name: &str) -> Error {
    Error::invalid_input(format_args!(
        "The issuer '{name}' is not one of this vault's: use 'Self', 'Unknown' or a configured issuer."
    ))
}

/// One of a vault's certificate contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// E-mail address.
    pub email: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Contact {
    /// A contact, which has an e-mail address.
    pub fn new(email: Option<String>, name: Option<String>, phone: Option<String>) -> Result<Self> {
        let email = email
            .filter(|e| e.contains('@'))
            .ok_or_else(|| Error::invalid_input("Each certificate contact has an e-mail address."))?;
        Ok(Contact { email, name, phone })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: std::fmt::Debug>(result: Result<T>) -> String {
        result.err().map(|e| e.message().to_owned()).unwrap_or_default()
    }

    fn request(provider: &str) -> IssuerChange {
        IssuerChange {
            provider: Some(provider.to_owned()),
            credentials: Some(IssuerCredentials { account_id: Some("pki".into()), pwd: Some("secret".into()) }),
            ..IssuerChange::default()
        }
    }

    #[test]
    fn a_set_issuer_is_enabled_and_keeps_its_creation_time() -> Result<()> {
        let first = Issuer::set("Corp", request("Strongroom"), None, 10)?;
        assert_eq!(first.attributes, IssuerAttributes { enabled: Some(true), created: Some(10), updated: Some(10) });
        let replaced =
            Issuer::set("Corp", IssuerChange { enabled: Some(false), ..request("DigiCert") }, Some(&first), 20)?;
        assert_eq!(
            replaced.attributes,
            IssuerAttributes { enabled: Some(false), created: Some(10), updated: Some(20) }
        );
        assert_eq!(message(Issuer::set("Corp", request(""), None, 10)), "An issuer names its provider.");
        assert_eq!(message(Issuer::set("Corp", IssuerChange::default(), None, 10)), "An issuer names its provider.");
        Ok(())
    }

    #[test]
    fn an_update_changes_the_members_given() -> Result<()> {
        let issuer = Issuer::set("Corp", request("Strongroom"), None, 10)?;
        let updated = issuer.clone().updated(IssuerChange { enabled: Some(false), ..IssuerChange::default() }, 30)?;
        assert_eq!(updated.provider, "Strongroom");
        assert_eq!(updated.credentials, issuer.credentials);
        assert_eq!(updated.attributes, IssuerAttributes { enabled: Some(false), created: Some(10), updated: Some(30) });
        assert_eq!(message(issuer.updated(request(""), 30)), "An issuer names its provider.");
        Ok(())
    }

    #[test]
    fn only_an_enabled_issuer_of_the_tenants_ca_signs_and_no_password_is_answered() -> Result<()> {
        let ours = Issuer::set("Corp", request("strongroom"), None, 10)?;
        assert!(ours.check_can_sign().is_ok());
        let disabled = Issuer::set("Corp", IssuerChange { enabled: Some(false), ..request("Strongroom") }, None, 10)?;
        assert_eq!(message(disabled.check_can_sign()), "The issuer 'Corp' is disabled.");
        let outside = Issuer::set("Digi", request("DigiCert"), None, 10)?;
        assert!(ours.is_reachable() && !outside.is_reachable());
        assert!(outside.unreachable().message.contains("the provider 'DigiCert'"));
        assert!(
            message(outside.check_can_sign()).starts_with("The issuer 'Digi' is a provider Strongroom cannot reach")
        );
        let answered = ours.without_password();
        assert_eq!(answered.credentials.and_then(|c| c.account_id).as_deref(), Some("pki"));
        Ok(())
    }

    #[test]
    fn contacts_have_an_email_address() {
        assert!(Contact::new(Some("pki@contoso.com".into()), None, None).is_ok());
        for email in [None, Some("pki".to_owned())] {
            assert_eq!(
                message(Contact::new(email, Some("PKI".into()), None)),
                "Each certificate contact has an e-mail address."
            );
        }
    }

    #[test]
    fn an_issuer_stored_by_an_older_version_still_reads() -> Result<()> {
        let old = r#"{"provider":"Strongroom","credentials":{"account_id":"pki","pwd":"p"},
            "attributes":{"enabled":true,"created":1,"updated":2}}"#;
        let issuer: Issuer = serde_json::from_str(old).map_err(Error::invalid_input)?;
        assert_eq!(issuer.name, "");
        assert_eq!(issuer.attributes.created, Some(1));
        assert_eq!(issuer.credentials.and_then(|c| c.pwd).as_deref(), Some("p"));
        Ok(())
    }
}

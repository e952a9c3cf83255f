//! Whom a token-service path speaks for: one tenant (`/{tenant id or name}/…`), or one of Entra's
//! multi-tenant authorities. `organizations` and `common` sign in a work account of any tenant, the tenant
//! being decided by the user (the domain of the user name, or the user who approved a device code) — so a
//! token obtained there carries that user's own tenant, and nobody else's. `consumers` is for personal
//! Microsoft accounts, which this server has none of: it answers discovery and refuses every sign-in.

use strongroom_core::directory::{ClientApplication, Directory, Tenant};
use strongroom_core::first_party::first_party_client;
use uuid::Uuid;

use super::error::OAuthFailure;

/// The authority a request names in its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority<'a> {
    /// One tenant.
    Tenant(&'a Tenant),
    /// `organizations` or `common`: any tenant's work account.
    AnyOrganization,
    /// `consumers`: personal accounts only.
    Consumers,
}

/// Entra's tenant of personal Microsoft accounts, the issuer `consumers` discovery names.
pub const CONSUMERS_TENANT_ID: Uuid = Uuid::from_u128(0x9188040d_6c67_4c5b_b112_36a304b66dad);

impl<'a> Authority<'a> {
    /// The authority `segment` (the path's first segment) names. The multi-tenant names are Entra's reserved
    /// words and win over a tenant of that name.
    pub fn parse(directory: &'a Directory, segment: &str) -> Result<Self, OAuthFailure> {
        if segment.eq_ignore_ascii_case("organizations") || segment.eq_ignore_ascii_case("common") {
            return Ok(Authority::AnyOrganization);
        }
        if segment.eq_ignore_ascii_case("consumers") {
            return Ok(Authority::Consumers);
        }
        directory.tenant(segment).map(Authority::Tenant).ok_or_else(|| OAuthFailure::tenant_not_found(segment))
    }

    /// The tenant of a user signing in as `username`: the path's tenant, or — at a multi-tenant authority —
    /// the tenant whose name is the user name's domain.
    pub fn tenant_of_user(&self, directory: &'a Directory, username: &str) -> Result<&'a Tenant, OAuthFailure> {
        match self {
            Authority::Tenant(tenant) => Ok(tenant),
            Authority::Consumers => Err(OAuthFailure::work_account_at_consumers()),
            Authority::AnyOrganization => {
                let (_, domain) = username.rsplit_once('@').ok_or_else(OAuthFailure::no_tenant_information)?;
                directory.tenant(domain).ok_or_else(|| OAuthFailure::user_not_found(username, domain))
            }
        }
    }

    /// The tenant a stored grant (refresh token, authorization or device code) of `tenant_id` is redeemed
    /// in by `client_id`. At a tenant's own authority it must be that tenant (the client has already proven
    /// itself there, if it is confidential). At a multi-tenant authority the grant decides the tenant, and
    /// the client must be a public client of it: a confidential client proves itself at its tenant's
    /// authority, so a stolen grant of one is worth nothing here.
    pub fn admit_grant(
        &self,
        directory: &'a Directory,
        tenant_id: Uuid,
        client_id: Uuid,
    ) -> Result<&'a Tenant, OAuthFailure> {
        let mismatch = || OAuthFailure::grant_mismatch("the grant was issued to another client or tenant");
        match self {
            Authority::Tenant(tenant) if tenant.id == tenant_id => Ok(tenant),
            Authority::Tenant(_) => Err(mismatch()),
            Authority::Consumers => Err(OAuthFailure::work_account_at_consumers()),
            Authority::AnyOrganization => {
                let tenant = directory.tenants().iter().find(|t| t.id == tenant_id).ok_or_else(mismatch)?;
                let client = directory.client_application(tenant.id, client_id).ok_or_else(mismatch)?;
                if directory.is_confidential(client) {
                    return Err(OAuthFailure::grant_mismatch(
                        "a confidential client redeems its grants at its tenant's authority",
                    ));
                }
                Ok(tenant)
            }
        }
    }

    /// The client `client_id` (as the request spelt it) as this authority knows it before a user has signed
    /// in: the tenant's own (registered or first-party); at a multi-tenant authority, where no tenant is
    /// known yet, only a first-party client, which every tenant knows.
    pub fn client(&self, directory: &'a Directory, client_id: &str) -> Result<ClientApplication<'a>, OAuthFailure> {
        match self {
            Authority::Tenant(tenant) => client_of(directory, tenant, client_id),
            Authority::Consumers => Err(OAuthFailure::work_account_at_consumers()),
            Authority::AnyOrganization => Uuid::parse_str(client_id)
                .ok()
                .and_then(first_party_client)
                .map(ClientApplication::FirstParty)
                .ok_or_else(|| OAuthFailure::unknown_client(client_id, "organizations")),
        }
    }

    /// The path segment of this authority for URLs built from it (`organizations` stands for `common` too).
    pub fn segment(&self) -> String {
        match self {
            Authority::Tenant(tenant) => tenant.id.to_string(),
            Authority::AnyOrganization => "organizations".to_owned(),
            Authority::Consumers => "consumers".to_owned(),
        }
    }
}

/// The client `client_id` (as the request spelt it) of `tenant`, registered or first-party.
pub fn client_of<'a>(
    directory: &'a Directory,
    tenant: &Tenant,
    client_id: &str,
) -> Result<ClientApplication<'a>, OAuthFailure> {
    Uuid::parse_str(client_id)
        .ok()
        .and_then(|id| directory.client_application(tenant.id, id))
        .ok_or_else(|| OAuthFailure::unknown_client(client_id, &tenant.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        Directory {
            tenants: vec![
                Tenant { id: Uuid::new_v4(), name: "contoso".into() },
                Tenant { id: Uuid::new_v4(), name: "fabrikam".into() },
            ],
            ..Directory::default()
        }
    }

    #[test]
    fn multi_tenant_authorities_are_reserved_names() {
        let directory = directory();
        assert_eq!(Authority::parse(&directory, "organizations"), Ok(Authority::AnyOrganization));
        assert_eq!(Authority::parse(&directory, "Common"), Ok(Authority::AnyOrganization));
        assert_eq!(Authority::parse(&directory, "consumers"), Ok(Authority::Consumers));
        assert_eq!(Authority::parse(&directory, "contoso"), Ok(Authority::Tenant(&directory.tenants[0])));
        assert!(Authority::parse(&directory, "nobody").is_err());
    }

    #[test]
    fn the_user_name_decides_the_tenant_at_organizations_and_nowhere_else() {
        let directory = directory();
        let (contoso, fabrikam) = (&directory.tenants[0], &directory.tenants[1]);
        let any = Authority::AnyOrganization;
        assert_eq!(any.tenant_of_user(&directory, "alice@contoso").map(|t| t.id), Ok(contoso.id));
        assert_eq!(any.tenant_of_user(&directory, "bob@FABRIKAM").map(|t| t.id), Ok(fabrikam.id));
        assert_eq!(any.tenant_of_user(&directory, "alice").map(|t| t.id), Err(OAuthFailure::no_tenant_information()));
        assert!(any.tenant_of_user(&directory, "alice@elsewhere").is_err());
        let at_contoso = Authority::Tenant(contoso);
        assert_eq!(at_contoso.tenant_of_user(&directory, "bob@fabrikam").map(|t| t.id), Ok(contoso.id));
        assert!(Authority::Consumers.tenant_of_user(&directory, "alice@contoso").is_err());
    }

    #[test]
    fn grants_are_admitted_in_their_own_tenant_only() {
        let directory = directory();
        let (contoso, fabrikam) = (&directory.tenants[0], &directory.tenants[1]);
        let cli = Uuid::from_u128(0x04b07795_8ddb_461a_bbee_02f9e1bf7b46);
        let any = Authority::AnyOrganization;
        assert_eq!(any.admit_grant(&directory, fabrikam.id, cli).map(|t| t.id), Ok(fabrikam.id));
        assert!(any.admit_grant(&directory, Uuid::new_v4(), cli).is_err(), "an unknown tenant");
        assert!(any.admit_grant(&directory, contoso.id, Uuid::new_v4()).is_err(), "an unknown client");
        assert!(Authority::Tenant(contoso).admit_grant(&directory, fabrikam.id, cli).is_err());
        assert!(Authority::Consumers.admit_grant(&directory, contoso.id, cli).is_err());
    }

    #[test]
    fn before_sign_in_organizations_knows_only_first_party_clients() {
        let directory = directory();
        let cli = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
        assert!(matches!(
            Authority::AnyOrganization.client(&directory, cli),
            Ok(ClientApplication::FirstParty(c)) if c.client_id.to_string() == cli
        ));
        assert!(Authority::AnyOrganization.client(&directory, &Uuid::new_v4().to_string()).is_err());
        assert!(Authority::AnyOrganization.client(&directory, "not-a-guid").is_err());
        assert!(Authority::Consumers.client(&directory, cli).is_err());
        assert!(Authority::Tenant(&directory.tenants[0]).client(&directory, cli).is_ok());
    }
}

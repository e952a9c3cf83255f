//! The `[[tenant]]` sections of the configuration file and their checks: what becomes the desired state.

use super::*;
use strongroom_core::directory::{DEFAULT_RESOURCE_GROUP, Sku, VaultKind, validate_resource_group_name};
use strongroom_core::events::{
    DeliverySchema, EventSubscription, MAX_DELIVERY_ATTEMPTS, MAX_EVENT_TTL_MINUTES, SubscriptionSource,
};
use strongroom_core::provision::DesiredSubscription;
use strongroom_core::rbac::{find_role, hsm};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TenantSection {
    pub(super) name: Spanned<String>,
    id: Option<Spanned<String>>,
    #[serde(default)]
    user: Vec<UserSection>,
    #[serde(default)]
    group: Vec<GroupSection>,
    #[serde(default)]
    app: Vec<AppSection>,
    #[serde(default)]
    managed_identity: Vec<ManagedIdentitySection>,
    #[serde(default)]
    vault: Vec<VaultSection>,
    #[serde(default)]
    managed_hsm: Vec<ManagedHsmSection>,
    #[serde(default)]
    service_principal: Vec<ServicePrincipalSection>,
    #[serde(default)]
    role_definition: Vec<RoleDefinitionSection>,
    #[serde(default)]
    role_assignment: Vec<RoleAssignmentSection>,
    pub(super) certificate_authority: Option<CertificateAuthoritySection>,
    #[serde(default)]
    subscription: Vec<SubscriptionSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionSection {
    name: Spanned<String>,
    id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CertificateAuthoritySection {
    domains: Spanned<Vec<Spanned<String>>>,
}

impl CertificateAuthoritySection {
    /// The domains, checked: DNS names, at least one, none of them a wildcard.
    pub(super) fn validate(self, tenant: &str) -> Result<TenantCertificateAuthority, Located> {
        if self.domains.get_ref().is_empty() {
            return Err(at(&self.domains, "`domains` names at least one DNS domain the tenant's CA may issue for"));
        }
        let domains = self
            .domains
            .into_inner()
            .into_iter()
            .map(|domain| match is_host_name(domain.get_ref()) {
                true => Ok(domain.into_inner().to_ascii_lowercase()),
                false => Err(at(&domain, "a certificate authority's domain is a DNS name such as `contoso.com`")),
            })
            .collect::<Result<_, _>>()?;
        Ok(TenantCertificateAuthority { tenant: tenant.to_owned(), domains })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDefinitionSection {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    not_actions: Vec<String>,
    #[serde(default)]
    data_actions: Vec<String>,
    #[serde(default)]
    not_data_actions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppSection {
    name: Spanned<String>,
    client_id: Option<Spanned<String>>,
    #[serde(default)]
    secrets: Vec<SecretEntry>,
    #[serde(default)]
    certificates: Vec<Spanned<String>>,
    #[serde(default)]
    federated: Vec<FederatedSection>,
    trusted_service: Option<Spanned<bool>>,
    sign_in_audience: Option<Spanned<String>>,
    #[serde(default)]
    redirect_uris: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicePrincipalSection {
    /// The client id of a multi-tenant application of another tenant.
    app: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSection {
    name: String,
    password: Spanned<String>,
    #[serde(default)]
    groups: Vec<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSection {
    name: String,
    #[serde(default)]
    member_of: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManagedIdentitySection {
    name: Spanned<String>,
    kind: Spanned<String>,
    client_id: Option<Spanned<String>>,
    identity_header: Option<Spanned<String>>,
    #[serde(default)]
    source_addresses: Vec<Spanned<String>>,
    #[serde(default)]
    assigned_to: Vec<String>,
}

impl ManagedIdentitySection {
    fn validate(self) -> Result<DesiredManagedIdentity, Located> {
        let kind = match self.kind.get_ref().as_str() {
            "system" => ManagedIdentityKind::System,
            "user" => ManagedIdentityKind::User,
            _ => return Err(at(&self.kind, "`kind` is \"system\" or \"user\"")),
        };
        if let Some(header) = &self.identity_header
            && header.get_ref().len() < 16
        {
            return Err(at(header, "`identity_header` must be at least 16 characters"));
        }
        let source_addresses = self
            .source_addresses
            .iter()
            .map(|a| a.get_ref().parse().map_err(|_| at(a, format!("'{}' is not an IP address", a.get_ref()))))
            .collect::<Result<_, _>>()?;
        Ok(DesiredManagedIdentity {
            name: self.name.into_inner(),
            kind,
            client_id: self.client_id.as_ref().map(|id| parse_uuid(id, "client_id")).transpose()?,
            identity_header: self.identity_header.map(Spanned::into_inner),
            source_addresses,
            assigned_to: self.assigned_to,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultSection {
    name: Spanned<String>,
    authorization: Option<Spanned<String>>,
    soft_delete_retention_days: Option<Spanned<u32>>,
    purge_protection: Option<bool>,
    public_network_access: Option<Spanned<String>>,
    network: Option<NetworkSection>,
    #[serde(default)]
    role_assignment: Vec<RoleAssignmentSection>,
    #[serde(default)]
    access_policy: Vec<AccessPolicySection>,
    #[serde(default)]
    secret: Vec<SecretSection>,
    subscription: Option<String>,
    resource_group: Option<Spanned<String>>,
    sku: Option<Spanned<String>>,
    #[serde(default)]
    event_subscription: Vec<EventSubscriptionSection>,
}

/// `[[tenant.managed_hsm]]`: a Managed HSM, its initial administrators and its local role assignments.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManagedHsmSection {
    name: Spanned<String>,
    /// Principals given Managed HSM Administrator at `/` (Azure's `initialAdminObjectIds`).
    #[serde(default)]
    administrators: Vec<String>,
    soft_delete_retention_days: Option<Spanned<u32>>,
    purge_protection: Option<bool>,
    public_network_access: Option<Spanned<String>>,
    network: Option<NetworkSection>,
    #[serde(default)]
    role_assignment: Vec<RoleAssignmentSection>,
    subscription: Option<String>,
    resource_group: Option<Spanned<String>>,
    /// Activated at start with a root secret Strongroom makes, rather than by a security domain download.
    #[serde(default)]
    activated: bool,
}

/// `[[tenant.vault.event_subscription]]`: an Event Grid subscription of the vault, delivered to a webhook.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventSubscriptionSection {
    name: Spanned<String>,
    endpoint: Spanned<String>,
    included_event_types: Option<Vec<String>>,
    subject_begins_with: Option<String>,
    subject_ends_with: Option<String>,
    schema: Option<Spanned<String>>,
    max_delivery_attempts: Option<u32>,
    event_time_to_live_minutes: Option<u32>,
}

impl EventSubscriptionSection {
    fn validate(self) -> Result<EventSubscription, Located> {
        let schema = match &self.schema {
            None => DeliverySchema::EventGrid,
            Some(s) => DeliverySchema::parse(s.get_ref())
                .ok_or_else(|| at(s, "`schema` is \"event_grid\" or \"cloud_events\""))?,
        };
        let subscription = EventSubscription {
            name: self.name.get_ref().clone(),
            endpoint: self.endpoint.get_ref().clone(),
            included_event_types: self.included_event_types.filter(|t| !t.is_empty()),
            subject_begins_with: self.subject_begins_with.filter(|s| !s.is_empty()),
            subject_ends_with: self.subject_ends_with.filter(|s| !s.is_empty()),
            schema,
            max_delivery_attempts: self.max_delivery_attempts.unwrap_or(MAX_DELIVERY_ATTEMPTS),
            event_time_to_live_minutes: self.event_time_to_live_minutes.unwrap_or(MAX_EVENT_TTL_MINUTES),
            source: SubscriptionSource::Config,
        };
        // Whether plain HTTP is allowed is the server's to say, at start.
        subscription.validate(true).map_err(|e| at(&self.name, e.0))?;
        Ok(subscription)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessPolicySection {
    principal: String,
    principal_type: Option<Spanned<String>>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    certificates: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    default_action: Option<Spanned<String>>,
    bypass: Option<Spanned<String>>,
    #[serde(default)]
    ip_rules: Vec<Spanned<String>>,
    #[serde(default)]
    virtual_network_rules: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleAssignmentSection {
    principal: String,
    principal_type: Option<Spanned<String>>,
    role: Spanned<String>,
    scope: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSection {
    name: String,
    value: String,
}

impl TenantSection {
    /// The tenant, checked against the declared `subnets`; files are read relative to `base`.
    pub(super) fn validate(self, subnets: &[Subnet], base: &Path) -> Result<DesiredTenant, Located> {
        if !is_host_name(self.name.get_ref()) || self.name.get_ref().contains('.') {
            return Err(at(&self.name, "a tenant name is letters, digits and hyphens"));
        }
        let id = self.id.as_ref().map(|id| parse_uuid(id, "id")).transpose()?;
        let applications = self.app.into_iter().map(|app| app.validate(base)).collect::<Result<_, _>>()?;
        let managed_identities =
            self.managed_identity.into_iter().map(ManagedIdentitySection::validate).collect::<Result<_, _>>()?;
        let role_definitions = self
            .role_definition
            .into_iter()
            .map(|r| {
                let permissions = RolePermissions {
                    actions: r.actions,
                    not_actions: r.not_actions,
                    data_actions: r.data_actions,
                    not_data_actions: r.not_data_actions,
                };
                RoleDefinition::custom(Uuid::nil(), Uuid::nil(), r.name.get_ref(), &r.description, permissions.clone())
                    .map_err(|e| at(&r.name, e.to_string()))?;
                Ok(DesiredRoleDefinition { name: r.name.into_inner(), description: r.description, permissions })
            })
            .collect::<Result<Vec<_>, Located>>()?;
        let custom_roles: Vec<&str> = role_definitions.iter().map(|r| r.name.as_str()).collect();
        let role_assignments = self
            .role_assignment
            .into_iter()
            .map(|a| {
                if let Some(scope) = &a.scope {
                    return Err(at(scope, "a tenant's role assignment applies to the whole tenant: drop `scope`"));
                }
                a.validate(&custom_roles)
            })
            .collect::<Result<_, _>>()?;
        let mut vaults: Vec<DesiredVault> =
            self.vault.into_iter().map(|v| v.validate(subnets, &custom_roles)).collect::<Result<_, _>>()?;
        for hsm in self.managed_hsm {
            vaults.push(hsm.validate(subnets)?);
        }
        let users = self
            .user
            .into_iter()
            .map(|user| {
                if user.password.get_ref().len() < 8 {
                    return Err(at(&user.password, "a password is at least 8 characters"));
                }
                Ok(DesiredUser {
                    name: user.name,
                    password: user.password.into_inner(),
                    groups: user.groups,
                    enabled: user.enabled.unwrap_or(true),
                })
            })
            .collect::<Result<_, _>>()?;
        let groups = self.group.into_iter().map(|g| DesiredGroup { name: g.name, member_of: g.member_of }).collect();
        let service_principals =
            self.service_principal.iter().map(|sp| parse_uuid(&sp.app, "app")).collect::<Result<_, _>>()?;
        let subscriptions = self
            .subscription
            .into_iter()
            .map(|s| {
                if s.name.get_ref().trim().is_empty() {
                    return Err(at(&s.name, "a subscription has a name"));
                }
                let id = s.id.as_ref().map(|id| parse_uuid(id, "id")).transpose()?;
                Ok(DesiredSubscription { name: s.name.into_inner(), id })
            })
            .collect::<Result<_, Located>>()?;
        Ok(DesiredTenant {
            name: self.name.into_inner(),
            id,
            applications,
            managed_identities,
            groups,
            users,
            service_principals,
            role_definitions,
            role_assignments,
            vaults,
            subscriptions,
        })
    }
}

impl RoleAssignmentSection {
    /// Checks that the role is built in or one of `custom_roles` (declared in the same tenant).
    fn validate(self, custom_roles: &[&str]) -> Result<DesiredRoleAssignment, Located> {
        let name = self.role.get_ref();
        if built_in_role(name).is_none() && !custom_roles.iter().any(|c| c.eq_ignore_ascii_case(name)) {
            return Err(at(
                &self.role,
                format!("unknown role '{name}': use a built-in role's name or id, or a role_definition of this tenant"),
            ));
        }
        let scope = match &self.scope {
            None => Scope::Vault,
            Some(s) => Scope::parse(s.get_ref())
                .ok_or_else(|| at(s, "`scope` is `secrets/{name}`, `keys/{name}` or `certificates/{name}`"))?,
        };
        let principal_type = principal_kind(self.principal_type.as_ref())?;
        Ok(DesiredRoleAssignment { principal: self.principal, principal_type, role: self.role.into_inner(), scope })
    }
}

/// The kind a `principal_type` key names: `user`, `group`, `application` or `managed_identity`.
fn principal_kind(text: Option<&Spanned<String>>) -> Result<Option<PrincipalKind>, Located> {
    text.map(|t| {
        PrincipalKind::parse(&t.get_ref().to_ascii_lowercase())
            .ok_or_else(|| at(t, "`principal_type` is \"user\", \"group\", \"application\" or \"managed_identity\""))
    })
    .transpose()
}

impl AppSection {
    fn validate(self, base: &Path) -> Result<DesiredApplication, Located> {
        let multi_tenant = match &self.sign_in_audience {
            None => false,
            Some(v) if v.get_ref() == "single_tenant" => false,
            Some(v) if v.get_ref() == "multiple_tenants" => true,
            Some(v) => return Err(at(v, "`sign_in_audience` is \"single_tenant\" or \"multiple_tenants\"")),
        };
        let client_id = self.client_id.as_ref().map(|id| parse_uuid(id, "client_id")).transpose()?;
        let secrets = self
            .secrets
            .iter()
            .map(|entry| entry.declared().map_err(|e| at(&self.name, e)))
            .collect::<Result<Vec<_>, _>>()?;
        if secrets.iter().any(|s| s.value.len() < 16) {
            return Err(at(&self.name, "client secrets must be at least 16 characters"));
        }
        let trusted_service = self.trusted_service.is_some_and(Spanned::into_inner);
        let mut credentials = ApplicationCredentials::default();
        for file in &self.certificates {
            let pem = read_file(base, file)?;
            credentials.certificates.extend(
                CertificateCredential::from_pem(&pem).map_err(|e| at(file, format!("{}: {e}", file.get_ref())))?,
            );
        }
        for uri in &self.redirect_uris {
            strongroom_core::redirect::validate(uri.get_ref()).map_err(|e| at(uri, e.message()))?;
            credentials.redirect_uris.push(uri.get_ref().clone());
        }
        for (index, federated) in self.federated.into_iter().enumerate() {
            // Without a key file, the issuer's keys are found by OpenID discovery when an assertion arrives.
            let keys = match &federated.jwks {
                Some(jwks) => IssuerKey::from_jwks(&read_file(base, jwks)?)
                    .map_err(|e| at(jwks, format!("{}: {e}", jwks.get_ref())))?,
                None => Vec::new(),
            };
            let credential = FederatedCredential {
                name: federated.name.unwrap_or_else(|| format!("federated-{}", index + 1)),
                issuer: federated.issuer.get_ref().clone(),
                subject: federated.subject,
                audience: federated.audience.unwrap_or_else(|| "api://AzureADTokenExchange".to_owned()),
                keys,
            };
            credential.validate().map_err(|e| at(&federated.issuer, e.message()))?;
            credentials.federated.push(credential);
        }
        Ok(DesiredApplication {
            name: self.name.into_inner(),
            client_id,
            secrets,
            trusted_service,
            multi_tenant,
            credentials,
        })
    }
}

/// A client secret: its value, or `{ value, expires }` with an RFC 3339 time as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum SecretEntry {
    Plain(String),
    Expiring { value: String, expires: String },
}

impl SecretEntry {
    fn declared(&self) -> Result<DeclaredSecret, String> {
        match self {
            SecretEntry::Plain(value) => Ok(DeclaredSecret { value: value.clone(), expires: None }),
            SecretEntry::Expiring { value, expires } => {
                let time = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        format!("'{expires}' is not a date-time with an offset, e.g. \"2027-01-01T00:00:00Z\"")
                    })?;
                Ok(DeclaredSecret { value: value.clone(), expires: Some(time.unix_timestamp()) })
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FederatedSection {
    name: Option<String>,
    issuer: Spanned<String>,
    subject: String,
    audience: Option<String>,
    jwks: Option<Spanned<String>>,
}

fn read_file(base: &Path, file: &Spanned<String>) -> Result<Vec<u8>, Located> {
    std::fs::read(base.join(file.get_ref())).map_err(|e| at(file, format!("cannot read {}: {e}", file.get_ref())))
}

impl VaultSection {
    fn validate(self, subnets: &[Subnet], custom_roles: &[&str]) -> Result<DesiredVault, Located> {
        let authorization = match &self.authorization {
            None => AuthorizationModel::Rbac,
            Some(v) if v.get_ref() == "rbac" => AuthorizationModel::Rbac,
            Some(v) if v.get_ref() == "access_policies" => AuthorizationModel::AccessPolicies,
            Some(v) => return Err(at(v, "`authorization` is \"rbac\" or \"access_policies\"")),
        };
        let access_policies = self
            .access_policy
            .into_iter()
            .map(|p| {
                Ok(DesiredAccessPolicy {
                    principal_type: principal_kind(p.principal_type.as_ref())?,
                    principal: p.principal,
                    secrets: p.secrets,
                    keys: p.keys,
                    certificates: p.certificates,
                })
            })
            .collect::<Result<_, Located>>()?;
        validate_vault_name(self.name.get_ref()).map_err(|e| at(&self.name, e.message()))?;
        let soft_delete_retention_days = retention_days(self.soft_delete_retention_days)?;
        let network = firewall(self.network, self.public_network_access.as_ref(), subnets)?;
        let resource_group = resource_group(self.resource_group)?;
        let role_assignments =
            self.role_assignment.into_iter().map(|a| a.validate(custom_roles)).collect::<Result<_, Located>>()?;
        let secrets = self.secret.into_iter().map(|s| DesiredSecret { name: s.name, value: s.value }).collect();
        let mut event_subscriptions: Vec<EventSubscription> = Vec::new();
        for section in self.event_subscription {
            let name = section.name.clone();
            let subscription = section.validate()?;
            if event_subscriptions.iter().any(|s| s.name.eq_ignore_ascii_case(&subscription.name)) {
                return Err(at(&name, "a vault's event subscription names are unique"));
            }
            event_subscriptions.push(subscription);
        }
        let sku = match &self.sku {
            None => Sku::Standard,
            Some(sku) => Sku::parse(sku.get_ref()).map_err(|e| at(sku, e.message()))?,
        };
        Ok(DesiredVault {
            name: self.name.into_inner(),
            kind: VaultKind::Vault,
            authorization,
            soft_delete_retention_days,
            purge_protection: self.purge_protection.unwrap_or(false),
            network,
            role_assignments,
            access_policies,
            secrets,
            subscription: self.subscription,
            resource_group,
            sku,
            activate: false,
            event_subscriptions,
        })
    }
}

impl ManagedHsmSection {
    fn validate(self, subnets: &[Subnet]) -> Result<DesiredVault, Located> {
        validate_vault_name(self.name.get_ref()).map_err(|e| at(&self.name, e.message()))?;
        let administrators = self.administrators.into_iter().map(|principal| DesiredRoleAssignment {
            principal,
            principal_type: None,
            role: "Managed HSM Administrator".to_owned(),
            scope: Scope::Vault,
        });
        let declared = self.role_assignment.into_iter().map(|a| {
            let role = a.role.get_ref();
            if find_role(hsm::built_in_roles(), role).is_none() {
                return Err(at(
                    &a.role,
                    format!("unknown role '{role}': use a Managed HSM built-in role's name or id"),
                ));
            }
            let scope = match &a.scope {
                None => Scope::Vault,
                Some(s) => {
                    hsm::parse_scope(s.get_ref()).ok_or_else(|| at(s, "`scope` is `/`, `/keys` or `/keys/{name}`"))?
                }
            };
            let principal_type = principal_kind(a.principal_type.as_ref())?;
            Ok(DesiredRoleAssignment { principal: a.principal, principal_type, role: a.role.into_inner(), scope })
        });
        let role_assignments = administrators.map(Ok).chain(declared).collect::<Result<Vec<_>, Located>>()?;
        Ok(DesiredVault {
            name: self.name.into_inner(),
            kind: VaultKind::ManagedHsm,
            authorization: AuthorizationModel::Rbac,
            soft_delete_retention_days: retention_days(self.soft_delete_retention_days)?,
            purge_protection: self.purge_protection.unwrap_or(false),
            network: firewall(self.network, self.public_network_access.as_ref(), subnets)?,
            role_assignments,
            access_policies: Vec::new(),
            secrets: Vec::new(),
            subscription: self.subscription,
            resource_group: resource_group(self.resource_group)?,
            // Every key of an HSM is a hardware key; it is billed as Standard_B1, which holds what premium does.
            sku: Sku::Premium,
            activate: self.activated,
            event_subscriptions: Vec::new(),
        })
    }
}

/// `soft_delete_retention_days`, 90 unless given.
fn retention_days(days: Option<Spanned<u32>>) -> Result<u32, Located> {
    match days {
        None => Ok(90),
        Some(v) if (7..=90).contains(v.get_ref()) => Ok(v.into_inner()),
        Some(v) => Err(at(&v, "`soft_delete_retention_days` must be between 7 and 90")),
    }
}

/// The firewall of a vault or an HSM: its `network` table and `public_network_access`.
fn firewall(
    network: Option<NetworkSection>,
    public_network_access: Option<&Spanned<String>>,
    subnets: &[Subnet],
) -> Result<NetworkRules, Located> {
    let public_network_access = match public_network_access {
        None => true,
        Some(v) if v.get_ref().eq_ignore_ascii_case("enabled") => true,
        Some(v) if v.get_ref().eq_ignore_ascii_case("disabled") => false,
        Some(v) => return Err(at(v, "`public_network_access` is \"enabled\" or \"disabled\"")),
    };
    let mut network = network.map(|n| n.validate(subnets)).transpose()?.unwrap_or_default();
    network.public_network_access = public_network_access;
    Ok(network)
}

/// The resource group a vault or an HSM is filed in, the default one unless given.
fn resource_group(group: Option<Spanned<String>>) -> Result<String, Located> {
    match group {
        None => Ok(DEFAULT_RESOURCE_GROUP.to_owned()),
        Some(group) => {
            validate_resource_group_name(group.get_ref()).map_err(|e| at(&group, e.message()))?;
            Ok(group.into_inner())
        }
    }
}

impl NetworkSection {
    fn validate(self, subnets: &[Subnet]) -> Result<NetworkRules, Located> {
        let bypass = match &self.bypass {
            None => Bypass::AzureServices,
            Some(v) if v.get_ref() == "AzureServices" => Bypass::AzureServices,
            Some(v) if v.get_ref() == "None" => Bypass::None,
            Some(v) => return Err(at(v, "`bypass` is \"AzureServices\" or \"None\"")),
        };
        let default_action = match self.default_action.as_ref().map(|a| (a, a.get_ref().to_ascii_lowercase())) {
            None => DefaultAction::Allow,
            Some((_, a)) if a == "allow" => DefaultAction::Allow,
            Some((_, a)) if a == "deny" => DefaultAction::Deny,
            Some((v, _)) => return Err(at(v, "`default_action` is \"allow\" or \"deny\"")),
        };
        if let Some(extra) = self.ip_rules.get(MAX_IP_RULES) {
            return Err(at(extra, format!("a vault has at most {MAX_IP_RULES} IP rules")));
        }
        if let Some(extra) = self.virtual_network_rules.get(MAX_VIRTUAL_NETWORK_RULES) {
            return Err(at(extra, format!("a vault has at most {MAX_VIRTUAL_NETWORK_RULES} virtual-network rules")));
        }
        let ip_rules = self.ip_rules.iter().map(parse_network).collect::<Result<_, _>>()?;
        let virtual_network_rules = self
            .virtual_network_rules
            .iter()
            .map(|rule| find_subnet(subnets, rule).map(|subnet| subnet.id.clone()))
            .collect::<Result<_, _>>()?;
        Ok(NetworkRules { public_network_access: true, default_action, bypass, ip_rules, virtual_network_rules })
    }
}

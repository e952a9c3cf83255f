//! The tenants' certificate authorities: what signs a vault certificate whose issuer's provider is `Strongroom`.
//!
//! Never the local CA behind Strongroom's own TLS (the one users trust system-wide): a tenant whose operator
//! declared `[tenant.certificate_authority]` has a CA of its own, created on first use and kept sealed, whose
//! X.509 name constraints permit only the declared domains; a tenant without one has no such issuer. Before
//! signing, the names are checked ([`IssuingRules`]): within the tenant's domains, and none the server itself
//! answers to (its authority host, its vaults, the Azure host names it can serve).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use strongroom_core::certificate::{IssuingRules, Subject, TenantAuthority};
use strongroom_core::key::PrivateKey;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::error::VaultError;
use crate::config::{AZURE_LOGIN_HOST, AZURE_VAULT_DOMAIN};
use crate::error::InternalFailure;
use crate::state::AppState;

/// Host names of Azure's that the server can answer as (besides its own): no vault certificate may name them.
const AZURE_HOSTS: [&str; 3] = [AZURE_LOGIN_HOST, "management.azure.com", "graph.microsoft.com"];

/// A tenant's CA as kept sealed: the domains it was made for, its certificate and its key.
#[derive(Serialize, Deserialize)]
struct KeptAuthority {
    domains: Vec<String>,
    certificate: String,
    key: String,
}

fn setting(tenant_id: Uuid) -> String {
    format!("certificate-authority/{tenant_id}")
}

/// The certificate `subject` for `key`, signed by the CA of the tenant `tenant_id` once its names are checked,
/// valid from `now`. Returns the chain, leaf first.
pub(super) async fn issue(
    state: &AppState,
    tenant_id: Uuid,
    subject: &Subject,
    key: &PrivateKey,
    now: i64,
) -> Result<Vec<Vec<u8>>, VaultError> {
    let directory = state.directory();
    let tenant = directory
        .tenant(&tenant_id.to_string())
        .ok_or_else(VaultError::internal_missing("the tenant of a certificate authority"))?;
    let domains = state
        .certificate_authorities
        .iter()
        .find(|a| a.tenant.eq_ignore_ascii_case(&tenant.name))
        .map(|a| a.domains.clone())
        .ok_or_else(|| {
            VaultError::bad_parameter(
                "This vault's tenant has no certificate authority: issuers of provider 'Strongroom' sign only with a \
                 CA the operator gives the tenant ([tenant.certificate_authority] with its domains). Use issuer \
                 'Self', or 'Unknown' to get a CSR for another CA.",
            )
        })?;
    let endpoints = &state.endpoints;
    let rules = IssuingRules {
        domains: domains.clone(),
        server_hosts: ["localhost"]
            .into_iter()
            .chain(endpoints.service_hosts())
            .chain(AZURE_HOSTS)
            .map(str::to_owned)
            .collect(),
        server_domains: vec![endpoints.vault_domain().to_owned(), AZURE_VAULT_DOMAIN.to_owned()],
    };
    rules.check(subject)?;
    let authority = authority(state, tenant_id, &domains).await?;
    Ok(vec![authority.issue(subject, key, now)?, authority.certificate])
}

/// The tenant's CA for `domains`: the one kept, or — the first time, or when the operator changed the domains —
/// a new one, kept sealed.
async fn authority(state: &AppState, tenant_id: Uuid, domains: &[String]) -> Result<TenantAuthority, VaultError> {
    let store = state.store.as_ref();
    let name = setting(tenant_id);
    let kept = store.sealed_setting(&name).await?;
    if let Some(authority) = kept.as_deref().map(|bytes| opened(tenant_id, domains, bytes)).transpose()?.flatten() {
        return Ok(authority);
    }
    let authority = TenantAuthority::generate(tenant_id, domains, state.clock.now_seconds())?;
    let record = KeptAuthority {
        domains: domains.to_vec(),
        certificate: STANDARD.encode(&authority.certificate),
        key: STANDARD.encode(authority.key().material()),
    };
    let bytes =
        Zeroizing::new(serde_json::to_vec(&record).map_err(VaultError::internal_while("encoding a tenant's CA"))?);
    if kept.is_some() {
        store.put_sealed_setting(&name, &bytes).await?;
        return Ok(authority);
    }
    // Two nodes may create it at once: the first one kept is the tenant's.
    if store.create_sealed_setting(&name, &bytes).await? {
        return Ok(authority);
    }
    let first = store
        .sealed_setting(&name)
        .await?
        .ok_or_else(VaultError::internal_missing("the tenant CA another request stored"))?;
    opened(tenant_id, domains, &first)?.ok_or_else(VaultError::internal_missing("a tenant CA for these domains"))
}

/// The CA a kept record holds, when it was made for `domains`.
fn opened(tenant_id: Uuid, domains: &[String], bytes: &[u8]) -> Result<Option<TenantAuthority>, VaultError> {
    let kept: KeptAuthority =
        serde_json::from_slice(bytes).map_err(VaultError::internal_because("a tenant's stored CA is unreadable"))?;
    if kept.domains != domains {
        return Ok(None);
    }
    let certificate = STANDARD
        .decode(&kept.certificate)
        .map_err(VaultError::internal_because("a tenant's stored CA certificate is not base64"))?;
    let key = Zeroizing::new(
        STANDARD.decode(&kept.key).map_err(VaultError::internal_because("a tenant's stored CA key is not base64"))?,
    );
    let key = PrivateKey::from_pkcs8(&key)?;
    Ok(Some(TenantAuthority::from_parts(tenant_id, domains, certificate, key)))
}

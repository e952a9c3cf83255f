//! Stage 2, the firewall: the vault's network rules decide from where the call came — the client address
//! (the TCP peer, or what a trusted proxy forwarded), its service-endpoint subnet, and the private endpoint it
//! arrived on.
//!
//! Only a trusted service may pass some closed firewalls, and that depends on the token. Then, and only then,
//! the token is validated here; a caller the firewall blocks gets the same answer whether its token was valid,
//! invalid or absent, so the firewall is no oracle for tokens.

use axum::http::HeaderMap;
use strongroom_core::directory::{Directory, Vault};
use strongroom_core::network::{self, ClientAddress, FirewallDecision, Origin};
use uuid::Uuid;

use super::ConnectionInfo;
use super::authenticate::{self, Caller};
use super::error::VaultError;
use crate::state::AppState;

/// The client of this connection and request — the one rule the whole server uses (firewall, management
/// audit, sign-in throttling and the sign-in log): see [`network::client_address`].
pub fn client_address(state: &AppState, connection: &ConnectionInfo, headers: &HeaderMap) -> ClientAddress {
    let forwarded = headers.get_all("x-forwarded-for").iter().map(|line| line.as_bytes());
    network::client_address(connection.peer.ip(), forwarded, &state.network.trusted_proxies)
}

/// A call the firewall let through.
pub struct Allowed {
    /// When the verdict needed the caller's identity, the caller validated on the way, so that stage 3 does
    /// not validate twice.
    pub trusted_service: Option<Caller>,
    /// How the address was let through, as Key Vault's audit log names it: `PublicIp`, `Subnet` or
    /// `PrivateConnection`.
    pub address_type: &'static str,
}

/// Lets the call through or refuses it with `ForbiddenByFirewall`.
pub fn check(
    state: &AppState,
    directory: &Directory,
    vault: &Vault,
    connection: &ConnectionInfo,
    client: ClientAddress,
    token: &str,
) -> Result<Allowed, VaultError> {
    // A proxy forwarded what cannot be read: no rule can be checked against an unknown caller.
    let ClientAddress::Known(client) = client else { return Err(refusal(vault, client)) };
    let origin = Origin {
        address: client,
        service_endpoint_subnet: network::service_endpoint_subnet(&state.network.subnets, client).map(str::to_owned),
        private_endpoint_vault: connection
            .private_endpoint
            .as_deref()
            .map(|name| directory.vault(name).map_or(Uuid::nil(), |v| v.id)),
    };
    let admitted = |address_type| Ok(Allowed { trusted_service: None, address_type });
    match vault.network.evaluate(vault.id, &origin) {
        FirewallDecision::TrustedServiceOnly => authenticate::validate(state, connection, vault, token)
            .ok()
            .filter(|caller| directory.principal(caller.object_id).is_some_and(|p| p.trusted_service))
            .map(|caller| Allowed { trusted_service: Some(caller), address_type: "PublicIp" })
            .ok_or_else(|| refusal(vault, client)),
        FirewallDecision::Denied => Err(refusal(vault, client)),
        FirewallDecision::AllowedByPrivateEndpoint => admitted("PrivateConnection"),
        FirewallDecision::AllowedByVirtualNetworkRule => admitted("Subnet"),
        FirewallDecision::AllowedByDefault | FirewallDecision::AllowedByIpRule => admitted("PublicIp"),
    }
}

fn refusal(vault: &Vault, client: impl std::fmt::Display) -> VaultError {
    VaultError::forbidden_by_firewall(format!(
        "Client address is not authorized and caller is not a trusted service.\r\nClient address: {client}\r\nVault: {};location=local",
        vault.name
    ))
}

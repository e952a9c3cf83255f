//! Stage 2, the firewall: the vault's network rules decide from the caller's address.

use std::net::IpAddr;

use strongroom_core::directory::Vault;

use super::error::VaultError;

/// Lets the request through, or refuses it with `ForbiddenByFirewall`.
pub fn check(vault: &Vault, caller: IpAddr) -> Result<(), VaultError> {
    if vault.network.evaluate(caller).is_allowed() {
        return Ok(());
    }
    Err(VaultError::forbidden_by_firewall(format!(
        "Client address is not authorized and caller is not a trusted service.\r\nClient address: {caller}\r\nVault: {};location=local",
        vault.name
    )))
}

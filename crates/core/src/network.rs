//! The vault firewall's rules and their evaluation (Key Vault's `networkAcls`).
//!
//! This model covers the public endpoint: a default action and IP rules. Service endpoints, private
//! endpoints and the trusted-service bypass extend [`NetworkRules`] without changing its callers.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// What happens to a caller that no rule names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    /// The firewall is open (Key Vault's default for a new vault).
    #[default]
    Allow,
    /// Only callers that a rule names get through.
    Deny,
}

/// A vault's network rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRules {
    /// Applied when no rule matched.
    pub default_action: DefaultAction,
    /// Addresses and ranges that may call the vault.
    pub ip_rules: Vec<IpNet>,
}

/// Why the firewall let a request through, or that it did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirewallDecision {
    /// The default action is allow.
    AllowedByDefault,
    /// The caller's address matched an IP rule.
    AllowedByIpRule,
    /// Nothing let the caller through.
    Denied,
}

impl FirewallDecision {
    /// Whether the request may go on.
    pub fn is_allowed(self) -> bool {
        !matches!(self, FirewallDecision::Denied)
    }
}

impl NetworkRules {
    /// The decision for a caller whose source address is `caller`.
    pub fn evaluate(&self, caller: IpAddr) -> FirewallDecision {
        if self.default_action == DefaultAction::Allow {
            return FirewallDecision::AllowedByDefault;
        }
        let caller = canonical(caller);
        if self.ip_rules.iter().any(|rule| rule.contains(&caller)) {
            return FirewallDecision::AllowedByIpRule;
        }
        FirewallDecision::Denied
    }
}

/// An IPv4 address reached over a dual-stack socket arrives as `::ffff:a.b.c.d`; rules are written in IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    fn deny_with(rules: &[&str]) -> NetworkRules {
        NetworkRules {
            default_action: DefaultAction::Deny,
            ip_rules: rules.iter().filter_map(|r| r.parse().ok()).collect(),
        }
    }

    #[test]
    fn open_by_default() {
        assert_eq!(NetworkRules::default().evaluate(ip("203.0.113.9")), FirewallDecision::AllowedByDefault);
    }

    #[test]
    fn deny_lets_only_listed_addresses_through() {
        let rules = deny_with(&["127.0.0.2/32", "10.1.0.0/16"]);
        assert_eq!(rules.evaluate(ip("127.0.0.2")), FirewallDecision::AllowedByIpRule);
        assert_eq!(rules.evaluate(ip("10.1.200.3")), FirewallDecision::AllowedByIpRule);
        assert_eq!(rules.evaluate(ip("127.0.0.1")), FirewallDecision::Denied);
        assert!(!rules.evaluate(ip("10.2.0.1")).is_allowed());
    }

    #[test]
    fn mapped_ipv6_matches_ipv4_rules() {
        let rules = deny_with(&["127.0.0.2/32"]);
        assert!(rules.evaluate(ip("::ffff:127.0.0.2")).is_allowed());
    }
}

//! The vault firewall (Key Vault's `networkAcls` and `publicNetworkAccess`) and its evaluation.
//!
//! A call passes if any of the seed's criteria holds: it arrived over the vault's private endpoint; the
//! firewall is off and public access is on; the caller is a trusted service and the vault lets trusted
//! services bypass; the caller comes from a service-endpoint subnet the vault lists; or the caller's public
//! address is in an IP rule. Whether the caller is a trusted service depends on its token, so the evaluation
//! says when that question matters instead of asking it every time.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most IP rules a vault may have (Key Vault's limit).
pub const MAX_IP_RULES: usize = 1000;
/// Most virtual-network rules a vault may have (Key Vault's limit).
pub const MAX_VIRTUAL_NETWORK_RULES: usize = 200;

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

/// Whether trusted services pass a closed firewall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bypass {
    /// Trusted services pass (Key Vault's default).
    #[default]
    AzureServices,
    /// Nobody passes for being a trusted service.
    None,
}

/// A vault's network rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRules {
    /// Whether the public endpoint answers at all; when off, only private endpoints and trusted services do.
    #[serde(default = "enabled")]
    pub public_network_access: bool,
    /// Applied when no rule matched.
    pub default_action: DefaultAction,
    /// Whether trusted services pass.
    #[serde(default)]
    pub bypass: Bypass,
    /// Public addresses and ranges that may call the vault.
    pub ip_rules: Vec<IpNet>,
    /// Service-endpoint subnets (`{network}/{subnet}`) that may call the vault.
    #[serde(default)]
    pub virtual_network_rules: Vec<String>,
}

fn enabled() -> bool {
    true
}

impl Default for NetworkRules {
    fn default() -> Self {
        Self {
            public_network_access: true,
            default_action: DefaultAction::Allow,
            bypass: Bypass::AzureServices,
            ip_rules: Vec::new(),
            virtual_network_rules: Vec::new(),
        }
    }
}

/// Where a call came from, as the network sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The client's address.
    pub address: IpAddr,
    /// The service-endpoint subnet (`{network}/{subnet}` with `Microsoft.KeyVault` enabled) the address is in.
    pub service_endpoint_subnet: Option<String>,
    /// The vault whose private endpoint the call arrived on.
    pub private_endpoint_vault: Option<Uuid>,
}

/// The firewall's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirewallDecision {
    /// Arrived over the vault's own private endpoint.
    AllowedByPrivateEndpoint,
    /// The firewall is off.
    AllowedByDefault,
    /// A listed service-endpoint subnet.
    AllowedByVirtualNetworkRule,
    /// A listed address.
    AllowedByIpRule,
    /// Only a trusted service may pass: the answer depends on who the caller is.
    TrustedServiceOnly,
    /// Nothing lets the caller through.
    Denied,
}

impl NetworkRules {
    /// The verdict for a call from `origin` to the vault `vault_id`.
    pub fn evaluate(&self, vault_id: Uuid, origin: &Origin) -> FirewallDecision {
        match origin.private_endpoint_vault {
            Some(vault) if vault == vault_id => return FirewallDecision::AllowedByPrivateEndpoint,
            // A private endpoint serves only its own vault.
            Some(_) => return FirewallDecision::Denied,
            None => {}
        }
        let trusted_may_pass = self.bypass == Bypass::AzureServices;
        let otherwise = if trusted_may_pass { FirewallDecision::TrustedServiceOnly } else { FirewallDecision::Denied };
        if !self.public_network_access {
            return otherwise;
        }
        if self.default_action == DefaultAction::Allow {
            return FirewallDecision::AllowedByDefault;
        }
        match &origin.service_endpoint_subnet {
            // Service-endpoint traffic carries its subnet, not a public address: IP rules do not apply to it.
            Some(subnet) if self.virtual_network_rules.iter().any(|rule| rule.eq_ignore_ascii_case(subnet)) => {
                FirewallDecision::AllowedByVirtualNetworkRule
            }
            Some(_) => otherwise,
            None if self.ip_rules.iter().any(|rule| rule.contains(&canonical(origin.address))) => {
                FirewallDecision::AllowedByIpRule
            }
            None => otherwise,
        }
    }
}

/// An IP rule's network: a CIDR range, or one address, with host bits cleared as Key Vault stores them.
pub fn parse_ip_rule(text: &str) -> crate::error::Result<IpNet> {
    let value = text.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| crate::error::Error::invalid_input(format_args!("'{value}' is not an IP address or CIDR range")))
}

/// An IPv4 address reached over a dual-stack socket arrives as `::ffff:a.b.c.d`; rules are written in IPv4.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// A subnet of a virtual network, for service-endpoint rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `{network}/{subnet}`.
    pub id: String,
    /// The addresses of the subnet.
    pub prefix: IpNet,
    /// Whether the subnet has the `Microsoft.KeyVault` service endpoint: only then does its traffic reach
    /// vaults as subnet traffic rather than from a public address.
    pub key_vault_endpoint: bool,
}

/// The service-endpoint subnet `address` belongs to: the most specific subnet containing it, if that subnet
/// has the Key Vault service endpoint.
pub fn service_endpoint_subnet(subnets: &[Subnet], address: IpAddr) -> Option<&str> {
    let address = canonical(address);
    subnets
        .iter()
        .filter(|subnet| subnet.prefix.contains(&address))
        .max_by_key(|subnet| subnet.prefix.prefix_len())
        .filter(|subnet| subnet.key_vault_endpoint)
        .map(|subnet| subnet.id.as_str())
}

/// Who the client of a request is, as far as the network can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAddress {
    /// The client's address.
    Known(IpAddr),
    /// A trusted proxy forwarded a hop that cannot be read: whoever the client is, its address is unknown.
    /// The firewall refuses such a caller; throttling counts all of them as one address.
    Unknown,
}

impl ClientAddress {
    /// The address, when known.
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            ClientAddress::Known(address) => Some(address),
            ClientAddress::Unknown => None,
        }
    }
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAddress::Known(address) => address.fmt(f),
            ClientAddress::Unknown => f.write_str("unknown"),
        }
    }
}

/// The client of a request: the TCP peer, or — when the peer is a trusted proxy — the right-most hop of
/// `X-Forwarded-For` that is not itself a trusted proxy (the left-most hop when every hop is trusted).
///
/// `forwarded_for` are the header's lines in the order received; they form one comma-separated list (RFC 9110
/// §5.3). A hop is `ip`, `ip:port`, `[v6]` or `[v6]:port`; empty list elements are skipped (RFC 9110 §5.6.1).
/// A hop that is none of these, met before the client was found, makes the client [`ClientAddress::Unknown`]:
/// the proxy vouches for nothing beyond it, and falling back to the proxy's own address would hand the caller
/// whatever the proxy may do.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a [u8]>,
    trusted_proxies: &[IpNet],
) -> ClientAddress {
    let trusted = |address: IpAddr| trusted_proxies.iter().any(|proxy| proxy.contains(&address));
    let peer = canonical(peer);
    if !trusted(peer) {
        return ClientAddress::Known(peer);
    }
    let lines: Vec<&[u8]> = forwarded_for.into_iter().collect();
    let mut client = peer;
    for line in lines.iter().rev() {
        let Ok(line) = std::str::from_utf8(line) else { return ClientAddress::Unknown };
        for hop in line.rsplit(',').map(|hop| hop.trim_matches([' ', '\t'])).filter(|hop| !hop.is_empty()) {
            let Some(address) = forwarded_hop(hop) else { return ClientAddress::Unknown };
            client = address;
            if !trusted(address) {
                return ClientAddress::Known(address);
            }
        }
    }
    ClientAddress::Known(client)
}

/// One hop of `X-Forwarded-For`: `ip`, `ip:port`, `[v6]` or `[v6]:port`, canonical.
fn forwarded_hop(hop: &str) -> Option<IpAddr> {
    let address = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6))?;
    Some(canonical(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    fn nets(rules: &[&str]) -> Vec<IpNet> {
        rules.iter().filter_map(|r| r.parse().ok()).collect()
    }

    fn closed() -> NetworkRules {
        NetworkRules {
            default_action: DefaultAction::Deny,
            ip_rules: nets(&["127.0.0.2/32", "10.1.0.0/16", "2001:db8::/32"]),
            virtual_network_rules: vec!["corp/apps".into()],
            ..NetworkRules::default()
        }
    }

    fn from(address: &str) -> Origin {
        Origin { address: ip(address), service_endpoint_subnet: None, private_endpoint_vault: None }
    }

    #[test]
    fn open_by_default() {
        assert_eq!(
            NetworkRules::default().evaluate(Uuid::nil(), &from("203.0.113.9")),
            FirewallDecision::AllowedByDefault
        );
    }

    #[test]
    fn a_closed_firewall_lets_listed_addresses_through() {
        let rules = closed();
        let vault = Uuid::new_v4();
        assert_eq!(rules.evaluate(vault, &from("127.0.0.2")), FirewallDecision::AllowedByIpRule);
        assert_eq!(rules.evaluate(vault, &from("10.1.200.3")), FirewallDecision::AllowedByIpRule);
        assert_eq!(rules.evaluate(vault, &from("::ffff:127.0.0.2")), FirewallDecision::AllowedByIpRule);
        assert_eq!(rules.evaluate(vault, &from("2001:db8::7")), FirewallDecision::AllowedByIpRule);
        assert_eq!(rules.evaluate(vault, &from("127.0.0.1")), FirewallDecision::TrustedServiceOnly);
        let no_bypass = NetworkRules { bypass: Bypass::None, ..closed() };
        assert_eq!(no_bypass.evaluate(vault, &from("127.0.0.1")), FirewallDecision::Denied);
    }

    #[test]
    fn service_endpoint_callers_match_only_virtual_network_rules() {
        let vault = Uuid::new_v4();
        let listed = Origin { service_endpoint_subnet: Some("corp/apps".into()), ..from("127.0.0.2") };
        assert_eq!(closed().evaluate(vault, &listed), FirewallDecision::AllowedByVirtualNetworkRule);
        let other = Origin { service_endpoint_subnet: Some("corp/db".into()), ..from("127.0.0.2") };
        assert_eq!(closed().evaluate(vault, &other), FirewallDecision::TrustedServiceOnly, "ip rules do not apply");
    }

    #[test]
    fn private_endpoints_serve_their_vault_even_without_public_access() {
        let vault = Uuid::new_v4();
        let rules = NetworkRules { public_network_access: false, ..closed() };
        let via_endpoint = Origin { private_endpoint_vault: Some(vault), ..from("127.0.0.3") };
        assert_eq!(rules.evaluate(vault, &via_endpoint), FirewallDecision::AllowedByPrivateEndpoint);
        assert_eq!(rules.evaluate(Uuid::new_v4(), &via_endpoint), FirewallDecision::Denied);
        assert_eq!(rules.evaluate(vault, &from("127.0.0.2")), FirewallDecision::TrustedServiceOnly);
        let open_but_private = NetworkRules { default_action: DefaultAction::Allow, ..rules };
        assert_eq!(open_but_private.evaluate(vault, &from("127.0.0.2")), FirewallDecision::TrustedServiceOnly);
    }

    fn forwarded(peer: &str, lines: &[&str], proxies: &[IpNet]) -> ClientAddress {
        client_address(ip(peer), lines.iter().map(|line| line.as_bytes()), proxies)
    }

    fn known(text: &str) -> ClientAddress {
        ClientAddress::Known(ip(text))
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxies = nets(&["127.0.0.4/32"]);
        assert_eq!(forwarded("127.0.0.3", &["127.0.0.2"], &proxies), known("127.0.0.3"));
        assert_eq!(forwarded("127.0.0.4", &["127.0.0.2"], &proxies), known("127.0.0.2"));
        assert_eq!(forwarded("127.0.0.4", &["127.0.0.2, 127.0.0.3"], &proxies), known("127.0.0.3"));
        assert_eq!(forwarded("127.0.0.4", &["127.0.0.2, 127.0.0.4"], &proxies), known("127.0.0.2"));
        assert_eq!(forwarded("127.0.0.4", &[], &proxies), known("127.0.0.4"));
    }

    #[test]
    fn every_forwarded_line_counts_in_order() {
        let proxies = nets(&["127.0.0.4/32", "10.0.0.0/8"]);
        // The client wrote the first line; the proxy appended its own: the proxy's line is the one to believe.
        assert_eq!(forwarded("127.0.0.4", &["127.0.0.2", "127.0.0.9"], &proxies), known("127.0.0.9"));
        assert_eq!(
            forwarded("127.0.0.4", &["127.0.0.2", "10.0.0.1, 127.0.0.9, 10.0.0.2"], &proxies),
            known("127.0.0.9")
        );
        assert_eq!(forwarded("127.0.0.4", &["127.0.0.2", "10.0.0.1"], &proxies), known("127.0.0.2"));
        assert_eq!(forwarded("127.0.0.4", &["10.0.0.1, 10.0.0.2"], &proxies), known("10.0.0.1"), "all trusted");
        assert_eq!(forwarded("127.0.0.4", &[" , 127.0.0.2 ,, "], &proxies), known("127.0.0.2"), "empty elements");
    }

    #[test]
    fn forwarded_hops_may_carry_ports_and_brackets() {
        let proxies = nets(&["127.0.0.4/32"]);
        assert_eq!(forwarded("127.0.0.4", &["127.0.0.2:5123"], &proxies), known("127.0.0.2"));
        assert_eq!(forwarded("127.0.0.4", &["[2001:db8::7]"], &proxies), known("2001:db8::7"));
        assert_eq!(forwarded("127.0.0.4", &["[2001:db8::7]:443"], &proxies), known("2001:db8::7"));
        assert_eq!(forwarded("127.0.0.4", &["2001:db8::7"], &proxies), known("2001:db8::7"));
        assert_eq!(forwarded("127.0.0.4", &["::ffff:127.0.0.2"], &proxies), known("127.0.0.2"));
    }

    #[test]
    fn an_unreadable_hop_before_the_client_makes_it_unknown() {
        let proxies = nets(&["127.0.0.4/32"]);
        for garbage in ["garbage", "127.0.0.2:port", "[127.0.0.2]", "unknown", "127.0.0.2 127.0.0.3", "[::1"] {
            assert_eq!(forwarded("127.0.0.4", &[garbage], &proxies), ClientAddress::Unknown, "{garbage}");
        }
        assert_eq!(forwarded("127.0.0.4", &["127.0.0.2", "garbage"], &proxies), ClientAddress::Unknown);
        // Left of the client, nothing matters: it is the client's own claim.
        assert_eq!(forwarded("127.0.0.4", &["garbage, 127.0.0.2"], &proxies), known("127.0.0.2"));
        assert_eq!(client_address(ip("127.0.0.4"), [b"\xff".as_slice()], &proxies), ClientAddress::Unknown);
        assert_eq!(forwarded("127.0.0.3", &["garbage"], &proxies), known("127.0.0.3"), "untrusted peer");
    }

    #[test]
    fn subnets_with_the_endpoint_carry_their_traffic() {
        let subnet = |id: &str, prefix: &str, key_vault_endpoint| Subnet {
            id: id.into(),
            prefix: prefix.parse().unwrap_or_else(|_| IpNet::from(ip("0.0.0.0"))),
            key_vault_endpoint,
        };
        let subnets = [subnet("corp/apps", "127.0.10.0/24", true), subnet("corp/db", "127.0.11.0/24", false)];
        assert_eq!(service_endpoint_subnet(&subnets, ip("127.0.10.5")), Some("corp/apps"));
        assert_eq!(service_endpoint_subnet(&subnets, ip("127.0.11.5")), None);
        assert_eq!(service_endpoint_subnet(&subnets, ip("127.0.12.5")), None);
    }

    #[test]
    fn old_stored_rules_read_with_defaults() {
        let stored = r#"{"default_action":"deny","ip_rules":["127.0.0.2/32"]}"#;
        let rules: Result<NetworkRules, _> = serde_json::from_str(stored);
        assert!(rules.is_ok_and(|r| r.public_network_access && r.bypass == Bypass::AzureServices));
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        fn config() -> ProptestConfig {
            ProptestConfig { cases: 256, ..ProptestConfig::default() }
        }

        proptest! {
            #![proptest_config(config())]

            /// Any header bytes: an answer, never a panic; an untrusted peer is always its own client.
            #[test]
            fn any_forwarded_lines_give_an_answer(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..4), peer in any::<IpAddr>()) {
                let proxies = nets(&["127.0.0.4/32"]);
                let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
                let _ = client_address(ip("127.0.0.4"), lines.iter().copied(), &proxies);
                let untrusted = client_address(canonical(peer), lines.iter().copied(), &[]);
                prop_assert_eq!(untrusted, ClientAddress::Known(canonical(peer)));
            }

            /// Every spelling of a hop names its address.
            #[test]
            fn every_hop_form_names_its_address(address in any::<IpAddr>(), port in any::<u16>(), form in 0..4u8) {
                let text = match (address, form) {
                    (_, 0) => address.to_string(),
                    (IpAddr::V4(v4), _) => format!("{v4}:{port}"),
                    (IpAddr::V6(v6), 1) => format!("[{v6}]"),
                    (IpAddr::V6(v6), _) => format!("[{v6}]:{port}"),
                };
                let proxies = nets(&["127.0.0.4/32"]);
                let expected = if canonical(address) == ip("127.0.0.4") { ip("127.0.0.4") } else { canonical(address) };
                prop_assert_eq!(client_address(ip("127.0.0.4"), [text.as_bytes()], &proxies), ClientAddress::Known(expected));
            }
        }
    }
}

//! The firewall, from the network's side: clients bound to different loopback source addresses, a
//! service-endpoint subnet, private-endpoint listeners, a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use crate::harness::TestServer;

const API: &str = "api-version=7.6";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    InsideIpRule,
    Outside,
    ServiceEndpointSubnet,
    PrivateEndpoint,
}

impl Source {
    fn address(self) -> IpAddr {
        match self {
            Source::InsideIpRule => "127.0.0.2",
            Source::Outside | Source::PrivateEndpoint => "127.0.0.3",
            Source::ServiceEndpointSubnet => "127.0.10.5",
        }
        .parse()
        .unwrap()
    }
}

/// One vault per combination of default action, bypass and public access.
#[derive(Debug, Clone, Copy)]
struct Shape {
    deny: bool,
    bypass: bool,
    public: bool,
}

impl Shape {
    fn all() -> Vec<Shape> {
        let mut shapes = vec![];
        for deny in [false, true] {
            for bypass in [false, true] {
                for public in [false, true] {
                    shapes.push(Shape { deny, bypass, public });
                }
            }
        }
        shapes
    }

    fn vault(&self) -> String {
        format!(
            "fw-{}-{}-{}",
            if self.deny { "deny" } else { "allow" },
            if self.bypass { "azure" } else { "none" },
            if self.public { "on" } else { "off" }
        )
    }

    fn private_endpoint(&self, index: usize) -> IpAddr {
        format!("127.0.1.{}", index + 1).parse().unwrap()
    }

    /// The seed's rule, written independently of the server's code: allowed if ANY criterion holds.
    fn expected(&self, source: Source, trusted: bool) -> bool {
        source == Source::PrivateEndpoint
            || (trusted && self.bypass)
            || (self.public && (!self.deny || matches!(source, Source::InsideIpRule | Source::ServiceEndpointSubnet)))
    }
}

fn config(shapes: &[Shape]) -> String {
    let mut text = String::from(
        "[[tenant]]\nname = \"contoso\"\n\n[[tenant.app]]\nname = \"admin\"\nsecrets = [\"admin-secret-0123456789\"]\n\n\
         [[tenant.app]]\nname = \"service\"\nsecrets = [\"service-secret-0123456789\"]\ntrusted_service = true\n",
    );
    for shape in shapes {
        text += &format!(
            "\n[[tenant.vault]]\nname = \"{}\"\npublic_network_access = \"{}\"\n[tenant.vault.network]\n\
             default_action = \"{}\"\nbypass = \"{}\"\nip_rules = [\"127.0.0.2/32\"]\nvirtual_network_rules = [\"corp/apps\"]\n\
             [[tenant.vault.role_assignment]]\nprincipal = \"admin\"\nrole = \"Key Vault Administrator\"\n\
             [[tenant.vault.role_assignment]]\nprincipal = \"service\"\nrole = \"Key Vault Administrator\"\n",
            shape.vault(),
            if shape.public { "enabled" } else { "disabled" },
            if shape.deny { "deny" } else { "allow" },
            if shape.bypass { "AzureServices" } else { "None" },
        );
    }
    text += "\n[[network]]\nname = \"corp\"\n[[network.subnet]]\nname = \"apps\"\nprefix = \"127.0.10.0/24\"\n\
             service_endpoints = [\"Microsoft.KeyVault\"]\n[[network.subnet]]\nname = \"db\"\nprefix = \"127.0.11.0/24\"\n";
    for (index, shape) in shapes.iter().enumerate() {
        text += &format!(
            "\n[[private_endpoint]]\nname = \"pe-{index}\"\nvault = \"{}\"\nlisten = \"{}:0\"\nsubnet = \"corp/apps\"\n",
            shape.vault(),
            shape.private_endpoint(index)
        );
    }
    text
}

#[tokio::test]
async fn every_source_rule_and_caller_gets_the_seeds_verdict() {
    let shapes = Shape::all();
    let server = TestServer::start(&config(&shapes)).await;
    let port = server.running().address().port();
    let main: SocketAddr = server.running().address();
    let tokens = [(false, server.token("contoso", "admin").await), (true, server.token("contoso", "service").await)];

    let mut wrong = vec![];
    for source in [Source::InsideIpRule, Source::Outside, Source::ServiceEndpointSubnet, Source::PrivateEndpoint] {
        let hosts: Vec<(String, SocketAddr)> = shapes
            .iter()
            .enumerate()
            .map(|(index, shape)| {
                let target = match source {
                    Source::PrivateEndpoint => SocketAddr::new(shape.private_endpoint(index), port),
                    _ => main,
                };
                (format!("{}.vault.localhost", shape.vault()), target)
            })
            .collect();
        let client = server.http_with(source.address(), &hosts);
        for shape in &shapes {
            for (trusted, token) in &tokens {
                let url = format!("{}/secrets?{API}", server.vault_url(&shape.vault()));
                let response = client.get(url).bearer_auth(token).send().await.unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap();
                let allowed = status == 200;
                if !allowed {
                    assert_eq!(
                        (status, &body["error"]["innererror"]["code"]),
                        (403, &serde_json::json!("ForbiddenByFirewall"))
                    );
                }
                if allowed != shape.expected(source, *trusted) {
                    wrong.push(format!("{source:?} × {shape:?} × trusted={trusted}: got {status}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "cells that differ from the rule:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_blocked_caller_learns_nothing_about_its_token() {
    let shapes = [Shape { deny: true, bypass: true, public: true }];
    let server = TestServer::start(&config(&shapes)).await;
    let vault = shapes[0].vault();
    let outside = server
        .http_with(Source::Outside.address(), &[(format!("{vault}.vault.localhost"), server.running().address())]);
    let url = format!("{}/secrets?{API}", server.vault_url(&vault));
    let valid = server.token("contoso", "admin").await;
    let mut answers = vec![];
    for token in [valid.as_str(), "invalid.token.value", "x"] {
        let response = outside.get(&url).bearer_auth(token).send().await.unwrap();
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, 403);
    assert!(answers.iter().all(|answer| answer == &answers[0]), "{answers:?}");
}

#[tokio::test]
async fn service_endpoint_traffic_is_not_matched_by_ip_rules() {
    let config = "[[tenant]]\nname = \"contoso\"\n[[tenant.app]]\nname = \"admin\"\nsecrets = [\"admin-secret-0123456789\"]\n\
        [[tenant.vault]]\nname = \"ranges\"\n[tenant.vault.network]\ndefault_action = \"deny\"\nbypass = \"None\"\n\
        ip_rules = [\"127.0.10.0/24\", \"127.0.11.0/24\"]\n[[tenant.vault.role_assignment]]\nprincipal = \"admin\"\nrole = \"Key Vault Administrator\"\n\
        [[network]]\nname = \"corp\"\n[[network.subnet]]\nname = \"apps\"\nprefix = \"127.0.10.0/24\"\nservice_endpoints = [\"Microsoft.KeyVault\"]\n\
        [[network.subnet]]\nname = \"db\"\nprefix = \"127.0.11.0/24\"\n";
    let server = TestServer::start(config).await;
    let token = server.token("contoso", "admin").await;
    let url = format!("{}/secrets?{API}", server.vault_url("ranges"));
    let hosts = [("ranges.vault.localhost".to_owned(), server.running().address())];
    for (source, expected) in [("127.0.10.5", 403), ("127.0.11.5", 200)] {
        let client = server.http_with(source.parse().unwrap(), &hosts);
        let status = client.get(&url).bearer_auth(&token).send().await.unwrap().status().as_u16();
        assert_eq!(status, expected, "{source}");
    }
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let config = "trusted_proxies = [\"127.0.0.4/32\"]\n[[tenant]]\nname = \"contoso\"\n[[tenant.app]]\nname = \"admin\"\n\
        secrets = [\"admin-secret-0123456789\"]\n[[tenant.vault]]\nname = \"proxied\"\n[tenant.vault.network]\n\
        default_action = \"deny\"\nbypass = \"None\"\nip_rules = [\"127.0.0.2/32\"]\n[[tenant.vault.role_assignment]]\n\
        principal = \"admin\"\nrole = \"Key Vault Administrator\"\n";
    let server = TestServer::start(config).await;
    let token = server.token("contoso", "admin").await;
    let url = format!("{}/secrets?{API}", server.vault_url("proxied"));
    let hosts = [("proxied.vault.localhost".to_owned(), server.running().address())];
    for (peer, forwarded, expected, seen) in [
        ("127.0.0.3", "127.0.0.2", 403, "127.0.0.3"),
        ("127.0.0.4", "127.0.0.2", 200, "127.0.0.2"),
        ("127.0.0.4", "127.0.0.2, 127.0.0.3", 403, "127.0.0.3"),
    ] {
        let client = server.http_with(peer.parse().unwrap(), &hosts);
        let response = client.get(&url).bearer_auth(&token).header("X-Forwarded-For", forwarded).send().await.unwrap();
        let info = response.headers()["x-ms-keyvault-network-info"].to_str().unwrap().to_owned();
        assert_eq!(response.status().as_u16(), expected, "{peer} forwarding {forwarded}");
        assert_eq!(info, format!("conn_type=Ipv4;addr={seen};act_addr_fam=InterNetwork;"));
    }
}

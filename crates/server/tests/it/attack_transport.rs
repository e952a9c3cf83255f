//! Attacks on the transport and on operations, as an outsider or a tenant's app would make them: holding the
//! server with idle and slow connections, holding every tenant's management writes with one slow body,
//! stalling or steering issuer-key discovery, reading the data directory, and keeping a token alive after an
//! emergency revocation of the signing keys.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use strongroom_server::config::Config;
use strongroom_server::installation::Installation;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::harness::{STANDARD_TENANTS, TestServer, tls_connect};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const SLOW_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

async fn tcp_from(local: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the server closes `stream` within `within` (anything it sends before closing is read and dropped).
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_do_not_keep_a_fresh_client_out() {
    let limits = "header_read_timeout_seconds = 2\nidle_timeout_seconds = 3\nmax_connections_per_address = 20\n";
    let server = TestServer::start(&format!("{limits}{STANDARD_TENANTS}")).await;
    let address = server.running().address();

    // An attacker opens more bare TCP connections than one address may hold: the ones over the cap are
    // closed as soon as they are accepted.
    let mut idle = Vec::new();
    for _ in 0..30 {
        idle.push(tcp_from(ATTACKER, address).await);
    }
    let mut over_cap = idle.pop().unwrap();
    assert!(closed_within(&mut over_cap, Duration::from_millis(1500)).await, "a connection over the per-address cap");

    // Another sends request headers that never end.
    let mut slow = Vec::new();
    for _ in 0..5 {
        let mut tls = tls_connect(&server, SLOW_CLIENT, b"http/1.1").await;
        tls.write_all(b"GET /contoso/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1")
            .await
            .unwrap();
        tls.flush().await.unwrap();
        slow.push(tls);
    }

    // A fresh client is answered at once.
    let started = Instant::now();
    let url = format!("{}/contoso/v2.0/.well-known/openid-configuration", server.authority_host());
    let response = server.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2), "answered in {:?}", started.elapsed());

    // The partial headers and the connections that never started TLS are dropped after the header-read
    // timeout (2 s here).
    for tls in &mut slow {
        assert!(closed_within(tls, Duration::from_secs(5)).await, "a partial header is dropped");
    }
    for stream in &mut idle {
        assert!(closed_within(stream, Duration::from_secs(3)).await, "a connection that never sent anything");
    }
    // Their places are given back: the attacker's address may connect again.
    drop(idle);
    let mut again = tls_connect(&server, ATTACKER, b"http/1.1").await;
    again
        .write_all(b"GET /contoso/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    again.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    // An idle kept-alive connection is closed too.
    assert!(closed_within(&mut again, Duration::from_secs(6)).await, "an idle kept-alive connection");
}

const WOODGROVE: &str = r#"
[[tenant]]
name = "woodgrove"

[[tenant.app]]
name = "owner"
secrets = ["owner-secret-0123456789"]

[[tenant.role_assignment]]
principal = "owner"
role = "Owner"

[[tenant.vault]]
name = "ledger"
"#;

async fn arm_token(server: &TestServer, tenant: &str, app: &str) -> String {
    let (status, body) = server
        .token_request(
            tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &server.client_id(app)),
                ("client_secret", &format!("{app}-secret-0123456789")),
                ("scope", "https://management.azure.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn vault_path(server: &TestServer, tenant: &str, vault: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/{vault}?api-version=2022-07-01",
        server.tenant_id(tenant)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_management_body_does_not_hold_up_another_tenants_write() {
    let server = TestServer::start(&format!("body_read_timeout_seconds = 3\n{STANDARD_TENANTS}{WOODGROVE}")).await;
    // An app of contoso, with no role at all, starts a management write and trickles its body.
    let slow_token = arm_token(&server, "contoso", "nobody").await;
    let mut slow = tls_connect(&server, SLOW_CLIENT, b"http/1.1").await;
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {slow_token}\r\nContent-Type: application/json\r\n\
         Content-Length: 200\r\n\r\n{{",
        vault_path(&server, "contoso", "billing")
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.flush().await.unwrap();
    let (mut reader, mut writer) = tokio::io::split(slow);
    let trickle = tokio::spawn(async move {
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer.write_all(b" ").await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
        writer
    });
    // Nothing outside the server shows it holds the slow request; it does from the end of the handshake above to
    // the body-read timeout (3 s), so a short pause puts the next write well inside that window.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Meanwhile woodgrove's owner changes its vault: answered at once.
    let owner = arm_token(&server, "woodgrove", "owner").await;
    let started = Instant::now();
    let change =
        json!({"properties": {"networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "203.0.113.7"}]}}});
    let url = format!("{}{}", server.authority_host(), vault_path(&server, "woodgrove", "ledger"));
    let response = server.http.request(Method::PATCH, url).bearer_auth(&owner).json(&change).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(2), "the write waited {:?}", started.elapsed());

    // The trickled body is cut off by the body-read timeout (3 s here).
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(6), reader.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("RequestTimeout"), "{answer}");
    drop(trickle.await);
}

/// An HTTPS server on 127.0.0.1 with a certificate of the installation's CA that answers the discovery
/// document with `jwks` (pointing at itself) and the key set with `jwks`.
async fn authority(data_dir: &Path, jwks: Vec<u8>) -> String {
    // The installation's CA, from its files, as any local tool could use it to sign a test authority.
    let ca_pem = std::fs::read_to_string(data_dir.join("ca.pem")).unwrap();
    let ca_key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(data_dir.join("ca-key.pem")).unwrap()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let ca_der = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap().to_vec()
    };
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let chain = vec![cert.der().clone(), rustls_pki_types::CertificateDer::from(ca_der)];
    let key = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/keys")}).to_string().into_bytes();
    let jwks = Arc::new(jwks);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, discovery, jwks) = (acceptor.clone(), discovery.clone(), Arc::clone(&jwks));
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else { return };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = if request.starts_with(b"GET /keys") { jwks.as_slice() } else { discovery.as_slice() };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    url
}

/// An authority that accepts connections and never answers; and how many connections it has accepted.
async fn silent_authority() -> (String, tokio::sync::watch::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (accepted, count) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
            accepted.send_replace(held.len());
        }
    });
    (url, count)
}

const LOOPBACK_AUTHORITIES: &str = "allowed_private_authorities = [\"127.0.0.1\", \"localhost\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_authority_does_not_stall_another_issuers_lookup() {
    let server = TestServer::start(&format!("{LOOPBACK_AUTHORITIES}{STANDARD_TENANTS}")).await;
    let state = Arc::clone(server.running().state());
    let (silent, mut connections) = silent_authority().await;
    let slow = tokio::spawn({
        let (state, silent) = (Arc::clone(&state), silent.clone());
        async move { state.issuer_keys.keys(&silent, None).await }
    });
    // The slow lookup is under way once it has reached the silent authority.
    let reached = tokio::time::timeout(Duration::from_secs(10), connections.wait_for(|count| *count > 0))
        .await
        .is_ok_and(|waited| waited.is_ok());
    assert!(reached, "the lookup never reached the silent authority");

    // Another tenant's issuer (here this server's own contoso) is looked up while the silent one hangs.
    let started = Instant::now();
    let issuer = format!("{}/{}/v2.0", server.authority_host(), server.tenant_id("contoso"));
    let keys = state.issuer_keys.keys(&issuer, None).await.unwrap();
    assert!(!keys.is_empty());
    assert!(started.elapsed() < Duration::from_secs(2), "the lookup waited {:?}", started.elapsed());

    // The silent authority fails at its deadline, and the failure is remembered for a while.
    assert!(slow.await.unwrap().is_err());
    let started = Instant::now();
    assert!(state.issuer_keys.keys(&silent, None).await.is_err());
    assert!(started.elapsed() < Duration::from_millis(500), "a remembered failure is answered at once");
}

#[tokio::test]
async fn loopback_and_private_authorities_are_refused_unless_allowed() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let state = server.running().state();
    // By name (localhost resolves to loopback) and by address: the server must not fetch from itself.
    let by_name = format!("{}/{}/v2.0", server.authority_host(), server.tenant_id("contoso"));
    let by_address =
        format!("https://127.0.0.1:{}/{}/v2.0", server.running().address().port(), server.tenant_id("contoso"));
    for (issuer, checked) in [
        (by_name, "by name"),
        (by_address, "by address"),
        ("https://169.254.169.254/metadata".into(), "the metadata address"),
    ] {
        let refused = state.issuer_keys.keys(&issuer, None).await.unwrap_err();
        assert!(refused.contains("is not a public address"), "{checked}: {refused}");
    }
}

#[tokio::test]
async fn an_oversized_key_set_is_refused() {
    let server = TestServer::start(&format!("{LOOPBACK_AUTHORITIES}{STANDARD_TENANTS}")).await;
    // A valid key set, padded past the cap: its keys would be taken if it were read whole.
    let own = format!("{}/contoso/discovery/v2.0/keys", server.authority_host());
    let mut jwks = server.http.get(own).send().await.unwrap().bytes().await.unwrap().to_vec();
    jwks.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    let url = authority(server.dir.path(), jwks).await;
    let refused = server.running().state().issuer_keys.keys(&url, None).await.unwrap_err();
    assert!(refused.contains("larger than"), "{refused}");
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_its_files_are_private_and_exposed_ones_stop_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let text = format!("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{STANDARD_TENANTS}", data_dir.display());
    let config = Config::parse(&text, Path::new("test.toml")).unwrap();
    let installation = Installation::open(config.server.clone()).await.unwrap();
    installation.provision(&config.desired).await.unwrap();
    let server = installation.start().await.unwrap();
    let mode = |name: &str| std::fs::metadata(data_dir.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777, 0o700);
    for file in ["root.key", "strongroom.db", "strongroom.db-wal", "strongroom.db-shm", "audit.log", "ca-key.pem"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    server.stop().await;

    for file in ["strongroom.db", "root.key"] {
        std::fs::set_permissions(data_dir.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = Installation::open(config.server.clone()).await.err().unwrap().to_string();
        assert!(refused.contains(file) && refused.contains("chmod 600"), "{refused}");
        std::fs::set_permissions(data_dir.join(file), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // The audit log, or the directory, open to others: the server starts (and warns).
    std::fs::set_permissions(data_dir.join("audit.log"), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(Installation::open(config.server.clone()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_revocation_refuses_tokens_issued_before_at_once() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let before = server.token("contoso", "admin").await;
    let read = |token: String| {
        let server = &server;
        async move {
            server
                .vault_call(Method::GET, "billing", "/secrets/seeded?api-version=7.6", Some(&token), None)
                .await
                .status()
        }
    };
    // Validated, cached, and remembered by the connection.
    assert_eq!(read(before.clone()).await, 200);
    assert_eq!(read(before.clone()).await, 200);

    // The operator's command, as `strongroom rotate-signing-key --revoke-previous` runs it: another process
    // opening the same installation.
    let settings = Config::parse(
        &format!("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n", server.dir.path().display()),
        Path::new("test.toml"),
    )
    .unwrap()
    .server;
    Installation::open(settings).await.unwrap().revoke_previous_signing_keys().await.unwrap();

    let started = Instant::now();
    while read(before.clone()).await == 200 {
        assert!(started.elapsed() < Duration::from_secs(5), "the revoked token is still accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(read(before.clone()).await, 401);
    let jwks = format!("{}/contoso/discovery/v2.0/keys", server.authority_host());
    let keys: serde_json::Value = server.http.get(jwks).send().await.unwrap().json().await.unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "only the new key is published");
    assert_eq!(read(server.token("contoso", "admin").await).await, 200, "a new token works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_revocation_reaches_another_node_on_postgresql_at_once() {
    let Ok(admin) = std::env::var("STRONGROOM_TEST_POSTGRES") else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "STRONGROOM_TEST_POSTGRES is not set under CI");
        eprintln!("STRONGROOM_TEST_POSTGRES is not set: the PostgreSQL revocation test is skipped");
        return;
    };
    let url = tokio::task::spawn_blocking(move || strongroom_store::postgres::create_database(&admin))
        .await
        .unwrap()
        .unwrap();
    let node_a = TestServer::start(&format!("storage = \"{url}\"\n{STANDARD_TENANTS}")).await;
    // Node B: the same root key (and the same local CA, so that one client trusts both), on another address
    // with the same port, as behind a load balancer (the port is part of the token's audience).
    let port = node_a.running().address().port();
    let b_dir = tempfile::tempdir().unwrap();
    for file in ["root.key", "ca.pem", "ca-key.pem"] {
        std::fs::copy(node_a.dir.path().join(file), b_dir.path().join(file)).unwrap();
    }
    let text = format!(
        "[server]\nlisten = \"127.0.0.2:{port}\"\ndata_dir = \"{}\"\nlogin_host = \"localhost\"\nstorage = \"{url}\"\n",
        b_dir.path().display()
    );
    let node_b = Installation::open(Config::parse(&text, Path::new("b.toml")).unwrap().server)
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let to_b =
        node_a.http_with(IpAddr::V4(Ipv4Addr::LOCALHOST), &[("billing.vault.localhost".into(), node_b.address())]);
    let read_on_b = |token: String| {
        let (to_b, url) =
            (to_b.clone(), format!("https://billing.vault.localhost:{port}/secrets/seeded?api-version=7.6"));
        async move { to_b.get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    let before = node_a.token("contoso", "admin").await;
    assert_eq!(read_on_b(before.clone()).await, 200);
    assert_eq!(read_on_b(before.clone()).await, 200, "cached on node B");

    // Revoked through node A's store, as the command does on PostgreSQL: node B is told by the change notice.
    let now = node_a.running().state().clock.now_seconds();
    strongroom_server::signing::revoke_previous(node_a.running().state().store.as_ref(), now).await.unwrap();
    let started = Instant::now();
    while read_on_b(before.clone()).await == 200 {
        assert!(started.elapsed() < Duration::from_secs(1), "node B still accepts the revoked token");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read_on_b(before).await, 401);
    node_b.stop().await;
}

/// Issue 20 item 6: two installations' local CAs had the same subject and the server certificate named its CA
/// by subject only, so a client trusting both could pick the wrong one and fail. Issue 21: the JVM is handed
/// the CA as the PKCS#12 trust store the installation writes.
#[tokio::test]
async fn each_local_ca_is_its_own_and_its_certificates_name_it_by_key() {
    use x509_parser::extensions::ParsedExtension;
    let first = TestServer::start(STANDARD_TENANTS).await;
    let second = TestServer::start(STANDARD_TENANTS).await;
    let ca_der = |server: &TestServer| {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_file(server.dir.path().join("ca.pem")).unwrap().to_vec()
    };
    let (first_ca, second_ca) = (ca_der(&first), ca_der(&second));
    let subject = |der: &[u8]| x509_parser::parse_x509_certificate(der).unwrap().1.subject().to_string();
    assert_ne!(subject(&first_ca), subject(&second_ca), "two installations, two CA names");

    let key_id = |der: &[u8], authority: bool| {
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        cert.extensions().iter().find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) if !authority => Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) if authority => {
                aki.key_identifier.as_ref().map(|id| id.0.to_vec())
            }
            _ => None,
        })
    };
    let stream = tls_connect(&first, IpAddr::V4(Ipv4Addr::LOCALHOST), b"http/1.1").await;
    let served = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let ca_key_id = key_id(&first_ca, false).expect("the CA has a Subject Key Identifier");
    assert_eq!(key_id(&served, true), Some(ca_key_id), "the server certificate names its CA's key");
    assert!(key_id(&served, false).is_some(), "and has a Subject Key Identifier of its own");

    let trust_store = std::fs::read(first.dir.path().join("ca-truststore.p12")).unwrap();
    let store = p12_keystore::KeyStore::from_pkcs12(&trust_store, "changeit", p12_keystore::Pkcs12ImportPolicy::Strict)
        .unwrap();
    let trusted: Vec<Vec<u8>> = store
        .entries()
        .filter_map(|(_, entry)| match entry {
            p12_keystore::KeyStoreEntry::Certificate(cert) => Some(cert.as_der().to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(trusted, vec![first_ca], "the trust store holds the CA, marked trusted, and nothing else");
}

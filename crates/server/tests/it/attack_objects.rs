//! Vault objects attacked by their own role holders: certificates minted for names the server answers to,
//! certificates and plain secrets or keys reaching into each other, backups carried to another tenant, rotation
//! policies that churn, certificate data left behind by a deleted vault, and garbage posted to the parsers.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use reqwest::Method;
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::harness::{STANDARD_TENANTS, TestServer, billing_call};

/// The standard tenants, contoso with a certificate authority for `contoso.com` and — to show that the server's
/// own names stay refused even inside an allowed domain — `localhost`.
fn with_contoso_ca(tail: &str) -> String {
    let contoso = "name = \"contoso\"\n";
    let authority = "certificate_authority = { domains = [\"contoso.com\", \"localhost\"] }\n";
    format!("{}{tail}", STANDARD_TENANTS.replacen(contoso, &format!("{contoso}{authority}"), 1))
}

async fn call(server: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    billing_call(server, token, method, path, body).await
}

async fn fabrikam_call(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let path = format!("{path}{separator}api-version=7.6");
    let response = server.vault_call(method, "fabrikam-vault", &path, Some(token), body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A certificate policy of issuer `issuer` for `dns_names`, its secret in PEM (key, leaf, then the chain).
fn policy(issuer: &str, dns_names: &[&str]) -> Value {
    json!({"policy": {
        "key_props": {"kty": "RSA", "key_size": 2048},
        "secret_props": {"contentType": "application/x-pem-file"},
        "x509_props": {"subject": format!("CN={}", dns_names[0]), "sans": {"dns_names": dns_names}},
        "issuer": {"name": issuer}
    }})
}

/// The certificates of a PEM text, DER, in order.
fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
        .map(|pem| pem.unwrap())
        .filter(|pem| pem.label == "CERTIFICATE")
        .map(|pem| pem.contents)
        .collect()
}

/// Whether `issuer`'s key (ECDSA P-256, as both Strongroom's local CA and the tenant CAs have) signed `leaf` —
/// the check `openssl verify` makes on each link of a chain.
fn signed_by(leaf: &[u8], issuer: &[u8]) -> bool {
    let (_, leaf) = X509Certificate::from_der(leaf).unwrap();
    let (_, issuer) = X509Certificate::from_der(issuer).unwrap();
    let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, issuer.public_key().subject_public_key.data.to_vec());
    key.verify(leaf.tbs_certificate.as_ref(), leaf.signature_value.data.as_ref()).is_ok()
}

#[tokio::test]
async fn a_certificates_officer_cannot_mint_certificates_the_installation_trusts() {
    let server = TestServer::start(&with_contoso_ca("")).await;
    let issuer = json!({"provider": "Strongroom"});

    // Fabrikam's operator gave it no certificate authority: its `Strongroom` issuer signs nothing, and never
    // with the CA behind the server's TLS.
    let outsider = server.token("fabrikam", "outsider").await;
    let (status, _) =
        fabrikam_call(&server, &outsider, Method::PUT, "/certificates/issuers/local", Some(issuer.clone())).await;
    assert_eq!(status, 200);
    let (status, refused) = fabrikam_call(
        &server,
        &outsider,
        Method::POST,
        "/certificates/token-service/create",
        Some(policy("local", &["login.localhost"])),
    )
    .await;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("BadParameter")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("no certificate authority"));

    // Contoso has one: for its own domains only, and never for a name the server answers to.
    let admin = server.token("contoso", "admin").await;
    let (status, _) = call(&server, &admin, Method::PUT, "/certificates/issuers/team-ca", Some(issuer)).await;
    assert_eq!(status, 200);
    // (The test server's login host is `localhost`.)
    for names in [
        &["localhost"][..],
        &["*.localhost"],
        &["fabrikam-vault.vault.localhost"],
        &["*.vault.localhost"],
        &["www.example.com"],
        &["app.contoso.com", "login.microsoftonline.com"],
        &["billing.vault.azure.net"],
    ] {
        let (status, refused) =
            call(&server, &admin, Method::POST, "/certificates/forged/create", Some(policy("team-ca", names))).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("BadParameter")), "{names:?}: {refused}");
    }
    let (status, _) = call(&server, &admin, Method::GET, "/certificates/forged", None).await;
    assert_eq!(status, 404, "nothing was issued");

    let (status, operation) =
        call(&server, &admin, Method::POST, "/certificates/app/create", Some(policy("team-ca", &["app.contoso.com"])))
            .await;
    assert_eq!(status, 202, "{operation}");
    let (status, secret) = call(&server, &admin, Method::GET, "/secrets/app", None).await;
    assert_eq!(status, 200);
    let chain = pem_certificates(secret["value"].as_str().unwrap());
    let [leaf, tenant_ca] = chain.as_slice() else { panic!("a leaf and its CA: {}", chain.len()) };
    let local_ca = pem_certificates(&std::fs::read_to_string(server.dir.path().join("ca.pem")).unwrap());
    assert!(signed_by(leaf, tenant_ca), "the tenant's CA signed it");
    assert!(!signed_by(leaf, &local_ca[0]), "the CA behind the server's TLS did not: it does not chain to ca.pem");
    let (_, ca) = X509Certificate::from_der(tenant_ca).unwrap();
    let (_, trusted) = X509Certificate::from_der(&local_ca[0]).unwrap();
    assert_ne!(ca.subject(), trusted.subject());
    let permitted = ca.name_constraints().unwrap().unwrap().value.permitted_subtrees.clone().unwrap();
    let permitted: Vec<String> = permitted
        .iter()
        .map(|s| match s.base {
            x509_parser::extensions::GeneralName::DNSName(name) => name.to_owned(),
            _ => panic!("a DNS name only"),
        })
        .collect();
    assert_eq!(permitted, ["contoso.com", "localhost"], "the CA itself is name-constrained");
}

#[tokio::test]
async fn certificates_and_plain_secrets_or_keys_never_reach_into_each_other() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let admin = server.token("contoso", "admin").await;
    let self_signed = |name: &str| policy("Self", &[name]);

    // A certificate over a plain secret's or key's name: 409, and the secret or key untouched.
    let (status, _) =
        call(&server, &admin, Method::PUT, "/secrets/db-password", Some(json!({"value": "hunter2"}))).await;
    assert_eq!(status, 200);
    let (status, _) =
        call(&server, &admin, Method::POST, "/keys/signing/create", Some(json!({"kty": "EC", "crv": "P-256"}))).await;
    assert_eq!(status, 200);
    let (status, source) =
        call(&server, &admin, Method::POST, "/certificates/source/create", Some(self_signed("source.example"))).await;
    assert_eq!(status, 202, "{source}");
    let (_, pem) = call(&server, &admin, Method::GET, "/secrets/source", None).await;
    let pem = pem["value"].as_str().unwrap().to_owned();
    for name in ["db-password", "signing"] {
        let (status, refused) = call(
            &server,
            &admin,
            Method::POST,
            &format!("/certificates/{name}/create"),
            Some(self_signed("x.example")),
        )
        .await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("Conflict")), "{name}: {refused}");
        let (status, refused) =
            call(&server, &admin, Method::POST, &format!("/certificates/{name}/import"), Some(json!({"value": pem})))
                .await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("Conflict")), "{name}: {refused}");
    }
    let (_, versions) = call(&server, &admin, Method::GET, "/secrets/db-password/versions", None).await;
    assert_eq!(versions["value"].as_array().unwrap().len(), 1, "no version was added to the plain secret");
    let (_, secret) = call(&server, &admin, Method::GET, "/secrets/db-password", None).await;
    assert_eq!(secret["value"], "hunter2");
    let (_, versions) = call(&server, &admin, Method::GET, "/keys/signing/versions", None).await;
    assert_eq!(versions["value"].as_array().unwrap().len(), 1, "no version was added to the plain key");

    // A certificate's own secret and key change only through it.
    let secret_writes = [
        (Method::PUT, "/secrets/source", Some(json!({"value": "replaced"}))),
        (Method::PATCH, "/secrets/source", Some(json!({"attributes": {"enabled": false}}))),
        (Method::DELETE, "/secrets/source", None),
    ];
    for (method, path, body) in secret_writes {
        let (status, refused) = call(&server, &admin, method.clone(), path, body).await;
        assert_eq!(
            (status, refused["error"]["innererror"]["code"].as_str()),
            (403, Some("SecretManagedByKeyVault")),
            "{method} {path}: {refused}"
        );
    }
    let key_writes = [
        (Method::POST, "/keys/source/create", Some(json!({"kty": "RSA"}))),
        (Method::POST, "/keys/source/rotate", None),
        (Method::PATCH, "/keys/source", Some(json!({"attributes": {"enabled": false}}))),
        (Method::DELETE, "/keys/source", None),
        (
            Method::PUT,
            "/keys/source/rotationpolicy",
            Some(json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}]})),
        ),
    ];
    for (method, path, body) in key_writes {
        let (status, refused) = call(&server, &admin, method.clone(), path, body).await;
        assert_eq!(
            (status, refused["error"]["innererror"]["code"].as_str()),
            (403, Some("KeyManagedByKeyVault")),
            "{method} {path}: {refused}"
        );
    }
    let (_, certificate) = call(&server, &admin, Method::GET, "/certificates/source", None).await;
    let (_, secret) = call(&server, &admin, Method::GET, "/secrets/source", None).await;
    assert_eq!(secret["value"].as_str(), Some(pem.as_str()), "the secret is the certificate's still");
    let (_, key) = call(&server, &admin, Method::GET, "/keys/source", None).await;
    assert_eq!(
        key["key"]["kid"].as_str().unwrap().rsplit('/').next(),
        certificate["id"].as_str().unwrap().rsplit('/').next()
    );

    // Deleted with the certificate, its secret and key are recovered and purged only with it.
    let (status, _) = call(&server, &admin, Method::DELETE, "/certificates/source", None).await;
    assert_eq!(status, 200);
    for path in ["/deletedsecrets/source/recover", "/deletedkeys/source/recover"] {
        assert_eq!(call(&server, &admin, Method::POST, path, None).await.0, 403, "{path}");
    }
    for path in ["/deletedsecrets/source", "/deletedkeys/source"] {
        assert_eq!(call(&server, &admin, Method::DELETE, path, None).await.0, 403, "{path}");
    }
    assert_eq!(call(&server, &admin, Method::DELETE, "/deletedcertificates/source", None).await.0, 204);
    assert_eq!(call(&server, &admin, Method::GET, "/deletedsecrets/source", None).await.0, 404);
    assert_eq!(call(&server, &admin, Method::GET, "/deletedkeys/source", None).await.0, 404);

    // Nor does a certificate restore over a plain secret's name.
    let (status, _) =
        call(&server, &admin, Method::POST, "/certificates/moved/create", Some(self_signed("moved.example"))).await;
    assert_eq!(status, 202);
    let (_, blob) = call(&server, &admin, Method::POST, "/certificates/moved/backup", None).await;
    assert_eq!(call(&server, &admin, Method::DELETE, "/certificates/moved", None).await.0, 200);
    assert_eq!(call(&server, &admin, Method::DELETE, "/deletedcertificates/moved", None).await.0, 204);
    let (status, _) = call(&server, &admin, Method::PUT, "/secrets/moved", Some(json!({"value": "plain"}))).await;
    assert_eq!(status, 200);
    let (status, _) = call(&server, &admin, Method::POST, "/certificates/restore", Some(blob)).await;
    assert_eq!(status, 409);
    let (_, secret) = call(&server, &admin, Method::GET, "/secrets/moved", None).await;
    assert_eq!(secret["value"], "plain");
}

#[tokio::test]
async fn a_backup_restores_only_in_the_tenant_that_made_it() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let admin = server.token("contoso", "admin").await;
    let outsider = server.token("fabrikam", "outsider").await;
    let (status, secret_blob) = call(&server, &admin, Method::POST, "/secrets/seeded/backup", None).await;
    assert_eq!(status, 200);
    let (status, _) =
        call(&server, &admin, Method::POST, "/keys/k/create", Some(json!({"kty": "EC", "crv": "P-256"}))).await;
    assert_eq!(status, 200);
    let (_, key_blob) = call(&server, &admin, Method::POST, "/keys/k/backup", None).await;
    let (status, _) =
        call(&server, &admin, Method::POST, "/certificates/c/create", Some(policy("Self", &["c.example"]))).await;
    assert_eq!(status, 202);
    let (_, certificate_blob) = call(&server, &admin, Method::POST, "/certificates/c/backup", None).await;

    for (path, blob) in
        [("/secrets/restore", &secret_blob), ("/keys/restore", &key_blob), ("/certificates/restore", &certificate_blob)]
    {
        let (status, refused) = fabrikam_call(&server, &outsider, Method::POST, path, Some(blob.clone())).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("BadParameter")), "{path}: {refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("another tenant"), "{refused}");
    }
    let (status, _) = fabrikam_call(&server, &outsider, Method::GET, "/secrets/seeded", None).await;
    assert_eq!(status, 404, "contoso's secret never reached fabrikam");

    // In its own tenant the blob restores as before.
    assert_eq!(call(&server, &admin, Method::DELETE, "/secrets/seeded", None).await.0, 200);
    assert_eq!(call(&server, &admin, Method::DELETE, "/deletedsecrets/seeded", None).await.0, 204);
    let (status, restored) = call(&server, &admin, Method::POST, "/secrets/restore", Some(secret_blob)).await;
    assert_eq!(status, 200, "{restored}");
}

#[tokio::test]
async fn rotation_policies_cannot_churn_a_key() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let admin = server.token("contoso", "admin").await;
    let (status, _) =
        call(&server, &admin, Method::POST, "/keys/churned/create", Some(json!({"kty": "EC", "crv": "P-256"}))).await;
    assert_eq!(status, 200);
    let rotate = |trigger: Value, expiry: Option<&str>| {
        let mut policy = json!({"lifetimeActions": [{"trigger": trigger, "action": {"type": "Rotate"}}]});
        if let Some(expiry) = expiry {
            policy["attributes"] = json!({"expiryTime": expiry});
        }
        Some(policy)
    };
    for (policy, why) in [
        (rotate(json!({"timeAfterCreate": "PT1S"}), None), "a new version every sweep"),
        (rotate(json!({"timeAfterCreate": "P6D"}), None), "under Key Vault's 7 days"),
        (rotate(json!({"timeBeforeExpiry": "PT1H"}), None), "an hour before expiry"),
        (rotate(json!({"timeAfterCreate": "P25D"}), Some("P28D")), "less than 7 days before the expiry"),
    ] {
        let (status, refused) = call(&server, &admin, Method::PUT, "/keys/churned/rotationpolicy", policy).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("BadParameter")), "{why}: {refused}");
    }
    let (status, _) = call(
        &server,
        &admin,
        Method::PUT,
        "/keys/churned/rotationpolicy",
        rotate(json!({"timeAfterCreate": "P7D"}), None),
    )
    .await;
    assert_eq!(status, 200, "Key Vault's minimum is accepted");
}

const DOOMED: &str = r#"
[[tenant]]
name = "woodgrove"

[[tenant.app]]
name = "owner"
secrets = ["owner-secret-0123456789"]

[[tenant.role_assignment]]
principal = "owner"
role = "Owner"

[[tenant.vault]]
name = "doomed"

[[tenant.vault.role_assignment]]
principal = "owner"
role = "Key Vault Administrator"
"#;

#[tokio::test]
async fn a_purged_vault_takes_its_certificate_contacts_issuers_and_pending_requests_along() {
    let server = TestServer::start(DOOMED).await;
    let token = server.token("woodgrove", "owner").await;
    let vault_call = |method: Method, path: &str, body: Option<Value>| {
        let path = format!("{path}?api-version=7.6");
        let (server, token) = (&server, &token);
        async move { server.vault_call(method, "doomed", &path, Some(token), body).await.status().as_u16() }
    };
    let contacts = json!({"contacts": [{"email": "pki@woodgrove.example"}]});
    assert_eq!(vault_call(Method::PUT, "/certificates/contacts", Some(contacts)).await, 200);
    let issuer = json!({"provider": "DigiCert", "credentials": {"account_id": "pki", "pwd": "issuer-password"}});
    assert_eq!(vault_call(Method::PUT, "/certificates/issuers/digicert", Some(issuer)).await, 200);
    assert_eq!(
        vault_call(Method::POST, "/certificates/waiting/create", Some(policy("Unknown", &["w.example"]))).await,
        202
    );
    let vault_id = server.running().state().directory().vault("doomed").unwrap().id;
    let store = &server.running().state().store;
    let left = || async {
        let mut names = Vec::new();
        if store.certificate_contacts(vault_id).await.unwrap().is_some() {
            names.push("contacts".to_owned());
        }
        names.extend(store.certificate_issuers(vault_id).await.unwrap().into_iter().map(|i| i.name));
        names.extend(store.pending_certificates(vault_id).await.unwrap().into_iter().map(|p| p.name));
        names
    };
    assert_eq!(left().await.len(), 3, "contacts, issuers and the pending request are kept");

    let (status, management) = server
        .token_request(
            "woodgrove",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &server.client_id("owner")),
                ("client_secret", "owner-secret-0123456789"),
                ("scope", "https://management.azure.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{management}");
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/doomed?api-version=2022-07-01",
        server.authority_host(),
        server.tenant_id("woodgrove")
    );
    let bearer = management["access_token"].as_str().unwrap();
    let deleted = server.http.delete(url).bearer_auth(bearer).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    // As in Azure, a deleted vault is recoverable with everything it held until it is purged.
    assert_eq!(left().await.len(), 3, "a soft-deleted vault keeps its certificate data for a recovery");
    let purge = format!(
        "{}/subscriptions/{}/providers/Microsoft.KeyVault/locations/local/deletedVaults/doomed/purge?api-version=2022-07-01",
        server.authority_host(),
        server.tenant_id("woodgrove")
    );
    assert_eq!(server.http.post(purge).bearer_auth(bearer).send().await.unwrap().status(), 200);
    assert_eq!(left().await, Vec::<String>::new(), "nothing of the vault is left, sealed passwords and keys included");
}

/// A small deterministic generator, so that a failure names its case.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// `valid` with a few bytes flipped, then cut short.
    fn flipped(&mut self, valid: &[u8]) -> Vec<u8> {
        let mut bytes = valid.to_vec();
        for _ in 0..(self.next() % 4 + 1) {
            let at = (self.next() as usize) % bytes.len();
            bytes[at] ^= self.next() as u8 | 1;
        }
        bytes.truncate(bytes.len() - (self.next() as usize) % bytes.len());
        bytes
    }
}

#[tokio::test]
async fn garbage_posted_to_imports_and_restores_is_refused_without_a_server_error() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    let server = TestServer::start(STANDARD_TENANTS).await;
    let admin = server.token("contoso", "admin").await;
    let (_, pem) = {
        let (status, _) =
            call(&server, &admin, Method::POST, "/certificates/good/create", Some(policy("Self", &["good.example"])))
                .await;
        assert_eq!(status, 202);
        call(&server, &admin, Method::GET, "/secrets/good", None).await
    };
    let pem = pem["value"].as_str().unwrap().to_owned();
    let (_, blob) = call(&server, &admin, Method::POST, "/secrets/seeded/backup", None).await;
    let blob = URL_SAFE_NO_PAD.decode(blob["value"].as_str().unwrap()).unwrap();

    let mut random = Xorshift(0x5eed_0f57_0e90_0d00);
    for case in 0..160 {
        // Random bytes, and valid inputs with random bytes flipped or cut short.
        let certificate = match case % 3 {
            0 => STANDARD.encode(random.flipped(pem.as_bytes())),
            1 => String::from_utf8_lossy(&random.flipped(pem.as_bytes())).into_owned(),
            _ => STANDARD.encode(random.bytes(600)),
        };
        let backup = match case % 2 {
            0 => URL_SAFE_NO_PAD.encode(random.flipped(&blob)),
            _ => URL_SAFE_NO_PAD.encode(random.bytes(200)),
        };
        let raw = random.bytes(300);
        let requests = [
            ("/certificates/fuzzed/import", json!({"value": certificate, "pwd": "x"})),
            ("/certificates/restore", json!({"value": backup})),
            ("/secrets/restore", json!({"value": backup})),
            ("/keys/restore", json!({"value": backup})),
        ];
        for (path, body) in requests {
            let (status, answer) = call(&server, &admin, Method::POST, path, Some(body)).await;
            assert!(status < 500, "case {case}, {path}: {status} {answer}");
        }
        let url = format!("{}/certificates/raw/import?api-version=7.6", server.vault_url("billing"));
        let response = server.http.post(url).bearer_auth(&admin).body(raw).send().await.unwrap();
        assert!(response.status().as_u16() < 500, "case {case}, raw body: {}", response.status());
    }
}

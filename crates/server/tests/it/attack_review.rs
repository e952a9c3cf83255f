//! Attacks a review of the merged security work found still open: a workload's address taken from a
//! forwarding header, an assertion replayed within the clock skew after its expiry, users signed in under a
//! confidential application's name without its credential, and workload secrets checked by one Argon2id hash
//! per workload.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::TestServer;

fn error_code(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or_default()
}

async fn form_post(server: &TestServer, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = server.http.post(format!("{}{path}", server.authority_host())).form(form).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// A trusted proxy (here the test's own address) forwards for whoever it serves; an address proof (Cloud
/// Shell, IMDS) must come from the connection itself, or anyone behind the proxy becomes any workload.
#[tokio::test]
async fn a_workload_proves_its_address_by_its_connection_not_by_a_forwarding_header() {
    let config = "trusted_proxies = [\"127.0.0.1/32\"]\n[[tenant]]\nname = \"contoso\"\n\
        [[tenant.managed_identity]]\nname = \"web-01\"\nkind = \"system\"\nsource_addresses = [\"10.1.2.3\"]\n";
    let server = TestServer::start(config).await;
    let response = server
        .http
        .post(format!("{}/msi/token", server.authority_host()))
        .header("Metadata", "true")
        .header("X-Forwarded-For", "10.1.2.3")
        .form(&[("resource", server.resource().as_str())])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
}

/// An assertion is accepted until its expiry plus the clock skew; its id must be remembered as long, or it
/// works again and again in that minute.
#[tokio::test]
async fn an_assertion_is_not_accepted_twice_within_the_clock_skew_after_its_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, config) = crate::attack_lockout::Signer::new(dir.path());
    let server = TestServer::start(&config).await;
    let client_id = server.client_id("signer");
    let audience = format!("{}/{}/oauth2/v2.0/token", server.authority_host(), server.tenant_id("contoso"));
    let now = crate::attack_lockout::now();
    let claims = json!({"iss": client_id, "sub": client_id, "aud": audience, "iat": now - 300, "exp": now - 5,
        "jti": "late-1"});
    let assertion = signer.sign(&claims);
    let (status, body) = crate::attack_lockout::present(&server, &server.http, &client_id, &assertion).await;
    assert_eq!(status, 200, "within the clock skew: {body}");
    let (status, body) = crate::attack_lockout::present(&server, &server.http, &client_id, &assertion).await;
    assert_eq!((status, error_code(&body)), (401, 50012), "{body}");
}

/// Entra refuses the password and device-code grants of a confidential application that does not prove
/// itself (AADSTS7000218): otherwise anyone signs users in under its name.
#[tokio::test]
async fn a_confidential_application_signs_no_user_in_without_its_credential() {
    let config = "[[tenant]]\nname = \"contoso\"\n[[tenant.app]]\nname = \"portal\"\n\
        secrets = [\"portal-secret-0123456789\"]\n[[tenant.user]]\nname = \"alice\"\npassword = \"Correct-Horse-7\"\n";
    let server = TestServer::start(config).await;
    let client_id = server.client_id("portal");
    let scope = format!("{}/.default", server.resource());
    let password = [
        ("grant_type", "password"),
        ("client_id", client_id.as_str()),
        ("username", "alice@contoso"),
        ("password", "Correct-Horse-7"),
        ("scope", scope.as_str()),
    ];
    let (status, body) = form_post(&server, "/contoso/oauth2/v2.0/token", &password).await;
    assert_eq!((status, error_code(&body)), (401, 7000218), "{body}");
    let mut with_secret = password.to_vec();
    with_secret.push(("client_secret", "portal-secret-0123456789"));
    let (status, body) = form_post(&server, "/contoso/oauth2/v2.0/token", &with_secret).await;
    assert_eq!(status, 200, "with its secret it may: {body}");

    let (status, device) = form_post(
        &server,
        "/contoso/oauth2/v2.0/devicecode",
        &[("client_id", client_id.as_str()), ("scope", scope.as_str())],
    )
    .await;
    assert_eq!(status, 200, "{device}");
    let device_code = device["device_code"].as_str().unwrap().to_owned();
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", client_id.as_str()),
        ("device_code", device_code.as_str()),
    ];
    let (status, body) = form_post(&server, "/contoso/oauth2/v2.0/token", &poll).await;
    assert_eq!((status, error_code(&body)), (401, 7000218), "{body}");
}

/// A workload's secret is found by its keyed hash in one step; checked against each workload's Argon2id hash
/// (tens of milliseconds each), a token request costs as much as there are workloads.
#[tokio::test]
async fn a_workload_secret_is_found_without_an_argon2_check_per_workload() {
    const WORKLOADS: usize = 48;
    let mut config = String::from("[[tenant]]\nname = \"contoso\"\n");
    for n in 0..WORKLOADS {
        config.push_str(&format!(
            "[[tenant.managed_identity]]\nname = \"web-{n:02}\"\nkind = \"system\"\n\
            identity_header = \"web-{n:02}-identity-header-0123456789\"\n"
        ));
    }
    let server = TestServer::start(&config).await;
    let resource: String = form_urlencoded::byte_serialize(server.resource().as_bytes()).collect();
    let started = Instant::now();
    for n in (0..WORKLOADS).step_by(WORKLOADS / 8) {
        let response = server
            .http
            .get(format!("{}/msi/token?api-version=2019-08-01&resource={resource}", server.authority_host()))
            .header("X-IDENTITY-HEADER", format!("web-{n:02}-identity-header-0123456789"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "web-{n:02}");
    }
    let elapsed = started.elapsed();
    // With one Argon2id hash per workload, eight requests over 48 workloads took several seconds.
    assert!(elapsed < Duration::from_secs(2), "8 managed-identity token requests took {elapsed:?}");
}

/// A user answers to two names (`alice`, `alice@contoso`); each spelling had a guessing budget of its own, so
/// an attacker had twice the guesses before the lock-out.
#[tokio::test]
async fn two_spellings_of_a_user_share_one_guessing_budget() {
    let config = "[[tenant]]\nname = \"contoso\"\n[[tenant.app]]\nname = \"cli\"\n\
        [[tenant.user]]\nname = \"alice\"\npassword = \"Correct-Horse-7\"\n";
    let server = TestServer::start(config).await;
    let client_id = server.client_id("cli");
    let scope = format!("{}/.default", server.resource());
    let sign_in = |from: &str, username: &'static str, password: &'static str| {
        let client = server.http_from(from.parse().unwrap());
        let url = format!("{}/contoso/oauth2/v2.0/token", server.authority_host());
        let form = [
            ("grant_type", "password".to_owned()),
            ("client_id", client_id.clone()),
            ("username", username.to_owned()),
            ("password", password.to_owned()),
            ("scope", scope.clone()),
        ];
        async move {
            let response = client.post(url).form(&form).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    // Five guesses under each name, each from an address of its own (so no address reaches its limit).
    for _ in 0..5 {
        sign_in("127.0.0.2", "alice", "guess").await;
        sign_in("127.0.0.3", "alice@contoso", "guess").await;
    }
    let (_, body) = sign_in("127.0.0.5", "alice", "Correct-Horse-7").await;
    assert_eq!(error_code(&body), 50053, "ten failures against one user, whatever it was called: {body}");
}

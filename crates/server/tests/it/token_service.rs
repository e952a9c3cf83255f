//! The token endpoint and discovery, against Entra's error codes.

use serde_json::Value;

use crate::harness::{STANDARD_TENANTS, TestServer};

fn codes(body: &Value) -> Vec<u64> {
    body["error_codes"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect()
}

#[tokio::test]
async fn discovery_names_every_endpoint_sdks_need() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let tenant = server.tenant_id("contoso");
    for reference in [tenant.as_str(), "contoso"] {
        let url = format!("{}/{reference}/v2.0/.well-known/openid-configuration", server.authority_host());
        let doc: Value = server.http.get(url).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["issuer"], format!("{}/{tenant}/v2.0", server.authority_host()));
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "device_authorization_endpoint",
            "jwks_uri",
            "end_session_endpoint",
        ] {
            assert!(doc[key].as_str().unwrap().starts_with("https://localhost:"), "{key}: {doc}");
        }
        let keys: Value =
            server.http.get(doc["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
        assert_eq!(keys["keys"][0]["kty"], "RSA");
        assert_eq!(keys["keys"][0]["e"], "AQAB");
    }
    let url = format!("{}/nowhere/v2.0/.well-known/openid-configuration", server.authority_host());
    let response = server.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(codes(&response.json().await.unwrap()), [90002]);
}

#[tokio::test]
async fn token_errors_carry_entra_codes() {
    let mut server = TestServer::start(STANDARD_TENANTS).await;
    let client_id = server.client_id("admin");
    let scope = format!("{}/.default", server.resource());
    let good = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", "admin-secret-0123456789"),
        ("scope", scope.as_str()),
        ("client_info", "1"),
        ("claims", r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#),
        ("x-client-SKU", "test"),
    ];
    let with = |key: &str, value: &'static str| {
        good.iter().map(|&(k, v)| if k == key { (k, value) } else { (k, v) }).collect::<Vec<_>>()
    };

    let (status, body) = server.token_request("contoso", &good).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["expires_in"].is_u64());
    assert_eq!(body["token_type"], "Bearer");

    // (tenant, form, status, error, AADSTS code)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        ("nowhere", good.to_vec(), 400, "invalid_request", 90002),
        ("contoso", with("client_id", "00000000-0000-4000-8000-000000000000"), 400, "unauthorized_client", 700016),
        ("fabrikam", good.to_vec(), 400, "unauthorized_client", 700016),
        ("contoso", with("client_secret", "wrong-secret"), 401, "invalid_client", 7000215),
        ("contoso", with("scope", "https://storage.azure.com/.default"), 400, "invalid_resource", 500011),
        ("contoso", with("scope", "https://vault.localhost/user_impersonation"), 400, "invalid_scope", 70011),
        (
            "contoso",
            with("grant_type", "urn:ietf:params:oauth:grant-type:saml2-bearer"),
            400,
            "unsupported_grant_type",
            70003,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let (got_status, body) = server.token_request(tenant, &form).await;
        assert_eq!((got_status, body["error"].as_str().unwrap()), (status, error), "{body}");
        assert_eq!(codes(&body), [code]);
        assert!(body["error_description"].as_str().unwrap().starts_with(&format!("AADSTS{code}:")));
    }

    let missing: Vec<_> = good.iter().filter(|(k, _)| *k != "client_secret").copied().collect();
    let (status, body) = server.token_request("contoso", &missing).await;
    assert_eq!((status, codes(&body)), (401, vec![7000218]));

    // Every token request is in the sign-in log, with its outcome, and no credential is.
    server.server.take().unwrap().stop().await;
    let log = std::fs::read_to_string(server.dir.path().join("audit.log")).unwrap();
    let records: Vec<Value> = log.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let sign_ins: Vec<&Value> = records.iter().filter(|r| r["OperationName"] == "Sign-in activity").collect();
    assert_eq!(sign_ins.len(), 9, "{log}");
    assert!(sign_ins.iter().any(|r| r["ResultType"] == "7000215" && r["ResultSignature"] == "FAILURE"));
    assert!(sign_ins.iter().any(|r| r["ResultType"] == "0" && r["AppId"] == client_id));
    assert!(sign_ins.iter().any(|r| r["Category"] == "ServicePrincipalSignInLogs"));
    assert!(!log.contains("admin-secret-0123456789") && !log.contains("wrong-secret"));
}

#[tokio::test]
async fn the_v1_endpoint_takes_a_resource_and_answers_in_strings() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let client_id = server.client_id("admin");
    let resource = server.resource();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", "admin-secret-0123456789"),
        ("resource", resource.as_str()),
    ];
    let v1 = format!("{}/contoso/oauth2/token", server.authority_host());
    let body: Value = server.http.post(&v1).form(&form).send().await.unwrap().json().await.unwrap();
    assert!(body["expires_in"].is_string() && body["expires_on"].is_string(), "{body}");
    assert_eq!(body["resource"], resource);
    let token = body["access_token"].as_str().unwrap();
    let read =
        server.vault_call(reqwest::Method::GET, "billing", "/secrets/seeded?api-version=7.6", Some(token), None).await;
    assert_eq!(read.status(), 200);

    let (status, body) = server.token_request("contoso", &form).await;
    assert_eq!((status, codes(&body)), (400, vec![901002]), "the v2.0 endpoint refuses `resource`");

    let url = format!("{}/contoso/.well-known/openid-configuration", server.authority_host());
    let doc: Value = server.http.get(url).send().await.unwrap().json().await.unwrap();
    assert!(doc["token_endpoint"].as_str().unwrap().ends_with("/oauth2/token"), "{doc}");
}

#[tokio::test]
async fn signing_keys_rotate_and_old_tokens_stay_valid() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let before = server.token("contoso", "admin").await;
    let state = server.running().state();
    let kid = |token: &str| {
        use base64::Engine;
        let header = token.split('.').next().unwrap();
        let header: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };

    // A rotation stored by another process (the CLI) is taken up by the maintenance loop's next pass.
    let now = state.clock.now_seconds();
    strongroom_server::signing::rotate(state.store.as_ref(), 3600, now).await.unwrap();
    strongroom_server::signing::maintain(state.store.as_ref(), &state.keys, 3600, 30, now, true).await.unwrap();

    let after = server.token("contoso", "admin").await;
    assert_ne!(kid(&before), kid(&after));
    let jwks = format!("{}/contoso/discovery/v2.0/keys", server.authority_host());
    let keys: Value = server.http.get(jwks).send().await.unwrap().json().await.unwrap();
    let published: Vec<&str> = keys["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(published, [kid(&after), kid(&before)]);
    for token in [&before, &after] {
        let read = server
            .vault_call(reqwest::Method::GET, "billing", "/secrets/seeded?api-version=7.6", Some(token), None)
            .await;
        assert_eq!(read.status(), 200);
    }

    // Once the rotation period has passed, the maintenance pass rotates by itself.
    let later = now + 31 * 86_400;
    strongroom_server::signing::maintain(state.store.as_ref(), &state.keys, 3600, 30, later, true).await.unwrap();
    let kids: Vec<String> = state.keys.get().keys().iter().map(|k| k.kid().to_owned()).collect();
    assert_eq!(kids.len(), 2, "the key just replaced stays; the one before it, whose tokens all expired, goes");
    assert_eq!(kids[1], kid(&after));
    assert!(!kids.contains(&kid(&before)));
}

#[tokio::test]
async fn an_expired_client_secret_is_refused_while_a_current_one_works() {
    let config = "[[tenant]]\nname = \"contoso\"\n[[tenant.app]]\nname = \"rotating\"\nsecrets = [\n  \
        { value = \"old-secret-0123456789\", expires = \"2020-01-01T00:00:00Z\" },\n  \
        { value = \"new-secret-0123456789\", expires = \"2099-01-01T00:00:00Z\" },\n]\n";
    let server = TestServer::start(config).await;
    let client_id = server.client_id("rotating");
    let scope = format!("{}/.default", server.resource());
    for (secret, status, code) in [("old-secret-0123456789", 401, Some(7000222)), ("new-secret-0123456789", 200, None)]
    {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret),
            ("scope", scope.as_str()),
        ];
        let (got, body) = server.token_request("contoso", &form).await;
        assert_eq!(got, status, "{body}");
        if let Some(code) = code {
            assert_eq!(codes(&body), [code]);
        }
    }
}

#[tokio::test]
async fn a_multi_tenant_application_signs_in_to_another_tenant_as_its_service_principal() {
    let client = "5b7a1c2d-0000-4000-8000-00000000b111";
    let config = format!(
        "[[tenant]]\nname = \"contoso\"\n[[tenant.app]]\nname = \"billing-api\"\nclient_id = \"{client}\"\n\
         secrets = [\"billing-secret-0123456789\"]\nsign_in_audience = \"multiple_tenants\"\n\
         [[tenant]]\nname = \"fabrikam\"\n[[tenant.service_principal]]\napp = \"{client}\"\n\
         [[tenant.vault]]\nname = \"fabrikam-vault\"\n[[tenant.vault.role_assignment]]\nprincipal = \"billing-api\"\n\
         role = \"Key Vault Secrets User\"\n[[tenant.vault.secret]]\nname = \"shared\"\nvalue = \"across-tenants\"\n"
    );
    let server = TestServer::start(&config).await;
    let scope = format!("{}/.default", server.resource());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", "billing-secret-0123456789"),
        ("scope", scope.as_str()),
    ];
    let mut oids = vec![];
    for tenant in ["contoso", "fabrikam"] {
        let (status, body) = server.token_request(tenant, &form).await;
        assert_eq!(status, 200, "{tenant}: {body}");
        let token = body["access_token"].as_str().unwrap().to_owned();
        let claims: Value = {
            use base64::Engine;
            let payload = token.split('.').nth(1).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        };
        assert_eq!(claims["tid"], server.tenant_id(tenant));
        oids.push(claims["oid"].as_str().unwrap().to_owned());
        let read = server
            .vault_call(reqwest::Method::GET, "fabrikam-vault", "/secrets/shared?api-version=7.6", Some(&token), None)
            .await;
        let expected = if tenant == "fabrikam" { 200 } else { 401 };
        assert_eq!(read.status(), expected, "{tenant}'s token on fabrikam's vault");
    }
    assert_ne!(oids[0], oids[1], "the service principal has its own object id");
}

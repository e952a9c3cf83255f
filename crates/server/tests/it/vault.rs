//! Secrets through the whole pipeline: permissions, paging, persistence, audit.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{STANDARD_TENANTS, TestServer, vault_error};

const API: &str = "api-version=7.6";

#[tokio::test]
async fn each_role_gets_exactly_its_operations() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let set = json!({"value": "v"});
    // (app, set, get, list)
    let expectations = [
        ("admin", 200, 200, 200),
        ("secrets-user", 403, 200, 200),
        ("reader", 403, 403, 200),
        ("nobody", 403, 403, 403),
    ];
    for (app, set_status, get_status, list_status) in expectations {
        let token = server.token("contoso", app).await;
        let put = server
            .vault_call(Method::PUT, "billing", &format!("/secrets/by-{app}?{API}"), Some(&token), Some(set.clone()))
            .await;
        let get =
            server.vault_call(Method::GET, "billing", &format!("/secrets/seeded?{API}"), Some(&token), None).await;
        let list = server.vault_call(Method::GET, "billing", &format!("/secrets?{API}"), Some(&token), None).await;
        let statuses = (put.status().as_u16(), get.status().as_u16(), list.status().as_u16());
        assert_eq!(statuses, (set_status, get_status, list_status), "{app}");
        if set_status == 403 {
            let (_, error) = vault_error(put).await;
            assert_eq!(error["innererror"]["code"], "ForbiddenByRbac", "{app}");
            assert!(error["message"].as_str().unwrap().contains("secrets/setSecret/action"));
        }
    }
}

#[tokio::test]
async fn versions_pages_and_ids_follow_key_vault() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let token = server.token("contoso", "admin").await;
    let base = server.vault_url("billing");
    let mut versions = vec![];
    for value in ["one", "two", "three"] {
        let body = json!({"value": value, "contentType": "text/plain", "tags": {"n": value}});
        let response =
            server.vault_call(Method::PUT, "billing", &format!("/secrets/Multi?{API}"), Some(&token), Some(body)).await;
        assert_eq!(response.status(), 200);
        let bundle: Value = response.json().await.unwrap();
        let id = bundle["id"].as_str().unwrap().to_owned();
        let version = id.rsplit('/').next().unwrap().to_owned();
        assert_eq!(id, format!("{base}/secrets/Multi/{version}"));
        assert!(version.len() == 32 && version.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(bundle["attributes"]["recoveryLevel"], "Recoverable+Purgeable");
        versions.push(version);
    }
    for (path, expected) in [("/secrets/multi", "three"), ("/secrets/MULTI/", "three")] {
        let response = server.vault_call(Method::GET, "billing", &format!("{path}?{API}"), Some(&token), None).await;
        let bundle: Value = response.json().await.unwrap();
        assert_eq!(bundle["value"], expected);
        assert_eq!(bundle["tags"]["n"], expected);
    }
    let old = server
        .vault_call(Method::GET, "billing", &format!("/secrets/multi/{}?{API}", versions[0]), Some(&token), None)
        .await;
    assert_eq!(old.json::<Value>().await.unwrap()["value"], "one");

    // Versions, two per page, following nextLink as SDKs do.
    let mut url = format!("{base}/secrets/multi/versions?{API}&maxresults=2");
    let mut seen = vec![];
    let mut pages = 0;
    loop {
        let page: Value = server.http.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        pages += 1;
        for item in page["value"].as_array().unwrap() {
            assert!(item.get("value").is_none());
            seen.push(item["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned());
        }
        match page["nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&base), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!((pages, seen), (2, versions));

    let missing =
        server.vault_call(Method::GET, "billing", &format!("/secrets/absent?{API}"), Some(&token), None).await;
    let (status, error) = vault_error(missing).await;
    assert_eq!((status, error["code"].as_str().unwrap()), (404, "SecretNotFound"));
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let token = server.token("contoso", "admin").await;
    let too_long = format!("/secrets/{}", "n".repeat(128));
    let cases = [
        ("/secrets/bad_name", json!({"value": "v"}), "invalid name"),
        (too_long.as_str(), json!({"value": "v"}), "invalid name"),
        ("/secrets/long-tag", json!({"value": "v", "tags": {"k": "v".repeat(257)}}), "Tag"),
        ("/secrets/not-json", json!("just a string"), "not a valid"),
        ("/secrets/no-value", json!({"contentType": "x"}), "value"),
        ("/secrets/too-big", json!({"value": "x".repeat(25 * 1024 + 1)}), "maximum"),
        ("/secrets/long-type", json!({"value": "v", "contentType": "t".repeat(256)}), "contentType"),
        (
            "/secrets/many-tags",
            json!({"value": "v", "tags": (0..16).map(|i| (format!("t{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            "tags",
        ),
    ];
    for (path, body, rule) in &cases {
        let response =
            server.vault_call(Method::PUT, "billing", &format!("{path}?{API}"), Some(&token), Some(body.clone())).await;
        let (status, error) = vault_error(response).await;
        assert_eq!((status, error["code"].as_str().unwrap()), (400, "BadParameter"), "{path}");
        assert!(error["message"].as_str().unwrap().contains(rule), "{path}: {error}");
    }
    let response = server.vault_call(Method::GET, "billing", &format!("/secrets?{API}"), Some(&token), None).await;
    let names: Vec<String> = response.json::<Value>().await.unwrap()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["seeded"]);

    for query in ["api-version=1.0", "", "api-version=7.6&maxresults=30"] {
        let response =
            server.vault_call(Method::GET, "billing", &format!("/secrets?{query}"), Some(&token), None).await;
        assert_eq!(vault_error(response).await.0, 400, "{query}");
    }
    let js_style =
        server.vault_call(Method::GET, "billing", "/secrets?api%2Dversion=2025-07-01", Some(&token), None).await;
    assert_eq!(js_style.status(), 200);
}

#[tokio::test]
async fn secrets_survive_a_restart_sealed_and_every_request_is_audited() {
    let mut server = TestServer::start(STANDARD_TENANTS).await;
    let token = server.token("contoso", "admin").await;
    let value = "plaintext-canary-7f3a9c";
    let put = server
        .vault_call(
            Method::PUT,
            "billing",
            &format!("/secrets/canary?{API}"),
            Some(&token),
            Some(json!({"value": value})),
        )
        .await;
    assert_eq!(put.status(), 200);

    server.restart().await;
    let token = server.token("contoso", "admin").await;
    let get = server.vault_call(Method::GET, "billing", &format!("/secrets/canary?{API}"), Some(&token), None).await;
    assert_eq!(get.json::<Value>().await.unwrap()["value"], value);
    // Provisioning ran again on restart without duplicating the seeded secret.
    let versions =
        server.vault_call(Method::GET, "billing", &format!("/secrets/seeded/versions?{API}"), Some(&token), None).await;
    assert_eq!(versions.json::<Value>().await.unwrap()["value"].as_array().unwrap().len(), 1);

    let server_dir = server.dir.path().to_owned();
    server.server.take().unwrap().stop().await;
    for entry in std::fs::read_dir(&server_dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for secret in [value, "seeded-value-42", "admin-secret-0123456789"] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{name} contains {secret}");
        }
        if name == "audit.log" {
            let text = String::from_utf8(bytes).unwrap();
            let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert!(records.len() >= 3);
            assert!(!text.contains(&token), "the audit log holds a token");
            let set = records.iter().find(|r| r["OperationName"] == "SecretSet").unwrap();
            assert_eq!(set["HttpStatusCode"], 200);
            assert_eq!(set["IsRbacAuthorized"], true);
            assert!(
                set["Identity"]["claim"]["http://schemas.microsoft.com/identity/claims/objectidentifier"].is_string()
            );
        }
    }
}

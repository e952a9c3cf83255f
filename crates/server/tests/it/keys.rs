//! Keys over the wire where the SDK suites cannot go: the rotation scheduler under a moved clock, every
//! spelling of a route the SDKs send, and Key Vault's exact refusals.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{STANDARD_TENANTS, TestServer, audited, billing_call, billing_versions};

const DAY: i64 = 86_400;

async fn call(server: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    billing_call(server, token, method, path, body).await
}

async fn versions(server: &TestServer, token: &str, name: &str) -> Vec<Value> {
    billing_versions(server, token, "keys", name).await
}

#[tokio::test]
async fn rotation_policies_rotate_keys_and_note_expiry_when_the_scheduler_clock_says_so() {
    let mut server = TestServer::start(STANDARD_TENANTS).await;
    let token = server.token("contoso", "admin").await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    for (name, body) in [
        ("due", json!({"kty": "RSA", "key_size": 2048})),
        ("later", json!({"kty": "EC", "crv": "P-256"})),
        ("expiring", json!({"kty": "EC-HSM", "crv": "P-256", "attributes": {"exp": now + 35 * DAY}})),
    ] {
        let (status, created) = call(&server, &token, Method::POST, &format!("/keys/{name}/create"), Some(body)).await;
        assert_eq!(status, 200, "{created}");
    }
    let policy = |after: &str| {
        json!({
            "lifetimeActions": [{"trigger": {"timeAfterCreate": after}, "action": {"type": "rotate"}}],
            "attributes": {"expiryTime": "P90D"}
        })
    };
    let (status, set) = call(&server, &token, Method::PUT, "/keys/due/rotationpolicy", Some(policy("P30D"))).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["lifetimeActions"][0]["action"]["type"], "Rotate", "the action type is spelt as Key Vault does");
    assert!(set["id"].as_str().unwrap().ends_with("/keys/due/rotationpolicy"));
    assert_eq!(call(&server, &token, Method::PUT, "/keys/later/rotationpolicy", Some(policy("P60D"))).await.0, 200);
    let notify = json!({"lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P10D"}, "action": {"type": "Notify"}}]});
    assert_eq!(call(&server, &token, Method::PUT, "/keys/expiring/rotationpolicy", Some(notify)).await.0, 200);

    // Forty days on by the server's clock (a restart runs the scheduler): `due` is past its 30 days, `later` not past its 60, and
    // `expiring` is inside its last 10 days.
    server.clock.set_offset_seconds(40 * DAY);
    server.restart().await;
    // A new port is a new issuer.
    let token = server.token("contoso", "admin").await;
    let mut rotated = Vec::new();
    for _ in 0..50 {
        rotated = versions(&server, &token, "due").await;
        if rotated.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rotated.len(), 2, "the scheduler made one new version");
    let (_, latest) = call(&server, &token, Method::GET, "/keys/due", None).await;
    let attributes = &latest["attributes"];
    assert_eq!(
        attributes["exp"].as_i64().unwrap() - attributes["created"].as_i64().unwrap(),
        90 * DAY,
        "the new version lives for the policy's expiryTime"
    );
    assert_eq!(latest["key"]["kty"], "RSA");
    assert_eq!(versions(&server, &token, "later").await.len(), 1);
    assert_eq!(versions(&server, &token, "expiring").await.len(), 1, "a Notify action never rotates");

    let event = |operation: &str, name: &str| audited(&server, operation, "keys", name);
    assert!(event("KeyRotateByPolicy", "due"));
    assert!(event("KeyNearExpiry", "expiring"));
    assert!(!event("KeyRotateByPolicy", "later"));
}

#[tokio::test]
async fn rotation_policies_key_vault_refuses_are_refused_and_change_nothing() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let token = server.token("contoso", "admin").await;
    let (status, _) = call(&server, &token, Method::POST, "/keys/k/create", Some(json!({"kty": "EC"}))).await;
    assert_eq!(status, 200);
    let (status, default) = call(&server, &token, Method::GET, "/keys/k/rotationpolicy", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        default["lifetimeActions"],
        json!([{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}]),
        "a key without a policy has Key Vault's default"
    );
    for bad in [
        json!({"lifetimeActions": [], "attributes": {"expiryTime": "P27D"}}),
        json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "30 days"}, "action": {"type": "Rotate"}}]}),
        json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D", "timeBeforeExpiry": "P7D"}, "action": {"type": "Rotate"}}]}),
        json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Renew"}}]}),
    ] {
        let (status, error) = call(&server, &token, Method::PUT, "/keys/k/rotationpolicy", Some(bad.clone())).await;
        assert_eq!((status, error["error"]["code"].as_str()), (400, Some("BadParameter")), "{bad}");
    }
    let (_, after) = call(&server, &token, Method::GET, "/keys/k/rotationpolicy", None).await;
    assert_eq!(after["lifetimeActions"], default["lifetimeActions"]);
    let (status, _) = call(&server, &token, Method::GET, "/keys/missing/rotationpolicy", None).await;
    assert_eq!(status, 404);
    for count in [0, 129] {
        let (status, _) = call(&server, &token, Method::POST, "/rng", Some(json!({"count": count}))).await;
        assert_eq!(status, 400, "count {count}");
    }
    let (status, random) = call(&server, &token, Method::POST, "/rng", Some(json!({"count": 128}))).await;
    assert_eq!(status, 200);
    assert_eq!(random["value"].as_str().unwrap().len(), 171, "128 bytes in base64url");
    let reader = server.token("contoso", "reader").await;
    let (status, _) = call(&server, &reader, Method::POST, "/rng", Some(json!({"count": 8}))).await;
    assert_eq!(status, 403, "the Key Vault Reader may not draw random bytes");
}

#[tokio::test]
async fn a_vault_refuses_symmetric_keys_as_key_vault_does() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let token = server.token("contoso", "admin").await;
    let refused = |kty: &str| {
        json!({"error": {
            "code": "BadParameter",
            "message": format!("Invalid kty value: {kty}"),
            "innererror": {"code": "KeyTypeNotSupported"}
        }})
    };
    for kty in ["oct", "oct-HSM"] {
        let create = json!({"kty": kty, "key_size": 256});
        let (status, error) = call(&server, &token, Method::POST, "/keys/aes/create", Some(create)).await;
        assert_eq!((status, error), (400, refused(kty)), "create {kty}");
    }
    let jwk = json!({"kty": "oct", "k": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"});
    let (status, error) = call(&server, &token, Method::PUT, "/keys/aes", Some(json!({"key": jwk}))).await;
    assert_eq!((status, error), (400, refused("oct")), "import");
    let (status, _) = call(&server, &token, Method::GET, "/keys/aes", None).await;
    assert_eq!(status, 404, "nothing was written");
}

#[tokio::test]
async fn every_route_spelling_the_sdks_send_answers_as_key_vault_does() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let token = server.token("contoso", "admin").await;
    let hsm = json!({"kty": "RSA-HSM", "key_size": 2048, "key_ops": ["sign", "verify"]});
    let (status, created) = call(&server, &token, Method::POST, "/keys/spelt/create", Some(hsm)).await;
    assert_eq!(status, 200, "{created}");
    let kid = created["key"]["kid"].as_str().unwrap().to_owned();
    let version = kid.rsplit('/').next().unwrap().to_owned();
    let (status, _) = call(&server, &token, Method::PUT, "/secrets/spelt/", Some(json!({"value": "v"}))).await;
    assert_eq!(status, 200, "a trailing slash on a set names the same secret");

    // Each spelling answers 200 with the latest version, or with the version it names.
    let kid_of = |body: &Value| body["key"]["kid"].as_str().or(body["kid"].as_str()).map(str::to_owned);
    for (method, path) in [
        (Method::GET, "/keys/spelt".to_owned()),
        (Method::GET, "/keys/spelt/".to_owned()),
        (Method::GET, format!("/keys/spelt/{version}")),
        (Method::GET, format!("/keys/spelt/{version}/")),
        // JavaScript's getKeyAttestation(name) sends no version segment; Python, Go and Java an empty one.
        (Method::GET, "/keys/spelt/attestation".to_owned()),
        (Method::GET, "/keys/spelt//attestation".to_owned()),
        (Method::GET, format!("/keys/spelt/{version}/attestation")),
        (Method::GET, "/keys/spelt/attestation/".to_owned()),
        (Method::PATCH, "/keys/spelt/".to_owned()),
        (Method::PATCH, format!("/keys/spelt/{version}")),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"tags": {"spelt": "yes"}}));
        let (status, answer) = call(&server, &token, method.clone(), &path, body).await;
        assert_eq!((status, kid_of(&answer)), (200, Some(kid.clone())), "{method} {path}: {answer}");
    }
    let digest = json!({"alg": "RS256", "value": "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"});
    for path in ["/keys/spelt/sign".to_owned(), "/keys/spelt//sign".to_owned(), format!("/keys/spelt/{version}/sign")] {
        let (status, answer) = call(&server, &token, Method::POST, &path, Some(digest.clone())).await;
        assert_eq!((status, kid_of(&answer)), (200, Some(kid.clone())), "POST {path}: {answer}");
    }
    for (path, listed) in [
        ("/keys", "kid"),
        ("/keys/", "kid"),
        ("/keys/spelt/versions", "kid"),
        ("/keys/spelt/versions/", "kid"),
        ("/secrets/", "id"),
        ("/deletedkeys/", "kid"),
        ("/certificates/issuers/", "id"),
    ] {
        let (status, page) = call(&server, &token, Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {page}");
        let items = page["value"].as_array().unwrap();
        assert!(items.iter().all(|item| item[listed].is_string()), "GET {path}: {page}");
    }
    let (status, secret) = call(&server, &token, Method::GET, "/secrets/spelt/", None).await;
    assert_eq!((status, secret["value"].as_str()), (200, Some("v")));

    // A version that does not exist is still 404, whichever way the path is spelt.
    for path in ["/keys/spelt/0123456789abcdef0123456789abcdef/attestation", "/keys/absent/attestation"] {
        let (status, error) = call(&server, &token, Method::GET, path, None).await;
        assert_eq!((status, error["error"]["code"].as_str()), (404, Some("KeyNotFound")), "{path}");
    }
}

#[tokio::test]
async fn an_operation_outside_the_keys_key_ops_is_forbidden_as_key_vault_says_it() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let token = server.token("contoso", "admin").await;
    let create = json!({"kty": "RSA", "key_size": 2048, "key_ops": ["sign", "verify"]});
    let (status, _) = call(&server, &token, Method::POST, "/keys/signer/create", Some(create)).await;
    assert_eq!(status, 200);
    let value = json!({"alg": "RSA-OAEP", "value": "AAEC"});
    for operation in ["encrypt", "decrypt", "wrapkey", "unwrapkey"] {
        let (status, error) =
            call(&server, &token, Method::POST, &format!("/keys/signer/{operation}"), Some(value.clone())).await;
        let wire_name = match operation {
            "wrapkey" => "wrapKey",
            "unwrapkey" => "unwrapKey",
            other => other,
        };
        assert_eq!(
            (status, error),
            (
                403,
                json!({"error": {
                    "code": "Forbidden",
                    "message": format!("Operation {wire_name} is not permitted on this key."),
                    "innererror": {"code": "KeyOperationForbidden"}
                }})
            ),
            "{operation}"
        );
    }
    let digest = json!({"alg": "RS256", "value": "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"});
    let (status, _) = call(&server, &token, Method::POST, "/keys/signer/sign", Some(digest)).await;
    assert_eq!(status, 200, "what key_ops lists still runs");
}

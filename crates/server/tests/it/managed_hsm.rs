//! Managed HSM: only its own local role assignments open it, at the scope they name; vault tokens, Azure roles
//! and other tenants never do; its role management cannot be used to climb above the scope it is held at.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::TestServer;

/// The standard tenants plus, in contoso, the HSM `keys-hsm`: `admin` administers it, `secrets-user` uses
/// every key, `reader` only `k1`, `nobody` holds Azure's highest roles and nothing in the HSM.
const HSM: &str = r#"
[[tenant.managed_hsm]]
name = "keys-hsm"
administrators = ["admin"]
activated = true

[[tenant.managed_hsm.role_assignment]]
principal = "secrets-user"
role = "Managed HSM Crypto User"

[[tenant.managed_hsm.role_assignment]]
principal = "reader"
role = "Managed HSM Crypto User"
scope = "/keys/k1"

[[tenant.role_assignment]]
principal = "nobody"
role = "Owner"

[[tenant.role_assignment]]
principal = "nobody"
role = "Key Vault Administrator"
"#;

async fn start() -> TestServer {
    TestServer::start(&format!("{}{HSM}", crate::harness::STANDARD_TENANTS)).await
}

/// `method path` at the HSM with `token`: status and JSON body (`null` when none).
async fn hsm_call(server: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{separator}api-version=7.6", server.hsm_url("keys-hsm"));
    let mut request = server.http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn only_the_hsms_own_assignments_open_it_and_only_at_their_scope() {
    let server = start().await;
    let user = server.hsm_token("contoso", "secrets-user").await;
    let admin = server.hsm_token("contoso", "admin").await;
    let reader = server.hsm_token("contoso", "reader").await;
    let nobody = server.hsm_token("contoso", "nobody").await;

    // The crypto user makes keys; every one is a hardware key, as in Managed HSM.
    for (name, body, kty) in [
        ("k1", json!({"kty": "RSA", "key_size": 2048}), "RSA-HSM"),
        ("k2", json!({"kty": "oct", "key_size": 256}), "oct-HSM"),
    ] {
        let (status, key) = hsm_call(&server, &user, Method::POST, &format!("/keys/{name}/create"), Some(body)).await;
        assert_eq!((status, key["key"]["kty"].as_str()), (200, Some(kty)), "{key}");
        assert!(key["key"]["k"].is_null(), "an AES key never leaves the HSM");
    }
    // The administrator manages the HSM, not its keys.
    let (status, body) = hsm_call(&server, &admin, Method::GET, "/keys/k1", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AccessDenied")), "{body}");
    // A role at one key reaches that key only, and never the collection.
    assert_eq!(hsm_call(&server, &reader, Method::GET, "/keys/k1", None).await.0, 200);
    let digest = json!({"alg": "RS256", "value": "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"});
    assert_eq!(hsm_call(&server, &reader, Method::POST, "/keys/k1/sign", Some(digest)).await.0, 200);
    assert_eq!(hsm_call(&server, &reader, Method::GET, "/keys/k2", None).await.0, 403);
    assert_eq!(hsm_call(&server, &reader, Method::GET, "/keys", None).await.0, 403);
    // Azure's Owner and Key Vault Administrator of the whole tenant hold nothing here.
    for path in ["/keys", "/keys/k1", "/providers/Microsoft.Authorization/roleAssignments"] {
        let (status, body) = hsm_call(&server, &nobody, Method::GET, path, None).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    // A vault token never opens the HSM, nor an HSM token a vault.
    let vault_token = server.token("contoso", "secrets-user").await;
    assert_eq!(hsm_call(&server, &vault_token, Method::GET, "/keys/k1", None).await.0, 401);
    let billing = server.vault_call(Method::GET, "billing", "/secrets?api-version=7.6", Some(&user), None).await;
    assert_eq!(billing.status().as_u16(), 401);
    // Another tenant's token never opens it, whatever it holds at home.
    let outsider = server.hsm_token("fabrikam", "outsider").await;
    assert_eq!(hsm_call(&server, &outsider, Method::GET, "/keys/k1", None).await.0, 401);
    // An HSM serves keys only; its name at the vault domain addresses nothing.
    assert_eq!(hsm_call(&server, &user, Method::GET, "/secrets", None).await.0, 404);
    assert_eq!(hsm_call(&server, &user, Method::GET, "/certificates", None).await.0, 404);
    let wrong_domain = server.vault_call(Method::GET, "keys-hsm", "/keys?api-version=7.6", Some(&user), None).await;
    assert_eq!(wrong_domain.status().as_u16(), 404);
}

#[tokio::test]
async fn local_role_assignments_grant_and_take_away_and_never_climb_above_their_scope() {
    let server = start().await;
    let admin = server.hsm_token("contoso", "admin").await;
    let nobody = server.hsm_token("contoso", "nobody").await;
    let nobody_id = server.object_id("nobody");
    let user = server.hsm_token("contoso", "secrets-user").await;
    hsm_call(&server, &user, Method::POST, "/keys/k1/create", Some(json!({"kty": "EC", "crv": "P-256"}))).await;

    // Managed HSM's nine built-in roles, as the service lists them.
    let (status, roles) =
        hsm_call(&server, &admin, Method::GET, "//providers/Microsoft.Authorization/roleDefinitions", None).await;
    assert_eq!(status, 200, "{roles}");
    let roles = roles["value"].as_array().unwrap().clone();
    assert_eq!(roles.len(), 9);
    let role_id = |name: &str| {
        roles.iter().find(|r| r["properties"]["roleName"] == name).unwrap()["id"].as_str().unwrap().to_owned()
    };
    assert!(role_id("Managed HSM Crypto User").starts_with("Microsoft.KeyVault/providers/Microsoft.Authorization/"));

    // The administrator assigns Crypto Officer at /keys to `nobody`: it now manages /keys, and only /keys.
    let assign = |scope: &str, name: &str| format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
    let officer =
        json!({"properties": {"roleDefinitionId": role_id("Managed HSM Crypto Officer"), "principalId": nobody_id}});
    let first = "11111111-1111-1111-1111-111111111111";
    let (status, body) = hsm_call(&server, &admin, Method::PUT, &assign("/keys", first), Some(officer)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["properties"]["scope"], "/keys");
    let administrator =
        json!({"properties": {"roleDefinitionId": role_id("Managed HSM Administrator"), "principalId": nobody_id}});
    let climb = "22222222-2222-2222-2222-222222222222";
    let (status, body) = hsm_call(&server, &nobody, Method::PUT, &assign("", climb), Some(administrator.clone())).await;
    assert_eq!(status, 403, "a role held at /keys never assigns at /: {body}");
    let (status, _) = hsm_call(&server, &nobody, Method::PUT, &assign("/keys", climb), Some(administrator)).await;
    assert_eq!(status, 201, "at its own scope it may");
    // Administrator at /keys reaches none of the HSM's own operations, which act on the whole HSM.
    for (method, path) in
        [(Method::GET, "/settings"), (Method::POST, "/backup"), (Method::GET, "/securitydomain/upload")]
    {
        let (status, body) = hsm_call(&server, &nobody, method, path, Some(json!({}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AccessDenied")), "{path}: {body}");
    }
    assert_eq!(hsm_call(&server, &admin, Method::GET, "/settings", None).await.0, 200);
    // Crypto Officer does not sign; the user role, assigned at /, does; deleting it takes it away again.
    let digest = json!({"alg": "ES256", "value": "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"});
    assert_eq!(hsm_call(&server, &nobody, Method::POST, "/keys/k1/sign", Some(digest.clone())).await.0, 403);
    let crypto_user =
        json!({"properties": {"roleDefinitionId": role_id("Managed HSM Crypto User"), "principalId": nobody_id}});
    let third = "33333333-3333-3333-3333-333333333333";
    assert_eq!(hsm_call(&server, &admin, Method::PUT, &assign("", third), Some(crypto_user)).await.0, 201);
    assert_eq!(hsm_call(&server, &nobody, Method::POST, "/keys/k1/sign", Some(digest.clone())).await.0, 200);
    assert_eq!(hsm_call(&server, &admin, Method::DELETE, &assign("", third), None).await.0, 200);
    assert_eq!(hsm_call(&server, &nobody, Method::POST, "/keys/k1/sign", Some(digest)).await.0, 403);
    let (status, body) = hsm_call(&server, &admin, Method::DELETE, &assign("", third), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("RoleAssignmentNotFound")));

    // Only principals of the HSM's tenant, and only the HSM's roles: a vault's role is no role here.
    let outsider = server.object_id("outsider");
    let foreign =
        json!({"properties": {"roleDefinitionId": role_id("Managed HSM Crypto User"), "principalId": outsider}});
    let fourth = "44444444-4444-4444-4444-444444444444";
    assert_eq!(hsm_call(&server, &admin, Method::PUT, &assign("", fourth), Some(foreign)).await.0, 400);
    let vault_role = json!({"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/00482a5a-887f-4fb3-b363-3b7fe8e74483", "principalId": nobody_id}});
    assert_eq!(hsm_call(&server, &admin, Method::PUT, &assign("", fourth), Some(vault_role)).await.0, 400);
    // A scope Managed HSM has not is refused.
    assert_eq!(
        hsm_call(&server, &admin, Method::GET, "/secrets/providers/Microsoft.Authorization/roleAssignments", None)
            .await
            .0,
        400
    );

    // A custom role of the HSM grants what it says, and cannot be deleted while assigned.
    let custom = "55555555-5555-5555-5555-555555555555";
    let definition = json!({"properties": {"roleName": "key reader", "permissions": [{"dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action"]}]}});
    let path = format!("/providers/Microsoft.Authorization/roleDefinitions/{custom}");
    let (status, body) = hsm_call(&server, &admin, Method::PUT, &path, Some(definition)).await;
    assert_eq!((status, body["properties"]["type"].as_str()), (201, Some("CustomRole")), "{body}");
    let reader = json!({"properties": {"roleDefinitionId": custom, "principalId": nobody_id}});
    let fifth = "66666666-6666-6666-6666-666666666666";
    assert_eq!(hsm_call(&server, &admin, Method::PUT, &assign("", fifth), Some(reader)).await.0, 201);
    assert_eq!(hsm_call(&server, &nobody, Method::GET, "/keys/k1", None).await.0, 200);
    assert_eq!(hsm_call(&server, &admin, Method::DELETE, &path, None).await.0, 400);
    let builtin = "/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b";
    assert_eq!(hsm_call(&server, &admin, Method::DELETE, builtin, None).await.0, 400);
}

#[tokio::test]
async fn an_hsm_passes_the_same_firewall_and_serves_every_key_feature() {
    let walled = r#"
[[tenant.managed_hsm]]
name = "walled-hsm"
administrators = ["admin"]
activated = true

[tenant.managed_hsm.network]
default_action = "deny"
bypass = "None"
ip_rules = ["127.0.0.2/32"]

[[tenant.managed_hsm.role_assignment]]
principal = "secrets-user"
role = "Managed HSM Crypto User"
"#;
    let server = TestServer::start(&format!("{}{walled}", crate::harness::STANDARD_TENANTS)).await;
    let user = server.hsm_token("contoso", "secrets-user").await;
    let url = |path: &str| format!("{}{path}?api-version=7.6", server.hsm_url("walled-hsm"));
    let call = |client: reqwest::Client, method: Method, path: &str, body: Option<Value>| {
        let mut request = client.request(method, url(path)).bearer_auth(&user);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // From an address outside the rules the firewall answers, before anything else.
    let (status, body) = call(server.http.clone(), Method::GET, "/keys", None).await;
    assert_eq!((status, body["error"]["innererror"]["code"].as_str()), (403, Some("ForbiddenByFirewall")), "{body}");
    let inside = server.http_from("127.0.0.2".parse().unwrap());

    let (status, key) =
        call(inside.clone(), Method::POST, "/keys/rotating/create", Some(json!({"kty": "EC-HSM", "crv": "P-384"})))
            .await;
    assert_eq!(status, 200, "{key}");
    // Rotation policy, rotation, attestation, random bytes and single-key backup, as in a vault.
    let policy = json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}], "attributes": {"expiryTime": "P1Y"}});
    assert_eq!(call(inside.clone(), Method::PUT, "/keys/rotating/rotationpolicy", Some(policy)).await.0, 200);
    let (status, rotated) = call(inside.clone(), Method::POST, "/keys/rotating/rotate", None).await;
    assert_eq!((status, rotated["key"]["kty"].as_str()), (200, Some("EC-HSM")));
    assert_ne!(rotated["key"]["kid"], key["key"]["kid"]);
    assert_eq!(call(inside.clone(), Method::GET, "/keys/rotating/attestation", None).await.0, 200);
    let (status, random) = call(inside.clone(), Method::POST, "/rng", Some(json!({"count": 32}))).await;
    assert_eq!((status, random["value"].is_string()), (200, true));
    let (status, backup) = call(inside.clone(), Method::POST, "/keys/rotating/backup", None).await;
    assert_eq!((status, backup["value"].is_string()), (200, true));
    assert_eq!(call(inside.clone(), Method::DELETE, "/keys/rotating", None).await.0, 200);
    // Purging takes the Crypto Officer's role, which the user does not hold.
    assert_eq!(call(inside.clone(), Method::DELETE, "/deletedkeys/rotating", None).await.0, 403);
}

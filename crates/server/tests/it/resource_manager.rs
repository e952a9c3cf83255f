//! Resource Manager as sign-in, discovery and the management SDKs use it — subscriptions, tenants, locations,
//! providers, the cloud's metadata, resource groups, the generic resources query, vault SKUs, soft-deleted
//! vaults — and its boundaries: another tenant's subscription, group or vault, a caller without a role, a
//! Reader that tries to write.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::TestServer;

const ARM: &str = "https://management.azure.com/.default";
const API: &str = "api-version=2023-07-01";

fn config() -> String {
    "
[[tenant]]
name = \"northwind\"

[[tenant.subscription]]
name = \"Production\"
id = \"5b0c3a4e-8f4a-4d3e-9a51-0c6f2b7d9e10\"

[[tenant.subscription]]
name = \"Test\"

[[tenant.app]]
name = \"nw-owner\"
secrets = [\"nw-owner-secret-0123456789\"]

[[tenant.role_assignment]]
principal = \"nw-owner\"
role = \"Owner\"

[[tenant]]
name = \"tailspin\"

[[tenant.app]]
name = \"ts-owner\"
secrets = [\"ts-owner-secret-0123456789\"]

[[tenant.app]]
name = \"ts-reader\"
secrets = [\"ts-reader-secret-0123456789\"]

[[tenant.app]]
name = \"ts-nobody\"
secrets = [\"ts-nobody-secret-0123456789\"]

[[tenant.app]]
name = \"ts-vault-user\"
secrets = [\"ts-vault-user-secret-0123456789\"]

[[tenant.app]]
name = \"ts-crypto\"
secrets = [\"ts-crypto-secret-0123456789\"]

[[tenant.role_assignment]]
principal = \"ts-owner\"
role = \"Owner\"

[[tenant.role_assignment]]
principal = \"ts-reader\"
role = \"Reader\"

[[tenant.role_assignment]]
principal = \"ts-crypto\"
role = \"Key Vault Crypto Officer\"

[[tenant.vault]]
name = \"ts-ledger\"

[[tenant.vault.role_assignment]]
principal = \"ts-vault-user\"
role = \"Key Vault Secrets User\"

[[tenant.vault.secret]]
name = \"kept\"
value = \"kept-value-1\"

[[tenant.vault]]
name = \"ts-hsm\"
sku = \"premium\"
resource_group = \"crypto\"
"
    .to_owned()
}

async fn arm_token(server: &TestServer, tenant: &str, app: &str) -> String {
    let client_id = server.client_id(app);
    let secret = format!("{app}-secret-0123456789");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", ARM),
    ];
    let (status, body) = server.token_request(tenant, &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{separator}{API}", server.authority_host());
    let mut request = server.http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The default subscription of `tenant`, as the server filed it.
fn default_subscription(server: &TestServer, tenant: &str) -> String {
    let directory = server.running().state().directory();
    let tenant = directory.tenant(tenant).unwrap().id;
    directory.default_subscription(tenant).unwrap().id.to_string()
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        list["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn subscriptions_are_shown_to_role_holders_of_their_tenant_only() {
    let server = TestServer::start(&config()).await;
    let owner = arm_token(&server, "tailspin", "ts-owner").await;
    let subscription = default_subscription(&server, "tailspin");

    let (status, list) = call(&server, Method::GET, "/subscriptions", Some(&owner), None).await;
    assert_eq!(status, 200, "{list}");
    let listed = list["value"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["subscriptionId"], subscription.as_str());
    assert_eq!(listed[0]["tenantId"], server.tenant_id("tailspin").as_str());
    assert_eq!(listed[0]["state"], "Enabled");

    // A role on one vault is enough to see the subscription; no role at all, nothing.
    let vault_user = arm_token(&server, "tailspin", "ts-vault-user").await;
    let (_, list) = call(&server, Method::GET, "/subscriptions", Some(&vault_user), None).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");
    let nobody = arm_token(&server, "tailspin", "ts-nobody").await;
    let (status, list) = call(&server, Method::GET, "/subscriptions", Some(&nobody), None).await;
    assert_eq!((status, list["value"].as_array().map(Vec::len)), (200, Some(0)), "{list}");
    let (status, body) =
        call(&server, Method::GET, &format!("/subscriptions/{subscription}"), Some(&nobody), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AuthorizationFailed")), "{body}");
    let (status, _) = call(&server, Method::GET, "/subscriptions", None, None).await;
    assert_eq!(status, 401, "no token, no list");

    // The declared subscriptions, the first the default, with the declared id kept.
    let northwind = arm_token(&server, "northwind", "nw-owner").await;
    let (_, list) = call(&server, Method::GET, "/subscriptions", Some(&northwind), None).await;
    assert_eq!(list["value"][0]["subscriptionId"], "5b0c3a4e-8f4a-4d3e-9a51-0c6f2b7d9e10", "{list}");
    assert_eq!(names_of(&list, "displayName"), ["Production", "Test"]);

    // Another tenant's subscription is refused as Azure refuses a token of the wrong tenant; an unknown one
    // is not found; the tenant's own id still stands for its default subscription.
    let (status, body) =
        call(&server, Method::GET, &format!("/subscriptions/{subscription}"), Some(&northwind), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("InvalidAuthenticationTokenTenant")), "{body}");
    let groups = format!("/subscriptions/{subscription}/resourcegroups");
    let (status, _) = call(&server, Method::GET, &groups, Some(&northwind), None).await;
    assert_eq!(status, 401);
    let unknown = format!("/subscriptions/{}", uuid::Uuid::new_v4());
    let (status, body) = call(&server, Method::GET, &unknown, Some(&owner), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("SubscriptionNotFound")));
    let by_tenant = format!("/subscriptions/{}", server.tenant_id("tailspin"));
    let (status, body) = call(&server, Method::GET, &by_tenant, Some(&owner), None).await;
    assert_eq!((status, body["subscriptionId"].as_str()), (200, Some(subscription.as_str())), "{body}");

    let (status, tenants) = call(&server, Method::GET, "/tenants", Some(&owner), None).await;
    assert_eq!((status, tenants["value"][0]["tenantId"].as_str()), (200, Some(server.tenant_id("tailspin").as_str())));
    assert_eq!(tenants["value"].as_array().unwrap().len(), 1, "only its own tenant");
    let (_, locations) =
        call(&server, Method::GET, &format!("/subscriptions/{subscription}/locations"), Some(&owner), None).await;
    assert_eq!(locations["value"][0]["name"], "local", "{locations}");
    let provider = format!("/subscriptions/{subscription}/providers/Microsoft.KeyVault");
    let (status, provider) = call(&server, Method::GET, &provider, Some(&owner), None).await;
    assert_eq!((status, provider["registrationState"].as_str()), (200, Some("Registered")), "{provider}");
    let vaults = provider["resourceTypes"].as_array().unwrap().iter().find(|t| t["resourceType"] == "vaults").unwrap();
    assert!(vaults["apiVersions"].as_array().unwrap().iter().any(|v| v == "2023-07-01"));
}

fn names_of(list: &Value, field: &str) -> Vec<String> {
    list["value"].as_array().unwrap().iter().map(|v| v[field].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_cloud_metadata_is_public_in_both_shapes() {
    let server = TestServer::start(&config()).await;
    let url = |version: &str| format!("{}/metadata/endpoints?api-version={version}", server.authority_host());
    let list: Value = server.http.get(url("2019-05-01")).send().await.unwrap().json().await.unwrap();
    let cloud = &list[0];
    assert_eq!(cloud["authentication"]["loginEndpoint"], server.authority_host().as_str(), "{list}");
    let endpoints = server.running().endpoints();
    assert_eq!(cloud["resourceManager"], endpoints.management_resource(), "{list}");
    assert_eq!(cloud["authentication"]["audiences"][0], endpoints.management_resource());
    assert_eq!(cloud["microsoftGraphResourceId"], endpoints.graph_resource());
    let vault_dns = server.resource().trim_start_matches("https://").to_owned();
    assert_eq!(cloud["suffixes"]["keyVaultDns"], vault_dns.as_str());
    let object: Value = server.http.get(url("2015-01-01")).send().await.unwrap().json().await.unwrap();
    assert_eq!(object["authentication"]["loginEndpoint"], server.authority_host().as_str(), "{object}");
    assert!(object["graphEndpoint"].is_string());
    // What `az cloud register --endpoint-resource-manager https://…/` asks: the URL as typed, slash included,
    // and 2022-09-01, answered with the one cloud.
    let typed = format!("{}//metadata/endpoints?api-version=2022-09-01", server.authority_host());
    let object: Value = server.http.get(typed).send().await.unwrap().json().await.unwrap();
    assert_eq!(object["suffixes"]["keyVaultDns"], vault_dns.as_str(), "{object}");
}

#[tokio::test]
async fn resource_groups_file_vaults_and_take_them_along_when_deleted() {
    let server = TestServer::start(&config()).await;
    let owner = arm_token(&server, "tailspin", "ts-owner").await;
    let reader = arm_token(&server, "tailspin", "ts-reader").await;
    let subscription = default_subscription(&server, "tailspin");
    let group = |name: &str| format!("/subscriptions/{subscription}/resourcegroups/{name}");
    let vault = |group: &str, name: &str| {
        format!("/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}")
    };

    let (status, _) = call(&server, Method::HEAD, &group("apps"), Some(&owner), None).await;
    assert_eq!(status, 404, "az group exists: not yet");
    let body = json!({"location": "local", "tags": {"team": "apps"}});
    let (status, _) = call(&server, Method::PUT, &group("apps"), Some(&reader), Some(body.clone())).await;
    assert_eq!(status, 403, "a Reader creates no group");
    let (status, created) = call(&server, Method::PUT, &group("apps"), Some(&owner), Some(body)).await;
    assert_eq!((status, created["tags"]["team"].as_str()), (201, Some("apps")), "{created}");
    assert_eq!(created["id"], format!("/subscriptions/{subscription}/resourceGroups/apps").as_str());
    let (status, _) = call(&server, Method::HEAD, &group("Apps"), Some(&owner), None).await;
    assert_eq!(status, 204);
    let (_, list) =
        call(&server, Method::GET, &format!("/subscriptions/{subscription}/resourcegroups"), Some(&reader), None).await;
    assert_eq!(names(&list), ["apps", "crypto", "strongroom"]);

    // A vault in the group, premium and tagged; its id names the real subscription and group, and it is
    // found there only.
    let create = json!({"location": "local", "tags": {"env": "dev"},
        "properties": {"tenantId": server.tenant_id("tailspin"), "sku": {"family": "A", "name": "premium"}}});
    let (status, _) = call(&server, Method::PUT, &vault("apps", "ts-apps"), Some(&reader), Some(create.clone())).await;
    assert_eq!(status, 403, "a Reader creates no vault");
    let (status, made) = call(&server, Method::PUT, &vault("apps", "ts-apps"), Some(&owner), Some(create)).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["id"], vault("apps", "ts-apps").as_str());
    assert_eq!(
        (made["properties"]["sku"]["name"].as_str(), made["tags"]["env"].as_str()),
        (Some("premium"), Some("dev"))
    );
    let (status, _) = call(&server, Method::GET, &vault("strongroom", "ts-apps"), Some(&owner), None).await;
    assert_eq!(status, 404, "filed in its own group only");
    let (status, body) =
        call(&server, Method::PUT, &vault("nowhere", "ts-other"), Some(&owner), Some(json!({"location": "local"})))
            .await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("ResourceGroupNotFound")));
    let (status, patched) =
        call(&server, Method::PATCH, &vault("apps", "ts-apps"), Some(&owner), Some(json!({"tags": {"env": "prod"}})))
            .await;
    assert_eq!((status, patched["tags"]["env"].as_str()), (200, Some("prod")), "{patched}");

    // The generic resources query (az keyvault list / show without -g) and the subscription's vaults.
    let query = format!("/subscriptions/{subscription}/resources?$filter=resourceType eq 'Microsoft.KeyVault/vaults'");
    let (status, resources) = call(&server, Method::GET, &query, Some(&reader), None).await;
    assert_eq!(status, 200, "{resources}");
    assert_eq!(names(&resources), ["ts-apps", "ts-hsm", "ts-ledger"]);
    let by_name = format!("{query} and name eq 'ts-apps'");
    let (_, one) = call(&server, Method::GET, &by_name, Some(&reader), None).await;
    assert_eq!(one["value"][0]["id"], vault("apps", "ts-apps").as_str(), "{one}");
    let everywhere = format!("/subscriptions/{subscription}/providers/Microsoft.KeyVault/vaults");
    let (_, all) = call(&server, Method::GET, &everywhere, Some(&reader), None).await;
    assert_eq!(names(&all), ["ts-apps", "ts-hsm", "ts-ledger"]);
    let nobody = arm_token(&server, "tailspin", "ts-nobody").await;
    let (_, none) = call(&server, Method::GET, &query, Some(&nobody), None).await;
    assert!(none["value"].as_array().unwrap().is_empty(), "a caller without a role sees no vault: {none}");

    // Another tenant reaches nothing of it.
    let northwind = arm_token(&server, "northwind", "nw-owner").await;
    for path in [group("apps"), vault("apps", "ts-apps")] {
        let (status, _) = call(&server, Method::DELETE, &path, Some(&northwind), None).await;
        assert_eq!(status, 401, "{path}");
    }
    let own = default_subscription(&server, "northwind");
    let in_own = format!("/subscriptions/{own}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/ts-apps");
    let (status, body) =
        call(&server, Method::PUT, &in_own, Some(&northwind), Some(json!({"location": "local"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("VaultAlreadyExists")), "{body}");

    // Deleting the group soft-deletes its vault; the Reader may do neither.
    let (status, _) = call(&server, Method::DELETE, &group("apps"), Some(&reader), None).await;
    assert_eq!(status, 403);
    let (status, _) = call(&server, Method::DELETE, &group("apps"), Some(&owner), None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&server, Method::GET, &group("apps"), Some(&owner), None).await;
    assert_eq!(status, 404);
    let deleted = format!("/subscriptions/{subscription}/providers/Microsoft.KeyVault/deletedVaults");
    let (_, deleted) = call(&server, Method::GET, &deleted, Some(&owner), None).await;
    assert_eq!(names(&deleted), ["ts-apps"]);

    // Role assignments are not made at a resource group's scope (it would reach the whole tenant).
    let at_group =
        format!("{}/providers/Microsoft.Authorization/roleAssignments/{}", group("crypto"), uuid::Uuid::new_v4());
    let grant = json!({"properties": {"roleDefinitionId": "Reader", "principalId": principal(&server, "ts-nobody")}});
    let (status, body) = call(&server, Method::PUT, &at_group, Some(&owner), Some(grant)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("InvalidScope")), "{body}");
}

fn principal(server: &TestServer, name: &str) -> String {
    let directory = server.running().state().directory();
    directory.principals().iter().find(|p| p.name == name).unwrap().object_id.to_string()
}

#[tokio::test]
async fn hsm_keys_need_a_premium_vault() {
    let server = TestServer::start(&config()).await;
    let crypto = server.token("tailspin", "ts-crypto").await;
    let create = |kty: &str| match kty {
        "EC-HSM" => json!({"kty": kty, "crv": "P-256"}),
        _ => json!({"kty": kty, "key_size": 2048}),
    };
    let post = |vault: &'static str, path: &'static str, body: Value| {
        let (server, crypto) = (&server, &crypto);
        async move {
            let path = format!("{path}?api-version=7.6");
            let response = server.vault_call(Method::POST, vault, &path, Some(crypto), Some(body)).await;
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    for kty in ["RSA-HSM", "EC-HSM"] {
        let (status, body) = post("ts-hsm", "/keys/signing/create", create(kty)).await;
        assert_eq!((status, body["key"]["kty"].as_str()), (200, Some(kty)), "{body}");
        // A standard vault refuses it with Key Vault's words, and keeps nothing.
        let (status, body) = post("ts-ledger", "/keys/signing/create", create(kty)).await;
        assert_eq!(
            (status, body),
            (
                403,
                json!({"error": {"code": "Forbidden", "message": "Hardware key operation not allowed on standard vault."}})
            ),
            "{kty}"
        );
    }
    // An import asking for an HSM is refused the same way.
    let (_, software) = post("ts-ledger", "/keys/software/create", create("RSA")).await;
    assert_eq!(software["key"]["kty"], "RSA", "{software}");
    let jwk = json!({"kty": "EC", "crv": "P-256", "d": "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"});
    let (status, body) = import_key(&server, &crypto, "ts-ledger", json!({"key": jwk.clone(), "Hsm": true})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Forbidden")), "{body}");
    let (status, body) = import_key(&server, &crypto, "ts-hsm", json!({"key": jwk, "Hsm": true})).await;
    assert_eq!((status, body["key"]["kty"].as_str()), (200, Some("EC-HSM")), "{body}");
    let (status, body) = post("ts-ledger", "/keys/signing/create", create("RSA")).await;
    assert_eq!(status, 200, "{body}");
    // The refused creates wrote no version: only the RSA one is there.
    let listed = server
        .vault_call(Method::GET, "ts-ledger", "/keys/signing/versions?api-version=7.6", Some(&crypto), None)
        .await;
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["value"].as_array().map(Vec::len), Some(1), "{listed}");
}

/// Imports `body` as the key `imported` of `vault`: status and JSON body.
async fn import_key(server: &TestServer, token: &str, vault: &str, body: Value) -> (u16, Value) {
    let response =
        server.vault_call(Method::PUT, vault, "/keys/imported?api-version=7.6", Some(token), Some(body)).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_deleted_vault_keeps_its_objects_until_it_is_recovered_or_purged() {
    let server = TestServer::start(&config()).await;
    let owner = arm_token(&server, "tailspin", "ts-owner").await;
    let subscription = default_subscription(&server, "tailspin");
    let ledger = format!(
        "/subscriptions/{subscription}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/ts-ledger"
    );
    let reader_token = server.token("tailspin", "ts-vault-user").await;
    let read =
        || server.vault_call(Method::GET, "ts-ledger", "/secrets/kept?api-version=7.6", Some(&reader_token), None);
    assert_eq!(read().await.status().as_u16(), 200);

    let (status, _) = call(&server, Method::DELETE, &ledger, Some(&owner), None).await;
    assert_eq!(status, 200);
    assert_eq!(read().await.status().as_u16(), 404, "a deleted vault serves nothing");
    let (status, body) = call(&server, Method::PUT, &ledger, Some(&owner), Some(json!({"location": "local"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("ConflictError")), "{body}");
    let check = format!("/subscriptions/{subscription}/providers/Microsoft.KeyVault/checkNameAvailability");
    let ask = json!({"name": "ts-ledger", "type": "Microsoft.KeyVault/vaults"});
    let (_, answer) = call(&server, Method::POST, &check, Some(&owner), Some(ask.clone())).await;
    assert_eq!((answer["nameAvailable"].as_bool(), answer["reason"].as_str()), (Some(false), Some("AlreadyExists")));
    let deleted =
        format!("/subscriptions/{subscription}/providers/Microsoft.KeyVault/locations/local/deletedVaults/ts-ledger");
    let (status, shown) = call(&server, Method::GET, &deleted, Some(&owner), None).await;
    assert_eq!((status, shown["properties"]["vaultId"].as_str()), (200, Some(ledger.as_str())), "{shown}");

    // Another tenant neither sees nor purges it.
    let northwind = arm_token(&server, "northwind", "nw-owner").await;
    let (status, _) = call(&server, Method::POST, &format!("{deleted}/purge"), Some(&northwind), None).await;
    assert_eq!(status, 401);
    let own = default_subscription(&server, "northwind");
    let theirs = format!("/subscriptions/{own}/providers/Microsoft.KeyVault/locations/local/deletedVaults/ts-ledger");
    let (status, _) = call(&server, Method::GET, &theirs, Some(&northwind), None).await;
    assert_eq!(status, 404);

    // Recovered, with its objects; then deleted again and purged for good.
    let recover = json!({"location": "local", "properties": {"createMode": "recover"}});
    let (status, body) = call(&server, Method::PUT, &ledger, Some(&owner), Some(recover)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(read().await.status().as_u16(), 200, "its secret is back");
    call(&server, Method::DELETE, &ledger, Some(&owner), None).await;
    let (status, _) = call(&server, Method::POST, &format!("{deleted}/purge"), Some(&owner), None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&server, Method::GET, &deleted, Some(&owner), None).await;
    assert_eq!(status, 404);
    let (_, answer) = call(&server, Method::POST, &check, Some(&owner), Some(ask)).await;
    assert_eq!(answer["nameAvailable"].as_bool(), Some(true), "{answer}");

    // Purge protection: the vault is purged when its retention ends, never before.
    let guarded = ledger.replace("ts-ledger", "ts-guarded");
    let body = json!({"location": "local", "properties": {"enablePurgeProtection": true}});
    let (status, _) = call(&server, Method::PUT, &guarded, Some(&owner), Some(body)).await;
    assert_eq!(status, 201);
    call(&server, Method::DELETE, &guarded, Some(&owner), None).await;
    let guarded_deleted = deleted.replace("ts-ledger", "ts-guarded");
    let (status, body) = call(&server, Method::POST, &format!("{guarded_deleted}/purge"), Some(&owner), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("PurgeProtectionEnabled")), "{body}");
    let state = server.running().state();
    let now = server.clock.now_seconds();
    assert_eq!(strongroom_server::sweeper::purge_expired_vaults(state, now).await.unwrap(), 0, "not yet");
    let later = now + 90 * 86_400 + 1;
    assert_eq!(strongroom_server::sweeper::purge_expired_vaults(state, later).await.unwrap(), 1, "its retention ended");
    let (status, _) = call(&server, Method::GET, &guarded_deleted, Some(&owner), None).await;
    assert_eq!(status, 404);
}

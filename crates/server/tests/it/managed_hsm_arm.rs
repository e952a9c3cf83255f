//! `Microsoft.KeyVault/managedHSMs` in Resource Manager: an HSM made there serves on its data plane with its
//! initial administrators holding Managed HSM Administrator; the built-in Azure roles manage it as Azure's do;
//! another tenant neither sees nor deletes it; its name is unique together with the vaults'; a deleted HSM is
//! soft-deleted, listed as such and purged.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::TestServer;
use crate::security_domain::{download, operator};

const ARM: &str = "https://management.azure.com/.default";
const API: &str = "api-version=2023-07-01";

const CONFIG: &str = "
[[tenant]]
name = \"northwind\"

[[tenant.app]]
name = \"nw-owner\"
secrets = [\"nw-owner-secret-0123456789\"]

[[tenant.app]]
name = \"nw-reader\"
secrets = [\"nw-reader-secret-0123456789\"]

[[tenant.app]]
name = \"nw-kv-contributor\"
secrets = [\"nw-kv-contributor-secret-0123456789\"]

[[tenant.app]]
name = \"nw-hsm-admin\"
secrets = [\"nw-hsm-admin-secret-0123456789\"]

[[tenant.role_assignment]]
principal = \"nw-owner\"
role = \"Owner\"

[[tenant.role_assignment]]
principal = \"nw-reader\"
role = \"Reader\"

[[tenant.role_assignment]]
principal = \"nw-kv-contributor\"
role = \"Key Vault Contributor\"

[[tenant.vault]]
name = \"nw-ledger\"

[[tenant]]
name = \"tailspin\"

[[tenant.app]]
name = \"ts-owner\"
secrets = [\"ts-owner-secret-0123456789\"]

[[tenant.role_assignment]]
principal = \"ts-owner\"
role = \"Owner\"
";

async fn token_for(server: &TestServer, tenant: &str, app: &str, scope: &str) -> String {
    let client_id = server.client_id(app);
    let secret = format!("{app}-secret-0123456789");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", scope),
    ];
    let (status, body) = server.token_request(tenant, &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn call(server: &TestServer, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{separator}{API}", server.authority_host());
    let mut request = server.http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn subscription(server: &TestServer, tenant: &str) -> String {
    let directory = server.running().state().directory();
    let tenant = directory.tenant(tenant).unwrap().id;
    directory.default_subscription(tenant).unwrap().id.to_string()
}

fn hsms(subscription: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/strongroom/providers/Microsoft.KeyVault/managedHSMs")
}

fn names(list: &Value) -> Vec<&str> {
    list["value"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect()
}

/// GETs the HSM's local role assignments at `/` on its data plane with a token for it.
async fn hsm_role_assignments(server: &TestServer, hsm_uri: &str, token: &str) -> (u16, Value) {
    let host = hsm_uri.trim_start_matches("https://").split([':', '/']).next().unwrap().to_owned();
    let http = server.http_with("127.0.0.1".parse().unwrap(), &[(host, server.running().address())]);
    let url = format!("{hsm_uri}providers/Microsoft.Authorization/roleAssignments?api-version=7.4");
    let response = http.get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_managed_hsm_made_in_resource_manager_serves_its_initial_administrators() {
    let server = TestServer::start(CONFIG).await;
    let owner = token_for(&server, "northwind", "nw-owner", ARM).await;
    let sub = subscription(&server, "northwind");
    let admin = server.object_id("nw-hsm-admin");
    let tenant = server.tenant_id("northwind");
    let body = json!({
        "location": "local",
        "sku": {"family": "B", "name": "Standard_B1"},
        "properties": {"tenantId": tenant, "initialAdminObjectIds": [admin], "softDeleteRetentionInDays": 7},
    });
    let (status, hsm) = call(&server, Method::PUT, &format!("{}/nw-hsm", hsms(&sub)), &owner, Some(body)).await;
    assert_eq!(status, 200, "{hsm}");
    assert_eq!(hsm["type"], "Microsoft.KeyVault/managedHSMs");
    assert_eq!(hsm["id"], format!("{}/nw-hsm", hsms(&sub)));
    assert_eq!(hsm["sku"], json!({"family": "B", "name": "Standard_B1"}));
    let properties = &hsm["properties"];
    assert_eq!(properties["provisioningState"], "Succeeded");
    assert_eq!(properties["initialAdminObjectIds"], json!([admin]));
    assert_eq!(properties["softDeleteRetentionInDays"], 7);
    assert_eq!(properties["enableSoftDelete"], true);
    let hsm_uri = properties["hsmUri"].as_str().unwrap().to_owned();
    assert!(hsm_uri.starts_with("https://nw-hsm.managedhsm.localhost:") && hsm_uri.ends_with('/'), "{hsm_uri}");

    // New, it is not activated: it serves its security domain only, until the administrator downloads it.
    assert_eq!(properties["securityDomainProperties"]["activationStatus"], "NotActivated");
    let resource = hsm_uri.replace("nw-hsm.", "");
    let scope = format!("{}.default", resource);
    let admin_token = token_for(&server, "northwind", "nw-hsm-admin", &scope).await;
    let (status, refused) = hsm_role_assignments(&server, &hsm_uri, &admin_token).await;
    assert_eq!((status, &refused["error"]["innererror"]["code"]), (403, &json!("HsmNotActivated")), "{refused}");
    let operators: Vec<_> = (0..3).map(operator).collect();
    download(&server, &admin_token, "nw-hsm", &operators).await;
    let (_, got) = call(&server, Method::GET, &format!("{}/nw-hsm", hsms(&sub)), &owner, None).await;
    assert_eq!(got["properties"]["securityDomainProperties"]["activationStatus"], "Active");

    // The administrator manages the HSM's local RBAC; the subscription's Owner has no say in it.
    let (status, assignments) = hsm_role_assignments(&server, &hsm_uri, &admin_token).await;
    assert_eq!(status, 200, "{assignments}");
    let held: Vec<_> = assignments["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["properties"]["principalId"].as_str().unwrap(), a["properties"]["scope"].as_str().unwrap()))
        .collect();
    assert_eq!(held, [(admin.as_str(), "/")]);
    let owner_hsm_token = token_for(&server, "northwind", "nw-owner", &scope).await;
    assert_eq!(hsm_role_assignments(&server, &hsm_uri, &owner_hsm_token).await.0, 403);

    // Read back, listed by group and by subscription; never among the vaults.
    let (status, got) = call(&server, Method::GET, &format!("{}/NW-HSM", hsms(&sub)), &owner, None).await;
    assert_eq!((status, &got["properties"]["hsmUri"]), (200, &json!(hsm_uri)));
    let (_, in_group) = call(&server, Method::GET, &hsms(&sub), &owner, None).await;
    assert_eq!(names(&in_group), ["nw-hsm"]);
    let all = format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/managedHSMs");
    assert_eq!(names(&call(&server, Method::GET, &all, &owner, None).await.1), ["nw-hsm"]);
    let vaults = format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/vaults");
    assert_eq!(names(&call(&server, Method::GET, &vaults, &owner, None).await.1), ["nw-ledger"]);
    // The generic resources query lists both kinds, and filters by type.
    let resources = format!("/subscriptions/{sub}/resources");
    let (status, listed) = call(&server, Method::GET, &resources, &owner, None).await;
    assert_eq!(status, 200, "{listed}");
    let mut typed: Vec<(String, String)> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_owned(), r["type"].as_str().unwrap().to_owned()))
        .collect();
    typed.sort();
    assert_eq!(
        typed,
        [
            ("nw-hsm".to_owned(), "Microsoft.KeyVault/managedHSMs".to_owned()),
            ("nw-ledger".to_owned(), "Microsoft.KeyVault/vaults".to_owned())
        ]
    );
    let only_hsms = format!("{resources}?$filter=resourceType%20eq%20%27Microsoft.KeyVault/managedHSMs%27");
    let (_, listed) = call(&server, Method::GET, &only_hsms, &owner, None).await;
    assert_eq!(listed["value"][0]["id"], format!("{}/nw-hsm", hsms(&sub)));
    assert_eq!(listed["value"].as_array().map(Vec::len), Some(1));

    // PATCH changes what it names and keeps the rest.
    let patch = json!({"tags": {"team": "crypto"}, "properties": {"publicNetworkAccess": "Disabled"}});
    let (status, patched) = call(&server, Method::PATCH, &format!("{}/nw-hsm", hsms(&sub)), &owner, Some(patch)).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["tags"], json!({"team": "crypto"}));
    assert_eq!(patched["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(patched["properties"]["softDeleteRetentionInDays"], 7);
}

#[tokio::test]
async fn azure_roles_manage_managed_hsms_as_azure_grants_and_other_tenants_see_none() {
    let server = TestServer::start(CONFIG).await;
    let owner = token_for(&server, "northwind", "nw-owner", ARM).await;
    let sub = subscription(&server, "northwind");
    let one = format!("{}/nw-hsm", hsms(&sub));
    let body = |admins: Value| json!({"location": "local", "properties": {"initialAdminObjectIds": admins}});
    let admin = server.object_id("nw-hsm-admin");

    // A new HSM needs administrators, given as object ids.
    for bad in [json!([]), json!(["not-a-guid"])] {
        let (status, error) = call(&server, Method::PUT, &one, &owner, Some(body(bad))).await;
        assert_eq!((status, error["error"]["code"].as_str()), (400, Some("BadRequest")), "{error}");
    }
    // Key Vault Contributor reaches vaults, not HSMs; Reader reads them and writes nothing.
    let contributor = token_for(&server, "northwind", "nw-kv-contributor", ARM).await;
    let (status, error) = call(&server, Method::PUT, &one, &contributor, Some(body(json!([admin])))).await;
    assert_eq!((status, error["error"]["code"].as_str()), (403, Some("AuthorizationFailed")), "{error}");
    assert_eq!(call(&server, Method::PUT, &one, &owner, Some(body(json!([admin])))).await.0, 200);
    assert_eq!(call(&server, Method::GET, &one, &contributor, None).await.0, 403);
    assert!(names(&call(&server, Method::GET, &hsms(&sub), &contributor, None).await.1).is_empty());
    let reader = token_for(&server, "northwind", "nw-reader", ARM).await;
    assert_eq!(call(&server, Method::GET, &one, &reader, None).await.0, 200);
    assert_eq!(call(&server, Method::PATCH, &one, &reader, Some(json!({"tags": {}}))).await.0, 403);
    assert_eq!(call(&server, Method::DELETE, &one, &reader, None).await.0, 403);

    // Another tenant's Owner: not in its subscription, and not through the HSM's.
    let stranger = token_for(&server, "tailspin", "ts-owner", ARM).await;
    let theirs = format!("{}/nw-hsm", hsms(&subscription(&server, "tailspin")));
    assert_eq!(call(&server, Method::GET, &theirs, &stranger, None).await.0, 404);
    assert_eq!(call(&server, Method::DELETE, &theirs, &stranger, None).await.0, 204);
    assert_ne!(call(&server, Method::GET, &one, &stranger, None).await.0, 200);
    assert_ne!(call(&server, Method::DELETE, &one, &stranger, None).await.0, 200);
    let (status, error) = call(&server, Method::PUT, &theirs, &stranger, Some(body(json!([admin])))).await;
    assert_eq!(status, 409, "the name is taken, whoever holds it: {error}");
    assert_eq!(call(&server, Method::GET, &one, &owner, None).await.0, 200, "still there");

    // Vault and HSM names are unique together.
    let (status, error) =
        call(&server, Method::PUT, &format!("{}/nw-ledger", hsms(&sub)), &owner, Some(body(json!([admin])))).await;
    assert_eq!(status, 409, "{error}");
    let vault = format!("/subscriptions/{sub}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/nw-hsm");
    assert_eq!(
        call(&server, Method::PUT, &vault, &owner, Some(json!({"location": "local", "properties": {}}))).await.0,
        409
    );
    let check = format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/checkMhsmNameAvailability");
    let (_, answer) = call(&server, Method::POST, &check, &owner, Some(json!({"name": "nw-ledger"}))).await;
    assert_eq!(answer["nameAvailable"], false, "{answer}");

    // Deleting soft-deletes: listed among deleted HSMs (not vaults), the name kept until it is purged.
    assert_eq!(call(&server, Method::DELETE, &one, &owner, None).await.0, 200);
    assert_eq!(call(&server, Method::GET, &one, &owner, None).await.0, 404);
    let deleted = format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/deletedManagedHSMs");
    let (_, listed) = call(&server, Method::GET, &deleted, &owner, None).await;
    assert_eq!(names(&listed), ["nw-hsm"]);
    assert_eq!(listed["value"][0]["properties"]["mhsmId"], json!(one));
    let deleted_vaults = format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/deletedVaults");
    assert!(names(&call(&server, Method::GET, &deleted_vaults, &owner, None).await.1).is_empty());
    let (_, stranger_listed) = call(
        &server,
        Method::GET,
        &format!(
            "/subscriptions/{}/providers/Microsoft.KeyVault/deletedManagedHSMs",
            subscription(&server, "tailspin")
        ),
        &stranger,
        None,
    )
    .await;
    assert!(names(&stranger_listed).is_empty());
    assert_eq!(call(&server, Method::PUT, &one, &owner, Some(body(json!([admin])))).await.0, 409);
    let purge =
        format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/local/deletedManagedHSMs/nw-hsm/purge");
    assert_eq!(call(&server, Method::POST, &purge, &stranger, None).await.0, 401, "another tenant's subscription");
    assert_eq!(call(&server, Method::POST, &purge, &owner, None).await.0, 202);
    let (_, answer) = call(&server, Method::POST, &check, &owner, Some(json!({"name": "nw-hsm"}))).await;
    assert_eq!(answer["nameAvailable"], true, "{answer}");
}

#[tokio::test]
async fn deleting_a_resource_group_soft_deletes_the_managed_hsms_in_it() {
    let server = TestServer::start(CONFIG).await;
    let owner = token_for(&server, "northwind", "nw-owner", ARM).await;
    let sub = subscription(&server, "northwind");
    let group = format!("/subscriptions/{sub}/resourceGroups/crypto-rg");
    assert_eq!(call(&server, Method::PUT, &group, &owner, Some(json!({"location": "local"}))).await.0, 201);
    let admin = server.object_id("nw-hsm-admin");
    let body = json!({"properties": {"initialAdminObjectIds": [admin]}});
    let hsm = format!("{group}/providers/Microsoft.KeyVault/managedHSMs/rg-hsm");
    let (status, made) = call(&server, Method::PUT, &hsm, &owner, Some(body)).await;
    assert_eq!((status, &made["location"]), (200, &json!("local")), "the group's location: {made}");
    assert_eq!(call(&server, Method::DELETE, &group, &owner, None).await.0, 200);
    let deleted = format!("/subscriptions/{sub}/providers/Microsoft.KeyVault/deletedManagedHSMs");
    assert_eq!(names(&call(&server, Method::GET, &deleted, &owner, None).await.1), ["rg-hsm"]);
}

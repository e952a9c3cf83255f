//! The management API as a Resource Manager and Graph client uses it: who may change vaults, role
//! assignments, custom roles and the directory; that each change decides the very next data-plane request;
//! and that refusals are audited.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{STANDARD_TENANTS, TestServer};

const ARM: &str = "https://management.azure.com/.default";
const API: &str = "api-version=2022-07-01";

fn config() -> String {
    format!(
        "{STANDARD_TENANTS}
[[tenant]]
name = \"woodgrove\"

[[tenant.app]]
name = \"owner\"
secrets = [\"owner-secret-0123456789\"]

[[tenant.app]]
name = \"kv-contributor\"
secrets = [\"kv-contributor-secret-0123456789\"]

[[tenant.app]]
name = \"access-admin\"
secrets = [\"access-admin-secret-0123456789\"]

[[tenant.app]]
name = \"directory-admin\"
secrets = [\"directory-admin-secret-0123456789\"]

[[tenant.app]]
name = \"reader-app\"
secrets = [\"reader-app-secret-0123456789\"]

[[tenant.app]]
name = \"worker\"
secrets = [\"worker-secret-0123456789\"]

[[tenant.user]]
name = \"mallory\"
password = \"mallory-password-1\"

[[tenant.role_assignment]]
principal = \"owner\"
role = \"Owner\"

[[tenant.role_assignment]]
principal = \"kv-contributor\"
role = \"Key Vault Contributor\"

[[tenant.role_assignment]]
principal = \"directory-admin\"
role = \"Global Administrator\"

[[tenant.vault]]
name = \"ledger\"

[[tenant.vault.role_assignment]]
principal = \"access-admin\"
role = \"Key Vault Data Access Administrator\"

[[tenant.vault.role_assignment]]
principal = \"worker\"
role = \"Key Vault Secrets User\"

[[tenant.vault.secret]]
name = \"ledger-key\"
value = \"ledger-value-7\"
"
    )
}

/// A token for `scope` by the client-credentials grant of `app` in woodgrove, with `secret`.
async fn token_with(server: &TestServer, client_id: &str, secret: &str, scope: &str) -> (u16, Value) {
    server
        .token_request(
            "woodgrove",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", scope),
            ],
        )
        .await
}

async fn arm_token(server: &TestServer, app: &str) -> String {
    let (status, body) = token_with(server, &server.client_id(app), &format!("{app}-secret-0123456789"), ARM).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn vault_token(server: &TestServer, app: &str) -> String {
    server.token("woodgrove", app).await
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

fn vault_path(server: &TestServer, vault: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/{vault}",
        server.tenant_id("woodgrove")
    )
}

async fn read_secret(server: &TestServer, app: &str) -> u16 {
    let token = vault_token(server, app).await;
    server
        .vault_call(Method::GET, "ledger", "/secrets/ledger-key?api-version=7.6", Some(&token), None)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn resource_manager_and_graph_answer_at_their_own_urls_to_tokens_asked_for_by_those_urls() {
    let server = TestServer::start(&config()).await;
    let endpoints = server.running().endpoints().clone();
    // What a client told these URLs by the cloud's metadata asks for: `{url}/.default`, with or without a slash.
    let arm_scope = format!("{}/.default", endpoints.management_resource());
    let graph_scope = format!("{}//.default", endpoints.graph_resource());
    for (app, scope, url) in [
        ("owner", arm_scope, format!("{}{}?{API}", endpoints.management_resource(), vault_path(&server, "ledger"))),
        ("directory-admin", graph_scope, format!("{}/v1.0/users", endpoints.graph_resource())),
    ] {
        let secret = format!("{app}-secret-0123456789");
        let (status, body) = token_with(&server, &server.client_id(app), &secret, &scope).await;
        assert_eq!(status, 200, "{scope}: {body}");
        let token = body["access_token"].as_str().unwrap();
        let response = server.http.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
    }
    // A vault token is still no management token at either URL.
    let vault = vault_token(&server, "owner").await;
    let url = format!("{}{}?{API}", endpoints.management_resource(), vault_path(&server, "ledger"));
    assert_eq!(server.http.get(&url).bearer_auth(&vault).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_caller_without_control_plane_rights_is_refused_and_the_attempt_is_audited() {
    let mut server = TestServer::start(&config()).await;
    let (status, body) = server
        .token_request(
            "woodgrove",
            &[
                ("grant_type", "password"),
                ("client_id", &server.client_id("worker")),
                // `worker` is confidential: it proves itself to sign a user in, as Entra requires.
                ("client_secret", "worker-secret-0123456789"),
                ("username", "mallory"),
                ("password", "mallory-password-1"),
                ("scope", ARM),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mallory = body["access_token"].as_str().unwrap().to_owned();
    let vault = vault_path(&server, "ledger");
    let grant = json!({"properties": {
        "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "principalId": server.object_id("mallory"),
    }});
    let assignment = format!("{vault}/providers/Microsoft.Authorization/roleAssignments/{}", uuid::Uuid::new_v4());
    let (status, body) = call(&server, Method::PUT, &assignment, &mallory, Some(grant)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AuthorizationFailed")), "{body}");
    let open_up =
        json!({"properties": {"networkAcls": {"defaultAction": "Allow", "ipRules": [{"value": "0.0.0.0/0"}]}}});
    let (status, body) = call(&server, Method::PATCH, &vault, &mallory, Some(open_up)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AuthorizationFailed")), "{body}");
    let (status, _) = call(&server, Method::GET, &vault, &mallory, None).await;
    assert_eq!(status, 403);
    // Without a token, or with a vault token, nothing is answered.
    let vault_scoped = vault_token(&server, "worker").await;
    let (status, body) = call(&server, Method::GET, &vault, &vault_scoped, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("AuthenticationFailed")), "{body}");
    // A token of another tenant is not accepted for this one's subscription.
    let (_, other) = server
        .token_request(
            "contoso",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &server.client_id("admin")),
                ("client_secret", "admin-secret-0123456789"),
                ("scope", ARM),
            ],
        )
        .await;
    let (status, body) = call(&server, Method::GET, &vault, other["access_token"].as_str().unwrap(), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("InvalidAuthenticationTokenTenant")), "{body}");
    assert_eq!(read_secret(&server, "worker").await, 200, "nothing changed");

    let mallory_id = server.object_id("mallory");
    server.server.take().unwrap().stop().await;
    let log = std::fs::read_to_string(server.dir.path().join("audit.log")).unwrap();
    let refusals: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|r| r["Caller"] == mallory_id.as_str() && r["ActivityStatusValue"] == "Failure")
        .collect();
    let operations: Vec<&str> = refusals.iter().map(|r| r["OperationNameValue"].as_str().unwrap()).collect();
    assert!(operations.contains(&"Microsoft.Authorization/roleAssignments/write"), "{log}");
    assert!(operations.contains(&"Microsoft.KeyVault/vaults/write"), "{log}");
    assert!(refusals.iter().all(|r| r["Type"] == "AzureActivity" && r["Properties"]["httpStatusCode"] == 403));
    assert!(refusals.iter().all(|r| r["Authorization"]["granted"] == false));
    assert!(!log.contains(&mallory) && !log.contains("mallory-password-1"));
}

#[tokio::test]
async fn role_assignments_changed_at_runtime_decide_the_next_request() {
    let server = TestServer::start(&config()).await;
    let admin = arm_token(&server, "access-admin").await;
    let vault = vault_path(&server, "ledger");
    let assignments = format!("{vault}/providers/Microsoft.Authorization/roleAssignments");
    assert_eq!(read_secret(&server, "worker").await, 200);

    let (status, list) = call(&server, Method::GET, &assignments, &admin, None).await;
    assert_eq!(status, 200, "{list}");
    let worker = server.object_id("worker");
    let granted = list["value"].as_array().unwrap().iter().find(|a| a["properties"]["principalId"] == worker).unwrap();
    assert_eq!(granted["properties"]["scope"], vault);
    let (status, _) = call(&server, Method::DELETE, granted["id"].as_str().unwrap(), &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(read_secret(&server, "worker").await, 403, "the next read is refused");

    // One secret only: the Data Access Administrator may hand out Key Vault data roles...
    let name = uuid::Uuid::new_v4();
    let on_secret = format!("{vault}/secrets/ledger-key/providers/Microsoft.Authorization/roleAssignments/{name}");
    let secrets_user = json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6", server.tenant_id("woodgrove")),
        "principalId": worker,
    }});
    let (status, body) = call(&server, Method::PUT, &on_secret, &admin, Some(secrets_user.clone())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["properties"]["scope"], format!("{vault}/secrets/ledger-key"));
    assert_eq!(read_secret(&server, "worker").await, 200);
    let (status, body) = call(&server, Method::PUT, &on_secret, &admin, Some(secrets_user.clone())).await;
    assert_eq!(status, 201, "the same assignment again is no change: {body}");
    let again = format!(
        "{vault}/secrets/ledger-key/providers/Microsoft.Authorization/roleAssignments/{}",
        uuid::Uuid::new_v4()
    );
    let (status, body) = call(&server, Method::PUT, &again, &admin, Some(secrets_user)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("RoleAssignmentExists")));

    // ...but not Owner, and not at the tenant.
    let owner = json!({"properties": {
        "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "principalId": worker,
    }});
    let path = format!("{assignments}/{}", uuid::Uuid::new_v4());
    let (status, body) = call(&server, Method::PUT, &path, &admin, Some(owner.clone())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AuthorizationFailed")), "{body}");
    let tenant_path = format!(
        "/subscriptions/{}/providers/Microsoft.Authorization/roleAssignments/{}",
        server.tenant_id("woodgrove"),
        uuid::Uuid::new_v4()
    );
    let (status, _) = call(&server, Method::PUT, &tenant_path, &admin, Some(owner.clone())).await;
    assert_eq!(status, 403);
    // The Owner may.
    let boss = arm_token(&server, "owner").await;
    let (status, body) = call(&server, Method::PUT, &tenant_path, &boss, Some(owner)).await;
    assert_eq!(status, 201, "{body}");
    // Bad input is a clear 400.
    let bogus = json!({"properties": {"roleDefinitionId": "Emperor", "principalId": worker}});
    let (status, body) = call(&server, Method::PUT, &path, &boss, Some(bogus)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("RoleDefinitionDoesNotExist")));
}

#[tokio::test]
async fn vaults_are_created_changed_and_deleted_in_the_resource_manager_shape() {
    let server = TestServer::start(&config()).await;
    let contributor = arm_token(&server, "kv-contributor").await;
    let path = vault_path(&server, "fresh-vault");
    let body = json!({"location": "local", "properties": {
        "tenantId": server.tenant_id("woodgrove"), "sku": {"family": "A", "name": "standard"},
        "enableRbacAuthorization": true, "softDeleteRetentionInDays": 7,
    }});
    let (status, created) = call(&server, Method::PUT, &path, &contributor, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], path);
    assert_eq!(created["properties"]["softDeleteRetentionInDays"], 7);
    assert_eq!(created["properties"]["networkAcls"]["defaultAction"], "Allow");
    assert!(created["properties"]["vaultUri"].as_str().unwrap().starts_with("https://fresh-vault.vault.localhost:"));

    // Closing the firewall takes effect on the next data-plane request.
    let close =
        json!({"properties": {"networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "203.0.113.7"}]}}});
    let (status, body) = call(&server, Method::PATCH, &path, &contributor, Some(close)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["properties"]["networkAcls"]["ipRules"][0]["value"], "203.0.113.7/32");
    let address = server.running().address();
    let http = server.http_with("127.0.0.1".parse().unwrap(), &[("fresh-vault.vault.localhost".to_owned(), address)]);
    let token = vault_token(&server, "worker").await;
    let url = format!("{}/secrets?api-version=7.6", server.vault_url("fresh-vault"));
    let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["error"]["innererror"]["code"], "ForbiddenByFirewall");

    // Rules that cannot be: a clear 400, nothing changed.
    for bad in [
        json!({"properties": {"softDeleteRetentionInDays": 3}}),
        json!({"properties": {"networkAcls": {"ipRules": [{"value": "not-an-address"}]}}}),
        json!({"properties": {"publicNetworkAccess": "Sometimes"}}),
        json!({"properties": {"accessPolicies": [{"objectId": server.object_id("worker"), "permissions": {"secrets": ["levitate"]}}]}}),
    ] {
        let (status, body) = call(&server, Method::PATCH, &path, &contributor, Some(bad)).await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, now) = call(&server, Method::GET, &path, &contributor, None).await;
    assert_eq!((status, now["properties"]["softDeleteRetentionInDays"].as_u64()), (200, Some(7)));

    // Purge protection, once on, stays on.
    let (status, _) =
        call(&server, Method::PATCH, &path, &contributor, Some(json!({"properties": {"enablePurgeProtection": true}})))
            .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &server,
        Method::PATCH,
        &path,
        &contributor,
        Some(json!({"properties": {"enablePurgeProtection": false}})),
    )
    .await;
    assert_eq!(status, 400);

    let list_path = format!(
        "/subscriptions/{}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults",
        server.tenant_id("woodgrove")
    );
    let (_, list) = call(&server, Method::GET, &list_path, &contributor, None).await;
    let names: Vec<&str> = list["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fresh-vault", "ledger"]);

    // Deleting a vault soft-deletes it (resource_manager.rs follows it further).
    let (status, _) = call(&server, Method::DELETE, &path, &contributor, None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&server, Method::GET, &path, &contributor, None).await;
    assert_eq!(status, 404);
    // The Contributor role cannot hand out access.
    let grant = json!({"properties": {"roleDefinitionId": "Key Vault Administrator", "principalId": server.object_id("kv-contributor")}});
    let at = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{}",
        vault_path(&server, "ledger"),
        uuid::Uuid::new_v4()
    );
    let (status, _) = call(&server, Method::PUT, &at, &contributor, Some(grant)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn custom_roles_defined_at_runtime_grant_what_they_say() {
    let server = TestServer::start(&config()).await;
    let owner = arm_token(&server, "owner").await;
    let tenant = server.tenant_id("woodgrove");
    let role_id = uuid::Uuid::new_v4();
    let definition = format!("/subscriptions/{tenant}/providers/Microsoft.Authorization/roleDefinitions/{role_id}");
    let body = json!({"properties": {
        "roleName": "Secret Peeker", "description": "Reads values, nothing else.", "type": "CustomRole",
        "permissions": [{"actions": [], "dataActions": ["Microsoft.KeyVault/vaults/secrets/getSecret/action"]}],
        "assignableScopes": [format!("/subscriptions/{tenant}")],
    }});
    let (status, created) = call(&server, Method::PUT, &definition, &owner, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["properties"]["type"], "CustomRole");
    let (_, listed) = call(&server, Method::GET, &format!("/subscriptions/{tenant}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName eq 'Secret Peeker'"), &owner, None).await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1, "{listed}");

    let nobody = server.object_id("reader-app");
    let assignment = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{}",
        vault_path(&server, "ledger"),
        uuid::Uuid::new_v4()
    );
    let grant = json!({"properties": {"roleDefinitionId": definition, "principalId": nobody}});
    let (status, body) = call(&server, Method::PUT, &assignment, &owner, Some(grant)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(read_secret(&server, "reader-app").await, 200);
    let token = vault_token(&server, "reader-app").await;
    let list = server.vault_call(Method::GET, "ledger", "/secrets?api-version=7.6", Some(&token), None).await;
    assert_eq!(list.status(), 403, "the role grants values, not listing");

    let (status, body) = call(&server, Method::DELETE, &definition, &owner, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("RoleDefinitionHasAssignments")));
    // Built-in roles cannot be redefined.
    let builtin = format!(
        "/subscriptions/{tenant}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
    );
    let (status, _) = call(
        &server,
        Method::PUT,
        &builtin,
        &owner,
        Some(json!({"properties": {"roleName": "Owner", "permissions": [{"actions": ["*"]}]}})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn directory_roles_decide_who_manages_applications_and_users() {
    let server = TestServer::start(&config()).await;
    let admin = arm_token(&server, "directory-admin").await;
    let owner = arm_token(&server, "owner").await;
    let (status, body) =
        call(&server, Method::POST, "/v1.0/applications", &owner, Some(json!({"displayName": "sneaky"}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("Authorization_RequestDenied")),
        "Owner is no directory role"
    );

    let (status, app) =
        call(&server, Method::POST, "/v1.0/applications", &admin, Some(json!({"displayName": "payroll"}))).await;
    assert_eq!(status, 201, "{app}");
    let (app_id, client_id) = (app["id"].as_str().unwrap().to_owned(), app["appId"].as_str().unwrap().to_owned());
    let (status, body) =
        call(&server, Method::POST, "/v1.0/applications", &admin, Some(json!({"displayName": "payroll"}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, password) = call(
        &server,
        Method::POST,
        &format!("/v1.0/applications/{app_id}/addPassword"),
        &admin,
        Some(json!({"passwordCredential": {"displayName": "ci"}})),
    )
    .await;
    assert_eq!(status, 200, "{password}");
    let secret = password["secretText"].as_str().unwrap().to_owned();
    let scope = format!("{}/.default", server.resource());
    let (status, body) = token_with(&server, &client_id, &secret, &scope).await;
    assert_eq!(status, 200, "{body}");

    // The new application reads a secret once a role is assigned to it.
    let grant = json!({"properties": {"roleDefinitionId": "Key Vault Secrets User", "principalId": app_id}});
    let path = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{}",
        vault_path(&server, "ledger"),
        uuid::Uuid::new_v4()
    );
    let (status, body) = call(&server, Method::PUT, &path, &owner, Some(grant)).await;
    assert_eq!(status, 201, "{body}");
    let token = body_token(token_with(&server, &client_id, &secret, &scope).await);
    let read =
        server.vault_call(Method::GET, "ledger", "/secrets/ledger-key?api-version=7.6", Some(&token), None).await;
    assert_eq!(read.status(), 200);

    // A removed secret stops working; a deleted application cannot sign in at all.
    let key_id = password["keyId"].as_str().unwrap();
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/v1.0/applications/{app_id}/removePassword"),
        &admin,
        Some(json!({"keyId": key_id})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = token_with(&server, &client_id, &secret, &scope).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(7000215)), "{body}");
    let (status, _) = call(&server, Method::DELETE, &format!("/v1.0/applications/{app_id}"), &admin, None).await;
    assert_eq!(status, 204);
    let (status, body) = token_with(&server, &client_id, &secret, &scope).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(700016)), "{body}");

    // Users: created, disabled, deleted.
    let new_user = json!({"userPrincipalName": "dave@woodgrove", "accountEnabled": true, "passwordProfile": {"password": "dave-password-9"}});
    let (status, user) = call(&server, Method::POST, "/v1.0/users", &admin, Some(new_user)).await;
    assert_eq!(status, 201, "{user}");
    let worker = server.client_id("worker");
    let sign_in = [
        ("grant_type", "password"),
        ("client_id", worker.as_str()),
        ("client_secret", "worker-secret-0123456789"),
        ("username", "dave@woodgrove"),
        ("password", "dave-password-9"),
        ("scope", scope.as_str()),
    ];
    assert_eq!(server.token_request("woodgrove", &sign_in).await.0, 200);
    let user_path = format!("/v1.0/users/{}", user["id"].as_str().unwrap());
    let (status, _) = call(&server, Method::PATCH, &user_path, &admin, Some(json!({"accountEnabled": false}))).await;
    assert_eq!(status, 204);
    let (status, body) = server.token_request("woodgrove", &sign_in).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(50057)), "{body}");
    let (status, group) =
        call(&server, Method::POST, "/v1.0/groups", &admin, Some(json!({"displayName": "auditors"}))).await;
    assert_eq!(status, 201);
    let members = format!("/v1.0/groups/{}/members/$ref", group["id"].as_str().unwrap());
    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", user["id"].as_str().unwrap())});
    let (status, _) = call(&server, Method::POST, &members, &admin, Some(reference)).await;
    assert_eq!(status, 204);
    let user_id: uuid::Uuid = user["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(server.running().state().directory().groups_of(user_id).len(), 1);
    let (status, _) = call(&server, Method::DELETE, &user_path, &admin, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&server, Method::GET, &user_path, &admin, None).await;
    assert_eq!(status, 404);
}

fn body_token((status, body): (u16, Value)) -> String {
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn federated_credentials_added_at_runtime_find_their_issuers_keys_by_discovery() {
    // The issuer is on loopback, which discovery reaches only when the operator allows it.
    let server = TestServer::start(&format!("allowed_private_authorities = [\"localhost\"]\n{}", config())).await;
    let admin = arm_token(&server, "directory-admin").await;
    let (_, app) =
        call(&server, Method::POST, "/v1.0/applications", &admin, Some(json!({"displayName": "deployer"}))).await;
    let (app_id, client_id) = (app["id"].as_str().unwrap().to_owned(), app["appId"].as_str().unwrap().to_owned());
    // The external issuer is another tenant of this very server: its tokens are OpenID-discoverable JWTs.
    let issuer = format!("{}/{}/v2.0", server.authority_host(), server.tenant_id("contoso"));
    let contoso_admin =
        server.running().state().directory().principals().iter().find(|p| p.name == "admin").unwrap().object_id;
    let credentials = format!("/v1.0/applications/{app_id}/federatedIdentityCredentials");
    let federated = json!({"name": "from-contoso", "issuer": issuer, "subject": contoso_admin.to_string(),
                           "audiences": ["https://management.azure.com"]});
    let (status, body) = call(&server, Method::POST, &credentials, &admin, Some(federated.clone())).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = call(&server, Method::POST, &credentials, &admin, Some(federated)).await;
    assert_eq!(status, 409, "names are unique on an application");
    let (_, listed) = call(&server, Method::GET, &credentials, &admin, None).await;
    assert_eq!(listed["value"][0]["issuer"], issuer.as_str());

    let (status, body) = exchange(&server, &client_id, contoso_token(&server, "admin").await).await;
    assert_eq!(status, 200, "the issuer's keys were found by discovery: {body}");
    let (status, body) = exchange(&server, &client_id, contoso_token(&server, "nobody").await).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(70021)), "another subject: {body}");

    let (status, _) = call(&server, Method::DELETE, &format!("{credentials}/from-contoso"), &admin, None).await;
    assert_eq!(status, 204);
    let (status, body) = exchange(&server, &client_id, contoso_token(&server, "admin").await).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(70021)), "a removed credential: {body}");

    // An issuer whose keys are to be discovered must be https.
    let plain = json!({"name": "plain", "issuer": "http://issuer.example", "subject": "s", "audiences": ["a"]});
    let (status, _) = call(&server, Method::POST, &credentials, &admin, Some(plain)).await;
    assert_eq!(status, 400);
    // Certificates are replaced with keyCredentials; a key that is not a certificate is a clear 400.
    let certificate = rcgen::generate_simple_self_signed(vec!["deployer".to_owned()]).unwrap();
    let der = base64::engine::general_purpose::STANDARD.encode(certificate.cert.der());
    let keys = json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": der}]});
    let (status, _) = call(&server, Method::PATCH, &format!("/v1.0/applications/{app_id}"), &admin, Some(keys)).await;
    assert_eq!(status, 204);
    let (_, shown) = call(&server, Method::GET, &format!("/v1.0/applications/{app_id}"), &admin, None).await;
    assert_eq!(shown["keyCredentials"].as_array().unwrap().len(), 1, "{shown}");
    let bad = json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "bm90IGEgY2VydA=="}]});
    let (status, _) = call(&server, Method::PATCH, &format!("/v1.0/applications/{app_id}"), &admin, Some(bad)).await;
    assert_eq!(status, 400);
}

/// Exchanges `assertion` for a vault token of the woodgrove application `client_id`.
async fn exchange(server: &TestServer, client_id: &str, assertion: String) -> (u16, Value) {
    let scope = format!("{}/.default", server.resource());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
        ("scope", scope.as_str()),
    ];
    server.token_request("woodgrove", &form).await
}

/// A management token of the contoso application `app`.
async fn contoso_token(server: &TestServer, app: &str) -> String {
    let client_id = server.client_id(app);
    let secret = format!("{app}-secret-0123456789");
    let form =
        [("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", &secret), ("scope", ARM)];
    let (status, body) = server.token_request("contoso", &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn user_assigned_identities_are_created_assigned_to_workloads_and_deleted() {
    let tail = format!(
        "imds_listen = \"127.0.0.1:0\"\n{}\n[[tenant.managed_identity]]\nname = \"vm-1\"\nkind = \"system\"\nsource_addresses = [\"127.0.0.21\"]\n",
        config()
    );
    let server = TestServer::start(&tail).await;
    let owner = arm_token(&server, "owner").await;
    let identities = format!(
        "/subscriptions/{}/resourceGroups/strongroom/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
        server.tenant_id("woodgrove")
    );
    let body = json!({"location": "local", "properties": {"assignedTo": ["vm-1"]}});
    let (status, created) = call(&server, Method::PUT, &format!("{identities}/batch"), &owner, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let client_id = created["properties"]["clientId"].as_str().unwrap().to_owned();
    let (_, listed) = call(&server, Method::GET, &identities, &owner, None).await;
    assert_eq!(listed["value"][0]["properties"]["assignedTo"][0], "vm-1");

    let imds = server.running().imds_address().unwrap();
    let from_vm = server.http_from("127.0.0.21".parse().unwrap());
    let url = format!(
        "http://{imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}&client_id={client_id}",
        server.resource()
    );
    let ask = || from_vm.get(&url).header("Metadata", "true").send();
    assert_eq!(ask().await.unwrap().status(), 200, "the workload uses the identity assigned to it");
    let (status, body) = call(
        &server,
        Method::PUT,
        &format!("{identities}/batch"),
        &owner,
        Some(json!({"properties": {"assignedTo": []}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(ask().await.unwrap().status(), 200, "no longer assigned");
    let (status, _) = call(
        &server,
        Method::PUT,
        &format!("{identities}/other"),
        &owner,
        Some(json!({"properties": {"assignedTo": ["nowhere"]}})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(&server, Method::DELETE, &format!("{identities}/batch"), &owner, None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&server, Method::GET, &format!("{identities}/batch"), &owner, None).await;
    assert_eq!(status, 404);
    let reader = arm_token(&server, "worker").await;
    let (status, _) = call(&server, Method::PUT, &format!("{identities}/sneaky"), &reader, Some(json!({}))).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn registered_redirect_uris_decide_where_a_sign_in_may_return() {
    let server = TestServer::start(&config()).await;
    let admin = arm_token(&server, "directory-admin").await;
    let (_, app) =
        call(&server, Method::POST, "/v1.0/applications", &admin, Some(json!({"displayName": "portal"}))).await;
    let client_id = app["appId"].as_str().unwrap().to_owned();
    let authorize = |redirect: &str| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", &format!("{}/.default", server.resource()))
            // A public client must send a PKCE S256 challenge (attack_flows.rs).
            .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
            .append_pair("code_challenge_method", "S256")
            .finish();
        server.http.get(format!("{}/woodgrove/oauth2/v2.0/authorize?{query}", server.authority_host())).send()
    };
    assert_eq!(authorize("http://localhost:5000/cb").await.unwrap().status(), 200, "nothing registered: loopback");
    assert_eq!(authorize("https://portal.example/cb").await.unwrap().status(), 400);

    let uris = json!({"web": {"redirectUris": ["https://portal.example/cb"]}, "publicClient": {"redirectUris": ["http://localhost/cb"]}});
    let (status, _) = call(
        &server,
        Method::PATCH,
        &format!("/v1.0/applications/{}", app["id"].as_str().unwrap()),
        &admin,
        Some(uris),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(authorize("https://portal.example/cb").await.unwrap().status(), 200);
    assert_eq!(authorize("http://localhost:61234/cb").await.unwrap().status(), 200, "a loopback port is free");
    let refused = authorize("http://localhost:61234/elsewhere").await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("AADSTS50011"));
    let page = authorize("https://portal.example/cb").await.unwrap();
    let cookie = page.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly") && cookie.contains("Secure"), "{cookie}");

    let bad = json!({"web": {"redirectUris": ["http://portal.example/cb"]}});
    let (status, _) =
        call(&server, Method::PATCH, &format!("/v1.0/applications/{}", app["id"].as_str().unwrap()), &admin, Some(bad))
            .await;
    assert_eq!(status, 400, "plain http is for loopback only");
}

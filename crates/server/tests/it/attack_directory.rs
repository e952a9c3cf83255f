//! Attacks on roles, tenants and the directory (issue 18, items 3, 4, 5, 8 and 9): a holder of one ordinary
//! role tries to reach past it through the management API and the directory, and is refused.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_server::config::Config;
use strongroom_server::installation::Installation;

use crate::harness::TestServer;

pub const ARM: &str = "https://management.azure.com/.default";
pub const GRAPH: &str = "https://graph.microsoft.com/.default";

/// A tenant of applications and users holding one role each, a vault with a secret, and a second tenant with
/// a custom role of its own.
fn config() -> String {
    r#"
[[tenant]]
name = "woodgrove"

[[tenant.app]]
name = "cli"
secrets = ["cli-secret-0123456789"]

[[tenant.app]]
name = "owner"
secrets = ["owner-secret-0123456789"]

[[tenant.app]]
name = "contributor"
secrets = ["contributor-secret-0123456789"]

[[tenant.app]]
name = "kv-contributor"
secrets = ["kv-contributor-secret-0123456789"]

[[tenant.app]]
name = "vault-writer"
secrets = ["vault-writer-secret-0123456789"]

[[tenant.app]]
name = "alpha"
secrets = ["alpha-secret-0123456789"]

[[tenant.app]]
name = "beta"
secrets = ["beta-secret-0123456789"]

[[tenant.user]]
name = "global-admin"
password = "global-admin-password-1"

[[tenant.user]]
name = "user-admin"
password = "user-admin-password-1"

[[tenant.user]]
name = "groups-admin"
password = "groups-admin-password-1"

[[tenant.user]]
name = "role-admin"
password = "role-admin-password-1"

[[tenant.user]]
name = "auth-admin"
password = "auth-admin-password-1"

[[tenant.user]]
name = "plain"
password = "plain-password-1"
groups = ["staff"]

[[tenant.group]]
name = "admins"

[[tenant.group]]
name = "staff"

[[tenant.role_definition]]
name = "Vault writer"
actions = ["Microsoft.KeyVault/vaults/read", "Microsoft.KeyVault/vaults/write"]

[[tenant.role_assignment]]
principal = "owner"
role = "Owner"

[[tenant.role_assignment]]
principal = "contributor"
role = "Contributor"

[[tenant.role_assignment]]
principal = "kv-contributor"
role = "Key Vault Contributor"

[[tenant.role_assignment]]
principal = "vault-writer"
role = "Vault writer"

[[tenant.role_assignment]]
principal = "global-admin"
role = "Global Administrator"

[[tenant.role_assignment]]
principal = "admins"
principal_type = "group"
role = "Global Administrator"

[[tenant.role_assignment]]
principal = "user-admin"
role = "User Administrator"

[[tenant.role_assignment]]
principal = "groups-admin"
role = "Groups Administrator"

[[tenant.role_assignment]]
principal = "role-admin"
role = "Privileged Role Administrator"

[[tenant.role_assignment]]
principal = "auth-admin"
role = "Privileged Authentication Administrator"

[[tenant.vault]]
name = "ledger"

[[tenant.vault.secret]]
name = "ledger-key"
value = "ledger-value-7"

[[tenant]]
name = "fabrikam"

[[tenant.app]]
name = "fabrikam-owner"
secrets = ["fabrikam-owner-secret-0123456789"]

[[tenant.app]]
name = "fabrikam-worker"
secrets = ["fabrikam-worker-secret-0123456789"]

[[tenant.role_assignment]]
principal = "fabrikam-owner"
role = "Owner"

[[tenant.role_definition]]
name = "Reader of one"
data_actions = ["Microsoft.KeyVault/vaults/secrets/readMetadata/action"]

[[tenant.vault]]
name = "fabrikam-vault"

[[tenant.vault.role_assignment]]
principal = "fabrikam-worker"
role = "Reader of one"
"#
    .to_owned()
}

fn client_id(server: &TestServer, app: &str) -> String {
    server.client_id(app)
}

/// A token of the application `app` of `tenant` for `scope` (its secret is `{app}-secret-0123456789`).
pub async fn app_token(server: &TestServer, tenant: &str, app: &str, scope: &str) -> String {
    let secret = format!("{app}-secret-0123456789");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", &client_id(server, app)),
        ("client_secret", &secret),
        ("scope", scope),
    ];
    let (status, body) = server.token_request(tenant, &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The status of a password sign-in of `user` of `tenant` (through the application `via`), and the token.
pub async fn user_sign_in(
    server: &TestServer,
    tenant: &str,
    via: &str,
    user: &str,
    password: &str,
    scope: &str,
) -> (u16, Value) {
    // The application is confidential (it holds `{via}-secret-0123456789`): it proves itself too.
    let form = [
        ("grant_type", "password"),
        ("client_id", &client_id(server, via)),
        ("client_secret", &format!("{via}-secret-0123456789")),
        ("username", user),
        ("password", password),
        ("scope", scope),
    ];
    server.token_request(tenant, &form).await
}

/// A token of the user `user` (password `{user}-password-1`) of woodgrove for `scope`.
pub async fn user_token(server: &TestServer, user: &str, scope: &str) -> String {
    let (status, body) = user_sign_in(server, "woodgrove", "cli", user, &format!("{user}-password-1"), scope).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A management or Graph call on the login host: status and JSON body (`null` when none).
pub async fn call(server: &TestServer, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{separator}api-version=2022-07-01", server.authority_host());
    let mut request = server.http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn vault_path(server: &TestServer, tenant: &str, vault: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/{vault}",
        server.tenant_id(tenant)
    )
}

async fn read_ledger_secret(server: &TestServer, app: &str) -> u16 {
    let token = app_token(server, "woodgrove", app, &format!("{}/.default", server.resource())).await;
    let path = "/secrets/ledger-key?api-version=7.6";
    server.vault_call(Method::GET, "ledger", path, Some(&token), None).await.status().as_u16()
}

/// Item 3: an Owner of one tenant PUTs a role definition (and a role assignment) with the id of another
/// tenant's: refused, and the other tenant's role and assignment are as they were.
#[tokio::test]
async fn another_tenants_role_definition_and_assignment_ids_cannot_be_taken_over() {
    let server = TestServer::start(&config()).await;
    let directory = server.running().state().directory();
    let victim = directory.role_definitions.iter().find(|r| r.name == "Reader of one").unwrap().clone();
    let fabrikam = directory.vault("fabrikam-vault").unwrap().clone();
    let victim_assignment = directory.role_assignments(fabrikam.id)[0].clone();
    let owner = app_token(&server, "woodgrove", "owner", ARM).await;
    let woodgrove = server.tenant_id("woodgrove");

    let everything = json!({"properties": {
        "roleName": "Everything", "description": "",
        "permissions": [{"actions": [], "notActions": [], "dataActions": ["*"], "notDataActions": []}],
        "assignableScopes": [format!("/subscriptions/{woodgrove}")],
    }});
    let path = format!("/subscriptions/{woodgrove}/providers/Microsoft.Authorization/roleDefinitions/{}", victim.id);
    let (status, body) = call(&server, Method::PUT, &path, &owner, Some(everything)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("ResourceIdInUse")), "{body}");

    let grant = json!({"properties": {"roleDefinitionId": "Owner", "principalId": server.object_id("contributor")}});
    let path = format!(
        "/subscriptions/{woodgrove}/providers/Microsoft.Authorization/roleAssignments/{}",
        victim_assignment.id
    );
    let (status, body) = call(&server, Method::PUT, &path, &owner, Some(grant)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("ResourceIdInUse")), "{body}");

    let after = server.running().state().directory();
    let role = after.role_definitions.iter().find(|r| r.id == victim.id).unwrap();
    assert_eq!(role.as_ref(), victim.as_ref());
    assert_eq!(after.role_assignments(fabrikam.id), [victim_assignment]);
    let worker = app_token(&server, "fabrikam", "fabrikam-worker", &format!("{}/.default", server.resource())).await;
    let path = "/secrets/anything?api-version=7.6";
    let response = server.vault_call(Method::GET, "fabrikam-vault", path, Some(&worker), None).await;
    assert_eq!(response.status().as_u16(), 403);
}

/// Item 4: Contributor and Key Vault Contributor try to switch an RBAC vault to access policies and write
/// themselves an entry; a role with `vaults/write` alone tries to write access policies.
#[tokio::test]
async fn contributors_cannot_switch_the_permission_model_or_write_policies_they_lack() {
    let server = TestServer::start(&config()).await;
    let path = vault_path(&server, "woodgrove", "ledger");
    for attacker in ["contributor", "kv-contributor"] {
        let token = app_token(&server, "woodgrove", attacker, ARM).await;
        let me = server.object_id(attacker);
        let everything = json!({"objectId": me, "tenantId": server.tenant_id("woodgrove"),
            "permissions": {"secrets": ["all"], "keys": [], "certificates": []}});
        for body in [
            json!({"properties": {"enableRbacAuthorization": false, "accessPolicies": [everything.clone()]}}),
            json!({"properties": {"enableRbacAuthorization": false}}),
        ] {
            let (status, refused) = call(&server, Method::PATCH, &path, &token, Some(body.clone())).await;
            assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("AuthorizationFailed")), "{attacker}");
            let message = refused["error"]["message"].as_str().unwrap();
            assert!(message.contains("Microsoft.Authorization/roleAssignments/write"), "{message}");
            let mut put = body;
            put["location"] = json!("local");
            let (status, _) = call(&server, Method::PUT, &path, &token, Some(put)).await;
            assert_eq!(status, 403, "{attacker}");
        }
        assert_eq!(read_ledger_secret(&server, attacker).await, 403);
        // Writing access policies is theirs in Azure (Microsoft.KeyVault/*): on an RBAC vault it grants nothing.
        let add = json!({"properties": {"accessPolicies": [everything]}});
        let (status, body) = call(&server, Method::PUT, &format!("{path}/accessPolicies/add"), &token, Some(add)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(read_ledger_secret(&server, attacker).await, 403);
    }
    let vault = server.running().state().directory().vault("ledger").unwrap().clone();
    assert_eq!(vault.authorization, strongroom_core::directory::AuthorizationModel::Rbac);

    // vaults/write alone writes no access policy, by PATCH or through the accessPolicies endpoint.
    let writer = app_token(&server, "woodgrove", "vault-writer", ARM).await;
    let entry = json!({"objectId": server.object_id("vault-writer"), "permissions": {"secrets": ["get"]}});
    let (status, body) =
        call(&server, Method::PATCH, &path, &writer, Some(json!({"properties": {"accessPolicies": [entry.clone()]}})))
            .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AuthorizationFailed")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("Microsoft.KeyVault/vaults/accessPolicies/write"));
    let add = json!({"properties": {"accessPolicies": [entry]}});
    let (status, _) = call(&server, Method::PUT, &format!("{path}/accessPolicies/add"), &writer, Some(add)).await;
    assert_eq!(status, 403);
    let (status, body) =
        call(&server, Method::PATCH, &path, &writer, Some(json!({"properties": {"softDeleteRetentionInDays": 30}})))
            .await;
    assert_eq!(status, 200, "{body}");

    // The Owner may change the model, as in Azure.
    let owner = app_token(&server, "woodgrove", "owner", ARM).await;
    let (status, body) =
        call(&server, Method::PATCH, &path, &owner, Some(json!({"properties": {"enableRbacAuthorization": false}})))
            .await;
    assert_eq!((status, body["properties"]["enableRbacAuthorization"].as_bool()), (200, Some(false)), "{body}");
}

/// Item 5: a User Administrator resets a Global Administrator's password; a Groups Administrator and a User
/// Administrator join a group that holds a directory role, or create one.
#[tokio::test]
async fn user_and_groups_administrators_cannot_become_global_administrators() {
    let server = TestServer::start(&config()).await;
    let user_admin = user_token(&server, "user-admin", GRAPH).await;
    let global_admin = server.object_id("global-admin");
    let reset = json!({"passwordProfile": {"password": "taken-over-password-1"}});
    for (method, body) in [
        (Method::PATCH, Some(reset.clone())),
        (Method::PATCH, Some(json!({"accountEnabled": false}))),
        (Method::DELETE, None),
    ] {
        let (status, refused) =
            call(&server, method.clone(), &format!("/v1.0/users/{global_admin}"), &user_admin, body).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "{method}");
    }
    let (status, _) = user_sign_in(&server, "woodgrove", "cli", "global-admin", "taken-over-password-1", GRAPH).await;
    assert_eq!(status, 400);
    let (status, _) = user_sign_in(&server, "woodgrove", "cli", "global-admin", "global-admin-password-1", GRAPH).await;
    assert_eq!(status, 200);
    // Members of a role-assignable group are as privileged as the role.
    let plain = server.object_id("plain");
    let admins = server.object_id("admins");
    let join =
        |member: &str| json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")});
    let members = format!("/v1.0/groups/{admins}/members/$ref");
    // A user with no role is still the User Administrator's to reset.
    let (status, body) =
        call(&server, Method::PATCH, &format!("/v1.0/users/{plain}"), &user_admin, Some(reset.clone())).await;
    assert_eq!(status, 204, "{body}");

    for attacker in ["groups-admin", "user-admin"] {
        let token = user_token(&server, attacker, GRAPH).await;
        let me = server.object_id(attacker);
        let (status, refused) = call(&server, Method::POST, &members, &token, Some(join(&me))).await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (403, Some("Authorization_RequestDenied")),
            "{attacker}"
        );
        // Nor through a group nested in it.
        let staff = server.object_id("staff");
        let (status, _) = call(&server, Method::POST, &members, &token, Some(join(&staff))).await;
        assert_eq!(status, 403, "{attacker}");
        let role_assignable = json!({"displayName": format!("{attacker}-admins"), "isAssignableToRole": true});
        let (status, _) = call(&server, Method::POST, "/v1.0/groups", &token, Some(role_assignable)).await;
        assert_eq!(status, 403, "{attacker}");
        // Ordinary groups stay theirs to manage.
        let (status, body) =
            call(&server, Method::POST, &format!("/v1.0/groups/{staff}/members/$ref"), &token, Some(join(&me))).await;
        assert_eq!(status, 204, "{attacker}: {body}");
        let (status, _) =
            call(&server, Method::DELETE, &format!("/v1.0/groups/{staff}/members/{me}/$ref"), &token, None).await;
        assert_eq!(status, 204, "{attacker}");
    }
    let directory = server.running().state().directory();
    let tenant = directory.tenant("woodgrove").unwrap().id;
    for attacker in ["groups-admin", "user-admin"] {
        let roles = directory.directory_roles_of(tenant, server.object_id(attacker).parse().unwrap());
        assert_eq!(roles.len(), 1, "{attacker} gained a directory role");
    }
    let (_, groups) = call(&server, Method::GET, &format!("/v1.0/groups/{admins}"), &user_admin, None).await;
    assert_eq!(groups["isAssignableToRole"], true);

    // A Privileged Role Administrator manages the group's members; a Privileged Authentication Administrator
    // resets an administrator's password.
    let role_admin = user_token(&server, "role-admin", GRAPH).await;
    let (status, body) = call(&server, Method::POST, &members, &role_admin, Some(join(&plain))).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) =
        call(&server, Method::DELETE, &format!("/v1.0/groups/{admins}/members/{plain}/$ref"), &role_admin, None).await;
    assert_eq!(status, 204);
    let auth_admin = user_token(&server, "auth-admin", GRAPH).await;
    let (status, body) =
        call(&server, Method::PATCH, &format!("/v1.0/users/{global_admin}"), &auth_admin, Some(reset)).await;
    assert_eq!(status, 204, "{body}");
}

/// Item 8: the filters the Azure CLI sends select the object they name, and options this server cannot
/// evaluate are refused instead of ignored.
#[tokio::test]
async fn graph_filters_select_what_they_name_and_other_options_are_refused() {
    let server = TestServer::start(&config()).await;
    let admin = user_token(&server, "global-admin", GRAPH).await;
    let beta = client_id(&server, "beta");
    let names = |body: &Value| -> Vec<String> {
        body["value"].as_array().unwrap().iter().map(|v| v["displayName"].as_str().unwrap().to_owned()).collect()
    };
    let query = |q: &str| form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
    for (path, expected) in [
        (format!("/v1.0/applications?$filter={}", query(&format!("appId eq '{beta}'"))), vec!["beta"]),
        (
            format!(
                "/v1.0/servicePrincipals?$filter={}",
                query(&format!("servicePrincipalNames/any(c:c eq '{beta}')"))
            ),
            vec!["beta"],
        ),
        (
            format!("/v1.0/servicePrincipals?$filter={}", query(&format!("appId eq '{}'", beta.to_uppercase()))),
            vec!["beta"],
        ),
        (format!("/v1.0/applications?$filter={}", query("displayName eq 'ALPHA'")), vec!["alpha"]),
        (
            format!("/v1.0/applications?$filter={}", query("startswith(displayName,'al') or displayName eq 'beta'")),
            vec!["alpha", "beta"],
        ),
        (format!("/v1.0/applications?$filter={}", query("appId eq 'it''s not there'")), vec![]),
        // Applications have no identifier URIs here: the filter the CLI resolves a name by matches none.
        (format!("/v1.0/applications?$filter={}", query("identifierUris/any(c:c eq 'api://x')")), vec![]),
        (format!("/v1.0/users?$filter={}", query("userPrincipalName eq 'plain@woodgrove'")), vec!["plain"]),
        (format!("/v1.0/users?$filter={}", query("mail eq 'plain@woodgrove'")), vec![]),
        (format!("/v1.0/groups?$filter={}", query("displayName eq 'staff'")), vec!["staff"]),
        (
            format!("/v1.0/groups?$filter={}&$top=1", query(&format!("id eq '{}'", server.object_id("admins")))),
            vec!["admins"],
        ),
    ] {
        let (status, body) = call(&server, Method::GET, &path, &admin, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(names(&body), expected, "{path}");
    }
    // What the Azure CLI's `az role assignment create --assignee {appId}` does: the first match is taken.
    let path =
        format!("/v1.0/servicePrincipals?$filter={}", query(&format!("servicePrincipalNames/any(c:c eq '{beta}')")));
    let (_, found) = call(&server, Method::GET, &path, &admin, None).await;
    assert_eq!(found["value"][0]["id"], server.object_id("beta"));

    for refused in [
        "/v1.0/applications?$search=%22displayName:beta%22".to_owned(),
        "/v1.0/applications?$orderby=displayName".to_owned(),
        "/v1.0/applications?$count=true".to_owned(),
        "/v1.0/applications?$expand=owners".to_owned(),
        format!("/v1.0/applications?$filter={}", query("appId ne 'x'")),
        format!("/v1.0/applications?$filter={}", query("tags/all(c:c eq 'x')")),
        format!("/v1.0/users?filter={}", query("otherMails/any(c:c eq 'x')")),
        format!("/v1.0/applications/{}?$filter={}", server.object_id("beta"), query("appId eq 'x'")),
    ] {
        let (status, body) = call(&server, Method::GET, &refused, &admin, None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("Request_UnsupportedQuery")),
            "{refused}: {body}"
        );
    }
    for invalid in ["/v1.0/applications?$filter=appId%20eq%20'unterminated", "/v1.0/applications?$top=0"] {
        let (status, body) = call(&server, Method::GET, invalid, &admin, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("BadRequest")), "{invalid}: {body}");
    }
}

/// Item 9: a role assignment naming a principal two kinds share is a configuration error naming both; a kind
/// given with `principal_type` decides.
#[tokio::test]
async fn a_principal_name_shared_by_two_kinds_must_say_its_kind() {
    let ambiguous = |principal_type: &str| {
        format!(
            "[[tenant]]\nname = \"t\"\n[[tenant.app]]\nname = \"deployer\"\nsecrets = [\"deployer-secret-0123456789\"]\n\
             [[tenant.user]]\nname = \"deployer\"\npassword = \"deployer-password-1\"\n\
             [[tenant.vault]]\nname = \"prod\"\n[[tenant.vault.role_assignment]]\nprincipal = \"deployer\"\n{principal_type}\
             role = \"Key Vault Administrator\"\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let text = |tail: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nlogin_host = \"localhost\"\n{tail}",
            dir.path().display()
        )
    };
    let config = Config::parse(&text(&ambiguous("")), Path::new("test.toml")).unwrap();
    let installation = Installation::open(config.server).await.unwrap();
    let refused = installation.provision(&config.desired).await.err().unwrap().to_string();
    assert!(refused.contains("both a") && refused.contains("user") && refused.contains("application"), "{refused}");

    let bad = Config::parse(&text(&ambiguous("principal_type = \"robot\"\n")), Path::new("test.toml"));
    assert!(bad.is_err());
    let server = TestServer::start(&ambiguous("principal_type = \"application\"\n")).await;
    let directory = server.running().state().directory();
    let vault = directory.vault("prod").unwrap();
    let app = directory.principals().iter().find(|p| p.kind == strongroom_core::directory::PrincipalKind::Application);
    assert_eq!(directory.role_assignments(vault.id)[0].principal_id, app.unwrap().object_id);
}

/// Item 7: bounded random Graph filters, Resource Manager paths and role definitions. Nothing answers 5xx,
/// and every refusal is the protocol's `{"error": {"code", "message"}}`.
#[tokio::test]
async fn malformed_filters_paths_and_role_definitions_get_the_protocols_refusal() {
    use proptest::prop_oneof;
    use proptest::strategy::{Just, Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let server = TestServer::start(&config()).await;
    let graph = user_token(&server, "global-admin", GRAPH).await;
    let owner = app_token(&server, "woodgrove", "owner", ARM).await;
    let tenant = server.tenant_id("woodgrove");
    let mut runner = TestRunner::deterministic();
    let mut sample = |strategy: &dyn Fn() -> proptest::strategy::BoxedStrategy<String>| {
        strategy().new_tree(&mut runner).unwrap().current()
    };
    let check = |what: String, (status, body): (u16, Value)| {
        assert!(status < 500, "{what}: {status} {body}");
        if status >= 400 && status != 401 {
            assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{what}: {body}");
        }
    };
    let filter = || {
        proptest::collection::vec(
            prop_oneof![
                "[a-zA-Z]{1,12}",
                Just(" eq ".to_owned()),
                Just("'".to_owned()),
                Just("(".to_owned()),
                Just(")".to_owned()),
                Just("/any(c:c".to_owned()),
                "\\PC{0,4}"
            ],
            0..12,
        )
        .prop_map(|p| p.concat())
        .boxed()
    };
    let segments = || "[a-zA-Z0-9./$()'-]{0,12}(/[a-zA-Z0-9.$'-]{0,12}){0,8}".boxed();
    let pattern = || prop_oneof!["[*a-zA-Z./]{0,30}", "\\PC{0,12}"].boxed();
    for _ in 0..48 {
        let text = sample(&filter);
        let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
        for collection in ["applications", "servicePrincipals", "users", "groups"] {
            let path = format!("/v1.0/{collection}?$filter={encoded}");
            check(path.clone(), call(&server, Method::GET, &path, &graph, None).await);
        }
        let path = format!("/subscriptions/{tenant}/{}", sample(&segments));
        check(path.clone(), call(&server, Method::GET, &path, &owner, None).await);
        let body = json!({"properties": {
            "roleName": sample(&pattern),
            "permissions": [{"actions": [sample(&pattern)], "dataActions": [sample(&pattern)], "notDataActions": [sample(&pattern)]}],
        }});
        let path = format!(
            "/subscriptions/{tenant}/providers/Microsoft.Authorization/roleDefinitions/{}",
            uuid::Uuid::new_v4()
        );
        check(body.to_string(), call(&server, Method::PUT, &path, &owner, Some(body)).await);
    }
}

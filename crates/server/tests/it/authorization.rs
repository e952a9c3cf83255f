//! Generated matrices: every built-in role (and a custom one) × every data-plane operation on secrets and keys
//! × scope × how the role reaches the caller (directly, through a group, through a nested group), and every
//! access-policy permission × every secret operation. Each cell's expectation is computed here from Azure's role
//! definitions (tests/fixtures/azure-roles.json, data written from Azure's documentation) with the test's own
//! wildcard matcher, and from the spec's permission table, independently of the server's code; a wrong cell is
//! printed.

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_server::identity::mint;

use crate::harness::TestServer;

const API: &str = "api-version=7.6";

/// (name, method, path, body, RBAC data action, access-policy permission, names one object)
type Op = (&'static str, Method, &'static str, Option<Value>, String, &'static str, bool);

fn operations() -> Vec<Op> {
    let secrets = "Microsoft.KeyVault/vaults/secrets/";
    let action = |suffix: &str| format!("{secrets}{suffix}");
    vec![
        ("set", Method::PUT, "/secrets/target", Some(json!({"value": "v"})), action("setSecret/action"), "set", true),
        ("get", Method::GET, "/secrets/target", None, action("getSecret/action"), "get", true),
        ("update", Method::PATCH, "/secrets/target/", Some(json!({})), action("update/action"), "set", true),
        ("list", Method::GET, "/secrets", None, action("readMetadata/action"), "list", false),
        ("versions", Method::GET, "/secrets/target/versions", None, action("readMetadata/action"), "list", true),
        ("backup", Method::POST, "/secrets/target/backup", None, action("backup/action"), "backup", true),
        (
            "restore",
            Method::POST,
            "/secrets/restore",
            Some(json!({"value": "x"})),
            action("restore/action"),
            "restore",
            false,
        ),
        ("delete", Method::DELETE, "/secrets/target", None, action("delete"), "delete", true),
        ("list deleted", Method::GET, "/deletedsecrets", None, action("readMetadata/action"), "list", false),
        ("get deleted", Method::GET, "/deletedsecrets/target", None, action("readMetadata/action"), "get", true),
        ("recover", Method::POST, "/deletedsecrets/target/recover", None, action("recover/action"), "recover", true),
        ("purge", Method::DELETE, "/deletedsecrets/target", None, action("purge/action"), "purge", true),
    ]
}

/// The key operations: (name, method, path, body, RBAC data action). The key need not exist: a 404 after the
/// permission check still shows the check let the request through.
fn key_operations() -> Vec<Op> {
    let keys = |suffix: &str| format!("Microsoft.KeyVault/vaults/keys/{suffix}");
    let crypto = |alg: &str| Some(json!({"alg": alg, "value": "AAAA", "digest": "AAAA"}));
    vec![
        (
            "create key",
            Method::POST,
            "/keys/target/create",
            Some(json!({"kty": "EC"})),
            keys("create/action"),
            "create",
            true,
        ),
        ("get key", Method::GET, "/keys/target", None, keys("read"), "get", true),
        ("list keys", Method::GET, "/keys", None, keys("read"), "list", false),
        ("key versions", Method::GET, "/keys/target/versions", None, keys("read"), "list", true),
        ("update key", Method::PATCH, "/keys/target", Some(json!({})), keys("update/action"), "update", true),
        ("sign", Method::POST, "/keys/target/sign", crypto("ES256"), keys("sign/action"), "sign", true),
        ("verify", Method::POST, "/keys/target/verify", crypto("ES256"), keys("verify/action"), "verify", true),
        ("encrypt", Method::POST, "/keys/target/encrypt", crypto("RSA-OAEP"), keys("encrypt/action"), "encrypt", true),
        ("decrypt", Method::POST, "/keys/target/decrypt", crypto("RSA-OAEP"), keys("decrypt/action"), "decrypt", true),
        ("wrap", Method::POST, "/keys/target/wrapkey", crypto("RSA-OAEP"), keys("wrap/action"), "wrapkey", true),
        (
            "unwrap",
            Method::POST,
            "/keys/target/unwrapkey",
            crypto("RSA-OAEP"),
            keys("unwrap/action"),
            "unwrapkey",
            true,
        ),
        (
            "import key",
            Method::PUT,
            "/keys/target",
            Some(json!({"key": {"kty": "EC"}})),
            keys("import/action"),
            "import",
            true,
        ),
        ("rotate key", Method::POST, "/keys/target/rotate", None, keys("rotate/action"), "rotate", true),
        ("backup key", Method::POST, "/keys/target/backup", None, keys("backup/action"), "backup", true),
        (
            "restore key",
            Method::POST,
            "/keys/restore",
            Some(json!({"value": "x"})),
            keys("restore/action"),
            "restore",
            false,
        ),
        ("delete key", Method::DELETE, "/keys/target", None, keys("delete"), "delete", true),
        ("list deleted keys", Method::GET, "/deletedkeys", None, keys("read"), "list", false),
        ("get deleted key", Method::GET, "/deletedkeys/target", None, keys("read"), "get", true),
        ("recover key", Method::POST, "/deletedkeys/target/recover", None, keys("recover/action"), "recover", true),
        ("purge key", Method::DELETE, "/deletedkeys/target", None, keys("purge/action"), "purge", true),
        ("key attestation", Method::GET, "/keys/target/v/attestation", None, keys("read"), "get", true),
        (
            "get rotation policy",
            Method::GET,
            "/keys/target/rotationpolicy",
            None,
            "Microsoft.KeyVault/vaults/keyrotationpolicies/read".to_owned(),
            "getrotationpolicy",
            true,
        ),
        (
            "set rotation policy",
            Method::PUT,
            "/keys/target/rotationpolicy",
            Some(json!({"lifetimeActions": []})),
            "Microsoft.KeyVault/vaults/keyrotationpolicies/write".to_owned(),
            "setrotationpolicy",
            true,
        ),
        ("random bytes", Method::POST, "/rng", Some(json!({"count": 4})), keys("rng/action"), "get", false),
        (
            "release",
            Method::POST,
            "/keys/target/release",
            Some(json!({"target": "x"})),
            keys("release/action"),
            "release",
            true,
        ),
    ]
}

/// The certificate operations, as [`key_operations`].
fn certificate_operations() -> Vec<Op> {
    let certificates = |suffix: &str| format!("Microsoft.KeyVault/vaults/certificates/{suffix}");
    let create = json!({"policy": {"key_props": {"kty": "EC"}, "x509_props": {"subject": "CN=t"}}});
    vec![
        (
            "create certificate",
            Method::POST,
            "/certificates/target/create",
            Some(create),
            certificates("create/action"),
            "create",
            true,
        ),
        (
            "import certificate",
            Method::POST,
            "/certificates/target/import",
            Some(json!({"value": "x"})),
            certificates("import/action"),
            "import",
            true,
        ),
        ("get certificate", Method::GET, "/certificates/target", None, certificates("read"), "get", true),
        ("certificate policy", Method::GET, "/certificates/target/policy", None, certificates("read"), "get", true),
        ("pending operation", Method::GET, "/certificates/target/pending", None, certificates("read"), "get", true),
        ("list certificates", Method::GET, "/certificates", None, certificates("read"), "list", false),
        (
            "certificate versions",
            Method::GET,
            "/certificates/target/versions",
            None,
            certificates("read"),
            "list",
            true,
        ),
        (
            "update certificate",
            Method::PATCH,
            "/certificates/target",
            Some(json!({})),
            certificates("update/action"),
            "update",
            true,
        ),
        (
            "merge",
            Method::POST,
            "/certificates/target/pending/merge",
            Some(json!({"x5c": []})),
            certificates("create/action"),
            "create",
            true,
        ),
        ("delete certificate", Method::DELETE, "/certificates/target", None, certificates("delete"), "delete", true),
        (
            "get deleted certificate",
            Method::GET,
            "/deletedcertificates/target",
            None,
            certificates("read"),
            "get",
            true,
        ),
        (
            "recover certificate",
            Method::POST,
            "/deletedcertificates/target/recover",
            None,
            certificates("recover/action"),
            "recover",
            true,
        ),
        (
            "purge certificate",
            Method::DELETE,
            "/deletedcertificates/target",
            None,
            certificates("purge/action"),
            "purge",
            true,
        ),
        (
            "list issuers",
            Method::GET,
            "/certificates/issuers",
            None,
            "Microsoft.KeyVault/vaults/certificatecas/read".to_owned(),
            "listissuers",
            false,
        ),
        (
            "set issuer",
            Method::PUT,
            "/certificates/issuers/team",
            Some(json!({"provider": "Strongroom"})),
            "Microsoft.KeyVault/vaults/certificatecas/write".to_owned(),
            "setissuers",
            false,
        ),
        (
            "set contacts",
            Method::PUT,
            "/certificates/contacts",
            Some(json!({"contacts": [{"email": "a@b.c"}]})),
            "Microsoft.KeyVault/vaults/certificatecontacts/write".to_owned(),
            "managecontacts",
            false,
        ),
    ]
}

/// A role's data-plane patterns: its `dataActions` and `notDataActions`.
struct DataPatterns {
    data_actions: Vec<String>,
    not_data_actions: Vec<String>,
}

/// Azure's built-in roles as Azure defines them (the fixture file), by name.
fn azure_roles() -> Vec<(String, DataPatterns)> {
    let file: Value = serde_json::from_str(include_str!("../../../../tests/fixtures/azure-roles.json")).unwrap();
    let roles = file["roles"].as_array().unwrap().iter().map(|role| {
        let patterns = |list: &str| -> Vec<String> {
            role[list].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect()
        };
        let data = DataPatterns { data_actions: patterns("dataActions"), not_data_actions: patterns("notDataActions") };
        (role["roleName"].as_str().unwrap().to_owned(), data)
    });
    roles.collect()
}

/// Azure's action wildcard, written independently: `*` stands for any run of characters, case is ignored.
fn grants(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = action.as_str();
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            let Some(after) = rest.strip_prefix(part) else { return false };
            rest = after;
        } else if index == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(found) = rest.find(part) else { return false };
            rest = &rest[found + part.len()..];
        }
    }
    rest.is_empty()
}

/// Whether the request was refused by the permission check (other outcomes — 200, 204, 400, 404, 409 —
/// mean the check let it through).
async fn refused(response: reqwest::Response, inner: &str) -> bool {
    if response.status() != 403 {
        return false;
    }
    let body: Value = response.json().await.unwrap();
    body["error"]["innererror"]["code"] == inner
}

fn token_for(server: &TestServer, user: &str) -> String {
    let state = server.running().state();
    let directory = state.directory();
    let user = directory.principals().iter().find(|p| p.name == user).unwrap();
    let client = directory.principals().iter().find(|p| p.name == "cli").unwrap().client_id.unwrap();
    mint::user_access_token(state, &directory, user, client, state.endpoints.vault_resource()).unwrap().token
}

#[tokio::test]
async fn every_role_operation_scope_and_membership_decides_as_the_role_says() {
    let scopes = [
        ("tenant", Some("/")),
        ("vault", None),
        ("the object", Some("secrets/target")),
        ("another object", Some("secrets/other")),
    ];
    let memberships = ["direct", "group", "nested group"];
    // A custom role beside the built-in ones: every secret action but purge.
    let custom = DataPatterns {
        data_actions: vec!["Microsoft.KeyVault/vaults/secrets/*".into()],
        not_data_actions: vec!["Microsoft.KeyVault/vaults/secrets/purge/action".into()],
    };
    let mut config = String::from(
        "[[tenant]]\nname = \"contoso\"\n[[tenant.app]]\nname = \"cli\"\n[[tenant.role_definition]]\n\
         name = \"Secret Keeper\"\ndata_actions = [\"Microsoft.KeyVault/vaults/secrets/*\"]\n\
         not_data_actions = [\"Microsoft.KeyVault/vaults/secrets/purge/action\"]\n",
    );
    let mut roles = azure_roles();
    roles.push(("Secret Keeper".into(), custom));
    let mut assignments = String::new();
    let mut cells = vec![];
    for (r, (role, permissions)) in roles.iter().enumerate() {
        for (s, (scope_name, scope)) in scopes.iter().enumerate() {
            for (m, membership) in memberships.iter().enumerate() {
                let user = format!("u{r}-{s}-{m}");
                let (group, outer) = (format!("g{r}-{s}-{m}"), format!("o{r}-{s}-{m}"));
                let (member_of, assignee) = match m {
                    0 => (String::new(), user.clone()),
                    1 => (format!("\"{group}\""), group.clone()),
                    _ => (format!("\"{group}\""), outer.clone()),
                };
                config += &format!(
                    "[[tenant.user]]\nname = \"{user}\"\npassword = \"password-123\"\ngroups = [{member_of}]\n\
                     [[tenant.group]]\nname = \"{group}\"\nmember_of = [\"{outer}\"]\n[[tenant.group]]\nname = \"{outer}\"\n"
                );
                match scope {
                    Some("/") => {
                        config +=
                            &format!("[[tenant.role_assignment]]\nprincipal = \"{assignee}\"\nrole = \"{role}\"\n")
                    }
                    _ => {
                        let scope_line = scope.map_or(String::new(), |scope| format!("scope = \"{scope}\"\n"));
                        assignments += &format!(
                            "[[tenant.vault.role_assignment]]\nprincipal = \"{assignee}\"\nrole = \"{role}\"\n{scope_line}"
                        );
                    }
                }
                cells.push((user, role, permissions, *scope_name, *scope, *membership));
            }
        }
    }
    config += &format!("[[tenant.vault]]\nname = \"matrix\"\n{assignments}");
    let server = TestServer::start(&config).await;

    let mut wrong = vec![];
    for (user, role, permissions, scope_name, scope, membership) in &cells {
        let token = token_for(&server, user);
        let every = operations().into_iter().chain(key_operations()).chain(certificate_operations());
        for (op, method, path, body, action, _, names_object) in every {
            let has_action = permissions.data_actions.iter().any(|pattern| grants(pattern, &action))
                && !permissions.not_data_actions.iter().any(|pattern| grants(pattern, &action));
            let collection = path.trim_start_matches('/').split('/').next().unwrap_or_default().replace("deleted", "");
            let covers = match scope {
                None | Some("/") => true,
                // An object scope covers that object of its own collection only.
                Some(scope) => names_object && *scope == format!("{collection}/target"),
            };
            let expected_allowed = has_action && covers;
            let response = server.vault_call(method, "matrix", &format!("{path}?{API}"), Some(&token), body).await;
            let allowed = !refused(response, "ForbiddenByRbac").await;
            if allowed != expected_allowed {
                wrong.push(format!(
                    "{role} × {op} × scope {scope_name} × {membership}: expected {}, got {}",
                    if expected_allowed { "allowed" } else { "refused" },
                    if allowed { "allowed" } else { "refused" }
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong cells:\n{}", wrong.len(), wrong.join("\n"));
}

#[tokio::test]
async fn every_access_policy_permission_decides_each_operation() {
    let permissions = ["get", "list", "set", "delete", "backup", "restore", "recover", "purge", "all"];
    let server = access_policy_matrix("secrets", &permissions, operations()).await;
    let token = token_for(&server, "nobody");
    let response = server.vault_call(Method::GET, "legacy", &format!("/secrets?{API}"), Some(&token), None).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["innererror"]["code"], "AccessDenied");
    assert!(body["error"]["message"].as_str().unwrap().contains("Caller was not found on any access policy"));
}

#[tokio::test]
async fn every_access_policy_key_permission_decides_each_key_operation() {
    access_policy_matrix("keys", strongroom_core::policy::KEY_PERMISSIONS, key_operations()).await;
}

#[tokio::test]
async fn every_access_policy_certificate_permission_decides_each_certificate_operation() {
    let permissions = strongroom_core::policy::CERTIFICATE_PERMISSIONS;
    access_policy_matrix("certificates", permissions, certificate_operations()).await;
}

/// A vault under access policies with one user per permission of the `list` (`secrets` or `keys`) and a group
/// holding `get`: every operation of `ops` is let through exactly for the users whose permission it needs.
async fn access_policy_matrix(list: &str, permissions: &[&str], ops: Vec<Op>) -> TestServer {
    let mut config = String::from(
        "[[tenant]]\nname = \"contoso\"\n[[tenant.app]]\nname = \"cli\"\n[[tenant.group]]\nname = \"readers\"\n\
         [[tenant.user]]\nname = \"member\"\npassword = \"password-123\"\ngroups = [\"readers\"]\n\
         [[tenant.user]]\nname = \"nobody\"\npassword = \"password-123\"\n",
    );
    let mut policies = format!("[[tenant.vault.access_policy]]\nprincipal = \"readers\"\n{list} = [\"Get\"]\n");
    for permission in permissions {
        config += &format!("[[tenant.user]]\nname = \"p-{permission}\"\npassword = \"password-123\"\n");
        policies +=
            &format!("[[tenant.vault.access_policy]]\nprincipal = \"p-{permission}\"\n{list} = [\"{permission}\"]\n");
    }
    config += &format!("[[tenant.vault]]\nname = \"legacy\"\nauthorization = \"access_policies\"\n{policies}");
    let server = TestServer::start(&config).await;

    let mut wrong = vec![];
    let mut callers: Vec<(String, Vec<&str>)> = permissions.iter().map(|p| (format!("p-{p}"), vec![*p])).collect();
    callers.push(("member".to_owned(), vec!["get"]));
    for (user, granted) in &callers {
        let token = token_for(&server, user);
        for (op, method, path, body, _, permission, _) in &ops {
            // `manageissuers` is Key Vault's umbrella for the four issuer permissions.
            let expected_allowed = granted.iter().any(|g| {
                *g == "all"
                    || g.eq_ignore_ascii_case(permission)
                    || (*g == "manageissuers" && permission.ends_with("issuers"))
            });
            let response =
                server.vault_call(method.clone(), "legacy", &format!("{path}?{API}"), Some(&token), body.clone()).await;
            let allowed = !refused(response, "AccessDenied").await;
            if allowed != expected_allowed {
                wrong.push(format!("{user} ({granted:?}) × {op}: expected allowed={expected_allowed}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong cells:\n{}", wrong.len(), wrong.join("\n"));
    server
}

#[test]
fn the_tests_wildcard_agrees_with_azure_examples() {
    assert!(grants("Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults/secrets/getSecret/action"));
    assert!(grants("Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keys/read"));
    assert!(!grants("Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/getSecret/action"));
    assert!(grants("Microsoft.KeyVault/vaults/secrets/*", "microsoft.keyvault/vaults/secrets/delete"));
}

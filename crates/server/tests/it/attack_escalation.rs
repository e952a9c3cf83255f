//! The escalation suite (issue 18, "Beyond these findings"): every built-in role — data plane, control plane
//! and directory — tries every management and directory write there is against objects it was not given,
//! and then the suite checks what it gained: secret values, directory roles, another principal's credentials.
//!
//! The expectations are data, written from Azure's and Entra's role definitions, not computed by the code
//! under test. Where Azure or Entra lets a role reach further than its own permissions, the row says so and
//! why (an Owner may grant itself a data role; a Contributor may write access policies on an access-policy
//! vault; a Groups Administrator manages the members of groups that are not role-assignable). A new role gets
//! a row in `ROWS`; a new write gets a step in `attack` and a column here if it can gain something new.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::attack_directory::{ARM, GRAPH, app_token, call};
use crate::harness::TestServer;

/// Where a row's role is assigned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    /// At the tenant (subscription) scope: control-plane and directory roles.
    Tenant,
    /// On the row's RBAC vault: data roles.
    Vault,
}

/// What a holder of the role ends up with after every write it tried.
struct Row {
    role: &'static str,
    at: At,
    /// Reads a secret of the row's RBAC vault.
    rbac_secret: bool,
    /// Reads a secret of the row's access-policy vault.
    policy_secret: bool,
    /// The directory roles it holds at the end (its own included).
    directory_roles: &'static [&'static str],
    /// Knows a Global Administrator's password: one it set.
    administrator_password: bool,
    /// Signs in as an application holding Owner with a client secret it added.
    application_secret: bool,
}

const fn row(role: &'static str, at: At, rbac_secret: bool, policy_secret: bool) -> Row {
    Row {
        role,
        at,
        rbac_secret,
        policy_secret,
        directory_roles: &[],
        administrator_password: false,
        application_secret: false,
    }
}

const ROWS: &[Row] = &[
    // Azure: Owner may assign any role, itself included, and holds Microsoft.KeyVault/*.
    row("Owner", At::Tenant, true, true),
    // Azure: Contributor cannot assign roles nor change enableRbacAuthorization, but holds
    // vaults/accessPolicies/write, which on an access-policy vault grants data access.
    row("Contributor", At::Tenant, false, true),
    row("Reader", At::Tenant, false, false),
    // Azure: User Access Administrator may assign itself Owner, and then everything Owner may.
    row("User Access Administrator", At::Tenant, true, true),
    // Azure: Microsoft.KeyVault/* (access policies included), no role assignments.
    row("Key Vault Contributor", At::Tenant, false, true),
    // Azure: may assign itself the Key Vault data roles (its condition), nothing else.
    row("Key Vault Data Access Administrator", At::Tenant, true, false),
    row("Key Vault Purge Operator", At::Tenant, false, false),
    // Data roles read secret values exactly when their dataActions hold secrets/getSecret/action.
    row("Key Vault Administrator", At::Vault, true, false),
    row("Key Vault Certificates Officer", At::Vault, false, false),
    row("Key Vault Certificate User", At::Vault, true, false),
    row("Key Vault Crypto Officer", At::Vault, false, false),
    row("Key Vault Crypto User", At::Vault, false, false),
    row("Key Vault Crypto Service Encryption User", At::Vault, false, false),
    row("Key Vault Crypto Service Release User", At::Vault, false, false),
    row("Key Vault Secrets Officer", At::Vault, true, false),
    row("Key Vault Secrets User", At::Vault, true, false),
    row("Key Vault Reader", At::Vault, false, false),
    // Entra: a Global Administrator manages everything in the directory; it joins a group holding a vault
    // role, resets an administrator's password and adds a secret to an application.
    Row {
        directory_roles: &["Global Administrator"],
        administrator_password: true,
        application_secret: true,
        ..row("Global Administrator", At::Tenant, true, false)
    },
    // Entra: Application Administrators manage every application's credentials (a privileged role).
    Row {
        directory_roles: &["Application Administrator"],
        application_secret: true,
        ..row("Application Administrator", At::Tenant, false, false)
    },
    // Entra: User and Groups Administrators manage the members of groups that are not role-assignable, and
    // what such a group holds in Azure follows its members; never a role-assignable group, never an
    // administrator's password.
    Row { directory_roles: &["User Administrator"], ..row("User Administrator", At::Tenant, true, false) },
    Row { directory_roles: &["Groups Administrator"], ..row("Groups Administrator", At::Tenant, true, false) },
    Row { directory_roles: &["Directory Readers"], ..row("Directory Readers", At::Tenant, false, false) },
    // Entra: a Privileged Role Administrator manages role assignments, and so the members of role-assignable
    // groups: joining one holding Global Administrator is its to do.
    Row {
        directory_roles: &["Global Administrator", "Privileged Role Administrator"],
        ..row("Privileged Role Administrator", At::Tenant, false, false)
    },
    // Entra: a Privileged Authentication Administrator resets any user's password, administrators' included.
    Row {
        directory_roles: &["Privileged Authentication Administrator"],
        administrator_password: true,
        ..row("Privileged Authentication Administrator", At::Tenant, false, false)
    },
];

/// Per row `i`: the attacker `attacker-{i}` holding the role; an RBAC vault `rbac-{i}` and an access-policy
/// vault `policy-{i}`, each with the secret `crown`; a Global Administrator `victim-{i}`; an application
/// `victim-app-{i}` holding Owner; a role-assignable group `admins-{i}` holding Global Administrator; a group
/// `readers-{i}` holding Key Vault Secrets User on `rbac-{i}`.
fn config() -> String {
    let mut text = String::from(
        "[[tenant]]\nname = \"woodgrove\"\n[[tenant.app]]\nname = \"cli\"\nsecrets = [\"cli-secret-0123456789\"]\n",
    );
    for (i, row) in ROWS.iter().enumerate() {
        text += &format!(
            r#"
[[tenant.app]]
name = "attacker-{i}"
secrets = ["attacker-{i}-secret-0123456789"]

[[tenant.app]]
name = "victim-app-{i}"
secrets = ["victim-app-{i}-secret-0123456789"]

[[tenant.user]]
name = "victim-{i}"
password = "victim-{i}-password-1"

[[tenant.group]]
name = "admins-{i}"

[[tenant.group]]
name = "readers-{i}"

[[tenant.role_assignment]]
principal = "victim-{i}"
role = "Global Administrator"

[[tenant.role_assignment]]
principal = "admins-{i}"
role = "Global Administrator"

[[tenant.role_assignment]]
principal = "victim-app-{i}"
role = "Owner"

[[tenant.vault]]
name = "policy-{i}"
authorization = "access_policies"

[[tenant.vault.secret]]
name = "crown"
value = "crown-{i}"

[[tenant.vault]]
name = "rbac-{i}"

[[tenant.vault.secret]]
name = "crown"
value = "crown-{i}"

[[tenant.vault.role_assignment]]
principal = "readers-{i}"
role = "Key Vault Secrets User"
"#
        );
        let assignment = format!("principal = \"attacker-{i}\"\nrole = \"{}\"\n", row.role);
        text += &match row.at {
            At::Tenant => format!("\n[[tenant.role_assignment]]\n{assignment}"),
            At::Vault => format!("\n[[tenant.vault.role_assignment]]\n{assignment}"),
        };
    }
    text
}

/// Every write of the management API and the directory that could widen what the attacker holds, tried in
/// order whether or not it is allowed; returns the client secret `addPassword` gave, if it did.
async fn attack(server: &TestServer, i: usize) -> Option<String> {
    let tenant = server.tenant_id("woodgrove");
    let me = server.object_id(&format!("attacker-{i}"));
    let arm = app_token(server, "woodgrove", &format!("attacker-{i}"), ARM).await;
    let graph = app_token(server, "woodgrove", &format!("attacker-{i}"), GRAPH).await;
    let subscription = format!("/subscriptions/{tenant}");
    let vaults = format!("{subscription}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults");
    let assign = |role: &str| json!({"properties": {"roleDefinitionId": role, "principalId": me}});
    let assignments = "providers/Microsoft.Authorization/roleAssignments";
    let everything = json!({"objectId": me, "tenantId": tenant, "permissions": {"secrets": ["all"], "keys": ["all"], "certificates": ["all"]}});

    // Control plane: assign itself Owner, a data role, a custom role granting every data action; switch the
    // RBAC vault to access policies with an entry for itself; add itself to the access-policy vault.
    call(server, Method::PUT, &format!("{subscription}/{assignments}/{}", Uuid::new_v4()), &arm, Some(assign("Owner")))
        .await;
    let at_vault = format!("{vaults}/rbac-{i}/{assignments}/{}", Uuid::new_v4());
    call(server, Method::PUT, &at_vault, &arm, Some(assign("Key Vault Administrator"))).await;
    let role_id = Uuid::new_v4();
    let custom = json!({"properties": {"roleName": format!("all-data-{i}"), "description": "",
        "permissions": [{"actions": [], "notActions": [], "dataActions": ["*"], "notDataActions": []}],
        "assignableScopes": [subscription]}});
    let definition = format!("{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role_id}");
    call(server, Method::PUT, &definition, &arm, Some(custom)).await;
    let custom_at_tenant = format!("{subscription}/{assignments}/{}", Uuid::new_v4());
    call(server, Method::PUT, &custom_at_tenant, &arm, Some(assign(&role_id.to_string()))).await;
    let switch = json!({"properties": {"enableRbacAuthorization": false, "accessPolicies": [everything.clone()]}});
    call(server, Method::PATCH, &format!("{vaults}/rbac-{i}"), &arm, Some(switch)).await;
    let add = json!({"properties": {"accessPolicies": [everything]}});
    call(server, Method::PUT, &format!("{vaults}/policy-{i}/accessPolicies/add"), &arm, Some(add)).await;

    // Directory: reset an administrator's password, add a secret to a privileged application, join a group
    // holding a vault role and, last, a role-assignable group holding Global Administrator.
    let reset = json!({"passwordProfile": {"password": format!("pwned-{i}-password")}});
    call(
        server,
        Method::PATCH,
        &format!("/v1.0/users/{}", server.object_id(&format!("victim-{i}"))),
        &graph,
        Some(reset),
    )
    .await;
    let victim_app = server.object_id(&format!("victim-app-{i}"));
    let (_, secret) =
        call(server, Method::POST, &format!("/v1.0/applications/{victim_app}/addPassword"), &graph, Some(json!({})))
            .await;
    let join = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{me}")});
    for group in [format!("readers-{i}"), format!("admins-{i}")] {
        let path = format!("/v1.0/groups/{}/members/$ref", server.object_id(&group));
        call(server, Method::POST, &path, &graph, Some(join.clone())).await;
    }
    secret["secretText"].as_str().map(str::to_owned)
}

/// Whether the attacker reads the secret `crown` of `vault`.
async fn reads_crown(server: &TestServer, i: usize, vault: &str) -> bool {
    let token =
        app_token(server, "woodgrove", &format!("attacker-{i}"), &format!("{}/.default", server.resource())).await;
    let response = server.vault_call(Method::GET, vault, "/secrets/crown?api-version=7.6", Some(&token), None).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status == 200 || status == 403, "{vault}: {status} {body}");
    status == 200 && body["value"] == format!("crown-{i}")
}

#[tokio::test]
async fn no_built_in_role_gains_more_than_azure_and_entra_give_it() {
    let server = TestServer::start(&config()).await;
    let tenant: Uuid = server.tenant_id("woodgrove").parse().unwrap();
    let mut failures = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        let added_secret = attack(&server, i).await;
        let directory = server.running().state().directory();
        let mut roles: Vec<String> = directory
            .directory_roles_of(tenant, server.object_id(&format!("attacker-{i}")).parse().unwrap())
            .iter()
            .filter_map(|id| strongroom_core::rbac::built_in_role(&id.to_string()).map(|r| r.name.clone()))
            .collect();
        roles.sort();
        // Read from the store rather than tried by signing in: failed sign-ins would lock the test's address.
        let victim: Uuid = server.object_id(&format!("victim-{i}")).parse().unwrap();
        let administrator_password = directory.users.get(&victim).is_some_and(|user| {
            strongroom_core::credential::verify_secret(&format!("pwned-{i}-password"), &user.password_hash)
        });
        let application_secret = match &added_secret {
            None => false,
            Some(secret) => {
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", &server.client_id(&format!("victim-app-{i}"))),
                    ("client_secret", secret),
                    ("scope", ARM),
                ];
                server.token_request("woodgrove", &form).await.0 == 200
            }
        };
        let observed = (
            reads_crown(&server, i, &format!("rbac-{i}")).await,
            reads_crown(&server, i, &format!("policy-{i}")).await,
            roles,
            administrator_password,
            application_secret,
        );
        let expected = (
            row.rbac_secret,
            row.policy_secret,
            row.directory_roles.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>(),
            row.administrator_password,
            row.application_secret,
        );
        if observed != expected {
            failures.push(format!("{}: expected {expected:?}, observed {observed:?}", row.role));
        }
    }
    let covered: Vec<&str> = ROWS.iter().map(|r| r.role).collect();
    let missing: Vec<&str> = strongroom_core::rbac::built_in_roles()
        .iter()
        .map(|r| r.name.as_str())
        .filter(|name| !covered.contains(name))
        .collect();
    assert!(missing.is_empty(), "built-in roles without a row: {missing:?}");
    assert!(
        failures.is_empty(),
        "(rbac secret, policy secret, directory roles, admin password, app secret)\n{}",
        failures.join("\n")
    );
}

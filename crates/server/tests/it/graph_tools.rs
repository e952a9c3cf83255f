//! Graph as the Azure CLI and the SDKs use it (issue 20, item 3): service principals by id, by
//! `(appId='…')` and by the filters `az` sends; created, patched and deleted as Entra allows;
//! `directoryObjects/getByIds`; `$select`, `$top` and `@odata.nextLink`. Each way `az role assignment
//! --assignee` resolves a principal lands on exactly that principal; no tenant reaches another's objects, and
//! no one without a directory role changes service principals.

use reqwest::Method;
use serde_json::{Value, json};

use crate::attack_directory::{app_token, call};
use crate::harness::TestServer;
use crate::tools_signin::{AZURE_CLI, CONFIG, password};

const GRAPH: &str = "https://graph.microsoft.com/.default";

fn object_id(server: &TestServer, tenant: &str, name: &str) -> String {
    let directory = server.running().state().directory();
    let tenant = directory.tenant(tenant).unwrap().id;
    directory.principals().iter().find(|p| p.name == name && p.tenant_id == tenant).unwrap().object_id.to_string()
}

/// A Graph token of the user `user` of its tenant, signed in through the Azure CLI at `organizations`.
async fn user_graph_token(server: &TestServer, user: &str) -> String {
    let name = user.split('@').next().unwrap();
    let (status, body) = password(server, "organizations", AZURE_CLI, user, &format!("{name}-password-1"), GRAPH).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn ids(body: &Value) -> Vec<String> {
    body["value"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn service_principals_are_found_the_ways_the_cli_looks_for_them() {
    let server = TestServer::start(CONFIG).await;
    let admin = app_token(&server, "contoso", "directory-admin", GRAPH).await;
    let payroll = object_id(&server, "contoso", "payroll");
    let app_id = server.client_id("payroll");

    let (status, sp) = call(&server, Method::GET, &format!("/v1.0/servicePrincipals/{payroll}"), &admin, None).await;
    assert_eq!(status, 200, "{sp}");
    assert_eq!((sp["id"].as_str(), sp["appId"].as_str()), (Some(payroll.as_str()), Some(app_id.as_str())));
    assert_eq!(sp["servicePrincipalNames"], json!([app_id]));
    assert_eq!(sp["servicePrincipalType"], "Application");
    assert_eq!(sp["appOwnerOrganizationId"], server.tenant_id("contoso").as_str());
    assert!(sp["@odata.context"].as_str().unwrap().ends_with("/v1.0/$metadata#servicePrincipals/$entity"));
    assert_eq!(sp["passwordCredentials"].as_array().map(Vec::len), Some(1), "{sp}");

    let by_app_id = format!("/v1.0/servicePrincipals(appId='{app_id}')");
    let (status, same) = call(&server, Method::GET, &by_app_id, &admin, None).await;
    assert_eq!((status, same["id"].as_str()), (200, Some(payroll.as_str())), "{same}");

    for filter in [
        format!("appId eq '{app_id}'"),
        format!("servicePrincipalNames/any(c:c eq '{app_id}')"),
        "displayName eq 'payroll'".to_owned(),
        "startswith(displayName,'pay')".to_owned(),
    ] {
        let path = format!("/v1.0/servicePrincipals?$filter={}", urlencoding(&filter));
        let (status, body) = call(&server, Method::GET, &path, &admin, None).await;
        assert_eq!((status, ids(&body)), (200, vec![payroll.clone()]), "{filter}: {body}");
    }

    // Applications by appId (what `az ad app show --id` asks first) and by the identifier URIs it tries.
    let path = format!("/v1.0/applications?$filter={}", urlencoding(&format!("appId eq '{app_id}'")));
    let (status, body) = call(&server, Method::GET, &path, &admin, None).await;
    assert_eq!((status, ids(&body)), (200, vec![payroll.clone()]), "{body}");
    let path = format!("/v1.0/applications?$filter={}", urlencoding("identifierUris/any(s:s eq 'api://payroll')"));
    let (status, body) = call(&server, Method::GET, &path, &admin, None).await;
    assert_eq!((status, ids(&body)), (200, vec![]), "{body}");
}

#[tokio::test]
async fn role_assignment_assignees_resolve_to_exactly_their_principal() {
    let server = TestServer::start(CONFIG).await;
    let carol = user_graph_token(&server, "carol@contoso").await;
    let alice = object_id(&server, "contoso", "alice");
    let payroll = object_id(&server, "contoso", "payroll");

    // A user principal name.
    let path = format!("/v1.0/users?$filter={}", urlencoding("userPrincipalName eq 'alice@contoso'"));
    let (status, body) = call(&server, Method::GET, &path, &carol, None).await;
    assert_eq!((status, ids(&body)), (200, vec![alice.clone()]), "{body}");
    // A service principal name (an appId).
    let spn = format!("servicePrincipalNames/any(c:c eq '{}')", server.client_id("payroll"));
    let (status, body) =
        call(&server, Method::GET, &format!("/v1.0/servicePrincipals?$filter={}", urlencoding(&spn)), &carol, None)
            .await;
    assert_eq!((status, ids(&body)), (200, vec![payroll.clone()]), "{body}");
    // An object id, through getByIds with the types the CLI sends.
    let types = json!(["user", "group", "servicePrincipal", "directoryObjectPartnerReference"]);
    for (id, kind) in [(&alice, "#microsoft.graph.user"), (&payroll, "#microsoft.graph.servicePrincipal")] {
        let body = json!({"ids": [id], "types": types});
        let (status, found) = call(&server, Method::POST, "/v1.0/directoryObjects/getByIds", &carol, Some(body)).await;
        assert_eq!((status, ids(&found)), (200, vec![id.clone()]), "{found}");
        assert_eq!(found["value"][0]["@odata.type"], kind);
    }
    // Several ids, in their order, unknown ones left out; `types` narrows.
    let unknown = uuid::Uuid::new_v4().to_string();
    let body = json!({"ids": [payroll, unknown, alice]});
    let (status, found) = call(&server, Method::POST, "/v1.0/directoryObjects/getByIds", &carol, Some(body)).await;
    assert_eq!((status, ids(&found)), (200, vec![payroll.clone(), alice.clone()]), "{found}");
    let body = json!({"ids": [payroll, alice], "types": ["user"]});
    let (_, found) = call(&server, Method::POST, "/v1.0/directoryObjects/getByIds", &carol, Some(body)).await;
    assert_eq!(ids(&found), vec![alice.clone()]);
    let body = json!({"ids": [payroll], "types": ["application"]});
    let (_, found) = call(&server, Method::POST, "/v1.0/directoryObjects/getByIds", &carol, Some(body)).await;
    assert_eq!(found["value"][0]["@odata.type"], "#microsoft.graph.application", "{found}");

    // The signed-in user reads itself without a directory role (`az ad signed-in-user show`).
    let alice_token = user_graph_token(&server, "alice@contoso").await;
    let (status, me) = call(&server, Method::GET, "/v1.0/me", &alice_token, None).await;
    assert_eq!(
        (status, me["id"].as_str(), me["userPrincipalName"].as_str()),
        (200, Some(alice.as_str()), Some("alice@contoso"))
    );
    let app = app_token(&server, "contoso", "payroll", GRAPH).await;
    let (status, _) = call(&server, Method::GET, "/v1.0/me", &app, None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn lists_page_with_top_and_next_links_and_select_trims() {
    let server = TestServer::start(CONFIG).await;
    let admin = app_token(&server, "contoso", "directory-admin", GRAPH).await;
    let (_, all) = call(&server, Method::GET, "/v1.0/servicePrincipals", &admin, None).await;
    let everyone = ids(&all);
    assert!(everyone.len() >= 2, "{all}");
    assert!(all.get("@odata.nextLink").is_none());
    assert!(all["@odata.context"].as_str().unwrap().ends_with("/v1.0/$metadata#servicePrincipals"));

    let mut seen = Vec::new();
    let mut url = format!("{}/v1.0/servicePrincipals?$top=1&$select=id,appId", server.authority_host());
    loop {
        let response = server.http.get(&url).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        let items = page["value"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{page}");
        let mut keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["appId", "id"], "{page}");
        seen.extend(ids(&page));
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&server.authority_host()), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen, everyone);
    let (status, body) = call(&server, Method::GET, "/v1.0/servicePrincipals?$skiptoken=banana", &admin, None).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = call(&server, Method::GET, "/v1.0/servicePrincipals?$select=password", &admin, None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn service_principals_are_created_patched_and_deleted_as_entra_allows() {
    let server = TestServer::start(CONFIG).await;
    let admin = app_token(&server, "contoso", "directory-admin", GRAPH).await;
    let payroll = object_id(&server, "contoso", "payroll");

    // The tenant's own application is its own service principal: creating one answers with it.
    let body = json!({"appId": server.client_id("payroll"), "accountEnabled": true});
    let (status, sp) = call(&server, Method::POST, "/v1.0/servicePrincipals", &admin, Some(body)).await;
    assert_eq!((status, sp["id"].as_str()), (201, Some(payroll.as_str())), "{sp}");
    // Another tenant's multi-tenant application gets a service principal of its own here.
    let partner_app = server.client_id("partner");
    let body = json!({"appId": partner_app});
    let (status, partner) = call(&server, Method::POST, "/v1.0/servicePrincipals", &admin, Some(body.clone())).await;
    assert_eq!(status, 201, "{partner}");
    let partner_sp = partner["id"].as_str().unwrap().to_owned();
    assert_ne!(partner_sp, object_id(&server, "fabrikam", "partner"));
    assert_eq!(partner["appOwnerOrganizationId"], server.tenant_id("fabrikam").as_str());
    let (status, again) = call(&server, Method::POST, "/v1.0/servicePrincipals", &admin, Some(body)).await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("Request_MultipleObjectsWithSameKeyValue")));
    // Not an application anyone has, or a single-tenant one of another tenant.
    for app_id in [uuid::Uuid::new_v4().to_string(), server.client_id("fabrikam-admin")] {
        let (status, body) =
            call(&server, Method::POST, "/v1.0/servicePrincipals", &admin, Some(json!({"appId": app_id}))).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("does not reference"), "{body}");
    }

    // PATCH changes nothing it cannot keep: an unchanged property is accepted, a change refused.
    let path = format!("/v1.0/servicePrincipals/{partner_sp}");
    let (status, _) = call(&server, Method::PATCH, &path, &admin, Some(json!({"accountEnabled": true}))).await;
    assert_eq!(status, 204);
    let (status, body) = call(&server, Method::PATCH, &path, &admin, Some(json!({"displayName": "other"}))).await;
    assert_eq!(status, 400, "{body}");

    // The partner's service principal gets a role; deleting it removes the principal and its assignments,
    // and leaves the application in its own tenant.
    let contoso = server.tenant_id("contoso");
    let assignment = uuid::Uuid::new_v4();
    let assignment_path =
        format!("/subscriptions/{contoso}/providers/Microsoft.Authorization/roleAssignments/{assignment}");
    let grant = json!({"properties": {"roleDefinitionId": "Reader", "principalId": partner_sp}});
    let owner =
        password(&server, "contoso", AZURE_CLI, "alice", "alice-password-1", "https://management.azure.com/.default")
            .await;
    let owner = owner.1["access_token"].as_str().unwrap().to_owned();
    let (status, body) = call(&server, Method::PUT, &assignment_path, &owner, Some(grant)).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = call(&server, Method::DELETE, &path, &admin, None).await;
    assert_eq!(status, 204);
    let directory = server.running().state().directory();
    assert!(directory.principals().iter().all(|p| p.object_id.to_string() != partner_sp));
    let tenant = directory.tenant("contoso").unwrap().id;
    assert!(directory.tenant_role_assignments(tenant).iter().all(|a| a.principal_id.to_string() != partner_sp));
    assert!(directory.principals().iter().any(|p| p.name == "partner"), "the application stays");
    let (status, _) = call(&server, Method::GET, &path, &admin, None).await;
    assert_eq!(status, 404);

    // The own application's service principal is the application: deleting it is refused, with the way.
    let (status, body) =
        call(&server, Method::DELETE, &format!("/v1.0/servicePrincipals/{payroll}"), &admin, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("/v1.0/applications/"), "{body}");
    // Its secrets are the application's: addPassword on the service principal adds one.
    let (status, secret) =
        call(&server, Method::POST, &format!("/v1.0/servicePrincipals/{payroll}/addPassword"), &admin, Some(json!({})))
            .await;
    assert_eq!(status, 200, "{secret}");
    assert!(secret["secretText"].as_str().is_some());
}

/// What `az ad sp list --all` does after `az login -u`: a user token of the Azure CLI for the Graph URL the
/// cloud's metadata gives (`{graph}/`, so the scope `{graph}//.default`), every page followed at that URL.
#[tokio::test]
async fn graph_answers_at_its_own_url_to_the_tokens_the_cli_asks_for() {
    let server = TestServer::start(CONFIG).await;
    let graph = server.running().endpoints().graph_resource().to_owned();
    for scope in [format!("{graph}//.default"), format!("{graph}/.default")] {
        let scope = format!("{scope} offline_access openid profile");
        let (status, body) =
            password(&server, "organizations", AZURE_CLI, "carol@contoso", "carol-password-1", &scope).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_owned();
        let mut url = format!("{graph}/v1.0/servicePrincipals?$top=1");
        let mut pages = 0;
        loop {
            let response = server.http.get(&url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(response.status(), 200, "{url}");
            let page: Value = response.json().await.unwrap();
            assert!(page["@odata.context"].as_str().unwrap().starts_with(&graph), "{page}");
            pages += 1;
            match page["@odata.nextLink"].as_str() {
                Some(next) => {
                    assert!(next.starts_with(&format!("{graph}/v1.0/servicePrincipals?")), "{next}");
                    url = next.to_owned();
                }
                None => break,
            }
        }
        assert!(pages >= 2);
        let (status, me) = {
            let response = server.http.get(format!("{graph}/v1.0/me")).bearer_auth(&token).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        };
        assert_eq!((status, me["userPrincipalName"].as_str()), (200, Some("carol@contoso")), "{me}");
    }
}

/// Attacks: a Graph token of one tenant against another tenant's objects, and users and applications
/// without a directory role trying to create or delete service principals.
#[tokio::test]
async fn no_tenant_reaches_another_and_no_role_means_no_change() {
    let server = TestServer::start(CONFIG).await;
    let fabrikam_admin = app_token(&server, "fabrikam", "fabrikam-admin", GRAPH).await;
    let payroll = object_id(&server, "contoso", "payroll");
    let alice = object_id(&server, "contoso", "alice");
    for path in [
        format!("/v1.0/servicePrincipals/{payroll}"),
        format!("/v1.0/servicePrincipals(appId='{}')", server.client_id("payroll")),
        format!("/v1.0/users/{alice}"),
        "/v1.0/users/alice@contoso".to_owned(),
    ] {
        let (status, body) = call(&server, Method::GET, &path, &fabrikam_admin, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, body) =
        call(&server, Method::DELETE, &format!("/v1.0/servicePrincipals/{payroll}"), &fabrikam_admin, None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) =
        call(&server, Method::PATCH, &format!("/v1.0/servicePrincipals/{payroll}"), &fabrikam_admin, Some(json!({})))
            .await;
    assert_eq!(status, 404, "{body}");
    let body = json!({"ids": [payroll, alice]});
    let (status, found) =
        call(&server, Method::POST, "/v1.0/directoryObjects/getByIds", &fabrikam_admin, Some(body)).await;
    assert_eq!((status, ids(&found)), (200, Vec::<String>::new()), "{found}");
    let spn = format!("servicePrincipalNames/any(c:c eq '{}')", server.client_id("payroll"));
    let (_, found) = call(
        &server,
        Method::GET,
        &format!("/v1.0/servicePrincipals?$filter={}", urlencoding(&spn)),
        &fabrikam_admin,
        None,
    )
    .await;
    assert_eq!(ids(&found), Vec::<String>::new());
    // Creating a service principal of a single-tenant application of another tenant is refused.
    let body = json!({"appId": server.client_id("payroll")});
    let (status, _) = call(&server, Method::POST, "/v1.0/servicePrincipals", &fabrikam_admin, Some(body)).await;
    assert_eq!(status, 400);

    // alice is an Owner of her tenant's resources but holds no directory role; payroll holds nothing.
    let alice_token = user_graph_token(&server, "alice@contoso").await;
    let payroll_token = app_token(&server, "contoso", "payroll", GRAPH).await;
    let partner = json!({"appId": server.client_id("partner")});
    for token in [&alice_token, &payroll_token] {
        let (status, body) = call(&server, Method::POST, "/v1.0/servicePrincipals", token, Some(partner.clone())).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "{body}");
        for method in [Method::DELETE, Method::PATCH] {
            let body = (method == Method::PATCH).then(|| json!({}));
            let (status, _) = call(&server, method, &format!("/v1.0/servicePrincipals/{payroll}"), token, body).await;
            assert_eq!(status, 403);
        }
        let (status, _) = call(&server, Method::GET, "/v1.0/servicePrincipals", token, None).await;
        assert_eq!(status, 403);
        let body = json!({"ids": [payroll]});
        let (status, _) = call(&server, Method::POST, "/v1.0/directoryObjects/getByIds", token, Some(body)).await;
        assert_eq!(status, 403);
    }
    let directory = server.running().state().directory();
    let tenant = directory.tenant("contoso").unwrap().id;
    assert!(!directory.principals().iter().any(|p| p.tenant_id == tenant && p.name == "partner"));
}

/// Percent-encodes a query value.
fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn member_groups_are_checked_only_in_the_callers_tenant_and_only_with_a_directory_role() {
    let server = TestServer::start(CONFIG).await;
    let admin = app_token(&server, "contoso", "directory-admin", GRAPH).await;
    let alice = object_id(&server, "contoso", "alice");
    let (status, group) =
        call(&server, Method::POST, "/v1.0/groups", &admin, Some(json!({"displayName": "auditors"}))).await;
    assert_eq!(status, 201, "{group}");
    let group = group["id"].as_str().unwrap().to_owned();
    let member = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{alice}")});
    let (status, _) =
        call(&server, Method::POST, &format!("/v1.0/groups/{group}/members/$ref"), &admin, Some(member)).await;
    assert_eq!(status, 204);

    let check = format!("/v1.0/directoryObjects/{alice}/checkMemberGroups");
    let elsewhere = uuid::Uuid::new_v4().to_string();
    let asked = json!({"groupIds": [group, elsewhere]});
    let (status, body) = call(&server, Method::POST, &check, &admin, Some(asked.clone())).await;
    assert_eq!((status, body["value"].clone()), (200, json!([group])), "{body}");

    // An application without a directory role learns nothing of memberships.
    let payroll = app_token(&server, "contoso", "payroll", GRAPH).await;
    let (status, body) = call(&server, Method::POST, &check, &payroll, Some(asked.clone())).await;
    assert_eq!(status, 403, "{body}");
    // Another tenant's administrator cannot ask about contoso's user: it is no object of theirs.
    let fabrikam = app_token(&server, "fabrikam", "fabrikam-admin", GRAPH).await;
    let (status, body) = call(&server, Method::POST, &check, &fabrikam, Some(asked)).await;
    assert_eq!(status, 404, "{body}");
    // Graph's bound on the question.
    let many: Vec<String> = (0..21).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let (status, body) = call(&server, Method::POST, &check, &admin, Some(json!({"groupIds": many}))).await;
    assert_eq!(status, 400, "{body}");
}

//! The whole life of a secret: update, soft delete, recovery, purge, retention, backup and restore.

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_server::sweeper;

use crate::harness::{STANDARD_TENANTS, TestServer, vault_error};

const API: &str = "api-version=2025-07-01";

struct Admin {
    server: TestServer,
    token: String,
}

impl Admin {
    async fn new(config: &str) -> Self {
        let server = TestServer::start(config).await;
        let token = server.token("contoso", "admin").await;
        Self { server, token }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let separator = if path.contains('?') { '&' } else { '?' };
        let response = self
            .server
            .vault_call(method, "billing", &format!("{path}{separator}{API}"), Some(&self.token), body)
            .await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn set(&self, name: &str, value: &str) -> String {
        let (status, bundle) = self.call(Method::PUT, &format!("/secrets/{name}"), Some(json!({"value": value}))).await;
        assert_eq!(status, 200, "{bundle}");
        bundle["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()
    }

    async fn names(&self, collection: &str) -> Vec<String> {
        let (_, page) = self.call(Method::GET, collection, None).await;
        page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned())
            .collect()
    }
}

fn purge_protected() -> String {
    STANDARD_TENANTS.replacen(
        "name = \"billing\"\n",
        "name = \"billing\"\nsoft_delete_retention_days = 7\npurge_protection = true\n",
        1,
    )
}

#[tokio::test]
async fn delete_recover_and_purge_follow_soft_delete() {
    let admin = Admin::new(STANDARD_TENANTS).await;
    let version = admin.set("Doomed", "v1").await;

    let (status, deleted) = admin.call(Method::DELETE, "/secrets/doomed", None).await;
    assert_eq!(status, 200, "{deleted}");
    let base = admin.server.vault_url("billing");
    assert_eq!(deleted["recoveryId"], format!("{base}/deletedsecrets/Doomed"));
    assert_eq!(deleted["id"], format!("{base}/secrets/Doomed/{version}"));
    assert!(deleted.get("value").is_none());
    let (deleted_date, purge_date) =
        (deleted["deletedDate"].as_i64().unwrap(), deleted["scheduledPurgeDate"].as_i64().unwrap());
    assert_eq!(purge_date - deleted_date, 90 * 86_400);

    assert_eq!(admin.call(Method::GET, "/secrets/doomed", None).await.0, 404);
    assert_eq!(admin.names("/secrets").await, ["seeded"]);
    assert_eq!(admin.names("/deletedsecrets").await, ["Doomed"]);
    assert_eq!(admin.call(Method::GET, "/deletedsecrets/DOOMED", None).await.0, 200);

    // The name is taken while deleted; nothing is stored by the refused set.
    let (status, body) = admin.call(Method::PUT, "/secrets/doomed", Some(json!({"value": "v2"}))).await;
    assert_eq!(
        (status, &body["error"]["code"], &body["error"]["innererror"]["code"]),
        (409, &json!("Conflict"), &json!("ObjectIsDeletedButRecoverable"))
    );

    let (status, recovered) = admin.call(Method::POST, "/deletedsecrets/doomed/recover", None).await;
    assert_eq!((status, recovered["id"].as_str().unwrap().ends_with(&version)), (200, true));
    let (_, latest) = admin.call(Method::GET, "/secrets/doomed/", None).await;
    assert_eq!(latest["value"], "v1");
    assert_eq!(admin.names("/secrets/doomed/versions").await, [version]);
    assert_eq!(admin.call(Method::DELETE, "/deletedsecrets/doomed", None).await.0, 404, "a live secret is not purged");

    // POST with X-HTTP-METHOD: DELETE is a delete.
    let url = format!("{base}/secrets/doomed?{API}");
    let response =
        admin.server.http.post(url).bearer_auth(&admin.token).header("X-HTTP-METHOD", "DELETE").send().await.unwrap();
    assert_eq!(response.status(), 200);

    let (status, body) = admin.call(Method::DELETE, "/deletedsecrets/doomed", None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(admin.call(Method::GET, "/deletedsecrets/doomed", None).await.0, 404);
    assert_eq!(admin.call(Method::DELETE, "/secrets/doomed", None).await.0, 404);
    admin.set("doomed", "reborn").await;
}

#[tokio::test]
async fn purge_protection_refuses_purge_but_allows_recovery() {
    let admin = Admin::new(&purge_protected()).await;
    admin.set("guarded", "v").await;
    let (_, deleted) = admin.call(Method::DELETE, "/secrets/guarded", None).await;
    assert_eq!(deleted["attributes"]["recoveryLevel"], "CustomizedRecoverable");
    assert_eq!(deleted["attributes"]["recoverableDays"], 7);
    let (status, body) = admin.call(Method::DELETE, "/deletedsecrets/guarded", None).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (403, "Forbidden"));
    assert!(body["error"]["message"].as_str().unwrap().contains("purge"));
    assert_eq!(admin.names("/deletedsecrets").await, ["guarded"]);
    assert_eq!(admin.call(Method::POST, "/deletedsecrets/guarded/recover", None).await.0, 200);
}

#[tokio::test]
async fn the_sweeper_purges_what_outlived_its_retention() {
    let admin = Admin::new(&purge_protected()).await;
    admin.set("short-lived", "v").await;
    let (_, deleted) = admin.call(Method::DELETE, "/secrets/short-lived", None).await;
    let purge_date = deleted["scheduledPurgeDate"].as_i64().unwrap();
    let store = admin.server.running().state().store.clone();

    // A test clock: the sweep the server runs every minute, at chosen times.
    assert_eq!(sweeper::sweep_once(store.as_ref(), purge_date - 1).await.unwrap(), 0);
    assert_eq!(admin.names("/deletedsecrets").await, ["short-lived"]);
    assert_eq!(sweeper::sweep_once(store.as_ref(), purge_date).await.unwrap(), 1);
    assert!(admin.names("/deletedsecrets").await.is_empty());
    admin.set("short-lived", "a new life").await;
}

#[tokio::test]
async fn updates_change_properties_and_never_the_value() {
    let admin = Admin::new(STANDARD_TENANTS).await;
    let first = admin.set("tuned", "original").await;
    let second = admin.set("tuned", "newer").await;

    let body = json!({"contentType": "text/plain", "attributes": {"exp": 1_900_000_000, "nbf": 1_800_000_000}, "tags": {"rotated": "yes"}});
    let (status, updated) = admin.call(Method::PATCH, &format!("/secrets/tuned/{first}"), Some(body)).await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated.get("value").is_none());
    assert_eq!((&updated["contentType"], &updated["tags"]["rotated"]), (&json!("text/plain"), &json!("yes")));
    assert_eq!(
        (&updated["attributes"]["exp"], &updated["attributes"]["nbf"]),
        (&json!(1_900_000_000), &json!(1_800_000_000))
    );
    let (_, old) = admin.call(Method::GET, &format!("/secrets/tuned/{first}"), None).await;
    assert_eq!((&old["value"], &old["contentType"]), (&json!("original"), &json!("text/plain")));

    // PATCH of the latest (trailing slash, as SDKs send it) disables reading it.
    let (status, _) =
        admin.call(Method::PATCH, "/secrets/tuned/", Some(json!({"attributes": {"enabled": false}}))).await;
    assert_eq!(status, 200);
    let (status, body) = admin.call(Method::GET, "/secrets/tuned", None).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (403, "Forbidden"));
    let (status, _) = admin.call(Method::GET, &format!("/secrets/tuned/{first}"), None).await;
    assert_eq!(status, 200, "other versions stay readable");
    let (_, versions) = admin.call(Method::GET, "/secrets/tuned/versions", None).await;
    let disabled: Vec<_> =
        versions["value"].as_array().unwrap().iter().map(|v| v["attributes"]["enabled"].as_bool().unwrap()).collect();
    assert_eq!(disabled, [true, false]);

    // A bad update changes nothing.
    let (status, body) = admin
        .call(
            Method::PATCH,
            &format!("/secrets/tuned/{second}"),
            Some(json!({"contentType": "x".repeat(256), "attributes": {"enabled": true}})),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (400, "BadParameter"));
    assert_eq!(admin.call(Method::GET, "/secrets/tuned", None).await.0, 403);
    assert_eq!(admin.call(Method::PATCH, "/secrets/absent/", Some(json!({}))).await.0, 404);

    let (status, body) =
        admin.call(Method::GET, &format!("/secrets/tuned/{first}?outContentType=application/x-pem-file"), None).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (400, "BadParameter"));
}

#[tokio::test]
async fn backups_restore_every_version_and_refuse_what_they_should() {
    let admin = Admin::new(STANDARD_TENANTS).await;
    let versions = [admin.set("kept", "one").await, admin.set("kept", "two").await];
    let (status, backup) = admin.call(Method::POST, "/secrets/kept/backup", None).await;
    assert_eq!(status, 200);
    let blob = backup["value"].as_str().unwrap().to_owned();
    assert!(!blob.contains('=') && !blob.contains('+') && !blob.contains('/'), "base64url without padding");

    let (status, body) = admin.call(Method::POST, "/secrets/restore", Some(json!({"value": blob}))).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (409, "Conflict"), "the name exists");

    admin.call(Method::DELETE, "/secrets/kept", None).await;
    let (status, body) = admin.call(Method::POST, "/secrets/restore", Some(json!({"value": blob}))).await;
    assert_eq!((status, body["error"]["innererror"]["code"].as_str().unwrap()), (409, "ObjectIsDeletedButRecoverable"));
    admin.call(Method::DELETE, "/deletedsecrets/kept", None).await;

    // Tampered blobs are refused and leave nothing behind.
    let mut tampered = blob.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in [tampered.as_str(), "not base64!", "AAAA"] {
        let (status, body) = admin.call(Method::POST, "/secrets/restore", Some(json!({"value": bad}))).await;
        assert_eq!((status, body["error"]["code"].as_str().unwrap()), (400, "BadParameter"), "{bad}");
    }
    assert_eq!(admin.names("/secrets").await, ["seeded"]);

    let (status, restored) = admin.call(Method::POST, "/secrets/restore", Some(json!({"value": blob}))).await;
    assert_eq!(status, 200, "{restored}");
    assert!(restored["id"].as_str().unwrap().ends_with(&versions[1]));
    assert_eq!(admin.names("/secrets/kept/versions").await, versions);
    let (_, old) = admin.call(Method::GET, &format!("/secrets/kept/{}", versions[0]), None).await;
    assert_eq!(old["value"], "one");

    // Another installation refuses the blob, until it is told to trust this one's backup key.
    let stranger = Admin::new(STANDARD_TENANTS).await;
    let (status, body) = stranger.call(Method::POST, "/secrets/restore", Some(json!({"value": blob}))).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("not configured to trust"));
    let key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(own_backup_key(&admin.server).await)
    };
    // Trust opens the blob, but only into the tenant that made it: there, a tenant of the same id.
    let other_tenant = Admin::new(&format!("trusted_backup_keys = [\"{key}\"]\n{STANDARD_TENANTS}")).await;
    let (status, body) = other_tenant.call(Method::POST, "/secrets/restore", Some(json!({"value": blob}))).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("another tenant"));
    let contoso = "name = \"contoso\"\n";
    let same_tenant =
        STANDARD_TENANTS.replacen(contoso, &format!("{contoso}id = \"{}\"\n", admin.server.tenant_id("contoso")), 1);
    let trusting = Admin::new(&format!("trusted_backup_keys = [\"{key}\"]\n{same_tenant}")).await;
    let (status, _) = trusting.call(Method::POST, "/secrets/restore", Some(json!({"value": blob}))).await;
    assert_eq!(status, 200);
}

/// The backup key an installation keeps sealed in its store.
async fn own_backup_key(server: &TestServer) -> Vec<u8> {
    server.running().state().store.sealed_setting("backup-key").await.unwrap().unwrap().to_vec()
}

#[tokio::test]
async fn backups_are_limited_to_500_versions() {
    let admin = Admin::new(STANDARD_TENANTS).await;
    for i in 0..=500 {
        admin.set("prolific", &i.to_string()).await;
    }
    let (status, body) = admin.call(Method::POST, "/secrets/prolific/backup", None).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (400, "BadParameter"));
    assert!(body["error"]["message"].as_str().unwrap().contains("500"));
}

#[tokio::test]
async fn deleted_secrets_page_and_need_their_permissions() {
    let admin = Admin::new(STANDARD_TENANTS).await;
    for name in ["d1", "d2", "d3"] {
        admin.set(name, "v").await;
        admin.call(Method::DELETE, &format!("/secrets/{name}"), None).await;
    }
    let (_, page) = admin.call(Method::GET, "/deletedsecrets?maxresults=2", None).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    let next = page["nextLink"].as_str().unwrap();
    let rest: Value = admin.server.http.get(next).bearer_auth(&admin.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(rest["value"][0]["recoveryId"], format!("{}/deletedsecrets/d3", admin.server.vault_url("billing")));

    // A Secrets User reads values but may not delete, recover or purge.
    let user = admin.server.token("contoso", "secrets-user").await;
    for (method, path) in [
        (Method::DELETE, "/secrets/seeded"),
        (Method::POST, "/deletedsecrets/d1/recover"),
        (Method::DELETE, "/deletedsecrets/d1"),
        (Method::POST, "/secrets/seeded/backup"),
    ] {
        let response = admin.server.vault_call(method, "billing", &format!("{path}?{API}"), Some(&user), None).await;
        let (status, error) = vault_error(response).await;
        assert_eq!((status, error["innererror"]["code"].as_str().unwrap()), (403, "ForbiddenByRbac"), "{path}");
    }
}

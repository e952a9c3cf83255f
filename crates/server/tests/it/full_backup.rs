//! Managed HSM full backup and restore over the wire, as `KeyVaultBackupClient` drives them: start, poll the
//! `Azure-AsyncOperation` URL until the job ends, restore into a fresh HSM, and the refusals.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::full_backup::storage::hash_sas_token;

use crate::harness::{STANDARD_TENANTS, TestServer};
use crate::security_domain::share_security_domain;

const API: &str = "api-version=7.6";
const CONTAINER: &str = "https://backups.blob.localhost/hsm";
const SAS: &str = "sv=2024-08-04&sr=c&sp=rwl&se=2030-01-01&sig=c2lnbmF0dXJl";

/// Three HSMs of contoso whose administrator `admin` also uses keys — `hsmone` and `hsmthree` activated at
/// start, each with a security domain of its own, and `hsmtwo` new — `nobody` a Crypto Officer without the
/// backup role, and a storage target kept in `storage` that accepts [`SAS`] and `hsmone`'s managed identity.
fn config(storage: &Path) -> String {
    let hash: String = hash_sas_token(SAS).iter().map(|b| format!("{b:02x}")).collect();
    let hsm = |name: &str| {
        format!(
            "\n[[tenant.managed_hsm]]\nname = \"{name}\"\nadministrators = [\"admin\"]\nactivated = {}\n\n\
             [[tenant.managed_hsm.role_assignment]]\nprincipal = \"admin\"\nrole = \"Managed HSM Crypto User\"\n\n\
             [[tenant.managed_hsm.role_assignment]]\nprincipal = \"admin\"\nrole = \"Managed HSM Crypto Officer\"\n\n\
             [[tenant.managed_hsm.role_assignment]]\nprincipal = \"nobody\"\nrole = \"Managed HSM Crypto Officer\"\n",
            name != "hsmtwo"
        )
    };
    format!(
        "{STANDARD_TENANTS}{}{}{}\n[[backup_storage]]\nurl = \"{CONTAINER}\"\ndirectory = \"{}\"\n\
         sas_token_sha256 = [\"{hash}\"]\nmanaged_identity_hsms = [\"hsmone\"]\n",
        hsm("hsmone"),
        hsm("hsmtwo"),
        hsm("hsmthree"),
        storage.display()
    )
}

fn sas(token: &str) -> Value {
    json!({"storageResourceUri": CONTAINER, "token": token, "useManagedIdentity": false})
}

async fn call(
    server: &TestServer,
    method: Method,
    hsm: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{separator}{API}", server.hsm_url(hsm));
    let mut request = server.http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Starts a job with `method path body` and polls it as the SDK does until it ends; returns its last state.
async fn run_job(server: &TestServer, method: Method, hsm: &str, path: &str, token: &str, body: Value) -> Value {
    let url = format!("{}{path}?{API}", server.hsm_url(hsm));
    let response = server.http.request(method, url).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 202, "{path}");
    assert_eq!(response.headers()["retry-after"], "1");
    let status_url = response.headers()["azure-asyncoperation"].to_str().unwrap().to_owned();
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["status"], "InProgress");
    assert!(started.get("error").is_some_and(Value::is_null) && started["endTime"].is_null(), "{started}");
    let job_id = started["jobId"].as_str().unwrap();
    assert!(status_url.contains(&format!("/{job_id}/pending")), "{status_url}");
    for _ in 0..200 {
        let state: Value = server.http.get(&status_url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        if state["status"] != "InProgress" {
            assert_eq!(state["jobId"], job_id);
            return state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the job at {status_url} never ended");
}

async fn create(server: &TestServer, hsm: &str, token: &str, name: &str, body: Value) -> Value {
    let (status, key) = call(server, Method::POST, hsm, &format!("/keys/{name}/create"), token, Some(body)).await;
    assert_eq!(status, 200, "{key}");
    key
}

/// The names of the HSM's keys.
async fn key_names(server: &TestServer, hsm: &str, token: &str) -> Vec<String> {
    let (status, listed) = call(server, Method::GET, hsm, "/keys", token, None).await;
    assert_eq!(status, 200, "{listed}");
    let mut names: Vec<String> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().rsplit('/').next().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_full_backup_restores_every_key_into_a_fresh_hsm_and_one_key_selectively() {
    let storage = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(storage.path())).await;
    let token = server.hsm_token("contoso", "admin").await;

    let rsa = create(&server, "hsmone", &token, "rsa", json!({"kty": "RSA-HSM", "key_size": 2048})).await;
    let (status, rotated) = call(&server, Method::POST, "hsmone", "/keys/rsa/rotate", &token, None).await;
    assert_eq!(status, 200, "{rotated}");
    let ec = create(&server, "hsmone", &token, "ec", json!({"kty": "EC-HSM", "crv": "P-256"})).await;
    let aes = create(&server, "hsmone", &token, "aes", json!({"kty": "oct-HSM", "key_size": 256})).await;
    create(&server, "hsmone", &token, "retired", json!({"kty": "oct-HSM", "key_size": 128})).await;
    let (status, _) = call(&server, Method::DELETE, "hsmone", "/keys/retired", &token, None).await;
    assert_eq!(status, 200);

    // What each key did before the backup, to be undone by the restored keys.
    let plaintext = B64.encode(b"the backup must give this back");
    let (_, rsa_sealed) = call(
        &server,
        Method::POST,
        "hsmone",
        "/keys/rsa/encrypt",
        &token,
        Some(json!({"alg": "RSA-OAEP-256", "value": plaintext})),
    )
    .await;
    let digest = B64.encode([7u8; 32]);
    let (_, signature) =
        call(&server, Method::POST, "hsmone", "/keys/ec/sign", &token, Some(json!({"alg": "ES256", "value": digest})))
            .await;
    let (_, aes_sealed) = call(
        &server,
        Method::POST,
        "hsmone",
        "/keys/aes/encrypt",
        &token,
        Some(json!({"alg": "A256GCM", "value": plaintext})),
    )
    .await;

    // A custom role of hsmone, held by `reader` at /keys: the backup carries both.
    let role_path = format!("/providers/Microsoft.Authorization/roleDefinitions/{}", uuid::Uuid::new_v4());
    let role = json!({"properties": {"roleName": "Key Reader", "type": "CustomRole", "assignableScopes": ["/"],
        "permissions": [{"dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action"]}]}});
    let (status, role) = call(&server, Method::PUT, "hsmone", &role_path, &token, Some(role)).await;
    assert_eq!(status, 201, "{role}");
    let assign = json!({"properties": {"roleDefinitionId": role["id"], "principalId": server.object_id("reader")}});
    let assignment_path = format!("/keys/providers/Microsoft.Authorization/roleAssignments/{}", uuid::Uuid::new_v4());
    let (status, assigned) = call(&server, Method::PUT, "hsmone", &assignment_path, &token, Some(assign)).await;
    assert_eq!(status, 201, "{assigned}");

    let backup = run_job(&server, Method::POST, "hsmone", "/backup", &token, sas(SAS)).await;
    assert_eq!(backup["status"], "Succeeded", "{backup}");
    assert!(backup["error"].is_null() && backup["endTime"].is_i64(), "{backup}");
    let folder_url = backup["azureStorageBlobContainerUri"].as_str().unwrap();
    let folder = folder_url.strip_prefix(&format!("{CONTAINER}/")).unwrap();
    assert!(folder.starts_with("mhsm-hsmone-") && folder.len() == "mhsm-hsmone-".len() + 16, "{folder}");
    let sealed = std::fs::read(storage.path().join(folder).join("backup.sealed")).unwrap();
    assert!(!sealed.windows(7).any(|w| w == b"RSA-HSM"), "the backup is sealed");

    // Not into an HSM of another security domain, which keeps its keys: the keys would not open there.
    create(&server, "hsmthree", &token, "own", json!({"kty": "oct-HSM", "key_size": 128})).await;
    let body = json!({"sasTokenParameters": sas(SAS), "folderToRestore": folder});
    let refused = run_job(&server, Method::PUT, "hsmthree", "/restore", &token, body).await;
    assert_eq!(refused["error"]["code"], "InvalidBackup", "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("another security domain"), "{refused}");
    assert_eq!(key_names(&server, "hsmthree", &token).await, ["own"]);

    // Into a fresh HSM given hsmone's security domain: every key back, same versions, same material.
    share_security_domain(&server, &token, "hsmone", "hsmtwo").await;
    assert!(key_names(&server, "hsmtwo", &token).await.is_empty());
    let body = json!({"sasTokenParameters": sas(SAS), "folderToRestore": folder});
    let restored = run_job(&server, Method::PUT, "hsmtwo", "/restore", &token, body).await;
    assert_eq!(restored["status"], "Succeeded", "{restored}");
    assert!(restored.get("azureStorageBlobContainerUri").is_none(), "{restored}");
    assert_eq!(key_names(&server, "hsmtwo", &token).await, ["aes", "ec", "rsa"]);
    let (_, versions) = call(&server, Method::GET, "hsmtwo", "/keys/rsa/versions", &token, None).await;
    assert_eq!(versions["value"].as_array().unwrap().len(), 2);
    // The custom role came too, as hsmtwo's own (hsmone keeps its), and its holder reads keys there.
    let (_, roles) =
        call(&server, Method::GET, "hsmtwo", "/providers/Microsoft.Authorization/roleDefinitions", &token, None).await;
    let copy = roles["value"].as_array().unwrap().iter().find(|r| r["properties"]["roleName"] == "Key Reader").unwrap();
    assert_ne!(copy["name"], role["name"], "hsmone's role keeps its id");
    let reader = server.hsm_token("contoso", "reader").await;
    assert_eq!(call(&server, Method::GET, "hsmtwo", "/keys/rsa", &reader, None).await.0, 200);
    assert_eq!(call(&server, Method::GET, "hsmthree", "/keys/own", &reader, None).await.0, 403);
    for (name, before) in [("rsa", &rsa), ("ec", &ec), ("aes", &aes)] {
        let version = before["key"]["kid"].as_str().unwrap().rsplit('/').next().unwrap();
        let (status, after) =
            call(&server, Method::GET, "hsmtwo", &format!("/keys/{name}/{version}"), &token, None).await;
        assert_eq!(status, 200, "{after}");
        for member in ["kty", "n", "e", "crv", "x", "y", "key_ops"] {
            assert_eq!(after["key"][member], before["key"][member], "{name}.{member}");
        }
    }
    let (_, deleted) = call(&server, Method::GET, "hsmtwo", "/deletedkeys/retired", &token, None).await;
    assert!(deleted["recoveryId"].as_str().is_some_and(|id| id.ends_with("/deletedkeys/retired")), "{deleted}");
    let (status, opened) = call(
        &server,
        Method::POST,
        "hsmtwo",
        "/keys/rsa/decrypt",
        &token,
        Some(json!({"alg": "RSA-OAEP-256", "value": rsa_sealed["value"]})),
    )
    .await;
    assert_eq!((status, &opened["value"]), (200, &json!(plaintext)), "{opened}");
    let verify = json!({"alg": "ES256", "digest": digest, "value": signature["value"]});
    let (_, verified) = call(&server, Method::POST, "hsmtwo", "/keys/ec/verify", &token, Some(verify)).await;
    assert_eq!(verified["value"], true, "{verified}");
    let open =
        json!({"alg": "A256GCM", "value": aes_sealed["value"], "iv": aes_sealed["iv"], "tag": aes_sealed["tag"]});
    let (_, opened) = call(&server, Method::POST, "hsmtwo", "/keys/aes/decrypt", &token, Some(open)).await;
    assert_eq!(opened["value"], json!(plaintext), "{opened}");

    // A selective restore gives back one key as it was and leaves the others.
    call(&server, Method::POST, "hsmtwo", "/keys/rsa/rotate", &token, None).await;
    create(&server, "hsmtwo", &token, "later", json!({"kty": "oct-HSM", "key_size": 128})).await;
    let body = json!({"sasTokenParameters": sas(SAS), "folder": folder});
    let restored = run_job(&server, Method::PUT, "hsmtwo", "/keys/RSA/restore", &token, body).await;
    assert_eq!(restored["status"], "Succeeded", "{restored}");
    let (_, versions) = call(&server, Method::GET, "hsmtwo", "/keys/rsa/versions", &token, None).await;
    assert_eq!(versions["value"].as_array().unwrap().len(), 2, "the later version is gone");
    assert_eq!(key_names(&server, "hsmtwo", &token).await, ["aes", "ec", "later", "rsa"]);

    // A full restore replaces the HSM's keys with the backup's.
    let body = json!({"sasTokenParameters": sas(SAS), "folderToRestore": folder});
    let restored = run_job(&server, Method::PUT, "hsmtwo", "/restore", &token, body).await;
    assert_eq!(restored["status"], "Succeeded", "{restored}");
    assert_eq!(key_names(&server, "hsmtwo", &token).await, ["aes", "ec", "rsa"]);

    // The HSM's own managed identity may use the target when the operator said so.
    let identity = json!({"storageResourceUri": CONTAINER, "useManagedIdentity": true});
    let backup = run_job(&server, Method::POST, "hsmone", "/backup", &token, identity.clone()).await;
    assert_eq!(backup["status"], "Succeeded", "{backup}");
    let refused = run_job(&server, Method::POST, "hsmthree", "/backup", &token, identity).await;
    assert_eq!(refused["error"]["code"], "AuthenticationFailed", "{refused}");
}

#[tokio::test]
async fn refused_backups_and_restores_fail_whole_and_write_nothing() {
    let storage = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(storage.path())).await;
    let token = server.hsm_token("contoso", "admin").await;
    create(&server, "hsmone", &token, "kept", json!({"kty": "oct-HSM", "key_size": 256})).await;

    // A wrong SAS token: the job fails, no folder is written.
    let failed = run_job(&server, Method::POST, "hsmone", "/backup", &token, sas("sv=2024&sig=forged")).await;
    assert_eq!(
        (&failed["status"], &failed["error"]["code"]),
        (&json!("Failed"), &json!("AuthenticationFailed")),
        "{failed}"
    );
    assert!(failed["azureStorageBlobContainerUri"].is_null() && !failed.to_string().contains("forged"), "{failed}");
    assert_eq!(std::fs::read_dir(storage.path()).map(|d| d.count()).unwrap_or(0), 0);

    // Invalid requests are refused at once.
    let other = json!({"storageResourceUri": "https://elsewhere.blob.core.windows.net/hsm", "token": SAS});
    for (path, body) in [
        ("/backup", other),
        ("/backup", json!({"storageResourceUri": CONTAINER})),
        ("/backup", json!("not an object")),
        ("/restore", json!({"sasTokenParameters": sas(SAS), "folderToRestore": "../../etc"})),
        ("/restore", json!({"sasTokenParameters": sas(SAS)})),
    ] {
        let method = if path == "/backup" { Method::POST } else { Method::PUT };
        let (status, error) = call(&server, method, "hsmone", path, &token, Some(body.clone())).await;
        assert_eq!((status, &error["error"]["code"]), (400, &json!("BadParameter")), "{body}: {error}");
    }

    // A caller without the backup role is refused before anything runs.
    let officer = server.hsm_token("contoso", "nobody").await;
    let (status, error) = call(&server, Method::POST, "hsmone", "/backup", &officer, Some(sas(SAS))).await;
    assert_eq!((status, &error["error"]["code"]), (403, &json!("AccessDenied")), "{error}");
    // A key vault serves none of it.
    let vault_token = server.token("contoso", "admin").await;
    let response =
        server.vault_call(Method::POST, "billing", &format!("/backup?{API}"), Some(&vault_token), Some(sas(SAS))).await;
    assert_eq!(response.status().as_u16(), 404);

    // A missing folder, and a damaged one: the restore fails and the HSM keeps its keys.
    let body = json!({"sasTokenParameters": sas(SAS), "folderToRestore": "mhsm-hsmone-2020010100000000"});
    let failed = run_job(&server, Method::PUT, "hsmone", "/restore", &token, body).await;
    assert_eq!(failed["error"]["code"], "BlobNotFound", "{failed}");
    let backup = run_job(&server, Method::POST, "hsmone", "/backup", &token, sas(SAS)).await;
    let folder = backup["azureStorageBlobContainerUri"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let file = storage.path().join(&folder).join("backup.sealed");
    let mut sealed = std::fs::read(&file).unwrap();
    let middle = sealed.len() / 2;
    sealed[middle] ^= 1;
    std::fs::write(&file, &sealed).unwrap();
    create(&server, "hsmone", &token, "newer", json!({"kty": "oct-HSM", "key_size": 128})).await;
    let body = json!({"sasTokenParameters": sas(SAS), "folderToRestore": folder});
    let failed = run_job(&server, Method::PUT, "hsmone", "/restore", &token, body).await;
    assert_eq!(failed["error"]["code"], "InvalidBackup", "{failed}");
    assert_eq!(key_names(&server, "hsmone", &token).await, ["kept", "newer"], "nothing was replaced");
    // The 7.6 checks say the same, writing nothing.
    let body = json!({"sasTokenParameters": sas(SAS), "folderToRestore": folder});
    let checked = run_job(&server, Method::PUT, "hsmone", "/prerestore", &token, body).await;
    assert_eq!(checked["error"]["code"], "InvalidBackup", "{checked}");
    let checked = run_job(&server, Method::POST, "hsmone", "/prebackup", &token, sas(SAS)).await;
    assert_eq!(checked["status"], "Succeeded", "{checked}");
    let checked = run_job(&server, Method::POST, "hsmone", "/prebackup", &token, sas("sig=forged")).await;
    assert_eq!(checked["error"]["code"], "AuthenticationFailed", "{checked}");
    let body = json!({"sasTokenParameters": sas("wrong"), "folder": folder});
    let failed = run_job(&server, Method::PUT, "hsmone", "/keys/kept/restore", &token, body).await;
    assert_eq!(failed["error"]["code"], "AuthenticationFailed", "{failed}");

    // A job is found only through its own HSM and kind.
    let job = backup["jobId"].as_str().unwrap();
    for (hsm, path) in [("hsmthree", format!("/backup/{job}/pending")), ("hsmone", format!("/restore/{job}/pending"))] {
        let (status, error) = call(&server, Method::GET, hsm, &path, &token, None).await;
        assert_eq!(status, 404, "{hsm}{path}: {error}");
    }
}

#[tokio::test]
async fn a_job_whose_node_stopped_ends_failed_at_a_poll_a_minute_on_and_frees_the_hsm() {
    use strongroom_core::full_backup::job::{Job, JobKind};
    use strongroom_store::{Ephemeral, IfLive};

    let storage = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(storage.path())).await;
    let token = server.hsm_token("contoso", "admin").await;
    let state = server.running().state();
    let hsm = state.directory().vault("hsmone").unwrap().id;

    // Another node claimed hsmone for a restore, recorded it, and stopped: what it leaves in the store.
    let now = server.clock.now_seconds();
    let job = Job::start(JobKind::Restore, now);
    let (claim, record) = (hsm.to_string(), format!("{hsm}/{}", job.id));
    let json = serde_json::to_vec(&job).unwrap();
    for (kind, key, value) in
        [("managed-hsm-job-running", &claim, job.id.as_bytes()), ("managed-hsm-job", &record, &json)]
    {
        let entry = Ephemeral { kind, key, value, expires: now + 3600 };
        assert!(state.store.put_ephemeral(entry, now, IfLive::Replace).await.unwrap());
    }
    let poll = format!("/restore/{}/pending", job.id);

    // Within the minute it is in progress, and holds the HSM.
    let (_, state_now) = call(&server, Method::GET, "hsmone", &poll, &token, None).await;
    assert_eq!(state_now["status"], "InProgress", "{state_now}");
    let (status, busy) = call(&server, Method::POST, "hsmone", "/backup", &token, Some(sas(SAS))).await;
    assert_eq!(status, 409, "{busy}");

    // A minute without a heartbeat: the poll ends it, failed with a word on why, and the HSM is free again.
    server.clock.set_offset_seconds(61);
    // A poll through another HSM (or as a backup) neither finds it nor frees hsmone.
    for (hsm, path) in [("hsmthree", poll.clone()), ("hsmone", format!("/backup/{}/pending", job.id))] {
        assert_eq!(call(&server, Method::GET, hsm, &path, &token, None).await.0, 404, "{hsm}{path}");
    }
    assert_eq!(call(&server, Method::POST, "hsmone", "/backup", &token, Some(sas(SAS))).await.0, 409);
    let (_, ended) = call(&server, Method::GET, "hsmone", &poll, &token, None).await;
    assert_eq!((&ended["status"], &ended["error"]["code"]), (&json!("Failed"), &json!("InternalError")), "{ended}");
    assert!(ended["error"]["message"].as_str().unwrap().contains("start the job again"), "{ended}");
    let (_, again) = call(&server, Method::GET, "hsmone", &poll, &token, None).await;
    assert_eq!(again, ended, "it ends once");
    let backup = run_job(&server, Method::POST, "hsmone", "/backup", &token, sas(SAS)).await;
    assert_eq!(backup["status"], "Succeeded", "{backup}");
}

#[tokio::test]
async fn a_restore_user_gains_no_role_from_a_backup_of_another_security_domain_even_one_without_keys() {
    // `nobody` administers hsmone, an HSM of its own without keys, and only restores in hsmthree.
    let storage = tempfile::tempdir().unwrap();
    let hash: String = hash_sas_token(SAS).iter().map(|b| format!("{b:02x}")).collect();
    let config = format!(
        "{STANDARD_TENANTS}\n[[tenant.managed_hsm]]\nname = \"hsmone\"\nadministrators = [\"nobody\"]\n\
         activated = true\n\n[[tenant.managed_hsm]]\nname = \"hsmthree\"\nadministrators = [\"admin\"]\n\
         activated = true\n\n[[tenant.managed_hsm.role_assignment]]\nprincipal = \"nobody\"\n\
         role = \"Managed HSM Restore User\"\n\n\
         [[tenant.managed_hsm.role_assignment]]\nprincipal = \"admin\"\nrole = \"Managed HSM Crypto User\"\n\n\
         [[backup_storage]]\nurl = \"{CONTAINER}\"\ndirectory = \"{}\"\n\
         sas_token_sha256 = [\"{hash}\"]\n",
        storage.path().display()
    );
    let server = TestServer::start(&config).await;
    let (admin, nobody) = (server.hsm_token("contoso", "admin").await, server.hsm_token("contoso", "nobody").await);
    create(&server, "hsmthree", &admin, "kept", json!({"kty": "oct-HSM", "key_size": 256})).await;
    let assignments = "/providers/Microsoft.Authorization/roleAssignments";
    assert_eq!(call(&server, Method::GET, "hsmthree", assignments, &nobody, None).await.0, 403);

    // The backup of hsmone holds no key whose material could fail to open in hsmthree, only nobody's roles.
    let backup = run_job(&server, Method::POST, "hsmone", "/backup", &nobody, sas(SAS)).await;
    let folder = backup["azureStorageBlobContainerUri"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let body = json!({"sasTokenParameters": sas(SAS), "folderToRestore": folder});
    for path in ["/prerestore", "/restore"] {
        let refused = run_job(&server, Method::PUT, "hsmthree", path, &nobody, body.clone()).await;
        assert_eq!(refused["error"]["code"], "InvalidBackup", "{path}: {refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("another security domain"), "{refused}");
    }
    assert_eq!(call(&server, Method::GET, "hsmthree", assignments, &nobody, None).await.0, 403, "no Administrator");
    assert_eq!(key_names(&server, "hsmthree", &admin).await, ["kept"], "nothing was replaced");
}

#[tokio::test]
async fn a_custom_role_of_one_hsm_is_never_rewritten_through_another_hsm_under_its_id() {
    let storage = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(storage.path())).await;
    let token = server.hsm_token("contoso", "admin").await;
    let role_path = format!("/providers/Microsoft.Authorization/roleDefinitions/{}", uuid::Uuid::new_v4());
    let role = |action: &str| {
        json!({"properties": {"roleName": "Key Reader", "type": "CustomRole", "assignableScopes": ["/"],
            "permissions": [{"dataActions": [action]}]}})
    };
    let reads = role("Microsoft.KeyVault/managedHsm/keys/read/action");
    let (status, made) = call(&server, Method::PUT, "hsmone", &role_path, &token, Some(reads)).await;
    assert_eq!(status, 201, "{made}");

    // hsmthree neither sees hsmone's role under its id nor rewrites it.
    assert_eq!(call(&server, Method::GET, "hsmthree", &role_path, &token, None).await.0, 404);
    let everything = role("Microsoft.KeyVault/managedHsm/*");
    let (status, refused) = call(&server, Method::PUT, "hsmthree", &role_path, &token, Some(everything)).await;
    assert_eq!((status, &refused["error"]["code"]), (409, &json!("RoleDefinitionExists")), "{refused}");
    let (_, kept) = call(&server, Method::GET, "hsmone", &role_path, &token, None).await;
    assert_eq!(kept, made);

    // A full restore of hsmone's backup into hsmtwo (given its security domain) brings the role under a new id.
    share_security_domain(&server, &token, "hsmone", "hsmtwo").await;
    let backup = run_job(&server, Method::POST, "hsmone", "/backup", &token, sas(SAS)).await;
    let folder = backup["azureStorageBlobContainerUri"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let body = json!({"sasTokenParameters": sas(SAS), "folderToRestore": folder});
    let restored = run_job(&server, Method::PUT, "hsmtwo", "/restore", &token, body).await;
    assert_eq!(restored["status"], "Succeeded", "{restored}");
    assert_eq!(call(&server, Method::GET, "hsmone", &role_path, &token, None).await.1, made);
    assert_eq!(call(&server, Method::GET, "hsmtwo", &role_path, &token, None).await.0, 404);
}

//! The audit log as Azure Monitor's tables (issue 23 part 1): every row holds only columns of the table its
//! `Type` names, and each outcome of a vault request — allowed, refused by RBAC, by the firewall, for a bad
//! token, not found — is recorded as Key Vault records it.

use std::collections::HashMap;

use serde_json::Value;

use crate::harness::{STANDARD_TENANTS, TestServer};

/// Columns of Key Vault's resource-specific `AZKVAuditLogs` table.
const AZKV_AUDIT_LOGS: &[&str] = &[
    "_BilledSize",
    "_IsBillable",
    "_ResourceId",
    "_SubscriptionId",
    "AddressAuthorizationType",
    "Algorithm",
    "AppliedAssignmentId",
    "CallerIpAddress",
    "CertificateIssuerProperties",
    "CertificatePolicyProperties",
    "CertificateProperties",
    "CertificateRequestProperties",
    "ClientInfo",
    "CorrelationId",
    "DurationMs",
    "EnabledForDeployment",
    "EnabledForDiskEncryption",
    "EnabledForTemplateDeployment",
    "EnablePurgeProtection",
    "EnableRbacAuthorization",
    "EnableSoftDelete",
    "HsmPoolResourceId",
    "HttpStatusCode",
    "Id",
    "Identity",
    "IsAccessPolicyMatch",
    "IsAddressAuthorized",
    "IsRbacAuthorized",
    "KeyProperties",
    "NetworkAcls",
    "OperationName",
    "OperationVersion",
    "Properties",
    "RequestUri",
    "ResultDescription",
    "ResultSignature",
    "ResultType",
    "SecretProperties",
    "Sku",
    "SoftDeleteRetentionInDays",
    "SourceSystem",
    "StorageAccountProperties",
    "SubnetId",
    "TenantId",
    "TimeGenerated",
    "TlsVersion",
    "Type",
];
/// Columns every Entra sign-in table has (`SigninLogs`, `AADServicePrincipalSignInLogs`,
/// `AADManagedIdentitySignInLogs`).
const SIGN_IN_LOGS: &[&str] = &[
    "AppId",
    "Category",
    "CorrelationId",
    "DurationMs",
    "Id",
    "Identity",
    "IPAddress",
    "Level",
    "Location",
    "OperationName",
    "OperationVersion",
    "ResourceDisplayName",
    "ResourceIdentity",
    "ResultDescription",
    "ResultSignature",
    "ResultType",
    "ServicePrincipalId",
    "TenantId",
    "TimeGenerated",
    "Type",
];
/// Columns of `SigninLogs` (people) beyond those.
const USER_SIGN_IN_LOGS: &[&str] = &["AuthenticationProtocol", "UserPrincipalName", "UserId", "AlternateSignInName"];
/// Columns of `AADServicePrincipalSignInLogs` beyond those.
const SERVICE_PRINCIPAL_SIGN_IN_LOGS: &[&str] = &["ClientCredentialType", "ServicePrincipalName"];
/// Columns of the activity log's `AzureActivity` table.
const AZURE_ACTIVITY: &[&str] = &[
    "_ResourceId",
    "ActivityStatusValue",
    "ActivitySubstatusValue",
    "Authorization",
    "Caller",
    "CallerIpAddress",
    "CategoryValue",
    "Claims",
    "CorrelationId",
    "EventDataId",
    "HTTPRequest",
    "Level",
    "OperationNameValue",
    "Properties",
    "ResourceGroup",
    "ResourceProviderValue",
    "SubscriptionId",
    "TenantId",
    "TimeGenerated",
    "Type",
];

const OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";

fn columns_of(table: &str) -> Vec<&'static str> {
    match table {
        "AZKVAuditLogs" => AZKV_AUDIT_LOGS.to_vec(),
        "SigninLogs" => [SIGN_IN_LOGS, USER_SIGN_IN_LOGS].concat(),
        "AADServicePrincipalSignInLogs" => [SIGN_IN_LOGS, SERVICE_PRINCIPAL_SIGN_IN_LOGS].concat(),
        "AADManagedIdentitySignInLogs" => SIGN_IN_LOGS.to_vec(),
        "AzureActivity" => AZURE_ACTIVITY.to_vec(),
        other => panic!("a row of no known table: {other}"),
    }
}

fn guarded_vaults() -> String {
    format!(
        "{STANDARD_TENANTS}\n\
        [[tenant.vault]]\nname = \"guarded\"\n[tenant.vault.network]\ndefault_action = \"deny\"\nbypass = \"None\"\n\
        ip_rules = [\"127.0.0.2/32\"]\n[[tenant.vault.role_assignment]]\nprincipal = \"admin\"\n\
        role = \"Key Vault Administrator\"\n\
        [[tenant.vault]]\nname = \"policies\"\nauthorization = \"access_policies\"\n\
        [[tenant.vault.access_policy]]\nprincipal = \"admin\"\nsecrets = [\"get\", \"list\"]\n"
    )
}

/// The rows of the audit log, once the writer has written `wanted` rows of table `table`.
async fn rows(server: &TestServer, table: &str, wanted: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(server.dir.path().join("audit.log")).unwrap_or_default();
        let rows: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        if rows.iter().filter(|r| r["Type"] == table).count() >= wanted || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_row_holds_its_tables_columns_and_each_outcome_of_a_vault_request_is_recorded() {
    let server = TestServer::start(&guarded_vaults()).await;
    let admin = server.token("contoso", "admin").await;
    let nobody = server.token("contoso", "nobody").await;
    let (status, _) = server.token_request("contoso", &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 400, "a refused sign-in is logged too");

    // One request per outcome, each with the correlation id the SDKs send.
    let cases = [
        ("allowed", "billing", "/secrets/seeded", Some(admin.as_str()), 200),
        ("rbac-denied", "billing", "/secrets/seeded", Some(nobody.as_str()), 403),
        ("firewall-denied", "guarded", "/secrets/seeded", Some(admin.as_str()), 403),
        ("token-invalid", "billing", "/secrets/seeded", Some("eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"), 401),
        ("not-found", "billing", "/secrets/missing", Some(admin.as_str()), 404),
        ("policy-allowed", "policies", "/secrets/missing", Some(admin.as_str()), 404),
    ];
    for (case, vault, path, token, expected) in cases {
        let url = format!("{}{path}?api-version=7.6", server.vault_url(vault));
        let mut request =
            server.http.get(url).header("x-ms-client-request-id", case).header("user-agent", "audit-test");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await.unwrap().status().as_u16(), expected, "{case}");
    }
    let management = format!("{}/subscriptions?api-version=2022-12-01", server.authority_host());
    assert_eq!(server.http.get(management).bearer_auth(&admin).send().await.unwrap().status().as_u16(), 401);

    // The management request came last: once its row is written, every other row is.
    let rows = rows(&server, "AzureActivity", 1).await;
    for row in &rows {
        let table = row["Type"].as_str().unwrap();
        let allowed = columns_of(table);
        for column in row.as_object().unwrap().keys() {
            assert!(allowed.contains(&column.as_str()), "{table} has no column {column}: {row}");
        }
        assert!(row["TimeGenerated"].as_str().unwrap().ends_with('Z'), "{row}");
    }
    let tables: Vec<&str> = rows.iter().map(|r| r["Type"].as_str().unwrap()).collect();
    for table in ["AZKVAuditLogs", "AADServicePrincipalSignInLogs", "AzureActivity"] {
        assert!(tables.contains(&table), "no {table} row: {tables:?}");
    }

    let by_case: HashMap<&str, &Value> = rows
        .iter()
        .filter(|r| r["Type"] == "AZKVAuditLogs")
        .map(|r| (r["CorrelationId"].as_str().unwrap(), r))
        .collect();
    let allowed = by_case["allowed"];
    assert_eq!(allowed["OperationName"], "SecretGet");
    assert_eq!(allowed["OperationVersion"], "7.6");
    assert_eq!((allowed["ResultType"].as_str(), allowed["ResultSignature"].as_str()), (Some("Success"), Some("OK")));
    assert_eq!(allowed["HttpStatusCode"], 200);
    assert_eq!(allowed["IsAddressAuthorized"], true);
    assert_eq!(allowed["AddressAuthorizationType"], "PublicIp");
    assert_eq!(
        (allowed["IsRbacAuthorized"].as_bool(), allowed["IsAccessPolicyMatch"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(allowed["Identity"]["claim"][OBJECT_ID], server.object_id("admin").as_str());
    assert_eq!(allowed["Identity"]["claim"]["appid"], server.client_id("admin").as_str());
    assert_eq!(allowed["ClientInfo"], "audit-test");
    assert_eq!(allowed["TlsVersion"], "TLS1_3");
    assert!(allowed["_ResourceId"].as_str().unwrap().ends_with("/providers/microsoft.keyvault/vaults/billing"));
    assert!(allowed["Id"].as_str().unwrap().ends_with("/secrets/seeded"));
    assert!(allowed["RequestUri"].as_str().unwrap().ends_with("/secrets/seeded?api-version=7.6"));

    let rbac = by_case["rbac-denied"];
    assert_eq!((rbac["HttpStatusCode"].as_u64(), rbac["ResultSignature"].as_str()), (Some(403), Some("Forbidden")));
    assert_eq!((rbac["IsAddressAuthorized"].as_bool(), rbac["IsRbacAuthorized"].as_bool()), (Some(true), Some(false)));
    assert_eq!(rbac["ResultDescription"], "ForbiddenByRbac");
    assert_eq!(rbac["Identity"]["claim"][OBJECT_ID], server.object_id("nobody").as_str());

    let firewall = by_case["firewall-denied"];
    assert_eq!(
        (firewall["HttpStatusCode"].as_u64(), firewall["IsAddressAuthorized"].as_bool()),
        (Some(403), Some(false))
    );
    assert_eq!(firewall["ResultDescription"], "ForbiddenByFirewall");
    assert!(firewall.get("Identity").is_none() && firewall.get("AddressAuthorizationType").is_none(), "{firewall}");

    let invalid = by_case["token-invalid"];
    assert_eq!((invalid["HttpStatusCode"].as_u64(), invalid["ResultType"].as_str()), (Some(401), Some("Failure")));
    assert!(invalid.get("Identity").is_none() && invalid["IsRbacAuthorized"] == false, "{invalid}");

    let missing = by_case["not-found"];
    assert_eq!(
        (missing["HttpStatusCode"].as_u64(), missing["ResultDescription"].as_str()),
        (Some(404), Some("SecretNotFound"))
    );
    assert_eq!(missing["IsRbacAuthorized"], true);

    let policy = by_case["policy-allowed"];
    assert_eq!(
        (policy["IsAccessPolicyMatch"].as_bool(), policy["IsRbacAuthorized"].as_bool()),
        (Some(true), Some(false))
    );

    let sign_ins: Vec<&Value> = rows.iter().filter(|r| r["Type"] == "AADServicePrincipalSignInLogs").collect();
    assert!(sign_ins.iter().any(|r| r["ResultType"] == "0"
        && r["AppId"] == server.client_id("admin").as_str()
        && r["ClientCredentialType"] == "clientSecret"
        && r["IPAddress"] == "127.0.0.1"));
    assert!(sign_ins.iter().any(|r| r["ResultSignature"] == "FAILURE"
        && r["ResultType"] != "0"
        && r["ResultDescription"].as_str().unwrap().starts_with("AADSTS")));
    let activity = rows.iter().find(|r| r["Type"] == "AzureActivity").unwrap();
    assert_eq!(
        (activity["ActivityStatusValue"].as_str(), activity["Level"].as_str()),
        (Some("Failure"), Some("Error"))
    );
    assert_eq!(activity["Properties"]["httpStatusCode"], 401);
    assert_eq!(activity["HTTPRequest"]["method"], "GET");

    let text = std::fs::read_to_string(server.dir.path().join("audit.log")).unwrap();
    assert!(!text.contains(&admin) && !text.contains("secret-0123456789"), "no token or client secret is logged");
}

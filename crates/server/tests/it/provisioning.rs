//! The desired state of a configuration, applied at start.

use reqwest::Method;

use crate::harness::{STANDARD_TENANTS, TestServer};

#[tokio::test]
async fn ids_are_kept_across_restarts() {
    let mut server = TestServer::start(STANDARD_TENANTS).await;
    let (tenant, client) = (server.tenant_id("contoso"), server.client_id("admin"));
    server.restart().await;
    assert_eq!((server.tenant_id("contoso"), server.client_id("admin")), (tenant, client));
    let token = server.token("contoso", "admin").await;
    let response =
        server.vault_call(Method::GET, "billing", "/secrets/seeded?api-version=7.6", Some(&token), None).await;
    assert_eq!(response.status(), 200);
}

//! `GET …/vaults/{vault}/providers/Microsoft.Insights/logs`: a vault's audit records, newest first, filtered by
//! time, caller, operation, outcome and address. Reading them is Azure Monitor's resource-context permission
//! on the vault (`Microsoft.Insights/logs/AZKVAuditLogs/read`, which Owner, Contributor and Reader hold).

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use axum::response::Response;
use strongroom_core::rbac::{Action, Scope};

use super::error::ManagementError;
use super::resource::ArmPath;
use super::{Context, json_response, query_value};
use crate::audit::query::{self, AuditFilter};

/// Audit-log queries read a file that every tenant's requests share: a few at a time, so that no reader can
/// load the server with them.
const AT_ONCE: usize = 2;
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// A place among the queries running, given back when dropped.
struct Running;

impl Running {
    fn take() -> Option<Self> {
        let before = RUNNING.fetch_add(1, Ordering::SeqCst);
        if before >= AT_ONCE {
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Running)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves the audit-log query.
pub async fn query(cx: &mut Context<'_>, path: &ArmPath) -> Result<Response, ManagementError> {
    if cx.method != Method::GET {
        return Err(ManagementError::method_not_allowed(cx.method.as_str(), "providers/Microsoft.Insights/logs"));
    }
    let vault = cx.vault(path.vault.as_deref().unwrap_or_default())?;
    cx.authorize(Action::AuditLogsRead, Some(&vault), &Scope::Vault, None)?;
    let field = |name: &str| query_value(cx.query.as_deref(), name).unwrap_or_default();
    let filter = AuditFilter {
        resource_id: crate::vault::audit::resource_id(&vault),
        from: field("from"),
        to: field("to"),
        caller: field("caller"),
        operation: field("operation"),
        outcome: field("outcome"),
        address: field("address"),
    };
    let running = Running::take().ok_or_else(ManagementError::too_many_requests)?;
    let limit = field("top").parse::<usize>().unwrap_or(100).clamp(1, query::MAX_RECORDS);
    let dir = cx.state.data_dir.clone();
    let records = tokio::task::spawn_blocking(move || {
        let records = query::newest(&dir, &filter, limit);
        drop(running);
        records
    })
    .await
    .map_err(|_| ManagementError::internal())?
    .map_err(|e| {
        tracing::error!("reading the audit log failed: {e}");
        ManagementError::internal()
    })?;
    Ok(json_response(StatusCode::OK, &serde_json::json!({ "value": records })))
}

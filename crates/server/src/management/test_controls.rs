//! The test controls' management API, Strongroom's own `Strongroom.Testing` provider (installations with
//! `test_controls = true` only; see [`crate::test_controls`]):
//!
//! - `{vault id}/providers/Strongroom.Testing/faults/default`: `PUT` a vault's fault plan
//!   (`{"properties": {"statusCode", "count", "fraction", "latencyMs", "retryAfterSeconds"}}`), `GET` it,
//!   `DELETE` it. Needs `Strongroom.Testing/faults/write` on the vault (Owner, Contributor).
//! - `/subscriptions/{id}/providers/Strongroom.Testing/clock`: `GET` the server's time and offset, `PUT`
//!   `{"properties": {"offsetSeconds"}}` (or `"advanceSeconds"`) to move it. Needs
//!   `Strongroom.Testing/clock/write` at the subscription (Owner, Contributor). Moving it runs the maintenance
//!   (expiry notices, rotations, renewals, purges) at once.
//!
//! Every call is audited as any management request is.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use strongroom_core::rbac::{Action, Scope};

use super::error::ManagementError;
use super::resource::{ArmPath, vault_id};
use super::{Context, json_response};
use crate::test_controls::{FAULT_STATUSES, FaultPlan};

/// The furthest the clock may be moved ahead: ten years, as `scheduler_clock_offset_seconds` allows.
const MAX_OFFSET_SECONDS: i64 = 10 * 366 * 86_400;

/// The body of a fault plan.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultProperties {
    status_code: Option<u16>,
    count: Option<u32>,
    fraction: Option<f64>,
    #[serde(default)]
    latency_ms: u64,
    retry_after_seconds: Option<u32>,
}

/// The body of a clock change.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClockProperties {
    offset_seconds: Option<i64>,
    advance_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<T> {
    properties: T,
}

/// Refuses unless the installation enabled test controls.
fn enabled(cx: &Context<'_>) -> Result<(), ManagementError> {
    if cx.state.test_controls_enabled {
        return Ok(());
    }
    Err(ManagementError::not_found(
        "TestControlsDisabled",
        "Test controls are off on this installation: set `test_controls = true` in [server] (strongroom dev does).",
    ))
}

/// Serves a vault's fault plan.
pub async fn faults(cx: &mut Context<'_>, path: &ArmPath) -> Result<Response, ManagementError> {
    enabled(cx)?;
    let vault = cx.vault(path.vault.as_deref().unwrap_or_default())?;
    cx.authorize(Action::TestFaultsWrite, Some(&vault), &Scope::Vault, None)?;
    let id = format!("{}/providers/Strongroom.Testing/faults/default", vault_id(cx.shown_subscription(), &vault));
    let faults = &cx.state.test_faults;
    match cx.method {
        Method::GET => match faults.plan(vault.id) {
            Some(plan) => Ok(json_response(StatusCode::OK, &fault_json(&id, &plan))),
            None => Err(ManagementError::not_found("ResourceNotFound", "The vault has no fault plan.")),
        },
        Method::PUT => {
            let plan = fault_plan(cx.json::<Body<FaultProperties>>()?.properties)?;
            faults.set(vault.id, plan.clone());
            Ok(json_response(StatusCode::OK, &fault_json(&id, &plan)))
        }
        Method::DELETE => {
            let status = if faults.clear(vault.id) { StatusCode::OK } else { StatusCode::NO_CONTENT };
            Ok(status.into_response())
        }
        _ => Err(ManagementError::method_not_allowed(cx.method.as_str(), "faults")),
    }
}

fn fault_plan(properties: FaultProperties) -> Result<FaultPlan, ManagementError> {
    let invalid = |message: &str| ManagementError::bad_request("InvalidFaultPlan", message);
    let FaultProperties { status_code, count, fraction, latency_ms, retry_after_seconds } = properties;
    if status_code.is_some_and(|s| !FAULT_STATUSES.contains(&s)) {
        return Err(invalid("`statusCode` is one of 429, 500 and 503."));
    }
    if status_code.is_none() && (count.is_some() || fraction.is_some() || latency_ms == 0) {
        return Err(invalid("A plan without `statusCode` adds latency only: give `latencyMs` alone."));
    }
    if count == Some(0) || fraction.is_some_and(|f| !(f > 0.0 && f <= 1.0)) {
        return Err(invalid("`count` is at least 1, and `fraction` is above 0 and at most 1."));
    }
    if latency_ms > 60_000 || retry_after_seconds.is_some_and(|s| s > 3_600) {
        return Err(invalid("`latencyMs` is at most 60000, and `retryAfterSeconds` at most 3600."));
    }
    Ok(FaultPlan::new(
        status_code,
        count,
        fraction.unwrap_or(1.0),
        Duration::from_millis(latency_ms),
        retry_after_seconds.unwrap_or(1),
    ))
}

fn fault_json(id: &str, plan: &FaultPlan) -> Value {
    json!({
        "id": id,
        "name": "default",
        "type": "Strongroom.Testing/faults",
        "properties": {
            "statusCode": plan.status,
            "count": plan.remaining,
            "fraction": plan.fraction,
            "latencyMs": u64::try_from(plan.latency.as_millis()).unwrap_or(u64::MAX),
            "retryAfterSeconds": plan.retry_after_seconds,
            "injected": plan.injected,
        },
    })
}

/// Serves the server's clock.
pub async fn clock(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    enabled(cx)?;
    cx.authorize(Action::TestClockWrite, None, &Scope::Tenant, None)?;
    let clock = &cx.state.clock;
    match cx.method {
        Method::GET => {}
        Method::PUT => {
            let ClockProperties { offset_seconds, advance_seconds } = cx.json::<Body<ClockProperties>>()?.properties;
            let offset = match (offset_seconds, advance_seconds) {
                (Some(offset), None) => offset,
                (None, Some(advance)) => clock.offset_seconds().saturating_add(advance),
                _ => {
                    return Err(ManagementError::bad_request(
                        "InvalidClockChange",
                        "Give `offsetSeconds` (from the system's time) or `advanceSeconds` (from now), not both.",
                    ));
                }
            };
            if !(0..=MAX_OFFSET_SECONDS).contains(&offset) {
                return Err(ManagementError::bad_request(
                    "InvalidClockChange",
                    "The clock is set at or ahead of the system's time, at most ten years ahead.",
                ));
            }
            clock.set_offset_seconds(offset);
            // What came due runs now, not at the maintenance loop's next turn.
            cx.state.maintenance_now.notify_one();
        }
        _ => return Err(ManagementError::method_not_allowed(cx.method.as_str(), "clock")),
    }
    let now = clock.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let body = json!({
        "name": "clock",
        "type": "Strongroom.Testing/clock",
        "properties": { "now": now, "offsetSeconds": clock.offset_seconds() },
    });
    Ok(json_response(StatusCode::OK, &body))
}

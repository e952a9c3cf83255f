//! Pending interactive sign-ins: device codes waiting for their user, and authorization codes waiting to be
//! redeemed. Both are short-lived and kept in memory; a restart asks users to sign in again.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use super::mint::now_seconds;

/// A device code waiting for its user to sign in on the verification page.
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The public client that asked.
    pub client_id: Uuid,
    /// The scopes it asked for.
    pub scope: String,
    /// What the user types on the verification page.
    pub user_code: String,
    /// When the code stops working, Unix seconds.
    pub expires: i64,
    /// The user who signed in, once someone has.
    pub approved_by: Option<Uuid>,
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The client it was issued to.
    pub client_id: Uuid,
    /// Where it was sent; redemption must name the same.
    pub redirect_uri: String,
    /// The scopes asked for.
    pub scope: String,
    /// The sign-in request's nonce.
    pub nonce: Option<String>,
    /// The PKCE challenge and its method.
    pub code_challenge: Option<(String, String)>,
    /// The user who signed in.
    pub user_id: Uuid,
    /// When the code stops working, Unix seconds.
    pub expires: i64,
}

/// Every pending interactive sign-in.
#[derive(Debug, Default)]
pub struct PendingSignIns {
    devices: Mutex<HashMap<String, DeviceGrant>>,
    codes: Mutex<HashMap<String, CodeGrant>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PendingSignIns {
    /// Keeps a new device code.
    pub fn add_device(&self, device_code: String, grant: DeviceGrant) {
        let now = now_seconds();
        let mut devices = lock(&self.devices);
        devices.retain(|_, g| g.expires > now);
        devices.insert(device_code, grant);
    }

    /// Marks the live device code whose user code is `user_code` as signed in by `user`, if it is for
    /// `tenant`; returns whether one was.
    pub fn approve_device(&self, user_code: &str, tenant_id: Uuid, user: Uuid) -> bool {
        let now = now_seconds();
        let mut devices = lock(&self.devices);
        match devices.values_mut().find(|g| g.user_code.eq_ignore_ascii_case(user_code) && g.expires > now) {
            Some(grant) if grant.tenant_id == tenant_id => {
                grant.approved_by = Some(user);
                true
            }
            _ => false,
        }
    }

    /// The tenant of the live device code whose user code is `user_code`.
    pub fn device_tenant(&self, user_code: &str) -> Option<Uuid> {
        let now = now_seconds();
        lock(&self.devices)
            .values()
            .find(|g| g.user_code.eq_ignore_ascii_case(user_code) && g.expires > now)
            .map(|g| g.tenant_id)
    }

    /// The device grant for `device_code`: removed once approved (a device code yields tokens once).
    pub fn poll_device(&self, device_code: &str) -> Option<DeviceGrant> {
        let now = now_seconds();
        let mut devices = lock(&self.devices);
        let grant = devices.get(device_code).filter(|g| g.expires > now)?.clone();
        if grant.approved_by.is_some() {
            devices.remove(device_code);
        }
        Some(grant)
    }

    /// Keeps a new authorization code.
    pub fn add_code(&self, code: String, grant: CodeGrant) {
        let now = now_seconds();
        let mut codes = lock(&self.codes);
        codes.retain(|_, g| g.expires > now);
        codes.insert(code, grant);
    }

    /// Takes an authorization code: it can be redeemed once.
    pub fn take_code(&self, code: &str) -> Option<CodeGrant> {
        let now = now_seconds();
        lock(&self.codes).remove(code).filter(|g| g.expires > now)
    }
}

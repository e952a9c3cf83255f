//! Key Vault's error envelope, decided in this one place: `{"error":{"code","message","innererror"}}`, with
//! the authentication challenge added to every 401.

use crate::error::{InternalFailure, StoreFault};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strongroom_core::key::KeyType;
use strongroom_proto::keyvault::{ErrorDetail, InnerError, KeyVaultError};

/// What a 503 says: the database cannot be reached now, and the node keeps trying to reconnect.
const UNAVAILABLE: &str = "The service cannot reach its storage right now. Try again shortly.";
/// How long a client should wait before retrying after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// A failed vault request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultError {
    status: StatusCode,
    code: &'static str,
    inner: Option<&'static str>,
    message: String,
    challenge: Option<String>,
    /// Seconds a throttled client should wait, for `Retry-After`.
    retry_after: Option<u64>,
}

impl VaultError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, inner: None, message: message.into(), challenge: None, retry_after: None }
    }

    fn with_inner(mut self, inner: &'static str) -> Self {
        self.inner = Some(inner);
        self
    }

    /// 401: no bearer token; `challenge` is the `WWW-Authenticate` value.
    pub fn missing_token(challenge: String) -> Self {
        Self {
            challenge: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        }
    }

    /// 401: the token was refused for `reason`; the challenge is repeated.
    pub fn invalid_token(reason: &str, challenge: String) -> Self {
        Self { challenge: Some(challenge), ..Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", reason) }
    }

    /// 403 ForbiddenByFirewall.
    pub fn forbidden_by_firewall(message: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message).with_inner("ForbiddenByFirewall")
    }

    /// 403 ForbiddenByRbac.
    pub fn forbidden_by_rbac(message: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message).with_inner("ForbiddenByRbac")
    }

    /// 409 with a specific code: what the request would create exists already.
    pub fn conflict(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 403 AccessDenied, as Managed HSM answers it: no local role assignment grants the operation.
    pub fn local_rbac_denied(message: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    /// 403 AccessDenied: the vault's access policies do not grant the operation.
    pub fn access_denied(message: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message).with_inner("AccessDenied")
    }

    /// 403 for an operation the object's state does not allow (e.g. reading a disabled secret).
    pub fn forbidden(message: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    /// 403 KeyOperationForbidden: the key's `key_ops` do not list `operation`. Key Vault's words, as the
    /// Key Vault SDKs' troubleshooting guides quote them.
    pub fn key_operation_forbidden(operation: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", format!("Operation {operation} is not permitted on this key."))
            .with_inner("KeyOperationForbidden")
    }

    /// 404 for a secret that does not exist (or not in that version).
    pub fn secret_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!(
                "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            ),
        )
    }

    /// 404 for a certificate that does not exist (or not in that version).
    pub fn certificate_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "CertificateNotFound",
            format!(
                "A certificate with (name/id) {name} was not found in this key vault. If you recently deleted this certificate you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            ),
        )
    }

    /// 404 with a specific code.
    pub fn not_found(code: &'static str, message: String) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409: a Managed HSM's security domain upload that would replace the root secret it is activated with.
    pub fn security_domain_conflict() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            "This HSM is activated with another security domain; a security domain is uploaded to a new HSM.",
        )
    }

    /// 403: an operation of a Managed HSM that is not activated, which serves only its security domain. Key Vault
    /// answers `Forbidden` for what an object's or vault's state does not allow.
    pub fn not_activated(hsm: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "The Managed HSM {hsm} is not activated: download its security domain first \
                 (az keyvault security-domain download), or upload one to restore it."
            ),
        )
        .with_inner("HsmNotActivated")
    }

    /// 404: a Managed HSM's security domain status before any download or upload.
    pub fn security_domain_operation_not_found(operation: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", format!("No security domain {operation} was made on this HSM."))
    }

    /// 404 for a vault with no certificate contacts.
    pub fn contacts_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "ContactsNotFound", "Contacts not found")
    }

    /// 404 for a certificate that is not soft-deleted.
    pub fn deleted_certificate_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "CertificateNotFound",
            format!("A deleted certificate with (name/id) {name} was not found in this key vault."),
        )
    }

    /// 404 for a certificate with no pending or finished issuance on record (or whose operation was deleted).
    pub fn operation_not_found(name: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "PendingCertificateNotFound", format!("Pending certificate not found: {name}"))
    }

    /// 403: the certificate's operation has ended (completed, cancelled or failed) and cannot change.
    pub fn operation_not_in_progress() -> Self {
        Self::forbidden(strongroom_core::certificate::issuance::NOT_IN_PROGRESS.to_owned())
    }

    /// 409: a create while the certificate's last one is still in progress.
    pub fn operation_in_progress(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "There was a conflict while creating certificate '{name}': its pending certificate operation is in progress. Wait for it to complete, or cancel or delete it, then create again."
            ),
        )
    }

    /// 409: the name belongs to a soft-deleted certificate.
    pub fn certificate_is_deleted(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Certificate {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the certificate can only be recovered or purged."
            ),
        )
        .with_inner("ObjectIsDeletedButRecoverable")
    }

    /// 404 for a key that does not exist (or not in that version).
    pub fn key_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "KeyNotFound",
            format!(
                "A key with (name/id) {name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            ),
        )
    }

    /// 404 for a deleted key that does not exist.
    pub fn deleted_key_not_found(name: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "KeyNotFound", format!("Deleted Key not found: {name}"))
    }

    /// 409: the key's name belongs to a soft-deleted key.
    pub fn key_is_deleted(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Key {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged."
            ),
        )
        .with_inner("ObjectIsDeletedButRecoverable")
    }

    /// 404 for a deleted secret that does not exist.
    pub fn deleted_secret_not_found(name: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "SecretNotFound", format!("Deleted Secret not found: {name}"))
    }

    /// 409: the name belongs to a soft-deleted secret.
    pub fn secret_is_deleted(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
            ),
        )
        .with_inner("ObjectIsDeletedButRecoverable")
    }

    /// 409: restoring over a secret that exists.
    pub fn secret_exists(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!("A secret named {name} already exists in this vault; restore needs a name that is not in use."),
        )
    }

    /// 403: the secret or key (`kind`) is a certificate's, whose lifetime Key Vault manages; only the
    /// certificate's own operations change it.
    pub fn managed_by_certificate(kind: &str, name: &str) -> Self {
        let inner = match kind {
            "key" => "KeyManagedByKeyVault",
            _ => "SecretManagedByKeyVault",
        };
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "Operation is not allowed as this object's lifetime is managed by Key Vault: the {kind} {name} belongs to the certificate {name}. Change it through the certificate."
            ),
        )
        .with_inner(inner)
    }

    /// 409: a certificate may not take the name of a plain secret or key (its own secret and key take its name).
    pub fn certificate_name_taken(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Certificate {name} cannot be created: a secret or key named {name} already exists in this vault, and a certificate's secret and key take the certificate's name."
            ),
        )
    }

    /// 404 for a host that names no vault.
    pub fn vault_not_found(name: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "VaultNotFound", format!("The vault '{name}' does not exist on this server."))
    }

    /// 404 for a path the vault does not serve.
    pub fn path_not_found(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", format!("The requested path {path} does not exist."))
    }

    /// 404 for a backup or restore job the HSM does not have (or no longer keeps).
    pub fn job_not_found(job_id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", format!("The operation {job_id} does not exist."))
    }

    /// 409: a backup or restore of the HSM is running already; Managed HSM runs one at a time.
    pub fn job_in_progress() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            "Another backup or restore operation is in progress. Wait for it to end, then try again.",
        )
    }

    /// 405 for a known path with a method it does not take.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The method {method} is not allowed on {path}."),
        )
    }

    /// 400 BadParameter KeyTypeNotSupported: a vault (not a Managed HSM) holds no symmetric key, in Key Vault's
    /// words for it.
    pub fn key_type_not_supported(kty: KeyType) -> Self {
        Self::bad_parameter(format!("Invalid kty value: {}", kty.as_str())).with_inner("KeyTypeNotSupported")
    }

    /// 400 BadParameter, `message` naming the rule.
    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }

    /// 429: a service limit was reached (`reason` names which); come back after `retry_after` seconds.
    pub fn throttled(reason: &str, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Throttled",
                format!("Request was not processed because too many requests were received. Reason: {reason}"),
            )
        }
    }

    /// The fault a vault's test controls inject: Key Vault's throttling (429), an internal error (500) or the
    /// service unavailable (503), marked `InjectedFault` in `innererror` (and so in the audit log); 429 and 503
    /// carry `Retry-After`.
    pub fn injected(status: u16, retry_after: u32) -> Self {
        let error = match status {
            429 => Self::throttled("InjectedFault", u64::from(retry_after)),
            503 => Self {
                retry_after: Some(u64::from(retry_after)),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", UNAVAILABLE)
            },
            _ => Self::internal(),
        };
        error.with_inner("InjectedFault")
    }

    /// 500, details only in the log.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "The server could not complete the request.")
    }

    /// The status (the response carries it; tests read it here).
    #[cfg(test)]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What the error says, for logs.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The most specific code: `innererror.code` if any, else `code`.
    pub fn specific_code(&self) -> &'static str {
        self.inner.unwrap_or(self.code)
    }
}

impl VaultError {
    /// The error for a storage failure on the key `name`: its conflicts are the client's business, the rest
    /// is the server's.
    pub fn from_key_store(name: &str, e: strongroom_store::Error) -> Self {
        match e.kind() {
            strongroom_store::ErrorKind::Deleted => VaultError::key_is_deleted(name),
            strongroom_store::ErrorKind::Managed => VaultError::managed_by_certificate("key", name),
            strongroom_store::ErrorKind::Conflict => Self::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!("A key named {name} already exists in this vault; restore needs a name that is not in use."),
            ),
            _ => e.into(),
        }
    }

    /// The error for a storage failure on the secret `name`: its conflicts are the client's business, the
    /// rest is the server's.
    pub fn from_secret_store(name: &str, e: strongroom_store::Error) -> Self {
        match e.kind() {
            strongroom_store::ErrorKind::Deleted => VaultError::secret_is_deleted(name),
            strongroom_store::ErrorKind::Conflict => VaultError::secret_exists(name),
            strongroom_store::ErrorKind::Managed => VaultError::managed_by_certificate("secret", name),
            _ => e.into(),
        }
    }

    /// The error for a storage failure while writing the certificate `name` with its key and secret: a name a
    /// plain secret or key holds is the client's conflict, as is a soft-deleted certificate's.
    pub fn from_certificate_store(name: &str, e: strongroom_store::Error) -> Self {
        match e.kind() {
            strongroom_store::ErrorKind::Conflict => VaultError::certificate_name_taken(name),
            _ => VaultError::refused_for_certificate(name, e),
        }
    }

    /// The error for a storage failure on the certificate `name` (with its key and secret): a soft-deleted or
    /// live certificate of that name is the client's conflict, and is named as a certificate.
    pub fn refused_for_certificate(name: &str, e: strongroom_store::Error) -> Self {
        match e.kind() {
            strongroom_store::ErrorKind::Deleted => VaultError::certificate_is_deleted(name),
            strongroom_store::ErrorKind::Conflict => Self::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "A certificate named {name} already exists in this vault; restore needs a name that is not in use."
                ),
            ),
            _ => VaultError::from_secret_store(name, e),
        }
    }
}

impl From<strongroom_store::Error> for VaultError {
    fn from(e: strongroom_store::Error) -> Self {
        match StoreFault::of(&e) {
            fault if fault.retryable() => VaultError::new(fault.status(), "ServiceUnavailable", UNAVAILABLE),
            _ => VaultError::internal(),
        }
    }
}

impl InternalFailure for VaultError {
    fn generic_internal() -> Self {
        VaultError::internal()
    }
}

impl From<strongroom_core::Error> for VaultError {
    fn from(e: strongroom_core::Error) -> Self {
        match e.kind() {
            strongroom_core::ErrorKind::InvalidInput => VaultError::bad_parameter(e.message()),
            _ => {
                tracing::error!("a domain operation failed: {e}");
                VaultError::internal()
            }
        }
    }
}

impl From<strongroom_core::security_domain::SecurityDomainError> for VaultError {
    fn from(e: strongroom_core::security_domain::SecurityDomainError) -> Self {
        VaultError::from(strongroom_core::Error::from(e))
    }
}

impl IntoResponse for VaultError {
    fn into_response(self) -> Response {
        let body = KeyVaultError {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                innererror: self.inner.map(|code| InnerError { code: code.to_owned() }),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        // Only with 429 and 503: the SDKs retry any error that carries `Retry-After`.
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A subscriber that keeps every event's fields as text, for tests to read what was logged.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<String>>);

    impl tracing::field::Visit for Log {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if let Ok(mut text) = self.0.lock() {
                text.push_str(&format!("{}={value:?}\n", field.name()));
            }
        }
    }

    impl tracing::Subscriber for Log {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            event.record(&mut self.clone());
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    impl Log {
        fn text(&self) -> String {
            self.0.lock().map(|text| text.clone()).unwrap_or_default()
        }
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn an_internal_error_logs_its_cause_and_answers_key_vaults_generic_body() {
        let log = Log::default();
        let error = tracing::subscriber::with_default(log.clone(), || {
            VaultError::internal_while("encoding a backup")("the disk is full")
        });
        let logged = log.text();
        assert!(logged.contains("encoding a backup failed: the disk is full"), "{logged}");
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body(response).await;
        assert_eq!(
            body,
            r#"{"error":{"code":"InternalError","message":"The server could not complete the request."}}"#
        );
        assert!(!body.contains("disk") && !body.contains("backup"), "the cause stays in the log");
    }

    #[tokio::test]
    async fn a_throttled_request_is_answered_with_key_vaults_body_and_retry_after() {
        let response = VaultError::throttled("VaultRequestTypeLimitReached", 7).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("7"));
        assert_eq!(
            body(response).await,
            r#"{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"}}"#
        );
        let other = VaultError::bad_parameter("no").into_response();
        assert!(other.headers().get(header::RETRY_AFTER).is_none(), "the SDKs would retry it");
    }

    #[test]
    fn a_decoding_failure_logs_what_failed_without_the_decoders_words() {
        let log = Log::default();
        let quoted = serde_json::from_str::<u32>(r#""hunter2""#).map(drop).err();
        assert!(
            quoted.as_ref().is_some_and(|e| e.to_string().contains("hunter2")),
            "serde_json quotes what it refuses"
        );
        let error = tracing::subscriber::with_default(log.clone(), || {
            VaultError::internal_because("a key's sealed material is unreadable")(quoted)
        });
        let logged = log.text();
        assert!(logged.contains("a key's sealed material is unreadable"), "{logged}");
        assert!(!logged.contains("hunter2"), "{logged}");
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

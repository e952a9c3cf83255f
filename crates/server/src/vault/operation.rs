//! Stage 5's front half: which operation a request asks for (method and path), with which query
//! parameters. Routing reads only the request line, so it can name the operation for the permission check
//! and the audit record before any body is read.

use axum::http::Method;
use strongroom_core::rbac::{Action, Collection, Target};

use super::error::VaultError;

/// Every api-version the official SDKs send (and the older ones they can select).
pub const API_VERSIONS: &[&str] =
    &["2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-06-01", "2025-07-01", "2026-04-01"];
const LATEST_API_VERSION: &str = "2026-04-01";

/// Default and largest page size of list operations.
pub const MAX_RESULTS: usize = 25;

/// A data-plane operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `PUT /secrets/{name}`
    SetSecret {
        /// The secret.
        name: String,
    },
    /// `GET /secrets/{name}[/{version}]`
    GetSecret {
        /// The secret.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `PATCH /secrets/{name}[/{version}]`
    UpdateSecret {
        /// The secret.
        name: String,
        /// The version; `None` for the latest.
        version: Option<String>,
    },
    /// `DELETE /secrets/{name}`
    DeleteSecret {
        /// The secret.
        name: String,
    },
    /// `GET /secrets`
    ListSecrets,
    /// `GET /secrets/{name}/versions`
    ListSecretVersions {
        /// The secret.
        name: String,
    },
    /// `POST /secrets/{name}/backup`
    BackupSecret {
        /// The secret.
        name: String,
    },
    /// `POST /secrets/restore`
    RestoreSecret,
    /// `GET /deletedsecrets`
    ListDeletedSecrets,
    /// `GET /deletedsecrets/{name}`
    GetDeletedSecret {
        /// The secret.
        name: String,
    },
    /// `POST /deletedsecrets/{name}/recover`
    RecoverDeletedSecret {
        /// The secret.
        name: String,
    },
    /// `DELETE /deletedsecrets/{name}`
    PurgeDeletedSecret {
        /// The secret.
        name: String,
    },
}

impl Operation {
    /// The operation a method and path ask for.
    pub fn route(method: &Method, path: &str) -> Result<Self, VaultError> {
        use Operation::*;
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let name = |n: &&str| (*n).to_owned();
        let operation = match (segments.as_slice(), method) {
            (["secrets"] | ["secrets", ""], &Method::GET) => ListSecrets,
            (["secrets", "restore"], &Method::POST) => RestoreSecret,
            (["secrets", n], &Method::PUT) => SetSecret { name: name(n) },
            (["secrets", n] | ["secrets", n, ""], &Method::GET) => GetSecret { name: name(n), version: None },
            (["secrets", n] | ["secrets", n, ""], &Method::PATCH) => UpdateSecret { name: name(n), version: None },
            (["secrets", n], &Method::DELETE) => DeleteSecret { name: name(n) },
            (["secrets", n, "versions"], &Method::GET) => ListSecretVersions { name: name(n) },
            (["secrets", n, "backup"], &Method::POST) => BackupSecret { name: name(n) },
            (["secrets", n, v], &Method::GET) => GetSecret { name: name(n), version: Some(name(v)) },
            (["secrets", n, v], &Method::PATCH) => UpdateSecret { name: name(n), version: Some(name(v)) },
            (["deletedsecrets"] | ["deletedsecrets", ""], &Method::GET) => ListDeletedSecrets,
            (["deletedsecrets", n], &Method::GET) => GetDeletedSecret { name: name(n) },
            (["deletedsecrets", n], &Method::DELETE) => PurgeDeletedSecret { name: name(n) },
            (["deletedsecrets", n, "recover"], &Method::POST) => RecoverDeletedSecret { name: name(n) },
            ([collection, ..], _) if matches!(*collection, "secrets" | "deletedsecrets") && segments.len() <= 3 => {
                return Err(VaultError::method_not_allowed(method.as_str(), path));
            }
            _ => return Err(VaultError::path_not_found(path)),
        };
        Ok(operation)
    }

    /// Key Vault's name for the operation in audit logs.
    pub fn audit_name(&self) -> &'static str {
        match self {
            Operation::SetSecret { .. } => "SecretSet",
            Operation::GetSecret { .. } => "SecretGet",
            Operation::UpdateSecret { .. } => "SecretUpdate",
            Operation::DeleteSecret { .. } => "SecretDelete",
            Operation::ListSecrets => "SecretList",
            Operation::ListSecretVersions { .. } => "SecretListVersions",
            Operation::BackupSecret { .. } => "SecretBackup",
            Operation::RestoreSecret => "SecretRestore",
            Operation::ListDeletedSecrets => "SecretListDeleted",
            Operation::GetDeletedSecret { .. } => "SecretGetDeleted",
            Operation::RecoverDeletedSecret { .. } => "SecretRecover",
            Operation::PurgeDeletedSecret { .. } => "SecretPurge",
        }
    }

    /// The RBAC data action the operation needs.
    pub fn action(&self) -> Action {
        match self {
            Operation::SetSecret { .. } => Action::SecretsSet,
            Operation::GetSecret { .. } => Action::SecretsGet,
            Operation::UpdateSecret { .. } => Action::SecretsUpdate,
            Operation::DeleteSecret { .. } => Action::SecretsDelete,
            Operation::ListSecrets
            | Operation::ListSecretVersions { .. }
            | Operation::ListDeletedSecrets
            | Operation::GetDeletedSecret { .. } => Action::SecretsReadMetadata,
            Operation::BackupSecret { .. } => Action::SecretsBackup,
            Operation::RestoreSecret => Action::SecretsRestore,
            Operation::RecoverDeletedSecret { .. } => Action::SecretsRecover,
            Operation::PurgeDeletedSecret { .. } => Action::SecretsPurge,
        }
    }

    /// The access-policy permission the operation needs (Key Vault's legacy model).
    pub fn permission(&self) -> &'static str {
        match self {
            Operation::GetSecret { .. } | Operation::GetDeletedSecret { .. } => "get",
            Operation::ListSecrets | Operation::ListSecretVersions { .. } | Operation::ListDeletedSecrets => "list",
            Operation::SetSecret { .. } | Operation::UpdateSecret { .. } => "set",
            Operation::DeleteSecret { .. } => "delete",
            Operation::BackupSecret { .. } => "backup",
            Operation::RestoreSecret => "restore",
            Operation::RecoverDeletedSecret { .. } => "recover",
            Operation::PurgeDeletedSecret { .. } => "purge",
        }
    }

    /// What the operation touches; collection-wide operations name no object.
    pub fn target(&self) -> Target<'_> {
        let name = match self {
            Operation::SetSecret { name }
            | Operation::GetSecret { name, .. }
            | Operation::UpdateSecret { name, .. }
            | Operation::DeleteSecret { name }
            | Operation::ListSecretVersions { name }
            | Operation::BackupSecret { name }
            | Operation::GetDeletedSecret { name }
            | Operation::RecoverDeletedSecret { name }
            | Operation::PurgeDeletedSecret { name } => Some(name.as_str()),
            Operation::ListSecrets | Operation::RestoreSecret | Operation::ListDeletedSecrets => None,
        };
        Target { collection: Collection::Secrets, name }
    }
}

/// The query parameters operations use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The api-version, checked against [`API_VERSIONS`].
    pub api_version: String,
    /// `maxresults`, 1..=25.
    pub max_results: Option<usize>,
    /// `$skiptoken`: where a list continues.
    pub skip_token: Option<String>,
    /// `outContentType`: the format a certificate-backed secret is wanted in.
    pub out_content_type: Option<String>,
}

impl Query {
    /// The api-version as sent, for the audit record, even when it is not valid.
    pub fn raw_api_version(query: Option<&str>) -> String {
        pairs(query).find(|(k, _)| k == "api-version").map(|(_, v)| v).unwrap_or_default()
    }

    /// Parses and checks a query string. Keys are percent-decoded (JS sends `api%2Dversion`).
    pub fn parse(query: Option<&str>) -> Result<Self, VaultError> {
        let mut parsed = Query::default();
        for (key, value) in pairs(query) {
            match key.as_str() {
                "api-version" => parsed.api_version = value,
                "maxresults" => {
                    let n = value.parse::<usize>().ok().filter(|n| (1..=MAX_RESULTS).contains(n)).ok_or_else(|| {
                        VaultError::bad_parameter(format!(
                            "Invalid maxresults '{value}': it must be an integer between 1 and {MAX_RESULTS}."
                        ))
                    })?;
                    parsed.max_results = Some(n);
                }
                "$skiptoken" => parsed.skip_token = Some(value),
                "outContentType" => parsed.out_content_type = Some(value),
                _ => {}
            }
        }
        if parsed.api_version.is_empty() {
            return Err(VaultError::bad_parameter("The api-version query parameter is required."));
        }
        if !API_VERSIONS.contains(&parsed.api_version.as_str()) {
            return Err(VaultError::bad_parameter(format!(
                "The specified version ({}) is not recognized. Consider using the latest supported version ({LATEST_API_VERSION}).",
                parsed.api_version
            )));
        }
        Ok(parsed)
    }
}

fn pairs(query: Option<&str>) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Option<Operation> {
        Operation::route(&method, path).ok()
    }

    #[test]
    fn secret_paths_route_with_and_without_trailing_slash() {
        let latest = Some(Operation::GetSecret { name: "db".into(), version: None });
        assert_eq!(route(Method::GET, "/secrets/db"), latest);
        assert_eq!(route(Method::GET, "/secrets/db/"), latest);
        assert_eq!(
            route(Method::GET, "/secrets/db/0123456789abcdef0123456789abcdef"),
            Some(Operation::GetSecret { name: "db".into(), version: Some("0123456789abcdef0123456789abcdef".into()) })
        );
        assert_eq!(
            route(Method::GET, "/secrets/db/versions"),
            Some(Operation::ListSecretVersions { name: "db".into() })
        );
        assert_eq!(route(Method::GET, "/secrets"), Some(Operation::ListSecrets));
        assert_eq!(route(Method::PUT, "/secrets/db"), Some(Operation::SetSecret { name: "db".into() }));
        assert_eq!(route(Method::PUT, "/secrets/db/x"), None);
        assert_eq!(
            route(Method::PATCH, "/secrets/db/"),
            Some(Operation::UpdateSecret { name: "db".into(), version: None })
        );
        assert_eq!(route(Method::POST, "/secrets/restore"), Some(Operation::RestoreSecret));
        assert_eq!(
            route(Method::GET, "/secrets/restore"),
            Some(Operation::GetSecret { name: "restore".into(), version: None })
        );
        assert_eq!(route(Method::POST, "/secrets/db/backup"), Some(Operation::BackupSecret { name: "db".into() }));
        assert_eq!(
            route(Method::DELETE, "/deletedsecrets/db"),
            Some(Operation::PurgeDeletedSecret { name: "db".into() })
        );
        assert_eq!(
            route(Method::POST, "/deletedsecrets/db/recover"),
            Some(Operation::RecoverDeletedSecret { name: "db".into() })
        );
        assert!(matches!(Operation::route(&Method::POST, "/secrets/db"), Err(e) if e.status() == 405));
        assert_eq!(route(Method::GET, "/widgets"), None);
    }

    #[test]
    fn queries_decode_keys_and_check_values() {
        let q = Query::parse(Some("api%2Dversion=7.4&maxresults=2&%24skiptoken=abc"));
        assert_eq!(
            q.ok(),
            Some(Query {
                api_version: "7.4".into(),
                max_results: Some(2),
                skip_token: Some("abc".into()),
                out_content_type: None
            })
        );
        assert!(Query::parse(Some("api-version=2026-04-01")).is_ok());
        assert!(Query::parse(Some("api-version=7.9")).is_err());
        assert!(Query::parse(None).is_err());
        assert!(Query::parse(Some("api-version=7.4&maxresults=26")).is_err());
        assert!(Query::parse(Some("api-version=7.4&maxresults=0")).is_err());
    }
}

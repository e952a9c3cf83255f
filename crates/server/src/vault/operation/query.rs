//! The query parameters of data-plane requests: the api-version (checked against every version Key Vault has
//! published), paging and the few options some operations take.

use crate::vault::error::VaultError;

/// Every data-plane api-version Key Vault has published, previews included (the Azure CLI sends
/// `7.6-preview.2`). Each is answered with the behaviour of the newest release, which keeps every field the
/// older ones had: no published version removed one.
pub const API_VERSIONS: &[&str] = &[
    "2015-06-01",
    "2016-10-01",
    "7.0-preview",
    "7.0",
    "7.1-preview",
    "7.1",
    "7.2-preview",
    "7.2",
    "7.3-preview",
    "7.3",
    "7.4-preview.1",
    "7.4",
    "7.5-preview.1",
    "7.5",
    "7.6-preview.1",
    "7.6-preview.2",
    "7.6",
    "2025-06-01",
    "2025-06-01-preview",
    "2025-07-01",
    "2025-07-01-preview",
    "2026-01-01-preview",
    "2026-04-01",
];
const LATEST_API_VERSION: &str = "2026-04-01";

/// Default and largest page size of list operations.
pub const MAX_RESULTS: usize = 25;

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
    /// `includePending`: list certificates whose request waits for a merge too.
    pub include_pending: bool,
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
                "includePending" => parsed.include_pending = value.eq_ignore_ascii_case("true"),
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

    #[test]
    fn queries_decode_keys_and_check_values() {
        let q = Query::parse(Some("api%2Dversion=7.4&maxresults=2&%24skiptoken=abc"));
        assert_eq!(
            q.ok(),
            Some(Query {
                api_version: "7.4".into(),
                max_results: Some(2),
                skip_token: Some("abc".into()),
                out_content_type: None,
                include_pending: false,
            })
        );
        assert!(Query::parse(Some("api-version=2026-04-01")).is_ok());
        assert!(Query::parse(Some("api-version=7.9")).is_err());
        // The Azure CLI's version, and previews that were never published.
        assert!(Query::parse(Some("api-version=7.6-preview.2")).is_ok());
        assert!(Query::parse(Some("api-version=7.6-preview.3")).is_err());
        assert!(Query::parse(Some("api-version=7.4-preview")).is_err());
        assert!(Query::parse(None).is_err());
        assert!(Query::parse(Some("api-version=7.4&maxresults=26")).is_err());
        assert!(Query::parse(Some("api-version=7.4&maxresults=0")).is_err());
    }
}

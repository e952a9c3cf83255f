//! Where the authorization-code flow may send a browser back to: the redirect URIs an application registered,
//! and, as Entra allows for public clients, loopback addresses on any port.

use crate::error::{Error, Result};

/// Checks a redirect URI an application registers: `https`, or `http` on a loopback host.
pub fn validate(uri: &str) -> Result<()> {
    let https = uri.strip_prefix("https://").is_some_and(|rest| !authority(rest).is_empty());
    if https || is_loopback(uri) {
        return Ok(());
    }
    Err(Error::invalid_input(format_args!(
        "redirect URI '{uri}' must be https, or http on localhost or a loopback address"
    )))
}

/// Whether the browser may be sent to `uri` for an application that registered `registered`. A loopback URI
/// matches a registered loopback URI whatever its port (the port of a native client's listener is chosen at
/// run time); an application that registered nothing may use any loopback URI, as public clients do.
pub fn is_allowed(registered: &[String], uri: &str) -> bool {
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    if registered.iter().any(|r| same(r, uri)) {
        return true;
    }
    is_loopback(uri)
        && (registered.is_empty()
            || registered.iter().any(|r| is_loopback(r) && same(&without_port(r), &without_port(uri))))
}

/// `http://` on `localhost`, `127.0.0.1` or `[::1]`.
pub fn is_loopback(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else { return false };
    matches!(host(authority(rest)), "localhost" | "127.0.0.1" | "::1")
}

fn authority(rest: &str) -> &str {
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

fn host(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    }
}

/// A loopback URI with its port left out.
fn without_port(uri: &str) -> String {
    let rest = uri.strip_prefix("http://").unwrap_or(uri);
    let authority = authority(rest);
    let host = host(authority);
    let host = if authority.starts_with('[') { format!("[{host}]") } else { host.to_owned() };
    format!("http://{host}{}", &rest[authority.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_redirects_are_allowed_without_registration() {
        for ok in ["http://localhost:8400", "http://localhost", "http://127.0.0.1:5000/cb", "http://[::1]:9/x"] {
            assert!(is_allowed(&[], ok), "{ok}");
        }
        for bad in ["https://localhost:8400", "http://evil.example", "http://localhost.evil.example:80", "javascript:x"]
        {
            assert!(!is_allowed(&[], bad), "{bad}");
        }
    }

    #[test]
    fn registered_uris_are_the_only_ones_and_loopback_ports_are_free() {
        let registered = vec!["https://app.example/callback".to_owned(), "http://localhost/cb".to_owned()];
        assert!(is_allowed(&registered, "https://app.example/callback"));
        assert!(is_allowed(&registered, "http://localhost:49152/cb"));
        assert!(!is_allowed(&registered, "http://localhost:49152/other"));
        assert!(!is_allowed(&registered, "https://app.example/elsewhere"));
        assert!(!is_allowed(&registered, "http://127.0.0.1:5000/cb"));
        assert!(validate("https://app.example/cb").is_ok());
        assert!(validate("http://app.example/cb").is_err());
        assert!(validate("http://[::1]:8080").is_ok());
    }
}

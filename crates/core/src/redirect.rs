//! Where the authorization-code flow may send a browser back to: exactly the redirect URIs an application
//! registered (a loopback one on any port, RFC 8252 §7.3), and, for a public client that registered none, a
//! loopback listener.
//!
//! URIs are parsed as browsers parse them (the WHATWG URL standard, through the `url` crate), so that the
//! host checked here is the host the browser will go to: `http://127.0.0.1:80@evil.example/` is user info
//! `127.0.0.1:80` at `evil.example`, and is refused for its user info alone.

use url::{Host, Url};

use crate::error::{Error, Result};

/// Parses a redirect URI as a browser would, and refuses what must never receive a code: another scheme
/// than `http`/`https`, no host, user info (it hides the real host from a reader), or a fragment (RFC 6749
/// §3.1.2).
pub fn parse(uri: &str) -> Result<Url> {
    let refuse = |why: &str| Err(Error::invalid_input(format_args!("redirect URI '{uri}' {why}")));
    let Ok(url) = Url::parse(uri) else { return refuse("is not a URL") };
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return refuse("must be an http or https URL with a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry user information");
    }
    if url.fragment().is_some() {
        return refuse("must not carry a fragment");
    }
    Ok(url)
}

/// Checks a redirect URI an application registers: `https`, or `http` on a loopback host.
pub fn validate(uri: &str) -> Result<()> {
    let url = parse(uri)?;
    if url.scheme() == "https" || is_loopback(&url) {
        return Ok(());
    }
    Err(Error::invalid_input(format_args!(
        "redirect URI '{uri}' must be https, or http on localhost or a loopback address"
    )))
}

/// Where the browser may be sent for the request's `requested` URI, given the URIs the application
/// `registered`: the parsed URI when it equals a registered one, or differs from a registered loopback URI
/// only in its port. `loopback_without_registration` lets an application that registered nothing use any
/// loopback URI (what Strongroom allows public clients, whose SDKs listen on `http://localhost:{port}`).
/// `None` when the browser must not go there.
pub fn resolve(registered: &[String], requested: &str, loopback_without_registration: bool) -> Option<Url> {
    let url = parse(requested).ok()?;
    let matches = |registered: &Url| {
        *registered == url
            || (is_loopback(registered)
                && is_loopback(&url)
                && registered.host() == url.host()
                && registered.path() == url.path()
                && registered.query() == url.query())
    };
    // A stored URI that no longer passes the checks (registered before they existed) matches nothing.
    let registered: Vec<Url> = registered.iter().filter_map(|r| parse(r).ok()).collect();
    if registered.iter().any(matches) {
        return Some(url);
    }
    (registered.is_empty() && loopback_without_registration && is_loopback(&url)).then_some(url)
}

/// `http://` on `localhost`, `127.0.0.1` or `[::1]`, as the parser reads the host.
pub fn is_loopback(url: &Url) -> bool {
    let loopback_host = match url.host() {
        Some(Host::Domain(name)) => name == "localhost",
        Some(Host::Ipv4(address)) => address.is_loopback() && address.octets() == [127, 0, 0, 1],
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    url.scheme() == "http" && loopback_host
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(registered: &[&str], uri: &str) -> bool {
        let registered: Vec<String> = registered.iter().map(|r| (*r).to_owned()).collect();
        resolve(&registered, uri, true).is_some()
    }

    #[test]
    fn only_loopback_redirects_are_allowed_without_registration() {
        for ok in ["http://localhost:8400", "http://localhost", "http://127.0.0.1:5000/cb", "http://[::1]:9/x"] {
            assert!(allowed(&[], ok), "{ok}");
        }
        for bad in ["https://localhost:8400", "http://evil.example", "http://localhost.evil.example:80", "javascript:x"]
        {
            assert!(!allowed(&[], bad), "{bad}");
        }
        assert!(resolve(&[], "http://localhost:8400", false).is_none(), "only when the caller allows it");
    }

    #[test]
    fn user_info_cannot_hide_the_real_host() {
        for attack in [
            "http://127.0.0.1:80@evil.example/cb",
            "http://localhost:x@evil.example/",
            "http://[::1]@evil.example/",
            "http://localhost:1@evil.example/cb",
            "http://localhost@evil.example",
            "http://evil.example\\@localhost/",
            "http://localhost#@evil.example/",
            "http://localhost/cb#fragment",
        ] {
            assert!(!allowed(&[], attack), "{attack}");
            assert!(!allowed(&["http://localhost/cb"], attack), "{attack}");
            assert!(validate(attack).is_err(), "{attack}");
        }
    }

    #[test]
    fn registered_uris_are_the_only_ones_and_loopback_ports_are_free() {
        let registered = ["https://app.example/callback", "http://localhost/cb"];
        assert!(allowed(&registered, "https://app.example/callback"));
        assert!(allowed(&registered, "http://localhost:49152/cb"));
        assert!(!allowed(&registered, "http://localhost:49152/other"));
        assert!(!allowed(&registered, "http://localhost:49152/cb?next=x"));
        assert!(!allowed(&registered, "https://app.example/elsewhere"));
        assert!(!allowed(&registered, "https://app.example:8443/callback"), "only loopback ports are free");
        assert!(!allowed(&registered, "http://127.0.0.1:5000/cb"), "the host is not free");
        assert!(!allowed(&registered, "http://localhost:5000"), "registration ends loopback-anywhere");
        assert!(
            !allowed(&["http://127.0.0.1:80@evil.example/cb"], "http://evil.example/cb"),
            "bad stored URIs match nothing"
        );
        assert!(validate("https://app.example/cb").is_ok());
        assert!(validate("http://app.example/cb").is_err());
        assert!(validate("http://[::1]:8080").is_ok());
        assert!(validate("http://127.0.0.2/cb").is_err(), "RFC 8252's loopback is 127.0.0.1");
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::super::*;

        /// URIs built from the pieces attacks are made of, and arbitrary text.
        fn uri() -> impl Strategy<Value = String> {
            let piece = prop::sample::select(vec![
                "http://",
                "https://",
                "localhost",
                "127.0.0.1",
                "[::1]",
                ":",
                "80",
                "@",
                "evil.example",
                "/",
                "\\",
                "?",
                "#",
                "%2F",
                "%40",
                "cb",
                ".",
                "\t",
                "0x7f000001",
                "[",
                "]",
                "javascript:",
            ]);
            prop_oneof![prop::collection::vec(piece, 0..10).prop_map(|p| p.concat()), any::<String>()]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn what_is_resolved_goes_to_a_registered_or_loopback_host(
                requested in uri(),
                registered in prop::collection::vec(uri(), 0..3),
                unregistered_loopback in any::<bool>(),
            ) {
                let _ = validate(&requested);
                if let Some(url) = resolve(&registered, &requested, unregistered_loopback) {
                    prop_assert!(url.username().is_empty() && url.password().is_none() && url.fragment().is_none());
                    let registered_hosts: Vec<_> =
                        registered.iter().filter_map(|r| parse(r).ok()).map(|r| r.host_str().map(str::to_owned)).collect();
                    prop_assert!(
                        registered_hosts.contains(&url.host_str().map(str::to_owned))
                            || (registered_hosts.is_empty() && unregistered_loopback && is_loopback(&url)),
                        "{requested} went to {url}"
                    );
                }
            }
        }
    }
}

//! The few HTML pages of interactive sign-in: a form, a message. Everything inserted is HTML-escaped.
//!
//! Login CSRF (another site making a browser sign in, with credentials of its choosing) is refused three
//! ways: every sign-in form carries a random anti-forgery token twice, in a hidden field and in a
//! `__Host-` cookie (`Secure; HttpOnly; SameSite=Strict`: no other site, no sibling host and no plain-HTTP
//! page can set or send it), and a posted form counts only when both are there and equal (compared in
//! constant time); a browser's `Origin` must be the login origin and its `Sec-Fetch-Site`, when sent,
//! `same-origin`. No page may be framed (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), so none can be
//! overlaid to steal a click, and none is cached or leaks its URL as a referrer to another site.

use std::collections::HashMap;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The anti-forgery field of every sign-in form.
const FORM_TOKEN: &str = "strongroom_form";
/// The anti-forgery cookie: `__Host-` makes browsers accept it only from this origin over HTTPS, for `/`,
/// without a `Domain`, so that neither a sibling host nor a plain-HTTP man in the middle can plant one.
const FORM_COOKIE: &str = "__Host-strongroom_form";

/// Whether a posted sign-in form comes from a page of this server in the same browser: sent from the login
/// origin (by the browser's `Origin` and `Sec-Fetch-Site`, when it sends them), carrying the anti-forgery
/// token of the cookie its page set.
pub fn is_genuine(headers: &HeaderMap, form: &HashMap<String, String>, login_origin: &str) -> bool {
    let text = |name: HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    let fetched_from_here = text(HeaderName::from_static("sec-fetch-site")).is_none_or(|site| site == "same-origin");
    let from_login_origin = text(header::ORIGIN).is_none_or(|origin| origin == login_origin);
    let Some(field) = form.get(FORM_TOKEN).filter(|f| !f.is_empty()) else { return false };
    let cookie_matches = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| {
            name == FORM_COOKIE && verify_slices_are_equal(value.as_bytes(), field.as_bytes()).is_ok()
        });
    fetched_from_here && from_login_origin && cookie_matches
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"icon\" href=\"/portal/static/icon.svg\" type=\"image/svg+xml\"></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    )
}

/// A sign-in form posting to `action`, carrying `hidden` fields; `extra` adds visible fields before the
/// user name.
pub fn sign_in_form(
    title: &str,
    action: &str,
    hidden: &[(String, String)],
    extra: &str,
    error: Option<&str>,
) -> Response {
    let mut bytes = [0u8; 32];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        return message(StatusCode::INTERNAL_SERVER_ERROR, title, "The sign-in form could not be made.");
    }
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hidden: String = hidden
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain([(FORM_TOKEN, token.as_str())])
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value)))
        .collect();
    let error = error.map_or(String::new(), |e| format!("<p role=\"alert\">{}</p>", escape(e)));
    let body = format!(
        "{error}<form method=\"post\" action=\"{action}\">{hidden}{extra}\
         <label>User name <input name=\"username\" autocomplete=\"username\"></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
         <button type=\"submit\">Sign in</button></form>",
        action = escape(action)
    );
    let status = if error.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let mut response = html(status, page(title, &body));
    let cookie = format!("{FORM_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// An HTML page that may not be framed, cached, or named in a referrer.
fn html(status: StatusCode, page: String) -> Response {
    let mut response = (status, Html(page)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `same-origin`, not `no-referrer`: under `no-referrer` a browser posts the page's forms with `Origin: null`,
    // which the anti-forgery check must refuse. The URL still reaches no other site.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// What a form that sends a field twice is told.
pub const REPEATED_FIELD: &str = "The sign-in form sent a field twice. Sign in again.";

/// What a form without its anti-forgery token is told.
pub const NOT_GENUINE: &str = "This sign-in form has expired or did not come from this server. Sign in again.";

/// A page that says `message`.
pub fn message(status: StatusCode, title: &str, message: &str) -> Response {
    html(status, page(title, &format!("<p>{}</p>", escape(message))))
}

/// The `form_post` response mode: a form that the browser submits to the client's redirect URI.
pub fn form_post(redirect_uri: &str, fields: &[(&str, &str)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value)))
        .collect();
    let body = format!(
        "<form method=\"post\" action=\"{}\">{inputs}<noscript><button type=\"submit\">Continue</button></noscript></form>\
         <script>document.forms[0].submit()</script>",
        escape(redirect_uri)
    );
    html(StatusCode::OK, page("Signing in", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_count_only_with_the_token_of_their_cookie_from_this_origin() {
        let origin = "https://login.example:8443";
        let form = |token: &str| HashMap::from([(FORM_TOKEN.to_owned(), token.to_owned())]);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b; __Host-strongroom_form=abc123"));
        assert!(is_genuine(&headers, &form("abc123"), origin));
        assert!(!is_genuine(&headers, &form("abc124"), origin));
        assert!(!is_genuine(&headers, &HashMap::new(), origin));
        assert!(!is_genuine(&HeaderMap::new(), &form("abc123"), origin));
        assert!(!is_genuine(&HeaderMap::new(), &form(""), origin));

        let mut planted = HeaderMap::new();
        planted.insert(header::COOKIE, HeaderValue::from_static("strongroom_form=abc123"));
        assert!(!is_genuine(&planted, &form("abc123"), origin), "a cookie without the prefix could be planted");

        for (name, value) in [
            ("origin", "https://evil.example"),
            ("origin", "null"),
            ("origin", "https://login.example"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
        ] {
            let mut cross = headers.clone();
            cross.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
            assert!(!is_genuine(&cross, &form("abc123"), origin), "{name}: {value}");
        }
        let mut same = headers.clone();
        same.insert(header::ORIGIN, HeaderValue::from_static("https://login.example:8443"));
        same.insert(HeaderName::from_static("sec-fetch-site"), HeaderValue::from_static("same-origin"));
        assert!(is_genuine(&same, &form("abc123"), origin));
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}

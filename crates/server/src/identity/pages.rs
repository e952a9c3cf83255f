//! The few HTML pages of interactive sign-in: a form, a message. Everything inserted is HTML-escaped.
//!
//! Every sign-in form carries an anti-forgery token twice, in a hidden field and in a `SameSite=Strict`
//! cookie; a posted form counts only when both are there and equal (double submit), so another site cannot
//! make a browser sign in with credentials of its choosing.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The anti-forgery field and cookie name.
const FORM_TOKEN: &str = "strongroom_form";

/// Whether a posted sign-in form carries the anti-forgery token its page set.
pub fn is_genuine(headers: &HeaderMap, field: Option<&String>) -> bool {
    let Some(field) = field.filter(|f| !f.is_empty()) else { return false };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == FORM_TOKEN && verify_slices_are_equal(value.as_bytes(), field.as_bytes()).is_ok())
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
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
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
    let mut response = (status, Html(page(title, &body))).into_response();
    let cookie = format!("{FORM_TOKEN}={token}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// What a form without its anti-forgery token is told.
pub const NOT_GENUINE: &str = "This sign-in form has expired or did not come from this server. Sign in again.";

/// A page that says `message`.
pub fn message(status: StatusCode, title: &str, message: &str) -> Response {
    (status, Html(page(title, &format!("<p>{}</p>", escape(message))))).into_response()
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
    Html(page("Signing in", &body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_count_only_with_the_token_of_their_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b; strongroom_form=abc123"));
        assert!(is_genuine(&headers, Some(&"abc123".to_owned())));
        assert!(!is_genuine(&headers, Some(&"abc124".to_owned())));
        assert!(!is_genuine(&headers, None));
        assert!(!is_genuine(&HeaderMap::new(), Some(&"abc123".to_owned())));
        assert!(!is_genuine(&HeaderMap::new(), Some(&String::new())));
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}

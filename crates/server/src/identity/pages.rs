//! The few HTML pages of interactive sign-in: a form, a message. Everything inserted is HTML-escaped.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

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
    let hidden: String = hidden
        .iter()
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
    (status, Html(page(title, &body))).into_response()
}

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
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}

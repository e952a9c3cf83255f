//! The portal's stylesheet, script and icon, compiled into the binary: nothing is loaded from elsewhere.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::html;

/// `GET /portal/static/{name}`.
pub fn serve(name: &str) -> Response {
    let (content_type, body) = match name {
        "portal.css" => ("text/css; charset=utf-8", include_str!("assets/portal.css")),
        "portal.js" => ("text/javascript; charset=utf-8", include_str!("assets/portal.js")),
        "icon.svg" => ("image/svg+xml", include_str!("assets/icon.svg")),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    // Cached briefly: a new binary's assets reach browsers within the hour.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    html::protect(&mut response);
    response
}

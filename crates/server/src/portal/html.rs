//! The portal's page frame and the few pieces every page shares. HTML is written with maud, which escapes
//! everything inserted; the pages load only the portal's own stylesheet and script, under a policy that
//! allows nothing else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::Session;

/// What a page may load and where its forms may go: this origin only, no inline script or style, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A tab of a vault's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Properties.
    Overview,
    /// Secrets.
    Secrets,
    /// Keys.
    Keys,
    /// Certificates.
    Certificates,
    /// Deleted objects.
    Deleted,
    /// Role assignments.
    Access,
    /// Access policies (vaults that use them).
    Policies,
    /// The firewall.
    Networking,
    /// The audit log.
    Audit,
}

impl Tab {
    const ALL: [Tab; 9] = [
        Tab::Overview,
        Tab::Secrets,
        Tab::Keys,
        Tab::Certificates,
        Tab::Deleted,
        Tab::Access,
        Tab::Policies,
        Tab::Networking,
        Tab::Audit,
    ];

    /// The tab's path under the vault's.
    pub fn path(self) -> &'static str {
        match self {
            Tab::Overview => "",
            Tab::Secrets => "/secrets",
            Tab::Keys => "/keys",
            Tab::Certificates => "/certificates",
            Tab::Deleted => "/deleted",
            Tab::Access => "/access",
            Tab::Policies => "/policies",
            Tab::Networking => "/networking",
            Tab::Audit => "/audit",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Secrets => "Secrets",
            Tab::Keys => "Keys",
            Tab::Certificates => "Certificates",
            Tab::Deleted => "Deleted objects",
            Tab::Access => "Access control",
            Tab::Policies => "Access policies",
            Tab::Networking => "Networking",
            Tab::Audit => "Audit log",
        }
    }
}

/// A vault page's place: the vault, whether it uses access policies, and the tab shown.
pub struct VaultPlace<'a> {
    /// The vault's name.
    pub name: &'a str,
    /// Whether the vault uses access policies (the tab is shown only then).
    pub uses_policies: bool,
    /// The tab shown.
    pub tab: Tab,
}

/// The URL of a vault's page.
pub fn vault_url(vault: &str, tab: Tab) -> String {
    format!("/portal/vaults/{}{}", encode(vault), tab.path())
}

/// `text` as one URL path segment or query value.
pub fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A whole page: the header (with sign-out) and, for a vault's page, its tabs.
pub fn page(title: &str, session: Option<&Session>, place: Option<VaultPlace<'_>>, body: Markup) -> Markup {
    let notice = session.and_then(Session::take_notice);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Strongroom" }
                link rel="icon" href="/portal/static/icon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/portal/static/portal.css";
                script src="/portal/static/portal.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/portal/" { "Strongroom" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            a href="/portal/" { "Vaults" }
                            a href="/portal/directory" { "Directory" }
                        }
                        div.who {
                            span { (session.user_name) }
                            form method="post" action="/portal/signout" {
                                (csrf(session))
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                div.layout {
                    @if let Some(place) = &place {
                        nav.tabs aria-label="Vault" {
                            @for tab in Tab::ALL.into_iter().filter(|t| *t != Tab::Policies || place.uses_policies) {
                                a href=(vault_url(place.name, tab))
                                    aria-current=[(tab == place.tab).then_some("page")] { (tab.label()) }
                            }
                        }
                    }
                    main #main tabindex="-1" {
                        @if let Some(place) = &place {
                            p.crumb { a href=(vault_url(place.name, Tab::Overview)) { "Vault " (place.name) } }
                        }
                        h1 { (title) }
                        @if let Some(notice) = notice {
                            div.notice role="status" { (notice) }
                        }
                        (body)
                    }
                }
            }
        }
    }
}

/// The hidden anti-forgery field of every form of `session`.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A refusal or failure, announced to screen readers.
pub fn alert(message: &str) -> Markup {
    html! { div.error role="alert" { @for line in message.split("\r\n").filter(|l| !l.is_empty()) { p { (line) } } } }
}

/// A page's response: never cached, framed, sniffed or named in a referrer, and loading nothing from elsewhere.
pub fn respond(status: StatusCode, page: Markup) -> Response {
    let mut response =
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page.into_string()).into_response();
    protect(&mut response);
    response
}

/// The headers every portal answer carries.
pub fn protect(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
}

/// A redirect after a form (303: the browser follows with GET).
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    protect(&mut response);
    response
}

/// A Unix time (seconds) as a date and time, UTC.
pub fn time(unix: Option<i64>) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    unix.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

//! The portal's pages, one module per part of a vault. Each page reads and acts through
//! [`super::Visit::call`]; a refusal is shown in the service's own words, on the page where it happened.

mod access;
mod audit;
mod certificates;
mod deleted;
mod home;
mod keys;
mod overview;
mod secrets;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;
use strongroom_core::directory::{AuthorizationModel, Vault};

use super::Visit;
use super::backend::{Refusal, Service};
use super::html::{self, Tab, VaultPlace};

/// The data-plane api-version the portal speaks.
const VAULT_API: &str = "7.5";
/// The Resource Manager api-version the portal speaks.
const ARM_API: &str = "2023-07-01";
/// The Authorization api-version the portal speaks.
const AUTHORIZATION_API: &str = "2022-04-01";
/// Items on one page of a list.
const PAGE_SIZE: usize = 25;

/// Serves the page at `segments` (the path under `/portal/`).
pub async fn route(visit: &Visit<'_>, segments: &[&str]) -> Response {
    match segments {
        [] => home::vaults(visit),
        ["directory"] => home::directory(visit).await,
        ["vaults", name, rest @ ..] => {
            let Some(vault) = visit.vault(name) else {
                return not_found(visit, &format!("There is no vault called '{name}'."));
            };
            let page = VaultPage { visit, vault: &vault };
            match rest {
                [] => overview::show(&page).await,
                ["networking"] => overview::networking(&page).await,
                ["policies"] => overview::policies(&page).await,
                ["access"] => access::show(&page).await,
                ["audit"] => audit::show(&page).await,
                ["deleted"] => deleted::show(&page).await,
                ["secrets"] => secrets::list(&page).await,
                ["secrets", name] => secrets::item(&page, name).await,
                ["keys"] => keys::list(&page).await,
                ["keys", name] => keys::item(&page, name).await,
                ["certificates"] => certificates::list(&page).await,
                ["certificates", name] => certificates::item(&page, name).await,
                ["certificates", name, "download"] => certificates::download(&page, name).await,
                _ => not_found(visit, "There is no such page."),
            }
        }
        _ => not_found(visit, "There is no such page."),
    }
}

fn not_found(visit: &Visit<'_>, message: &str) -> Response {
    let body = html! { (html::alert(message)) p { a href="/portal/" { "Back to your vaults" } } };
    html::respond(StatusCode::NOT_FOUND, html::page("Not found", Some(&visit.session), None, body))
}

/// A request to one of a vault's pages.
pub struct VaultPage<'a> {
    /// The request.
    pub visit: &'a Visit<'a>,
    /// The vault.
    pub vault: &'a Vault,
}

impl VaultPage<'_> {
    /// The page of `tab` with `title` and `body`, answered with `status`.
    fn render(&self, status: StatusCode, tab: Tab, title: &str, body: Markup) -> Response {
        let place = VaultPlace {
            name: &self.vault.name,
            uses_policies: self.vault.authorization == AuthorizationModel::AccessPolicies,
            tab,
        };
        html::respond(status, html::page(title, Some(&self.visit.session), Some(place), body))
    }

    /// A data-plane call to this vault at `path` (the api-version is added).
    async fn data(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, Refusal> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{separator}api-version={VAULT_API}");
        self.visit.call(Service::Vault(&self.vault.name), method, &path, body).await
    }

    /// A management call at `tail` under this vault's Resource Manager id (`tail` names its api-version).
    async fn management(&self, method: Method, tail: &str, body: Option<&Value>) -> Result<Value, Refusal> {
        let id = crate::management::resource::vault_id(self.vault.subscription_id, self.vault);
        self.visit.call(Service::Management, method, &format!("{id}{tail}"), body).await
    }

    /// The URL of this vault's `tab`.
    fn url(&self, tab: Tab) -> String {
        html::vault_url(&self.vault.name, tab)
    }

    /// After a posted create form: to the new object's page under `tab`, saying so, or the refusal to show.
    fn after_create(&self, tab: Tab, said: &str, created: Result<String, Refusal>) -> Result<Response, Refusal> {
        let name = created?;
        let location = format!("{}/{}", self.url(tab), html::encode(&name));
        Ok(self.done(&location, format!("{said} {name}.")))
    }

    /// The page of `collection`'s list the visit asks for, drawn by `table` (items and the next page's token),
    /// with the status to answer; a refusal is shown in its words.
    async fn listing(
        &self,
        collection: &str,
        table: impl Fn(&[Value], Option<&str>) -> Markup,
    ) -> (StatusCode, Markup) {
        match self.data(Method::GET, &list_path(self.visit, collection), None).await {
            Ok(answer) => {
                let (items, next) = list_page(&answer);
                (StatusCode::OK, table(&items, next.as_deref()))
            }
            Err(failed) => (status_of(&failed), html::alert(&failed.message)),
        }
    }

    /// After a form: to `location`, with `notice` on the next page.
    fn done(&self, location: &str, notice: String) -> Response {
        self.visit.session.leave_notice(notice);
        html::redirect(location)
    }
}

/// The status a page shows a refusal with.
fn status_of(refusal: &Refusal) -> StatusCode {
    match refusal.status.is_client_error() || refusal.status.is_server_error() {
        true => refusal.status,
        false => StatusCode::BAD_GATEWAY,
    }
}

/// An object name as Key Vault allows it: 1 to 127 letters, digits and hyphens. Checked before a name is put in
/// a call's path, so that no name can change what the call addresses.
fn object_name(name: &str) -> Result<&str, Refusal> {
    let valid = (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match valid {
        true => Ok(name),
        false => Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "BadParameter".into(),
            message: format!("'{name}' is not a valid name: use 1 to 127 letters, digits and hyphens."),
        }),
    }
}

/// The refusal of a form whose `action` no page knows.
fn unknown_action(action: &str) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code: "BadParameter".into(),
        message: format!("Unknown action '{action}'."),
    }
}

/// A page of a Key Vault list: its items and the token of the next page, if any.
fn list_page(answer: &Value) -> (Vec<Value>, Option<String>) {
    let items = answer.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
    let next = answer
        .get("nextLink")
        .and_then(Value::as_str)
        .and_then(|link| url::Url::parse(link).ok())
        .and_then(|link| link.query_pairs().find(|(k, _)| k == "$skiptoken").map(|(_, v)| v.into_owned()));
    (items, next)
}

/// The data-plane path of a list, at the page the visit asks for.
fn list_path(visit: &Visit<'_>, collection: &str) -> String {
    let mut path = format!("/{collection}?maxresults={PAGE_SIZE}");
    if let Some(token) = visit.query.get("page").filter(|t| !t.is_empty()) {
        path.push_str("&$skiptoken=");
        path.push_str(&html::encode(token));
    }
    path
}

/// The link to a list's next page.
fn next_link(base: &str, next: Option<&str>) -> Markup {
    html! {
        @if let Some(next) = next {
            p { a href={ (base) "?page=" (html::encode(next)) } { "Next page" } }
        }
    }
}

/// The last segment of an object id (its version) or name.
fn last_segment(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// `attributes.{name}` of a Key Vault item.
fn attribute<'v>(item: &'v Value, name: &str) -> Option<&'v Value> {
    item.get("attributes").and_then(|a| a.get(name))
}

/// Whether a Key Vault item is enabled.
fn enabled(item: &Value) -> bool {
    attribute(item, "enabled").and_then(Value::as_bool).unwrap_or(true)
}

/// A date attribute of a Key Vault item, shown.
fn date(item: &Value, name: &str) -> String {
    html::time(attribute(item, name).and_then(Value::as_i64))
}

/// A date typed in a form (`YYYY-MM-DD`, as a date input sends it) as Unix seconds at midnight UTC.
fn typed_date(text: &str) -> Result<Option<i64>, Refusal> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), &format).map(|d| Some(d.midnight().assume_utc().unix_timestamp())).map_err(|_| {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "BadParameter".into(),
            message: format!("'{text}' is not a date."),
        }
    })
}

/// Tags typed one `name=value` per line.
fn typed_tags(text: &str) -> Result<serde_json::Map<String, Value>, Refusal> {
    let mut tags = serde_json::Map::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once('=') else {
            return Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                code: "BadParameter".into(),
                message: format!("The tag '{line}' is not written name=value."),
            });
        };
        tags.insert(name.trim().to_owned(), Value::String(value.trim().to_owned()));
    }
    Ok(tags)
}

/// Tags shown.
fn tags_text(item: &Value) -> String {
    item.get("tags")
        .and_then(Value::as_object)
        .map(|tags| tags.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>())
        .unwrap_or_default()
        .join(", ")
}

/// A button posting `action` (and `fields`) to `url`.
fn action_button(visit: &Visit<'_>, url: &str, action: &str, fields: &[(&str, &str)], label: &str) -> Markup {
    html! {
        form.inline method="post" action=(url) {
            (html::csrf(&visit.session))
            input type="hidden" name="action" value=(action);
            @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
            button.quiet type="submit" { (label) }
        }
    }
}

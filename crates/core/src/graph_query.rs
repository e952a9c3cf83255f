//! Microsoft Graph query options on a directory collection: the `$filter` expressions real clients send
//! (the Azure CLI, the Graph SDKs), `$top` (the page size, the next page named by `$skiptoken`) and
//! `$select`. Anything else is refused rather than ignored: a
//! client that asked for one object and received the whole collection would act on the wrong one.
//!
//! Filters: `{property} eq '{text}'`, `startswith({property},'{text}')`,
//! `{collection}/any(c:c eq '{text}')`, joined with `and` / `or` and grouped with parentheses. Strings are
//! OData literals (a `'` inside is written `''`); comparisons ignore ASCII case, as Entra's do for names and
//! ids.

use serde_json::Value;

/// The longest `$filter` read; longer ones are refused before parsing.
pub const MAX_FILTER_LENGTH: usize = 2048;
/// How deep parentheses may nest.
const MAX_DEPTH: usize = 16;
/// The largest `$top` Graph accepts.
pub const MAX_TOP: usize = 999;

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// A well-formed option this server does not evaluate (Graph's `Request_UnsupportedQuery`).
    Unsupported(String),
    /// An option whose text is not valid (Graph's `BadRequest`).
    Invalid(String),
}

impl QueryError {
    /// What is wrong, for the response.
    pub fn message(&self) -> &str {
        match self {
            QueryError::Unsupported(m) | QueryError::Invalid(m) => m,
        }
    }
}

/// The properties of a collection a filter may name.
#[derive(Debug, Clone, Copy)]
pub struct Filterable<'a> {
    /// Single-valued string properties (`eq`, `startswith`).
    pub scalars: &'a [&'a str],
    /// Multi-valued string properties (`/any(c:c eq …)`).
    pub collections: &'a [&'a str],
    /// Every property `$select` may name.
    pub selectable: &'a [&'a str],
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `{property} eq '{value}'`.
    Equals(String, String),
    /// `startswith({property},'{value}')`.
    StartsWith(String, String),
    /// `{property}/any(c:c eq '{value}')`.
    AnyEquals(String, String),
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
}

impl Filter {
    /// Whether the Graph object `item` (a JSON object) passes the filter.
    pub fn matches(&self, item: &Value) -> bool {
        match self {
            Filter::Equals(property, wanted) => {
                field(item, property).and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case(wanted))
            }
            Filter::StartsWith(property, prefix) => field(item, property).and_then(Value::as_str).is_some_and(|v| {
                v.len() >= prefix.len()
                    && v.is_char_boundary(prefix.len())
                    && v[..prefix.len()].eq_ignore_ascii_case(prefix)
            }),
            Filter::AnyEquals(property, wanted) => field(item, property)
                .and_then(Value::as_array)
                .is_some_and(|values| values.iter().filter_map(Value::as_str).any(|v| v.eq_ignore_ascii_case(wanted))),
            Filter::And(a, b) => a.matches(item) && b.matches(item),
            Filter::Or(a, b) => a.matches(item) || b.matches(item),
        }
    }
}

/// The property `name` of `item`, named in any case.
fn field<'a>(item: &'a Value, name: &str) -> Option<&'a Value> {
    item.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The query options of a request on a collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphQuery {
    /// `$filter`.
    pub filter: Option<Filter>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$select`, as the properties' canonical names.
    pub select: Option<Vec<String>>,
    /// `$skiptoken`: how many matching items earlier pages held.
    pub skip: usize,
}

/// One page of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The page's items.
    pub items: Vec<Value>,
    /// The `$skiptoken` of the next page, when more items match.
    pub next: Option<String>,
}

/// Graph's system query options, which may be written with or without `$`.
const SYSTEM_OPTIONS: &[&str] =
    &["filter", "top", "select", "search", "orderby", "count", "expand", "skip", "skiptoken", "format", "apply"];

impl GraphQuery {
    /// Reads the decoded query `options` of a request on a collection whose properties are `filterable`.
    /// Options that are not Graph's (such as `api-version`) are left alone; every Graph option is either
    /// evaluated or refused.
    pub fn parse<'a>(
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
        filterable: Filterable<'_>,
    ) -> Result<Self, QueryError> {
        let mut query = GraphQuery::default();
        for (name, value) in options {
            let bare = name.strip_prefix('$').unwrap_or(name).to_ascii_lowercase();
            if !name.starts_with('$') && !SYSTEM_OPTIONS.contains(&bare.as_str()) {
                continue;
            }
            let repeated = || QueryError::Invalid(format!("Query option '${bare}' is given more than once."));
            match bare.as_str() {
                "filter" if query.filter.is_none() => query.filter = Some(parse_filter(value, filterable)?),
                "top" if query.top.is_none() => query.top = Some(parse_top(value)?),
                "select" if query.select.is_none() => query.select = Some(parse_select(value, filterable)?),
                "skiptoken" if query.skip == 0 => query.skip = parse_skiptoken(value)?,
                "filter" | "top" | "select" | "skiptoken" => return Err(repeated()),
                _ => {
                    return Err(QueryError::Unsupported(format!(
                        "Query option '{name}' is not supported on this collection."
                    )));
                }
            }
        }
        Ok(query)
    }

    /// The page of items that pass the filter: after the `$skiptoken`'s, at most `$top` of them (all without
    /// `$top`), each cut down to `$select`.
    pub fn apply(&self, items: Vec<Value>) -> Page {
        let mut matching = items.into_iter().filter(|item| self.filter.as_ref().is_none_or(|f| f.matches(item)));
        let page_size = self.top.unwrap_or(usize::MAX);
        let items: Vec<Value> = matching
            .by_ref()
            .skip(self.skip)
            .take(page_size)
            .map(|item| match (&self.select, item) {
                (Some(properties), Value::Object(object)) => Value::Object(
                    // Annotations (`@odata.type`) are kept: they say what an object is, whatever was selected.
                    object
                        .into_iter()
                        .filter(|(k, _)| {
                            k.starts_with("@odata.") || properties.iter().any(|p| p.eq_ignore_ascii_case(k))
                        })
                        .collect(),
                ),
                (_, item) => item,
            })
            .collect();
        let more = matching.next().is_some();
        let next = more.then(|| (self.skip + items.len()).to_string());
        Page { items, next }
    }
}

/// A `$skiptoken` this server wrote: the count of items earlier pages held.
fn parse_skiptoken(value: &str) -> Result<usize, QueryError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|skip| *skip > 0)
        .ok_or_else(|| QueryError::Invalid(format!("The $skiptoken '{value}' is not valid.")))
}

fn parse_top(value: &str) -> Result<usize, QueryError> {
    match value.trim().parse::<usize>() {
        Ok(top) if (1..=MAX_TOP).contains(&top) => Ok(top),
        _ => Err(QueryError::Invalid(format!(
            "Invalid page size specified: '{value}'. Must be between 1 and {MAX_TOP}."
        ))),
    }
}

fn parse_select(value: &str, filterable: Filterable<'_>) -> Result<Vec<String>, QueryError> {
    value
        .split(',')
        .map(|p| {
            let p = p.trim();
            filterable
                .selectable
                .iter()
                .find(|s| s.eq_ignore_ascii_case(p))
                .map(|s| (*s).to_owned())
                .ok_or_else(|| QueryError::Invalid(format!("Could not find a property named '{p}' on this type.")))
        })
        .collect()
}

/// Parses a `$filter` expression against the properties of its collection.
pub fn parse_filter(text: &str, filterable: Filterable<'_>) -> Result<Filter, QueryError> {
    if text.len() > MAX_FILTER_LENGTH {
        return Err(QueryError::Invalid(format!("A filter is at most {MAX_FILTER_LENGTH} characters.")));
    }
    let mut parser = Parser { text, at: 0, filterable, depth: 0 };
    let filter = parser.or()?;
    parser.skip_spaces();
    if parser.at != text.len() {
        return Err(parser.invalid());
    }
    Ok(filter)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    filterable: Filterable<'a>,
    depth: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn invalid(&self) -> QueryError {
        QueryError::Invalid(format!("Invalid filter clause: syntax error at position {} in '{}'.", self.at, self.text))
    }

    fn skip_spaces(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t']);
        self.at = self.text.len() - trimmed.len();
    }

    /// Consumes `token` (ASCII, any case) if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_spaces();
        let rest = self.rest().as_bytes();
        if rest.len() >= token.len() && rest[..token.len()].eq_ignore_ascii_case(token.as_bytes()) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// Consumes the keyword `word` if it comes next as a whole word followed by a space, `(`, `'` or the end.
    fn eat_keyword(&mut self, word: &str) -> bool {
        let start = self.at;
        if self.eat(word) && (self.rest().is_empty() || self.rest().starts_with([' ', '\t', '(', '\''])) {
            return true;
        }
        self.at = start;
        false
    }

    fn expect(&mut self, token: &str) -> Result<(), QueryError> {
        if self.eat(token) { Ok(()) } else { Err(self.invalid()) }
    }

    fn or(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.term()?;
        while self.eat_keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Filter, QueryError> {
        if self.eat("(") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(QueryError::Invalid("A filter nests parentheses too deeply.".to_owned()));
            }
            let inner = self.or()?;
            self.expect(")")?;
            self.depth -= 1;
            return Ok(inner);
        }
        let start = self.at;
        let name = self.identifier()?;
        if name.eq_ignore_ascii_case("startswith") && self.eat("(") {
            let property = self.scalar()?;
            self.expect(",")?;
            let prefix = self.string()?;
            self.expect(")")?;
            return Ok(Filter::StartsWith(property, prefix));
        }
        if self.eat("/") {
            let property = self.known(&name, self.filterable.collections, start)?;
            if !self.eat("any") {
                return Err(self.unsupported_here());
            }
            self.expect("(")?;
            let variable = self.identifier()?;
            self.expect(":")?;
            let used = self.identifier()?;
            if used != variable || !self.eat_keyword("eq") {
                return Err(self.unsupported_here());
            }
            let value = self.string()?;
            self.expect(")")?;
            return Ok(Filter::AnyEquals(property, value));
        }
        let property = self.known(&name, self.filterable.scalars, start)?;
        if !self.eat_keyword("eq") {
            return Err(self.unsupported_here());
        }
        Ok(Filter::Equals(property, self.string()?))
    }

    fn unsupported_here(&self) -> QueryError {
        QueryError::Unsupported(format!(
            "Unsupported filter at position {} in '{}': this server evaluates eq, startswith and any(… eq …).",
            self.at, self.text
        ))
    }

    fn scalar(&mut self) -> Result<String, QueryError> {
        let start = self.at;
        let name = self.identifier()?;
        self.known(&name, self.filterable.scalars, start)
    }

    /// The canonical spelling of `name` among `properties`, or a refusal naming it.
    fn known(&self, name: &str, properties: &[&str], start: usize) -> Result<String, QueryError> {
        properties.iter().find(|p| p.eq_ignore_ascii_case(name)).map(|p| (*p).to_owned()).ok_or_else(|| {
            QueryError::Unsupported(format!(
                "Unsupported or invalid query filter clause specified for property '{name}' at position {start}."
            ))
        })
    }

    fn identifier(&mut self) -> Result<String, QueryError> {
        self.skip_spaces();
        let length = self.rest().bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
        if length == 0 {
            return Err(self.invalid());
        }
        let name = self.rest()[..length].to_owned();
        self.at += length;
        Ok(name)
    }

    /// An OData string literal: `'…'` with `''` standing for one `'`.
    fn string(&mut self) -> Result<String, QueryError> {
        self.skip_spaces();
        if !self.rest().starts_with('\'') {
            return Err(self.invalid());
        }
        self.at += 1;
        let mut value = String::new();
        loop {
            let rest = self.rest();
            let Some(quote) = rest.find('\'') else {
                return Err(QueryError::Invalid(format!("Unterminated string literal in '{}'.", self.text)));
            };
            value.push_str(&rest[..quote]);
            self.at += quote + 1;
            if self.rest().starts_with('\'') {
                value.push('\'');
                self.at += 1;
            } else {
                return Ok(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const APPS: Filterable<'static> = Filterable {
        scalars: &["appId", "id", "displayName"],
        collections: &["servicePrincipalNames"],
        selectable: &["appId", "id", "displayName", "servicePrincipalNames"],
    };

    fn filter(text: &str) -> Result<Filter, QueryError> {
        parse_filter(text, APPS)
    }

    #[test]
    fn the_filters_clients_send_are_read() {
        let eq = |p: &str, v: &str| Filter::Equals(p.to_owned(), v.to_owned());
        assert_eq!(filter("appId eq 'abc'"), Ok(eq("appId", "abc")));
        assert_eq!(filter("  APPID   eq   'abc'  "), Ok(eq("appId", "abc")));
        assert_eq!(filter("displayName eq 'O''Brien'"), Ok(eq("displayName", "O'Brien")));
        assert_eq!(filter("displayName eq ''''"), Ok(eq("displayName", "'")));
        assert_eq!(filter("startswith(displayName,'pay')"), Ok(Filter::StartsWith("displayName".into(), "pay".into())));
        assert_eq!(
            filter("servicePrincipalNames/any(c:c eq 'http://x')"),
            Ok(Filter::AnyEquals("servicePrincipalNames".into(), "http://x".into()))
        );
        assert_eq!(
            filter("id eq 'a' or (displayName eq 'b' and appId eq 'c')"),
            Ok(Filter::Or(
                Box::new(eq("id", "a")),
                Box::new(Filter::And(Box::new(eq("displayName", "b")), Box::new(eq("appId", "c"))))
            ))
        );
    }

    #[test]
    fn what_cannot_be_evaluated_is_refused() {
        for unsupported in [
            "mail eq 'x'",
            "appId ne 'x'",
            "endswith(displayName,'x')",
            "servicePrincipalNames/all(c:c eq 'x')",
            "servicePrincipalNames/any(c:d eq 'x')",
            "displayName/any(c:c eq 'x')",
            "appId in ('a','b')",
        ] {
            assert!(matches!(filter(unsupported), Err(QueryError::Unsupported(_))), "{unsupported}");
        }
        for invalid in ["", "appId eq", "appId eq 'x", "appId eq 'x' garbage", "(appId eq 'x'", "appId eq x", "'x'"] {
            assert!(matches!(filter(invalid), Err(QueryError::Invalid(_))), "{invalid}");
        }
        let deep = format!("{}appId eq 'x'{}", "(".repeat(40), ")".repeat(40));
        assert!(filter(&deep).is_err());
    }

    #[test]
    fn options_are_evaluated_or_refused_never_ignored() {
        let parse = |pairs: &[(&'static str, &'static str)]| GraphQuery::parse(pairs.iter().copied(), APPS);
        assert!(parse(&[("api-version", "2022-07-01")]).is_ok_and(|q| q == GraphQuery::default()));
        assert!(
            parse(&[("$top", "2"), ("$select", "id,APPID")])
                .is_ok_and(|q| q.top == Some(2) && q.select == Some(vec!["id".into(), "appId".into()]))
        );
        for refused in [
            &[("$search", "\"displayName:x\"")][..],
            &[("$orderby", "displayName")],
            &[("$count", "true")],
            &[("$expand", "owners")],
            &[("$whatever", "1")],
            &[("filter", "mail eq 'x'")],
            &[("$top", "0")],
            &[("$top", "1000")],
            &[("$select", "password")],
            &[("$filter", "appId eq 'a'"), ("$FILTER", "appId eq 'b'")],
            &[("$skiptoken", "1"), ("$skiptoken", "2")],
        ] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn filters_select_the_matching_objects() {
        let items = vec![
            json!({"id": "1", "appId": "AAA", "displayName": "payroll", "servicePrincipalNames": ["AAA"]}),
            json!({"id": "2", "appId": "bbb", "displayName": "Payments", "servicePrincipalNames": ["bbb", "api://pay"]}),
            json!({"id": "3", "appId": "ccc", "displayName": "billing", "servicePrincipalNames": []}),
        ];
        let ids = |text: &str| {
            let query = GraphQuery {
                filter: Some(filter(text).unwrap_or(Filter::Equals("id".into(), "none".into()))),
                ..GraphQuery::default()
            };
            query
                .apply(items.clone())
                .items
                .iter()
                .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("appId eq 'aaa'"), ["1"]);
        assert_eq!(ids("appId eq 'zzz'"), Vec::<String>::new());
        assert_eq!(ids("startswith(displayName,'PAY')"), ["1", "2"]);
        assert_eq!(ids("servicePrincipalNames/any(c:c eq 'api://pay')"), ["2"]);
        assert_eq!(ids("appId eq 'aaa' or displayName eq 'billing'"), ["1", "3"]);
        assert_eq!(ids("startswith(displayName,'pay') and appId eq 'bbb'"), ["2"]);
        let selected = GraphQuery { top: Some(1), select: Some(vec!["appId".into()]), ..GraphQuery::default() };
        assert_eq!(selected.apply(items), Page { items: vec![json!({"appId": "AAA"})], next: Some("1".into()) });
    }

    #[test]
    fn pages_follow_one_another_to_the_end() {
        let items: Vec<Value> = (0..5).map(|i| json!({"id": i.to_string(), "displayName": "x"})).collect();
        let mut seen = Vec::new();
        let mut skiptoken: Option<String> = None;
        loop {
            let mut options = vec![("$top", "2".to_owned()), ("$filter", "displayName eq 'x'".to_owned())];
            options.extend(skiptoken.iter().map(|t| ("$skiptoken", t.clone())));
            let query = GraphQuery::parse(options.iter().map(|(k, v)| (*k, v.as_str())), APPS);
            let page = query.map(|q| q.apply(items.clone())).unwrap_or(Page { items: vec![], next: None });
            seen.extend(page.items.iter().map(|i| i["id"].as_str().unwrap_or_default().to_owned()));
            match page.next {
                Some(next) => skiptoken = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ["0", "1", "2", "3", "4"]);
        let all = GraphQuery::default().apply(items);
        assert_eq!((all.items.len(), all.next), (5, None), "without $top everything is one page");
        for bad in ["", "0", "-1", "x"] {
            assert!(GraphQuery::parse([("$skiptoken", bad)], APPS).is_err(), "{bad}");
        }
    }
}

/// Property tests: no input makes the parser panic, and quoting round-trips.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const USERS: Filterable<'static> = Filterable {
        scalars: &["id", "displayName", "userPrincipalName", "mail"],
        collections: &["servicePrincipalNames"],
        selectable: &["id", "displayName"],
    };

    /// Text made of the grammar's own pieces, so that the parser goes deep rather than failing at once.
    fn filter_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("appId".to_owned()),
            Just("displayName".to_owned()),
            Just(" eq ".to_owned()),
            Just(" and ".to_owned()),
            Just(" or ".to_owned()),
            Just("startswith(".to_owned()),
            Just("servicePrincipalNames/any(c:c".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(",".to_owned()),
            Just("'".to_owned()),
            Just("''".to_owned()),
            "[a-zA-Z0-9 ]{0,6}",
            "\\PC{0,3}",
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn no_filter_text_panics(text in prop_oneof![filter_like(), "\\PC{0,64}"]) {
            let item = json!({"id": "x", "displayName": "y", "servicePrincipalNames": ["z"]});
            if let Ok(filter) = parse_filter(&text, USERS) {
                let _ = filter.matches(&item);
            }
        }

        #[test]
        fn quoted_strings_round_trip(value in "\\PC{0,40}") {
            let text = format!("displayName eq '{}'", value.replace('\'', "''"));
            prop_assert_eq!(parse_filter(&text, USERS), Ok(Filter::Equals("displayName".into(), value.clone())));
            let item = json!({"displayName": value});
            prop_assert!(parse_filter(&text, USERS).is_ok_and(|f| f.matches(&item)));
        }

        #[test]
        fn no_query_options_panic(options in proptest::collection::vec(("\\$?[a-z]{0,8}", "\\PC{0,24}"), 0..6)) {
            let pairs = options.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            if let Ok(query) = GraphQuery::parse(pairs, USERS) {
                let _ = query.apply(vec![json!({"id": "1", "displayName": "a"})]);
            }
        }
    }
}

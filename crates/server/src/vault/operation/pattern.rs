//! Path patterns of the operation table, and matching a request's path against them without allocating.
//!
//! A pattern is written as the docs show it: `/keys/{name}[/{version}]/~sign`. Each `/`-separated token is
//! one path segment:
//! - a literal (`versions`) matches itself exactly; `~sign` matches `sign` in any case (crypto operation
//!   names: the SDKs spell `wrapKey` in more than one way);
//! - `{name}` is the object the operation acts on (its RBAC scope), `{issuer}` a certificate issuer's name;
//! - `{version}` is a version, where an empty segment means the latest (`/keys/k//sign`);
//! - one token may be optional, written `[/…]`: `[/{version}]`.
//!
//! Every spelling of a path that the SDKs send is normalised here, for every row alike, rather than by
//! rows of their own (docs/compatibility.md, "Route spellings", says which SDK sends which):
//! - leading slashes are ignored (`//secrets/db`);
//! - one trailing slash is ignored on every route (`/secrets/db/`, `/keys/`, `/certificates/issuers/`): the
//!   SDKs send it for a latest version, and no spelling of a known route should be `404`;
//! - a version written `[/{version}]` may be absent (`/keys/k/attestation`, as JavaScript's
//!   `getKeyAttestation(name)` sends it), empty (`/keys/k//attestation` from Python, `/keys/k//sign` from
//!   JavaScript's `CryptographyClient` on a versionless key id: "the latest"), or given;
//! - Managed HSM's local RBAC paths start with their scope: `/{scope}/providers/Microsoft.Authorization/…`,
//!   where the scope is empty (`/`), `keys` or `keys/{name}` (Python sends `/keys/providers/…`, JavaScript
//!   `///providers/…`). The scope is cut off before matching and handed to the operation as `{scope}`.

/// The most segments a pattern has; longer paths match no operation.
pub const MAX_SEGMENTS: usize = 4;

/// Where a local RBAC path's own part starts, after its scope.
const AUTHORIZATION_PROVIDER: &str = "providers/Microsoft.Authorization/";

/// A request path cut into segments: the first [`MAX_SEGMENTS`] kept, all of them counted.
pub struct Segments<'p> {
    first: [&'p str; MAX_SEGMENTS],
    /// How many segments the path has.
    pub len: usize,
    /// A local RBAC path's scope (`""`, `keys`, `keys/{name}`), cut off before the segments.
    scope: Option<&'p str>,
}

impl<'p> Segments<'p> {
    /// The segments of `path`, leading slashes and one trailing slash ignored.
    pub fn of(path: &'p str) -> Self {
        let path = path.trim_start_matches('/');
        let path = path.strip_suffix('/').unwrap_or(path);
        let (scope, path) = match authorization_provider_at(path) {
            Some(0) => (Some(""), path),
            Some(at) => (path.get(..at - 1).map(|scope| scope.trim_end_matches('/')), path.get(at..).unwrap_or(path)),
            None => (None, path),
        };
        let mut segments = Segments { first: [""; MAX_SEGMENTS], len: 0, scope };
        for segment in path.split('/') {
            if let Some(slot) = segments.first.get_mut(segments.len) {
                *slot = segment;
            }
            segments.len += 1;
        }
        segments
    }

    /// The first segment: the collection.
    pub fn first(&self) -> &'p str {
        self.first[0]
    }
}

/// Where `providers/Microsoft.Authorization/` begins a segment of `path`: the start of a local RBAC path, after
/// its scope. Only segment starts are compared, so that the other paths pay for no substring search (a search
/// for the whole string cost every request some 1,150 instructions, measured with callgrind).
fn authorization_provider_at(path: &str) -> Option<usize> {
    std::iter::once(0)
        .chain(path.match_indices('/').map(|(at, _)| at + 1))
        .find(|&at| path.get(at..).is_some_and(|rest| rest.starts_with(AUTHORIZATION_PROVIDER)))
}

/// What a matched path gave the operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Params<'p> {
    name: Option<&'p str>,
    version: Option<&'p str>,
    issuer: Option<&'p str>,
    id: Option<&'p str>,
    scope: Option<&'p str>,
}

impl<'p> Params<'p> {
    /// `{name}`: the object the operation acts on ("" when the path names none).
    pub fn name(&self) -> &'p str {
        self.name.unwrap_or_default()
    }

    /// `{name}`, or `None` for an operation on the whole collection.
    pub fn object(&self) -> Option<&'p str> {
        self.name
    }

    /// `{version}`: `None` for the latest (the segment absent or empty).
    pub fn version(&self) -> Option<&'p str> {
        self.version
    }

    /// `{issuer}`: a certificate issuer's name ("" when the path names none).
    pub fn issuer(&self) -> &'p str {
        self.issuer.unwrap_or_default()
    }

    /// `{id}`: the name of what the operation acts on when that is no object ("" when the path names none).
    pub fn id(&self) -> &'p str {
        self.id.unwrap_or_default()
    }

    /// A local RBAC path's scope, as the path wrote it without its slashes (`""` for `/`, `keys`,
    /// `keys/{name}`); `None` on every other path.
    pub fn scope(&self) -> Option<&'p str> {
        self.scope
    }
}

/// One segment of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// Matches itself exactly.
    Literal(&'static str),
    /// `~…`: matches itself in any case.
    AnyCase(&'static str),
    /// `{name}`.
    Name,
    /// `{version}`.
    Version,
    /// `{issuer}`.
    Issuer,
    /// `{id}`.
    Id,
}

/// A pattern, cut into its tokens when the table is built (at compile time): matching a path compares
/// segments, it never parses the pattern.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    /// As written: the tests render docs/authorization.md's tables from it; routing never reads it.
    #[cfg_attr(not(test), allow(dead_code))]
    text: &'static str,
    tokens: [Token; MAX_SEGMENTS],
    /// How many of `tokens` the pattern has.
    len: usize,
    /// Which token is optional, if one is.
    optional: Option<usize>,
}

impl Pattern {
    /// The pattern `text` (see the module's documentation for the notation). Tokens past [`MAX_SEGMENTS`]
    /// are dropped; a unit test checks that every pattern of the table reads back as written.
    pub const fn new(text: &'static str) -> Self {
        let bytes = text.as_bytes();
        let mut pattern = Pattern { text, tokens: [Token::Literal(""); MAX_SEGMENTS], len: 0, optional: None };
        let mut i = 0;
        while i < bytes.len() && pattern.len < MAX_SEGMENTS {
            if bytes[i] == b'[' {
                pattern.optional = Some(pattern.len);
                i += 1;
            }
            i += 1; // the token's `/`
            let start = i;
            while i < bytes.len() && !matches!(bytes[i], b'/' | b'[' | b']') {
                i += 1;
            }
            pattern.tokens[pattern.len] = Token::parse(text, start, i);
            pattern.len += 1;
            if i < bytes.len() && bytes[i] == b']' {
                i += 1;
            }
        }
        pattern
    }

    /// The pattern as written.
    #[cfg(test)]
    pub fn as_str(&self) -> &'static str {
        self.text
    }

    /// The tokens, each with whether it is the optional one.
    pub fn tokens(&self) -> impl Iterator<Item = (Token, bool)> + '_ {
        self.tokens.iter().take(self.len).enumerate().map(|(i, token)| (*token, self.optional == Some(i)))
    }

    /// The parameters, if `segments` match the pattern.
    pub fn matches<'p>(&self, segments: &Segments<'p>) -> Option<Params<'p>> {
        let required = self.len - usize::from(self.optional.is_some());
        let with_optional = match segments.len {
            n if n == required => false,
            n if self.optional.is_some() && n == required + 1 => true,
            _ => return None,
        };
        let mut params = Params { scope: segments.scope, ..Params::default() };
        let mut next = segments.first.iter().copied();
        for (token, optional) in self.tokens() {
            if optional && !with_optional {
                continue;
            }
            let segment = next.next()?;
            match token {
                Token::Literal(literal) if literal == segment => {}
                Token::AnyCase(literal) if literal.eq_ignore_ascii_case(segment) => {}
                Token::Literal(_) | Token::AnyCase(_) => return None,
                Token::Name => params.name = Some(segment),
                Token::Issuer => params.issuer = Some(segment),
                Token::Id => params.id = Some(segment),
                Token::Version => params.version = Some(segment).filter(|v| !v.is_empty()),
            }
        }
        Some(params)
    }
}

impl Token {
    /// The token `text[start..end]`.
    const fn parse(text: &'static str, start: usize, end: usize) -> Self {
        let (head, _) = text.as_bytes().split_at(end);
        let (_, token) = head.split_at(start);
        match token {
            b"{name}" => Token::Name,
            b"{version}" => Token::Version,
            b"{issuer}" => Token::Issuer,
            b"{id}" => Token::Id,
            [b'~', rest @ ..] => Token::AnyCase(utf8(rest)),
            _ => Token::Literal(utf8(token)),
        }
    }
}

/// `bytes` cut from a pattern at ASCII delimiters, which are whole characters.
const fn utf8(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => "",
    }
}

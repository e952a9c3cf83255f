//! Portal sessions, held by this node: a signed-in person's tokens stay on the server, and the browser holds
//! only a random session id in a `__Host-` cookie (`Secure; HttpOnly; SameSite=Strict`), which no script, no
//! other site and no sibling host can read, send or plant. Sessions are found by the SHA-256 of their cookie,
//! so that a memory dump names no usable cookie.
//!
//! A sign-in in progress keeps nothing on the server: its state, PKCE verifier and nonce travel in a cookie
//! sealed (AES-256-GCM) under a key drawn when the process starts, so that no flood of started sign-ins can
//! push a person's out. Sessions are capped per person, so that no one account can push others' out either.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// The session cookie.
pub const SESSION_COOKIE: &str = "__Host-strongroom-portal";
/// The cookie of a sign-in in progress, between the portal's redirect to the authorize page and its return.
pub const SIGN_IN_COOKIE: &str = "__Host-strongroom-portal-signin";
/// A session ends after this long without a request, seconds.
const IDLE_SECONDS: i64 = 60 * 60;
/// A session ends this long after sign-in, whatever its use, seconds.
const LIFETIME_SECONDS: i64 = 12 * 60 * 60;
/// A sign-in must come back from the authorize page within this, seconds.
const SIGN_IN_SECONDS: i64 = 10 * 60;
/// Most sessions held at once; past it the oldest goes first.
const MAX_HELD: usize = 10_000;
/// Most sessions one person holds at once (browsers, devices); past it their oldest goes first.
const MAX_PER_PERSON: usize = 8;

/// A signed-in person.
pub struct Session {
    /// The tenant the person signed in to.
    pub tenant_id: Uuid,
    /// The person's object id.
    pub user_id: Uuid,
    /// The person's sign-in name, as the ID token gave it.
    pub user_name: String,
    /// When the person signed in (Unix milliseconds): a password reset or a disabling after it ends the session.
    pub signed_in_at_ms: i64,
    /// The anti-forgery token every form of the session carries.
    pub csrf: String,
    signed_in_at: i64,
    last_seen: Mutex<i64>,
    /// The tokens, behind an async lock: refreshing uses the refresh token up, so two requests must not do it
    /// at once.
    pub tokens: tokio::sync::Mutex<Tokens>,
    /// A message for the next page (after a form's redirect).
    notice: Mutex<Option<String>>,
    /// Set when the session ends (sign-out, a grant no longer honoured): it is not found again, and refreshes
    /// nothing more.
    closed: AtomicBool,
}

/// A session's tokens.
pub struct Tokens {
    /// The refresh token, rotated at each use.
    pub refresh_token: String,
    /// Access tokens by resource, with when they stop being used (Unix seconds).
    pub access: HashMap<String, (String, i64)>,
}

impl Session {
    /// Leaves `message` for the next page the session sees.
    pub fn leave_notice(&self, message: String) {
        *lock(&self.notice) = Some(message);
    }

    /// The message left for this page, once.
    pub fn take_notice(&self) -> Option<String> {
        lock(&self.notice).take()
    }

    /// Ends the session wherever it is held: it is not found again, and refreshes nothing more.
    pub fn end(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Whether the session has ended.
    pub fn has_ended(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Whether `field` is the session's anti-forgery token (compared in constant time).
    pub fn is_own_form(&self, field: Option<&str>) -> bool {
        field.is_some_and(|f| verify_slices_are_equal(f.as_bytes(), self.csrf.as_bytes()).is_ok())
    }
}

/// A sign-in in progress: what the return from the authorize page must match, and the PKCE verifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingSignIn {
    /// The `state` sent to the authorize page.
    pub state: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    started: i64,
}

/// What a successful sign-in hands the session store.
pub struct SignedIn {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The person.
    pub user_id: Uuid,
    /// The sign-in name.
    pub user_name: String,
    /// The refresh token.
    pub refresh_token: String,
    /// The first access token's resource, token and end of use.
    pub access: (String, String, i64),
}

/// Every session of this node, and the key sign-ins in progress are sealed with.
pub struct Sessions {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// `None` if no random key could be drawn: then no sign-in starts.
    sign_in_key: Option<LessSafeKey>,
}

impl Default for Sessions {
    fn default() -> Self {
        let mut key = [0u8; 32];
        let sign_in_key = aws_lc_rs::rand::fill(&mut key)
            .ok()
            .and_then(|()| UnboundKey::new(&AES_256_GCM, &key).ok())
            .map(LessSafeKey::new);
        Self { sessions: Mutex::default(), sign_in_key }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// 32 random bytes, base64url.
pub fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

fn key(cookie: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, cookie.as_bytes()))
}

/// The value of the cookie `name` the request carries.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(n, value)| (n == name).then_some(value))
}

/// A `Set-Cookie` value for `name`: the value, or (with `None`) its removal.
pub fn set_cookie(name: &str, value: Option<&str>) -> Option<HeaderValue> {
    let text = match value {
        Some(value) => format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict"),
        None => format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    HeaderValue::from_str(&text).ok()
}

impl Sessions {
    /// Starts a sign-in: returns its (sealed) cookie value and what the authorize request needs.
    pub fn begin_sign_in(&self, now: i64) -> Option<(String, PendingSignIn)> {
        let key = self.sign_in_key.as_ref()?;
        let pending =
            PendingSignIn { state: random_token()?, verifier: random_token()?, nonce: random_token()?, started: now };
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        let mut sealed = [pending.state.as_str(), pending.verifier.as_str(), pending.nonce.as_str(), &now.to_string()]
            .join(".")
            .into_bytes();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(SIGN_IN_COOKIE), &mut sealed)
            .ok()?;
        let cookie = [nonce.as_slice(), &sealed].concat();
        Some((URL_SAFE_NO_PAD.encode(cookie), pending))
    }

    /// The sign-in `cookie` seals, if it was sealed here and is still in time. (It is used once: the portal
    /// clears it at the return, and the code it came back with is redeemed once.)
    pub fn finish_sign_in(&self, cookie: &str, now: i64) -> Option<PendingSignIn> {
        let key = self.sign_in_key.as_ref()?;
        let bytes = URL_SAFE_NO_PAD.decode(cookie).ok()?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let opened = key.open_in_place(nonce, Aad::from(SIGN_IN_COOKIE), &mut sealed).ok()?;
        let text = std::str::from_utf8(opened).ok()?;
        let mut parts = text.split('.');
        let (state, verifier, nonce, started) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let started: i64 = started.parse().ok()?;
        let pending =
            PendingSignIn { state: state.to_owned(), verifier: verifier.to_owned(), nonce: nonce.to_owned(), started };
        (now - started < SIGN_IN_SECONDS && now >= started).then_some(pending)
    }

    /// Opens a session; returns its cookie value.
    pub fn open(&self, signed_in: SignedIn, now: i64, now_ms: i64) -> Option<String> {
        let cookie = random_token()?;
        let (resource, token, until) = signed_in.access;
        let session = Session {
            tenant_id: signed_in.tenant_id,
            user_id: signed_in.user_id,
            user_name: signed_in.user_name,
            signed_in_at_ms: now_ms,
            csrf: random_token()?,
            signed_in_at: now,
            last_seen: Mutex::new(now),
            tokens: tokio::sync::Mutex::new(Tokens {
                refresh_token: signed_in.refresh_token,
                access: HashMap::from([(resource, (token, until))]),
            }),
            notice: Mutex::new(None),
            closed: AtomicBool::new(false),
        };
        let mut held = lock(&self.sessions);
        held.retain(|_, s| is_live(s, now));
        let person = session.user_id;
        let theirs: Vec<(String, i64)> =
            held.iter().filter(|(_, s)| s.user_id == person).map(|(k, s)| (k.clone(), s.signed_in_at)).collect();
        let oldest = theirs.iter().min_by_key(|(_, at)| *at).filter(|_| theirs.len() >= MAX_PER_PERSON);
        if let Some(dropped) = oldest.and_then(|(oldest, _)| held.remove(oldest)) {
            dropped.end();
        }
        evict_oldest(&mut held, |s| s.signed_in_at);
        held.insert(key(&cookie), Arc::new(session));
        Some(cookie)
    }

    /// The live session of `cookie`, which this request keeps alive.
    pub fn find(&self, cookie: &str, now: i64) -> Option<Arc<Session>> {
        let mut held = lock(&self.sessions);
        let cookie_key = key(cookie);
        let session = held.get(&cookie_key)?;
        if !is_live(session, now) || session.has_ended() {
            held.remove(&cookie_key);
            return None;
        }
        *lock(&session.last_seen) = now;
        Some(Arc::clone(session))
    }

    /// Ends the session of `cookie`; returns it, so that its refresh token can be revoked.
    pub fn close(&self, cookie: &str) -> Option<Arc<Session>> {
        let session = lock(&self.sessions).remove(&key(cookie))?;
        session.end();
        Some(session)
    }
}

fn is_live(session: &Session, now: i64) -> bool {
    now - session.signed_in_at < LIFETIME_SECONDS && now - *lock(&session.last_seen) < IDLE_SECONDS
}

/// Makes room for one more entry by dropping the one started first, when `held` is full.
fn evict_oldest<T>(held: &mut HashMap<String, T>, started: impl Fn(&T) -> i64) {
    if held.len() < MAX_HELD {
        return;
    }
    if let Some(oldest) = held.iter().min_by_key(|(_, v)| started(v)).map(|(k, _)| k.clone()) {
        held.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_in() -> SignedIn {
        SignedIn {
            tenant_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            user_name: "alice@contoso".into(),
            refresh_token: "r".into(),
            access: ("https://management.localhost".into(), "t".into(), 100),
        }
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_is_closed_idle_or_too_old() {
        let sessions = Sessions::default();
        let cookie = sessions.open(signed_in(), 0, 0).unwrap_or_default();
        assert!(sessions.find(&cookie, 10).is_some());
        assert!(sessions.find("another", 10).is_none());
        assert!(sessions.close(&cookie).is_some());
        assert!(sessions.find(&cookie, 11).is_none(), "closed: a replayed cookie finds nothing");

        let idle = sessions.open(signed_in(), 0, 0).unwrap_or_default();
        assert!(sessions.find(&idle, IDLE_SECONDS).is_none());
        let busy = sessions.open(signed_in(), 0, 0).unwrap_or_default();
        let mut now = 0;
        while now < LIFETIME_SECONDS - 60 {
            now += IDLE_SECONDS - 1;
            assert!(sessions.find(&busy, now).is_some());
        }
        assert!(sessions.find(&busy, LIFETIME_SECONDS).is_none(), "a session ends, however busy");
    }

    #[test]
    fn a_sign_in_comes_back_only_sealed_here_unchanged_and_in_time() {
        let sessions = Sessions::default();
        let (cookie, pending) = sessions.begin_sign_in(100).unwrap_or_default();
        assert_eq!(sessions.finish_sign_in(&cookie, 105), Some(pending));
        assert_eq!(sessions.finish_sign_in(&cookie, 100 + SIGN_IN_SECONDS), None, "too late");
        let mut tampered = URL_SAFE_NO_PAD.decode(&cookie).unwrap_or_default();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(sessions.finish_sign_in(&URL_SAFE_NO_PAD.encode(tampered), 105), None, "tampered");
        assert_eq!(Sessions::default().finish_sign_in(&cookie, 105), None, "sealed by another process");
        assert_eq!(sessions.finish_sign_in("garbage", 105), None);
    }

    #[test]
    fn a_person_holds_a_few_sessions_and_their_oldest_goes_first() {
        let sessions = Sessions::default();
        let person = signed_in();
        let same = || SignedIn { user_id: person.user_id, ..signed_in() };
        let first = sessions.open(same(), 0, 0).unwrap_or_default();
        let later: Vec<String> =
            (1..=MAX_PER_PERSON as i64).map(|at| sessions.open(same(), at, 0).unwrap_or_default()).collect();
        assert!(sessions.find(&first, 20).is_none(), "the person's oldest session was ended");
        assert!(later.iter().all(|cookie| sessions.find(cookie, 20).is_some()));
        let other = sessions.open(signed_in(), 30, 0).unwrap_or_default();
        assert!(sessions.find(&other, 31).is_some(), "another person is not affected");
    }

    #[test]
    fn only_the_sessions_own_token_passes_as_its_form() {
        let sessions = Sessions::default();
        let cookie = sessions.open(signed_in(), 0, 0).unwrap_or_default();
        let session = sessions.find(&cookie, 1);
        let csrf = session.as_ref().map(|s| s.csrf.clone()).unwrap_or_default();
        assert!(session.as_ref().is_some_and(|s| s.is_own_form(Some(&csrf))));
        assert!(session.as_ref().is_some_and(|s| !s.is_own_form(Some("forged")) && !s.is_own_form(None)));
    }

    #[test]
    fn cookies_are_read_by_name_and_set_for_this_origin_only() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; __Host-strongroom-portal=abc"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, SIGN_IN_COOKIE), None);
        let set = set_cookie(SESSION_COOKIE, Some("v")).map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(set.as_deref(), Some("__Host-strongroom-portal=v; Path=/; Secure; HttpOnly; SameSite=Strict"));
    }
}

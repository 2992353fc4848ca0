//! The dashboard's session cookie and its CSRF tokens. Pure: every function takes the key and the time.
//!
//! A session is `ID.EXPIRES.NAME.MAC`: a random id, its expiry in Unix seconds, the name given at login
//! (base64url), and an HMAC-SHA256 of the three under a key derived from the admin token. Any replica with the
//! same token can check a cookie, nobody without the token can make one, and a new token ends every session.
//! Logging out puts the id on the store's list of ended sessions until it would have expired anyway.
//!
//! A session's CSRF token is an HMAC of its id under the same key (with another label), so it needs no
//! storage: each form carries it in a hidden field and every POST must send it back. Before login there is
//! no session: the login form's token is a random nonce that is also set as a short-lived cookie (a double
//! submit).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "afterhours_session";
/// The login form's nonce cookie's name.
pub(crate) const LOGIN_COOKIE: &str = "afterhours_login";
/// The longest name accepted at login, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 64;

/// The key sessions are signed with, derived from the admin token.
#[derive(Clone)]
pub(crate) struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// A session whose cookie checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) expires: DateTime<Utc>,
    /// Who logged in, as they gave their name.
    pub(crate) name: String,
}

impl Key {
    /// The key for `admin_token`: an HMAC of a fixed label, so the cookie key is not the token itself.
    pub(crate) fn from_admin_token(admin_token: &str) -> Self {
        Self(mac(admin_token.as_bytes(), b"afterhours dashboard session key"))
    }

    /// A new session for `name`, from `now` for `lifetime`: the session and its cookie value.
    pub(crate) fn issue(
        &self,
        id: String,
        name: &str,
        now: DateTime<Utc>,
        lifetime: chrono::Duration,
    ) -> (Session, String) {
        let expires = now + lifetime;
        let unsigned = format!("{id}.{}.{}", expires.timestamp(), B64.encode(name.as_bytes()));
        let signature = B64.encode(mac(&self.0, unsigned.as_bytes()));
        let session = Session {
            id,
            expires,
            name: name.to_owned(),
        };
        (session, format!("{unsigned}.{signature}"))
    }

    /// The session a cookie value carries, if it is signed with this key and has not expired at `now`.
    pub(crate) fn verify(&self, value: &str, now: DateTime<Utc>) -> Option<Session> {
        let (unsigned, signature) = value.rsplit_once('.')?;
        let signature = B64.decode(signature).ok()?;
        if !bool::from(mac(&self.0, unsigned.as_bytes()).as_slice().ct_eq(&signature)) {
            return None;
        }
        let mut parts = unsigned.split('.');
        let (id, expires, name) = (parts.next()?, parts.next()?, parts.next()?);
        let expires = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
        let name = String::from_utf8(B64.decode(name).ok()?).ok()?;
        (parts.next().is_none() && now < expires).then(|| Session {
            id: id.to_owned(),
            expires,
            name,
        })
    }

    /// The CSRF token of a session.
    pub(crate) fn csrf_token(&self, session: &Session) -> String {
        B64.encode(mac(&self.0, format!("csrf:{}", session.id).as_bytes()))
    }

    /// Whether `given` is the CSRF token of `session`, compared in constant time.
    pub(crate) fn csrf_ok(&self, session: &Session, given: &str) -> bool {
        bool::from(self.csrf_token(session).as_bytes().ct_eq(given.as_bytes()))
    }
}

/// Whether two nonces (the login form's field and cookie) are the same and not empty, in constant time.
pub(crate) fn nonce_matches(field: &str, cookie: &str) -> bool {
    !field.is_empty() && bool::from(field.as_bytes().ct_eq(cookie.as_bytes()))
}

/// 128 random bits as base64url: a session id or a login nonce. `None` when the system has no randomness to
/// give, in which case nobody can log in.
pub(crate) fn random_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(B64.encode(bytes))
}

/// The name given at login, trimmed, or why it will not do.
pub(crate) fn check_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("your name is required: every change is recorded with it");
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err("a name of at most 64 characters, without control characters");
    }
    Ok(name.to_owned())
}

fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: chrono::Duration = chrono::Duration::hours(12);

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    #[test]
    fn a_cookie_is_good_until_it_expires_and_only_under_its_key() {
        let key = Key::from_admin_token("admin-token");
        let now = at("2026-11-27T20:00:00Z");
        let (session, cookie) = key.issue("abc".into(), "Dana Ops", now, LIFETIME);
        assert_eq!(key.verify(&cookie, now), Some(session.clone()));
        assert_eq!(
            key.verify(&cookie, now + LIFETIME - chrono::Duration::seconds(1)),
            Some(session)
        );
        assert_eq!(key.verify(&cookie, now + LIFETIME), None, "expired");
        assert_eq!(
            Key::from_admin_token("another").verify(&cookie, now),
            None,
            "another token"
        );
        let forged = cookie.replacen("abc", "abd", 1);
        assert_eq!(key.verify(&forged, now), None, "a changed id");
        assert_eq!(key.verify("garbage", now), None);
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let key = Key::from_admin_token("admin-token");
        let now = at("2026-11-27T20:00:00Z");
        let (one, _) = key.issue("one".into(), "A", now, LIFETIME);
        let (two, _) = key.issue("two".into(), "A", now, LIFETIME);
        let token = key.csrf_token(&one);
        assert!(key.csrf_ok(&one, &token));
        assert!(!key.csrf_ok(&two, &token));
        assert!(!key.csrf_ok(&one, ""));
    }

    #[test]
    fn names_are_required_and_short() {
        assert_eq!(check_name("  Dana  "), Ok("Dana".to_owned()));
        assert!(check_name(" ").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name("a\nb").is_err());
        assert!(random_id().is_some_and(|id| id.len() == 22));
    }
}

//! Server-side sessions: a random 256-bit ID in an HttpOnly cookie maps to
//! the user, the handler they act as and the session's CSRF token, kept in
//! memory only (a restart logs everyone out, which is the safe side).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name. Not `__Host-` prefixed: that needs Secure, which
/// plain HTTP on loopback cannot have.
pub const COOKIE: &str = "csirtd_session";

/// Who a request comes from, once authenticated.
#[derive(Debug, Clone)]
pub struct Who {
    pub user: String,
    pub handler: String,
    pub csrf: String,
    /// None when the proxy header authenticated the request.
    pub session: Option<String>,
}

struct Session {
    user: String,
    handler: String,
    csrf: String,
    created: Instant,
    seen: Instant,
    flash: Option<String>,
}

pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    max: Duration,
}

/// 256 random bits from the OS, as hex.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Comparison whose time does not depend on where the inputs differ.
pub fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a session created at `created` and last used at `seen` is still
/// good at `now`. Pure.
pub fn alive(created: Instant, seen: Instant, now: Instant, idle: Duration, max: Duration) -> bool {
    now.saturating_duration_since(seen) < idle && now.saturating_duration_since(created) < max
}

impl Sessions {
    pub fn new(idle: Duration, max: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the map leaves nothing half-written in it.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session; returns its ID.
    pub fn create(&self, user: &str, handler: &str) -> String {
        let now = Instant::now();
        let id = random_token();
        let mut map = self.lock();
        // Expired sessions go at each login: the map stays as small as the team.
        map.retain(|_, s| alive(s.created, s.seen, now, self.idle, self.max));
        map.insert(
            id.clone(),
            Session {
                user: user.to_string(),
                handler: handler.to_string(),
                csrf: random_token(),
                created: now,
                seen: now,
                flash: None,
            },
        );
        id
    }

    /// The session's owner, if it is alive; its idle clock restarts.
    pub fn get(&self, id: &str) -> Option<Who> {
        let now = Instant::now();
        let mut map = self.lock();
        let s = map.get_mut(id)?;
        if !alive(s.created, s.seen, now, self.idle, self.max) {
            map.remove(id);
            return None;
        }
        s.seen = now;
        Some(Who {
            user: s.user.clone(),
            handler: s.handler.clone(),
            csrf: s.csrf.clone(),
            session: Some(id.to_string()),
        })
    }

    pub fn remove(&self, id: &str) -> Option<String> {
        self.lock().remove(id).map(|s| s.user)
    }

    /// A one-line outcome shown on the next page.
    pub fn set_flash(&self, id: &str, text: String) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(text);
        }
    }

    pub fn take_flash(&self, id: &str) -> Option<String> {
        self.lock().get_mut(id).and_then(|s| s.flash.take())
    }
}

/// The session cookie's value among the request's cookies.
pub fn cookie_of(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie_named(headers, COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn cookie_named(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The Set-Cookie value for a session (`id`), or one that clears it.
pub fn set_cookie(id: Option<&str>, secure: bool, max_age: Duration) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            max_age.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The login form's pre-session cookie: a cross-site page cannot read it,
/// and SameSite=Strict keeps it off a cross-site POST, so a forged login
/// (into the attacker's account) lacks it or its token.
pub const LOGIN_COOKIE: &str = "csirtd_login";
/// How long a served login form stays good.
pub const LOGIN_FORM_SECS: u64 = 3600;

/// The token of the login form's hidden field for the cookie value
/// `cookie`: an HMAC under the desk's secret, so that the field is not the
/// cookie (which the page never sees) and no value is forged without the
/// secret. Pure.
pub fn login_token(secret: &[u8], cookie: &str) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        // Any key length is taken; should it not be, no token matches.
        return random_token();
    };
    mac.update(b"csirtd web login\0");
    mac.update(cookie.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A fresh login form at `unix`: the cookie value (`UNIX.RANDOM`) and
/// its field's token.
pub fn login_form_pair(secret: &[u8], unix: u64) -> (String, String) {
    let cookie = format!("{unix}.{}", random_token());
    let token = login_token(secret, &cookie);
    (cookie, token)
}

/// The login cookie `cookie` if a new form may keep using it: well formed
/// and issued less than half of LOGIN_FORM_SECS before `unix`. Another
/// load of the login page (a second tab, or Chromium's favicon request
/// redirected to /login) then does not void the token of the form shown.
/// Pure.
pub fn login_cookie_reusable(cookie: Option<&str>, unix: u64) -> Option<&str> {
    let c = cookie?;
    let issued = login_cookie_issued(c)?;
    (issued <= unix && unix - issued < LOGIN_FORM_SECS / 2).then_some(c)
}

fn login_cookie_issued(cookie: &str) -> Option<u64> {
    cookie
        .split_once('.')
        .filter(|(_, r)| r.len() == 64 && r.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|(t, _)| t.parse::<u64>().ok())
}

/// Whether a login POST comes from a form this desk served: the cookie is
/// well formed and not older than LOGIN_FORM_SECS at `unix`, and `field`
/// is its token (compared in constant time). The reason is for the log.
/// Pure.
pub fn login_form_ok(
    secret: &[u8],
    cookie: Option<&str>,
    field: &str,
    unix: u64,
) -> Result<(), &'static str> {
    let cookie = cookie.ok_or("no login cookie (the form was not served to this browser)")?;
    if field.is_empty() {
        return Err("no token in the form");
    }
    let issued = login_cookie_issued(cookie).ok_or("a malformed login cookie")?;
    if !ct_eq(field, &login_token(secret, cookie)) {
        return Err("the token does not match the login cookie");
    }
    if unix.saturating_sub(issued) > LOGIN_FORM_SECS || issued > unix + 300 {
        return Err("the login form expired");
    }
    Ok(())
}

/// The login cookie's value among the request's cookies.
pub fn login_cookie_of(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie_named(headers, LOGIN_COOKIE).filter(|v| v.len() <= 100)
}

/// The Set-Cookie value for a login form's cookie, or one that clears it.
pub fn set_login_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let (value, age) = match value {
        Some(v) => (v, LOGIN_FORM_SECS),
        None => ("", 0),
    };
    format!("{LOGIN_COOKIE}={value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_needs_the_cookie_and_token_of_one_served_form() {
        let key = b"0123456789abcdef0123456789abcdef";
        let t0 = 1_800_000_000;
        let (cookie, token) = login_form_pair(key, t0);
        assert_eq!(token.len(), 64);
        assert_eq!(login_form_ok(key, Some(&cookie), &token, t0 + 60), Ok(()));
        assert!(login_form_ok(key, None, &token, t0).is_err(), "no cookie");
        assert!(
            login_form_ok(key, Some(&cookie), "", t0).is_err(),
            "no token"
        );
        let (other, other_token) = login_form_pair(key, t0);
        assert!(login_form_ok(key, Some(&cookie), &other_token, t0).is_err());
        assert!(login_form_ok(key, Some(&other), &token, t0).is_err());
        assert!(
            login_form_ok(b"another desk's secret", Some(&cookie), &token, t0).is_err(),
            "another secret"
        );
        assert_eq!(
            login_form_ok(key, Some(&cookie), &token, t0 + LOGIN_FORM_SECS + 1),
            Err("the login form expired")
        );
        assert!(login_form_ok(key, Some("x"), &login_token(key, "x"), t0).is_err());
        assert_eq!(
            login_cookie_reusable(Some(&cookie), t0 + 60),
            Some(cookie.as_str())
        );
        assert_eq!(
            login_cookie_reusable(Some(&cookie), t0 + LOGIN_FORM_SECS / 2),
            None
        );
        assert_eq!(login_cookie_reusable(Some("1.x"), t0), None);
        assert_eq!(login_cookie_reusable(None, t0), None);
        let c = set_login_cookie(Some(&cookie), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(set_login_cookie(None, false).contains("Max-Age=0"));
    }

    #[test]
    fn idle_and_absolute_timeouts() {
        let t0 = Instant::now();
        let (idle, max) = (Duration::from_secs(60), Duration::from_secs(600));
        assert!(alive(t0, t0, t0 + Duration::from_secs(59), idle, max));
        assert!(!alive(t0, t0, t0 + Duration::from_secs(60), idle, max));
        let late = t0 + Duration::from_secs(600);
        assert!(!alive(t0, late, late, idle, max), "absolute limit");
    }

    #[test]
    fn sessions_are_random_and_checked() {
        let s = Sessions::new(Duration::from_secs(60), Duration::from_secs(600));
        let a = s.create("alice", "hanna");
        let b = s.create("alice", "hanna");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        let who = s.get(&a).unwrap();
        assert_eq!(
            (who.user.as_str(), who.handler.as_str()),
            ("alice", "hanna")
        );
        assert_ne!(who.csrf, s.get(&b).unwrap().csrf);
        assert!(s.get(&"0".repeat(64)).is_none());
        s.remove(&a);
        assert!(s.get(&a).is_none());
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("abc", "ab"));
    }

    #[test]
    fn the_cookie_is_strict_and_only_well_formed_ids_are_read() {
        let c = set_cookie(Some("ab"), true, Duration::from_secs(5));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!set_cookie(Some("ab"), false, Duration::from_secs(5)).contains("Secure"));
        let mut h = axum::http::HeaderMap::new();
        let id = "a".repeat(64);
        h.insert("cookie", format!("x=1; {COOKIE}={id}").parse().unwrap());
        assert_eq!(cookie_of(&h), Some(id));
        h.insert("cookie", format!("{COOKIE}=../etc").parse().unwrap());
        assert_eq!(cookie_of(&h), None);
    }
}

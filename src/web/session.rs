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
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Who may use the desk: local accounts (argon2id, optional TOTP) with a
//! rate limit on failures, or a reverse proxy's header, believed only from
//! the configured proxy addresses.

use crate::config::{totp_bytes, WebConfig, WebUserConfig};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The PHC string of `password` with a fresh random salt (argon2id, the
/// crate's defaults: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A hash no password matches: verified for unknown users, so that a
/// wrong name takes as long as a wrong password.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J5pHRV0hJb1H1MUAyRHrCqmmjDgm0kvZ8lpgZeG8ohU";

fn verify_hash(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The 30-second step whose 6-digit TOTP code `code` is, among the step
/// before `unix`, its own and the next (for clock drift). Pure.
pub fn totp_step(secret: &[u8], code: &str, unix: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, secret.to_vec());
    let mut found = None;
    for t in [unix.saturating_sub(30), unix, unix + 30] {
        // Every candidate is compared, so the time does not say which matched.
        if super::session::ct_eq(&totp.generate(t), code) {
            found = Some(t / 30);
        }
    }
    found
}

pub fn totp_ok(secret: &[u8], code: &str, unix: u64) -> bool {
    totp_step(secret, code, unix).is_some()
}

/// The TOTP step each user last logged in with: a code is good once.
#[derive(Default)]
pub struct UsedCodes(Mutex<HashMap<String, u64>>);

impl UsedCodes {
    /// Records `step` for `user`; false if it (or a later one) was used.
    pub fn take(&self, user: &str, step: u64) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let last = map.entry(user.to_ascii_lowercase()).or_insert(0);
        if *last >= step {
            return false;
        }
        *last = step;
        true
    }
}

/// Checks a login (blocking: argon2 takes tens of milliseconds). Returns
/// the account on success; the reason is for the log, never the page.
pub fn check_login<'a>(
    users: &'a [WebUserConfig],
    name: &str,
    password: &str,
    code: &str,
    unix: u64,
) -> Result<(&'a WebUserConfig, Option<u64>), &'static str> {
    let user = users
        .iter()
        .find(|u| u.name.eq_ignore_ascii_case(name.trim()));
    let phc = user.and_then(|u| u.password_hash.as_deref());
    let good = verify_hash(phc.unwrap_or(DUMMY), password);
    let Some(user) = user else {
        return Err("unknown user");
    };
    if phc.is_none() {
        return Err("the account has no password_hash (proxy header only)");
    }
    if !good {
        return Err("wrong password");
    }
    let step = match user.totp_secret.as_deref().and_then(totp_bytes) {
        Some(secret) => Some(totp_step(&secret, code, unix).ok_or("wrong or missing TOTP code")?),
        None => None,
    };
    Ok((user, step))
}

/// What to make of the proxy header on a request from `peer`. Pure.
#[derive(Debug, PartialEq, Eq)]
pub enum Proxied {
    /// No header configured, or none sent.
    Absent,
    /// Sent by a peer that is not a trusted proxy: ignored (and logged).
    Untrusted,
    /// From a trusted proxy: this user.
    User(String),
    /// From a trusted proxy, but names nobody the desk knows.
    Unknown(String),
}

/// The handler a proxy-authenticated `name` acts as: a `[[web.users]]`
/// entry of that name, else a `[[handlers]]` name.
/// Whether a session's user is still a `[[web.users]]` entry acting as
/// the same handler (a reload may have removed or remapped it). Pure.
pub fn still_configured(web: &WebConfig, user: &str, handler: &str) -> bool {
    web.users
        .iter()
        .any(|u| u.name == user && u.handler == handler)
}

pub fn proxied(
    web: &WebConfig,
    handlers: &[String],
    peer: IpAddr,
    value: Option<&str>,
) -> (Proxied, Option<String>) {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return (Proxied::Absent, None);
    };
    if web.proxy_header.is_none() {
        return (Proxied::Absent, None);
    }
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    if !web.proxies().contains(&peer) {
        return (Proxied::Untrusted, None);
    }
    if let Some(u) = web
        .users
        .iter()
        .find(|u| u.name.eq_ignore_ascii_case(value))
    {
        return (Proxied::User(u.name.clone()), Some(u.handler.clone()));
    }
    match handlers.iter().find(|h| h.eq_ignore_ascii_case(value)) {
        Some(h) => (Proxied::User(value.to_string()), Some(h.clone())),
        None => (Proxied::Unknown(value.to_string()), None),
    }
}

/// Failed logins per key (`user:NAME`, `ip:ADDR`) within a window.
pub struct Limiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    max: usize,
    window: Duration,
}

impl Limiter {
    pub fn new(max: u32, window: Duration) -> Limiter {
        Limiter {
            failures: Mutex::new(HashMap::new()),
            max: max as usize,
            window,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any of `keys` used up its failures at `now`.
    pub fn blocked(&self, keys: &[String], now: Instant) -> bool {
        let mut map = self.lock();
        keys.iter().any(|k| match map.get_mut(k) {
            Some(q) => {
                while q
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
                {
                    q.pop_front();
                }
                q.len() >= self.max
            }
            None => false,
        })
    }

    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.lock();
        // Bounded: an address spraying names cannot grow the map forever.
        if map.len() > 100_000 {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < self.window)
            });
        }
        for k in keys {
            let q = map.entry(k.clone()).or_default();
            q.push_back(now);
            while q.len() > self.max {
                q.pop_front();
            }
        }
    }

    pub fn succeeded(&self, user_key: &str) {
        self.lock().remove(user_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        let users = vec![WebUserConfig {
            name: "alice".into(),
            handler: "hanna".into(),
            password_hash: Some(h),
            totp_secret: None,
        }];
        assert!(check_login(&users, "Alice", "correct horse", "", 0).is_ok());
        assert_eq!(
            check_login(&users, "alice", "wrong", "", 0).err(),
            Some("wrong password")
        );
        assert_eq!(
            check_login(&users, "bob", "correct horse", "", 0).err(),
            Some("unknown user")
        );
    }

    #[test]
    fn totp_matches_rfc_6238() {
        // RFC 6238 appendix B, SHA-1: 94287082 at 59 s (6 digits: 287082).
        let secret = b"12345678901234567890";
        assert!(totp_ok(secret, "287082", 59));
        assert!(totp_ok(secret, "287082", 59 + 30), "one step of drift");
        assert!(!totp_ok(secret, "287082", 59 + 90));
        assert!(!totp_ok(secret, "28708", 59));
        assert!(!totp_ok(secret, "", 59));
        assert_eq!(totp_step(secret, "287082", 59), Some(1));
        let used = UsedCodes::default();
        assert!(used.take("alice", 1));
        assert!(!used.take("Alice", 1), "a code is good once");
        assert!(used.take("alice", 2));
    }

    #[test]
    fn the_proxy_header_is_believed_only_from_trusted_peers() {
        let web = WebConfig {
            proxy_header: Some("X-Remote-User".into()),
            trusted_proxies: vec!["127.0.0.2".into()],
            ..WebConfig::default()
        };
        let hs = vec!["hanna".to_string()];
        let trusted: IpAddr = "127.0.0.2".parse().unwrap();
        let other: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            proxied(&web, &hs, trusted, Some("hanna")),
            (Proxied::User("hanna".into()), Some("hanna".into()))
        );
        assert_eq!(
            proxied(&web, &hs, other, Some("hanna")).0,
            Proxied::Untrusted
        );
        assert_eq!(proxied(&web, &hs, trusted, None).0, Proxied::Absent);
        assert_eq!(
            proxied(&web, &hs, trusted, Some("mallory")).0,
            Proxied::Unknown("mallory".into())
        );
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert!(matches!(
            proxied(&web, &hs, mapped, Some("hanna")).0,
            Proxied::User(_)
        ));
        let off = WebConfig::default();
        assert_eq!(
            proxied(&off, &hs, trusted, Some("hanna")).0,
            Proxied::Absent
        );
    }

    #[test]
    fn failures_are_limited_per_key_within_the_window() {
        let l = Limiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let keys = vec!["user:alice".to_string(), "ip:127.0.0.1".to_string()];
        for _ in 0..3 {
            assert!(!l.blocked(&keys, t0));
            l.failed(&keys, t0);
        }
        assert!(l.blocked(&keys, t0));
        assert!(l.blocked(&["ip:127.0.0.1".to_string()], t0));
        assert!(!l.blocked(&["ip:127.0.0.9".to_string()], t0));
        assert!(
            !l.blocked(&keys, t0 + Duration::from_secs(61)),
            "the window passed"
        );
    }
}

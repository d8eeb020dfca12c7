//! `[web]`: the web desk. Off unless `listen` is set. Plain HTTP only on
//! loopback (behind a local TLS proxy or an SSH tunnel); any other address
//! needs `tls_cert` and `tls_key`, because what the desk shows was written
//! by attackers and what it accepts acts as a handler.

use super::{Config, ConfigError};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// `ip:port` to serve the desk on; absent: no listener at all.
    #[serde(default)]
    pub listen: Option<String>,
    /// PEM certificate chain and private key: HTTPS instead of HTTP.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Local accounts, each acting as a configured handler.
    #[serde(default)]
    pub users: Vec<WebUserConfig>,
    /// A reverse proxy's header naming the authenticated user
    /// (`X-Remote-User`); believed only from `trusted_proxies`.
    #[serde(default)]
    pub proxy_header: Option<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// A session ends after this long without a request…
    #[serde(default = "default_idle")]
    pub idle_minutes: u64,
    /// …and this long after the login, whatever happens.
    #[serde(default = "default_max_hours")]
    pub max_hours: u64,
    /// Failed logins per user and per client address within
    /// `login_window_minutes` before further attempts are refused.
    #[serde(default = "default_max_failures")]
    pub login_max_failures: u32,
    #[serde(default = "default_window")]
    pub login_window_minutes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebUserConfig {
    pub name: String,
    /// The `[[handlers]]` name this user acts as.
    pub handler: String,
    /// Argon2id PHC string (`csirtd web passwd NAME`); absent: the user
    /// can only come in through the proxy header.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Base32 TOTP secret (RFC 6238, SHA-1, 6 digits, 30 s).
    #[serde(default)]
    pub totp_secret: Option<String>,
}

fn default_idle() -> u64 {
    30
}
fn default_max_hours() -> u64 {
    12
}
fn default_max_failures() -> u32 {
    5
}
fn default_window() -> u64 {
    15
}

impl WebConfig {
    /// The validated address, if the desk is on.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.as_deref().and_then(|l| l.trim().parse().ok())
    }

    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    pub fn proxies(&self) -> Vec<IpAddr> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| p.trim().parse().ok())
            .collect()
    }

    pub(super) fn resolve_paths(&mut self, fix: &dyn Fn(&mut PathBuf)) {
        if let Some(p) = self.tls_cert.as_mut() {
            fix(p);
        }
        if let Some(p) = self.tls_key.as_mut() {
            fix(p);
        }
    }
}

/// The TOTP secret's bytes, if it is base32 of at least 80 bits. Pure.
pub fn totp_bytes(secret: &str) -> Option<Vec<u8>> {
    let cleaned: String = secret
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    let bytes = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        cleaned.trim_end_matches('='),
    )?;
    (bytes.len() >= 10).then_some(bytes)
}

/// Why the `[web]` table is refused, as (key, problem). Pure.
pub fn problem(w: &WebConfig, handlers: &[String]) -> Option<(String, String)> {
    let bad = |k: &str, p: String| Some((k.to_string(), p));
    let listen = w.listen.as_deref()?;
    let Ok(addr) = listen.trim().parse::<SocketAddr>() else {
        return bad(
            "web.listen",
            format!("`{listen}` is not an address with a port like 127.0.0.1:8443 or [::1]:8443"),
        );
    };
    match (&w.tls_cert, &w.tls_key) {
        (Some(_), None) => return bad("web.tls_key", "tls_cert is set: set tls_key too".into()),
        (None, Some(_)) => return bad("web.tls_cert", "tls_key is set: set tls_cert too".into()),
        (None, None) if !addr.ip().is_loopback() => {
            return bad(
                "web.tls_cert",
                format!(
                    "web.listen `{listen}` is not a loopback address: the desk serves plain HTTP only on \
                     loopback; set web.tls_cert and web.tls_key (PEM files), or listen on 127.0.0.1:{} \
                     behind a TLS proxy",
                    addr.port()
                ),
            )
        }
        _ => {}
    }
    let proxies = w.proxies();
    if proxies.len() != w.trusted_proxies.len() {
        return bad(
            "web.trusted_proxies",
            "each entry must be an IP address such as 127.0.0.1 or ::1".into(),
        );
    }
    match &w.proxy_header {
        Some(h) if h.trim().is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            return bad("web.proxy_header", format!("`{h}` is not a header name like X-Remote-User"))
        }
        Some(_) if proxies.is_empty() => {
            return bad(
                "web.trusted_proxies",
                "proxy_header is set: list the proxy's addresses, the only peers whose header is believed".into(),
            )
        }
        _ => {}
    }
    if w.users.is_empty() && w.proxy_header.is_none() {
        return bad(
            "web.users",
            "web.listen is set but nobody can log in: add a [[web.users]] entry (csirtd web passwd NAME prints its password_hash) or set web.proxy_header".into(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, u) in w.users.iter().enumerate() {
        let key = |k: &str| format!("web.users[{i}].{k}");
        let name = u.name.trim();
        if name.is_empty()
            || name.len() > 64
            || name.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return bad(
                &key("name"),
                format!(
                    "`{}` is not a user name (no spaces, at most 64 characters)",
                    u.name
                ),
            );
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return bad(&key("name"), format!("`{name}` is configured twice"));
        }
        if !handlers.iter().any(|h| h.eq_ignore_ascii_case(&u.handler)) {
            return bad(
                &key("handler"),
                format!(
                    "`{}` is not a configured handler; configured: {} (see [[handlers]] name)",
                    u.handler,
                    if handlers.is_empty() {
                        "none".to_string()
                    } else {
                        handlers.join(", ")
                    }
                ),
            );
        }
        match &u.password_hash {
            Some(h) => {
                let ok = argon2::PasswordHash::new(h)
                    .is_ok_and(|p| p.algorithm == argon2::Algorithm::Argon2id.ident());
                if !ok {
                    return bad(
                        &key("password_hash"),
                        "is not an argon2id PHC string ($argon2id$v=19$…); `csirtd web passwd NAME` prints one".into(),
                    );
                }
            }
            None if w.proxy_header.is_none() => return bad(
                &key("password_hash"),
                "is required unless web.proxy_header is set; `csirtd web passwd NAME` prints one"
                    .into(),
            ),
            None => {}
        }
        if let Some(s) = &u.totp_secret {
            if totp_bytes(s).is_none() {
                return bad(
                    &key("totp_secret"),
                    "must be base32 (RFC 4648) of at least 80 bits, e.g. 32 characters A-Z2-7"
                        .into(),
                );
            }
        }
    }
    if w.idle_minutes == 0 {
        return bad("web.idle_minutes", "must be at least 1".into());
    }
    if w.max_hours == 0 {
        return bad("web.max_hours", "must be at least 1".into());
    }
    if w.login_max_failures == 0 {
        return bad("web.login_max_failures", "must be at least 1".into());
    }
    if w.login_window_minutes == 0 {
        return bad("web.login_window_minutes", "must be at least 1".into());
    }
    None
}

impl Config {
    pub(super) fn validate_web(&self) -> Result<(), ConfigError> {
        let names: Vec<String> = self.handlers.iter().map(|h| h.name.clone()).collect();
        match problem(&self.web, &names) {
            Some((key, p)) => Err(self.invalid(&key, p)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J5pHRV0hJb1H1MUAyRHrCqmmjDgm0kvZ8lpgZeG8ohU";

    fn web(listen: &str) -> WebConfig {
        WebConfig {
            listen: Some(listen.into()),
            users: vec![WebUserConfig {
                name: "alice".into(),
                handler: "hanna".into(),
                password_hash: Some(HASH.into()),
                totp_secret: None,
            }],
            idle_minutes: 30,
            max_hours: 12,
            login_max_failures: 5,
            login_window_minutes: 15,
            ..WebConfig::default()
        }
    }

    fn key_of(w: &WebConfig) -> Option<String> {
        problem(w, &["hanna".into()]).map(|(k, _)| k)
    }

    #[test]
    fn loopback_plain_other_addresses_need_tls() {
        assert_eq!(key_of(&web("127.0.0.1:8080")), None);
        assert_eq!(key_of(&web("[::1]:8080")), None);
        assert_eq!(
            key_of(&web("0.0.0.0:8443")).as_deref(),
            Some("web.tls_cert")
        );
        let mut w = web("0.0.0.0:8443");
        w.tls_cert = Some("c.pem".into());
        assert_eq!(key_of(&w).as_deref(), Some("web.tls_key"));
        w.tls_key = Some("k.pem".into());
        assert_eq!(key_of(&w), None);
        assert_eq!(key_of(&web("localhost")).as_deref(), Some("web.listen"));
        assert_eq!(key_of(&WebConfig::default()), None, "off by default");
    }

    #[test]
    fn users_hashes_totp_and_proxies_are_checked() {
        let mut w = web("127.0.0.1:1");
        w.users[0].handler = "mallory".into();
        assert_eq!(key_of(&w).as_deref(), Some("web.users[0].handler"));
        let mut w = web("127.0.0.1:1");
        w.users[0].password_hash = Some("plaintext".into());
        assert_eq!(key_of(&w).as_deref(), Some("web.users[0].password_hash"));
        let mut w = web("127.0.0.1:1");
        w.users[0].totp_secret = Some("not base32!".into());
        assert_eq!(key_of(&w).as_deref(), Some("web.users[0].totp_secret"));
        w.users[0].totp_secret = Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into());
        assert_eq!(key_of(&w), None);
        let mut w = web("127.0.0.1:1");
        w.proxy_header = Some("X-Remote-User".into());
        assert_eq!(key_of(&w).as_deref(), Some("web.trusted_proxies"));
        w.trusted_proxies = vec!["127.0.0.2".into()];
        assert_eq!(key_of(&w), None);
        w.trusted_proxies = vec!["proxy.example".into()];
        assert_eq!(key_of(&w).as_deref(), Some("web.trusted_proxies"));
        let mut w = web("127.0.0.1:1");
        w.users.clear();
        assert_eq!(key_of(&w).as_deref(), Some("web.users"));
    }
}

//! `[auth]`: sender authentication of incoming mail (DKIM, SPF, DMARC).
//! Kept out of `config.rs` like the roles, so that sections of other issues
//! stay easy to merge.

use super::{Config, ConfigError};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Nothing is checked; tickets record "sender authentication off".
    #[default]
    Off,
    /// csirtd verifies DKIM, SPF and DMARC itself over DNS.
    Verify,
    /// csirtd reads the receiving MTA's topmost Authentication-Results.
    TrustedResults,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub mode: AuthMode,
    /// The receiving MTA's authserv-id (the first word of its
    /// Authentication-Results). Required for `trusted-results`.
    #[serde(default)]
    pub authserv_id: Option<String>,
    /// `ip:port` of the DNS resolvers for `verify`; empty = resolv.conf.
    #[serde(default)]
    pub resolvers: Vec<String>,
    #[serde(default = "default_auth_timeout")]
    pub timeout_secs: u64,
    /// Which Received header is the receiving MTA's (0 = topmost).
    #[serde(default)]
    pub received_hop: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::Off,
            authserv_id: None,
            resolvers: Vec::new(),
            timeout_secs: default_auth_timeout(),
            received_hop: 0,
        }
    }
}

fn default_auth_timeout() -> u64 {
    5
}

impl AuthConfig {
    /// The resolvers as addresses; entries that do not parse are left out
    /// (validation has refused them already).
    pub fn resolver_addrs(&self) -> Vec<SocketAddr> {
        self.resolvers
            .iter()
            .filter_map(|r| r.trim().parse().ok())
            .collect()
    }
}

impl Config {
    pub(super) fn validate_auth(&self) -> Result<(), ConfigError> {
        let a = &self.auth;
        if a.mode == AuthMode::TrustedResults {
            let id = a.authserv_id.as_deref().unwrap_or("").trim();
            if id.is_empty() {
                return Err(self.invalid(
                    "auth.authserv_id",
                    "mode = \"trusted-results\" needs the receiving MTA's authserv-id, the first \
                     word of the Authentication-Results it writes (e.g. authserv_id = \"mx.cert.example\")",
                ));
            }
            let ok = id.len() <= 253
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if !ok {
                return Err(self.invalid(
                    "auth.authserv_id",
                    format!("`{id}` is not a host name like mx.cert.example"),
                ));
            }
        }
        for (i, r) in a.resolvers.iter().enumerate() {
            if r.trim().parse::<SocketAddr>().is_err() {
                return Err(self.invalid(
                    &format!("auth.resolvers[{i}]"),
                    format!("`{r}` is not an address with a port like 127.0.0.1:53 or [::1]:53"),
                ));
            }
        }
        if a.timeout_secs == 0 || a.timeout_secs > 60 {
            return Err(self.invalid("auth.timeout_secs", "must be between 1 and 60"));
        }
        if a.received_hop > 20 {
            return Err(self.invalid(
                "auth.received_hop",
                "must be at most 20 (0 is the topmost Received header)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const MINIMAL: &str = "[team]\nname = \"CERT Example\"\naddress = \"cert@cert.example\"\n\
        tag = \"CERT-EX\"\ndomain = \"cert.example\"\n[store]\npath = \"store\"\n\
        [outbox]\ntransport = \"file\"\n[outbox.file]\ndir = \"outbox\"\n";

    fn load(auth: &str) -> Result<Config, ConfigError> {
        Config::from_toml(&format!("{MINIMAL}[auth]\n{auth}"), Path::new("c.toml"))
    }

    #[test]
    fn off_by_default() {
        let c = Config::from_toml(MINIMAL, Path::new("c.toml")).expect("loads");
        assert_eq!(c.auth.mode, AuthMode::Off);
        assert_eq!(c.auth.timeout_secs, 5);
        assert_eq!(c.auth.received_hop, 0);
        assert!(c.auth.resolvers.is_empty());
    }

    #[test]
    fn modes_and_their_keys() {
        let c = load(
            "mode = \"verify\"\nresolvers = [\"127.0.0.1:5353\", \"[::1]:53\"]\ntimeout_secs = 3",
        )
        .expect("verify loads");
        assert_eq!(c.auth.mode, AuthMode::Verify);
        assert_eq!(c.auth.resolver_addrs().len(), 2);
        let c = load("mode = \"trusted-results\"\nauthserv_id = \"mx.cert.example\"")
            .expect("trusted loads");
        assert_eq!(c.auth.mode, AuthMode::TrustedResults);

        let err = load("mode = \"trusted-results\"").unwrap_err().to_string();
        assert!(
            err.contains("auth.authserv_id") && err.contains("authserv_id = "),
            "{err}"
        );
        let err = load("mode = \"trusted-results\"\nauthserv_id = \"mx; dkim=pass\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.authserv_id"), "{err}");
        let err = load("mode = \"verify\"\nresolvers = [\"127.0.0.1\"]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.resolvers[0]"), "{err}");
        let err = load("timeout_secs = 0").unwrap_err().to_string();
        assert!(err.contains("auth.timeout_secs"), "{err}");
        let err = load("mode = \"check\"").unwrap_err().to_string();
        assert!(err.contains("mode"), "{err}");
        let err = load("resolver = []").unwrap_err().to_string();
        assert!(err.contains("resolver"), "{err}");
    }
}

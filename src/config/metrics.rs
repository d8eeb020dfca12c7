//! `[metrics]`: the Prometheus and health endpoints. Off unless `listen`
//! is set; kept on loopback unless the operator says otherwise, because
//! the endpoints have no authentication.

use super::{Config, ConfigError};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `ip:port` to serve `/metrics`, `/healthz` and `/readyz` on.
    #[serde(default)]
    pub listen: Option<String>,
    /// Allows a `listen` address other than loopback.
    #[serde(default)]
    pub allow_remote: bool,
    /// `/readyz` reports the outbox stuck when a queued entry has been
    /// failing for this long and nothing was delivered meanwhile.
    #[serde(default = "default_stuck_after")]
    pub stuck_after_minutes: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            allow_remote: false,
            stuck_after_minutes: default_stuck_after(),
        }
    }
}

fn default_stuck_after() -> u64 {
    30
}

impl MetricsConfig {
    /// The validated address to listen on, if the endpoints are on.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.as_deref().and_then(|l| l.trim().parse().ok())
    }
}

/// Why `listen` is refused, if it is: pure, for the tests.
pub fn check_listen(listen: &str, allow_remote: bool) -> Result<SocketAddr, String> {
    let addr: SocketAddr = listen.trim().parse().map_err(|_| {
        format!("`{listen}` is not an address with a port like 127.0.0.1:9464 or [::1]:9464")
    })?;
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "`{listen}` is not a loopback address, and the metrics and health endpoints have no \
             authentication; listen on 127.0.0.1:{port} (and scrape through a proxy or tunnel), or \
             set metrics.allow_remote = true and restrict the port with a firewall",
            port = addr.port()
        ));
    }
    Ok(addr)
}

impl Config {
    pub(super) fn validate_metrics(&self) -> Result<(), ConfigError> {
        let m = &self.metrics;
        if let Some(listen) = &m.listen {
            check_listen(listen, m.allow_remote).map_err(|p| self.invalid("metrics.listen", p))?;
        }
        if m.stuck_after_minutes == 0 {
            return Err(self.invalid(
                "metrics.stuck_after_minutes",
                "must be at least 1 (minutes a queued mail may keep failing before /readyz reports the outbox stuck)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_taken_and_remote_only_when_allowed() {
        assert!(check_listen("127.0.0.1:9464", false).is_ok());
        assert!(check_listen("[::1]:9464", false).is_ok());
        assert!(check_listen("127.0.0.2:1", false).is_ok());
        let e = check_listen("0.0.0.0:9464", false).unwrap_err();
        assert!(e.contains("allow_remote"), "{e}");
        assert!(check_listen("0.0.0.0:9464", true).is_ok());
        assert!(check_listen("192.0.2.1:9464", false).is_err());
        let e = check_listen("localhost", false).unwrap_err();
        assert!(e.contains("with a port"), "{e}");
    }
}

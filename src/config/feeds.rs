//! `[[feeds]]`: the machine-report senders the team trusts. A Shadowserver,
//! ARF, X-ARF, IODEF or ACNS report opens grouped constituency tickets and
//! notifies constituents only when it comes from a declared feed and proves
//! it (a DKIM pass for the feed's domain, or a good OpenPGP signature by the
//! feed's key). Anyone can attach a CSV named like a Shadowserver report.

use super::{normalize_fingerprint, Config, ConfigError};
use serde::Deserialize;
use std::fmt;

/// The machine-report formats csirtd parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Shadowserver,
    Arf,
    Xarf,
    Iodef,
    Acns,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Shadowserver => "shadowserver",
            ReportFormat::Arf => "arf",
            ReportFormat::Xarf => "xarf",
            ReportFormat::Iodef => "iodef",
            ReportFormat::Acns => "acns",
        }
    }
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a trusted feed's reports may send to constituents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedNotify {
    /// As configured for the constituency (and as TLP allows).
    #[default]
    Auto,
    /// Composed and kept in the outbox until a handler releases them.
    Hold,
    /// Tickets only; nobody outside the team is told.
    Never,
}

impl FeedNotify {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedNotify::Auto => "auto",
            FeedNotify::Hold => "hold",
            FeedNotify::Never => "never",
        }
    }
}

/// `[notifications]`: how many notifications one constituency contact
/// gets per window. Past that, a report's notification is not composed
/// (a `held` event on its ticket says so): one mail with 64 reports, or a
/// feed gone wild, must not flood a constituent under the team's name.
/// `digest_at`: when the daily digests (`digest = true` on a
/// constituency) go out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    #[serde(default = "default_contact_limit")]
    pub rate_limit: u32,
    #[serde(default = "default_contact_window")]
    pub rate_window_secs: u64,
    /// `HH:MM`, UTC.
    #[serde(default = "default_digest_at")]
    pub digest_at: String,
}

fn default_digest_at() -> String {
    "06:00".into()
}

/// `HH:MM` (24-hour clock) as a time of day; None for anything else.
pub fn parse_time_of_day(s: &str) -> Option<time::Time> {
    let (h, m) = s.trim().split_once(':')?;
    let digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    time::Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
}

impl NotificationsConfig {
    /// The digest time; the default where the value is not a time
    /// (validation refuses such a configuration before this is asked).
    pub fn digest_time(&self) -> time::Time {
        parse_time_of_day(&self.digest_at).unwrap_or(time::macros::time!(06:00))
    }
}

fn default_contact_limit() -> u32 {
    20
}

fn default_contact_window() -> u64 {
    3600
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            rate_limit: default_contact_limit(),
            rate_window_secs: default_contact_window(),
            digest_at: default_digest_at(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub name: String,
    /// The From address (`autoreports@shadowserver.org`) or a domain
    /// (`shadowserver.org`, which also covers its subdomains).
    pub sender: String,
    /// The feed proves itself with a DKIM pass by this domain (`d=`, or a
    /// subdomain of it) ...
    #[serde(default)]
    pub dkim_domain: Option<String>,
    /// ... or with a good OpenPGP signature by this key (hex fingerprint).
    #[serde(default)]
    pub pgp_fingerprint: Option<String>,
    /// The formats it sends; a report in another format is not the feed's.
    pub formats: Vec<ReportFormat>,
    #[serde(default)]
    pub notify: FeedNotify,
}

impl FeedConfig {
    /// The sender in lower case without a leading `@`.
    pub fn sender_lower(&self) -> String {
        self.sender
            .trim()
            .trim_start_matches('@')
            .to_ascii_lowercase()
    }

    pub fn fingerprint_hex(&self) -> Option<String> {
        self.pgp_fingerprint.as_deref().map(normalize_fingerprint)
    }
}

fn is_domain(d: &str) -> bool {
    let d = d.trim_end_matches('.');
    d.contains('.')
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl Config {
    pub(super) fn validate_feeds(&self) -> Result<(), ConfigError> {
        if self.notifications.rate_window_secs == 0 {
            return Err(self.invalid(
                "notifications.rate_window_secs",
                "must be at least 1 (seconds); 3600 is an hour",
            ));
        }
        if parse_time_of_day(&self.notifications.digest_at).is_none() {
            return Err(self.invalid(
                "notifications.digest_at",
                format!(
                    "`{}` is not a time of day: write hours and minutes in UTC, like digest_at = \"06:00\"",
                    self.notifications.digest_at
                ),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, f) in self.feeds.iter().enumerate() {
            let key = |k: &str| format!("feeds[{i}].{k}");
            if f.name.trim().is_empty() || !names.insert(f.name.trim().to_ascii_lowercase()) {
                return Err(self.invalid(
                    &key("name"),
                    format!(
                        "`{}` must be a non-empty name used by one feed only",
                        f.name
                    ),
                ));
            }
            let sender = f.sender_lower();
            let sender_ok = match sender.rsplit_once('@') {
                Some((local, domain)) => !local.is_empty() && is_domain(domain),
                None => is_domain(&sender),
            };
            if !sender_ok {
                return Err(self.invalid(
                    &key("sender"),
                    format!(
                        "`{}` is neither an address (autoreports@shadowserver.org) nor a domain (shadowserver.org)",
                        f.sender
                    ),
                ));
            }
            match (&f.dkim_domain, &f.pgp_fingerprint) {
                (None, None) => {
                    return Err(self.invalid(
                        &key("dkim_domain"),
                        "a feed must say how it proves itself: set dkim_domain (with [auth] mode verify or trusted-results) or pgp_fingerprint",
                    ))
                }
                (Some(d), _) if !is_domain(d.trim_start_matches('@')) => {
                    return Err(self.invalid(
                        &key("dkim_domain"),
                        format!("`{d}` is not a domain like shadowserver.org"),
                    ))
                }
                _ => {}
            }
            if let Some(fp) = f.fingerprint_hex() {
                if !(fp.len() == 40 || fp.len() == 64) || !fp.chars().all(|c| c.is_ascii_hexdigit())
                {
                    return Err(self.invalid(
                        &key("pgp_fingerprint"),
                        "must be the key's full fingerprint in hex (40 or 64 digits), as `gpg --fingerprint` prints it",
                    ));
                }
            }
            if f.formats.is_empty() {
                return Err(self.invalid(
                    &key("formats"),
                    "list the formats the feed sends: shadowserver, arf, xarf, iodef, acns",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(feeds: &str) -> Result<Config, ConfigError> {
        let toml = format!(
            "[team]\nname = \"T\"\naddress = \"cert@cert.example\"\ntag = \"CERT-EX\"\ndomain = \"cert.example\"\n\
             [store]\npath = \"/tmp/x\"\n[outbox]\ntransport = \"file\"\n[outbox.file]\ndir = \"/tmp/o\"\n{feeds}"
        );
        Config::from_toml(&toml, std::path::Path::new("/etc/csirtd.toml"))
    }

    #[test]
    fn a_feed_is_read_with_its_proof_and_formats() {
        let c = load(
            "[[feeds]]\nname = \"shadowserver\"\nsender = \"@Shadowserver.org\"\n\
             dkim_domain = \"shadowserver.org\"\nformats = [\"shadowserver\"]\nnotify = \"hold\"\n",
        )
        .unwrap();
        let f = &c.feeds[0];
        assert_eq!(f.sender_lower(), "shadowserver.org");
        assert_eq!(f.formats, vec![ReportFormat::Shadowserver]);
        assert_eq!(f.notify, FeedNotify::Hold);
    }

    #[test]
    fn a_feed_without_proof_or_formats_is_refused_by_key() {
        let e = load("[[feeds]]\nname = \"x\"\nsender = \"x.example\"\nformats = [\"arf\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("feeds[0].dkim_domain"), "{e}");
        let e = load(
            "[[feeds]]\nname = \"x\"\nsender = \"x.example\"\ndkim_domain = \"x.example\"\nformats = []\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("feeds[0].formats"), "{e}");
        let e = load(
            "[[feeds]]\nname = \"x\"\nsender = \"not a sender\"\ndkim_domain = \"x.example\"\nformats = [\"arf\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("feeds[0].sender"), "{e}");
        let e = load(
            "[[feeds]]\nname = \"x\"\nsender = \"x.example\"\npgp_fingerprint = \"ABCD\"\nformats = [\"arf\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("feeds[0].pgp_fingerprint"), "{e}");
        assert!(load(
            "[[feeds]]\nname = \"x\"\nsender = \"x.example\"\ndkim_domain = \"x.example\"\nformats = [\"csv\"]\n",
        )
        .is_err());
    }

    #[test]
    fn the_digest_time_is_hours_and_minutes_or_refused_by_key() {
        let c = load("").unwrap();
        assert_eq!(c.notifications.digest_time(), time::macros::time!(06:00));
        let c = load("[notifications]\ndigest_at = \"23:45\"\n").unwrap();
        assert_eq!(c.notifications.digest_time(), time::macros::time!(23:45));
        for bad in ["6:00", "24:00", "06:60", "06:00:00", "noon", "", "０6:00"] {
            let e = load(&format!("[notifications]\ndigest_at = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("notifications.digest_at"), "{bad}: {e}");
            assert!(e.contains("\"06:00\""), "{bad}: {e}");
        }
    }
}

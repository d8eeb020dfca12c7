//! `[retention]` (issue 16): how long tickets keep their mail and personal
//! data, per status, and when the daemon purges. Off unless an age is set.

use super::{Config, ConfigError};
use crate::model::Status;
use serde::Deserialize;

/// Whether a purged ticket keeps its indicators (IP addresses, domains,
/// URLs, hashes) for correlation. Email addresses are personal data and
/// go either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndicatorPolicy {
    #[default]
    Keep,
    Drop,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days after its last change that a ticket of this status expires;
    /// a status without an age is never purged.
    pub new_days: Option<u32>,
    pub open_days: Option<u32>,
    pub stalled_days: Option<u32>,
    pub resolved_days: Option<u32>,
    pub rejected_days: Option<u32>,
    #[serde(default)]
    pub indicators: IndicatorPolicy,
    /// `HH:MM` UTC: the daemon purges daily at this time. None: only
    /// `csirtd purge` does.
    pub purge_at: Option<String>,
}

impl RetentionConfig {
    /// The age in days after which a ticket of `status` expires.
    pub fn days(&self, status: Status) -> Option<u32> {
        match status {
            Status::New => self.new_days,
            Status::Open => self.open_days,
            Status::Stalled => self.stalled_days,
            Status::Resolved => self.resolved_days,
            Status::Rejected => self.rejected_days,
        }
    }

    /// Whether any status has an age: retention is on.
    pub fn enabled(&self) -> bool {
        [
            Status::New,
            Status::Open,
            Status::Stalled,
            Status::Resolved,
            Status::Rejected,
        ]
        .into_iter()
        .any(|s| self.days(s).is_some())
    }

    /// The daily purge time, if the daemon is to purge.
    pub fn purge_time(&self) -> Option<time::Time> {
        self.purge_at
            .as_deref()
            .and_then(super::feeds::parse_time_of_day)
    }
}

/// More than a century is a typo, not a policy.
const MAX_DAYS: u32 = 36_500;

impl Config {
    pub(super) fn validate_retention(&self) -> Result<(), ConfigError> {
        let r = &self.retention;
        for (key, days) in [
            ("new_days", r.new_days),
            ("open_days", r.open_days),
            ("stalled_days", r.stalled_days),
            ("resolved_days", r.resolved_days),
            ("rejected_days", r.rejected_days),
        ] {
            if days.is_some_and(|d| d > MAX_DAYS) {
                return Err(self.invalid(
                    &format!("retention.{key}"),
                    format!("at most {MAX_DAYS} days; leave it out to keep such tickets for ever"),
                ));
            }
        }
        if let Some(at) = &r.purge_at {
            if super::feeds::parse_time_of_day(at).is_none() {
                return Err(self.invalid(
                    "retention.purge_at",
                    format!("`{at}` is not a time of day: write hours and minutes in UTC, like purge_at = \"03:30\""),
                ));
            }
            if !r.enabled() {
                return Err(self.invalid(
                    "retention.purge_at",
                    "a daily purge needs an age: set resolved_days (and rejected_days, …) in [retention]",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    use crate::config::TEST_BASE as BASE;

    fn load(extra: &str) -> Result<Config, String> {
        Config::from_toml(&format!("{BASE}{extra}"), Path::new("/etc/csirtd.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn off_unless_an_age_is_set() {
        let c = load("").unwrap();
        assert!(!c.retention.enabled());
        let c =
            load("[retention]\nresolved_days = 365\nindicators = \"drop\"\npurge_at = \"03:30\"\n")
                .unwrap();
        assert!(c.retention.enabled());
        assert_eq!(c.retention.days(crate::model::Status::Resolved), Some(365));
        assert_eq!(c.retention.days(crate::model::Status::Open), None);
        assert_eq!(c.retention.indicators, super::IndicatorPolicy::Drop);
        assert_eq!(c.retention.purge_time(), Some(time::macros::time!(03:30)));
    }

    #[test]
    fn mistakes_name_their_key() {
        let e = load("[retention]\nresolved_days = 365\npurge_at = \"3am\"\n").unwrap_err();
        assert!(e.contains("retention.purge_at"), "{e}");
        let e = load("[retention]\npurge_at = \"03:00\"\n").unwrap_err();
        assert!(
            e.contains("retention.purge_at") && e.contains("resolved_days"),
            "{e}"
        );
        let e = load("[retention]\nrejected_days = 99999\n").unwrap_err();
        assert!(e.contains("retention.rejected_days"), "{e}");
        let e = load("[retention]\nresolved_days = -1\n").unwrap_err();
        assert!(e.contains("resolved_days"), "{e}");
        let e = load("[retention]\nindicators = \"maybe\"\n").unwrap_err();
        assert!(e.contains("indicators"), "{e}");
    }
}

//! `[sla]`: how soon a ticket must get its first handler reply and be
//! resolved, by default and per category or TLP. Absent keys set no
//! target; the computation itself is `workflow::sla`, pure.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Longest target accepted: anything beyond is a typo (hours for days).
const MAX_HOURS: u64 = 24 * 3650;
const MAX_DAYS: u64 = 3650;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    /// A handler's first reply (relayed handler mail) within this many
    /// hours of the ticket's creation.
    #[serde(default)]
    pub first_reply_hours: Option<u64>,
    /// Resolved (or rejected) within this many days of its creation.
    #[serde(default)]
    pub resolve_days: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// The default targets.
    #[serde(default)]
    pub first_reply_hours: Option<u64>,
    #[serde(default)]
    pub resolve_days: Option<u64>,
    /// Per RSIT category (`fraud`) or category/type (`fraud/phishing`).
    #[serde(default)]
    pub category: BTreeMap<String, SlaTargets>,
    /// Per TLP (`clear`, `green`, `amber`, `amber+strict`, `red`).
    #[serde(default)]
    pub tlp: BTreeMap<String, SlaTargets>,
    /// When (HH:MM UTC) each handler gets the daily queue digest: overdue
    /// tickets, their own open ones, new unassigned ones. Unset: none.
    #[serde(default)]
    pub digest_at: Option<String>,
}

impl SlaConfig {
    pub fn defaults(&self) -> SlaTargets {
        SlaTargets {
            first_reply_hours: self.first_reply_hours,
            resolve_days: self.resolve_days,
        }
    }

    /// The handlers' digest time, if one is set (and valid: validation
    /// refuses any other before this is asked).
    pub fn digest_time(&self) -> Option<time::Time> {
        self.digest_at
            .as_deref()
            .and_then(super::feeds::parse_time_of_day)
    }

    /// Whether any target is configured at all.
    pub fn is_set(&self) -> bool {
        self.first_reply_hours.is_some()
            || self.resolve_days.is_some()
            || !self.category.is_empty()
            || !self.tlp.is_empty()
    }

    /// The first key that is wrong and why, for `Config::validate`.
    pub fn problem(&self) -> Option<(String, String)> {
        let defaults = self.defaults();
        let targets = std::iter::once(("sla".to_string(), &defaults))
            .chain(
                self.category
                    .iter()
                    .map(|(k, t)| (format!("sla.category.\"{k}\""), t)),
            )
            .chain(self.tlp.iter().map(|(k, t)| (format!("sla.tlp.{k}"), t)));
        for (at, t) in targets {
            if let Some(h) = t.first_reply_hours {
                if h == 0 || h > MAX_HOURS {
                    return Some((
                        format!("{at}.first_reply_hours"),
                        format!("{h} must be between 1 and {MAX_HOURS} hours"),
                    ));
                }
            }
            if let Some(d) = t.resolve_days {
                if d == 0 || d > MAX_DAYS {
                    return Some((
                        format!("{at}.resolve_days"),
                        format!("{d} must be between 1 and {MAX_DAYS} days"),
                    ));
                }
            }
        }
        if let Some(at) = &self.digest_at {
            if super::feeds::parse_time_of_day(at).is_none() {
                return Some((
                    "sla.digest_at".into(),
                    format!("{at:?} is not a time of day: expected HH:MM (UTC), e.g. \"07:30\""),
                ));
            }
        }
        for k in self.category.keys() {
            if let Err(e) = crate::analysis::classify::parse_category(k) {
                return Some((format!("sla.category.\"{k}\""), e.to_string()));
            }
        }
        for k in self.tlp.keys() {
            if crate::workflow::commands::Tlp::parse(k).is_none() {
                return Some((
                    format!("sla.tlp.{k}"),
                    "is not a TLP (clear, green, amber, \"amber+strict\", red)".into(),
                ));
            }
        }
        None
    }
}

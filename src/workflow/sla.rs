//! SLA due dates: when a ticket's first handler reply and its resolution
//! are due, and whether either is late. Pure, so that the rules are tested
//! without a store or a clock.

use crate::config::SlaConfig;
use crate::config::SlaTargets;
use crate::model::Status;
use crate::workflow::commands::Tlp;
use time::{Duration, OffsetDateTime};

/// What the rules need to know about a ticket.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub created: OffsetDateTime,
    /// The first relayed handler reply, if any.
    pub first_reply: Option<OffsetDateTime>,
    pub status: Status,
    /// `fraud` or `fraud/phishing`.
    pub category: Option<&'a str>,
    pub tlp: Option<Tlp>,
}

/// A target not yet met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at: OffsetDateTime,
    pub overdue: bool,
}

/// The targets still open; None where no target is configured or the
/// target was met (a handler replied; the ticket is resolved or rejected).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    pub first_reply: Option<Deadline>,
    pub resolve: Option<Deadline>,
}

impl Due {
    pub fn overdue(&self) -> bool {
        self.first_reply.is_some_and(|d| d.overdue) || self.resolve.is_some_and(|d| d.overdue)
    }
}

/// The targets that apply: each the strictest of the default, the
/// category's (its category and its category/type), and the TLP's, so that
/// a RED phishing report gets the shorter of both.
pub fn targets(cfg: &SlaConfig, category: Option<&str>, tlp: Option<Tlp>) -> SlaTargets {
    let defaults = cfg.defaults();
    let mut applies: Vec<&SlaTargets> = vec![&defaults];
    if let Some(c) = category {
        let c = c.to_ascii_lowercase();
        let top = c.split('/').next().unwrap_or(&c).to_string();
        for (k, t) in &cfg.category {
            let k = k.to_ascii_lowercase();
            if k == c || k == top {
                applies.push(t);
            }
        }
    }
    if let Some(level) = tlp {
        for (k, t) in &cfg.tlp {
            if Tlp::parse(k) == Some(level) {
                applies.push(t);
            }
        }
    }
    SlaTargets {
        first_reply_hours: applies.iter().filter_map(|t| t.first_reply_hours).min(),
        resolve_days: applies.iter().filter_map(|t| t.resolve_days).min(),
    }
}

pub fn due(cfg: &SlaConfig, f: &Facts<'_>, now: OffsetDateTime) -> Due {
    let t = targets(cfg, f.category, f.tlp);
    let closed = matches!(f.status, Status::Resolved | Status::Rejected);
    let deadline = |after: Duration| {
        let at = f.created.saturating_add(after);
        Deadline {
            at,
            overdue: now > at,
        }
    };
    Due {
        first_reply: t
            .first_reply_hours
            .filter(|_| f.first_reply.is_none() && !closed)
            .map(|h| deadline(Duration::hours(h as i64))),
        resolve: t
            .resolve_days
            .filter(|_| !closed)
            .map(|d| deadline(Duration::days(d as i64))),
    }
}

/// The SLA state of a ticket as the list index summarises it.
pub fn due_of_summary(
    cfg: &SlaConfig,
    s: &crate::store::summary::TicketSummary,
    now: OffsetDateTime,
) -> Due {
    let at =
        |secs: i64| OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    due(
        cfg,
        &Facts {
            created: at(s.created),
            first_reply: s.first_reply.map(at),
            status: s.status,
            category: s.category.as_deref(),
            tlp: s.tlp,
        },
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg() -> SlaConfig {
        let mut category = BTreeMap::new();
        category.insert(
            "fraud".to_string(),
            SlaTargets {
                first_reply_hours: Some(4),
                resolve_days: None,
            },
        );
        let mut tlp = BTreeMap::new();
        tlp.insert(
            "red".to_string(),
            SlaTargets {
                first_reply_hours: Some(2),
                resolve_days: Some(3),
            },
        );
        SlaConfig {
            first_reply_hours: Some(24),
            resolve_days: Some(30),
            category,
            tlp,
            digest_at: None,
        }
    }

    fn facts(status: Status) -> Facts<'static> {
        Facts {
            created: OffsetDateTime::UNIX_EPOCH,
            first_reply: None,
            status,
            category: None,
            tlp: None,
        }
    }

    #[test]
    fn the_default_applies_and_is_late_only_after_its_time() {
        let c = cfg();
        let f = facts(Status::Open);
        let at = OffsetDateTime::UNIX_EPOCH + Duration::hours(24);
        let d = due(&c, &f, at);
        assert_eq!(d.first_reply.map(|d| d.at), Some(at));
        assert!(!d.overdue());
        assert!(due(&c, &f, at + Duration::seconds(1)).overdue());
    }

    #[test]
    fn the_strictest_of_category_and_tlp_wins() {
        let c = cfg();
        let mut f = facts(Status::Open);
        f.category = Some("fraud/phishing");
        assert_eq!(targets(&c, f.category, None).first_reply_hours, Some(4));
        assert_eq!(targets(&c, f.category, None).resolve_days, Some(30));
        f.tlp = Some(Tlp::Red);
        let t = targets(&c, f.category, f.tlp);
        assert_eq!((t.first_reply_hours, t.resolve_days), (Some(2), Some(3)));
        assert_eq!(
            targets(&c, Some("vulnerable"), None).first_reply_hours,
            Some(24)
        );
    }

    #[test]
    fn a_reply_or_a_resolution_ends_what_it_meets() {
        let c = cfg();
        let late = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
        let mut f = facts(Status::Open);
        f.first_reply = Some(OffsetDateTime::UNIX_EPOCH + Duration::hours(1));
        let d = due(&c, &f, late);
        assert_eq!(d.first_reply, None);
        assert!(d.resolve.is_some_and(|d| d.overdue));
        for s in [Status::Resolved, Status::Rejected] {
            assert_eq!(due(&c, &facts(s), late), Due::default());
        }
        assert_eq!(
            due(&SlaConfig::default(), &facts(Status::New), late),
            Due::default()
        );
    }
}

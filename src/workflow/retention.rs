//! Retention (issue 16): which tickets have expired, and what of them a
//! purge keeps. Pure: ticket facts and the configuration in, verdicts and
//! redacted records out; `store::purge` does the writing.
//!
//! A tombstone keeps what statistics read (dates, status, category,
//! constituencies, TLP, counts, flags, message hashes and sizes, the kind
//! and time of every event, the status changes and the team's own
//! outgoing Message-IDs, which name no person) and nothing a person could
//! be found by: no address, name, subject, body or header.

use crate::analysis::indicators::{Found, Kind};
use crate::config::{IndicatorPolicy, RetentionConfig};
use crate::model::{Direction, Event, EventKind, Status, TicketId};
use crate::store::{MessageRecord, TicketRecord};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// What replaces removed text.
pub const PURGED: &str = "[purged]";

/// What the decision needs to know of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub id: TicketId,
    pub status: Status,
    /// Retention counts from the last change (a resolution is one).
    pub updated_at: OffsetDateTime,
    /// The reason of a legal hold.
    pub hold: Option<String>,
    pub purged: bool,
    /// Outgoing mail not yet sent or given up (queued, sealing, awaiting
    /// release): its bytes are still needed.
    pub pending_mail: bool,
    /// Incident, reports, merges: tickets handled together.
    pub links: Vec<TicketId>,
}

impl Facts {
    pub fn of(t: &TicketRecord, pending_mail: bool) -> Facts {
        let h = &t.handling;
        let mut links: Vec<TicketId> = h.reports.iter().chain(&h.merged).copied().collect();
        links.extend(h.incident);
        links.extend(h.merged_into);
        Facts {
            id: t.id,
            status: t.status,
            updated_at: t.updated_at,
            hold: t.hold.as_ref().map(|h| h.reason.clone()),
            purged: t.purged_at.is_some(),
            pending_mail,
            links,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Expired: purge it.
    Purge,
    /// Purged before.
    Purged,
    /// Expired, but a legal hold keeps it.
    Held(String),
    /// Expired, but a ticket handled with it is not: the incident and its
    /// reports, or merged tickets, go together or not at all.
    Linked { to: TicketId, why: String },
    /// Expired, but mail of it still waits to go out.
    PendingMail,
    /// Not old enough.
    Young,
    /// No age is configured for its status.
    NoRule,
}

impl Verdict {
    /// Whether `purge --dry-run` lists it: expired tickets, gone or kept.
    pub fn is_expired(&self) -> bool {
        matches!(
            self,
            Verdict::Purge | Verdict::Held(_) | Verdict::Linked { .. } | Verdict::PendingMail
        )
    }

    pub fn why(&self) -> String {
        match self {
            Verdict::Purge => "expired".into(),
            Verdict::Purged => "purged already".into(),
            Verdict::Held(r) => format!("legal hold: {r}"),
            Verdict::Linked { to, why } => format!("kept with {to} ({why})"),
            Verdict::PendingMail => "outgoing mail not sent yet".into(),
            Verdict::Young => "not expired".into(),
            Verdict::NoRule => "no age for its status".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: TicketId,
    pub status: Status,
    /// Whole days since the last change.
    pub age_days: i64,
    pub verdict: Verdict,
}

/// The verdict of each ticket of `facts`, in their order.
pub fn decide(facts: &[Facts], cfg: &RetentionConfig, now: OffsetDateTime) -> Vec<Decision> {
    let mut out: Vec<Decision> = facts
        .iter()
        .map(|f| {
            let age = now - f.updated_at;
            let verdict = match (f.purged, cfg.days(f.status)) {
                (true, _) => Verdict::Purged,
                (false, None) => Verdict::NoRule,
                (false, Some(days)) if age < time::Duration::days(i64::from(days)) => {
                    Verdict::Young
                }
                _ => match (&f.hold, f.pending_mail) {
                    (Some(r), _) => Verdict::Held(r.clone()),
                    (None, true) => Verdict::PendingMail,
                    (None, false) => Verdict::Purge,
                },
            };
            Decision {
                id: f.id,
                status: f.status,
                age_days: age.whole_days(),
                verdict,
            }
        })
        .collect();
    // Tickets handled together form a group; one kept keeps them all.
    let index: BTreeMap<TicketId, usize> =
        facts.iter().enumerate().map(|(i, f)| (f.id, i)).collect();
    let mut parent: Vec<usize> = (0..facts.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, f) in facts.iter().enumerate() {
        for l in &f.links {
            if let Some(&j) = index.get(l) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                if a != b {
                    parent[a] = b;
                }
            }
        }
    }
    let mut blocker: BTreeMap<usize, (TicketId, String)> = BTreeMap::new();
    for (i, d) in out.iter().enumerate() {
        let r = root(&mut parent, i);
        if !matches!(d.verdict, Verdict::Purge | Verdict::Purged) {
            blocker.entry(r).or_insert((d.id, d.verdict.why()));
        }
    }
    for (i, d) in out.iter_mut().enumerate() {
        let r = root(&mut parent, i);
        if d.verdict == Verdict::Purge {
            if let Some((to, why)) = blocker.get(&r) {
                d.verdict = Verdict::Linked {
                    to: *to,
                    why: why.clone(),
                };
            }
        }
    }
    out
}

/// The ticket as its tombstone: no subject, no requestors.
pub fn tombstone(t: &TicketRecord, now: OffsetDateTime) -> TicketRecord {
    let mut t = t.clone();
    t.subject = PURGED.into();
    t.requestors.clear();
    t.handling.red_audience.clear();
    t.hold = None;
    t.purged_at = Some(now);
    t
}

/// A message record without its headers, text or anything else that names
/// a person: hashes, size, time, direction and flags stay, and indicators
/// other than email addresses when `indicators` says keep.
pub fn redact_message(m: &MessageRecord, indicators: IndicatorPolicy) -> MessageRecord {
    let mut r = m.clone();
    // The team's own outgoing Message-IDs tie a released reply to its
    // kind for the statistics; a reporter's may carry their address.
    if m.direction == Direction::In {
        r.message_id = None;
    }
    r.from = None;
    r.to.clear();
    r.subject = None;
    r.date = None;
    r.origin = m
        .origin
        .split_once(':')
        .map_or(m.origin.clone(), |(kind, _)| format!("{kind}:{PURGED}"));
    r.verification = None;
    r.authentication = None;
    r.acns = None;
    r.indicators = match indicators {
        IndicatorPolicy::Drop => Vec::new(),
        IndicatorPolicy::Keep => m
            .indicators
            .iter()
            .filter(|i| i.kind != Kind::Email)
            .map(|i| {
                let mut i = i.clone();
                if let Found::Attachment(_) = i.source {
                    i.source = Found::Attachment(PURGED.into());
                }
                i
            })
            .collect(),
    };
    r
}

/// An event with its text removed: the kind and time stay, and what the
/// statistics read (a status change's "from → to", a release's
/// Message-ID, which is the team's own).
pub fn redact_event(e: &Event) -> Event {
    let detail = match e.kind {
        EventKind::Purged => return e.clone(),
        EventKind::StatusChange => {
            let moves = transitions(&e.detail);
            if moves.is_empty() {
                PURGED.to_string()
            } else {
                format!("{PURGED} {}", moves.join("; "))
            }
        }
        EventKind::Released => match e.detail.strip_prefix('<').and_then(|r| r.split_once('>')) {
            Some((id, _)) if !id.contains(char::is_whitespace) => format!("<{id}> {PURGED}"),
            _ => PURGED.to_string(),
        },
        _ => PURGED.to_string(),
    };
    Event {
        at: e.at,
        kind: e.kind,
        detail,
    }
}

/// Every "status → status" of a status change's text.
fn transitions(detail: &str) -> Vec<String> {
    let status = |w: &str| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        ["new", "open", "stalled", "resolved", "rejected"]
            .into_iter()
            .find(|s| *s == w)
    };
    let mut out = Vec::new();
    for (i, _) in detail.match_indices(" → ") {
        let before = detail[..i].split_whitespace().last().and_then(status);
        let after = detail[i + " → ".len()..]
            .split_whitespace()
            .next()
            .and_then(status);
        if let (Some(a), Some(b)) = (before, after) {
            out.push(format!("{a} → {b}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::indicators::Indicator;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2027-06-01 12:00 UTC);

    fn cfg() -> RetentionConfig {
        RetentionConfig {
            resolved_days: Some(365),
            rejected_days: Some(30),
            ..Default::default()
        }
    }

    fn f(seq: u32, status: Status, days_ago: i64) -> Facts {
        Facts {
            id: TicketId::new(2026, seq),
            status,
            updated_at: NOW - time::Duration::days(days_ago),
            hold: None,
            purged: false,
            pending_mail: false,
            links: Vec::new(),
        }
    }

    fn verdicts(facts: &[Facts]) -> Vec<Verdict> {
        decide(facts, &cfg(), NOW)
            .into_iter()
            .map(|d| d.verdict)
            .collect()
    }

    #[test]
    fn age_per_status_decides() {
        let v = verdicts(&[
            f(1, Status::Resolved, 400),
            f(2, Status::Resolved, 364),
            f(3, Status::Rejected, 31),
            f(4, Status::Open, 4000),
            f(5, Status::Resolved, 365),
        ]);
        assert_eq!(
            v,
            vec![
                Verdict::Purge,
                Verdict::Young,
                Verdict::Purge,
                Verdict::NoRule,
                Verdict::Purge
            ]
        );
        let d = decide(&[f(1, Status::Resolved, 400)], &cfg(), NOW);
        assert_eq!(d[0].age_days, 400);
    }

    #[test]
    fn a_hold_pending_mail_or_an_earlier_purge_keep_a_ticket() {
        let mut held = f(1, Status::Resolved, 400);
        held.hold = Some("police request".into());
        let mut pending = f(2, Status::Resolved, 400);
        pending.pending_mail = true;
        let mut gone = f(3, Status::Resolved, 400);
        gone.purged = true;
        let mut young_held = f(4, Status::Resolved, 3);
        young_held.hold = Some("x".into());
        assert_eq!(
            verdicts(&[held, pending, gone, young_held]),
            vec![
                Verdict::Held("police request".into()),
                Verdict::PendingMail,
                Verdict::Purged,
                Verdict::Young
            ]
        );
        assert!(Verdict::Held("x".into()).is_expired());
        assert!(!Verdict::Young.is_expired() && !Verdict::Purged.is_expired());
    }

    #[test]
    fn an_incident_and_its_reports_go_together() {
        // Incident 1 with reports 2 and 3; report 3 is still young.
        let mut inc = f(1, Status::Resolved, 400);
        inc.links = vec![TicketId::new(2026, 2), TicketId::new(2026, 3)];
        let mut r2 = f(2, Status::Resolved, 400);
        r2.links = vec![TicketId::new(2026, 1)];
        let mut r3 = f(3, Status::Resolved, 10);
        r3.links = vec![TicketId::new(2026, 1)];
        let v = verdicts(&[inc.clone(), r2.clone(), r3.clone()]);
        assert_eq!(v[2], Verdict::Young);
        for x in &v[..2] {
            assert!(
                matches!(x, Verdict::Linked { to, .. } if *to == TicketId::new(2026, 3)),
                "{x:?}"
            );
        }
        // Once the report is purged (or expired), all go.
        r3.purged = true;
        assert_eq!(
            verdicts(&[inc.clone(), r2.clone(), r3]),
            vec![Verdict::Purge, Verdict::Purge, Verdict::Purged]
        );
        // A held incident keeps its expired reports, through a chain.
        let mut held = inc;
        held.hold = Some("court".into());
        let mut r4 = f(4, Status::Resolved, 900);
        r4.links = vec![TicketId::new(2026, 2)];
        let v = verdicts(&[held, r2, r4]);
        assert_eq!(v[0], Verdict::Held("court".into()));
        assert!(
            matches!(&v[1], Verdict::Linked { to, why } if *to == TicketId::new(2026, 1) && why.contains("court"))
        );
        assert!(matches!(&v[2], Verdict::Linked { .. }));
    }

    #[test]
    fn a_link_to_a_ticket_not_in_the_list_does_not_block() {
        let mut r = f(1, Status::Resolved, 400);
        r.links = vec![TicketId::new(2025, 9)];
        assert_eq!(verdicts(&[r]), vec![Verdict::Purge]);
    }

    fn msg() -> MessageRecord {
        MessageRecord {
            seq: 7,
            ticket: TicketId::new(2026, 1),
            message_id: Some("abc.alice@bank.example".into()),
            direction: Direction::In,
            from: Some("Alice Example <alice@bank.example>".into()),
            to: vec!["cert@cert.example".into()],
            subject: Some("Phishing at Bank".into()),
            date: Some("Mon, 1 Jun 2026 10:00:00 +0000".into()),
            sha256: "aa".repeat(32),
            body_sha256: Some("bb".repeat(32)),
            content_sha256: Some("cc".repeat(32)),
            size: 1234,
            stored_at: NOW,
            origin: "maildir:/var/mail/cert/new/1.alice".into(),
            flags: Default::default(),
            verification: None,
            authentication: None,
            acns: None,
            indicators: vec![
                Indicator {
                    kind: Kind::Ipv4,
                    value: "192.0.2.7".into(),
                    source: Found::Attachment("alice-notes.txt".into()),
                },
                Indicator {
                    kind: Kind::Email,
                    value: "alice@bank.example".into(),
                    source: Found::Body,
                },
            ],
        }
    }

    #[test]
    fn a_redacted_message_keeps_hashes_and_names_no_one() {
        let r = redact_message(&msg(), IndicatorPolicy::Keep);
        let text = serde_json::to_string(&r).unwrap();
        for gone in [
            "alice",
            "Alice",
            "Phishing",
            "cert@cert.example",
            "Jun 2026",
        ] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        assert_eq!(r.sha256, msg().sha256);
        assert_eq!(r.size, 1234);
        assert_eq!(r.origin, "maildir:[purged]");
        assert_eq!(r.indicators.len(), 1);
        assert_eq!(r.indicators[0].value, "192.0.2.7");
        assert!(redact_message(&msg(), IndicatorPolicy::Drop)
            .indicators
            .is_empty());
        let mut out = msg();
        out.direction = Direction::Out;
        out.message_id = Some("20260601.1@cert.example".into());
        assert_eq!(
            redact_message(&out, IndicatorPolicy::Drop).message_id,
            out.message_id
        );
    }

    #[test]
    fn a_redacted_event_keeps_what_statistics_read() {
        let e = |kind, detail: &str| Event::new(NOW, kind, detail);
        let s = redact_event(&e(
            EventKind::StatusChange,
            "/status resolved by Alice (alice@bank.example): open → resolved",
        ));
        assert_eq!(s.detail, "[purged] open → resolved");
        assert_eq!(s.kind, EventKind::StatusChange);
        assert_eq!(s.at, NOW);
        let r = redact_event(&e(
            EventKind::Released,
            "<r1@cert.example> to alice@bank.example released by bob",
        ));
        assert_eq!(r.detail, "<r1@cert.example> [purged]");
        let c = redact_event(&e(EventKind::Created, "from Alice <alice@bank.example>"));
        assert_eq!(c.detail, "[purged]");
        let p = e(EventKind::Purged, "purged by x");
        assert_eq!(redact_event(&p), p);
        // The statistics read the same milestones from the redacted form.
        let events = vec![
            e(EventKind::Acked, "ack to alice@bank.example"),
            e(EventKind::StatusChange, "open → resolved by alice"),
        ];
        let redacted: Vec<Event> = events.iter().map(redact_event).collect();
        let none = BTreeMap::new();
        assert_eq!(
            crate::analysis::timing::milestones(&events, &none),
            crate::analysis::timing::milestones(&redacted, &none)
        );
    }

    #[test]
    fn a_tombstone_keeps_dates_and_counts_only() {
        let mut t = TicketRecord::new(
            TicketId::new(2026, 1),
            "Phishing at Bank".into(),
            vec!["alice@bank.example".into()],
            NOW,
        );
        t.message_count = 3;
        t.handling.red_audience = vec!["alice@bank.example".into()];
        let s = tombstone(&t, NOW);
        assert_eq!(s.message_count, 3);
        assert_eq!(s.created_at, t.created_at);
        assert_eq!(s.purged_at, Some(NOW));
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            !text.contains("alice") && !text.contains("Phishing"),
            "{text}"
        );
    }
}

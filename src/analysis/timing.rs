//! When a ticket was acknowledged, first answered by a handler and first
//! resolved, read from its events; and p50/p90 over many tickets. Pure:
//! events in, figures out.
//!
//! Only the acts themselves count. A notification to handlers or to a
//! constituent, a command's confirmation, a digest or an advisory is
//! outgoing mail too, but none is an answer to the reporter: counting them
//! made "time to first handler reply" 0 min on tickets nobody answered.

use crate::model::{Event, EventKind};
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The `origin` of a stored outgoing message that is an acknowledgement.
pub const ACK_ORIGIN: &str = "ack";
/// ...and of one that is a handler's reply relayed to the requestors
/// (by signed mail or `csirtd ticket reply`).
pub const RELAY_ORIGIN: &str = "relay";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Milestones {
    /// The first acknowledgement queued to the reporter.
    pub acknowledged: Option<OffsetDateTime>,
    /// The first handler reply queued to the requestors.
    pub first_reply: Option<OffsetDateTime>,
    /// The first change to `resolved`.
    pub resolved: Option<OffsetDateTime>,
}

/// The Message-ID a `released` event names: "<id> to … released by …".
fn released_id(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix('<')?;
    rest.split_once('>').map(|(id, _)| id)
}

/// Whether a status-change event's detail moves the ticket to resolved
/// ("open → resolved", "/status resolved by …: open → resolved"); the
/// word must end there, so a later "resolved → open" is no resolution.
fn to_resolved(detail: &str) -> bool {
    const TO: &str = "→ resolved";
    detail.match_indices(TO).any(|(i, _)| {
        detail[i + TO.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric() && c != '-')
    })
}

fn earliest(slot: &mut Option<OffsetDateTime>, at: OffsetDateTime) {
    if slot.is_none_or(|s| at < s) {
        *slot = Some(at);
    }
}

/// `outgoing`: the ticket's outgoing messages, Message-ID → origin. An
/// acknowledgement or a reply first kept back (held, or awaiting a
/// handler's release under TLP:RED) counts from its release.
pub fn milestones(events: &[Event], outgoing: &BTreeMap<String, String>) -> Milestones {
    let mut m = Milestones::default();
    for e in events {
        match e.kind {
            EventKind::Acked => earliest(&mut m.acknowledged, e.at),
            EventKind::Relayed => earliest(&mut m.first_reply, e.at),
            EventKind::StatusChange if to_resolved(&e.detail) => earliest(&mut m.resolved, e.at),
            EventKind::Released => match released_id(&e.detail).and_then(|id| outgoing.get(id)) {
                Some(o) if o == ACK_ORIGIN => earliest(&mut m.acknowledged, e.at),
                Some(o) if o == RELAY_ORIGIN => earliest(&mut m.first_reply, e.at),
                _ => {}
            },
            _ => {}
        }
    }
    m
}

/// One duration over many tickets. Tickets without the event yet are
/// `none_yet`, never a zero in the percentiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Figure {
    /// Tickets that have the event.
    pub count: usize,
    /// Tickets that do not (yet).
    pub none_yet: usize,
    pub p50_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

/// Nearest rank: the smallest value that at least `pct` percent of the
/// values do not exceed. Always a time some ticket really took.
pub fn percentile(sorted: &[i64], pct: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

/// Seconds per ticket, None for one without the event.
pub fn figure(secs: impl IntoIterator<Item = Option<i64>>) -> Figure {
    let mut have = Vec::new();
    let mut none_yet = 0;
    for s in secs {
        match s {
            Some(s) => have.push(s),
            None => none_yet += 1,
        }
    }
    have.sort_unstable();
    Figure {
        count: have.len(),
        none_yet,
        p50_secs: percentile(&have, 50),
        p90_secs: percentile(&have, 90),
    }
}

/// Seconds from `from` to `to`; an event stamped before the ticket (a
/// clock step back) counts as at once.
pub fn secs(from: OffsetDateTime, to: Option<OffsetDateTime>) -> Option<i64> {
    to.map(|t| (t - from).whole_seconds().max(0))
}

/// The three figures over one group of tickets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Times {
    pub tickets: usize,
    pub acknowledge: Figure,
    pub first_reply: Figure,
    pub resolve: Figure,
}

/// `tickets`: (created, milestones) of each ticket of the group.
pub fn times(tickets: &[(OffsetDateTime, Milestones)]) -> Times {
    Times {
        tickets: tickets.len(),
        acknowledge: figure(tickets.iter().map(|(c, m)| secs(*c, m.acknowledged))),
        first_reply: figure(tickets.iter().map(|(c, m)| secs(*c, m.first_reply))),
        resolve: figure(tickets.iter().map(|(c, m)| secs(*c, m.resolved))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2026-03-02 08:00 UTC);

    fn ev(min: i64, kind: EventKind, detail: &str) -> Event {
        Event::new(T0 + Duration::minutes(min), kind, detail)
    }

    #[test]
    fn only_relayed_replies_count_and_releases_count_by_what_was_released() {
        let outgoing = BTreeMap::from([
            ("ack.1@cert.example".to_string(), "ack".to_string()),
            ("notify.1@cert.example".to_string(), "notify".to_string()),
            ("relay.1@cert.example".to_string(), "relay".to_string()),
        ]);
        let events = vec![
            ev(0, EventKind::Created, "ticket created"),
            ev(
                0,
                EventKind::Held,
                "acknowledgement to r@x.example held: no key",
            ),
            ev(1, EventKind::Notified, "new ticket told to handlers"),
            ev(2, EventKind::Sent, "<notify.1@cert.example> sent"),
            ev(
                3,
                EventKind::Released,
                "<notify.1@cert.example> to a@b released by hanna",
            ),
            ev(
                4,
                EventKind::Command,
                "/assign hanna by hanna: assigned to hanna",
            ),
        ];
        let m = milestones(&events, &outgoing);
        assert_eq!(m, Milestones::default(), "nothing here answers anyone");
        let mut more = events.clone();
        more.push(ev(
            30,
            EventKind::Released,
            "<ack.1@cert.example> to r@x.example released by hanna: encrypted",
        ));
        more.push(ev(
            90,
            EventKind::Relayed,
            "reply by hanna relayed to r@x.example as <relay.2@cert.example>",
        ));
        more.push(ev(
            60,
            EventKind::Released,
            "<relay.1@cert.example> to r@x.example released by bob",
        ));
        more.push(ev(
            120,
            EventKind::StatusChange,
            "/status resolved by hanna: open → resolved",
        ));
        more.push(ev(
            200,
            EventKind::StatusChange,
            "resolved → open: follow-up from requestor r@x.example",
        ));
        more.push(ev(
            300,
            EventKind::StatusChange,
            "/status resolved by hanna: open → resolved",
        ));
        let m = milestones(&more, &outgoing);
        assert_eq!(m.acknowledged, Some(T0 + Duration::minutes(30)));
        assert_eq!(m.first_reply, Some(T0 + Duration::minutes(60)));
        assert_eq!(m.resolved, Some(T0 + Duration::minutes(120)));
    }

    #[test]
    fn a_queued_ack_counts_and_reopening_is_no_resolution() {
        let events = vec![
            ev(0, EventKind::Acked, "acknowledgement <a@x> queued to r@x"),
            ev(5, EventKind::StatusChange, "new → open: hanna answered"),
            ev(6, EventKind::StatusChange, "resolved → open: follow-up"),
            ev(7, EventKind::StatusChange, "x → resolved-ish"),
        ];
        let m = milestones(&events, &BTreeMap::new());
        assert_eq!(m.acknowledged, Some(T0));
        assert_eq!(m.resolved, None);
        assert!(to_resolved("open → resolved"));
        assert!(to_resolved("stalled → resolved: done"));
    }

    #[test]
    fn nearest_rank_percentiles_and_none_yet() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2, 6], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 6], 90), Some(6));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 90), Some(9));
        let f = figure([Some(3600), None, Some(60), None]);
        assert_eq!(
            f,
            Figure {
                count: 2,
                none_yet: 2,
                p50_secs: Some(60),
                p90_secs: Some(3600)
            }
        );
        let nobody = figure([None, None]);
        assert_eq!(nobody.p50_secs, None, "no reply is not a 0");
        assert_eq!(nobody.none_yet, 2);
    }

    #[test]
    fn times_measure_from_the_first_report() {
        let m = Milestones {
            acknowledged: Some(T0),
            first_reply: Some(T0 + Duration::hours(2)),
            resolved: None,
        };
        let early = Milestones {
            acknowledged: Some(T0 - Duration::seconds(5)),
            ..Milestones::default()
        };
        let t = times(&[(T0, m), (T0, early)]);
        assert_eq!(t.tickets, 2);
        assert_eq!(t.acknowledge.p90_secs, Some(0));
        assert_eq!(t.first_reply.p50_secs, Some(7200));
        assert_eq!(t.first_reply.none_yet, 1);
        assert_eq!(t.resolve.count, 0);
    }
}

//! A Message-ID we already hold, arriving again.
//!
//! Only a copy that differs from the stored one in trace headers alone
//! (see `mail::trace`) is a plain duplicate. A copy with the same body but
//! another From, Subject or any other header the sender writes is kept as
//! another delivery of that message, on the same ticket, flagged
//! `redelivered-changed`: what differed is evidence (a forged re-send, a
//! corrected report), and dropping it would lose it. A different body is
//! another message altogether (`message-id-reused`, see `decide`).

use super::decide::{Placement, Plan, TicketView};
use crate::mail::parse::ParsedMail;
use crate::model::{Event, EventKind, Flag};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// How a message compares with the stored one under its Message-ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The same content: a duplicate.
    Same,
    /// The same body, other non-trace headers.
    HeadersChanged,
    /// Another body.
    BodyChanged,
}

/// `earlier_*` are the stored copy's hashes, None where its record
/// predates them (and its raw bytes are gone): without a body hash it is
/// taken as the same body, without a content hash as the same headers,
/// as csirtd decided before it kept them.
pub fn compare(
    earlier_body: Option<&str>,
    earlier_content: Option<&str>,
    body_sha: &str,
    content_sha: &str,
) -> Delivery {
    let same_body = earlier_body.is_none_or(|b| b == body_sha);
    match (same_body, earlier_content) {
        (false, _) => Delivery::BodyChanged,
        (true, Some(c)) if c != content_sha => Delivery::HeadersChanged,
        (true, _) => Delivery::Same,
    }
}

/// A re-delivery with changed headers, as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivery {
    /// The ticket that holds the earlier copy.
    pub ticket: TicketView,
    /// The header fields that differ (see `mail::trace::changed_headers`).
    pub changed: Vec<String>,
}

/// Kept on the earlier copy's ticket, never acknowledged, never a
/// follow-up that reopens it: the sender did not write anything new.
pub fn plan(
    r: &Redelivery,
    mail: &ParsedMail,
    mut flags: BTreeSet<Flag>,
    mut events: Vec<Event>,
    now: OffsetDateTime,
    origin: &str,
) -> Plan {
    let who = mail.single_from().unwrap_or("(no single From)");
    let mid = mail.message_id.as_deref().unwrap_or("");
    flags.insert(Flag::RedeliveredChanged);
    events.push(Event::new(
        now,
        EventKind::Warning,
        format!(
            "re-delivery of <{mid}> from {who} via {origin} differs from the stored copy in {}; kept as another delivery of that message (flag redelivered-changed)",
            r.changed.join(", ")
        ),
    ));
    Plan {
        placement: Placement::Appended(r.ticket.id),
        new_ticket: None,
        status_change: None,
        flags,
        events,
        ack: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Status, TicketId};

    #[test]
    fn only_trace_headers_make_a_duplicate() {
        assert_eq!(compare(Some("b"), Some("c"), "b", "c"), Delivery::Same);
        assert_eq!(
            compare(Some("b"), Some("c"), "b", "c2"),
            Delivery::HeadersChanged
        );
        assert_eq!(
            compare(Some("b"), Some("c"), "b2", "c2"),
            Delivery::BodyChanged
        );
        // Records from before the hashes: as decided then.
        assert_eq!(compare(Some("b"), None, "b", "c"), Delivery::Same);
        assert_eq!(compare(None, None, "b", "c"), Delivery::Same);
        assert_eq!(compare(Some("b"), None, "b2", "c"), Delivery::BodyChanged);
        assert_eq!(
            compare(None, Some("c"), "b", "c2"),
            Delivery::HeadersChanged
        );
    }

    #[test]
    fn a_changed_redelivery_joins_the_earlier_ticket_quietly() {
        let ticket = TicketView {
            id: TicketId::new(2026, 4),
            status: Status::Resolved,
            requestors: vec!["alice@bank.example".into()],
        };
        let r = Redelivery {
            ticket,
            changed: vec!["From".into(), "Subject".into()],
        };
        let mail = ParsedMail {
            message_id: Some("r1@bank.example".into()),
            from: vec!["alice@bank.example".into()],
            from_header_count: 1,
            ..ParsedMail::default()
        };
        let p = plan(
            &r,
            &mail,
            BTreeSet::new(),
            Vec::new(),
            OffsetDateTime::UNIX_EPOCH,
            "stdin",
        );
        assert_eq!(p.placement, Placement::Appended(TicketId::new(2026, 4)));
        assert!(p.flags.contains(&Flag::RedeliveredChanged));
        assert!(p.ack.is_none() && p.status_change.is_none() && p.new_ticket.is_none());
        let said = &p.events[0].detail;
        assert!(
            said.contains("<r1@bank.example>") && said.contains("From, Subject"),
            "{said}"
        );
    }
}

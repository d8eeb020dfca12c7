//! Where an incoming message belongs and what follows from it. A pure
//! function of the parsed mail and what the store knows: every threading and
//! acknowledgement rule is a unit test here.

use super::ack::{self, AckPolicy};
use crate::mail::parse::ParsedMail;
use crate::mail::subject::{sanitize, TagMatcher};
use crate::model::{Event, EventKind, Flag, Status, TicketId};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// What the store knows about a ticket that the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    pub id: TicketId,
    pub status: Status,
    pub requestors: Vec<String>,
}

/// Facts gathered from the store before deciding.
#[derive(Debug, Clone)]
pub struct Context {
    pub now: OffsetDateTime,
    /// The number a new ticket would get.
    pub next_id: TicketId,
    /// The ticket that already holds this message (same Message-ID, or same
    /// bytes when there is no Message-ID).
    pub duplicate_of: Option<TicketId>,
    /// The ticket holding another message with this Message-ID but a
    /// different body.
    pub message_id_reused: Option<TicketId>,
    /// The same Message-ID and body as a stored message, other headers.
    pub redelivery: Option<super::redelivery::Redelivery>,
    /// Our tags found in the subject, in order, with the ticket when it exists.
    pub tagged: Vec<(TicketId, Option<TicketView>)>,
    /// The ticket that one of In-Reply-To/References names.
    pub referenced: Option<TicketView>,
    /// A delivery report about one of our own outgoing messages: the
    /// Message-ID it reports on and that message's ticket.
    pub bounce_of: Option<(String, TicketView)>,
    /// The acknowledgements within the rate window: to the sender, its
    /// domain, anyone.
    pub recent_acks: super::ack_rate::RecentAcks,
    /// The OpenPGP verdict, when [pgp] is configured.
    pub verification: Option<crate::pgp::Verification>,
    /// pgp.policy.require_signed names this sender.
    pub signature_required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Created(TicketId),
    Appended(TicketId),
    Duplicate(TicketId),
}

impl Placement {
    pub fn ticket(self) -> TicketId {
        match self {
            Placement::Created(t) | Placement::Appended(t) | Placement::Duplicate(t) => t,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Placement::Created(_) => "created",
            Placement::Appended(_) => "appended",
            Placement::Duplicate(_) => "duplicate",
        }
    }
}

/// An acknowledgement to build and queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckIntent {
    pub to: String,
    /// The reporter's subject, sanitised: the only reporter text we sign.
    pub subject: String,
    /// The sender must sign and this report is not signed well: the
    /// acknowledgement says so.
    pub unverified: bool,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub placement: Placement,
    /// For a new ticket: its subject and requestors.
    pub new_ticket: Option<(String, Vec<String>)>,
    pub status_change: Option<(Status, Status)>,
    /// Flags to add to the ticket.
    pub flags: BTreeSet<Flag>,
    pub events: Vec<Event>,
    pub ack: Option<AckIntent>,
}

pub const SUBJECT_MAX_CHARS: usize = 160;

pub fn decide(
    mail: &ParsedMail,
    ctx: &Context,
    tags: &TagMatcher,
    policy: &AckPolicy<'_>,
    origin: &str,
) -> Plan {
    let now = ctx.now;
    let who = mail.single_from().unwrap_or("(no single From)");
    let mid = mail
        .message_id
        .as_deref()
        .map_or_else(|| "no Message-ID".to_string(), |m| format!("<{m}>"));

    if let Some(id) = ctx.duplicate_of {
        return Plan {
            placement: Placement::Duplicate(id),
            new_ticket: None,
            status_change: None,
            flags: BTreeSet::new(),
            events: vec![Event::new(
                now,
                EventKind::Duplicate,
                format!("{mid} from {who} arrived again via {origin}; already stored, kept once"),
            )],
            ack: None,
        };
    }

    let mut events = Vec::new();
    let mut flags: BTreeSet<Flag> = mail
        .flags
        .iter()
        .copied()
        .filter(|f| *f != Flag::NoMessageId)
        .collect();

    for bad in &mail.malformed {
        events.push(Event::new(
            now,
            EventKind::Warning,
            format!(
                "{} header not used, kept only in the raw message: {}: {}",
                bad.header, bad.why, bad.value
            ),
        ));
    }

    if let Some(other) = ctx.message_id_reused {
        flags.insert(Flag::MessageIdReused);
        events.push(Event::new(
            now,
            EventKind::Warning,
            format!("{mid} was already used by a different message on {other}; kept separately (possible forgery)"),
        ));
    }

    if let Some(v) = &ctx.verification {
        events.push(Event::new(
            now,
            EventKind::Verdict,
            crate::pgp::crypto::summary(v),
        ));
        if !v.found_keys.is_empty() {
            let keys: Vec<String> = v
                .found_keys
                .iter()
                .map(|k| format!("0x{} ({})", k.fingerprint, k.source.as_str()))
                .collect();
            events.push(Event::new(
                now,
                EventKind::Warning,
                format!(
                    "keys carried by the mail, recorded and NOT trusted: {}",
                    keys.join(", ")
                ),
            ));
        }
        if v.encryption.is_failed() {
            flags.insert(Flag::DecryptionFailed);
        }
    }
    let unverified = ctx.signature_required
        && ctx
            .verification
            .as_ref()
            .is_none_or(|v| v.status != crate::pgp::Verdict::Good);
    if unverified {
        flags.insert(Flag::SignatureRequired);
        events.push(Event::new(
            now,
            EventKind::Warning,
            format!(
                "{who} must sign reports (pgp.policy.require_signed); this one is not signed well"
            ),
        ));
    }

    if let Some(r) = &ctx.redelivery {
        return super::redelivery::plan(r, mail, flags, events, now, origin);
    }

    let existing_tag = ctx.tagged.iter().find_map(|(_, v)| v.clone());
    let unknown: Vec<TicketId> = ctx
        .tagged
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(id, _)| *id)
        .collect();
    if existing_tag.is_none() && !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|id| tags.tag_for(*id)).collect();
        events.push(Event::new(
            now,
            EventKind::Warning,
            format!(
                "subject names {}, which does not exist; not attached to any other ticket",
                names.join(", ")
            ),
        ));
        flags.insert(Flag::UnknownTag);
    }

    let mut target = existing_tag.or_else(|| ctx.referenced.clone());
    if target.is_none() {
        if let Some((our_id, ticket)) = &ctx.bounce_of {
            events.push(Event::new(
                now,
                EventKind::Warning,
                format!("delivery report about our message <{our_id}>: it may not have reached its recipient"),
            ));
            target = Some(ticket.clone());
        }
    }
    let subject_line = mail.subject.as_deref().unwrap_or("");

    if let Some(ticket) = target {
        events.push(Event::new(
            now,
            EventKind::Received,
            format!(
                "follow-up {mid} from {who} via {origin}: {}",
                sanitize(subject_line, SUBJECT_MAX_CHARS)
            ),
        ));
        let from_requestor = mail
            .single_from()
            .is_some_and(|f| ticket.requestors.iter().any(|r| r == f));
        let status_change = match ticket.status {
            Status::Resolved | Status::Stalled if from_requestor => {
                events.push(Event::new(
                    now,
                    EventKind::StatusChange,
                    format!("{} → open: follow-up from requestor {who}", ticket.status),
                ));
                Some((ticket.status, Status::Open))
            }
            _ => None,
        };
        return Plan {
            placement: Placement::Appended(ticket.id),
            new_ticket: None,
            status_change,
            flags,
            events,
            ack: None,
        };
    }

    let id = ctx.next_id;
    let stripped = tags.strip(subject_line);
    let clean = sanitize(&stripped, SUBJECT_MAX_CHARS);
    let subject = if clean.is_empty() {
        "(no subject)".to_string()
    } else {
        clean.clone()
    };
    let requestors: Vec<String> = mail
        .single_from()
        .filter(|f| !policy.own_addresses.iter().any(|o| o == f))
        .map(|f| vec![f.to_string()])
        .unwrap_or_default();

    let mut all_events = vec![Event::new(
        now,
        EventKind::Created,
        format!("new report {mid} from {who} via {origin}"),
    )];
    all_events.append(&mut events);
    for f in &flags {
        all_events.push(Event::new(
            now,
            EventKind::Warning,
            format!("flagged {}", f.as_str()),
        ));
    }

    let ack = match ack::decide(mail, policy, &ctx.recent_acks) {
        Ok(to) => Some(AckIntent {
            to,
            subject: clean,
            unverified,
        }),
        Err(why) => {
            all_events.push(Event::new(now, EventKind::AckSuppressed, why.to_string()));
            None
        }
    };

    Plan {
        placement: Placement::Created(id),
        new_ticket: Some((subject, requestors)),
        status_change: None,
        flags,
        events: all_events,
        ack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &[&str] = &["cert@cert.example"];

    fn own() -> Vec<String> {
        OWN.iter().map(|s| s.to_string()).collect()
    }

    fn mail(from: &str, subject: &str) -> ParsedMail {
        ParsedMail {
            message_id: Some("m1@bank.example".into()),
            from: vec![from.into()],
            from_header_count: 1,
            subject: Some(subject.into()),
            ..ParsedMail::default()
        }
    }

    fn ctx() -> Context {
        Context {
            now: OffsetDateTime::UNIX_EPOCH,
            next_id: TicketId::new(2026, 7),
            duplicate_of: None,
            message_id_reused: None,
            redelivery: None,
            tagged: Vec::new(),
            referenced: None,
            bounce_of: None,
            recent_acks: Default::default(),
            verification: None,
            signature_required: false,
        }
    }

    fn view(seq: u32, status: Status, requestor: &str) -> TicketView {
        TicketView {
            id: TicketId::new(2026, seq),
            status,
            requestors: vec![requestor.into()],
        }
    }

    fn run(m: &ParsedMail, c: &Context) -> Plan {
        let own = own();
        let policy = AckPolicy {
            enabled: true,
            own_addresses: &own,
            rate_limit: 5,
            rate_limit_per_domain: 50,
            rate_limit_global: 500,
            rate_window_secs: 3600,
        };
        decide(m, c, &TagMatcher::new("CERT-EX"), &policy, "test")
    }

    #[test]
    fn a_fresh_report_opens_a_ticket_and_is_acknowledged() {
        let p = run(
            &mail("alice@bank.example", "Re: Fwd: Phishing wave"),
            &ctx(),
        );
        assert_eq!(p.placement, Placement::Created(TicketId::new(2026, 7)));
        let (subject, requestors) = p.new_ticket.unwrap();
        assert_eq!(subject, "Phishing wave");
        assert_eq!(requestors, vec!["alice@bank.example"]);
        assert_eq!(
            p.ack,
            Some(AckIntent {
                to: "alice@bank.example".into(),
                subject: "Phishing wave".into(),
                unverified: false,
            })
        );
        assert_eq!(p.events[0].kind, EventKind::Created);
    }

    #[test]
    fn an_existing_tag_appends() {
        let mut c = ctx();
        c.tagged = vec![(
            TicketId::new(2026, 3),
            Some(view(3, Status::Open, "alice@bank.example")),
        )];
        let p = run(
            &mail("alice@bank.example", "AW: [CERT-EX #2026-00003] x"),
            &c,
        );
        assert_eq!(p.placement, Placement::Appended(TicketId::new(2026, 3)));
        assert!(p.ack.is_none(), "follow-ups are not acknowledged");
        assert!(p.status_change.is_none());
    }

    #[test]
    fn an_unknown_tag_opens_a_new_ticket_with_a_warning() {
        let mut c = ctx();
        c.tagged = vec![(TicketId::new(2026, 999), None)];
        let p = run(
            &mail("alice@bank.example", "[CERT-EX #2026-00999] hello"),
            &c,
        );
        assert_eq!(p.placement, Placement::Created(TicketId::new(2026, 7)));
        assert!(p.flags.contains(&Flag::UnknownTag));
        assert!(p
            .events
            .iter()
            .any(|e| e.kind == EventKind::Warning && e.detail.contains("[CERT-EX #2026-00999]")));
        assert_eq!(p.new_ticket.unwrap().0, "hello");
    }

    #[test]
    fn references_thread_when_the_tag_was_dropped() {
        let mut c = ctx();
        c.referenced = Some(view(5, Status::New, "alice@bank.example"));
        let p = run(&mail("alice@bank.example", "Re: your message"), &c);
        assert_eq!(p.placement, Placement::Appended(TicketId::new(2026, 5)));
    }

    #[test]
    fn an_unknown_tag_with_a_known_reference_threads_by_reference_and_warns() {
        let mut c = ctx();
        c.tagged = vec![(TicketId::new(2026, 999), None)];
        c.referenced = Some(view(5, Status::New, "alice@bank.example"));
        let p = run(&mail("alice@bank.example", "[CERT-EX #2026-00999]"), &c);
        assert_eq!(p.placement, Placement::Appended(TicketId::new(2026, 5)));
        assert!(p.flags.contains(&Flag::UnknownTag));
    }

    #[test]
    fn the_first_existing_tag_wins_over_references() {
        let mut c = ctx();
        c.tagged = vec![
            (TicketId::new(2026, 999), None),
            (
                TicketId::new(2026, 4),
                Some(view(4, Status::Open, "x@y.example")),
            ),
        ];
        c.referenced = Some(view(5, Status::New, "alice@bank.example"));
        let p = run(&mail("alice@bank.example", "s"), &c);
        assert_eq!(p.placement, Placement::Appended(TicketId::new(2026, 4)));
        assert!(
            !p.flags.contains(&Flag::UnknownTag),
            "a tag matched, the other is noise"
        );
    }

    #[test]
    fn a_bounce_of_our_mail_lands_on_its_ticket_with_a_warning() {
        let mut c = ctx();
        c.bounce_of = Some((
            "cert-ex.2026-00005.ack.1@cert.example".into(),
            view(5, Status::New, "alice@bank.example"),
        ));
        let mut m = mail(
            "mailer-daemon@mx.example",
            "Undelivered Mail Returned to Sender",
        );
        m.return_path = Some(String::new());
        let p = run(&m, &c);
        assert_eq!(p.placement, Placement::Appended(TicketId::new(2026, 5)));
        assert!(p
            .events
            .iter()
            .any(|e| e.kind == EventKind::Warning && e.detail.contains("delivery report")));
        assert!(p.ack.is_none());
    }

    #[test]
    fn the_reporter_reopens_a_resolved_ticket_but_a_stranger_does_not() {
        let mut c = ctx();
        c.tagged = vec![(
            TicketId::new(2026, 3),
            Some(view(3, Status::Resolved, "alice@bank.example")),
        )];
        let p = run(&mail("alice@bank.example", "[CERT-EX #2026-00003]"), &c);
        assert_eq!(p.status_change, Some((Status::Resolved, Status::Open)));
        assert!(p.events.iter().any(|e| e.kind == EventKind::StatusChange));

        let p = run(&mail("mallory@evil.example", "[CERT-EX #2026-00003]"), &c);
        assert_eq!(p.status_change, None);
    }

    #[test]
    fn rejected_tickets_stay_rejected() {
        let mut c = ctx();
        c.tagged = vec![(
            TicketId::new(2026, 3),
            Some(view(3, Status::Rejected, "alice@bank.example")),
        )];
        let p = run(&mail("alice@bank.example", "[CERT-EX #2026-00003]"), &c);
        assert_eq!(p.status_change, None);
    }

    #[test]
    fn duplicates_are_reported_not_stored_again() {
        let mut c = ctx();
        c.duplicate_of = Some(TicketId::new(2026, 2));
        let p = run(&mail("alice@bank.example", "x"), &c);
        assert_eq!(p.placement, Placement::Duplicate(TicketId::new(2026, 2)));
        assert!(p.ack.is_none());
        assert_eq!(p.events[0].kind, EventKind::Duplicate);
    }

    #[test]
    fn a_reused_message_id_with_another_body_is_kept_and_flagged() {
        let mut c = ctx();
        c.message_id_reused = Some(TicketId::new(2026, 2));
        let p = run(&mail("alice@bank.example", "x"), &c);
        assert_eq!(p.placement, Placement::Created(TicketId::new(2026, 7)));
        assert!(p.flags.contains(&Flag::MessageIdReused));
        assert!(p
            .events
            .iter()
            .any(|e| e.kind == EventKind::Warning && e.detail.contains("2026-00002")));
    }

    #[test]
    fn suppression_is_recorded_with_its_reason() {
        let mut m = mail("alice@bank.example", "Out of office");
        m.auto_submitted = Some("auto-replied".into());
        let p = run(&m, &ctx());
        assert!(p.ack.is_none());
        let e = p
            .events
            .iter()
            .find(|e| e.kind == EventKind::AckSuppressed)
            .unwrap();
        assert!(
            e.detail.contains("Auto-Submitted: auto-replied"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn a_malformed_from_is_flagged_warned_and_not_acknowledged() {
        let raw = b"From: <x@evil.example\rBcc:victim@bank.example>\r\nSubject: s\r\nMessage-ID: <m9@evil.example>\r\n\r\nhi\r\n";
        let limits = crate::config::LimitsConfig {
            max_message_size: 1 << 20,
            max_stored_size: 1 << 20,
            max_mime_depth: 8,
            max_parts: 50,
            ..Default::default()
        };
        let m = crate::mail::parse::parse(raw, &limits);
        let p = run(&m, &ctx());
        assert!(p.flags.contains(&Flag::MalformedHeader), "{:?}", p.flags);
        assert!(p.ack.is_none());
        assert!(p.events.iter().any(|e| e.kind == EventKind::Warning
            && e.detail.starts_with("From header not used")
            && e.detail.contains("\\rBcc:")
            && !e.detail.contains('\r')));
        let suppressed = p.events.iter().find(|e| e.kind == EventKind::AckSuppressed);
        assert!(suppressed.unwrap().detail.contains("malformed"));
        assert!(p.new_ticket.unwrap().1.is_empty(), "no requestor");
    }

    #[test]
    fn the_acknowledged_subject_is_sanitised() {
        let p = run(
            &mail("alice@bank.example", "Phish\r\nBcc: victim@x.example"),
            &ctx(),
        );
        assert_eq!(p.ack.unwrap().subject, "Phish Bcc: victim@x.example");
    }
}

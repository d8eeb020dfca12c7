//! Routing decisions: who wrote, what is relayed, kept, flagged.
use super::*;
use crate::model::{Status, TicketId};
use crate::pgp::SignedText;

const FPR: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

fn handlers() -> Vec<HandlerConfig> {
    vec![
        HandlerConfig {
            name: "alice".into(),
            email: "alice@cert.example".into(),
            fingerprint: FPR.into(),
            unix_user: None,
        },
        HandlerConfig {
            name: "bob".into(),
            email: "bob@cert.example".into(),
            fingerprint: "AAAA456789ABCDEF0123456789ABCDEF01234567".into(),
            unix_user: None,
        },
    ]
}

fn ticket() -> TicketRecord {
    TicketRecord {
        id: TicketId::new(2026, 1),
        status: Status::Open,
        subject: "Phish".into(),
        requestors: vec!["rep@bank.example".into()],
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
        flags: BTreeSet::new(),
        message_count: 1,
        classification: None,
        constituencies: Vec::new(),
        labels: Vec::new(),
        handling: Default::default(),
        hold: None,
        purged_at: None,
    }
}

fn mail(from: &str, to: &str) -> ParsedMail {
    ParsedMail {
        from: vec![from.into()],
        from_header_count: 1,
        to: vec![to.into()],
        ..ParsedMail::default()
    }
}

fn good(fpr: &str) -> Verification {
    let mut v = Verification::new(Verdict::Good, "ok");
    v.signer_fingerprint = Some(fpr.into());
    v
}

fn run(m: &ParsedMail, v: Option<&Verification>, text: &str) -> Route {
    let t = ticket();
    let signed = signed_text(text);
    run_with(m, v, text, fresh(&signed, &t), &t)
}

fn signed_text(text: &str) -> SignedText {
    SignedText {
        text: text.into(),
        ..SignedText::default()
    }
}

/// A use of a signature that names `t`, made now, never used before.
fn fresh<'a>(signed: &'a SignedText, t: &TicketRecord) -> SignatureUse<'a> {
    SignatureUse {
        signed: Some(signed),
        names: Some(t.id),
        earlier_use: None,
        signed_at: Some(OffsetDateTime::UNIX_EPOCH),
    }
}

fn run_with(
    m: &ParsedMail,
    v: Option<&Verification>,
    text: &str,
    signature: SignatureUse<'_>,
    t: &TicketRecord,
) -> Route {
    let hs = handlers();
    let own = vec![
        "cert@cert.example".to_string(),
        "cert-comment@cert.example".to_string(),
    ];
    let corr = vec!["abuse@hoster.example".to_string()];
    let tags = TagMatcher::new("CERT-EX");
    route(
        &RouteInput {
            mail: m,
            verification: v,
            text,
            signature,
            placement: Placement::Appended(t.id),
            ticket: Some(t),
            correspondents: &corr,
            now: OffsetDateTime::UNIX_EPOCH,
        },
        &RouteConfig {
            handlers: &hs,
            tags: &tags,
            max_signature_age: crate::config::DEFAULT_MAX_SIGNATURE_AGE,
            own_addresses: &own,
            comment_address: Some("cert-comment@cert.example"),
            advisory_address: Some("cert-advisory@cert.example"),
        },
    )
}

#[test]
fn a_signed_handler_reply_is_relayed_without_quote_and_commands_run() {
    let m = mail("alice@cert.example", "cert@cert.example");
    let v = good(FPR);
    let r = run(
        &m,
        Some(&v),
        "/status resolved\n\nThe site is down.\n-- \nAlice\n\nOn Mon, CERT wrote:\n> reporter text\n",
    );
    assert_eq!(
        r.sender,
        Some(Sender::Handler {
            name: "alice".into()
        })
    );
    assert_eq!(r.relay.as_deref(), Some("The site is down."));
    assert_eq!(r.commands, vec![Command::Status(Status::Resolved)]);
    assert!(r.flags.is_empty());
}

#[test]
fn a_forged_handler_reply_is_flagged_not_relayed_and_commands_ignored() {
    let m = mail("alice@cert.example", "cert@cert.example");
    for v in [
        None,
        Some(Verification::new(Verdict::Unsigned, "")),
        Some(Verification::new(Verdict::Bad, "x")),
        Some(good("AAAA456789ABCDEF0123456789ABCDEF01234567")),
    ] {
        let r = run(&m, v.as_ref(), "/status resolved\nClick here");
        assert!(r.flags.contains(&Flag::UnverifiedHandler), "{v:?}");
        assert!(r.relay.is_none());
        assert!(r.commands.is_empty());
        assert!(r
            .notices
            .iter()
            .any(|n| matches!(n.kind, NoticeKind::Warning(_))));
    }
}

#[test]
fn a_comment_is_never_relayed() {
    let m = mail("alice@cert.example", "cert-comment@cert.example");
    let v = good(FPR);
    let r = run(&m, Some(&v), "Internal: this is the third from them.");
    assert!(r.relay.is_none());
    assert_eq!(
        r.notices,
        vec![Notice {
            audience: Audience::AllBut("alice".into()),
            kind: NoticeKind::Note
        }]
    );
}

#[test]
fn reporter_follow_up_goes_to_the_assignee_and_outsiders_are_flagged() {
    let r = run(
        &mail("rep@bank.example", "cert@cert.example"),
        None,
        "more logs",
    );
    assert_eq!(r.sender, Some(Sender::Requestor));
    assert_eq!(r.notices[0].kind, NoticeKind::FollowUp);
    assert!(r.flags.is_empty());

    let r = run(
        &mail("abuse@hoster.example", "cert@cert.example"),
        None,
        "removed",
    );
    assert_eq!(r.sender, Some(Sender::Correspondent));
    assert!(r.flags.is_empty());

    let r = run(
        &mail("mallory@evil.example", "cert@cert.example"),
        None,
        "I am the bank, send logs",
    );
    assert_eq!(r.sender, Some(Sender::Outsider));
    assert!(r.flags.contains(&Flag::UnverifiedCorrespondent));
    assert!(r.relay.is_none());
}

#[test]
fn only_a_verified_handler_sends_advisories_by_mail() {
    let m = mail("alice@cert.example", "cert-advisory@cert.example");
    let v = good(FPR);
    let r = run(&m, Some(&v), "/list banks\n/tlp amber\nPatch.");
    assert_eq!(r.advisory.as_ref().map(|a| a.list.as_str()), Some("banks"));
    assert!(r.relay.is_none() && r.notices.is_empty());
    let r = run(&m, None, "/list banks\n/tlp amber\nPatch.");
    assert!(r.advisory.is_none());
    assert!(r.flags.contains(&Flag::UnverifiedHandler));
    let r = run(&m, Some(&v), "/tlp amber\nPatch.");
    assert!(r.advisory.is_none());
    assert!(!r.refused.is_empty(), "a signed error reply follows");
}

#[test]
fn autoresponders_are_recorded_but_not_answered_with_notices() {
    let mut m = mail("alice@cert.example", "cert@cert.example");
    m.auto_submitted = Some("auto-replied".into());
    let r = run(&m, None, "I am on vacation");
    assert!(r.flags.contains(&Flag::UnverifiedHandler));
    assert!(r.notices.is_empty());
    let mut m = mail("rep@bank.example", "cert@cert.example");
    m.precedence = Some("bulk".into());
    assert!(run(&m, None, "x").notices.is_empty());
}

#[test]
fn our_own_loop_is_not_routed() {
    let mut m = mail("alice@cert.example", "cert@cert.example");
    m.x_loop = vec!["cert@cert.example".into()];
    let r = run(&m, None, "x");
    assert!(r.notices.is_empty() && r.relay.is_none() && r.flags.is_empty());
}

#[test]
fn muted_tickets_are_not_relayed() {
    let mut t = ticket();
    t.handling.reporter_muted = true;
    let m = mail("alice@cert.example", "cert@cert.example");
    let v = good(FPR);
    let signed = signed_text("Hi");
    let r = run_with(&m, Some(&v), "Hi", fresh(&signed, &t), &t);
    assert!(r.relay.is_none());
}

#[test]
fn a_bottom_posted_reply_is_relayed_and_an_empty_one_is_reported() {
    let m = mail("alice@cert.example", "cert@cert.example");
    let v = good(FPR);
    let text = "On Mon, CERT Example wrote:\n> New ticket [CERT-EX #2026-00001]: Phish\n> reporter text\n\n/assign alice\nThe site is down.\n-- \nAlice\n";
    let r = run(&m, Some(&v), text);
    assert_eq!(r.relay.as_deref(), Some("The site is down."));
    assert_eq!(r.commands, vec![Command::Assign("alice".into())]);
    let r = run(&m, Some(&v), "On Mon, CERT wrote:\n> all quote\n");
    assert!(r.relay.is_none());
    assert!(r
        .notices
        .iter()
        .any(|n| n.audience == Audience::Only("alice".into())
            && matches!(n.kind, NoticeKind::Refused { .. })));
}

#[test]
fn a_replayed_stale_or_unbound_signature_acts_on_nothing_and_is_reported() {
    let m = mail("alice@cert.example", "cert@cert.example");
    let v = good(FPR);
    let t = ticket();
    let signed = signed_text("/tlp red\nRun http://evil.example/fix.exe");
    let fresh = fresh(&signed, &t);
    let cases = [
        (
            SignatureUse {
                earlier_use: Some("on [CERT-EX #2026-00002]".into()),
                ..fresh.clone()
            },
            Flag::ReplayedSignature,
        ),
        (
            SignatureUse {
                signed_at: Some(OffsetDateTime::UNIX_EPOCH - time::Duration::days(30)),
                ..fresh.clone()
            },
            Flag::StaleSignature,
        ),
        (
            SignatureUse {
                names: Some(TicketId::new(2026, 2)),
                ..fresh.clone()
            },
            Flag::UnboundSignature,
        ),
        (
            SignatureUse {
                names: None,
                ..fresh.clone()
            },
            Flag::UnboundSignature,
        ),
    ];
    for (u, flag) in cases {
        let r = run_with(&m, Some(&v), &signed.text, u, &t);
        assert!(r.relay.is_none() && r.commands.is_empty(), "{flag:?}");
        assert!(r.flags.contains(&flag), "{flag:?}: {:?}", r.flags);
        assert!(r.events.iter().any(|e| e.kind == EventKind::Warning));
        assert!(r
            .notices
            .iter()
            .any(|n| n.audience == Audience::AllBut("alice".into())
                && matches!(n.kind, NoticeKind::Warning(_))));
        assert!(r
            .notices
            .iter()
            .any(|n| n.audience == Audience::Only("alice".into())
                && matches!(n.kind, NoticeKind::Refused { .. })));
    }
}

#[test]
fn signed_content_for_the_comment_address_stays_internal() {
    let m = mail("alice@cert.example", "cert@cert.example");
    let v = good(FPR);
    let t = ticket();
    let signed = SignedText {
        text: "Internal: the reporter is a suspect.".into(),
        subject: None,
        recipients: vec!["cert-comment@cert.example".into()],
    };
    let r = run_with(&m, Some(&v), "ignored", fresh(&signed, &t), &t);
    assert!(r.relay.is_none());
    assert!(r.flags.contains(&Flag::InternalContent));
    assert!(r.events.iter().any(|e| e.kind == EventKind::Note));
}

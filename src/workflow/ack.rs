//! Whether a new ticket's reporter gets an acknowledgement. Every "no" has a
//! reason that is recorded on the ticket, because a silent auto-responder is
//! as hard to debug as a noisy one.

use super::ack_rate::RecentAcks;
use crate::mail::parse::ParsedMail;
use std::fmt;

/// Why no acknowledgement was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suppression {
    Disabled,
    /// No single From address to answer: missing, several, or unparsed mail.
    NoReplyAddress,
    /// The From header breaks address syntax (flag `malformed-header`):
    /// nothing in it is a valid address to write to.
    MalformedFrom,
    NullSender,
    MailerDaemon(String),
    Postmaster(String),
    NoReply(String),
    AutoSubmitted(String),
    Precedence(String),
    ListMail(String),
    OwnLoop,
    OwnAddress(String),
    RateLimited {
        scope: RateScope,
        sent: u32,
        window_secs: u64,
    },
}

/// Which budget a rate-limited acknowledgement ran out of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateScope {
    /// The mailbox, as normalised for its bucket.
    Sender(String),
    /// The registrable domain (or address literal).
    Domain(String),
    Global,
}

impl fmt::Display for Suppression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Suppression::Disabled => {
                write!(f, "acknowledgements are disabled (ack.enabled = false)")
            }
            Suppression::NoReplyAddress => write!(f, "no single From address to reply to"),
            Suppression::MalformedFrom => write!(
                f,
                "the From header is malformed (see the warning); no valid address to reply to"
            ),
            Suppression::NullSender => {
                write!(f, "null envelope sender <> (a bounce or notification)")
            }
            Suppression::MailerDaemon(a) => write!(f, "sender {a} is a mailer daemon"),
            Suppression::Postmaster(a) => write!(f, "sender {a} is a postmaster"),
            Suppression::NoReply(a) => write!(f, "sender {a} does not accept replies"),
            Suppression::AutoSubmitted(v) => write!(
                f,
                "Auto-Submitted: {v} (RFC 3834: never answer automatic mail)"
            ),
            Suppression::Precedence(v) => write!(f, "Precedence: {v}"),
            Suppression::ListMail(v) => write!(f, "mailing-list mail (List-Id: {v})"),
            Suppression::OwnLoop => write!(f, "carries our own X-Loop header (mail loop)"),
            Suppression::OwnAddress(a) => write!(f, "sent from our own address {a}"),
            Suppression::RateLimited {
                scope,
                sent,
                window_secs,
            } => match scope {
                RateScope::Sender(a) => write!(
                    f,
                    "rate limit: {sent} acknowledgement(s) to {a} in the last {window_secs} s (ack.rate_limit)"
                ),
                RateScope::Domain(d) => write!(
                    f,
                    "domain rate limit: {sent} acknowledgement(s) to addresses at {d} in the last {window_secs} s (ack.rate_limit_per_domain)"
                ),
                RateScope::Global => write!(
                    f,
                    "global rate limit: {sent} acknowledgement(s) to all senders in the last {window_secs} s (ack.rate_limit_global)"
                ),
            },
        }
    }
}

pub struct AckPolicy<'a> {
    pub enabled: bool,
    pub own_addresses: &'a [String],
    pub rate_limit: u32,
    pub rate_limit_per_domain: u32,
    pub rate_limit_global: u32,
    pub rate_window_secs: u64,
}

/// The address to acknowledge, or why not. `recent` holds the
/// acknowledgements already sent within the rate window: to this
/// sender's mailbox, to its domain, and to anyone.
pub fn decide(
    mail: &ParsedMail,
    policy: &AckPolicy<'_>,
    recent: &RecentAcks,
) -> Result<String, Suppression> {
    if !policy.enabled {
        return Err(Suppression::Disabled);
    }
    let Some(from) = mail.single_from() else {
        if mail.malformed_from() {
            return Err(Suppression::MalformedFrom);
        }
        return Err(Suppression::NoReplyAddress);
    };
    if mail.return_path.as_deref().is_some_and(str::is_empty) {
        return Err(Suppression::NullSender);
    }
    if mail.x_loop.iter().any(|l| policy.own_addresses.contains(l)) {
        return Err(Suppression::OwnLoop);
    }
    if policy.own_addresses.iter().any(|a| a == from) {
        return Err(Suppression::OwnAddress(from.to_string()));
    }
    for addr in std::iter::once(from).chain(mail.return_path.as_deref()) {
        let local = addr.rsplit_once('@').map_or(addr, |(l, _)| l);
        // Sub-addresses (noreply+bounces@) count as the base address.
        let base = local.split('+').next().unwrap_or(local);
        match base {
            "mailer-daemon" | "mailerdaemon" => {
                return Err(Suppression::MailerDaemon(addr.to_string()))
            }
            "postmaster" => return Err(Suppression::Postmaster(addr.to_string())),
            _ => {}
        }
        let squashed: String = base.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        if matches!(
            squashed.as_str(),
            "noreply" | "donotreply" | "noreplies" | "bounce" | "bounces"
        ) || squashed.starts_with("noreply")
            || squashed.starts_with("donotreply")
        {
            return Err(Suppression::NoReply(addr.to_string()));
        }
    }
    if let Some(v) = &mail.auto_submitted {
        if v != "no" {
            return Err(Suppression::AutoSubmitted(v.clone()));
        }
    }
    if let Some(v) = &mail.precedence {
        if matches!(v.as_str(), "bulk" | "junk" | "list") {
            return Err(Suppression::Precedence(v.clone()));
        }
    }
    if let Some(v) = &mail.list_id {
        return Err(Suppression::ListMail(v.clone()));
    }
    rate_check(from, policy, recent)?;
    Ok(from.to_string())
}

/// The narrowest budget first, so that the reason names the sender when
/// it is the sender that floods.
fn rate_check(from: &str, policy: &AckPolicy<'_>, recent: &RecentAcks) -> Result<(), Suppression> {
    let keys = recent
        .keys
        .clone()
        .unwrap_or_else(|| super::ack_rate::RateKeys::of(from));
    let budgets = [
        (
            recent.address.count(),
            policy.rate_limit,
            RateScope::Sender(keys.address.clone()),
        ),
        (
            recent.domain.count(),
            policy.rate_limit_per_domain,
            RateScope::Domain(keys.domain_name().to_string()),
        ),
        (
            recent.global.count(),
            policy.rate_limit_global,
            RateScope::Global,
        ),
    ];
    for (sent, limit, scope) in budgets {
        if sent >= limit {
            return Err(Suppression::RateLimited {
                scope,
                sent,
                window_secs: policy.rate_window_secs,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::ack_rate::{AckHistory, RateKeys};

    fn own() -> Vec<String> {
        vec!["cert@cert.example".into(), "abuse@cert.example".into()]
    }

    fn mail(from: &str) -> ParsedMail {
        ParsedMail {
            from: vec![from.into()],
            from_header_count: 1,
            ..ParsedMail::default()
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn history(n: u32) -> AckHistory {
        (0..n).fold(AckHistory::default(), |h, _| h.record(NOW, 3600))
    }

    /// `acks` already sent to the sender's mailbox (and so to its domain
    /// and to anyone).
    fn check(m: &ParsedMail, acks: u32) -> Result<String, Suppression> {
        check_counts(m, [acks; 3])
    }

    fn check_counts(
        m: &ParsedMail,
        [address, domain, global]: [u32; 3],
    ) -> Result<String, Suppression> {
        let own = own();
        let policy = AckPolicy {
            enabled: true,
            own_addresses: &own,
            rate_limit: 3,
            rate_limit_per_domain: 5,
            rate_limit_global: 8,
            rate_window_secs: 3600,
        };
        let recent = RecentAcks {
            keys: m.single_from().map(RateKeys::of),
            address: history(address),
            domain: history(domain),
            global: history(global),
        };
        decide(m, &policy, &recent)
    }

    #[test]
    fn an_ordinary_reporter_is_acknowledged() {
        assert_eq!(
            check(&mail("alice@bank.example"), 0),
            Ok("alice@bank.example".into())
        );
    }

    #[test]
    fn peer_teams_abuse_mailboxes_are_acknowledged() {
        for a in [
            "abuse@isp.example",
            "cert@cert.other.example",
            "security@vendor.example",
            "soc-noc@x.example",
        ] {
            assert_eq!(check(&mail(a), 0), Ok(a.to_string()), "{a}");
        }
    }

    #[test]
    fn robots_are_not_acknowledged() {
        for (a, want) in [
            ("mailer-daemon@mx.example", "MailerDaemon"),
            ("MAILER-DAEMON@mx.example", "MailerDaemon"),
            ("postmaster@mx.example", "Postmaster"),
            ("noreply@shop.example", "NoReply"),
            ("no-reply@shop.example", "NoReply"),
            ("no_reply+x@shop.example", "NoReply"),
            ("do-not-reply@shop.example", "NoReply"),
            ("donotreply@shop.example", "NoReply"),
        ] {
            let m = mail(&a.to_ascii_lowercase());
            let got = check(&m, 0).unwrap_err();
            assert!(format!("{got:?}").starts_with(want), "{a}: {got:?}");
        }
    }

    #[test]
    fn automatic_and_list_mail_is_not_acknowledged() {
        let mut m = mail("alice@bank.example");
        m.auto_submitted = Some("auto-replied".into());
        assert_eq!(
            check(&m, 0),
            Err(Suppression::AutoSubmitted("auto-replied".into()))
        );
        m.auto_submitted = Some("no".into());
        assert!(check(&m, 0).is_ok(), "Auto-Submitted: no is a human");

        for p in ["bulk", "junk", "list"] {
            let mut m = mail("alice@bank.example");
            m.precedence = Some(p.into());
            assert_eq!(check(&m, 0), Err(Suppression::Precedence(p.into())));
        }
        let mut m = mail("alice@bank.example");
        m.precedence = Some("first-class".into());
        assert!(check(&m, 0).is_ok());

        let mut m = mail("alice@bank.example");
        m.list_id = Some("<announce.lists.example>".into());
        assert!(matches!(check(&m, 0), Err(Suppression::ListMail(_))));
    }

    #[test]
    fn null_sender_loops_and_own_address() {
        let mut m = mail("alice@bank.example");
        m.return_path = Some(String::new());
        assert_eq!(check(&m, 0), Err(Suppression::NullSender));

        let mut m = mail("alice@bank.example");
        m.x_loop = vec!["cert@cert.example".into()];
        assert_eq!(check(&m, 0), Err(Suppression::OwnLoop));

        let mut m = mail("alice@bank.example");
        m.x_loop = vec!["other@list.example".into()];
        assert!(
            check(&m, 0).is_ok(),
            "someone else's loop header is not ours"
        );

        assert!(matches!(
            check(&mail("abuse@cert.example"), 0),
            Err(Suppression::OwnAddress(_))
        ));
    }

    #[test]
    fn missing_or_ambiguous_from_is_not_acknowledged() {
        assert_eq!(
            check(&ParsedMail::default(), 0),
            Err(Suppression::NoReplyAddress)
        );
        let m = ParsedMail {
            from: vec!["a@x.example".into(), "b@y.example".into()],
            from_header_count: 2,
            ..ParsedMail::default()
        };
        assert_eq!(check(&m, 0), Err(Suppression::NoReplyAddress));
    }

    #[test]
    fn a_malformed_from_is_not_acknowledged() {
        let mut m = mail("alice@bank.example");
        m.malformed.push(crate::mail::checked::Malformed {
            header: "From",
            value: "x@evil.example\\rBcc: v@bank.example".into(),
            why: "contains a control character".into(),
        });
        assert_eq!(check(&m, 0), Err(Suppression::MalformedFrom));
    }

    #[test]
    fn rate_limit_applies_per_sender_window() {
        assert!(check(&mail("alice@bank.example"), 2).is_ok());
        assert_eq!(
            check(&mail("alice+x@bank.example"), 3),
            Err(Suppression::RateLimited {
                scope: RateScope::Sender("alice@bank.example".into()),
                sent: 3,
                window_secs: 3600
            })
        );
    }

    #[test]
    fn domain_and_global_budgets_apply_after_the_senders() {
        let m = mail("carol@mail.bank.example");
        assert!(check_counts(&m, [0, 4, 7]).is_ok());
        let domain = check_counts(&m, [0, 5, 7]).unwrap_err();
        assert_eq!(
            domain,
            Suppression::RateLimited {
                scope: RateScope::Domain("bank.example".into()),
                sent: 5,
                window_secs: 3600
            }
        );
        assert!(
            domain.to_string().contains("addresses at bank.example"),
            "{domain}"
        );
        let global = check_counts(&m, [0, 0, 8]).unwrap_err();
        assert!(matches!(
            global,
            Suppression::RateLimited {
                scope: RateScope::Global,
                sent: 8,
                ..
            }
        ));
        assert!(global.to_string().contains("all senders"), "{global}");
        // Every budget spent: the sender's is named.
        assert!(matches!(
            check_counts(&m, [3, 5, 8]),
            Err(Suppression::RateLimited {
                scope: RateScope::Sender(_),
                ..
            })
        ));
    }

    #[test]
    fn disabled_means_never() {
        let own = own();
        let policy = AckPolicy {
            enabled: false,
            own_addresses: &own,
            rate_limit: 3,
            rate_limit_per_domain: 5,
            rate_limit_global: 8,
            rate_window_secs: 3600,
        };
        assert_eq!(
            decide(&mail("alice@bank.example"), &policy, &RecentAcks::default()),
            Err(Suppression::Disabled)
        );
    }
}

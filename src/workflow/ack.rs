//! Whether a new ticket's reporter gets an acknowledgement. Every "no" has a
//! reason that is recorded on the ticket, because a silent auto-responder is
//! as hard to debug as a noisy one.

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
        sent: u32,
        window_secs: u64,
    },
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
            Suppression::RateLimited { sent, window_secs } => {
                write!(f, "rate limit: {sent} acknowledgement(s) to this sender in the last {window_secs} s")
            }
        }
    }
}

pub struct AckPolicy<'a> {
    pub enabled: bool,
    pub own_addresses: &'a [String],
    pub rate_limit: u32,
    pub rate_window_secs: u64,
}

/// The address to acknowledge, or why not. `acks_in_window` is how many
/// acknowledgements this sender already got within the rate window.
pub fn decide(
    mail: &ParsedMail,
    policy: &AckPolicy<'_>,
    acks_in_window: u32,
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
    if acks_in_window >= policy.rate_limit {
        return Err(Suppression::RateLimited {
            sent: acks_in_window,
            window_secs: policy.rate_window_secs,
        });
    }
    Ok(from.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn check(m: &ParsedMail, acks: u32) -> Result<String, Suppression> {
        let own = own();
        let policy = AckPolicy {
            enabled: true,
            own_addresses: &own,
            rate_limit: 3,
            rate_window_secs: 3600,
        };
        decide(m, &policy, acks)
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
            check(&mail("alice@bank.example"), 3),
            Err(Suppression::RateLimited {
                sent: 3,
                window_secs: 3600
            })
        );
    }

    #[test]
    fn disabled_means_never() {
        let own = own();
        let policy = AckPolicy {
            enabled: false,
            own_addresses: &own,
            rate_limit: 3,
            rate_window_secs: 3600,
        };
        assert_eq!(
            decide(&mail("alice@bank.example"), &policy, 0),
            Err(Suppression::Disabled)
        );
    }
}

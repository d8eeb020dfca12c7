//! What a handler's good signature authorises, beyond being good.
//!
//! A `good` verdict says the handler signed these bytes once. It does not
//! say they signed them for this ticket, or today, or only once: a reply a
//! handler signed for ticket 1 and an attacker re-sends with ticket 2's tag
//! in the (unsigned) Subject is still `good`. So a handler's signature
//! relays text or runs commands only when
//! - the signed content names this ticket: the protected Subject, or else
//!   the first tag in the signed text (the handlers' notification opens
//!   with the tag, so a quoted reply carries it);
//! - it was never used before (each use is recorded in the store);
//! - it was made within `handling.max_signature_age`, and not in the future.
//!
//! Pure: the store lookups (earlier use, merges) are done by the caller.

use super::decide::Placement;
use crate::mail::subject::TagMatcher;
use crate::model::{Flag, TicketId};
use crate::pgp::SignedText;
use std::time::Duration;
use time::OffsetDateTime;

/// Signatures dated further ahead than this are not accepted: clocks
/// drift, but not by days.
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);

/// The facts about one use of a handler's signature.
#[derive(Debug, Clone, Default)]
pub struct SignatureUse<'a> {
    pub signed: Option<&'a SignedText>,
    /// The ticket the signed content names, merges followed; `None` when
    /// it names none.
    pub names: Option<TicketId>,
    /// When one of the signatures was already used: where and when.
    pub earlier_use: Option<String>,
    pub signed_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The signature was used before.
    Replayed(String),
    /// Too old, or dated in the future.
    Stale(String),
    /// The signed content names no ticket.
    Unbound,
    /// The signed content names another ticket.
    OtherTicket { named: String, here: String },
    /// Nothing readable is covered by the signature.
    NoSignedText,
}

impl Refusal {
    pub fn flag(&self) -> Flag {
        match self {
            Refusal::Replayed(_) => Flag::ReplayedSignature,
            Refusal::Stale(_) => Flag::StaleSignature,
            Refusal::Unbound | Refusal::OtherTicket { .. } | Refusal::NoSignedText => {
                Flag::UnboundSignature
            }
        }
    }

    /// Why, in a sentence for the ticket's events and the handlers.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Replayed(earlier) => {
                format!("the signature was already used ({earlier}); a signature counts once")
            }
            Refusal::Stale(why) => why.clone(),
            Refusal::Unbound => {
                "the signed content names no ticket: the tag in the Subject header is not covered by the signature".into()
            }
            Refusal::OtherTicket { named, here } => {
                format!("the signed content is about {named}, but the mail was filed on {here}")
            }
            Refusal::NoSignedText => "no text is covered by the signature".into(),
        }
    }

    /// What the handler can do about it.
    pub fn advice(&self) -> &'static str {
        match self {
            Refusal::Replayed(_) => {
                "If you did not send this mail again yourself, someone re-sent a mail you signed earlier: tell the team. To say it again, write a new mail."
            }
            Refusal::Stale(_) => {
                "Check your computer's clock, then send the reply again as a new mail."
            }
            Refusal::Unbound | Refusal::OtherTicket { .. } | Refusal::NoSignedText => {
                "Reply to the ticket's notification and keep its first line (with the ticket's tag) in the quote, or write the tag into your text, then send again."
            }
        }
    }
}

/// Whether the signature may act on this mail's ticket. Binding is needed
/// for mail on an existing ticket; a handler's mail that opens a ticket
/// has no tag to name yet.
pub fn check(
    u: &SignatureUse<'_>,
    placement: Placement,
    tags: &TagMatcher,
    now: OffsetDateTime,
    max_age: Duration,
) -> Result<(), Refusal> {
    if let Some(earlier) = &u.earlier_use {
        return Err(Refusal::Replayed(earlier.clone()));
    }
    match u.signed_at {
        None => {
            return Err(Refusal::Stale(
                "the signature carries no creation time".into(),
            ))
        }
        Some(t) if t > now + MAX_FUTURE_SKEW => {
            return Err(Refusal::Stale(format!(
                "the signature is dated {t}, in the future"
            )))
        }
        Some(t) if now - t > max_age => {
            return Err(Refusal::Stale(format!(
                "the signature was made {t}, more than {} ago (handling.max_signature_age)",
                human(max_age)
            )))
        }
        Some(_) => {}
    }
    if u.signed.is_none() {
        return Err(Refusal::NoSignedText);
    }
    if let Placement::Appended(here) = placement {
        match u.names {
            None => return Err(Refusal::Unbound),
            Some(t) if t != here => {
                return Err(Refusal::OtherTicket {
                    named: tags.tag_for(t),
                    here: tags.tag_for(here),
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The ticket the signed content names before merges: the protected
/// Subject's tag, else the first tag in the signed text.
pub fn named_ticket(signed: &SignedText, tags: &TagMatcher) -> Option<TicketId> {
    if let Some(s) = &signed.subject {
        if let Some(t) = tags.find(s).first() {
            return Some(*t);
        }
    }
    tags.find(&signed.text).first().copied()
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86_400) {
        format!("{} day(s)", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{} hour(s)", s / 3600)
    } else {
        format!("{s} seconds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 12:00 UTC);
    const WEEK: Duration = Duration::from_secs(7 * 86_400);

    fn tags() -> TagMatcher {
        TagMatcher::new("CERT-EX")
    }

    fn signed(text: &str, subject: Option<&str>) -> SignedText {
        SignedText {
            text: text.into(),
            subject: subject.map(str::to_string),
            recipients: Vec::new(),
        }
    }

    #[test]
    fn the_protected_subject_comes_before_the_text() {
        let t = tags();
        let s = signed(
            "> New ticket [CERT-EX #2026-00002]: x",
            Some("Re: [CERT-EX #2026-00001] y"),
        );
        assert_eq!(named_ticket(&s, &t), Some(TicketId::new(2026, 1)));
        // The first tag in the text: the notification's first line, not a
        // related ticket or a tag the reporter wrote further down.
        let s = signed(
            "Done.\n\n> New ticket [CERT-EX #2026-00005]: x\n> Related: [CERT-EX #2026-00002]\n",
            None,
        );
        assert_eq!(named_ticket(&s, &t), Some(TicketId::new(2026, 5)));
        assert_eq!(named_ticket(&signed("no tag", None), &t), None);
    }

    #[test]
    fn a_signature_acts_only_on_its_ticket_once_and_recently() {
        let t = tags();
        let here = TicketId::new(2026, 1);
        let text = signed("x", None);
        let fresh = SignatureUse {
            signed: Some(&text),
            names: Some(here),
            earlier_use: None,
            signed_at: Some(NOW - time::Duration::hours(1)),
        };
        let placed = Placement::Appended(here);
        assert_eq!(check(&fresh, placed, &t, NOW, WEEK), Ok(()));
        let other = SignatureUse {
            names: Some(TicketId::new(2026, 2)),
            ..fresh.clone()
        };
        assert!(matches!(
            check(&other, placed, &t, NOW, WEEK),
            Err(Refusal::OtherTicket { .. })
        ));
        let unbound = SignatureUse {
            names: None,
            ..fresh.clone()
        };
        assert_eq!(
            check(&unbound, placed, &t, NOW, WEEK),
            Err(Refusal::Unbound)
        );
        // A handler's mail that opens a ticket has nothing to name.
        let created = Placement::Created(TicketId::new(2026, 9));
        assert_eq!(check(&unbound, created, &t, NOW, WEEK), Ok(()));
        let replayed = SignatureUse {
            earlier_use: Some("on 2026-00001".into()),
            ..fresh.clone()
        };
        assert!(matches!(
            check(&replayed, created, &t, NOW, WEEK),
            Err(Refusal::Replayed(_))
        ));
        for at in [
            NOW - time::Duration::days(8),
            NOW + time::Duration::minutes(6),
        ] {
            let stale = SignatureUse {
                signed_at: Some(at),
                ..fresh.clone()
            };
            let r = check(&stale, placed, &t, NOW, WEEK);
            assert!(matches!(r, Err(Refusal::Stale(_))), "{at}: {r:?}");
            assert_eq!(r.unwrap_err().flag(), Flag::StaleSignature);
        }
        let skewed = SignatureUse {
            signed_at: Some(NOW + time::Duration::minutes(4)),
            ..fresh.clone()
        };
        assert_eq!(check(&skewed, placed, &t, NOW, WEEK), Ok(()));
        let nothing = SignatureUse {
            signed: None,
            ..fresh
        };
        assert_eq!(
            check(&nothing, placed, &t, NOW, WEEK),
            Err(Refusal::NoSignedText)
        );
    }
}

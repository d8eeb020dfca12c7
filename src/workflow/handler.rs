//! Who wrote a message on a ticket, and what follows for handlers and
//! requestors: notify, relay, keep internal, warn. A pure function over the
//! parsed mail, its verdict and what the store knows; `relay.rs` does the I/O.
//!
//! The point of the exercise: a handler is recognised by the From address
//! AND a good signature by that handler's key. A mail that merely claims a
//! handler's address is not relayed under the team's signature.

use super::commands::{self, Command, CommandError};
use super::decide::Placement;
use super::trust::{self, Refusal, SignatureUse};
use crate::config::HandlerConfig;
use crate::mail::parse::ParsedMail;
use crate::mail::quote::strip_reply;
use crate::mail::subject::TagMatcher;
use crate::model::{Event, EventKind, Flag};
use crate::pgp::{Verdict, Verification};
use crate::store::TicketRecord;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// Which of the team's doors the mail came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The correspond address: handlers' text goes to the requestors.
    Correspond,
    /// The comment address: internal notes, never to requestors.
    Comment,
    /// The advisory address: a handler's signed mail sends an advisory.
    Advisory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A configured handler, proven by a good signature of their key.
    Handler {
        name: String,
    },
    /// Claims a handler's address without that proof.
    ClaimedHandler {
        name: String,
        why: String,
    },
    Requestor,
    /// An address the team wrote to on this ticket.
    Correspondent,
    /// A bounce or report about our own mail.
    Automatic,
    /// Anyone else.
    Outsider,
}

/// Who among the handlers is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    All,
    /// The assignee when there is one, else all.
    Assignee,
    /// Everyone but the handler who wrote.
    AllBut(String),
    /// One handler, by name, even when a team list gets the notices:
    /// what went wrong with their own mail.
    Only(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    NewTicket,
    FollowUp,
    Note,
    Warning(String),
    /// To the handler whose signed mail was not acted on: why, and what to do.
    Refused {
        reason: String,
        advice: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub audience: Audience,
    pub kind: NoticeKind,
}

#[derive(Debug, Clone, Default)]
pub struct Route {
    pub sender: Option<Sender>,
    pub flags: BTreeSet<Flag>,
    pub events: Vec<Event>,
    /// The handler's text to send to the requestors.
    pub relay: Option<String>,
    pub notices: Vec<Notice>,
    /// Commands to execute (the signature was checked).
    pub commands: Vec<Command>,
    /// Commands to refuse, with a signed reply to the handler.
    pub refused: Vec<CommandError>,
    /// A verified handler's advisory mail, parsed.
    pub advisory: Option<super::advisory::MailRequest>,
}

pub struct RouteConfig<'a> {
    pub handlers: &'a [HandlerConfig],
    pub tags: &'a TagMatcher,
    /// `handling.max_signature_age`.
    pub max_signature_age: std::time::Duration,
    pub own_addresses: &'a [String],
    pub comment_address: Option<&'a str>,
    pub advisory_address: Option<&'a str>,
}

pub struct RouteInput<'a> {
    pub mail: &'a ParsedMail,
    pub verification: Option<&'a Verification>,
    /// The readable text of the mail (see `mail::body`): shown to
    /// handlers as a stranger's words, never relayed or executed.
    pub text: &'a str,
    /// What a good signature covers and how it was used before: the only
    /// source of a handler's words.
    pub signature: SignatureUse<'a>,
    pub placement: Placement,
    /// The ticket as it was before this message (None for a new one).
    pub ticket: Option<&'a TicketRecord>,
    /// Addresses the team wrote to on this ticket.
    pub correspondents: &'a [String],
    pub now: OffsetDateTime,
}

pub fn channel(mail: &ParsedMail, comment: Option<&str>, advisory: Option<&str>) -> Channel {
    let to =
        |addr: Option<&str>| addr.is_some_and(|c| mail.to.iter().chain(&mail.cc).any(|a| a == c));
    if to(advisory) {
        Channel::Advisory
    } else if to(comment) {
        Channel::Comment
    } else {
        Channel::Correspond
    }
}

/// Whether `v` proves that `h` wrote the mail: `good` means the whole
/// content is covered and From is a user ID of the signing key; the key
/// must also be the one configured for this handler.
pub fn proves(h: &HandlerConfig, v: Option<&Verification>) -> Result<(), String> {
    let Some(v) = v else {
        return Err("no OpenPGP verdict".into());
    };
    if v.status != Verdict::Good {
        return Err(format!("signature is {}, not good", v.status));
    }
    let signer = v
        .signer_fingerprint
        .as_deref()
        .map(crate::config::normalize_fingerprint)
        .unwrap_or_default();
    if signer != h.fingerprint_hex() {
        return Err(format!(
            "signed by 0x{signer}, not by {}'s configured key 0x{}",
            h.name,
            h.fingerprint_hex()
        ));
    }
    Ok(())
}

pub fn classify(input: &RouteInput<'_>, cfg: &RouteConfig<'_>, from: &str) -> Sender {
    if let Some(h) = cfg
        .handlers
        .iter()
        .find(|h| h.email.eq_ignore_ascii_case(from))
    {
        return match proves(h, input.verification) {
            Ok(()) => Sender::Handler {
                name: h.name.clone(),
            },
            Err(why) => Sender::ClaimedHandler {
                name: h.name.clone(),
                why,
            },
        };
    }
    let m = input.mail;
    if m.return_path.as_deref() == Some("") || !m.reported_message_ids.is_empty() {
        return Sender::Automatic;
    }
    if input
        .ticket
        .is_some_and(|t| t.requestors.iter().any(|r| r == from))
    {
        return Sender::Requestor;
    }
    if input.correspondents.iter().any(|c| c == from) {
        return Sender::Correspondent;
    }
    Sender::Outsider
}

pub fn route(input: &RouteInput<'_>, cfg: &RouteConfig<'_>) -> Route {
    let mut r = Route::default();
    if cfg.handlers.is_empty() || matches!(input.placement, Placement::Duplicate(_)) {
        return r;
    }
    let m = input.mail;
    let now = input.now;
    // Our own mail coming back (a handler list delivering into the
    // intake): answering it would loop.
    if m.x_loop.iter().any(|l| cfg.own_addresses.contains(l)) {
        r.events.push(Event::new(
            now,
            EventKind::Warning,
            "carries our own X-Loop: not routed to handlers or requestors",
        ));
        return r;
    }
    let from = m.single_from().unwrap_or("");
    let sender = if from.is_empty() {
        Sender::Outsider
    } else {
        classify(input, cfg, from)
    };
    let mut chan = channel(m, cfg.comment_address, cfg.advisory_address);
    let who = if from.is_empty() {
        "(no single From)"
    } else {
        from
    };

    if let Sender::ClaimedHandler { name, why } = &sender {
        r.flags.insert(Flag::UnverifiedHandler);
        let detail = format!(
            "mail from {who} claims to be handler {name}, but {why}; not treated as the handler's"
        );
        r.events
            .push(Event::new(now, EventKind::Warning, detail.clone()));
        r.notices.push(Notice {
            audience: Audience::All,
            kind: NoticeKind::Warning(detail),
        });
    }

    // A good signature by a handler: the words are what it covers, and
    // only when it is bound to this ticket, fresh and used once.
    let mut handler_text = "";
    if let Sender::Handler { name } = &sender {
        let check = trust::check(
            &input.signature,
            input.placement,
            cfg.tags,
            now,
            cfg.max_signature_age,
        );
        if let Err(refusal) = check {
            refuse(&mut r, name, who, &refusal, now);
            r.sender = Some(sender);
            return r;
        }
        let signed = input.signature.signed;
        handler_text = signed.map(|s| s.text.as_str()).unwrap_or_default();
        let internal = cfg
            .comment_address
            .filter(|c| signed.is_some_and(|s| s.recipients.iter().any(|a| a == c)));
        if let (Some(c), Channel::Correspond) = (internal, chan) {
            r.flags.insert(Flag::InternalContent);
            let detail = format!(
                "mail from {who} is signed as addressed to the comment address {c} but came to the correspond address: kept as an internal note, not relayed"
            );
            r.events
                .push(Event::new(now, EventKind::Warning, detail.clone()));
            r.notices.push(Notice {
                audience: Audience::All,
                kind: NoticeKind::Warning(detail),
            });
            chan = Channel::Comment;
        }
    }

    if chan == Channel::Advisory {
        match &sender {
            Sender::Handler { name } => match super::advisory::parse_mail(handler_text) {
                Ok(req) => {
                    r.events.push(Event::new(
                        now,
                        EventKind::Command,
                        format!(
                            "advisory to list {} ({}) requested by {name}",
                            req.list, req.tlp
                        ),
                    ));
                    r.advisory = Some(req);
                }
                Err(errors) => r.refused = errors,
            },
            Sender::ClaimedHandler { .. } => {}
            _ => r.events.push(Event::new(
                now,
                EventKind::Warning,
                format!("mail to the advisory address from {who}, who is not a handler: ignored"),
            )),
        }
        r.sender = Some(sender);
        return r;
    }

    if matches!(input.placement, Placement::Created(_)) {
        r.notices.push(Notice {
            audience: Audience::All,
            kind: NoticeKind::NewTicket,
        });
        if let Sender::Handler { .. } = &sender {
            let parsed = commands::parse(&strip_reply(handler_text));
            r.commands = parsed.commands;
            r.refused = parsed.errors;
        }
        r.sender = Some(sender);
        return r;
    }

    match &sender {
        Sender::Handler { name } => {
            // Quotes go first, so that commands written below a quoted
            // notification are found and quoted commands never run.
            let parsed = commands::parse(&strip_reply(handler_text));
            let had_commands = !parsed.commands.is_empty() || !parsed.errors.is_empty();
            r.commands = parsed.commands;
            r.refused = parsed.errors;
            let words = parsed.rest.trim();
            let muted = input.ticket.is_some_and(|t| t.handling.reporter_muted);
            match chan {
                Channel::Comment => {
                    if !words.is_empty() {
                        r.events.push(Event::new(
                            now,
                            EventKind::Note,
                            format!("internal note by {name} ({who}); not sent to requestors"),
                        ));
                        r.notices.push(Notice {
                            audience: Audience::AllBut(name.clone()),
                            kind: NoticeKind::Note,
                        });
                    }
                }
                Channel::Advisory => {}
                Channel::Correspond if words.is_empty() && had_commands => {}
                Channel::Correspond if words.is_empty() => {
                    let reason = "nothing of your own was found in the signed text: only quoted lines, an attribution or a signature block".to_string();
                    r.events.push(Event::new(
                        now,
                        EventKind::Warning,
                        format!("reply by {name} relayed nothing: {reason}"),
                    ));
                    r.notices.push(Notice {
                        audience: Audience::Only(name.clone()),
                        kind: NoticeKind::Refused {
                            reason,
                            advice: "Write your answer above or below the quote (not inside quoted lines) and send it again.".into(),
                        },
                    });
                }
                Channel::Correspond if muted => {
                    r.events.push(Event::new(
                        now,
                        EventKind::Warning,
                        format!("reply by {name} not relayed: /reporter-ack off is in effect"),
                    ));
                }
                Channel::Correspond => r.relay = Some(words.to_string()),
            }
        }
        Sender::ClaimedHandler { name, .. } => {
            let parsed = commands::parse(&strip_reply(input.text));
            if !parsed.commands.is_empty() || !parsed.errors.is_empty() {
                r.events.push(Event::new(
                    now,
                    EventKind::Command,
                    format!(
                        "{} command line(s) from {who} NOT executed: commands need a good signature by {name}'s key",
                        parsed.commands.len() + parsed.errors.len()
                    ),
                ));
            }
            if chan == Channel::Correspond && !parsed.rest.trim().is_empty() {
                r.events.push(Event::new(
                    now,
                    EventKind::Warning,
                    format!("reply from {who} NOT relayed to the requestors: it needs a good signature by {name}'s key"),
                ));
            }
        }
        Sender::Requestor | Sender::Correspondent | Sender::Automatic => {
            r.notices.push(Notice {
                audience: Audience::Assignee,
                kind: NoticeKind::FollowUp,
            });
        }
        Sender::Outsider => {
            r.flags.insert(Flag::UnverifiedCorrespondent);
            let detail = format!(
                "{who} wrote on this ticket but is neither a requestor, a handler, nor an address we wrote to; attached, not forwarded to requestors"
            );
            r.events
                .push(Event::new(now, EventKind::Warning, detail.clone()));
            r.notices.push(Notice {
                audience: Audience::All,
                kind: NoticeKind::Warning(detail),
            });
        }
    }
    // An autoresponder answering our notification (or a relayed reply)
    // must not get another notification to answer: that is a mail loop.
    if is_automatic(m) && !r.notices.is_empty() {
        r.notices.clear();
        r.events.push(Event::new(
            now,
            EventKind::Warning,
            "automatic mail (Auto-Submitted, Precedence or null sender): handlers not notified",
        ));
    }
    r.sender = Some(sender);
    r
}

/// A handler's good signature that may not act here: flagged, recorded,
/// the other handlers warned, and the handler told why and what to do.
fn refuse(r: &mut Route, name: &str, who: &str, refusal: &Refusal, now: OffsetDateTime) {
    r.flags.insert(refusal.flag());
    let reason = refusal.reason();
    let detail =
        format!("signed mail from {who} (handler {name}) NOT relayed and NOT executed: {reason}");
    r.events
        .push(Event::new(now, EventKind::Warning, detail.clone()));
    r.notices.push(Notice {
        audience: Audience::AllBut(name.to_string()),
        kind: NoticeKind::Warning(detail),
    });
    r.notices.push(Notice {
        audience: Audience::Only(name.to_string()),
        kind: NoticeKind::Refused {
            reason,
            advice: refusal.advice().to_string(),
        },
    });
}

/// RFC 3834 and its older conventions: mail no person wrote just now.
fn is_automatic(m: &ParsedMail) -> bool {
    m.auto_submitted.as_deref().is_some_and(|v| v != "no")
        || matches!(m.precedence.as_deref(), Some("bulk" | "junk" | "list"))
        || m.return_path.as_deref() == Some("")
}

#[cfg(test)]
mod tests;

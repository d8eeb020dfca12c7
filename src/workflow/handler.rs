//! Who wrote a message on a ticket, and what follows for handlers and
//! requestors: notify, relay, keep internal, warn. A pure function over the
//! parsed mail, its verdict and what the store knows; `relay.rs` does the I/O.
//!
//! The point of the exercise: a handler is recognised by the From address
//! AND a good signature by that handler's key. A mail that merely claims a
//! handler's address is not relayed under the team's signature.

use super::commands::{self, Command, CommandError};
use super::decide::Placement;
use crate::config::{HandlerConfig, HandlerSignature};
use crate::mail::parse::ParsedMail;
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    NewTicket,
    FollowUp,
    Note,
    Warning(String),
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
    pub signature: HandlerSignature,
    pub own_addresses: &'a [String],
    pub comment_address: Option<&'a str>,
    pub advisory_address: Option<&'a str>,
}

pub struct RouteInput<'a> {
    pub mail: &'a ParsedMail,
    pub verification: Option<&'a Verification>,
    /// The readable text of the mail (see `mail::body`).
    pub text: &'a str,
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
    let chan = channel(m, cfg.comment_address, cfg.advisory_address);
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

    if chan == Channel::Advisory {
        match &sender {
            Sender::Handler { name } => match super::advisory::parse_mail(input.text) {
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
            let parsed = commands::parse(input.text);
            r.commands = parsed.commands;
            r.refused = parsed.errors;
        }
        r.sender = Some(sender);
        return r;
    }

    let relay_allowed = |s: &Sender| match s {
        Sender::Handler { .. } => true,
        Sender::ClaimedHandler { .. } => cfg.signature == HandlerSignature::Optional,
        _ => false,
    };
    match &sender {
        Sender::Handler { name } | Sender::ClaimedHandler { name, .. } => {
            let parsed = commands::parse(input.text);
            let verified = matches!(sender, Sender::Handler { .. });
            if verified {
                r.commands = parsed.commands;
                r.refused = parsed.errors;
            } else if !parsed.commands.is_empty() || !parsed.errors.is_empty() {
                r.events.push(Event::new(
                    now,
                    EventKind::Command,
                    format!(
                        "{} command line(s) from {who} NOT executed: commands need a good signature by {name}'s key",
                        parsed.commands.len() + parsed.errors.len()
                    ),
                ));
            }
            let text = crate::mail::quote::strip_reply(&parsed.rest);
            let muted = input.ticket.is_some_and(|t| t.handling.reporter_muted);
            match chan {
                Channel::Comment => {
                    if !text.trim().is_empty() {
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
                Channel::Correspond if text.trim().is_empty() => {}
                Channel::Correspond if !relay_allowed(&sender) => {
                    r.events.push(Event::new(
                        now,
                        EventKind::Warning,
                        format!("reply from {who} NOT relayed to the requestors (handler_signature = \"required\")"),
                    ));
                }
                Channel::Correspond if muted => {
                    r.events.push(Event::new(
                        now,
                        EventKind::Warning,
                        format!("reply by {name} not relayed: /reporter-ack off is in effect"),
                    ));
                }
                Channel::Correspond => r.relay = Some(text),
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

/// RFC 3834 and its older conventions: mail no person wrote just now.
fn is_automatic(m: &ParsedMail) -> bool {
    m.auto_submitted.as_deref().is_some_and(|v| v != "no")
        || matches!(m.precedence.as_deref(), Some("bulk" | "junk" | "list"))
        || m.return_path.as_deref() == Some("")
}

#[cfg(test)]
mod tests;

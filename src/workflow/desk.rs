//! The handler's desk on the command line: `csirtd ticket status|assign|…`
//! run the mail commands through the same `execute`, and `ticket reply`
//! goes through the relay's composition, so a step taken at the terminal
//! is accepted, refused and recorded as the same step taken by mail. Who
//! acted is a configured handler and the Unix user behind them.

use super::commands::Command;
use super::handler::{Audience, Notice, NoticeKind};
use super::relay::{Relay, Replied};
use crate::config::{Config, HandlerConfig};
use crate::model::{Event, EventKind, TicketId};
use crate::pgp::crypto::Crypto;
use crate::store::{Commit, Store, StoreError, TicketRecord};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// More is a file given by mistake, not a note or a reply.
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;

/// Who takes a step at the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The configured handler; None only for `ticket status` on an
    /// installation without handlers, as before handlers existed.
    pub handler: Option<String>,
    pub unix_user: String,
    /// The web desk's user, when the step was taken in the browser.
    pub web_user: Option<String>,
}

impl Actor {
    /// A step taken at the web desk by `user`, acting as `handler`.
    pub fn web(handler: &str, user: &str) -> Actor {
        Actor {
            handler: Some(handler.to_string()),
            unix_user: String::new(),
            web_user: Some(user.to_string()),
        }
    }

    /// How events name the actor, where mail commands name the handler.
    pub fn by(&self) -> String {
        match (&self.handler, &self.web_user) {
            (Some(h), Some(w)) if h.eq_ignore_ascii_case(w) => format!("{h} (web)"),
            (Some(h), Some(w)) => format!("{h} (web user {w})"),
            (None, Some(w)) => format!("web user {w}"),
            (Some(h), None) => format!("{h} (command line, unix user {})", self.unix_user),
            (None, None) => format!("unix user {} (command line)", self.unix_user),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    #[error("--as {name}: no such handler; configured: {known} (see [[handlers]] name in the configuration)")]
    UnknownHandler { name: String, known: String },
    #[error("the Unix user `{user}` is not mapped to a handler: give --as NAME, or set unix_user = \"{user}\" in your [[handlers]] entry of the configuration")]
    Unmapped { user: String },
    #[error("no [[handlers]] are configured: handling steps are taken by a handler (add a [[handlers]] entry with name, email, fingerprint and unix_user)")]
    NoHandlers,
}

/// The handler `--as` names, else the one whose `unix_user` is `unix_user`.
pub fn resolve(
    handlers: &[HandlerConfig],
    as_name: Option<&str>,
    unix_user: &str,
) -> Result<Actor, ActorError> {
    if handlers.is_empty() {
        return Err(ActorError::NoHandlers);
    }
    let handler = match as_name {
        Some(name) => handlers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| ActorError::UnknownHandler {
                name: name.to_string(),
                known: handlers
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
        None => handlers
            .iter()
            .find(|h| h.unix_user.as_deref() == Some(unix_user))
            .ok_or_else(|| ActorError::Unmapped {
                user: unix_user.to_string(),
            })?,
    };
    Ok(Actor {
        handler: Some(handler.name.clone()),
        unix_user: unix_user.to_string(),
        web_user: None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("ticket {0} does not exist (see `csirtd ticket list`)")]
    NoTicket(TicketId),
    /// The step was refused; nothing was changed.
    #[error("{0}")]
    Refused(String),
    #[error("the team signs what it sends: configure [pgp] with team_key ({0})")]
    Crypto(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn load(store: &Store, id: TicketId) -> Result<TicketRecord, DeskError> {
    store.ticket(id)?.ok_or(DeskError::NoTicket(id))
}

/// Runs one mail command on ticket `id` as `actor`. Returns the ticket's
/// new events; a refusal changes nothing and says why.
pub fn command(
    store: &Store,
    cfg: &Config,
    id: TicketId,
    command: &Command,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Vec<Event>, DeskError> {
    let _writer = store.write_guard();
    let mut ticket = load(store, id)?;
    let commands = std::slice::from_ref(command);
    let mut known = BTreeMap::new();
    for t in super::execute::targets(commands, &ticket) {
        if let Some(rec) = store.ticket(t)? {
            known.insert(t, rec);
        }
    }
    let outcome = super::execute::execute(
        commands,
        &mut ticket,
        &known,
        &cfg.handlers,
        &actor.by(),
        now,
    );
    if let Some(e) = outcome.refused.first() {
        return Err(DeskError::Refused(format!(
            "`{}` refused: {}",
            e.line, e.reason
        )));
    }
    let mut commit = Commit::events_only(ticket, outcome.events.clone());
    commit.also = outcome.others.into_values().collect();
    store.apply(&commit, now)?;
    store.flush()?;
    Ok(outcome.events)
}

/// Records an internal note, as a handler's mail to the comment address
/// is: on the ticket, told to the other handlers, never to the requestors.
pub fn note(
    store: &Store,
    cfg: &Config,
    id: TicketId,
    text: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Vec<Event>, DeskError> {
    let text = checked_text(text)?;
    let crypto = crypto(cfg)?;
    let _writer = store.write_guard();
    let mut ticket = load(store, id)?;
    ticket.updated_at = now;
    let by = actor.by();
    let event = Event::new(
        now,
        EventKind::Note,
        format!("internal note by {by}; not sent to requestors: {text}"),
    );
    let mut commit = Commit::events_only(ticket, vec![event]);
    if let Some(h) = &actor.handler {
        let notice = Notice {
            audience: Audience::AllBut(h.clone()),
            kind: NoticeKind::Note,
        };
        Relay::new(cfg).notify_desk(&mut commit, &crypto, store, &[notice], h, &by, text, now)?;
    }
    store.apply(&commit, now)?;
    store.flush()?;
    Ok(commit.events)
}

/// Sends `text` to the ticket's requestors exactly as a handler's signed
/// reply by mail is relayed, and tells the handlers what the mail path
/// would (a reply kept for release). Returns what became of it and the
/// events.
pub fn reply(
    store: &Store,
    cfg: &Config,
    id: TicketId,
    text: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(Replied, Vec<Event>), DeskError> {
    let text = checked_text(text)?;
    let crypto = crypto(cfg)?;
    let _writer = store.write_guard();
    let ticket = load(store, id)?;
    refuse_reply(&ticket).map_err(DeskError::Refused)?;
    let history = store.messages(id)?;
    let mut commit = Commit::events_only(ticket, Vec::new());
    commit.ticket.updated_at = now;
    let relay = Relay::new(cfg);
    let by = actor.by();
    let replied = relay.relay_reply(&mut commit, &crypto, &history, text, &by, now);
    if let Some(h) = &actor.handler {
        relay.notify_desk(
            &mut commit,
            &crypto,
            store,
            &replied.notices,
            h,
            &by,
            text,
            now,
        )?;
    }
    store.apply(&commit, now)?;
    store.flush()?;
    Ok((replied, commit.events))
}

fn crypto(cfg: &Config) -> Result<Crypto, DeskError> {
    let pgp = cfg
        .pgp
        .as_ref()
        .ok_or_else(|| DeskError::Crypto("there is no [pgp] section".into()))?;
    Crypto::from_config(pgp, cfg.limits.max_stored_size)
        .map_err(|e| DeskError::Crypto(e.to_string()))
}

/// Why a reply may not go out on this ticket, as the mail path refuses it.
pub fn refuse_reply(t: &TicketRecord) -> Result<(), String> {
    if let Some(into) = t.handling.merged_into {
        return Err(format!(
            "{} was merged into {into}: reply on {into}, which has its requestors",
            t.id
        ));
    }
    if t.handling.reporter_muted {
        return Err(format!(
            "not relayed: /reporter-ack off is in effect on {}, nothing more goes to its requestors",
            t.id
        ));
    }
    if t.requestors.is_empty() {
        return Err(format!("{} has no requestors to reply to", t.id));
    }
    Ok(())
}

/// The words themselves, bounded; empty text is no note and no reply.
pub fn checked_text(text: &str) -> Result<&str, DeskError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(DeskError::Refused(format!(
            "the text has {} bytes; at most {MAX_TEXT_BYTES} are taken",
            text.len()
        )));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(DeskError::Refused(
            "the text is empty: nothing was done".into(),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs() -> Vec<HandlerConfig> {
        let h = |name: &str, user: Option<&str>| HandlerConfig {
            name: name.into(),
            email: format!("{name}@cert.example"),
            fingerprint: "0".repeat(40),
            unix_user: user.map(str::to_string),
        };
        vec![h("alice", Some("al")), h("bob", None)]
    }

    #[test]
    fn as_names_a_handler_and_the_unix_user_is_kept() {
        let a = resolve(&hs(), Some("BOB"), "al").unwrap();
        assert_eq!(a.handler.as_deref(), Some("bob"));
        assert_eq!(a.by(), "bob (command line, unix user al)");
        let a = resolve(&hs(), None, "al").unwrap();
        assert_eq!(a.handler.as_deref(), Some("alice"));
    }

    #[test]
    fn unknown_or_unmapped_is_refused_with_the_fix() {
        let e = resolve(&hs(), Some("mallory"), "al").unwrap_err();
        assert!(e.to_string().contains("configured: alice, bob"), "{e}");
        let e = resolve(&hs(), None, "root").unwrap_err();
        assert!(e.to_string().contains("unix_user = \"root\""), "{e}");
        assert_eq!(
            resolve(&[], Some("alice"), "al"),
            Err(ActorError::NoHandlers)
        );
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(checked_text("\n hi \n").unwrap(), "hi");
        assert!(checked_text(" \n\t").is_err());
        assert!(checked_text(&"x".repeat(MAX_TEXT_BYTES + 1)).is_err());
    }
}

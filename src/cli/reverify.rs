//! `csirtd reverify ID`: after handlers fixed the keyring (imported a key,
//! learned of a revocation), judge a ticket's stored mail again. The intake
//! verdict stays as it was; the new one is an event beside it.

use crate::config::Config;
use crate::model::{Direction, Event, EventKind, TicketId};
use crate::pgp::crypto::{summary, Crypto};
use crate::store::{Commit, Store};
use std::io::Write;
use time::OffsetDateTime;

pub fn run(store: &Store, cfg: &Config, id: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let id: TicketId = id.parse()?;
    // Fresh from disk: the point is to use the keys as they are now.
    let crypto = match &cfg.pgp {
        Some(p) => Crypto::from_config(p, cfg.limits.max_stored_size)?,
        None => Crypto::unconfigured(cfg.limits.max_stored_size),
    };
    let _writer = store.write_guard();
    let Some(mut ticket) = store.ticket(id)? else {
        anyhow::bail!("ticket {id} does not exist (see `csirtd ticket list`)");
    };
    let now = OffsetDateTime::now_utc();
    let mut events = Vec::new();
    let messages = store.messages(id)?;
    let mut progress = super::maintenance::Progress::new("verifying messages");
    for (n, m) in messages.iter().enumerate() {
        progress.update(n as u64, messages.len() as u64);
        if m.direction != Direction::In {
            continue;
        }
        let Some(raw) = store.raw(m.seq)? else {
            continue;
        };
        let mail = crate::mail::parse::parse(&raw, &cfg.limits);
        let v = crypto.examine(&raw, &mail).verification;
        let before = m
            .verification
            .as_ref()
            .map_or("none", |o| o.status.as_str());
        let line = format!(
            "message {} <{}>: {} (at intake: {before})",
            n + 1,
            m.message_id.as_deref().unwrap_or("no Message-ID"),
            summary(&v)
        );
        writeln!(out, "{}", crate::mail::display::escape(&line))?;
        events.push(Event::new(now, EventKind::Reverified, line));
    }
    progress.finish();
    if events.is_empty() {
        writeln!(out, "{id} has no incoming message to verify")?;
        return Ok(());
    }
    ticket.updated_at = now;
    store.apply(&Commit::events_only(ticket, events), now)?;
    store.flush()?;
    Ok(())
}

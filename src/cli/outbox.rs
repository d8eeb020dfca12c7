//! `csirtd outbox …`: look at the queue, deliver it, and handle stuck mail
//! (retry, release, cancel). Each change is an event on the entry's ticket.

use crate::config::Config;
use crate::mail::display::escape;
use crate::model::TicketId;
use crate::outbox::sender::{Failure, Sender};
use crate::store::{OutboxRecord, OutboxState, Store};
use clap::Subcommand;
use serde_json::json;
use std::io::Write;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// List outgoing mail with its delivery state
    List {
        #[arg(long)]
        json: bool,
        /// Only entries in this state: queued, sent, failed, held,
        /// awaiting-release, cancelled, sealing
        #[arg(long, value_parser = parse_state)]
        state: Option<OutboxState>,
        /// Only the entries of this ticket (2026-00042 or the whole tag)
        #[arg(long, value_parser = parse_ticket)]
        ticket: Option<TicketId>,
    },
    /// Deliver what is due now, once, and exit (for use without the
    /// daemon). Exits 1 when a delivery failed permanently in this run.
    Deliver,
    /// Send a failed entry (or every failed one) back to the queue for an
    /// immediate attempt, once what made it fail is fixed
    Retry {
        /// The outbox ID, as `csirtd outbox list` shows it
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        id: Option<u64>,
        /// Every entry in state failed
        #[arg(long)]
        failed: bool,
    },
    /// Let a kept entry go out: one awaiting a handler's release (a held
    /// feed, TLP:AMBER+STRICT or TLP:RED), or one held for lack of the
    /// recipient's key, which is then encrypted to the key now in the
    /// keyring (`csirtd keys import` it first)
    Release {
        /// The outbox ID, as `csirtd outbox list` shows it
        id: u64,
    },
    /// Withdraw an entry that has not gone out: it is never sent
    Cancel {
        /// The outbox ID, as `csirtd outbox list` shows it
        id: u64,
        /// Why, for the ticket's history
        #[arg(long, required = true)]
        reason: String,
    },
}

fn parse_state(s: &str) -> Result<OutboxState, String> {
    OutboxState::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = OutboxState::ALL.iter().map(|s| s.as_str()).collect();
        format!("no such state; the states are {}", names.join(", "))
    })
}

fn parse_ticket(s: &str) -> Result<TicketId, String> {
    s.parse::<TicketId>().map_err(|e| e.to_string())
}

/// Who is acting, as events and logs name them: printable, short, and
/// never able to forge a line of a ticket's history.
pub fn operator_name(raw: &str) -> String {
    let clean: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-@".contains(*c))
        .take(64)
        .collect();
    if clean.is_empty() {
        "unknown".into()
    } else {
        clean
    }
}

/// The Unix user running this `csirtd`: the one behind `sudo` when there is one.
pub fn local_operator() -> String {
    let name = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
    match name {
        Some(n) => operator_name(&n),
        // SAFETY: geteuid has no preconditions and cannot fail.
        None => format!("uid-{}", unsafe { libc::geteuid() }),
    }
}

/// `in_daemon`: run inside the daemon for a forwarded request. `operator`:
/// the Unix user who gave the command (the daemon's client, when forwarded).
pub fn run(
    store: &Store,
    cfg: &Config,
    cmd: OutboxCommand,
    out: &mut dyn Write,
    in_daemon: bool,
    operator: &str,
) -> anyhow::Result<()> {
    let by = format!("the operator {operator}");
    let next = if in_daemon {
        "the running daemon sends it now"
    } else {
        "`csirtd outbox deliver` or the daemon sends it"
    };
    match cmd {
        OutboxCommand::List {
            json,
            state,
            ticket,
        } => {
            let entries: Vec<OutboxRecord> = store
                .outbox()?
                .into_iter()
                .filter(|o| state.is_none_or(|s| o.state == s))
                .filter(|o| ticket.is_none_or(|t| o.ticket == t))
                .collect();
            list(&entries, json, out)?;
        }
        OutboxCommand::Retry { id, failed: _ } => {
            let now = OffsetDateTime::now_utc();
            let retried = match id {
                Some(id) => vec![store.retry_outbox(id, &by, now).map_err(|e| {
                    anyhow::anyhow!(
                        "{e}\n  hint: `csirtd outbox list --state failed` shows the failed entries"
                    )
                })?],
                None => store.retry_failed(&by, now)?,
            };
            store.flush()?;
            if retried.is_empty() {
                writeln!(out, "no entry is in state failed")?;
            }
            for rec in &retried {
                logged(rec, operator, "sent back to the queue");
                writeln!(
                    out,
                    "outbox entry {} ({}) to {} is queued again; {next}",
                    rec.id,
                    owner(rec),
                    escape(&rec.to.join(", "))
                )?;
            }
        }
        OutboxCommand::Release { id } => release(store, cfg, id, &by, operator, next, out)?,
        OutboxCommand::Cancel { id, reason } => {
            let reason = reason.trim();
            if reason.is_empty() {
                anyhow::bail!("say why with --reason TEXT: it goes into the ticket's history");
            }
            let rec = store.cancel_outbox(id, reason, &by, OffsetDateTime::now_utc())?;
            store.flush()?;
            logged(&rec, operator, "cancelled");
            writeln!(
                out,
                "cancelled outbox entry {id} ({}) to {}; it is never sent",
                owner(&rec),
                escape(&rec.to.join(", "))
            )?;
        }
        OutboxCommand::Deliver if in_daemon => {
            writeln!(
                out,
                "the running daemon delivers the outbox itself; see `csirtd outbox list`"
            )?;
        }
        OutboxCommand::Deliver => deliver(store, cfg, out)?,
    }
    out.flush()?;
    Ok(())
}

/// The ticket an entry belongs to, or its advisory.
fn owner(rec: &OutboxRecord) -> String {
    match (&rec.advisory, rec.ticket) {
        (Some(a), _) => format!("advisory {a}"),
        (None, crate::store::advisory::NO_TICKET) => "a daily digest".into(),
        (None, t) => format!("ticket {t}"),
    }
}

/// The daemon's log keeps every operator action; for an advisory copy
/// without a ticket it is the only record.
fn logged(rec: &OutboxRecord, operator: &str, what: &str) {
    tracing::info!(
        id = rec.id,
        owner = %owner(rec),
        to = %rec.to.join(", "),
        operator,
        "outbox entry {what}"
    );
}

fn list(entries: &[OutboxRecord], json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if json {
        let list: Vec<_> = entries
            .iter()
            .map(|o| {
                json!({
                    "id": o.id, "ticket": o.ticket, "to": o.to, "subject": o.subject,
                    "message_id": o.message_id, "state": o.state, "attempts": o.attempts,
                    "last_error": o.last_error, "advisory": o.advisory,
                    "created_at": o.created_at.format(&Rfc3339).unwrap_or_default(),
                    "next_attempt_at": o.next_attempt_at.format(&Rfc3339).unwrap_or_default(),
                    "sent_at": o.sent_at.and_then(|t| t.format(&Rfc3339).ok()),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    if entries.is_empty() {
        writeln!(out, "no outbox entries")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>5}  {:<12} {:<16} {:>3}  {:<30} SUBJECT",
        "ID", "TICKET", "STATE", "TRY", "TO"
    )?;
    for o in entries {
        writeln!(
            out,
            "{:>5}  {:<12} {:<16} {:>3}  {:<30} {}{}",
            o.id,
            // An advisory copy is named by its advisory; a digest, about
            // several tickets, as such.
            match (&o.advisory, o.ticket) {
                (Some(a), _) => a.clone(),
                (None, crate::store::advisory::NO_TICKET) => "digest".into(),
                (None, t) => t.to_string(),
            },
            o.state.as_str(),
            o.attempts,
            escape(&o.to.join(", ")),
            escape(&o.subject),
            o.last_error
                .as_deref()
                .map(|e| format!("  (last error: {})", escape(e)))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

pub(crate) fn release(
    store: &Store,
    cfg: &Config,
    id: u64,
    by: &str,
    operator: &str,
    next: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Some(entry) = store.outbox_entry(id)? else {
        anyhow::bail!("outbox entry {id} does not exist; `csirtd outbox list` shows the entries");
    };
    let now = OffsetDateTime::now_utc();
    let rec = match entry.state {
        OutboxState::AwaitingRelease => store.release_outbox(id, by, now)?,
        OutboxState::Held => {
            let stored = store.raw(entry.message_seq)?.unwrap_or_default();
            let sealed = crate::outbox::reseal::reseal(cfg, &entry.to, &stored).map_err(|e| {
                anyhow::anyhow!(
                    "outbox entry {id} to {} stays held: {e}; then run `csirtd outbox release {id}` again",
                    escape(&entry.to.join(", "))
                )
            })?;
            let keys: Vec<String> = sealed
                .keys
                .iter()
                .map(|(to, fpr)| format!("{to} ({fpr})"))
                .collect();
            let detail = format!("sealed again, encrypted to {}", keys.join(", "));
            store.release_held(id, &sealed.bytes, &detail, by, now)?
        }
        OutboxState::Failed => anyhow::bail!(
            "outbox entry {id} is failed, not kept: `csirtd outbox retry {id}` sends it again"
        ),
        other => anyhow::bail!(
            "outbox entry {id} is {}: only held and awaiting-release entries are released",
            other.as_str()
        ),
    };
    store.flush()?;
    logged(&rec, operator, "released");
    let how = if entry.state == OutboxState::Held {
        ", encrypted to the key now in the keyring"
    } else {
        ""
    };
    writeln!(
        out,
        "released outbox entry {id} ({}) to {}{how}; it is queued and {next}",
        owner(&rec),
        escape(&rec.to.join(", "))
    )?;
    Ok(())
}

/// Delivers until nothing is due. A permanent failure makes the command
/// fail (exit 1) after everything due has been tried, naming each
/// recipient and the server's reply.
fn deliver(store: &Store, cfg: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let sender = Sender::from_config(store.clone(), cfg)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    let high = store.outbox_high_water()?;
    let mut total = 0;
    let mut failed: Vec<Failure> = Vec::new();
    loop {
        let pass = rt.block_on(sender.deliver_due(high, &shutdown))?;
        if pass.attempted == 0 {
            break;
        }
        total += pass.attempted;
        failed.extend(pass.failed);
    }
    rt.block_on(sender.close());
    let queued = store
        .outbox()?
        .iter()
        .filter(|o| o.state == OutboxState::Queued)
        .count();
    writeln!(
        out,
        "attempted {total}, {queued} still queued, {} failed permanently",
        failed.len()
    )?;
    if failed.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = failed
        .iter()
        .map(|f| {
            format!(
                "  outbox entry {} to {}: {}",
                f.id,
                escape(&f.to.join(", ")),
                escape(&f.error)
            )
        })
        .collect();
    anyhow::bail!(
        "{} delivery(ies) failed permanently:\n{}\n  once fixed, `csirtd outbox retry ID` (or --failed) queues them again",
        failed.len(),
        lines.join("\n")
    )
}

//! `csirtd outbox …`

use crate::config::Config;
use crate::mail::display::escape;
use crate::outbox::sender::Sender;
use crate::store::Store;
use clap::Subcommand;
use serde_json::json;
use std::io::Write;
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// List outgoing mail with its delivery state
    List {
        #[arg(long)]
        json: bool,
    },
    /// Deliver what is due now, once, and exit (for use without the daemon)
    Deliver,
    /// Let an entry kept for a handler's release (state awaiting-release:
    /// a held feed, TLP:AMBER+STRICT or TLP:RED) go out
    Release {
        /// The outbox ID, as `csirtd outbox list` shows it
        id: u64,
    },
}

/// `in_daemon`: run inside the daemon for a forwarded request.
pub fn run(
    store: &Store,
    cfg: &Config,
    cmd: OutboxCommand,
    out: &mut dyn Write,
    in_daemon: bool,
) -> anyhow::Result<()> {
    match cmd {
        OutboxCommand::List { json } => {
            let entries = store.outbox()?;
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
            } else if entries.is_empty() {
                writeln!(out, "outbox is empty")?;
            } else {
                writeln!(
                    out,
                    "{:>5}  {:<12} {:<7} {:>3}  {:<30} SUBJECT",
                    "ID", "TICKET", "STATE", "TRY", "TO"
                )?;
                for o in &entries {
                    writeln!(
                        out,
                        "{:>5}  {:<12} {:<7} {:>3}  {:<30} {}{}",
                        o.id,
                        // An advisory copy is named by its advisory; a
                        // digest, about several tickets, as such.
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
            }
        }
        OutboxCommand::Release { id } => {
            let who = std::env::var("SUDO_USER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "unknown".into());
            let by = format!("the operator {} at the command line", escape(&who));
            let rec = store
                .release_outbox(id, &by, time::OffsetDateTime::now_utc())
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{e}\n  hint: `csirtd outbox list` shows the entries awaiting release"
                    )
                })?;
            store.flush()?;
            writeln!(
                out,
                "released outbox entry {id} (ticket {}) to {}; it is queued and goes out with the next delivery",
                rec.ticket,
                escape(&rec.to.join(", "))
            )?;
        }
        OutboxCommand::Deliver if in_daemon => {
            writeln!(
                out,
                "the running daemon delivers the outbox itself; see `csirtd outbox list`"
            )?;
        }
        OutboxCommand::Deliver => {
            let sender = Sender::from_config(store.clone(), cfg)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (_tx, shutdown) = tokio::sync::watch::channel(false);
            let high = store.outbox_high_water()?;
            let mut total = 0;
            loop {
                let n = rt.block_on(sender.deliver_due(high, &shutdown))?;
                if n == 0 {
                    break;
                }
                total += n;
            }
            let queued = store
                .outbox()?
                .iter()
                .filter(|o| o.state == crate::store::OutboxState::Queued)
                .count();
            writeln!(out, "attempted {total}, {queued} still queued")?;
        }
    }
    out.flush()?;
    Ok(())
}

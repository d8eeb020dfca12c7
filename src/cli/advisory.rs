//! `csirtd advisory send|list|show`

use crate::config::Config;
use crate::model::TicketId;
use crate::pgp::crypto::Crypto;
use crate::store::advisory::AdvisoryRecord;
use crate::store::{OutboxState, Store};
use crate::workflow::commands::Tlp;
use crate::workflow::publish::{self, Request};
use clap::Subcommand;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Subcommand, Debug)]
pub enum AdvisoryCommand {
    /// Sign (and encrypt per member) an advisory and queue it to a list
    Send {
        #[arg(long)]
        list: String,
        /// clear, green, amber, amber+strict or red
        #[arg(long, value_parser = parse_tlp)]
        tlp: Tlp,
        #[arg(long)]
        subject: String,
        /// A related ticket
        #[arg(long)]
        ticket: Option<String>,
        /// The advisory text (UTF-8)
        file: PathBuf,
    },
    /// List advisories
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show an advisory with its recipients and their delivery state
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn parse_tlp(s: &str) -> Result<Tlp, String> {
    Tlp::parse(s).ok_or_else(|| format!("`{s}` is not clear, green, amber, amber+strict or red"))
}

/// `in_daemon`: forwarded to the running daemon, whose working directory
/// is not the caller's.
pub fn run(
    store: &Store,
    cfg: &Config,
    cmd: AdvisoryCommand,
    out: &mut dyn Write,
    in_daemon: bool,
) -> anyhow::Result<()> {
    match cmd {
        AdvisoryCommand::Send {
            list,
            tlp,
            subject,
            ticket,
            file,
        } => {
            if in_daemon && file.is_relative() {
                anyhow::bail!(
                    "the daemon holds the store and reads FILE itself: give an absolute path it can read (not {})",
                    file.display()
                );
            }
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let ticket = ticket.map(|t| t.parse::<TicketId>()).transpose()?;
            let pgp = cfg.pgp.as_ref().ok_or_else(|| {
                anyhow::anyhow!("advisories are signed: configure [pgp] with a team_key")
            })?;
            let crypto = Crypto::from_config(pgp, cfg.limits.max_stored_size)?;
            let by = std::env::var("USER").unwrap_or_else(|_| "operator".into());
            let rec = publish::publish(
                cfg,
                &crypto,
                store,
                &Request {
                    list,
                    tlp,
                    subject,
                    text,
                    ticket,
                    by: format!("{by} (command line)"),
                },
                OffsetDateTime::now_utc(),
            )?;
            writeln!(
                out,
                "{} queued to {} recipient(s) of list {}",
                rec.id,
                rec.recipients.len(),
                rec.list
            )?;
        }
        AdvisoryCommand::List { json } => {
            let all = store.advisories()?;
            if json {
                let v: Vec<_> = all.iter().map(summary_json).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else if all.is_empty() {
                writeln!(out, "no advisories")?;
            } else {
                for a in &all {
                    writeln!(
                        out,
                        "{:<24} {:<18} {:<10} {:>5}  {}",
                        a.id,
                        a.tlp.to_string(),
                        a.list,
                        a.recipients.len(),
                        a.subject
                    )?;
                }
            }
        }
        AdvisoryCommand::Show { id, json } => {
            let a = store.advisory(&id)?.ok_or_else(|| {
                anyhow::anyhow!("advisory {id} does not exist (see `csirtd advisory list`)")
            })?;
            let states: Vec<(Option<OutboxState>, u32, Option<String>)> = store
                .recipient_states(&a)?
                .into_iter()
                .map(|s| s.map_or((None, 0, None), |s| (Some(s.state), s.attempts, s.error)))
                .collect();
            if json {
                let mut v = summary_json(&a);
                v["text"] = json!(a.text);
                v["recipients"] = json!(a
                    .recipients
                    .iter()
                    .zip(&states)
                    .map(|(r, (s, n, e))| json!({
                        "address": r.address, "delivery": r.delivery, "message_id": r.message_id,
                        "outbox_id": r.outbox_id, "state": s, "attempts": n, "last_error": e,
                    }))
                    .collect::<Vec<_>>());
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(out, "{} [{}] {}", a.id, a.tlp, a.subject)?;
                writeln!(
                    out,
                    "  list     {}\n  by       {}\n  created  {}",
                    a.list,
                    a.by,
                    a.created_at.format(&Rfc3339).unwrap_or_default()
                )?;
                if let Some(t) = a.ticket {
                    writeln!(out, "  ticket   {}", t.tag(&cfg.team.tag))?;
                }
                writeln!(out, "\nrecipients:")?;
                for (r, (s, n, e)) in a.recipients.iter().zip(&states) {
                    writeln!(
                        out,
                        "  {:<36} {:<12} {:<7} {:>2} {}",
                        r.address,
                        r.delivery.as_str(),
                        s.map_or("-", |s| s.as_str()),
                        n,
                        e.as_deref().unwrap_or("")
                    )?;
                }
                writeln!(out, "\ntext:\n{}", a.text)?;
            }
        }
    }
    Ok(())
}

fn summary_json(a: &AdvisoryRecord) -> serde_json::Value {
    json!({
        "id": a.id, "list": a.list, "tlp": a.tlp, "subject": a.subject, "ticket": a.ticket,
        "by": a.by, "created_at": a.created_at.format(&Rfc3339).unwrap_or_default(),
        "recipient_count": a.recipients.len(),
    })
}

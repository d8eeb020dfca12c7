//! `csirtd notify digest`

use crate::config::Config;
use crate::pgp::crypto::Crypto;
use crate::store::Store;
use crate::workflow::digest_run::{self, Report};
use crate::workflow::queue_digest_run;
use clap::Subcommand;
use std::io::Write;
use time::OffsetDateTime;

#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Send the daily digests of constituency notifications that are due
    /// (`[notifications] digest_at` has passed since they were kept)
    Digest {
        /// Send every pending digest now, due or not
        #[arg(long)]
        now: bool,
    },
    /// Send each handler the queue digest (overdue, their own, new
    /// unassigned tickets) when `[sla] digest_at` has passed since the last
    /// one
    Queue {
        /// Send it now, due or not
        #[arg(long)]
        now: bool,
    },
}

pub fn run(
    store: &Store,
    cfg: &Config,
    cmd: NotifyCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let crypto = || -> anyhow::Result<Crypto> {
        Ok(match &cfg.pgp {
            Some(p) => Crypto::from_config(p, cfg.limits.max_stored_size)?,
            None => Crypto::unconfigured(cfg.limits.max_stored_size),
        })
    };
    match cmd {
        NotifyCommand::Queue { now } => {
            let crypto = crypto()?;
            let at = crate::clock::now();
            let sent = if now {
                Some(queue_digest_run::send_all(cfg, &crypto, store, at)?)
            } else {
                queue_digest_run::send_if_due(cfg, &crypto, store, at)?
            };
            match sent {
                None => writeln!(
                    out,
                    "no queue digest is due ([sla] digest_at {}); --now sends them",
                    cfg.sla.digest_at.as_deref().map_or("is not set", str::trim)
                )?,
                Some(s) if s.is_empty() => writeln!(
                    out,
                    "no handler is configured ([[handlers]]): no queue digest to send"
                )?,
                Some(s) => {
                    for d in s {
                        writeln!(
                            out,
                            "queue digest to {} listing {} ticket(s): outbox {} ({})",
                            d.handler,
                            d.tickets,
                            d.outbox_id,
                            d.state.as_str()
                        )?;
                    }
                }
            }
        }
        NotifyCommand::Digest { now } => {
            let crypto = crypto()?;
            let at = OffsetDateTime::now_utc();
            let report = if now {
                Some(digest_run::send_all(cfg, &crypto, store, at)?)
            } else {
                digest_run::send_if_due(cfg, &crypto, store, at)?
            };
            match report {
                None => writeln!(
                    out,
                    "no digest is due (digest_at {} UTC); --now sends the pending ones",
                    cfg.notifications.digest_at.trim()
                )?,
                Some(r) => print_report(&r, out)?,
            }
        }
    }
    Ok(())
}

fn print_report(r: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    if r.sent.is_empty() && r.failed.is_empty() {
        writeln!(out, "no digest is pending")?;
    }
    for s in &r.sent {
        writeln!(
            out,
            "digest to {} listing {} ticket(s): outbox {} ({})",
            s.contact,
            s.tickets,
            s.outbox_id,
            s.state.as_str()
        )?;
    }
    if let Some((contact, why)) = r.failed.first() {
        anyhow::bail!(
            "{} digest(s) not composed, their entries stay pending; {contact}: {why}",
            r.failed.len()
        );
    }
    Ok(())
}

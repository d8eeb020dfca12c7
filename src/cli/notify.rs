//! `csirtd notify digest`

use crate::config::Config;
use crate::pgp::crypto::Crypto;
use crate::store::Store;
use crate::workflow::digest_run::{self, Report};
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
}

pub fn run(
    store: &Store,
    cfg: &Config,
    cmd: NotifyCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        NotifyCommand::Digest { now } => {
            let crypto = match &cfg.pgp {
                Some(p) => Crypto::from_config(p, cfg.limits.max_stored_size)?,
                None => Crypto::unconfigured(cfg.limits.max_stored_size),
            };
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

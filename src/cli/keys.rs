//! `csirtd keys …`: the keyring is a directory of certificates an operator
//! chose to trust; keys that arrive with mail never get in by themselves.

use crate::config::Config;
use crate::pgp::Keyring;
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add certificates (armored or binary, one or many per file) to the keyring
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the keyring: fingerprint, user IDs, expiry, revocation
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cfg: &Config, cmd: KeysCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(pgp) = &cfg.pgp else {
        anyhow::bail!(
            "no [pgp] section in {}: set pgp.keyring to a directory first",
            cfg.source.display()
        );
    };
    let mut keyring = Keyring::load(&pgp.keyring)?;
    match cmd {
        KeysCommand::Import { files } => {
            let added = keyring.import(&files)?;
            for fpr in &added {
                writeln!(out, "imported {fpr}")?;
            }
            writeln!(
                out,
                "{} certificate(s) in {}; {}, and `csirtd reverify ID` re-checks stored mail",
                added.len(),
                pgp.keyring.display(),
                tell_daemon(&cfg.store.path)
            )?;
        }
        KeysCommand::List { json } => {
            let mut keys = keyring.list();
            keys.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&keys)?)?;
            } else if keys.is_empty() {
                writeln!(out, "the keyring {} is empty", pgp.keyring.display())?;
            } else {
                for k in &keys {
                    let state = if k.revoked {
                        "REVOKED"
                    } else if k.expired {
                        "EXPIRED"
                    } else if k.invalid.is_some() {
                        "INVALID"
                    } else {
                        "valid"
                    };
                    writeln!(
                        out,
                        "{}  {:<7}  expires {}  {}",
                        k.fingerprint,
                        state,
                        k.expires.as_deref().unwrap_or("never"),
                        crate::mail::display::escape(&k.user_ids.join(", "))
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// Asks a running daemon to reload (SIGHUP), so that imported keys count
/// for new mail at once; says what happened.
fn tell_daemon(store: &std::path::Path) -> String {
    let Some(pid) = super::lock::daemon_pid(store) else {
        return "no daemon holds the store: it uses them when it starts".to_string();
    };
    // SAFETY: kill(2) with a pid the kernel's lock table gave for the
    // store's daemon; a process that has gone away gives ESRCH.
    if unsafe { libc::kill(pid as i32, libc::SIGHUP) } == 0 {
        format!("the running daemon (pid {pid}) was asked to reload its keyring (SIGHUP)")
    } else {
        format!(
            "the running daemon (pid {pid}) could not be told ({}); reload it (systemctl reload csirtd)",
            std::io::Error::last_os_error()
        )
    }
}

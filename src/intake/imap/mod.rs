//! IMAP intake. Each `[[intake.imap]]` account runs as a tokio task that
//! keeps one connection to its folder, fetches by UID and waits in IDLE
//! (or polls). The synchronous intake thread sees it as a [`Source`]
//! through channels: fetched messages come in, dispositions go back, and
//! the task moves or flags a message only once the commit holding it is
//! durable.

mod connect;
mod session;
pub mod status;
mod task;
mod tracker;
mod wait;

use super::{Disposition, IntakeError, Origin, RawMessage, Source, Wakeup};
use crate::config::{ImapConfig, ImapTls};
use crate::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    TlsConfig(String),
    #[error("{step}: {source}")]
    Io {
        step: &'static str,
        source: std::io::Error,
    },
    #[error("{step}: {source}")]
    Protocol {
        step: &'static str,
        source: async_imap::error::Error,
    },
    #[error("{step}: no answer within {limit:?}")]
    Timeout { step: &'static str, limit: Duration },
    #[error("unexpected server greeting: {0}")]
    Greeting(String),
    #[error("the server closed the connection")]
    Closed,
    #[error("during IDLE the server answered {0}")]
    IdleRefused(String),
    #[error("the IMAP client failed on a server response (panic; see above)")]
    Panicked,
    #[error("cannot read password_file {path}: {source}")]
    Password {
        path: String,
        source: std::io::Error,
    },
    #[error("login as {user} refused: {source}")]
    Auth {
        user: String,
        source: async_imap::error::Error,
    },
    #[error("folder {folder}: {problem}")]
    Folder { folder: String, problem: String },
}

impl From<(&'static str, std::io::Error)> for ImapError {
    fn from((step, source): (&'static str, std::io::Error)) -> Self {
        ImapError::Io { step, source }
    }
}

impl From<(&'static str, async_imap::error::Error)> for ImapError {
    fn from((step, source): (&'static str, async_imap::error::Error)) -> Self {
        ImapError::Protocol { step, source }
    }
}

impl ImapError {
    /// The server answered NO or BAD: the connection is fine, the request
    /// is not, and repeating it at once would fail again.
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            ImapError::Protocol {
                source: async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_),
                ..
            }
        )
    }
}

/// Resolves when the daemon is told to stop; never, if it cannot be any
/// more (the sender is gone), so that no select loop spins on it.
async fn stop_signal(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// From the intake thread to the account's task.
#[derive(Debug)]
enum Command {
    Done {
        uidvalidity: u32,
        uid: u32,
        disposition: Disposition,
    },
    Release {
        uidvalidity: u32,
        uid: u32,
    },
}

/// The intake thread's side of an IMAP account.
pub struct ImapSource {
    account: String,
    label: String,
    messages: mpsc::Receiver<RawMessage>,
    commands: mpsc::UnboundedSender<Command>,
    caught_up: Arc<AtomicBool>,
    reported_stop: bool,
    status: Arc<status::AccountStatus>,
}

/// Starts the task of one account on the current tokio runtime. It runs
/// until `shutdown` is set and the returned source is dropped (so that the
/// dispositions of the last batch are still carried out).
/// What an account needs from files before it connects (the password,
/// the CA certificates), loaded at start by `run` and by `check-config`.
pub fn check(
    acct: &ImapConfig,
) -> Result<Option<Arc<tokio_rustls::rustls::ClientConfig>>, ImapError> {
    connect::read_password(acct)?;
    match acct.tls {
        ImapTls::None => Ok(None),
        ImapTls::Implicit | ImapTls::Starttls => Ok(Some(connect::tls_config(acct)?)),
    }
}

pub fn spawn(
    acct: &ImapConfig,
    max_stored_size: u64,
    store: Store,
    shutdown: watch::Receiver<bool>,
    wake: Wakeup,
) -> Result<(ImapSource, tokio::task::JoinHandle<()>), ImapError> {
    let tls = check(acct)?;
    if tls.is_none() {
        tracing::warn!(
            account = %acct.name, host = %acct.host,
            "tls = \"none\": the IMAP password and every report cross the network unencrypted"
        );
    }
    // Enough for a batch being fetched while the previous one is stored.
    let capacity = acct.batch.saturating_mul(2);
    let (msg_tx, msg_rx) = mpsc::channel(capacity);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let caught_up = Arc::new(AtomicBool::new(false));
    let status = Arc::new(status::AccountStatus::default());
    let worker = session::Worker::new(session::Setup {
        acct: acct.clone(),
        tls,
        max_size: max_stored_size,
        store,
        out: msg_tx,
        commands: cmd_rx,
        shutdown,
        caught_up: caught_up.clone(),
        wake,
        capacity,
        status: status.clone(),
    });
    let handle = tokio::spawn(task::run(worker));
    let source = ImapSource {
        account: acct.name.clone(),
        label: format!(
            "imap {} ({}@{}:{}/{})",
            acct.name,
            acct.user,
            acct.host,
            acct.port(),
            acct.folder
        ),
        messages: msg_rx,
        commands: cmd_tx,
        caught_up,
        reported_stop: false,
        status,
    };
    Ok((source, handle))
}

impl ImapSource {
    /// The account's name and the status its task keeps up to date.
    pub fn status(&self) -> (String, Arc<status::AccountStatus>) {
        (self.account.clone(), self.status.clone())
    }

    /// The UIDVALIDITY and UID of one of our own messages.
    fn ours(&self, origin: &Origin) -> Option<(u32, u32)> {
        match origin {
            Origin::Imap {
                account,
                uidvalidity,
                uid,
                ..
            } if *account == self.account => Some((*uidvalidity, *uid)),
            _ => None,
        }
    }

    fn send(&mut self, command: Command) -> Result<(), IntakeError> {
        self.commands.send(command).map_err(|_| IntakeError::Imap {
            account: self.account.clone(),
            problem: "its task has stopped".into(),
        })
    }
}

impl Source for ImapSource {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn poll(&mut self, max: usize) -> Result<Vec<RawMessage>, IntakeError> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.messages.try_recv() {
                Ok(m) => out.push(m),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    // Said once: the intake polls every few milliseconds.
                    if out.is_empty() && !self.reported_stop {
                        self.reported_stop = true;
                        return Err(IntakeError::Imap {
                            account: self.account.clone(),
                            problem: "its task has stopped; no more mail is fetched".into(),
                        });
                    }
                    break;
                }
            }
        }
        Ok(out)
    }

    fn done(&mut self, origin: &Origin, disposition: Disposition) -> Result<(), IntakeError> {
        let Some((uidvalidity, uid)) = self.ours(origin) else {
            return Ok(());
        };
        self.send(Command::Done {
            uidvalidity,
            uid,
            disposition,
        })
    }

    fn release(&mut self, origin: &Origin) {
        if let Some((uidvalidity, uid)) = self.ours(origin) {
            // A stopped task fetches again from the stored state on restart.
            let _ = self.send(Command::Release { uidvalidity, uid });
        }
    }

    fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire) && self.messages.is_empty()
    }
}

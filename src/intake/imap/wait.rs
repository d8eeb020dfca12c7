//! Waiting for news between rounds: IDLE (RFC 2177) renewed before the
//! server's 30 minutes, or polling, either cut short by dispositions from
//! the intake or by the daemon stopping.

use super::connect::{within, Session};
use super::session::{Caps, Worker};
use super::ImapError;
use async_imap::extensions::idle::IdleResponse;
use std::time::Duration;

enum Woke {
    Server,
    Renew,
    /// `idle_recheck_secs` passed: leave IDLE and look for new mail.
    Recheck,
    Command,
    Shutdown,
    Closed,
}

impl Worker {
    /// Waits in IDLE (or sleeps, when polling) until the server reports a
    /// change, the intake sends dispositions, it is time to renew, or the
    /// daemon stops.
    pub(super) async fn wait(&mut self, s: Session, caps: Caps) -> Result<Session, ImapError> {
        let limit = self.limit();
        if !(caps.idle && self.s.acct.idle) {
            let interval = Duration::from_secs_f64(self.s.acct.poll_interval_secs);
            let woke: Woke = self
                .wait_for(async {
                    tokio::time::sleep(interval).await;
                    Woke::Renew
                })
                .await;
            let mut s = s;
            if matches!(woke, Woke::Renew) {
                // Also keeps the connection alive; the scan that follows
                // finds what is new.
                self.check_uidvalidity(&mut s).await?;
            }
            return Ok(s);
        }
        let mut idle = s.idle();
        within(limit, "IDLE", idle.init()).await?;
        let renew = Duration::from_secs(self.s.acct.idle_renew_secs);
        let recheck = self.s.acct.idle_recheck_secs.map(Duration::from_secs_f64);
        // Renewal is due when IDLE has lasted `renew` in all, however
        // often a recheck cut it short.
        let renew_due = renew.saturating_sub(self.uidvalidity_checked.elapsed());
        let (step, on_timeout) = match recheck {
            Some(r) if r < renew_due => (r, Woke::Recheck),
            _ => (renew_due.max(Duration::from_millis(10)), Woke::Renew),
        };
        let woke = {
            let (server, _stop) = idle.wait_with_timeout(step);
            let server = async {
                match server.await {
                    Ok(IdleResponse::NewData(data)) => news(data.parsed()),
                    Ok(IdleResponse::Timeout) => Ok(on_timeout),
                    // We never interrupt through the stop source (it lives
                    // until here): this is the stream ending.
                    Ok(IdleResponse::ManualInterrupt) => Ok(Woke::Closed),
                    Err(e) => Err(ImapError::Protocol {
                        step: "IDLE",
                        source: e,
                    }),
                }
            };
            self.wait_for(server).await
        };
        let woke = woke?;
        if matches!(woke, Woke::Closed) {
            return Err(ImapError::Closed);
        }
        tracing::trace!(account = %self.s.acct.name, woke = woke.word(), "leaving IDLE");
        let mut s = within(limit, "IDLE DONE", idle.done()).await?;
        if matches!(woke, Woke::Renew) {
            self.check_uidvalidity(&mut s).await?;
        }
        // The scan that follows (UID SEARCH) makes the server report what
        // it had not announced yet.
        Ok(s)
    }

    /// Some servers say nothing to a session whose selected folder was
    /// deleted and created again; a look from time to time finds out, and
    /// the reconnection that follows selects the new folder.
    async fn check_uidvalidity(&mut self, s: &mut Session) -> Result<(), ImapError> {
        self.uidvalidity_checked = std::time::Instant::now();
        let folder = &self.s.acct.folder;
        let status = within(self.limit(), "STATUS", s.status(folder, "(UIDVALIDITY)")).await?;
        match (status.uid_validity, self.tracker.uidvalidity()) {
            (Some(now), Some(known)) if now != known => Err(ImapError::Folder {
                folder: folder.clone(),
                problem: format!(
                    "UIDVALIDITY is now {now} (was {known}): the folder was recreated"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Runs `event` against the intake's commands and the shutdown signal.
    async fn wait_for<T: WokeFrom>(&mut self, event: impl std::future::Future<Output = T>) -> T {
        let stopping = self.stopping();
        let open = self.commands_open;
        let commands = &mut self.s.commands;
        let shutdown = &mut self.s.shutdown;
        let got = tokio::select! {
            r = event => return r,
            c = commands.recv(), if open => Some(c),
            _ = super::stop_signal(shutdown), if !stopping => None,
        };
        match got {
            Some(Some(c)) => {
                self.command(c);
                T::woke(Woke::Command)
            }
            Some(None) => {
                self.commands_open = false;
                T::woke(Woke::Command)
            }
            None => T::woke(Woke::Shutdown),
        }
    }
}

/// What an untagged response during IDLE means for us. NO, BAD and BYE end
/// the connection, so that a server stuck on a folder (e.g. deleted under
/// the session) cannot make us wake, look and idle again in a tight loop.
fn news(response: &async_imap::imap_proto::Response<'_>) -> Result<Woke, ImapError> {
    use async_imap::imap_proto::{Response, Status};
    match response {
        Response::Data {
            status: Status::Bye,
            ..
        } => Err(ImapError::Closed),
        Response::Data {
            status: status @ (Status::No | Status::Bad),
            information,
            ..
        } => Err(ImapError::IdleRefused(format!(
            "{status:?} {}",
            information.as_deref().unwrap_or("")
        ))),
        _ => Ok(Woke::Server),
    }
}

/// Lets [`Worker::wait_for`] serve both the poll sleep and the IDLE wait.
trait WokeFrom {
    fn woke(w: Woke) -> Self;
}

impl WokeFrom for Woke {
    fn woke(w: Woke) -> Self {
        w
    }
}

impl WokeFrom for Result<Woke, ImapError> {
    fn woke(w: Woke) -> Self {
        Ok(w)
    }
}

impl Woke {
    fn word(&self) -> &'static str {
        match self {
            Woke::Server => "server",
            Woke::Renew => "renew",
            Woke::Recheck => "recheck",
            Woke::Command => "command",
            Woke::Shutdown => "shutdown",
            Woke::Closed => "closed",
        }
    }
}

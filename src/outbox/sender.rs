//! The sender task: delivers due outbox entries and records each attempt.

use super::backoff;
use super::transport::{SendError, Transport};
use crate::store::{Attempt, OutboxRecord, Store};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

pub struct Sender {
    pub store: Store,
    pub transport: Transport,
    pub retry_for: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Counts the attempts for the metrics and `/readyz` (the daemon's).
    pub monitor: Option<std::sync::Arc<crate::ops::Monitor>>,
}

/// Entries attempted per pass before the outcomes are flushed together.
const BATCH: usize = 32;

/// What one pass over the due entries did.
#[derive(Debug, Default)]
pub struct Pass {
    pub attempted: usize,
    /// Given up for good in this pass.
    pub failed: Vec<Failure>,
}

/// An entry given up in a pass, with the reason (the server's reply).
#[derive(Debug, Clone)]
pub struct Failure {
    pub id: u64,
    pub to: Vec<String>,
    pub error: String,
}

impl Sender {
    pub fn from_config(store: Store, cfg: &crate::config::Config) -> anyhow::Result<Sender> {
        Ok(Sender {
            store,
            transport: Transport::from_config(cfg)?,
            retry_for: Duration::from_secs(cfg.outbox.retry_for_secs),
            initial_backoff: Duration::from_secs(cfg.outbox.initial_backoff_secs),
            max_backoff: Duration::from_secs(cfg.outbox.max_backoff_secs),
            monitor: None,
        })
    }

    pub fn with_monitor(mut self, monitor: std::sync::Arc<crate::ops::Monitor>) -> Sender {
        self.monitor = Some(monitor);
        self
    }

    /// Runs until `shutdown`. `durable` carries the highest outbox ID whose
    /// commit is on disk; nothing above it is sent. With `drain`, returns
    /// once `intake_done` is set and nothing is due any more.
    pub async fn run(
        &self,
        mut durable: watch::Receiver<u64>,
        mut shutdown: watch::Receiver<bool>,
        mut intake_done: watch::Receiver<bool>,
        drain: bool,
    ) -> anyhow::Result<()> {
        tracing::info!(transport = %self.transport.describe(), "outbox sender started");
        // A channel whose sender is gone answers `changed()` at once, for
        // ever: selecting on it again would spin (as it did when the intake
        // thread died), so each is watched only while it is open.
        let (mut durable_open, mut intake_open, mut shutdown_open) = (true, true, true);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let up_to = *durable.borrow_and_update();
            let attempted = self.deliver_due(up_to, &shutdown).await?.attempted;
            if attempted > 0 {
                continue;
            }
            if drain && *intake_done.borrow() && *durable.borrow() == up_to {
                let waiting = self.store.count_outbox(crate::store::OutboxState::Queued)?;
                if waiting > 0 {
                    tracing::info!(waiting, "drain: leaving entries queued for a later retry");
                }
                break;
            }
            let wait = self.until_next_due();
            tokio::select! {
                r = shutdown.changed(), if shutdown_open => shutdown_open = r.is_ok(),
                r = durable.changed(), if durable_open => durable_open = r.is_ok(),
                r = intake_done.changed(), if intake_open => {
                    intake_open = r.is_ok();
                    if !intake_open && !*intake_done.borrow() {
                        tracing::error!("the intake stopped unexpectedly; stopping the outbox sender");
                        break;
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!("outbox sender stopped");
        Ok(())
    }

    fn until_next_due(&self) -> Duration {
        let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        match self.store.next_due_at() {
            Ok(Some(ms)) if ms > now_ms => {
                Duration::from_millis((ms - now_ms) as u64).min(Duration::from_secs(30))
            }
            Ok(Some(_)) => Duration::from_millis(200),
            _ => Duration::from_secs(30),
        }
    }

    /// One pass over what is due.
    pub async fn deliver_due(
        &self,
        durable_up_to: u64,
        shutdown: &watch::Receiver<bool>,
    ) -> anyhow::Result<Pass> {
        let now = OffsetDateTime::now_utc();
        let due = self.store.due_outbox(now, durable_up_to, BATCH)?;
        let mut pass = Pass::default();
        for entry in &due {
            if *shutdown.borrow() {
                break;
            }
            let attempt = self.attempt(entry).await;
            match &attempt {
                Attempt::Delivered => {
                    tracing::info!(id = entry.id, ticket = %entry.ticket, recipients = %crate::logging::list(&entry.to), message_id = %entry.message_id, "delivered")
                }
                Attempt::Retry { error, at } => {
                    tracing::warn!(id = entry.id, ticket = %entry.ticket, attempts = entry.attempts + 1, %error, retry_at = %at, "delivery failed, will retry")
                }
                Attempt::Failed { error } => {
                    tracing::error!(id = entry.id, ticket = %entry.ticket, recipients = %crate::logging::list(&entry.to), reply = %error, "delivery failed permanently")
                }
            }
            self.store
                .record_attempt(entry.id, &attempt, OffsetDateTime::now_utc())?;
            if let Some(m) = &self.monitor {
                m.record_attempt(&attempt);
            }
            pass.attempted += 1;
            if let Attempt::Failed { error } = &attempt {
                pass.failed.push(Failure {
                    id: entry.id,
                    to: entry.to.clone(),
                    error: error.clone(),
                });
            }
            // A delivery is made durable at once: a crash between the
            // transport's acceptance and this flush is the only way a
            // recipient gets a second copy (same bytes, same Message-ID), so
            // that window is kept to one fsync.
            if matches!(attempt, Attempt::Delivered) {
                self.flush().await?;
            }
        }
        if pass.attempted > 0 {
            self.flush().await?;
        }
        Ok(pass)
    }

    async fn flush(&self) -> anyhow::Result<()> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.flush()).await??;
        Ok(())
    }

    async fn attempt(&self, entry: &OutboxRecord) -> Attempt {
        let bytes = match self.store.raw(entry.message_seq) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Attempt::Failed {
                    error: format!("stored message {} is missing", entry.message_seq),
                }
            }
            Err(e) => {
                return self.retry(entry, format!("store: {e}"));
            }
        };
        match self
            .transport
            .send(&entry.envelope_from, &entry.to, &entry.message_id, &bytes)
            .await
        {
            Ok(()) => Attempt::Delivered,
            Err(SendError::Permanent(e)) => Attempt::Failed { error: e },
            Err(SendError::Transient(e)) => self.retry(entry, e),
        }
    }

    fn retry(&self, entry: &OutboxRecord, error: String) -> Attempt {
        let now = OffsetDateTime::now_utc();
        // An operator's retry starts a new period.
        let since = entry.retried_at.unwrap_or(entry.created_at);
        let age = (now - since).unsigned_abs();
        if age >= self.retry_for {
            return Attempt::Failed {
                error: format!("gave up after {} s: {error}", age.as_secs()),
            };
        }
        let delay = backoff(entry.attempts, self.initial_backoff, self.max_backoff);
        Attempt::Retry {
            error,
            at: now + delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::transport::FileTransport;

    /// The intake thread gone without saying it finished (it panicked):
    /// the sender stops instead of spinning on the closed channel.
    #[test]
    fn a_vanished_intake_stops_the_sender() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store"), 8).expect("store");
        let sender = Sender {
            store,
            transport: Transport::File(FileTransport {
                dir: dir.path().join("outbox"),
            }),
            retry_for: Duration::from_secs(60),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(2),
            monitor: None,
        };
        for drain in [false, true] {
            let (_durable_tx, durable_rx) = watch::channel(0u64);
            let (_shutdown_tx, shutdown_rx) = watch::channel(false);
            let (done_tx, done_rx) = watch::channel(false);
            drop(done_tx);
            // On a thread of its own: a spinning future never yields, so
            // no timer in its runtime could stop it.
            let (tx, rx) = std::sync::mpsc::channel();
            let s = Sender {
                store: sender.store.clone(),
                transport: Transport::File(FileTransport {
                    dir: dir.path().join("outbox"),
                }),
                monitor: None,
                ..sender
            };
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let r = rt.block_on(s.run(durable_rx, shutdown_rx, done_rx, drain));
                let _ = tx.send(r.is_ok());
            });
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(10)),
                Ok(true),
                "drain = {drain}: the sender did not stop"
            );
        }
    }
}

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
        loop {
            if *shutdown.borrow() {
                break;
            }
            let up_to = *durable.borrow_and_update();
            let attempted = self.deliver_due(up_to, &shutdown).await?;
            if attempted > 0 {
                continue;
            }
            if drain && *intake_done.borrow() && *durable.borrow() == up_to {
                let waiting = self
                    .store
                    .outbox()?
                    .iter()
                    .filter(|o| o.state == crate::store::OutboxState::Queued)
                    .count();
                if waiting > 0 {
                    tracing::info!(waiting, "drain: leaving entries queued for a later retry");
                }
                break;
            }
            let wait = self.until_next_due();
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = durable.changed() => {}
                _ = intake_done.changed() => {}
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

    /// One pass over what is due; returns how many entries were attempted.
    pub async fn deliver_due(
        &self,
        durable_up_to: u64,
        shutdown: &watch::Receiver<bool>,
    ) -> anyhow::Result<usize> {
        let now = OffsetDateTime::now_utc();
        let due = self.store.due_outbox(now, durable_up_to, BATCH)?;
        let mut attempted = 0;
        for entry in &due {
            if *shutdown.borrow() {
                break;
            }
            let attempt = self.attempt(entry).await;
            match &attempt {
                Attempt::Delivered => {
                    tracing::info!(id = entry.id, ticket = %entry.ticket, to = ?entry.to, message_id = %entry.message_id, "delivered")
                }
                Attempt::Retry { error, at } => {
                    tracing::warn!(id = entry.id, ticket = %entry.ticket, attempts = entry.attempts + 1, %error, retry_at = %at, "delivery failed, will retry")
                }
                Attempt::Failed { error } => {
                    tracing::error!(id = entry.id, ticket = %entry.ticket, %error, "delivery failed permanently")
                }
            }
            self.store
                .record_attempt(entry.id, &attempt, OffsetDateTime::now_utc())?;
            if let Some(m) = &self.monitor {
                m.record_attempt(&attempt);
            }
            attempted += 1;
            // A delivery is made durable at once: a crash between the
            // transport's acceptance and this flush is the only way a
            // recipient gets a second copy (same bytes, same Message-ID), so
            // that window is kept to one fsync.
            if matches!(attempt, Attempt::Delivered) {
                self.flush().await?;
            }
        }
        if attempted > 0 {
            self.flush().await?;
        }
        Ok(attempted)
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
        let age = (now - entry.created_at).unsigned_abs();
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

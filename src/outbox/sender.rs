//! The sender task: delivers due outbox entries and records each attempt.
//! A pass hands the due entries to `outbox.smtp.connections` workers, each
//! with its own SMTP session, and one collector records their outcomes and
//! flushes the store once for all that are waiting (see `dispatch` for the
//! bound this keeps: one message per session); the file transport writes
//! batches made durable together.

use super::backoff;
use super::dispatch;
use super::smtp::Session;
use super::transport::{FileItem, SendError, Transport};
use crate::store::{Attempt, Later, OutboxRecord, OutboxState, RefusedRecipient, Store};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch, Semaphore};

pub struct Sender {
    pub store: Store,
    pub transport: Transport,
    pub retry_for: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Counts the attempts for the metrics and `/readyz` (the daemon's).
    pub monitor: Option<std::sync::Arc<crate::ops::Monitor>>,
    /// `outbox.flush_batch`: files per durable batch of the file transport;
    /// over SMTP it can only lower the one-per-session bound.
    pub flush_batch: usize,
}

/// Due entries taken per pass. A pass ends when all are attempted, so this
/// only bounds the memory of one pass and how long an operator's cancel of
/// a queued entry can be overtaken (each entry is read again just before
/// it is sent).
const PASS: usize = 1024;

/// One attempt's result, from a worker to the collector.
struct Outcome {
    entry: OutboxRecord,
    attempt: Attempt,
    /// When the transport answered (the SMTP 250): the entry's `sent_at`.
    at: OffsetDateTime,
}

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
            flush_batch: cfg.outbox.flush_batch.max(1),
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
            self.transport.close_idle(false).await;
            let up_to = *durable.borrow_and_update();
            let attempted = self.deliver_due(up_to, &shutdown).await?.attempted;
            if attempted > 0 {
                continue;
            }
            if drain && *intake_done.borrow() && *durable.borrow() == up_to {
                let waiting = self.store.count_queued()?;
                if waiting > 0 {
                    tracing::info!(waiting, "drain: leaving entries queued for a later retry");
                }
                break;
            }
            let mut wait = self.until_next_due();
            if let Some(at) = self.transport.next_idle_close() {
                // A little past the moment, so that the session is due.
                let at = at + Duration::from_millis(10);
                wait = wait.min(at.saturating_duration_since(std::time::Instant::now()));
            }
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
        self.transport.close_idle(true).await;
        tracing::info!("outbox sender stopped");
        Ok(())
    }

    /// QUITs every pooled SMTP session (at the end of a one-off delivery).
    pub async fn close(&self) {
        self.transport.close_idle(true).await;
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
        let due = self.store.due_outbox(now, durable_up_to, PASS)?;
        if due.is_empty() {
            return Ok(Pass::default());
        }
        match &self.transport {
            Transport::File(_) => self.deliver_files(due, shutdown).await,
            Transport::Smtp { .. } => self.deliver_sessions(due, shutdown).await,
        }
    }

    /// Batches of `flush_batch` files: written, one directory fsync, then
    /// one store flush marking them sent. The next batch is written while
    /// the store flush of the one before runs, so at most two batches are
    /// on disk without `sent`; a crash rewrites those files under the same
    /// names, which leaves no second copy.
    async fn deliver_files(
        &self,
        due: Vec<OutboxRecord>,
        shutdown: &watch::Receiver<bool>,
    ) -> anyhow::Result<Pass> {
        let Transport::File(files) = &self.transport else {
            return Ok(Pass::default());
        };
        let mut pass = Pass::default();
        let mut due = due.into_iter().peekable();
        let mut flushing: Option<tokio::task::JoinHandle<crate::store::Result<()>>> = None;
        while due.peek().is_some() {
            if *shutdown.borrow() {
                break;
            }
            let mut batch = Vec::new();
            let mut items = Vec::new();
            let mut outcomes = Vec::new();
            for entry in due.by_ref().take(self.flush_batch) {
                if !self.still_queued(&entry) {
                    continue;
                }
                match self.bytes(&entry) {
                    Ok(bytes) => {
                        items.push(FileItem {
                            from: entry.envelope_from.clone(),
                            to: entry.to.clone(),
                            message_id: entry.message_id.clone(),
                            bytes,
                        });
                        batch.push(entry);
                    }
                    Err(attempt) => outcomes.push(Outcome {
                        entry,
                        attempt,
                        at: OffsetDateTime::now_utc(),
                    }),
                }
            }
            let f = files.clone();
            let results = tokio::task::spawn_blocking(move || f.write_batch(&items)).await?;
            let at = OffsetDateTime::now_utc();
            for (entry, r) in batch.into_iter().zip(results) {
                let attempt = self.judge(&entry, r.map(|()| Vec::new()));
                outcomes.push(Outcome { entry, attempt, at });
            }
            if let Some(f) = flushing.take() {
                f.await??;
            }
            self.record(outcomes, &mut pass)?;
            let store = self.store.clone();
            flushing = Some(tokio::task::spawn_blocking(move || store.flush()));
        }
        if let Some(f) = flushing {
            f.await??;
        }
        Ok(pass)
    }

    /// `connections` workers, each with one session, take entries from the
    /// pass's queue; the collector (this task too) records and flushes.
    async fn deliver_sessions(
        &self,
        due: Vec<OutboxRecord>,
        shutdown: &watch::Receiver<bool>,
    ) -> anyhow::Result<Pass> {
        let connections = self.transport.connections();
        let units = dispatch::in_flight_budget(connections, self.flush_batch);
        let n = dispatch::workers(due.len(), connections, units);
        let queue = Mutex::new(VecDeque::from(due));
        let budget = Semaphore::new(units);
        let (tx, rx) = mpsc::unbounded_channel();
        let workers = futures_util::future::join_all(
            (0..n).map(|_| self.worker(&queue, &budget, tx.clone(), shutdown)),
        );
        drop(tx);
        let (_, pass) = tokio::join!(workers, self.collect(rx, &budget, units));
        pass
    }

    async fn worker(
        &self,
        queue: &Mutex<VecDeque<OutboxRecord>>,
        budget: &Semaphore,
        tx: mpsc::UnboundedSender<Outcome>,
        shutdown: &watch::Receiver<bool>,
    ) {
        let mut session: Option<Session> = self.transport.take_session();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let next = queue.lock().ok().and_then(|mut q| q.pop_front());
            let Some(entry) = next else { break };
            if !self.still_queued(&entry) {
                continue;
            }
            // Taken before the transport sees the message, given back by
            // the collector after the flush that records it.
            match budget.acquire().await {
                Ok(p) => p.forget(),
                Err(_) => break, // the collector has stopped
            }
            let attempt = match self.bytes(&entry) {
                Ok(bytes) => {
                    let r = self
                        .transport
                        .send(
                            &mut session,
                            &entry.envelope_from,
                            &entry.to,
                            &entry.message_id,
                            &bytes,
                        )
                        .await;
                    self.judge(&entry, r)
                }
                Err(attempt) => attempt,
            };
            let at = OffsetDateTime::now_utc();
            if tx.send(Outcome { entry, attempt, at }).is_err() {
                break;
            }
        }
        self.transport.put_session(session);
    }

    /// Records outcomes as they come and flushes per [`dispatch::flush_now`],
    /// returning the budget of each flushed outcome to the workers.
    async fn collect(
        &self,
        mut rx: mpsc::UnboundedReceiver<Outcome>,
        budget: &Semaphore,
        units: usize,
    ) -> anyhow::Result<Pass> {
        let mut pass = Pass::default();
        let mut unflushed = Vec::new();
        let result: anyhow::Result<()> = async {
            while let Some(o) = rx.recv().await {
                unflushed.push(o);
                if dispatch::flush_now(unflushed.len(), units, !rx.is_empty()) {
                    let n = unflushed.len();
                    self.record(std::mem::take(&mut unflushed), &mut pass)?;
                    self.flush().await?;
                    budget.add_permits(n);
                }
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            // Workers waiting for budget stop instead of waiting for ever.
            budget.close();
        }
        result.map(|()| pass)
    }

    /// The entry is still queued (an operator may have cancelled it since
    /// the pass began).
    fn still_queued(&self, entry: &OutboxRecord) -> bool {
        matches!(
            self.store.outbox_entry(entry.id),
            Ok(Some(e)) if e.state == OutboxState::Queued
        )
    }

    /// Records the outcomes of one flush, in one transaction (see
    /// `Store::record_attempts`), then logs and counts each: what the
    /// transport did is logged even when an entry could not be recorded.
    fn record(&self, outcomes: Vec<Outcome>, pass: &mut Pass) -> anyhow::Result<()> {
        let attempts: Vec<_> = outcomes
            .iter()
            .map(|o| (o.entry.id, &o.attempt, o.at))
            .collect();
        let recorded = self.store.record_attempts(&attempts);
        for o in outcomes {
            self.note(o, pass);
        }
        Ok(recorded?)
    }

    fn note(&self, o: Outcome, pass: &mut Pass) {
        let Outcome { entry, attempt, .. } = o;
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
            Attempt::Partial {
                accepted,
                refused,
                later,
            } => {
                tracing::info!(id = entry.id, ticket = %entry.ticket, accepted = accepted.len(), message_id = %entry.message_id, "delivered to some recipients");
                for r in refused {
                    tracing::error!(id = entry.id, ticket = %entry.ticket, recipient = %r.address, reply = %r.reply, "recipient refused permanently");
                }
                if let Some(l) = later {
                    tracing::warn!(id = entry.id, ticket = %entry.ticket, recipients = %crate::logging::list(&l.to), error = %l.error, retry_at = %l.at, "recipients refused for now, will retry");
                }
            }
        }
        if let Some(m) = &self.monitor {
            m.record_attempt(&attempt);
        }
        pass.attempted += 1;
        match attempt {
            Attempt::Failed { error } => pass.failed.push(Failure {
                id: entry.id,
                to: entry.to,
                error,
            }),
            Attempt::Partial { refused, .. } => {
                pass.failed.extend(refused.into_iter().map(|r| Failure {
                    id: entry.id,
                    to: vec![r.address],
                    error: r.reply,
                }))
            }
            _ => {}
        }
    }

    async fn flush(&self) -> anyhow::Result<()> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.flush()).await??;
        Ok(())
    }

    /// The stored bytes of an entry, or the attempt its absence makes.
    fn bytes(&self, entry: &OutboxRecord) -> Result<Vec<u8>, Attempt> {
        match self.store.raw(entry.message_seq) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(Attempt::Failed {
                error: format!("stored message {} is missing", entry.message_seq),
            }),
            Err(e) => Err(self.retry(entry, format!("store: {e}"))),
        }
    }

    /// What a send's result means for the entry. Recipients the server
    /// refused (a copy for many) are settled each on their own; a copy for
    /// one, or one that every recipient refused for now, is judged whole.
    fn judge(
        &self,
        entry: &OutboxRecord,
        r: Result<Vec<(usize, SendError)>, SendError>,
    ) -> Attempt {
        let refused = match r {
            Ok(refused) if refused.is_empty() => return Attempt::Delivered,
            Ok(refused) => refused,
            Err(SendError::Permanent(e)) => return Attempt::Failed { error: e },
            Err(SendError::Transient(e)) => return self.retry(entry, e),
        };
        let all_for_now = refused.len() == entry.to.len()
            && refused
                .iter()
                .all(|(_, e)| matches!(e, SendError::Transient(_)));
        if entry.to.len() == 1 || all_for_now {
            // Judged as the first refusal says (`refused` is not empty).
            let first = refused.into_iter().next().map(|(_, e)| e);
            return first.map_or(Attempt::Delivered, |e| self.judge(entry, Err(e)));
        }
        let split = dispatch::split_refusals(&entry.to, refused);
        let mut refused = split.refused;
        let later = match split.later.first() {
            None => None,
            Some((_, reply)) => {
                let error = format!(
                    "{} recipient(s) refused for now: {reply}",
                    split.later.len()
                );
                match self.retry(entry, error) {
                    Attempt::Retry { error, at } => Some(Later {
                        to: split.later.into_iter().map(|(a, _)| a).collect(),
                        error,
                        at,
                    }),
                    // Refused for now for longer than the retry period.
                    _ => {
                        refused.extend(split.later.into_iter().map(|(address, reply)| {
                            RefusedRecipient {
                                address,
                                reply: format!("gave up (outbox.retry_for_secs): {reply}"),
                            }
                        }));
                        None
                    }
                }
            }
        };
        Attempt::Partial {
            accepted: split.accepted,
            refused,
            later,
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
            flush_batch: 8,
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

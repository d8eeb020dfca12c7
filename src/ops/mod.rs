//! Watching the running daemon: Prometheus metrics and health endpoints
//! (`[metrics]`), systemd notifications, and the periodic summary line
//! (`[log] summary_minutes`). The daemon holds one [`Monitor`]; the intake
//! and the sender count through it, and the tasks started here read it.

pub mod health;
mod http;
pub mod metrics;
pub mod summary;
pub mod systemd;

use crate::config::Config;
use crate::intake::imap::status::AccountStatus;
use crate::store::census::OutboxCensus;
use crate::store::Store;
use anyhow::Context as _;
use health::Health;
use metrics::Metrics;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

pub struct Monitor {
    pub metrics: Metrics,
    pub health: Arc<Health>,
    store: Store,
    accounts: OnceLock<Vec<(String, Arc<AccountStatus>)>>,
    stuck_after: Duration,
    /// Bound at creation, so that a port in use stops the start; served
    /// once [`Monitor::start`] runs.
    listener: Mutex<Option<std::net::TcpListener>>,
    /// One census at a time, however many scrapes come in.
    census: tokio::sync::Mutex<()>,
}

impl Monitor {
    /// Binds `[metrics] listen`, if set.
    pub fn new(cfg: &Config, store: Store) -> anyhow::Result<Arc<Monitor>> {
        let listener = match &cfg.metrics.listen {
            None => None,
            Some(listen) => {
                let addr = crate::config::check_listen(listen, cfg.metrics.allow_remote)
                    .map_err(|p| anyhow::anyhow!("metrics.listen: {p}"))?;
                let l = std::net::TcpListener::bind(addr).with_context(|| {
                    format!(
                        "cannot listen on {addr} (metrics.listen in {}); is the port in use?",
                        cfg.source.display()
                    )
                })?;
                l.set_nonblocking(true)
                    .context("cannot make the metrics socket non-blocking")?;
                Some(l)
            }
        };
        Ok(Arc::new(Monitor {
            metrics: Metrics::new(),
            health: Arc::new(Health::default()),
            store,
            accounts: OnceLock::new(),
            stuck_after: Duration::from_secs(cfg.metrics.stuck_after_minutes.saturating_mul(60)),
            listener: Mutex::new(listener),
            census: tokio::sync::Mutex::new(()),
        }))
    }

    /// The IMAP accounts' statuses, once their tasks are started.
    pub fn set_accounts(&self, accounts: Vec<(String, Arc<AccountStatus>)>) {
        let _ = self.accounts.set(accounts);
    }

    fn accounts(&self) -> &[(String, Arc<AccountStatus>)] {
        self.accounts.get().map_or(&[], |a| a.as_slice())
    }

    /// Counts a durable batch of the intake.
    pub fn record_batch(&self, r: &crate::batch::BatchReport) {
        self.metrics.record_batch(r);
    }

    /// Counts a delivery attempt of the sender.
    pub fn record_attempt(&self, a: &crate::store::Attempt) {
        self.metrics.record_attempt(a);
        if a.delivered_any() {
            self.health.delivered();
        }
    }

    /// A fresh census of the outbox, off the async threads.
    async fn census(self: &Arc<Self>) -> Result<(OutboxCensus, u64), String> {
        let _one = self.census.lock().await;
        let store = self.store.clone();
        let read = tokio::task::spawn_blocking(move || {
            let c = store.outbox_census()?;
            let size = store.size_on_disk()?;
            Ok::<_, crate::store::StoreError>((c, size))
        })
        .await;
        match read {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the census task failed: {e}")),
        }
    }

    /// The metrics text, with the gauges read now.
    async fn expose(self: &Arc<Self>) -> String {
        let now = time::OffsetDateTime::now_utc();
        match self.census().await {
            Ok((c, size)) => {
                self.metrics.set_outbox(&c, now);
                self.metrics.set_store_size(size);
            }
            Err(e) => tracing::warn!("metrics: cannot read the outbox: {e}"),
        }
        self.metrics.set_accounts(self.accounts());
        self.metrics.encode()
    }

    /// Ready, or why not.
    async fn ready(self: &Arc<Self>) -> Result<(), String> {
        let now = time::OffsetDateTime::now_utc();
        let (store_error, oldest_retrying) = match self.census().await {
            Ok((c, _)) => (None, c.oldest_retrying.map(|t| (now - t).unsigned_abs())),
            Err(e) => (Some(e), None),
        };
        health::readiness(&health::Facts {
            store_error,
            intake: self.health.intake(),
            oldest_retrying,
            since_delivery: self.health.since_delivery(),
            stuck_after: self.stuck_after,
        })
    }

    /// Starts the endpoints, the watchdog and the summary line, and tells
    /// systemd the daemon is ready. Call once the store is open and the
    /// sources and the intake are started; runs until `shutdown`.
    pub fn start(self: &Arc<Self>, cfg: &Config, shutdown: watch::Receiver<bool>) {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(l) = listener {
            match tokio::net::TcpListener::from_std(l) {
                Ok(l) => {
                    if let Ok(addr) = l.local_addr() {
                        tracing::info!(%addr, "metrics and health endpoints listening");
                    }
                    tokio::spawn(http::serve(l, self.clone(), shutdown.clone()));
                }
                Err(e) => tracing::error!("metrics endpoint not started: {e}"),
            }
        }
        if cfg.log.summary_minutes > 0 {
            let every = Duration::from_secs(cfg.log.summary_minutes.saturating_mul(60));
            tokio::spawn(summary_task(self.clone(), every, shutdown.clone()));
        }
        tokio::spawn(systemd::watchdog(self.health.clone(), shutdown.clone()));
        systemd::ready();
        tokio::spawn(async move {
            let mut shutdown = shutdown;
            if shutdown.wait_for(|s| *s).await.is_ok() {
                systemd::stopping();
            }
        });
    }
}

async fn summary_task(monitor: Arc<Monitor>, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut before = monitor.metrics.totals();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
        let now = monitor.metrics.totals();
        let census = monitor.census().await;
        let accounts: Vec<_> = monitor
            .accounts()
            .iter()
            .map(|(n, s)| (n.clone(), s.link()))
            .collect();
        let census = census.as_ref().ok().map(|(c, _)| c);
        let line = summary::line(&before, &now, census, &accounts);
        // The numbers as fields too, for JSON logs.
        let diff = |i: usize| now.messages[i].saturating_sub(before.messages[i]);
        let state = |s| census.map(|c| c.count(s));
        tracing::info!(
            created = diff(0),
            appended = diff(1),
            duplicate = diff(2),
            failed = diff(3),
            outbox_queued = state(crate::store::OutboxState::Queued),
            outbox_failed = state(crate::store::OutboxState::Failed),
            "{line}"
        );
        before = now;
    }
}

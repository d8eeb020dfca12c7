//! The Prometheus metrics. Every counter the intake and the sender touch
//! is resolved once here, so that counting is one atomic add; the gauges
//! of the outbox, the store and the IMAP accounts are set just before each
//! scrape (see `ops::Monitor::expose`).

use crate::batch::BatchReport;
use crate::intake::imap::status::{AccountStatus, Link};
use crate::pgp::Verdict;
use crate::store::census::{OutboxCensus, OUTBOX_STATES};
use crate::store::Attempt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use time::OffsetDateTime;

/// The placements of a stored message, and `failed` (not stored, retried).
pub const OUTCOMES: [&str; 4] = ["created", "appended", "duplicate", "failed"];

const VERDICTS: [Verdict; 9] = [
    Verdict::Good,
    Verdict::Bad,
    Verdict::UnknownKey,
    Verdict::SignerMismatch,
    Verdict::ExpiredKey,
    Verdict::RevokedKey,
    Verdict::Partial,
    Verdict::Unsigned,
    Verdict::Error,
];

const ATTEMPTS: [&str; 3] = ["delivered", "retry", "failed"];

/// Group commits take milliseconds to seconds.
const COMMIT_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type Labels = Vec<(&'static str, String)>;

/// Messages by outcome since the start, for the summary line's differences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// In the order of [`OUTCOMES`].
    pub messages: [u64; OUTCOMES.len()],
    pub quarantined: u64,
}

pub struct Metrics {
    registry: Registry,
    messages: [Counter; OUTCOMES.len()],
    quarantined: Counter,
    verdicts: [Counter; VERDICTS.len()],
    commit: Histogram,
    attempts: [Counter; ATTEMPTS.len()],
    outbox: [Gauge; OUTBOX_STATES.len()],
    oldest_queued: Gauge<f64, AtomicU64>,
    store_bytes: Gauge,
    imap_state: Family<Labels, Gauge>,
    imap_last_poll: Family<Labels, Gauge>,
}

/// The counters of a labelled family, one per label value, resolved once.
fn resolved<const N: usize>(
    family: &Family<Labels, Counter>,
    key: &'static str,
    values: [&str; N],
) -> [Counter; N] {
    values.map(|v| family.get_or_create(&vec![(key, v.to_string())]).clone())
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let messages = Family::<Labels, Counter>::default();
        registry.register(
            "csirtd_messages",
            "Incoming messages by outcome: created a ticket, appended to one, duplicate, or failed (not stored, retried later)",
            messages.clone(),
        );
        let quarantined = Counter::default();
        registry.register(
            "csirtd_messages_quarantined",
            "Stored messages whose source copy went to quarantine (hostile structure); also counted under their outcome",
            quarantined.clone(),
        );
        let verdicts = Family::<Labels, Counter>::default();
        registry.register(
            "csirtd_pgp_verdicts",
            "OpenPGP verdicts of stored incoming messages by status",
            verdicts.clone(),
        );
        let commit = Histogram::new(COMMIT_BUCKETS);
        registry.register(
            "csirtd_commit_duration_seconds",
            "Time of one group commit of the intake, flush included",
            commit.clone(),
        );
        let attempts = Family::<Labels, Counter>::default();
        registry.register(
            "csirtd_outbox_attempts",
            "Delivery attempts of outbox entries by result",
            attempts.clone(),
        );
        let outbox = Family::<Labels, Gauge>::default();
        registry.register(
            "csirtd_outbox_entries",
            "Outbox entries by state",
            outbox.clone(),
        );
        let oldest_queued = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "csirtd_outbox_oldest_queued_age_seconds",
            "Age of the oldest queued outbox entry (0 when none is queued)",
            oldest_queued.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "csirtd_store_size_bytes",
            "Size of the store on disk",
            store_bytes.clone(),
        );
        let imap_state = Family::<Labels, Gauge>::default();
        registry.register(
            "csirtd_imap_state",
            "IMAP account connection state: 1 for the current state, 0 for the others",
            imap_state.clone(),
        );
        let imap_last_poll = Family::<Labels, Gauge>::default();
        registry.register(
            "csirtd_imap_last_poll_timestamp_seconds",
            "Unix time of the account's last successful scan of its folder (0: none yet)",
            imap_last_poll.clone(),
        );
        let outbox_gauges = OUTBOX_STATES.map(|s| {
            outbox
                .get_or_create(&vec![("state", s.as_str().into())])
                .clone()
        });
        Metrics {
            messages: resolved(&messages, "outcome", OUTCOMES),
            quarantined,
            verdicts: resolved(&verdicts, "status", VERDICTS.map(|v| v.as_str())),
            commit,
            attempts: resolved(&attempts, "result", ATTEMPTS),
            outbox: outbox_gauges,
            oldest_queued,
            store_bytes,
            imap_state,
            imap_last_poll,
            registry,
        }
    }

    /// Counts a durable batch of the intake.
    pub fn record_batch(&self, r: &BatchReport) {
        let [created, appended, duplicate, failed] = &self.messages;
        created.inc_by(r.created as u64);
        appended.inc_by(r.appended as u64);
        duplicate.inc_by(r.duplicates as u64);
        failed.inc_by(r.failed as u64);
        self.quarantined.inc_by(r.quarantined as u64);
        for v in &r.verdicts {
            if let Some(i) = VERDICTS.iter().position(|x| x == v) {
                self.verdicts[i].inc();
            }
        }
        if r.stored > 0 {
            self.commit.observe(r.commit_time.as_secs_f64());
        }
    }

    pub fn record_attempt(&self, a: &Attempt) {
        let i = match a {
            Attempt::Delivered => 0,
            Attempt::Retry { .. } => 1,
            Attempt::Failed { .. } => 2,
            // Counted by what is left: some still to try, or settled.
            Attempt::Partial { later: Some(_), .. } => 1,
            Attempt::Partial { accepted, .. } if !accepted.is_empty() => 0,
            Attempt::Partial { .. } => 2,
        };
        self.attempts[i].inc();
    }

    pub fn totals(&self) -> Totals {
        Totals {
            messages: self.messages.each_ref().map(|c| c.get()),
            quarantined: self.quarantined.get(),
        }
    }

    pub fn set_outbox(&self, c: &OutboxCensus, now: OffsetDateTime) {
        for (g, n) in self.outbox.iter().zip(c.counts) {
            g.set(n as i64);
        }
        let age = c
            .oldest_queued
            .map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
        self.oldest_queued.set(age);
    }

    pub fn set_store_size(&self, bytes: u64) {
        self.store_bytes.set(bytes.min(i64::MAX as u64) as i64);
    }

    pub fn set_accounts(&self, accounts: &[(String, std::sync::Arc<AccountStatus>)]) {
        for (name, status) in accounts {
            let now = status.link();
            for l in Link::ALL {
                let labels = vec![("account", name.clone()), ("state", l.as_str().into())];
                self.imap_state
                    .get_or_create(&labels)
                    .set(i64::from(l == now));
            }
            self.imap_last_poll
                .get_or_create(&vec![("account", name.clone())])
                .set(status.last_poll().unwrap_or(0));
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String does not fail; the encoder's own errors would
        // be a bug in a metric name.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!("cannot encode the metrics: {e}");
        }
        out
    }
}

pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The value of the sample `name` (with its labels, as exposed).
    pub(crate) fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    #[test]
    fn a_batch_is_exposed_by_outcome_verdict_and_latency() {
        let m = Metrics::new();
        m.record_batch(&BatchReport {
            stored: 3,
            created: 2,
            duplicates: 1,
            quarantined: 1,
            verdicts: vec![Verdict::Good, Verdict::Good, Verdict::Unsigned],
            commit_time: Duration::from_millis(30),
            ..Default::default()
        });
        m.record_attempt(&Attempt::Delivered);
        let t = m.encode();
        assert_eq!(
            sample(&t, "csirtd_messages_total{outcome=\"created\"}"),
            Some(2.0),
            "{t}"
        );
        assert_eq!(
            sample(&t, "csirtd_messages_total{outcome=\"appended\"}"),
            Some(0.0)
        );
        assert_eq!(
            sample(&t, "csirtd_messages_total{outcome=\"duplicate\"}"),
            Some(1.0)
        );
        assert_eq!(sample(&t, "csirtd_messages_quarantined_total"), Some(1.0));
        assert_eq!(
            sample(&t, "csirtd_pgp_verdicts_total{status=\"good\"}"),
            Some(2.0)
        );
        assert_eq!(
            sample(&t, "csirtd_pgp_verdicts_total{status=\"unsigned\"}"),
            Some(1.0)
        );
        assert_eq!(
            sample(&t, "csirtd_commit_duration_seconds_count"),
            Some(1.0)
        );
        assert_eq!(
            sample(&t, "csirtd_commit_duration_seconds_bucket{le=\"0.025\"}"),
            Some(0.0)
        );
        assert_eq!(
            sample(&t, "csirtd_commit_duration_seconds_bucket{le=\"0.05\"}"),
            Some(1.0)
        );
        assert_eq!(
            sample(&t, "csirtd_outbox_attempts_total{result=\"delivered\"}"),
            Some(1.0)
        );
        assert!(t.contains("# TYPE csirtd_messages_total counter"), "{t}");
        assert_eq!(m.totals().messages, [2, 0, 1, 0]);
    }

    #[test]
    fn gauges_show_the_outbox_the_store_and_the_accounts() {
        let m = Metrics::new();
        let now = OffsetDateTime::now_utc();
        let mut c = OutboxCensus::default();
        c.counts[0] = 2;
        c.counts[1] = 5;
        c.oldest_queued = Some(now - time::Duration::seconds(90));
        m.set_outbox(&c, now);
        m.set_store_size(4096);
        let acct = std::sync::Arc::new(AccountStatus::default());
        acct.set(Link::Reconnecting);
        m.set_accounts(&[("abuse".into(), acct)]);
        let t = m.encode();
        assert_eq!(
            sample(&t, "csirtd_outbox_entries{state=\"queued\"}"),
            Some(2.0),
            "{t}"
        );
        assert_eq!(
            sample(&t, "csirtd_outbox_entries{state=\"sent\"}"),
            Some(5.0)
        );
        assert_eq!(
            sample(&t, "csirtd_outbox_entries{state=\"awaiting-release\"}"),
            Some(0.0)
        );
        assert_eq!(
            sample(&t, "csirtd_outbox_oldest_queued_age_seconds"),
            Some(90.0)
        );
        assert_eq!(sample(&t, "csirtd_store_size_bytes"), Some(4096.0));
        assert_eq!(
            sample(
                &t,
                "csirtd_imap_state{account=\"abuse\",state=\"reconnecting\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&t, "csirtd_imap_state{account=\"abuse\",state=\"idle\"}"),
            Some(0.0)
        );
        assert_eq!(
            sample(
                &t,
                "csirtd_imap_last_poll_timestamp_seconds{account=\"abuse\"}"
            ),
            Some(0.0)
        );
    }
}

//! The account's task: connect, serve, and after any failure reconnect
//! with exponential backoff and jitter, until the daemon stops.

use super::connect;
use super::session::Worker;
use super::status::Link;
use super::ImapError;
use futures_util::FutureExt;
use rand::Rng;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(300);
/// A connection that lasted this long was a success: the next failure
/// starts the backoff over.
const STABLE: Duration = Duration::from_secs(30);

/// Exponential backoff; each delay is stretched by up to half at random so
/// that several accounts (or daemons) do not hammer a server in step.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff { next: FIRST_DELAY }
    }

    pub fn reset(&mut self) {
        self.next = FIRST_DELAY;
    }

    pub fn delay(&mut self, rng: &mut impl Rng) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        let jitter = rng.gen_range(0..=base.as_millis() as u64 / 2);
        base + Duration::from_millis(jitter)
    }
}

pub async fn run(mut worker: Worker) {
    let name = worker.acct().name.clone();
    let mut backoff = Backoff::new();
    let mut failures = 0u32;
    loop {
        worker.drain_commands();
        if worker.stopping() {
            // Without a connection, what is left is done again after the
            // next start (and recognised as duplicates).
            break;
        }
        let started = Instant::now();
        if failures == 0 {
            worker.status().set(Link::Connecting);
        }
        // A panic in the IMAP library on some server response must cost
        // one connection, not the account (the worker's bookkeeping is
        // only changed between awaits, so it stays consistent).
        let attempt = AssertUnwindSafe(async {
            let session = connect::open(worker.acct(), worker.tls()).await?;
            if failures > 0 {
                tracing::info!(account = %name, after_failures = failures, "IMAP reconnected");
            } else {
                tracing::info!(account = %name, host = %worker.acct().host, "IMAP connected");
            }
            failures = 0;
            worker.status().set(Link::Connected);
            worker.serve(session).await
        });
        let result = match attempt.catch_unwind().await {
            Ok(r) => r,
            Err(_) => Err(ImapError::Panicked),
        };
        let error = match result {
            Ok(()) => break,
            Err(e) => e,
        };
        if started.elapsed() >= STABLE {
            backoff.reset();
        }
        failures += 1;
        worker.status().set(Link::Reconnecting);
        if worker.stopping() {
            tracing::warn!(account = %name, error = %error, "IMAP connection lost while stopping; the remaining messages are moved after the next start");
            break;
        }
        let delay = backoff.delay(&mut rand::thread_rng());
        tracing::warn!(
            account = %name, error = %error, attempt = failures, retry_in_ms = delay.as_millis() as u64,
            "IMAP connection failed; reconnecting"
        );
        let stop = worker.shutdown();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = super::stop_signal(stop) => {}
        }
    }
    worker.status().set(Link::Stopped);
    tracing::info!(account = %name, "IMAP intake stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_and_resets() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut b = Backoff::new();
        let mut base = FIRST_DELAY;
        for _ in 0..12 {
            let d = b.delay(&mut rng);
            assert!(d >= base && d <= base + base / 2, "{d:?} for base {base:?}");
            base = (base * 2).min(MAX_DELAY);
        }
        assert_eq!(base, MAX_DELAY);
        b.reset();
        assert!(b.delay(&mut rng) <= FIRST_DELAY + FIRST_DELAY / 2);
    }
}

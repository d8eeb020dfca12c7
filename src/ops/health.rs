//! What `/readyz` and the systemd watchdog decide on: the intake's
//! heartbeat, the last delivery, and a census of the outbox. The decisions
//! are pure functions of those facts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The intake counts as stalled when its loop has not come round for this
/// long: far more than the longest group commit seen in the benchmarks.
pub const INTAKE_STALL: Duration = Duration::from_secs(120);

/// Written by the intake thread and the sender, read by the endpoints.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    /// Milliseconds after `started` of the intake loop's last turn.
    intake_beat: AtomicU64,
    intake_started: AtomicBool,
    intake_stopped: AtomicBool,
    /// Milliseconds after `started` of the last accepted delivery; 0: none
    /// since the start, which counts as one at the start.
    last_delivery: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            started: Instant::now(),
            intake_beat: AtomicU64::new(0),
            intake_started: AtomicBool::new(false),
            intake_stopped: AtomicBool::new(false),
            last_delivery: AtomicU64::new(0),
        }
    }
}

impl Health {
    fn ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn age(&self, at_ms: u64) -> Duration {
        Duration::from_millis(self.ms().saturating_sub(at_ms))
    }

    /// One turn of the intake loop (a commit or an idle wait done).
    pub fn intake_beat(&self) {
        self.intake_beat.store(self.ms(), Ordering::Relaxed);
        self.intake_started.store(true, Ordering::Relaxed);
    }

    pub fn intake_stopped(&self) {
        self.intake_stopped.store(true, Ordering::Relaxed);
    }

    pub fn delivered(&self) {
        self.last_delivery.store(self.ms(), Ordering::Relaxed);
    }

    pub fn intake(&self) -> Intake {
        if self.intake_stopped.load(Ordering::Relaxed) {
            Intake::Stopped
        } else if !self.intake_started.load(Ordering::Relaxed) {
            Intake::NotStarted
        } else {
            Intake::Beat(self.age(self.intake_beat.load(Ordering::Relaxed)))
        }
    }

    pub fn since_delivery(&self) -> Duration {
        self.age(self.last_delivery.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    NotStarted,
    /// Running; its last turn was this long ago.
    Beat(Duration),
    Stopped,
}

/// The facts `/readyz` decides on.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Why the store could not be read, if it could not.
    pub store_error: Option<String>,
    pub intake: Intake,
    /// How long the oldest queued entry that has failed at least once has
    /// existed.
    pub oldest_retrying: Option<Duration>,
    pub since_delivery: Duration,
    pub stuck_after: Duration,
}

/// Ready, or the reason it is not (one line, for the 503 body).
pub fn readiness(f: &Facts) -> Result<(), String> {
    if let Some(e) = &f.store_error {
        return Err(format!("store not readable: {e}"));
    }
    match f.intake {
        Intake::NotStarted => return Err("intake not started yet".into()),
        Intake::Stopped => return Err("intake stopped".into()),
        Intake::Beat(age) if age > INTAKE_STALL => {
            return Err(format!(
                "intake stalled: its loop last came round {} s ago",
                age.as_secs()
            ))
        }
        Intake::Beat(_) => {}
    }
    if let Some(age) = f.oldest_retrying {
        // One recipient's server refusing for a while is not the daemon's
        // trouble while other mail goes out; nothing going out is.
        if age > f.stuck_after && f.since_delivery > f.stuck_after {
            return Err(format!(
                "outbox stuck: a queued mail has been failing for {} min and nothing was delivered for {} min",
                age.as_secs() / 60,
                f.since_delivery.as_secs() / 60
            ));
        }
    }
    Ok(())
}

/// Whether a systemd watchdog ping may be sent: the intake loop came
/// round within the watchdog's time, so systemd restarts a hung intake.
pub fn watchdog_ok(intake: Intake, limit: Duration) -> bool {
    match intake {
        Intake::NotStarted | Intake::Stopped => false,
        Intake::Beat(age) => age < limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Facts {
        Facts {
            store_error: None,
            intake: Intake::Beat(Duration::from_millis(300)),
            oldest_retrying: None,
            since_delivery: Duration::from_secs(5),
            stuck_after: Duration::from_secs(30 * 60),
        }
    }

    #[test]
    fn healthy_is_ready() {
        assert_eq!(readiness(&healthy()), Ok(()));
    }

    #[test]
    fn store_and_intake_problems_are_named() {
        let f = Facts {
            store_error: Some("I/O error".into()),
            ..healthy()
        };
        assert!(readiness(&f).unwrap_err().starts_with("store not readable"));
        for (intake, want) in [
            (Intake::NotStarted, "not started"),
            (Intake::Stopped, "stopped"),
            (
                Intake::Beat(INTAKE_STALL + Duration::from_secs(1)),
                "stalled",
            ),
        ] {
            let f = Facts {
                intake,
                ..healthy()
            };
            let e = readiness(&f).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn outbox_is_stuck_only_when_failing_long_and_nothing_goes_out() {
        let hour = Duration::from_secs(3600);
        let failing_long = Facts {
            oldest_retrying: Some(hour),
            since_delivery: hour,
            ..healthy()
        };
        assert!(readiness(&failing_long)
            .unwrap_err()
            .starts_with("outbox stuck"));
        // Other mail was delivered recently: one bad recipient.
        let others_go_out = Facts {
            since_delivery: Duration::from_secs(60),
            ..failing_long.clone()
        };
        assert_eq!(readiness(&others_go_out), Ok(()));
        // Failing, but not for long yet.
        let young = Facts {
            oldest_retrying: Some(Duration::from_secs(60)),
            ..failing_long
        };
        assert_eq!(readiness(&young), Ok(()));
    }

    #[test]
    fn watchdog_pings_only_while_the_intake_comes_round() {
        let limit = Duration::from_secs(60);
        assert!(watchdog_ok(Intake::Beat(Duration::from_secs(1)), limit));
        assert!(!watchdog_ok(Intake::Beat(Duration::from_secs(61)), limit));
        assert!(!watchdog_ok(Intake::NotStarted, limit));
        assert!(!watchdog_ok(Intake::Stopped, limit));
    }

    #[test]
    fn health_tracks_the_intake() {
        let h = Health::default();
        assert_eq!(h.intake(), Intake::NotStarted);
        h.intake_beat();
        assert!(matches!(h.intake(), Intake::Beat(d) if d < Duration::from_secs(5)));
        h.intake_stopped();
        assert_eq!(h.intake(), Intake::Stopped);
    }
}

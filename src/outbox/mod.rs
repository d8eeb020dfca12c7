//! The durable send queue. Entries are created in the same transaction as
//! the ticket change that caused them, with their final bytes; the sender
//! task delivers them, retries transient failures with exponential backoff,
//! and records the outcome on the ticket. Nothing else in csirtd sends mail.

pub mod dispatch;
pub mod reseal;
pub mod sender;
pub mod smtp;
pub mod transport;

use rand::Rng;
use std::time::Duration;

/// Delay before attempt `attempts + 1`: doubling from `initial`, capped at
/// `max`, with ±20 % jitter so that a recovering relay is not hit by every
/// queued entry in the same second.
pub fn backoff(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let exp = initial.saturating_mul(2u32.saturating_pow(attempts.min(30)));
    let base = exp.min(max);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let i = Duration::from_secs(30);
        let m = Duration::from_secs(3600);
        for (n, want) in [
            (0, 30.0),
            (1, 60.0),
            (2, 120.0),
            (10, 3600.0),
            (100, 3600.0),
        ] {
            let got = backoff(n, i, m).as_secs_f64();
            assert!(
                got >= want * 0.8 - 0.01 && got <= want * 1.2 + 0.01,
                "attempt {n}: {got}"
            );
        }
    }
}

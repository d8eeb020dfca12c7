//! How many acknowledgements one address got within the rate window.
//!
//! Kept as counts per time bucket rather than one timestamp per
//! acknowledgement: the record is read and rewritten for every message from
//! that sender, and an automated reporter (a scanner feed, a provider's
//! feedback loop) can legitimately be allowed thousands per window. With
//! one timestamp each, its record, and so the cost of every one of its
//! messages, would grow with the limit; with buckets it stays at most
//! [`BUCKETS_PER_WINDOW`] + 1 entries.

use serde::{Deserialize, Serialize};

/// The window is cut into this many buckets. Counting whole buckets errs
/// on the side of counting an acknowledgement up to one bucket (1/60 of
/// the window) longer than the window: a loop is suppressed slightly
/// early, never late.
pub const BUCKETS_PER_WINDOW: i64 = 60;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckHistory {
    /// (bucket start in Unix seconds, acknowledgements in it), oldest first.
    buckets: Vec<(i64, u32)>,
}

fn bucket_len(window_secs: u64) -> i64 {
    (i64::try_from(window_secs).unwrap_or(i64::MAX) / BUCKETS_PER_WINDOW).max(1)
}

impl AckHistory {
    /// Reads the stored form. Stores written before the buckets existed
    /// hold a plain list of timestamps; those are folded into buckets.
    pub fn decode(bytes: &[u8], window_secs: u64) -> Option<AckHistory> {
        if let Ok(h) = serde_json::from_slice::<AckHistory>(bytes) {
            return Some(h);
        }
        let stamps: Vec<i64> = serde_json::from_slice(bytes).ok()?;
        let mut h = AckHistory::default();
        for t in stamps {
            h.add(t, window_secs);
        }
        Some(h)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Only what may still fall within the window ending at `now`.
    pub fn within(mut self, now: i64, window_secs: u64) -> AckHistory {
        let len = bucket_len(window_secs);
        let horizon = now.saturating_sub(i64::try_from(window_secs).unwrap_or(i64::MAX));
        self.buckets
            .retain(|&(start, _)| start.saturating_add(len) > horizon);
        self
    }

    pub fn count(&self) -> u32 {
        self.buckets
            .iter()
            .fold(0u32, |n, &(_, c)| n.saturating_add(c))
    }

    /// One more acknowledgement at `at`; drops buckets outside the window.
    pub fn record(self, at: i64, window_secs: u64) -> AckHistory {
        let mut h = self.within(at, window_secs);
        h.add(at, window_secs);
        h
    }

    fn add(&mut self, at: i64, window_secs: u64) {
        let len = bucket_len(window_secs);
        let start = at.div_euclid(len) * len;
        match self.buckets.iter_mut().find(|(s, _)| *s == start) {
            Some((_, c)) => *c = c.saturating_add(1),
            None => {
                self.buckets.push((start, 1));
                self.buckets.sort_unstable();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3600;

    #[test]
    fn counts_what_falls_in_the_window() {
        let t0 = 1_800_000_000;
        let h = AckHistory::default()
            .record(t0, HOUR)
            .record(t0 + 10, HOUR)
            .record(t0 + 1800, HOUR);
        assert_eq!(h.clone().within(t0 + 1800, HOUR).count(), 3);
        // An hour and a bucket later the first two have left the window.
        assert_eq!(h.within(t0 + 3600 + 61, HOUR).count(), 1);
    }

    #[test]
    fn an_acknowledgement_is_never_forgotten_early() {
        let t0 = 1_800_000_000;
        let h = AckHistory::default().record(t0, HOUR);
        for dt in [0, 1, 59, 60, 1000, 3599, 3600] {
            assert_eq!(h.clone().within(t0 + dt, HOUR).count(), 1, "after {dt} s");
        }
    }

    #[test]
    fn stays_small_whatever_the_volume() {
        let t0 = 1_800_000_000;
        let mut h = AckHistory::default();
        for i in 0..100_000 {
            h = h.record(t0 + i / 10, HOUR);
        }
        assert!(h.buckets.len() <= BUCKETS_PER_WINDOW as usize + 1);
        assert!(h.encode().len() < 2048);
        assert!(h.count() >= 36_000);
    }

    #[test]
    fn reads_the_older_list_of_timestamps() {
        let t0 = 1_800_000_000i64;
        let old = serde_json::to_vec(&vec![t0, t0 + 5, t0 + 7200]).unwrap();
        let h = AckHistory::decode(&old, HOUR).unwrap();
        assert_eq!(h.within(t0 + 7200, HOUR).count(), 1);
        assert!(AckHistory::decode(b"garbage", HOUR).is_none());
    }
}

//! What an account's task is doing, for the metrics and the summary line:
//! two atomics the task writes and anyone may read, so that reporting
//! never waits on the connection.

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};

/// The account's connection, as an operator would describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// First connection attempt since the start.
    Connecting,
    /// Connected and working (scanning, fetching, moving).
    Connected,
    /// Connected and waiting for news (IDLE or the poll interval).
    Idle,
    /// The last connection failed; waiting for or trying the next one.
    Reconnecting,
    Stopped,
}

impl Link {
    pub const ALL: [Link; 5] = [
        Link::Connecting,
        Link::Connected,
        Link::Idle,
        Link::Reconnecting,
        Link::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Idle => "idle",
            Link::Reconnecting => "reconnecting",
            Link::Stopped => "stopped",
        }
    }

    fn from_u8(v: u8) -> Link {
        Link::ALL.get(v as usize).copied().unwrap_or(Link::Stopped)
    }
}

#[derive(Debug)]
pub struct AccountStatus {
    link: AtomicU8,
    /// Unix seconds of the last scan of the folder that succeeded; 0: none.
    last_poll: AtomicI64,
}

impl Default for AccountStatus {
    fn default() -> Self {
        AccountStatus {
            link: AtomicU8::new(Link::Connecting as u8),
            last_poll: AtomicI64::new(0),
        }
    }
}

impl AccountStatus {
    pub fn set(&self, link: Link) {
        self.link.store(link as u8, Ordering::Relaxed);
    }

    pub fn link(&self) -> Link {
        Link::from_u8(self.link.load(Ordering::Relaxed))
    }

    pub fn polled_now(&self) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.last_poll.store(now, Ordering::Relaxed);
    }

    /// Unix seconds of the last successful scan, if there was one.
    pub fn last_poll(&self) -> Option<i64> {
        match self.last_poll.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_round_trips_through_its_byte() {
        let s = AccountStatus::default();
        assert_eq!(s.link(), Link::Connecting);
        for l in Link::ALL {
            s.set(l);
            assert_eq!(s.link(), l);
        }
        assert_eq!(s.last_poll(), None);
        s.polled_now();
        assert!(s.last_poll().is_some_and(|t| t > 1_600_000_000));
    }
}

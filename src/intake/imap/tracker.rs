//! Which UIDs of the watched folder are where: listed by a scan, handed to
//! the intake, stored and waiting to be moved, failed. No I/O here, so the
//! rules that keep mail from being lost or skipped are tested on their own.
//!
//! The persisted `last_uid` is a watermark: every UID at or below it was
//! stored and let go of (or refused). A message not yet settled holds it
//! back, so that after a crash the folder is scanned again from there and
//! de-duplication absorbs what was stored twice.

use crate::intake::Disposition;
use crate::store::ImapState;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub struct Tracker {
    uidvalidity: Option<u32>,
    /// Highest UID a scan has listed (or the watermark we started from).
    scanned: u32,
    /// Listed with its RFC822.SIZE, not fetched yet.
    backlog: BTreeMap<u32, u32>,
    in_flight: BTreeSet<u32>,
    /// Released by the intake (not stored): to be fetched again.
    retry: BTreeSet<u32>,
    /// Stored (or refused): to be moved or flagged.
    pending: BTreeMap<u32, Disposition>,
    /// The server refused to move or flag them; tried again on the next
    /// connection, and meanwhile they hold the watermark back.
    stuck: BTreeMap<u32, Disposition>,
    /// What the store holds, as far as we know.
    saved: Option<ImapState>,
}

/// What a SELECT found, compared with what we knew.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// First time this folder is seen: scan it whole.
    Fresh,
    /// Same folder as last time: continue after `last_uid`.
    Resume { last_uid: u32 },
    /// UIDVALIDITY changed: every UID we knew is void; scan it whole.
    Changed { old: u32, new: u32 },
    /// Reconnected within this run: in-memory state carries on.
    Reconnected,
}

/// Picked by [`Tracker::next_batch`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub fetch: Vec<u32>,
    /// UID and size of messages over the size limit: never fetched, moved
    /// to quarantine.
    pub refused: Vec<(u32, u32)>,
}

impl Tracker {
    pub fn uidvalidity(&self) -> Option<u32> {
        self.uidvalidity
    }

    /// Called after each SELECT with the folder's UIDVALIDITY and the state
    /// kept in the store.
    pub fn start(&mut self, uidvalidity: u32, stored: Option<ImapState>) -> Start {
        if self.uidvalidity == Some(uidvalidity) {
            let stuck = std::mem::take(&mut self.stuck);
            self.pending.extend(stuck);
            return Start::Reconnected;
        }
        let old = self.uidvalidity.or(stored.map(|s| s.uidvalidity));
        *self = Tracker {
            uidvalidity: Some(uidvalidity),
            ..Tracker::default()
        };
        match (old, stored) {
            (Some(old), _) if old != uidvalidity => Start::Changed {
                old,
                new: uidvalidity,
            },
            (_, Some(s)) => {
                self.scanned = s.last_uid;
                self.saved = Some(s);
                Start::Resume {
                    last_uid: s.last_uid,
                }
            }
            (_, None) => Start::Fresh,
        }
    }

    /// The first UID the next scan asks for (`n:*`); None once UIDs are
    /// exhausted.
    pub fn scan_from(&self) -> Option<u32> {
        self.scanned.checked_add(1)
    }

    /// A UID listed by a scan. `n:*` also returns the highest message when
    /// it is below `n`, hence the check.
    pub fn listed(&mut self, uid: u32, size: u32) {
        if uid > self.scanned {
            self.backlog.insert(uid, size);
        }
    }

    /// Ends a scan: nothing below `highest` is news any more.
    pub fn scanned_to(&mut self, highest: u32) {
        self.scanned = self.scanned.max(highest);
    }

    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty() || !self.retry.is_empty()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Up to `count` messages to fetch, released ones first, then the
    /// oldest listed, within `budget` bytes (at least one message).
    /// Messages over `max_size` are refused and queued for quarantine.
    pub fn next_batch(&mut self, count: usize, budget: u64, max_size: u64) -> Batch {
        let mut batch = Batch::default();
        let mut bytes = 0u64;
        while batch.fetch.len() < count {
            let Some(uid) = self.retry.pop_first() else {
                break;
            };
            batch.fetch.push(uid);
        }
        while batch.fetch.len() < count {
            let Some((&uid, &size)) = self.backlog.first_key_value() else {
                break;
            };
            if u64::from(size) > max_size {
                self.backlog.remove(&uid);
                batch.refused.push((uid, size));
                self.pending.insert(uid, Disposition::Quarantine);
                continue;
            }
            if !batch.fetch.is_empty() && bytes + u64::from(size) > budget {
                break;
            }
            self.backlog.remove(&uid);
            bytes += u64::from(size);
            batch.fetch.push(uid);
        }
        batch
    }

    pub fn handed_out(&mut self, uid: u32) {
        self.in_flight.insert(uid);
    }

    /// Fetched but refused on its real size: straight to quarantine.
    pub fn refused(&mut self, uid: u32) {
        self.pending.insert(uid, Disposition::Quarantine);
    }

    /// The intake stored it. Ignored unless we handed it out in this
    /// UIDVALIDITY (after a change, the UID names another message).
    pub fn done(&mut self, uidvalidity: u32, uid: u32, disposition: Disposition) -> bool {
        if self.uidvalidity != Some(uidvalidity) || !self.in_flight.remove(&uid) {
            return false;
        }
        self.pending.insert(uid, disposition);
        true
    }

    pub fn release(&mut self, uidvalidity: u32, uid: u32) -> bool {
        if self.uidvalidity != Some(uidvalidity) || !self.in_flight.remove(&uid) {
            return false;
        }
        self.retry.insert(uid);
        true
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Everything waiting to be moved or flagged, grouped by disposition.
    pub fn take_pending(&mut self) -> BTreeMap<Disposition, Vec<u32>> {
        let mut groups: BTreeMap<Disposition, Vec<u32>> = BTreeMap::new();
        for (uid, d) in std::mem::take(&mut self.pending) {
            groups.entry(d).or_default().push(uid);
        }
        groups
    }

    /// The connection failed before they were dealt with.
    pub fn requeue(&mut self, disposition: Disposition, uids: &[u32]) {
        self.pending.extend(uids.iter().map(|&u| (u, disposition)));
    }

    /// The server refused to move or flag them.
    pub fn stuck(&mut self, disposition: Disposition, uids: &[u32]) {
        self.stuck.extend(uids.iter().map(|&u| (u, disposition)));
    }

    /// Highest UID below which everything is settled.
    pub fn watermark(&self) -> u32 {
        let lowest = [
            self.backlog.keys().next(),
            self.in_flight.first(),
            self.retry.first(),
            self.pending.keys().next(),
            self.stuck.keys().next(),
        ]
        .into_iter()
        .flatten()
        .min()
        .copied();
        match lowest {
            Some(uid) => uid.saturating_sub(1).min(self.scanned),
            None => self.scanned,
        }
    }

    /// The state to store, when it differs from what the store holds.
    pub fn state_to_save(&mut self) -> Option<ImapState> {
        let state = ImapState {
            uidvalidity: self.uidvalidity?,
            last_uid: self.watermark(),
        };
        let newer = match self.saved {
            Some(saved) => {
                saved.uidvalidity != state.uidvalidity || saved.last_uid < state.last_uid
            }
            None => true,
        };
        if !newer {
            return None;
        }
        self.saved = Some(state);
        Some(state)
    }
}

/// UID sets for commands, as ranges (`3:7,9`), at most `max_ranges`
/// ranges each so that command lines stay short.
pub fn uid_sets(uids: &[u32], max_ranges: usize) -> Vec<String> {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for uid in sorted {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(uid) => *end = uid,
            _ => ranges.push((uid, uid)),
        }
    }
    ranges
        .chunks(max_ranges.max(1))
        .map(|chunk| {
            chunk
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}:{b}")
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(uidvalidity: u32, last_uid: u32) -> Option<ImapState> {
        Some(ImapState {
            uidvalidity,
            last_uid,
        })
    }

    #[test]
    fn uid_sets_are_ranges_in_bounded_chunks() {
        assert_eq!(
            uid_sets(&[5, 3, 4, 9, 11, 10, 20], 100),
            vec!["3:5,9:11,20"]
        );
        assert_eq!(uid_sets(&[1, 3, 5], 2), vec!["1,3", "5"]);
        assert!(uid_sets(&[], 10).is_empty());
        assert_eq!(
            uid_sets(&[u32::MAX - 1, u32::MAX], 10),
            vec!["4294967294:4294967295"]
        );
    }

    #[test]
    fn start_tells_fresh_resume_change_and_reconnect_apart() {
        let mut t = Tracker::default();
        assert_eq!(t.start(7, None), Start::Fresh);
        assert_eq!(t.scan_from(), Some(1));
        let mut t = Tracker::default();
        assert_eq!(t.start(7, state(7, 40)), Start::Resume { last_uid: 40 });
        assert_eq!(t.scan_from(), Some(41));
        t.listed(41, 10);
        t.scanned_to(41);
        let b = t.next_batch(10, 1 << 20, 1 << 20);
        t.handed_out(b.fetch[0]);
        assert_eq!(t.start(7, state(7, 40)), Start::Reconnected);
        assert_eq!(t.in_flight(), 1, "in-flight UIDs survive a reconnect");
        assert_eq!(t.start(8, state(7, 40)), Start::Changed { old: 7, new: 8 });
        assert_eq!(
            t.scan_from(),
            Some(1),
            "a new UIDVALIDITY rescans the folder"
        );
        assert_eq!(t.in_flight(), 0);
        assert!(!t.done(7, 41, Disposition::Processed), "old UIDs are void");
        let mut t = Tracker::default();
        assert_eq!(t.start(9, state(7, 40)), Start::Changed { old: 7, new: 9 });
    }

    #[test]
    fn scan_ignores_the_highest_message_below_the_range() {
        let mut t = Tracker::default();
        t.start(1, state(1, 10));
        t.listed(10, 5);
        t.scanned_to(10);
        assert!(!t.has_backlog());
    }

    #[test]
    fn batches_take_released_first_refuse_oversized_and_respect_the_budget() {
        let mut t = Tracker::default();
        t.start(1, None);
        for (uid, size) in [(1, 100), (2, 5000), (3, 100), (4, 100), (5, 100)] {
            t.listed(uid, size);
        }
        t.scanned_to(5);
        let b = t.next_batch(10, 250, 1000);
        assert_eq!(b.fetch, vec![1, 3]);
        assert_eq!(b.refused, vec![(2, 5000)]);
        for &u in &b.fetch {
            t.handed_out(u);
        }
        assert!(t.release(1, 3));
        let b = t.next_batch(2, 1000, 1000);
        assert_eq!(b.fetch, vec![3, 4], "released first, then the oldest");
        // A single message larger than the budget still goes alone.
        let mut t = Tracker::default();
        t.start(1, None);
        t.listed(1, 900);
        t.scanned_to(1);
        assert_eq!(t.next_batch(10, 100, 1000).fetch, vec![1]);
    }

    #[test]
    fn watermark_waits_for_every_lower_uid() {
        let mut t = Tracker::default();
        t.start(1, None);
        for uid in 1..=5 {
            t.listed(uid, 10);
        }
        t.scanned_to(5);
        let b = t.next_batch(3, 1 << 20, 1 << 20);
        for &u in &b.fetch {
            t.handed_out(u);
        }
        assert_eq!(t.watermark(), 0);
        assert!(t.done(1, 2, Disposition::Processed));
        assert!(t.done(1, 3, Disposition::Quarantine));
        assert_eq!(t.watermark(), 0, "1 is still in flight");
        assert!(t.done(1, 1, Disposition::Processed));
        assert_eq!(t.watermark(), 0, "done but not yet moved");
        let groups = t.take_pending();
        assert_eq!(groups[&Disposition::Processed], vec![1, 2]);
        assert_eq!(groups[&Disposition::Quarantine], vec![3]);
        assert_eq!(t.watermark(), 3, "4 and 5 are still in the backlog");
        assert_eq!(
            t.state_to_save(),
            Some(ImapState {
                uidvalidity: 1,
                last_uid: 3
            })
        );
        assert_eq!(t.state_to_save(), None, "unchanged");
        let b = t.next_batch(10, 1 << 20, 1 << 20);
        for &u in &b.fetch {
            t.handed_out(u);
        }
        assert!(t.done(1, 4, Disposition::Processed));
        assert!(t.done(1, 5, Disposition::Processed));
        let groups = t.take_pending();
        t.stuck(
            Disposition::Processed,
            &groups[&Disposition::Processed][..1],
        );
        assert_eq!(t.watermark(), 3, "a failed move holds the watermark");
        // The next connection tries again.
        assert_eq!(t.start(1, None), Start::Reconnected);
        assert!(t.has_pending());
        t.take_pending();
        assert_eq!(t.watermark(), 5);
    }

    #[test]
    fn a_fresh_folder_persists_its_uidvalidity_at_once() {
        let mut t = Tracker::default();
        t.start(3, None);
        assert_eq!(
            t.state_to_save(),
            Some(ImapState {
                uidvalidity: 3,
                last_uid: 0
            })
        );
        assert_eq!(t.state_to_save(), None);
    }
}

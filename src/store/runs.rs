//! The correlation index as sorted runs: the merged form of the pending
//! records (see index.rs).
//!
//! A sled key per (indicator, ticket) cost the intake about 45 B-tree
//! inserts per report, each a node copy and a log entry: more than the
//! rest of the commit together, and serialised with it by sled's
//! store-wide lock. A merge step now sorts the entries of all pending
//! records into one run, cut into blocks of a few KB, each one sled value
//! keyed by its run and its last entry, so that the block holding any
//! entry is one range seek. Runs are merged, eight of one level into one
//! of the next (a log-structured merge), so a search probes a few dozen
//! runs at most. Stores written before this keep their entries in the two
//! index trees, which searches still read.
//!
//! Crash safety without a transaction: a run's blocks are written before
//! the manifest (one meta key) names the run, and the records or runs it
//! replaces are removed only after. A crash in between leaves an entry in
//! two places (searches deduplicate tickets) or blocks no manifest names
//! (removed by the next merge step).

use super::*;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Runs of one level merged into one run of the next.
const FANOUT: usize = 8;
/// Target size of a block: a search reads one or two per run.
const BLOCK_BYTES: usize = 2 * 1024;
/// A run being written is flushed every this many blocks (2 MiB). sled
/// holds what it has not written yet in its log buffers, and a merge of
/// large runs wrote tens of MiB in a burst faster than a busy disk took
/// them: the daemon's peak RSS came from those merges (issue 18). The
/// flush is the back-pressure; a run is searched only once the manifest
/// names it, so flushing part of one changes nothing a crash could see.
const FLUSH_EVERY_BLOCKS: usize = (2 << 20) / BLOCK_BYTES;
/// sled frees the node an insert or a removal replaces (a copy of the
/// whole node, several blocks) through crossbeam-epoch's per-thread bag of
/// 64 deferred frees, which reaches the global queue only when full: a
/// merge hands its bag on every this many blocks read, written or removed,
/// so that the nodes a large merge replaces or evicts are freed as it goes
/// (issue 18).
const GARBAGE_EVERY: usize = 16;
/// A run being removed is flushed every this many removed blocks: each
/// removal logs a copy of the node it leaves (sled splits a leaf past 16
/// entries, so about a dozen blocks, 24 KiB), so this is about as many
/// bytes of log as [`FLUSH_EVERY_BLOCKS`] writes.
const FLUSH_EVERY_REMOVALS: usize = 64;
const MANIFEST_KEY: &[u8] = b"index_runs";
const NEXT_RUN_KEY: &[u8] = b"index_run_next";

/// One index entry: tree byte (0 addresses, 1 terms) and the entry's key.
pub(crate) type Entry = (u8, Vec<u8>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub id: u64,
    pub level: u8,
    pub entries: u64,
}

pub(crate) fn tree_byte(tree: usize) -> u8 {
    u8::from(tree == T_IND_TERM)
}

/// Appends one entry in the pending-record and block encoding: tree byte,
/// big-endian u16 length, key. Longer keys are not index entries.
pub(crate) fn push_entry(out: &mut Vec<u8>, tree: u8, key: &[u8]) {
    if let Ok(len) = u16::try_from(key.len()) {
        out.push(tree);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(key);
    }
}

/// The entries of a pending record or a block; stops at a truncated one.
pub(crate) fn decode_entries(mut v: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while v.len() >= 3 {
        // 0 addresses, 1 terms, 2 the ticket list's facets (summary.rs).
        let tree = v[0];
        let len = usize::from(u16::from_be_bytes([v[1], v[2]]));
        let Some(key) = v.get(3..3 + len) else {
            break;
        };
        out.push((tree, key));
        v = &v[3 + len..];
    }
    out
}

fn encode_manifest(runs: &[Run]) -> Vec<u8> {
    let mut v = Vec::with_capacity(runs.len() * 17);
    for r in runs {
        v.extend_from_slice(&r.id.to_be_bytes());
        v.push(r.level);
        v.extend_from_slice(&r.entries.to_be_bytes());
    }
    v
}

fn decode_manifest(v: &[u8]) -> Result<Vec<Run>> {
    if !v.len().is_multiple_of(17) {
        return Err(StoreError::Corrupt {
            what: "meta/index_runs".into(),
            detail: format!("{} bytes, not a multiple of 17", v.len()),
        });
    }
    Ok(v.chunks_exact(17)
        .map(|c| Run {
            id: read_u64(Some(&c[..8])),
            level: c[8],
            entries: read_u64(Some(&c[9..])),
        })
        .collect())
}

/// A run's entries in order, read block by block.
struct Cursor {
    blocks: sled::Iter,
    block: Vec<(u8, Vec<u8>)>,
    read: usize,
}

impl Cursor {
    fn next(&mut self) -> Result<Option<Entry>> {
        while self.block.is_empty() {
            match self.blocks.next() {
                None => return Ok(None),
                Some(item) => {
                    let (_, v) = item?;
                    // Reading pages nodes in, and the nodes sled's cache
                    // evicts for them are freed through this thread's
                    // garbage bag, as written and removed ones are.
                    self.read += 1;
                    if self.read.is_multiple_of(GARBAGE_EVERY) {
                        crossbeam_epoch::pin().flush();
                    }
                    let mut entries: Vec<Entry> = decode_entries(&v)
                        .into_iter()
                        .map(|(t, k)| (t, k.to_vec()))
                        .collect();
                    entries.reverse();
                    self.block = entries;
                }
            }
        }
        Ok(self.block.pop())
    }
}

impl Store {
    pub(crate) fn index_runs(&self) -> Result<Vec<Run>> {
        match self.trees[T_META].get(MANIFEST_KEY)? {
            Some(v) => decode_manifest(&v),
            None => Ok(Vec::new()),
        }
    }

    fn set_index_runs(&self, runs: &[Run]) -> Result<()> {
        self.trees[T_META].insert(MANIFEST_KEY, encode_manifest(runs))?;
        Ok(())
    }

    /// A run ID never used before, recorded before any block of it is
    /// written (sled recovers a prefix of its log, so blocks that survive
    /// a crash imply the counter did).
    fn new_run_id(&self) -> Result<u64> {
        let meta = &self.trees[T_META];
        let next = read_u64(meta.get(NEXT_RUN_KEY)?.as_deref()).max(1);
        meta.insert(NEXT_RUN_KEY, &(next + 1).to_be_bytes())?;
        Ok(next)
    }

    /// Writes sorted entries as the blocks of run `id`, dropping repeats;
    /// returns how many entries it holds.
    fn write_run(&self, id: u64, mut next: impl FnMut() -> Result<Option<Entry>>) -> Result<u64> {
        let mut block = Vec::with_capacity(BLOCK_BYTES + 256);
        let mut last: Option<Entry> = None;
        let mut count = 0u64;
        let mut blocks = 0usize;
        let mut write = |block: &mut Vec<u8>, last: &Entry| -> Result<()> {
            let mut key = Vec::with_capacity(9 + last.1.len());
            key.extend_from_slice(&id.to_be_bytes());
            key.push(last.0);
            key.extend_from_slice(&last.1);
            self.runs.insert(key, std::mem::take(block))?;
            blocks += 1;
            if blocks.is_multiple_of(FLUSH_EVERY_BLOCKS) {
                flush_log(&self.db)?;
            } else if blocks.is_multiple_of(GARBAGE_EVERY) {
                crossbeam_epoch::pin().flush();
            }
            Ok(())
        };
        while let Some(entry) = next()? {
            if last.as_ref() == Some(&entry) {
                continue;
            }
            push_entry(&mut block, entry.0, &entry.1);
            count += 1;
            if block.len() >= BLOCK_BYTES {
                write(&mut block, &entry)?;
            }
            last = Some(entry);
        }
        if let (false, Some(l)) = (block.is_empty(), &last) {
            write(&mut block, l)?;
        }
        Ok(count)
    }

    fn cursor(&self, id: u64) -> Cursor {
        Cursor {
            blocks: self.runs.scan_prefix(id.to_be_bytes()),
            block: Vec::new(),
            read: 0,
        }
    }

    /// Removes the blocks of run `id`. Each removal writes a new copy of
    /// the node it leaves (several blocks) to sled's log, as an insert
    /// does, so the removals are flushed as often as a run's writes are
    /// (in bytes of log): removing a large run wrote tens of MiB that sled
    /// held in its buffers until its own flush came (issue 18).
    fn remove_run(&self, id: u64) -> Result<()> {
        for (n, item) in self.runs.scan_prefix(id.to_be_bytes()).keys().enumerate() {
            self.runs.remove(item?)?;
            let n = n + 1;
            if n.is_multiple_of(FLUSH_EVERY_REMOVALS) {
                flush_log(&self.db)?;
            } else if n.is_multiple_of(GARBAGE_EVERY) {
                crossbeam_epoch::pin().flush();
            }
        }
        crossbeam_epoch::pin().flush();
        Ok(())
    }

    /// Blocks of runs the manifest does not name: a crash while a run was
    /// written or after it replaced others. Checked once per process.
    fn remove_orphan_runs(&self, live: &[Run]) -> Result<()> {
        let mut at: Vec<u8> = Vec::new();
        loop {
            let Some(item) = self.runs.range(at.as_slice()..).next() else {
                return Ok(());
            };
            let (k, _) = item?;
            let Some(id) = k.get(..8).map(|b| read_u64(Some(b))) else {
                self.runs.remove(&k)?;
                continue;
            };
            if !live.iter().any(|r| r.id == id) {
                tracing::info!(run = id, "removing index blocks an interrupted merge left");
                self.remove_run(id)?;
            }
            match id.checked_add(1) {
                Some(n) => at = n.to_be_bytes().to_vec(),
                None => return Ok(()),
            }
        }
    }

    /// Sorts up to `max` pending records into a new run and removes them;
    /// then merges runs level by level. Returns how many records it took.
    pub fn merge_pending_index(&self, max: usize) -> Result<usize> {
        let _merging = self.index_merge.lock().unwrap_or_else(|p| p.into_inner());
        if !self
            .orphans_checked
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            self.remove_orphan_runs(&self.index_runs()?)?;
        }
        let pending = &self.trees[T_IND_PENDING];
        let mut records = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        for item in pending.iter().take(max) {
            let (k, v) = item?;
            entries.extend(decode_entries(&v).into_iter().map(|(t, k)| (t, k.to_vec())));
            records.push(k);
        }
        if records.is_empty() {
            return Ok(0);
        }
        // Searches see the records or the run, never neither.
        self.add_run(entries, || {
            for k in &records {
                pending.remove(k)?;
            }
            Ok(())
        })?;
        Ok(records.len())
    }

    /// Sorts `entries` into a new level-0 run, names it in the manifest and
    /// runs `replaced` (removing what the run replaces) under the view
    /// lock, then merges runs. The caller holds the merge lock.
    fn add_run(
        &self,
        mut entries: Vec<Entry>,
        replaced: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        entries.sort_unstable();
        let id = self.new_run_id()?;
        let mut sorted = entries.into_iter();
        let count = self.write_run(id, || Ok(sorted.next()))?;
        {
            let _view = self.index_view.write().unwrap_or_else(|p| p.into_inner());
            if count > 0 {
                let mut runs = self.index_runs()?;
                runs.push(Run {
                    id,
                    level: 0,
                    entries: count,
                });
                self.set_index_runs(&runs)?;
            }
            replaced()?;
        }
        self.compact_runs()
    }

    /// Merges the runs of the lowest level that has [`FANOUT`] of them into
    /// one run of the next level, until no level has.
    fn compact_runs(&self) -> Result<()> {
        loop {
            let runs = self.index_runs()?;
            let full =
                (0..=u8::MAX - 1).find(|l| runs.iter().filter(|r| r.level == *l).count() >= FANOUT);
            let Some(level) = full else {
                return Ok(());
            };
            let inputs: Vec<Run> = runs.iter().filter(|r| r.level == level).copied().collect();
            let id = self.new_run_id()?;
            let mut cursors: Vec<Cursor> = inputs.iter().map(|r| self.cursor(r.id)).collect();
            let mut heap = BinaryHeap::new();
            for (i, c) in cursors.iter_mut().enumerate() {
                if let Some(e) = c.next()? {
                    heap.push(Reverse((e, i)));
                }
            }
            let count = self.write_run(id, || {
                let Some(Reverse((e, i))) = heap.pop() else {
                    return Ok(None);
                };
                if let Some(n) = cursors[i].next()? {
                    heap.push(Reverse((n, i)));
                }
                Ok(Some(e))
            })?;
            {
                let _view = self.index_view.write().unwrap_or_else(|p| p.into_inner());
                let mut runs = self.index_runs()?;
                runs.retain(|r| !inputs.iter().any(|i| i.id == r.id));
                runs.push(Run {
                    id,
                    level: level + 1,
                    entries: count,
                });
                self.set_index_runs(&runs)?;
            }
            // No search can reach them now: it reads the manifest under
            // the view lock.
            for r in &inputs {
                self.remove_run(r.id)?;
            }
        }
    }

    /// Index entries of `tree` inside `span`, from every run: their tickets.
    pub(super) fn find_in_runs(
        &self,
        tree: usize,
        span: &super::index::Span,
        bound: usize,
        hits: &mut Vec<TicketId>,
    ) -> Result<()> {
        self.find_in_runs_of(tree_byte(tree), span, bound, hits)
    }

    /// Entries with tree byte `t` inside `span`, from every run.
    pub(super) fn find_in_runs_of(
        &self,
        t: u8,
        span: &super::index::Span,
        bound: usize,
        hits: &mut Vec<TicketId>,
    ) -> Result<()> {
        let lo = span.low();
        for run in self.index_runs()? {
            let prefix = run.id.to_be_bytes();
            let mut start = Vec::with_capacity(9 + lo.len());
            start.extend_from_slice(&prefix);
            start.push(t);
            start.extend_from_slice(lo);
            'blocks: for item in self.runs.range(start..) {
                let (k, block) = item?;
                if !k.starts_with(&prefix) {
                    break;
                }
                for (et, ek) in decode_entries(&block) {
                    if et < t || (et == t && ek < lo) {
                        continue;
                    }
                    if et > t || span.past(ek) {
                        break 'blocks;
                    }
                    if span.contains(ek) {
                        hits.extend(super::index::ticket_of(ek));
                        if hits.len() >= bound {
                            break 'blocks;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Rewrites every run that holds an entry `goes` picks, without those
    /// entries (retention's purge); returns how many were removed. The
    /// old run's blocks are removed once the manifest names the new one.
    pub(crate) fn filter_index_runs(&self, goes: &dyn Fn(u8, &[u8]) -> bool) -> Result<u64> {
        let _merging = self.index_merge.lock().unwrap_or_else(|p| p.into_inner());
        let mut removed = 0u64;
        for run in self.index_runs()? {
            let mut hit = false;
            'scan: for item in self.runs.scan_prefix(run.id.to_be_bytes()) {
                let (_, block) = item?;
                for (t, k) in decode_entries(&block) {
                    if goes(t, k) {
                        hit = true;
                        break 'scan;
                    }
                }
            }
            if !hit {
                continue;
            }
            let id = self.new_run_id()?;
            let mut cursor = self.cursor(run.id);
            let mut dropped = 0u64;
            let count = self.write_run(id, || loop {
                match cursor.next()? {
                    Some(e) if goes(e.0, &e.1) => dropped += 1,
                    other => return Ok(other),
                }
            })?;
            {
                let _view = self.index_view.write().unwrap_or_else(|p| p.into_inner());
                let mut runs = self.index_runs()?;
                runs.retain(|r| r.id != run.id);
                if count > 0 {
                    runs.push(Run {
                        id,
                        level: run.level,
                        entries: count,
                    });
                }
                self.set_index_runs(&runs)?;
            }
            self.remove_run(run.id)?;
            removed += dropped;
        }
        Ok(removed)
    }

    /// Writes `entries` (any order) straight as one run and merges runs;
    /// for bulk loads that bypass the pending records.
    pub(crate) fn write_index_run(&self, entries: Vec<Entry>) -> Result<()> {
        let _merging = self.index_merge.lock().unwrap_or_else(|p| p.into_inner());
        self.add_run(entries, || Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::index::Probe;
    use super::*;
    use crate::analysis::indicators::{Found, Indicator, Kind};

    fn ip_entry(ip: &str, ticket: TicketId) -> Entry {
        let i = Indicator {
            kind: Kind::Ipv4,
            value: ip.into(),
            source: Found::Body,
        };
        let (tree, key) = super::super::index::entry(&i, ticket).unwrap();
        (tree_byte(tree), key)
    }

    #[test]
    fn runs_are_found_merged_across_levels_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let store = Store::open(&path, 16).unwrap();
        // 20 runs of 300 tickets: two merges into level 1, and blocks of
        // several KB, so a search crosses block and run boundaries.
        for r in 0..20u32 {
            let entries: Vec<Entry> = (0..300u32)
                .map(|i| {
                    let n = r * 300 + i + 1;
                    let ip = format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, n % 256);
                    ip_entry(&ip, TicketId::new(2026, n))
                })
                .collect();
            store.write_index_run(entries).unwrap();
        }
        let runs = store.index_runs().unwrap();
        assert_eq!(runs.iter().filter(|r| r.level == 1).count(), 2);
        assert_eq!(runs.iter().filter(|r| r.level == 0).count(), 4);
        assert_eq!(runs.iter().map(|r| r.entries).sum::<u64>(), 6000);

        let one = Probe::Network("10.0.18.7".parse().unwrap(), 32);
        assert_eq!(
            store.find(&one, 10).unwrap(),
            vec![TicketId::new(2026, 18 * 256 + 7)]
        );
        // 10.0.0.0/20 holds tickets 1..=4095 (10.0.0.0 itself is none).
        let net = Probe::Network("10.0.0.0".parse().unwrap(), 20);
        assert_eq!(store.find(&net, 100_000).unwrap().len(), 4095);
        let none = Probe::Network("10.9.0.0".parse().unwrap(), 16);
        assert!(store.find(&none, 10).unwrap().is_empty());

        // Entries of a store from before the runs, in the address tree.
        let legacy = ip_entry("10.9.1.1", TicketId::new(2025, 1)).1;
        store.trees[T_IND_IP].insert(legacy, &[]).unwrap();
        assert_eq!(store.find(&none, 10).unwrap(), vec![TicketId::new(2025, 1)]);

        drop(store);
        let store = Store::open(&path, 16).unwrap();
        assert_eq!(
            store.find(&one, 10).unwrap(),
            vec![TicketId::new(2026, 18 * 256 + 7)]
        );
        assert_eq!(store.find(&net, 100_000).unwrap().len(), 4095);
    }

    #[test]
    fn blocks_no_manifest_names_are_removed_and_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), 16).unwrap();
        let t = TicketId::new(2026, 1);
        // What a crash between writing a run and naming it leaves.
        let id = store.new_run_id().unwrap();
        let mut orphan = vec![ip_entry("192.0.2.1", t)].into_iter();
        store.write_run(id, || Ok(orphan.next())).unwrap();
        let probe = Probe::Network("192.0.2.1".parse().unwrap(), 32);
        assert!(store.find(&probe, 10).unwrap().is_empty());
        assert_eq!(store.runs.len(), 1);
        store.merge_pending_index(10).unwrap();
        assert_eq!(store.runs.len(), 0);
    }

    #[test]
    fn manifests_and_entries_round_trip() {
        let runs = vec![
            Run {
                id: 7,
                level: 0,
                entries: 3,
            },
            Run {
                id: 9,
                level: 2,
                entries: 1 << 40,
            },
        ];
        assert_eq!(decode_manifest(&encode_manifest(&runs)).unwrap(), runs);
        assert!(decode_manifest(&[0; 5]).is_err());
        let mut v = Vec::new();
        push_entry(&mut v, 0, &[1; 22]);
        push_entry(&mut v, 1, b"dcom.example.\0abcdef");
        let back = decode_entries(&v);
        assert_eq!(
            back,
            vec![(0, &[1u8; 22][..]), (1, &b"dcom.example.\0abcdef"[..])]
        );
        assert_eq!(decode_entries(&v[..v.len() - 1]).len(), 1);
    }
}

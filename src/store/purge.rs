//! Retention's purge (issue 16): one transaction per ticket rewrites it as
//! a tombstone and removes, or redacts, everything of it that names a
//! person, in every tree that holds it. What is kept is decided in
//! `workflow::retention`; this module finds and writes.
//!
//! sled keeps removed values in its log until a segment is rewritten, so
//! a purge also marks the store for compaction (`compact.rs`), which
//! copies the live data into fresh files.

use super::commit::{next, TxResult};
use super::keys::*;
use super::records::{MessageRecord, OutboxState, TicketRecord};
use super::*;
use crate::config::IndicatorPolicy;
use crate::model::EventKind;
use crate::workflow::retention;
use sled::transaction::TransactionError;
use sled::Transactional;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Meta key set by a purge, removed by a compaction: removed data may
/// still be in the store's files until then.
pub(crate) const COMPACT_DUE_KEY: &[u8] = b"compact-due";
/// When the daemon's daily purge last ran (RFC 3339).
const LAST_RUN_KEY: &[u8] = b"purge-last-run";

#[derive(Debug, Clone)]
pub struct PurgeOptions {
    pub indicators: IndicatorPolicy,
    /// Who purges, for the tombstone's event.
    pub by: String,
    pub now: OffsetDateTime,
}

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    pub tickets: usize,
    /// Tickets that changed between the decision and their purge (a new
    /// message, a hold): left as they are.
    pub skipped: usize,
    pub messages: u64,
    pub raw_bytes: u64,
    pub events: u64,
    pub outbox_entries: u64,
    pub index_entries: u64,
    pub ack_histories: u64,
}

/// What one ticket's transaction writes and removes, read beforehand.
struct Plan {
    tombstone: TicketRecord,
    messages: Vec<(MessageRecord, bool)>,
    events: Vec<(sled::IVec, Event)>,
    outbox: Vec<(u64, OffsetDateTime)>,
    meta_keys: Vec<Vec<u8>>,
    group_keys: Vec<Vec<u8>>,
    raw_bytes: u64,
}

impl Store {
    /// Tickets with outgoing mail that is not sent or given up yet.
    pub fn tickets_with_pending_mail(&self) -> Result<BTreeSet<TicketId>> {
        let mut out = BTreeSet::new();
        for rec in self.outbox()? {
            if matches!(
                rec.state,
                OutboxState::Queued | OutboxState::Sealing | OutboxState::AwaitingRelease
            ) {
                out.insert(rec.ticket);
            }
        }
        Ok(out)
    }

    /// When the daemon's daily purge last ran.
    pub fn purge_last_run(&self) -> Result<Option<OffsetDateTime>> {
        let Some(v) = self.trees[T_META].get(LAST_RUN_KEY)? else {
            return Ok(None);
        };
        Ok(std::str::from_utf8(&v).ok().and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        }))
    }

    pub fn set_purge_last_run(&self, at: OffsetDateTime) -> Result<()> {
        self.trees[T_META].insert(LAST_RUN_KEY, crate::cli::ticket::rfc3339(at).as_bytes())?;
        self.flush()
    }

    /// Whether a purge removed data that may still be in the store's files.
    pub fn compaction_due(&self) -> Result<bool> {
        Ok(self.trees[T_META].get(COMPACT_DUE_KEY)?.is_some())
    }

    /// Purges `tickets`, each as decided when it last changed at the
    /// given time (one that changed since is skipped).
    pub fn purge(
        &self,
        tickets: &[(TicketId, OffsetDateTime)],
        opts: &PurgeOptions,
    ) -> Result<PurgeReport> {
        let mut report = PurgeReport::default();
        if tickets.is_empty() {
            return Ok(report);
        }
        // Index records not merged yet are sorted into runs first, where
        // the purged tickets' entries are filtered out below.
        while self.merge_pending_index(100_000)? > 0 {}
        let wanted: HashSet<TicketId> = tickets.iter().map(|(id, _)| *id).collect();
        let mut outbox: HashMap<TicketId, Vec<(u64, OffsetDateTime)>> = HashMap::new();
        for rec in self.outbox()? {
            if wanted.contains(&rec.ticket) {
                outbox
                    .entry(rec.ticket)
                    .or_default()
                    .push((rec.id, rec.next_attempt_at));
            }
        }
        let mut digest: HashMap<TicketId, Vec<Vec<u8>>> = HashMap::new();
        for p in self.pending_digest_entries()? {
            if wanted.contains(&p.entry.ticket) {
                digest.entry(p.entry.ticket).or_default().push(p.key);
            }
        }
        let mut groups: HashMap<TicketId, Vec<Vec<u8>>> = HashMap::new();
        for item in self.trees[T_GROUPS].iter() {
            let (k, v) = item?;
            if let Some(id) = TicketId::from_key(&v).filter(|id| wanted.contains(id)) {
                groups.entry(id).or_default().push(k.to_vec());
            }
        }
        // A grouped report is one message listed on several tickets: its
        // bytes go when the last of them does.
        let mut listed: HashMap<u64, Vec<TicketId>> = HashMap::new();
        for key in self.trees[T_MESSAGES].iter().keys() {
            if let Some((t, seq)) = split_message_key(&key?) {
                listed.entry(seq).or_default().push(t);
            }
        }
        listed.retain(|_, ts| ts.len() > 1);

        let mut purged: HashSet<TicketId> = HashSet::new();
        let mut addresses: BTreeSet<String> = BTreeSet::new();
        for (id, seen_at) in tickets {
            let _writer = self.write_guard();
            let Some(ticket) = self.ticket(*id)? else {
                report.skipped += 1;
                continue;
            };
            if ticket.updated_at != *seen_at || ticket.hold.is_some() || ticket.purged_at.is_some()
            {
                report.skipped += 1;
                continue;
            }
            let messages = self.messages(*id)?;
            let mut plan = Plan {
                tombstone: retention::tombstone(&ticket, opts.now),
                messages: Vec::with_capacity(messages.len()),
                events: Vec::new(),
                outbox: outbox.remove(id).unwrap_or_default(),
                meta_keys: digest.remove(id).unwrap_or_default(),
                group_keys: groups.remove(id).unwrap_or_default(),
                raw_bytes: 0,
            };
            for m in messages {
                let shared_live = match listed.get(&m.seq) {
                    None => false,
                    Some(ts) => {
                        let mut live = false;
                        for t in ts.iter().filter(|t| *t != id && !purged.contains(t)) {
                            if !wanted.contains(t)
                                || self.ticket(*t)?.is_none_or(|r| r.purged_at.is_none())
                            {
                                live = true;
                            }
                        }
                        live
                    }
                };
                if !shared_live {
                    if let Some(raw) = self.trees[T_RAW].get(m.seq.to_be_bytes())? {
                        plan.raw_bytes += raw.len() as u64;
                    }
                }
                if m.direction == crate::model::Direction::In {
                    if let Some(from) = &m.from {
                        addresses.insert(crate::workflow::ack_rate::address_key(from));
                    }
                }
                plan.messages.push((m, !shared_live));
            }
            for item in self.trees[T_EVENTS].scan_prefix(id.to_key()) {
                let (k, v) = item?;
                let e: Event = decode(&v, "event")?;
                plan.events.push((k, e));
            }
            for r in &ticket.requestors {
                addresses.insert(crate::workflow::ack_rate::address_key(r));
            }
            let summary = self.purge_one(&plan, opts)?;
            report.tickets += 1;
            report.messages += plan.messages.len() as u64;
            report.raw_bytes += plan.raw_bytes;
            report.events += plan.events.len() as u64;
            report.outbox_entries += summary;
            purged.insert(*id);
        }
        report.index_entries = self.drop_index_entries(&purged, opts.indicators)?;
        report.ack_histories = self.drop_ack_histories(&addresses)?;
        if report.tickets > 0 {
            self.trees[T_META].insert(
                COMPACT_DUE_KEY,
                crate::cli::ticket::rfc3339(opts.now).as_bytes(),
            )?;
        }
        self.flush()?;
        Ok(report)
    }

    /// One ticket's transaction; returns the outbox entries removed.
    fn purge_one(&self, plan: &Plan, opts: &PurgeOptions) -> Result<u64> {
        let id = plan.tombstone.id;
        let detail = format!(
            "purged by {} at {}: {} messages, {} bytes of mail removed with every address, name, subject and text; indicators {}",
            opts.by,
            crate::cli::ticket::rfc3339(opts.now),
            plan.messages.len(),
            plan.raw_bytes,
            match opts.indicators {
                IndicatorPolicy::Keep => "kept (email addresses removed)",
                IndicatorPolicy::Drop => "removed",
            }
        );
        let purged_event = Event::new(opts.now, EventKind::Purged, detail);
        let result = self.trees().transaction(|t| -> TxResult<u64> {
            for (m, drop_raw) in &plan.messages {
                let key = ticket_seq_key(id, m.seq);
                let redacted = retention::redact_message(m, opts.indicators);
                t[T_MESSAGES].insert(&key, encode(&redacted))?;
                if *drop_raw {
                    t[T_RAW].remove(&m.seq.to_be_bytes())?;
                }
                let points_here = |v: Option<sled::IVec>| v.is_some_and(|v| v.as_ref() == key);
                if let Some(mid) = &m.message_id {
                    if points_here(t[T_MSGID].get(mid.as_bytes())?) {
                        t[T_MSGID].remove(mid.as_bytes())?;
                    }
                }
                if let Ok(sha) = hex::decode(&m.sha256) {
                    if points_here(t[T_SHA].get(sha.as_slice())?) {
                        t[T_SHA].remove(sha)?;
                    }
                }
                if let Some(c) = m.content_sha256.as_deref().map(content_key) {
                    if points_here(t[T_SHA].get(c.as_slice())?) {
                        t[T_SHA].remove(c)?;
                    }
                }
                t[T_REPORTS].remove(&super::reports::report_key(id, m.seq))?;
                t[T_IND_PENDING].remove(&m.seq.to_be_bytes())?;
            }
            for (k, e) in &plan.events {
                t[T_EVENTS].insert(k.as_ref(), encode(&retention::redact_event(e)))?;
            }
            let seq = next(&t[T_COUNTERS], EVENT_COUNTER)?;
            t[T_EVENTS].insert(&ticket_seq_key(id, seq), encode(&purged_event))?;
            for (oid, due) in &plan.outbox {
                t[T_OUTBOX].remove(&oid.to_be_bytes())?;
                t[T_OUTBOX_DUE].remove(&due_key(unix_ms(*due), *oid))?;
                t[T_META].remove(super::sealing::sealing_key(*oid))?;
            }
            for k in &plan.meta_keys {
                t[T_META].remove(k.as_slice())?;
            }
            for k in &plan.group_keys {
                t[T_GROUPS].remove(k.as_slice())?;
            }
            t[T_TICKETS].insert(&id.to_key(), encode(&plan.tombstone))?;
            // The list index keys requestors by address: the tombstone's
            // summary (no requestors) takes their keys away.
            t[T_IND_PENDING].remove(&super::summary::facet_record_key(id))?;
            super::summary::write_tx(t, &plan.tombstone, None, None)?;
            Ok(plan.outbox.len() as u64)
        });
        match result {
            Ok(n) => Ok(n),
            Err(TransactionError::Abort(msg)) => Err(StoreError::Conflict(msg)),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    /// Removes the purged tickets' correlation index entries: all of them,
    /// or (indicators kept) their email addresses. Returns how many.
    fn drop_index_entries(
        &self,
        purged: &HashSet<TicketId>,
        policy: IndicatorPolicy,
    ) -> Result<u64> {
        if purged.is_empty() {
            return Ok(0);
        }
        // The list's facet entries: only requestors are personal data; the
        // others describe the tombstone still.
        let goes = |tree: u8, key: &[u8]| {
            super::index::ticket_of(key).is_some_and(|t| purged.contains(&t))
                && if tree == super::summary::FACET_TREE {
                    super::summary::is_requestor_facet(tree, key)
                } else {
                    policy == IndicatorPolicy::Drop || (tree == 1 && key.first() == Some(&b'e'))
                }
        };
        let mut removed = self.filter_index_runs(&goes)?;
        // Stores from before the runs keep entries in the two trees.
        for (tree, byte) in [(T_IND_IP, 0u8), (T_IND_TERM, 1u8)] {
            let mut gone = Vec::new();
            for key in self.trees[tree].iter().keys() {
                let key = key?;
                if goes(byte, &key) {
                    gone.push(key);
                }
            }
            for k in gone {
                self.trees[tree].remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Acknowledgement histories of the purged tickets' requestors and
    /// senders that no remaining ticket has: keyed by address, they are
    /// personal data of their own. Returns how many went.
    fn drop_ack_histories(&self, addresses: &BTreeSet<String>) -> Result<u64> {
        let present: Vec<&String> = addresses
            .iter()
            .filter(|a| {
                self.trees[T_ACK_RATE]
                    .contains_key(a.as_bytes())
                    .unwrap_or(false)
            })
            .collect();
        if present.is_empty() {
            return Ok(0);
        }
        let mut live: HashSet<String> = HashSet::new();
        for t in self.tickets(None)? {
            if t.purged_at.is_none() {
                live.extend(
                    t.requestors
                        .iter()
                        .map(|r| crate::workflow::ack_rate::address_key(r)),
                );
            }
        }
        let mut n = 0;
        for a in present {
            if !live.contains(a.as_str()) {
                self.trees[T_ACK_RATE].remove(a.as_bytes())?;
                n += 1;
            }
        }
        // The domain and global sums are made again from what is left.
        *self.ack_totals.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(n)
    }
}

/// Tickets purged and kept, as counts for a log line or the metrics.
pub fn summary(r: &PurgeReport) -> BTreeMap<&'static str, u64> {
    BTreeMap::from([
        ("tickets", r.tickets as u64),
        ("skipped", r.skipped as u64),
        ("messages", r.messages),
        ("raw_bytes", r.raw_bytes),
        ("events", r.events),
        ("outbox_entries", r.outbox_entries),
        ("index_entries", r.index_entries),
        ("ack_histories", r.ack_histories),
    ])
}

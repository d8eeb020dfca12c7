//! Bulk loading for the benchmark: a million generated tickets written
//! through sled batches instead of one transaction each. Not for intake,
//! which must commit each message with its ticket atomically.

use super::keys::*;
use super::*;
use crate::analysis::indicators::Indicator;

impl Store {
    /// Writes tickets (one batch) and their correlation index entries (one
    /// run, merged with the others as a merge step would); the year's
    /// ticket counter follows the highest ID.
    pub fn bulk_load_tickets(&self, tickets: &[(TicketRecord, Vec<Indicator>)]) -> Result<()> {
        let mut t = sled::Batch::default();
        let mut entries = Vec::new();
        let mut top: std::collections::BTreeMap<u16, u32> = Default::default();
        for (ticket, indicators) in tickets {
            t.insert(&ticket.id.to_key(), encode(ticket));
            let seq = top.entry(ticket.id.year).or_default();
            *seq = (*seq).max(ticket.id.seq);
            for (tree, key) in indicators.iter().filter_map(|i| index::entry(i, ticket.id)) {
                entries.push((runs::tree_byte(tree), key));
            }
        }
        self.trees()[T_TICKETS].apply_batch(t)?;
        self.write_index_run(entries)?;
        for (year, seq) in top {
            let key = ticket_counter_key(year);
            let last = read_u64(self.trees()[T_COUNTERS].get(&key)?.as_deref());
            if u64::from(seq) > last {
                self.trees()[T_COUNTERS].insert(key, &u64::from(seq).to_be_bytes())?;
            }
        }
        Ok(())
    }
}

/// One generated ticket for the purge benchmark: its record, one incoming
/// message with its raw bytes, and its events.
pub struct BulkTicket {
    pub ticket: TicketRecord,
    pub message: MessageRecord,
    pub raw: Vec<u8>,
    pub events: Vec<Event>,
}

impl Store {
    /// Writes whole tickets (record, message, raw bytes, Message-ID and
    /// SHA-256 index, events, correlation index, an acknowledgement
    /// history per requestor) through batches, as `bulk_load_tickets`.
    pub fn bulk_load_full(&self, items: &[BulkTicket]) -> Result<()> {
        let t = self.trees();
        let mut batches: Vec<sled::Batch> = (0..t.len()).map(|_| sled::Batch::default()).collect();
        let mut seq = read_u64(t[T_COUNTERS].get(MESSAGE_COUNTER)?.as_deref());
        let mut eseq = read_u64(t[T_COUNTERS].get(EVENT_COUNTER)?.as_deref());
        let mut entries = Vec::new();
        let mut top: std::collections::BTreeMap<u16, u32> = Default::default();
        for it in items {
            let id = it.ticket.id;
            seq += 1;
            let mut m = it.message.clone();
            m.seq = seq;
            m.ticket = id;
            let key = ticket_seq_key(id, seq);
            batches[T_MESSAGES].insert(&key, encode(&m));
            batches[T_RAW].insert(&seq.to_be_bytes(), it.raw.as_slice());
            if let Some(mid) = &m.message_id {
                batches[T_MSGID].insert(mid.as_bytes(), &key);
            }
            if let Ok(sha) = hex::decode(&m.sha256) {
                batches[T_SHA].insert(sha, &key);
            }
            for e in &it.events {
                eseq += 1;
                batches[T_EVENTS].insert(&ticket_seq_key(id, eseq), encode(e));
            }
            for r in &it.ticket.requestors {
                let h = crate::workflow::ack_rate::AckHistory::default();
                batches[T_ACK_RATE].insert(r.as_bytes(), h.encode());
            }
            for (tree, k) in m.indicators.iter().filter_map(|i| index::entry(i, id)) {
                entries.push((runs::tree_byte(tree), k));
            }
            batches[T_TICKETS].insert(&id.to_key(), encode(&it.ticket));
            let s = top.entry(id.year).or_default();
            *s = (*s).max(id.seq);
        }
        for (i, b) in batches.into_iter().enumerate() {
            t[i].apply_batch(b)?;
        }
        t[T_COUNTERS].insert(MESSAGE_COUNTER, &seq.to_be_bytes())?;
        t[T_COUNTERS].insert(EVENT_COUNTER, &eseq.to_be_bytes())?;
        for (year, s) in top {
            let key = ticket_counter_key(year);
            if u64::from(s) > read_u64(t[T_COUNTERS].get(&key)?.as_deref()) {
                t[T_COUNTERS].insert(key, &u64::from(s).to_be_bytes())?;
            }
        }
        self.write_index_run(entries)?;
        Ok(())
    }
}

//! One machine report that feeds several tickets (a Shadowserver CSV whose
//! rows concern several constituencies): the message is stored once and
//! listed on every ticket it feeds, all in one transaction, so a crash
//! leaves either every group's rows or none.

use super::commit::{next, write_outbox, TxResult};
use super::keys::*;
use super::records::{MessageRecord, TicketRecord};
use super::*;
use crate::analysis::indicators::Indicator;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

/// One ticket's share of a grouped report.
pub struct GroupPart {
    /// The ticket after this commit.
    pub ticket: TicketRecord,
    pub ticket_is_new: bool,
    /// Key in the group tree (`shadowserver`, type, day, constituency) that
    /// finds this ticket for the next report of the same group.
    pub group_key: Vec<u8>,
    pub events: Vec<Event>,
    /// The indicators of this group's rows (the correlation index).
    pub indicators: Vec<Indicator>,
    /// This group's rows as one record (see `reports.rs`), encoded.
    pub report: Vec<u8>,
    /// Outgoing mail of this ticket (constituent notifications); the
    /// outbox entries' `message` indexes this list.
    pub outgoing: Vec<NewMessage>,
    pub outbox: Vec<NewOutbox>,
    /// Notifications kept for their contact's daily digest.
    pub digest: Vec<super::digest::DigestEntry>,
}

pub struct GroupedCommit {
    /// `seq` and `ticket` are set per part by the commit.
    pub record: MessageRecord,
    pub raw: Vec<u8>,
    pub sha256: [u8; 32],
    pub parts: Vec<GroupPart>,
    pub received_at: time::OffsetDateTime,
    /// Rate histories replaced whole (the contacts notified).
    pub ack_rates: Vec<(String, crate::workflow::ack_rate::AckHistory)>,
}

impl Store {
    /// The ticket that collects a report group, if one was opened.
    pub fn group_ticket(&self, key: &[u8]) -> Result<Option<TicketId>> {
        Ok(self.trees()[T_GROUPS]
            .get(key)?
            .and_then(|v| TicketId::from_key(&v)))
    }

    /// Applies a grouped report in one transaction: the report's seq first,
    /// then the notifications'; the outbox IDs of the notifications.
    pub fn apply_grouped(&self, c: &GroupedCommit) -> Result<CommitResult> {
        let result = self.trees().transaction(|t| -> TxResult<CommitResult> {
            let mut res = CommitResult::default();
            let n = next(&t[T_COUNTERS], MESSAGE_COUNTER)?;
            res.message_seqs.push(n);
            t[T_RAW].insert(&n.to_be_bytes(), c.raw.as_slice())?;
            for (i, p) in c.parts.iter().enumerate() {
                let id = p.ticket.id;
                if p.ticket_is_new {
                    let counter_key = ticket_counter_key(id.year);
                    let last = read_u64(t[T_COUNTERS].get(&counter_key)?.as_deref());
                    if u64::from(id.seq) <= last || t[T_TICKETS].get(id.to_key())?.is_some() {
                        return Err(ConflictableTransactionError::Abort(format!(
                            "ticket {id} was already allocated; IDs are never reused"
                        )));
                    }
                    t[T_COUNTERS].insert(counter_key, &u64::from(id.seq).to_be_bytes())?;
                }
                let mut rec = c.record.clone();
                rec.seq = n;
                rec.ticket = id;
                rec.indicators.clone_from(&p.indicators);
                let key = ticket_seq_key(id, n);
                t[T_MESSAGES].insert(&key, encode(&rec))?;
                // Threading and de-duplication point at the first ticket.
                if i == 0 {
                    if let Some(mid) = &rec.message_id {
                        if t[T_MSGID].get(mid.as_bytes())?.is_none() {
                            t[T_MSGID].insert(mid.as_bytes(), &key)?;
                        }
                    }
                    if t[T_SHA].get(c.sha256)?.is_none() {
                        t[T_SHA].insert(&c.sha256, &key)?;
                    }
                }
                super::index::index_tx_append(t, id, n, &p.indicators)?;
                let report_key = super::reports::report_key(id, n);
                t[T_REPORTS].insert(&report_key, p.report.as_slice())?;
                let mut seq = read_u64(t[T_COUNTERS].get(EVENT_COUNTER)?.as_deref());
                for e in &p.events {
                    seq += 1;
                    t[T_EVENTS].insert(&ticket_seq_key(id, seq), encode(e))?;
                }
                t[T_COUNTERS].insert(EVENT_COUNTER, &seq.to_be_bytes())?;
                let mut out_seqs = Vec::with_capacity(p.outgoing.len());
                for m in &p.outgoing {
                    let seq = next(&t[T_COUNTERS], MESSAGE_COUNTER)?;
                    let mut rec = m.record.clone();
                    rec.seq = seq;
                    rec.ticket = id;
                    t[T_MESSAGES].insert(&ticket_seq_key(id, seq), encode(&rec))?;
                    t[T_RAW].insert(&seq.to_be_bytes(), m.raw.as_slice())?;
                    if let Some(mid) = &rec.message_id {
                        t[T_MSGID].insert(mid.as_bytes(), &ticket_seq_key(id, seq))?;
                    }
                    out_seqs.push(seq);
                    res.message_seqs.push(seq);
                }
                for o in &p.outbox {
                    let Some(&seq) = out_seqs.get(o.message) else {
                        return Err(ConflictableTransactionError::Abort(
                            "outbox entry names a message that is not in the group".into(),
                        ));
                    };
                    res.outbox_ids
                        .push(write_outbox(t, o, id, seq, c.received_at)?);
                }
                super::digest::write_pending(t, &p.digest)?;
                t[T_GROUPS].insert(p.group_key.as_slice(), &id.to_key())?;
                t[T_TICKETS].insert(&id.to_key(), encode(&p.ticket))?;
                super::summary::write_tx(t, &p.ticket, None, Some(n))?;
            }
            super::ack_totals::write_tx(t, &c.ack_rates)?;
            Ok(res)
        });
        match result {
            Ok(r) => {
                self.settle_ack_totals(&c.ack_rates);
                Ok(r)
            }
            Err(TransactionError::Abort(msg)) => Err(StoreError::Conflict(msg)),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }
}

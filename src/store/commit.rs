//! One incoming message (or one operator action) is one transaction: the
//! ticket, the message and its raw bytes, the indexes, the events and the
//! outbox entries become visible together or not at all.

use super::keys::*;
use super::records::{MessageRecord, OutboxRecord, OutboxState, TicketRecord};
use super::*;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

pub struct NewMessage {
    /// `seq` is assigned by the commit.
    pub record: MessageRecord,
    pub raw: Vec<u8>,
    pub sha256: [u8; 32],
}

pub struct NewOutbox {
    /// Index into [`Commit::messages`] of the message whose bytes are sent.
    pub message: usize,
    pub envelope_from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub next_attempt_at: OffsetDateTime,
    /// `Queued`, `Held` for mail that must not be sent as it is, or
    /// `Sealing` for mail signed after the commit (with its encryption).
    pub state: OutboxState,
    pub encrypt: Option<crate::config::EncryptPolicy>,
}

pub struct Commit {
    /// The ticket's state after this commit; all events belong to it.
    pub ticket: TicketRecord,
    pub ticket_is_new: bool,
    pub messages: Vec<NewMessage>,
    pub events: Vec<Event>,
    pub outbox: Vec<NewOutbox>,
    /// Acknowledgement histories (sender, domain, global), each replaced
    /// whole.
    pub ack_rates: Vec<(String, crate::workflow::ack_rate::AckHistory)>,
    /// Other existing tickets changed by the same message (`/link`,
    /// `/merge`), each with its own events.
    pub also: Vec<(TicketRecord, Vec<Event>)>,
    /// Records for the meta tree written with the commit (an advisory
    /// requested by this mail, published right after).
    pub meta: Vec<(Vec<u8>, Vec<u8>)>,
    /// Outbox entries of this ticket a handler's signed `/release` lets
    /// go out (checked before the commit: each awaits release), with the
    /// handler's name.
    pub releases: Vec<(u64, String)>,
    /// Notifications of this ticket kept for their contact's daily digest.
    pub digest: Vec<super::digest::DigestEntry>,
}

impl Commit {
    /// A change to an existing ticket that stores no message: a status
    /// change, a duplicate delivery, a re-verification.
    pub fn events_only(ticket: TicketRecord, events: Vec<Event>) -> Commit {
        Commit {
            ticket,
            ticket_is_new: false,
            messages: Vec::new(),
            events,
            outbox: Vec::new(),
            ack_rates: Vec::new(),
            also: Vec::new(),
            meta: Vec::new(),
            releases: Vec::new(),
            digest: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CommitResult {
    pub message_seqs: Vec<u64>,
    pub outbox_ids: Vec<u64>,
}

pub(crate) type TxResult<T> = std::result::Result<T, ConflictableTransactionError<String>>;

pub(crate) fn next(counters: &sled::transaction::TransactionalTree, key: &[u8]) -> TxResult<u64> {
    let n = read_u64(counters.get(key)?.as_deref()) + 1;
    counters.insert(key, &n.to_be_bytes())?;
    Ok(n)
}

/// Queues one outgoing message (already stored as `message_seq`) inside a
/// transaction; returns its outbox ID.
pub(crate) fn write_outbox(
    t: &[sled::transaction::TransactionalTree],
    o: &NewOutbox,
    ticket: TicketId,
    message_seq: u64,
    now: OffsetDateTime,
) -> TxResult<u64> {
    let id = next(&t[T_COUNTERS], OUTBOX_COUNTER)?;
    let rec = OutboxRecord {
        id,
        ticket,
        message_seq,
        message_id: o.message_id.clone(),
        envelope_from: o.envelope_from.clone(),
        to: o.to.clone(),
        subject: o.subject.clone(),
        state: o.state,
        attempts: 0,
        last_error: None,
        created_at: now,
        next_attempt_at: o.next_attempt_at,
        sent_at: None,
        encrypt: o.encrypt,
        advisory: None,
        restored: false,
        retried_at: None,
        delivered_to: Vec::new(),
        refused: Vec::new(),
    };
    t[T_OUTBOX].insert(&id.to_be_bytes(), encode(&rec))?;
    if o.state == OutboxState::Sealing {
        t[T_META].insert(super::sealing::sealing_key(id), &[])?;
    }
    if o.state == OutboxState::Queued {
        t[T_OUTBOX_DUE].insert(&due_key(unix_ms(o.next_attempt_at), id), &[])?;
    }
    Ok(id)
}

impl Store {
    pub fn apply(&self, c: &Commit, now: OffsetDateTime) -> Result<CommitResult> {
        let result = self.trees().transaction(|t| -> TxResult<CommitResult> {
            let ticket_key = c.ticket.id.to_key();
            if c.ticket_is_new {
                let counter_key = ticket_counter_key(c.ticket.id.year);
                let last = read_u64(t[T_COUNTERS].get(&counter_key)?.as_deref());
                if u64::from(c.ticket.id.seq) <= last || t[T_TICKETS].get(ticket_key)?.is_some() {
                    return Err(ConflictableTransactionError::Abort(format!(
                        "ticket {} was already allocated; IDs are never reused",
                        c.ticket.id
                    )));
                }
                t[T_COUNTERS].insert(counter_key, &u64::from(c.ticket.id.seq).to_be_bytes())?;
            }

            let mut res = CommitResult::default();
            for m in &c.messages {
                let seq = next(&t[T_COUNTERS], MESSAGE_COUNTER)?;
                let mut rec = m.record.clone();
                rec.seq = seq;
                rec.ticket = c.ticket.id;
                let key = ticket_seq_key(c.ticket.id, seq);
                t[T_MESSAGES].insert(&key, encode(&rec))?;
                t[T_RAW].insert(&seq.to_be_bytes(), m.raw.as_slice())?;
                let mut later_delivery = false;
                if let Some(mid) = &rec.message_id {
                    if t[T_MSGID].get(mid.as_bytes())?.is_none() {
                        t[T_MSGID].insert(mid.as_bytes(), &key)?;
                    } else {
                        later_delivery = true;
                    }
                }
                if t[T_SHA].get(m.sha256)?.is_none() {
                    t[T_SHA].insert(&m.sha256, &key)?;
                }
                // The first message under a Message-ID is found through it
                // and its record's content hash; only the later ones under
                // the same ID (changed re-deliveries, reused IDs) need the
                // content index. Indexing every message cost each commit a
                // random B-tree insert (issue 13's intake regression).
                if later_delivery {
                    if let Some(content) = rec.content_sha256.as_deref().map(super::content_key) {
                        if t[T_SHA].get(&content)?.is_none() {
                            t[T_SHA].insert(content, &key)?;
                        }
                    }
                }
                super::index::index_tx(t, c.ticket.id, seq, &rec.indicators)?;
                res.message_seqs.push(seq);
            }

            for e in &c.events {
                let seq = next(&t[T_COUNTERS], EVENT_COUNTER)?;
                t[T_EVENTS].insert(&ticket_seq_key(c.ticket.id, seq), encode(e))?;
            }

            for o in &c.outbox {
                let Some(&message_seq) = res.message_seqs.get(o.message) else {
                    return Err(ConflictableTransactionError::Abort(
                        "outbox entry names a message that is not in the commit".into(),
                    ));
                };
                let id = write_outbox(t, o, c.ticket.id, message_seq, now)?;
                res.outbox_ids.push(id);
            }

            super::ack_totals::write_tx(t, &c.ack_rates)?;
            super::digest::write_pending(t, &c.digest)?;
            for (other, events) in &c.also {
                for e in events {
                    let seq = next(&t[T_COUNTERS], EVENT_COUNTER)?;
                    t[T_EVENTS].insert(&ticket_seq_key(other.id, seq), encode(e))?;
                }
                t[T_TICKETS].insert(&other.id.to_key(), encode(other))?;
                super::summary::write_tx(t, other, None, None)?;
            }
            for (k, v) in &c.meta {
                t[T_META].insert(k.as_slice(), v.as_slice())?;
            }
            for (id, by) in &c.releases {
                super::outbox::release_in(t, *id, Some(c.ticket.id), by, now)?;
            }
            t[T_TICKETS].insert(&ticket_key, encode(&c.ticket))?;
            let replied = c
                .messages
                .iter()
                .any(|m| super::summary::is_handler_reply(&m.record))
                .then_some(now);
            super::summary::write_tx(t, &c.ticket, replied, res.message_seqs.first().copied())?;
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

//! Advisories: the archived text, its recipients, and one outbox entry per
//! copy, committed in one transaction. Delivery state per recipient is the
//! state of that recipient's outbox entry, or its own where a shared
//! copy's attempt settled it (`OutboxRecord::recipient_state`).

use super::keys::*;
use super::records::{OutboxRecord, OutboxState};
use super::*;
use crate::workflow::commands::Tlp;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

/// The `ticket` of an outbox entry for an advisory that names no ticket.
/// Never a real ticket (sequences stop long before), and record_attempt
/// writes no ticket event for it.
pub const NO_TICKET: TicketId = TicketId {
    year: 9999,
    seq: 999_999_999,
};

fn advisory_counter_key(year: u16) -> Vec<u8> {
    format!("advisory/{year:04}").into_bytes()
}

/// How a recipient gets the advisory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// PGP/MIME signed, encrypted to the member's key.
    Encrypted,
    /// PGP/MIME signed.
    Signed,
    /// Inline cleartext signature (a list server that appends footers).
    Clearsigned,
    /// Encryption is required and there is no key: only a signed notice.
    NoticeOnly,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Encrypted => "encrypted",
            Delivery::Signed => "signed",
            Delivery::Clearsigned => "clearsigned",
            Delivery::NoticeOnly => "notice-only",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub address: String,
    pub delivery: Delivery,
    pub message_id: String,
    /// Set by the commit.
    pub outbox_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisoryRecord {
    /// `CERT-EX-ADV-2026-0001`
    pub id: String,
    pub year: u16,
    pub seq: u32,
    pub list: String,
    pub tlp: Tlp,
    pub subject: String,
    pub text: String,
    pub ticket: Option<TicketId>,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub recipients: Vec<Recipient>,
}

/// A recipient's delivery, from [`Store::recipient_states`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientState {
    pub state: OutboxState,
    pub attempts: u32,
    pub error: Option<String>,
}

/// One built copy: the bytes for `record.recipients[i]` for each `i` in
/// `recipients` (several for a shared copy, sent in one transaction).
pub struct Copy {
    pub recipients: Vec<usize>,
    pub bytes: Vec<u8>,
    pub subject: String,
    pub state: OutboxState,
}

pub struct NewAdvisory {
    pub record: AdvisoryRecord,
    pub copies: Vec<Copy>,
    pub envelope_from: String,
    /// Events for the related ticket, if any.
    pub events: Vec<Event>,
    /// The pending-advisory record (see [`Store::pending_advisories`]) this
    /// publication fulfils, removed in the same transaction.
    pub pending: Option<Vec<u8>>,
}

/// Prefix, in the meta tree, of advisories requested by mail and not yet
/// published: written in the requesting mail's transaction.
pub const PENDING_PREFIX: &[u8] = b"advisory-pending/";

impl Store {
    /// The sequence the next advisory of `year` gets; re-checked at commit.
    pub fn next_advisory_seq(&self, year: u16) -> Result<u32> {
        let last = read_u64(
            self.trees[T_COUNTERS]
                .get(advisory_counter_key(year))?
                .as_deref(),
        );
        u32::try_from(last + 1)
            .map_err(|_| StoreError::Conflict(format!("advisory sequence for {year} exhausted")))
    }

    pub fn apply_advisory(&self, a: NewAdvisory, now: OffsetDateTime) -> Result<AdvisoryRecord> {
        let result = self.trees().transaction(|t| {
            let key = advisory_counter_key(a.record.year);
            let last = read_u64(t[T_COUNTERS].get(&key)?.as_deref());
            if u64::from(a.record.seq) != last + 1 {
                return Err(ConflictableTransactionError::Abort(format!(
                    "advisory {} was already allocated",
                    a.record.id
                )));
            }
            t[T_COUNTERS].insert(key, &u64::from(a.record.seq).to_be_bytes())?;
            let mut rec = a.record.clone();
            let mut msg = read_u64(t[T_COUNTERS].get(MESSAGE_COUNTER)?.as_deref());
            let mut ob = read_u64(t[T_COUNTERS].get(OUTBOX_COUNTER)?.as_deref());
            let ticket = rec.ticket.unwrap_or(NO_TICKET);
            for c in &a.copies {
                let named: Option<Vec<&Recipient>> = c
                    .recipients
                    .iter()
                    .map(|&i| rec.recipients.get(i))
                    .collect();
                let Some(first) = named.as_ref().and_then(|n| n.first()) else {
                    return Err(ConflictableTransactionError::Abort(
                        "advisory copy names no recipient".into(),
                    ));
                };
                let message_id = first.message_id.clone();
                let to: Vec<String> = named.iter().flatten().map(|r| r.address.clone()).collect();
                msg += 1;
                ob += 1;
                t[T_RAW].insert(&msg.to_be_bytes(), c.bytes.as_slice())?;
                let o = OutboxRecord {
                    id: ob,
                    ticket,
                    message_seq: msg,
                    message_id,
                    envelope_from: a.envelope_from.clone(),
                    to,
                    subject: c.subject.clone(),
                    state: c.state,
                    attempts: 0,
                    last_error: None,
                    created_at: now,
                    next_attempt_at: now,
                    sent_at: None,
                    encrypt: None,
                    advisory: Some(rec.id.clone()),
                    restored: false,
                    retried_at: None,
                    delivered_to: Vec::new(),
                    refused: Vec::new(),
                };
                t[T_OUTBOX].insert(&ob.to_be_bytes(), encode(&o))?;
                if c.state == OutboxState::Queued {
                    t[T_OUTBOX_DUE].insert(&due_key(unix_ms(now), ob), &[])?;
                }
                for &i in &c.recipients {
                    if let Some(r) = rec.recipients.get_mut(i) {
                        r.outbox_id = Some(ob);
                    }
                }
            }
            t[T_COUNTERS].insert(MESSAGE_COUNTER, &msg.to_be_bytes())?;
            t[T_COUNTERS].insert(OUTBOX_COUNTER, &ob.to_be_bytes())?;
            if let Some(tid) = rec.ticket {
                let mut n = read_u64(t[T_COUNTERS].get(EVENT_COUNTER)?.as_deref());
                for e in &a.events {
                    n += 1;
                    t[T_EVENTS].insert(&ticket_seq_key(tid, n), encode(e))?;
                }
                t[T_COUNTERS].insert(EVENT_COUNTER, &n.to_be_bytes())?;
            }
            t[T_ADVISORIES].insert(rec.id.as_bytes(), encode(&rec))?;
            if let Some(k) = &a.pending {
                t[T_META].remove(k.as_slice())?;
            }
            Ok(rec)
        });
        match result {
            Ok(r) => Ok(r),
            Err(TransactionError::Abort(msg)) => Err(StoreError::Conflict(msg)),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    /// Advisories requested by mail whose publication a crash interrupted.
    pub fn pending_advisories(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.trees[T_META].scan_prefix(PENDING_PREFIX) {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Forgets a pending advisory that was refused (its refusal is an event).
    pub fn drop_pending_advisory(&self, key: &[u8]) -> Result<()> {
        self.trees[T_META].remove(key)?;
        Ok(())
    }

    pub fn advisories(&self) -> Result<Vec<AdvisoryRecord>> {
        let mut out = Vec::new();
        for item in self.trees[T_ADVISORIES].iter() {
            let (_, v) = item?;
            out.push(decode(&v, "advisory")?);
        }
        Ok(out)
    }

    /// Each recipient's delivery as its copy's outbox entry tells it
    /// (None when the copy has no entry): state, attempts, error. A copy
    /// shared by a hundred members is read once.
    pub fn recipient_states(&self, a: &AdvisoryRecord) -> Result<Vec<Option<RecipientState>>> {
        let mut entries: std::collections::HashMap<u64, Option<OutboxRecord>> = Default::default();
        let mut out = Vec::with_capacity(a.recipients.len());
        for r in &a.recipients {
            let Some(id) = r.outbox_id else {
                out.push(None);
                continue;
            };
            let entry = match entries.entry(id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(self.outbox_entry(id)?),
            };
            out.push(entry.as_ref().map(|e| {
                let (state, error) = e.recipient_state(&r.address);
                RecipientState {
                    state,
                    attempts: e.attempts,
                    error: error.map(str::to_string),
                }
            }));
        }
        Ok(out)
    }

    pub fn advisory(&self, id: &str) -> Result<Option<AdvisoryRecord>> {
        match self.trees[T_ADVISORIES].get(id.to_ascii_uppercase().as_bytes())? {
            Some(v) => Ok(Some(decode(&v, "advisory")?)),
            None => Ok(None),
        }
    }
}

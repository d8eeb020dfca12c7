//! Notifications kept for a contact's daily digest (`digest = true` on a
//! constituency). An entry is written in the transaction of the ticket it
//! is about, and removed in the transaction that queues the digest listing
//! it: a crash loses none and a second run cannot send one twice.

use super::commit::{next, TxResult};
use super::keys::*;
use super::records::{OutboxRecord, OutboxState};
use super::*;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

/// Prefix, in the meta tree, of pending digest entries: then the contact
/// (lower case), a NUL and a store-wide sequence number.
pub const PENDING_PREFIX: &[u8] = b"digest-pending/";
/// When digests were last sent (RFC 3339), in the meta tree.
const LAST_RUN_KEY: &[u8] = b"digest-last-run";
/// When the handlers' queue digests were last sent (RFC 3339).
const QUEUE_LAST_RUN_KEY: &[u8] = b"queue-digest-last-run";
const DIGEST_COUNTER: &[u8] = b"digest";

/// One notification kept for a digest: only what the notification itself
/// would have said, which is fixed text and typed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    pub contact: String,
    pub constituency: String,
    pub ticket: TicketId,
    /// What arrived, in our words ("a Shadowserver scan_ntp report of …").
    pub what: String,
    /// The notification's listing: one typed line per row or indicator.
    pub lines: Vec<String>,
    /// Rows or indicators the listing leaves out.
    pub more: u64,
    /// The constituency's configured key when the entry was kept.
    pub key_fingerprint: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// A stored entry with the key that removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    pub key: Vec<u8>,
    pub entry: DigestEntry,
}

/// A composed digest, ready to queue.
pub struct NewDigest {
    pub envelope_from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub bytes: Vec<u8>,
    pub state: OutboxState,
    /// The pending entries it lists; all must still be pending.
    pub taken: Vec<Vec<u8>>,
    /// Events for the tickets it lists.
    pub events: Vec<(TicketId, Event)>,
}

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// Another run queued these entries first; nothing was written.
    #[error("the digest entries were taken by another run")]
    Taken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn contact_prefix(contact: &str) -> Vec<u8> {
    let mut k = PENDING_PREFIX.to_vec();
    k.extend_from_slice(contact.trim().to_ascii_lowercase().as_bytes());
    k.push(0);
    k
}

/// Writes `entries` inside a commit's transaction.
pub(crate) fn write_pending(
    t: &[sled::transaction::TransactionalTree],
    entries: &[DigestEntry],
) -> TxResult<()> {
    for e in entries {
        let n = next(&t[T_COUNTERS], DIGEST_COUNTER)?;
        let mut key = contact_prefix(&e.contact);
        key.extend_from_slice(&n.to_be_bytes());
        t[T_META].insert(key, encode(e))?;
    }
    Ok(())
}

const TAKEN: &str = "digest entries already taken";

impl Store {
    /// Every pending entry, oldest first per contact. An unreadable one is
    /// left in place and logged: dropping it would lose a notification.
    pub fn pending_digest_entries(&self) -> Result<Vec<PendingEntry>> {
        let mut out = Vec::new();
        for item in self.trees[T_META].scan_prefix(PENDING_PREFIX) {
            let (k, v) = item?;
            match decode::<DigestEntry>(&v, "digest entry") {
                Ok(entry) => out.push(PendingEntry {
                    key: k.to_vec(),
                    entry,
                }),
                Err(e) => tracing::error!(
                    record = %String::from_utf8_lossy(&k).escape_debug(),
                    "pending digest entry left in place: {e}"
                ),
            }
        }
        Ok(out)
    }

    /// Queues a digest and removes the entries it lists, in one
    /// transaction; the outbox ID.
    pub fn queue_digest(
        &self,
        d: &NewDigest,
        now: OffsetDateTime,
    ) -> std::result::Result<u64, DigestError> {
        let result = self.trees().transaction(|t| -> TxResult<u64> {
            for k in &d.taken {
                if t[T_META].remove(k.as_slice())?.is_none() {
                    return Err(ConflictableTransactionError::Abort(TAKEN.into()));
                }
            }
            let seq = next(&t[T_COUNTERS], MESSAGE_COUNTER)?;
            t[T_RAW].insert(&seq.to_be_bytes(), d.bytes.as_slice())?;
            let id = next(&t[T_COUNTERS], OUTBOX_COUNTER)?;
            let rec = OutboxRecord {
                id,
                ticket: super::advisory::NO_TICKET,
                restored: false,
                retried_at: None,
                delivered_to: Vec::new(),
                refused: Vec::new(),
                message_seq: seq,
                message_id: d.message_id.clone(),
                envelope_from: d.envelope_from.clone(),
                to: d.to.clone(),
                subject: d.subject.clone(),
                state: d.state,
                attempts: 0,
                last_error: None,
                created_at: now,
                next_attempt_at: now,
                sent_at: None,
                encrypt: None,
                advisory: None,
            };
            t[T_OUTBOX].insert(&id.to_be_bytes(), encode(&rec))?;
            if d.state == OutboxState::Queued {
                t[T_OUTBOX_DUE].insert(&due_key(unix_ms(now), id), &[])?;
            }
            for (ticket, e) in &d.events {
                // Tickets are never deleted; a missing one would get
                // events nobody can see, so it gets none.
                if t[T_TICKETS].get(ticket.to_key())?.is_some() {
                    let n = next(&t[T_COUNTERS], EVENT_COUNTER)?;
                    t[T_EVENTS].insert(&ticket_seq_key(*ticket, n), encode(e))?;
                }
            }
            Ok(id)
        });
        match result {
            Ok(id) => Ok(id),
            Err(TransactionError::Abort(msg)) if msg == TAKEN => Err(DigestError::Taken),
            Err(TransactionError::Abort(msg)) => Err(StoreError::Conflict(msg).into()),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e).into()),
        }
    }

    /// When digests were last sent, if ever.
    pub fn digest_last_run(&self) -> Result<Option<OffsetDateTime>> {
        self.meta_time(LAST_RUN_KEY)
    }

    pub fn set_digest_last_run(&self, at: OffsetDateTime) -> Result<()> {
        self.set_meta_time(LAST_RUN_KEY, at)
    }

    /// When the handlers' queue digests were last sent, if ever.
    pub fn queue_digest_last_run(&self) -> Result<Option<OffsetDateTime>> {
        self.meta_time(QUEUE_LAST_RUN_KEY)
    }

    pub fn set_queue_digest_last_run(&self, at: OffsetDateTime) -> Result<()> {
        self.set_meta_time(QUEUE_LAST_RUN_KEY, at)
    }

    fn meta_time(&self, key: &[u8]) -> Result<Option<OffsetDateTime>> {
        let Some(v) = self.trees[T_META].get(key)? else {
            return Ok(None);
        };
        let corrupt = |detail: String| StoreError::Corrupt {
            what: format!("meta/{}", String::from_utf8_lossy(key)),
            detail,
        };
        let text = std::str::from_utf8(&v).map_err(|e| corrupt(e.to_string()))?;
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(Some)
            .map_err(|e| corrupt(e.to_string()))
    }

    fn set_meta_time(&self, key: &[u8], at: OffsetDateTime) -> Result<()> {
        let text = at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| StoreError::Conflict(format!("cannot format {at}: {e}")))?;
        self.trees[T_META].insert(key, text.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;

    fn entry(contact: &str, ticket: TicketId) -> DigestEntry {
        DigestEntry {
            contact: contact.into(),
            constituency: "university".into(),
            ticket,
            what: "a report".into(),
            lines: vec!["  ipv4     192.0.2.7".into()],
            more: 0,
            key_fingerprint: None,
            recorded_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn digest(taken: Vec<Vec<u8>>, ticket: TicketId) -> NewDigest {
        NewDigest {
            envelope_from: "cert@cert.example".into(),
            to: vec!["noc@uni.example".into()],
            subject: "digest".into(),
            message_id: "d1@cert.example".into(),
            bytes: b"Subject: digest\r\n\r\nbody\r\n".to_vec(),
            state: OutboxState::Queued,
            taken,
            events: vec![(
                ticket,
                Event::new(OffsetDateTime::UNIX_EPOCH, EventKind::Notified, "in digest"),
            )],
        }
    }

    #[test]
    fn entries_are_kept_with_their_ticket_and_queued_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s"), 16).unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let id = TicketId::new(2026, 1);
        let mut c = Commit::events_only(TicketRecord::new(id, "s".into(), vec![], now), vec![]);
        c.ticket_is_new = true;
        c.digest = vec![entry("NOC@uni.example", id), entry("noc@uni.example", id)];
        store.apply(&c, now).unwrap();
        let pending = store.pending_digest_entries().unwrap();
        assert_eq!(pending.len(), 2, "two entries of one ticket, both kept");
        assert!(pending
            .iter()
            .all(|p| p.key.starts_with(&contact_prefix("noc@uni.example"))));

        let keys: Vec<Vec<u8>> = pending.iter().map(|p| p.key.clone()).collect();
        let before = store.events(id).unwrap().len();
        let ob = store.queue_digest(&digest(keys.clone(), id), now).unwrap();
        assert!(store.pending_digest_entries().unwrap().is_empty());
        let rec = store.outbox_entry(ob).unwrap().unwrap();
        assert_eq!(rec.ticket, super::super::advisory::NO_TICKET);
        assert_eq!(rec.state, OutboxState::Queued);
        assert_eq!(store.events(id).unwrap().len(), before + 1);

        // The same entries again: refused whole, nothing queued.
        let outbox_before = store.outbox().unwrap().len();
        assert!(matches!(
            store.queue_digest(&digest(keys, id), now),
            Err(DigestError::Taken)
        ));
        assert_eq!(store.outbox().unwrap().len(), outbox_before);
        assert_eq!(store.events(id).unwrap().len(), before + 1);
    }

    #[test]
    fn the_last_run_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s"), 16).unwrap();
        assert_eq!(store.digest_last_run().unwrap(), None);
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        store.set_digest_last_run(at).unwrap();
        assert_eq!(store.digest_last_run().unwrap(), Some(at));
    }
}

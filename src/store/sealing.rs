//! Outgoing mail committed before it is signed.
//!
//! Signing an acknowledgement costs as much as the rest of its commit, and
//! commits run one after another. So the intake commits the composed mail
//! in state `sealing`, signs it on another core while the next messages
//! commit, and records the signed bytes before the flush that makes either
//! durable. A `sealing` entry is never sent, and one left by a crash is
//! signed when the daemon starts ([`Store::sealing`]).

use super::commit::{next, TxResult};
use super::keys::*;
use super::records::{MessageRecord, OutboxRecord, OutboxState};
use super::*;
use sha2::{Digest, Sha256};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

/// Marks an outbox entry as waiting for its signature (in the meta tree,
/// so that finding them after a crash is a prefix scan, not a full one).
pub(crate) fn sealing_key(id: u64) -> Vec<u8> {
    [SEALING_PREFIX, &id.to_be_bytes()].concat()
}

const SEALING_PREFIX: &[u8] = b"sealing/";

/// The signed (or held) form of a `sealing` outbox entry.
#[derive(Debug, Clone)]
pub struct SealedEntry {
    pub outbox_id: u64,
    pub bytes: Vec<u8>,
    /// `Queued` to be sent, or `Held` when it must not go out.
    pub state: OutboxState,
    pub event: Event,
}

impl Store {
    /// Entries committed but not yet signed, with their composed bytes.
    pub fn sealing(&self) -> Result<Vec<(OutboxRecord, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.trees[T_META].scan_prefix(SEALING_PREFIX) {
            let (k, _) = item?;
            let Some(id) = k
                .get(SEALING_PREFIX.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
            else {
                continue;
            };
            let Some(rec) = self.outbox_entry(id)? else {
                continue;
            };
            let raw = self.raw(rec.message_seq)?.unwrap_or_default();
            out.push((rec, raw));
        }
        Ok(out)
    }

    /// Records the signed bytes of `sealing` entries, each with its event,
    /// in one transaction. Entries no longer `sealing` are left alone.
    pub fn finish_sealing(&self, sealed: &[SealedEntry]) -> Result<()> {
        if sealed.is_empty() {
            return Ok(());
        }
        let result = self.trees().transaction(|t| -> TxResult<()> {
            for s in sealed {
                let Some(v) = t[T_OUTBOX].get(s.outbox_id.to_be_bytes())? else {
                    continue;
                };
                let mut rec: OutboxRecord = serde_json::from_slice(&v).map_err(|e| {
                    ConflictableTransactionError::Abort(format!("outbox/{}: {e}", s.outbox_id))
                })?;
                if rec.state != OutboxState::Sealing {
                    continue;
                }
                replace_raw_in(t, &rec, &s.bytes)?;
                rec.state = match s.state {
                    OutboxState::Queued if rec.restored => OutboxState::AwaitingRelease,
                    other => other,
                };
                rec.encrypt = None;
                t[T_OUTBOX].insert(&s.outbox_id.to_be_bytes(), encode(&rec))?;
                if rec.state == OutboxState::Queued {
                    t[T_OUTBOX_DUE]
                        .insert(&due_key(unix_ms(rec.next_attempt_at), s.outbox_id), &[])?;
                }
                t[T_META].remove(sealing_key(s.outbox_id))?;
                let seq = next(&t[T_COUNTERS], EVENT_COUNTER)?;
                t[T_EVENTS].insert(&ticket_seq_key(rec.ticket, seq), encode(&s.event))?;
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(msg)) => Err(StoreError::Corrupt {
                what: "sealing".into(),
                detail: msg,
            }),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }
}

/// Replaces the stored bytes of outbox entry `rec`'s message, inside a
/// transaction: the raw bytes, and the message record's digest and size
/// with its digest index, so that what the store keeps is what is sent.
pub(crate) fn replace_raw_in(
    t: &[sled::transaction::TransactionalTree],
    rec: &OutboxRecord,
    bytes: &[u8],
) -> TxResult<()> {
    let msg_key = ticket_seq_key(rec.ticket, rec.message_seq);
    if let Some(v) = t[T_MESSAGES].get(msg_key)? {
        let mut m: MessageRecord = serde_json::from_slice(&v).map_err(|e| {
            ConflictableTransactionError::Abort(format!("message {}: {e}", rec.message_seq))
        })?;
        let sha: [u8; 32] = Sha256::digest(bytes).into();
        if let Ok(old) = hex::decode(&m.sha256) {
            if t[T_SHA].get(&old)?.as_deref() == Some(&msg_key[..]) {
                t[T_SHA].remove(old)?;
            }
        }
        if t[T_SHA].get(sha)?.is_none() {
            t[T_SHA].insert(&sha, &msg_key)?;
        }
        m.sha256 = hex::encode(sha);
        m.size = bytes.len() as u64;
        t[T_MESSAGES].insert(&msg_key, encode(&m))?;
    }
    t[T_RAW].insert(&rec.message_seq.to_be_bytes(), bytes)?;
    Ok(())
}

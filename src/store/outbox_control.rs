//! What an operator does to one outbox entry: send a failed one back to
//! the queue, withdraw one, or queue a held one with the bytes it has been
//! sealed with again. Each is one transaction with the ticket event that
//! records it (an advisory copy without a ticket has no history: the CLI
//! logs those).

use super::commit::{next, TxResult};
use super::keys::*;
use super::outbox::outbox_in;
use super::records::{OutboxRecord, OutboxState};
use super::*;
use crate::model::EventKind;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

fn refuse<T>(msg: String) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(msg))
}

impl Store {
    /// A failed entry goes back to the queue, due now, with a fresh retry
    /// period and backoff; the event keeps the attempts and the error.
    pub fn retry_outbox(&self, id: u64, by: &str, now: OffsetDateTime) -> Result<OutboxRecord> {
        self.control(|t| {
            let mut rec = outbox_in(t, id)?;
            if rec.state != OutboxState::Failed {
                return refuse(format!(
                    "outbox entry {id} is {}, not failed: only failed entries are retried",
                    rec.state.as_str()
                ));
            }
            let detail = format!(
                "<{}> to {} sent back to the queue by {by}, after {} attempt(s) that ended with: {}",
                rec.message_id,
                rec.to.join(", "),
                rec.attempts,
                rec.last_error.as_deref().unwrap_or("no error recorded")
            );
            rec.state = OutboxState::Queued;
            rec.attempts = 0;
            rec.last_error = None;
            rec.next_attempt_at = now;
            rec.retried_at = Some(now);
            t[T_OUTBOX_DUE].insert(&due_key(unix_ms(now), id), &[])?;
            event_in(t, &rec, EventKind::Retried, detail, now)?;
            t[T_OUTBOX].insert(&id.to_be_bytes(), encode(&rec))?;
            Ok(rec)
        })
    }

    /// Every failed entry back to the queue (see [`Store::retry_outbox`]).
    pub fn retry_failed(&self, by: &str, now: OffsetDateTime) -> Result<Vec<OutboxRecord>> {
        let failed: Vec<u64> = self
            .outbox()?
            .into_iter()
            .filter(|o| o.state == OutboxState::Failed)
            .map(|o| o.id)
            .collect();
        failed
            .into_iter()
            .map(|id| self.retry_outbox(id, by, now))
            .collect()
    }

    /// Withdraws an entry that has not gone out: it is never sent. A sent
    /// entry cannot be called back, and one being signed is refused for
    /// the moment it takes.
    pub fn cancel_outbox(
        &self,
        id: u64,
        reason: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<OutboxRecord> {
        self.control(|t| {
            let mut rec = outbox_in(t, id)?;
            match rec.state {
                OutboxState::Sent => {
                    return refuse(format!(
                        "outbox entry {id} was sent already; it cannot be called back"
                    ))
                }
                OutboxState::Cancelled => {
                    return refuse(format!("outbox entry {id} is cancelled already"))
                }
                OutboxState::Sealing => {
                    return refuse(format!(
                        "outbox entry {id} is being signed; try again in a moment"
                    ))
                }
                OutboxState::Queued
                | OutboxState::Held
                | OutboxState::AwaitingRelease
                | OutboxState::Failed => {}
            }
            let detail = format!(
                "<{}> to {} cancelled by {by} ({}): {reason}",
                rec.message_id,
                rec.to.join(", "),
                rec.state.as_str()
            );
            t[T_OUTBOX_DUE].remove(&due_key(unix_ms(rec.next_attempt_at), id))?;
            rec.state = OutboxState::Cancelled;
            event_in(t, &rec, EventKind::Cancelled, detail, now)?;
            t[T_OUTBOX].insert(&id.to_be_bytes(), encode(&rec))?;
            Ok(rec)
        })
    }

    /// Queues a held entry with `bytes`, its message sealed again (see
    /// `outbox::reseal`). The stored message becomes those bytes, digest
    /// and size included: the store keeps what is sent, not the signed
    /// plaintext that was held. `detail` says how it was sealed.
    pub fn release_held(
        &self,
        id: u64,
        bytes: &[u8],
        detail: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<OutboxRecord> {
        self.control(|t| {
            let mut rec = outbox_in(t, id)?;
            if rec.state != OutboxState::Held {
                return refuse(format!(
                    "outbox entry {id} is {}, not held",
                    rec.state.as_str()
                ));
            }
            super::sealing::replace_raw_in(t, &rec, bytes)?;
            rec.state = OutboxState::Queued;
            rec.next_attempt_at = now;
            rec.last_error = None;
            t[T_OUTBOX_DUE].insert(&due_key(unix_ms(now), id), &[])?;
            let detail = format!(
                "<{}> to {} released by {by}: {detail}",
                rec.message_id,
                rec.to.join(", ")
            );
            event_in(t, &rec, EventKind::Released, detail, now)?;
            t[T_OUTBOX].insert(&id.to_be_bytes(), encode(&rec))?;
            Ok(rec)
        })
    }

    fn control(
        &self,
        f: impl Fn(&[sled::transaction::TransactionalTree]) -> TxResult<OutboxRecord>,
    ) -> Result<OutboxRecord> {
        let _writer = self.write_guard();
        match self.trees().transaction(|t| f(t)) {
            Ok(r) => Ok(r),
            Err(TransactionError::Abort(msg)) => Err(StoreError::Conflict(msg)),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }
}

/// The event on the entry's ticket; none for an advisory copy without one.
fn event_in(
    t: &[sled::transaction::TransactionalTree],
    rec: &OutboxRecord,
    kind: EventKind,
    detail: String,
    now: OffsetDateTime,
) -> TxResult<()> {
    if rec.ticket == super::advisory::NO_TICKET {
        return Ok(());
    }
    let n = next(&t[T_COUNTERS], EVENT_COUNTER)?;
    t[T_EVENTS].insert(
        &ticket_seq_key(rec.ticket, n),
        encode(&Event::new(now, kind, detail)),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::test_support::{pipeline, REPORT};

    /// A store with one queued acknowledgement; its outbox ID.
    fn queued(dir: &std::path::Path) -> (crate::workflow::pipeline::Pipeline, u64) {
        let p = pipeline(dir);
        let now = OffsetDateTime::now_utc();
        let prepared = p.prepare(REPORT);
        let processed = p.commit_prepared(prepared, REPORT, "test", now).unwrap();
        p.seal_pending().unwrap();
        let id = processed.seal[0].outbox_id;
        assert_eq!(
            p.store().outbox_entry(id).unwrap().unwrap().state,
            OutboxState::Queued
        );
        (p, id)
    }

    #[test]
    fn one_bad_entry_in_a_flush_does_not_leave_the_others_unrecorded() {
        let dir = tempfile::tempdir().unwrap();
        let (p, id) = queued(dir.path());
        let s = p.store();
        let now = OffsetDateTime::now_utc();
        let gone = id + 1_000;
        let delivered = Attempt::Delivered;
        let err = s
            .record_attempts(&[(id, &delivered, now), (gone, &delivered, now)])
            .unwrap_err();
        assert!(err.to_string().contains(&gone.to_string()), "{err}");
        let rec = s.outbox_entry(id).unwrap().unwrap();
        assert_eq!((rec.state, rec.attempts), (OutboxState::Sent, 1));
        assert!(s.outbox_entry(gone).unwrap().is_none());
    }

    #[test]
    fn a_cancel_during_an_attempt_stays_cancelled_unless_it_was_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let (p, id) = queued(dir.path());
        let s = p.store();
        let now = OffsetDateTime::now_utc();
        s.cancel_outbox(id, "wrong address", "the operator x", now)
            .unwrap();
        let failed = Attempt::Failed {
            error: "550 no".into(),
        };
        s.record_attempt(id, &failed, now).unwrap();
        let rec = s.outbox_entry(id).unwrap().unwrap();
        assert_eq!(rec.state, OutboxState::Cancelled);
        assert!(s.due_outbox(now, u64::MAX, 10).unwrap().is_empty());
        // Cancelled is final for the operator's commands too.
        assert!(s.retry_outbox(id, "x", now).is_err());
        assert!(s.cancel_outbox(id, "again", "x", now).is_err());
        assert!(s.release_held(id, b"x", "", "x", now).is_err());
    }

    #[test]
    fn a_retry_queues_a_failed_entry_now_with_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let (p, id) = queued(dir.path());
        let s = p.store();
        let now = OffsetDateTime::now_utc();
        assert!(
            s.retry_outbox(id, "x", now).is_err(),
            "queued is not failed"
        );
        let failed = Attempt::Failed {
            error: "550 5.1.1 User unknown".into(),
        };
        s.record_attempt(id, &failed, now).unwrap();
        let later = now + time::Duration::hours(1);
        let back = s.retry_failed("the operator x", later).unwrap();
        assert_eq!(back.len(), 1);
        let rec = s.outbox_entry(id).unwrap().unwrap();
        assert_eq!(rec.state, OutboxState::Queued);
        assert_eq!((rec.attempts, rec.retried_at), (0, Some(later)));
        let due = s.due_outbox(later, u64::MAX, 10).unwrap();
        assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
        let events = s.events(rec.ticket).unwrap();
        let retried: Vec<_> = events
            .iter()
            .filter(|e| e.kind == EventKind::Retried)
            .collect();
        assert_eq!(retried.len(), 1, "{events:?}");
        assert!(retried[0].detail.contains("User unknown"), "{retried:?}");
    }
}

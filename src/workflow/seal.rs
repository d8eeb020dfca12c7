//! Signing (and encrypting) outgoing mail that was committed in state
//! `sealing`. Pure CPU and independent of every other message, so the
//! intake runs it beside the sequential commits; see `store::sealing`.

use super::pipeline::Pipeline;
use crate::config::EncryptPolicy;
use crate::model::{Event, EventKind, TicketId};
use crate::pgp::crypto::Sealed;
use crate::store::{OutboxRecord, OutboxState, SealedEntry, StoreError};
use time::OffsetDateTime;

/// One committed outgoing mail waiting for its signature.
#[derive(Debug, Clone)]
pub struct SealJob {
    pub outbox_id: u64,
    pub ticket: TicketId,
    pub message_id: String,
    pub to: Vec<String>,
    pub encrypt: EncryptPolicy,
    /// As composed: headers and body, unsigned.
    pub composed: Vec<u8>,
    /// When it was committed; its event carries this time.
    pub at: OffsetDateTime,
}

impl SealJob {
    /// The job for an entry a crash left unsigned.
    pub fn resume(rec: &OutboxRecord, composed: Vec<u8>, now: OffsetDateTime) -> SealJob {
        SealJob {
            outbox_id: rec.id,
            ticket: rec.ticket,
            message_id: rec.message_id.clone(),
            to: rec.to.clone(),
            encrypt: rec.encrypt.unwrap_or_default(),
            composed,
            at: now,
        }
    }
}

impl Pipeline {
    /// Signs one job: the bytes to send, or to hold when policy forbids
    /// sending them (encryption required and no key, or no signature).
    pub fn seal(&self, job: SealJob) -> SealedEntry {
        let to = job.to.join(", ");
        let (bytes, state, detail) = match job.to.as_slice() {
            [one] => match self.crypto().seal(job.composed.clone(), one, job.encrypt) {
                Ok(Sealed::Signed(b) | Sealed::Encrypted(b) | Sealed::Unsigned(b)) => (
                    b,
                    OutboxState::Queued,
                    format!("acknowledgement <{}> queued to {to}", job.message_id),
                ),
                Ok(Sealed::Held { bytes, reason }) => (
                    bytes,
                    OutboxState::Held,
                    format!("acknowledgement to {to} held: {reason}"),
                ),
                // Never send unsigned what should be signed: keep it back.
                Err(e) => {
                    let detail = format!("acknowledgement to {to} held: cannot sign: {e}");
                    tracing::error!(ticket = %job.ticket, %detail);
                    (job.composed, OutboxState::Held, detail)
                }
            },
            _ => (
                job.composed,
                OutboxState::Held,
                format!("outgoing mail to {to} held: signing expects exactly one recipient"),
            ),
        };
        let kind = match state {
            OutboxState::Queued => EventKind::Acked,
            _ => EventKind::Held,
        };
        SealedEntry {
            outbox_id: job.outbox_id,
            bytes,
            state,
            event: Event::new(job.at, kind, detail),
        }
    }

    /// Records signed jobs; part of the batch's commit, before its flush.
    pub fn finish_sealing(&self, sealed: &[SealedEntry]) -> Result<(), StoreError> {
        let _writer = self.store().write_guard();
        self.store().finish_sealing(sealed)
    }

    /// Signs what a crash left in state `sealing`, and flushes. The daemon
    /// runs this before its outbox sender starts.
    pub fn seal_pending(&self) -> Result<usize, StoreError> {
        let now = OffsetDateTime::now_utc();
        let pending = self.store().sealing()?;
        if pending.is_empty() {
            return Ok(0);
        }
        let sealed: Vec<SealedEntry> = pending
            .into_iter()
            .map(|(rec, raw)| self.seal(SealJob::resume(&rec, raw, now)))
            .collect();
        self.finish_sealing(&sealed)?;
        self.store().flush()?;
        Ok(sealed.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::workflow::test_support::{pipeline, REPORT};

    /// What a crash between the commit and the recorded signature leaves.
    fn commit_unsealed(p: &Pipeline) -> Vec<SealJob> {
        let now = OffsetDateTime::now_utc();
        let prepared = p.prepare(REPORT);
        let processed = p.commit_prepared(prepared, REPORT, "test", now).unwrap();
        p.store().flush().unwrap();
        processed.seal
    }

    #[test]
    fn committed_mail_is_never_due_before_it_is_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(dir.path());
        let jobs = commit_unsealed(&p);
        assert_eq!(jobs.len(), 1, "the acknowledgement waits for its seal");
        let far = OffsetDateTime::now_utc() + time::Duration::days(30);
        assert!(p.store().due_outbox(far, u64::MAX, 10).unwrap().is_empty());
        let entry = p.store().outbox_entry(jobs[0].outbox_id).unwrap().unwrap();
        assert_eq!(entry.state, OutboxState::Sealing);
        assert_eq!(p.store().sealing().unwrap().len(), 1);
    }

    #[test]
    fn a_restart_seals_what_a_crash_left_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(dir.path());
        let job = commit_unsealed(&p).remove(0);
        assert_eq!(p.seal_pending().unwrap(), 1);
        assert_eq!(p.seal_pending().unwrap(), 0, "sealed once");
        let entry = p.store().outbox_entry(job.outbox_id).unwrap().unwrap();
        assert_eq!(entry.state, OutboxState::Queued);
        assert!(entry.encrypt.is_none());
        let far = OffsetDateTime::now_utc() + time::Duration::days(30);
        let due = p.store().due_outbox(far, u64::MAX, 10).unwrap();
        assert_eq!(
            due.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![job.outbox_id]
        );
        let events = p.store().events(job.ticket).unwrap();
        assert_eq!(
            events.iter().filter(|e| e.kind == EventKind::Acked).count(),
            1,
            "{events:?}"
        );
    }

    #[test]
    fn sealing_twice_records_the_first_signature_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(dir.path());
        let job = commit_unsealed(&p).remove(0);
        let mut first = p.seal(job.clone());
        first.bytes = b"first".to_vec();
        let mut second = p.seal(job.clone());
        second.bytes = b"second".to_vec();
        p.finish_sealing(&[first]).unwrap();
        p.finish_sealing(&[second]).unwrap();
        let entry = p.store().outbox_entry(job.outbox_id).unwrap().unwrap();
        let raw = p.store().raw(entry.message_seq).unwrap().unwrap();
        assert_eq!(raw, b"first");
    }
}

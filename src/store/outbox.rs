//! Moving outbox entries through queued → sent | failed. Each step is
//! written with the ticket event that records it, in one transaction; the
//! attempts of one sender flush share theirs.

use super::keys::*;
use super::records::{OutboxRecord, OutboxState, RefusedRecipient};
use super::*;
use crate::model::EventKind;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

/// What became of one delivery attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    Delivered,
    /// Try again at the given time.
    Retry {
        error: String,
        at: OffsetDateTime,
    },
    /// Given up: a permanent error, or transient errors for too long.
    Failed {
        error: String,
    },
    /// A copy for many recipients, accepted for some and refused for
    /// others. Those it settles leave the entry's `to`.
    Partial {
        accepted: Vec<String>,
        /// Refused for good.
        refused: Vec<RefusedRecipient>,
        /// Refused for now: they stay queued and are tried again then.
        later: Option<Later>,
    },
}

/// The recipients of a partial attempt that are tried again.
#[derive(Debug, Clone)]
pub struct Later {
    pub to: Vec<String>,
    pub error: String,
    pub at: OffsetDateTime,
}

impl Attempt {
    /// Whether the transport took the message for anyone in this attempt.
    pub fn delivered_any(&self) -> bool {
        match self {
            Attempt::Delivered => true,
            Attempt::Partial { accepted, .. } => !accepted.is_empty(),
            _ => false,
        }
    }
}

/// Names in an event, at most this many; the rest are counted.
const NAMED: usize = 10;

fn refused_text(refused: &[RefusedRecipient]) -> String {
    let mut s: Vec<String> = refused
        .iter()
        .take(NAMED)
        .map(|r| format!("{} ({})", r.address, r.reply))
        .collect();
    if refused.len() > NAMED {
        s.push(format!("and {} more", refused.len() - NAMED));
    }
    s.join("; ")
}

impl Store {
    pub fn outbox(&self) -> Result<Vec<OutboxRecord>> {
        let mut out = Vec::new();
        for item in self.trees[T_OUTBOX].iter() {
            let (_, v) = item?;
            out.push(decode(&v, "outbox")?);
        }
        Ok(out)
    }

    /// How many entries are queued. Each has one key in the due index,
    /// which is all this reads: counting the outbox's records paged all of
    /// them in, and was the last peak of a drain (issue 18: 20 MiB more
    /// RSS in its last 200 ms, 100,000 reports).
    pub fn count_queued(&self) -> Result<usize> {
        let mut n = 0;
        for item in self.trees[T_OUTBOX_DUE].iter() {
            item?;
            n += 1;
        }
        Ok(n)
    }

    pub fn outbox_entry(&self, id: u64) -> Result<Option<OutboxRecord>> {
        match self.trees[T_OUTBOX].get(id.to_be_bytes())? {
            Some(v) => Ok(Some(decode(&v, "outbox")?)),
            None => Ok(None),
        }
    }

    /// The highest outbox ID allocated so far.
    pub fn outbox_high_water(&self) -> Result<u64> {
        Ok(read_u64(
            self.trees[T_COUNTERS].get(OUTBOX_COUNTER)?.as_deref(),
        ))
    }

    /// Queued entries whose time has come, oldest first, limited to IDs at
    /// or below `durable_up_to` so that nothing is sent before the commit that
    /// created it is on disk.
    pub fn due_outbox(
        &self,
        now: OffsetDateTime,
        durable_up_to: u64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>> {
        let end = due_key(unix_ms(now), u64::MAX);
        let mut out = Vec::new();
        for item in self.trees[T_OUTBOX_DUE].range(..=end.as_slice()) {
            let (k, _) = item?;
            let Some(id) = due_key_id(&k) else { continue };
            if id > durable_up_to {
                continue;
            }
            if let Some(rec) = self.outbox_entry(id)? {
                if rec.state == OutboxState::Queued {
                    out.push(rec);
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// When the next queued entry becomes due, if any.
    pub fn next_due_at(&self) -> Result<Option<i64>> {
        Ok(self.trees[T_OUTBOX_DUE]
            .iter()
            .next()
            .transpose()?
            .and_then(|(k, _)| {
                k.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
            })
            .map(|ms| ms as i64))
    }

    /// Lets an entry kept for a handler's release go out: queued now, with
    /// an event naming who released it. Only `awaiting-release` entries.
    pub fn release_outbox(&self, id: u64, by: &str, now: OffsetDateTime) -> Result<OutboxRecord> {
        let result = self
            .trees()
            .transaction(|t| release_in(t, id, None, by, now));
        match result {
            Ok(r) => Ok(r),
            Err(TransactionError::Abort(msg)) => Err(StoreError::Conflict(msg)),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    /// The IDs a `/release` on `ticket` lets go out: `wanted`, or all of
    /// the ticket's entries awaiting release. Empty when none qualifies.
    pub fn releasable(&self, ticket: TicketId, wanted: Option<u64>) -> Result<Vec<u64>> {
        Ok(self
            .outbox()?
            .into_iter()
            .filter(|o| o.ticket == ticket && o.state == OutboxState::AwaitingRelease)
            .map(|o| o.id)
            .filter(|id| wanted.is_none_or(|w| w == *id))
            .collect())
    }

    pub fn record_attempt(&self, id: u64, attempt: &Attempt, now: OffsetDateTime) -> Result<()> {
        self.record_in_one(&[(id, attempt, now)])
    }

    /// Records the attempts of one flush together, in one transaction if it
    /// can: every sled transaction writes out two log buffers (its manifest
    /// and what came before it), so one per delivery cost as much again as
    /// the report's own commit (issue 18). If the transaction fails (an
    /// entry gone or corrupt), each is recorded on its own, so that one bad
    /// entry does not leave the others' deliveries unrecorded; the first
    /// error is returned after all were tried.
    pub fn record_attempts(&self, attempts: &[(u64, &Attempt, OffsetDateTime)]) -> Result<()> {
        if attempts.len() < 2 || self.record_in_one(attempts).is_err() {
            let mut first_error = None;
            for one in attempts {
                if let Err(e) = self.record_in_one(std::slice::from_ref(one)) {
                    first_error.get_or_insert(e);
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        Ok(())
    }

    fn record_in_one(&self, attempts: &[(u64, &Attempt, OffsetDateTime)]) -> Result<()> {
        let result = self.trees().transaction(|t| {
            for &(id, attempt, now) in attempts {
                record_in(t, id, attempt, now)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(msg)) => Err(StoreError::Conflict(msg)),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }
}

/// One attempt recorded inside a transaction: the entry's new state, its
/// due-index entry, and the ticket event that says what happened.
fn record_in(
    t: &[sled::transaction::TransactionalTree],
    id: u64,
    attempt: &Attempt,
    now: OffsetDateTime,
) -> super::commit::TxResult<()> {
    let mut rec = outbox_in(t, id)?;
    t[T_OUTBOX_DUE].remove(&due_key(unix_ms(rec.next_attempt_at), id))?;
    rec.attempts += 1;
    // Cancelled while the attempt was under way: a delivery (to
    // all or to some) is still the truth, anything else leaves it
    // cancelled.
    let delivery = matches!(attempt, Attempt::Delivered | Attempt::Partial { .. });
    if rec.state == OutboxState::Cancelled && !delivery {
        if let Attempt::Retry { error, .. } | Attempt::Failed { error } = attempt {
            rec.last_error = Some(error.clone());
        }
        t[T_OUTBOX].insert(&id.to_be_bytes(), encode(&rec))?;
        return Ok(());
    }
    let event = match attempt {
        Attempt::Delivered => {
            rec.state = OutboxState::Sent;
            rec.sent_at = Some(now);
            Some(Event::new(
                now,
                EventKind::Sent,
                format!(
                    "<{}> to {} accepted by the transport",
                    rec.message_id,
                    rec.to.join(", ")
                ),
            ))
        }
        Attempt::Retry { error, at } => {
            rec.last_error = Some(error.clone());
            rec.next_attempt_at = *at;
            t[T_OUTBOX_DUE].insert(&due_key(unix_ms(*at), id), &[])?;
            None
        }
        Attempt::Partial {
            accepted,
            refused,
            later,
        } => {
            let event = settle_partial(&mut rec, accepted, refused, later.as_ref(), now);
            if let Some(l) = later.as_ref().filter(|_| rec.state == OutboxState::Queued) {
                t[T_OUTBOX_DUE].insert(&due_key(unix_ms(l.at), id), &[])?;
            }
            Some(event)
        }
        Attempt::Failed { error } => {
            rec.state = OutboxState::Failed;
            rec.last_error = Some(error.clone());
            Some(Event::new(
                now,
                EventKind::SendFailed,
                format!(
                    "<{}> to {} failed after {} attempt(s): {error}",
                    rec.message_id,
                    rec.to.join(", "),
                    rec.attempts
                ),
            ))
        }
    };
    // An advisory without a ticket has no ticket history to write to.
    let event = event.filter(|_| rec.ticket != super::advisory::NO_TICKET);
    if let Some(e) = event {
        let n = super::commit::next(&t[T_COUNTERS], EVENT_COUNTER)?;
        t[T_EVENTS].insert(&ticket_seq_key(rec.ticket, n), encode(&e))?;
    }
    t[T_OUTBOX].insert(&id.to_be_bytes(), encode(&rec))?;
    Ok(())
}

/// Moves the recipients a partial attempt settled out of `to`: accepted
/// ones to `delivered_to`, refused ones to `refused`. With some left for
/// later the entry stays as it is (queued, or cancelled meanwhile) and
/// `to` keeps only those; with none, it is settled: sent to everyone who
/// took it (`to` lists them again), or failed when nobody did. The event
/// for the ticket says which.
fn settle_partial(
    rec: &mut OutboxRecord,
    accepted: &[String],
    refused: &[RefusedRecipient],
    later: Option<&Later>,
    now: OffsetDateTime,
) -> Event {
    rec.delivered_to.extend(accepted.iter().cloned());
    rec.refused.extend(refused.iter().cloned());
    let mut text = format!(
        "<{}> accepted by the transport for {} recipient(s)",
        rec.message_id,
        accepted.len()
    );
    if !refused.is_empty() {
        text.push_str(&format!(
            ", refused for {}: {}",
            refused.len(),
            refused_text(refused)
        ));
    }
    let kind = match later {
        Some(l) => {
            rec.to = l.to.clone();
            rec.last_error = Some(l.error.clone());
            rec.next_attempt_at = l.at;
            text.push_str(&format!(", {} to try again: {}", l.to.len(), l.error));
            EventKind::Warning
        }
        None if !rec.delivered_to.is_empty() => {
            rec.state = OutboxState::Sent;
            rec.sent_at = Some(now);
            rec.to = std::mem::take(&mut rec.delivered_to);
            if refused.is_empty() {
                EventKind::Sent
            } else {
                EventKind::SendFailed
            }
        }
        None => {
            rec.state = OutboxState::Failed;
            rec.to = rec.refused.iter().map(|r| r.address.clone()).collect();
            rec.last_error = Some(format!(
                "every recipient refused: {}",
                refused_text(&rec.refused)
            ));
            EventKind::SendFailed
        }
    };
    Event::new(now, kind, text)
}

/// The release of outbox entry `id` inside a transaction (see
/// [`Store::release_outbox`]); also run by the commit of a handler's
/// signed `/release`.
pub(crate) fn release_in(
    t: &[sled::transaction::TransactionalTree],
    id: u64,
    ticket: Option<TicketId>,
    by: &str,
    now: OffsetDateTime,
) -> super::commit::TxResult<OutboxRecord> {
    let mut rec = outbox_in(t, id)?;
    if rec.state != OutboxState::AwaitingRelease {
        return Err(ConflictableTransactionError::Abort(format!(
            "outbox entry {id} is {}, not awaiting release",
            rec.state.as_str()
        )));
    }
    if ticket.is_some_and(|tk| tk != rec.ticket) {
        return Err(ConflictableTransactionError::Abort(format!(
            "outbox entry {id} belongs to ticket {}",
            rec.ticket
        )));
    }
    rec.state = OutboxState::Queued;
    rec.next_attempt_at = now;
    rec.last_error = None;
    t[T_OUTBOX_DUE].insert(&due_key(unix_ms(now), id), &[])?;
    if rec.ticket != super::advisory::NO_TICKET {
        let e = Event::new(
            now,
            EventKind::Released,
            format!(
                "<{}> to {} released by {by}",
                rec.message_id,
                rec.to.join(", ")
            ),
        );
        let n = super::commit::next(&t[T_COUNTERS], EVENT_COUNTER)?;
        t[T_EVENTS].insert(&ticket_seq_key(rec.ticket, n), encode(&e))?;
    }
    t[T_OUTBOX].insert(&id.to_be_bytes(), encode(&rec))?;
    Ok(rec)
}

/// Outbox entry `id` read inside a transaction.
pub(super) fn outbox_in(
    t: &[sled::transaction::TransactionalTree],
    id: u64,
) -> super::commit::TxResult<OutboxRecord> {
    let Some(v) = t[T_OUTBOX].get(id.to_be_bytes())? else {
        return Err(ConflictableTransactionError::Abort(format!(
            "outbox entry {id} does not exist"
        )));
    };
    serde_json::from_slice(&v).map_err(|e| {
        ConflictableTransactionError::Abort(format!("outbox entry {id} is corrupt: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(to: &[&str]) -> OutboxRecord {
        let now = OffsetDateTime::UNIX_EPOCH;
        OutboxRecord {
            id: 1,
            ticket: super::super::advisory::NO_TICKET,
            message_seq: 1,
            message_id: "adv.1@cert.example".into(),
            envelope_from: "cert@cert.example".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            subject: "s".into(),
            state: OutboxState::Queued,
            attempts: 1,
            last_error: None,
            created_at: now,
            next_attempt_at: now,
            sent_at: None,
            encrypt: None,
            advisory: Some("CERT-EX-ADV-2026-0001".into()),
            restored: false,
            retried_at: None,
            delivered_to: Vec::new(),
            refused: Vec::new(),
        }
    }

    fn refused(a: &str) -> RefusedRecipient {
        RefusedRecipient {
            address: a.into(),
            reply: format!("550 5.1.1 <{a}>: unknown"),
        }
    }

    /// Each recipient of a shared copy ends in exactly one state, its own:
    /// accepted, refused for good, or still queued for the later attempt;
    /// the entry is settled once nobody is left to try.
    #[test]
    fn a_partial_attempt_settles_each_recipient_once() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        let mut rec = shared(&["a@x", "b@x", "c@y", "d@y"]);
        let later = Later {
            to: vec!["d@y".into()],
            error: "450 4.2.0 busy".into(),
            at: now + time::Duration::minutes(1),
        };
        let e = settle_partial(
            &mut rec,
            &["a@x".into(), "c@y".into()],
            &[refused("b@x")],
            Some(&later),
            now,
        );
        assert_eq!(rec.state, OutboxState::Queued);
        assert_eq!(rec.to, ["d@y"]);
        assert_eq!(rec.next_attempt_at, later.at);
        assert!(e.detail.contains("refused for 1: b@x (550"), "{}", e.detail);
        assert_eq!(rec.recipient_state("a@x"), (OutboxState::Sent, None));
        assert_eq!(rec.recipient_state("b@x").0, OutboxState::Failed);
        assert_eq!(
            rec.recipient_state("d@y"),
            (OutboxState::Queued, Some("450 4.2.0 busy"))
        );

        // The busy one takes it on the next attempt: sent to all three who
        // took it, the refused one still failed on its own.
        settle_partial(&mut rec, &["d@y".into()], &[], None, now);
        assert_eq!(rec.state, OutboxState::Sent);
        assert_eq!(rec.sent_at, Some(now));
        let mut to = rec.to.clone();
        to.sort();
        assert_eq!(to, ["a@x", "c@y", "d@y"]);
        assert!(rec.delivered_to.is_empty());
        for a in ["a@x", "c@y", "d@y"] {
            assert_eq!(rec.recipient_state(a).0, OutboxState::Sent, "{a}");
        }
        assert_eq!(rec.recipient_state("b@x").0, OutboxState::Failed);

        // Nobody took it: failed, each with its own reply.
        let mut rec = shared(&["a@x", "b@x"]);
        let e = settle_partial(&mut rec, &[], &[refused("a@x"), refused("b@x")], None, now);
        assert_eq!(rec.state, OutboxState::Failed);
        assert_eq!(e.kind, EventKind::SendFailed);
        assert!(rec
            .last_error
            .as_deref()
            .unwrap()
            .contains("every recipient refused"));
        assert!(rec.recipient_state("a@x").1.unwrap().contains("<a@x>"));
    }

    #[test]
    fn an_event_names_at_most_ten_refused_recipients() {
        let many: Vec<RefusedRecipient> = (0..25).map(|i| refused(&format!("m{i}@x"))).collect();
        let t = refused_text(&many);
        assert!(t.contains("m9@x") && !t.contains("m10@x"), "{t}");
        assert!(t.ends_with("and 15 more"), "{t}");
    }
}

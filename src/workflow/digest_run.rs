//! Sending the daily digests: the pending entries of each contact become
//! one team-signed mail (encrypted as that contact's notifications would
//! be), queued in the transaction that removes the entries.

use super::digest::{self, Batch, Item};
use crate::config::{Config, EncryptPolicy};
use crate::mail::compose::{self, Outgoing};
use crate::model::{Event, EventKind};
use crate::pgp::crypto::{Crypto, Sealed};
use crate::store::digest::{DigestError, NewDigest};
use crate::store::{OutboxState, Store, StoreError};
use time::OffsetDateTime;

/// One digest queued (or held).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub contact: String,
    pub outbox_id: u64,
    pub tickets: usize,
    pub state: OutboxState,
}

/// What one run did: the digests queued, and the contacts whose digest
/// could not be made (their entries stay pending for the next run).
#[derive(Debug, Default)]
pub struct Report {
    pub sent: Vec<Sent>,
    pub failed: Vec<(String, String)>,
}

/// Sends the digests that are due (see [`digest::due`]); None when none is.
pub fn send_if_due(
    cfg: &Config,
    crypto: &Crypto,
    store: &Store,
    now: OffsetDateTime,
) -> Result<Option<Report>, StoreError> {
    let at = cfg.notifications.digest_time();
    let last_run = store.digest_last_run()?;
    let due: Vec<Batch> = digest::batches(store.pending_digest_entries()?)
        .into_iter()
        .filter(|b| digest::due(now, at, last_run, b.oldest()))
        .collect();
    if due.is_empty() {
        return Ok(None);
    }
    send(cfg, crypto, store, &due, now).map(Some)
}

/// Sends every pending digest now, due or not.
pub fn send_all(
    cfg: &Config,
    crypto: &Crypto,
    store: &Store,
    now: OffsetDateTime,
) -> Result<Report, StoreError> {
    let all = digest::batches(store.pending_digest_entries()?);
    send(cfg, crypto, store, &all, now)
}

/// Queues `batches`, and records the run.
fn send(
    cfg: &Config,
    crypto: &Crypto,
    store: &Store,
    batches: &[Batch],
    now: OffsetDateTime,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for batch in batches {
        match send_one(cfg, crypto, store, batch, now) {
            Ok(Outcome::Sent(s)) => report.sent.push(s),
            Ok(Outcome::Taken) => {}
            Ok(Outcome::Failed(why)) => report.failed.push((batch.contact.clone(), why)),
            Err(e) => {
                // What was queued so far is committed: durable before the error.
                store.flush()?;
                return Err(e);
            }
        }
    }
    store.set_digest_last_run(now)?;
    store.flush()?;
    for s in &report.sent {
        tracing::info!(contact = %s.contact, outbox = s.outbox_id, tickets = s.tickets, state = s.state.as_str(), "daily digest queued");
    }
    for (contact, why) in &report.failed {
        tracing::error!(contact = %contact, "daily digest not composed; its entries stay pending: {why}");
    }
    Ok(report)
}

enum Outcome {
    Sent(Sent),
    /// Another run queued these entries first.
    Taken,
    /// The mail cannot be composed; the entries stay.
    Failed(String),
}

/// One batch as one outbox entry.
fn send_one(
    cfg: &Config,
    crypto: &Crypto,
    store: &Store,
    batch: &Batch,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let mut items = Vec::with_capacity(batch.entries.len());
    for p in &batch.entries {
        let merged_into = store
            .ticket(p.entry.ticket)?
            .and_then(|t| t.handling.merged_into);
        items.push(Item {
            entry: &p.entry,
            merged_into,
        });
    }
    let composed = digest::compose(&cfg.team.name, &cfg.team.tag, now.date(), &items);
    let contact = batch.contact.as_str();
    let message_id = message_id(&cfg.team.tag, &cfg.team.domain, now);
    let to = vec![contact.to_string()];
    let bytes = compose::render(&Outgoing::from_team(
        &cfg.team.name,
        &cfg.team.address,
        &to,
        &composed.subject,
        &message_id,
        &composed.text,
        now,
    ));
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => return Ok(Outcome::Failed(e.to_string())),
    };
    // As a notification to this contact would be: to the configured key
    // (held without it), else encrypted when the keyring has one.
    let sealed = match &batch.key_fingerprint {
        Some(f) => crypto.seal_to_fingerprint(bytes.clone(), contact, f),
        None => crypto.seal(bytes.clone(), contact, EncryptPolicy::IfKey),
    };
    let (bytes, state, held) = match sealed {
        Ok(Sealed::Signed(b) | Sealed::Encrypted(b) | Sealed::Unsigned(b)) => {
            (b, OutboxState::Queued, None)
        }
        Ok(Sealed::Held { bytes, reason }) => (bytes, OutboxState::Held, Some(reason)),
        Err(e) => (bytes, OutboxState::Held, Some(format!("cannot sign: {e}"))),
    };
    let event = match &held {
        None => Event::new(
            now,
            EventKind::Notified,
            format!("daily digest <{message_id}> to {contact} queued; it lists this ticket"),
        ),
        Some(reason) => Event::new(
            now,
            EventKind::Held,
            format!(
                "daily digest <{message_id}> to {contact} held: {reason}; it lists this ticket"
            ),
        ),
    };
    let d = NewDigest {
        envelope_from: cfg.envelope_from().to_string(),
        to,
        subject: composed.subject,
        message_id,
        bytes,
        state,
        taken: batch.entries.iter().map(|p| p.key.clone()).collect(),
        events: composed
            .tickets
            .iter()
            .map(|t| (*t, event.clone()))
            .collect(),
    };
    match store.queue_digest(&d, now) {
        Ok(outbox_id) => Ok(Outcome::Sent(Sent {
            contact: contact.to_string(),
            outbox_id,
            tickets: composed.tickets.len(),
            state,
        })),
        Err(DigestError::Taken) => {
            tracing::info!(contact = %contact, "daily digest already queued by another run");
            Ok(Outcome::Taken)
        }
        Err(DigestError::Store(e)) => Err(e),
    }
}

/// A Message-ID that names no ticket (a digest is about several), so that
/// a reply is threaded by the tag its subject keeps, not by this ID.
fn message_id(tag: &str, domain: &str, now: OffsetDateTime) -> String {
    let nonce: u64 = rand::random();
    format!(
        "{}.digest.{}.{nonce:016x}@{}",
        tag.to_ascii_lowercase(),
        now.date(),
        domain.to_ascii_lowercase()
    )
}

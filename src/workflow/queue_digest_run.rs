//! Sending the handlers' queue digests: one team-signed mail per handler,
//! encrypted to the handler's configured key (it lists TLP:RED subjects as
//! readily as any other), held when the keyring lacks that key.

use super::queue_digest::{self, Queue, Row, Section};
use crate::config::{Config, HandlerConfig};
use crate::mail::compose::{self, Outgoing};
use crate::model::Status;
use crate::pgp::crypto::{Crypto, Sealed};
use crate::store::digest::{DigestError, NewDigest};
use crate::store::summary::{ListQuery, SortKey, TicketSummary};
use crate::store::{OutboxState, Store, StoreError};
use time::OffsetDateTime;

/// One queued (or held) digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub handler: String,
    pub outbox_id: u64,
    pub tickets: usize,
    pub state: OutboxState,
}

/// Sends the digests when `[sla] digest_at` has passed since the last run;
/// None when none is due (or no time is configured).
pub fn send_if_due(
    cfg: &Config,
    crypto: &Crypto,
    store: &Store,
    now: OffsetDateTime,
) -> Result<Option<Vec<Sent>>, StoreError> {
    let Some(at) = cfg.sla.digest_time() else {
        return Ok(None);
    };
    if !queue_digest::due(now, at, store.queue_digest_last_run()?) {
        return Ok(None);
    }
    send_all(cfg, crypto, store, now).map(Some)
}

/// Sends every handler's digest now, and records the run.
pub fn send_all(
    cfg: &Config,
    crypto: &Crypto,
    store: &Store,
    now: OffsetDateTime,
) -> Result<Vec<Sent>, StoreError> {
    let mut sent = Vec::new();
    for h in &cfg.handlers {
        let q = queue_of(cfg, store, h, now)?;
        let s = send_one(cfg, crypto, store, h, &q, now)?;
        tracing::info!(handler = %s.handler, outbox = s.outbox_id, tickets = s.tickets, state = s.state.as_str(), "queue digest queued");
        sent.push(s);
    }
    store.set_queue_digest_last_run(now)?;
    store.flush()?;
    Ok(sent)
}

/// The three sections of `h`'s digest, from the list index.
pub fn queue_of(
    cfg: &Config,
    store: &Store,
    h: &HandlerConfig,
    now: OffsetDateTime,
) -> Result<Queue, StoreError> {
    let due = |s: &TicketSummary| super::sla::due_of_summary(&cfg.sla, s, now);
    let section = |q: ListQuery, keep: &dyn Fn(&TicketSummary) -> bool| {
        let page = store.list(&q, &|s| keep(s))?;
        Ok::<_, StoreError>(Section {
            rows: page
                .tickets
                .into_iter()
                .map(|t| Row {
                    due: due(&t),
                    ticket: t,
                })
                .collect(),
            more: page.more,
        })
    };
    let base = ListQuery {
        limit: queue_digest::PER_SECTION,
        open_only: true,
        ..Default::default()
    };
    Ok(Queue {
        // Oldest first: the longest overdue leads.
        overdue: section(
            ListQuery {
                sort: SortKey::Created,
                ..base.clone()
            },
            &|s| due(s).overdue(),
        )?,
        mine: section(
            ListQuery {
                assignee: Some(h.name.clone()),
                sort: SortKey::Updated,
                descending: true,
                ..base.clone()
            },
            &|_| true,
        )?,
        unassigned: section(
            ListQuery {
                status: Some(Status::New),
                sort: SortKey::Created,
                ..base
            },
            &|s| s.assignee.is_none(),
        )?,
    })
}

fn send_one(
    cfg: &Config,
    crypto: &Crypto,
    store: &Store,
    h: &HandlerConfig,
    q: &Queue,
    now: OffsetDateTime,
) -> Result<Sent, StoreError> {
    let composed = queue_digest::compose(&cfg.team.name, &cfg.team.tag, &h.name, now, q);
    let nonce: u64 = rand::random();
    let message_id = format!(
        "{}.queue.{}.{nonce:016x}@{}",
        cfg.team.tag.to_ascii_lowercase(),
        now.date(),
        cfg.team.domain.to_ascii_lowercase()
    );
    let to = vec![h.email.clone()];
    let rendered = compose::render(&Outgoing::from_team(
        &cfg.team.name,
        &cfg.team.address,
        &to,
        &composed.subject,
        &message_id,
        &composed.text,
        now,
    ));
    let (bytes, state) = match rendered {
        Ok(b) => match crypto.seal_to_fingerprint(b.clone(), &h.email, &h.fingerprint_hex()) {
            Ok(Sealed::Encrypted(b) | Sealed::Signed(b) | Sealed::Unsigned(b)) => {
                (b, OutboxState::Queued)
            }
            Ok(Sealed::Held { bytes, reason }) => {
                tracing::warn!(handler = %h.name, "queue digest held: {reason}");
                (bytes, OutboxState::Held)
            }
            Err(e) => {
                tracing::warn!(handler = %h.name, "queue digest held: cannot sign: {e}");
                (b, OutboxState::Held)
            }
        },
        Err(e) => {
            return Err(StoreError::Conflict(format!(
                "the queue digest for {} cannot be composed: {e}",
                h.name
            )))
        }
    };
    let d = NewDigest {
        envelope_from: cfg.envelope_from().to_string(),
        to,
        subject: composed.subject,
        message_id,
        bytes,
        state,
        taken: Vec::new(),
        events: Vec::new(),
    };
    // Due at once by the wall clock, whatever `now` the SLA was read at
    // (a test's CSIRTD_TEST_NOW).
    let queued_at = OffsetDateTime::now_utc().min(now);
    let outbox_id = store.queue_digest(&d, queued_at).map_err(|e| match e {
        DigestError::Store(e) => e,
        DigestError::Taken => StoreError::Conflict("queue digest taken".into()),
    })?;
    Ok(Sent {
        handler: h.name.clone(),
        outbox_id,
        tickets: composed.tickets.len(),
        state,
    })
}

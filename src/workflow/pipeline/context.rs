//! What the store knows that the decision about one message needs: the
//! stored copy under its Message-ID, the tickets its subject and
//! references name, the acknowledgement histories.

use super::Pipeline;
use crate::mail::parse::ParsedMail;
use crate::mail::trace;
use crate::model::{Direction, TicketId};
use crate::store::StoreError;
use crate::workflow::ack_rate::{RateKeys, RecentAcks, GLOBAL_KEY};
use crate::workflow::decide::{Context, TicketView};
use crate::workflow::redelivery::{self, Delivery, Redelivery};
use time::OffsetDateTime;

/// The bytes of one incoming message and their hashes.
pub(super) struct Delivered<'a> {
    pub raw: &'a [u8],
    pub sha: [u8; 32],
    pub body_sha: &'a str,
    pub content_sha: &'a str,
}

/// How an incoming message compares with the stored one under its
/// Message-ID.
enum Known {
    Same,
    /// Other non-trace headers, named.
    Changed(Vec<String>),
    Other,
}

impl Pipeline {
    /// Hashes of the stored copy; a record from before content hashes
    /// were kept gets its hash from its raw bytes.
    fn compare_with(
        &self,
        t: TicketId,
        seq: u64,
        incoming: &Delivered<'_>,
    ) -> Result<Known, StoreError> {
        let Some(earlier) = self.store.message(t, seq)? else {
            return Ok(Known::Same);
        };
        let raw = match earlier.content_sha256 {
            Some(_) => None,
            None => self.store.raw(earlier.seq)?,
        };
        let content = earlier.content_sha256.clone().or_else(|| {
            raw.as_deref()
                .map(|r| trace::content_sha256(r, &trace::body_sha256(r)))
        });
        let verdict = redelivery::compare(
            earlier.body_sha256.as_deref(),
            content.as_deref(),
            incoming.body_sha,
            incoming.content_sha,
        );
        Ok(match verdict {
            Delivery::Same => Known::Same,
            Delivery::BodyChanged => Known::Other,
            Delivery::HeadersChanged => {
                let raw = match raw {
                    Some(r) => Some(r),
                    None => self.store.raw(earlier.seq)?,
                };
                Known::Changed(trace::changed_headers(
                    raw.as_deref().unwrap_or_default(),
                    incoming.raw,
                ))
            }
        })
    }

    pub(super) fn view(&self, id: TicketId) -> Result<Option<TicketView>, StoreError> {
        let mut ticket = self.store.ticket(id)?;
        // A merged ticket's tag and Message-IDs route to the survivor.
        for _ in 0..8 {
            match ticket.as_ref().and_then(|t| t.handling.merged_into) {
                Some(next) => match self.store.ticket(next)? {
                    Some(t) => ticket = Some(t),
                    None => break,
                },
                None => break,
            }
        }
        Ok(ticket.map(|t| TicketView {
            id: t.id,
            status: t.status,
            requestors: t.requestors,
        }))
    }

    pub(super) fn context(
        &self,
        mail: &ParsedMail,
        incoming: &Delivered<'_>,
        now: OffsetDateTime,
    ) -> Result<Context, StoreError> {
        let (mut duplicate_of, mut message_id_reused, mut redelivery) = (None, None, None);
        match &mail.message_id {
            Some(mid) => {
                if let Some((t, seq)) = self.store.message_by_id(mid)? {
                    let known = self.compare_with(t, seq, incoming)?;
                    // A later delivery stored under this ID with this very
                    // content (see `Store::message_by_content`): a duplicate.
                    let later = match known {
                        Known::Same => None,
                        _ => self.store.message_by_content(incoming.content_sha)?,
                    };
                    match (known, later) {
                        (Known::Same, _) => duplicate_of = Some(t),
                        (_, Some((earlier, _))) => duplicate_of = Some(earlier),
                        (Known::Changed(changed), None) => match self.view(t)? {
                            Some(ticket) => redelivery = Some(Redelivery { ticket, changed }),
                            None => message_id_reused = Some(t),
                        },
                        (Known::Other, None) => message_id_reused = Some(t),
                    }
                }
            }
            None => duplicate_of = self.store.message_by_sha(&incoming.sha)?.map(|(t, _)| t),
        }
        let mut tagged = Vec::new();
        if let Some(subject) = &mail.subject {
            for id in self.tags.find(subject).into_iter().take(8) {
                tagged.push((id, self.view(id)?));
            }
        }
        // The direct parent first, then the thread from newest to oldest.
        let mut referenced = None;
        let candidates = mail.in_reply_to.iter().chain(mail.references.iter().rev());
        for mid in candidates {
            let ticket = match self.store.message_by_id(mid)? {
                Some((t, _)) => Some(t),
                None => self.ids.ticket_of(mid),
            };
            if let Some(t) = ticket {
                if let Some(v) = self.view(t)? {
                    referenced = Some(v);
                    break;
                }
            }
        }
        let mut bounce_of = None;
        for mid in mail.reported_message_ids.iter().take(8) {
            // Only our own outgoing mail: a report naming someone else's
            // message must not pull mail onto a ticket.
            let ours = match self.store.message_by_id(mid)? {
                Some((t, seq)) => self
                    .store
                    .message(t, seq)?
                    .filter(|m| m.direction == Direction::Out)
                    .map(|_| t),
                None => self.ids.ticket_of(mid),
            };
            if let Some(view) = ours.map(|t| self.view(t)).transpose()?.flatten() {
                bounce_of = Some((mid.clone(), view));
                break;
            }
        }
        let recent_acks = match mail.single_from() {
            Some(from) => self.recent_acks(from, now)?,
            None => Default::default(),
        };
        Ok(Context {
            now,
            next_id: self
                .store
                .next_ticket_id(now.year().clamp(0, 9999) as u16)?,
            duplicate_of,
            message_id_reused,
            redelivery,
            tagged,
            referenced,
            bounce_of,
            recent_acks,
            verification: None,
            signature_required: false,
        })
    }

    /// What the rate limit counts for `from`: its mailbox, however
    /// spelled, its domain, and all senders.
    fn recent_acks(&self, from: &str, now: OffsetDateTime) -> Result<RecentAcks, StoreError> {
        let keys = RateKeys::of(from);
        let window = self.config.ack.rate_window_secs;
        Ok(RecentAcks {
            address: self.store.ack_history(&keys.address, now, window)?,
            domain: self.store.ack_history(&keys.domain, now, window)?,
            global: self.store.ack_history(GLOBAL_KEY, now, window)?,
            keys: Some(keys),
        })
    }
}

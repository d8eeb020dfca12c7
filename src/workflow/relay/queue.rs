//! Queueing the team's outgoing mail of a relay: composed, signed (and
//! encrypted per policy), stored with its outbox entry in the commit, or
//! kept for a handler's release.

use super::{Out, Relay};
use crate::mail::compose::{self, Outgoing};
use crate::model::{Event, EventKind};
use crate::pgp::crypto::{Crypto, Sealed};
use crate::store::{Commit, OutboxState};
use crate::workflow::outgoing::{push_outgoing, OutgoingMail};
use time::OffsetDateTime;

impl Relay {
    /// Builds, signs (and encrypts per policy) one mail and adds it to the
    /// commit as a stored outgoing message with its outbox entry. Returns
    /// the Message-ID when it was queued (not held).
    pub(super) fn queue(
        &self,
        commit: &mut Commit,
        crypto: &Crypto,
        o: Out,
        now: OffsetDateTime,
    ) -> Option<String> {
        self.queue_or_hold(commit, crypto, o, None, now)
    }

    /// As [`Relay::queue`], but signed and kept for a handler's release
    /// (`awaiting-release`) for `reason`, with an event that says so.
    pub(super) fn queue_for_release(
        &self,
        commit: &mut Commit,
        crypto: &Crypto,
        o: Out,
        reason: &str,
        now: OffsetDateTime,
    ) {
        self.queue_or_hold(commit, crypto, o, Some(reason), now);
    }

    fn queue_or_hold(
        &self,
        commit: &mut Commit,
        crypto: &Crypto,
        o: Out,
        hold: Option<&str>,
        now: OffsetDateTime,
    ) -> Option<String> {
        let id = commit.ticket.id;
        let message_id = self.ids.generate(id, o.kind);
        let to = vec![o.to.clone()];
        let mut extra: Vec<(&str, String)> = Vec::new();
        if let Some(r) = &o.reply_to {
            extra.push(("Reply-To", r.clone()));
        }
        if o.automatic {
            extra.push(("Auto-Submitted", "auto-generated".into()));
        }
        let bytes = compose::render(&Outgoing {
            from_name: &self.team_name,
            from_address: &self.team_address,
            to: &to,
            to_group: None,
            subject: &o.subject,
            message_id: &message_id,
            in_reply_to: o.in_reply_to.as_deref(),
            references: &o.references,
            auto_reply: false,
            loop_address: &self.team_address,
            body: &o.body,
            date: now,
            extra_headers: &extra,
        });
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                let detail = format!("{} to {} not composed: {e}", o.kind, o.to);
                tracing::error!(ticket = %id, %detail);
                commit.events.push(Event::new(now, EventKind::Held, detail));
                return None;
            }
        };
        let (bytes, mut state) = match crypto.seal(bytes.clone(), &o.to, o.encrypt) {
            Ok(Sealed::Signed(b) | Sealed::Encrypted(b) | Sealed::Unsigned(b)) => {
                (b, OutboxState::Queued)
            }
            Ok(Sealed::Held { bytes, reason }) => {
                commit.events.push(Event::new(
                    now,
                    EventKind::Held,
                    format!("{} to {} held: {reason}", o.kind, o.to),
                ));
                (bytes, OutboxState::Held)
            }
            Err(e) => {
                // Never send unsigned what should be signed.
                let detail = format!("{} to {} held: cannot sign: {e}", o.kind, o.to);
                tracing::error!(ticket = %id, %detail);
                commit.events.push(Event::new(now, EventKind::Held, detail));
                (bytes, OutboxState::Held)
            }
        };
        if let (OutboxState::Queued, Some(why)) = (state, hold) {
            state = OutboxState::AwaitingRelease;
            commit.events.push(Event::new(
                now,
                EventKind::Held,
                format!(
                    "{} <{message_id}> to {} kept for a handler's release: {why} (signed `/release`, or `csirtd outbox release`)",
                    o.kind, o.to
                ),
            ));
        }
        push_outgoing(
            commit,
            OutgoingMail {
                bytes,
                state,
                to,
                subject: o.subject,
                message_id: message_id.clone(),
                origin: o.kind,
                from: &self.team_address,
                envelope_from: &self.envelope_from,
            },
            now,
        );
        (state == OutboxState::Queued).then_some(message_id)
    }
}

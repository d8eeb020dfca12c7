//! The acknowledgement of a new report: the template filled, the mail
//! composed, stored and queued for signing in the report's own commit.

use super::Pipeline;
use crate::mail::compose::{self, ComposeError, Outgoing};
use crate::mail::parse::ParsedMail;
use crate::model::{Direction, TicketId};
use crate::store::{MessageRecord, NewMessage, NewOutbox, OutboxState};
use crate::workflow::decide::AckIntent;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// Said in the acknowledgement when policy wanted a signature and the report
/// had none that verifies. Fixed text: nothing of the reporter's is signed.
const UNVERIFIED_NOTICE: &str =
    "Note: our policy requires reports from your address to be signed with \
OpenPGP, and we could not verify a signature on this one. We will treat its \
content with caution; please send it again, signed with your registered key.";

impl Pipeline {
    /// The stored acknowledgement and its outbox entry, which names message
    /// index 1 (the report is 0). Refused when a header value is unsafe.
    pub(super) fn ack_mail(
        &self,
        id: TicketId,
        ack: &AckIntent,
        mail: &ParsedMail,
        now: OffsetDateTime,
    ) -> Result<(NewMessage, NewOutbox), ComposeError> {
        let message_id = self.ids.generate(id, "ack");
        let subject = self
            .tags
            .compose(id, &ack.subject, super::super::decide::SUBJECT_MAX_CHARS);
        let tag = self.tags.tag_for(id);
        let ticket_id = id.to_string();
        let body = compose::fill_template(
            &self.ack_template,
            &[
                ("ticket_id", &ticket_id),
                ("tag", &tag),
                ("team_name", &self.config.team.name),
                ("team_address", &self.config.team.address),
                ("subject", &ack.subject),
                (
                    "verification_notice",
                    if ack.unverified {
                        UNVERIFIED_NOTICE
                    } else {
                        ""
                    },
                ),
            ],
        );
        let body = if ack.unverified && !self.ack_template.contains("{{verification_notice}}") {
            format!("{UNVERIFIED_NOTICE}\n\n{body}")
        } else {
            body
        };
        let mut references = mail.references.clone();
        if let Some(mid) = &mail.message_id {
            references.push(mid.clone());
        }
        let to = vec![ack.to.clone()];
        let team = &self.config.team;
        let bytes = compose::render(&Outgoing {
            in_reply_to: mail.message_id.as_deref(),
            references: &references,
            auto_reply: true,
            ..Outgoing::from_team(
                &team.name,
                &team.address,
                &to,
                &subject,
                &message_id,
                &body,
                now,
            )
        })?;
        // Signed after the commit, off the sequential path (see
        // store::sealing); until then it is never sent.
        let out_sha: [u8; 32] = Sha256::digest(&bytes).into();
        let message = NewMessage {
            record: MessageRecord {
                seq: 0,
                ticket: id,
                message_id: Some(message_id.clone()),
                direction: Direction::Out,
                from: Some(self.config.team.address.clone()),
                to: to.clone(),
                subject: Some(subject.clone()),
                date: Some(
                    now.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                ),
                sha256: hex::encode(out_sha),
                body_sha256: None,
                content_sha256: None,
                size: bytes.len() as u64,
                stored_at: now,
                origin: "ack".into(),
                flags: BTreeSet::new(),
                verification: None,
                authentication: None,
                acns: None,
                indicators: Vec::new(),
            },
            raw: bytes,
            sha256: out_sha,
        };
        let outbox = NewOutbox {
            message: 1,
            envelope_from: self.config.envelope_from().to_string(),
            to: to.clone(),
            subject,
            message_id: message_id.clone(),
            next_attempt_at: now,
            state: OutboxState::Sealing,
            encrypt: Some(self.config.ack.encrypt),
        };
        Ok((message, outbox))
    }
}

//! What is kept per ticket, message and outgoing mail. JSON-encoded in sled so
//! that an operator with a debugger, or a future migration, can read it.

use crate::model::{Direction, Flag, Status, TicketId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRecord {
    pub id: TicketId,
    pub status: Status,
    pub subject: String,
    pub requestors: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub flags: BTreeSet<Flag>,
    pub message_count: u32,
    /// RSIT category and type (issue 6): from a report's fields, a rule or a handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<crate::analysis::classify::Classification>,
    /// Constituencies the ticket's reports concern, the primary one first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constituencies: Vec<String>,
    /// Labels given by the source the first report came to (a Maildir's
    /// or IMAP account's `label`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Kind, incident links, assignee, TLP, merges (issue 5).
    #[serde(default)]
    pub handling: crate::model::handling::Handling,
    /// A legal hold: retention never purges the ticket while it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// When retention purged the ticket: it is a tombstone since (issue 16).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub purged_at: Option<OffsetDateTime>,
}

/// Who put a legal hold on a ticket, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub by: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl TicketRecord {
    /// A new ticket with no messages, flags or labels yet.
    pub fn new(
        id: TicketId,
        subject: String,
        requestors: Vec<String>,
        now: OffsetDateTime,
    ) -> TicketRecord {
        TicketRecord {
            id,
            status: Status::New,
            subject,
            requestors,
            created_at: now,
            updated_at: now,
            flags: BTreeSet::new(),
            message_count: 0,
            classification: None,
            constituencies: Vec::new(),
            labels: Vec::new(),
            handling: Default::default(),
            hold: None,
            purged_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Store-wide sequence number; also the key of the raw bytes.
    pub seq: u64,
    pub ticket: TicketId,
    pub message_id: Option<String>,
    pub direction: Direction,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub sha256: String,
    /// SHA-256 of the body with line ends normalised: the same message
    /// delivered twice differs only in its trace headers.
    #[serde(default)]
    pub body_sha256: Option<String>,
    /// SHA-256 of the message less its trace headers (`mail::trace`): a
    /// copy with the same is a duplicate. None for outgoing mail and for
    /// records from before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub stored_at: OffsetDateTime,
    /// Where it came from (`maildir:<file>`, `stdin`, `file:<path>`) or, for
    /// outgoing mail, what it was (`ack`).
    pub origin: String,
    pub flags: BTreeSet<Flag>,
    /// The OpenPGP verdict decided at intake (None: no [pgp] configured, or outgoing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::pgp::Verification>,
    /// DKIM, SPF and DMARC of an incoming message (`[auth]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<crate::auth::Authentication>,
    /// An ACNS copyright notice the message carries, checked field by
    /// field: the infringing address, port, time and protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acns: Option<crate::analysis::acns::AcnsNotice>,
    /// Indicators found in this message, with where they were found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<crate::analysis::indicators::Indicator>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    Queued,
    Sent,
    Failed,
    /// Must not go out as it is (policy says encrypt, no key): kept, never sent.
    Held,
    /// Committed as composed, waiting for the team's signature (see
    /// `store::sealing`); never sent in this state.
    Sealing,
    /// Signed (and encrypted where due) but kept back until a handler
    /// releases it: a feed with `notify = "hold"`, or TLP:AMBER+STRICT and
    /// TLP:RED content. `csirtd outbox release ID` or a signed `/release`.
    #[serde(rename = "awaiting-release")]
    AwaitingRelease,
    /// Withdrawn by an operator (`csirtd outbox cancel`): never sent.
    Cancelled,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Held => "held",
            OutboxState::Sealing => "sealing",
            OutboxState::AwaitingRelease => "awaiting-release",
            OutboxState::Cancelled => "cancelled",
        }
    }

    /// Every state, in the order a queue moves through them.
    pub const ALL: [OutboxState; 7] = [
        OutboxState::Sealing,
        OutboxState::Queued,
        OutboxState::AwaitingRelease,
        OutboxState::Held,
        OutboxState::Sent,
        OutboxState::Failed,
        OutboxState::Cancelled,
    ];

    /// The state named as `as_str` (and the JSON) names it.
    pub fn from_name(name: &str) -> Option<OutboxState> {
        let name = name.trim();
        OutboxState::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub id: u64,
    pub ticket: TicketId,
    /// The stored outgoing message whose raw bytes are sent, unchanged, on every attempt.
    pub message_seq: u64,
    pub message_id: String,
    pub envelope_from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    /// While `Sealing`: how it is to be encrypted once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<crate::config::EncryptPolicy>,
    /// The advisory this copy belongs to (issue 5); `ticket` is then the
    /// related ticket or `store::advisory::NO_TICKET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory: Option<String>,
    /// Put back by `csirtd restore`: once signed it waits for release
    /// instead of going out (the original store may have sent it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restored: bool,
    /// When an operator last sent a failed entry back to the queue
    /// (`csirtd outbox retry`): the retry period counts from here, not
    /// from `created_at`, or the first transient error would end it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub retried_at: Option<OffsetDateTime>,
    /// A copy for many recipients (an advisory's Bcc batch): those a
    /// partial attempt settled are moved here out of `to`, which keeps the
    /// ones still to try. Accepted by the transport:
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivered_to: Vec<String>,
    /// Refused for good, each with the server's reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedRecipient>,
}

/// A recipient a server refused for good (a 5xx at RCPT, or 4xx replies
/// for longer than `outbox.retry_for_secs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedRecipient {
    pub address: String,
    pub reply: String,
}

impl OutboxRecord {
    /// The delivery state of one of the entry's recipients, with the error
    /// that concerns them: a recipient a partial attempt settled has its
    /// own, the others share the entry's.
    pub fn recipient_state(&self, address: &str) -> (OutboxState, Option<&str>) {
        if let Some(r) = self.refused.iter().find(|r| r.address == address) {
            return (OutboxState::Failed, Some(r.reply.as_str()));
        }
        if self.delivered_to.iter().any(|a| a == address) {
            return (OutboxState::Sent, None);
        }
        (self.state, self.last_error.as_deref())
    }
}

//! Outgoing mail that belongs to a ticket: stored with the ticket and
//! queued in the same commit, and the thread it continues.

use crate::model::Direction;
use crate::store::{Commit, MessageRecord, NewMessage, NewOutbox, OutboxState};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// Message-IDs of a conversation carried in References, newest last.
const MAX_THREAD: usize = 20;

pub struct OutgoingMail<'a> {
    pub bytes: Vec<u8>,
    pub state: OutboxState,
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub origin: &'a str,
    pub from: &'a str,
    pub envelope_from: &'a str,
}

/// Stores an outgoing mail on the commit's ticket and queues it.
pub fn push_outgoing(commit: &mut Commit, m: OutgoingMail<'_>, now: OffsetDateTime) {
    let sha: [u8; 32] = Sha256::digest(&m.bytes).into();
    commit.messages.push(NewMessage {
        record: MessageRecord {
            seq: 0,
            ticket: commit.ticket.id,
            message_id: Some(m.message_id.clone()),
            direction: Direction::Out,
            from: Some(m.from.to_string()),
            to: m.to.clone(),
            subject: Some(m.subject.clone()),
            date: now
                .format(&time::format_description::well_known::Rfc3339)
                .ok(),
            sha256: hex::encode(sha),
            body_sha256: None,
            content_sha256: None,
            size: m.bytes.len() as u64,
            stored_at: now,
            origin: m.origin.to_string(),
            flags: BTreeSet::new(),
            verification: None,
            authentication: None,
            acns: None,
            indicators: Vec::new(),
        },
        raw: m.bytes,
        sha256: sha,
    });
    commit.outbox.push(NewOutbox {
        message: commit.messages.len() - 1,
        envelope_from: m.envelope_from.to_string(),
        to: m.to,
        subject: m.subject,
        message_id: m.message_id,
        next_attempt_at: now,
        state: m.state,
        encrypt: None,
    });
    commit.ticket.message_count += 1;
}

/// The reporter's side of the conversation: the latest mail from a
/// requestor (In-Reply-To) and the Message-IDs exchanged with requestors.
pub fn requestor_thread(
    history: &[MessageRecord],
    requestors: &[String],
) -> (Option<String>, Vec<String>) {
    let with_requestor = |m: &&MessageRecord| match m.direction {
        Direction::In => m
            .from
            .as_deref()
            .map(crate::mail::body::address_of)
            .is_some_and(|f| requestors.contains(&f)),
        Direction::Out => m.to.iter().any(|t| requestors.contains(t)),
    };
    let thread: Vec<&MessageRecord> = history.iter().filter(with_requestor).collect();
    let irt = thread
        .iter()
        .rev()
        .find(|m| m.direction == Direction::In)
        .or(thread.last())
        .and_then(|m| m.message_id.clone());
    let mut refs: Vec<String> = thread.iter().filter_map(|m| m.message_id.clone()).collect();
    let skip = refs.len().saturating_sub(MAX_THREAD);
    refs.drain(..skip);
    (irt, refs)
}

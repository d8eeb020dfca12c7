//! The domain vocabulary shared by every stage: ticket IDs, statuses, flags,
//! events. These are the states the brief asks types to carry instead of strings.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

pub mod handling;

/// `YYYY-NNNNN`: one sequence per year. The sequence is never reused because
/// the counter is committed in the same transaction as the ticket it numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TicketId {
    pub year: u16,
    pub seq: u32,
}

impl TicketId {
    pub fn new(year: u16, seq: u32) -> Self {
        TicketId { year, seq }
    }

    /// Big-endian so that sled's byte order is ticket order.
    pub fn to_key(self) -> [u8; 6] {
        let mut k = [0u8; 6];
        k[..2].copy_from_slice(&self.year.to_be_bytes());
        k[2..].copy_from_slice(&self.seq.to_be_bytes());
        k
    }

    pub fn from_key(k: &[u8]) -> Option<Self> {
        if k.len() < 6 {
            return None;
        }
        let year = u16::from_be_bytes([k[0], k[1]]);
        let seq = u32::from_be_bytes([k[2], k[3], k[4], k[5]]);
        Some(TicketId { year, seq })
    }

    /// The subject tag, e.g. `[CERT-EX #2026-00042]`.
    pub fn tag(self, prefix: &str) -> String {
        format!("[{prefix} #{self}]")
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:05}", self.year, self.seq)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a ticket ID: expected YYYY-NNNNN (e.g. 2026-00042) or a subject tag such as [CERT-EX #2026-00042]")]
pub struct BadTicketId(pub String);

impl FromStr for TicketId {
    type Err = BadTicketId;

    /// Accepts `2026-00042`, `2026-42`, `#2026-00042` and whole tags such as
    /// `[CERT-EX #2026-00042]`: operators paste whatever they see in a subject.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadTicketId(s.to_string());
        let core = s.trim().trim_start_matches('[').trim_end_matches(']');
        let core = core.rsplit('#').next().unwrap_or(core).trim();
        let (year, seq) = core.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || seq.is_empty() || seq.len() > 9 {
            return Err(bad());
        }
        if !year.bytes().all(|b| b.is_ascii_digit()) || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: u16 = year.parse().map_err(|_| bad())?;
        let seq: u32 = seq.parse().map_err(|_| bad())?;
        if seq == 0 {
            return Err(bad());
        }
        Ok(TicketId { year, seq })
    }
}

impl Serialize for TicketId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TicketId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    New,
    Open,
    Stalled,
    Resolved,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Stalled => "stalled",
            Status::Resolved => "resolved",
            Status::Rejected => "rejected",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Conditions a handler must see on a ticket or message. Serialized in
/// kebab-case because outside scripts match on these words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flag {
    /// mail-parser could not make a message of the bytes; only the raw bytes are kept.
    Unparsed,
    /// Larger than `limits.max_message_size`: stored raw, only headers read.
    Oversized,
    /// MIME nesting deeper than `limits.max_mime_depth`.
    TooDeep,
    /// More MIME parts than `limits.max_parts`.
    TooManyParts,
    /// No usable From address.
    NoFrom,
    /// More than one From header or address: the sender is ambiguous.
    MultipleFrom,
    /// No Message-ID header; de-duplicated by SHA-256 instead.
    NoMessageId,
    /// The subject carried our tag for a ticket that does not exist.
    UnknownTag,
    /// A Message-ID we already hold arrived with a different body: kept as a
    /// message of its own, since a forged Message-ID must not hide a report.
    MessageIdReused,
    /// The sender is listed in pgp.policy.require_signed and the report
    /// does not carry a good signature.
    SignatureRequired,
    /// Encrypted, and csirtd could not decrypt it (raw bytes kept; fix the
    /// keys and run `csirtd reverify`).
    DecryptionFailed,
    /// Claims a handler's address without a good signature by that handler's key.
    UnverifiedHandler,
    /// Carries a ticket's tag but comes from none of its requestors,
    /// handlers or the addresses the team wrote to.
    UnverifiedCorrespondent,
    /// A handler's signature that was already used on an earlier mail.
    ReplayedSignature,
    /// A handler's signature older than `handling.max_signature_age`, or
    /// dated in the future.
    StaleSignature,
    /// A handler's signed content that names no ticket, or another one.
    UnboundSignature,
    /// A handler's signed content addressed to the comment address (its
    /// protected To/Cc), which arrived at the correspond address.
    InternalContent,
    /// A Message-ID, In-Reply-To, References, From, Sender, Reply-To, To or
    /// Cc value broke RFC 5322 syntax (a control character, white space in
    /// an address, too long): kept only in the raw bytes, never answered to
    /// or written into a header of ours.
    MalformedHeader,
    /// The From display name holds an address other than the sender's
    /// (`ceo@bank.example <eve@bank.example>`): what a reader sees is not
    /// who sent it.
    DisplayNameAddress,
    /// A re-delivery of a stored message (same Message-ID and body) whose
    /// other headers differ from the stored copy: kept as another delivery.
    RedeliveredChanged,
    /// Analysing the message would have taken more than a per-message
    /// budget of `[limits]` (decompressed bytes, CSV rows, indicators,
    /// signature checks): stored whole, analysed only up to the budget.
    OverBudget,
    /// Analysis panicked, or the process died while analysing it (an
    /// allocation failure aborts): stored raw, not analysed, quarantined.
    AnalysisFailed,
    /// A machine report (Shadowserver, ARF, X-ARF, IODEF, ACNS) that no
    /// declared feed vouches for: parsed and kept on its own ticket, never
    /// grouped into constituency tickets, never notifying anyone outside
    /// the team.
    UnauthenticatedFeed,
    /// Failed DMARC for a domain whose policy is quarantine or reject.
    DmarcFail,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Unparsed => "unparsed",
            Flag::Oversized => "oversized",
            Flag::TooDeep => "too-deep",
            Flag::TooManyParts => "too-many-parts",
            Flag::NoFrom => "no-from",
            Flag::MultipleFrom => "multiple-from",
            Flag::NoMessageId => "no-message-id",
            Flag::UnknownTag => "unknown-tag",
            Flag::MessageIdReused => "message-id-reused",
            Flag::SignatureRequired => "signature-required",
            Flag::DecryptionFailed => "decryption-failed",
            Flag::UnverifiedHandler => "unverified-handler",
            Flag::UnverifiedCorrespondent => "unverified-correspondent",
            Flag::ReplayedSignature => "replayed-signature",
            Flag::StaleSignature => "stale-signature",
            Flag::UnboundSignature => "unbound-signature",
            Flag::InternalContent => "internal-content",
            Flag::MalformedHeader => "malformed-header",
            Flag::DisplayNameAddress => "display-name-address",
            Flag::RedeliveredChanged => "redelivered-changed",
            Flag::OverBudget => "over-budget",
            Flag::AnalysisFailed => "analysis-failed",
            Flag::UnauthenticatedFeed => "unauthenticated-feed",
            Flag::DmarcFail => "dmarc-fail",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Created,
    Received,
    Duplicate,
    Acked,
    AckSuppressed,
    StatusChange,
    Warning,
    Sent,
    SendFailed,
    /// The OpenPGP verdict decided at intake.
    Verdict,
    /// A later re-evaluation with the keys of that day; the intake verdict stays.
    Reverified,
    /// An outgoing mail kept back, never sent in plaintext.
    Held,
    /// A handler let an outgoing mail kept for release go out.
    Released,
    /// An operator sent a failed outgoing mail back to the queue.
    Retried,
    /// An operator withdrew an outgoing mail; it is never sent.
    Cancelled,
    /// The ticket's TLP was raised by a label in a report.
    Tlp,
    /// One row of a machine-readable report (a Shadowserver CSV line).
    ReportRow,
    /// The RSIT classification was set or changed.
    Classified,
    /// A notification was queued: to handlers (a new ticket, a forward, a
    /// warning) or to a constituent's contact.
    Notified,
    /// A handler's reply went out to the requestors.
    Relayed,
    /// An internal note (mail to the comment address).
    Note,
    /// A command by mail was executed (or refused).
    Command,
    /// A legal hold was put on or taken off the ticket (`/hold`, `/unhold`).
    Hold,
    /// Retention removed the ticket's mail and personal data; a tombstone stays.
    Purged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Received => "received",
            EventKind::Duplicate => "duplicate",
            EventKind::Acked => "acked",
            EventKind::AckSuppressed => "ack-suppressed",
            EventKind::StatusChange => "status-change",
            EventKind::Warning => "warning",
            EventKind::Sent => "sent",
            EventKind::SendFailed => "send-failed",
            EventKind::Verdict => "verdict",
            EventKind::Reverified => "reverified",
            EventKind::Held => "held",
            EventKind::Released => "released",
            EventKind::Retried => "retried",
            EventKind::Cancelled => "cancelled",
            EventKind::Tlp => "tlp",
            EventKind::ReportRow => "report-row",
            EventKind::Classified => "classified",
            EventKind::Notified => "notified",
            EventKind::Relayed => "relayed",
            EventKind::Note => "note",
            EventKind::Command => "command",
            EventKind::Hold => "hold",
            EventKind::Purged => "purged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: EventKind,
    pub detail: String,
}

impl Event {
    pub fn new(at: OffsetDateTime, kind: EventKind, detail: impl Into<String>) -> Self {
        Event {
            at,
            kind,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// A reporter's or our own address, lower-cased for comparison. Display
/// names are never used for decisions: they are free text chosen by the sender.
pub fn normalize_address(addr: &str) -> String {
    addr.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

/// Angle brackets and surrounding whitespace are transport syntax, not part of
/// the identifier; clients differ in whether they keep them.
pub fn normalize_message_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_id_round_trips_and_sorts_by_key() {
        let a = TicketId::new(2026, 42);
        assert_eq!(a.to_string(), "2026-00042");
        assert_eq!("2026-00042".parse::<TicketId>().unwrap(), a);
        assert_eq!("[CERT-EX #2026-00042]".parse::<TicketId>().unwrap(), a);
        assert_eq!(" #2026-42 ".parse::<TicketId>().unwrap(), a);
        assert_eq!(TicketId::from_key(&a.to_key()), Some(a));
        let b = TicketId::new(2026, 100_000);
        assert_eq!(b.to_string(), "2026-100000");
        assert!(a.to_key() < b.to_key());
        assert!(TicketId::new(2025, 99_999).to_key() < a.to_key());
    }

    #[test]
    fn ticket_id_rejects_junk() {
        for s in [
            "",
            "2026",
            "26-00042",
            "2026-",
            "2026-abc",
            "2026-00000",
            "x2026-1",
        ] {
            assert!(s.parse::<TicketId>().is_err(), "{s} should not parse");
        }
    }

    #[test]
    fn tag_format() {
        assert_eq!(
            TicketId::new(2026, 42).tag("CERT-EX"),
            "[CERT-EX #2026-00042]"
        );
    }

    #[test]
    fn message_id_normalization() {
        assert_eq!(normalize_message_id(" <abc@x> "), "abc@x");
        assert_eq!(
            normalize_address("<Alice@Example.ORG>"),
            "alice@example.org"
        );
    }
}

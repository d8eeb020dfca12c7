//! Key layouts. Big-endian integers so that sled's byte order is numeric
//! order and a ticket's messages and events are one prefix scan.

use crate::model::TicketId;

pub(crate) fn ticket_counter_key(year: u16) -> Vec<u8> {
    format!("ticket/{year:04}").into_bytes()
}

pub(crate) const MESSAGE_COUNTER: &[u8] = b"message";
pub(crate) const EVENT_COUNTER: &[u8] = b"event";
pub(crate) const OUTBOX_COUNTER: &[u8] = b"outbox";

pub(crate) fn read_u64(v: Option<&[u8]>) -> u64 {
    v.and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// Ticket key followed by a store-wide sequence number.
pub(crate) fn ticket_seq_key(ticket: TicketId, seq: u64) -> [u8; 14] {
    let mut k = [0u8; 14];
    k[..6].copy_from_slice(&ticket.to_key());
    k[6..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn split_message_key(k: &[u8]) -> Option<(TicketId, u64)> {
    if k.len() != 14 {
        return None;
    }
    let ticket = TicketId::from_key(&k[..6])?;
    let seq = u64::from_be_bytes(k[6..14].try_into().ok()?);
    Some((ticket, seq))
}

/// Due time (Unix milliseconds) then outbox ID: a range scan up to "now"
/// yields exactly the entries whose retry time has come, oldest first.
pub(crate) fn due_key(at_ms: i64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&(at_ms.max(0) as u64).to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

pub(crate) fn due_key_id(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.get(8..16)?.try_into().ok()?))
}

pub(crate) fn unix_ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

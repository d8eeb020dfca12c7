//! A count of the outbox by state and the size of the store, for the
//! metrics, the readiness check and the summary line. Read-only; reads
//! only the fields it needs of each entry.

use super::records::OutboxState;
use super::*;
use serde::Deserialize;

/// Every outbox state, in the order of [`OutboxCensus::counts`].
pub const OUTBOX_STATES: [OutboxState; 7] = [
    OutboxState::Queued,
    OutboxState::Sent,
    OutboxState::Failed,
    OutboxState::Held,
    OutboxState::Sealing,
    OutboxState::AwaitingRelease,
    OutboxState::Cancelled,
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCensus {
    /// Entries per state, in the order of [`OUTBOX_STATES`].
    pub counts: [u64; OUTBOX_STATES.len()],
    /// When the oldest queued entry was created.
    pub oldest_queued: Option<OffsetDateTime>,
    /// When the oldest queued entry that has failed at least once (and
    /// waits for its retry) was created.
    pub oldest_retrying: Option<OffsetDateTime>,
}

impl OutboxCensus {
    pub fn count(&self, state: OutboxState) -> u64 {
        OUTBOX_STATES
            .iter()
            .position(|s| *s == state)
            .and_then(|i| self.counts.get(i))
            .copied()
            .unwrap_or(0)
    }
}

/// The fields of an outbox record the census reads; serde skips the rest.
#[derive(Deserialize)]
struct Light {
    state: OutboxState,
    attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl Store {
    pub fn outbox_census(&self) -> Result<OutboxCensus> {
        let mut c = OutboxCensus::default();
        for item in self.trees[T_OUTBOX].iter() {
            let (_, v) = item?;
            let rec: Light = decode(&v, "outbox")?;
            if let Some(i) = OUTBOX_STATES.iter().position(|s| *s == rec.state) {
                c.counts[i] += 1;
            }
            if rec.state == OutboxState::Queued {
                let older = |t: Option<OffsetDateTime>| t.is_none_or(|t| rec.created_at < t);
                if older(c.oldest_queued) {
                    c.oldest_queued = Some(rec.created_at);
                }
                if rec.attempts > 0 && older(c.oldest_retrying) {
                    c.oldest_retrying = Some(rec.created_at);
                }
            }
        }
        Ok(c)
    }

    /// Bytes the store takes on disk, as sled counts them.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
}

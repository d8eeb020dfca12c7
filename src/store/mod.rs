//! The only module that knows sled. Its API is narrow on purpose: apply a
//! commit, look things up, move outbox entries through their states.

mod ack_totals;
pub mod advisory;
pub mod backup;
pub mod bulk;
pub mod census;
mod commit;
pub mod compact;
pub mod digest;
pub mod grouped;
mod imap_state;
pub mod index;
mod keys;
mod labels;
mod outbox;
mod outbox_control;
pub mod purge;
mod runs;
pub mod schema;
mod sealing;
pub mod signatures;
mod snapshot_repair;
pub mod summary;
pub use outbox::{Attempt, Later};
pub mod records;
pub mod reports;

pub use commit::{Commit, CommitResult, NewMessage, NewOutbox};
pub use imap_state::ImapState;
pub use records::{MessageRecord, OutboxRecord, OutboxState, RefusedRecipient, TicketRecord};
pub use sealing::SealedEntry;

use crate::model::{Event, Status, TicketId};
use crate::workflow::ack_rate::AckHistory;
use keys::*;
use std::path::Path;
use time::OffsetDateTime;

/// Bumped when the on-disk layout changes; a store written by a newer
/// csirtd is refused rather than misread. 2: the correlation index is kept
/// in sorted runs (store/runs.rs), which a csirtd of version 1 would not
/// search. 3: machine-report rows are one record per report and ticket
/// (reports.rs), which a csirtd of version 2 would not show. 4: the
/// ticket list's index (summary.rs), which a csirtd of version 3 would not
/// keep up to date.
pub const SCHEMA_VERSION: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {path} is in use by another csirtd process (is `csirtd run` active?); try again later or stop the daemon")]
    Locked { path: String },
    #[error("cannot open the store at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("the store at {path} has schema version {found}, written by a newer csirtd; this csirtd ({}) understands up to {SCHEMA_VERSION}: install the newer csirtd again, or restore a backup made before the upgrade", env!("CARGO_PKG_VERSION"))]
    Schema { path: String, found: u32 },
    #[error("the store at {path} has schema version {found}; this csirtd writes version {SCHEMA_VERSION}: stop the daemon and run `csirtd migrate` (it makes a backup first), then start again")]
    NeedsMigration { path: String, found: u32 },
    #[error("store I/O error: {0}")]
    Sled(#[from] sled::Error),
    #[error("store record {what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    /// Errors after which the same operation may succeed later (an MTA
    /// should retry rather than bounce).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            StoreError::Locked { .. }
                | StoreError::Sled(sled::Error::Io(_))
                | StoreError::Open { .. }
        )
    }
}

impl StoreError {
    /// The store's schema does not fit this csirtd: a configuration matter
    /// for the operator (exit 78), not something a retry mends.
    pub fn is_schema(&self) -> bool {
        matches!(
            self,
            StoreError::Schema { .. } | StoreError::NeedsMigration { .. }
        )
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Tree order inside a transaction view; see [`Store::trees`].
pub(crate) const T_META: usize = 0;
pub(crate) const T_COUNTERS: usize = 1;
pub(crate) const T_TICKETS: usize = 2;
pub(crate) const T_MESSAGES: usize = 3;
pub(crate) const T_RAW: usize = 4;
pub(crate) const T_MSGID: usize = 5;
pub(crate) const T_SHA: usize = 6;
pub(crate) const T_EVENTS: usize = 7;
pub(crate) const T_OUTBOX: usize = 8;
pub(crate) const T_OUTBOX_DUE: usize = 9;
pub(crate) const T_ACK_RATE: usize = 10;
pub(crate) const T_IND_IP: usize = 11;
pub(crate) const T_IND_TERM: usize = 12;
pub(crate) const T_GROUPS: usize = 13;
pub(crate) const T_ADVISORIES: usize = 14;
pub(crate) const T_IND_PENDING: usize = 15;
pub(crate) const T_REPORTS: usize = 16;
pub(crate) const T_SUMMARY: usize = 17;
pub(crate) const T_BY_UPDATE: usize = 18;
const TREE_NAMES: [&str; 19] = [
    "meta",
    "counters",
    "tickets",
    "messages",
    "raw",
    "message_ids",
    "sha256",
    "events",
    "outbox",
    "outbox_due",
    "ack_rate",
    // Issue 6: the correlation index of stores from before the sorted
    // runs (read, no longer written; see index.rs) and report groups.
    "indicator_ips",
    "indicator_terms",
    "report_groups",
    // Issue 5: advisories and their recipients.
    "advisories",
    // Index entries committed with their message, not yet sorted into a
    // run (see index.rs and runs.rs).
    "indicator_pending",
    // Issue 13: machine-report rows, one compact record per report.
    "report_rows",
    // Issue 16: the ticket list's index (summary.rs).
    "ticket_summaries",
    "tickets_by_update",
];
/// Not among [`TREE_NAMES`], so that the commit transactions, which span
/// all of those, neither lock nor wait for it.
const IMAP_STATE_TREE: &str = "imap_state";
/// The correlation index's sorted runs (runs.rs); outside the commit
/// transactions for the same reason.
const INDEX_RUNS_TREE: &str = "indicator_runs";

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    imap_state: sled::Tree,
    runs: sled::Tree,
    /// Serialises read-decide-commit sequences: the pipeline and operator
    /// commands read a ticket, then write it whole, and must not interleave.
    writer: std::sync::Arc<std::sync::Mutex<()>>,
    /// One index merge step at a time (each rewrites the run manifest).
    index_merge: std::sync::Arc<std::sync::Mutex<()>>,
    /// Searches read the index under it; a merge step takes it alone while
    /// entries change place (records to a run, runs to a merged run).
    index_view: std::sync::Arc<std::sync::RwLock<()>>,
    orphans_checked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Domain and global acknowledgement counts (see `ack_totals`).
    ack_totals: std::sync::Arc<std::sync::Mutex<Option<ack_totals::AckTotals>>>,
}

impl Store {
    /// Opens the store to read and write. A fresh store gets the schema
    /// mark; an older one is refused until `csirtd migrate` has run.
    pub fn open(path: &Path, cache_mb: u64) -> Result<Store> {
        Store::open_as(path, cache_mb, schema::Access::Write)
    }

    /// Opens the store for commands that only read: an older schema is
    /// read as it is, and nothing, not even the schema mark, is written.
    pub fn open_read_only(path: &Path, cache_mb: u64) -> Result<Store> {
        Store::open_as(path, cache_mb, schema::Access::Read)
    }

    /// Opens a store of any schema this csirtd understands, for `migrate`.
    pub fn open_for_migration(path: &Path, cache_mb: u64) -> Result<Store> {
        Store::open_as(path, cache_mb, schema::Access::Migrate)
    }

    fn open_as(path: &Path, cache_mb: u64, access: schema::Access) -> Result<Store> {
        let shown = path.display().to_string();
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        // A compaction cut short by a crash is finished or undone first.
        if let Err(e) = compact::recover(path) {
            tracing::warn!(store = %shown, "could not finish an interrupted compaction: {e}");
        }
        match snapshot_repair::remove_torn_snapshots(path) {
            Ok(removed) => {
                for file in removed {
                    tracing::warn!(
                        file = %file.display(),
                        "removed a snapshot sled left half-written when it was killed; the store is recovered from the previous snapshot and its log"
                    );
                }
            }
            // sled's own open below gives the precise reason, if any.
            Err(e) => {
                tracing::warn!(store = %shown, "could not check the store for torn snapshots: {e}")
            }
        }
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
            // Durability is ours to decide: flush() after each group commit.
            .flush_every_ms(None)
            .open()
            .map_err(|e| {
                let locked = matches!(&e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"));
                if locked {
                    StoreError::Locked { path: shown.clone() }
                } else {
                    StoreError::Open { path: shown.clone(), source: e }
                }
            })?;
        let trees = TREE_NAMES
            .iter()
            .map(|n| db.open_tree(n))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let imap_state = db.open_tree(IMAP_STATE_TREE)?;
        let runs = db.open_tree(INDEX_RUNS_TREE)?;
        let store = Store {
            db,
            trees,
            imap_state,
            runs,
            writer: Default::default(),
            index_merge: Default::default(),
            index_view: Default::default(),
            orphans_checked: Default::default(),
            ack_totals: Default::default(),
        };
        store.check_schema(&shown, access)?;
        Ok(store)
    }

    /// Held across a read-decide-commit sequence by whoever writes tickets.
    pub fn write_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding it leaves no partial state (commits are
        // transactions), so a poisoned lock is safe to take over.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn trees(&self) -> &[sled::Tree] {
        &self.trees
    }

    /// Makes everything committed so far durable. Sources are told a message
    /// is done only after this returns.
    pub fn flush(&self) -> Result<()> {
        flush_log(&self.db)
    }

    /// The ID the next new ticket of `year` will get. Safe because a single
    /// pipeline task writes; the commit re-checks it.
    pub fn next_ticket_id(&self, year: u16) -> Result<TicketId> {
        let last = read_u64(
            self.trees[T_COUNTERS]
                .get(ticket_counter_key(year))?
                .as_deref(),
        );
        let seq = u32::try_from(last + 1)
            .map_err(|_| StoreError::Conflict(format!("ticket sequence for {year} exhausted")))?;
        Ok(TicketId::new(year, seq))
    }

    pub fn ticket(&self, id: TicketId) -> Result<Option<TicketRecord>> {
        match self.trees[T_TICKETS].get(id.to_key())? {
            Some(v) => Ok(Some(decode(&v, "ticket")?)),
            None => Ok(None),
        }
    }

    pub fn tickets(&self, status: Option<Status>) -> Result<Vec<TicketRecord>> {
        let mut out = Vec::new();
        for item in self.trees[T_TICKETS].iter() {
            let (_, v) = item?;
            let t: TicketRecord = decode(&v, "ticket")?;
            if status.is_none_or(|s| s == t.status) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The ticket and message a Message-ID belongs to, incoming or outgoing.
    pub fn message_by_id(&self, message_id: &str) -> Result<Option<(TicketId, u64)>> {
        Ok(self.trees[T_MSGID]
            .get(message_id.as_bytes())?
            .and_then(|v| split_message_key(&v)))
    }

    /// The first message stored with this content hash
    /// (`MessageRecord::content_sha256`) that was not the first under its
    /// Message-ID: the first is found through `message_by_id`.
    pub fn message_by_content(&self, content_sha: &str) -> Result<Option<(TicketId, u64)>> {
        Ok(self.trees[T_SHA]
            .get(content_key(content_sha))?
            .and_then(|v| split_message_key(&v)))
    }

    pub fn message(&self, ticket: TicketId, seq: u64) -> Result<Option<MessageRecord>> {
        match self.trees[T_MESSAGES].get(ticket_seq_key(ticket, seq))? {
            Some(v) => Ok(Some(decode(&v, "message")?)),
            None => Ok(None),
        }
    }

    pub fn message_by_sha(&self, sha: &[u8; 32]) -> Result<Option<(TicketId, u64)>> {
        Ok(self.trees[T_SHA]
            .get(sha)?
            .and_then(|v| split_message_key(&v)))
    }

    pub fn messages(&self, id: TicketId) -> Result<Vec<MessageRecord>> {
        let mut out = Vec::new();
        for item in self.trees[T_MESSAGES].scan_prefix(id.to_key()) {
            let (_, v) = item?;
            out.push(decode(&v, "message")?);
        }
        Ok(out)
    }

    pub fn events(&self, id: TicketId) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        for item in self.trees[T_EVENTS].scan_prefix(id.to_key()) {
            let (_, v) = item?;
            out.push(decode(&v, "event")?);
        }
        Ok(out)
    }

    pub fn raw(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.trees[T_RAW]
            .get(seq.to_be_bytes())?
            .map(|v| v.to_vec()))
    }

    /// The acknowledgements counted under `key` (a mailbox, a domain, or
    /// all; see `workflow::ack_rate`) within the window ending at `now`.
    pub fn ack_history(
        &self,
        key: &str,
        now: OffsetDateTime,
        window_secs: u64,
    ) -> Result<AckHistory> {
        if ack_totals::is_total_key(key) {
            let total = self.ack_total(key, now.unix_timestamp(), window_secs)?;
            return Ok(total.within(now.unix_timestamp(), window_secs));
        }
        let history = match self.trees[T_ACK_RATE].get(key.as_bytes())? {
            Some(v) => AckHistory::decode(&v, window_secs).ok_or_else(|| StoreError::Corrupt {
                what: format!("ack_rate/{key}"),
                detail: "neither buckets nor a list of timestamps".into(),
            })?,
            None => AckHistory::default(),
        };
        Ok(history.within(now.unix_timestamp(), window_secs))
    }

    pub fn ticket_count(&self) -> usize {
        self.trees[T_TICKETS].len()
    }
}

/// Flushes sled, then hands this thread's deferred garbage on (issue 18).
///
/// sled frees the log buffer (512 KiB) it replaces only through
/// crossbeam-epoch's deferred garbage, kept in a bag of 64 per thread and
/// handed on only when that bag is full. A flush seals the buffer it finds,
/// so a thread that does little but flush (the sender's, on tokio's
/// blocking pool) filled its bag one buffer per flush: up to 32 MiB per
/// thread were held after they were written, the daemon's RSS peaks (a
/// 30,000-report drain held 40 MiB of them at times; 0-2 MiB with this).
/// `Guard::flush` hands the bag to the global queue and frees what no
/// thread can still see.
pub(crate) fn flush_log(db: &sled::Db) -> Result<()> {
    db.flush()?;
    crossbeam_epoch::pin().flush();
    Ok(())
}

/// Content hashes share the tree of raw SHA-256s: those keys are 32 bytes,
/// these are longer.
pub(crate) fn content_key(content_sha: &str) -> Vec<u8> {
    format!("content:{content_sha}").into_bytes()
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs to JSON cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

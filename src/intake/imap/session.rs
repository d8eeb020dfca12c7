//! One connection's life: SELECT and the UIDVALIDITY check, then rounds of
//! carrying out dispositions, scanning for new UIDs, fetching bodies, and
//! waiting (IDLE or polling) until the server or the intake has news.

use super::connect::{within, Session};
use super::tracker::{uid_sets, Batch, Start, Tracker};
use super::{Command, ImapError};
use crate::config::{ImapAfter, ImapConfig};
use crate::intake::{Disposition, Origin, RawMessage, Wakeup};
use crate::store::Store;
use async_imap::types::UnsolicitedResponse;
use futures_util::{Stream, StreamExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_rustls::rustls;

/// Bytes fetched with one command, so that a backlog of large messages
/// does not sit in memory all at once.
const FETCH_BUDGET: u64 = 64 * 1024 * 1024;
/// Ranges per UID set: keeps command lines far below server limits.
const MAX_RANGES: usize = 500;

pub struct Setup {
    pub acct: ImapConfig,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub max_size: u64,
    pub store: Store,
    pub out: mpsc::Sender<RawMessage>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub shutdown: watch::Receiver<bool>,
    pub caught_up: Arc<AtomicBool>,
    pub wake: Wakeup,
    /// Most messages handed out and not yet done.
    pub capacity: usize,
    /// For the metrics and the summary line.
    pub status: Arc<super::status::AccountStatus>,
}

/// State that outlives a connection.
pub struct Worker {
    pub(super) s: Setup,
    /// Key of the folder's state in the store.
    key: String,
    pub(super) commands_open: bool,
    pub(super) tracker: Tracker,
    warned_no_move: bool,
    /// When UIDVALIDITY was last looked at while waiting.
    pub(super) uidvalidity_checked: std::time::Instant,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Caps {
    pub(super) idle: bool,
    mv: bool,
    uidplus: bool,
}

impl Worker {
    pub fn new(s: Setup) -> Worker {
        Worker {
            key: format!("{}/{}", s.acct.name, s.acct.folder),
            s,
            commands_open: true,
            tracker: Tracker::default(),
            warned_no_move: false,
            uidvalidity_checked: std::time::Instant::now(),
        }
    }

    pub fn acct(&self) -> &ImapConfig {
        &self.s.acct
    }

    pub fn tls(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.s.tls.as_ref()
    }

    pub(super) fn limit(&self) -> Duration {
        Duration::from_secs(self.s.acct.timeout_secs)
    }

    /// The daemon is stopping, or the intake is gone (`run --drain` done):
    /// fetch nothing more.
    pub fn stopping(&self) -> bool {
        *self.s.shutdown.borrow() || !self.commands_open
    }

    /// Nothing is left that a connection could still do.
    fn finished(&self) -> bool {
        !self.commands_open && !self.tracker.has_pending()
    }

    pub fn status(&self) -> &super::status::AccountStatus {
        &self.s.status
    }

    pub fn shutdown(&mut self) -> &mut watch::Receiver<bool> {
        &mut self.s.shutdown
    }

    pub(super) fn command(&mut self, c: Command) {
        match c {
            Command::Done {
                uidvalidity,
                uid,
                disposition,
            } => {
                if !self.tracker.done(uidvalidity, uid, disposition) {
                    tracing::debug!(account = %self.s.acct.name, uid, uidvalidity, "disposition for a UID of an earlier UIDVALIDITY; ignored");
                }
            }
            Command::Release { uidvalidity, uid } => {
                self.tracker.release(uidvalidity, uid);
            }
        }
    }

    pub fn drain_commands(&mut self) {
        loop {
            match self.s.commands.try_recv() {
                Ok(c) => self.command(c),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.commands_open = false;
                    break;
                }
            }
        }
    }

    /// Serves one connection until shutdown (Ok) or until it fails.
    pub async fn serve(&mut self, mut s: Session) -> Result<(), ImapError> {
        let limit = self.limit();
        let caps = within(limit, "CAPABILITY", s.capabilities()).await?;
        let caps = Caps {
            idle: caps.has_str("IDLE"),
            mv: caps.has_str("MOVE"),
            uidplus: caps.has_str("UIDPLUS"),
        };
        self.ensure_folders(&mut s).await?;
        let folder = self.s.acct.folder.clone();
        let mailbox = within(limit, "SELECT", s.select(&folder)).await?;
        let Some(uidvalidity) = mailbox.uid_validity else {
            return Err(ImapError::Folder {
                folder,
                problem: "the server sent no UIDVALIDITY".into(),
            });
        };
        let stored = match self.s.store.imap_state(&self.key) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(account = %self.s.acct.name, error = %e, "cannot read the folder's UID state; scanning the whole folder");
                None
            }
        };
        let name = self.s.acct.name.clone();
        match self.tracker.start(uidvalidity, stored) {
            Start::Fresh => {
                tracing::info!(account = %name, %folder, uidvalidity, "first visit of this folder: every message in it is taken")
            }
            Start::Resume { last_uid } => {
                tracing::info!(account = %name, %folder, uidvalidity, last_uid, "resuming after the last processed UID")
            }
            Start::Changed { old, new } => tracing::warn!(
                account = %name, %folder, old, new,
                "UIDVALIDITY changed (folder recreated or restored): rescanning the whole folder; duplicates are recognised by Message-ID and SHA-256"
            ),
            Start::Reconnected => {}
        }
        tracing::info!(account = %name, %folder, exists = mailbox.exists, idle = caps.idle && self.s.acct.idle, "IMAP folder selected");
        self.persist();
        loop {
            self.drain_commands();
            self.apply(&mut s, caps).await?;
            self.persist();
            if self.stopping() {
                if self.finished() {
                    let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
                    return Ok(());
                }
                // The intake hands back the batch in hand, then drops us.
                match self.s.commands.recv().await {
                    Some(c) => self.command(c),
                    None => self.commands_open = false,
                }
                continue;
            }
            if self.fetch_round(&mut s).await? {
                continue;
            }
            self.s.status.set(super::status::Link::Idle);
            s = self.wait(s, caps).await?;
            self.s.status.set(super::status::Link::Connected);
        }
    }

    fn persist(&mut self) {
        if let Some(state) = self.tracker.state_to_save() {
            if let Err(e) = self.s.store.set_imap_state(&self.key, state) {
                tracing::error!(account = %self.s.acct.name, error = %e, "cannot store the folder's UID state; a restart rescans from the last stored UID");
            }
        }
    }

    /// Creates the processed and quarantine folders when missing, so that
    /// the first MOVE does not fail.
    async fn ensure_folders(&mut self, s: &mut Session) -> Result<(), ImapError> {
        let limit = self.limit();
        let mut wanted = vec![self.s.acct.quarantine_folder.clone()];
        if self.s.acct.after == ImapAfter::Move {
            wanted.push(self.s.acct.processed_folder.clone());
        }
        for folder in wanted {
            let pattern = quoted(&folder);
            let names = {
                let stream = within(limit, "LIST", s.list(Some(""), Some(&pattern))).await?;
                collect(limit, "LIST", stream).await?
            };
            if names.iter().any(|n| n.name() == folder) {
                continue;
            }
            match within(limit, "CREATE", s.create(&folder)).await {
                Ok(()) => {
                    tracing::info!(account = %self.s.acct.name, %folder, "created folder");
                    let _ = within(limit, "SUBSCRIBE", s.subscribe(&folder)).await;
                }
                Err(e) if e.is_refusal() => {
                    tracing::warn!(account = %self.s.acct.name, %folder, error = %e, "cannot create folder; moving mail there will fail until it exists")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Moves or flags what the intake is done with.
    async fn apply(&mut self, s: &mut Session, caps: Caps) -> Result<(), ImapError> {
        let mut groups = self.tracker.take_pending().into_iter();
        while let Some((disposition, uids)) = groups.next() {
            let (folder, result) = match (disposition, self.s.acct.after) {
                (Disposition::Processed, ImapAfter::Seen) => (
                    "\\Seen".to_string(),
                    self.add_flag(s, &uids, "\\Seen").await,
                ),
                (Disposition::Processed, ImapAfter::Move) => {
                    let f = self.s.acct.processed_folder.clone();
                    let r = self.move_to(s, caps, &uids, &f).await;
                    (f, r)
                }
                (Disposition::Quarantine, _) => {
                    let f = self.s.acct.quarantine_folder.clone();
                    let r = self.move_to(s, caps, &uids, &f).await;
                    (f, r)
                }
            };
            match result {
                Ok(()) => {
                    tracing::debug!(account = %self.s.acct.name, count = uids.len(), to = %folder, "messages let go of")
                }
                Err(e) if e.is_refusal() => {
                    tracing::error!(
                        account = %self.s.acct.name, uids = %uid_sets(&uids, usize::MAX).join(","), to = %folder, error = %e,
                        "stored, but the server refused to move or flag them; they stay in the folder and are tried again after reconnecting"
                    );
                    self.tracker.stuck(disposition, &uids);
                }
                Err(e) => {
                    self.tracker.requeue(disposition, &uids);
                    for (d, rest) in groups {
                        self.tracker.requeue(d, &rest);
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn move_to(
        &mut self,
        s: &mut Session,
        caps: Caps,
        uids: &[u32],
        folder: &str,
    ) -> Result<(), ImapError> {
        let limit = self.limit();
        if !caps.mv && !caps.uidplus && !self.warned_no_move {
            self.warned_no_move = true;
            tracing::warn!(
                account = %self.s.acct.name, %folder,
                "the server has neither MOVE nor UIDPLUS: messages are copied and flagged \\Seen, and the originals stay (a plain EXPUNGE could delete other clients' mail)"
            );
        }
        for set in uid_sets(uids, MAX_RANGES) {
            if caps.mv {
                within(limit, "UID MOVE", s.uid_mv(&set, folder)).await?;
            } else if caps.uidplus {
                // UID EXPUNGE removes only these UIDs, never another
                // client's \Deleted mail.
                within(limit, "UID COPY", s.uid_copy(&set, folder)).await?;
                store_flag(s, limit, &set, "\\Deleted").await?;
                let stream = within(limit, "UID EXPUNGE", s.uid_expunge(&set)).await?;
                collect(limit, "UID EXPUNGE", Box::pin(stream)).await?;
            } else {
                within(limit, "UID COPY", s.uid_copy(&set, folder)).await?;
                store_flag(s, limit, &set, "\\Seen").await?;
            }
        }
        Ok(())
    }

    async fn add_flag(
        &mut self,
        s: &mut Session,
        uids: &[u32],
        flag: &str,
    ) -> Result<(), ImapError> {
        let limit = self.limit();
        for set in uid_sets(uids, MAX_RANGES) {
            store_flag(s, limit, &set, flag).await?;
        }
        Ok(())
    }

    /// Hands out one batch if there is room. True if there may be more to
    /// do at once; false when it is time to wait.
    async fn fetch_round(&mut self, s: &mut Session) -> Result<bool, ImapError> {
        let room = self.s.capacity.saturating_sub(self.tracker.in_flight());
        if room == 0 {
            return Ok(false);
        }
        if !self.tracker.has_backlog() {
            // What MOVE and STORE answered (EXPUNGE…) is old news; what
            // arrives during the scan may not be in its result.
            discard_unsolicited(s);
            self.scan(s).await?;
            if !self.tracker.has_backlog() {
                if saw_new_mail(s) {
                    return Ok(true);
                }
                self.s.caught_up.store(true, Ordering::Release);
                return Ok(false);
            }
        }
        let batch = self.tracker.next_batch(
            room.min(self.s.acct.batch),
            FETCH_BUDGET.max(self.s.max_size),
            self.s.max_size,
        );
        self.fetch(s, batch).await?;
        Ok(true)
    }

    /// Lists the UIDs (and sizes) above the last one seen.
    async fn scan(&mut self, s: &mut Session) -> Result<(), ImapError> {
        let Some(from) = self.tracker.scan_from() else {
            return Ok(());
        };
        let limit = self.limit();
        let stream = within(
            limit,
            "UID FETCH (scan)",
            s.uid_fetch(format!("{from}:*"), "(UID RFC822.SIZE)"),
        )
        .await?;
        let fetches = collect(limit, "UID FETCH (scan)", stream).await?;
        let mut highest = 0;
        for f in fetches {
            let Some(uid) = f.uid else { continue };
            highest = highest.max(uid);
            self.tracker.listed(uid, f.size.unwrap_or(0));
        }
        self.tracker.scanned_to(highest);
        self.s.status.polled_now();
        Ok(())
    }

    async fn fetch(&mut self, s: &mut Session, batch: Batch) -> Result<(), ImapError> {
        let name = self.s.acct.name.clone();
        for (uid, size) in &batch.refused {
            tracing::error!(
                account = %name, uid, size, limit = self.s.max_size, to = %self.s.acct.quarantine_folder,
                "refused: message exceeds limits.max_stored_size; moved to the quarantine folder, not stored"
            );
        }
        if batch.fetch.is_empty() {
            return Ok(());
        }
        self.s.caught_up.store(false, Ordering::Release);
        let Some(uidvalidity) = self.tracker.uidvalidity() else {
            return Ok(());
        };
        let limit = self.limit();
        let wanted: std::collections::BTreeSet<u32> = batch.fetch.iter().copied().collect();
        let mut got = std::collections::BTreeSet::new();
        for set in uid_sets(&batch.fetch, MAX_RANGES) {
            let stream = within(
                limit,
                "UID FETCH",
                s.uid_fetch(&set, "(UID RFC822.SIZE BODY.PEEK[])"),
            )
            .await?;
            let fetches = collect(limit, "UID FETCH", stream).await?;
            for f in fetches {
                // Unsolicited FETCH responses (flag changes by other
                // clients) carry no body.
                let (Some(uid), Some(body)) = (f.uid, f.body()) else {
                    continue;
                };
                if !wanted.contains(&uid) || !got.insert(uid) {
                    continue;
                }
                if body.len() as u64 > self.s.max_size {
                    tracing::error!(
                        account = %name, uid, size = body.len(), limit = self.s.max_size, to = %self.s.acct.quarantine_folder,
                        "refused: message exceeds limits.max_stored_size (the server understated its size); moved to the quarantine folder, not stored"
                    );
                    self.tracker.refused(uid);
                    continue;
                }
                let msg = RawMessage {
                    bytes: body.to_vec(),
                    origin: Origin::Imap {
                        account: name.clone(),
                        folder: self.s.acct.folder.clone(),
                        uidvalidity,
                        uid,
                    },
                };
                self.tracker.handed_out(uid);
                if self.s.out.try_send(msg).is_err() {
                    // Full cannot happen (capacity bounds what is in
                    // flight); closed means shutdown. Either way: later.
                    self.tracker.release(uidvalidity, uid);
                }
            }
        }
        for uid in wanted.difference(&got) {
            tracing::debug!(account = %name, uid, "message vanished before it was fetched (moved or deleted by another client)");
        }
        self.s.wake.notify();
        Ok(())
    }
}

async fn store_flag(
    s: &mut Session,
    limit: Duration,
    set: &str,
    flag: &str,
) -> Result<(), ImapError> {
    let query = format!("+FLAGS.SILENT ({flag})");
    let stream = within(limit, "UID STORE", s.uid_store(set, &query)).await?;
    collect(limit, "UID STORE", Box::pin(stream)).await?;
    Ok(())
}

/// Drains a response stream, each item within `limit`.
async fn collect<T, S>(
    limit: Duration,
    step: &'static str,
    mut stream: S,
) -> Result<Vec<T>, ImapError>
where
    S: Stream<Item = Result<T, async_imap::error::Error>> + Unpin,
{
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(limit, stream.next()).await {
            Ok(Some(Ok(v))) => out.push(v),
            Ok(Some(Err(e))) => return Err(ImapError::Protocol { step, source: e }),
            Ok(None) => return Ok(out),
            Err(_) => return Err(ImapError::Timeout { step, limit }),
        }
    }
}

fn discard_unsolicited(s: &mut Session) {
    while s.unsolicited_responses.try_recv().is_ok() {}
}

/// Whether the server announced new mail since the last look.
fn saw_new_mail(s: &mut Session) -> bool {
    let mut seen = false;
    while let Ok(r) = s.unsolicited_responses.try_recv() {
        if matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        ) {
            seen = true;
        }
    }
    seen
}

/// An IMAP quoted string (folder names in LIST patterns are not quoted by
/// async-imap).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

//! `csirtd backup DIR` and `csirtd restore DIR`.
//!
//! A backup is a directory: one file per sled tree (every tree, the
//! evidence and the indexes alike), each a run of length-prefixed keys and
//! values, and `manifest.json` naming them with their entry counts and
//! SHA-256. The manifest is written last, by rename: a directory without
//! one is an unfinished backup and is refused by `restore`.
//!
//! A restored store must not send again what the original may have sent
//! since the backup was made: every outbox entry that was not yet sent
//! comes back awaiting an operator's release.

use super::keys::{due_key, ticket_seq_key, unix_ms, EVENT_COUNTER};
use super::{
    encode, OutboxRecord, OutboxState, Result, Store, StoreError, T_COUNTERS, T_EVENTS, T_OUTBOX,
    T_OUTBOX_DUE,
};
use crate::model::{Event, EventKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const FORMAT: &str = "csirtd-backup/1";
const MANIFEST: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub csirtd_version: String,
    /// The store's schema mark (1 for a store that predates the mark, 0 for
    /// an empty store).
    pub schema_version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub trees: Vec<TreeFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TreeFile {
    /// The tree's name in hex: sled names are bytes.
    pub name_hex: String,
    pub file: String,
    pub entries: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} exists and is not empty; back up into a new or empty directory")]
    NotEmpty(String),
    #[error("{0} is no finished csirtd backup (no {MANIFEST}); it cannot be restored")]
    NoManifest(String),
    #[error(
        "{path} does not match its manifest: {what}; the backup is damaged, restore another one"
    )]
    Damaged { path: String, what: String },
    #[error("the store at {0} already holds data; restore only into a new store path (move the current store aside first)")]
    StoreNotEmpty(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Progress while trees are copied: (entries done, entries in all).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

impl Store {
    /// Writes a consistent copy of the whole store into `dir` (created;
    /// must be empty). Commits wait while it runs: the copy is of one
    /// moment. Outbox deliveries go on; a restore holds every unsent entry
    /// anyway.
    pub fn backup_to(
        &self,
        dir: &Path,
        now: OffsetDateTime,
        progress: Progress<'_>,
    ) -> std::result::Result<Manifest, BackupError> {
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(dir.display().to_string()));
            }
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let _writer = self.write_guard();
        self.flush()?;
        let schema_version = match self.schema_found()? {
            super::schema::Found::Fresh => 0,
            super::schema::Found::Version(v) => v,
        };
        let names = self.db.tree_names();
        let trees: Vec<sled::Tree> = names
            .iter()
            .map(|n| self.db.open_tree(n))
            .collect::<std::result::Result<_, _>>()
            .map_err(StoreError::Sled)?;
        let total: u64 = trees.iter().map(|t| t.len() as u64).sum();
        let mut done = 0u64;
        let mut files = Vec::new();
        for (i, (name, tree)) in names.iter().zip(&trees).enumerate() {
            let file = format!("tree-{i:03}.bin");
            let path = dir.join(&file);
            let f = std::fs::File::create(&path).map_err(io(&path))?;
            let mut w = BufWriter::new(f);
            let (mut entries, mut bytes, mut sha) = (0u64, 0u64, Sha256::new());
            for item in tree.iter() {
                let (k, v) = item.map_err(StoreError::Sled)?;
                for part in [k.as_ref(), v.as_ref()] {
                    let len = (part.len() as u32).to_be_bytes();
                    w.write_all(&len).map_err(io(&path))?;
                    w.write_all(part).map_err(io(&path))?;
                    sha.update(len);
                    sha.update(part);
                    bytes += 4 + part.len() as u64;
                }
                entries += 1;
                done += 1;
                if done.is_multiple_of(4096) {
                    progress(done, total);
                }
            }
            let f = w.into_inner().map_err(|e| io(&path)(e.into_error()))?;
            f.sync_all().map_err(io(&path))?;
            files.push(TreeFile {
                name_hex: hex::encode(name),
                file,
                entries,
                bytes,
                sha256: hex::encode(sha.finalize()),
            });
        }
        progress(done, total);
        let manifest = Manifest {
            format: FORMAT.into(),
            csirtd_version: env!("CARGO_PKG_VERSION").into(),
            schema_version,
            created_at: now,
            trees: files,
        };
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| io(&tmp)(e.into()))?;
        std::fs::write(&tmp, json).map_err(io(&tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
        let final_path = dir.join(MANIFEST);
        std::fs::rename(&tmp, &final_path).map_err(io(&final_path))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(manifest)
    }
}

/// Reads and checks a backup's manifest and every file's count and hash,
/// before anything is written.
pub fn verify(dir: &Path) -> std::result::Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::NoManifest(dir.display().to_string()))
        }
        Err(e) => return Err(io(&path)(e)),
    };
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| BackupError::Damaged {
        path: path.display().to_string(),
        what: e.to_string(),
    })?;
    if manifest.format != FORMAT {
        return Err(BackupError::Damaged {
            path: path.display().to_string(),
            what: format!("format {:?}, expected {FORMAT:?}", manifest.format),
        });
    }
    if manifest.schema_version > super::SCHEMA_VERSION {
        return Err(StoreError::Schema {
            path: dir.display().to_string(),
            found: manifest.schema_version,
        }
        .into());
    }
    for t in &manifest.trees {
        let (entries, sha) = read_tree(&file_of(dir, t)?, |_, _| Ok(()))?;
        if entries != t.entries || sha != t.sha256 {
            return Err(BackupError::Damaged {
                path: dir.join(&t.file).display().to_string(),
                what: format!(
                    "{entries} entries with SHA-256 {sha}, the manifest says {} with {}",
                    t.entries, t.sha256
                ),
            });
        }
    }
    Ok(manifest)
}

/// A tree file's path; only plain names inside the backup directory.
fn file_of(dir: &Path, t: &TreeFile) -> std::result::Result<PathBuf, BackupError> {
    let plain = !t.file.is_empty()
        && t.file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !t.file.starts_with('.');
    if !plain {
        return Err(BackupError::Damaged {
            path: dir.join(MANIFEST).display().to_string(),
            what: format!("tree file name {:?}", t.file),
        });
    }
    Ok(dir.join(&t.file))
}

/// Reads a tree file, handing each entry to `each`; its count and hash.
fn read_tree(
    path: &Path,
    mut each: impl FnMut(Vec<u8>, Vec<u8>) -> std::result::Result<(), BackupError>,
) -> std::result::Result<(u64, String), BackupError> {
    let f = std::fs::File::open(path).map_err(io(path))?;
    let mut r = BufReader::new(f);
    let (mut entries, mut sha) = (0u64, Sha256::new());
    let damaged = |what: &str| BackupError::Damaged {
        path: path.display().to_string(),
        what: what.into(),
    };
    loop {
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io(path)(e)),
        }
        let mut parts = Vec::with_capacity(2);
        for i in 0..2 {
            if i == 1 {
                r.read_exact(&mut len)
                    .map_err(|_| damaged("cut short inside an entry"))?;
            }
            let n = u32::from_be_bytes(len) as u64;
            let mut part = Vec::new();
            (&mut r).take(n).read_to_end(&mut part).map_err(io(path))?;
            if part.len() as u64 != n {
                return Err(damaged("cut short inside an entry"));
            }
            sha.update(len);
            sha.update(&part);
            parts.push(part);
        }
        let value = parts.pop().unwrap_or_default();
        let key = parts.pop().unwrap_or_default();
        each(key, value)?;
        entries += 1;
    }
    Ok((entries, hex::encode(sha.finalize())))
}

/// What a restore did.
#[derive(Debug, Default)]
pub struct Restored {
    pub entries: u64,
    /// Outbox entries not sent at the backup, now awaiting release.
    pub held: Vec<u64>,
}

/// Restores the backup in `dir` into a new store at `store_path`, then
/// holds every outbox entry that had not been sent.
pub fn restore(
    dir: &Path,
    store_path: &Path,
    cache_mb: u64,
    now: OffsetDateTime,
    progress: Progress<'_>,
) -> std::result::Result<Restored, BackupError> {
    let manifest = verify(dir)?;
    let holds_data = std::fs::read_dir(store_path)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if holds_data {
        return Err(BackupError::StoreNotEmpty(store_path.display().to_string()));
    }
    let total: u64 = manifest.trees.iter().map(|t| t.entries).sum();
    let mut done = 0u64;
    {
        let db = sled::Config::new()
            .path(store_path)
            .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
            .flush_every_ms(None)
            .open()
            .map_err(|e| StoreError::Open {
                path: store_path.display().to_string(),
                source: e,
            })?;
        for t in &manifest.trees {
            let name = hex::decode(&t.name_hex).map_err(|e| BackupError::Damaged {
                path: dir.join(MANIFEST).display().to_string(),
                what: format!("tree name {:?}: {e}", t.name_hex),
            })?;
            let tree = db.open_tree(name).map_err(StoreError::Sled)?;
            let mut batch = sled::Batch::default();
            let mut in_batch = 0;
            read_tree(&file_of(dir, t)?, |k, v| {
                batch.insert(k, v);
                in_batch += 1;
                done += 1;
                if in_batch == 4096 {
                    tree.apply_batch(std::mem::take(&mut batch))
                        .map_err(StoreError::Sled)?;
                    in_batch = 0;
                    progress(done, total);
                }
                Ok(())
            })?;
            tree.apply_batch(batch).map_err(StoreError::Sled)?;
        }
        db.flush().map_err(StoreError::Sled)?;
        progress(done, total);
    }
    let store = Store::open_for_migration(store_path, cache_mb)?;
    let held = store.hold_unsent(dir, &manifest, now)?;
    store.flush()?;
    Ok(Restored {
        entries: done,
        held,
    })
}

impl Store {
    /// Every outbox entry not yet sent waits for an operator's release:
    /// the original store may have sent it after the backup was made.
    fn hold_unsent(
        &self,
        dir: &Path,
        manifest: &Manifest,
        now: OffsetDateTime,
    ) -> Result<Vec<u64>> {
        let entries: Vec<OutboxRecord> = self.outbox()?;
        let detail = |rec: &OutboxRecord| {
            format!(
                "<{}> to {} restored from the backup {} (made {}); it may have been sent since, so it waits for an operator's `csirtd outbox release {}`",
                rec.message_id,
                rec.to.join(", "),
                dir.display(),
                manifest
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                rec.id
            )
        };
        let mut held = Vec::new();
        for rec in entries {
            if !matches!(rec.state, OutboxState::Queued | OutboxState::Sealing) {
                continue;
            }
            let text = detail(&rec);
            let result = sled::Transactional::transaction(self.trees(), |t| {
                let mut rec = rec.clone();
                if rec.state == OutboxState::Queued {
                    t[T_OUTBOX_DUE].remove(&due_key(unix_ms(rec.next_attempt_at), rec.id))?;
                    rec.state = OutboxState::AwaitingRelease;
                } else {
                    // Signed later, then it waits (see `finish_sealing`).
                    rec.restored = true;
                }
                t[T_OUTBOX].insert(&rec.id.to_be_bytes(), encode(&rec))?;
                if rec.ticket != super::advisory::NO_TICKET {
                    let e = Event::new(now, EventKind::Held, text.clone());
                    let seq = super::commit::next(&t[T_COUNTERS], EVENT_COUNTER)?;
                    t[T_EVENTS].insert(&ticket_seq_key(rec.ticket, seq), encode(&e))?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<String>>(())
            });
            match result {
                Ok(()) => {}
                Err(sled::transaction::TransactionError::Abort(msg)) => {
                    return Err(StoreError::Conflict(msg))
                }
                Err(sled::transaction::TransactionError::Storage(e)) => {
                    return Err(StoreError::Sled(e))
                }
            }
            if rec.ticket == super::advisory::NO_TICKET {
                tracing::warn!(outbox = rec.id, "{text}");
            }
            held.push(rec.id);
        }
        Ok(held)
    }
}

//! `csirtd compact` (and after a purge): the store's live data copied
//! into fresh sled files that then replace the old ones.
//!
//! sled is log-structured: a removed or overwritten value stays in its
//! segment of the `db` file until sled rewrites that segment, which it
//! does when it sees fit, and blobs linger likewise. A purge must not
//! leave a reporter's address in the files, so the only sure way is to
//! write what is live into a new directory and swap the directories.
//!
//! Crash safety: the copy is made in `<store>.compacting`; the swap is two
//! renames, `<store>` to `<store>.before-compaction` and the copy to
//! `<store>`, after which the old directory is removed. [`recover`] finishes
//! or undoes an interrupted swap and is run before the store is opened.

use super::{Result, Store, StoreError, T_META};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Compacted {
    pub entries: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Sled(sled::Error::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    )))
}

/// Bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Finishes or undoes a compaction a crash interrupted: a copy not yet
/// swapped in is removed; a store moved aside but not replaced is put back.
pub fn recover(path: &Path) -> Result<()> {
    let copy = sibling(path, ".compacting");
    let old = sibling(path, ".before-compaction");
    if old.exists() {
        if path.exists() {
            // Swapped: only the removal of the old files was left.
            std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
        } else {
            std::fs::rename(&old, path).map_err(|e| io(path, e))?;
        }
    }
    if copy.exists() {
        std::fs::remove_dir_all(&copy).map_err(|e| io(&copy, e))?;
    }
    Ok(())
}

/// sled's own files in a store directory; anything else there (the
/// control socket of a stopped daemon aside) moves with the store.
fn is_sled_file(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs" | "control.sock") || name.starts_with("snap.")
}

/// Rewrites the store at `path` (which no process may hold) into fresh
/// files. The store must be closed by the caller.
pub fn compact(path: &Path, cache_mb: u64) -> Result<Compacted> {
    recover(path)?;
    let copy = sibling(path, ".compacting");
    let old = sibling(path, ".before-compaction");
    let bytes_before = dir_bytes(path);
    let mut entries = 0u64;
    {
        let src = open_waiting(path, cache_mb)?;
        src.flush()?;
        let dst = sled::Config::new()
            .path(&copy)
            .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
            .flush_every_ms(None)
            .open()
            .map_err(|e| StoreError::Open {
                path: copy.display().to_string(),
                source: e,
            })?;
        let meta_name = src.trees[T_META].name();
        for name in src.db.tree_names() {
            let from = src.db.open_tree(&name)?;
            let to = dst.open_tree(&name)?;
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in from.iter() {
                let (k, v) = item?;
                if name == meta_name && k.as_ref() == super::purge::COMPACT_DUE_KEY {
                    continue;
                }
                batch.insert(k, v);
                n += 1;
                entries += 1;
                if n == 4096 {
                    to.apply_batch(std::mem::take(&mut batch))?;
                    n = 0;
                }
            }
            to.apply_batch(batch)?;
        }
        dst.flush()?;
    }
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&copy, meta.permissions());
    }
    for e in std::fs::read_dir(path).map_err(|e| io(path, e))?.flatten() {
        let name = e.file_name();
        if !is_sled_file(&name.to_string_lossy()) {
            let to = copy.join(&name);
            std::fs::rename(e.path(), &to).map_err(|err| io(&to, err))?;
        }
    }
    std::fs::rename(path, &old).map_err(|e| io(&old, e))?;
    std::fs::rename(&copy, path).map_err(|e| io(path, e))?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
    Ok(Compacted {
        entries,
        bytes_before,
        bytes_after: dir_bytes(path),
    })
}

/// sled lets go of its lock file a moment after the last handle is
/// dropped: a compaction right after a purge waits for it, briefly.
fn open_waiting(path: &Path, cache_mb: u64) -> Result<Store> {
    let mut tries = 0;
    loop {
        match Store::open(path, cache_mb) {
            Err(StoreError::Locked { .. }) if tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grep(dir: &Path, needle: &[u8]) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                grep(&p, needle)
            } else {
                std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            }
        })
    }

    #[test]
    fn removed_values_leave_the_files_only_with_a_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let s = Store::open(&path, 8).unwrap();
            let t = &s.trees()[super::super::T_RAW];
            t.insert(b"a", b"secret-alice@bank.example".as_slice())
                .unwrap();
            t.insert(b"b", b"kept-value".as_slice()).unwrap();
            s.flush().unwrap();
            t.remove(b"a").unwrap();
            s.trees[T_META]
                .insert(super::super::purge::COMPACT_DUE_KEY, b"x".as_slice())
                .unwrap();
            s.flush().unwrap();
            assert!(s.compaction_due().unwrap());
        }
        assert!(
            grep(&path, b"secret-alice@bank.example"),
            "sled keeps a removed value in its log (this test shows why compaction exists)"
        );
        let done = compact(&path, 8).unwrap();
        assert!(done.entries >= 1);
        assert!(!grep(&path, b"secret-alice@bank.example"));
        assert!(!sibling(&path, ".compacting").exists());
        assert!(!sibling(&path, ".before-compaction").exists());
        let s = open_waiting(&path, 8).unwrap();
        assert_eq!(
            s.trees()[super::super::T_RAW].get(b"b").unwrap().as_deref(),
            Some(b"kept-value".as_slice())
        );
        assert!(!s.compaction_due().unwrap());
    }

    #[test]
    fn an_interrupted_swap_is_finished_or_undone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let old = sibling(&path, ".before-compaction");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("db"), b"x").unwrap();
        recover(&path).unwrap();
        assert!(path.join("db").exists() && !old.exists());
        std::fs::create_dir_all(&old).unwrap();
        std::fs::create_dir_all(sibling(&path, ".compacting")).unwrap();
        recover(&path).unwrap();
        assert!(path.exists() && !old.exists() && !sibling(&path, ".compacting").exists());
    }
}

//! Works around sled 0.34.7 taking a half-written snapshot for the real one.
//!
//! sled writes its start-up snapshot to `snap.<lsn>.generating`, fsyncs it
//! and only then renames it to `snap.<lsn>`; older snapshots are removed
//! after the rename. When the process is killed before the rename, the
//! `.generating` file stays behind, and the next open picks it as the newest
//! snapshot (it sorts after `snap.<lsn>`), finds it empty or truncated and
//! refuses the whole store as corrupt (upstream issue spacejam/sled#1527).
//! Such a file is by construction never the authoritative snapshot: the
//! previous complete one (or, with none, the log itself) still describes
//! everything that was flushed. Removing it before sled looks is therefore
//! safe, and it turns a store that would not open after an unlucky SIGKILL
//! back into a store that loses nothing.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Removes leftover `snap.*.generating` files of the store at `dir`, under
/// the same exclusive lock that sled holds while the store is open, so the
/// in-progress snapshot of a live process is never touched. Returns the
/// files removed. A store in use (lock held) or a new store is left alone.
pub fn remove_torn_snapshots(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let db_file = dir.join("db");
    let file = match File::options().read(true).write(true).open(&db_file) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {}
        // Whoever holds it is a running csirtd; sled's own open reports that.
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Vec::new()),
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let torn = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("snap.") && n.ends_with(".generating"));
        if torn {
            std::fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    // Dropping `file` releases the lock; sled takes it again right after.
    drop(file);
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn snapshots(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("snap.")
            })
            .collect();
        v.sort();
        v
    }

    /// What a SIGKILL during sled's start-up snapshot leaves behind: the
    /// complete snapshot plus an empty `.generating` one that sorts after it.
    fn tear(dir: &Path) {
        let complete = snapshots(dir).pop().expect("sled wrote a snapshot at open");
        let mut torn = complete.into_os_string();
        torn.push(".generating");
        File::create(torn).unwrap();
    }

    /// Opens the store, waiting while the lock is still held: sled's
    /// threads from the open just before release it a moment after the
    /// handle is gone, later on a loaded machine.
    fn reopen(path: &Path) -> Store {
        for _ in 0..100 {
            match Store::open(path, 8) {
                Err(crate::store::StoreError::Locked { .. }) => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                r => return r.unwrap(),
            }
        }
        panic!("the store stayed locked for 5 s");
    }

    #[test]
    fn a_torn_snapshot_no_longer_makes_the_store_unopenable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let store = Store::open(&path, 8).unwrap();
            store.trees()[crate::store::T_META]
                .insert(b"probe", b"kept")
                .unwrap();
            store.flush().unwrap();
        }
        // Reopen once so that a snapshot covering the data exists.
        drop(reopen(&path));
        tear(&path);

        // sled alone refuses it: the case this module exists for.
        let plain = sled::Config::new().path(&path).open();
        assert!(
            matches!(plain, Err(sled::Error::Corruption { .. })),
            "sled 0.34.7 was expected to refuse a torn snapshot; if an upgrade fixed it, this workaround can go"
        );

        let store = reopen(&path);
        let kept = store.trees()[crate::store::T_META].get(b"probe").unwrap();
        assert_eq!(kept.as_deref(), Some(&b"kept"[..]));
        assert!(snapshots(&path)
            .iter()
            .all(|p| !p.to_string_lossy().ends_with(".generating")));
    }

    #[test]
    fn the_snapshot_of_a_store_in_use_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        drop(Store::open(&path, 8).unwrap());
        let _open = reopen(&path);
        tear(&path);
        assert!(remove_torn_snapshots(&path).unwrap().is_empty());
        assert!(snapshots(&path)
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".generating")));
    }
}

//! Maildir intake: files appear in `new/` (delivered atomically by the MDA
//! through `tmp/`), and move to `cur/` (hostile ones to `.Quarantine/cur/`)
//! only after their commit is durable.

use super::watch::DirWatch;
use super::{Disposition, IntakeError, Origin, RawMessage, Source, Wakeup};
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

/// Names kept from one listing of `new/`. A backlog of 100,000 files was
/// listed and sorted whole for every batch (hundreds of times over) and
/// held whole meanwhile; now one listing serves this many messages and
/// keeps only their names.
const LISTED: usize = 4096;

pub struct MaildirSource {
    root: PathBuf,
    /// Files larger than this are not read but moved to `.Quarantine/new/`.
    max_size: u64,
    /// Handed out but not yet done: not to be handed out again meanwhile.
    in_flight: HashSet<String>,
    /// `intake.maildir[].name`, when several Maildirs are watched.
    source: Option<String>,
    /// The oldest names of the last listing, not handed out yet.
    listed: VecDeque<String>,
    /// inotify on `new/`, when the daemon asked for it and it could be set up.
    watch: Option<DirWatch>,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> IntakeError + 'a {
    move |source| IntakeError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// The Maildir folders (new, cur, tmp) that are not there; `open` creates
/// them or refuses, as `intake.maildir.create` says, and `check-config`
/// reports the same.
pub fn missing_folders(root: &Path) -> Vec<PathBuf> {
    ["new", "cur", "tmp"]
        .iter()
        .map(|sub| root.join(sub))
        .filter(|p| !p.is_dir())
        .collect()
}

impl MaildirSource {
    pub fn open(root: &Path, create: bool, max_size: u64) -> Result<MaildirSource, IntakeError> {
        for p in missing_folders(root) {
            if create {
                std::fs::create_dir_all(&p).map_err(io("cannot create Maildir folder", &p))?;
            } else {
                return Err(IntakeError::Io {
                    what: "not a Maildir (missing folder)",
                    path: p.display().to_string(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            }
        }
        Ok(MaildirSource {
            root: root.to_path_buf(),
            max_size,
            in_flight: HashSet::new(),
            source: None,
            listed: VecDeque::new(),
            watch: None,
        })
    }

    /// Wakes `wake` whenever mail is delivered into `new/`. Without it (or
    /// when inotify cannot be had) the daemon finds mail at its next poll.
    pub fn watched(mut self, wake: &Wakeup) -> MaildirSource {
        let new = self.root.join("new");
        match DirWatch::start(&new, wake.clone()) {
            Ok(w) => self.watch = Some(w),
            Err(e) => tracing::warn!(
                folder = %new.display(), error = %e,
                "cannot watch the Maildir with inotify (raise fs.inotify.max_user_instances or max_user_watches?); new mail is found by polling every intake.maildir.poll_interval_ms"
            ),
        }
        self
    }

    /// This Maildir's name in the configuration: its messages' origin
    /// carries it, and with it the source's ticket defaults.
    pub fn named(mut self, source: Option<String>) -> MaildirSource {
        self.source = source;
        self
    }

    /// The `limit` oldest file names in `new/` not handed out yet, oldest
    /// first (Maildir names start with the delivery time). Only `limit`
    /// names are held at any time, however many files wait.
    fn pending(&self, limit: usize) -> Result<Vec<String>, IntakeError> {
        let dir = self.root.join("new");
        // The largest on top, so that a smaller name displaces it.
        let mut names = BinaryHeap::with_capacity(limit.saturating_add(1));
        for entry in std::fs::read_dir(&dir).map_err(io("cannot list", &dir))? {
            let entry = entry.map_err(io("cannot list", &dir))?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(file = ?entry.file_name(), "skipping a Maildir file whose name is not UTF-8; rename it");
                continue;
            };
            if name.starts_with('.') || self.in_flight.contains(&name) {
                continue;
            }
            if names.len() < limit {
                names.push(name);
            } else if names.peek().is_some_and(|top| name < *top) {
                names.pop();
                names.push(name);
            }
        }
        Ok(names.into_sorted_vec())
    }
}

impl MaildirSource {
    /// Moves a message we refuse to read into a Maildir++ folder that any
    /// mail client shows, so a handler can deal with it by hand.
    fn quarantine(&self, name: &str, size: u64) {
        let folder = self.root.join(".Quarantine");
        for sub in ["new", "cur", "tmp"] {
            let _ = std::fs::create_dir_all(folder.join(sub));
        }
        let to = folder.join("new").join(name);
        match std::fs::rename(self.root.join("new").join(name), &to) {
            Ok(()) => tracing::error!(
                file = %name, size, limit = self.max_size, moved_to = %to.display(),
                "refused: message exceeds limits.max_stored_size; moved to the .Quarantine folder, not stored"
            ),
            Err(e) => tracing::error!(
                file = %name, size, error = %e,
                "refused: message exceeds limits.max_stored_size and could not be moved to .Quarantine; left in new/"
            ),
        }
    }
}

impl Source for MaildirSource {
    fn name(&self) -> String {
        format!("maildir {}", self.root.display())
    }

    fn poll(&mut self, max: usize) -> Result<Vec<RawMessage>, IntakeError> {
        let mut out = Vec::new();
        if self.listed.len() < max {
            // Listed anew: what was left of the last listing is in it again.
            self.listed = self.pending(LISTED.max(max))?.into();
        }
        while out.len() < max {
            let Some(name) = self.listed.pop_front() else {
                break;
            };
            let path = self.root.join("new").join(&name);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if size > self.max_size {
                self.quarantine(&name, size);
                continue;
            }
            match std::fs::read(&path) {
                Ok(bytes) => {
                    self.in_flight.insert(name.clone());
                    out.push(RawMessage {
                        bytes,
                        origin: Origin::Maildir {
                            name,
                            source: self.source.clone(),
                        },
                    });
                }
                // Another reader (a mail client) took it meanwhile: not ours to lose.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("cannot read", &path)(e)),
            }
        }
        Ok(out)
    }

    fn release(&mut self, origin: &Origin) {
        if let Origin::Maildir { name, .. } = origin {
            self.in_flight.remove(name);
        }
    }

    fn done(&mut self, origin: &Origin, disposition: Disposition) -> Result<(), IntakeError> {
        let Origin::Maildir { name, .. } = origin else {
            return Ok(());
        };
        self.in_flight.remove(name);
        let from = self.root.join("new").join(name);
        let (cur, what) = match disposition {
            Disposition::Processed => (self.root.join("cur"), "cannot move to cur/"),
            Disposition::Quarantine => {
                let folder = self.root.join(".Quarantine");
                for sub in ["new", "cur", "tmp"] {
                    std::fs::create_dir_all(folder.join(sub))
                        .map_err(io("cannot create Maildir folder", &folder))?;
                }
                (folder.join("cur"), "cannot move to .Quarantine/cur/")
            }
        };
        // `:2,S`: Maildir info for "seen", so mail clients show it as read.
        let base = name.split(":2,").next().unwrap_or(name);
        let to = cur.join(format!("{base}:2,S"));
        match std::fs::rename(&from, &to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(what, &from)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_oldest_first_and_moves_only_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = MaildirSource::open(dir.path(), true, 1024).unwrap();
        std::fs::write(dir.path().join("new/2.b"), b"two").unwrap();
        std::fs::write(dir.path().join("new/1.a"), b"one").unwrap();
        let batch = src.poll(10).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].bytes, b"one");
        assert!(
            src.poll(10).unwrap().is_empty(),
            "in-flight messages are not handed out twice"
        );
        src.done(&batch[0].origin, Disposition::Processed).unwrap();
        assert!(dir.path().join("cur/1.a:2,S").exists());
        assert!(
            dir.path().join("new/2.b").exists(),
            "not done yet, stays in new/"
        );
        src.done(&batch[1].origin, Disposition::Quarantine).unwrap();
        assert!(dir.path().join(".Quarantine/cur/2.b:2,S").exists());
        assert!(!dir.path().join("new/2.b").exists());
    }

    #[test]
    fn a_listing_keeps_only_the_oldest_names() {
        let dir = tempfile::tempdir().unwrap();
        let src = MaildirSource::open(dir.path(), true, 1024).unwrap();
        for i in [7, 3, 9, 1, 5, 8, 2, 6, 4, 0] {
            std::fs::write(dir.path().join(format!("new/{i}.m")), b"x").unwrap();
        }
        assert_eq!(src.pending(3).unwrap(), ["0.m", "1.m", "2.m"]);
        assert_eq!(src.pending(100).unwrap().len(), 10);
    }

    #[test]
    fn a_backlog_larger_than_a_listing_comes_out_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = MaildirSource::open(dir.path(), true, 1024).unwrap();
        let n = LISTED + 300;
        for i in 0..n {
            std::fs::write(dir.path().join(format!("new/{i:06}.m")), b"x").unwrap();
        }
        let mut seen = Vec::new();
        loop {
            let batch = src.poll(256).unwrap();
            if batch.is_empty() {
                break;
            }
            assert!(src.listed.len() <= LISTED, "the listing is bounded");
            for m in batch {
                if let Origin::Maildir { name, .. } = &m.origin {
                    seen.push(name.clone());
                }
                src.done(&m.origin, Disposition::Processed).unwrap();
            }
        }
        let want: Vec<String> = (0..n).map(|i| format!("{i:06}.m")).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn oversized_files_go_to_quarantine_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = MaildirSource::open(dir.path(), true, 10).unwrap();
        std::fs::write(dir.path().join("new/1.big"), b"0123456789abcdef").unwrap();
        std::fs::write(dir.path().join("new/2.ok"), b"small").unwrap();
        let batch = src.poll(10).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].bytes, b"small");
        assert_eq!(
            std::fs::read(dir.path().join(".Quarantine/new/1.big")).unwrap(),
            b"0123456789abcdef"
        );
    }
}

//! Maildir intake: files appear in `new/` (delivered atomically by the MDA
//! through `tmp/`), and move to `cur/` (hostile ones to `.Quarantine/cur/`)
//! only after their commit is durable.

use super::{Disposition, IntakeError, Origin, RawMessage, Source};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub struct MaildirSource {
    root: PathBuf,
    /// Files larger than this are not read but moved to `.Quarantine/new/`.
    max_size: u64,
    /// Handed out but not yet done: not to be handed out again meanwhile.
    in_flight: HashSet<String>,
    /// `intake.maildir[].name`, when several Maildirs are watched.
    source: Option<String>,
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
        })
    }

    /// This Maildir's name in the configuration: its messages' origin
    /// carries it, and with it the source's ticket defaults.
    pub fn named(mut self, source: Option<String>) -> MaildirSource {
        self.source = source;
        self
    }

    /// File names in `new/`, oldest first (Maildir names start with the delivery time).
    fn pending(&self) -> Result<Vec<String>, IntakeError> {
        let dir = self.root.join("new");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io("cannot list", &dir))? {
            let entry = entry.map_err(io("cannot list", &dir))?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(file = ?entry.file_name(), "skipping a Maildir file whose name is not UTF-8; rename it");
                continue;
            };
            if name.starts_with('.') || self.in_flight.contains(&name) {
                continue;
            }
            names.push(name);
        }
        names.sort();
        Ok(names)
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
        for name in self.pending()? {
            if out.len() >= max {
                break;
            }
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

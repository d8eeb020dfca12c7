//! Every check `run` makes before it starts anything, for `check-config`
//! and `run` alike: the keys load and open, the fingerprints are in the
//! keyring, the files named exist, the directories exist or can be made,
//! the store can be opened by this user. Each loads through the same code
//! the daemon then uses (`Parts`, `missing_folders`, `imap::check`,
//! `Transport::check`), so that `check-config` cannot say "valid" for a
//! configuration `run` refuses. Nothing is created and the store lock is
//! not taken: a running daemon keeps it.

use crate::config::{Config, ConfigError};
use std::path::Path;

/// What the checks found: problems stop `run` (exit 78); notes are said.
#[derive(Default)]
pub struct Report {
    pub problems: Vec<ConfigError>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

pub fn check(cfg: &Config) -> Report {
    let mut r = Report::default();
    let problem = |key: &str, text: String| ConfigError::Invalid {
        file: cfg.source.clone(),
        key: key.to_string(),
        problem: text,
    };
    if let Err(e) = crate::workflow::pipeline::Parts::from_config(cfg) {
        r.problems.push(e);
    }
    for m in &cfg.intake.maildir {
        let missing = crate::intake::maildir::missing_folders(&m.path);
        if let Some(first) = missing.first() {
            if m.create {
                match creatable(first) {
                    Ok(()) => r.notes.push(format!(
                        "maildir {}: will be created at start",
                        m.path.display()
                    )),
                    Err(e) => r.problems.push(problem(
                        "intake.maildir.path",
                        format!("cannot create the Maildir {}: {e}", m.path.display()),
                    )),
                }
            } else {
                r.problems.push(problem(
                    "intake.maildir.path",
                    format!(
                        "{} is not a Maildir ({} is missing) and intake.maildir.create = false; create it (mkdir -p {p}/new {p}/cur {p}/tmp) or set create = true",
                        m.path.display(),
                        first.display(),
                        p = m.path.display()
                    ),
                ));
            }
        }
    }
    for (i, acct) in cfg.intake.imap.iter().enumerate() {
        if let Err(e) = crate::intake::imap::check(acct) {
            // Only the password and the CA file are read before connecting.
            let key = match e {
                crate::intake::imap::ImapError::Password { .. } => "password_file",
                _ => "ca_file",
            };
            r.problems.push(problem(
                &format!("intake.imap[{i}].{key}"),
                format!("account {}: {e}", acct.name),
            ));
        }
    }
    match crate::outbox::transport::Transport::check(cfg) {
        Ok(Some(note)) => r.notes.push(note),
        Ok(None) => {}
        Err(e) => r.problems.push(problem("outbox", format!("{e:#}"))),
    }
    match store(&cfg.store.path) {
        Ok(Some(note)) => r.notes.push(note),
        Ok(None) => {}
        Err(e) => r.problems.push(problem("store.path", e)),
    }
    r
}

/// The store: a directory this user may write, or one to be created; in
/// use by a running daemon is said, not refused.
fn store(path: &Path) -> Result<Option<String>, String> {
    let shown = path.display();
    if !path.exists() {
        return creatable(path)
            .map(|()| Some(format!("store {shown}: will be created at start")))
            .map_err(|e| format!("cannot create the store {shown}: {e}"));
    }
    if !path.is_dir() {
        return Err(format!(
            "{shown} is not a directory; point store.path at the store's directory (it is created if missing)"
        ));
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        format!("cannot read the store {shown}: {e}; run csirtd as the store's owner")
    })?;
    let mut files = vec![path.to_path_buf()];
    files.extend(entries.flatten().map(|e| e.path()));
    if let Some(f) = files.iter().find(|f| !writable(f)) {
        return Err(format!(
            "{} is not writable by this user (uid {}); run csirtd as the store's owner or chown -R it",
            f.display(),
            // SAFETY: getuid(2) cannot fail.
            unsafe { libc::getuid() }
        ));
    }
    Ok(crate::cli::lock::held_by(path)
        .map(|holder| format!("store {shown}: in use by {holder}; checked without opening it")))
}

/// Whether `path` could be made: its nearest existing ancestor is a
/// directory this user may write.
pub fn creatable(path: &Path) -> Result<(), String> {
    let Some(parent) = path.ancestors().skip(1).find(|a| a.exists()) else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    if !parent.is_dir() {
        return Err(format!("{} is not a directory", parent.display()));
    }
    if !writable(parent) {
        return Err(format!("{} is not writable by this user", parent.display()));
    }
    Ok(())
}

fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) reads the NUL-terminated path and nothing else.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

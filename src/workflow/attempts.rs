//! Which messages were being analysed when the process died. A panic is
//! caught, but an allocation failure aborts the process: without a record
//! the message would stay in `new/` (or unmoved in IMAP, or be retried by
//! the MTA) and kill the daemon again at every start. So each analysis
//! writes `+<sha256>` before and `-<sha256>` after, to a small file in the
//! store directory; a message whose `+` has no `-` at the next start failed
//! once, and is then stored raw without analysis (flag `analysis-failed`).
//!
//! Plain `write`s, no fsync: the records have to outlive the process, not
//! the machine, and the kernel keeps what a dying process wrote.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The log is rewritten with only the open and failed entries past this.
const COMPACT_AT: u64 = 1 << 20;

pub type Sha = [u8; 32];

/// Messages begun more often than finished, by a log's lines. Unknown
/// lines (a torn last write) are skipped.
pub fn unfinished(log: &str) -> Vec<Sha> {
    let mut open: HashMap<Sha, i64> = HashMap::new();
    for line in log.lines() {
        let (delta, hex) = match line.as_bytes().first() {
            Some(b'+') => (1, &line[1..]),
            Some(b'-') => (-1, &line[1..]),
            _ => continue,
        };
        let mut sha = [0u8; 32];
        if hex::decode_to_slice(hex, &mut sha).is_ok() {
            *open.entry(sha).or_default() += delta;
        }
    }
    let mut out: Vec<Sha> = open
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, _)| s)
        .collect();
    out.sort();
    out
}

struct Log {
    path: PathBuf,
    file: File,
    written: u64,
    /// Analyses running now (the same bytes may arrive twice in a batch).
    open: HashMap<Sha, u32>,
}

pub struct Attempts {
    log: Option<Mutex<Log>>,
    /// Messages whose analysis an earlier process did not survive.
    failed: Vec<Sha>,
}

/// Ends an attempt when dropped, also when analysis unwinds from a panic
/// (which is caught and handled); only an abort leaves the attempt open.
pub struct Attempt<'a> {
    attempts: &'a Attempts,
    sha: Sha,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.attempts.end(&self.sha);
    }
}

impl Attempts {
    /// No record kept (tests, benchmarks without a store directory).
    pub fn disabled() -> Attempts {
        Attempts {
            log: None,
            failed: Vec::new(),
        }
    }

    /// Reads what an earlier process left at `path` and starts a new log
    /// that carries the failed messages over until they are stored.
    pub fn open(path: &Path) -> Attempts {
        let failed = match std::fs::read(path) {
            Ok(b) => unfinished(&String::from_utf8_lossy(&b)),
            Err(_) => Vec::new(),
        };
        for sha in &failed {
            tracing::error!(sha256 = %hex::encode(sha), "a message was being analysed when csirtd last stopped (an abort, e.g. an allocation failure); it is stored raw without analysis when it comes again");
        }
        // Carried over, as if still running, until this process stores them.
        let carried: HashMap<Sha, u32> = failed.iter().map(|s| (*s, 1)).collect();
        let mut attempts = Attempts { log: None, failed };
        match attempts.rewrite(path, &carried) {
            Ok(log) => attempts.log = Some(Mutex::new(log)),
            Err(e) => {
                tracing::warn!(file = %path.display(), "cannot keep the record of analyses in progress; a message that aborts the daemon would abort it again at the next start: {e}")
            }
        }
        attempts
    }

    /// A fresh log holding the open entries, put in place by a rename so
    /// that no moment lacks them.
    fn rewrite(&self, path: &Path, open: &HashMap<Sha, u32>) -> std::io::Result<Log> {
        let mut text = String::new();
        let running = open
            .iter()
            .flat_map(|(sha, n)| std::iter::repeat_n(sha, *n as usize));
        for sha in running {
            text.push('+');
            text.push_str(&hex::encode(sha));
            text.push('\n');
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &text)?;
        std::fs::rename(&tmp, path)?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Log {
            path: path.to_path_buf(),
            file,
            written: text.len() as u64,
            open: open.clone(),
        })
    }

    /// Whether an earlier process died analysing these bytes.
    pub fn failed_before(&self, sha: &Sha) -> bool {
        self.failed.contains(sha)
    }

    pub fn begin(&self, sha: &Sha) -> Attempt<'_> {
        self.record(b'+', sha);
        Attempt {
            attempts: self,
            sha: *sha,
        }
    }

    fn end(&self, sha: &Sha) {
        self.record(b'-', sha);
    }

    /// A failed message was handled without analysis: a later process
    /// need not remember it (stored, it comes again only as a duplicate).
    pub fn resolve(&self, sha: &Sha) {
        self.record(b'-', sha);
    }

    fn record(&self, sign: u8, sha: &Sha) {
        let Some(log) = &self.log else { return };
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        let count = log.open.entry(*sha).or_default();
        if sign == b'+' {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
            if *count == 0 {
                log.open.remove(sha);
            }
        }
        let mut line = [0u8; 66];
        line[0] = sign;
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(sha, &mut line[1..65]);
        line[65] = b'\n';
        if let Err(e) = log.file.write_all(&line) {
            tracing::warn!(file = %log.path.display(), "cannot record an analysis in progress: {e}");
            return;
        }
        log.written += line.len() as u64;
        if log.written > COMPACT_AT && sign == b'-' {
            let (path, open) = (log.path.clone(), log.open.clone());
            match self.rewrite(&path, &open) {
                Ok(fresh) => *log = fresh,
                Err(e) => {
                    tracing::warn!(file = %path.display(), "cannot compact the record of analyses in progress: {e}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sign: char, n: u8) -> String {
        format!("{sign}{}\n", hex::encode([n; 32]))
    }

    #[test]
    fn begun_and_not_ended_is_unfinished() {
        let log = [
            line('+', 1),
            line('+', 2),
            line('-', 1),
            line('+', 3),
            line('+', 3),
            line('-', 3),
            "+torn".into(),
        ]
        .concat();
        assert_eq!(unfinished(&log), vec![[2; 32], [3; 32]]);
        assert!(unfinished("").is_empty());
    }

    #[test]
    fn an_attempt_left_open_fails_once_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("analysis-attempts");
        let a = Attempts::open(&path);
        drop(a.begin(&[1; 32]));
        std::mem::forget(a.begin(&[2; 32]));
        let b = Attempts::open(&path);
        assert!(b.failed_before(&[2; 32]));
        assert!(!b.failed_before(&[1; 32]));
        // Carried over until a process handles it.
        let c = Attempts::open(&path);
        assert!(c.failed_before(&[2; 32]));
        c.resolve(&[2; 32]);
        assert!(!Attempts::open(&path).failed_before(&[2; 32]));
    }

    #[test]
    fn compaction_keeps_what_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("analysis-attempts");
        let a = Attempts::open(&path);
        let held = a.begin(&[9; 32]);
        for i in 0..20_000u32 {
            let mut sha = [0u8; 32];
            sha[..4].copy_from_slice(&i.to_be_bytes());
            drop(a.begin(&sha));
        }
        assert!(std::fs::metadata(&path).unwrap().len() < 2 * COMPACT_AT);
        std::mem::forget(held);
        assert_eq!(
            unfinished(&std::fs::read_to_string(&path).unwrap()),
            vec![[9; 32]]
        );
    }
}

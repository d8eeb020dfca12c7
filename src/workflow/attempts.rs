//! Which messages were being analysed when the process died, and whether
//! one of them killed it. A panic is caught, but an allocation failure
//! aborts the process: without a record the message would stay in `new/`
//! (or unmoved in IMAP, or be retried by the MTA) and kill the daemon again
//! at every start.
//!
//! Each analysis writes `+<sha256>` before and `-<sha256>` after, to a
//! small log in the store directory, and the thread remembers which
//! message it analyses. An abort (SIGABRT, which is what a failed
//! allocation raises) runs a signal handler that appends `!<sha256>` for
//! the aborting thread's message: that message has failed, and the next
//! process stores it raw without analysis (flag `analysis-failed`). A kill
//! from outside (SIGKILL, a crash, a power cut) says nothing about the
//! messages in flight: they are analysed again. Only a message that is in
//! analysis at [`MAX_INTERRUPTIONS`] deaths in a row counts as failed too
//! (the kernel's OOM killer sends SIGKILL).
//!
//! Plain `write`s, no fsync: the records have to outlive the process, not
//! the machine, and the kernel keeps what a dying process wrote.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

/// The log is rewritten with only what must be carried past this.
const COMPACT_AT: u64 = 1 << 20;
/// Deaths in a row, during this message's analysis, that fail it without
/// an abort marker.
pub const MAX_INTERRUPTIONS: u32 = 3;

pub type Sha = [u8; 32];

/// What an earlier process's log says about one message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// Begun minus ended.
    open: i64,
    /// Its analysis aborted the process, or an earlier process found so.
    aborted: bool,
    /// Earlier deaths in a row during its analysis (`~` lines).
    interrupted: u32,
    /// Stored without analysis since (`=`): nothing to remember.
    resolved: bool,
}

/// What the next process makes of a log: the failed messages, and those
/// interrupted (with their count so far) to carry over.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdicts {
    pub failed: Vec<Sha>,
    pub interrupted: Vec<(Sha, u32)>,
}

/// Reads a log. Unknown lines (a torn last write) are skipped.
pub fn judge(log: &str) -> Verdicts {
    let mut seen: HashMap<Sha, Seen> = HashMap::new();
    for line in log.lines() {
        let Some(&kind) = line.as_bytes().first() else {
            continue;
        };
        let mut sha = [0u8; 32];
        if hex::decode_to_slice(line.get(1..).unwrap_or_default(), &mut sha).is_err() {
            continue;
        }
        let s = seen.entry(sha).or_default();
        match kind {
            b'+' => s.open += 1,
            b'-' => s.open -= 1,
            b'!' => s.aborted = true,
            b'~' => s.interrupted += 1,
            b'=' => s.resolved = true,
            _ => {}
        }
    }
    let mut v = Verdicts::default();
    for (sha, s) in seen {
        if s.resolved {
            continue;
        }
        let interrupted = s.interrupted + u32::from(s.open > 0);
        if s.aborted || interrupted >= MAX_INTERRUPTIONS {
            v.failed.push(sha);
        } else if s.open > 0 {
            v.interrupted.push((sha, interrupted));
        }
    }
    v.failed.sort();
    v.interrupted.sort();
    v
}

thread_local! {
    /// The message this thread analyses, for the abort handler: a marker
    /// byte (1 while set) and the SHA-256. Const-initialised, so reading it
    /// in a signal handler is a plain memory read.
    static CURRENT: Cell<[u8; 33]> = const { Cell::new([0; 33]) };
}

/// The log's file descriptor, for the abort handler (-1: none).
static LOG_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_abort(_: libc::c_int) {
    let current = CURRENT.with(Cell::get);
    let fd = LOG_FD.load(Ordering::Relaxed);
    if current[0] == 1 && fd >= 0 {
        let mut line = [0u8; 66];
        line[0] = b'!';
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in current[1..].iter().enumerate() {
            line[1 + 2 * i] = HEX[usize::from(b >> 4)];
            line[2 + 2 * i] = HEX[usize::from(b & 15)];
        }
        line[65] = b'\n';
        // SAFETY: write(2) is async-signal-safe; the buffer is ours. The
        // handler then returns and abort() goes on to end the process.
        unsafe {
            libc::write(fd, line.as_ptr().cast(), line.len());
        }
    }
}

fn install_abort_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a plain sigaction for SIGABRT with a handler that only
        // reads thread-local memory and calls write(2). SA_RESETHAND puts
        // the default action back, so the abort still ends the process.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_abort as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGABRT, &sa, std::ptr::null_mut());
        }
    });
}

struct Log {
    path: PathBuf,
    file: File,
    written: u64,
    /// Analyses running now (the same bytes may arrive twice in a batch).
    open: HashMap<Sha, u32>,
    /// Carried over from earlier processes until this one ends cleanly
    /// with them or handles them.
    carried: Vec<u8>,
    /// `-` lines not yet written: each goes out with the next `+` (one
    /// write a message rather than two) or when the batch is settled. A
    /// death in between only shows a finished analysis as interrupted, so
    /// that message is analysed again should it come again.
    deferred: Vec<u8>,
}

pub struct Attempts {
    log: Option<Mutex<Log>>,
    /// Messages whose analysis an earlier process did not survive.
    failed: Vec<Sha>,
}

/// Ends an attempt when dropped, also when analysis unwinds from a panic
/// (which is caught and handled); only a dying process leaves it open.
pub struct Attempt<'a> {
    attempts: &'a Attempts,
    sha: Sha,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set([0; 33]));
        self.attempts.record(b'-', &self.sha);
    }
}

fn line(kind: u8, sha: &Sha) -> [u8; 66] {
    let mut line = [0u8; 66];
    line[0] = kind;
    // 32 bytes always fit 64 hex digits.
    let _ = hex::encode_to_slice(sha, &mut line[1..65]);
    line[65] = b'\n';
    line
}

impl Attempts {
    /// No record kept.
    pub fn disabled() -> Attempts {
        Attempts {
            log: None,
            failed: Vec::new(),
        }
    }

    /// Reads what an earlier process left at `path` and starts the log
    /// anew, carrying over what the next process must still know.
    pub fn open(path: &Path) -> Attempts {
        let verdicts = match std::fs::read(path) {
            Ok(b) => judge(&String::from_utf8_lossy(&b)),
            Err(_) => Verdicts::default(),
        };
        for sha in &verdicts.failed {
            tracing::error!(sha256 = %hex::encode(sha), "csirtd died while analysing this message (an abort, e.g. a failed allocation); it is stored raw without analysis when it comes again");
        }
        let mut carried = Vec::new();
        for sha in &verdicts.failed {
            carried.extend_from_slice(&line(b'!', sha));
        }
        for (sha, n) in &verdicts.interrupted {
            for _ in 0..*n {
                carried.extend_from_slice(&line(b'~', sha));
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|file| {
                let mut log = Log {
                    path: path.to_path_buf(),
                    file,
                    written: 0,
                    open: HashMap::new(),
                    carried,
                    deferred: Vec::new(),
                };
                log.compact()?;
                Ok(log)
            });
        match log {
            Ok(log) => {
                LOG_FD.store(log.file.as_raw_fd(), Ordering::Relaxed);
                install_abort_handler();
                Attempts {
                    log: Some(Mutex::new(log)),
                    failed: verdicts.failed,
                }
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), "cannot keep the record of analyses in progress; a message that aborts the daemon would abort it again at the next start: {e}");
                Attempts {
                    log: None,
                    failed: verdicts.failed,
                }
            }
        }
    }

    /// Whether an earlier process died analysing these bytes.
    pub fn failed_before(&self, sha: &Sha) -> bool {
        self.failed.contains(sha)
    }

    pub fn begin(&self, sha: &Sha) -> Attempt<'_> {
        self.record(b'+', sha);
        let mut current = [1u8; 33];
        current[1..].copy_from_slice(sha);
        CURRENT.with(|c| c.set(current));
        Attempt {
            attempts: self,
            sha: *sha,
        }
    }

    /// A failed message was handled without analysis: a later process
    /// need not remember it (stored, it comes again only as a duplicate).
    pub fn resolve(&self, sha: &Sha) {
        self.record(b'=', sha);
    }

    fn record(&self, kind: u8, sha: &Sha) {
        let Some(log) = &self.log else { return };
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        match kind {
            b'+' => *log.open.entry(*sha).or_default() += 1,
            b'-' => {
                if let Some(n) = log.open.get_mut(sha) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        log.open.remove(sha);
                    }
                }
            }
            _ => {
                // Resolved: no longer carried.
                let l = line(b'!', sha);
                let t = line(b'~', sha);
                log.carried = log
                    .carried
                    .chunks(66)
                    .filter(|c| *c != l.as_slice() && *c != t.as_slice())
                    .flatten()
                    .copied()
                    .collect();
            }
        }
        let l = line(kind, sha);
        if kind == b'-' {
            log.deferred.extend_from_slice(&l);
            log.written += l.len() as u64;
            if log.written > COMPACT_AT {
                if let Err(e) = log.compact() {
                    tracing::warn!(file = %log.path.display(), "cannot compact the record of analyses in progress: {e}");
                }
            }
            return;
        }
        let mut out = std::mem::take(&mut log.deferred);
        out.extend_from_slice(&l);
        if let Err(e) = log.file.write_all(&out) {
            tracing::warn!(file = %log.path.display(), "cannot record an analysis in progress: {e}");
            return;
        }
        log.written += l.len() as u64;
    }

    /// Writes the ends of analyses not yet written; called when a batch's
    /// analyses are done, so that a death while it commits blames none.
    pub fn settle(&self) {
        let Some(log) = &self.log else { return };
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        log.flush_deferred();
    }
}

impl Drop for Attempts {
    fn drop(&mut self) {
        // The abort handler must not write to a descriptor closed (and
        // perhaps reused) with this log.
        if let Some(log) = &self.log {
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            log.flush_deferred();
            let fd = log.file.as_raw_fd();
            let _ = LOG_FD.compare_exchange(fd, -1, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

impl Log {
    fn flush_deferred(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        let out = std::mem::take(&mut self.deferred);
        if let Err(e) = self.file.write_all(&out) {
            tracing::warn!(file = %self.path.display(), "cannot record the end of an analysis: {e}");
        }
    }

    /// Truncates the log to what is carried and what runs now. In place,
    /// on the same descriptor, so that the abort handler never writes to a
    /// closed one; an abort in between leaves its own `!` line, and the
    /// other analyses in flight are only analysed again. The deferred `-`
    /// lines are dropped: what runs now is all it keeps.
    fn compact(&mut self) -> std::io::Result<()> {
        self.deferred.clear();
        let mut text = self.carried.clone();
        for (sha, n) in &self.open {
            for _ in 0..*n {
                text.extend_from_slice(&line(b'+', sha));
            }
        }
        self.file.set_len(0)?;
        self.file.write_all(&text)?;
        self.written = text.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(kind: char, n: u8) -> String {
        format!("{kind}{}\n", hex::encode([n; 32]))
    }

    #[test]
    fn an_abort_fails_a_message_a_kill_only_interrupts_it() {
        let log = [
            l('+', 1),
            l('+', 2),
            l('-', 1),
            l('!', 2),
            l('+', 3),
            "+torn".into(),
        ]
        .concat();
        let v = judge(&log);
        assert_eq!(v.failed, vec![[2; 32]]);
        assert_eq!(v.interrupted, vec![([3; 32], 1)]);
        assert_eq!(judge(""), Verdicts::default());
    }

    #[test]
    fn repeated_interruptions_fail_and_resolution_forgets() {
        let twice = [l('~', 4), l('~', 4), l('+', 4)].concat();
        assert_eq!(judge(&twice).failed, vec![[4; 32]]);
        let finished = [l('~', 4), l('~', 4), l('+', 4), l('-', 4)].concat();
        assert_eq!(judge(&finished), Verdicts::default());
        let resolved = [l('!', 5), l('=', 5)].concat();
        assert_eq!(judge(&resolved), Verdicts::default());
    }

    #[test]
    fn a_message_in_flight_at_a_kill_is_analysed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("analysis-attempts");
        let a = Attempts::open(&path);
        drop(a.begin(&[1; 32]));
        std::mem::forget(a.begin(&[2; 32]));
        CURRENT.with(|c| c.set([0; 33]));
        let b = Attempts::open(&path);
        assert!(
            !b.failed_before(&[2; 32]),
            "a kill is not the message's fault"
        );
        // Killed again while analysing it, twice.
        std::mem::forget(b.begin(&[2; 32]));
        let c = Attempts::open(&path);
        assert!(!c.failed_before(&[2; 32]));
        std::mem::forget(c.begin(&[2; 32]));
        CURRENT.with(|c| c.set([0; 33]));
        let d = Attempts::open(&path);
        assert!(
            d.failed_before(&[2; 32]),
            "in flight at three deaths in a row"
        );
        d.resolve(&[2; 32]);
        assert!(!Attempts::open(&path).failed_before(&[2; 32]));
    }

    #[test]
    fn an_ended_analysis_is_on_record_once_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("analysis-attempts");
        let a = Attempts::open(&path);
        drop(a.begin(&[1; 32]));
        // Its end waits for the next begin or the settle: one write a message.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), l('+', 1));
        drop(a.begin(&[2; 32]));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            [l('+', 1), l('-', 1), l('+', 2)].concat()
        );
        a.settle();
        std::mem::forget(a);
        CURRENT.with(|c| c.set([0; 33]));
        assert_eq!(
            judge(&std::fs::read_to_string(&path).unwrap()),
            Verdicts::default(),
            "a death after the settle blames nothing"
        );
    }

    #[test]
    fn compaction_keeps_what_is_open_and_carried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("analysis-attempts");
        std::fs::write(&path, l('!', 7)).unwrap();
        let a = Attempts::open(&path);
        assert!(a.failed_before(&[7; 32]));
        let held = a.begin(&[9; 32]);
        for i in 0..20_000u32 {
            let mut sha = [0u8; 32];
            sha[..4].copy_from_slice(&i.to_be_bytes());
            drop(a.begin(&sha));
        }
        assert!(std::fs::metadata(&path).unwrap().len() < 2 * COMPACT_AT);
        a.settle();
        std::mem::forget(held);
        let v = judge(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(v.failed, vec![[7; 32]]);
        assert_eq!(v.interrupted, vec![([9; 32], 1)]);
    }
}

//! Getting at the store when another process holds it.
//!
//! sled lets one process open the store. The daemon holds it for as long as
//! it runs and answers on its control socket; a `csirtd ingest` from an MTA
//! pipe or an operator command holds it for a moment. An MTA delivering a
//! burst starts many `ingest`s at once, so a held store is usually free
//! again a few milliseconds later: the command waits for it, a bounded time
//! (`store.lock_wait_secs`), asking the daemon between tries, and when it
//! gives up it says who holds the store, as the kernel's lock table has it.

use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a command's request goes.
pub enum Access<R> {
    /// Opened here.
    Store(Store),
    /// The daemon answered; its answer.
    Daemon(R),
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the store at {path} is in use by {holder}, and nothing answers on its control socket {socket}; gave up after waiting {waited_secs} s (store.lock_wait_secs)")]
    Held {
        path: String,
        holder: String,
        socket: String,
        waited_secs: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the store, or hands the request to the daemon through `daemon`
/// (None: no daemon answers), waiting up to `wait` while another process
/// holds the store.
pub fn open<R>(
    path: &Path,
    cache_mb: u64,
    read_only: bool,
    wait: Duration,
    mut daemon: impl FnMut() -> Option<R>,
) -> Result<Access<R>, LockError> {
    let started = Instant::now();
    for attempt in 0u32.. {
        let opened = if read_only {
            Store::open_read_only(path, cache_mb)
        } else {
            Store::open(path, cache_mb)
        };
        match opened {
            Ok(store) => return Ok(Access::Store(store)),
            Err(StoreError::Locked { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(answer) = daemon() {
            return Ok(Access::Daemon(answer));
        }
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        let jitter = rand::random::<f64>();
        std::thread::sleep(backoff(attempt, jitter).min(left));
    }
    Err(LockError::Held {
        path: path.display().to_string(),
        holder: holder(path),
        socket: crate::control::socket_path(path).display().to_string(),
        waited_secs: started.elapsed().as_secs_f64().round() as u64,
    })
}

/// The pause before try `attempt + 1`: short at first (an `ingest` holds
/// the store for tens of milliseconds), at most a quarter second, spread by
/// `jitter` (0 to 1) so that a burst of waiting processes does not try in
/// step.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base_ms = (5u64 << attempt.min(6)).min(250);
    let spread = 0.5 + jitter.clamp(0.0, 1.0);
    Duration::from_secs_f64(base_ms as f64 * spread / 1000.0)
}

/// Who holds the lock on the store's `db` file, in words.
pub(crate) fn holder(store: &Path) -> String {
    held_by(store).unwrap_or_else(|| "another process (which one could not be told)".to_string())
}

/// Who holds the store, when the kernel's lock table says that someone
/// does; found without taking the lock (see `preflight`).
pub(crate) fn held_by(store: &Path) -> Option<String> {
    holder_argv(store).map(|(pid, argv)| describe(pid, &argv))
}

/// The pid of the `csirtd run` that holds the store, if one does.
pub(crate) fn daemon_pid(store: &Path) -> Option<u32> {
    let (pid, argv) = holder_argv(store)?;
    describe(pid, &argv)
        .starts_with("the csirtd daemon")
        .then_some(pid)
}

fn holder_argv(store: &Path) -> Option<(u32, Vec<String>)> {
    lock_holder_pid(&store.join("db")).map(|pid| {
        let argv = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        (pid, argv)
    })
}

#[cfg(target_os = "linux")]
fn lock_holder_pid(db: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(db).ok()?;
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    lock_table_holder(&table, device_numbers(meta.dev()), meta.ino())
}

#[cfg(not(target_os = "linux"))]
fn lock_holder_pid(_: &Path) -> Option<u32> {
    None
}

/// glibc's `major()` and `minor()` of a `dev_t`.
fn device_numbers(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// The pid holding a lock on the file (`device`, `inode`) in the text of
/// `/proc/locks` (lines like `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0
/// EOF`; a waiter's line has `->` after the number and is skipped).
pub fn lock_table_holder(table: &str, (major, minor): (u64, u64), inode: u64) -> Option<u32> {
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") || fields.len() < 6 {
            return None;
        }
        let mut id = fields[5].split(':');
        let (maj, min, ino) = (id.next()?, id.next()?, id.next()?);
        let same = u64::from_str_radix(maj, 16).ok()? == major
            && u64::from_str_radix(min, 16).ok()? == minor
            && ino.parse::<u64>().ok()? == inode;
        same.then(|| fields[4].parse().ok()).flatten()
    })
}

/// The holder as a person wants to read it: which csirtd command, or
/// which other program.
pub fn describe(pid: u32, argv: &[String]) -> String {
    let program = argv
        .first()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let is_csirtd = program == "csirtd";
    let command = argv
        .iter()
        .skip(1)
        .scan(false, |skip_value, a| {
            // The value of a global option is not the command.
            let value = std::mem::replace(skip_value, a == "--config" || a == "--log-format");
            Some((value, a))
        })
        .find(|(value, a)| !value && !a.starts_with('-'))
        .map(|(_, a)| a.as_str());
    match (is_csirtd, command) {
        (true, Some("run")) => format!("the csirtd daemon (`csirtd run`, pid {pid})"),
        (true, Some(cmd)) => format!("another `csirtd {cmd}` (pid {pid})"),
        _ if program.is_empty() => format!("another process (pid {pid})"),
        _ => {
            let shown: String = crate::mail::display::escape(&program)
                .chars()
                .take(80)
                .collect();
            format!("another program, {shown} (pid {pid})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_holder_is_named_as_it_is() {
        assert_eq!(
            describe(
                7,
                &argv(&["/usr/bin/csirtd", "--config", "/etc/c.toml", "ingest"])
            ),
            "another `csirtd ingest` (pid 7)"
        );
        assert_eq!(
            describe(8, &argv(&["csirtd", "ticket", "list"])),
            "another `csirtd ticket` (pid 8)"
        );
        assert_eq!(
            describe(9, &argv(&["./target/csirtd", "run"])),
            "the csirtd daemon (`csirtd run`, pid 9)"
        );
        assert_eq!(
            describe(10, &argv(&["/usr/bin/python3", "x.py"])),
            "another program, python3 (pid 10)"
        );
        assert_eq!(describe(11, &[]), "another process (pid 11)");
    }

    #[test]
    fn the_lock_table_names_the_pid_of_the_file() {
        let table = "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 5555 fd:01:1234 0 EOF\n\
                     2: POSIX  ADVISORY  READ 17 00:2d:99 0 EOF\n";
        assert_eq!(lock_table_holder(table, (0xfd, 1), 1234), Some(4242));
        assert_eq!(lock_table_holder(table, (0, 0x2d), 99), Some(17));
        assert_eq!(lock_table_holder(table, (0xfd, 2), 1234), None);
        assert_eq!(lock_table_holder("garbage\n\n1: x", (0, 0), 1), None);
        assert_eq!(device_numbers(0xfd01), (0xfd, 1));
    }

    #[test]
    fn waits_grow_to_a_quarter_second_and_spread() {
        assert_eq!(backoff(0, 0.5), Duration::from_millis(5));
        assert!(backoff(3, 0.5) > backoff(2, 0.5));
        assert_eq!(backoff(30, 0.5), Duration::from_millis(250));
        assert!(backoff(30, 1.0) <= Duration::from_millis(375));
        assert!(backoff(30, 0.0) >= Duration::from_millis(125));
    }

    #[test]
    fn a_store_held_by_this_process_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let held = Store::open(&path, 8).unwrap();
        let calls = std::cell::Cell::new(0);
        let result = open(&path, 8, false, Duration::from_millis(50), || {
            calls.set(calls.get() + 1);
            None::<()>
        });
        let Err(LockError::Held { holder, .. }) = result else {
            panic!("opened a held store");
        };
        assert!(calls.get() >= 2, "asked the daemon between tries");
        if cfg!(target_os = "linux") {
            assert!(holder.contains(&std::process::id().to_string()), "{holder}");
        }
        // A daemon that answers gets the request.
        assert!(matches!(
            open(&path, 8, false, Duration::from_secs(5), || Some(42)),
            Ok(Access::Daemon(42))
        ));
        drop(held);
        assert!(matches!(
            open(&path, 8, false, Duration::ZERO, || None::<()>),
            Ok(Access::Store(_))
        ));
    }
}

//! Hears of Maildir deliveries through inotify, so that a report arriving
//! in an idle daemon is picked up at once rather than at the next poll.
//! The poll (`intake.maildir.poll_interval_ms`) stays as the fallback: for
//! file systems that send no events (NFS), a full inotify queue, or a
//! watch that could not be set up.

use super::Wakeup;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How often the watching thread looks whether it is still wanted; only
/// bounds how long it outlives its source.
const STOP_CHECK_MS: i32 = 500;

/// Stops the watching thread when dropped (with its source).
pub struct DirWatch {
    stop: Arc<AtomicBool>,
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl DirWatch {
    /// Watches `dir` for files moved in (the MDA's rename from `tmp/`) or
    /// written and closed there, and wakes `wake` for each burst of them.
    pub fn start(dir: &Path, wake: Wakeup) -> std::io::Result<DirWatch> {
        let fd = inotify(dir, libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE)?;
        let stop = Arc::new(AtomicBool::new(false));
        let watching = stop.clone();
        std::thread::Builder::new()
            .name("maildir-watch".into())
            .spawn(move || watch(fd, &watching, &wake))?;
        Ok(DirWatch { stop })
    }
}

/// A non-blocking inotify descriptor watching `dir` for `mask`.
pub(crate) fn inotify(dir: &Path, mask: u32) -> std::io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: plain system calls; the descriptor is owned from here on.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by inotify_init1 and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `path` is a valid NUL-terminated string for the call's duration.
    let rc = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn watch(fd: OwnedFd, stop: &AtomicBool, wake: &Wakeup) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the call's duration.
        let n = unsafe { libc::poll(&mut pfd, 1, STOP_CHECK_MS) };
        if n <= 0 {
            continue;
        }
        // The events' content does not matter (the intake lists the
        // folder); reading them empties the queue. An overflow
        // (IN_Q_OVERFLOW) is an event too, and wakes as well.
        let mut got = false;
        loop {
            // SAFETY: reads into a buffer we own, at most its length.
            let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                break;
            }
            got = true;
        }
        if got {
            wake.notify();
        } else if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            tracing::warn!("the Maildir watch failed; new mail is found by polling (intake.maildir.poll_interval_ms)");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_rename_into_the_folder_wakes_and_nothing_else_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tmp, new) = (dir.path().join("tmp"), dir.path().join("new"));
        std::fs::create_dir_all(&tmp).expect("tmp");
        std::fs::create_dir_all(&new).expect("new");
        let wake = Wakeup::default();
        let _watch = DirWatch::start(&new, wake.clone()).expect("inotify");
        std::fs::write(tmp.join("1.a"), b"one").expect("write");
        assert!(
            !wake.wait(Duration::from_millis(200)),
            "a file in tmp/ is not a delivery"
        );
        std::fs::rename(tmp.join("1.a"), new.join("1.a")).expect("rename");
        assert!(
            wake.wait(Duration::from_secs(5)),
            "the delivery woke nobody"
        );
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(DirWatch::start(&dir.path().join("absent"), Wakeup::default()).is_err());
    }
}

//! When the daemon picked each report up, seen from outside: the end-to-end
//! benchmark watches the Maildir's `new/` for the daemon opening a file
//! (inotify `IN_OPEN`; the intake reads each file whole from there), so the
//! acknowledgement latency can run from the pickup, as issue 18 asks, with
//! no clock inside the daemon.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use time::OffsetDateTime;

/// The first open of each file name, and whether the kernel's event queue
/// overflowed (then some pickups are missing, never wrong).
#[derive(Default)]
pub struct Pickups {
    pub at: HashMap<String, OffsetDateTime>,
    pub overflowed: bool,
}

pub struct PickupWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Pickups>,
}

impl PickupWatch {
    pub fn start(dir: &Path) -> std::io::Result<PickupWatch> {
        let fd = crate::intake::watch::inotify(dir, libc::IN_OPEN)?;
        let stop = Arc::new(AtomicBool::new(false));
        let watching = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-pickups".into())
            .spawn(move || collect(&fd, &watching))?;
        Ok(PickupWatch { stop, thread })
    }

    pub fn finish(self) -> Pickups {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn collect(fd: &OwnedFd, stop: &AtomicBool) -> Pickups {
    let mut out = Pickups::default();
    // Aligned for `inotify_event`; room for many events per read.
    let mut buf = vec![0u64; 8192];
    let header = std::mem::size_of::<libc::inotify_event>();
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the call's duration.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n <= 0 {
            if stop.load(Ordering::Relaxed) {
                return out;
            }
            continue;
        }
        // SAFETY: reads into a buffer we own, at most its length in bytes.
        let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len() * 8) };
        let Ok(len) = usize::try_from(r) else {
            continue;
        };
        let now = OffsetDateTime::now_utc();
        // SAFETY: the kernel wrote `len` bytes of whole events into `buf`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
        let mut at = 0;
        while at + header <= len {
            // SAFETY: an event header lies at `at` (events are packed, each
            // followed by its `len` name bytes); read unaligned to be safe.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(bytes[at..].as_ptr().cast()) };
            let name_len = ev.len as usize;
            let name = &bytes[(at + header).min(len)..(at + header + name_len).min(len)];
            if ev.mask & libc::IN_Q_OVERFLOW != 0 {
                out.overflowed = true;
            }
            let name = name.split(|b| *b == 0).next().unwrap_or_default();
            if !name.is_empty() {
                out.at
                    .entry(String::from_utf8_lossy(name).into_owned())
                    .or_insert(now);
            }
            at += header + name_len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_is_seen_with_its_name_and_a_write_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("1.a"), b"one").expect("write");
        std::fs::write(dir.path().join("2.b"), b"two").expect("write");
        let watch = PickupWatch::start(dir.path()).expect("inotify");
        let before = OffsetDateTime::now_utc();
        let _ = std::fs::read(dir.path().join("2.b")).expect("read");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let got = watch.finish();
        assert!(!got.overflowed);
        assert_eq!(got.at.len(), 1, "{:?}", got.at.keys().collect::<Vec<_>>());
        assert!(got.at["2.b"] >= before);
    }
}

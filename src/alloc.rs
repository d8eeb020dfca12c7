//! mimalloc's settings for a long-running daemon (issue 18).
//!
//! mimalloc 3.3 keeps freed pages for a second before it returns them to
//! the system, and its arenas ten times that (`purge_delay` 1000 ms,
//! `arena_purge_mult` 10). The intake frees a batch's mail and parses every
//! few hundred milliseconds, from threads that come and go with the
//! batches, so the retained pages piled up: the 10,000-report bench peaked
//! at 109 MiB with them and 80 MiB with a 10 ms delay, at the same CPU per
//! message; returning them at once took another 4–5 MiB off the peak of a
//! 100,000-report drain, again at no CPU cost that showed (README, "Memory
//! budget").

use std::os::raw::{c_int, c_long};

// Links the allocator's C library in whatever uses this module.
use mimalloc as _;

extern "C" {
    fn mi_version() -> c_int;
    fn mi_option_set(option: c_int, value: c_long);
    fn mi_collect(force: bool);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
}

/// The mimalloc release whose option numbers are below (major, minor:
/// 3.3.x); with another one nothing is set, and the test says so.
const KNOWN: c_int = 303;
/// `mi_option_purge_delay` in mimalloc 3.3's `mi_option_e`.
const PURGE_DELAY: c_int = 15;
/// `mi_option_arena_purge_mult`.
const ARENA_PURGE_MULT: c_int = 24;

/// Milliseconds a freed page is kept for reuse before it is returned:
/// none.
const PURGE_DELAY_MS: c_long = 0;

/// Sets the purge delays; false when the bundled mimalloc is not the
/// release they were written for (then it runs as it comes). An explicit
/// `MIMALLOC_PURGE_DELAY` or `MIMALLOC_ARENA_PURGE_MULT` in the
/// environment is left to mimalloc, which reads it.
pub fn tune() -> bool {
    // SAFETY: plain calls into the allocator library this binary links;
    // mi_option_set is not thread-safe, so this runs first thing in main,
    // before any thread exists.
    unsafe {
        if mi_version() / 100 != KNOWN {
            return false;
        }
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
        }
        if std::env::var_os("MIMALLOC_ARENA_PURGE_MULT").is_none() {
            mi_option_set(ARENA_PURGE_MULT, 1);
        }
    }
    true
}

/// Returns the calling thread's free pages to mimalloc's arenas now and
/// purges what the arenas hold past their delay, instead of when the
/// thread next allocates enough to look at them. For a long-lived thread
/// after a burst of work (the intake, after each batch).
pub fn collect() {
    // SAFETY: a plain call into the allocator library this binary links;
    // it works on the calling thread's own heap.
    unsafe { mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mimalloc update renumbers options at will: this fails until the
    /// numbers above are checked against its `mimalloc.h` and `KNOWN`
    /// follows.
    #[test]
    fn the_bundled_mimalloc_is_the_one_the_option_numbers_are_for() {
        // SAFETY: read-only queries of the linked allocator library.
        let (version, default_delay) = unsafe { (mi_version(), mi_option_get(PURGE_DELAY)) };
        assert_eq!(version / 100, KNOWN, "mimalloc {version}");
        // The documented default of 3.3's purge_delay (or what the test
        // below set, when it ran first): the number is that option's.
        assert!(
            [1000, PURGE_DELAY_MS].contains(&default_delay),
            "{default_delay}"
        );
        assert!(tune());
        // SAFETY: as above.
        let (delay, mult) =
            unsafe { (mi_option_get(PURGE_DELAY), mi_option_get(ARENA_PURGE_MULT)) };
        assert_eq!((delay, mult), (PURGE_DELAY_MS, 1));
    }
}

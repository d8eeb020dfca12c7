// glibc's malloc was a tenth of the intake's CPU time (parsing, signing and
// sled allocate many small buffers from several threads); mimalloc serves
// the same pattern with less work. The `system-alloc` feature builds with
// glibc's malloc instead, which heap profilers (heaptrack) can follow.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // With RUST_BACKTRACE=1 in the environment, anyhow captures a backtrace
    // for every library error it creates, and Sequoia creates such errors
    // routinely while parsing hostile input (packet probing, binding
    // signature lookups): about 1% of all CPU went to capturing backtraces
    // nobody reads. RUST_LIB_BACKTRACE=0 turns that off for library errors
    // only; panics still follow RUST_BACKTRACE. An explicit
    // RUST_LIB_BACKTRACE is left as it is.
    //
    // SAFETY (set_var): this is the first statement of main, before any
    // thread is started, so nothing can be reading the environment
    // concurrently.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    disable_huge_pages();
    #[cfg(not(feature = "system-alloc"))]
    csirtd::alloc::tune();
    csirtd::cli::main()
}

/// Transparent huge pages off for this process. mimalloc asks for them
/// (MADV_HUGEPAGE) on its arenas, and then every page the heap touches
/// sparsely (sled's metric histograms, half-used mimalloc pages) takes 2 MiB
/// of RSS instead of 4 KiB: with them the 20,000-report bench peaked at
/// 256 MiB, without at about 180 (issue 18). The kernel refuses huge pages
/// to a process that set this, whatever it madvises; a kernel without the
/// call leaves things as they were. `MIMALLOC_ALLOW_THP=1` in the
/// environment keeps them (mimalloc's own switch, read by it).
fn disable_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some_and(|v| v == "1") {
        return;
    }
    // SAFETY: prctl with integer arguments only; it changes a flag of this
    // process and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

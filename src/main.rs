// glibc's malloc was a tenth of the intake's CPU time (parsing, signing and
// sled allocate many small buffers from several threads); mimalloc serves
// the same pattern with less work.
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
    csirtd::cli::main()
}

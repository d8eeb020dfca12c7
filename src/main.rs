// glibc's malloc was a tenth of the intake's CPU time (parsing, signing and
// sled allocate many small buffers from several threads); mimalloc serves
// the same pattern with less work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    csirtd::cli::main()
}

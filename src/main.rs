fn main() -> std::process::ExitCode {
    csirtd::cli::main()
}

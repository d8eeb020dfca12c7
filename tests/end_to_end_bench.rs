//! The end-to-end benchmark against a real MTA: `csirtd bench --end-to-end
//! --smtp-port P` with the private Postfix (and Dovecot behind it) of the
//! test harness: Maildir → tickets → acknowledgements accepted by Postfix,
//! through `csirtd run --drain`. Ignored by default; run it on a release
//! build:
//!
//! ```sh
//! cargo test --release --test end_to_end_bench -- --ignored --nocapture
//! # CSIRTD_BENCH_MESSAGES=20000 (default), CSIRTD_BENCH_SIGNED=ed25519,
//! # CSIRTD_BENCH_CONNECTIONS=4 (default), CSIRTD_BENCH_RELAY=hold (Postfix
//! # accepts and holds instead of delivering into Dovecot)
//! ```

mod common;
use common::servers::*;

#[test]
#[ignore]
fn maildir_to_postfix_end_to_end() {
    let messages = std::env::var("CSIRTD_BENCH_MESSAGES").unwrap_or_else(|_| "20000".into());
    let connections = std::env::var("CSIRTD_BENCH_CONNECTIONS").unwrap_or_else(|_| "4".into());
    let servers = MailServers::start();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "bench".to_string(),
        "--end-to-end".into(),
        "--dir".into(),
        dir.path().display().to_string(),
        "--messages".into(),
        messages,
        "--connections".into(),
        connections,
        "--smtp-port".into(),
        servers.bench_relay().0.to_string(),
    ];
    if let Ok(kind) = std::env::var("CSIRTD_BENCH_SIGNED") {
        args.extend(["--signed".to_string(), kind]);
    }
    let stdout = servers.bench(&args);
    assert!(stdout.contains("end to end (SMTP"), "{stdout}");
}

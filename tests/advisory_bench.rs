//! The advisory benchmark against a real MTA: `csirtd bench
//! --advisory-members N --advisory-keys K --smtp-port P` with the private
//! Postfix (and Dovecot behind it) of the test harness. Ignored by default;
//! run it on a release build:
//!
//! ```sh
//! cargo test --release --test advisory_bench -- --ignored --nocapture
//! # CSIRTD_BENCH_MEMBERS=5000 CSIRTD_BENCH_KEYS=1000 CSIRTD_BENCH_CONNECTIONS=4
//! # are the defaults;
//! # CSIRTD_BENCH_RELAY=hold: Postfix accepts and holds instead of
//! # delivering into Dovecot
//! ```

mod common;
use common::servers::*;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore]
fn advisory_to_members_through_postfix() {
    let members = env_usize("CSIRTD_BENCH_MEMBERS", 5000);
    let keys = env_usize("CSIRTD_BENCH_KEYS", 1000);
    let connections = env_usize("CSIRTD_BENCH_CONNECTIONS", 4);
    let servers = MailServers::start();
    let (port, delivers) = servers.bench_relay();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let stdout = servers.bench(
        &[
            "bench",
            "--dir",
            dir.path().to_str().unwrap(),
            "--advisory-members",
            &members.to_string(),
            "--advisory-keys",
            &keys.to_string(),
            "--smtp-port",
            &port.to_string(),
            "--connections",
            &connections.to_string(),
        ]
        .map(String::from),
    );
    assert!(
        stdout.contains(&format!("{members} sent, 0 not")),
        "{stdout}"
    );
    let sent = t.elapsed();
    if !delivers {
        return;
    }
    let t = Instant::now();
    servers.wait_for_messages("reporter", "INBOX", members, Duration::from_secs(600));
    println!(
        "all {members} copies in the recipients' Dovecot INBOX {:.1} s after the last was accepted by Postfix ({:.1} s in all)",
        t.elapsed().as_secs_f64(),
        sent.as_secs_f64() + t.elapsed().as_secs_f64()
    );
}

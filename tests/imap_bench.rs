//! The IMAP benchmark against a private Dovecot and Postfix (issue 4). Not
//! part of the test suite (it asserts nothing about speed); run it on a
//! release build and read the figures it prints:
//!
//!     cargo test --release --test imap_bench -- --ignored --nocapture
//!
//! CSIRTD_BENCH_BACKLOG (default 10000) and CSIRTD_BENCH_LATENCY_N (default
//! 40) size the two runs.

mod common;
use common::servers::*;
use common::*;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn account(servers: &MailServers, keys: &str) -> String {
    format!(
        "[[intake.imap]]\nname = \"cert\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"implicit\"\nca_file = {}\nuser = \"cert\"\npassword_file = \"imap-password\"\nbatch = 500\n{keys}\n",
        servers.imaps_port,
        toml_str(&servers.cert.display().to_string())
    )
}

fn report(i: usize) -> Vec<u8> {
    mail(
        &format!("reporter+{i}@bank.example"),
        &format!("Benchmark report {i}"),
        Some(&format!("bench-{i}@bank.example")),
        "",
        &"Host 192.0.2.7 scanned our network on port 22.\r\n".repeat(60),
    )
}

#[test]
#[ignore = "benchmark: cargo test --release --test imap_bench -- --ignored --nocapture"]
fn imap_backlog_and_idle_latency() {
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run with --release for meaningful figures");
    }
    let servers = MailServers::start();

    // Backlog: N reports waiting in INBOX; time until every one is ticketed and moved.
    let n = env_usize("CSIRTD_BENCH_BACKLOG", 10_000);
    let env = Env::with_extra(&format!(
        "[ack]\nrate_limit = 1000000\n{}",
        account(&servers, "")
    ));
    std::fs::write(env.path("imap-password"), format!("{PASSWORD}\n")).expect("password file");
    let reports: Vec<Vec<u8>> = (0..n).map(report).collect();
    let t = Instant::now();
    servers.append_all("cert", "INBOX", reports.iter().map(|r| r.as_slice()));
    println!(
        "appended {n} reports to cert's INBOX in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let mut daemon = Daemon::start(&env, &["run"]);
    let mut watch = servers.imap("cert");
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let moved = watch.count("processed").unwrap_or(0);
        if moved >= n || start.elapsed() > Duration::from_secs(600) {
            break;
        }
    }
    let took = start.elapsed();
    let moved = watch.count("processed").unwrap_or(0);
    println!(
        "backlog: {moved} of {n} ticketed and moved to processed in {:.2} s: {:.0} messages/s (target 500/s)",
        took.as_secs_f64(),
        moved as f64 / took.as_secs_f64()
    );
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(60));

    // Latency, from APPEND to the acknowledgement accepted by the MTA: in
    // IDLE alone, IDLE left every 50 ms to look (Dovecot delays IDLE news by
    // 500 ms), and polling every 50 ms without IDLE.
    let k = env_usize("CSIRTD_BENCH_LATENCY_N", 40);
    for (label, keys) in [
        ("IDLE", ""),
        ("IDLE, rechecking every 50 ms", "idle_recheck_secs = 0.05"),
        (
            "polling every 50 ms",
            "idle = false\npoll_interval_secs = 0.05",
        ),
    ] {
        latency(&servers, k, label, keys);
    }
}

fn latency(servers: &MailServers, k: usize, label: &str, keys: &str) {
    let env = Env::with_outbox_smtp(
        servers.smtp_port,
        "none",
        None,
        None,
        &format!("[ack]\nrate_limit = 1000000\n{}", account(servers, keys)),
    );
    std::fs::write(env.path("imap-password"), format!("{PASSWORD}\n")).expect("password file");
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("control socket ready", Duration::from_secs(30)),
        "{}",
        daemon.log()
    );
    std::thread::sleep(Duration::from_secs(1));
    let mut lat = Vec::new();
    // One logged-in client, as a mail server's delivery would be: the
    // measured time is csirtd's, not a login's.
    let mut appender = servers.imap("cert");
    for i in 0..k {
        let raw = report(1_000_000 + i);
        let t = Instant::now();
        appender.append("INBOX", &raw).expect("APPEND");
        let want = i + 1;
        while env.outbox().iter().filter(|e| e["state"] == "sent").count() < want {
            if t.elapsed() > Duration::from_secs(30) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    println!(
        "latency ({label}) APPEND -> acknowledgement accepted by Postfix, {k} reports: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (targets p50 < 100 ms, p99 < 1 s)",
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        lat[lat.len() - 1].as_secs_f64() * 1000.0
    );
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(60));
}

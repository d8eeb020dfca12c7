//! The end-to-end benchmark against a real MTA: `csirtd bench --end-to-end
//! --smtp-port P` with the private Postfix (and Dovecot behind it) of the
//! test harness: Maildir → tickets → acknowledgements accepted by Postfix,
//! through `csirtd run --drain`. Ignored by default; run it on a release
//! build:
//!
//! ```sh
//! cargo test --release --test end_to_end_bench -- --ignored --nocapture
//! # CSIRTD_BENCH_MESSAGES=20000 (default), CSIRTD_BENCH_SIGNED=ed25519,
//! # CSIRTD_BENCH_TEAM_KEY=ed25519 (unsigned reports, team-signed acks),
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
    if let Ok(kind) = std::env::var("CSIRTD_BENCH_TEAM_KEY") {
        args.extend(["--team-key".to_string(), kind]);
    }
    let stdout = servers.bench(&args);
    assert!(stdout.contains("end to end (SMTP"), "{stdout}");
}

/// `--team-key`: the reports stay unsigned, every acknowledgement is
/// signed by the team (the issue's "plain reports, signed acks"). Runs in
/// the suite with the file transport; no server needed.
#[test]
fn team_key_signs_the_acknowledgements_of_unsigned_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::BIN)
        .args([
            "bench",
            "--end-to-end",
            "--messages",
            "40",
            "--team-key",
            "ed25519",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("unsigned reports, acknowledgements signed Ed25519"),
        "{stdout}"
    );
    let files = |sub: &str, ext: &str| -> Vec<String> {
        std::fs::read_dir(dir.path().join(sub))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == ext) || ext.is_empty())
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect()
    };
    let acks = files("outbox", "eml");
    assert!(acks.len() > 20, "{} acknowledgements", acks.len());
    for ack in &acks {
        assert!(ack.contains("multipart/signed"), "an unsigned ack:\n{ack}");
        assert!(ack.contains("-----BEGIN PGP SIGNATURE-----"), "{ack}");
    }
    let reports = files("maildir/cur", "");
    assert_eq!(reports.len(), 40);
    assert!(reports.iter().all(|r| !r.contains("BEGIN PGP SIGNATURE")));
}

/// What the relay alone can take on this machine: Postfix's `smtp-source`
/// sends `CSIRTD_BENCH_MESSAGES` copies of an acknowledgement of the size
/// csirtd sends (1.4 KB) over `CSIRTD_BENCH_CONNECTIONS` sessions to the
/// same listener, with nothing else running. Prints the rate, and the CPU
/// the machine spent per message (Postfix's processes and smtp-source's
/// own, told apart): the share of the cores the end-to-end run leaves to
/// csirtd is what remains. Ignored by default:
///
/// ```sh
/// CSIRTD_BENCH_RELAY=hold cargo test --release --test end_to_end_bench relay_ceiling -- --ignored --nocapture
/// ```
#[test]
#[ignore]
fn relay_ceiling() {
    let messages: u64 = std::env::var("CSIRTD_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20000);
    let sessions = std::env::var("CSIRTD_BENCH_CONNECTIONS").unwrap_or_else(|_| "4".into());
    let servers = MailServers::start();
    let dir = tempfile::tempdir().unwrap();
    let ack = dir.path().join("ack.eml");
    std::fs::write(&ack, sample_ack()).unwrap();
    let (port, _) = servers.bench_relay();
    let (busy0, total0) = machine_jiffies();
    let children0 = children_cpu();
    let started = std::time::Instant::now();
    let out = std::process::Command::new("smtp-source")
        .args(["-d", "-s", &sessions, "-m", &messages.to_string(), "-F"])
        .arg(&ack)
        .args(["-f", "cert@cert.example", "-t", "reporter+ack@harness.test"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("run smtp-source (Debian package postfix)");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "smtp-source: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (busy1, total1) = machine_jiffies();
    let source_cpu = children_cpu() - children0;
    // Jiffies of all cores: busy share times the wall time and core count.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let machine_cpu = (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64 * elapsed * cores;
    let per = |s: f64| s / messages as f64 * 1e6;
    println!(
        "relay alone (smtp-source, {sessions} sessions, 127.0.0.1:{port}): {messages} messages of {} bytes in {elapsed:.2} s: {:.0} msg/s\n  \
         machine CPU {machine_cpu:.1} s ({:.0} µs per message; {:.2} of {cores} cores busy), of which smtp-source {source_cpu:.1} s ({:.0} µs), the relay about {:.0} µs",
        sample_ack().len(),
        messages as f64 / elapsed,
        per(machine_cpu),
        machine_cpu / elapsed,
        per(source_cpu),
        per(machine_cpu - source_cpu),
    );
}

/// A plain acknowledgement as csirtd writes it (headers and body).
fn sample_ack() -> String {
    let body = "Thank you for your report. CERT Bench has received it and registered\n\
                it as incident 2026-00001.\n\n"
        .repeat(12);
    format!(
        "Date: Mon, 07 Dec 2026 18:49:10 +0000\nFrom: CERT Bench <cert@cert.example>\n\
         To: reporter+ack@harness.test\nSubject: [CERT-EX #2026-00001] Credential leak on paste site\n\
         Message-ID: <cert-ex.2026-00001.ack.42643e09d26e35ff@cert.example>\n\
         In-Reply-To: <report-0-42@reporter0.example>\nAuto-Submitted: auto-replied\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: quoted-printable\n\nHello,\n\n{body}--\nCERT Bench\n"
    )
}

/// Busy and total jiffies of all cores (/proc/stat).
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = cpu.iter().sum();
    // idle and iowait
    let idle = cpu[3] + cpu.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU seconds of this process's waited-for children.
fn children_cpu() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

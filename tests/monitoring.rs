//! Watching `csirtd run`: the Prometheus endpoint and its counts after real
//! deliveries, `/healthz` and `/readyz`, the loopback rule of `[metrics]
//! listen`, and systemd's READY/WATCHDOG/STOPPING over a notify socket.

mod common;

use common::servers::{MailServers, PASSWORD};
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

/// The value of one sample, named with its labels as exposed.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn maildir_name(i: usize) -> String {
    format!("1763900000.M{i:06}P4343.metrics.example")
}

#[test]
fn metrics_count_what_the_daemon_did_and_health_endpoints_answer() {
    let port = free_port();
    let env = Env::with_extra(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"));
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log(
            "metrics and health endpoints listening",
            Duration::from_secs(20)
        ),
        "{}",
        daemon.log()
    );
    // Before anything came in: every counter is there, at zero.
    let (code, text) = get(port, "/metrics").expect("scrape before intake");
    assert_eq!(code, 200, "{text}");
    assert_eq!(
        sample(&text, "csirtd_messages_total{outcome=\"created\"}"),
        Some(0.0),
        "{text}"
    );

    let reports: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            mail(
                &format!("reporter{i}@isp{i}.example"),
                &format!("Scanning from our network {i}"),
                Some(&format!("scan-{i}.metrics@isp{i}.example")),
                "",
                &format!("Report {i}."),
            )
        })
        .collect();
    for (i, raw) in reports.iter().enumerate() {
        env.deliver(&maildir_name(i), raw);
    }
    // The first report again, under another file name: a duplicate.
    env.deliver(&maildir_name(9), &reports[0]);
    let stored = wait_until(Duration::from_secs(30), || {
        env.count_in("new") == 0 && env.count_in("cur") == 4 && env.sent_files().len() == 3
    });
    assert!(
        stored,
        "intake did not finish\n--- log ---\n{}",
        daemon.log()
    );

    // The sender records each delivery just after writing the file.
    let mut text = String::new();
    let sent = wait_until(Duration::from_secs(20), || {
        text = get(port, "/metrics").map(|(_, t)| t).unwrap_or_default();
        sample(&text, "csirtd_outbox_entries{state=\"sent\"}") == Some(3.0)
    });
    assert!(sent, "{text}\n--- log ---\n{}", daemon.log());
    let want = [
        ("csirtd_messages_total{outcome=\"created\"}", 3.0),
        ("csirtd_messages_total{outcome=\"appended\"}", 0.0),
        ("csirtd_messages_total{outcome=\"duplicate\"}", 1.0),
        ("csirtd_messages_total{outcome=\"failed\"}", 0.0),
        ("csirtd_messages_quarantined_total", 0.0),
        ("csirtd_pgp_verdicts_total{status=\"unsigned\"}", 4.0),
        ("csirtd_pgp_verdicts_total{status=\"good\"}", 0.0),
        ("csirtd_outbox_entries{state=\"queued\"}", 0.0),
        ("csirtd_outbox_entries{state=\"failed\"}", 0.0),
        ("csirtd_outbox_attempts_total{result=\"delivered\"}", 3.0),
        ("csirtd_outbox_oldest_queued_age_seconds", 0.0),
    ];
    for (name, value) in want {
        assert_eq!(sample(&text, name), Some(value), "{name}\n{text}");
    }
    let commits = sample(&text, "csirtd_commit_duration_seconds_count").unwrap_or(0.0);
    assert!((1.0..=4.0).contains(&commits), "{commits} commits\n{text}");
    let inf = sample(&text, "csirtd_commit_duration_seconds_bucket{le=\"+Inf\"}");
    assert_eq!(inf, Some(commits), "{text}");
    let size = sample(&text, "csirtd_store_size_bytes").unwrap_or(0.0);
    assert!(size > 0.0, "{text}");

    assert_eq!(get(port, "/healthz"), Some((200, "ok\n".into())));
    assert_eq!(get(port, "/readyz"), Some((200, "ready\n".into())));
    assert_eq!(get(port, "/nothing").map(|(c, _)| c), Some(404));

    // An MTA's `csirtd ingest` goes through the daemon: counted the same.
    let piped = mail(
        "reporter7@isp7.example",
        "Piped report",
        Some("piped-7.metrics@isp7.example"),
        "",
        "Report 7.",
    );
    let (code, said) = env.ingest(&piped);
    assert_eq!(code, 0, "{said}");
    let text = get(port, "/metrics").map(|(_, t)| t).unwrap_or_default();
    assert_eq!(
        sample(&text, "csirtd_messages_total{outcome=\"created\"}"),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "csirtd_pgp_verdicts_total{status=\"unsigned\"}"),
        Some(5.0),
        "{text}"
    );

    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

#[test]
fn a_listen_address_off_loopback_is_refused_naming_the_key() {
    let env = Env::with_extra("[metrics]\nlisten = \"0.0.0.0:9464\"\n");
    for args in [&["check-config"][..], &["run"][..]] {
        let out = env.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {err}");
        assert!(err.contains("metrics.listen"), "{err}");
        assert!(err.contains("allow_remote"), "{err}");
    }
    // The operator's explicit choice is taken, with every key of the section.
    let env = Env::with_extra(
        "[metrics]\nlisten = \"0.0.0.0:9464\"\nallow_remote = true\nstuck_after_minutes = 10\n\
         [log]\nsummary_minutes = 0\n",
    );
    env.ok(&["check-config"]);
    let env = Env::with_extra("[metrics]\nstuck_after_minutes = 0\n");
    let out = env.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics.stuck_after_minutes"));
    let env = Env::with_extra("[metrics]\nlisten = \"localhost\"\n");
    let out = env.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics.listen"));
}

/// Datagrams on the notify socket until `want` arrives (or the time is up).
fn wait_for_notice(sock: &UnixDatagram, want: &str, timeout: Duration) -> Vec<String> {
    let end = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let found = text.lines().any(|l| l == want);
            seen.push(text);
            if found {
                break;
            }
        }
    }
    seen
}

#[test]
fn systemd_hears_ready_then_watchdog_pings_then_stopping() {
    let env = Env::new();
    let path = env.path("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let stderr_path = env.path("daemon-notify.log");
    let stdout_path = env.path("daemon-notify.out");
    let child = env
        .cmd()
        .arg("run")
        .env("NOTIFY_SOCKET", &path)
        // Half a second: pings every quarter second.
        .env("WATCHDOG_USEC", "500000")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("spawn csirtd");
    let mut daemon = Daemon {
        child,
        stderr_path,
        stdout_path,
    };
    let seen = wait_for_notice(&sock, "READY=1", Duration::from_secs(20));
    assert!(
        seen.last()
            .is_some_and(|m| m.lines().any(|l| l == "READY=1")),
        "{seen:?}\n--- log ---\n{}",
        daemon.log()
    );
    // Nothing but READY came first.
    assert_eq!(seen.len(), 1, "{seen:?}");
    // Pings keep coming while the intake runs (and handles mail).
    env.deliver(
        &maildir_name(0),
        &mail("a@isp.example", "Watchdog", Some("wd@isp.example"), "", "x"),
    );
    for _ in 0..3 {
        let seen = wait_for_notice(&sock, "WATCHDOG=1", Duration::from_secs(5));
        assert!(
            seen.last().is_some_and(|m| m == "WATCHDOG=1\n"),
            "{seen:?}\n--- log ---\n{}",
            daemon.log()
        );
    }
    daemon.terminate();
    let seen = wait_for_notice(&sock, "STOPPING=1", Duration::from_secs(10));
    assert!(
        seen.last().is_some_and(|m| m == "STOPPING=1\n"),
        "{seen:?}\n--- log ---\n{}",
        daemon.log()
    );
    daemon.expect_success(Duration::from_secs(20));
    assert!(
        daemon.log().contains("systemd watchdog enabled"),
        "{}",
        daemon.log()
    );
}

/// Scrapes until `cond` holds for the text; returns the last text.
fn scrape_until(port: u16, timeout: Duration, cond: impl Fn(&str) -> bool) -> (bool, String) {
    let mut text = String::new();
    let ok = wait_until(timeout, || {
        text = get(port, "/metrics").map(|(_, t)| t).unwrap_or_default();
        cond(&text)
    });
    (ok, text)
}

#[test]
fn an_imap_account_shows_idle_then_reconnecting_while_its_server_is_down() {
    let mut servers = MailServers::start();
    let port = free_port();
    let env = Env::with_extra(&format!(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n\
         [[intake.imap]]\nname = \"cert\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
         user = \"cert\"\npassword_file = \"imap-password\"\ntimeout_secs = 10\n",
        servers.imap_port
    ));
    std::fs::write(env.path("imap-password"), format!("{PASSWORD}\n")).unwrap();
    let started = time_now();
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("IMAP folder selected", Duration::from_secs(30)),
        "{}",
        daemon.log()
    );
    servers.append(
        "cert",
        "INBOX",
        &mail(
            "a@isp.example",
            "Open resolver",
            Some("imap-metrics@isp.example"),
            "",
            "x",
        ),
    );
    let idle = "csirtd_imap_state{account=\"cert\",state=\"idle\"}";
    let reconnecting = "csirtd_imap_state{account=\"cert\",state=\"reconnecting\"}";
    let (ok, text) = scrape_until(port, Duration::from_secs(30), |t| {
        sample(t, "csirtd_messages_total{outcome=\"created\"}") == Some(1.0)
            && sample(t, idle) == Some(1.0)
    });
    assert!(ok, "{text}\n--- log ---\n{}", daemon.log());
    assert_eq!(sample(&text, reconnecting), Some(0.0), "{text}");
    let polled = sample(
        &text,
        "csirtd_imap_last_poll_timestamp_seconds{account=\"cert\"}",
    );
    assert!(
        polled.is_some_and(|t| t >= started as f64),
        "last poll {polled:?}, started {started}\n{text}"
    );

    servers.stop_dovecot();
    let (ok, text) = scrape_until(port, Duration::from_secs(30), |t| {
        sample(t, reconnecting) == Some(1.0)
    });
    assert!(ok, "{text}\n--- log ---\n{}", daemon.log());
    assert_eq!(sample(&text, idle), Some(0.0), "{text}");

    servers.start_dovecot();
    let (ok, text) = scrape_until(port, Duration::from_secs(30), |t| {
        sample(t, idle) == Some(1.0)
    });
    assert!(ok, "{text}\n--- log ---\n{}", daemon.log());

    daemon.terminate();
    daemon.expect_success(Duration::from_secs(30));
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The slow one (a minute, the unit of both settings): a relay that
/// refuses every connection makes `/readyz` report the outbox stuck, and
/// the summary line tells what came in and what waits.
#[test]
fn a_dead_relay_makes_readyz_report_the_outbox_stuck_and_the_summary_says_so() {
    let port = free_port();
    let dead_relay = free_port();
    let env = Env::with_outbox_smtp(
        dead_relay,
        "none",
        None,
        None,
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:{port}\"\nstuck_after_minutes = 1\n[log]\nsummary_minutes = 1\n"
        ),
    );
    let t0 = Instant::now();
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log(
            "metrics and health endpoints listening",
            Duration::from_secs(20)
        ),
        "{}",
        daemon.log()
    );
    env.deliver(
        &maildir_name(0),
        &mail(
            "a@isp.example",
            "Botnet",
            Some("stuck@isp.example"),
            "",
            "x",
        ),
    );
    let (ok, text) = scrape_until(port, Duration::from_secs(30), |t| {
        sample(t, "csirtd_outbox_attempts_total{result=\"retry\"}").is_some_and(|n| n >= 1.0)
    });
    assert!(ok, "{text}\n--- log ---\n{}", daemon.log());
    // Failing, but not for long yet.
    assert_eq!(get(port, "/readyz"), Some((200, "ready\n".into())));

    let mut last = None;
    let stuck = wait_until(Duration::from_secs(90), || {
        last = get(port, "/readyz");
        last.as_ref().is_some_and(|(code, _)| *code == 503)
    });
    let waited = t0.elapsed();
    assert!(stuck, "{last:?}\n--- log ---\n{}", daemon.log());
    let (_, body) = last.unwrap();
    assert!(
        body.starts_with("outbox stuck: a queued mail has been failing for 1 min"),
        "{body}"
    );
    assert!(waited >= Duration::from_secs(60), "stuck after {waited:?}");
    // Alive all the same.
    assert_eq!(get(port, "/healthz").map(|(c, _)| c), Some(200));
    let text = get(port, "/metrics").unwrap().1;
    let age = sample(&text, "csirtd_outbox_oldest_queued_age_seconds").unwrap_or(0.0);
    assert!(age >= 60.0, "{text}");

    assert!(
        daemon.wait_for_log("messages since last summary:", Duration::from_secs(30)),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("messages since last summary:"))
        .unwrap();
    assert!(
        line.contains("1 created, 0 appended, 0 duplicate, 0 failed"),
        "{line}"
    );
    assert!(line.contains("outbox: 1 queued, 0 sent"), "{line}");

    daemon.terminate();
    daemon.expect_success(Duration::from_secs(30));
}

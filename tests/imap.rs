//! `csirtd run` with `[[intake.imap]]` against a real Dovecot (one per
//! test, from tests/common/servers.rs): pickup through IDLE, MOVE to
//! `processed`, reconnecting after a server restart, a UIDVALIDITY change,
//! hostile mail going to `quarantine`, and `after = "seen"`.

mod common;

use common::servers::*;
use common::*;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// How csirtd reaches Dovecot in a test.
#[derive(Clone, Copy)]
enum Via {
    /// Port 993-style implicit TLS, the test certificate as the only root.
    Imaps,
    /// STARTTLS on the plain port, AUTHENTICATE PLAIN.
    StarttlsPlain,
    /// No TLS at all (logged as a warning).
    Cleartext,
}

/// An installation whose intake is the `cert` account of `servers`, with
/// the file outbox. `keys` are extra lines for the `[[intake.imap]]` table,
/// `extra` more TOML.
/// Every report acknowledged: the crash tests count one acknowledgement
/// per ticket, from hundreds of reports of one mailbox in minutes.
const UNLIMITED_ACKS: &str = "[ack]\nrate_limit = 1000000";

fn imap_env(servers: &MailServers, via: Via, keys: &str, extra: &str) -> Env {
    let env = Env::with_extra(&format!("{extra}\n{}", imap_account(servers, via, keys)));
    std::fs::write(env.path("imap-password"), format!("{PASSWORD}\n")).expect("password file");
    env
}

/// The `[[intake.imap]]` table for `cert`; its password file is
/// `imap-password` beside the configuration.
fn imap_account(servers: &MailServers, via: Via, keys: &str) -> String {
    let (port, tls) = match via {
        Via::Imaps => (servers.imaps_port, "tls = \"implicit\"\nauth = \"login\""),
        Via::StarttlsPlain => (servers.imap_port, "tls = \"starttls\"\nauth = \"plain\""),
        Via::Cleartext => (servers.imap_port, "tls = \"none\""),
    };
    let ca = match via {
        Via::Cleartext => String::new(),
        _ => format!(
            "ca_file = {}\n",
            toml_str(&servers.cert.display().to_string())
        ),
    };
    format!(
        "[[intake.imap]]\nname = \"cert\"\nhost = \"127.0.0.1\"\nport = {port}\n{tls}\n{ca}\
         user = \"cert\"\npassword_file = \"imap-password\"\nidle_renew_secs = 60\ntimeout_secs = 10\n\
         label = \"team-mailbox\"\n{keys}\n"
    )
}

fn report(n: usize) -> Vec<u8> {
    mail(
        &format!("reporter{n}@bank{n}.example"),
        &format!("Phishing site number {n}"),
        Some(&format!("imap-report-{n}@bank{n}.example")),
        "",
        &format!("Please take down https://phish{n}.example/login."),
    )
}

/// Waits until the daemon selected the folder and went idle (or polls).
fn wait_selected(daemon: &mut Daemon) {
    assert!(
        daemon.wait_for_log("IMAP folder selected", WAIT),
        "csirtd did not select the IMAP folder\n--- log ---\n{}",
        daemon.log()
    );
}

/// Looks at `cert`'s mailboxes through one IMAP connection, made again
/// after a Dovecot restart: a connection per look would make hundreds of
/// logins a second while waiting.
struct Watch<'a> {
    servers: &'a MailServers,
    conn: Option<Imap>,
}

impl<'a> Watch<'a> {
    fn new(servers: &'a MailServers) -> Watch<'a> {
        Watch {
            servers,
            conn: None,
        }
    }

    fn with<T>(&mut self, f: impl FnOnce(&mut Imap) -> std::io::Result<T>) -> Option<T> {
        if self.conn.is_none() {
            let mut c = Imap::connect(self.servers.imap_port).ok()?;
            c.login("cert", PASSWORD).ok()?;
            self.conn = Some(c);
        }
        let r = f(self.conn.as_mut()?);
        if r.is_err() {
            self.conn = None;
        }
        r.ok()
    }

    fn count(&mut self, mailbox: &str) -> Option<usize> {
        self.with(|c| c.count(mailbox))
    }

    /// The FLAGS of every message in `mailbox`, one line each.
    fn flags(&mut self, mailbox: &str) -> Option<Vec<String>> {
        self.with(|c| {
            c.command(&format!("EXAMINE {mailbox}"))?;
            let resp = c.command("FETCH 1:* (FLAGS)").unwrap_or_default();
            // STATUS on the selected folder may answer from a stale view.
            c.command("CLOSE")?;
            Ok(resp
                .iter()
                .map(|r| r.text())
                .filter(|t| t.contains(" FETCH "))
                .collect())
        })
    }

    /// Whether `mailbox` holds `n` messages, all `\Seen`.
    fn all_seen(&mut self, mailbox: &str, n: usize) -> bool {
        self.flags(mailbox)
            .is_some_and(|f| f.len() == n && f.iter().all(|l| l.contains("\\Seen")))
    }

    /// Waits until `mailbox` holds `n` messages; returns how long that took.
    fn wait_count(&mut self, daemon: &Daemon, mailbox: &str, n: usize) -> Duration {
        let t0 = Instant::now();
        let ok = poll(WAIT, || self.count(mailbox) == Some(n));
        assert!(
            ok,
            "cert/{mailbox} holds {:?} message(s), expected {n}\n--- csirtd log ---\n{}\n{}",
            self.count(mailbox),
            daemon.log(),
            self.servers.logs_tail(20)
        );
        t0.elapsed()
    }
}

/// `wait_until` at a gentler pace (each look is an IMAP round trip).
fn poll(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

fn tickets_with_origin(env: &Env) -> Vec<(String, serde_json::Value)> {
    env.tickets()
        .into_iter()
        .map(|t| {
            let id = t["id"].as_str().unwrap_or_default().to_string();
            let full = env.ticket(&id);
            (id, full)
        })
        .collect()
}

fn origins(ticket: &serde_json::Value) -> Vec<String> {
    ticket["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["origin"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_report_appended_to_inbox_is_picked_up_through_idle_and_moved_to_processed() {
    let servers = MailServers::start();
    let env = imap_env(&servers, Via::Imaps, "", "");
    let mut watch = Watch::new(&servers);
    let mut daemon = Daemon::start(&env, &["run"]);
    wait_selected(&mut daemon);
    // Give it a moment to enter IDLE: the point is the push, not a scan.
    std::thread::sleep(Duration::from_millis(300));

    let t0 = Instant::now();
    servers.append("cert", "INBOX", &report(1));
    watch.wait_count(&daemon, "processed", 1);
    let moved = t0.elapsed();
    println!("APPEND -> moved to processed: {moved:?}");
    assert!(moved < Duration::from_secs(10), "slow pickup: {moved:?}");
    assert_eq!(watch.count("INBOX"), Some(0));
    assert_eq!(watch.count("quarantine"), Some(0));

    let tickets = tickets_with_origin(&env);
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let origin = &origins(&tickets[0].1)[0];
    assert!(
        origin.starts_with("imap:cert/INBOX/") && origin.ends_with("/1"),
        "{origin}"
    );
    // The acknowledgement went out through the (file) outbox.
    assert!(
        wait_until(WAIT, || env.sent_files().len() == 1),
        "no acknowledgement\n{}",
        daemon.log()
    );
    // The message in processed is the report, byte for byte up to line ends.
    let kept = servers.mailbox_messages("cert", "processed");
    assert_eq!(
        String::from_utf8_lossy(&kept[0]).replace("\r\n", "\n"),
        String::from_utf8_lossy(&report(1)).replace("\r\n", "\n")
    );
    assert!(daemon.log().contains("IMAP connected"), "{}", daemon.log());

    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
    assert!(
        daemon.log().contains("IMAP intake stopped"),
        "{}",
        daemon.log()
    );
}

/// Dovecot announces new mail to IDLE clients 500 ms late; with
/// `idle_recheck_secs` csirtd leaves IDLE on its own to look, and goes back.
#[test]
fn idle_recheck_leaves_idle_to_look_and_still_takes_pushed_mail() {
    let servers = MailServers::start();
    let env = imap_env(
        &servers,
        Via::Imaps,
        "idle_recheck_secs = 0.05",
        "[log]\nlevel = \"info,csirtd::intake::imap=trace\"",
    );
    let mut watch = Watch::new(&servers);
    let mut daemon = Daemon::start(&env, &["run"]);
    wait_selected(&mut daemon);
    assert!(
        daemon.wait_for_log("recheck", WAIT),
        "csirtd never left IDLE to recheck\n{}",
        daemon.log()
    );
    for n in 1..=3 {
        servers.append("cert", "INBOX", &report(n));
        watch.wait_count(&daemon, "processed", n);
    }
    assert_eq!(watch.count("INBOX"), Some(0));
    assert_eq!(tickets_with_origin(&env).len(), 3);
    let log = daemon.log();
    // Waiting still happens in IDLE: every recheck re-enters it.
    assert!(log.matches("recheck").count() >= 3, "{log}");
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

#[test]
fn csirtd_reconnects_after_a_dovecot_restart_and_takes_what_arrived_meanwhile() {
    let mut servers = MailServers::start();
    let env = imap_env(&servers, Via::Cleartext, "", "");
    let mut daemon = Daemon::start(&env, &["run"]);
    wait_selected(&mut daemon);
    assert!(
        daemon.log().contains("unencrypted"),
        "tls = none must be warned about\n{}",
        daemon.log()
    );
    servers.append("cert", "INBOX", &report(1));
    Watch::new(&servers).wait_count(&daemon, "processed", 1);

    // csirtd is in IDLE now. Mail submitted while Dovecot is down waits in
    // Postfix's queue and is delivered when Dovecot is back.
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    servers.stop_dovecot();
    let stopped = t0.elapsed();
    servers.submit("reporter2@bank2.example", "cert@cert.example", &report(2));
    std::thread::sleep(Duration::from_millis(1500));
    servers.start_dovecot();
    let restarted = t0.elapsed();
    servers.flush_postfix();
    servers.append("cert", "INBOX", &report(3));
    let mut watch = Watch::new(&servers);
    watch.wait_count(&daemon, "processed", 3);
    println!(
        "Dovecot stopped after {stopped:?}, started after {restarted:?}, all processed after {:?}",
        t0.elapsed()
    );
    assert_eq!(watch.count("INBOX"), Some(0));
    assert_eq!(env.tickets().len(), 3);
    let log = daemon.log();
    assert!(
        log.contains("IMAP connection failed; reconnecting"),
        "the loss must be logged\n{log}"
    );
    assert!(log.contains("IMAP reconnected"), "{log}");

    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

#[test]
fn a_recreated_folder_with_a_new_uidvalidity_is_rescanned_without_ticketing_twice() {
    let servers = MailServers::start();
    let mut admin = servers.imap("cert");
    admin.command("CREATE reports").expect("CREATE reports");
    let env = imap_env(
        &servers,
        Via::Imaps,
        "folder = \"reports\"\nafter = \"seen\"",
        "",
    );
    let mut watch = Watch::new(&servers);
    let mut daemon = Daemon::start(&env, &["run"]);
    wait_selected(&mut daemon);
    for n in 1..=3 {
        admin.append("reports", &report(n)).expect("APPEND");
    }
    assert!(
        poll(WAIT, || watch.all_seen("reports", 3)),
        "{:?}\n{}",
        watch.flags("reports"),
        daemon.log()
    );
    assert_eq!(env.tickets().len(), 3);

    // Same name, new folder: Dovecot gives it a new UIDVALIDITY, and the
    // same reports come back under UIDs 1-3, plus a new one.
    admin.command("DELETE reports").expect("DELETE reports");
    admin.command("CREATE reports").expect("CREATE reports");
    for n in 1..=4 {
        admin.append("reports", &report(n)).expect("APPEND");
    }
    admin.logout();
    assert!(
        poll(WAIT, || watch.all_seen("reports", 4)),
        "{:?}\n{}",
        watch.flags("reports"),
        daemon.log()
    );
    assert!(
        wait_until(WAIT, || env.tickets().len() == 4),
        "{:?}",
        env.tickets()
    );
    let log = daemon.log();
    assert!(log.contains("UIDVALIDITY changed"), "{log}");
    // Each report is one ticket whose single message came in once; the
    // re-appended copies were recognised as duplicates.
    for (id, t) in tickets_with_origin(&env) {
        let incoming = t["messages"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["direction"] == "in").count());
        assert_eq!(incoming, 1, "ticket {id}: {t}");
    }
    assert_eq!(log.matches("outcome=\"duplicate\"").count(), 3, "{log}");

    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

#[test]
fn hostile_mail_over_imap_goes_to_quarantine_and_the_daemon_keeps_running() {
    let servers = MailServers::start();
    let env = imap_env(
        &servers,
        Via::Imaps,
        "",
        "[limits]\nmax_message_size = 32768\nmax_stored_size = 65536\n",
    );
    let mut watch = Watch::new(&servers);
    let mut daemon = Daemon::start(&env, &["run"]);
    wait_selected(&mut daemon);

    let huge = mail(
        "big@bank.example",
        "Too big to take",
        Some("imap-huge@bank.example"),
        "",
        &"x".repeat(100 * 1024),
    );
    // Parsed only up to its headers (over max_message_size), stored, and
    // flagged oversized: also quarantined.
    let large = mail(
        "large@bank.example",
        "Large but storable",
        Some("imap-large@bank.example"),
        "",
        &"y".repeat(40 * 1024),
    );
    let bomb = std::fs::read(fixtures().join("bad/deep-nesting.eml")).expect("fixture");
    let fine = report(1);
    servers.append_all(
        "cert",
        "INBOX",
        [&huge[..], &large[..], &bomb[..], &fine[..]],
    );

    watch.wait_count(&daemon, "quarantine", 3);
    watch.wait_count(&daemon, "processed", 1);
    assert_eq!(watch.count("INBOX"), Some(0));
    assert!(
        matches!(daemon.child.try_wait(), Ok(None)),
        "csirtd exited\n{}",
        daemon.log()
    );

    let log = daemon.log();
    assert!(
        log.contains("refused: message exceeds limits.max_stored_size"),
        "the refusal must be logged\n{log}"
    );
    let tickets = tickets_with_origin(&env);
    assert_eq!(
        tickets.len(),
        3,
        "the over-limit message is not stored: {tickets:?}"
    );
    let flags_of = |needle: &str| {
        let t = tickets
            .iter()
            .find(|(_, t)| t["subject"].as_str().unwrap_or("").contains(needle))
            .unwrap_or_else(|| panic!("no ticket for {needle}: {tickets:?}"));
        t.1["flags"].to_string()
    };
    assert!(flags_of("nested").contains("too-deep"));
    assert!(flags_of("Large but storable").contains("oversized"));
    assert_eq!(flags_of("Phishing site"), "[]");
    let quarantined: Vec<String> = servers
        .mailbox_messages("cert", "quarantine")
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    for mid in [
        "imap-huge@bank.example",
        "imap-large@bank.example",
        "bad-deep-nesting-0001@fuzz.example",
    ] {
        assert!(
            quarantined.iter().any(|m| m.contains(mid)),
            "{mid} not in quarantine"
        );
    }

    // Still working after all that.
    servers.append("cert", "INBOX", &report(2));
    watch.wait_count(&daemon, "processed", 2);
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

#[test]
fn after_seen_leaves_mail_in_place_flagged_and_a_restart_does_not_take_it_again() {
    let servers = MailServers::start();
    let env = imap_env(
        &servers,
        Via::StarttlsPlain,
        "after = \"seen\"\nidle = false\npoll_interval_secs = 1",
        "",
    );
    let mut watch = Watch::new(&servers);
    let mut daemon = Daemon::start(&env, &["run"]);
    wait_selected(&mut daemon);
    servers.append_all("cert", "INBOX", [&report(1)[..], &report(2)[..]]);
    assert!(
        poll(WAIT, || watch.all_seen("INBOX", 2)),
        "{:?}\n{}",
        watch.flags("INBOX"),
        daemon.log()
    );
    assert_eq!(watch.count("processed"), Some(0));
    assert_eq!(env.tickets().len(), 2);
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));

    // The stored UID state says both are done: nothing is fetched again.
    let mut daemon = Daemon::start(&env, &["run"]);
    wait_selected(&mut daemon);
    servers.append("cert", "INBOX", &report(3));
    assert!(
        poll(WAIT, || watch.all_seen("INBOX", 3)),
        "{:?}\n{}",
        watch.flags("INBOX"),
        daemon.log()
    );
    let log = daemon.log();
    assert!(
        log.contains("resuming after the last processed UID"),
        "{log}"
    );
    assert_eq!(log.matches("message stored").count(), 1, "{log}");
    assert_eq!(env.tickets().len(), 3);
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

#[test]
fn run_drain_takes_the_backlog_moves_it_and_exits() {
    let servers = MailServers::start();
    let env = imap_env(&servers, Via::Imaps, "batch = 7", "");
    let reports: Vec<Vec<u8>> = (1..=25).map(report).collect();
    servers.append_all("cert", "INBOX", reports.iter().map(|r| &r[..]));
    let t0 = Instant::now();
    let mut daemon = Daemon::start(&env, &["run", "--drain"]);
    daemon.expect_success(WAIT);
    println!("--drain of 25 reports: {:?}", t0.elapsed());
    let mut watch = Watch::new(&servers);
    assert_eq!(watch.count("processed"), Some(25), "{}", daemon.log());
    assert_eq!(watch.count("INBOX"), Some(0));
    assert_eq!(env.tickets().len(), 25);
    assert!(
        !daemon.log().contains("did not finish"),
        "the IMAP task must end with the intake\n{}",
        daemon.log()
    );
}

#[test]
fn a_refused_login_is_retried_and_the_password_file_is_read_again() {
    let servers = MailServers::start();
    let env = imap_env(&servers, Via::StarttlsPlain, "", "");
    std::fs::write(env.path("imap-password"), "wrong\n").expect("password file");
    servers.append("cert", "INBOX", &report(1));
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("login as cert refused", WAIT),
        "{}",
        daemon.log()
    );
    // Rotated while the daemon runs: no restart needed.
    std::fs::write(env.path("imap-password"), format!("{PASSWORD}\n")).expect("password file");
    Watch::new(&servers).wait_count(&daemon, "processed", 1);
    assert!(
        daemon.log().contains("IMAP reconnected"),
        "{}",
        daemon.log()
    );
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

/// Restarts `servers`' Dovecot advertising only `caps` after login.
fn limit_capabilities(servers: &mut MailServers, caps: &str) {
    use std::io::Write;
    let conf = servers.dir.join("dovecot/dovecot.conf");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&conf)
        .expect("dovecot.conf");
    writeln!(f, "imap_capability = {caps}").expect("write dovecot.conf");
    servers.restart_dovecot();
}

#[test]
fn without_move_uidplus_copy_and_uid_expunge_take_its_place() {
    let mut servers = MailServers::start();
    limit_capabilities(&mut servers, "IMAP4rev1 SASL-IR LITERAL+ IDLE UIDPLUS");
    let mut other = servers.imap("cert");
    other.append("INBOX", &report(1)).expect("APPEND");
    let env = imap_env(&servers, Via::Imaps, "", "");
    let mut daemon = Daemon::start(&env, &["run"]);
    let mut watch = Watch::new(&servers);
    watch.wait_count(&daemon, "processed", 1);
    // COPY shows in processed before UID EXPUNGE empties INBOX.
    assert!(
        poll(WAIT, || watch.count("INBOX") == Some(0)),
        "not expunged from INBOX\n{}",
        daemon.log()
    );
    // While another client has the folder selected too.
    other.command("SELECT INBOX").expect("SELECT");
    other.append("INBOX", &report(2)).expect("APPEND");
    watch.wait_count(&daemon, "processed", 2);
    assert!(
        poll(WAIT, || watch.count("INBOX") == Some(0)),
        "not expunged from INBOX\n{}",
        daemon.log()
    );
    assert!(!daemon.log().contains("neither MOVE nor UIDPLUS"));
    assert_eq!(env.tickets().len(), 2);
    other.logout();
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

#[test]
fn without_move_or_uidplus_mail_is_copied_flagged_and_never_expunged() {
    let mut servers = MailServers::start();
    limit_capabilities(&mut servers, "IMAP4rev1 SASL-IR LITERAL+ IDLE");
    servers.append_all("cert", "INBOX", [&report(1)[..], &report(2)[..]]);
    let env = imap_env(&servers, Via::Imaps, "", "");
    let mut daemon = Daemon::start(&env, &["run"]);
    let mut watch = Watch::new(&servers);
    watch.wait_count(&daemon, "processed", 2);
    assert!(
        poll(WAIT, || watch.all_seen("INBOX", 2)),
        "{:?}\n{}",
        watch.flags("INBOX"),
        daemon.log()
    );
    assert!(
        daemon.log().contains("neither MOVE nor UIDPLUS"),
        "{}",
        daemon.log()
    );
    // The originals stay, and the stored UID state keeps them from being
    // taken again: a third message is the only one stored next.
    servers.append("cert", "INBOX", &report(3));
    watch.wait_count(&daemon, "processed", 3);
    assert_eq!(daemon.log().matches("message stored").count(), 3);
    assert_eq!(watch.count("INBOX"), Some(3));
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

/// `n` reports in INBOX; csirtd is killed with SIGKILL at random points
/// `kills` times, then runs until everything is ticketed, moved and sent.
fn crash_rounds(servers: &MailServers, env: &Env, n: usize, kills: usize) {
    use rand::Rng;
    // Each report from its own +detail address of the `reporter` mailbox,
    // which the rate limit counts as one sender: see UNLIMITED_ACKS.
    let reports: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            mail(
                &format!("reporter+{i}@bank.example"),
                &format!("Crash test report {i}"),
                Some(&format!("crash-{i}@bank.example")),
                "",
                "Details.",
            )
        })
        .collect();
    servers.append_all("cert", "INBOX", reports.iter().map(|r| &r[..]));
    let mut rng = rand::thread_rng();
    let mut watch = Watch::new(servers);
    let t0 = Instant::now();
    for k in 1..=kills {
        let mut daemon = Daemon::start(env, &["run"]);
        std::thread::sleep(Duration::from_millis(rng.gen_range(100..800)));
        daemon.kill();
        println!(
            "kill {k} after {:?}: INBOX {:?}",
            t0.elapsed(),
            watch.count("INBOX")
        );
    }
    let mut daemon = Daemon::start(env, &["run"]);
    // Until then other commands find the store locked and exit 75.
    assert!(
        daemon.wait_for_log("control socket ready", WAIT),
        "{}",
        daemon.log()
    );
    let done = poll(Duration::from_secs(180), || {
        watch.count("INBOX") == Some(0) && watch.count("processed") == Some(n)
    });
    assert!(
        done,
        "INBOX {:?}, processed {:?}\n{}",
        watch.count("INBOX"),
        watch.count("processed"),
        daemon.log()
    );
    let sent = wait_until(Duration::from_secs(180), || {
        env.outbox().iter().filter(|e| e["state"] == "sent").count() == n
    });
    assert!(sent, "not every acknowledgement was sent\n{}", daemon.log());
    println!(
        "all {n} processed and acknowledged after {:?}",
        t0.elapsed()
    );
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(30));
    let tickets = env.tickets();
    assert_eq!(tickets.len(), n);
    // Every ticket holds its report once (a second pass after a kill is a
    // duplicate, not a new message) and one acknowledgement.
    for t in &tickets {
        assert_eq!(t["messages"], serde_json::json!(2), "report + ack: {t}");
    }
    assert_eq!(env.outbox().len(), n);
}

/// Issue 4's crash test, for the IMAP side: nothing lost, nothing ticketed
/// or queued twice, INBOX empty. (The file outbox writes each message
/// under its Message-ID, so a resend overwrites rather than duplicates.)
#[test]
fn sigkill_at_random_points_loses_and_duplicates_nothing() {
    let servers = MailServers::start();
    let env = imap_env(&servers, Via::Imaps, "batch = 20", UNLIMITED_ACKS);
    crash_rounds(&servers, &env, 500, 4);
    assert_eq!(env.sent_files().len(), 500);
}

/// The same over SMTP into the reporter's mailbox, counted by Message-ID:
/// every ticket's acknowledgement arrives, under the one Message-ID its
/// outbox entry holds. SMTP is at-least-once: a SIGKILL between the MTA's
/// 250 and the flush that records it can deliver a second copy of the same
/// bytes. Each SMTP session (`outbox.smtp.connections`, 4 by default)
/// has at most one delivery not yet marked sent on disk, so copies are
/// bounded by kills times sessions, not forbidden.
#[test]
fn sigkill_with_smtp_delivers_each_acknowledgement_once() {
    const N: usize = 500;
    let servers = MailServers::start();
    let env = Env::with_outbox_smtp(
        servers.smtp_port,
        "none",
        None,
        None,
        &format!(
            "{UNLIMITED_ACKS}\n{}",
            imap_account(&servers, Via::Imaps, "batch = 20")
        ),
    );
    std::fs::write(env.path("imap-password"), format!("{PASSWORD}\n")).expect("password file");
    const SESSIONS: usize = 4; // the default outbox.smtp.connections
    crash_rounds(&servers, &env, N, 4);
    let acks = servers.wait_for_messages("reporter", "INBOX", N, Duration::from_secs(60));
    let mut per_id = std::collections::BTreeMap::<String, usize>::new();
    for a in &acks {
        let text = String::from_utf8_lossy(a);
        *per_id
            .entry(header(&text, "Message-ID").unwrap_or_default())
            .or_default() += 1;
    }
    let copies: usize = per_id.values().map(|n| n - 1).sum();
    println!(
        "{} acknowledgements, {copies} extra copies after 4 kills",
        per_id.len()
    );
    assert_eq!(
        per_id.len(),
        N,
        "one acknowledgement (Message-ID) per ticket"
    );
    let queued: std::collections::BTreeSet<String> = env
        .outbox()
        .iter()
        .map(|e| format!("<{}>", e["message_id"].as_str().unwrap_or_default()))
        .collect();
    let received: std::collections::BTreeSet<String> = per_id.keys().cloned().collect();
    assert_eq!(
        received, queued,
        "the mailbox holds exactly the queued acknowledgements"
    );
    assert!(
        copies <= 4 * SESSIONS,
        "at most one unflushed copy per session per kill, got {copies}: {per_id:?}"
    );
}

/// Issue 4's end-to-end case: a report submitted to the MTA lands in
/// `cert`'s INBOX, csirtd picks it up through IDLE, tickets it, moves it to
/// `processed`, and the acknowledgement reaches `reporter`'s own INBOX
/// through Postfix, PGP/MIME-signed by the team key; the real gpg verifies it.
#[test]
fn a_report_through_the_mta_gets_a_signed_acknowledgement_gpg_verifies() {
    use common::gpg::{split_signed, Gpg};
    let servers = MailServers::start();
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let outside = Gpg::new();
    outside.import(&team.export("cert@cert.example"));

    let env = Env::with_outbox_smtp(
        servers.smtp_port,
        "none",
        None,
        None,
        &format!(
            "{}\n[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n",
            imap_account(&servers, Via::Imaps, "")
        ),
    );
    std::fs::write(env.path("imap-password"), format!("{PASSWORD}\n")).expect("password file");
    std::fs::create_dir_all(env.path("keyring")).expect("keyring");
    std::fs::write(
        env.path("team.asc"),
        team.export_secret("cert@cert.example"),
    )
    .expect("team key");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(env.path("team.asc"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }

    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("control socket ready", WAIT),
        "{}",
        daemon.log()
    );
    let report = mail(
        "Rita Reporter <reporter@example.test>",
        "Phishing kit on our web server",
        Some("e2e-1@example.test"),
        "",
        "The kit sits under /wp-content/uploads/.",
    );
    servers.submit("reporter@example.test", "cert@example.test", &report);

    let acks = servers.wait_for_messages("reporter", "INBOX", 1, Duration::from_secs(60));
    assert_eq!(acks.len(), 1);
    let ack = &acks[0];
    let text = String::from_utf8_lossy(ack).to_string();
    let subject = header(&text, "Subject").unwrap_or_default();
    assert!(subject.contains("[CERT-EX #"), "{subject}");
    assert_eq!(
        header(&text, "In-Reply-To").as_deref(),
        Some("<e2e-1@example.test>")
    );
    assert!(text.contains("multipart/signed"), "{text}");

    let (data, sig) = split_signed(ack);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("data"), &data).expect("data");
    std::fs::write(dir.path().join("sig.asc"), &sig).expect("sig");
    let out = outside.run(
        &[
            "--verify",
            dir.path().join("sig.asc").to_str().expect("utf-8"),
            dir.path().join("data").to_str().expect("utf-8"),
        ],
        None,
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.contains("Good signature from \"CERT Example"),
        "gpg --verify: {said}"
    );

    assert!(
        poll(WAIT, || servers.message_count("cert", "INBOX") == 0
            && servers.message_count("cert", "processed") == 1),
        "the report moved to processed\n{}",
        daemon.log()
    );
    let tickets = env.tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(
        tickets[0]["requestors"],
        serde_json::json!(["reporter@example.test"])
    );
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(30));
}

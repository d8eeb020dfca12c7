//! The outbox's sessions and batches against the private Postfix of the
//! test harness (tests/common/servers.rs): many acknowledgements over few
//! SMTP connections, a session the relay dropped replaced without failing
//! the message, idle sessions closed with QUIT, and kill -9 during a
//! backlog drain, over several sessions and with the file transport,
//! losing nothing and sending no more copies twice than one per open
//! session per kill, the stated bound.

mod common;

use common::servers::MailServers;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn bare(mid: &str) -> String {
    mid.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// Report `i` from `reporter+<i>@…`, whom Postfix delivers to `reporter`.
fn report(i: usize, tag: &str) -> Vec<u8> {
    mail(
        &format!("Reporter {i} <reporter+r{i}@isp{}.example>", i % 5),
        &format!("Scanning from our network, case {i}"),
        Some(&format!("report-{i}.{tag}@isp{}.example", i % 5)),
        "",
        &format!("Host 192.0.2.{} was seen scanning ({tag} {i}).", i % 250),
    )
}

fn fill_maildir(env: &Env, n: usize, tag: &str) {
    for i in 0..n {
        env.deliver(
            &format!("{}.M{i:06}P1.{tag}", 1_765_000_000 + i),
            &report(i, tag),
        );
    }
}

/// An installation delivering over plain SMTP to the private Postfix with
/// `connections` sessions and the given `[outbox] flush_batch`.
fn smtp_env(servers: &MailServers, connections: usize, idle_secs: u64, flush_batch: usize) -> Env {
    smtp_env_tls(
        servers,
        servers.smtp_port,
        "none",
        connections,
        idle_secs,
        flush_batch,
    )
}

fn smtp_env_tls(
    servers: &MailServers,
    port: u16,
    tls: &str,
    connections: usize,
    idle_secs: u64,
    flush_batch: usize,
) -> Env {
    let env = Env::with_outbox_smtp(
        port,
        tls,
        (tls != "none").then_some(servers.cert.as_path()),
        None,
        &format!(
            "connections = {connections}\nidle_secs = {idle_secs}\n[ack]\nrate_limit = 100000\n"
        ),
    );
    let text = std::fs::read_to_string(&env.config).expect("read config");
    let text = text.replacen(
        "[outbox]\n",
        &format!("[outbox]\nflush_batch = {flush_batch}\n"),
        1,
    );
    std::fs::write(&env.config, text).expect("write config");
    env
}

/// The SMTP sessions that carried mail and have ended, each as its number
/// of MAIL commands (Postfix logs `disconnect from … mail=N …`). The
/// harness's own readiness probes send no MAIL and are left out.
fn mail_sessions(servers: &MailServers) -> Vec<usize> {
    servers
        .postfix_log()
        .lines()
        .filter(|l| l.contains("postfix/smtpd") && l.contains(": disconnect from"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("mail="))
                .and_then(|n| n.split('/').next_back())
                .and_then(|n| n.parse().ok())
        })
        .collect()
}

/// Messages Postfix accepted: its cleanup logs each as it takes it (the
/// LMTP delivery to Dovecot, `status=sent`, comes later).
fn accepted(servers: &MailServers) -> usize {
    servers
        .postfix_log()
        .lines()
        .filter(|l| l.contains("postfix/cleanup") && l.contains("message-id="))
        .count()
}

/// Sessions that ended with our QUIT (Postfix logs the commands per session).
fn quits(servers: &MailServers) -> usize {
    servers
        .postfix_log()
        .lines()
        .filter(|l| l.contains(": disconnect from") && l.contains(" quit=1"))
        .count()
}

/// The outbox, after asserting it holds one acknowledgement per report,
/// each sent.
fn all_sent(env: &Env, n: usize) -> Vec<Value> {
    let outbox = env.outbox();
    assert_eq!(outbox.len(), n, "one acknowledgement per report");
    assert_eq!(
        by_state(&outbox).get("sent"),
        Some(&n),
        "{:?}",
        by_state(&outbox)
    );
    outbox
}

fn by_state(entries: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in entries {
        *m.entry(e["state"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    m
}

/// The Message-IDs of the messages in `reporter`'s INBOX, with how often each came.
fn received(servers: &MailServers, at_least: usize) -> BTreeMap<String, usize> {
    let msgs = servers.wait_for_messages("reporter", "INBOX", at_least, Duration::from_secs(120));
    // Copies Postfix accepted twice may still be on their way to Dovecot.
    std::thread::sleep(Duration::from_secs(2));
    let msgs = if servers.message_count("reporter", "INBOX") > msgs.len() {
        servers.mailbox_messages("reporter", "INBOX")
    } else {
        msgs
    };
    let mut m = BTreeMap::new();
    for raw in &msgs {
        let text = String::from_utf8_lossy(raw);
        *m.entry(bare(&header(&text, "Message-ID").unwrap_or_default()))
            .or_insert(0) += 1;
    }
    m
}

/// `N` acknowledgements through `run --drain` over `tls` to `port`, with
/// two sessions: all arrive once, over at most two SMTP sessions.
fn acknowledgements_share_two_sessions(servers: &MailServers, port: u16, tls: &str) {
    let env = smtp_env_tls(servers, port, tls, 2, 30, 64);
    const N: usize = 40;
    fill_maildir(&env, N, tls);
    let mut d = Daemon::start(&env, &["run", "--drain"]);
    d.expect_success(Duration::from_secs(120));
    let outbox = all_sent(&env, N);
    let got = received(servers, N);
    assert_eq!(got.len(), N, "every acknowledgement arrived: {got:?}");
    assert!(got.values().all(|n| *n == 1), "none twice: {got:?}");
    // The sessions end with the drain's QUIT; Postfix logs them a moment later.
    wait_until(Duration::from_secs(10), || {
        mail_sessions(servers).iter().sum::<usize>() >= N
    });
    let sessions = mail_sessions(servers);
    // Two sessions, and no reconnects: nothing failed.
    assert!(
        (1..=2).contains(&sessions.len()) && sessions.iter().sum::<usize>() == N,
        "{N} messages over {tls} took the SMTP sessions {sessions:?} (MAIL commands each), expected at most 2\n{}",
        servers.logs_tail(30)
    );
    // Each entry was attempted once.
    assert!(outbox.iter().all(|e| e["attempts"] == 1));
}

#[test]
fn many_acknowledgements_share_few_smtp_sessions() {
    let servers = MailServers::start();
    acknowledgements_share_two_sessions(&servers, servers.smtp_port, "none");
}

#[test]
fn implicit_tls_sessions_are_reused_too() {
    let servers = MailServers::start();
    acknowledgements_share_two_sessions(&servers, servers.smtps_port, "implicit");
}

/// A recipient the relay refuses (550 at RCPT) fails that message only:
/// the session stays open for the next ones. (lettre's own `send` closed
/// the connection on any refusal, so each refused acknowledgement cost a
/// new session.)
#[test]
fn a_refused_recipient_does_not_close_the_session() {
    let servers = MailServers::start();
    let env = smtp_env(&servers, 1, 30, 64);
    env.deliver("1765000000.M1P1.a", &report(1, "refused"));
    env.deliver(
        "1765000001.M2P1.b",
        &mail(
            "Nobody <nobody@isp1.example>",
            "Scanning from our network",
            Some("report-nobody@isp1.example"),
            "",
            "Host 192.0.2.7 was seen scanning.",
        ),
    );
    env.deliver("1765000002.M3P1.c", &report(3, "refused"));
    let mut d = Daemon::start(&env, &["run", "--drain"]);
    d.expect_success(Duration::from_secs(60));
    let outbox = env.outbox();
    assert_eq!(by_state(&outbox).get("sent"), Some(&2), "{outbox:#?}");
    let refused: Vec<&Value> = outbox.iter().filter(|e| e["state"] == "failed").collect();
    assert_eq!(refused.len(), 1, "{outbox:#?}");
    assert_eq!(refused[0]["to"][0], "nobody@isp1.example");
    assert!(
        refused[0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("550"),
        "{:#}",
        refused[0]
    );
    wait_until(Duration::from_secs(10), || {
        mail_sessions(&servers).iter().sum::<usize>() >= 3
    });
    assert_eq!(
        mail_sessions(&servers),
        [3],
        "one session with three MAIL commands\n{}",
        servers.logs_tail(20)
    );
}

#[test]
fn a_session_the_relay_dropped_is_replaced_without_failing_the_message() {
    let mut servers = MailServers::start();
    let env = smtp_env(&servers, 1, 600, 64);
    let mut d = Daemon::start(&env, &["run"]);
    env.deliver("1765000000.M1P1.first", &report(1, "dropped"));
    servers.wait_for_messages("reporter", "INBOX", 1, Duration::from_secs(30));
    // The session stays open (idle_secs = 600); Postfix going away closes it.
    servers.stop_postfix();
    servers.start_postfix();
    env.deliver("1765000001.M2P1.second", &report(2, "dropped"));
    let got = servers.wait_for_messages("reporter", "INBOX", 2, Duration::from_secs(30));
    assert_eq!(got.len(), 2);
    d.terminate();
    d.expect_success(Duration::from_secs(20));
    let outbox = env.outbox();
    assert_eq!(outbox.len(), 2);
    for e in &outbox {
        assert_eq!(e["state"], "sent", "{e}");
        assert_eq!(
            e["attempts"], 1,
            "the dead session is not the message's failure: {e}"
        );
        assert!(e["last_error"].is_null(), "{e}");
    }
}

#[test]
fn an_idle_session_is_closed_with_quit() {
    let servers = MailServers::start();
    let env = smtp_env(&servers, 4, 1, 64);
    let mut d = Daemon::start(&env, &["run"]);
    let before = quits(&servers);
    env.deliver("1765000000.M1P1.idle", &report(1, "idle"));
    servers.wait_for_messages("reporter", "INBOX", 1, Duration::from_secs(30));
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(15), || quits(&servers) > before),
        "no QUIT within 15 s of the delivery with idle_secs = 1\n{}\n--- daemon ---\n{}",
        servers.logs_tail(20),
        d.log()
    );
    assert!(
        matches!(d.child.try_wait(), Ok(None)),
        "the daemon itself closed the session, while running"
    );
    println!(
        "session closed {:.1} s after the delivery",
        t.elapsed().as_secs_f64()
    );
    d.terminate();
    d.expect_success(Duration::from_secs(20));
}

/// kill -9 while `run` drains a backlog over four sessions, then `run
/// --drain`: every acknowledgement arrives, and the copies that arrive
/// twice are at most one per session per kill, with the default (large)
/// `flush_batch`: the batch does not widen the bound.
#[test]
fn sigkill_during_an_smtp_drain_loses_nothing_and_doubles_at_most_one_per_session() {
    const N: usize = 600;
    const SESSIONS: usize = 4;
    let servers = MailServers::start();
    let env = smtp_env(&servers, SESSIONS, 30, 64);
    fill_maildir(&env, N, "crash");
    let mut kills = 0;
    let mut killed_with_work = 0;
    for target in [N / 10, N / 3] {
        let mut d = Daemon::start(&env, &["run"]);
        let reached = wait_until(Duration::from_secs(60), || accepted(&servers) >= target);
        assert!(reached, "no progress\n{}", d.log());
        d.kill();
        kills += 1;
        let queued = env
            .outbox()
            .iter()
            .filter(|e| e["state"] == "queued")
            .count();
        if queued > 0 || env.count_in("new") > 0 {
            killed_with_work += 1;
        }
    }
    assert!(killed_with_work >= 1, "the kills came after the drain");
    let mut d = Daemon::start(&env, &["run", "--drain"]);
    d.expect_success(Duration::from_secs(180));

    let outbox = all_sent(&env, N);
    let got = received(&servers, N);
    let missing: Vec<String> = outbox
        .iter()
        .map(|e| bare(e["message_id"].as_str().unwrap_or_default()))
        .filter(|m| !got.contains_key(m))
        .collect();
    assert!(missing.is_empty(), "acknowledgements lost: {missing:?}");
    let expected: BTreeSet<String> = outbox
        .iter()
        .map(|e| bare(e["message_id"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(got.len(), expected.len(), "only our Message-IDs: {got:?}");
    let doubled: usize = got.values().map(|n| n - 1).sum();
    println!("{kills} kills, {doubled} copies sent twice (bound {SESSIONS} per kill)");
    assert!(
        doubled <= kills * SESSIONS,
        "{doubled} copies sent twice after {kills} kills, bound {}",
        kills * SESSIONS
    );
}

/// The file transport under kill -9 during its drain: every entry marked
/// sent has its file, no file is there twice or half-written, and the
/// restart finishes the rest.
#[test]
fn sigkill_during_a_file_drain_loses_nothing_and_leaves_one_file_per_message() {
    const N: usize = 400;
    let env = Env::with_extra("[ack]\nrate_limit = 100000\n");
    let text = std::fs::read_to_string(&env.config).expect("read config");
    std::fs::write(
        &env.config,
        text.replacen("[outbox]\n", "[outbox]\nflush_batch = 16\n", 1),
    )
    .expect("write config");
    fill_maildir(&env, N, "files");
    let eml = |env: &Env| env.sent_files().len();
    for target in [N / 4, N / 2] {
        let mut d = Daemon::start(&env, &["run"]);
        assert!(
            wait_until(Duration::from_secs(60), || eml(&env) >= target),
            "no progress\n{}",
            d.log()
        );
        d.kill();
        // What the store says was sent is on disk, whole.
        for e in env.outbox().iter().filter(|e| e["state"] == "sent") {
            let mid = e["message_id"].as_str().unwrap_or_default();
            let stem = csirtd::outbox::transport::file_stem(mid);
            let file = env.path("outbox").join(format!("{stem}.eml"));
            assert!(
                file.is_file(),
                "entry {} marked sent without its file",
                e["id"]
            );
        }
    }
    let mut d = Daemon::start(&env, &["run", "--drain"]);
    d.expect_success(Duration::from_secs(120));
    let outbox = all_sent(&env, N);
    assert_eq!(eml(&env), N, "one file per acknowledgement");
    let leftovers: Vec<String> = std::fs::read_dir(env.path("outbox"))
        .expect("outbox dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for e in &outbox {
        let mid = e["message_id"].as_str().unwrap_or_default();
        let stem = csirtd::outbox::transport::file_stem(mid);
        let text = std::fs::read_to_string(env.path("outbox").join(format!("{stem}.eml")))
            .expect("the entry's file");
        assert_eq!(
            bare(&header(&text, "Message-ID").unwrap_or_default()),
            bare(mid),
            "the file holds its own message"
        );
    }
}

/// An advisory whose members share copies (10 per copy here, so that a
/// kill finds copies in flight), killed twice while it drains: every
/// member gets the advisory, and no member more than once per kill; in
/// all, no more members twice than one copy's worth per session per kill.
/// Postfix's log names the member each delivered copy was for.
#[test]
fn sigkill_during_a_shared_advisory_drain_reaches_every_member_within_the_bound() {
    const MEMBERS: usize = 2000;
    const PER_COPY: usize = 10;
    const SESSIONS: usize = 4;
    let servers = MailServers::start();
    let env = smtp_env(&servers, SESSIONS, 30, 64);
    let team = common::gpg::Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    common::gpg::install_keys(env.dir.path(), &team, "cert@cert.example", &[]);
    let member = |i: usize| format!("reporter+m{i}@members{}.example", i % 3);
    let members: Vec<String> = (0..MEMBERS)
        .map(|i| format!("{{ email = \"{}\" }}", member(i)))
        .collect();
    let mut text = std::fs::read_to_string(&env.config).expect("read config");
    text.push_str(&format!(
        "\n[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n\
         [[lists]]\nname = \"all\"\nmax_tlp = \"clear\"\nencrypt = \"never\"\n\
         recipients_per_copy = {PER_COPY}\nmembers = [{}]\n",
        members.join(", ")
    ));
    std::fs::write(&env.config, text).expect("write config");
    let body = env.path("advisory.txt");
    std::fs::write(&body, "Patch now.\n").expect("advisory text");
    env.ok(&[
        "advisory",
        "send",
        "--list",
        "all",
        "--tlp",
        "clear",
        "--subject",
        "Patch now",
        body.to_str().unwrap(),
    ]);
    assert_eq!(env.outbox().len(), MEMBERS / PER_COPY);

    let mut kills = 0;
    for target in [MEMBERS / PER_COPY / 5, MEMBERS / PER_COPY / 2] {
        let mut d = Daemon::start(&env, &["run"]);
        let reached = wait_until(Duration::from_secs(60), || accepted(&servers) >= target);
        assert!(reached, "no progress\n{}", d.log());
        d.kill();
        kills += 1;
    }
    assert!(
        env.outbox().iter().any(|e| e["state"] == "queued"),
        "the kills came after the drain"
    );
    let mut d = Daemon::start(&env, &["run", "--drain"]);
    d.expect_success(Duration::from_secs(180));
    let outbox = env.outbox();
    assert!(
        outbox.iter().all(|e| e["state"] == "sent"),
        "{:?}",
        by_state(&outbox)
    );

    // Postfix logs each recipient it delivered a message to (over LMTP,
    // into Dovecot): how often each member got the advisory.
    let per_member = |s: &MailServers| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for l in s.postfix_log().lines() {
            if !(l.contains("postfix/lmtp") && l.contains("status=sent")) {
                continue;
            }
            let to = l.split("to=<").nth(1).and_then(|r| r.split('>').next());
            if let Some(to) = to {
                *m.entry(to.to_ascii_lowercase()).or_insert(0) += 1;
            }
        }
        m
    };
    wait_until(Duration::from_secs(180), || {
        per_member(&servers).len() >= MEMBERS
    });
    // Copies Postfix accepted twice may still be on their way to Dovecot.
    std::thread::sleep(Duration::from_secs(3));
    let per_member = per_member(&servers);
    let missing: Vec<String> = (0..MEMBERS)
        .map(member)
        .filter(|m| !per_member.contains_key(m))
        .collect();
    assert!(
        missing.is_empty(),
        "members without the advisory: {missing:?}"
    );
    assert_eq!(per_member.len(), MEMBERS, "only members: {per_member:?}");
    let most = per_member.values().max().copied().unwrap_or(0);
    assert!(
        most <= 1 + kills,
        "a member got it {most} times after {kills} kills"
    );
    let doubled: usize = per_member.values().map(|n| n - 1).sum();
    println!(
        "{kills} kills, {doubled} members got it twice (bound {} per kill)",
        SESSIONS * PER_COPY
    );
    assert!(
        doubled <= kills * SESSIONS * PER_COPY,
        "{doubled} members got it twice after {kills} kills, bound {}",
        kills * SESSIONS * PER_COPY
    );
}

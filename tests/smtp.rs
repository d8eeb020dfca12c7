//! SMTP delivery of the outbox against a real MTA: a private Postfix that
//! hands every message over LMTP to a private Dovecot, where the tests read
//! the acknowledgements from the reporters' own INBOXes over IMAP
//! (tests/common/servers.rs). Covers STARTTLS with a verified certificate,
//! implicit TLS, plain SMTP, AUTH, an MTA outage while the daemon runs, a
//! permanent 5xx refusal, a certificate that does not verify, a server that
//! does not offer STARTTLS, a server too slow to answer, and the end of the
//! retry period.

mod common;

use common::servers::MailServers;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// A Message-ID without its angle brackets.
fn bare(mid: &str) -> String {
    mid.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

fn report(from: &str, i: usize) -> Vec<u8> {
    mail(
        from,
        &format!("Phishing wave {i} against our customers"),
        Some(&format!("report-{i}.smtp-test@bank{i}.example")),
        "",
        &format!("Please take down https://phish{i}.example/login."),
    )
}

/// Every message's Message-ID, and the message text by Message-ID.
fn by_message_id(msgs: &[Vec<u8>]) -> (Vec<String>, BTreeMap<String, String>) {
    let mut ids = Vec::new();
    let mut map = BTreeMap::new();
    for m in msgs {
        let text = String::from_utf8_lossy(m).into_owned();
        let mid = bare(&header(&text, "Message-ID").unwrap_or_default());
        ids.push(mid.clone());
        map.insert(mid, text);
    }
    (ids, map)
}

/// Adds `key = value` lines to the `[outbox]` table (e.g. `retry_for_secs = 2`)
/// and replaces the `[outbox.smtp]` timeout.
fn set_outbox_options(env: &Env, outbox_lines: &str, timeout_secs: u64) {
    let text = std::fs::read_to_string(&env.config).expect("read config");
    let text = text
        .replacen("[outbox]\n", &format!("[outbox]\n{outbox_lines}\n"), 1)
        .replacen(
            "timeout_secs = 10",
            &format!("timeout_secs = {timeout_secs}"),
            1,
        );
    std::fs::write(&env.config, text).expect("write config");
}

fn outbox_summary(entries: &[Value]) -> String {
    entries
        .iter()
        .map(|e| {
            format!(
                "#{} {} to {} attempts {} last_error {}",
                e["id"], e["state"], e["to"], e["attempts"], e["last_error"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Ingests one report from `reporter@example.test`, runs `outbox deliver`,
/// and checks the acknowledgement that arrives in `reporter`'s INBOX.
fn acknowledgement_arrives(
    servers: &MailServers,
    port: u16,
    tls: &str,
    ca: Option<&Path>,
    auth: Option<(&str, &str)>,
) {
    let env = Env::with_outbox_smtp(port, tls, ca, auth, "");
    let (ticket, _) = env.ingest_ok(&report("Reporter <reporter@example.test>", 1));
    let out = env.ok(&["outbox", "deliver"]);
    assert!(out.contains("attempted 1, 0 still queued"), "{out}");

    let outbox = env.outbox();
    assert_eq!(outbox.len(), 1, "{}", outbox_summary(&outbox));
    let entry = &outbox[0];
    assert_eq!(entry["state"], "sent", "{}", outbox_summary(&outbox));
    assert_eq!(entry["attempts"], 1);
    assert_eq!(entry["ticket"].as_str(), Some(ticket.as_str()));
    assert_eq!(entry["to"], serde_json::json!(["reporter@example.test"]));

    let msgs = servers.wait_for_messages("reporter", "INBOX", 1, Duration::from_secs(10));
    assert_eq!(msgs.len(), 1, "exactly one acknowledgement");
    let text = String::from_utf8_lossy(&msgs[0]);
    let show = || format!("--- delivered ---\n{text}");
    assert_eq!(
        bare(&header(&text, "Message-ID").unwrap_or_default()),
        bare(entry["message_id"].as_str().unwrap_or_default()),
        "{}",
        show()
    );
    let subject = header(&text, "Subject").unwrap_or_default();
    assert!(
        subject.contains(&format!("[CERT-EX #{ticket}]")),
        "{}",
        show()
    );
    assert_eq!(
        header(&text, "Auto-Submitted").as_deref(),
        Some("auto-replied"),
        "{}",
        show()
    );
    assert_eq!(
        bare(&header(&text, "In-Reply-To").unwrap_or_default()),
        "report-1.smtp-test@bank1.example",
        "{}",
        show()
    );
    // Envelope: from the team, to the reporter, through Postfix and LMTP.
    assert_eq!(
        header(&text, "Return-Path").as_deref(),
        Some("<cert@cert.example>"),
        "{}",
        show()
    );
    assert_eq!(
        header(&text, "Delivered-To").as_deref(),
        Some("reporter@example.test"),
        "{}",
        show()
    );
    assert_eq!(
        env.ticket(&ticket)["id"].as_str(),
        Some(ticket.as_str()),
        "the ticket exists"
    );
    assert!(event_kinds(&env.ticket(&ticket)).contains(&"sent".to_string()));
}

/// The `Received:` header Postfix's smtpd added, which says whether TLS
/// was used (`smtpd_tls_received_header = yes`).
fn postfix_received(msg: &[u8]) -> String {
    let text = String::from_utf8_lossy(msg);
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded
        .split("\r\n")
        .find(|l| l.starts_with("Received:") && l.contains("by mail.harness.test (Postfix)"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn starttls_with_the_servers_certificate_delivers_the_acknowledgement() {
    let servers = MailServers::start();
    acknowledgement_arrives(
        &servers,
        servers.smtp_port,
        "starttls",
        Some(&servers.cert),
        None,
    );
    let msgs = servers.mailbox_messages("reporter", "INBOX");
    let received = postfix_received(&msgs[0]);
    assert!(
        received.contains("with ESMTPS") && received.contains("TLS"),
        "not received over TLS: {received}"
    );
}

#[test]
fn implicit_tls_delivers_the_acknowledgement() {
    let servers = MailServers::start();
    acknowledgement_arrives(
        &servers,
        servers.smtps_port,
        "implicit",
        Some(&servers.cert),
        None,
    );
    let msgs = servers.mailbox_messages("reporter", "INBOX");
    let received = postfix_received(&msgs[0]);
    assert!(
        received.contains("with ESMTPS"),
        "not received over TLS: {received}"
    );
}

#[test]
fn plain_smtp_delivers_the_acknowledgement() {
    let servers = MailServers::start();
    acknowledgement_arrives(&servers, servers.smtp_port, "none", None, None);
    let msgs = servers.mailbox_messages("reporter", "INBOX");
    let received = postfix_received(&msgs[0]);
    assert!(
        received.contains("with ESMTP ") && !received.contains("ESMTPS"),
        "expected plain ESMTP: {received}"
    );
}

#[test]
fn smtp_auth_on_the_submission_port_delivers_the_acknowledgement() {
    let servers = MailServers::start();
    acknowledgement_arrives(
        &servers,
        servers.submission_port,
        "starttls",
        Some(&servers.cert),
        Some(("cert", "secret")),
    );
    let log = servers.postfix_log();
    assert!(
        log.contains("sasl_username=cert"),
        "Postfix did not log an authenticated session:\n{}",
        servers.logs_tail(20)
    );
}

/// Issue 4's fault test: the MTA is down while reports come in; every
/// acknowledgement waits in the outbox (queued, with attempts and the last
/// error), then is delivered exactly once after the MTA returns.
#[test]
fn smtp_outage_queues_then_delivers_every_acknowledgement_once() {
    let mut servers = MailServers::start();
    servers.stop_postfix();

    let env = Env::with_outbox_smtp(servers.smtp_port, "starttls", Some(&servers.cert), None, "");
    // Two reporter mailboxes; the domains differ so that no rate limit applies.
    let reporters: Vec<(String, &str)> = (0..5)
        .map(|i| {
            let user = if i % 2 == 0 { "reporter" } else { "handler" };
            (format!("{user}@bank{i}.example"), user)
        })
        .collect();
    let mut tickets = BTreeSet::new();
    for (i, (from, _)) in reporters.iter().enumerate() {
        let (ticket, word) = env.ingest_ok(&report(from, i));
        assert!(tickets.insert(ticket.clone()), "{ticket} {word}");
    }

    let mut daemon = Daemon::start(&env, &["run"]);
    // Until then `outbox list` answers EX_TEMPFAIL ("try again later").
    assert!(
        daemon.wait_for_log("control socket ready", Duration::from_secs(20)),
        "--- log ---\n{}",
        daemon.log()
    );
    let mut last = Vec::new();
    let all_waiting = wait_until(Duration::from_secs(20), || {
        last = env.outbox();
        last.len() == 5
            && last.iter().all(|e| {
                e["state"] == "queued"
                    && e["attempts"].as_u64().unwrap_or(0) >= 1
                    && e["last_error"].as_str().is_some_and(|s| !s.is_empty())
            })
    });
    assert!(
        all_waiting,
        "while the MTA is down, every entry must show queued, attempts >= 1 and last_error:\n{}\n--- log ---\n{}",
        outbox_summary(&last),
        daemon.log()
    );
    for e in &last {
        let err = e["last_error"].as_str().unwrap_or_default();
        assert!(
            err.to_lowercase().contains("connect"),
            "last_error should say the connection failed: {err}"
        );
    }
    assert_eq!(
        servers.message_count("reporter", "INBOX") + servers.message_count("handler", "INBOX"),
        0
    );

    servers.start_postfix();
    let recovered = Instant::now();
    let all_sent = wait_until(Duration::from_secs(20), || {
        last = env.outbox();
        last.len() == 5 && last.iter().all(|e| e["state"] == "sent")
    });
    assert!(
        all_sent,
        "after the MTA returned, everything must be sent:\n{}\n--- log ---\n{}\n{}",
        outbox_summary(&last),
        daemon.log(),
        servers.logs_tail(20)
    );
    println!("all sent {:?} after the MTA returned", recovered.elapsed());
    for e in &last {
        assert!(
            e["attempts"].as_u64().unwrap_or(0) >= 2,
            "sent only after failing at least once: {e}"
        );
    }

    daemon.terminate();
    daemon.expect_success(Duration::from_secs(10));

    // What the outbox says was sent, per mailbox.
    let mut want: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for e in &last {
        let to = e["to"][0].as_str().unwrap_or_default();
        let user = reporters
            .iter()
            .find(|(addr, _)| addr == to)
            .map(|(_, u)| *u)
            .unwrap_or_else(|| panic!("unexpected recipient {to}"));
        want.entry(user).or_default().insert(
            bare(e["message_id"].as_str().unwrap_or_default()),
            e["ticket"].as_str().unwrap_or_default().to_string(),
        );
    }
    assert_eq!(
        want.values()
            .flat_map(|m| m.values())
            .collect::<BTreeSet<_>>(),
        tickets.iter().collect::<BTreeSet<_>>(),
        "one acknowledgement per ticket"
    );
    for (user, expected) in &want {
        servers.wait_for_messages(user, "INBOX", expected.len(), Duration::from_secs(10));
    }
    // Let anything that would arrive twice arrive, then count exactly.
    std::thread::sleep(Duration::from_millis(500));
    for (user, expected) in &want {
        let msgs = servers.mailbox_messages(user, "INBOX");
        let (ids, texts) = by_message_id(&msgs);
        let distinct: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(
            distinct.len(),
            ids.len(),
            "a Message-ID arrived twice in {user}'s INBOX: {ids:?}"
        );
        assert_eq!(
            texts.keys().collect::<BTreeSet<_>>(),
            expected.keys().collect::<BTreeSet<_>>(),
            "{user}'s INBOX must hold exactly the acknowledgements sent to it"
        );
        for (mid, ticket) in expected {
            let subject = header(&texts[mid], "Subject").unwrap_or_default();
            assert!(
                subject.contains(&format!("[CERT-EX #{ticket}]")),
                "{mid} should carry ticket {ticket}: {subject}"
            );
        }
    }
}

#[test]
fn a_5xx_refusal_fails_the_entry_after_one_attempt_and_is_recorded_on_the_ticket() {
    let servers = MailServers::start();
    let env = Env::with_outbox_smtp(servers.smtp_port, "starttls", Some(&servers.cert), None, "");
    // Postfix knows only cert, reporter and handler: nobody@ gets a 550 at RCPT.
    let (ticket, _) = env.ingest_ok(&report("nobody@example.test", 1));
    let out = env.run(&["outbox", "deliver"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a permanent failure fails the run: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let outbox = env.outbox();
    assert_eq!(outbox.len(), 1);
    let entry = &outbox[0];
    assert_eq!(entry["state"], "failed", "{}", outbox_summary(&outbox));
    assert_eq!(entry["attempts"], 1, "no retry after a 5xx");
    let err = entry["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("550") || err.contains("5.1.1"),
        "last_error should carry the 5xx reply: {err}"
    );
    assert!(err.contains("User unknown"), "{err}");

    let t = env.ticket(&ticket);
    assert!(
        event_kinds(&t).contains(&"send-failed".to_string()),
        "the ticket records the failure: {:?}",
        event_kinds(&t)
    );

    // A second pass does not try again.
    let out = env.ok(&["outbox", "deliver"]);
    assert!(out.contains("attempted 0"), "{out}");
    assert_eq!(env.outbox()[0]["attempts"], 1);
}

#[test]
fn a_certificate_that_does_not_verify_keeps_the_mail_queued_and_sends_nothing() {
    let servers = MailServers::start();
    let env_dir = tempfile::tempdir().expect("tempdir");
    let (other_ca, _) = common::servers::generate_cert(env_dir.path(), "other");
    let env = Env::with_outbox_smtp(servers.smtp_port, "starttls", Some(&other_ca), None, "");
    env.ingest_ok(&report("reporter@example.test", 1));
    env.ok(&["outbox", "deliver"]);

    let outbox = env.outbox();
    assert_eq!(outbox.len(), 1);
    let entry = &outbox[0];
    assert_eq!(
        entry["state"],
        "queued",
        "a TLS failure is transient: {}",
        outbox_summary(&outbox)
    );
    assert_eq!(entry["attempts"], 1);
    let err = entry["last_error"].as_str().unwrap_or_default();
    let lower = err.to_lowercase();
    assert!(
        lower.contains("certificate") || lower.contains("tls"),
        "last_error should name the TLS failure: {err}"
    );

    // Nothing went through in plaintext: Postfix accepted no message.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(servers.message_count("reporter", "INBOX"), 0);
    let log = servers.postfix_log();
    assert!(
        !log.contains("message-id=<"),
        "Postfix accepted a message:\n{}",
        servers.logs_tail(20)
    );
    assert!(
        log.contains("STARTTLS"),
        "the client should have started TLS:\n{}",
        servers.logs_tail(20)
    );
}

#[test]
fn starttls_is_required_when_configured_a_server_without_it_gets_nothing() {
    let servers = MailServers::start();
    let env = Env::with_outbox_smtp(
        servers.no_starttls_port,
        "starttls",
        Some(&servers.cert),
        None,
        "",
    );
    env.ingest_ok(&report("reporter@example.test", 1));
    env.ok(&["outbox", "deliver"]);

    let outbox = env.outbox();
    assert_eq!(outbox.len(), 1);
    let entry = &outbox[0];
    assert_eq!(entry["state"], "queued", "{}", outbox_summary(&outbox));
    assert_eq!(entry["attempts"], 1);
    let err = entry["last_error"].as_str().unwrap_or_default();
    assert!(
        err.to_lowercase().contains("starttls") || err.to_lowercase().contains("tls"),
        "last_error should say that STARTTLS is missing: {err}"
    );

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(servers.message_count("reporter", "INBOX"), 0);
    let log = servers.postfix_log();
    assert!(
        !log.contains("message-id=<"),
        "Postfix accepted a message in plaintext:\n{}",
        servers.logs_tail(20)
    );
}

/// Issue 4: a timeout on every step, and a slow SMTP server must not stall
/// the intake of new reports. Postfix's slow listener answers RCPT after 5 s;
/// csirtd gives up after 3 s and retries later, while reports keep coming in.
#[test]
fn a_server_too_slow_to_answer_times_out_without_stalling_the_intake() {
    let servers = MailServers::start();
    let env = Env::with_outbox_smtp(servers.slow_smtp_port, "none", None, None, "");
    set_outbox_options(&env, "", 3);
    let mut daemon = Daemon::start(&env, &["run"]);

    env.deliver("1763800000.M1P1.slow", &report("reporter@bank1.example", 1));
    let queued = wait_until(Duration::from_secs(20), || env.count_in("cur") == 1);
    assert!(queued, "report 1 not taken in\n{}", daemon.log());
    // The sender is now waiting for Postfix's answer to RCPT (3 s at most).
    std::thread::sleep(Duration::from_millis(300));
    let fed = Instant::now();
    for i in 2..=4 {
        env.deliver(
            &format!("1763800000.M{i}P1.slow"),
            &report(&format!("reporter@bank{i}.example"), i),
        );
    }
    let taken = wait_until(Duration::from_secs(20), || env.count_in("cur") == 4);
    let took = fed.elapsed();
    assert!(taken, "reports 2-4 not taken in\n{}", daemon.log());
    assert!(
        took < Duration::from_millis(2500),
        "the intake waited for the SMTP attempt: reports 2-4 took {took:?}\n{}",
        daemon.log()
    );
    assert_eq!(env.tickets().len(), 4);

    // The first attempt ends after 3 s with a timeout, not after Postfix's 5 s.
    let mut last = Vec::new();
    let attempted = wait_until(Duration::from_secs(15), || {
        last = env.outbox();
        last.first()
            .is_some_and(|e| e["attempts"].as_u64().unwrap_or(0) >= 1)
    });
    assert!(
        attempted,
        "no attempt recorded:\n{}\n{}",
        outbox_summary(&last),
        daemon.log()
    );
    let first = &last[0];
    assert!(
        first["state"] == "queued" && first["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "outbox.smtp.timeout_secs = 3 was not applied while waiting for the answer to RCPT \
         (Postfix answers after 5 s): the first attempt should have timed out and stayed \
         queued:\n{}\n--- log ---\n{}",
        outbox_summary(&last),
        daemon.log()
    );

    // SIGTERM is answered even while an attempt hangs.
    let t = Instant::now();
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(10));
    println!("stopped {:?} after SIGTERM", t.elapsed());
    assert_eq!(servers.message_count("reporter", "INBOX"), 0);
}

#[test]
fn transient_failures_are_given_up_after_retry_for_secs_and_recorded() {
    let mut servers = MailServers::start();
    servers.stop_postfix();
    let env = Env::with_outbox_smtp(servers.smtp_port, "none", None, None, "");
    set_outbox_options(&env, "retry_for_secs = 2", 10);
    let (ticket, _) = env.ingest_ok(&report("reporter@example.test", 1));

    env.ok(&["outbox", "deliver"]);
    let first = env.outbox();
    assert_eq!(first[0]["state"], "queued", "{}", outbox_summary(&first));
    assert_eq!(first[0]["attempts"], 1);

    // Past both the backoff (1 s ± 20 %) and the retry period.
    std::thread::sleep(Duration::from_millis(2300));
    let out = env.run(&["outbox", "deliver"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "giving up is a permanent failure"
    );
    let last = env.outbox();
    let entry = &last[0];
    assert_eq!(entry["state"], "failed", "{}", outbox_summary(&last));
    assert_eq!(entry["attempts"], 2);
    let err = entry["last_error"].as_str().unwrap_or_default();
    assert!(
        err.starts_with("gave up after") && err.to_lowercase().contains("connect"),
        "{err}"
    );
    assert!(
        event_kinds(&env.ticket(&ticket)).contains(&"send-failed".to_string()),
        "{:?}",
        event_kinds(&env.ticket(&ticket))
    );
}

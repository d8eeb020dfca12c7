//! The test-server harness itself (tests/common/servers.rs): a private
//! Dovecot and Postfix start, route mail from SMTP into IMAP mailboxes,
//! survive restarts, and leave no process behind.

mod common;

use common::servers::*;
use common::*;
use std::time::{Duration, Instant};

fn report(n: usize) -> Vec<u8> {
    mail(
        &format!("someone{n}@bank.example"),
        &format!("Harness message {n}"),
        Some(&format!("harness-{n}@bank.example")),
        "",
        "Body.",
    )
}

#[test]
fn smtp_reaches_imap_and_servers_restart_and_stop_cleanly() {
    let t0 = Instant::now();
    let mut servers = MailServers::start();
    let started = t0.elapsed();
    println!("start: {started:?} ({})", servers.dir.display());

    // TLS on every listener verifies against the test certificate, by name
    // and by address.
    for (port, starttls) in [
        (servers.imaps_port, None),
        (servers.imap_port, Some("imap")),
        (servers.smtps_port, None),
        (servers.smtp_port, Some("smtp")),
        (servers.submission_port, Some("smtp")),
    ] {
        for check in [
            ["-verify_hostname", "localhost"],
            ["-verify_ip", "127.0.0.1"],
        ] {
            let mut cmd = std::process::Command::new("openssl");
            cmd.args(["s_client", "-brief", "-verify_return_error", "-CAfile"])
                .arg(&servers.cert)
                .args(check)
                .args(["-connect", &format!("127.0.0.1:{port}")]);
            if let Some(proto) = starttls {
                cmd.args(["-starttls", proto]);
            }
            let out = cmd
                .stdin(std::process::Stdio::null())
                .output()
                .expect("openssl s_client");
            let text = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("Verification: OK"),
                "TLS on port {port} ({starttls:?}, {check:?}):\n{text}"
            );
        }
    }

    // SMTP -> Postfix -> LMTP -> Dovecot, with local-part routing and +detail.
    servers.submit("someone@bank.example", "Reporter+x@any.example", &report(1));
    let msgs = servers.wait_for_messages("reporter", "INBOX", 1, Duration::from_secs(10));
    assert_eq!(msgs.len(), 1);
    let text = String::from_utf8_lossy(&msgs[0]);
    assert_eq!(
        header(&text, "Message-ID").as_deref(),
        Some("<harness-1@bank.example>")
    );

    // Unknown recipients are refused at RCPT time with a 5xx.
    let err = servers
        .try_submit("someone@bank.example", &["nobody@any.example"], &report(2))
        .expect_err("nobody@ must be rejected");
    assert!(err.contains("550") || err.contains("5.1.1"), "{err}");

    // APPEND, the auto-created folders, and reading without \Seen.
    servers.append("cert", "INBOX", &report(3));
    servers.append("cert", "processed", &report(4));
    assert_eq!(servers.message_count("cert", "INBOX"), 1);
    assert_eq!(servers.mailbox_messages("cert", "processed").len(), 1);
    assert_eq!(servers.message_count("cert", "quarantine"), 0);

    // Mail submitted while Dovecot is down is delivered after it returns.
    let t = Instant::now();
    servers.stop_dovecot();
    println!("stop dovecot: {:?}", t.elapsed());
    servers.submit("someone@bank.example", "handler@any.example", &report(5));
    let t = Instant::now();
    servers.start_dovecot();
    println!("start dovecot: {:?}", t.elapsed());
    servers.wait_for_messages("handler", "INBOX", 1, Duration::from_secs(15));
    println!(
        "deferred mail delivered {:?} after the restart",
        t.elapsed()
    );

    // Postfix down: connections refused; back up: the queue is kept.
    let t = Instant::now();
    servers.stop_postfix();
    println!("stop postfix: {:?}", t.elapsed());
    assert!(servers
        .try_submit("someone@bank.example", &["handler@x.example"], &report(6))
        .is_err());
    let t = Instant::now();
    servers.start_postfix();
    println!("start postfix: {:?}", t.elapsed());
    servers.submit("someone@bank.example", "handler@any.example", &report(7));
    servers.wait_for_messages("handler", "INBOX", 2, Duration::from_secs(10));

    let dir = servers.dir.clone();
    let t = Instant::now();
    drop(servers);
    println!("stop both: {:?}", t.elapsed());
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

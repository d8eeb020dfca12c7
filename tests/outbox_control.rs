//! Handling stuck mail with the real Postfix and gpg: `outbox deliver`
//! fails (exit 1) on a permanent refusal and says to whom and why, `outbox
//! retry` sends it again once fixed, `outbox release` encrypts a mail held
//! for lack of a key to the key imported since, `outbox cancel` withdraws
//! one for good, and `outbox list` filters by state and ticket; also
//! through a running daemon.

mod common;

use common::gpg::{install_keys, Gpg};
use common::servers::MailServers;
use common::*;
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

fn report(from: &str, i: usize) -> Vec<u8> {
    mail(
        from,
        &format!("Phishing wave {i} against our customers"),
        Some(&format!("report-{i}.outbox-control@bank{i}.example")),
        "",
        &format!("Please take down https://phish{i}.example/login."),
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs csirtd as the Unix user `user` (as `sudo -u csirtd` would show it).
fn run_as(env: &Env, user: &str, args: &[&str]) -> Output {
    env.cmd()
        .env("USER", user)
        .env_remove("SUDO_USER")
        .args(args)
        .output()
        .expect("run csirtd")
}

fn ok_as(env: &Env, user: &str, args: &[&str]) -> String {
    let out = run_as(env, user, args);
    assert!(
        out.status.success(),
        "csirtd {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn entry(env: &Env, id: &str) -> Value {
    env.outbox()
        .into_iter()
        .find(|e| e["id"].as_u64() == id.parse().ok())
        .unwrap_or_else(|| panic!("no outbox entry {id}"))
}

/// The one outbox entry of `ticket`, by ID.
fn only_entry(env: &Env, ticket: &str) -> String {
    let mine: Vec<Value> = env
        .outbox()
        .into_iter()
        .filter(|e| e["ticket"].as_str() == Some(ticket))
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    mine[0]["id"].to_string()
}

/// The details of `ticket`'s events of `kind`.
fn events(env: &Env, ticket: &str, kind: &str) -> Vec<String> {
    env.ticket(ticket)["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["kind"] == kind)
                .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn smtp_env(servers: &MailServers, extra: &str) -> Env {
    Env::with_outbox_smtp(
        servers.smtp_port,
        "starttls",
        Some(&servers.cert),
        None,
        extra,
    )
}

#[test]
fn a_permanent_refusal_fails_deliver_names_recipient_and_reply_and_retry_sends_it_once_fixed() {
    let mut servers = MailServers::start();
    // The reporter's mailbox is missing: Postfix answers 550 5.1.1.
    servers.refuse_users(&["reporter"]);
    let env = smtp_env(&servers, "");
    let (ticket, _) = env.ingest_ok(&report("Reporter <reporter@example.test>", 1));
    let id = only_entry(&env, &ticket);

    let out = env.run(&["outbox", "deliver"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "deliver exits 1 after a permanent failure\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 failed permanently"), "{stdout}");
    let log = stderr
        .lines()
        .find(|l| l.contains("delivery failed permanently"))
        .unwrap_or_else(|| panic!("no failure log line:\n{stderr}"));
    assert!(log.contains("reporter@example.test"), "recipient: {log}");
    assert!(
        log.contains("550") && log.contains("User unknown"),
        "reply: {log}"
    );
    // The command's own error names the entry, the recipient and the reply.
    assert!(
        stderr.contains(&format!("outbox entry {id} to reporter@example.test"))
            && stderr.contains("outbox retry"),
        "{stderr}"
    );
    assert_eq!(entry(&env, &id)["state"], "failed");

    // A retry of what has not failed is refused, and changes nothing.
    let bad = env.run(&["outbox", "retry", "999"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("does not exist"));

    servers.refuse_users(&[]);
    let out = ok_as(&env, "alice", &["outbox", "retry", &id]);
    assert!(out.contains("queued again"), "{out}");
    let e = entry(&env, &id);
    assert_eq!(e["state"], "queued", "{e}");
    assert_eq!(e["attempts"], 0, "a retry starts afresh: {e}");
    let retried = events(&env, &ticket, "retried");
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert!(
        retried[0].contains("alice")
            && retried[0].contains("1 attempt(s)")
            && retried[0].contains("User unknown"),
        "the event keeps who and what failed: {}",
        retried[0]
    );

    let out = env.ok(&["outbox", "deliver"]);
    assert!(
        out.contains("attempted 1, 0 still queued, 0 failed"),
        "{out}"
    );
    assert_eq!(entry(&env, &id)["state"], "sent");
    let msgs = servers.wait_for_messages("reporter", "INBOX", 1, Duration::from_secs(10));
    assert_eq!(msgs.len(), 1, "delivered once after the retry");
    assert!(text(&msgs[0]).contains(&ticket));

    // Sent is final: neither retried nor cancelled.
    let again = env.run(&["outbox", "retry", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("is sent, not failed"),
        "{}",
        text(&again.stderr)
    );
    let cancel = env.run(&["outbox", "cancel", &id, "--reason", "too late"]);
    assert_eq!(cancel.status.code(), Some(1));
    assert!(text(&cancel.stderr).contains("cannot be called back"));
}

#[test]
fn a_mail_held_for_lack_of_a_key_goes_out_encrypted_to_the_key_imported_since() {
    let servers = MailServers::start();
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let reporter = Gpg::new();
    reporter.gen("Reporter <reporter@example.test>");
    let env = smtp_env(
        &servers,
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n[ack]\nencrypt = \"always\"\n",
    );
    install_keys(env.dir.path(), &team, "cert@cert.example", &[]);
    let (ticket, _) = env.ingest_ok(&report("Reporter <reporter@example.test>", 2));
    let (other, _) = env.ingest_ok(&report("Reporter <reporter@example.test>", 3));
    let id = only_entry(&env, &ticket);
    assert_eq!(entry(&env, &id)["state"], "held");

    // Filters: by state and ticket together, each alone, and a bad state.
    let listed = env.ok(&["outbox", "list", "--state", "held", "--ticket", &ticket]);
    assert!(
        listed.contains(&ticket) && !listed.contains(&other),
        "{listed}"
    );
    assert!(
        !listed.contains("Some(") && !listed.contains("Held"),
        "{listed}"
    );
    let json: Value =
        serde_json::from_str(&env.ok(&["outbox", "list", "--json", "--state", "held"])).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");
    let none = env.ok(&["outbox", "list", "--state", "queued", "--ticket", &ticket]);
    assert!(none.contains("no outbox entries"), "{none}");
    let bad = env.run(&["outbox", "list", "--state", "stuck"]);
    assert!(!bad.status.success());
    let err = text(&bad.stderr);
    assert!(
        err.contains("queued") && err.contains("awaiting-release") && err.contains("cancelled"),
        "a bad state lists the valid ones: {err}"
    );

    // Without the key: refused, saying what to import; still held.
    let early = env.run(&["outbox", "release", &id]);
    assert_eq!(early.status.code(), Some(1));
    let err = text(&early.stderr);
    assert!(
        err.contains("reporter@example.test") && err.contains("csirtd keys import"),
        "{err}"
    );
    assert_eq!(entry(&env, &id)["state"], "held");

    let key = env.path("reporter.asc");
    std::fs::write(&key, reporter.export("reporter@example.test")).unwrap();
    env.ok(&["keys", "import", key.to_str().unwrap()]);
    let out = ok_as(&env, "carol", &["outbox", "release", &id]);
    assert!(
        out.contains("encrypted to the key now in the keyring"),
        "{out}"
    );
    assert_eq!(entry(&env, &id)["state"], "queued");
    let fpr = common::gpg::fingerprint(&reporter, "reporter@example.test");
    let released = events(&env, &ticket, "released");
    assert!(
        released
            .iter()
            .any(|d| d.contains("carol") && d.contains(&fpr)),
        "{released:?}"
    );
    let out = env.ok(&["outbox", "deliver"]);
    assert!(out.contains("attempted 1,"), "{out}");

    let msgs = servers.wait_for_messages("reporter", "INBOX", 1, Duration::from_secs(10));
    assert_eq!(msgs.len(), 1);
    let delivered = text(&msgs[0]);
    assert!(delivered.contains("multipart/encrypted"), "{delivered}");
    let start = delivered.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end =
        delivered.find("-----END PGP MESSAGE-----").unwrap() + "-----END PGP MESSAGE-----".len();
    let armored = &delivered[start..end];
    // The reporter's gpg decrypts it and finds the team's signature inside.
    reporter.import(&team.export("cert@cert.example"));
    let dec = reporter.run(&["--decrypt"], Some(armored.as_bytes()));
    assert!(dec.status.success(), "gpg --decrypt: {}", text(&dec.stderr));
    assert!(
        text(&dec.stderr).contains("Good signature from \"CERT Example"),
        "{}",
        text(&dec.stderr)
    );
    assert!(text(&dec.stdout).contains(&ticket), "{}", text(&dec.stdout));

    // The store keeps what was sent: the outgoing message is the
    // encrypted one, its digest that of its bytes.
    let t = env.ticket(&ticket);
    let messages = t["messages"].as_array().unwrap();
    let n = messages
        .iter()
        .position(|m| m["direction"] == "out")
        .expect("an outgoing message");
    let raw = env
        .cmd()
        .args(["ticket", "raw", &ticket, "--message", &(n + 1).to_string()])
        .output()
        .unwrap()
        .stdout;
    assert!(
        text(&raw).contains(armored),
        "stored bytes are the sent ones"
    );
    assert_eq!(messages[n]["sha256"], sha256_hex(&raw));
    assert_eq!(messages[n]["size"], raw.len());
    // The other ticket's mail waited for the same key and is still held.
    assert_eq!(entry(&env, &only_entry(&env, &other))["state"], "held");
}

#[test]
fn a_cancelled_mail_is_never_sent_and_the_ticket_says_who_and_why() {
    let servers = MailServers::start();
    let env = smtp_env(&servers, "");
    let (ticket, _) = env.ingest_ok(&report("Reporter <reporter@example.test>", 4));
    let id = only_entry(&env, &ticket);

    let missing = env.run(&["outbox", "cancel", &id]);
    assert!(!missing.status.success(), "--reason is required");
    assert!(text(&missing.stderr).contains("--reason"));

    let out = ok_as(
        &env,
        "dave",
        &[
            "outbox",
            "cancel",
            &id,
            "--reason",
            "the reporter asked for no reply",
        ],
    );
    assert!(out.contains("never sent"), "{out}");
    assert_eq!(entry(&env, &id)["state"], "cancelled");
    let cancelled = events(&env, &ticket, "cancelled");
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert!(
        cancelled[0].contains("dave") && cancelled[0].contains("the reporter asked for no reply"),
        "{}",
        cancelled[0]
    );
    let listed = env.ok(&["outbox", "list", "--state", "cancelled"]);
    assert!(listed.contains(&ticket), "{listed}");

    let out = env.ok(&["outbox", "deliver"]);
    assert!(out.contains("attempted 0"), "{out}");
    // Nothing reached Postfix.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(servers.message_count("reporter", "INBOX"), 0);
    let again = env.run(&["outbox", "release", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("is cancelled"));
}

#[test]
fn through_the_running_daemon_a_failed_mail_is_retried_and_the_client_is_named() {
    let mut servers = MailServers::start();
    servers.refuse_users(&["reporter"]);
    let env = smtp_env(&servers, "");
    let mut daemon = Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("control socket ready", Duration::from_secs(20)),
        "{}",
        daemon.log()
    );
    env.deliver("r5", &report("Reporter <reporter@example.test>", 5));
    assert!(
        daemon.wait_for_log("delivery failed permanently", Duration::from_secs(20)),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("delivery failed permanently"))
        .unwrap_or_default();
    assert!(
        line.contains("reporter@example.test") && line.contains("User unknown"),
        "{line}"
    );

    // The store is the daemon's: these go over the control socket.
    let failed = ok_as(&env, "erin", &["outbox", "list", "--state", "failed"]);
    let ticket = env.tickets()[0]["id"].as_str().unwrap().to_string();
    assert!(failed.contains(&ticket), "{failed}");
    servers.refuse_users(&[]);
    let out = ok_as(&env, "erin", &["outbox", "retry", "--failed"]);
    assert!(out.contains("the running daemon sends it now"), "{out}");
    let msgs = servers.wait_for_messages("reporter", "INBOX", 1, Duration::from_secs(20));
    assert_eq!(msgs.len(), 1, "{}", daemon.log());
    let sent = env.ok(&["outbox", "list", "--state", "sent", "--ticket", &ticket]);
    assert!(sent.contains(&ticket), "{sent}");
    let retried = events(&env, &ticket, "retried");
    assert!(
        retried.iter().any(|d| d.contains("erin")),
        "the daemon records its client, not itself: {retried:?}"
    );
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(20));
}

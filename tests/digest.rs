//! The daily digest of constituency notifications (issue 14): with
//! `digest = true` a trusted feed's reports notify the contact once, in one
//! signed mail that lists every ticket, and never twice.

mod common;

use common::gpg::{gpg_verifies, install_keys, split_signed, Gpg};
use common::{from_feed, Env, FEEDS};
use serde_json::Value;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One Shadowserver CSV of `day` from the DKIM-trusted test feed; the
/// second row's host name is free text that must not reach the contact.
fn report(day: u8) -> Vec<u8> {
    let csv = format!(
        "timestamp,ip,protocol,port,hostname,tag,asn\r\n\
         2026-12-{day:02} 00:00:05,192.0.2.{day},udp,123,ntp.uni.example,ntp,64500\r\n\
         2026-12-{day:02} 00:00:06,192.0.2.{},udp,123,\"reply with your VPN password\",ntp,64500\r\n",
        day + 100
    );
    from_feed(
        format!(
            "From: autoreports@shadowserver.example\r\nTo: cert@cert.example\r\nSubject: Shadowserver report\r\n\
             Message-ID: <d{day}@shadowserver.example>\r\nDate: Tue, 01 Dec 2026 06:00:00 +0000\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"RPT\"\r\n\r\n--RPT\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n\
             --RPT\r\nContent-Type: text/csv; name=\"2026-12-{day:02}-scan_ntp-x.csv\"\r\n\
             Content-Disposition: attachment; filename=\"2026-12-{day:02}-scan_ntp-x.csv\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--RPT--\r\n",
            b64(csv.as_bytes())
        )
        .as_bytes(),
    )
}

/// A digest time twelve hours away, so that nothing is due while a test
/// runs, whatever the hour.
fn far_digest_time() -> String {
    let h = (time::OffsetDateTime::now_utc().hour() + 12) % 24;
    format!("{h:02}:00")
}

fn env(digest: bool) -> (Env, Gpg) {
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let env = Env::with_extra(&format!(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n{FEEDS}\n\
         [[constituencies]]\nname = \"university\"\nnetworks = [\"192.0.2.0/24\"]\n\
         contact = \"noc@uni.example\"\nnotify_constituent = true\ndigest = {digest}\n\
         [notifications]\ndigest_at = \"{}\"\n",
        far_digest_time()
    ));
    install_keys(env.dir.path(), &team, "cert@cert.example", &[]);
    (env, team)
}

fn to_contact(env: &Env) -> Vec<Value> {
    env.outbox()
        .into_iter()
        .filter(|o| o["to"].to_string().contains("noc@uni.example"))
        .collect()
}

fn details(t: &Value) -> String {
    t["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The signed part's text with quoted-printable's soft line breaks and
/// encoded spaces undone: enough to find a tag or a line in it.
fn unfold(part: &[u8]) -> String {
    String::from_utf8_lossy(part)
        .replace("=\r\n", "")
        .replace("=20", " ")
}

fn ticket_ids(env: &Env) -> Vec<String> {
    let mut ids: Vec<String> = env
        .tickets()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn sent_to_contact(env: &Env) -> Vec<Vec<u8>> {
    env.sent_files()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|m| String::from_utf8_lossy(m).contains("noc@uni.example"))
        .collect()
}

#[test]
fn three_reports_make_one_signed_digest_and_only_once() {
    let (env, team) = env(true);
    for day in 1..=3 {
        let (_, word) = env.ingest_ok(&report(day));
        assert_eq!(word, "created");
    }
    let ids = ticket_ids(&env);
    assert_eq!(ids.len(), 3, "one ticket per day");
    assert!(to_contact(&env).is_empty(), "{:?}", env.outbox());
    for id in &ids {
        let d = details(&env.ticket(id));
        assert!(
            d.contains("notification to university for noc@uni.example kept for the daily digest"),
            "{d}"
        );
    }

    // Not due: neither the daemon's drain nor the command sends it.
    env.ok(&["run", "--drain"]);
    assert!(to_contact(&env).is_empty(), "{:?}", env.outbox());
    let out = env.ok(&["notify", "digest"]);
    assert!(out.contains("no digest is due"), "{out}");
    assert!(to_contact(&env).is_empty());

    let out = env.ok(&["notify", "digest", "--now"]);
    assert!(
        out.contains("digest to noc@uni.example listing 3 ticket(s)"),
        "{out}"
    );
    let queued = to_contact(&env);
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["state"], "queued");
    let mid = queued[0]["message_id"].as_str().unwrap().to_string();
    let listed = env.ok(&["outbox", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("digest") && l.contains("noc@uni.example")),
        "{listed}"
    );

    env.ok(&["outbox", "deliver"]);
    let sent = sent_to_contact(&env);
    assert_eq!(sent.len(), 1);
    let raw = &sent[0];
    gpg_verifies(&team, raw);
    let (data, _) = split_signed(raw);
    let text = unfold(&data);
    for (day, id) in (1..=3).zip(&ids) {
        let tag = format!("[CERT-EX #{id}]");
        assert_eq!(text.matches(&tag).count(), 1, "{tag} in:\n{text}");
        assert!(
            text.contains(&format!(
                "192.0.2.{day}  port 123/udp  AS64500  ntp.uni.example"
            )),
            "{text}"
        );
    }
    assert!(text.contains("scan_ntp"), "{text}");
    assert!(
        !text.contains("VPN"),
        "free text reached the contact:\n{text}"
    );
    for id in &ids {
        let d = details(&env.ticket(id));
        assert!(d.contains(&format!("daily digest <{mid}>")), "{d}");
    }

    // Nothing twice: the entries went with the digest.
    let out = env.ok(&["notify", "digest", "--now"]);
    assert!(out.contains("no digest is pending"), "{out}");
    assert_eq!(to_contact(&env).len(), 1);
    env.ok(&["outbox", "deliver"]);
    assert_eq!(sent_to_contact(&env).len(), 1);

    // A later report starts the next digest.
    env.ingest_ok(&report(4));
    assert_eq!(to_contact(&env).len(), 1);
    let out = env.ok(&["notify", "digest", "--now"]);
    assert!(out.contains("listing 1 ticket(s)"), "{out}");
    assert_eq!(to_contact(&env).len(), 2);
}

#[test]
fn without_digest_each_report_notifies_at_once() {
    let (env, _team) = env(false);
    for day in 1..=3 {
        env.ingest_ok(&report(day));
    }
    let notes = to_contact(&env);
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes.iter().all(|n| n["state"] == "queued"));
    let out = env.ok(&["notify", "digest", "--now"]);
    assert!(out.contains("no digest is pending"), "{out}");
    assert_eq!(to_contact(&env).len(), 3);
}

#[test]
fn a_held_feed_keeps_its_notifications_out_of_the_digest() {
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    // The test feed (the last in FEEDS) says hold.
    let held = format!("{}\nnotify = \"hold\"\n", FEEDS.trim_end());
    let env = Env::with_extra(&format!(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n{held}\n\
         [[constituencies]]\nname = \"university\"\nnetworks = [\"192.0.2.0/24\"]\n\
         contact = \"noc@uni.example\"\nnotify_constituent = true\ndigest = true\n"
    ));
    install_keys(env.dir.path(), &team, "cert@cert.example", &[]);
    env.ingest_ok(&report(1));
    let notes = to_contact(&env);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["state"], "awaiting-release");
    let out = env.ok(&["notify", "digest", "--now"]);
    assert!(out.contains("no digest is pending"), "{out}");
}

#[test]
fn a_bad_digest_time_or_a_digest_without_notification_is_refused_by_key() {
    let env = Env::with_extra("[notifications]\ndigest_at = \"6am\"\n");
    let out = env.run(&["check-config"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notifications.digest_at"), "{err}");
    assert!(err.contains("\"06:00\""), "{err}");

    let env = Env::with_extra(
        "[[constituencies]]\nname = \"university\"\nnetworks = [\"192.0.2.0/24\"]\ndigest = true\n",
    );
    let out = env.run(&["check-config"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("constituencies[0].digest"), "{err}");
    assert!(err.contains("notify_constituent = true"), "{err}");
}

#[test]
fn a_plain_report_about_the_networks_goes_into_the_digest_without_its_prose() {
    let (env, _team) = env(true);
    let (id, word) = env.ingest_ok(&common::mail(
        "reporter@bank.example",
        "Compromised host\r\nBcc: victim@evil.example",
        Some("p1@bank.example"),
        "",
        "Host 192.0.2.50 attacks us. Confidential: our SOC lead is Mallory.",
    ));
    assert_eq!(word, "created");
    assert!(to_contact(&env).is_empty(), "{:?}", env.outbox());
    env.ok(&["notify", "digest", "--now"]);
    env.ok(&["outbox", "deliver"]);
    let sent = sent_to_contact(&env);
    assert_eq!(sent.len(), 1);
    let (data, _) = split_signed(&sent[0]);
    let text = unfold(&data);
    assert!(text.contains(&format!("[CERT-EX #{id}]")), "{text}");
    assert!(text.contains("192.0.2.50"), "{text}");
    for planted in [
        "Mallory",
        "Confidential",
        "victim@evil.example",
        "Compromised host",
    ] {
        assert!(
            !text.contains(planted),
            "{planted} reached the contact:\n{text}"
        );
    }
    let head = String::from_utf8_lossy(&sent[0]);
    let head = head.split("\r\n\r\n").next().unwrap();
    assert!(!head.contains("Bcc"), "{head}");
}

/// A digest time at least 15 s ahead (so that the test's first steps come
/// before it), as `HH:MM`, and that instant.
fn digest_time_soon() -> (String, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    let mut at = now
        .replace_second(0)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap()
        + time::Duration::minutes(1);
    if at - now < time::Duration::seconds(15) {
        at += time::Duration::minutes(1);
    }
    (format!("{:02}:{:02}", at.hour(), at.minute()), at)
}

fn env_at(digest_at: &str) -> (Env, Gpg) {
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let env = Env::with_extra(&format!(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n{FEEDS}\n\
         [[constituencies]]\nname = \"university\"\nnetworks = [\"192.0.2.0/24\"]\n\
         contact = \"noc@uni.example\"\nnotify_constituent = true\ndigest = true\n\
         [notifications]\ndigest_at = \"{digest_at}\"\n"
    ));
    install_keys(env.dir.path(), &team, "cert@cert.example", &[]);
    (env, team)
}

fn sleep_until(at: time::OffsetDateTime) {
    let left = at - time::OffsetDateTime::now_utc();
    if left.is_positive() {
        std::thread::sleep(left.unsigned_abs());
    }
}

#[test]
fn a_drain_after_the_digest_time_sends_what_was_kept_before_it() {
    let (at_text, at) = digest_time_soon();
    let (env, _team) = env_at(&at_text);
    env.ingest_ok(&report(1));
    env.ok(&["run", "--drain"]);
    assert!(to_contact(&env).is_empty(), "not due before {at_text}");
    sleep_until(at + time::Duration::seconds(1));
    env.ok(&["run", "--drain"]);
    assert_eq!(sent_to_contact(&env).len(), 1, "{:?}", env.outbox());
    // Once: the next drain, still past the same time, sends nothing more.
    env.ingest_ok(&report(2));
    env.ok(&["run", "--drain"]);
    assert_eq!(to_contact(&env).len(), 1, "{:?}", env.outbox());
}

#[test]
fn the_daemon_sends_the_digest_at_its_time() {
    let (at_text, at) = digest_time_soon();
    let (env, _team) = env_at(&at_text);
    env.ingest_ok(&report(1));
    let mut daemon = common::Daemon::start(&env, &["run"]);
    assert!(
        daemon.wait_for_log("csirtd running", std::time::Duration::from_secs(30)),
        "{}",
        daemon.log()
    );
    // Through the running daemon's control socket.
    env.ingest_ok(&report(2));
    assert!(to_contact(&env).is_empty());
    sleep_until(at);
    let sent = common::wait_until(std::time::Duration::from_secs(30), || {
        sent_to_contact(&env).len() == 1
    });
    assert!(sent, "no digest by {at_text}:\n{}", daemon.log());
    let (data, _) = split_signed(&sent_to_contact(&env)[0]);
    assert!(unfold(&data).contains("2 reports"), "{}", unfold(&data));
    daemon.terminate();
    daemon.expect_success(std::time::Duration::from_secs(30));
}

#[test]
fn a_digest_is_encrypted_to_the_configured_key() {
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let noc = Gpg::new();
    noc.gen("University NOC <noc@uni.example>");
    noc.import(&team.export("cert@cert.example"));
    let fpr = common::gpg::fingerprint(&noc, "noc@uni.example");
    let env = Env::with_extra(&format!(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n{FEEDS}\n\
         [[constituencies]]\nname = \"university\"\nnetworks = [\"192.0.2.0/24\"]\n\
         contact = \"noc@uni.example\"\nkey_fingerprint = \"{fpr}\"\n\
         notify_constituent = true\ndigest = true\n\
         [notifications]\ndigest_at = \"{}\"\n",
        far_digest_time()
    ));
    install_keys(
        env.dir.path(),
        &team,
        "cert@cert.example",
        &[(&noc, "noc@uni.example")],
    );
    let (id, _) = env.ingest_ok(&report(1));
    env.ok(&["notify", "digest", "--now"]);
    env.ok(&["outbox", "deliver"]);
    let sent = sent_to_contact(&env);
    assert_eq!(sent.len(), 1);
    let s = String::from_utf8_lossy(&sent[0]);
    assert!(s.contains("multipart/encrypted"), "{s}");
    assert!(!s.contains("192.0.2.1"), "plaintext outside the encryption");
    let start = s.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = s.find("-----END PGP MESSAGE-----").unwrap() + 25;
    let dec = noc.run(&["--decrypt"], Some(s[start..end].as_bytes()));
    let derr = String::from_utf8_lossy(&dec.stderr);
    assert!(dec.status.success(), "{derr}");
    assert!(derr.contains("Good signature"), "{derr}");
    let plain = unfold(&dec.stdout);
    assert!(plain.contains(&format!("[CERT-EX #{id}]")), "{plain}");
    assert!(plain.contains("192.0.2.1  port 123/udp"), "{plain}");
}

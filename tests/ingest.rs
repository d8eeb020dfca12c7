//! `csirtd ingest`, `ticket …` and `outbox …` driven as an MTA and an
//! operator would: the real binary on a throwaway store.

mod common;
use common::*;

fn year() -> i32 {
    time::OffsetDateTime::now_utc().year()
}

fn id(seq: u32) -> String {
    format!("{}-{seq:05}", year())
}

#[test]
fn a_report_becomes_a_ticket_with_a_queued_acknowledgement() {
    let env = Env::new();
    let raw = mail(
        "Alice <alice@bank.example>",
        "Phishing wave",
        Some("r1@bank.example"),
        "",
        "See hxxp://evil[.]example",
    );
    let (tid, word) = env.ingest_ok(&raw);
    assert_eq!((tid.as_str(), word.as_str()), (id(1).as_str(), "created"));

    let t = env.ticket(&tid);
    assert_eq!(t["id"], id(1));
    assert_eq!(t["tag"], format!("[CERT-EX #{}]", id(1)));
    assert_eq!(t["status"], "new");
    assert_eq!(t["subject"], "Phishing wave");
    assert_eq!(t["requestors"], serde_json::json!(["alice@bank.example"]));
    assert!(time::OffsetDateTime::parse(
        t["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
    assert_eq!(t["flags"], serde_json::json!([]));
    let kinds = event_kinds(&t);
    assert!(
        kinds.contains(&"created".to_string()) && kinds.contains(&"acked".to_string()),
        "{kinds:?}"
    );

    let msgs = t["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "the report and our acknowledgement");
    assert_eq!(msgs[0]["direction"], "in");
    assert_eq!(msgs[0]["message_id"], "r1@bank.example");
    assert_eq!(msgs[0]["from"], "Alice <alice@bank.example>");
    assert_eq!(msgs[0]["to"], serde_json::json!(["cert@cert.example"]));
    assert_eq!(msgs[0]["subject"], "Phishing wave");
    assert_eq!(msgs[0]["sha256"], sha256_hex(&raw));
    assert_eq!(msgs[0]["size"], raw.len());
    assert!(msgs[0]["date"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-16T10:00:00"));
    assert_eq!(msgs[1]["direction"], "out");

    // The stored raw bytes are the evidence, bit for bit.
    let out = env.cmd().args(["ticket", "raw", &tid]).output().unwrap();
    assert_eq!(out.stdout, raw);

    let ob = env.outbox();
    assert_eq!(ob.len(), 1);
    assert_eq!(ob[0]["ticket"], id(1));
    assert_eq!(ob[0]["to"], serde_json::json!(["alice@bank.example"]));
    assert_eq!(ob[0]["state"], "queued");
    assert_eq!(ob[0]["attempts"], 0);
    assert_eq!(
        ob[0]["subject"],
        format!("[CERT-EX #{}] Phishing wave", id(1))
    );

    // Delivery without the daemon; the file is named by the Message-ID.
    env.ok(&["outbox", "deliver"]);
    let ob = env.outbox();
    assert_eq!(ob[0]["state"], "sent");
    assert_eq!(ob[0]["attempts"], 1);
    let files = env.sent_files();
    assert_eq!(files.len(), 1);
    let ack = std::fs::read(&files[0]).unwrap();
    assert_eq!(
        ack,
        env.cmd()
            .args(["ticket", "raw", &tid, "--message", "2"])
            .output()
            .unwrap()
            .stdout,
        "sent bytes are the stored bytes"
    );
    let ack = String::from_utf8(ack).unwrap();
    for h in [
        "Auto-Submitted: auto-replied\r\n",
        "X-Loop: cert@cert.example\r\n",
        "In-Reply-To: <r1@bank.example>\r\n",
        "References: <r1@bank.example>\r\n",
        "To: alice@bank.example\r\n",
        &format!("Subject: [CERT-EX #{}] Phishing wave\r\n", id(1)),
        &format!("Message-ID: <cert-ex.{}.ack.", id(1)),
    ] {
        assert!(ack.contains(h), "acknowledgement lacks {h:?}:\n{ack}");
    }
    assert!(ack.contains(&id(1)), "the body names the ticket");
    assert!(
        !ack.contains("evil"),
        "the report body is never quoted in what we sign"
    );
    assert!(event_kinds(&env.ticket(&tid)).contains(&"sent".to_string()));
}

#[test]
fn follow_ups_thread_by_tag_in_its_mangled_forms_and_by_references() {
    let env = Env::new();
    let (t1, _) = env.ingest_ok(&mail(
        "alice@bank.example",
        "Phishing",
        Some("r1@bank.example"),
        "",
        "first",
    ));
    let y = year();
    let subjects = [
        format!("Re: [CERT-EX #{y}-00001] Phishing"),
        format!("AW: WG: [cert-ex#{y}-00001] Phishing"),
        format!("RE: [CERT-EX <http://cert-ex/> #{y}-00001] Phishing"),
        format!("SV: [ CERT-EX # {y}-1 ] Phishing"),
    ];
    for (i, s) in subjects.iter().enumerate() {
        let (t, word) = env.ingest_ok(&mail(
            "alice@bank.example",
            s,
            Some(&format!("f{i}@bank.example")),
            "",
            "more",
        ));
        assert_eq!(
            (t.as_str(), word.as_str()),
            (t1.as_str(), "appended"),
            "subject {s}"
        );
    }

    // A client that dropped the tag still threads through References to our acknowledgement.
    let ack_id = env.outbox()[0]["message_id"].as_str().unwrap().to_string();
    let refs = format!("In-Reply-To: <{ack_id}>\r\nReferences: <r1@bank.example> <{ack_id}>\r\n");
    let (t, word) = env.ingest_ok(&mail(
        "alice@bank.example",
        "Re: your message",
        Some("f9@bank.example"),
        &refs,
        "reply",
    ));
    assert_eq!((t.as_str(), word.as_str()), (t1.as_str(), "appended"));

    // ... and through a reference to the original report.
    let refs = "References: <r1@bank.example>\r\n";
    let (t, _) = env.ingest_ok(&mail(
        "bob@bank.example",
        "Re: Phishing",
        Some("f10@bank.example"),
        refs,
        "colleague",
    ));
    assert_eq!(t, t1);

    // Our own Message-ID format names the ticket even when it was never stored (lost index).
    let refs = format!("In-Reply-To: <cert-ex.{y}-00001.ack.00000000deadbeef@cert.example>\r\n");
    let (t, _) = env.ingest_ok(&mail(
        "alice@bank.example",
        "Re:",
        Some("f11@bank.example"),
        &refs,
        "x",
    ));
    assert_eq!(t, t1);

    let ticket = env.ticket(&t1);
    let incoming = ticket["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .count();
    assert_eq!(incoming, 8);
    assert_eq!(env.outbox().len(), 1, "follow-ups are not acknowledged");
    assert_eq!(env.tickets().len(), 1);
}

#[test]
fn unknown_tags_open_a_new_ticket_with_a_warning_and_foreign_tags_are_kept() {
    let env = Env::new();
    let (t1, _) = env.ingest_ok(&mail(
        "alice@bank.example",
        "first",
        Some("a@x.example"),
        "",
        "x",
    ));
    let y = year();
    let (t2, word) = env.ingest_ok(&mail(
        "mallory@evil.example",
        &format!("Re: [CERT-EX #{y}-00999] hi"),
        Some("b@x.example"),
        "",
        "x",
    ));
    assert_eq!(word, "created");
    assert_ne!(t2, t1);
    let t = env.ticket(&t2);
    assert_eq!(t["flags"], serde_json::json!(["unknown-tag"]));
    assert!(t["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "warning"
            && e["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("#{y}-00999"))));
    assert_eq!(t["subject"], "hi");

    let (t3, _) = env.ingest_ok(&mail(
        "abuse@cert.other.example",
        "[CERT-OT #2026-1234] Botnet",
        Some("c@x.example"),
        "",
        "x",
    ));
    let t = env.ticket(&t3);
    assert_eq!(t["subject"], "[CERT-OT #2026-1234] Botnet");
    assert_eq!(
        env.outbox().last().unwrap()["subject"],
        format!("[CERT-EX #{t3}] [CERT-OT #2026-1234] Botnet")
    );
}

#[test]
fn duplicates_are_stored_once_by_message_id_or_by_sha256() {
    let env = Env::new();
    let raw = mail(
        "alice@bank.example",
        "dup",
        Some("d1@bank.example"),
        "",
        "body",
    );
    let (t1, _) = env.ingest_ok(&raw);
    // The same message through another route: an extra trace header, CRLF turned to LF.
    let mut again = b"Delivered-To: abuse@cert.example\n".to_vec();
    again.extend(
        String::from_utf8(raw.clone())
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes(),
    );
    assert_eq!(env.ingest_ok(&again), (t1.clone(), "duplicate".to_string()));
    assert_eq!(env.ingest_ok(&raw), (t1.clone(), "duplicate".to_string()));
    let t = env.ticket(&t1);
    let incoming = t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .count();
    assert_eq!(incoming, 1);
    assert_eq!(
        event_kinds(&t).iter().filter(|k| *k == "duplicate").count(),
        2
    );

    let raw = mail("carol@x.example", "no id", None, "", "unique body 1");
    let (t2, w) = env.ingest_ok(&raw);
    assert_eq!(w, "created");
    assert_eq!(env.ticket(&t2)["flags"], serde_json::json!([]));
    assert_eq!(env.ingest_ok(&raw), (t2.clone(), "duplicate".to_string()));
    assert_eq!(env.tickets().len(), 2);
    assert_eq!(
        env.outbox().len(),
        2,
        "no second acknowledgement for a duplicate"
    );
}

#[test]
fn a_forged_message_id_does_not_swallow_a_different_report() {
    let env = Env::new();
    let (t1, _) = env.ingest_ok(&mail(
        "mallory@evil.example",
        "decoy",
        Some("real-report@bank.example"),
        "",
        "decoy body",
    ));
    let (t2, word) = env.ingest_ok(&mail(
        "alice@bank.example",
        "Real report",
        Some("real-report@bank.example"),
        "",
        "the real report",
    ));
    assert_eq!(word, "created");
    assert_ne!(t1, t2);
    assert_eq!(
        env.ticket(&t2)["flags"],
        serde_json::json!(["message-id-reused"])
    );
    // The real report delivered again (another route): the same message
    // as t2, not a third ticket, although the ID points at the decoy.
    let mut again = b"Received: from mx2.cert.example\r\n".to_vec();
    again.extend_from_slice(&mail(
        "alice@bank.example",
        "Real report",
        Some("real-report@bank.example"),
        "",
        "the real report",
    ));
    assert_eq!(env.ingest_ok(&again), (t2, "duplicate".into()));
}

#[test]
fn acknowledgements_are_suppressed_for_robots_lists_and_loops_with_reasons() {
    let env = Env::new();
    let cases: &[(&str, &str, &str)] = &[
        ("MAILER-DAEMON@mx.example", "", "mailer daemon"),
        ("postmaster@mx.example", "", "postmaster"),
        ("noreply@shop.example", "", "does not accept replies"),
        (
            "alice@bank.example",
            "Return-Path: <>\r\n",
            "null envelope sender",
        ),
        (
            "bob@bank.example",
            "Auto-Submitted: auto-replied\r\n",
            "Auto-Submitted: auto-replied",
        ),
        (
            "carol@bank.example",
            "Precedence: bulk\r\n",
            "Precedence: bulk",
        ),
        (
            "dave@bank.example",
            "List-Id: <announce.example.org>\r\n",
            "List-Id",
        ),
        (
            "erin@bank.example",
            "X-Loop: cert@cert.example\r\n",
            "X-Loop",
        ),
        ("cert@cert.example", "", "our own address"),
    ];
    for (i, (from, extra, reason)) in cases.iter().enumerate() {
        let (t, word) = env.ingest_ok(&mail(
            from,
            "s",
            Some(&format!("s{i}@x.example")),
            extra,
            "b",
        ));
        assert_eq!(word, "created");
        let ticket = env.ticket(&t);
        let ev = ticket["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "ack-suppressed")
            .cloned();
        let detail = ev
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            detail.contains(reason),
            "{from} {extra:?}: suppression detail {detail:?} lacks {reason:?}"
        );
    }
    assert_eq!(env.outbox().len(), 0);

    // Peers are not robots: another team's abuse@ is acknowledged, and so is Auto-Submitted: no.
    env.ingest_ok(&mail(
        "abuse@isp.example",
        "Abuse report",
        Some("p1@isp.example"),
        "",
        "b",
    ));
    env.ingest_ok(&mail(
        "frank@bank.example",
        "s",
        Some("p2@x.example"),
        "Auto-Submitted: no\r\n",
        "b",
    ));
    assert_eq!(env.outbox().len(), 2);
}

#[test]
fn the_ack_rate_limit_is_per_sender_and_recorded() {
    let env = Env::with_extra("[ack]\nrate_limit = 2\nrate_window_secs = 3600\n");
    for i in 0..3 {
        env.ingest_ok(&mail(
            "alice@bank.example",
            &format!("report {i}"),
            Some(&format!("rl{i}@bank.example")),
            "",
            "b",
        ));
    }
    env.ingest_ok(&mail(
        "bob@bank.example",
        "other sender",
        Some("rl9@bank.example"),
        "",
        "b",
    ));
    assert_eq!(env.outbox().len(), 3);
    let third = env.ticket(&id(3));
    assert!(third["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "ack-suppressed"
            && e["detail"].as_str().unwrap().contains("rate limit")));
}

#[test]
fn the_reporter_reopens_a_resolved_ticket() {
    let env = Env::new();
    let (t1, _) = env.ingest_ok(&mail(
        "alice@bank.example",
        "x",
        Some("o1@bank.example"),
        "",
        "b",
    ));
    let tag = format!("[CERT-EX #{t1}]");
    let out = env.ok(&["ticket", "status", &tag, "resolved"]);
    assert!(out.contains("new → resolved"), "{out}");
    assert_eq!(env.ticket(&t1)["status"], "resolved");

    // A stranger writing on the ticket does not reopen it.
    env.ingest_ok(&mail(
        "mallory@evil.example",
        &format!("Re: {tag}"),
        Some("o2@evil.example"),
        "",
        "b",
    ));
    assert_eq!(env.ticket(&t1)["status"], "resolved");

    env.ingest_ok(&mail(
        "Alice <ALICE@bank.example>",
        &format!("Re: {tag}"),
        Some("o3@bank.example"),
        "",
        "b",
    ));
    let t = env.ticket(&t1);
    assert_eq!(t["status"], "open");
    assert_eq!(
        event_kinds(&t)
            .iter()
            .filter(|k| *k == "status-change")
            .count(),
        2
    );
}

#[test]
fn ticket_ids_are_sequential_and_listing_filters_by_status() {
    let env = Env::new();
    for i in 1..=3 {
        let (t, _) = env.ingest_ok(&mail(
            &format!("r{i}@x.example"),
            "s",
            Some(&format!("seq{i}@x.example")),
            "",
            "b",
        ));
        assert_eq!(t, id(i));
    }
    env.ok(&["ticket", "status", &id(2), "rejected"]);
    let rejected: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["ticket", "list", "--status", "rejected", "--json"]))
            .unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["id"], id(2));
    let human = env.ok(&["ticket", "list"]);
    assert!(
        human.contains(&id(3)) && human.contains("rejected"),
        "{human}"
    );
    let show = env.ok(&["ticket", "show", &id(1)]);
    assert!(
        show.contains("history:") && show.contains("created"),
        "{show}"
    );
}

#[test]
fn unknown_tickets_and_bad_ids_fail_with_a_clear_message() {
    let env = Env::new();
    let out = env.run(&["ticket", "show", "2026-00077"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = env.run(&["ticket", "show", "banana"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-NNNNN"));
}

#[test]
fn ingest_takes_several_files_and_reports_each() {
    let env = Env::new();
    let a = env.path("a.eml");
    let b = env.path("b.eml");
    std::fs::write(
        &a,
        mail("a@x.example", "one", Some("m1@x.example"), "", "1"),
    )
    .unwrap();
    std::fs::write(
        &b,
        mail("b@x.example", "two", Some("m2@x.example"), "", "2"),
    )
    .unwrap();
    let out = env.ok(&[
        "ingest",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("{} created", id(1)),
            format!("{} created", id(2)),
            format!("{} duplicate", id(1))
        ]
    );
    let missing = env.run(&["ingest", env.path("nope.eml").to_str().unwrap()]);
    assert_eq!(
        missing.status.code(),
        Some(66),
        "EX_NOINPUT for a file that does not exist"
    );
}

#[test]
fn a_locked_store_is_a_temporary_failure_for_the_mta() {
    let env = Env::new();
    env.ingest_ok(&mail(
        "a@x.example",
        "one",
        Some("lock1@x.example"),
        "",
        "1",
    ));
    // Hold the store the way a running daemon does; ingest waits a second.
    common::set_store_options(&env, "lock_wait_secs = 1");
    let held = csirtd::store::Store::open(&env.path("store"), 8).unwrap();
    let (code, _, err) = env.ingest_full(&mail(
        "a@x.example",
        "two",
        Some("lock2@x.example"),
        "",
        "2",
    ));
    assert_eq!(
        code, 75,
        "EX_TEMPFAIL so that the MTA retries; stderr: {err}"
    );
    assert!(err.contains("in use"), "{err}");
    drop(held);
    assert_eq!(
        env.ingest_ok(&mail(
            "a@x.example",
            "two",
            Some("lock2@x.example"),
            "",
            "2"
        ))
        .1,
        "created"
    );
}

#[test]
fn check_config_summarises_and_errors_name_file_and_key() {
    let env = Env::new();
    let out = env.ok(&["check-config"]);
    assert!(out.contains("is valid") && out.contains("CERT-EX"), "{out}");

    let bad = env.path("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&env.config)
            .unwrap()
            .replace("tag = \"CERT-EX\"", "tag = \"CERT EX\""),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--config", bad.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("team.tag"),
        "{err}"
    );

    let out = std::process::Command::new(BIN)
        .args(["check-config"])
        .env("CSIRTD_CONFIG", env.path("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));

    // CSIRTD_CONFIG is honoured when --config is absent.
    let out = std::process::Command::new(BIN)
        .args(["check-config"])
        .env("CSIRTD_CONFIG", &env.config)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn the_shipped_configs_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // The example names production paths and secret files; every key must
    // still be one csirtd knows.
    let text = std::fs::read_to_string(root.join("config/csirtd.example.toml")).unwrap();
    let parsed: Result<csirtd::config::Config, _> = toml::from_str(&text);
    assert!(
        parsed.is_ok(),
        "config/csirtd.example.toml: {:?}",
        parsed.err()
    );
    let out = std::process::Command::new(BIN)
        .args([
            "--config",
            root.join("config/demo.toml").to_str().unwrap(),
            "check-config",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bounce_of_our_acknowledgement_lands_on_its_ticket() {
    let env = Env::new();
    let (t1, _) = env.ingest_ok(&mail(
        "alice@bank.example",
        "Report",
        Some("b1@bank.example"),
        "",
        "x",
    ));
    let ack_id = env.outbox()[0]["message_id"].as_str().unwrap().to_string();
    let dsn = format!(
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.bank.example\r\nTo: cert@cert.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <dsn-1@mx.bank.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nMailbox full.\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.bank.example\r\n\r\nFinal-Recipient: rfc822; alice@bank.example\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: CERT Example <cert@cert.example>\r\nTo: alice@bank.example\r\nSubject: [CERT-EX #{t1}] Report\r\nMessage-ID: <{ack_id}>\r\n\r\n\
--B--\r\n"
    );
    let (t, word) = env.ingest_ok(dsn.as_bytes());
    assert_eq!((t.as_str(), word.as_str()), (t1.as_str(), "appended"));
    let ticket = env.ticket(&t1);
    assert!(ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "warning" && e["detail"].as_str().unwrap().contains(&ack_id)));
    assert_eq!(env.outbox().len(), 1, "a bounce is never answered");

    // A report about somebody else's message opens its own ticket.
    let other = dsn
        .replace(&ack_id, "unrelated@elsewhere.example")
        .replace("dsn-1@", "dsn-2@");
    assert_eq!(env.ingest_ok(other.as_bytes()).1, "created");
}

#[test]
fn indicators_are_extracted_normalised_and_shown_on_the_ticket() {
    let env = Env::with_extra("[analysis]\nignore = [\"10.0.0.0/8\", \"trusted.example\"]\n");
    let body = "Phishing at hxxps://login-bank[.]com/verify from 198.51.100.23 (AS64496), \
                sample sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855, \
                exploiting CVE-2024-3400. Internal host 10.1.2.3, mirror www.trusted.example, \
                contact cert@cert.example.";
    let (t, _) = env.ingest_ok(&mail(
        "alice@bank.example",
        "Phish on login-bank[.]com",
        Some("ioc1@bank.example"),
        "",
        body,
    ));
    let ticket = env.ticket(&t);
    let got: Vec<(String, String, String)> = ticket["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_string(),
                i["value"].as_str().unwrap().to_string(),
                i["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |k: &str, v: &str| got.iter().any(|(gk, gv, _)| gk == k && gv == v);
    assert!(has("url", "https://login-bank.com/verify"), "{got:?}");
    assert!(has("domain", "login-bank.com"), "{got:?}");
    assert!(has("ipv4", "198.51.100.23"), "{got:?}");
    assert!(has("asn", "AS64496"), "{got:?}");
    assert!(
        has(
            "sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ),
        "{got:?}"
    );
    assert!(has("cve", "CVE-2024-3400"), "{got:?}");
    assert!(
        got.iter()
            .any(|(k, v, s)| k == "domain" && v == "login-bank.com" && s == "subject"),
        "first seen in the subject: {got:?}"
    );
    for noise in [
        "10.1.2.3",
        "www.trusted.example",
        "cert.example",
        "cert@cert.example",
        "bank.example",
    ] {
        assert!(
            !got.iter().any(|(_, v, _)| v.contains(noise)),
            "{noise} is not an indicator: {got:?}"
        );
    }
}

//! Re-deliveries (issue 13): the same message arriving again is stored once
//! when only trace headers differ; one whose other headers differ is kept
//! as another delivery, flagged and visible.

mod common;

use common::{event_kinds, mail, Env};

fn incoming(ticket: &serde_json::Value) -> Vec<serde_json::Value> {
    ticket["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["direction"] == "in")
        .cloned()
        .collect()
}

const BODY: &str = "Phishing kit at http://login-bank.example.net/verify";

#[test]
fn a_redelivery_with_changed_headers_is_kept_flagged_and_shown() {
    let env = Env::new();
    let original = mail(
        "alice@bank.example",
        "Phishing",
        Some("r1@bank.example"),
        "",
        BODY,
    );
    let (t1, word) = env.ingest_ok(&original);
    assert_eq!(word, "created");

    // Another route: trace headers added, line ends changed. A duplicate.
    let mut traced =
        b"Received: from mx2.cert.example by mx.cert.example; Mon, 16 Nov 2026 10:01:00 +0000\r\n\
Return-Path: <alice@bank.example>\r\n\
Delivered-To: abuse@cert.example\r\n\
X-Original-To: abuse@cert.example\r\n\
Authentication-Results: mx.cert.example; spf=pass\r\n\
ARC-Seal: i=1; a=rsa-sha256; cv=none; d=relay.example; s=a; b=AAAA\r\n\
DKIM-Signature: v=1; a=rsa-sha256; d=relay.example; s=a; b=BBBB\r\n"
            .to_vec();
    traced.extend(
        String::from_utf8(original.clone())
            .unwrap()
            .replace("\r\n", "\n")
            .bytes(),
    );
    assert_eq!(env.ingest_ok(&traced), (t1.clone(), "duplicate".into()));

    // The same Message-ID and body, but another From: kept, flagged.
    let other_from = mail(
        "mallory@evil.example",
        "Phishing",
        Some("r1@bank.example"),
        "",
        BODY,
    );
    let (t, word) = env.ingest_ok(&other_from);
    assert_eq!((t.as_str(), word.as_str()), (t1.as_str(), "appended"));
    // ... and another Subject.
    let other_subject = mail(
        "alice@bank.example",
        "Phishing (corrected)",
        Some("r1@bank.example"),
        "",
        BODY,
    );
    assert_eq!(
        env.ingest_ok(&other_subject),
        (t1.clone(), "appended".into())
    );
    // The changed delivery once more, through another route: a duplicate of it.
    let mut again = b"Received: from mx3.cert.example\r\n".to_vec();
    again.extend_from_slice(&other_from);
    assert_eq!(env.ingest_ok(&again), (t1.clone(), "duplicate".into()));

    let ticket = env.ticket(&t1);
    let flags = ticket["flags"].as_array().unwrap();
    assert!(
        flags.iter().any(|f| f == "redelivered-changed"),
        "{flags:?}"
    );
    let msgs = incoming(&ticket);
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    assert!(msgs[0]["flags"].as_array().unwrap().is_empty());
    for m in &msgs[1..] {
        assert!(
            m["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "redelivered-changed"),
            "{m:#}"
        );
    }
    // Every delivery's bytes are kept exactly.
    let messages = ticket["messages"].as_array().unwrap();
    let position = |sha: &str| {
        messages
            .iter()
            .position(|m| m["sha256"] == sha)
            .expect("stored")
            + 1
    };
    for raw in [&original, &other_from, &other_subject] {
        let n = position(&common::sha256_hex(raw)).to_string();
        let out = env
            .cmd()
            .args(["ticket", "raw", &t1, "--message", &n])
            .output()
            .unwrap();
        assert_eq!(&out.stdout, raw);
    }
    let warnings: Vec<&str> = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "warning")
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("re-delivery") && w.contains("From")),
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("re-delivery") && w.contains("Subject")),
        "{warnings:#?}"
    );
    assert_eq!(
        event_kinds(&ticket)
            .iter()
            .filter(|k| *k == "duplicate")
            .count(),
        2
    );
    // No second acknowledgement, and nobody else's ticket.
    assert_eq!(env.outbox().len(), 1);
    assert_eq!(env.tickets().len(), 1);

    let human = env.ok(&["ticket", "show", &t1]);
    assert!(
        human.matches("redelivered-changed").count() >= 3,
        "ticket flag and both changed deliveries: {human}"
    );
}

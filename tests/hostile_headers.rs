//! Header injection through the values csirtd writes back (issue 13): a
//! Message-ID, From or address that carries a bare CR, a NUL, or a space
//! and a colon never reaches a header of the acknowledgement, and no
//! attacker-chosen recipient gets one. Also: quoted local parts, and
//! template placeholders inside a reporter's subject.

mod common;
use common::*;

/// Ingests `raw`, delivers the outbox through the file transport and
/// returns the ticket and the text of every file written.
fn ingest_and_deliver(env: &Env, raw: &[u8]) -> (serde_json::Value, Vec<String>) {
    let (id, word) = env.ingest_ok(raw);
    assert_eq!(word, "created");
    env.ok(&["outbox", "deliver"]);
    let sent = env
        .sent_files()
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).expect("sent file")).into_owned())
        .collect();
    (env.ticket(&id), sent)
}

fn flags(t: &serde_json::Value) -> Vec<&str> {
    t["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(|f| f.as_str())
        .collect()
}

fn events_of<'a>(t: &'a serde_json::Value, kind: &str) -> Vec<&'a str> {
    t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == kind)
        .filter_map(|e| e["detail"].as_str())
        .collect()
}

/// Every header line of a sent mail's header section, unfolded by name.
fn header_names(text: &str) -> Vec<String> {
    let head = text.split("\r\n\r\n").next().unwrap_or(text);
    head.split("\r\n")
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.to_ascii_lowercase()))
        .collect()
}

/// No control character is left in the header section other than CRLF
/// line ends, and no line other than ours names a Bcc or the injected one.
fn assert_clean_headers(text: &str) {
    let head = text.split("\r\n\r\n").next().unwrap_or(text);
    for line in head.split("\r\n") {
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "control character in {line:?}"
        );
    }
    let names = header_names(text);
    for bad in ["bcc", "x-injected"] {
        assert!(!names.iter().any(|n| n == bad), "{bad} header in\n{text}");
    }
    assert!(!head.contains("victim@"), "a victim address in\n{head}");
    assert!(!head.to_ascii_lowercase().contains("x-injected"), "{head}");
}

#[test]
fn a_bare_cr_in_the_message_id_never_reaches_the_acknowledgement() {
    let env = Env::new();
    let raw = b"From: Alice <alice@bank.example>\r\nTo: cert@cert.example\r\nSubject: Phish\r\n\
Message-ID: <id3@evil.example\rX-Injected: yes>\r\n\
In-Reply-To: <irt@evil.example\rBcc: victim@bank.example>\r\n\
References: <r1@bank.example> <r2@evil.example\rBcc: victim@bank.example>\r\n\r\nbody\r\n";
    let (t, sent) = ingest_and_deliver(&env, raw);
    // The reporter's address is fine: the acknowledgement goes out,
    // without the identifiers it cannot trust.
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let ack = &sent[0];
    assert_clean_headers(ack);
    assert_eq!(header(ack, "To").as_deref(), Some("alice@bank.example"));
    assert_eq!(header(ack, "In-Reply-To"), None, "{ack}");
    assert_eq!(header(ack, "References"), None, "{ack}");
    assert!(flags(&t).contains(&"malformed-header"), "{t:#}");
    let warnings = events_of(&t, "warning");
    for h in ["Message-ID", "In-Reply-To", "References"] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("{h} header not used"))),
            "{h}: {warnings:#?}"
        );
    }
    // The evidence keeps every byte.
    let id = t["id"].as_str().expect("ticket id");
    let stored = env.cmd().args(["ticket", "raw", id]).output().unwrap();
    assert_eq!(stored.stdout, raw.to_vec());
}

#[test]
fn a_from_with_a_bare_cr_bcc_gets_no_acknowledgement() {
    let env = Env::new();
    let raw = b"From: <x@evil.example\rBcc:victim@bank.example>\r\nTo: cert@cert.example\r\nSubject: Phish\r\nMessage-ID: <f1@evil.example>\r\n\r\nbody\r\n";
    let (t, sent) = ingest_and_deliver(&env, raw);
    assert!(sent.is_empty(), "{sent:#?}");
    assert!(env.outbox().is_empty());
    assert!(flags(&t).contains(&"malformed-header"));
    assert_eq!(t["requestors"], serde_json::json!([]));
    let suppressed = events_of(&t, "ack-suppressed");
    assert!(
        suppressed.iter().any(|d| d.contains("malformed")),
        "{suppressed:?}"
    );
    // The warning shows the value escaped: visible, and inert.
    let warning = events_of(&t, "warning")
        .into_iter()
        .find(|w| w.starts_with("From header not used"))
        .expect("From warning");
    assert!(warning.contains("\\rBcc:victim@bank.example"), "{warning}");
}

#[test]
fn addresses_with_a_space_and_a_colon_or_a_nul_are_never_answered() {
    let env = Env::new();
    for (n, from) in [
        "eve3@evil.example bcc: victim@bank.example",
        "eve3@evil.example bcc:victim@bank.example",
        "<eve3@evil.example bcc: victim@bank.example>",
        "Eve <eve3@evil.example bcc: victim@bank.example>",
        "<eve@evil.example\0>",
        "e\0ve@evil.example",
        "Eve <eve@evil.example>\0, victim@bank.example",
    ]
    .iter()
    .enumerate()
    {
        let raw = mail(from, "Phish", Some(&format!("sp{n}@evil.example")), "", "b");
        let (id, _) = env.ingest_ok(&raw);
        let t = env.ticket(&id);
        assert_eq!(t["requestors"], serde_json::json!([]), "{from:?}: {t:#}");
        assert!(flags(&t).contains(&"malformed-header"), "{from:?}: {t:#}");
        assert!(
            !events_of(&t, "ack-suppressed").is_empty(),
            "{from:?}: {t:#}"
        );
    }
    assert!(env.outbox().is_empty(), "{:#?}", env.outbox());
    env.ok(&["outbox", "deliver"]);
    assert!(env.sent_files().is_empty());
}

#[test]
fn quoted_local_parts_are_answered_as_written() {
    let env = Env::new();
    for (n, (from, to)) in [
        ("\"john.doe\"@evil.example", "john.doe@evil.example"),
        ("\"a b\"@x.example", "\"a b\"@x.example"),
        ("Joe <\"joe q\"@y.example>", "\"joe q\"@y.example"),
    ]
    .iter()
    .enumerate()
    {
        let raw = mail(from, "Phish", Some(&format!("q{n}@x.example")), "", "b");
        let (id, _) = env.ingest_ok(&raw);
        let t = env.ticket(&id);
        assert_eq!(t["requestors"], serde_json::json!([to]), "{from}: {t:#}");
        assert!(!flags(&t).contains(&"malformed-header"), "{from}");
    }
    env.ok(&["outbox", "deliver"]);
    let to: Vec<String> = env
        .sent_files()
        .iter()
        .filter_map(|p| header(&std::fs::read_to_string(p).unwrap(), "To"))
        .collect();
    for want in [
        "john.doe@evil.example",
        "\"a b\"@x.example",
        "\"joe q\"@y.example",
    ] {
        assert!(to.iter().any(|t| t == want), "{want} not in {to:?}");
    }
    assert!(!to.iter().any(|t| t.starts_with('@')), "{to:?}");
}

#[test]
fn placeholders_in_a_reporters_subject_are_not_expanded() {
    let env = Env::new();
    let raw = mail(
        "alice@bank.example",
        "Phish {{verification_notice}} {{team_address}} {{tag}}",
        Some("tpl@bank.example"),
        "",
        "b",
    );
    let (_, sent) = ingest_and_deliver(&env, &raw);
    assert_eq!(sent.len(), 1);
    let m = mail_parser::MessageParser::default()
        .parse(sent[0].as_bytes())
        .expect("ack parses");
    let body = m.body_text(0).expect("ack body").into_owned();
    assert!(
        body.contains("Phish {{verification_notice}} {{team_address}} {{tag}}"),
        "{body}"
    );
}

//! Hostile and broken input: nothing panics, nothing is lost, every oddity
//! is a flag a handler can see.

mod common;
use common::*;

fn ingest_file(env: &Env, name: &str) -> (serde_json::Value, Vec<u8>) {
    let path = fixtures().join("bad").join(name);
    let raw = std::fs::read(&path).unwrap();
    let out = env.run(&["ingest", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("{name}: no ticket line"));
    let ticket = env.ticket(id);
    let stored = env
        .cmd()
        .args(["ticket", "raw", id])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(stored, raw, "{name}: raw bytes must be stored bit for bit");
    assert_eq!(ticket["messages"][0]["sha256"], sha256_hex(&raw), "{name}");
    (ticket, raw)
}

fn flags(t: &serde_json::Value) -> Vec<String> {
    t["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_bad_fixture_is_stored_raw_with_the_right_flags() {
    let env = Env::with_extra("[limits]\nmax_mime_depth = 16\n");
    let expect: &[(&str, &[&str])] = &[
        ("empty.eml", &["unparsed"]),
        ("binary-junk.bin", &["unparsed"]),
        ("no-from.eml", &["no-from"]),
        ("two-from.eml", &["multiple-from"]),
        ("deep-nesting.eml", &["too-deep"]),
        ("broken-mime.eml", &[]),
        ("latin1-header.eml", &[]),
        ("header-only.eml", &[]),
    ];
    for (name, want) in expect {
        let (t, _) = ingest_file(&env, name);
        let got = flags(&t);
        for w in *want {
            assert!(
                got.contains(&w.to_string()),
                "{name}: flags {got:?} lack {w}"
            );
        }
        if want.is_empty() {
            assert!(
                !got.contains(&"unparsed".to_string()),
                "{name} is parseable: {got:?}"
            );
        }
    }
    // Nothing without a single From is acknowledged.
    let ob = env.outbox();
    for o in &ob {
        let to = o["to"][0].as_str().unwrap();
        assert!(!to.is_empty());
    }
}

#[test]
fn junk_gets_an_unparsed_ticket_and_no_acknowledgement() {
    let env = Env::new();
    let (t, _) = ingest_file(&env, "binary-junk.bin");
    assert_eq!(flags(&t), vec!["unparsed"]);
    assert!(t["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "ack-suppressed"));
    assert_eq!(env.outbox().len(), 0);
}

#[test]
fn two_from_headers_never_get_a_reply() {
    let env = Env::new();
    let (t, _) = ingest_file(&env, "two-from.eml");
    assert!(flags(&t).contains(&"multiple-from".to_string()));
    assert_eq!(
        env.outbox().len(),
        0,
        "an ambiguous sender is never answered"
    );
    assert_eq!(t["requestors"], serde_json::json!([]));
}

#[test]
fn oversized_mail_is_stored_raw_flagged_and_still_acknowledged() {
    let env = Env::with_extra("[limits]\nmax_message_size = 4096\n");
    let body = "A".repeat(50_000);
    let raw = mail(
        "alice@bank.example",
        "Big evidence",
        Some("big@bank.example"),
        "",
        &body,
    );
    let (tid, word) = env.ingest_ok(&raw);
    assert_eq!(word, "created");
    let t = env.ticket(&tid);
    assert_eq!(flags(&t), vec!["oversized"]);
    assert_eq!(t["subject"], "Big evidence", "headers are still read");
    assert_eq!(
        env.cmd()
            .args(["ticket", "raw", &tid])
            .output()
            .unwrap()
            .stdout,
        raw
    );
    assert_eq!(env.outbox().len(), 1);
}

#[test]
fn absurd_nesting_and_part_counts_are_flagged_not_fatal() {
    let env = Env::with_extra("[limits]\nmax_mime_depth = 8\nmax_parts = 50\n");
    let mut deep =
        String::from("From: a@x.example\r\nSubject: nest\r\nMessage-ID: <nest@x.example>\r\n");
    for i in 0..5000 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    deep.push_str("Content-Type: text/plain\r\n\r\nleaf\r\n");
    let (tid, _) = env.ingest_ok(deep.as_bytes());
    assert!(flags(&env.ticket(&tid)).contains(&"too-deep".to_string()));

    let mut wide = String::from("From: a@x.example\r\nSubject: wide\r\nMessage-ID: <wide@x.example>\r\nContent-Type: multipart/mixed; boundary=\"w\"\r\n\r\n");
    for i in 0..500 {
        wide.push_str(&format!(
            "--w\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
        ));
    }
    wide.push_str("--w--\r\n");
    let (tid, _) = env.ingest_ok(wide.as_bytes());
    assert!(flags(&env.ticket(&tid)).contains(&"too-many-parts".to_string()));
}

#[test]
fn non_utf8_and_encoded_headers_are_decoded_for_display() {
    let env = Env::new();
    let (t, _) = ingest_file(&env, "latin1-header.eml");
    assert!(t["subject"].as_str().is_some_and(|s| !s.is_empty()));
    let raw = mail(
        "x@y.example",
        "=?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=",
        Some("enc@y.example"),
        "",
        "b",
    );
    let (tid, _) = env.ingest_ok(&raw);
    assert_eq!(env.ticket(&tid)["subject"], "Grüße aus Köln");
}

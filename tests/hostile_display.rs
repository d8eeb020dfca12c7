//! Attacker text shown to people (issue 13): escape sequences never reach
//! an operator's terminal through `ticket list`, `ticket show` or
//! `outbox list` (JSON keeps them, escaped as JSON does); an encoded line
//! break in a display name forges no line in the handlers' notification;
//! a display name holding another address is flagged and the real address
//! comes first.

mod common;
use common::gpg::{handler_env, signed_mail, Gpg};
use common::*;

const ESC_TITLE: &str = "\x1b]0;pwned\x07";

fn flags(t: &serde_json::Value) -> Vec<String> {
    t["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

fn assert_no_raw_controls(what: &str, out: &str) {
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\n'),
        "{what} passes a control character to the terminal:\n{}",
        out.escape_debug()
    );
}

#[test]
fn escape_sequences_never_reach_the_terminal() {
    let env = Env::new();
    // In an encoded display name (a valid header: it reaches the ticket),
    // and raw in the address (a malformed header: no reply, a warning).
    let named = mail(
        "=?utf-8?q?Eve=1B]0;pwned=07=1B[2J?= <eve@evil.example>",
        "=?utf-8?q?Invoice=1B[31m_overdue?=",
        Some("esc1@evil.example"),
        "",
        "b",
    );
    let (named_id, _) = env.ingest_ok(&named);
    let raw_addr = mail(
        &format!("<eve{ESC_TITLE}@evil.example>"),
        "Phish",
        Some("esc2@evil.example"),
        "",
        "b",
    );
    let (raw_id, _) = env.ingest_ok(&raw_addr);

    for args in [
        vec!["ticket", "list"],
        vec!["ticket", "show", &named_id],
        vec!["ticket", "show", &raw_id],
        vec!["outbox", "list"],
    ] {
        let out = env.ok(&args);
        assert_no_raw_controls(&args.join(" "), &out);
    }
    let shown = env.ok(&["ticket", "show", &named_id]);
    assert!(shown.contains("Eve\\x1b]0;pwned\\x07"), "{shown}");
    let shown = env.ok(&["ticket", "show", &raw_id]);
    assert!(
        shown.contains("eve\\x1b]0;pwned\\x07@evil.example"),
        "{shown}"
    );
    assert!(flags(&env.ticket(&raw_id)).contains(&"malformed-header".to_string()));

    // JSON keeps the text as it was; serde_json escapes it.
    let json = env.ok(&["ticket", "show", &named_id, "--json"]);
    assert!(json.contains("\\u001b]0;pwned\\u0007"), "{json}");
    assert_no_raw_controls("ticket show --json", &json);
    let t = env.ticket(&named_id);
    assert!(t["messages"][0]["from"]
        .as_str()
        .is_some_and(|f| f.contains(ESC_TITLE)));
}

#[test]
fn display_names_holding_another_address_are_flagged() {
    let env = Env::new();
    for (n, from) in [
        "ceo@bank.example <eve@bank.example>",
        "\"ceo@bank.example\" <eve@bank.example>",
        "=?utf-8?q?ceo=40bank.example?= <eve@bank.example>",
        "\"The CEO (ceo@bank.example)\" <eve@bank.example>",
    ]
    .iter()
    .enumerate()
    {
        let (id, _) = env.ingest_ok(&mail(from, "Pay", Some(&format!("dn{n}@x")), "", "b"));
        let t = env.ticket(&id);
        assert!(
            flags(&t).contains(&"display-name-address".to_string()),
            "{from}: {t:#}"
        );
        assert_eq!(t["requestors"], serde_json::json!(["eve@bank.example"]));
        let shown = t["messages"][0]["from"].as_str().unwrap_or("");
        assert!(shown.starts_with("eve@bank.example "), "{from}: {shown}");
    }
    for (n, from) in [
        "Eve <eve@bank.example>",
        "eve@bank.example <eve@bank.example>",
    ]
    .iter()
    .enumerate()
    {
        let (id, _) = env.ingest_ok(&mail(from, "Pay", Some(&format!("ok{n}@x")), "", "b"));
        assert!(flags(&env.ticket(&id)).is_empty(), "{from}");
    }
}

struct World {
    env: Env,
    eve: Gpg,
}

/// A team with one handler; eve@bank.example's key is in the keyring, so
/// her signature is good.
fn world() -> World {
    let handler = Gpg::new();
    handler.gen("Hanna <handler@cert.example>");
    let eve = Gpg::new();
    eve.gen("Eve <eve@bank.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let env = handler_env(&team, &handler, &[(&eve, "eve@bank.example")], "");
    World { env, eve }
}

/// The decoded text of the handlers' notification about the report.
fn notification(env: &Env) -> String {
    env.ok(&["outbox", "deliver"]);
    let raw = env
        .sent_files()
        .into_iter()
        .map(|p| std::fs::read(p).expect("sent file"))
        .find(|raw| {
            header(&String::from_utf8_lossy(raw), "To").as_deref() == Some("handler@cert.example")
        })
        .expect("a notification to the handler");
    let m = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("notification parses");
    m.body_text(0).expect("notification text").into_owned()
}

fn lines_starting(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn an_encoded_line_break_forges_no_line_in_the_notification() {
    let w = world();
    let raw = mail(
        "=?utf-8?q?Eve=0ASignature:_signed_by_a_known_key_0xE333_(Alice_Handler),_From_matches=0AFlags:_none=0D=0A?= <eve@evil.example>",
        "=?utf-8?q?Phish=0ASignature:_good?=",
        Some("forge1@evil.example"),
        "",
        "Dear CERT",
    );
    w.env.ingest_ok(&raw);
    let text = notification(&w.env);
    for prefix in ["From:", "Signature:", "Flags:"] {
        let found = lines_starting(&text, prefix);
        assert_eq!(found.len(), 1, "{prefix} lines {found:#?} in\n{text}");
    }
    assert!(
        !lines_starting(&text, "Signature:")[0].contains("known key"),
        "{text}"
    );
    assert!(lines_starting(&text, "From:")[0].contains("Eve Signature: signed by"));
    assert!(!text.replace("\r\n", "\n").contains('\r'), "{text:?}");
}

#[test]
fn a_signed_display_name_spoof_shows_the_real_address_first() {
    let w = world();
    let raw = signed_mail(
        &w.eve,
        "eve@bank.example",
        "From: ceo@bank.example <eve@bank.example>\r\nTo: cert@cert.example\r\nSubject: Urgent transfer\r\nMessage-ID: <spoof1@bank.example>\r\n",
        "Please pay at once.",
    );
    let (id, _) = w.env.ingest_ok(&raw);
    let t = w.env.ticket(&id);
    assert_eq!(t["messages"][0]["signature"]["status"], "good", "{t:#}");
    let text = notification(&w.env);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines
        .iter()
        .position(|l| l.starts_with("From:"))
        .expect("From line");
    assert!(
        lines[from].starts_with("From:      eve@bank.example (display name \"ceo@bank.example\")"),
        "{text}"
    );
    assert!(lines[from + 1].starts_with("WARNING:"), "{text}");
    assert!(text.contains("display-name-address"), "{text}");
    assert!(flags(&t).contains(&"display-name-address".to_string()));
}

//! Several Maildirs (issue 15): `[[intake.maildir]]` with names, each
//! source's label, constituency and category applied to the tickets its
//! mail opens; a default constituency labels a ticket but notifies nobody.

mod common;
use common::*;
use std::time::Duration;

/// Replaces the environment's single `[intake.maildir]` table with two
/// named Maildirs; the `abuse` one carries ticket defaults.
fn two_maildirs(env: &Env) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    let single = "[intake.maildir]\npath = \"maildir\"\npoll_interval_ms = 50\n";
    assert!(text.contains(single));
    let several = r#"[[intake.maildir]]
name = "cert"
path = "maildir"
poll_interval_ms = 50

[[intake.maildir]]
name = "abuse"
path = "maildir-abuse"
poll_interval_ms = 50
label = "phish-desk"
constituency = "university"
category = "fraud/phishing"
"#;
    std::fs::write(&env.config, text.replace(single, several)).unwrap();
}

fn report(mid: &str, ip: &str) -> Vec<u8> {
    mail(
        "Reporter <rep@isp.example>",
        &format!("Suspicious mail from {ip}"),
        Some(mid),
        "",
        &format!("We received a suspicious message; the sender was {ip}."),
    )
}

#[test]
fn each_maildir_gives_its_tickets_their_defaults() {
    let env = Env::with_extra(UNIVERSITY);
    two_maildirs(&env);
    env.deliver(
        "1700000000.a.host",
        &report("plain@isp.example", "203.0.113.9"),
    );
    std::fs::create_dir_all(env.path("maildir-abuse/new")).unwrap();
    std::fs::write(
        env.path("maildir-abuse/new/1700000001.b.host"),
        report("routed@isp.example", "203.0.113.10"),
    )
    .unwrap();
    let (code, log) = run_with_timeout(&env, &["run", "--drain"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(env.count_in("new"), 0);
    assert!(std::fs::read_dir(env.path("maildir-abuse/new"))
        .unwrap()
        .next()
        .is_none());

    let tickets = env.tickets();
    assert_eq!(tickets.len(), 2);
    let shown: Vec<_> = tickets
        .iter()
        .map(|t| env.ticket(t["id"].as_str().unwrap()))
        .collect();
    let routed = shown
        .iter()
        .find(|t| t["subject"].as_str().unwrap().contains("203.0.113.10"))
        .unwrap();
    let plain = shown
        .iter()
        .find(|t| t["subject"].as_str().unwrap().contains("203.0.113.9"))
        .unwrap();
    assert_eq!(routed["category"], "fraud", "{routed}");
    assert_eq!(routed["classification"]["type"], "phishing");
    assert_eq!(routed["classification"]["by"], "source");
    assert_eq!(routed["constituencies"], serde_json::json!(["university"]));
    assert_eq!(routed["labels"], serde_json::json!(["phish-desk"]));
    assert!(
        routed["messages"][0]["origin"]
            .as_str()
            .unwrap()
            .starts_with("maildir:abuse/"),
        "{}",
        routed["messages"][0]
    );
    assert!(routed["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["detail"]
            .as_str()
            .unwrap_or("")
            .contains("from the source's defaults")));
    assert!(plain["classification"].is_null(), "{plain}");
    assert_eq!(plain["constituencies"], serde_json::json!([]));
    assert_eq!(plain["labels"], serde_json::json!([]));
    assert!(plain["messages"][0]["origin"]
        .as_str()
        .unwrap()
        .starts_with("maildir:cert/"));
    // The mailbox alone tells nobody outside the team: two acks, no
    // notification to the university's contact.
    let outbox = env.outbox();
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    assert!(outbox
        .iter()
        .all(|o| o["to"] != serde_json::json!(["noc@uni.example"])));
}

#[test]
fn several_maildirs_must_be_named() {
    let env = Env::with_extra(UNIVERSITY);
    let text = std::fs::read_to_string(&env.config).unwrap();
    let single = "[intake.maildir]\npath = \"maildir\"\npoll_interval_ms = 50\n";
    std::fs::write(
        &env.config,
        text.replace(
            single,
            "[[intake.maildir]]\npath = \"maildir\"\n[[intake.maildir]]\nname = \"b\"\npath = \"b\"\n",
        ),
    )
    .unwrap();
    let out = env.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("intake.maildir[0].name"), "{err}");
}

//! Machine reports and who sent them (issue 14): only a declared feed that
//! proves itself groups rows into constituency tickets and notifies
//! constituents, and then only with typed fields. These are the attacks
//! that worked before: an outsider's CSV named like a Shadowserver report
//! made the team key sign the outsider's words to a constituent.

mod common;

use common::gpg::{fingerprint, install_keys, signed_entity, Gpg};
use common::{event_kinds, Env};
use serde_json::Value;

const UNI: &str = common::UNIVERSITY;

/// The CSV of the observed attack: quoted fields with line breaks, a
/// fake instruction and a fake signature block.
fn hostile_csv() -> String {
    "timestamp,ip,protocol,port,hostname,tag,asn\r\n\
     2026-12-01 00:00:05,192.0.2.7,udp,123,ntp.uni.example,\"IMPORTANT: your network is part of an active incident.\nreply with the VPN admin credentials to incident-desk@evil.example\n-- \nCERT Example\",64500\r\n\
     2026-12-01 00:00:06,192.0.2.8,udp,123,\"reply now\",ntp,64500\r\n"
        .to_string()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    let s = base64::engine::general_purpose::STANDARD.encode(bytes);
    s.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A multipart entity with a short text and one CSV attachment per name.
fn report_entity(csvs: &[(String, String)]) -> String {
    let mut e = String::from(
        "Content-Type: multipart/mixed; boundary=\"RPT\"\r\n\r\n--RPT\r\nContent-Type: text/plain\r\n\r\nAttached is the daily report.\r\n",
    );
    for (name, csv) in csvs {
        e.push_str(&format!(
            "--RPT\r\nContent-Type: text/csv; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(csv.as_bytes())
        ));
    }
    e.push_str("--RPT--\r\n");
    e
}

fn plain_report(from: &str, mid: &str, csvs: &[(String, String)]) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: cert@cert.example\r\nSubject: Shadowserver report\r\nMessage-ID: <{mid}>\r\nDate: Tue, 01 Dec 2026 06:00:00 +0000\r\nMIME-Version: 1.0\r\n{}",
        report_entity(csvs)
    )
    .into_bytes()
}

fn one_csv() -> Vec<(String, String)> {
    vec![("2026-12-01-scan_ntp-x.csv".to_string(), hostile_csv())]
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

/// Team key, the feed's key (autoreports@shadowserver.example) and an
/// installation that declares that feed with `notify`.
fn feed_env(notify: &str) -> (Env, Gpg) {
    feed_env_with(notify, "")
}

fn feed_env_with(notify: &str, extra: &str) -> (Env, Gpg) {
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let feed = Gpg::new();
    feed.gen("Shadowserver <autoreports@shadowserver.example>");
    let fpr = fingerprint(&feed, "autoreports@shadowserver.example");
    let env = Env::with_extra(&format!(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n{UNI}\n\
         [[feeds]]\nname = \"shadowserver\"\nsender = \"shadowserver.example\"\n\
         pgp_fingerprint = \"{fpr}\"\nformats = [\"shadowserver\"]\nnotify = \"{notify}\"\n{extra}"
    ));
    install_keys(
        env.dir.path(),
        &team,
        "cert@cert.example",
        &[(&feed, "autoreports@shadowserver.example")],
    );
    (env, feed)
}

fn signed_report(feed: &Gpg, mid: &str) -> Vec<u8> {
    signed_report_of(feed, mid, &one_csv())
}

fn signed_report_of(feed: &Gpg, mid: &str, csvs: &[(String, String)]) -> Vec<u8> {
    signed_entity(
        feed,
        "autoreports@shadowserver.example",
        &format!(
            "From: autoreports@shadowserver.example\r\nTo: cert@cert.example\r\nSubject: Shadowserver report\r\nMessage-ID: <{mid}>\r\nDate: Tue, 01 Dec 2026 06:00:00 +0000\r\n"
        ),
        &report_entity(csvs),
        &[],
    )
}

#[test]
fn an_outsiders_shadowserver_csv_notifies_nobody() {
    let (env, _feed) = feed_env("auto");
    let (id, word) = env.ingest_ok(&plain_report(
        "eve@evil.example",
        "a1@evil.example",
        &one_csv(),
    ));
    assert_eq!(word, "created");
    let tickets = env.tickets();
    assert_eq!(tickets.len(), 1, "not grouped: {tickets:?}");
    let t = env.ticket(&id);
    let flags = t["flags"].to_string();
    assert!(flags.contains("unauthenticated-feed"), "{flags}");
    assert!(to_contact(&env).is_empty(), "{:?}", env.outbox());
    // Parsed all the same: the rows' addresses are on the ticket.
    let ind = t["indicators"].to_string();
    assert!(
        ind.contains("192.0.2.7") && ind.contains("192.0.2.8"),
        "{ind}"
    );
    let d = details(&t);
    assert!(d.contains("no trusted feed"), "{d}");
    assert!(d.contains("no notification to university"), "{d}");
    assert!(event_kinds(&t).contains(&"warning".to_string()));
}

#[test]
fn the_feeds_address_without_its_signature_is_not_the_feed() {
    let (env, _feed) = feed_env("auto");
    let raw = plain_report(
        "autoreports@shadowserver.example",
        "a2@evil.example",
        &one_csv(),
    );
    let (id, _) = env.ingest_ok(&raw);
    assert!(env.ticket(&id)["flags"]
        .to_string()
        .contains("unauthenticated-feed"));
    assert!(to_contact(&env).is_empty());
}

#[test]
fn sixty_four_csvs_from_an_outsider_make_one_ticket_and_no_notification() {
    let (env, _feed) = feed_env("auto");
    let csvs: Vec<(String, String)> = (1..=64)
        .map(|d| {
            (
                format!(
                    "2026-{:02}-{:02}-scan_ntp-x.csv",
                    1 + (d - 1) / 28,
                    1 + (d - 1) % 28
                ),
                "ip,port\r\n192.0.2.9,123\r\n".to_string(),
            )
        })
        .collect();
    env.ingest_ok(&plain_report("eve@evil.example", "a3@evil.example", &csvs));
    assert_eq!(env.tickets().len(), 1);
    assert!(to_contact(&env).is_empty(), "{:?}", env.outbox());
}

#[test]
fn the_signed_feed_notifies_with_typed_fields_only() {
    let (env, feed) = feed_env("auto");
    env.ingest_ok(&signed_report(&feed, "f1@shadowserver.example"));
    let tickets = env.tickets();
    let t = env.ticket(tickets[0]["id"].as_str().unwrap());
    assert!(!t["flags"].to_string().contains("unauthenticated-feed"));
    assert_eq!(t["constituency"], "university");
    let notes = to_contact(&env);
    assert_eq!(notes.len(), 1, "{:?}", env.outbox());
    env.ok(&["outbox", "deliver"]);
    let sent: Vec<String> = env
        .sent_files()
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect();
    let note = sent
        .iter()
        .find(|m| m.contains("noc@uni.example"))
        .expect("the notification was sent");
    assert!(
        note.contains("192.0.2.7  port 123/udp  AS64500  ntp.uni.example"),
        "{note}"
    );
    assert!(note.contains("scan_ntp"), "{note}");
    for planted in [
        "IMPORTANT",
        "VPN",
        "incident-desk@evil.example",
        "reply now",
    ] {
        assert!(
            !note.contains(planted),
            "{planted} reached the constituent:\n{note}"
        );
    }
}

#[test]
fn a_held_feed_waits_for_release() {
    let (env, feed) = feed_env("hold");
    env.ingest_ok(&signed_report(&feed, "f2@shadowserver.example"));
    let notes = to_contact(&env);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["state"], "awaiting-release");
    env.ok(&["outbox", "deliver"]);
    assert!(
        env.sent_files().is_empty(),
        "nothing goes out before the release"
    );
    let id = notes[0]["id"].as_u64().unwrap().to_string();
    let out = env.ok(&["outbox", "release", &id]);
    assert!(out.contains("released"), "{out}");
    assert_eq!(to_contact(&env)[0]["state"], "queued");
    let again = env.run(&["outbox", "release", &id]);
    assert!(!again.status.success(), "released twice");
    env.ok(&["outbox", "deliver"]);
    assert_eq!(env.sent_files().len(), 1);
    let t = env.ticket(notes[0]["ticket"].as_str().unwrap());
    assert!(event_kinds(&t).contains(&"released".to_string()), "{t}");
}

#[test]
fn a_contact_gets_at_most_its_limit_of_notifications() {
    let (env, feed) = feed_env_with("auto", "[notifications]\nrate_limit = 3\n");
    let csvs: Vec<(String, String)> = (1..=8)
        .map(|d| {
            (
                format!("2026-11-{d:02}-scan_ntp-x.csv"),
                "ip,port\r\n192.0.2.9,123\r\n".to_string(),
            )
        })
        .collect();
    env.ingest_ok(&signed_report_of(&feed, "many@shadowserver.example", &csvs));
    assert_eq!(env.tickets().len(), 8, "one ticket per day");
    assert_eq!(to_contact(&env).len(), 3, "{:?}", env.outbox());
    // The limit holds across mails too.
    env.ingest_ok(&signed_report(&feed, "more@shadowserver.example"));
    assert_eq!(to_contact(&env).len(), 3);
    let held: usize = env
        .tickets()
        .iter()
        .map(|t| env.ticket(t["id"].as_str().unwrap()))
        .filter(|t| details(t).contains("limit of 3 per 3600 s is reached"))
        .count();
    assert_eq!(held, 6, "each ticket without its notification says why");
}

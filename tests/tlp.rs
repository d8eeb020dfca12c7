//! TLP that holds (issue 14, FIRST TLP 2.0): a label in a report raises
//! the ticket's TLP, AMBER+STRICT and RED notifications wait for a
//! handler's release, and RED content is relayed only to the requestors
//! the ticket had when it became RED. Before, a `[TLP:RED] do not share …
//! with the university` report sent its indicators to the university.

mod common;
use common::gpg::{fingerprint, signed_mail, Gpg};
use common::*;
use serde_json::Value;

const HANNA: &str = "handler@cert.example";

const UNI: &str = common::UNIVERSITY;

struct World {
    env: Env,
    handler: Gpg,
    /// The team's certificate, for reporters who encrypt to it.
    team_cert: Vec<u8>,
}

fn world() -> World {
    let handler = Gpg::new();
    handler.gen("Hanna Handler <handler@cert.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let env = Env::with_extra(&format!(
        "[ack]\nencrypt = \"never\"\n[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n\
         [[handlers]]\nname = \"hanna\"\nemail = \"{HANNA}\"\nfingerprint = \"{}\"\n{UNI}",
        fingerprint(&handler, HANNA)
    ));
    common::gpg::install_keys(
        env.dir.path(),
        &team,
        "cert@cert.example",
        &[(&handler, HANNA)],
    );
    let team_cert = team.export("cert@cert.example");
    World {
        env,
        handler,
        team_cert,
    }
}

fn to(env: &Env, who: &str) -> Vec<Value> {
    env.outbox()
        .into_iter()
        .filter(|o| o["to"].to_string().contains(who))
        .collect()
}

fn handler_mail(w: &World, id: &str, mid: &str, text: &str) -> Vec<u8> {
    signed_mail(
        &w.handler,
        HANNA,
        &format!(
            "From: Hanna Handler <{HANNA}>\r\nTo: cert@cert.example\r\nSubject: Re: [CERT-EX #{id}] report\r\nMessage-ID: <{mid}>\r\nDate: Mon, 16 Nov 2026 10:05:00 +0000\r\n"
        ),
        // The signed words name their ticket, as a reply quoting the
        // notification does: a signature is bound to its ticket.
        &format!("{text}\nOn Mon, 16 Nov 2026, CERT Example wrote:\n> New ticket [CERT-EX #{id}]: report\n"),
    )
}

fn events(t: &Value) -> String {
    t["events"].to_string()
}

#[test]
fn a_red_report_reaches_the_constituent_only_when_a_handler_releases_it() {
    let w = world();
    let raw = mail(
        "reporter@bank.example",
        "[TLP:RED] do not share this with the university",
        Some("red-1@bank.example"),
        "",
        "The university's host 192.0.2.55 scans us; an insider, x@uni.example, told us.",
    );
    let (id, _) = w.env.ingest_ok(&raw);
    let t = w.env.ticket(&id);
    assert_eq!(t["tlp"], "red");
    assert!(
        event_kinds(&t).contains(&"tlp".to_string()),
        "{}",
        events(&t)
    );
    let notes = to(&w.env, "noc@uni.example");
    assert_eq!(notes.len(), 1, "{:?}", w.env.outbox());
    assert_eq!(notes[0]["state"], "awaiting-release");
    w.env.ok(&["run", "--drain"]);
    assert!(
        !w.env.sent_files().iter().any(|p| std::fs::read_to_string(p)
            .unwrap_or_default()
            .contains("noc@uni.example")),
        "nothing reached the university before the release"
    );
    // The handler's signed /release lets it go.
    w.env.ingest_ok(&handler_mail(
        &w,
        &id,
        "release-1@cert.example",
        "/release\n",
    ));
    assert_eq!(to(&w.env, "noc@uni.example")[0]["state"], "queued");
    let t = w.env.ticket(&id);
    assert!(events(&t).contains("released by hanna"), "{}", events(&t));
}

#[test]
fn an_unsigned_release_releases_nothing() {
    let w = world();
    let raw = mail(
        "reporter@bank.example",
        "Scanner",
        Some("red-2@bank.example"),
        "",
        "TLP:AMBER+STRICT\n\nHost 192.0.2.56 scans us.",
    );
    let (id, _) = w.env.ingest_ok(&raw);
    assert_eq!(w.env.ticket(&id)["tlp"], "amber+strict");
    assert_eq!(
        to(&w.env, "noc@uni.example")[0]["state"],
        "awaiting-release"
    );
    let forged = mail(
        &format!("Hanna Handler <{HANNA}>"),
        &format!("Re: [CERT-EX #{id}] report"),
        Some("forged-release@evil.example"),
        "",
        "/release",
    );
    w.env.ingest_ok(&forged);
    assert_eq!(
        to(&w.env, "noc@uni.example")[0]["state"],
        "awaiting-release"
    );
}

#[test]
fn amber_and_green_go_to_the_constituency_contact() {
    let w = world();
    for (n, label) in ["TLP:AMBER", "TLP:GREEN"].iter().enumerate() {
        let raw = mail(
            &format!("reporter{n}@bank.example"),
            &format!("[{label}] scanner"),
            Some(&format!("amber-{n}@bank.example")),
            "",
            &format!("Host 192.0.2.{} scans us.", 60 + n),
        );
        w.env.ingest_ok(&raw);
    }
    let notes = to(&w.env, "noc@uni.example");
    assert_eq!(notes.len(), 2);
    assert!(notes.iter().all(|n| n["state"] == "queued"), "{notes:?}");
}

#[test]
fn red_relays_reach_only_the_requestors_it_had_when_it_became_red() {
    let w = world();
    let (red, _) = w.env.ingest_ok(&mail(
        "alice@bank.example",
        "[TLP:RED] intrusion",
        Some("red-3@bank.example"),
        "",
        "Details only for you.",
    ));
    let (other, _) = w.env.ingest_ok(&mail(
        "bob@other.example",
        "intrusion too",
        Some("other-1@other.example"),
        "",
        "We see it as well.",
    ));
    // Merged: bob becomes a requestor of the RED ticket.
    w.env.ingest_ok(&handler_mail(
        &w,
        &other,
        "merge-1@cert.example",
        &format!("/merge {red}\n"),
    ));
    let t = w.env.ticket(&red);
    assert!(
        t["requestors"].to_string().contains("bob@other.example"),
        "{t}"
    );
    assert_eq!(t["tlp"], "red");
    let to_handlers = to(&w.env, HANNA).len();
    w.env.ingest_ok(&handler_mail(
        &w,
        &red,
        "reply-1@cert.example",
        "We contained the intrusion.\n",
    ));
    // The handlers are warned by mail.
    let warnings: Vec<Value> = to(&w.env, HANNA).into_iter().skip(to_handlers).collect();
    assert_eq!(warnings.len(), 1, "{:?}", w.env.outbox());
    let to_alice: Vec<Value> = to(&w.env, "alice@bank.example")
        .into_iter()
        .filter(|o| o["message_id"].to_string().contains("relay"))
        .collect();
    let to_bob: Vec<Value> = to(&w.env, "bob@other.example")
        .into_iter()
        .filter(|o| o["message_id"].to_string().contains("relay"))
        .collect();
    assert_eq!(to_alice.len(), 1, "{:?}", w.env.outbox());
    assert_eq!(to_alice[0]["state"], "queued");
    assert_eq!(to_bob.len(), 1, "{:?}", w.env.outbox());
    assert_eq!(to_bob[0]["state"], "awaiting-release");
    let t = w.env.ticket(&red);
    assert!(
        events(&t).contains("was not among its requestors when it became RED"),
        "{}",
        events(&t)
    );
}

#[test]
fn a_label_only_in_the_encrypted_subject_counts() {
    let w = world();
    let reporter = Gpg::new();
    reporter.gen("Reporter <reporter@bank.example>");
    reporter.import(&w.team_cert);
    // What the reporter's client encrypts: the real subject in the
    // protected headers; the outer one says nothing.
    let inner = "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\n\
                 Subject: [TLP:RED] scanner at the university\r\n\r\n\
                 Host 192.0.2.77 scans us.\r\n";
    let armored = reporter.ok(
        &[
            "--armor",
            "--encrypt",
            "--recipient",
            "cert@cert.example",
            "--trust-model",
            "always",
        ],
        Some(inner.as_bytes()),
    );
    let raw = format!(
        "From: reporter@bank.example\r\nTo: cert@cert.example\r\nSubject: ...\r\nMessage-ID: <enc-red@bank.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"ENC\"\r\n\r\n\
         --ENC\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
         --ENC\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n{}\r\n--ENC--\r\n",
        String::from_utf8_lossy(&armored)
    );
    let (id, _) = w.env.ingest_ok(raw.as_bytes());
    let t = w.env.ticket(&id);
    assert_eq!(t["tlp"], "red", "{t}");
    let notes = to(&w.env, "noc@uni.example");
    assert_eq!(notes.len(), 1, "{:?}", w.env.outbox());
    assert_eq!(notes[0]["state"], "awaiting-release");
}

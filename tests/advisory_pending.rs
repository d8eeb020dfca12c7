//! An advisory requested by mail is recorded in the mail's own commit and
//! published right after; a crash in between must not lose it. This test
//! leaves such a record the way a crash does and checks that the start-up
//! step publishes it, once.

use csirtd::config::Config;
use csirtd::model::TicketId;
use csirtd::store::{Commit, Store};
use csirtd::workflow::commands::Tlp;
use csirtd::workflow::pipeline::Pipeline;
use csirtd::workflow::publish::Request;
use openpgp::cert::prelude::*;
use openpgp::serialize::SerializeInto;
use sequoia_openpgp as openpgp;
use std::os::unix::fs::PermissionsExt;

const REPORT: &[u8] = b"From: Alice <alice@bank.example>\r\nTo: cert@cert.example\r\nSubject: Phishing wave\r\nMessage-ID: <r1@bank.example>\r\n\r\nPlease warn the others.\r\n";

fn pipeline(dir: &std::path::Path) -> Pipeline {
    let (team, _) = CertBuilder::general_purpose(Some("CERT Example <cert@cert.example>"))
        .set_cipher_suite(CipherSuite::Cv25519)
        .generate()
        .expect("team key");
    let key = dir.join("team.asc");
    std::fs::write(&key, team.as_tsk().armored().to_vec().expect("armor")).expect("write key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::create_dir_all(dir.join("keyring")).expect("keyring");
    let toml = format!(
        r#"
[team]
name = "CERT Example"
address = "cert@cert.example"
tag = "CERT-EX"
domain = "cert.example"
[store]
path = "{store}"
[outbox]
transport = "file"
[outbox.file]
dir = "{outbox}"
[pgp]
keyring = "{keyring}"
team_key = "{key}"
[[lists]]
name = "members"
max_tlp = "amber"
encrypt = "never"
members = [{{ email = "one@member.example" }}, {{ email = "two@member.example" }}]
"#,
        store = dir.join("store").display(),
        outbox = dir.join("outbox").display(),
        keyring = dir.join("keyring").display(),
        key = key.display(),
    );
    let cfg = Config::from_toml(&toml, &dir.join("csirtd.toml")).expect("config");
    let store = Store::open(&cfg.store.path, 8).expect("store");
    Pipeline::new(store, cfg).expect("pipeline")
}

/// A report's ticket with an advisory request on it left pending, as the
/// requesting mail's commit writes it when a crash then prevents the
/// publication.
fn left_pending(p: &Pipeline, tlp: Tlp, subject: &str, text: &str) -> TicketId {
    let id = p
        .process(REPORT, "test")
        .expect("report")
        .placement
        .ticket();
    let ticket = p.store().ticket(id).expect("read").expect("ticket");
    let req = Request {
        list: "members".into(),
        tlp,
        subject: subject.into(),
        text: text.into(),
        ticket: Some(id),
        by: "alice".into(),
    };
    let mut commit = Commit::events_only(ticket, Vec::new());
    commit.meta.push(req.pending_record("crashed-mail", id));
    p.store()
        .apply(&commit, time::OffsetDateTime::now_utc())
        .expect("commit");
    id
}

#[test]
fn an_advisory_left_pending_by_a_crash_is_published_at_start_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = pipeline(dir.path());
    left_pending(
        &p,
        Tlp::Green,
        "Phishing wave against banks",
        "Look out for mail asking for your online banking login.",
    );
    assert!(p.store().advisories().expect("list").is_empty());

    assert_eq!(p.publish_pending_advisories().expect("publish"), 1);
    let published = p.store().advisories().expect("list");
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].recipients.len(), 2);
    assert!(p.store().pending_advisories().expect("pending").is_empty());

    // A second start finds nothing left to publish.
    assert_eq!(p.publish_pending_advisories().expect("publish"), 0);
    assert_eq!(p.store().advisories().expect("list").len(), 1);
}

#[test]
fn a_refused_pending_advisory_is_dropped_with_a_warning_on_the_ticket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = pipeline(dir.path());
    let id = left_pending(
        &p,
        Tlp::Red,
        "Too secret for this list",
        "Only for named recipients.",
    );
    assert_eq!(p.publish_pending_advisories().expect("publish"), 1);
    assert!(p.store().advisories().expect("list").is_empty());
    assert!(p.store().pending_advisories().expect("pending").is_empty());
    let events = p.store().events(id).expect("events");
    assert!(
        events.iter().any(|e| e.detail.contains("NOT sent")),
        "{events:?}"
    );
}

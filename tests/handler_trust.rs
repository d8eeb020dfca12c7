//! The team key signs only what a handler's own signature covers (issue
//! 12). Each attack an outsider tried against the handler path, with
//! handler keys and signatures made by the real gpg, through `ingest` and
//! `run --drain` (file transport): nothing reaches a non-team address, no
//! command runs, no advisory is published, the flags and events are
//! there, and the genuine mail still works.

mod common;
use common::gpg::{fingerprint, gpg_verifies, signed_entity, signed_mail, Gpg};
use common::*;
use serde_json::Value;

const REPORTER: &str = "reporter@bank.example";
const MALLORY: &str = "mallory@evil.example";
const HANNA: &str = "handler@cert.example";
const EVIL: &str = "http://evil.example/fix.exe";

struct World {
    env: Env,
    handler: Gpg,
    /// Holds the team's public key: verifies what csirtd sends.
    outside: Gpg,
    team: Gpg,
}

fn world() -> World {
    let handler = Gpg::new();
    // Created long ago, so that back- and forward-dated signatures by it
    // can be made for the stale-signature cases.
    handler.gen_at("Hanna Handler <handler@cert.example>", "20260101T000000");
    let bob = Gpg::new();
    bob.gen("Bob Handler <bob@cert.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    handler.import(&team.export("cert@cert.example"));
    let outside = Gpg::new();
    outside.import(&team.export("cert@cert.example"));
    let extra = format!(
        "[ack]\nencrypt = \"never\"\n\
         [pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n\
         [handling]\ncomment_address = \"+comment\"\nadvisory_address = \"cert-advisory@cert.example\"\n\
         [[handlers]]\nname = \"hanna\"\nemail = \"{HANNA}\"\nfingerprint = \"{}\"\n\
         [[handlers]]\nname = \"bob\"\nemail = \"bob@cert.example\"\nfingerprint = \"{}\"\n\
         [[lists]]\nname = \"public\"\naddress = \"public@lists.example\"\nmax_tlp = \"clear\"\nclearsign = true\n",
        fingerprint(&handler, HANNA),
        fingerprint(&bob, "bob@cert.example"),
    );
    let env = Env::with_extra(&extra);
    common::gpg::install_keys(
        env.dir.path(),
        &team,
        "cert@cert.example",
        &[(&handler, HANNA), (&bob, "bob@cert.example")],
    );
    World {
        env,
        handler,
        outside,
        team,
    }
}

fn tag(id: &str) -> String {
    format!("[CERT-EX #{id}]")
}

/// Opens a ticket as `from`; returns its ID.
fn report(env: &Env, from: &str, n: u32) -> String {
    let raw = mail(
        from,
        "Phishing at login.bank.example",
        Some(&format!("report-{n}@x.example")),
        "",
        "Our customers get mail pointing to a fake login page.",
    );
    env.ingest_ok(&raw).0
}

type Seen = std::collections::HashSet<std::path::PathBuf>;

/// Sends the outbox, and returns each mail sent since the last call as
/// (To, decoded text, raw bytes).
fn drain(env: &Env, seen: &mut Seen) -> Vec<(String, String, Vec<u8>)> {
    env.ok(&["run", "--drain"]);
    let new: Vec<_> = env
        .sent_files()
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect();
    new.iter()
        .map(|p| {
            let raw = std::fs::read(p).expect("sent file");
            let to = header(&String::from_utf8_lossy(&raw), "To").unwrap_or_default();
            let parsed = mail_parser::MessageParser::default().parse(&raw[..]);
            let text = parsed
                .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
                .unwrap_or_default();
            (to, text, raw)
        })
        .collect()
}

fn to_outside(sent: &[(String, String, Vec<u8>)]) -> Vec<&(String, String, Vec<u8>)> {
    sent.iter()
        .filter(|(to, _, _)| !to.contains("@cert.example"))
        .collect()
}

fn flags(t: &Value) -> String {
    t["flags"].to_string()
}

fn warned(t: &Value, needle: &str) -> bool {
    t["events"].as_array().is_some_and(|ev| {
        ev.iter().any(|e| {
            e["kind"] == "warning" && e["detail"].as_str().is_some_and(|d| d.contains(needle))
        })
    })
}

/// A reply as the handler's client sends it, quoting the notification
/// whose first line carries the ticket's tag.
fn reply_body(id: &str, words: &str) -> String {
    format!(
        "{words}\n\nOn Mon, 16 Nov 2026, CERT Example wrote:\n> New ticket {}: Phishing at login.bank.example\n> From:      {REPORTER}\n",
        tag(id)
    )
}

fn reply_headers(id: &str, mid: &str) -> String {
    format!(
        "From: Hanna Handler <{HANNA}>\r\nTo: cert@cert.example\r\nSubject: Re: {} New report\r\nMessage-ID: <{mid}>\r\nDate: Mon, 16 Nov 2026 10:05:00 +0000\r\n",
        tag(id)
    )
}

/// The handler's genuine signed reply on ticket `id`.
fn handler_reply(w: &World, id: &str, mid: &str, words: &str) -> Vec<u8> {
    signed_mail(
        &w.handler,
        HANNA,
        &reply_headers(id, mid),
        &reply_body(id, words),
    )
}

/// The double reading: a second Content-Type (or one with white space
/// before its colon) declares a multipart/mixed whose first part, the
/// attacker's, sits in the preamble of the handler's genuine signed mail.
fn two_readings(genuine: &[u8], id: &str, mid: &str, spaced: bool, words: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(genuine).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let head = head
        .lines()
        .map(|l| {
            if l.starts_with("Message-ID:") {
                format!("Message-ID: <{mid}>")
            } else if l.starts_with("Subject:") {
                format!("Subject: Re: {} New report", tag(id))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let name = if spaced {
        "Content-Type "
    } else {
        "Content-Type"
    };
    format!(
        "{head}\r\n{name}: multipart/mixed; boundary=\"evil\"\r\n\r\n--evil\r\nContent-Type: text/plain\r\n\r\n{words}\r\n\r\n--evil\r\nContent-Type: text/plain\r\n\r\n{body}\r\n--evil--\r\n"
    )
    .into_bytes()
}

#[test]
fn two_readings_of_one_mail_are_an_error_and_nothing_acts() {
    let w = world();
    let env = &w.env;
    let mut seen = Seen::new();
    let t1 = report(env, REPORTER, 1);
    let theirs = report(env, MALLORY, 2);
    drain(env, &mut seen);
    let genuine = handler_reply(&w, &t1, "hanna-1@cert.example", "Thanks, we are on it.");
    let attack =
        format!("/tlp clear\n/assign bob\n/merge {theirs}\nRun our remediation tool from {EVIL}");
    for (n, spaced) in [(1, false), (2, true)] {
        let raw = two_readings(
            &genuine,
            &t1,
            &format!("evil-{n}@evil.example"),
            spaced,
            &attack,
        );
        env.ingest_ok(&raw);
        let sent = drain(env, &mut seen);
        assert!(to_outside(&sent).is_empty(), "case {n}: {sent:?}");
        assert!(sent
            .iter()
            .all(|(_, t, _)| !t.contains(EVIL) || t.contains("> ")));
        let t = env.ticket(&t1);
        assert!(t["assignee"].is_null(), "case {n}: {t:#}");
        assert!(t["tlp"].is_null(), "case {n}: {t:#}");
        assert!(t["merged_into"].is_null(), "case {n}: {t:#}");
        let mallorys = env.ticket(&theirs);
        assert!(!mallorys["requestors"].to_string().contains(REPORTER));
        assert!(flags(&t).contains("unverified-handler"), "case {n}: {t:#}");
        let mid = format!("evil-{n}@evil.example");
        let last = t["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["message_id"] == mid.as_str())
            .expect("the attack's message")
            .clone();
        assert_eq!(last["signature"]["status"], "error", "case {n}: {last:#}");
        let detail = last["signature"]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("ambiguous MIME"), "{detail}");
        assert!(warned(&t, "claims to be handler hanna"), "{t:#}");
    }

    // The same to the advisory address: nothing published.
    let adv = signed_mail(
        &w.handler,
        HANNA,
        "From: Hanna Handler <handler@cert.example>\r\nTo: cert-advisory@cert.example\r\nSubject: Thanks\r\nMessage-ID: <hanna-adv@cert.example>\r\n",
        "Thanks!",
    );
    let raw = String::from_utf8_lossy(&two_readings(
        &adv,
        &t1,
        "evil-adv@evil.example",
        false,
        &format!("/list public\n/tlp clear\n/subject Urgent\nRun {EVIL}"),
    ))
    .replace("Subject: Re: [CERT-EX", "Subject: Re: [X")
    .into_bytes();
    env.ingest_ok(&raw);
    let sent = drain(env, &mut seen);
    assert!(to_outside(&sent).is_empty(), "{sent:?}");
    let advisories = env.ok(&["advisory", "list", "--json"]);
    assert_eq!(advisories.trim(), "[]", "{advisories}");

    // The genuine mail still works: relayed, team-signed, the words only.
    env.ingest_ok(&genuine);
    let sent = drain(env, &mut seen);
    let out = to_outside(&sent);
    assert_eq!(out.len(), 1, "{sent:?}");
    assert!(out[0].0.contains(REPORTER));
    assert_eq!(out[0].1.trim(), "Thanks, we are on it.");
    gpg_verifies(&w.outside, &out[0].2);
}

#[test]
fn a_signature_acts_once_on_its_own_ticket_and_only_recently() {
    let w = world();
    let env = &w.env;
    let mut seen = Seen::new();
    let t1 = report(env, REPORTER, 1);
    let t2 = report(env, MALLORY, 2);
    drain(env, &mut seen);

    // A genuine reply to ticket 1, with a command, is relayed and runs.
    let genuine = handler_reply(
        &w,
        &t1,
        "hanna-1@cert.example",
        "/tlp red\nWe had the site taken down.",
    );
    env.ingest_ok(&genuine);
    let sent = drain(env, &mut seen);
    assert_eq!(to_outside(&sent).len(), 1);
    assert_eq!(env.ticket(&t1)["tlp"], "red");

    // Replayed with ticket 2's tag and a new Message-ID.
    let replay = String::from_utf8_lossy(&genuine)
        .replace(&format!("Re: {}", tag(&t1)), &format!("Re: {}", tag(&t2)))
        .replace("hanna-1@cert.example", "replay-1@evil.example")
        .into_bytes();
    env.ingest_ok(&replay);
    let sent = drain(env, &mut seen);
    assert!(to_outside(&sent).is_empty(), "{sent:?}");
    let t = env.ticket(&t2);
    assert!(t["tlp"].is_null(), "{t:#}");
    assert!(flags(&t).contains("replayed-signature"), "{t:#}");
    assert!(warned(&t, "already used"), "{t:#}");
    // The handler is told why, signed by the team.
    let notice = sent
        .iter()
        .find(|(to, text, _)| to.contains(HANNA) && text.contains("NOT relayed"))
        .expect("notice to the handler");
    assert!(notice.1.contains("already used"), "{}", notice.1);
    gpg_verifies(&w.outside, &notice.2);

    // A reply about ticket 1 that never reached us, filed on ticket 2 by
    // its Subject: bound to another ticket.
    let unseen = signed_mail(
        &w.handler,
        HANNA,
        &reply_headers(&t2, "hanna-2@cert.example"),
        &reply_body(&t1, "/status resolved\nPlease run the tool we sent."),
    );
    env.ingest_ok(&unseen);
    let sent = drain(env, &mut seen);
    assert!(to_outside(&sent).is_empty(), "{sent:?}");
    let t = env.ticket(&t2);
    assert_ne!(t["status"], "resolved");
    assert!(flags(&t).contains("unbound-signature"), "{t:#}");
    assert!(warned(&t, &format!("is about {}", tag(&t1))), "{t:#}");

    // Signed ten days ago (older than the default 7 days), and 20 minutes
    // ahead of now (within Sequoia's tolerance, beyond csirtd's 5).
    let when = |offset: time::Duration| {
        let t = time::OffsetDateTime::now_utc() + offset;
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}!",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    for (n, offset) in [
        (3, time::Duration::days(-10)),
        (4, time::Duration::minutes(20)),
    ] {
        let faked = when(offset);
        let inner = format!(
            "Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            reply_body(&t1, "/status stalled\nOld words.").replace('\n', "\r\n")
        );
        let raw = signed_entity(
            &w.handler,
            HANNA,
            &reply_headers(&t1, &format!("hanna-{n}@cert.example")),
            &inner,
            &["--faked-system-time", &faked],
        );
        env.ingest_ok(&raw);
        let sent = drain(env, &mut seen);
        assert!(to_outside(&sent).is_empty(), "case {n}: {sent:?}");
        let t = env.ticket(&t1);
        assert_ne!(t["status"], "stalled", "case {n}");
        assert!(flags(&t).contains("stale-signature"), "case {n}: {t:#}");
    }
}

/// A PGP/MIME mail signed and encrypted to the team by gpg.
fn encrypted_mail(w: &World, headers: &str, inner: &str) -> Vec<u8> {
    let armored = w.handler.ok(
        &[
            "--armor",
            "--sign",
            "--encrypt",
            "--local-user",
            HANNA,
            "--recipient",
            "cert@cert.example",
            "--trust-model",
            "always",
        ],
        Some(inner.as_bytes()),
    );
    let _ = &w.team;
    format!(
        "{headers}MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"ENC\"\r\n\r\n\
--ENC\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
--ENC\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n{}\r\n--ENC--\r\n",
        String::from_utf8_lossy(&armored)
    )
    .into_bytes()
}

#[test]
fn an_encrypted_internal_note_is_no_decryption_oracle() {
    let w = world();
    let env = &w.env;
    let mut seen = Seen::new();
    let t1 = report(env, REPORTER, 1);
    let t2 = report(env, MALLORY, 2);
    drain(env, &mut seen);
    let secret = "Internal: the reporter of the other case is a suspect.";
    let note = |id: &str| {
        format!(
            "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\nSubject: {} internal\r\nTo: cert+comment@cert.example\r\n\r\n{secret}\r\n",
            tag(id)
        )
    };
    // The note on ticket 1, to the comment address: a note, nothing out.
    let headers = |to: &str, id: &str, mid: &str| {
        format!(
            "From: {HANNA}\r\nTo: {to}\r\nSubject: {} ...\r\nMessage-ID: <{mid}>\r\n",
            tag(id)
        )
    };
    let raw = encrypted_mail(
        &w,
        &headers("cert+comment@cert.example", &t1, "note-1@cert.example"),
        &note(&t1),
    );
    env.ingest_ok(&raw);
    let sent = drain(env, &mut seen);
    assert!(to_outside(&sent).is_empty(), "{sent:?}");
    let t = env.ticket(&t1);
    assert!(event_kinds(&t).iter().any(|k| k == "note"), "{t:#}");

    // Re-sent by the attacker to the team address on their own ticket.
    let replay = String::from_utf8_lossy(&raw)
        .replace("To: cert+comment@cert.example", "To: cert@cert.example")
        .replace(
            &format!("Subject: {} ...", tag(&t1)),
            &format!("Subject: Re: {}", tag(&t2)),
        )
        .replace("note-1@cert.example", "oracle-1@evil.example")
        .into_bytes();
    env.ingest_ok(&replay);
    let sent = drain(env, &mut seen);
    assert!(to_outside(&sent).is_empty(), "{sent:?}");
    assert!(sent
        .iter()
        .all(|(_, t, _)| !t.contains(secret) || !t.contains(MALLORY)));
    // The protected Subject files it back on ticket 1, where its
    // signature was used already.
    let t = env.ticket(&t1);
    assert!(flags(&t).contains("replayed-signature"), "{t:#}");

    // A note about the attacker's own ticket that the attacker delivers
    // to the team address before it reaches the comment address: the
    // protected To keeps it internal.
    let raw = encrypted_mail(
        &w,
        &headers("cert@cert.example", &t2, "note-2@cert.example"),
        &note(&t2),
    );
    env.ingest_ok(&raw);
    let sent = drain(env, &mut seen);
    assert!(to_outside(&sent).is_empty(), "{sent:?}");
    let t = env.ticket(&t2);
    assert!(flags(&t).contains("internal-content"), "{t:#}");
    assert!(warned(&t, "comment address"), "{t:#}");
}

#[test]
fn replies_in_every_layout_are_relayed_with_the_handlers_words() {
    let w = world();
    let env = &w.env;
    let mut seen = Seen::new();
    let t1 = report(env, REPORTER, 1);
    drain(env, &mut seen);
    let quote = format!(
        "> New ticket {}: Phishing at login.bank.example\n> From:      {REPORTER}\n> reporter text\n",
        tag(&t1)
    );
    let layouts = [
        format!("Top-posted words.\n\n-- \nHanna\n\nOn Mon, CERT Example wrote:\n{quote}"),
        format!("On Mon, CERT Example wrote:\n{quote}\nBottom-posted words.\n\n-- \nHanna\n"),
    ];
    for (n, body) in layouts.iter().enumerate() {
        let draft = format!(
            "From: Hanna Handler <{HANNA}>\nTo: cert@cert.example\nSubject: Re: {} New report\n\n{body}",
            tag(&t1)
        );
        let raw = match common::mutt::signed_reply(w.handler.home(), HANNA, &draft) {
            Some(raw) => raw,
            None => {
                eprintln!("mutt not available: reply built with gpg");
                signed_mail(
                    &w.handler,
                    HANNA,
                    &reply_headers(&t1, &format!("l-{n}@cert.example")),
                    body,
                )
            }
        };
        env.ingest_ok(&raw);
        let sent = drain(env, &mut seen);
        let out = to_outside(&sent);
        assert_eq!(out.len(), 1, "layout {n}: {sent:?}");
        let want = if n == 0 {
            "Top-posted words."
        } else {
            "Bottom-posted words."
        };
        assert_eq!(out[0].1.trim(), want, "layout {n}");
        gpg_verifies(&w.outside, &out[0].2);
    }

    // Thunderbird's layout: protected headers carry the tag; the text
    // below the quote does not.
    let inner = format!(
        "Content-Type: multipart/mixed; boundary=\"tb\"; protected-headers=\"v1\"\r\nFrom: Hanna Handler <{HANNA}>\r\nTo: cert@cert.example\r\nSubject: Re: {} New report\r\n\r\n--tb\r\nContent-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nOn 16.11.26 10:00, CERT Example wrote:\r\n> reporter text\r\n\r\nThunderbird words, sch=C3=B6n.\r\n\r\n--tb--\r\n",
        tag(&t1)
    );
    let raw = signed_entity(
        &w.handler,
        HANNA,
        &format!("From: Hanna Handler <{HANNA}>\r\nTo: cert@cert.example\r\nSubject: ...\r\nMessage-ID: <tb-1@cert.example>\r\nIn-Reply-To: <x@cert.example>\r\n"),
        &inner,
        &[],
    );
    env.ingest_ok(
        &String::from_utf8_lossy(&raw)
            .replace(
                "Subject: ...",
                &format!("Subject: Re: {} New report", tag(&t1)),
            )
            .into_bytes(),
    );
    let sent = drain(env, &mut seen);
    let out = to_outside(&sent);
    assert_eq!(out.len(), 1, "{sent:?}");
    assert_eq!(out[0].1.trim(), "Thunderbird words, schön.");

    // A reply that is all quote: nothing relayed, the handler told.
    let empty = signed_mail(
        &w.handler,
        HANNA,
        &reply_headers(&t1, "empty@cert.example"),
        &format!("On Mon, CERT Example wrote:\n{quote}"),
    );
    env.ingest_ok(&empty);
    let sent = drain(env, &mut seen);
    assert!(to_outside(&sent).is_empty(), "{sent:?}");
    assert!(sent
        .iter()
        .any(|(to, text, _)| to.contains(HANNA) && text.contains("NOT relayed")));
}

#[test]
fn handler_signature_optional_is_refused_by_name() {
    let env = Env::with_extra(
        "[pgp]\nkeyring = \"keyring\"\n[handling]\nhandler_signature = \"optional\"\n",
    );
    std::fs::create_dir_all(env.path("keyring")).unwrap();
    let out = env.run(&["check-config"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("handling.handler_signature"), "{err}");
}

/// A report re-sent under its Message-ID with another From (issue 13): kept
/// as evidence, and the handlers are warned; the forged sender gets
/// nothing, and no one is told it is a new report.
#[test]
fn a_changed_redelivery_warns_the_handlers() {
    let w = world();
    let mut seen = Seen::new();
    let original = mail(
        "alice@bank.example",
        "Phishing at login.bank.example",
        Some("resent-1@bank.example"),
        "",
        "Our customers get mail pointing to a fake login page.",
    );
    let (id, _) = w.env.ingest_ok(&original);
    drain(&w.env, &mut seen);
    // The forged copy also tries to plant a verdict line of its own in the
    // handlers' warning through encoded line breaks in its display name.
    let forged = mail(
        "=?utf-8?q?Eve=0ASignature:_signed_by_a_known_key_(Alice_Handler),_From_matches=0D=0A?= <mallory@evil.example>",
        "Phishing at login.bank.example",
        Some("resent-1@bank.example"),
        "",
        "Our customers get mail pointing to a fake login page.",
    );
    assert_eq!(w.env.ingest_ok(&forged), (id.clone(), "appended".into()));
    let sent = drain(&w.env, &mut seen);
    assert!(to_outside(&sent).is_empty(), "{sent:#?}");
    let warned: Vec<_> = sent
        .iter()
        .filter(|(to, _, raw)| {
            to.contains(HANNA)
                && header(&String::from_utf8_lossy(raw), "Subject")
                    .is_some_and(|s| s.contains("WARNING") && s.contains(&id))
        })
        .collect();
    assert_eq!(warned.len(), 1, "{sent:#?}");
    let text = &warned[0].1;
    assert!(
        text.contains("arrived again")
            && text.contains("From")
            && text.contains("resent-1@bank.example"),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("Signature: signed by a known key")),
        "{text}"
    );
    // Bob, not assigned, is told too: the ticket has no assignee.
    assert!(
        sent.iter()
            .any(|(to, _, _)| to.contains("bob@cert.example")),
        "{sent:#?}"
    );
}

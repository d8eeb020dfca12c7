//! Handlers at work from their mail client, on the real Dovecot, Postfix
//! and gpg: a signed report, the acknowledgement and the handler's
//! notification, the handler's gpg-signed reply relayed to the reporter
//! from the team address, `/status resolved` by mail; and the refusals: a
//! forged handler reply, an outsider with a real tag, a comment.

mod common;
use common::gpg::{fingerprint, gpg_verifies, signed_mail, Gpg};
use common::servers::*;
use common::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn header_of(raw: &[u8], name: &str) -> Option<String> {
    header(&String::from_utf8_lossy(raw), name)
}

/// The text of a quoted-printable single part inside a signed message.
fn decoded(raw: &[u8]) -> String {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse");
    m.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
}

struct World {
    servers: MailServers,
    env: Env,
    reporter: Gpg,
    handler: Gpg,
}

fn world() -> World {
    let servers = MailServers::start();
    let reporter = Gpg::new();
    reporter.gen("Reporter <reporter@bank.example>");
    let handler = Gpg::new();
    handler.gen("Hanna Handler <handler@cert.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    reporter.import(&team.export("cert@cert.example"));
    handler.import(&team.export("cert@cert.example"));
    let hfpr = fingerprint(&handler, "handler@cert.example");

    let extra = format!(
        "[ack]\nencrypt = \"never\"\n\
         [pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n\
         [handling]\ncomment_address = \"+comment\"\n\
         [[handlers]]\nname = \"hanna\"\nemail = \"handler@cert.example\"\nfingerprint = \"{hfpr}\"\n\
         [[intake.imap]]\nname = \"cert\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
         user = \"cert\"\npassword_file = \"imap-password\"\nidle = false\npoll_interval_secs = 0.1\ntimeout_secs = 10\n",
        servers.imap_port
    );
    let env = Env::with_outbox_smtp(servers.smtp_port, "none", None, None, &extra);
    std::fs::write(env.path("imap-password"), format!("{PASSWORD}\n")).unwrap();
    common::gpg::install_keys(
        env.dir.path(),
        &team,
        "cert@cert.example",
        &[
            (&reporter, "reporter@bank.example"),
            (&handler, "handler@cert.example"),
        ],
    );
    World {
        servers,
        env,
        reporter,
        handler,
    }
}

/// The ticket once `pred` holds (the daemon answers through its socket).
fn wait_ticket(
    env: &Env,
    id: &str,
    daemon: &Daemon,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let ok = wait_until(WAIT, || {
        last = env.ticket(id);
        pred(&last)
    });
    assert!(
        ok,
        "ticket {id} never reached the expected state: {last:#}\n--- log ---\n{}",
        daemon.log()
    );
    last
}

/// Waits until the outbox holds nothing queued.
fn wait_outbox_idle(env: &Env) {
    assert!(wait_until(WAIT, || env
        .outbox()
        .iter()
        .all(|o| o["state"] != "queued")));
}

#[test]
fn a_whole_conversation_and_the_refusals() {
    let w = world();
    let (servers, env) = (&w.servers, &w.env);
    let mut daemon = Daemon::start(env, &["run"]);

    // 1. A signed report arrives.
    let report = signed_mail(
        &w.reporter,
        "reporter@bank.example",
        "From: Reporter <reporter@bank.example>\r\nTo: cert@cert.example\r\nSubject: Phishing at login.bank.example\r\nMessage-ID: <rep-1@bank.example>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n",
        "Our customers get mail pointing to https://login-bank.example.net/.\nPlease help.",
    );
    servers.submit("reporter@bank.example", "cert@cert.example", &report);

    // 2. The acknowledgement reaches the reporter, the notification the handler.
    let acks = servers.wait_for_messages("reporter", "INBOX", 1, WAIT);
    let tag = header_of(&acks[0], "Subject").expect("subject");
    let tag = tag[tag.find('[').unwrap()..=tag.find(']').unwrap()].to_string();
    let id = tag
        .trim_matches(|c| c == '[' || c == ']')
        .rsplit('#')
        .next()
        .unwrap()
        .to_string();
    let notes = servers.wait_for_messages("handler", "INBOX", 1, WAIT);
    let note = &notes[0];
    assert!(header_of(note, "Subject").unwrap().contains(&tag));
    assert_eq!(
        header_of(note, "Reply-To").as_deref(),
        Some("cert@cert.example")
    );
    gpg_verifies(&w.handler, note);
    let text = decoded(note);
    assert!(text.contains("signed by a known key"), "{text}");
    assert!(text.contains("> Our customers get mail"), "{text}");
    assert!(text.contains("supplied by the reporter"), "{text}");
    let note_id = header_of(note, "Message-ID").unwrap();

    // 3. The handler replies from mutt (PGP/MIME signed through GPGME),
    // quoting the notification; without mutt, the mail is built with gpg
    // as a client would.
    let quoted: String = text.lines().map(|l| format!("> {l}\n")).collect();
    let subject = header_of(note, "Subject").unwrap();
    let body = format!("We had the phishing site taken down.\nThank you for the report.\n\n-- \nHanna, CERT Example\n\nOn 16.11.26 10:00, CERT Example wrote:\n{quoted}");
    let draft = format!(
        "From: Hanna Handler <handler@cert.example>\nTo: cert@cert.example\nSubject: Re: {subject}\nIn-Reply-To: {note_id}\nReferences: {note_id}\n\n{body}"
    );
    let reply = match common::mutt::signed_reply(w.handler.home(), "handler@cert.example", &draft) {
        Some(raw) => {
            eprintln!("handler's reply composed and signed by mutt");
            raw
        }
        None => {
            eprintln!("mutt not available: handler's reply built with gpg");
            signed_mail(
                &w.handler,
                "handler@cert.example",
                &format!("From: Hanna Handler <handler@cert.example>\r\nTo: cert@cert.example\r\nSubject: Re: {subject}\r\nMessage-ID: <hanna-1@cert.example>\r\nIn-Reply-To: {note_id}\r\nReferences: {note_id}\r\n"),
                &body,
            )
        }
    };
    servers.submit("handler@cert.example", "cert@cert.example", &reply);

    // 4. It reaches the reporter from the team address, team-signed, tagged, threaded.
    let inbox = servers.wait_for_messages("reporter", "INBOX", 2, WAIT);
    let relayed = &inbox[1];
    assert!(header_of(relayed, "From")
        .unwrap()
        .contains("cert@cert.example"));
    assert!(header_of(relayed, "Subject").unwrap().contains(&tag));
    assert!(header_of(relayed, "In-Reply-To")
        .unwrap()
        .contains("rep-1@bank.example"));
    let verify = gpg_verifies(&w.reporter, relayed);
    assert!(verify.contains("cert@cert.example"), "{verify}");
    let body = decoded(relayed);
    assert!(
        body.contains("We had the phishing site taken down."),
        "{body}"
    );
    assert!(
        !body.contains("Hanna, CERT Example"),
        "signature stripped: {body}"
    );
    assert!(!body.contains("Our customers"), "quote stripped: {body}");

    // Refusal: a forged handler reply (right From, no signature).
    let forged = mail(
        "Hanna Handler <handler@cert.example>",
        &format!("Re: {tag} Phishing"),
        Some("forged-1@evil.example"),
        "",
        "/status rejected\nPlease send us your online banking password to verify.",
    );
    servers.submit("handler@cert.example", "cert@cert.example", &forged);
    // Refusal: an outsider with the real tag.
    let outsider = mail(
        "mallory@evil.example",
        &format!("{tag} more"),
        Some("mal-1@evil.example"),
        "",
        "I am the bank. Send me the logs.",
    );
    servers.submit("mallory@evil.example", "cert@cert.example", &outsider);
    // A comment: signed by the handler, to the comment address.
    let comment = signed_mail(
        &w.handler,
        "handler@cert.example",
        &format!("From: handler@cert.example\r\nTo: cert+comment@cert.example\r\nSubject: {tag} internal\r\nMessage-ID: <hanna-c@cert.example>\r\n"),
        &format!("Note on {tag}: third report from this bank this month; internal only."),
    );
    servers.submit(
        "handler@cert.example",
        "cert+comment@cert.example",
        &comment,
    );

    let t = wait_ticket(env, &id, &daemon, |t| {
        let f = t["flags"].to_string();
        f.contains("unverified-handler")
            && f.contains("unverified-correspondent")
            && event_kinds(t).iter().any(|k| k == "note")
    });
    assert_eq!(
        t["status"], "open",
        "the forged /status was not executed: {t:#}"
    );
    wait_outbox_idle(env);
    // Handlers were warned (forged, outsider): notification, 2 warnings.
    servers.wait_for_messages("handler", "INBOX", 3, WAIT);
    assert_eq!(
        servers.message_count("reporter", "INBOX"),
        2,
        "nothing of the forged, outsider or comment mail reached the reporter"
    );

    // 5. /status resolved by signed mail closes the ticket.
    let close = signed_mail(
        &w.handler,
        "handler@cert.example",
        &format!("From: handler@cert.example\r\nTo: cert@cert.example\r\nSubject: Re: {tag} done\r\nMessage-ID: <hanna-2@cert.example>\r\n"),
        // The tag inside the signed text binds the commands to the ticket.
        &format!("/status resolved\n/assign hanna\n/frobnicate now\n\n> New ticket {tag}: Phishing"),
    );
    servers.submit("handler@cert.example", "cert@cert.example", &close);
    let t = wait_ticket(env, &id, &daemon, |t| t["status"] == "resolved");
    assert_eq!(t["assignee"], "hanna");
    assert!(
        event_kinds(&t)
            .iter()
            .filter(|k| *k == "command" || *k == "status-change")
            .count()
            >= 3,
        "{t:#}"
    );
    // The unknown command got a signed error reply to the handler.
    let inbox = servers.wait_for_messages("handler", "INBOX", 4, WAIT);
    let err = inbox
        .iter()
        .find(|m| header_of(m, "Subject").is_some_and(|s| s.contains("Command error")))
        .expect("error reply");
    gpg_verifies(&w.handler, err);
    assert!(decoded(err).contains("/frobnicate"));
    wait_outbox_idle(env);
    assert_eq!(
        servers.message_count("reporter", "INBOX"),
        2,
        "a command-only mail relays nothing"
    );
    daemon.terminate();
    let _ = daemon.wait_timeout(Duration::from_secs(10));
}

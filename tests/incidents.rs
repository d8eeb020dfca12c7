//! Incidents and merges through `csirtd ingest` and the command line, with
//! gpg as the handler's client (no mail servers needed): `incident create`,
//! `/link` by signed mail, `ticket show --json` with `incident` and
//! `reports`, and `/merge` after which the old tag routes to the survivor.
//! Also: notifications encrypted to the handler when configured.

mod common;
use common::gpg::{handler_env, signed_mail, Gpg};
use common::*;

struct World {
    env: Env,
    handler: Gpg,
}

fn world(extra: &str) -> World {
    let handler = Gpg::new();
    handler.gen("Hanna <handler@cert.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    handler.import(&team.export("cert@cert.example"));
    let env = handler_env(&team, &handler, &[], extra);
    World { env, handler }
}

/// A handler's signed command mail; the quoted notification line carries
/// the tag inside the signed text, which binds the commands to the ticket.
fn command_mail(w: &World, n: u32, tag: &str, body: &str) -> Vec<u8> {
    signed_mail(
        &w.handler,
        "handler@cert.example",
        &format!("From: handler@cert.example\r\nTo: cert@cert.example\r\nSubject: Re: {tag} x\r\nMessage-ID: <cmd-{n}@cert.example>\r\n"),
        &format!("{body}\n\n> New ticket {tag}: x"),
    )
}

#[test]
fn incidents_group_reports_and_merges_route_to_the_survivor() {
    let w = world("");
    let env = &w.env;
    let report = |n: u32| {
        mail(
            &format!("rep{n}@bank{n}.example"),
            &format!("Phishing {n}"),
            Some(&format!("r{n}@bank.example")),
            "",
            "https://phish.example/",
        )
    };
    let (a, _) = env.ingest_ok(&report(1));
    let (b, _) = env.ingest_ok(&report(2));
    let (c, _) = env.ingest_ok(&report(3));

    let out = env.ok(&[
        "incident",
        "create",
        "--from",
        &a,
        "--subject",
        "Phishing wave",
    ]);
    let inc = out
        .split('#')
        .nth(1)
        .and_then(|r| r.split(']').next())
        .expect("incident id")
        .to_string();
    let i = env.ticket(&inc);
    assert_eq!(i["kind"], "incident");
    assert_eq!(i["reports"], serde_json::json!([a]));
    assert_eq!(env.ticket(&a)["incident"], inc.as_str());

    // /link by signed mail.
    let (t, word) = env.ingest_ok(&command_mail(
        &w,
        1,
        &format!("[CERT-EX #{b}]"),
        &format!("/link {inc}\n/category fraud/phishing\n/tlp amber"),
    ));
    assert_eq!((t.as_str(), word.as_str()), (b.as_str(), "appended"));
    let tb = env.ticket(&b);
    assert_eq!(tb["incident"], inc.as_str(), "{tb:#}");
    // The handler's /category is the RSIT classification, by a handler.
    assert_eq!(tb["category"], "fraud");
    assert_eq!(tb["classification"]["type"], "phishing", "{tb:#}");
    assert_eq!(tb["classification"]["by"], "handler", "{tb:#}");
    assert_eq!(tb["tlp"], "amber");
    assert_eq!(env.ticket(&inc)["reports"], serde_json::json!([a, b]));

    // The requestor's follow-up is forwarded to the handler; the ticket is
    // now assigned to nobody, so to all handlers (here: hanna).
    let before = env.outbox().len();
    let follow = mail(
        "rep2@bank2.example",
        &format!("Re: [CERT-EX #{b}] logs"),
        Some("r2b@bank.example"),
        "",
        "Here are the logs.",
    );
    assert_eq!(env.ingest_ok(&follow).0, b);
    let out = env.outbox();
    assert_eq!(out.len(), before + 1, "{out:#?}");
    let fwd = &out[before];
    assert_eq!(fwd["to"][0], "handler@cert.example");
    assert!(
        fwd["subject"].as_str().unwrap().contains("Follow-up"),
        "{fwd}"
    );

    // /link to a report is refused with a signed reply.
    env.ingest_ok(&command_mail(
        &w,
        2,
        &format!("[CERT-EX #{c}]"),
        &format!("/link {a}"),
    ));
    assert!(env.ticket(&c)["incident"].is_null());
    assert!(env
        .outbox()
        .iter()
        .any(|o| o["subject"].as_str().unwrap().contains("Command error")));

    // /merge c into a: c's tag now routes to a.
    env.ingest_ok(&command_mail(
        &w,
        3,
        &format!("[CERT-EX #{c}]"),
        &format!("/merge {a}"),
    ));
    assert_eq!(env.ticket(&c)["merged_into"], a.as_str());
    let ta = env.ticket(&a);
    assert!(
        ta["requestors"].to_string().contains("rep3@bank3.example"),
        "{ta:#}"
    );
    let follow = mail(
        "rep3@bank3.example",
        &format!("Re: [CERT-EX #{c}] more"),
        Some("r3b@bank.example"),
        "",
        "more logs",
    );
    let (t, word) = env.ingest_ok(&follow);
    assert_eq!((t.as_str(), word.as_str()), (a.as_str(), "appended"));
    // So does a reply to one of c's Message-IDs.
    let by_ref = mail(
        "rep3@bank3.example",
        "Re: no tag",
        Some("r3c@bank.example"),
        "In-Reply-To: <r3@bank.example>\r\n",
        "x",
    );
    assert_eq!(env.ingest_ok(&by_ref).0, a);
}

#[test]
fn notifications_are_encrypted_to_handlers_when_configured() {
    let w = world("[handling]\nencrypt_to_handlers = true\n");
    let env = &w.env;
    env.ingest_ok(&mail(
        "rep@bank.example",
        "Phishing",
        Some("p1@bank.example"),
        "",
        "Dear CERT",
    ));
    let out = env.outbox();
    let note = out
        .iter()
        .find(|o| o["to"][0] == "handler@cert.example")
        .expect("notification");
    assert_eq!(note["state"], "queued");
    env.ok(&["outbox", "deliver"]);
    let file = env
        .sent_files()
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("To: handler@cert.example")
        })
        .expect("notification file");
    let raw = std::fs::read_to_string(file).unwrap();
    assert!(raw.contains("multipart/encrypted"), "{raw}");
    let s = raw.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let e = raw.find("-----END PGP MESSAGE-----").unwrap() + 25;
    let dec = w.handler.run(&["--decrypt"], Some(&raw.as_bytes()[s..e]));
    assert!(
        dec.status.success(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    assert!(String::from_utf8_lossy(&dec.stderr).contains("Good signature"));
    assert!(String::from_utf8_lossy(&dec.stdout).contains("Dear CERT"));
}

//! Advisories on the real Postfix, Dovecot and gpg: a member with a key
//! gets a copy that `gpg --decrypt` opens and verifies, a member without a
//! key on an `if-key` list a signed copy `gpg --verify` accepts, a member
//! of an `always` list without a key only a signed notice; TLP:RED to a
//! list that does not allow it is refused; a Mailman list address gets an
//! inline signature that survives a footer.

mod common;
use common::gpg::{fingerprint, gpg_verifies, signed_mail, Gpg};
use common::servers::*;
use common::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn text_of(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default()
}

fn to_of(raw: &[u8]) -> String {
    header(&String::from_utf8_lossy(raw), "To").unwrap_or_default()
}

#[test]
fn advisories_to_members_and_lists() {
    let servers = MailServers::start();
    let keyed = Gpg::new();
    keyed.gen("Keyed Member <reporter+keyed@bank.example>");
    let outside = Gpg::new();
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    keyed.import(&team.export("cert@cert.example"));
    let handler = Gpg::new();
    handler.gen("Hanna <handler@cert.example>");
    handler.import(&team.export("cert@cert.example"));
    let hfpr = fingerprint(&handler, "handler@cert.example");
    outside.import(&team.export("cert@cert.example"));

    let extra = format!("[handling]\nadvisory_address = \"cert-advisory@cert.example\"\n\
         [[handlers]]\nname = \"hanna\"\nemail = \"handler@cert.example\"\nfingerprint = \"{hfpr}\"\n") + r#"
[pgp]
keyring = "keyring"
team_key = "team.asc"
[[lists]]
name = "members"
max_tlp = "amber"
encrypt = "if-key"
unsubscribe = "cert-lists@cert.example"
members = [{ email = "reporter+keyed@bank.example" }, { email = "reporter+plain@bank.example" }]
[[lists]]
name = "strict"
max_tlp = "red"
encrypt = "always"
members = [{ email = "reporter+nokey@bank.example" }]
[[lists]]
name = "announce"
max_tlp = "green"
address = "reporter+list@lists.example"
clearsign = true
precedence = "bulk"
"#;
    let env = Env::with_outbox_smtp(servers.smtp_port, "none", None, None, &extra);
    common::gpg::install_keys(
        env.dir.path(),
        &team,
        "cert@cert.example",
        &[
            (&keyed, "reporter+keyed@bank.example"),
            (&handler, "handler@cert.example"),
        ],
    );
    let text = env.path("advisory.txt");
    std::fs::write(
        &text,
        "ExampleMTA 4.2 is exploited in the wild.\nUpdate to 4.2.4 now.\n",
    )
    .unwrap();
    let file = text.to_str().unwrap();

    let out = env.ok(&[
        "advisory",
        "send",
        "--list",
        "members",
        "--tlp",
        "amber",
        "--subject",
        "ExampleMTA RCE",
        file,
    ]);
    assert!(
        out.contains("-ADV-") && out.contains("2 recipient"),
        "{out}"
    );
    let id = out.split_whitespace().next().unwrap().to_string();
    assert!(
        id.starts_with("CERT-EX-ADV-") && id.ends_with("-0001"),
        "{id}"
    );

    // TLP:RED to a list that allows at most AMBER: refused, nothing queued.
    let r = env.run(&[
        "advisory",
        "send",
        "--list",
        "members",
        "--tlp",
        "red",
        "--subject",
        "x",
        file,
    ]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("TLP:RED may not go to list `members`"),
        "{err}"
    );

    env.ok(&[
        "advisory",
        "send",
        "--list",
        "strict",
        "--tlp",
        "red",
        "--subject",
        "For your eyes only",
        file,
    ]);
    env.ok(&[
        "advisory",
        "send",
        "--list",
        "announce",
        "--tlp",
        "clear",
        "--subject",
        "Public notice",
        file,
    ]);
    assert_eq!(env.outbox().len(), 4, "{:#?}", env.outbox());

    // By signed mail from a handler to the advisory address; TLP:RED by
    // mail to the same list is refused with a signed reply; a forged
    // handler mail sends nothing.
    let by_mail = signed_mail(
        &handler,
        "handler@cert.example",
        "From: handler@cert.example\r\nTo: cert-advisory@cert.example\r\nSubject: Phishing kit update\r\nMessage-ID: <adv-mail-1@cert.example>\r\n",
        "/list members\n/tlp green\n/subject Phishing kit update\n\nA new phishing kit targets banks.",
    );
    env.ingest_ok(&by_mail);
    let red = signed_mail(
        &handler,
        "handler@cert.example",
        "From: handler@cert.example\r\nTo: cert-advisory@cert.example\r\nSubject: Secret\r\nMessage-ID: <adv-mail-2@cert.example>\r\n",
        "/list members\n/tlp red\n/subject Secret\n\nTop secret.",
    );
    let (t, _) = env.ingest_ok(&red);
    let forged = mail(
        "handler@cert.example",
        "Fake advisory",
        Some("adv-mail-3@evil.example"),
        "",
        "/list members\n/tlp clear\nClick here.",
    );
    let forged = String::from_utf8(forged)
        .unwrap()
        .replace("To: cert@cert.example", "To: cert-advisory@cert.example");
    let (f, _) = env.ingest_ok(forged.as_bytes());
    assert!(env.ticket(&f)["flags"]
        .to_string()
        .contains("unverified-handler"));
    let outbox = env.outbox();
    assert_eq!(
        outbox.len(),
        4 + 2 + 1 + 1,
        "two copies by mail, one refusal, one warning: {outbox:#?}"
    );
    assert!(outbox
        .iter()
        .any(|o| o["subject"].as_str().unwrap().contains("Command error")
            && o["to"][0] == "handler@cert.example"));
    assert!(
        env.ticket(&t)["events"]
            .to_string()
            .contains("TLP:RED may not go to list"),
        "{:#}",
        env.ticket(&t)
    );

    env.ok(&["outbox", "deliver"]);
    let inbox = servers.wait_for_messages("reporter", "INBOX", 6, WAIT);
    let by_to = |t: &str| {
        inbox
            .iter()
            .find(|m| to_of(m).contains(t) && !String::from_utf8_lossy(m).contains("TLP:GREEN"))
            .unwrap_or_else(|| panic!("no copy to {t}"))
    };

    // The member with a key: encrypted, gpg decrypts and verifies.
    let enc = by_to("reporter+keyed@bank.example");
    let s = String::from_utf8_lossy(enc);
    assert!(s.contains("multipart/encrypted"), "{s}");
    assert!(header(&s, "Subject").unwrap().contains("[TLP:AMBER]"));
    assert!(header(&s, "List-Id")
        .unwrap()
        .contains("members.cert.example"));
    assert_eq!(header(&s, "Precedence").as_deref(), Some("list"));
    assert!(header(&s, "List-Unsubscribe")
        .unwrap()
        .contains("mailto:cert-lists@cert.example"));
    let start = s.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = s.find("-----END PGP MESSAGE-----").unwrap() + 25;
    let dec = keyed.run(&["--decrypt"], Some(s[start..end].as_bytes()));
    let derr = String::from_utf8_lossy(&dec.stderr);
    assert!(dec.status.success(), "{derr}");
    assert!(derr.contains("Good signature"), "{derr}");
    let plain = String::from_utf8_lossy(&dec.stdout);
    assert!(
        plain.contains("TLP:AMBER") && plain.contains("exploited in the wild"),
        "{plain}"
    );

    // No key on an if-key list: signed plaintext that gpg accepts.
    let signed = by_to("reporter+plain@bank.example");
    gpg_verifies(&outside, signed);
    let dir = tempfile::tempdir().unwrap();
    assert!(text_of(signed).contains("TLP:AMBER"));

    // An always list without a key: a signed notice only.
    let notice = by_to("reporter+nokey@bank.example");
    let t = text_of(notice);
    assert!(t.contains("no OpenPGP key for your address"), "{t}");
    assert!(!t.contains("exploited in the wild"), "{t}");
    assert!(String::from_utf8_lossy(notice).contains("multipart/signed"));

    // The Mailman list: inline signature, still valid with a footer appended.
    let list = by_to("reporter+list@lists.example");
    assert_eq!(
        header(&String::from_utf8_lossy(list), "Precedence").as_deref(),
        Some("bulk")
    );
    let body = text_of(list)
        + "\n_______________________________________________\nannounce mailing list\n";
    std::fs::write(dir.path().join("inline.txt"), body.as_bytes()).unwrap();
    let v = outside.run(
        &["--verify", dir.path().join("inline.txt").to_str().unwrap()],
        None,
    );
    assert!(
        v.status.success(),
        "{}\n{body}",
        String::from_utf8_lossy(&v.stderr)
    );

    // The archive, with per-recipient delivery state.
    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["advisory", "show", &id, "--json"])).unwrap();
    assert_eq!(show["tlp"], "amber");
    let rs = show["recipients"].as_array().unwrap();
    assert_eq!(rs.len(), 2);
    assert!(rs.iter().all(|r| r["state"] == "sent"), "{show:#}");
    assert_eq!(rs[0]["delivery"], "encrypted");
    assert_eq!(rs[1]["delivery"], "signed");
    let list = env.ok(&["advisory", "list"]);
    assert_eq!(list.lines().count(), 4, "{list}");
    let strict_id = id.replace("-0001", "-0002");
    let strict: serde_json::Value =
        serde_json::from_str(&env.ok(&["advisory", "show", &strict_id, "--json"])).unwrap();
    assert_eq!(strict["recipients"][0]["delivery"], "notice-only");
}

/// An installation delivering to Postfix's `port` with the list `wide` of
/// `members` (no keys: they share signed copies), and an advisory to it
/// queued: its ID, and the team's key.
fn advisory_to_wide_list<S: AsRef<str>>(port: u16, members: &[S]) -> (Env, Gpg, String) {
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let extra = format!(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n\
         [[lists]]\nname = \"wide\"\nmax_tlp = \"green\"\nencrypt = \"never\"\n\
         members = [{}]\n",
        members
            .iter()
            .map(|m| format!("{{ email = \"{}\" }}", m.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let env = Env::with_outbox_smtp(port, "none", None, None, &extra);
    common::gpg::install_keys(env.dir.path(), &team, "cert@cert.example", &[]);
    let text = env.path("advisory.txt");
    std::fs::write(&text, "Patch ExampleMTA now.\n").unwrap();
    let out = env.ok(&[
        "advisory",
        "send",
        "--list",
        "wide",
        "--tlp",
        "green",
        "--subject",
        "ExampleMTA",
        text.to_str().unwrap(),
    ]);
    let id = out.split_whitespace().next().unwrap().to_string();
    assert_eq!(env.outbox().len(), 1, "one shared copy");
    (env, team, id)
}

/// A list whose members without keys share one signed copy, sent Bcc in
/// one transaction. What a member could try to learn: who else is on the
/// list (no other member's address is in the copy). What a bad member
/// address must not do: hold back the others. Postfix refuses an unknown
/// user for good (550) and a busy mailbox for now (450); the others get
/// the copy, and each member's own state is in the archive.
#[test]
fn a_shared_copy_reaches_every_member_the_server_takes() {
    let servers = MailServers::start();
    let members = [
        "reporter+one@bank.example",
        "nobody@bank.example",
        TEMPFAIL_RECIPIENT,
        "reporter+two@other.example",
    ];
    let (env, team, id) = advisory_to_wide_list(servers.smtp_port, &members);
    let outside = Gpg::new();
    outside.import(&team.export("cert@cert.example"));
    assert_eq!(env.outbox()[0]["to"].as_array().unwrap().len(), 4);

    let r = env.run(&["outbox", "deliver"]);
    let said = String::from_utf8_lossy(&r.stdout).to_string() + &String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success(), "a refused member is a failure: {said}");
    assert!(
        said.contains("1 still queued") && said.contains("1 failed permanently"),
        "{said}"
    );
    assert!(said.contains("nobody@bank.example"), "{said}");

    // Both accepted members' copies arrive (both are the user `reporter`),
    // signed by the team, naming the list and no member.
    let inbox = servers.wait_for_messages("reporter", "INBOX", 2, WAIT);
    for m in &inbox {
        let s = String::from_utf8_lossy(m);
        assert_eq!(to_of(m), "CERT-EX list wide:;", "{s}");
        for member in members {
            assert!(!s.contains(member), "{member} is visible in a copy:\n{s}");
        }
        gpg_verifies(&outside, m);
    }

    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["advisory", "show", &id, "--json"])).unwrap();
    let state_of = |address: &str| {
        show["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .cloned()
            .unwrap_or_else(|| panic!("{address} is not in {show:#}"))
    };
    for sent in ["reporter+one@bank.example", "reporter+two@other.example"] {
        assert_eq!(state_of(sent)["state"], "sent", "{show:#}");
    }
    let nobody = state_of("nobody@bank.example");
    assert_eq!(nobody["state"], "failed", "{show:#}");
    assert!(
        nobody["last_error"].as_str().unwrap().contains("550"),
        "{nobody}"
    );
    let busy = state_of(TEMPFAIL_RECIPIENT);
    assert_eq!(busy["state"], "queued", "{show:#}");
    assert!(
        busy["last_error"].as_str().unwrap().contains("450"),
        "{busy}"
    );
    // Only the busy member is left to try.
    let entry = &env.outbox()[0];
    assert_eq!(
        entry["to"],
        serde_json::json!([TEMPFAIL_RECIPIENT]),
        "{entry:#}"
    );
    assert_eq!(entry["state"], "queued");
}

/// A relay that takes fewer recipients per transaction than a shared copy
/// has (Postfix's `smtpd_recipient_limit`, 452 4.5.3 for the rest): the
/// copy goes to the rest in further transactions of the same attempt, and
/// every member has it after one delivery pass.
#[test]
fn a_relay_limit_on_recipients_is_met_with_more_transactions() {
    let servers = MailServers::start();
    let members: Vec<String> = (0..8)
        .map(|i| format!("reporter+m{i}@bank{}.example", i % 2))
        .collect();
    let (env, _, _) = advisory_to_wide_list(servers.few_rcpt_smtp_port, &members);
    let out = env.ok(&["outbox", "deliver"]);
    assert!(
        out.contains("attempted 1, 0 still queued, 0 failed"),
        "{out}"
    );
    let entry = &env.outbox()[0];
    assert_eq!(entry["state"], "sent", "{entry:#}");
    assert_eq!(entry["attempts"], 1, "{entry:#}");
    servers.wait_for_messages("reporter", "INBOX", members.len(), WAIT);
    // Postfix logs the session's commands: 3 + 3 + 2 taken in one session.
    let log = servers.postfix_log();
    let sessions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("postfix/smtpd") && l.contains(" mail="))
        .collect();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert!(
        sessions[0].contains(" mail=3 ")
            && sessions[0].contains(" data=3 ")
            && sessions[0].contains(&format!(" rcpt={} ", 8 + 5 + 2)),
        "three transactions in one session, asking 8, then the 5 refused with 452, then 2: {}",
        sessions[0]
    );
    assert!(FEW_RECIPIENTS < members.len());
}

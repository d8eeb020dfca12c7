//! The handling verbs at the terminal (`csirtd ticket status|assign|
//! category|tlp|link|merge|note|reply`), locally and through the running
//! daemon: the same refusals as the commands by mail, events that name the
//! handler and the Unix user, and a reply that is the relayed mail —
//! team-signed (checked by the real gpg), threaded, to the requestor —
//! whatever header-looking lines or CR bytes its text holds.

mod common;
use common::gpg::{gpg_verifies, handler_env, Gpg};
use common::*;
use std::process::Output;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const REPORTER: &str = "reporter@bank.example";

struct World {
    env: Env,
    /// Holds the team's certificate: verifies what the team signed.
    verifier: Gpg,
}

fn world() -> World {
    world_with("[ack]\nencrypt = \"never\"\n", &[])
}

/// `extra` is appended to the TOML; `certs` go into the keyring.
fn world_with(extra: &str, certs: &[(&Gpg, &str)]) -> World {
    let hanna = Gpg::new();
    hanna.gen("Hanna <handler@cert.example>");
    let bob = Gpg::new();
    bob.gen("Bob <bob@cert.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let verifier = Gpg::new();
    verifier.import(&team.export("cert@cert.example"));
    let bob_fpr = common::gpg::fingerprint(&bob, "bob@cert.example");
    // The first line lands in hanna's [[handlers]] table.
    let mut others = vec![(&bob, "bob@cert.example")];
    others.extend_from_slice(certs);
    let env = handler_env(
        &team,
        &hanna,
        &others,
        &format!(
            "unix_user = \"deskuser\"\n\
             [[handlers]]\nname = \"bob\"\nemail = \"bob@cert.example\"\nfingerprint = \"{bob_fpr}\"\n\
             {extra}"
        ),
    );
    World { env, verifier }
}

/// `csirtd ARGS` as Unix user `user` (no sudo).
fn as_user(env: &Env, user: &str, args: &[&str]) -> Output {
    env.cmd()
        .env("USER", user)
        .env_remove("SUDO_USER")
        .env_remove("LOGNAME")
        .env_remove("VISUAL")
        .env_remove("EDITOR")
        .args(args)
        .output()
        .expect("run csirtd")
}

fn desk_ok(env: &Env, args: &[&str]) -> String {
    let out = as_user(env, "deskuser", args);
    assert!(
        out.status.success(),
        "csirtd {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Insists on exit `code`; returns stderr.
fn desk_fails(env: &Env, user: &str, args: &[&str], code: i32) -> String {
    let out = as_user(env, user, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "csirtd {args:?}: stdout {} stderr {err}",
        String::from_utf8_lossy(&out.stdout)
    );
    err
}

fn report(env: &Env, n: u32) -> String {
    env.ingest_ok(&mail(
        &format!("Reporter <{REPORTER}>"),
        &format!("Phishing {n}"),
        Some(&format!("r{n}@bank.example")),
        "",
        "https://phish.example/login",
    ))
    .0
}

fn events(t: &serde_json::Value) -> Vec<(String, String)> {
    t["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("").to_string(),
                e["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The sent (file transport) mail whose text holds `marker`.
fn sent_with(env: &Env, marker: &str) -> Option<Vec<u8>> {
    env.sent_files()
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .find(|raw| String::from_utf8_lossy(raw).contains(marker))
}

/// A relayed reply as the reporter gets it: from the team, signed by the
/// team key, to the requestor, tagged and threaded to their report.
fn check_reply(w: &World, raw: &[u8], id: &str, report_mid: &str) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let head = |n: &str| header(&text, n).unwrap_or_default();
    assert!(head("From").contains("cert@cert.example"), "{text}");
    assert!(head("To").contains(REPORTER), "{text}");
    assert!(
        head("Subject").contains(&format!("[CERT-EX #{id}]")),
        "{text}"
    );
    assert!(head("In-Reply-To").contains(report_mid), "{text}");
    assert!(head("References").contains(report_mid), "{text}");
    assert!(head("Message-ID").contains(".relay."), "{text}");
    assert!(
        head("Auto-Submitted").is_empty(),
        "a person's reply: {text}"
    );
    let said = gpg_verifies(&w.verifier, raw);
    assert!(
        said.contains("Good signature") && said.contains("cert@cert.example"),
        "{said}"
    );
}

#[test]
fn every_verb_locally_with_the_mail_commands_refusals() {
    let w = world();
    let env = &w.env;
    let a = report(env, 1);
    let b = report(env, 2);
    let c = report(env, 3);

    let out = desk_ok(env, &["ticket", "status", &a, "stalled"]);
    assert!(out.contains("new → stalled"), "{out}");
    assert!(
        out.contains("by hanna (command line, unix user deskuser)"),
        "{out}"
    );
    let t = env.ticket(&a);
    assert_eq!(t["status"], "stalled");
    assert!(events(&t).iter().any(|(k, d)| k == "status-change"
        && d.contains("hanna")
        && d.contains("unix user deskuser")));

    // --as another handler: the event names both.
    let out = desk_ok(env, &["ticket", "assign", &a, "bob", "--as", "bob"]);
    assert!(out.contains("assigned to bob"), "{out}");
    let t = env.ticket(&a);
    assert_eq!(t["assignee"], "bob");
    assert!(events(&t).iter().any(|(k, d)| k == "command"
        && d.contains("/assign bob by bob (command line, unix user deskuser): assigned to bob")));
    // The mail commands' refusal: an unknown handler changes nothing.
    let err = desk_fails(env, "deskuser", &["ticket", "assign", &a, "nobody"], 1);
    assert!(
        err.contains("no handler `nobody`") && err.contains("hanna, bob"),
        "{err}"
    );
    assert_eq!(env.ticket(&a)["assignee"], "bob");
    desk_ok(env, &["ticket", "assign", &a, "--none"]);
    assert!(env.ticket(&a)["assignee"].is_null());

    let out = desk_ok(env, &["ticket", "category", &a, "Fraud/Phishing"]);
    assert!(out.contains("category fraud/phishing"), "{out}");
    let t = env.ticket(&a);
    assert_eq!(t["category"], "fraud");
    assert_eq!(t["classification"]["by"], "handler", "{t:#}");
    let err = desk_fails(env, "deskuser", &["ticket", "category", &a, "no*such"], 64);
    assert!(err.contains("not a category name"), "{err}");
    let err = desk_fails(env, "deskuser", &["ticket", "category", &a, "made/up"], 1);
    assert!(err.contains("refused"), "{err}");

    desk_ok(env, &["ticket", "tlp", &a, "amber"]);
    assert_eq!(env.ticket(&a)["tlp"], "amber");
    let err = desk_fails(env, "deskuser", &["ticket", "tlp", &a, "purple"], 64);
    assert!(err.contains("unknown TLP label `purple`"), "{err}");

    // Link: only to an incident, as by mail.
    let err = desk_fails(env, "deskuser", &["ticket", "link", &a, &b], 1);
    assert!(err.contains("is a report, not an incident"), "{err}");
    let out = env.ok(&["incident", "create", "--from", &b]);
    let inc = out
        .split('#')
        .nth(1)
        .and_then(|r| r.split(']').next())
        .expect("incident id")
        .to_string();
    let out = desk_ok(env, &["ticket", "link", &a, &format!("[CERT-EX #{inc}]")]);
    assert!(out.contains(&format!("linked to incident {inc}")), "{out}");
    assert_eq!(env.ticket(&a)["incident"], inc);
    let i = env.ticket(&inc);
    assert!(i["reports"].to_string().contains(&a), "{i:#}");
    assert!(events(&i).iter().any(|(_, d)| d.contains(&format!(
        "report {a} linked by hanna (command line, unix user deskuser)"
    ))));

    desk_ok(env, &["ticket", "merge", &c, &a]);
    assert_eq!(env.ticket(&c)["merged_into"], a);
    assert!(env.ticket(&a)["merged"].to_string().contains(&c));
    let err = desk_fails(env, "deskuser", &["ticket", "merge", &c, &a], 1);
    assert!(err.contains("already merged"), "{err}");

    // Notes: as an argument, from a file, never to the requestors; the
    // other handlers are told, as of a note by mail.
    let to_reporter = |env: &Env| {
        env.outbox()
            .iter()
            .filter(|o| o["to"].to_string().contains(REPORTER))
            .count()
    };
    let sent_before = to_reporter(env);
    desk_ok(env, &["ticket", "note", &a, "Called the bank's SOC."]);
    let file = env.path("note.txt");
    std::fs::write(&file, "Takedown requested at the registrar.\n").unwrap();
    desk_ok(
        env,
        &["ticket", "note", &a, "--file", file.to_str().unwrap()],
    );
    let notes: Vec<String> = events(&env.ticket(&a))
        .into_iter()
        .filter(|(k, _)| k == "note")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("Called the bank's SOC.") && notes[0].contains("unix user deskuser"));
    assert!(notes[1].contains("Takedown requested"));
    assert_eq!(
        to_reporter(env),
        sent_before,
        "a note never goes to requestors"
    );
    let to_bob: Vec<_> = env
        .outbox()
        .into_iter()
        .filter(|o| {
            o["to"].to_string().contains("bob@cert.example")
                && o["subject"].as_str().unwrap_or("").contains("Note:")
        })
        .collect();
    assert_eq!(to_bob.len(), 2, "{to_bob:#?}");
    assert!(
        !env.outbox()
            .iter()
            .any(|o| o["to"].to_string().contains("handler@cert.example")
                && o["subject"].to_string().contains("Note:")),
        "not to the handler who wrote it"
    );
    env.ok(&["outbox", "deliver"]);
    let told = sent_with(env, "Takedown requested").expect("the note told to bob");
    let told = String::from_utf8_lossy(&told).into_owned();
    assert!(
        header(&told, "To").unwrap().contains("bob@cert.example"),
        "{told}"
    );
}

#[test]
fn who_acts_must_be_a_handler_and_the_ticket_must_exist() {
    let w = world();
    let env = &w.env;
    let a = report(env, 1);
    let err = desk_fails(
        env,
        "deskuser",
        &["ticket", "assign", &a, "bob", "--as", "mallory"],
        64,
    );
    assert!(
        err.contains("--as mallory: no such handler") && err.contains("hanna, bob"),
        "{err}"
    );
    let err = desk_fails(env, "stranger", &["ticket", "status", &a, "resolved"], 64);
    assert!(err.contains("unix_user = \"stranger\""), "{err}");
    assert_eq!(env.ticket(&a)["status"], "new", "nothing changed");
    // --as works for a Unix user no handler is mapped to, and says who.
    desk_fails(
        env,
        "stranger",
        &["ticket", "status", &a, "resolved", "--as", "bob"],
        0,
    );
    assert!(events(&env.ticket(&a))
        .iter()
        .any(|(_, d)| d.contains("by bob (command line, unix user stranger)")));

    let err = desk_fails(
        env,
        "deskuser",
        &["ticket", "assign", "2026-09999", "bob"],
        1,
    );
    assert!(err.contains("ticket 2026-09999 does not exist"), "{err}");
    let err = desk_fails(env, "deskuser", &["ticket", "note", "2026-09999", "x"], 1);
    assert!(err.contains("does not exist"), "{err}");
    let err = desk_fails(env, "deskuser", &["ticket", "assign", "banana", "bob"], 64);
    assert!(err.contains("banana"), "{err}");
    // Without --file and without an editor: say how to give the text.
    let err = desk_fails(env, "deskuser", &["ticket", "reply", &a], 64);
    assert!(err.contains("$EDITOR") && err.contains("--file"), "{err}");
}

#[test]
fn a_reply_is_the_relayed_mail_and_its_text_makes_no_headers() {
    let w = world();
    let env = &w.env;
    let a = report(env, 1);
    let file = env.path("reply.txt");
    // Header-looking lines, a lone CR and CRLF: all of it is body text.
    std::fs::write(
        &file,
        "Bcc: victim@evil.example\r\nSubject: owned\rX-Injected: yes\n\nDear reporter, the site Zebra42 is down.\n",
    )
    .unwrap();
    let out = desk_ok(
        env,
        &["ticket", "reply", &a, "--file", file.to_str().unwrap()],
    );
    assert!(
        out.contains(&format!(
            "reply by hanna (command line, unix user deskuser) relayed to {REPORTER}"
        )),
        "{out}"
    );
    let t = env.ticket(&a);
    assert_eq!(t["status"], "open", "answering opens a new ticket");
    assert!(events(&t)
        .iter()
        .any(|(k, d)| k == "relayed" && d.contains("unix user deskuser")));
    env.ok(&["outbox", "deliver"]);
    let raw = sent_with(env, "Zebra42").expect("the reply was sent");
    check_reply(&w, &raw, &a, "r1@bank.example");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(header(&text, "Bcc").is_none(), "{head}");
    assert!(header(&text, "X-Injected").is_none(), "{head}");
    assert_eq!(
        head.lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("subject:"))
            .count(),
        1,
        "{head}"
    );
    assert!(
        !header(&text, "Subject").unwrap().contains("owned"),
        "{head}"
    );
    // The words are there, as text, with the CR encoded.
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let body: String = m.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    assert!(body.contains("Bcc: victim@evil.example"), "{body}");
    assert!(
        !text.contains("owned\rX-Injected"),
        "a bare CR went out raw"
    );

    // An empty text aborts before anything is done.
    let err = desk_fails(
        env,
        "deskuser",
        &["ticket", "reply", &a, "--file", "/dev/null"],
        1,
    );
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn assign_and_reply_through_the_running_daemon() {
    let w = world();
    let env = &w.env;
    let a = report(env, 1);
    let mut daemon = Daemon::start(env, &["run"]);
    assert!(
        daemon.wait_for_log("control socket ready", WAIT),
        "{}",
        daemon.log()
    );

    let out = desk_ok(env, &["ticket", "assign", &a, "hanna"]);
    assert!(out.contains("assigned to hanna"), "{out}");
    assert!(
        daemon.wait_for_log("command from the control socket", WAIT),
        "went through the daemon: {}",
        daemon.log()
    );
    let t = env.ticket(&a);
    assert_eq!(t["assignee"], "hanna");
    assert!(events(&t)
        .iter()
        .any(|(_, d)| d.contains("/assign hanna by hanna (command line, unix user deskuser)")));
    let err = desk_fails(env, "deskuser", &["ticket", "assign", &a, "nobody"], 1);
    assert!(err.contains("no handler `nobody`"), "{err}");

    // The editor is the client's: its text travels to the daemon.
    let editor = env.path("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf 'Thanks, Okapi77 is taken down.\\n' > \"$1.new\"\ncat \"$1\" >> \"$1.new\"\nmv \"$1.new\" \"$1\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env
        .cmd()
        .env("USER", "deskuser")
        .env_remove("SUDO_USER")
        .env_remove("VISUAL")
        .env("EDITOR", &editor)
        .args(["ticket", "reply", &a])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("relayed to {REPORTER}")),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait_until(WAIT, || sent_with(env, "Okapi77").is_some()),
        "the daemon sent the reply: {}",
        daemon.log()
    );
    let raw = sent_with(env, "Okapi77").unwrap();
    check_reply(&w, &raw, &a, "r1@bank.example");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.contains("# csirtd:"),
        "the template stays home: {text}"
    );
    daemon.terminate();
    daemon.expect_success(WAIT);
}

#[test]
fn a_reply_is_encrypted_where_policy_says_and_red_waits_for_release() {
    let reporter = Gpg::new();
    reporter.gen("Reporter <reporter@bank.example>");
    let w = world_with("[ack]\nencrypt = \"if-key\"\n", &[(&reporter, REPORTER)]);
    reporter.import(&w.verifier.export("cert@cert.example"));
    let env = &w.env;
    let a = report(env, 1);
    // A second reporter's ticket merged into A after A became RED: its
    // requestor did not have the RED content, so the reply waits for them.
    let b = env
        .ingest_ok(&mail(
            "other@else.example",
            "Same phish",
            Some("o1@else.example"),
            "",
            "https://phish.example/login",
        ))
        .0;
    desk_ok(env, &["ticket", "tlp", &a, "red"]);
    desk_ok(env, &["ticket", "merge", &b, &a]);
    let file = env.path("reply.txt");
    std::fs::write(&file, "Quagga31: the phishing site is gone.\n").unwrap();
    let out = desk_ok(
        env,
        &["ticket", "reply", &a, "--file", file.to_str().unwrap()],
    );
    assert!(out.contains(&format!("relayed to {REPORTER}")), "{out}");
    assert!(
        out.contains("other@else.example was not among its requestors when it became RED"),
        "{out}"
    );
    let waiting: Vec<_> = env
        .outbox()
        .into_iter()
        .filter(|o| o["state"] == "awaiting-release")
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:#?}");
    assert!(waiting[0]["to"].to_string().contains("other@else.example"));
    // The handlers are warned, as of a relay by mail kept for release.
    assert!(env
        .outbox()
        .iter()
        .any(|o| o["subject"].as_str().unwrap_or("").contains("WARNING")
            && o["to"].to_string().contains("handler@cert.example")));

    env.ok(&["outbox", "deliver"]);
    let raw = env
        .sent_files()
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .find(|r| {
            let t = String::from_utf8_lossy(r);
            header(&t, "Message-ID").is_some_and(|m| m.contains(".relay."))
        })
        .expect("the relayed reply was sent");
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(header(&text, "To").unwrap().contains(REPORTER), "{text}");
    assert!(text.contains("multipart/encrypted"), "{text}");
    assert!(!text.contains("Quagga31"), "the words are not in the clear");
    let start = text.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = text.find("-----END PGP MESSAGE-----").unwrap() + "-----END PGP MESSAGE-----".len();
    let out = reporter.run(&["--decrypt"], Some(&text.as_bytes()[start..end]));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gpg --decrypt: {said}");
    assert!(
        said.contains("Good signature from \"CERT Example"),
        "{said}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Quagga31"));
}

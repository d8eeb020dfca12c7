//! Working the queue (issue 16): `ticket list` with every filter, sort and
//! page, its JSON; `ticket show` for people, with attacker text shown
//! safely; search by requestor; SLA due dates and `--overdue`.

mod common;
use common::gpg::{handler_env, Gpg};
use common::*;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

const SLA: &str = "[sla]\nfirst_reply_hours = 4\nresolve_days = 10\ndigest_at = \"07:00\"\n\
[sla.category.\"fraud\"]\nfirst_reply_hours = 1\n\
[[constituencies]]\nname = \"university\"\nnetworks = [\"192.0.2.0/24\"]\ncontact = \"noc@uni.example\"\n\
[ack]\nencrypt = \"never\"\n";

fn env() -> Env {
    env_and_hanna().0
}

/// The installation and the handler's own keys (to read what she gets).
fn env_and_hanna() -> (Env, Gpg) {
    let hanna = Gpg::new();
    hanna.gen("Hanna <handler@cert.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let env = handler_env(
        &team,
        &hanna,
        &[],
        &format!("unix_user = \"deskuser\"\n{SLA}"),
    );
    hanna.import(&team.export("cert@cert.example"));
    (env, hanna)
}

fn ingest(env: &Env, from: &str, subject: &str, mid: &str, body: &str) -> String {
    env.ingest_ok(&mail(from, subject, Some(mid), "", body));
    let all = env.tickets();
    all.iter()
        .find(|t| t["subject"] == subject)
        .and_then(|t| t["id"].as_str())
        .expect("ticket of the mail")
        .to_string()
}

fn ids(env: &Env, args: &[&str]) -> Vec<String> {
    let mut a = vec!["ticket", "list", "--json"];
    a.extend_from_slice(args);
    let v: Value = serde_json::from_str(&env.ok(&a)).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn at(env: &Env, now: time::OffsetDateTime, args: &[&str]) -> String {
    let out = env
        .cmd()
        .env("CSIRTD_TEST_NOW", now.format(&Rfc3339).unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn list_filters_sorts_pages_and_carries_every_field() {
    let env = env();
    let a = ingest(
        &env,
        "SOC <soc@nordbank.example>",
        "Phish kit",
        "a@x",
        "phishing at 192.0.2.7",
    );
    let b = ingest(
        &env,
        "noc@isp.example",
        "Scan report",
        "b@x",
        "scans from 198.51.100.1",
    );
    let c = ingest(&env, "other@nordbank.example", "Spam wave", "c@x", "spam");
    env.ok(&["ticket", "assign", &a, "hanna", "--as", "hanna"]);
    env.ok(&["ticket", "category", &a, "fraud/phishing", "--as", "hanna"]);
    env.ok(&["ticket", "tlp", &b, "red", "--as", "hanna"]);
    env.ok(&["ticket", "status", &c, "resolved", "--as", "hanna"]);

    // Default: newest update first (c was changed last, then b, then a).
    assert_eq!(ids(&env, &[]), vec![c.clone(), b.clone(), a.clone()]);
    assert_eq!(
        ids(&env, &["--sort", "id"]),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(
        ids(&env, &["--sort", "-id"]),
        vec![c.clone(), b.clone(), a.clone()]
    );
    assert_eq!(
        ids(&env, &["--sort", "id", "--reverse"]),
        vec![c.clone(), b.clone(), a.clone()]
    );
    assert_eq!(
        ids(&env, &["--sort", "created"]),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(
        ids(&env, &["--sort", "status"])[2],
        c,
        "resolved sorts after new"
    );

    assert_eq!(ids(&env, &["--status", "resolved"]), vec![c.clone()]);
    // c was `new` before: the index's entry from then must not list it.
    assert_eq!(
        ids(&env, &["--status", "new", "--sort", "id"]),
        vec![a.clone(), b.clone()]
    );
    env.ok(&["ticket", "assign", &a, "--none", "--as", "hanna"]);
    assert!(ids(&env, &["--assignee", "hanna"]).is_empty());
    env.ok(&["ticket", "assign", &a, "hanna", "--as", "hanna"]);
    assert_eq!(ids(&env, &["--assignee", "hanna"]), vec![a.clone()]);
    assert_eq!(ids(&env, &["--assignee", "HANNA"]), vec![a.clone()]);
    assert_eq!(ids(&env, &["--category", "fraud"]), vec![a.clone()]);
    assert_eq!(
        ids(&env, &["--category", "fraud/phishing"]),
        vec![a.clone()]
    );
    assert!(ids(&env, &["--category", "vulnerable"]).is_empty());
    assert_eq!(ids(&env, &["--tlp", "red"]), vec![b.clone()]);
    assert_eq!(
        ids(&env, &["--constituency", "university"]),
        vec![a.clone()]
    );
    assert_eq!(
        ids(&env, &["--requestor", "soc@nordbank.example"]),
        vec![a.clone()]
    );
    assert_eq!(
        ids(&env, &["--requestor", "@nordbank.example", "--sort", "id"]),
        vec![a.clone(), c.clone()]
    );
    assert_eq!(
        ids(
            &env,
            &["--status", "new", "--requestor", "@nordbank.example"]
        ),
        vec![a.clone()]
    );
    assert_eq!(ids(&env, &["--since", "2020-01-01"]).len(), 3);
    assert_eq!(ids(&env, &["--since", "1h"]).len(), 3);
    assert!(ids(&env, &["--until", "2020-01-01T00:00:00Z"]).is_empty());
    assert!(ids(&env, &["--since", "2999-01-01"]).is_empty());
    let bad = env.run(&["ticket", "list", "--since", "yesterday"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("7d"),
        "{bad:?}"
    );

    // Paging: a line says how many more and how to see them.
    let page = env.ok(&["ticket", "list", "--sort", "id", "--limit", "1"]);
    assert!(page.contains(&a) && !page.contains(&b), "{page}");
    assert!(page.contains("2 more; --offset 1"), "{page}");
    assert_eq!(
        ids(&env, &["--sort", "id", "--limit", "1", "--offset", "1"]),
        vec![b.clone()]
    );
    assert_eq!(
        ids(&env, &["--sort", "id", "--offset", "3"]),
        Vec::<String>::new()
    );

    // JSON carries every listed field.
    let v: Value =
        serde_json::from_str(&env.ok(&["ticket", "list", "--json", "--assignee", "hanna"]))
            .unwrap();
    let t = &v[0];
    assert_eq!(t["assignee"], "hanna");
    assert_eq!(t["category"], "fraud/phishing");
    assert_eq!(t["constituencies"][0], "university");
    assert_eq!(t["requestors"][0], "soc@nordbank.example");
    assert_eq!(t["status"], "new");
    assert!(t["messages"].as_u64().is_some_and(|n| n >= 1), "{t}");
    assert!(t["first_reply_due"].is_string(), "{t}");
    assert!(t["resolve_due"].is_string(), "{t}");
    assert_eq!(t["overdue"], false);
    for k in [
        "tag",
        "subject",
        "created_at",
        "updated_at",
        "flags",
        "kind",
        "tlp",
        "incident",
    ] {
        assert!(t.get(k).is_some(), "{k} missing: {t}");
    }
    // Human columns: assignee, category, TLP.
    let human = env.ok(&["ticket", "list"]);
    assert!(
        human.contains("ASSIGNEE") && human.contains("hanna") && human.contains("red"),
        "{human}"
    );

    // Search finds requestor addresses.
    let found = env.ok(&["search", "soc@nordbank.example"]);
    assert!(found.contains(&a) && !found.contains(&c), "{found}");
    let found = env.ok(&["search", "nordbank.example"]);
    assert!(found.contains(&a) && found.contains(&c), "{found}");
}

#[test]
fn overdue_follows_the_sla_and_a_handler_reply() {
    let env = env();
    let a = ingest(&env, "soc@nordbank.example", "Phish kit", "a@x", "phishing");
    let b = ingest(&env, "noc@isp.example", "Scan report", "b@x", "scans");
    let c = ingest(&env, "x@isp.example", "Old", "c@x", "old");
    env.ok(&["ticket", "category", &a, "fraud/phishing", "--as", "hanna"]);
    env.ok(&["ticket", "status", &c, "resolved", "--as", "hanna"]);
    let now = time::OffsetDateTime::now_utc();
    let list = |when, extra: &[&str]| -> Vec<String> {
        let mut args = vec!["ticket", "list", "--json", "--overdue", "--sort", "id"];
        args.extend_from_slice(extra);
        let v: Value = serde_json::from_str(&at(&env, when, &args)).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(list(now, &[]).is_empty());
    // Two hours on: the fraud ticket's one-hour first reply is late.
    let two_h = now + time::Duration::hours(2);
    assert_eq!(list(two_h, &[]), vec![a.clone()]);
    let shown = at(&env, two_h, &["ticket", "show", &a]);
    assert!(
        shown.contains("first reply due") && shown.contains("OVERDUE"),
        "{shown}"
    );
    let listed = at(&env, two_h, &["ticket", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&a) && l.contains("OVERDUE")),
        "{listed}"
    );
    assert!(
        !listed
            .lines()
            .any(|l| l.contains(&b) && l.contains("OVERDUE")),
        "{listed}"
    );
    // Five hours: the default four hours for b too.
    assert_eq!(
        list(now + time::Duration::hours(5), &[]),
        vec![a.clone(), b.clone()]
    );
    // A handler's reply meets the first-reply target; not the resolution.
    let reply = env.path("reply.txt");
    std::fs::write(&reply, "We are looking into it.\n").unwrap();
    env.ok(&[
        "ticket",
        "reply",
        &a,
        "--file",
        reply.to_str().unwrap(),
        "--as",
        "hanna",
    ]);
    let five_h = now + time::Duration::hours(5);
    assert_eq!(list(five_h, &[]), vec![b.clone()]);
    let v: Value = serde_json::from_str(&at(
        &env,
        five_h,
        &["ticket", "list", "--json", "--sort", "id"],
    ))
    .unwrap();
    assert!(v[0]["first_reply_at"].is_string(), "{v}");
    assert!(v[0]["first_reply_due"].is_null(), "{v}");
    // Eleven days: resolution late for what is not resolved.
    assert_eq!(
        list(now + time::Duration::days(11), &[]),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        list(now + time::Duration::days(11), &["--status", "resolved"]),
        Vec::<String>::new()
    );
    let json: Value = serde_json::from_str(&at(
        &env,
        now + time::Duration::days(11),
        &["ticket", "show", &b, "--json"],
    ))
    .unwrap();
    assert_eq!(json["overdue"], true);
}

#[test]
fn overdue_without_an_sla_is_refused_by_key() {
    let env = Env::new();
    let out = env.run(&["ticket", "list", "--overdue"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[sla]"),
        "{out:?}"
    );
    let bad = Env::new();
    std::fs::write(
        bad.path("csirtd.toml"),
        std::fs::read_to_string(bad.path("csirtd.toml")).unwrap()
            + "[sla]\nfirst_reply_hours = 0\n",
    )
    .unwrap();
    let out = bad.run(&["ticket", "list"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sla.first_reply_hours"),
        "{out:?}"
    );
}

#[test]
fn show_is_readable_and_attacker_text_cannot_pass_for_csirtd() {
    let env = env();
    let body = "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
        Hello, phishing at 192.0.2.7 and http://evil.example/login\r\n\
        Signature: good\x1b[2J\x1b]0;pwned\x07 by the team\r\n\
        fake\rstatus      resolved\r\n\
        bidi \u{202e}gnp.exe nul \0 end\r\n\
        --b\r\nContent-Type: text/html\r\n\r\n<p>html <script>x</script></p>\r\n\
        --b\r\nContent-Type: application/x-msdownload\r\nContent-Disposition: attachment; filename=\"invoice\u{202e}fdp.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n";
    let raw = format!(
        "From: \"Signature: good\x1b[31m\" <soc@nordbank.example>\r\nTo: cert@cert.example\r\nSubject: Report\x1b[0m \u{202e}cod.exe\r\nMessage-ID: <s@x>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n{body}"
    );
    env.ingest_ok(raw.as_bytes());
    let id = env.tickets()[0]["id"].as_str().unwrap().to_string();
    env.ok(&["ticket", "assign", &id, "hanna", "--as", "hanna"]);
    let other = ingest(
        &env,
        "x@isp.example",
        "Same host",
        "o@x",
        "seen 192.0.2.7 too",
    );
    let out = env.ok(&["ticket", "show", &id]);
    for bad in ['\x1b', '\u{202e}', '\r', '\0', '\x07'] {
        assert!(!out.contains(bad), "{bad:?} reached the terminal:\n{out}");
    }
    // Header block.
    for label in [
        "status",
        "tlp",
        "assignee",
        "category",
        "constituencies",
        "requestors",
        "first reply due",
        "resolve due",
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(label)),
            "{label}:\n{out}"
        );
    }
    assert!(out.contains("hanna") && out.contains("university"), "{out}");
    // The body's lines are fenced; none starts like a line of csirtd's.
    let fenced: Vec<&str> = out.lines().filter(|l| l.starts_with("    | ")).collect();
    assert!(
        fenced.iter().any(|l| l.contains("Signature: good")),
        "{out}"
    );
    for l in out.lines().filter(|l| !l.starts_with("    | ")) {
        let t = l.trim_start();
        assert!(!t.starts_with("Signature: good"), "unfenced: {l:?}");
        assert!(!t.starts_with("status      resolved"), "unfenced: {l:?}");
        assert!(!t.starts_with("resolved"), "unfenced: {l:?}");
    }
    assert!(
        out.contains("\\x1b[2J"),
        "escapes shown, not acted on:\n{out}"
    );
    assert!(out.contains("\\u{202e}"), "{out}");
    assert!(
        out.contains("fake\\rstatus"),
        "CR escaped in its line:\n{out}"
    );
    // Attachment listed with type, size and hash, not opened.
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00";
    let att = out.lines().find(|l| l.contains("attached")).expect(&out);
    assert!(
        att.contains("application/x-msdownload") && att.contains("12 bytes"),
        "{att}"
    );
    assert!(att.contains(&sha256_hex(exe)), "{att}");
    assert!(att.contains("invoice\\u{202e}fdp.exe"), "{att}");
    // Verdict, indicators, related tickets, history in time order.
    assert!(out.contains("openpgp   unsigned"), "{out}");
    assert!(
        out.contains("\nindicators:") && out.contains("192.0.2.7"),
        "{out}"
    );
    let related = out.split("related tickets:").nth(1).unwrap();
    assert!(
        related.contains(&other) && related.contains("192.0.2.7"),
        "{out}"
    );
    let history: Vec<&str> = out
        .split("history:")
        .nth(1)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("  2"))
        .collect();
    assert!(history.len() >= 3, "{out}");
    let mut sorted = history.clone();
    sorted.sort_by_key(|l| l.split_whitespace().next().unwrap_or("").to_string());
    assert_eq!(history, sorted);
}

#[test]
fn long_text_is_cut_with_the_way_to_read_it_all() {
    let env = Env::new();
    let body: String = (1..=100).map(|i| format!("line {i}\r\n")).collect();
    env.ingest_ok(&mail("a@isp.example", "Long", Some("l@x"), "", &body));
    let id = env.tickets()[0]["id"].as_str().unwrap().to_string();
    let out = env.ok(&["ticket", "show", &id]);
    assert!(
        out.contains("    | line 40\n") && !out.contains("| line 41\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "60 more line(s): csirtd ticket raw {id} --message 1"
        )),
        "{out}"
    );
}

#[test]
fn a_store_from_before_the_index_is_listed_and_migrated() {
    let env = Env::new();
    env.ingest_ok(&mail("soc@nordbank.example", "One", Some("1@x"), "", "x"));
    env.ingest_ok(&mail("noc@isp.example", "Two", Some("2@x"), "", "y"));
    // As csirtd 3 left it: no list index, schema 3.
    {
        let store = csirtd::store::Store::open(&env.path("store"), 16).unwrap();
        store.drop_list_index_for_tests().unwrap();
        store.force_schema(3).unwrap();
    }
    assert_eq!(ids(&env, &["--requestor", "soc@nordbank.example"]).len(), 1);
    let out = env.ok(&["migrate"]);
    assert!(out.contains("indexed 2 ticket(s)"), "{out}");
    assert_eq!(ids(&env, &["--requestor", "soc@nordbank.example"]).len(), 1);
    assert_eq!(ids(&env, &[]).len(), 2);
}

#[test]
fn the_handlers_digest_lists_overdue_their_own_and_new_unassigned() {
    let (env, hanna) = env_and_hanna();
    let a = ingest(&env, "soc@nordbank.example", "Phish kit", "a@x", "phishing");
    let b = ingest(&env, "noc@isp.example", "Scan report", "b@x", "scans");
    let c = ingest(&env, "x@isp.example", "Done already", "c@x", "old");
    env.ok(&["ticket", "category", &a, "fraud/phishing", "--as", "hanna"]);
    env.ok(&["ticket", "assign", &a, "hanna", "--as", "hanna"]);
    env.ok(&["ticket", "status", &c, "resolved", "--as", "hanna"]);
    // Two hours on: a's one-hour first reply is late; b's four hours not.
    let two_h = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    let said = at(&env, two_h, &["notify", "queue", "--now"]);
    assert!(
        said.contains("queue digest to hanna listing 2 ticket(s)") && said.contains("(queued)"),
        "{said}"
    );
    // Sent once per day: not again at the same time, again a day later.
    let again = at(&env, two_h, &["notify", "queue"]);
    assert!(again.contains("no queue digest is due"), "{again}");
    let to_hanna = |env: &Env| {
        env.outbox()
            .into_iter()
            .filter(|o| {
                o["to"][0] == "handler@cert.example"
                    && o["subject"]
                        .as_str()
                        .is_some_and(|s| s.contains("Queue for hanna"))
            })
            .count()
    };
    assert_eq!(to_hanna(&env), 1);
    let tomorrow = two_h + time::Duration::days(1);
    let next = at(&env, tomorrow, &["notify", "queue"]);
    assert!(next.contains("queue digest to hanna"), "{next}");
    assert_eq!(to_hanna(&env), 2);

    env.ok(&["outbox", "deliver"]);
    let sent: Vec<Vec<u8>> = env
        .sent_files()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|m| String::from_utf8_lossy(m).contains("Queue for hanna"))
        .collect();
    assert_eq!(sent.len(), 2, "two digests to hanna");
    let s = String::from_utf8_lossy(&sent[0]);
    assert!(s.contains("multipart/encrypted"), "{s}");
    assert!(
        !s.contains("Phish kit"),
        "the subjects are inside the encryption"
    );
    assert!(
        header(&s, "Subject").is_some_and(|h| h.contains("1 overdue, 1 yours, 1 new unassigned")),
        "{s}"
    );
    let start = s.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = s.find("-----END PGP MESSAGE-----").unwrap() + 25;
    let dec = hanna.run(&["--decrypt"], Some(s[start..end].as_bytes()));
    let derr = String::from_utf8_lossy(&dec.stderr);
    assert!(
        dec.status.success() && derr.contains("Good signature"),
        "{derr}"
    );
    let plain = String::from_utf8_lossy(&dec.stdout)
        .replace("=\r\n", "")
        .replace("=20", " ")
        .replace("\r\n", "\n");
    let section = |title: &str| -> String {
        let start = plain
            .find(&format!("\n{title}: "))
            .unwrap_or_else(|| panic!("{plain}"));
        let rest = &plain[start + 1..];
        let end = rest.find("\n\n").unwrap_or(rest.len());
        rest[..end].to_string()
    };
    let overdue = section("Overdue");
    assert!(
        overdue.contains(&format!("#{a}]")) && overdue.contains("first reply due"),
        "{plain}"
    );
    assert!(!overdue.contains(&format!("#{b}]")), "{plain}");
    let mine = section("Assigned to you, not resolved");
    assert!(
        mine.contains(&format!("#{a}]")) && !mine.contains(&format!("#{b}]")),
        "{plain}"
    );
    let new = section("New and unassigned");
    assert!(
        new.contains(&format!("#{b}]")) && !new.contains(&format!("#{a}]")),
        "{plain}"
    );
    assert!(
        !plain.contains(&format!("#{c}]")),
        "a resolved ticket is in no section: {plain}"
    );
}

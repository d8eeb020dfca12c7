//! Retention (issue 16): `csirtd purge` turns expired tickets into
//! tombstones and, with the store compacted, leaves none of their personal
//! data in the store's files (scanned byte for byte); legal holds by the
//! command line and by signed mail; the purge through the running daemon
//! and on its daily schedule. Ticket ages are faked with CSIRTD_TEST_NOW
//! (read by debug builds only).

mod common;
use common::gpg::{handler_env, signed_mail, Gpg};
use common::*;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// Far enough ahead that tickets resolved today are past 365 days.
const LATER: &str = "2030-01-01T00:00:00Z";
const RETENTION: &str = "[retention]\nresolved_days = 365\nrejected_days = 30\n";

const ALICE: &str = "alice.secret@bank.example";
/// What the purged report holds that names or describes a person.
const PERSONAL: [&str; 5] = [
    ALICE,
    "Wonderland",
    "Zebracampaign",
    "quokka7731",
    "mallory.x@evil.example",
];

struct World {
    env: Env,
    handler: Gpg,
}

fn world(extra: &str) -> World {
    let handler = Gpg::new();
    handler.gen("Hanna Handler <handler@cert.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    let env = handler_env(
        &team,
        &handler,
        &[],
        &format!("[ack]\nencrypt = \"never\"\n{extra}"),
    );
    World { env, handler }
}

/// `csirtd ARGS` at time `now` (None: the clock).
fn at(env: &Env, now: Option<&str>, args: &[&str]) -> Output {
    let mut c = env.cmd();
    if let Some(n) = now {
        c.env("CSIRTD_TEST_NOW", n);
    }
    c.args(args).output().expect("run csirtd")
}

fn ok_at(env: &Env, now: Option<&str>, args: &[&str]) -> String {
    let out = at(env, now, args);
    assert!(
        out.status.success(),
        "csirtd {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn alice_report() -> Vec<u8> {
    mail(
        &format!("Alice Wonderland <{ALICE}>"),
        "Zebracampaign against our customers",
        Some("alice-1@bank.example"),
        "",
        "Unique text quokka7731: the phish sits at 185.220.101.77 and http://phish.example.net/login,\nsent by mallory.x@evil.example.",
    )
}

/// Whether any file under `dir` holds `needle`, byte for byte.
fn found_in(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(found_in(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p) {
            if bytes
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

fn resolve(env: &Env, id: &str) {
    ok_at(
        env,
        None,
        &["ticket", "status", id, "resolved", "--as", "hanna"],
    );
}

#[test]
fn purge_leaves_a_tombstone_and_no_personal_data_in_the_store_files() {
    let w = world(RETENTION);
    let env = &w.env;
    let (purged, _) = env.ingest_ok(&alice_report());
    let (held, _) = env.ingest_ok(&mail(
        "Carol Keeper <carol.held@held.example>",
        "Held report",
        Some("carol-1@held.example"),
        "",
        "Evidence for a court.",
    ));
    let (open, _) = env.ingest_ok(&mail(
        "Bob Open <bob.open@other.example>",
        "Open report",
        Some("bob-1@other.example"),
        "",
        "Still being handled.",
    ));
    // The acknowledgements go out: mail not sent yet would keep a ticket.
    env.ok(&["run", "--drain"]);
    resolve(env, &purged);
    resolve(env, &held);
    let hold = ok_at(
        env,
        None,
        &[
            "ticket",
            "hold",
            &held,
            "--reason",
            "police request 17",
            "--as",
            "hanna",
        ],
    );
    assert!(hold.contains("legal hold"), "{hold}");
    let before = env.ticket(&purged);
    let stats_before: serde_json::Value =
        serde_json::from_str(&env.ok(&["stats", "--json", "--since", "2000-01-01"])).unwrap();

    // Today nothing has expired.
    let dry = ok_at(env, None, &["purge", "--dry-run"]);
    assert!(dry.starts_with("would purge 0 ticket(s)"), "{dry}");

    // Later: the resolved report goes, the held one is listed as kept.
    let dry = ok_at(env, Some(LATER), &["purge", "--dry-run"]);
    assert!(
        dry.starts_with("would purge 1 ticket(s); 1 expired ticket(s) kept"),
        "{dry}"
    );
    let line = |id: &str| {
        dry.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        line(&purged).contains("purge") && line(&purged).contains("resolved"),
        "{dry}"
    );
    assert!(
        line(&held).contains("legal hold: police request 17"),
        "{dry}"
    );
    assert!(
        line(&open).is_empty(),
        "open tickets have no age configured: {dry}"
    );
    // A dry run changes nothing.
    assert_eq!(env.ticket(&purged), before);

    let done = ok_at(env, Some(LATER), &["purge", "--yes"]);
    assert!(done.contains("purged 1 ticket(s)"), "{done}");
    assert!(done.contains("store compacted"), "{done}");

    // The tombstone: dates, status, counts and hashes; no names.
    let t = env.ticket(&purged);
    assert_eq!(t["subject"], "[purged]");
    assert_eq!(t["requestors"], serde_json::json!([]));
    assert!(t["purged_at"].is_string(), "{t:#}");
    assert_eq!(t["created_at"], before["created_at"]);
    assert_eq!(t["status"], "resolved");
    let hashes = |v: &serde_json::Value| -> Vec<String> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["sha256"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(hashes(&t), hashes(&before));
    assert_eq!(event_kinds(&t).last().map(String::as_str), Some("purged"));
    assert_eq!(
        event_kinds(&t)[..event_kinds(&before).len()],
        event_kinds(&before)[..],
        "every event keeps its kind"
    );
    let shown = env.ok(&["ticket", "show", &purged]);
    assert!(shown.contains("purged "), "{shown}");
    // Indicators are kept (the default), email addresses are not.
    let values: Vec<&str> = t["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["value"].as_str())
        .collect();
    assert!(values.contains(&"185.220.101.77"), "{values:?}");
    assert!(!values.iter().any(|v| v.contains('@')), "{values:?}");
    assert!(!env.run(&["ticket", "raw", &purged]).status.success());
    // Searches by the address or the subject find nothing any more; the
    // IP address still finds the tombstone.
    assert!(!env.ok(&["search", "Zebracampaign"]).contains(&purged));
    assert!(env.ok(&["search", "185.220.101.77"]).contains(&purged));

    // Nothing of it is left in the store's files.
    let store = env.path("store");
    for needle in PERSONAL {
        let hits = found_in(&store, needle);
        assert!(hits.is_empty(), "`{needle}` is still in {hits:?}");
    }
    // ... while the other tickets are untouched, and found by the same scan.
    assert!(!found_in(&store, "carol.held@held.example").is_empty());
    assert!(!found_in(&store, "bob.open@other.example").is_empty());
    assert_eq!(env.ticket(&held)["subject"], "Held report");
    assert_eq!(env.ticket(&held)["hold"]["reason"], "police request 17");

    // Statistics still count it, with the same times.
    let stats_after: serde_json::Value =
        serde_json::from_str(&env.ok(&["stats", "--json", "--since", "2000-01-01"])).unwrap();
    let strip = |mut v: serde_json::Value| {
        if let Some(o) = v.as_object_mut() {
            // The period ends "now", which moved; the top indicators lose
            // the email addresses.
            o.retain(|k, _| !k.contains("indicator") && k != "period");
        }
        v
    };
    assert_eq!(stats_after["tickets"], 3);
    assert_eq!(strip(stats_after), strip(stats_before));

    // Purged once: a second run finds nothing; a lifted hold lets it go.
    let again = ok_at(env, Some(LATER), &["purge", "--yes"]);
    assert!(again.contains("purged 0 ticket(s)"), "{again}");
    ok_at(env, None, &["ticket", "unhold", &held, "--as", "hanna"]);
    let last = ok_at(env, Some(LATER), &["purge", "--yes"]);
    assert!(last.contains("purged 1 ticket(s)"), "{last}");
    assert!(found_in(&store, "carol.held@held.example").is_empty());
}

#[test]
fn a_hold_by_signed_mail_counts_and_an_unsigned_one_does_not() {
    let w = world(RETENTION);
    let env = &w.env;
    let (a, _) = env.ingest_ok(&mail(
        "x@bank.example",
        "Report A",
        Some("a-1@bank.example"),
        "",
        "a",
    ));
    let (b, _) = env.ingest_ok(&mail(
        "y@bank.example",
        "Report B",
        Some("b-1@bank.example"),
        "",
        "b",
    ));
    env.ok(&["run", "--drain"]);
    resolve(env, &a);
    resolve(env, &b);
    let hold = |id: &str, n: u32| {
        format!(
            "From: Hanna Handler <handler@cert.example>\r\nTo: cert@cert.example\r\nSubject: Re: [CERT-EX #{id}] Report\r\nMessage-ID: <hold-{n}@cert.example>\r\nDate: Mon, 16 Nov 2026 10:05:00 +0000\r\n"
        )
    };
    // Signed content must name its ticket: the quoted notification does.
    let body = |id: &str, commands: &str| {
        format!("{commands}\nOn Mon, 16 Nov 2026, CERT Example wrote:\n> New ticket [CERT-EX #{id}]: Report\n")
    };
    let signed = signed_mail(
        &w.handler,
        "handler@cert.example",
        &hold(&a, 1),
        &body(&a, "/hold court order 2026-9"),
    );
    env.ingest_ok(&signed);
    // The same words without a signature: anyone could write them.
    let unsigned = format!(
        "{}MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{}",
        hold(&b, 2),
        body(&b, "/hold not really").replace('\n', "\r\n")
    );
    env.ingest(unsigned.as_bytes());
    env.ok(&["run", "--drain"]);
    assert_eq!(env.ticket(&a)["hold"]["reason"], "court order 2026-9");
    assert!(env.ticket(&b)["hold"].is_null(), "{:#}", env.ticket(&b));

    let dry = ok_at(env, Some(LATER), &["purge", "--dry-run"]);
    assert!(dry.contains("legal hold: court order 2026-9"), "{dry}");
    let done = ok_at(env, Some(LATER), &["purge", "--yes"]);
    assert!(done.contains("purged 1 ticket(s)"), "{done}");
    assert!(env.ticket(&a)["purged_at"].is_null());
    assert!(env.ticket(&b)["purged_at"].is_string());

    // Lifted by signed mail too.
    let unhold = signed_mail(
        &w.handler,
        "handler@cert.example",
        &hold(&a, 3),
        &body(&a, "/unhold"),
    );
    env.ingest_ok(&unhold);
    assert!(env.ticket(&a)["hold"].is_null());
}

/// The daemon with CSIRTD_TEST_NOW set.
fn daemon_at(env: &Env, now: &str, tag: &str) -> Daemon {
    let stdout_path = env.path(&format!("daemon-{tag}.out"));
    let stderr_path = env.path(&format!("daemon-{tag}.log"));
    let child = env
        .cmd()
        .env("CSIRTD_TEST_NOW", now)
        .arg("run")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    Daemon {
        child,
        stderr_path,
        stdout_path,
    }
}

#[test]
fn through_the_running_daemon_then_compacted_at_its_next_start() {
    let w = world(RETENTION);
    let env = &w.env;
    let (id, _) = env.ingest_ok(&alice_report());
    env.ok(&["run", "--drain"]);
    resolve(env, &id);
    let mut d = daemon_at(env, LATER, "1");
    assert!(d.wait_for_log("csirtd running", WAIT), "{}", d.log());
    let dry = env.ok(&["purge", "--dry-run"]);
    assert!(dry.starts_with("would purge 1 ticket(s)"), "{dry}");
    let done = env.ok(&["purge", "--yes"]);
    assert!(done.contains("purged 1 ticket(s)"), "{done}");
    assert!(done.contains("daemon's next start"), "{done}");
    assert_eq!(env.ticket(&id)["subject"], "[purged]");
    d.terminate();
    d.expect_success(WAIT);
    // The next start rewrites the files before anything else.
    let mut d = daemon_at(env, LATER, "2");
    assert!(
        d.wait_for_log("store compacted after a purge", WAIT),
        "{}",
        d.log()
    );
    assert!(d.wait_for_log("csirtd running", WAIT), "{}", d.log());
    d.terminate();
    d.expect_success(WAIT);
    for needle in PERSONAL {
        let hits = found_in(&env.path("store"), needle);
        assert!(hits.is_empty(), "`{needle}` is still in {hits:?}");
    }
}

#[test]
fn the_daemon_purges_on_its_schedule_catching_up_at_start() {
    let w = world(&format!("{RETENTION}purge_at = \"03:30\"\n"));
    let env = &w.env;
    let (id, _) = env.ingest_ok(&alice_report());
    env.ok(&["run", "--drain"]);
    resolve(env, &id);
    // Today's 03:30 (of the faked clock) passed with no purge yet.
    let mut d = daemon_at(env, LATER, "s");
    assert!(d.wait_for_log("daily purge done", WAIT), "{}", d.log());
    assert!(d.log().contains("tickets=1"), "{}", d.log());
    assert_eq!(env.ticket(&id)["subject"], "[purged]");
    d.terminate();
    d.expect_success(WAIT);
    // Once per slot: a restart does not purge again.
    let mut d = daemon_at(env, LATER, "t");
    assert!(d.wait_for_log("csirtd running", WAIT), "{}", d.log());
    std::thread::sleep(Duration::from_millis(500));
    assert!(!d.log().contains("daily purge done"), "{}", d.log());
    d.terminate();
    d.expect_success(WAIT);
}

//! A message whose analysis panics, or kills the process (an allocation
//! failure aborts), costs only its own analysis: it is stored raw after at
//! most one failed attempt, flagged `analysis-failed`, with a warning, and
//! never picked up again forever. Debug builds make analysis fail on
//! purpose for a message holding the marker named by
//! CSIRTD_TEST_ANALYSIS_PANIC or CSIRTD_TEST_ANALYSIS_ABORT.

mod common;
use common::*;
use serde_json::Value;

const MARK: &str = "ANALYSIS-FAULT-MARKER-7f3a";

fn report(mid: &str) -> Vec<u8> {
    mail(
        "Reporter <rep@isp.example>",
        "Scanning from 198.51.100.23",
        Some(mid),
        "",
        &format!("Scans from 198.51.100.23. {MARK}"),
    )
}

fn warned(t: &Value, needle: &str) -> bool {
    t["events"].as_array().unwrap().iter().any(|e| {
        e["kind"] == "warning" && e["detail"].as_str().unwrap_or_default().contains(needle)
    })
}

#[test]
fn a_panic_in_analysis_stores_the_message_raw_and_flagged() {
    let env = Env::new();
    let raw = report("panics@isp.example");
    let out = env
        .cmd()
        .arg("ingest")
        .env("CSIRTD_TEST_ANALYSIS_PANIC", MARK)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&raw)?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let id = line.split_whitespace().next().unwrap().to_string();
    let t = env.ticket(&id);
    assert!(ticket_flags(&t).contains(&"analysis-failed".into()), "{t}");
    assert!(warned(&t, "panicked"), "{}", t["events"]);
    assert_eq!(t["indicators"].as_array().unwrap().len(), 0, "not analysed");
    assert_eq!(
        t["subject"], "Scanning from 198.51.100.23",
        "headers are read"
    );
    let stored = env.cmd().args(["ticket", "raw", &id]).output().unwrap();
    assert_eq!(stored.stdout, raw);
    // The same bytes again are a duplicate, not another attempt.
    assert_eq!(env.ingest_ok(&raw).1, "duplicate");
}

#[test]
fn an_abort_in_analysis_fails_the_message_once_then_it_is_stored_raw() {
    let env = Env::new();
    let raw = report("aborts@isp.example");
    let (code, _, _) = {
        let out = env
            .cmd()
            .arg("ingest")
            .arg({
                let p = env.path("m.eml");
                std::fs::write(&p, &raw).unwrap();
                p
            })
            .env("CSIRTD_TEST_ANALYSIS_ABORT", MARK)
            .output()
            .unwrap();
        (out.status.code(), out.stdout, out.stderr)
    };
    assert_eq!(
        code, None,
        "killed by SIGABRT, as an allocation failure would"
    );
    // The MTA tries again: this time the message is stored without analysis.
    let (id, word) = env.ingest_ok(&raw);
    assert_eq!(word, "created");
    let t = env.ticket(&id);
    assert!(ticket_flags(&t).contains(&"analysis-failed".into()), "{t}");
    assert!(warned(&t, "earlier attempt"), "{}", t["events"]);
    assert_eq!(env.ingest_ok(&raw).1, "duplicate");
    // Other mail carrying the same words is analysed as usual.
    let other = report("fine@isp.example");
    let (id, _) = env.ingest_ok(&other);
    let t = env.ticket(&id);
    assert!(!ticket_flags(&t).contains(&"analysis-failed".into()), "{t}");
    assert!(t["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["value"] == "198.51.100.23"));
}

#[test]
fn a_maildir_message_that_aborts_the_daemon_goes_to_quarantine_at_the_next_start() {
    let env = Env::new();
    let raw = report("maildir-abort@isp.example");
    env.deliver("1700000000.abort.host", &raw);
    let first = env
        .cmd()
        .args(["run", "--drain"])
        .env("CSIRTD_TEST_ANALYSIS_ABORT", MARK)
        .output()
        .unwrap();
    assert_eq!(first.status.code(), None, "the daemon died");
    assert_eq!(env.count_in("new"), 1, "left in new/");
    let (code, log) = run_with_timeout(
        &env,
        &["run", "--drain"],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(env.count_in("new"), 0, "{log}");
    let quarantined = std::fs::read_dir(env.path("maildir/.Quarantine/cur"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    assert_eq!(quarantined, 1, "{log}");
    let tickets = env.tickets();
    assert_eq!(tickets.len(), 1);
    assert!(ticket_flags(&tickets[0]).contains(&"analysis-failed".into()));
}

/// Sender authentication reads the headers with mail-auth's parser before
/// analysis begins; a message that kills the process there is remembered
/// the same way, not examined again at every restart.
#[test]
fn a_message_that_aborts_sender_authentication_is_stored_raw_at_the_next_start() {
    // No DNS server answers here: the abort comes before any lookup, and
    // the next start must not look the message up at all.
    let env = Env::with_extra(
        "[auth]\nmode = \"verify\"\nresolvers = [\"127.0.0.1:9\"]\ntimeout_secs = 1\n",
    );
    let raw = report("auth-abort@isp.example");
    env.deliver("1700000000.authabort.host", &raw);
    let first = env
        .cmd()
        .args(["run", "--drain"])
        .env("CSIRTD_TEST_AUTH_ABORT", MARK)
        .output()
        .unwrap();
    assert_eq!(first.status.code(), None, "the daemon died");
    assert_eq!(env.count_in("new"), 1, "left in new/");
    let (code, log) = run_with_timeout(
        &env,
        &["run", "--drain"],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(env.count_in("new"), 0, "{log}");
    let tickets = env.tickets();
    assert_eq!(tickets.len(), 1);
    let t = env.ticket(tickets[0]["id"].as_str().unwrap());
    assert!(ticket_flags(&t).contains(&"analysis-failed".into()), "{t}");
    assert!(warned(&t, "earlier attempt"), "{}", t["events"]);
    let auth = &t["messages"][0]["authentication"];
    assert!(
        auth.to_string().contains("earlier attempt"),
        "not looked up again: {auth}"
    );
    let stored = env
        .cmd()
        .args(["ticket", "raw", tickets[0]["id"].as_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(stored.stdout, raw);
}

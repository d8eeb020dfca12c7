//! `csirtd ingest` without a daemon, many at once (issue 13): each waits
//! its turn for the store instead of failing, and a store held too long is
//! reported with what really holds it.

mod common;

use common::{mail, Env};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const CONCURRENT: usize = 200;

#[test]
fn concurrent_ingests_without_a_daemon_all_store_their_message() {
    let env = Env::new();
    // The last in line waits for all the others: on two busy cores that
    // took up to 40 s, well within the default (120 s), which a loaded CI
    // machine should not have to meet.
    common::set_store_options(&env, "lock_wait_secs = 600");
    let started = Instant::now();
    let children: Vec<_> = (0..CONCURRENT)
        .map(|i| {
            env.spawn_ingest(&mail(
                &format!("reporter{i}@bank{i}.example"),
                &format!("report {i}"),
                Some(&format!("c{i}@bank.example")),
                "",
                &format!("body {i}"),
            ))
        })
        .collect();
    let mut ids = BTreeSet::new();
    let mut failures = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.code() != Some(0) || !stdout.ends_with(" created") {
            failures.push(format!(
                "{i}: {:?} {stdout} {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        ids.insert(stdout.split_whitespace().next().unwrap_or("").to_string());
    }
    eprintln!(
        "{CONCURRENT} concurrent ingests took {:?}",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(ids.len(), CONCURRENT, "each message its own ticket");
    let tickets = env.tickets();
    assert_eq!(tickets.len(), CONCURRENT);
    // Each message once: ingesting them all again finds only duplicates.
    let again = mail(
        "reporter7@bank7.example",
        "report 7",
        Some("c7@bank.example"),
        "",
        "body 7",
    );
    assert_eq!(env.ingest_ok(&again).1, "duplicate");
}

#[test]
fn a_store_held_by_another_process_is_waited_for_and_named() {
    let env = Env::with_extra("");
    common::set_store_options(&env, "lock_wait_secs = 1");
    // Held by this test process, which is neither a daemon nor csirtd.
    let held = csirtd::store::Store::open(&env.path("store"), 8).unwrap();
    let started = Instant::now();
    let (code, _, err) =
        env.ingest_full(&mail("a@x.example", "one", Some("h1@x.example"), "", "1"));
    assert_eq!(code, 75, "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "did not wait"
    );
    assert!(!err.contains("running daemon"), "no daemon runs: {err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "names the holder: {err}"
    );

    // Released while it waits: stored.
    common::set_store_options(&env, "lock_wait_secs = 30");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(held);
    });
    let (id, word) = env.ingest_ok(&mail("a@x.example", "one", Some("h1@x.example"), "", "1"));
    release.join().unwrap();
    assert_eq!(word, "created", "{id}");
}

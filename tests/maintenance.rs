//! Backup, restore and schema upgrades (issue 15): a backup taken through
//! the running daemon while mail arrives restores to a store that sends
//! nothing until an operator releases it; read-only commands never raise
//! the schema; `migrate` backs up first and is idempotent.

mod common;
use common::*;
use csirtd::store::{Store, SCHEMA_VERSION};
use std::time::Duration;

fn report(n: usize) -> Vec<u8> {
    mail(
        &format!("Reporter {n} <rep{n}@isp{n}.example>"),
        &format!("Scanning from 198.51.100.{n}"),
        Some(&format!("report-{n}@isp.example")),
        "",
        &format!("Scans from 198.51.100.{n} against our hosts."),
    )
}

/// sled lets go of its lock a moment after the last handle is dropped
/// (its flusher thread holds one): opening again at once may find it held.
fn opened(f: impl Fn() -> csirtd::store::Result<Store>) -> Store {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Ok(s) => return s,
            Err(csirtd::store::StoreError::Locked { .. }) if std::time::Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("open store: {e}"),
        }
    }
}

fn schema_of(env: &Env) -> u32 {
    let store = opened(|| Store::open_read_only(&env.path("store"), 8));
    match store.schema_found().expect("schema") {
        csirtd::store::schema::Found::Version(v) => v,
        csirtd::store::schema::Found::Fresh => 0,
    }
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_backup_while_intake_runs_restores_without_sending_anything_again() {
    // Nothing listens on port 1: every acknowledgement stays queued.
    let live = Env::with_outbox_smtp(1, "none", None, None, "");
    for n in 1..=10 {
        live.deliver(&format!("1700000000.{n}.host"), &report(n));
    }
    let mut daemon = Daemon::start(&live, &["run"]);
    assert!(
        wait_until(Duration::from_secs(60), || live.count_in("new") == 0),
        "{}",
        daemon.log()
    );
    // More mail arrives while the backup is made, through the daemon.
    for n in 11..=30 {
        live.deliver(&format!("1700000001.{n}.host"), &report(n));
    }
    let dir = live.path("backup-1");
    let out = live.run(&["backup", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("backup written to"), "{said}");
    assert!(dir.join("manifest.json").exists());
    // A second backup into the same directory is refused.
    let again = live.run(&["backup", dir.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        stderr_of(&again).contains("not empty"),
        "{}",
        stderr_of(&again)
    );
    assert!(wait_until(Duration::from_secs(60), || live.count_in("new") == 0));
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(30));

    let restored = Env::new();
    let out = restored.run(&["restore", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("wait for release"), "{said}");

    let tickets = restored.tickets();
    assert!(
        (10..=30).contains(&tickets.len()),
        "{} tickets",
        tickets.len()
    );
    // Evidence comes back byte for byte.
    for t in &tickets {
        let id = t["id"].as_str().unwrap();
        let a = live.run(&["ticket", "raw", id]).stdout;
        let b = restored.run(&["ticket", "raw", id]).stdout;
        assert!(!a.is_empty());
        assert_eq!(a, b, "ticket {id}");
    }
    let outbox = restored.outbox();
    assert_eq!(outbox.len(), tickets.len(), "one ack per ticket");
    // An ack the backup caught before it was signed is signed at the next
    // start, and then waits for release like the others.
    assert!(
        outbox
            .iter()
            .all(|o| o["state"] == "awaiting-release" || o["state"] == "sealing"),
        "{outbox:?}"
    );
    // Nothing goes out by itself...
    let (code, log) = run_with_timeout(&restored, &["run", "--drain"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
    assert!(restored.sent_files().is_empty(), "{log}");
    let outbox = restored.outbox();
    assert!(
        outbox.iter().all(|o| o["state"] == "awaiting-release"),
        "{outbox:?}"
    );
    let held_event = restored.ticket(tickets[0]["id"].as_str().unwrap());
    assert!(
        held_event["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"]
                .as_str()
                .unwrap_or("")
                .contains("restored from the backup")),
        "{}",
        held_event["events"]
    );
    // ...only what the operator releases.
    let id = outbox[0]["id"].to_string();
    restored.ok(&["outbox", "release", &id]);
    let (code, log) = run_with_timeout(&restored, &["run", "--drain"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(restored.sent_files().len(), 1, "{log}");

    // A restore never overwrites a store.
    let out = restored.run(&["restore", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("already holds data"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_damaged_or_unfinished_backup_is_refused() {
    let live = Env::new();
    live.ingest_ok(&report(1));
    let dir = live.path("b");
    live.ok(&["backup", dir.to_str().unwrap()]);
    let tree = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&tree).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&tree, bytes).unwrap();
    let target = Env::new();
    let out = target.run(&["restore", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("does not match its manifest"),
        "{}",
        stderr_of(&out)
    );
    assert!(!target.path("store").join("db").exists(), "nothing written");

    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    let out = target.run(&["restore", dir.to_str().unwrap()]);
    assert!(
        stderr_of(&out).contains("no finished csirtd backup"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn reading_never_raises_the_schema_and_writers_ask_for_migrate() {
    let env = Env::new();
    let (id, _) = env.ingest_ok(&report(1));
    assert_eq!(schema_of(&env), SCHEMA_VERSION);
    let old = SCHEMA_VERSION - 1;
    {
        let store = opened(|| Store::open_for_migration(&env.path("store"), 8));
        store.force_schema(old).unwrap();
    }
    // Read-only commands work and leave the mark alone.
    env.ok(&["ticket", "list"]);
    env.ok(&["ticket", "show", &id]);
    env.ok(&["search", "198.51.100.1"]);
    env.ok(&["outbox", "list"]);
    assert_eq!(schema_of(&env), old);
    // Writers refuse, naming the fix.
    for args in [&["run", "--drain"][..], &["ingest"][..]] {
        let out = env
            .cmd()
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("csirtd migrate"),
            "{}",
            stderr_of(&out)
        );
    }
    assert_eq!(schema_of(&env), old);

    let backup = env.path("pre-migrate");
    let out = env.ok(&["migrate", "--backup-dir", backup.to_str().unwrap()]);
    assert!(
        out.contains(&format!("from schema {old} to {SCHEMA_VERSION}")),
        "{out}"
    );
    assert!(backup.join("manifest.json").exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["schema_version"], old);
    assert_eq!(schema_of(&env), SCHEMA_VERSION);
    // Idempotent: a second run changes nothing and makes no backup.
    let out = env.ok(&["migrate"]);
    assert!(out.contains("nothing to migrate"), "{out}");
    let beside: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("store.backup-"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
    let (code, log) = run_with_timeout(&env, &["run", "--drain"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn a_store_from_a_newer_csirtd_is_refused_even_for_reading() {
    let env = Env::new();
    env.ingest_ok(&report(1));
    {
        let store = opened(|| Store::open(&env.path("store"), 8));
        store.force_schema(SCHEMA_VERSION + 1).unwrap();
    }
    for args in [
        &["ticket", "list"][..],
        &["run", "--drain"][..],
        &["migrate"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("newer csirtd"),
            "{}",
            stderr_of(&out)
        );
    }
}

/// A reader holding the store (an operator's `ticket raw ID | less` left
/// open) delays the daemon's start, a bounded time, and says who holds it.
#[test]
fn the_daemon_waits_for_a_reader_that_holds_the_store() {
    let env = Env::new();
    env.ingest_ok(&report(1));
    set_store_options(&env, "lock_wait_secs = 30");
    env.deliver("1700000000.wait.host", &report(2));
    let held = opened(|| Store::open_read_only(&env.path("store"), 8));
    let mut daemon = Daemon::start(&env, &["run", "--drain"]);
    assert!(
        daemon.wait_for_log("held by another process", Duration::from_secs(20)),
        "{}",
        daemon.log()
    );
    assert!(daemon.log().contains("lock_wait_secs"), "{}", daemon.log());
    drop(held);
    daemon.expect_success(Duration::from_secs(60));
    assert_eq!(env.count_in("new"), 0, "{}", daemon.log());
    assert_eq!(env.tickets().len(), 2);

    // Held for longer than the wait: a clear refusal, not a hang.
    set_store_options(&env, "lock_wait_secs = 1");
    let _held = opened(|| Store::open_read_only(&env.path("store"), 8));
    let (code, log) = run_with_timeout(&env, &["run", "--drain"], Duration::from_secs(30));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("gave up after 1 s"), "{log}");
}

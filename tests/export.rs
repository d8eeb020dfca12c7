//! Evidence export (issue 16): `csirtd ticket export` writes the ingested
//! mails byte for byte (eml-dir and mboxrd) with a manifest of hashes,
//! verdicts and events; `csirtd export verify` finds altered, missing and
//! extra files; `--incident` takes the linked reports along; the running
//! daemon exports too.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One ticket with four awkward mails, and one unparseable ticket.
struct Fixture {
    env: Env,
    ticket: String,
    /// The ticket's incoming mails, in the order they were ingested.
    mails: Vec<Vec<u8>>,
    junk_ticket: String,
    junk: Vec<u8>,
}

fn fixture() -> Fixture {
    let env = Env::new();
    let first = [
        b"Return-Path: <alice@bank.example>\r\n".to_vec(),
        mail(
            "alice@bank.example",
            "Phishing",
            Some("crlf@bank.example"),
            "",
            "CRLF line ends: https://phish.example/login",
        ),
    ]
    .concat();
    let (ticket, word) = env.ingest_ok(&first);
    assert_eq!(word, "created");
    let subject = format!("Re: [CERT-EX #{ticket}] Phishing");
    let bare_lf = format!(
        "From: alice@bank.example\nTo: cert@cert.example\nSubject: {subject}\n\
         Message-ID: <lf@bank.example>\nDate: Mon, 16 Nov 2026 11:00:00 +0000\n\n\
         Bare LF line ends, and no line end at the very end"
    )
    .into_bytes();
    let eight_bit = [
        format!(
            "From: alice@bank.example\r\nTo: cert@cert.example\r\nSubject: {subject}\r\n\
             Message-ID: <8bit@bank.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        )
        .into_bytes(),
        (0x80u8..=0xff).collect::<Vec<u8>>(),
        b"\r\nGr\xfc\xdfe \xe4\xf6\xfc\x01\x7f\r\n".to_vec(),
    ]
    .concat();
    let from_lines = format!(
        "From: alice@bank.example\r\nTo: cert@cert.example\r\nSubject: {subject}\r\n\
         Message-ID: <fromline@bank.example>\r\n\r\n\
         From the logs:\r\n>From a quoted line\r\n>>From deeper\r\nFrom 192.0.2.1 at 10:00\r\n"
    )
    .into_bytes();
    let mut mails = vec![first];
    for m in [bare_lf, eight_bit, from_lines] {
        let (t, word) = env.ingest_ok(&m);
        assert_eq!((t.as_str(), word.as_str()), (ticket.as_str(), "appended"));
        mails.push(m);
    }
    let junk = std::fs::read(fixtures().join("bad").join("binary-junk.bin")).expect("junk");
    let (junk_ticket, word) = env.ingest_ok(&junk);
    assert_eq!(word, "created");
    assert_ne!(junk_ticket, ticket);
    Fixture {
        env,
        ticket,
        mails,
        junk_ticket,
        junk,
    }
}

fn export(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["ticket", "export"];
    all.extend_from_slice(args);
    env.ok(&all)
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
        .expect("manifest json")
}

/// Files under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type().expect("type").is_dir() {
                walk(&e.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// `csirtd export verify DIR` with no configuration anywhere: (exit code,
/// stdout, stderr).
fn verify(dir: &Path) -> (i32, String, String) {
    let nowhere = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(BIN)
        .args(["export", "verify"])
        .arg(dir)
        .current_dir(nowhere.path())
        .env_remove("CSIRTD_CONFIG")
        .output()
        .expect("run verify");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_verifies(dir: &Path) {
    let (code, out, err) = verify(dir);
    assert_eq!(code, 0, "verify {}: {out}{err}", dir.display());
    assert!(out.contains("match the manifest"), "{out}");
}

/// Verification fails and says `line` among its problems.
fn assert_fails_with(dir: &Path, line: &str) {
    let (code, out, err) = verify(dir);
    assert_eq!(code, 1, "verify should fail: {out}{err}");
    assert!(
        err.lines().any(|l| l.starts_with(line)),
        "no line starting {line:?} in:\n{err}"
    );
}

/// mboxrd read back independently of csirtd: the From_ line, then every
/// `>…>From ` line less one `>`.
fn unquote_entry(entry: &[u8]) -> (String, Vec<u8>) {
    let nl = entry.iter().position(|&b| b == b'\n').expect("From_ line");
    let from = String::from_utf8_lossy(&entry[..nl]).into_owned();
    let mut body = Vec::new();
    for line in entry[nl + 1..].split_inclusive(|&b| b == b'\n') {
        let quotes = line.iter().take_while(|&&b| b == b'>').count();
        if quotes > 0 && line[quotes..].starts_with(b"From ") {
            body.extend_from_slice(&line[1..]);
        } else {
            body.extend_from_slice(line);
        }
    }
    (from, body)
}

#[test]
fn eml_dir_export_is_the_ingested_mail_byte_for_byte_with_its_manifest() {
    let f = fixture();
    let env = &f.env;
    let dir = env.path("evidence");
    let said = export(env, &[&f.ticket, "--out", dir.to_str().unwrap()]);
    assert!(said.contains("exported 4 message(s)"), "{said}");
    assert!(said.contains("verified"), "{said}");

    let names = files(&dir);
    assert_eq!(names.len(), 6, "{names:?}");
    assert_eq!(names[4], "manifest.json");
    assert_eq!(names[5], "manifest.json.sha256");
    for (i, (name, want)) in names.iter().zip(&f.mails).enumerate() {
        let sha = sha256_hex(want);
        assert_eq!(name, &format!("{:04}-{}.eml", i + 1, &sha[..12]));
        let got = std::fs::read(dir.join(name)).unwrap();
        assert!(
            got == *want,
            "message {} differs from what was ingested",
            i + 1
        );
    }

    let m = manifest(&dir);
    assert_eq!(m["format"], "csirtd-export/1");
    assert_eq!(m["layout"], "eml-dir");
    assert!(m["csirtd_version"]
        .as_str()
        .unwrap()
        .starts_with(env!("CARGO_PKG_VERSION")));
    assert!(m["exported_at"].as_str().unwrap().starts_with("20"));
    assert!(!m["exported_by"].as_str().unwrap().is_empty());
    assert_eq!(m["tickets"].as_array().unwrap().len(), 1);
    let t = &m["tickets"][0];
    assert_eq!(t["id"], f.ticket.as_str());
    assert_eq!(t["role"], "ticket");
    assert_eq!(t["ticket"]["id"], f.ticket.as_str());
    assert_eq!(t["ticket"]["subject"], "Phishing");
    assert_eq!(t["ticket"]["status"], "new");
    assert_eq!(
        t["ticket"]["requestors"],
        serde_json::json!(["alice@bank.example"])
    );
    for key in ["category", "constituency", "tlp"] {
        assert!(t["ticket"].get(key).is_some(), "ticket lacks {key}");
    }
    let kinds = event_kinds(&t["ticket"]);
    assert!(kinds.contains(&"created".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"acked".to_string()), "{kinds:?}");
    let shown = env.ticket(&f.ticket);
    assert_eq!(
        t["ticket"]["events"], shown["events"],
        "the same events as ticket show"
    );

    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    let ids = [
        "crlf@bank.example",
        "lf@bank.example",
        "8bit@bank.example",
        "fromline@bank.example",
    ];
    for (i, (msg, want)) in messages.iter().zip(&f.mails).enumerate() {
        assert_eq!(msg["index"], i + 1);
        assert_eq!(msg["file"], names[i].as_str());
        assert_eq!(msg["size"], want.len());
        assert_eq!(msg["sha256"], sha256_hex(want));
        assert_eq!(msg["source"], "stdin");
        assert_eq!(msg["message_id"], ids[i]);
        assert!(msg["received_at"].as_str().unwrap().starts_with("20"));
        assert!(msg.get("mbox_offset").is_none());
        // The record as ticket show renders it: verdict and authentication.
        assert_eq!(msg["record"]["sha256"], sha256_hex(want));
        assert!(msg["record"].get("signature").is_some());
        assert!(
            msg["record"]["authentication"]["words"].is_string(),
            "{msg:#}"
        );
        // `ticket raw --message N` gives the same bytes.
        let n = msg["ticket_message"].as_u64().unwrap().to_string();
        let raw = env
            .run(&["ticket", "raw", &f.ticket, "--message", &n])
            .stdout;
        assert!(raw == *want, "ticket_message {n} is not message {}", i + 1);
    }
    // The acknowledgement: listed with its state and stored hash, not exported.
    let outgoing = t["outgoing"].as_array().unwrap();
    assert_eq!(outgoing.len(), 1, "{outgoing:#?}");
    assert_eq!(outgoing[0]["outbox"]["state"], "queued");
    let n = outgoing[0]["ticket_message"].as_u64().unwrap().to_string();
    let ack = env
        .run(&["ticket", "raw", &f.ticket, "--message", &n])
        .stdout;
    assert_eq!(outgoing[0]["stored_sha256"], sha256_hex(&ack));
    assert_eq!(outgoing[0]["record"]["direction"], "out");
    let listed: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        names[..4].iter().map(String::as_str).collect::<Vec<_>>()
    );

    // The manifest's own hash, in a form sha256sum checks.
    let json = std::fs::read(dir.join("manifest.json")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("manifest.json.sha256")).unwrap(),
        format!("{}  manifest.json\n", sha256_hex(&json))
    );
    let sum = std::process::Command::new("sha256sum")
        .args(["-c", "manifest.json.sha256"])
        .current_dir(&dir)
        .output();
    if let Ok(sum) = sum {
        assert!(
            sum.status.success(),
            "{}",
            String::from_utf8_lossy(&sum.stdout)
        );
    }

    assert_verifies(&dir);

    // A copy with one byte altered, one file gone, one file added.
    let copy = env.path("copy");
    copy_dir(&dir, &copy);
    let second = copy.join(&names[1]);
    let mut bytes = std::fs::read(&second).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&second, &bytes).unwrap();
    assert_fails_with(&copy, &format!("altered: {}", names[1]));
    std::fs::remove_file(copy.join(&names[2])).unwrap();
    std::fs::write(copy.join("note.txt"), "added later").unwrap();
    let (code, _, err) = verify(&copy);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("altered: {}", names[1])), "{err}");
    assert!(err.contains(&format!("missing: {}", names[2])), "{err}");
    assert!(err.contains("extra: note.txt"), "{err}");
    assert!(
        !err.contains(&names[0]) && !err.contains(&names[3]),
        "{err}"
    );
    assert!(err.contains("3 problem(s)"), "{err}");

    // An edited manifest no longer matches its hash.
    let copy = env.path("copy-2");
    copy_dir(&dir, &copy);
    let text = std::fs::read_to_string(copy.join("manifest.json")).unwrap();
    std::fs::write(
        copy.join("manifest.json"),
        text.replacen("\"stdin\"", "\"maildir:x\"", 1),
    )
    .unwrap();
    assert_fails_with(&copy, "altered: manifest.json");
    std::fs::remove_file(copy.join("manifest.json.sha256")).unwrap();
    assert_fails_with(&copy, "missing: manifest.json.sha256");
}

#[test]
fn mbox_export_unquotes_to_the_ingested_mail_byte_for_byte() {
    let f = fixture();
    let env = &f.env;
    let dir = env.path("evidence-mbox");
    export(
        env,
        &[
            &f.ticket,
            "--format",
            "mbox",
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    let mbox_name = format!("{}.mbox", f.ticket);
    assert_eq!(
        files(&dir),
        vec![
            mbox_name.clone(),
            "manifest.json".into(),
            "manifest.json.sha256".into()
        ]
    );
    let mbox = std::fs::read(dir.join(&mbox_name)).unwrap();
    let m = manifest(&dir);
    assert_eq!(m["layout"], "mbox");
    assert_eq!(m["files"][0]["sha256"], sha256_hex(&mbox));
    assert_eq!(m["files"][0]["size"], mbox.len());
    let messages = m["tickets"][0]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), f.mails.len());
    let mut at = 0usize;
    for (i, (msg, want)) in messages.iter().zip(&f.mails).enumerate() {
        assert_eq!(msg["file"], mbox_name.as_str());
        assert_eq!(msg["mbox_offset"], at, "entries follow each other");
        let len = msg["mbox_length"].as_u64().unwrap() as usize;
        let (from, body) = unquote_entry(&mbox[at..at + len]);
        at += len;
        let sender = if i == 0 {
            "alice@bank.example"
        } else {
            "MAILER-DAEMON"
        };
        assert!(from.starts_with(&format!("From {sender} ")), "{from}");
        let mut expected = want.clone();
        if !expected.ends_with(b"\n") {
            expected.push(b'\n');
        }
        expected.push(b'\n');
        assert!(
            body == expected,
            "message {} differs after unquoting",
            i + 1
        );
        assert_eq!(msg["sha256"], sha256_hex(want));
        assert_eq!(msg["size"], want.len());
    }
    assert_eq!(at, mbox.len(), "nothing but the entries");
    let text = String::from_utf8_lossy(&mbox);
    assert!(
        text.contains(
            "\n>From the logs:\r\n>>From a quoted line\r\n>>>From deeper\r\n>From 192.0.2.1"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("\nFrom ").count() + 1,
        f.mails.len(),
        "only the From_ lines are unquoted"
    );

    assert_verifies(&dir);
    let copy = env.path("mbox-copy");
    copy_dir(&dir, &copy);
    let mut bytes = mbox.clone();
    let quote = mbox
        .windows(b">>From deeper".len())
        .position(|w| w == b">>From deeper")
        .unwrap();
    bytes.remove(quote);
    std::fs::write(copy.join(&mbox_name), &bytes).unwrap();
    let (code, _, err) = verify(&copy);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("altered: {mbox_name}")), "{err}");
    assert!(err.contains(&format!("message 4 of {}", f.ticket)), "{err}");
}

#[test]
fn an_incident_exports_with_its_reports_and_a_busy_directory_is_refused() {
    let f = fixture();
    let env = &f.env;
    let said = env.ok(&["incident", "create", "--from", &f.ticket, &f.junk_ticket]);
    let inc = said
        .split('#')
        .nth(1)
        .and_then(|r| r.split(']').next())
        .expect("incident id")
        .to_string();

    let dir = env.path("incident");
    export(env, &["--incident", &inc, "--out", dir.to_str().unwrap()]);
    let m = manifest(&dir);
    let roles: Vec<(&str, &str)> = m["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        vec![
            (inc.as_str(), "incident"),
            (f.ticket.as_str(), "report"),
            (f.junk_ticket.as_str(), "report")
        ]
    );
    assert_eq!(m["tickets"][0]["ticket"]["kind"], "incident");
    let names = files(&dir);
    assert_eq!(names.len(), 4 + 1 + 2, "{names:?}");
    for (i, want) in f.mails.iter().enumerate() {
        let name = format!("{}/{:04}-{}.eml", f.ticket, i + 1, &sha256_hex(want)[..12]);
        assert!(std::fs::read(dir.join(&name)).unwrap() == *want, "{name}");
    }
    let junk_name = format!("{}/0001-{}.eml", f.junk_ticket, &sha256_hex(&f.junk)[..12]);
    assert!(
        std::fs::read(dir.join(&junk_name)).unwrap() == f.junk,
        "the unparseable mail"
    );
    let junk_entry = &m["tickets"][2]["messages"][0];
    assert_eq!(junk_entry["file"], junk_name.as_str());
    assert!(
        junk_entry["record"]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "unparsed"),
        "{junk_entry:#}"
    );
    assert_verifies(&dir);
    // A report in the wrong subdirectory is missing there and extra here.
    let copy = env.path("incident-copy");
    copy_dir(&dir, &copy);
    let moved = junk_name.replace(&f.junk_ticket, &f.ticket);
    std::fs::rename(copy.join(&junk_name), copy.join(&moved)).unwrap();
    let (code, _, err) = verify(&copy);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("missing: {junk_name}")), "{err}");
    assert!(err.contains(&format!("extra: {moved}")), "{err}");

    let dir = env.path("incident-mbox");
    export(
        env,
        &[
            "--incident",
            &inc,
            "--format",
            "mbox",
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(
        files(&dir),
        vec![
            format!("{}.mbox", f.ticket),
            format!("{}.mbox", f.junk_ticket),
            "manifest.json".into(),
            "manifest.json.sha256".into()
        ],
        "the incident has no mail of its own"
    );
    assert_verifies(&dir);

    // A report is not an incident.
    let out = env.run(&[
        "ticket",
        "export",
        "--incident",
        &f.ticket,
        "--out",
        env.path("x").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an incident"));

    // A directory with something in it is left alone.
    let busy = env.path("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let out = env.run(&[
        "ticket",
        "export",
        &f.ticket,
        "--out",
        busy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not empty") && err.contains("--out"), "{err}");
    assert_eq!(files(&busy), vec!["keep.txt".to_string()]);
    // An empty one is fine.
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    export(env, &[&f.ticket, "--out", empty.to_str().unwrap()]);
    assert_verifies(&empty);
}

#[test]
fn the_running_daemon_writes_the_export_where_the_client_means() {
    let f = fixture();
    let env = &f.env;
    let local: PathBuf = env.path("local");
    export(
        env,
        &[
            &f.ticket,
            "--format",
            "mbox",
            "--out",
            local.to_str().unwrap(),
        ],
    );

    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(env.path("maildir").join(sub)).unwrap();
    }
    let mut daemon = Daemon::start(env, &["run"]);
    assert!(
        daemon.wait_for_log("control socket ready", Duration::from_secs(20)),
        "the daemon did not come up\n--- log ---\n{}",
        daemon.log()
    );
    // A relative --out: the client's directory, not the daemon's.
    let out = env
        .cmd()
        .args([
            "ticket",
            "export",
            &f.ticket,
            "--format=mbox",
            "--out",
            "via-daemon",
        ])
        .current_dir(env.path(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n--- log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        daemon.log()
    );
    assert!(
        wait_until(Duration::from_secs(5), || daemon
            .log()
            .contains("evidence exported")),
        "the daemon wrote it\n{}",
        daemon.log()
    );
    let mbox = format!("{}.mbox", f.ticket);
    let via = env.path("via-daemon");
    assert_eq!(
        std::fs::read(via.join(&mbox)).unwrap(),
        std::fs::read(local.join(&mbox)).unwrap(),
        "the same bytes whoever writes them"
    );
    assert_verifies(&via);
    // The same refusal through the daemon.
    let again = env.run(&[
        "ticket",
        "export",
        &f.ticket,
        "--out",
        via.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    daemon.terminate();
    daemon.expect_success(Duration::from_secs(30));
}

//! The quickstart demo (`scripts/demo.sh`) run as a user runs it, with the
//! test build's binary and a private state directory: its output must show
//! each verdict, the forged handler reply refused, and gpg accepting the
//! team's signature on an acknowledgement. What it prints about the
//! forgery is checked against the store too, not taken on its word.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_csirtd");

/// Waits for `cmd`, killing it after `timeout`; output is captured in
/// files so a chatty child cannot block on a full pipe.
fn output_within(cmd: &mut Command, dir: &Path, timeout: Duration) -> Output {
    let out = std::fs::File::create(dir.join("demo.stdout")).expect("stdout file");
    let err = std::fs::File::create(dir.join("demo.stderr")).expect("stderr file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("bash runs scripts/demo.sh");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for demo.sh") {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "scripts/demo.sh ran longer than {timeout:?}; output so far:\n{}\n{}",
                std::fs::read_to_string(dir.join("demo.stdout")).unwrap_or_default(),
                std::fs::read_to_string(dir.join("demo.stderr")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: std::fs::read(dir.join("demo.stdout")).expect("read stdout"),
        stderr: std::fs::read(dir.join("demo.stderr")).expect("read stderr"),
    }
}

/// The verdict column of the table row that contains `needle`.
fn verdict_of<'a>(stdout: &'a str, needle: &str) -> &'a str {
    let table = stdout
        .split("== Verdicts:")
        .nth(1)
        .and_then(|t| t.split("\n\n").next())
        .unwrap_or_else(|| panic!("no verdict table in:\n{stdout}"));
    let row = table
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row for {needle:?} in:\n{table}"));
    row.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no verdict column in {row:?}"))
}

#[test]
fn the_demo_shows_verdicts_a_refused_forgery_and_a_signature_gpg_accepts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Short and private: gpg-agent's socket lives under the GNUPGHOME
    // inside it, and a developer's target/demo stays untouched.
    let tmp = tempfile::Builder::new()
        .prefix("demo")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let demo = tmp.path().join("d");
    let out = output_within(
        Command::new("bash")
            .arg(root.join("scripts/demo.sh"))
            .env("CSIRTD_BIN", BIN)
            .env("DEMO_DIR", &demo),
        tmp.path(),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo.sh failed: {:?}\n{stdout}\n{stderr}",
        out.status
    );

    // The daemon's log names the forgery as it stores it.
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("message flagged") && l.contains("unverified-handler")),
        "{stderr}"
    );
    assert_eq!(verdict_of(&stdout, "Demo PGP/MIME signed"), "good");
    assert_eq!(verdict_of(&stdout, "Demo inline clearsigned"), "good");
    assert_eq!(verdict_of(&stdout, "Demo altered after signing"), "bad");
    assert_eq!(
        verdict_of(&stdout, "Demo signed by a key not in the keyring"),
        "unknown-key"
    );
    // mallory's key is in the keyring with the handler's address as its
    // user ID, so the signature itself is good: only the configured
    // fingerprint stops him.
    assert_eq!(verdict_of(&stdout, "hanna@cert.example"), "good");

    let forged = stdout
        .split("== The forged handler reply on ")
        .nth(1)
        .unwrap_or_else(|| panic!("no forgery section in:\n{stdout}"));
    let forged = forged.split("\n\n").next().unwrap_or_default();
    assert!(forged.contains("status: new"), "{forged}");
    assert!(forged.contains("relayed events: 0"), "{forged}");
    assert!(forged.contains("unverified-handler"), "{forged}");
    assert!(
        forged.contains("claims to be handler hanna")
            && forged.contains("not by hanna's configured key"),
        "{forged}"
    );

    // The same, read from the store the demo left behind.
    let tag = forged.lines().next().unwrap_or_default().trim();
    let id = tag
        .trim_start_matches("[CERT-EX #")
        .trim_end_matches(']')
        .to_string();
    let show = Command::new(BIN)
        .arg("--config")
        .arg(demo.join("csirtd.toml"))
        .args(["ticket", "show", "--json", &id])
        .output()
        .expect("csirtd ticket show");
    assert!(
        show.status.success(),
        "ticket show {id}: {}",
        String::from_utf8_lossy(&show.stderr)
    );
    let ticket: Value = serde_json::from_slice(&show.stdout).expect("ticket JSON");
    assert_eq!(ticket["status"], "new", "{ticket:#}");
    let events = ticket["events"].as_array().expect("events");
    assert!(!events.iter().any(|e| e["kind"] == "relayed"), "{ticket:#}");
    let from_hanna: Vec<&Value> = ticket["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| {
            m["from"]
                .as_str()
                .is_some_and(|f| f.contains("hanna@cert.example"))
        })
        .collect();
    assert_eq!(from_hanna.len(), 1, "{ticket:#}");
    assert!(
        from_hanna[0]["flags"]
            .to_string()
            .contains("unverified-handler"),
        "{ticket:#}"
    );
    // The forger's words reached no one outside the team: the reporter got
    // the acknowledgement on this ticket and nothing more.
    let list = Command::new(BIN)
        .arg("--config")
        .arg(demo.join("csirtd.toml"))
        .args(["outbox", "list", "--json"])
        .output()
        .expect("csirtd outbox list");
    let outbox: Value = serde_json::from_slice(&list.stdout).expect("outbox JSON");
    let to_reporter: Vec<&Value> = outbox
        .as_array()
        .expect("outbox list")
        .iter()
        .filter(|o| o["ticket"].to_string().contains(&id))
        .filter(|o| o["to"].to_string().contains("alice@partner-cert.example"))
        .collect();
    assert_eq!(to_reporter.len(), 1, "{outbox:#}");

    let gpg = stdout
        .lines()
        .find(|l| l.contains("Good signature from"))
        .unwrap_or_else(|| panic!("no good signature from gpg in:\n{stdout}"));
    assert!(gpg.contains("cert@cert.example"), "{gpg}");
}

//! OpenPGP through the whole pipeline, with the real `gpg` as the outside
//! peer: verdicts recorded at intake and shown in `ticket show --json`,
//! signed (and encrypted) acknowledgements that gpg accepts, the
//! require_signed policy, `keys import`, `reverify`, and held mail.

mod common;
use common::gpg::{split_signed, Gpg};
use common::*;
use std::path::{Path, PathBuf};

/// A PGP/MIME signed report, signed by gpg over the exact inner part.
fn signed_report(gpg: &Gpg, signer: &str, from: &str, id: &str, body: &str) -> Vec<u8> {
    let inner = format!("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{body}\r\n");
    let sig = gpg.detach_sign(signer, inner.as_bytes());
    format!(
        "From: {from}\r\nTo: cert@cert.example\r\nSubject: Signed report {id}\r\nMessage-ID: <{id}@bank.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"SIG\"\r\n\r\n\
--SIG\r\n{inner}\r\n--SIG\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n{sig}\r\n--SIG--\r\n"
    )
    .into_bytes()
}

struct World {
    env: Env,
    /// The reporters' side: alice (in the team's keyring) and bob (not).
    outside: Gpg,
    keyring: PathBuf,
}

fn world(extra: &str) -> World {
    let outside = Gpg::new();
    outside.gen("Alice <alice@bank.example>");
    outside.gen("Bob <bob@bank.example>");
    let team = Gpg::new();
    team.gen("CERT Example <cert@cert.example>");
    // The outside verifies the team's signatures.
    outside.import(&team.export("cert@cert.example"));

    let env = Env::with_extra(&format!(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n{extra}"
    ));
    let keyring = env.path("keyring");
    std::fs::create_dir_all(&keyring).unwrap();
    std::fs::write(
        keyring.join("alice.asc"),
        outside.export("alice@bank.example"),
    )
    .unwrap();
    let team_key = env.path("team.asc");
    std::fs::write(&team_key, team.export_secret("cert@cert.example")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&team_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    World {
        env,
        outside,
        keyring,
    }
}

fn verdict(env: &Env, tid: &str) -> serde_json::Value {
    env.ticket(tid)["messages"][0]["signature"].clone()
}

#[test]
fn verdicts_are_recorded_at_intake_and_shown() {
    let w = world("");
    let env = &w.env;

    let (t, _) = env.ingest_ok(&signed_report(
        &w.outside,
        "alice@bank.example",
        "Alice <alice@bank.example>",
        "g1",
        "Phishing seen.",
    ));
    let v = verdict(env, &t);
    assert_eq!(v["status"], "good", "{v}");
    assert!(
        v["signer_uids"].to_string().contains("alice@bank.example"),
        "{v}"
    );
    assert_eq!(
        v["signer_fingerprint"].as_str().map(str::len),
        Some(40),
        "{v}"
    );
    assert_eq!(
        env.ticket(&t)["messages"][0]["encryption"]["status"],
        "none"
    );
    assert!(env.ticket(&t)["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "verdict"
            && e["detail"]
                .as_str()
                .unwrap()
                .contains("signed by a known key")));

    // The same signature over a tampered body.
    let tampered = String::from_utf8(signed_report(
        &w.outside,
        "alice@bank.example",
        "alice@bank.example",
        "g2",
        "Phishing seen.",
    ))
    .unwrap()
    .replace("Phishing seen.", "Phishing seen!");
    let (t, _) = env.ingest_ok(tampered.as_bytes());
    assert_eq!(verdict(env, &t)["status"], "bad");

    // A good signature by alice under someone else's From.
    let (t, _) = env.ingest_ok(&signed_report(
        &w.outside,
        "alice@bank.example",
        "mallory@bank.example",
        "g3",
        "x",
    ));
    assert_eq!(verdict(env, &t)["status"], "signer-mismatch");

    // Bob is not in the team's keyring.
    let (t, _) = env.ingest_ok(&signed_report(
        &w.outside,
        "bob@bank.example",
        "bob@bank.example",
        "g4",
        "x",
    ));
    assert_eq!(verdict(env, &t)["status"], "unknown-key");

    let (t, _) = env.ingest_ok(&mail(
        "carol@bank.example",
        "plain",
        Some("g5@bank.example"),
        "",
        "x",
    ));
    assert_eq!(verdict(env, &t)["status"], "unsigned");
}

#[test]
fn acknowledgements_are_signed_and_encrypted_where_a_key_is_known() {
    let w = world("");
    let env = &w.env;
    let (ta, _) = env.ingest_ok(&signed_report(
        &w.outside,
        "alice@bank.example",
        "alice@bank.example",
        "a1",
        "x",
    ));
    let (tc, _) = env.ingest_ok(&mail(
        "carol@elsewhere.example",
        "plain report",
        Some("a2@elsewhere.example"),
        "",
        "x",
    ));
    env.ok(&["outbox", "deliver"]);
    let files = env.sent_files();
    assert_eq!(files.len(), 2);
    let read = |tid: &str| -> Vec<u8> {
        let f = files
            .iter()
            .find(|f| {
                f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .contains(&format!(".{tid}."))
            })
            .unwrap();
        std::fs::read(f).unwrap()
    };

    // To carol (no key): PGP/MIME signed; gpg verifies it over the exact first part.
    let carol = read(&tc);
    let text = String::from_utf8_lossy(&carol).to_string();
    assert!(
        text.contains("multipart/signed") && text.contains("application/pgp-signature"),
        "{text}"
    );
    let (data, sig) = split_signed(&carol);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data"), &data).unwrap();
    std::fs::write(dir.path().join("sig.asc"), &sig).unwrap();
    let out = w.outside.run(
        &[
            "--verify",
            dir.path().join("sig.asc").to_str().unwrap(),
            dir.path().join("data").to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "gpg --verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Good signature from \"CERT Example"));

    // To alice (key in the keyring): encrypted; gpg decrypts it and checks the signature inside.
    let alice = read(&ta);
    let text = String::from_utf8_lossy(&alice).to_string();
    assert!(text.contains("multipart/encrypted"), "{text}");
    let start = text.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = text.find("-----END PGP MESSAGE-----").unwrap() + "-----END PGP MESSAGE-----".len();
    let out = w
        .outside
        .run(&["--decrypt"], Some(&text.as_bytes()[start..end]));
    assert!(
        out.status.success(),
        "gpg --decrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Good signature from \"CERT Example"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&ta),
        "the decrypted body names the ticket"
    );
}

#[test]
fn required_signatures_flag_the_ticket_and_say_so_in_the_acknowledgement() {
    let w = world("[pgp.policy]\nrequire_signed = [\"*@bank.example\"]\n");
    let env = &w.env;
    let (t, _) = env.ingest_ok(&mail(
        "dave@bank.example",
        "unsigned",
        Some("r1@bank.example"),
        "",
        "x",
    ));
    let ticket = env.ticket(&t);
    assert!(
        ticket["flags"].to_string().contains("signature-required"),
        "{ticket}"
    );
    env.ok(&["outbox", "deliver"]);
    let ack = std::fs::read_to_string(&env.sent_files()[0]).unwrap();
    assert!(ack.contains("could not") && ack.contains("verify"), "{ack}");

    let (t, _) = env.ingest_ok(&signed_report(
        &w.outside,
        "alice@bank.example",
        "alice@bank.example",
        "r2",
        "x",
    ));
    assert!(!env.ticket(&t)["flags"]
        .to_string()
        .contains("signature-required"));
    let (t, _) = env.ingest_ok(&mail(
        "erin@other.example",
        "unsigned",
        Some("r3@other.example"),
        "",
        "x",
    ));
    assert!(
        !env.ticket(&t)["flags"]
            .to_string()
            .contains("signature-required"),
        "not a listed sender"
    );
}

#[test]
fn keys_import_then_reverify_records_a_new_verdict_beside_the_old() {
    let w = world("");
    let env = &w.env;
    let (t, _) = env.ingest_ok(&signed_report(
        &w.outside,
        "bob@bank.example",
        "bob@bank.example",
        "k1",
        "x",
    ));
    assert_eq!(verdict(env, &t)["status"], "unknown-key");

    let bob = env.path("bob.asc");
    std::fs::write(&bob, w.outside.export("bob@bank.example")).unwrap();
    let out = env.ok(&["keys", "import", bob.to_str().unwrap()]);
    assert!(out.contains("imported"), "{out}");
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["keys", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(list.to_string().contains("bob@bank.example"));
    assert!(Path::new(&w.keyring).read_dir().unwrap().count() >= 2);

    let out = env.ok(&["reverify", &t]);
    assert!(
        out.contains("signed by a known key") && out.contains("at intake: unknown-key"),
        "{out}"
    );
    let ticket = env.ticket(&t);
    assert_eq!(
        ticket["messages"][0]["signature"]["status"], "unknown-key",
        "the intake verdict stays"
    );
    assert!(ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "reverified"));
}

#[test]
fn always_encrypt_without_a_key_holds_the_mail() {
    let w = world("");
    let env = Env::with_extra(&format!(
        "[pgp]\nkeyring = \"{}\"\nteam_key = \"{}\"\n",
        w.keyring.display(),
        w.env.path("team.asc").display()
    ));
    // Rewrite the ack policy: [ack] must come before [pgp] sub-tables in the file.
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        text.replace("[pgp]", "[ack]\nencrypt = \"always\"\n\n[pgp]"),
    )
    .unwrap();
    let (t, _) = env.ingest_ok(&mail(
        "carol@elsewhere.example",
        "plain",
        Some("h1@elsewhere.example"),
        "",
        "x",
    ));
    let ob = env.outbox();
    assert_eq!(ob[0]["state"], "held");
    env.ok(&["outbox", "deliver"]);
    assert!(env.sent_files().is_empty(), "nothing leaves in plaintext");
    assert!(env.ticket(&t)["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "held"));
    // Alice has a key: hers goes out encrypted.
    env.ingest_ok(&signed_report(
        &w.outside,
        "alice@bank.example",
        "alice@bank.example",
        "h2",
        "x",
    ));
    env.ok(&["outbox", "deliver"]);
    assert_eq!(env.sent_files().len(), 1);
}

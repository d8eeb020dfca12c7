//! Thunderbird's OpenPGP test mails (`$CSIRTD_CORPUS/openpgp/thunderbird`)
//! against the verification engine: one row per mail, with the verdict
//! its name and content call for. Skipped, saying so, when the corpus is
//! not there.

use csirtd::mail::parse::{parse, ParsedMail};
use csirtd::pgp::{Encryption, Engine, KeySource, Keyring, TeamKey, Verdict, Verifier};
use sequoia_openpgp::cert::CertParser;
use sequoia_openpgp::crypto::Password;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::Cert;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use Verdict::*;

/// The team key a row decrypts with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Team {
    Alice,
    Bob,
    /// carol@example.com (passphrase "x", as in Thunderbird's tests).
    Carol,
    /// carol@pgp.icu, a revoked key: decrypting with our own revoked key
    /// must still work.
    CarolIcu,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Enc {
    None,
    Decrypted,
    Failed,
}

struct Row {
    file: &'static str,
    team: Team,
    status: Verdict,
    enc: Enc,
}

const fn row(file: &'static str, team: Team, status: Verdict, enc: Enc) -> Row {
    Row {
        file,
        team,
        status,
        enc,
    }
}

// The keyring holds the public keys of alice@openpgp.example,
// bob@openpgp.example and carol@example.com; nothing else.
//
// Judgement calls, with the reasoning:
// - dual-signed-uncommon-content-type, signed-with-mailman-footer: the
//   OpenPGP signature does not verify over the signed part (gpg --verify
//   says BAD on the extracted part too), so `bad`, which outranks the
//   `partial` the mailman footer would otherwise cause.
// - outer-pgp-sig-inner-pgp-enc*: crafted by pasting a signature over
//   other content; it does not verify: `bad`.
// - outer-smime-bad-sig-inner-pgp-enc-sig: S/MIME is not checked (noted in
//   detail); what the reader sees is the decrypted payload, and Carol's
//   OpenPGP signature inside the encrypted message covers all of it, so
//   `good`. With a mixed wrapper adding unsigned text it is `partial`.
// - signed-mismatch-email-date: the Date header is neither signed nor
//   trusted; the signature is valid and the From matches: `good`.
// - partial-signed-from-carol-*: signed by carol@example.com's key but
//   From carol@openpgp.example; `partial` wins (the inner mismatch is in
//   the detail).
// - inline-signed-latin1/utf8: the signer's key is not in the corpus:
//   `unknown-key`.
// - unob-signed-...: the "unobtrusive signature" draft (a Sig: header) is
//   not supported: `unsigned`.
// - sigspoof-git-commit: a cleartext-signed git commit dressed up as
//   multipart/encrypted; not an encrypted message at all: `error`, and
//   encryption `failed`.
// - enc-to-carol@pgp.icu-revoked: signed by a key nobody has:
//   `unknown-key` once decrypted; without Carol's key: `failed`.
// - fwd-*, forwarded-*, multiple-signatures: signatures inside forwarded
//   message/rfc822 parts do not cover the outer mail: `unsigned`.
// - alice-broken-exchange, bob-enc-html-nbsp: mangled by Exchange; the
//   structure and the armor are repaired as Thunderbird does, and the
//   content is unsigned.
const ROWS: &[Row] = &[
    row(
        "alice-broken-exchange.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row("alice-signed.eml", Team::Alice, Good, Enc::None),
    row("alice-utf.eml", Team::Alice, Good, Enc::None),
    row(
        "bob-enc-html-nbsp.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "bob-enc-inline-nbsp-qp.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "bob-to-alice-signed-damaged-signature.eml",
        Team::Alice,
        Bad,
        Enc::None,
    ),
    row(
        "dual-signed-uncommon-content-type.eml",
        Team::Alice,
        Bad,
        Enc::None,
    ),
    row(
        "enc-to-carol@pgp.icu-revoked.eml",
        Team::Alice,
        Unsigned,
        Enc::Failed,
    ),
    row(
        "enc-to-carol@pgp.icu-revoked.eml",
        Team::CarolIcu,
        UnknownKey,
        Enc::Decrypted,
    ),
    row(
        "encrypted-and-signed-alice-to-bob-nonascii.eml",
        Team::Alice,
        Good,
        Enc::Decrypted,
    ),
    row(
        "encrypted-and-signed-alice-to-bob-nonascii.eml",
        Team::Bob,
        Good,
        Enc::Decrypted,
    ),
    row(
        "encrypted-to-alice-as-hidden-recipient.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "encrypted-to-alice-as-hidden-recipient.eml",
        Team::Bob,
        Unsigned,
        Enc::Failed,
    ),
    row("eve-duplicate.eml", Team::Alice, Unsigned, Enc::None),
    row(
        "forwarded-eml-signed-by-alice.eml",
        Team::Alice,
        Unsigned,
        Enc::None,
    ),
    row("fwd-signed.eml", Team::Alice, Unsigned, Enc::None),
    row(
        "fwd-unsigned-encrypted.eml",
        Team::Alice,
        Unsigned,
        Enc::None,
    ),
    row(
        "inline-signed-latin1.eml",
        Team::Alice,
        UnknownKey,
        Enc::None,
    ),
    row("inline-signed-utf8.eml", Team::Alice, UnknownKey, Enc::None),
    row(
        "inner-smime-sig-in-pgp-encrypted.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row("multiple-signatures.eml", Team::Alice, Unsigned, Enc::None),
    row("openpgp__stripped_sig.eml", Team::Alice, Error, Enc::None),
    row(
        "outer-pgp-sig-inner-pgp-enc-sig.eml",
        Team::Alice,
        Bad,
        Enc::Decrypted,
    ),
    row(
        "outer-pgp-sig-inner-pgp-enc-with-mixed.eml",
        Team::Alice,
        Bad,
        Enc::Decrypted,
    ),
    row(
        "outer-pgp-sig-inner-pgp-enc.eml",
        Team::Alice,
        Bad,
        Enc::Decrypted,
    ),
    row(
        "outer-smime-bad-sig-inner-pgp-enc-sig-with-mixed.eml",
        Team::Alice,
        Partial,
        Enc::Decrypted,
    ),
    row(
        "outer-smime-bad-sig-inner-pgp-enc-sig.eml",
        Team::Alice,
        Good,
        Enc::Decrypted,
    ),
    row(
        "outer-smime-bad-sig-inner-pgp-enc.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "partial-encrypt-for-alice-html.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "partial-encrypt-for-alice-plaintext.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "partial-encrypt-for-carol-html.eml",
        Team::Alice,
        Unsigned,
        Enc::Failed,
    ),
    row(
        "partial-encrypt-for-carol-html.eml",
        Team::Carol,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "partial-encrypt-for-carol-plaintext.eml",
        Team::Alice,
        Unsigned,
        Enc::Failed,
    ),
    row(
        "partial-encrypt-for-carol-plaintext.eml",
        Team::Carol,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "partial-signed-from-bob-html.eml",
        Team::Alice,
        Partial,
        Enc::None,
    ),
    row(
        "partial-signed-from-bob-plaintext.eml",
        Team::Alice,
        Partial,
        Enc::None,
    ),
    row(
        "partial-signed-from-carol-html.eml",
        Team::Alice,
        Partial,
        Enc::None,
    ),
    row(
        "partial-signed-from-carol-plaintext.eml",
        Team::Alice,
        Partial,
        Enc::None,
    ),
    row(
        "signed-by-0x3099ff1238852b9f-encrypted-to-0xf231550c4f47e38e-with-key.eml",
        Team::Alice,
        Good,
        Enc::Decrypted,
    ),
    row(
        "signed-by-0x3099ff1238852b9f-encrypted-to-0xf231550c4f47e38e.eml",
        Team::Alice,
        Good,
        Enc::Decrypted,
    ),
    // Carol encrypts to herself as well.
    row(
        "signed-by-0x3099ff1238852b9f-encrypted-to-0xf231550c4f47e38e.eml",
        Team::Carol,
        Good,
        Enc::Decrypted,
    ),
    row(
        "signed-by-0x3099ff1238852b9f-to-0xf231550c4f47e38e-unencrypted-with-key.eml",
        Team::Alice,
        Good,
        Enc::None,
    ),
    row(
        "signed-by-0x3099ff1238852b9f-to-0xf231550c4f47e38e-unencrypted.eml",
        Team::Alice,
        Good,
        Enc::None,
    ),
    row(
        "signed-by-0xfbfcc82a015e7330-encrypted-to-0xf231550c4f47e38e-multi-from.eml",
        Team::Alice,
        SignerMismatch,
        Enc::Decrypted,
    ),
    row(
        "signed-by-0xfbfcc82a015e7330-encrypted-to-0xf231550c4f47e38e-with-key.eml",
        Team::Alice,
        Good,
        Enc::Decrypted,
    ),
    row(
        "signed-by-0xfbfcc82a015e7330-encrypted-to-0xf231550c4f47e38e.eml",
        Team::Alice,
        Good,
        Enc::Decrypted,
    ),
    row(
        "signed-by-0xfbfcc82a015e7330-encrypted-to-0xf231550c4f47e38e.eml",
        Team::Carol,
        Unsigned,
        Enc::Failed,
    ),
    row(
        "signed-by-0xfbfcc82a015e7330-to-0xf231550c4f47e38e-unencrypted-in-mixed.eml",
        Team::Alice,
        Partial,
        Enc::None,
    ),
    row(
        "signed-by-0xfbfcc82a015e7330-to-0xf231550c4f47e38e-unencrypted-with-key.eml",
        Team::Alice,
        Good,
        Enc::None,
    ),
    row(
        "signed-by-0xfbfcc82a015e7330-to-0xf231550c4f47e38e-unencrypted.eml",
        Team::Alice,
        Good,
        Enc::None,
    ),
    row(
        "signed-encrypted-autocrypt-gossip.eml",
        Team::Alice,
        Good,
        Enc::Decrypted,
    ),
    row("signed-inline-indented.eml", Team::Alice, Good, Enc::None),
    row(
        "signed-mismatch-email-date.eml",
        Team::Alice,
        Good,
        Enc::None,
    ),
    row(
        "signed-with-mailman-footer.eml",
        Team::Alice,
        Bad,
        Enc::None,
    ),
    row("sigspoof-git-commit.eml", Team::Alice, Error, Enc::Failed),
    row(
        "unob-signed-by-0x3099ff1238852b9f-to-0xf231550c4f47e38e.eml",
        Team::Alice,
        Unsigned,
        Enc::None,
    ),
    row(
        "unrelated-and-fake-keys-attached.eml",
        Team::Alice,
        Unsigned,
        Enc::None,
    ),
    row(
        "unsigned-encrypted-to-0xf231550c4f47e38e-from-0x3099ff1238852b9f-with-key.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "unsigned-encrypted-to-0xf231550c4f47e38e-from-0x3099ff1238852b9f.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "unsigned-encrypted-to-0xf231550c4f47e38e-from-0xfbfcc82a015e7330-with-key.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "unsigned-encrypted-to-0xf231550c4f47e38e-from-0xfbfcc82a015e7330.eml",
        Team::Alice,
        Unsigned,
        Enc::Decrypted,
    ),
    row(
        "unsigned-unencrypted-0x3099ff1238852b9f-autocrypt.eml",
        Team::Alice,
        Unsigned,
        Enc::None,
    ),
    row(
        "unsigned-unencrypted-from-bob-to-alice.eml",
        Team::Alice,
        Unsigned,
        Enc::None,
    ),
    row(
        "unsigned-unencrypted-key-0x1f10171bfb881b1c-attached.eml",
        Team::Alice,
        Unsigned,
        Enc::None,
    ),
];

const ALICE: &str = "EB85BB5FA33A75E15E944E63F231550C4F47E38E";
const BOB: &str = "D1A66E1A23B182C9980F788CFBFCC82A015E7330";
const CAROL: &str = "B8F2F6F4BD3AD3F82DC446833099FF1238852B9F";

fn corpus() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("CSIRTD_CORPUS") else {
        eprintln!("CSIRTD_CORPUS is not set: skipping the OpenPGP corpus tests");
        return None;
    };
    let tb = PathBuf::from(dir).join("openpgp/thunderbird");
    if !tb.join("eml").is_dir() {
        eprintln!(
            "{} is missing: skipping the OpenPGP corpus tests",
            tb.display()
        );
        return None;
    }
    Some(tb)
}

fn certs(path: &Path) -> Vec<Cert> {
    CertParser::from_file(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn keyring(tb: &Path) -> Keyring {
    let keys = tb.join("keys");
    Keyring::from_certs(
        [
            "alice@openpgp.example-0xf231550c4f47e38e-pub.asc",
            "bob@openpgp.example-0xfbfcc82a015e7330-pub.asc",
            "carol@example.com-0x3099ff1238852b9f-pub.asc",
        ]
        .iter()
        .flat_map(|f| certs(&keys.join(f))),
    )
}

fn team(tb: &Path, which: Team) -> TeamKey {
    let (file, pw) = match which {
        Team::Alice => ("alice@openpgp.example-0xf231550c4f47e38e-secret.asc", None),
        Team::Bob => ("bob@openpgp.example-0xfbfcc82a015e7330-secret.asc", None),
        Team::Carol => ("carol@example.com-0x3099ff1238852b9f-secret.asc", Some("x")),
        Team::CarolIcu => ("carol@pgp.icu-0xEF2FD01608AFD744-revoked-secret.asc", None),
    };
    let path = tb.join("keys").join(file);
    let pw = pw.map(Password::from);
    TeamKey::from_certs(&path, certs(&path), pw.as_ref())
        .unwrap_or_else(|e| panic!("team key {file}: {e}"))
}

fn parsed(raw: &[u8]) -> ParsedMail {
    parse(raw, &Default::default())
}

fn enc_of(e: &Encryption) -> Enc {
    match e {
        Encryption::None => Enc::None,
        Encryption::Decrypted => Enc::Decrypted,
        Encryption::Failed { .. } => Enc::Failed,
    }
}

/// Names that must never come out `good`, whatever the keys.
fn never_good(name: &str) -> bool {
    [
        "damaged",
        "stripped",
        "partial",
        "in-mixed",
        "with-mixed",
        "sigspoof",
        "fwd",
        "forwarded",
        "mailman",
        "multi-from",
        "unob",
        "outer-pgp-sig",
        "unsigned",
        "multiple-signatures",
        "fake-keys",
        "duplicate",
    ]
    .iter()
    .any(|w| name.contains(w))
}

#[test]
fn every_corpus_mail_gets_the_verdict_its_name_calls_for() {
    let Some(tb) = corpus() else { return };
    let ring = keyring(&tb);
    let engines: Vec<(Team, Engine)> = [Team::Alice, Team::Bob, Team::Carol, Team::CarolIcu]
        .into_iter()
        .map(|t| (t, Engine::new(ring.clone(), Some(team(&tb, t)))))
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(tb.join("eml"))
        .expect("eml dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    let in_table: BTreeSet<String> = ROWS.iter().map(|r| r.file.to_string()).collect();
    let mut failures = Vec::new();
    for missing in on_disk.difference(&in_table) {
        failures.push(format!("{missing}: in the corpus but not in the table"));
    }
    for extra in in_table.difference(&on_disk) {
        failures.push(format!("{extra}: in the table but not in the corpus"));
    }
    for r in ROWS.iter().filter(|r| on_disk.contains(r.file)) {
        let raw = std::fs::read(tb.join("eml").join(r.file)).expect("read eml");
        let engine = &engines
            .iter()
            .find(|(t, _)| *t == r.team)
            .expect("engine")
            .1;
        let v = engine.verify(&raw, &parsed(&raw));
        let enc = enc_of(&v.encryption);
        if v.status != r.status || enc != r.enc {
            failures.push(format!(
                "{} (team key {:?}): expected {} / {:?}, got {} / {:?}: {}",
                r.file, r.team, r.status, r.enc, v.status, v.encryption, v.detail
            ));
        }
        if v.status == Good && never_good(r.file) {
            failures.push(format!("{}: must never be good", r.file));
        }
        if v.status == Good && v.signer_fingerprint.is_none() {
            failures.push(format!("{}: good without a signer", r.file));
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn without_keys_nothing_is_good() {
    let Some(tb) = corpus() else { return };
    let engine = Engine::new(Keyring::empty(), Some(team(&tb, Team::Alice)));
    let mut failures = Vec::new();
    for r in ROWS {
        let raw = std::fs::read(tb.join("eml").join(r.file)).expect("read eml");
        let v = engine.verify(&raw, &parsed(&raw));
        if matches!(v.status, Good | SignerMismatch | ExpiredKey | RevokedKey) {
            failures.push(format!("{}: {} with an empty keyring", r.file, v.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn attached_and_autocrypt_keys_are_reported_but_never_trusted() {
    let Some(tb) = corpus() else { return };
    let keys = tb.join("keys");
    // Bob's key is not in this keyring, but his mail carries it twice
    // (Autocrypt header and attachment).
    let ring = Keyring::from_certs(certs(
        &keys.join("alice@openpgp.example-0xf231550c4f47e38e-pub.asc"),
    ));
    let engine = Engine::new(ring, Some(team(&tb, Team::Alice)));
    let file = "signed-by-0xfbfcc82a015e7330-to-0xf231550c4f47e38e-unencrypted-with-key.eml";
    let raw = std::fs::read(tb.join("eml").join(file)).expect("read");
    let v = engine.verify(&raw, &parsed(&raw));
    assert_eq!(v.status, UnknownKey, "{}", v.detail);
    let sources: BTreeSet<(String, KeySource)> = v
        .found_keys
        .iter()
        .map(|k| (k.fingerprint.clone(), k.source))
        .collect();
    assert!(
        sources.contains(&(BOB.to_string(), KeySource::Autocrypt)),
        "{:?}",
        v.found_keys
    );
    assert!(
        sources.contains(&(BOB.to_string(), KeySource::Attachment)),
        "{:?}",
        v.found_keys
    );
    assert!(engine.keyring().get(BOB).is_none());

    let raw = std::fs::read(tb.join("eml/signed-encrypted-autocrypt-gossip.eml")).expect("read");
    let v = Engine::new(keyring(&tb), Some(team(&tb, Team::Alice))).verify(&raw, &parsed(&raw));
    let gossip: BTreeSet<&str> = v
        .found_keys
        .iter()
        .filter(|k| k.source == KeySource::AutocryptGossip)
        .map(|k| k.fingerprint.as_str())
        .collect();
    assert_eq!(gossip, BTreeSet::from([ALICE, CAROL]));
}

#[test]
fn protected_subject_comes_from_the_payload() {
    let Some(tb) = corpus() else { return };
    let engine = Engine::new(keyring(&tb), Some(team(&tb, Team::Alice)));
    for (file, subject) in [
        (
            "signed-by-0xfbfcc82a015e7330-encrypted-to-0xf231550c4f47e38e.eml",
            "Signed Encrypted",
        ),
        (
            "encrypted-and-signed-alice-to-bob-nonascii.eml",
            "Re: kod blå",
        ),
    ] {
        let raw = std::fs::read(tb.join("eml").join(file)).expect("read");
        let p = parsed(&raw);
        assert_eq!(p.subject.as_deref(), Some("..."), "{file}: outer subject");
        let ex = engine.examine(&raw, &(&p).into());
        assert_eq!(
            ex.verification.inner_subject.as_deref(),
            Some(subject),
            "{file}"
        );
        assert!(ex.plaintext.is_some(), "{file}: decrypted payload");
    }
}

#[test]
fn the_corpus_key_directory_loads_with_warnings_not_failures() {
    let Some(tb) = corpus() else { return };
    let ring = Keyring::load(&tb.join("keys")).expect("load keys dir");
    for fpr in [ALICE, BOB, CAROL] {
        assert!(ring.get(fpr).is_some(), "{fpr} loaded");
    }
    // Secret keys in the directory are kept as public certificates only.
    assert!(ring.certs().all(|c| !c.is_tsk()));
    let list = ring.list();
    assert_eq!(list.len(), ring.len());
    let eddie = list
        .iter()
        .find(|k| {
            k.user_ids
                .iter()
                .any(|u| u.contains("eddie@openpgp.example"))
        })
        .expect("eddie listed");
    assert!(eddie.expired && eddie.expires.is_some(), "{eddie:?}");
    let carol_icu = list
        .iter()
        .find(|k| k.fingerprint == "AD2FA42B12943598D9EFBE2FEF2FD01608AFD744")
        .expect("carol@pgp.icu listed");
    assert!(carol_icu.revoked, "{carol_icu:?}");
}

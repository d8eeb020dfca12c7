//! Engine tests with keys made by Sequoia itself: bounds, hostile input,
//! key validity over time, and the team key. The GnuPG interop and the
//! spoofing cases are in `tests/pgp_interop.rs`.

use super::*;
use openpgp::cert::prelude::*;
use openpgp::crypto::Password;
use sequoia_openpgp as openpgp;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn team(uid: &str, validity: Option<Duration>, created: SystemTime) -> (Cert, TeamKey) {
    let (cert, _) = CertBuilder::new()
        .set_cipher_suite(CipherSuite::Cv25519)
        .add_userid(uid)
        .add_signing_subkey()
        .add_transport_encryption_subkey()
        .set_creation_time(created)
        .set_validity_period(validity)
        .generate()
        .expect("generate");
    let tk = TeamKey::from_certs(Path::new("mem"), vec![cert.clone()], None).expect("team");
    (cert.strip_secret_key_material(), tk)
}

fn from(addr: &str) -> FromFacts {
    FromFacts {
        addresses: vec![addr.to_string()],
        header_count: 1,
        sender: None,
    }
}

const MAIL: &[u8] = b"From: CERT <cert@team.example>\r\nTo: a@b.example\r\nSubject: hi\r\nMessage-ID: <1@team.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHello=20there.\r\n";

fn signed() -> (Cert, TeamKey, Vec<u8>) {
    let (cert, tk) = team(
        "CERT <cert@team.example>",
        None,
        SystemTime::now() - Duration::from_secs(3600),
    );
    let raw = sign::sign_message(MAIL, &tk).expect("sign");
    (cert, tk, raw)
}

#[test]
fn own_signature_round_trip() {
    let (cert, tk, raw) = signed();
    let engine = Engine::new(Keyring::from_certs([cert.clone()]), Some(tk));
    let v = engine.verify_raw(&raw, &from("cert@team.example"));
    assert_eq!(v.status, Verdict::Good, "{}", v.detail);
    assert_eq!(v.signer_fingerprint, Some(cert.fingerprint().to_hex()));
    assert_eq!(v.signer_uids, vec!["CERT <cert@team.example>".to_string()]);
    // The From check is case-insensitive.
    assert_eq!(
        engine.verify_raw(&raw, &from("CERT@Team.Example")).status,
        Verdict::Good
    );
    assert_eq!(
        engine.verify_raw(&raw, &from("x@team.example")).status,
        Verdict::SignerMismatch
    );
    let none = FromFacts::default();
    assert_eq!(
        engine.verify_raw(&raw, &none).status,
        Verdict::SignerMismatch
    );
    // Unknown without the certificate.
    let v = Engine::new(Keyring::empty(), None).verify_raw(&raw, &from("cert@team.example"));
    assert_eq!(v.status, Verdict::UnknownKey);
    // JSON shape.
    let json = serde_json::to_value(engine.verify_raw(&raw, &from("cert@team.example"))).unwrap();
    assert_eq!(json["status"], "good");
    assert_eq!(json["encryption"], "none");
    let failed = serde_json::to_value(Encryption::Failed { reason: "r".into() }).unwrap();
    assert_eq!(failed["failed"]["reason"], "r");
}

/// The detached signature is made without Sequoia's `pre_sign` (for
/// speed): it must still carry what that adds, and be salted afresh.
#[test]
fn own_signatures_are_salted_issued_and_bind_the_content() {
    use openpgp::parse::Parse;
    let (cert, tk, raw) = signed();
    let sig_of = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw).into_owned();
        let start = text.find("-----BEGIN PGP SIGNATURE-----").expect("armor");
        let end = text.find("-----END PGP SIGNATURE-----").expect("armor end");
        let armored = &text[start..end + "-----END PGP SIGNATURE-----".len()];
        openpgp::Packet::from_bytes(armored.as_bytes()).expect("one packet")
    };
    let openpgp::Packet::Signature(sig) = sig_of(&raw) else {
        panic!("not a signature packet");
    };
    assert_eq!(sig.version(), 4);
    assert_eq!(sig.typ(), openpgp::types::SignatureType::Binary);
    assert!(sig.signature_creation_time().is_some());
    let signing = cert
        .keys()
        .subkeys()
        .next()
        .expect("signing subkey")
        .key()
        .fingerprint();
    assert_eq!(sig.issuer_fingerprints().next(), Some(&signing));
    let salts: Vec<Vec<u8>> = sig
        .notation("salt@notations.sequoia-pgp.org")
        .map(|v| v.to_vec())
        .collect();
    assert_eq!(salts.len(), 1);
    assert_eq!(salts[0].len(), 32);
    let again = sign::sign_message(MAIL, &tk).expect("sign");
    let openpgp::Packet::Signature(sig2) = sig_of(&again) else {
        panic!("not a signature packet");
    };
    assert_ne!(sig.mpis(), sig2.mpis(), "same salt twice");

    // One changed byte in the signed part breaks it.
    let engine = Engine::new(Keyring::from_certs([cert]), Some(tk));
    let text = String::from_utf8(raw).unwrap();
    let tampered = text.replacen("Hello=20there.", "Hello=20thera.", 1);
    assert_ne!(tampered, text);
    let v = engine.verify_raw(tampered.as_bytes(), &from("cert@team.example"));
    assert_eq!(v.status, Verdict::Bad, "{}", v.detail);
}

#[test]
fn expired_is_judged_now_not_only_at_signing_time() {
    let created = SystemTime::now() - Duration::from_secs(10 * 86400);
    let (cert, tk) = team(
        "CERT <cert@team.example>",
        Some(Duration::from_secs(5 * 86400)),
        created,
    );
    // Signed while the key was alive...
    let raw = sign::sign_message_at(MAIL, &tk, created + Duration::from_secs(86400)).expect("sign");
    let ring = Keyring::from_certs([cert]);
    let then = Engine::new(ring.clone(), None).at_time(created + Duration::from_secs(2 * 86400));
    assert_eq!(
        then.verify_raw(&raw, &from("cert@team.example")).status,
        Verdict::Good
    );
    // ...but it has expired since.
    let now = Engine::new(ring, None);
    let v = now.verify_raw(&raw, &from("cert@team.example"));
    assert_eq!(v.status, Verdict::ExpiredKey, "{}", v.detail);
    // And an expired team key refuses to sign.
    assert!(matches!(
        sign::sign_message(MAIL, &tk),
        Err(PgpError::NoSigningKey(_))
    ));
}

#[test]
fn too_many_signatures_are_not_checked() {
    let (cert, _tk, raw) = signed();
    let text = String::from_utf8(raw).unwrap();
    let start = text.find("-----BEGIN PGP SIGNATURE-----").unwrap();
    let end = text.find("-----END PGP SIGNATURE-----").unwrap() + 27;
    let armored = &text[start..end];
    let mut reader = openpgp::armor::Reader::from_bytes(armored.as_bytes(), None);
    let mut packet = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut packet).unwrap();
    let many = packet.repeat(40);
    let mut w = openpgp::armor::Writer::new(Vec::new(), openpgp::armor::Kind::Signature).unwrap();
    std::io::Write::write_all(&mut w, &many).unwrap();
    let many_armored = String::from_utf8(w.finalize().unwrap()).unwrap();
    let raw = text.replace(armored, &many_armored);
    let engine = Engine::new(Keyring::from_certs([cert]), None);
    let v = engine.verify_raw(raw.as_bytes(), &from("cert@team.example"));
    assert_eq!(v.status, Verdict::Error, "{}", v.detail);
    assert!(v.detail.contains("more than 16"), "{}", v.detail);
}

#[test]
fn hostile_structure_never_panics_and_is_never_good() {
    let (cert, tk, raw) = signed();
    let engine = Engine::new(Keyring::from_certs([cert]), Some(tk));
    let f = from("cert@team.example");

    // Every truncation of a good message: only losing what follows the
    // signature's data (CRC, END line, close delimiter: nothing a reader
    // sees) may stay good.
    let text = String::from_utf8_lossy(&raw).into_owned();
    let sig_end = text[..text.find("-----END PGP SIGNATURE-----").unwrap()]
        .rfind("\r\n=")
        .unwrap();
    for cut in (0..raw.len()).step_by(7) {
        let v = engine.verify_raw(&raw[..cut], &f);
        if cut < sig_end {
            assert_ne!(v.status, Verdict::Good, "truncated at {cut}");
        }
    }
    // Every single-byte corruption of the signed part and of the signature.
    for i in (0..raw.len()).step_by(13) {
        let mut m = raw.clone();
        m[i] ^= 0x20;
        let _ = engine.verify_raw(&m, &f);
    }

    // Deep nesting: bounded, not recursed to the bottom.
    let mut deep = String::from(
        "From: cert@team.example\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n",
    );
    for i in 1..2000 {
        deep.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n",
            i - 1
        ));
    }
    let v = engine.verify_raw(deep.as_bytes(), &f);
    assert_eq!(v.status, Verdict::Unsigned);
    assert!(v.detail.contains("too deep"), "{}", v.detail);

    // Many signed parts: bounded number of checks, and partial at best.
    let (_, inner) = String::from_utf8(raw.clone())
        .unwrap()
        .split_once("MIME-Version: 1.0\r\n")
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    let mut many = String::from(
        "From: cert@team.example\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n",
    );
    for _ in 0..30 {
        many.push_str(&format!("--m\r\n{inner}\r\n"));
    }
    many.push_str("--m--\r\n");
    let v = engine.verify_raw(many.as_bytes(), &f);
    assert_eq!(v.status, Verdict::Partial, "{}", v.detail);
    assert!(v.detail.contains("not checked"), "{}", v.detail);

    // Junk.
    for junk in [&b""[..], b"\r\n\r\n", b"-----BEGIN PGP MESSAGE-----", b"Content-Type: multipart/signed; boundary=\"\"\r\n\r\n--\r\n", b"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=x\r\n\r\n--x\r\n\r\n--x\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nAAAA\r\n-----END PGP MESSAGE-----\r\n--x--"] {
        let v = engine.verify_raw(junk, &f);
        assert_ne!(v.status, Verdict::Good);
    }

    // Size limit.
    let small = Engine::new(Keyring::empty(), None).with_limits(Limits {
        max_message_size: 100,
        ..Limits::default()
    });
    let v = small.verify_raw(&raw, &f);
    assert_eq!(v.status, Verdict::Unsigned);
    assert!(v.detail.contains("not examined"));
}

#[test]
fn decryption_output_is_bounded() {
    let (cert, tk) = team(
        "CERT <cert@team.example>",
        None,
        SystemTime::now() - Duration::from_secs(60),
    );
    let body = "A".repeat(200_000);
    let mail = format!(
        "From: cert@team.example\r\nTo: x@y.example\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
    );
    let enc =
        sign::encrypt_message(mail.as_bytes(), &tk, std::slice::from_ref(&cert)).expect("encrypt");
    let engine = Engine::new(Keyring::from_certs([cert]), Some(tk)).with_limits(Limits {
        max_plaintext: 10_000,
        ..Limits::default()
    });
    let v = engine.verify_raw(&enc, &from("cert@team.example"));
    assert!(
        matches!(&v.encryption, Encryption::Failed { reason } if reason.contains("10000")),
        "{:?}",
        v.encryption
    );
    assert_ne!(v.status, Verdict::Good);
}

#[test]
fn team_key_passphrases_and_permissions() {
    let (cert, _) = CertBuilder::general_purpose(Some("CERT <cert@team.example>"))
        .set_password(Some(Password::from("s3cret")))
        .generate()
        .expect("generate");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("team.asc");
    let armored = openpgp::serialize::SerializeInto::to_vec(&cert.as_tsk().armored()).unwrap();
    std::fs::write(&key, armored).unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "s3cret\r\n").unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "nope\n").unwrap();

    let tk = TeamKey::load(&key, Some(&pass)).expect("unlocks");
    assert_eq!(tk.fingerprint(), cert.fingerprint().to_hex());
    assert!(tk.public_certs().iter().all(|c| !c.is_tsk()));
    assert!(matches!(
        TeamKey::load(&key, None),
        Err(PgpError::PassphraseNeeded { .. })
    ));
    assert!(matches!(
        TeamKey::load(&key, Some(&wrong)),
        Err(PgpError::WrongPassphrase { .. })
    ));
    let public = dir.path().join("public.asc");
    std::fs::write(
        &public,
        openpgp::serialize::SerializeInto::to_vec(&cert.armored()).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        TeamKey::load(&public, None),
        Err(PgpError::NoSecretKey { .. })
    ));
    assert!(matches!(
        TeamKey::load(&dir.path().join("missing"), None),
        Err(PgpError::Io { .. })
    ));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(check_private(&key), Ok(()));
        for mode in [0o640, 0o604, 0o644] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let why = check_private(&key).unwrap_err();
            assert!(
                why.contains(&format!("chmod 600 {}", key.display())),
                "{why}"
            );
            assert!(why.contains(&format!("{mode:04o}")), "{why}");
        }
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(check_private(&key), Ok(()));
        assert!(check_private(&dir.path().join("missing"))
            .unwrap_err()
            .contains("does not exist"));
    }
}

#[test]
fn sign_keeps_outer_headers_and_folding() {
    let (_, tk, raw) = signed();
    let text = String::from_utf8(raw).unwrap();
    let (outer, _) = text.split_once("\r\n\r\n").unwrap();
    assert!(outer.contains("Subject: hi\r\n"));
    assert!(outer.contains("MIME-Version: 1.0\r\n"));
    assert!(
        !outer.contains("quoted-printable"),
        "content headers move inside"
    );
    let folded = b"From: a@b.example\r\nReferences: <1@x>\r\n <2@x>\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n\r\nbody\n";
    let out = String::from_utf8(sign::sign_message(folded, &tk).unwrap()).unwrap();
    assert!(
        out.contains("References: <1@x>\r\n <2@x>\r\nMIME-Version: 1.0\r\n"),
        "{out}"
    );
    assert!(
        out.contains("\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n\r\nbody\r\n"),
        "{out}"
    );
    assert!(matches!(
        sign::sign_message(b"\r\nno headers", &tk),
        Err(PgpError::BadMessage(_))
    ));
}

#[test]
fn a_configured_fingerprint_is_encrypted_to_whatever_its_user_ids_say() {
    use crate::pgp::crypto::{Crypto, Sealed};
    let (_, tk) = team(
        "CERT <cert@team.example>",
        None,
        SystemTime::now() - Duration::from_secs(60),
    );
    // The constituent's key names another address than the contact.
    let (noc, _) = team(
        "NOC <keys@west.example>",
        None,
        SystemTime::now() - Duration::from_secs(60),
    );
    let fpr = noc.fingerprint().to_hex();
    let crypto = Crypto::with_engine(Engine::new(Keyring::from_certs([noc]), Some(tk)));
    match crypto
        .seal_to_fingerprint(MAIL.to_vec(), "noc@west.example", &fpr)
        .expect("seal")
    {
        Sealed::Encrypted(b) => {
            let text = String::from_utf8_lossy(&b);
            assert!(text.contains("multipart/encrypted"), "{text}");
            assert!(!text.contains("Hello"), "plaintext leaked: {text}");
        }
        other => panic!("expected encrypted, got {other:?}"),
    }
    let other = "0123456789ABCDEF0123456789ABCDEF01234567";
    match crypto
        .seal_to_fingerprint(MAIL.to_vec(), "noc@west.example", other)
        .expect("seal")
    {
        Sealed::Held { reason, .. } => assert!(reason.contains("no certificate"), "{reason}"),
        other => panic!("expected held, got {other:?}"),
    }
    // By address alone this key would not have been found.
    match crypto
        .seal(
            MAIL.to_vec(),
            "noc@west.example",
            crate::config::EncryptPolicy::IfKey,
        )
        .expect("seal")
    {
        Sealed::Signed(_) => {}
        other => panic!("expected signed only, got {other:?}"),
    }
}

#[test]
fn a_signed_message_gives_back_what_was_signed() {
    let (_, tk, raw) = signed();
    let back = sign::signed_content(&raw).expect("multipart/signed");
    let text = String::from_utf8(back.clone()).unwrap();
    assert!(!text.contains("multipart/signed"), "{text}");
    assert!(!text.contains("BEGIN PGP SIGNATURE"), "{text}");
    for part in [
        "Subject: hi\r\n",
        "Message-ID: <1@team.example>\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nHello=20there.\r\n",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    // Signing it again splits it as the original was split: what comes
    // back the second time is the same message.
    let again = sign::sign_message(&back, &tk).expect("sign again");
    assert_eq!(sign::signed_content(&again).as_deref(), Some(&back[..]));
    assert_eq!(sign::signed_content(MAIL), None, "not signed");
    let encrypted = sign::encrypt_message(MAIL, &tk, &[]).expect("encrypt");
    assert_eq!(
        sign::signed_content(&encrypted),
        None,
        "not multipart/signed"
    );
}

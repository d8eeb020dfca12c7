//! Interoperability with the real GnuPG, and the spoofing cases.
//!
//! Keys are made by `gpg` in a temporary GNUPGHOME (Ed25519, RSA-3072, an
//! expired and a revoked key, a stranger the keyring does not know, and the
//! team key with a passphrase). gpg signs and encrypts PGP/MIME and inline
//! mails that the engine must judge right; gpg must accept what csirtd
//! signs and open what it encrypts.

use csirtd::mail::compose::{render, Outgoing};
use csirtd::mail::parse::parse;
use csirtd::pgp::{
    encrypt_message, sign_message, Encryption, Engine, FromFacts, Keyring, TeamKey, Verdict,
    Verification,
};
use sequoia_openpgp::cert::CertParser;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::Cert;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const TEAM_PASS: &str = "correct horse battery staple";

struct Gpg {
    _dir: tempfile::TempDir,
    home: PathBuf,
    work: PathBuf,
}

impl Gpg {
    fn new() -> Gpg {
        let dir = tempfile::Builder::new()
            .prefix("csirtd-gpg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let home = dir.path().join("h");
        let work = dir.path().join("w");
        std::fs::create_dir(&home).expect("home");
        std::fs::create_dir(&work).expect("work");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        Gpg {
            _dir: dir,
            home,
            work,
        }
    }

    /// Runs gpg; panics with its stderr when it fails.
    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
        let (ok, out, err) = self.try_run(args, stdin);
        assert!(
            ok,
            "gpg {args:?} failed:\n{}",
            String::from_utf8_lossy(&err)
        );
        out
    }

    fn try_run(&self, args: &[&str], stdin: Option<&[u8]>) -> (bool, Vec<u8>, Vec<u8>) {
        use std::io::Write;
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", &self.home)
            .args([
                "--batch",
                "--yes",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .expect("gpg must be installed (scripts/prereqs.sh installs gnupg)");
        let mut input = child.stdin.take().expect("stdin");
        let data = stdin.unwrap_or_default().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().expect("gpg output");
        let _ = writer.join();
        (out.status.success(), out.stdout, out.stderr)
    }

    fn gen(&self, uid: &str, algo: &str, usage: &str, expire: &str, extra: &[&str]) -> String {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend([
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            algo,
            usage,
            expire,
        ]);
        self.run(&args, None);
        self.fingerprint(uid)
    }

    fn fingerprint(&self, uid: &str) -> String {
        let out = self.run(&["--with-colons", "--list-keys", uid], None);
        String::from_utf8_lossy(&out)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint")
            .to_string()
    }

    fn add_encryption_subkey(&self, fpr: &str, algo: &str) {
        self.run(
            &[
                "--passphrase",
                "",
                "--quick-add-key",
                fpr,
                algo,
                "encr",
                "never",
            ],
            None,
        );
    }

    fn export(&self, fpr: &str) -> Vec<Cert> {
        let out = self.run(&["--export", fpr], None);
        CertParser::from_bytes(&out)
            .expect("parse export")
            .collect::<Result<Vec<_>, _>>()
            .expect("certs")
    }

    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.work.join(name);
        std::fs::write(&p, data).expect("write");
        p
    }

    fn detach_sign(&self, signer: &str, data: &[u8], extra: &[&str]) -> String {
        let mut args = extra.to_vec();
        args.extend([
            "--passphrase",
            "",
            "-u",
            signer,
            "--armor",
            "--detach-sign",
            "-o",
            "-",
        ]);
        String::from_utf8(self.run(&args, Some(data))).expect("armor")
    }
}

/// The shared world lives in a static, which is never dropped: the agent
/// gpg started and the temporary directory are cleaned up at exit.
static CLEANUP: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn cleanup() {
    if let Some(dir) = CLEANUP.get() {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", dir.join("h"))
            .args(["--kill", "gpg-agent"])
            .status();
        let _ = std::fs::remove_dir_all(dir);
    }
}

struct World {
    gpg: Gpg,
    ed: String,
    rsa: String,
    expired: String,
    revoked: String,
    stranger: String,
    team: String,
    /// Signed by the revoked key before it was revoked.
    revoked_mail: Vec<u8>,
    /// Signed by the expired key while it was still valid.
    expired_mail: Vec<u8>,
    engine: Engine,
    team_key: TeamKey,
}

const ED: &str = "Ed Reporter <ed@reporter.example>";
const RSA: &str = "Rsa Reporter <rsa@bank.example>";
const OLD: &str = "Old Reporter <old@reporter.example>";
const REV: &str = "Rev Reporter <rev@reporter.example>";
const STRANGER: &str = "Stranger <stranger@elsewhere.example>";
const TEAM: &str = "CSIRT Team <cert@team.example>";

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let gpg = Gpg::new();
        if CLEANUP.set(gpg._dir.path().to_path_buf()).is_ok() {
            // SAFETY: registers a plain function to run at process exit.
            unsafe {
                libc::atexit(cleanup);
            }
        }
        let ed = gpg.gen(ED, "ed25519", "sign,cert", "never", &[]);
        gpg.add_encryption_subkey(&ed, "cv25519");
        let rsa = gpg.gen(RSA, "rsa3072", "sign,cert", "never", &[]);
        gpg.add_encryption_subkey(&rsa, "rsa3072");
        let faked = ["--faked-system-time", "20200101T000000!"];
        let expired = gpg.gen(OLD, "ed25519", "sign,cert", "1d", &faked);
        let stranger = gpg.gen(STRANGER, "ed25519", "sign,cert", "never", &[]);
        let revoked = gpg.gen(REV, "ed25519", "sign,cert", "never", &[]);
        // The team key is protected, as a real one should be.
        gpg.run(
            &[
                "--passphrase",
                TEAM_PASS,
                "--quick-gen-key",
                TEAM,
                "ed25519",
                "sign,cert",
                "never",
            ],
            None,
        );
        let team = gpg.fingerprint(TEAM);
        gpg.run(
            &[
                "--passphrase",
                TEAM_PASS,
                "--quick-add-key",
                &team,
                "cv25519",
                "encr",
                "never",
            ],
            None,
        );

        let expired_mail = pgp_mime_signed(
            &gpg,
            &expired,
            "old@reporter.example",
            INNER,
            &["--faked-system-time", "20200101T120000!"],
        );
        let revoked_mail = pgp_mime_signed(&gpg, &revoked, "rev@reporter.example", INNER, &[]);
        // gpg wrote a revocation certificate when it made the key; the
        // leading colon only guards against importing it by accident.
        let rev_path = gpg
            .home
            .join("openpgp-revocs.d")
            .join(format!("{revoked}.rev"));
        let rev = std::fs::read_to_string(&rev_path).expect("revocation certificate");
        gpg.run(
            &["--import"],
            Some(rev.replace(":-----BEGIN", "-----BEGIN").as_bytes()),
        );

        let mut certs = Vec::new();
        for fpr in [&ed, &rsa, &expired, &revoked, &team] {
            certs.extend(gpg.export(fpr));
        }
        let secret = gpg.run(
            &[
                "--passphrase",
                TEAM_PASS,
                "--armor",
                "--export-secret-keys",
                &team,
            ],
            None,
        );
        let key_file = gpg.file("team-secret.asc", &secret);
        let pass_file = gpg.file("team-pass", format!("{TEAM_PASS}\n").as_bytes());
        let team_key = TeamKey::load(&key_file, Some(&pass_file)).expect("team key loads");
        assert!(matches!(
            TeamKey::load(&key_file, None),
            Err(csirtd::pgp::PgpError::PassphraseNeeded { .. })
        ));
        let engine = Engine::new(Keyring::from_certs(certs), Some(team_key.clone()));
        World {
            gpg,
            ed,
            rsa,
            expired,
            revoked,
            stranger,
            team,
            revoked_mail,
            expired_mail,
            engine,
            team_key,
        }
    })
}

const INNER: &str = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nPhishing site at hxxp://192.0.2.7/login, seen 10:02 UTC.\r\n";

fn headers(from: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: cert@team.example\r\nSubject: incident report\r\nMessage-ID: <{}@reporter.example>\r\nDate: Mon, 2 Feb 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{extra}",
        rand_id()
    )
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

fn multipart_signed(from: &str, inner: &str, sig: &str) -> Vec<u8> {
    format!(
        "{}Content-Type: multipart/signed; micalg=pgp-sha256;\r\n protocol=\"application/pgp-signature\"; boundary=\"sig-b\"\r\n\r\nThis is an OpenPGP/MIME signed message.\r\n--sig-b\r\n{inner}\r\n--sig-b\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n{sig}\r\n--sig-b--\r\n",
        headers(from, "")
    )
    .into_bytes()
}

fn pgp_mime_signed(gpg: &Gpg, signer: &str, from: &str, inner: &str, extra: &[&str]) -> Vec<u8> {
    let sig = gpg.detach_sign(signer, inner.as_bytes(), extra);
    multipart_signed(from, inner, &sig)
}

fn check(raw: &[u8]) -> Verification {
    let p = parse(raw, &Default::default());
    world().engine.verify_raw(raw, &FromFacts::from(&p))
}

fn assert_verdict(raw: &[u8], want: Verdict, case: &str) -> Verification {
    let v = check(raw);
    assert_eq!(v.status, want, "{case}: {}", v.detail);
    v
}

#[test]
fn gpg_pgp_mime_signatures_are_good_for_ed25519_and_rsa() {
    let w = world();
    for (fpr, from) in [(&w.ed, "ed@reporter.example"), (&w.rsa, "rsa@bank.example")] {
        let raw = pgp_mime_signed(&w.gpg, fpr, from, INNER, &[]);
        let v = assert_verdict(&raw, Verdict::Good, from);
        assert_eq!(v.signer_fingerprint.as_deref(), Some(fpr.as_str()));
        assert!(!v.signer_uids.is_empty());
        assert_eq!(v.encryption, Encryption::None);
        // The same mail stored with bare LF line ends still verifies:
        // the signed part is canonicalised to CRLF.
        let lf = String::from_utf8(raw).expect("utf8").replace("\r\n", "\n");
        assert_verdict(lf.as_bytes(), Verdict::Good, "LF line ends");
    }
}

#[test]
fn spoofing_cases_are_never_good() {
    let w = world();
    let good = pgp_mime_signed(&w.gpg, &w.ed, "ed@reporter.example", INNER, &[]);
    let text = String::from_utf8(good.clone()).expect("utf8");

    let tampered = text.replace("192.0.2.7", "192.0.2.8");
    assert_verdict(tampered.as_bytes(), Verdict::Bad, "tampered body");

    let other = w.gpg.detach_sign(&w.ed, b"some other text", &[]);
    assert_verdict(
        &multipart_signed("ed@reporter.example", INNER, &other),
        Verdict::Bad,
        "signature over another text",
    );

    let garbage =
        "-----BEGIN PGP SIGNATURE-----\r\n\r\nbm90IGEgc2lnbmF0dXJl\r\n-----END PGP SIGNATURE-----";
    assert_verdict(
        &multipart_signed("ed@reporter.example", INNER, garbage),
        Verdict::Error,
        "malformed signature packets",
    );

    let unknown = pgp_mime_signed(
        &w.gpg,
        &w.stranger,
        "stranger@elsewhere.example",
        INNER,
        &[],
    );
    let v = assert_verdict(&unknown, Verdict::UnknownKey, "unknown signer");
    assert!(v.detail.contains(&w.stranger[24..]), "{}", v.detail);

    let mismatch = pgp_mime_signed(&w.gpg, &w.ed, "ceo@bank.example", INNER, &[]);
    assert_verdict(
        &mismatch,
        Verdict::SignerMismatch,
        "From differs from signer",
    );

    let two_from = text.replacen(
        "From: ed@reporter.example\r\n",
        "From: ed@reporter.example\r\nFrom: ceo@bank.example\r\n",
        1,
    );
    let v = assert_verdict(
        two_from.as_bytes(),
        Verdict::SignerMismatch,
        "two From headers",
    );
    assert!(v.detail.contains("From"), "{}", v.detail);
    let two_addrs = text.replacen(
        "From: ed@reporter.example\r\n",
        "From: ed@reporter.example, ceo@bank.example\r\n",
        1,
    );
    assert_verdict(
        two_addrs.as_bytes(),
        Verdict::SignerMismatch,
        "two From addresses",
    );
    let sender = text.replacen(
        "From: ed@reporter.example\r\n",
        "From: ed@reporter.example\r\nSender: ceo@bank.example\r\n",
        1,
    );
    assert_verdict(
        sender.as_bytes(),
        Verdict::SignerMismatch,
        "Sender differs from From",
    );

    // The signed multipart wrapped in multipart/mixed beside unsigned text.
    let signed_entity = text
        .split_once("MIME-Version: 1.0\r\n")
        .map(|(_, rest)| rest.to_string())
        .expect("entity");
    let wrapped = format!(
        "{}Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\n{signed_entity}\r\n--mix\r\nContent-Type: text/plain\r\n\r\nPlease wire 10,000 EUR to the account below.\r\n--mix--\r\n",
        headers("ed@reporter.example", "")
    );
    assert_verdict(
        wrapped.as_bytes(),
        Verdict::Partial,
        "signed part beside unsigned text",
    );

    // A signed message forwarded as message/rfc822 inside an unsigned one.
    let forwarded = format!(
        "{}Content-Type: multipart/mixed; boundary=\"fwd\"\r\n\r\n--fwd\r\nContent-Type: text/plain\r\n\r\nSee below, it is signed!\r\n--fwd\r\nContent-Type: message/rfc822\r\n\r\n{text}\r\n--fwd--\r\n",
        headers("ed@reporter.example", "")
    );
    let v = assert_verdict(
        forwarded.as_bytes(),
        Verdict::Unsigned,
        "forwarded signed message",
    );
    assert!(v.detail.contains("forwarded"), "{}", v.detail);

    // multipart/signed without its signature part.
    let stripped = format!(
        "{}Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=\"s\"\r\n\r\n--s\r\n{INNER}\r\n--s--\r\n",
        headers("ed@reporter.example", "")
    );
    assert_verdict(stripped.as_bytes(), Verdict::Error, "stripped signature");
}

#[test]
fn expired_and_revoked_keys() {
    let w = world();
    let v = assert_verdict(&w.expired_mail, Verdict::ExpiredKey, "expired key");
    assert_eq!(v.signer_fingerprint.as_deref(), Some(w.expired.as_str()));
    let v = assert_verdict(&w.revoked_mail, Verdict::RevokedKey, "revoked key");
    assert_eq!(v.signer_fingerprint.as_deref(), Some(w.revoked.as_str()));
}

#[test]
fn gpg_inline_cleartext_signatures() {
    let w = world();
    let body = "Phishing kit found at hxxp://192.0.2.9/\n\n- Ed\n";
    let signed = w.gpg.run(
        &["--passphrase", "", "-u", &w.ed, "--clearsign", "-o", "-"],
        Some(body.as_bytes()),
    );
    let signed = String::from_utf8(signed).expect("utf8");
    let mail = |text: &str| {
        format!(
            "{}Content-Type: text/plain; charset=utf-8\r\n\r\n{}",
            headers("ed@reporter.example", ""),
            text.replace('\n', "\r\n")
        )
    };
    assert_verdict(mail(&signed).as_bytes(), Verdict::Good, "clearsigned");
    assert_verdict(
        mail(&format!("Forwarding this, urgent:\n\n{signed}")).as_bytes(),
        Verdict::Partial,
        "text before the block",
    );
    assert_verdict(
        mail(&format!("{signed}\nAlso: pay the invoice.\n")).as_bytes(),
        Verdict::Partial,
        "text after the block",
    );
    let tampered = signed.replace("192.0.2.9", "192.0.2.10");
    assert_verdict(
        mail(&tampered).as_bytes(),
        Verdict::Bad,
        "tampered cleartext",
    );
    // Quoted-printable transport encoding is undone before verifying.
    let qp = format!(
        "{}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}",
        headers("ed@reporter.example", ""),
        signed.replace('=', "=3D").replace('\n', "\r\n")
    );
    assert_verdict(
        qp.as_bytes(),
        Verdict::Good,
        "clearsigned, quoted-printable",
    );
}

#[test]
fn gpg_encrypted_mails_are_decrypted_and_verified() {
    let w = world();
    // PGP/MIME, signed and encrypted in one OpenPGP message, with a
    // protected Subject in the inner entity.
    let inner = format!("Subject: the real subject\r\n{INNER}");
    let enc = w.gpg.run(
        &[
            "--passphrase",
            "",
            "-u",
            &w.ed,
            "-r",
            &w.team,
            "--trust-model",
            "always",
            "--armor",
            "--sign",
            "--encrypt",
            "-o",
            "-",
        ],
        Some(inner.as_bytes()),
    );
    let enc = String::from_utf8(enc).expect("armor");
    let pgp_mime = |from: &str, armored: &str| {
        format!(
            "{}Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"enc\"\r\n\r\n--enc\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--enc\r\nContent-Type: application/octet-stream\r\n\r\n{armored}\r\n--enc--\r\n",
            headers(from, "")
        )
        .replace("Subject: incident report", "Subject: ...")
    };
    let raw = pgp_mime("ed@reporter.example", &enc);
    let p = parse(raw.as_bytes(), &Default::default());
    let ex = w.engine.examine(raw.as_bytes(), &FromFacts::from(&p));
    let v = &ex.verification;
    assert_eq!(v.status, Verdict::Good, "{}", v.detail);
    assert_eq!(v.encryption, Encryption::Decrypted);
    assert_eq!(v.inner_subject.as_deref(), Some("the real subject"));
    let plain = ex.plaintext.as_deref().expect("plaintext");
    assert!(String::from_utf8_lossy(plain).contains("192.0.2.7"));

    // Encrypted to the team, not signed: unsigned, decrypted.
    let unsigned = w.gpg.run(
        &[
            "-r",
            &w.team,
            "--trust-model",
            "always",
            "--armor",
            "--encrypt",
            "-o",
            "-",
        ],
        Some(INNER.as_bytes()),
    );
    let v = assert_verdict(
        pgp_mime(
            "ed@reporter.example",
            &String::from_utf8(unsigned).expect("armor"),
        )
        .as_bytes(),
        Verdict::Unsigned,
        "encrypted, unsigned",
    );
    assert_eq!(v.encryption, Encryption::Decrypted);

    // Sign-then-encrypt the RFC 3156 6.1 way: multipart/signed inside.
    let signed = pgp_mime_signed(&w.gpg, &w.rsa, "rsa@bank.example", INNER, &[]);
    let entity = String::from_utf8(signed)
        .expect("utf8")
        .split_once("MIME-Version: 1.0\r\n")
        .map(|(_, e)| e.to_string())
        .expect("entity");
    let enc2 = w.gpg.run(
        &[
            "-r",
            &w.team,
            "--trust-model",
            "always",
            "--armor",
            "--encrypt",
            "-o",
            "-",
        ],
        Some(entity.as_bytes()),
    );
    let v = assert_verdict(
        pgp_mime("rsa@bank.example", &String::from_utf8(enc2).expect("armor")).as_bytes(),
        Verdict::Good,
        "multipart/signed inside multipart/encrypted",
    );
    assert_eq!(v.encryption, Encryption::Decrypted);

    // Encrypted to someone else only: failed, with a reason.
    let not_ours = w.gpg.run(
        &[
            "-r",
            &w.ed,
            "--trust-model",
            "always",
            "--armor",
            "--encrypt",
            "-o",
            "-",
        ],
        Some(INNER.as_bytes()),
    );
    let v = assert_verdict(
        pgp_mime(
            "ed@reporter.example",
            &String::from_utf8(not_ours).expect("armor"),
        )
        .as_bytes(),
        Verdict::Unsigned,
        "not encrypted to us",
    );
    match &v.encryption {
        Encryption::Failed { reason } => assert!(reason.contains("no secret key"), "{reason}"),
        e => panic!("expected failed, got {e:?}"),
    }

    // Inline: gpg --encrypt --sign --armor of plain text.
    let inline = w.gpg.run(
        &[
            "--passphrase",
            "",
            "-u",
            &w.rsa,
            "-r",
            &w.team,
            "--trust-model",
            "always",
            "--armor",
            "--sign",
            "--encrypt",
            "-o",
            "-",
        ],
        Some(b"Inline report: 198.51.100.4 scanning\n"),
    );
    let raw = format!(
        "{}Content-Type: text/plain\r\n\r\n{}",
        headers("rsa@bank.example", ""),
        String::from_utf8(inline)
            .expect("armor")
            .replace('\n', "\r\n")
    );
    let v = assert_verdict(raw.as_bytes(), Verdict::Good, "inline signed and encrypted");
    assert_eq!(v.encryption, Encryption::Decrypted);
}

fn outgoing(body: &str) -> Vec<u8> {
    let to = vec!["ed@reporter.example".to_string()];
    let refs = vec!["orig@reporter.example".to_string()];
    render(&Outgoing {
        from_name: "CSIRT Team",
        from_address: "cert@team.example",
        to: &to,
        to_group: None,
        subject: "[CERT#42] Re: incident report",
        message_id: "ack-42@team.example",
        in_reply_to: Some("orig@reporter.example"),
        references: &refs,
        auto_reply: true,
        loop_address: "cert@team.example",
        body,
        date: time::OffsetDateTime::from_unix_timestamp(1_770_000_000).expect("date"),
        extra_headers: &[],
    })
    .expect("every header value is safe")
}

/// (boundary-separated parts) of a multipart message, found naively.
fn naive_parts(raw: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let b = text
        .split("boundary=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("boundary")
        .to_string();
    let delim = format!("\r\n--{b}");
    let body_start = text.find(&format!("--{b}\r\n")).expect("first delimiter");
    let body = &text[body_start - 2..];
    body.split(&delim)
        .skip(1)
        .take_while(|p| !p.starts_with("--"))
        .map(|p| p.strip_prefix("\r\n").unwrap_or(p).as_bytes().to_vec())
        .collect()
}

#[test]
fn gpg_accepts_our_signatures() {
    let w = world();
    let body = "Thank you for your report.\nTrailing space here \nand a line starting with\nFrom the team.\n-- \nCSIRT\n";
    let signed = sign_message(&outgoing(body), &w.team_key).expect("sign");
    let text = String::from_utf8(signed.clone()).expect("utf8");
    assert!(text.contains("micalg=pgp-sha256"));
    assert!(text.contains("protocol=\"application/pgp-signature\""));
    for h in [
        "Subject: [CERT#42]",
        "In-Reply-To:",
        "References:",
        "Auto-Submitted: auto-replied",
        "X-Loop:",
        "Message-ID: <ack-42@team.example>",
    ] {
        let (outer, _) = text.split_once("\r\n\r\n").expect("header");
        assert!(outer.contains(h), "{h} stays outside");
    }
    let parts = naive_parts(&signed);
    assert_eq!(parts.len(), 2, "{text}");
    assert!(parts[0].starts_with(b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"));
    let sig_armor = parts[1]
        .split(|&b| b == b'\n')
        .skip_while(|l| !l.starts_with(b"-----BEGIN"))
        .fold(Vec::new(), |mut acc, l| {
            acc.extend_from_slice(l);
            acc.push(b'\n');
            acc
        });
    let data = w.gpg.file("out-data", &parts[0]);
    let sig = w.gpg.file("out-sig.asc", &sig_armor);
    let status = w.gpg.run(
        &[
            "--status-fd",
            "1",
            "--verify",
            sig.to_str().expect("path"),
            data.to_str().expect("path"),
        ],
        None,
    );
    let status = String::from_utf8_lossy(&status);
    assert!(status.contains(&format!("VALIDSIG {}", w.team)), "{status}");

    // And the engine agrees, from the team's own keyring entry.
    let v = assert_verdict(&signed, Verdict::Good, "our signed mail");
    assert_eq!(v.signer_fingerprint.as_deref(), Some(w.team.as_str()));
}

#[test]
fn gpg_decrypts_our_encrypted_mail() {
    let w = world();
    let recipient = w.gpg.export(&w.ed);
    let encrypted = encrypt_message(
        &outgoing("Confidential: the IOC list.\n"),
        &w.team_key,
        &recipient,
    )
    .expect("encrypt");
    let text = String::from_utf8(encrypted.clone()).expect("utf8");
    assert!(text.contains("multipart/encrypted"));
    assert!(!text.contains("IOC list"), "no plaintext outside");
    let parts = naive_parts(&encrypted);
    assert_eq!(parts.len(), 2);
    let armored = String::from_utf8_lossy(&parts[1]).into_owned();
    let armored = &armored[armored.find("-----BEGIN PGP MESSAGE-----").expect("armor")..];
    let (ok, out, err) = w
        .gpg
        .try_run(&["--status-fd", "2", "--decrypt"], Some(armored.as_bytes()));
    let err = String::from_utf8_lossy(&err);
    assert!(ok, "gpg --decrypt failed: {err}");
    assert!(err.contains("DECRYPTION_OKAY"), "{err}");
    assert!(
        err.contains(&format!("VALIDSIG {}", w.team)),
        "signed inside: {err}"
    );
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.starts_with("Content-Type: text/plain; charset=utf-8\r\n"),
        "{out}"
    );
    assert!(out.contains("IOC list"));

    // The team can read what it sent (encrypted to itself as well).
    let v = assert_verdict(&encrypted, Verdict::Good, "our encrypted mail");
    assert_eq!(v.encryption, Encryption::Decrypted);

    // A certificate without an encryption key is refused, not ignored.
    let sign_only = w.gpg.export(&w.stranger);
    assert!(encrypt_message(&outgoing("x"), &w.team_key, &sign_only).is_err());
}

#[test]
fn keyring_directory_import_and_list() {
    let w = world();
    let dir = tempfile::tempdir().expect("dir");
    let mut ring = Keyring::load(dir.path()).expect("empty dir loads");
    assert!(ring.is_empty());
    let export = w.gpg.run(&["--armor", "--export", &w.ed, &w.revoked], None);
    let file = w.gpg.file("two.asc", &export);
    let imported = ring.import(&[file]).expect("import");
    assert_eq!(imported.len(), 2);
    for fpr in [&w.ed, &w.revoked] {
        assert!(dir.path().join(format!("{fpr}.asc")).is_file());
    }
    // A binary file, a junk file and a non-key extension beside them.
    std::fs::write(
        dir.path().join("rsa.gpg"),
        w.gpg.run(&["--export", &w.rsa], None),
    )
    .expect("write");
    std::fs::write(dir.path().join("junk.asc"), b"not a key").expect("write");
    std::fs::write(dir.path().join("notes.txt"), b"ignored").expect("write");
    let ring = Keyring::load(dir.path()).expect("load");
    assert_eq!(ring.len(), 3);
    assert_eq!(ring.warnings().len(), 1, "{:?}", ring.warnings());
    assert!(ring.warnings()[0].contains("junk.asc"));
    let list = ring.list();
    let rev = list
        .iter()
        .find(|k| k.fingerprint == w.revoked)
        .expect("listed");
    assert!(rev.revoked);
    let ed = list.iter().find(|k| k.fingerprint == w.ed).expect("listed");
    assert!(!ed.revoked && !ed.expired && ed.expires.is_none());
    assert_eq!(ed.user_ids, vec![ED.to_string()]);
    let json = serde_json::to_value(&list).expect("json");
    assert!(json[0]["fingerprint"].is_string());
    // Lookup by a subkey's key ID finds the certificate.
    let cert = ring.get(&w.rsa).expect("rsa");
    let sub = cert.keys().subkeys().next().expect("subkey").key().keyid();
    assert_eq!(ring.lookup(&sub.into()).len(), 1);
}

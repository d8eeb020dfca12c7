//! The real `gpg` as the outside OpenPGP peer: makes keys, signs, verifies
//! and decrypts, each instance in its own throwaway home directory.

use std::process::{Command, Stdio};

pub struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .expect("gpg home");
        Gpg { home }
    }

    /// The home directory (GNUPGHOME), for a mail client that signs with it.
    pub fn home(&self) -> &std::path::Path {
        self.home.path()
    }

    pub fn run(&self, args: &[&str], input: Option<&[u8]>) -> std::process::Output {
        self.run_with_passphrase("", args, input)
    }

    /// As [`Gpg::run`], with `passphrase` for the keys it makes or opens.
    pub fn run_with_passphrase(
        &self,
        passphrase: &str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                passphrase,
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg is installed (scripts/prereqs.sh installs gnupg)");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(i) = input {
            stdin.write_all(i).expect("gpg stdin");
        }
        drop(stdin);
        child.wait_with_output().expect("gpg")
    }

    pub fn ok(&self, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
        let out = self.run(args, input);
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn gen(&self, uid: &str) {
        self.ok(
            &["--quick-gen-key", uid, "future-default", "default", "never"],
            None,
        );
    }

    /// A key created at `when` (gpg's `--faked-system-time`, e.g.
    /// `20260101T000000`), so that signatures dated later than that can be
    /// made with the same key.
    pub fn gen_at(&self, uid: &str, when: &str) {
        let faked = format!("{when}!");
        self.ok(
            &[
                "--faked-system-time",
                &faked,
                "--quick-gen-key",
                uid,
                "future-default",
                "default",
                "never",
            ],
            None,
        );
    }

    /// A key whose secret part is protected by `passphrase`; returns its
    /// armored secret key export (still protected).
    pub fn gen_locked(&self, uid: &str, email: &str, passphrase: &str) -> Vec<u8> {
        for args in [
            &["--quick-gen-key", uid, "future-default", "default", "never"][..],
            &["--armor", "--export-secret-keys", email][..],
        ] {
            let out = self.run_with_passphrase(passphrase, args, None);
            assert!(
                out.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if args[0] == "--armor" {
                return out.stdout;
            }
        }
        unreachable!()
    }

    pub fn export(&self, email: &str) -> Vec<u8> {
        self.ok(&["--armor", "--export", email], None)
    }

    pub fn export_secret(&self, email: &str) -> Vec<u8> {
        self.ok(&["--armor", "--export-secret-keys", email], None)
    }

    pub fn import(&self, key: &[u8]) {
        self.ok(&["--import"], Some(key));
    }

    pub fn detach_sign(&self, signer: &str, data: &[u8]) -> String {
        self.detach_sign_with(signer, data, &[])
    }

    /// A detached armored signature, with extra gpg arguments first
    /// (`--faked-system-time`, …).
    pub fn detach_sign_with(&self, signer: &str, data: &[u8], gpg_args: &[&str]) -> String {
        let mut args = gpg_args.to_vec();
        args.extend([
            "--armor",
            "--detach-sign",
            "--digest-algo",
            "SHA256",
            "--local-user",
            signer,
        ]);
        String::from_utf8(self.ok(&args, Some(data))).expect("armored")
    }
}

/// The first body part's exact bytes and the armored signature of a
/// multipart/signed message, found by its boundary as a verifier would.
pub fn split_signed(raw: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let text = String::from_utf8_lossy(raw);
    let b = text
        .split("boundary=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("boundary");
    let delim = format!("\r\n--{b}\r\n");
    let first = text.find(&delim).expect("first delimiter") + delim.len();
    let second = first
        + text[first..]
            .find(&format!("\r\n--{b}"))
            .expect("second delimiter");
    let data = text.as_bytes()[first..second].to_vec();
    let s = text.find("-----BEGIN PGP SIGNATURE-----").unwrap();
    let e = text.find("-----END PGP SIGNATURE-----").unwrap() + "-----END PGP SIGNATURE-----".len();
    (data, text.as_bytes()[s..e].to_vec())
}

/// `gpg --verify` of a multipart/signed message (its first part against
/// its signature) with `gpg`'s keyring: asserts success, returns what gpg
/// said.
pub fn gpg_verifies(gpg: &Gpg, raw: &[u8]) -> String {
    let (data, sig) = split_signed(raw);
    let dir = tempfile::tempdir().unwrap();
    let (d, s) = (dir.path().join("data"), dir.path().join("sig.asc"));
    std::fs::write(&d, &data).unwrap();
    std::fs::write(&s, &sig).unwrap();
    let out = gpg.run(
        &["--verify", s.to_str().unwrap(), d.to_str().unwrap()],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "gpg --verify: {err}");
    err
}

/// Writes the team's secret key (`team.asc`, mode 0600) and the public
/// keys of `trusted` (gpg, address) into `keyring/` under `dir`, as
/// `[pgp] keyring = "keyring"`, `team_key = "team.asc"` expect.
pub fn install_keys(dir: &std::path::Path, team: &Gpg, team_email: &str, trusted: &[(&Gpg, &str)]) {
    use std::os::unix::fs::PermissionsExt;
    let keyring = dir.join("keyring");
    std::fs::create_dir_all(&keyring).expect("keyring dir");
    for (i, (gpg, email)) in trusted.iter().enumerate() {
        std::fs::write(keyring.join(format!("trusted-{i}.asc")), gpg.export(email))
            .expect("write cert");
    }
    let team_key = dir.join("team.asc");
    std::fs::write(&team_key, team.export_secret(team_email)).expect("write team key");
    std::fs::set_permissions(&team_key, std::fs::Permissions::from_mode(0o600))
        .expect("chmod team key");
}

/// The primary key fingerprint of `email`'s key, as gpg lists it.
pub fn fingerprint(gpg: &Gpg, email: &str) -> String {
    let out = gpg.ok(&["--with-colons", "--fingerprint", email], None);
    String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .expect("fingerprint")
}

/// A PGP/MIME signed mail, signed by gpg over the exact inner part, as
/// a mail client makes it.
pub fn signed_mail(gpg: &Gpg, signer: &str, headers: &str, body: &str) -> Vec<u8> {
    let inner = format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{}\r\n",
        body.replace('\n', "\r\n")
    );
    signed_entity(gpg, signer, headers, &inner, &[])
}

/// A PGP/MIME signed mail around a whole inner entity (headers and body,
/// CRLF), signed with extra gpg arguments (`--faked-system-time`, …).
pub fn signed_entity(
    gpg: &Gpg,
    signer: &str,
    headers: &str,
    inner: &str,
    gpg_args: &[&str],
) -> Vec<u8> {
    let sig = gpg.detach_sign_with(signer, inner.as_bytes(), gpg_args);
    format!(
        "{headers}MIME-Version: 1.0\r\n\
Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"SIG\"\r\n\r\n\
--SIG\r\n{inner}\r\n--SIG\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n{sig}\r\n--SIG--\r\n"
    )
    .into_bytes()
}

/// An installation with `[pgp]` (the team key of `team`, cert@cert.example)
/// and one handler, hanna, who holds `handler`'s key for
/// handler@cert.example. `others` are further certificates for the
/// keyring; `extra` is appended to the TOML.
pub fn handler_env(team: &Gpg, handler: &Gpg, others: &[(&Gpg, &str)], extra: &str) -> super::Env {
    let fpr = fingerprint(handler, "handler@cert.example");
    let env = super::Env::with_extra(&format!(
        "[pgp]\nkeyring = \"keyring\"\nteam_key = \"team.asc\"\n\
         [[handlers]]\nname = \"hanna\"\nemail = \"handler@cert.example\"\nfingerprint = \"{fpr}\"\n{extra}"
    ));
    let mut trusted = vec![(handler, "handler@cert.example")];
    trusted.extend_from_slice(others);
    install_keys(env.dir.path(), team, "cert@cert.example", &trusted);
    env
}

//! The benchmark's OpenPGP mode: reporters who sign with a key the team
//! trusts, and a team key that signs every acknowledgement.

use crate::pgp::{sign_message, TeamKey};
use clap::ValueEnum;
use openpgp::cert::{CertBuilder, CipherSuite};
use openpgp::serialize::SerializeInto;
use sequoia_openpgp as openpgp;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyKind {
    Ed25519,
    Rsa4096,
}

/// The address every signed report comes from: the user ID of the reporter key.
pub const SIGNED_FROM: &str = "reporter@signed.example";

pub struct Signer {
    key: TeamKey,
}

impl Signer {
    pub fn sign(&self, raw: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(sign_message(raw, &self.key)?)
    }
}

pub(super) fn cert(kind: KeyKind, uid: &str) -> anyhow::Result<openpgp::Cert> {
    let suite = match kind {
        KeyKind::Ed25519 => CipherSuite::Cv25519,
        KeyKind::Rsa4096 => CipherSuite::RSA4k,
    };
    let (cert, _revocation) = CertBuilder::general_purpose(Some(uid))
        .set_cipher_suite(suite)
        .generate()?;
    Ok(cert)
}

/// Makes the reporter key (public half into `keyring/`) and the team key
/// (`team.asc`); returns the reporter's signer and the TOML to append.
pub fn setup(dir: &Path, kind: KeyKind) -> anyhow::Result<(Signer, String)> {
    let keyring = dir.join("keyring");
    std::fs::create_dir_all(&keyring)?;
    let reporter = cert(kind, &format!("Reporter <{SIGNED_FROM}>"))?;
    std::fs::write(keyring.join("reporter.asc"), reporter.armored().to_vec()?)?;
    let team = cert(kind, "CERT Bench <cert@cert.example>")?;
    let team_file = dir.join("team.asc");
    std::fs::write(&team_file, team.as_tsk().armored().to_vec()?)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&team_file, std::fs::Permissions::from_mode(0o600))?;
    }
    let signer = Signer {
        key: TeamKey::from_certs(&dir.join("reporter.asc"), vec![reporter], None)?,
    };
    let toml = format!(
        "[pgp]\nkeyring = \"{}\"\nteam_key = \"{}\"\n",
        keyring.display(),
        team_file.display()
    );
    Ok((signer, toml))
}

/// What signing one acknowledgement costs with `kind`, in microseconds.
pub fn ack_signing_cost(dir: &Path, kind: KeyKind) -> anyhow::Result<f64> {
    let team = cert(kind, "CERT Bench <cert@cert.example>")?;
    let key = TeamKey::from_certs(&dir.join("team.asc"), vec![team], None)?;
    let ack = b"From: CERT Bench <cert@cert.example>\r\nTo: reporter@signed.example\r\nSubject: [CERT-EX #2026-00001] x\r\nMessage-ID: <a@cert.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nThank you for your report.\r\n";
    let n = 500;
    let t = Instant::now();
    for _ in 0..n {
        sign_message(ack, &key)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
}

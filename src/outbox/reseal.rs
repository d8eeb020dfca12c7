//! A held outgoing mail sealed again once the key it waited for is in the
//! keyring (`csirtd outbox release` on a `held` entry).
//!
//! What is stored for a held mail is the team-signed plaintext (or, when
//! signing itself failed, the message as composed): never sent, kept for
//! the record. The message as composed comes back out of the signed form
//! exactly (`pgp::sign::signed_content`), and is then signed and encrypted
//! as it would have been had the key been there, with the keyring and team
//! key read from disk now: an import reaches a release at once, with or
//! without a running daemon.

use crate::config::{normalize_fingerprint, Config};
use crate::pgp::crypto::encryption_cert_for;
use crate::pgp::sign::signed_content;
use crate::pgp::{encrypt_message, Keyring, PgpError, TeamKey};
use sequoia_openpgp::Cert;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error("there is no [pgp] section in {0}: a held mail goes out only signed and encrypted; set pgp.keyring and pgp.team_key")]
    NoPgp(PathBuf),
    #[error("no team key signs it: set pgp.team_key in {0}")]
    NoTeamKey(PathBuf),
    #[error("nothing was stored for it (an advisory copy that could not be built): cancel it with `csirtd outbox cancel` and send the advisory again")]
    NoContent,
    #[error("the keyring {keyring} (pgp.keyring) has no certificate {fingerprint}, which the configuration names for {recipient}: import it with `csirtd keys import FILE`")]
    MissingConfigured {
        keyring: PathBuf,
        fingerprint: String,
        recipient: String,
    },
    #[error("the keyring {keyring} (pgp.keyring) has no usable encryption key for {recipient}: import the recipient's certificate with `csirtd keys import FILE`")]
    MissingKey { keyring: PathBuf, recipient: String },
    #[error("{0}")]
    Pgp(#[from] PgpError),
}

/// The bytes to send and, per recipient, the fingerprint they are
/// encrypted to.
#[derive(Debug)]
pub struct Resealed {
    pub bytes: Vec<u8>,
    pub keys: Vec<(String, String)>,
}

/// The message as composed, from what a held entry stored: the content of
/// the team's `multipart/signed`, or the stored bytes themselves when they
/// were never signed.
pub fn composed(stored: &[u8]) -> Result<Vec<u8>, ResealError> {
    if stored.iter().all(u8::is_ascii_whitespace) {
        return Err(ResealError::NoContent);
    }
    Ok(signed_content(stored).unwrap_or_else(|| stored.to_vec()))
}

/// The fingerprint the configuration names for `recipient`: a
/// constituency contact's `key_fingerprint` (what notifications were
/// encrypted to), a list member's `fingerprint`, a handler's `fingerprint`.
/// None: the recipient's key is found by address.
pub fn configured_fingerprint(cfg: &Config, recipient: &str) -> Option<String> {
    let is = |a: &str| a.trim().eq_ignore_ascii_case(recipient.trim());
    let constituency = cfg.constituencies.iter().find_map(|c| {
        c.contact
            .as_deref()
            .filter(|a| is(a))
            .and(c.key_fingerprint.clone())
    });
    let member = || {
        cfg.lists
            .iter()
            .flat_map(|l| &l.members)
            .find_map(|m| m.fingerprint.clone().filter(|_| is(&m.email)))
    };
    let handler = || {
        cfg.handlers
            .iter()
            .find(|h| is(&h.email))
            .map(|h| h.fingerprint.clone())
    };
    constituency
        .or_else(member)
        .or_else(handler)
        .map(|f| normalize_fingerprint(&f))
}

/// The certificate each recipient's copy is encrypted to, or what is
/// missing.
fn certs_for(
    cfg: &Config,
    keyring: &Keyring,
    dir: &std::path::Path,
    to: &[String],
) -> Result<Vec<Cert>, ResealError> {
    to.iter()
        .map(|r| match configured_fingerprint(cfg, r) {
            Some(f) => keyring
                .get(&f)
                .cloned()
                .ok_or_else(|| ResealError::MissingConfigured {
                    keyring: dir.to_path_buf(),
                    fingerprint: f,
                    recipient: r.clone(),
                }),
            None => encryption_cert_for(keyring, r).ok_or_else(|| ResealError::MissingKey {
                keyring: dir.to_path_buf(),
                recipient: r.clone(),
            }),
        })
        .collect()
}

/// Signs and encrypts a held mail to `to` with today's keyring.
pub fn reseal(cfg: &Config, to: &[String], stored: &[u8]) -> Result<Resealed, ResealError> {
    let pgp = cfg
        .pgp
        .as_ref()
        .ok_or_else(|| ResealError::NoPgp(cfg.source.clone()))?;
    let composed = composed(stored)?;
    let keyring = Keyring::load(&pgp.keyring)?;
    let certs = certs_for(cfg, &keyring, &pgp.keyring, to)?;
    let team_path = pgp
        .team_key
        .as_ref()
        .ok_or_else(|| ResealError::NoTeamKey(cfg.source.clone()))?;
    let team = TeamKey::load(team_path, pgp.passphrase_file.as_deref())?;
    let bytes = encrypt_message(&composed, &team, &certs)?;
    let keys = to
        .iter()
        .zip(&certs)
        .map(|(r, c)| (r.clone(), c.fingerprint().to_hex()))
        .collect();
    Ok(Resealed { bytes, keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_stored_is_refused_and_plain_bytes_are_taken_as_composed() {
        assert!(matches!(composed(b""), Err(ResealError::NoContent)));
        assert!(matches!(composed(b" \r\n"), Err(ResealError::NoContent)));
        let raw = b"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n";
        assert_eq!(composed(raw).unwrap(), raw.to_vec());
    }

    #[test]
    fn a_configured_fingerprint_wins_over_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("csirtd.toml");
        std::fs::write(
            &path,
            crate::config::TEST_BASE.to_string()
                + r#"
[[constituencies]]
name = "West"
networks = ["192.0.2.0/24"]
contact = "NOC@west.example"
key_fingerprint = "0x0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567"
notify_constituent = true
"#,
        )
        .unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(
            configured_fingerprint(&cfg, "noc@west.example").as_deref(),
            Some("0123456789ABCDEF0123456789ABCDEF01234567")
        );
        assert_eq!(configured_fingerprint(&cfg, "reporter@example.test"), None);
    }
}

//! What the pipeline needs from OpenPGP, in its terms: examine an incoming
//! message once, and seal an outgoing one (sign; encrypt when policy and
//! keys say so; hold it when policy says encrypt and there is no key).

use super::{
    encrypt_message, sign_message, Engine, Examined, FromFacts, Keyring, PgpError, TeamKey,
};
use crate::config::{EncryptPolicy, PgpConfig, PgpPolicy};
use crate::mail::parse::ParsedMail;
use openpgp::cert::prelude::*;
use openpgp::policy::StandardPolicy;
use openpgp::types::RevocationStatus;
use openpgp::Cert;
use sequoia_openpgp as openpgp;

pub struct Crypto {
    engine: Engine,
    policy: PgpPolicy,
}

/// An outgoing message after sealing.
#[derive(Debug)]
pub enum Sealed {
    Signed(Vec<u8>),
    /// Signed inside, encrypted to the recipient (and the team).
    Encrypted(Vec<u8>),
    /// Policy demands encryption and there is no usable key: keep it, never
    /// send it. The bytes are the signed plaintext, for the record.
    Held {
        bytes: Vec<u8>,
        reason: String,
    },
    /// No team key is configured: sent as composed.
    Unsigned(Vec<u8>),
}

/// The `[pgp]` key a loading error is about, for the operator.
impl PgpConfig {
    pub fn key_for(&self, e: &PgpError) -> &'static str {
        let about = |path: &std::path::Path| {
            if self.team_key.as_deref() == Some(path) {
                "pgp.team_key"
            } else if self.passphrase_file.as_deref() == Some(path) {
                "pgp.passphrase_file"
            } else {
                "pgp.keyring"
            }
        };
        match e {
            PgpError::Io { path, .. } | PgpError::BadCert { path, .. } => about(path),
            PgpError::NoSecretKey { .. } | PgpError::NoSigningKey(_) => "pgp.team_key",
            PgpError::PassphraseNeeded { .. } | PgpError::WrongPassphrase { .. } => {
                "pgp.passphrase_file"
            }
            _ => "pgp",
        }
    }
}

/// A key-loading error with what to do about it.
pub fn with_fix(e: &PgpError) -> String {
    let fix = match e {
        PgpError::NoSecretKey { .. } | PgpError::NoSigningKey(_) => {
            "the team key file must hold the team's secret key, not only its certificate: gpg --armor --export-secret-keys ADDRESS > FILE (mode 0600)"
        }
        PgpError::PassphraseNeeded { .. } => {
            "set pgp.passphrase_file to a file (mode 0600) holding the passphrase"
        }
        PgpError::WrongPassphrase { .. } => {
            "put the passphrase of this key in pgp.passphrase_file (one line)"
        }
        PgpError::BadCert { .. } => "the file must hold OpenPGP keys (armored or binary)",
        PgpError::Io { .. } => "check the path and that this user may read it",
        _ => return e.to_string(),
    };
    format!("{e}; {fix}")
}

impl Crypto {
    pub fn from_config(cfg: &PgpConfig, max_message_size: usize) -> Result<Crypto, PgpError> {
        let keyring = Keyring::load(&cfg.keyring)?;
        for w in keyring.warnings() {
            tracing::warn!(keyring = %cfg.keyring.display(), "{w}");
        }
        let team = match &cfg.team_key {
            // Config::load has refused key files that others can read.
            Some(path) => Some(TeamKey::load(path, cfg.passphrase_file.as_deref())?),
            None => None,
        };
        let limits = super::Limits {
            max_message_size,
            ..super::Limits::default()
        };
        Ok(Crypto {
            engine: Engine::new(keyring, team).with_limits(limits),
            policy: cfg.policy.clone(),
        })
    }

    /// Without [pgp]: no keyring and no team key, but every message still
    /// gets an honest verdict (a signature we cannot check is `unknown-key`).
    #[cfg(test)]
    pub(crate) fn with_engine(engine: Engine) -> Crypto {
        Crypto {
            engine,
            policy: PgpPolicy::default(),
        }
    }

    pub fn unconfigured(max_message_size: usize) -> Crypto {
        let limits = super::Limits {
            max_message_size,
            ..super::Limits::default()
        };
        Crypto {
            engine: Engine::new(Keyring::empty(), None).with_limits(limits),
            policy: PgpPolicy::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn examine(&self, raw: &[u8], mail: &ParsedMail) -> Examined {
        self.engine.examine(raw, &FromFacts::from(mail))
    }

    /// [`Crypto::examine`] within a message's budget.
    pub fn examine_within(
        &self,
        raw: &[u8],
        mail: &ParsedMail,
        budget: &crate::analysis::budget::Budget,
    ) -> Examined {
        self.engine
            .examine_within(raw, &FromFacts::from(mail), budget)
    }

    /// Whether policy demands a good signature from this sender.
    pub fn requires_signature(&self, from: Option<&str>) -> bool {
        from.is_some_and(|f| self.policy.requires_signature(f))
    }

    /// Signs, and encrypts per `policy`, a fully composed message to `recipient`.
    pub fn seal(
        &self,
        composed: Vec<u8>,
        recipient: &str,
        policy: EncryptPolicy,
    ) -> Result<Sealed, PgpError> {
        let Some(team) = self.engine.team_key() else {
            return Ok(Sealed::Unsigned(composed));
        };
        if policy != EncryptPolicy::Never {
            if let Some(cert) = encryption_cert_for(self.engine.keyring(), recipient) {
                return Ok(Sealed::Encrypted(encrypt_message(
                    &composed,
                    team,
                    &[cert],
                )?));
            }
        }
        let signed = sign_message(&composed, team)?;
        if policy == EncryptPolicy::Always {
            return Ok(Sealed::Held {
                bytes: signed,
                reason: format!("policy says encrypt, and the keyring has no usable certificate for {recipient}"),
            });
        }
        Ok(Sealed::Signed(signed))
    }

    /// Signs and encrypts to the keyring certificate with `fingerprint`
    /// (configured for this recipient), whatever user IDs it carries; held
    /// when the keyring has no such certificate. Never sent in plaintext.
    pub fn seal_to_fingerprint(
        &self,
        composed: Vec<u8>,
        recipient: &str,
        fingerprint: &str,
    ) -> Result<Sealed, PgpError> {
        let Some(team) = self.engine.team_key() else {
            return Ok(Sealed::Held {
                bytes: composed,
                reason: format!("{recipient} must get mail encrypted to {fingerprint}, and there is no team key to sign it"),
            });
        };
        let wanted = crate::config::normalize_fingerprint(fingerprint);
        match self.engine.keyring().get(&wanted) {
            Some(cert) => Ok(Sealed::Encrypted(encrypt_message(
                &composed,
                team,
                std::slice::from_ref(cert),
            )?)),
            None => Ok(Sealed::Held {
                bytes: sign_message(&composed, team)?,
                reason: format!(
                    "the keyring has no certificate {wanted}, configured for {recipient}"
                ),
            }),
        }
    }
}

/// A keyring certificate with a valid, unrevoked user ID for `email` and a
/// live encryption subkey. Keys that arrived attached to mail never get here:
/// the keyring holds only what an operator imported.
pub fn encryption_cert_for(keyring: &Keyring, email: &str) -> Option<Cert> {
    let policy = StandardPolicy::new();
    let email = email.to_ascii_lowercase();
    keyring.certs().find_map(|cert| {
        let vc = cert.with_policy(&policy, None).ok()?;
        if matches!(vc.revocation_status(), RevocationStatus::Revoked(_)) || vc.alive().is_err() {
            return None;
        }
        let uid_matches = vc.userids().any(|ua| {
            !matches!(ua.revocation_status(), RevocationStatus::Revoked(_))
                && ua
                    .userid()
                    .email_normalized()
                    .ok()
                    .flatten()
                    .is_some_and(|e| e == email)
        });
        (uid_matches && can_encrypt(&vc)).then(|| cert.clone())
    })
}

/// A verdict in words, for events and the handlers' notifications.
pub fn summary(v: &super::Verification) -> String {
    use super::{Encryption, Verdict};
    let fpr = v
        .signer_fingerprint
        .as_deref()
        .map(|f| format!("0x{f}"))
        .unwrap_or_default();
    let uid = v
        .signer_uids
        .first()
        .map(|u| format!(" ({u})"))
        .unwrap_or_default();
    let mut s = match v.status {
        Verdict::Good => format!("signed by a known key {fpr}{uid}, From matches"),
        Verdict::Unsigned => "NOT signed".to_string(),
        Verdict::Bad => format!("signature BAD: {}", v.detail),
        Verdict::UnknownKey => format!("signed by an unknown key {fpr}: {}", v.detail),
        Verdict::SignerMismatch => format!(
            "signed by {fpr}{uid}, but NOT by the From address: {}",
            v.detail
        ),
        Verdict::ExpiredKey => format!("signed by an EXPIRED key {fpr}{uid}"),
        Verdict::RevokedKey => format!("signed by a REVOKED key {fpr}{uid}"),
        Verdict::Partial => format!("only PARTLY signed: {}", v.detail),
        Verdict::Error => format!("signature data malformed: {}", v.detail),
    };
    match &v.encryption {
        Encryption::None => {}
        Encryption::Decrypted => s.push_str("; was encrypted to us, decrypted"),
        Encryption::Failed { reason } => {
            s.push_str(&format!("; encrypted and NOT decrypted: {reason}"))
        }
    }
    s
}

/// Every keyring address with a usable encryption certificate, built once
/// for a list of thousands: [`encryption_cert_for`] scans the keyring per
/// address.
pub fn encryption_index(keyring: &Keyring) -> std::collections::HashMap<String, Cert> {
    let policy = StandardPolicy::new();
    let mut out = std::collections::HashMap::new();
    for cert in keyring.certs() {
        let Ok(vc) = cert.with_policy(&policy, None) else {
            continue;
        };
        if matches!(vc.revocation_status(), RevocationStatus::Revoked(_)) || vc.alive().is_err() {
            continue;
        }
        if !can_encrypt(&vc) {
            continue;
        }
        for ua in vc.userids() {
            if matches!(ua.revocation_status(), RevocationStatus::Revoked(_)) {
                continue;
            }
            if let Ok(Some(e)) = ua.userid().email_normalized() {
                out.entry(e).or_insert_with(|| cert.clone());
            }
        }
    }
    out
}

/// A live, unrevoked subkey for transport encryption.
fn can_encrypt(vc: &ValidCert<'_>) -> bool {
    vc.keys()
        .supported()
        .alive()
        .revoked(false)
        .for_transport_encryption()
        .next()
        .is_some()
}

//! OpenPGP: the verdict vocabulary, the seam through which verification
//! plugs into the pipeline, and the Sequoia engine behind it.
//!
//! - [`keyring`]: the directory of public certificates and the team's
//!   secret key;
//! - [`verify`]: one honest verdict (and the decryption outcome) for an
//!   incoming message;
//! - [`sign`]: PGP/MIME signing and encryption of outgoing mail.
//!
//! Keys that arrive with mail (attachments, Autocrypt headers) are reported
//! in [`Verification::found_keys`] and never used for anything else.

mod check;
pub mod covered;
pub mod crypto;
mod found;
mod inline;
pub mod keyring;
mod mime;
pub mod sign;
pub mod verify;
pub mod walk;

#[cfg(test)]
mod tests;

pub use covered::SignedText;
pub use keyring::{check_private, KeyInfo, Keyring, TeamKey};
pub use sign::{encrypt_message, sign_message};
pub use verify::{Engine, Examined, FromFacts, Limits};
pub use walk::Covered;

use crate::mail::parse::ParsedMail;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The signature verdict on one incoming message, decided once at intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Good,
    Bad,
    UnknownKey,
    SignerMismatch,
    ExpiredKey,
    RevokedKey,
    Partial,
    Unsigned,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::UnknownKey => "unknown-key",
            Verdict::SignerMismatch => "signer-mismatch",
            Verdict::ExpiredKey => "expired-key",
            Verdict::RevokedKey => "revoked-key",
            Verdict::Partial => "partial",
            Verdict::Unsigned => "unsigned",
            Verdict::Error => "error",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to the encryption of an incoming message. Serialised as
/// `"none"`, `"decrypted"` or `{"failed": {"reason": "..."}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    #[default]
    None,
    Decrypted,
    Failed {
        reason: String,
    },
}

impl Encryption {
    pub fn is_failed(&self) -> bool {
        matches!(self, Encryption::Failed { .. })
    }
}

/// Where a certificate found in a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// An `application/pgp-keys` part, or a text part holding a public key block.
    Attachment,
    /// The `Autocrypt` header of the message.
    Autocrypt,
    /// An `Autocrypt-Gossip` header inside the encrypted payload.
    AutocryptGossip,
}

impl KeySource {
    /// Words for events and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Attachment => "attached",
            KeySource::Autocrypt => "Autocrypt header",
            KeySource::AutocryptGossip => "Autocrypt-Gossip header",
        }
    }
}

/// A certificate that came with a message: recorded for the handlers,
/// never added to the keyring and never used to verify.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FoundKey {
    pub fingerprint: String,
    pub source: KeySource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub status: Verdict,
    pub signer_fingerprint: Option<String>,
    pub signer_uids: Vec<String>,
    pub detail: String,
    #[serde(default)]
    pub encryption: Encryption,
    /// The Subject from the protected headers of the signed or encrypted
    /// payload, when it has one: what the sender's client showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_subject: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found_keys: Vec<FoundKey>,
    /// For a `good` verdict: one identifier (hex SHA-256) per valid
    /// signature, the same whatever the signature's encoding, so that a
    /// second use of a signature is recognised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signature_ids: Vec<String>,
    /// When the signer says they signed (the signature's creation time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
}

impl Verification {
    pub fn new(status: Verdict, detail: impl Into<String>) -> Self {
        Verification {
            status,
            signer_fingerprint: None,
            signer_uids: Vec::new(),
            detail: detail.into(),
            encryption: Encryption::None,
            inner_subject: None,
            found_keys: Vec::new(),
            signature_ids: Vec::new(),
            signed_at: None,
        }
    }

    /// The signature's creation time, parsed back.
    pub fn signed_at_time(&self) -> Option<time::OffsetDateTime> {
        let t = self.signed_at.as_deref()?;
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    }
}

/// A verification step of the pipeline: sees the exact raw bytes (a
/// signature covers bytes, not a parse) and the parsed facts (From).
pub trait Verifier: Send + Sync {
    fn verify(&self, raw: &[u8], mail: &ParsedMail) -> Verification;
}

#[derive(Debug, thiserror::Error)]
pub enum PgpError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    BadCert { path: PathBuf, reason: String },
    #[error("{path}: no secret key material in the team key file")]
    NoSecretKey { path: PathBuf },
    #[error(
        "{path}: the secret key is protected by a passphrase and no passphrase_file is configured"
    )]
    PassphraseNeeded { path: PathBuf },
    #[error("{path}: the passphrase does not unlock secret key {key}")]
    WrongPassphrase { path: PathBuf, key: String },
    #[error("the team key has no usable signing key: {0}")]
    NoSigningKey(String),
    #[error("certificate {0} has no usable encryption key")]
    NoEncryptionKey(String),
    #[error("not an RFC 5322 message: {0}")]
    BadMessage(String),
    #[error("OpenPGP: {0}")]
    Openpgp(String),
}

impl PgpError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PgpError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<anyhow::Error> for PgpError {
    fn from(e: anyhow::Error) -> Self {
        PgpError::Openpgp(format!("{e:#}"))
    }
}

/// Upper-case hex without spaces, the form the keyring's file names and
/// the JSON output use.
pub(crate) fn hex_fpr(fpr: &sequoia_openpgp::Fingerprint) -> String {
    fpr.to_hex()
}

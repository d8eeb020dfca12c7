//! OpenPGP. This module holds the verdict vocabulary and the seam through
//! which verification plugs into the pipeline; the Sequoia implementation
//! arrives with issue 3. Until a verifier is configured, messages carry no
//! verdict at all rather than a made-up one.

use crate::mail::parse::ParsedMail;
use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub status: Verdict,
    pub signer_fingerprint: Option<String>,
    pub signer_uids: Vec<String>,
    pub detail: String,
}

/// A verification step of the pipeline: sees the exact raw bytes (a
/// signature covers bytes, not a parse) and the parsed facts (From).
pub trait Verifier: Send + Sync {
    fn verify(&self, raw: &[u8], mail: &ParsedMail) -> Verification;
}

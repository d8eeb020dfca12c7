//! One honest verdict per incoming message.
//!
//! The message is walked as MIME over its raw bytes. A signature only
//! counts for what it covers: a PGP/MIME signature at the top of the
//! message (or of its decrypted payload), a signature inside the
//! OpenPGP message that carries the whole payload, or an inline block that
//! is all the text there is. A signature found anywhere else (beside
//! unsigned parts, inside a wrapper the signer did not sign, in HTML)
//! makes the message `partial` at best; one inside a forwarded
//! `message/rfc822` does not count for the message at all.
//!
//! Key validity: the signing key must be bound, alive and unrevoked both
//! when the signature was made and now (at verification time). The
//! creation time is chosen by whoever holds the key, so a key revoked or
//! expired since could otherwise be used to sign backdated mail.

use super::check::{Checker, SigKind, SigOutcome};
use super::keyring::{Keyring, TeamKey};
use super::walk::{Cover, Covered, Walk};
use super::{found, mime, Encryption, KeySource, Verdict, Verification, Verifier};
use crate::analysis::budget::{Budget, Over};
use crate::mail::parse::ParsedMail;
use sequoia_openpgp::policy::StandardPolicy;
use std::sync::Arc;
use std::time::SystemTime;

/// Bounds on the work one message may cause.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Larger messages are not examined (verdict `unsigned`, said in detail).
    pub max_message_size: usize,
    /// MIME nesting followed at most; deeper parts are not examined.
    pub max_depth: usize,
    /// MIME entities examined per message.
    pub max_parts: usize,
    /// Signature packets looked at per signature check.
    pub max_signatures: usize,
    /// Signature checks and decryptions per message.
    pub max_checks: usize,
    /// Bytes a decryption (or decompression) may produce.
    pub max_plaintext: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 64 * 1024 * 1024,
            max_depth: 12,
            max_parts: 500,
            max_signatures: 16,
            max_checks: 8,
            max_plaintext: 64 * 1024 * 1024,
        }
    }
}

/// The From facts a verdict depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FromFacts {
    /// Every address of every From header, normalised.
    pub addresses: Vec<String>,
    pub header_count: usize,
    pub sender: Option<String>,
}

impl From<&ParsedMail> for FromFacts {
    fn from(m: &ParsedMail) -> Self {
        FromFacts {
            addresses: m.from.clone(),
            header_count: m.from_header_count,
            sender: m.sender.clone(),
        }
    }
}

/// What examining a message produced besides the verdict.
#[derive(Debug, Clone)]
pub struct Examined {
    pub verification: Verification,
    /// The decrypted payload (a MIME entity for PGP/MIME, text for inline
    /// PGP) of the message itself, when it was encrypted and could be
    /// opened: the content to ticket instead of the ciphertext.
    pub plaintext: Option<Vec<u8>>,
    /// The exact content the signatures cover, when they cover the whole
    /// message and its MIME structure reads one way only: the only source
    /// of a signer's words (relayed text, commands, advisories).
    pub signed: Option<Covered>,
}

/// The verification engine: keyring, team key and limits.
pub struct Engine {
    keyring: Arc<Keyring>,
    team: Option<Arc<TeamKey>>,
    limits: Limits,
    policy: StandardPolicy<'static>,
    now: Option<SystemTime>,
}

impl Engine {
    pub fn new(keyring: Keyring, team: Option<TeamKey>) -> Self {
        Engine {
            keyring: Arc::new(keyring),
            team: team.map(Arc::new),
            limits: Limits::default(),
            policy: StandardPolicy::new(),
            now: None,
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Judges as if now were `t` (tests; re-verification "as of" a time).
    pub fn at_time(mut self, t: SystemTime) -> Self {
        self.now = Some(t);
        self
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn team_key(&self) -> Option<&TeamKey> {
        self.team.as_deref()
    }

    /// Examines within the engine's own limits.
    pub fn examine(&self, raw: &[u8], from: &FromFacts) -> Examined {
        let budget = Budget::new(crate::analysis::budget::Limits {
            decompressed: self.limits.max_plaintext as u64,
            verifications: self.limits.max_checks,
            ..Default::default()
        });
        self.examine_within(raw, from, &budget)
    }

    /// Examines a message whose other analysis shares `budget`: its
    /// checks and decryptions are bounded by it, and what they unpack is
    /// taken from it.
    pub fn examine_within(&self, raw: &[u8], from: &FromFacts, budget: &Budget) -> Examined {
        if raw.len() > self.limits.max_message_size {
            return Examined {
                verification: Verification::new(
                    Verdict::Unsigned,
                    format!(
                        "not examined: {} bytes is more than the {} byte limit",
                        raw.len(),
                        self.limits.max_message_size
                    ),
                ),
                plaintext: None,
                signed: None,
            };
        }
        let limits = Limits {
            max_checks: budget.limits().verifications,
            ..self.limits.clone()
        };
        let left = usize::try_from(budget.decompressed_left()).unwrap_or(usize::MAX);
        let mut walk = Walk::new(
            Checker {
                keyring: &self.keyring,
                team: self.team.as_deref(),
                policy: &self.policy,
                now: self.now.unwrap_or_else(SystemTime::now),
                max_sigs: self.limits.max_signatures,
                max_plaintext: self.limits.max_plaintext.min(left),
                spent: Default::default(),
                over: Default::default(),
                max_pkesks: 32,
            },
            &limits,
        );
        let top = mime::fields(mime::split(raw).header);
        found::from_autocrypt(&top, "autocrypt", KeySource::Autocrypt, &mut walk.found);
        let cover = walk.eval(raw, 0);
        budget.spend_decompressed(walk.checker.spent.get() as u64);
        if walk.checker.over.get() {
            budget.exceed(Over::Decompressed);
        }
        if walk.checks > limits.max_checks {
            budget.exceed(Over::Verifications);
        }
        let mut signed = None;
        let mut v = match cover {
            Cover::None => Verification::new(Verdict::Unsigned, "no OpenPGP signature"),
            Cover::Full(o, covered) => {
                signed = covered;
                summarize(&o, from, &walk.inner_from)
            }
            Cover::Partial(o) => {
                let mut v = summarize(&o, from, &walk.inner_from);
                if !matches!(v.status, Verdict::Bad | Verdict::Error) {
                    v.detail = format!(
                        "only part of the message is signed; the signed part alone: {}: {}",
                        v.status, v.detail
                    );
                    v.status = Verdict::Partial;
                }
                v
            }
        };
        v.encryption = match (&walk.failed, walk.decrypted) {
            (Some(reason), _) => Encryption::Failed {
                reason: reason.clone(),
            },
            (None, true) => Encryption::Decrypted,
            (None, false) => Encryption::None,
        };
        if walk.partly_encrypted {
            walk.notes
                .push("only part of the message was encrypted".into());
        }
        v.inner_subject = walk.inner_subject;
        v.found_keys = walk.found;
        for n in walk.notes {
            v.detail.push_str("; ");
            v.detail.push_str(&n);
        }
        if !walk.ambiguities.is_empty() && claims_openpgp(raw, &v) {
            // Two readers could see two messages: what the signature covers
            // and what is shown or relayed might differ. Never `good`.
            v.status = Verdict::Error;
            v.detail = format!(
                "ambiguous MIME structure in a signed or encrypted message: {}; {}",
                walk.ambiguities.join("; "),
                v.detail
            );
            v.signature_ids.clear();
            signed = None;
        }
        if v.status != Verdict::Good {
            signed = None;
        }
        Examined {
            verification: v,
            plaintext: walk.plaintext,
            signed,
        }
    }

    pub fn verify_raw(&self, raw: &[u8], from: &FromFacts) -> Verification {
        self.examine(raw, from).verification
    }
}

impl Verifier for Engine {
    fn verify(&self, raw: &[u8], mail: &ParsedMail) -> Verification {
        self.verify_raw(raw, &FromFacts::from(mail))
    }
}

/// Whether a message says it is signed or encrypted, in any reading: a
/// verdict other than unsigned, an encryption outcome, or OpenPGP content
/// types or armor anywhere in its bytes (a duplicate header may hide them
/// from this reader).
fn claims_openpgp(raw: &[u8], v: &Verification) -> bool {
    if v.status != Verdict::Unsigned || v.encryption != Encryption::None {
        return true;
    }
    let lower = raw.to_ascii_lowercase();
    [
        &b"multipart/signed"[..],
        b"multipart/encrypted",
        b"application/pgp",
        b"-----begin pgp",
    ]
    .iter()
    .any(|n| found::find(&lower, n).is_some())
}

/// The verdict for a set of signatures that cover the same content.
pub(super) fn summarize(
    outcomes: &[SigOutcome],
    from: &FromFacts,
    inner_from: &[String],
) -> Verification {
    let pick = |k: SigKind| outcomes.iter().find(|o| o.kind == k);
    let with = |status: Verdict, o: &SigOutcome, detail: String| Verification {
        signer_fingerprint: o.fingerprint.clone(),
        signer_uids: o.uids.clone(),
        signed_at: o.created.map(super::keyring::rfc3339),
        signature_ids: outcomes
            .iter()
            .filter_map(|o| o.digest.map(hex::encode))
            .collect(),
        ..Verification::new(status, detail)
    };
    // A failing signature beside a good one still means something was
    // changed or forged: it is never outweighed.
    for k in [SigKind::Bad, SigKind::Error] {
        if let Some(o) = pick(k) {
            return with(o.verdict(), o, o.detail.clone());
        }
    }
    let valid: Vec<&SigOutcome> = outcomes
        .iter()
        .filter(|o| o.kind == SigKind::Valid)
        .collect();
    if let Some(first) = valid.first() {
        let (addr, problem) = match (from.addresses.as_slice(), from.header_count) {
            ([a], 1) => (a.to_ascii_lowercase(), None),
            (a, n) => (
                String::new(),
                Some(format!(
                    "the message has {} From address(es) in {n} From header(s); a signature vouches for exactly one sender",
                    a.len()
                )),
            ),
        };
        let problem = problem.or_else(|| {
            let s = from.sender.as_deref()?.to_ascii_lowercase();
            (s != addr).then(|| format!("Sender {s} differs from From {addr}"))
        });
        let problem = problem.or_else(|| {
            (!inner_from.is_empty() && inner_from != [addr.clone()]).then(|| {
                format!(
                    "the protected From ({}) differs from the From header ({addr})",
                    inner_from.join(", ")
                )
            })
        });
        if let Some(p) = problem {
            return with(
                Verdict::SignerMismatch,
                first,
                format!("{}, but {p}", first.detail),
            );
        }
        if let Some(o) = valid.iter().find(|o| o.emails.contains(&addr)) {
            return with(Verdict::Good, o, o.detail.clone());
        }
        return with(
            Verdict::SignerMismatch,
            first,
            format!(
                "{}, but no user ID of the key has the From address {addr}",
                first.detail
            ),
        );
    }
    for k in [SigKind::Revoked, SigKind::Expired, SigKind::UnknownKey] {
        if let Some(o) = pick(k) {
            return with(o.verdict(), o, o.detail.clone());
        }
    }
    Verification::new(Verdict::Error, "no signature found")
}

//! Sender authentication of incoming mail: DKIM (each signature), SPF and
//! DMARC, either verified by csirtd itself (`verify`) or read from the
//! receiving MTA's topmost `Authentication-Results` header
//! (`trusted-results`). The outcome is an [`Authentication`], stored on the
//! ticket and put into handlers' notifications in words.
//!
//! Everything here reads attacker-controlled input: domains and selectors are
//! bounded when stored and sanitised again when put into words, and at most
//! [`MAX_DKIM_CHECKS`] signatures are kept per message.

mod authenticator;
mod cache;
mod header;
mod received;
pub mod trusted;
pub mod verify;
mod words;

pub use authenticator::Authenticator;
pub use verify::{Verifier, VerifierError, VerifierSettings};

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Longest domain name (RFC 1035); longer strings from a mail are cut.
pub const MAX_NAME_LEN: usize = 253;
/// DKIM signatures kept per message; a mail with hundreds of signatures
/// must not cost hundreds of DNS lookups or a page of notification text.
pub const MAX_DKIM_CHECKS: usize = 16;

/// Runs one message's examination step (`step`) the way the caller keeps
/// hostile work accountable, or declines it (false) for bytes the caller
/// will not examine again. The pipeline records the step as an analysis
/// in progress, so that a message whose headers kill the process (an
/// abort in a parser) is not examined again at every restart.
pub type Guard<'a> = dyn Fn(&[u8], &mut dyn FnMut()) -> bool + Sync + 'a;

/// The guard of callers that keep no record.
pub fn unguarded(_: &[u8], step: &mut dyn FnMut()) -> bool {
    step();
    true
}

/// The result of a message the guard declined.
const DECLINED: &str =
    "not checked: csirtd died while examining this message at an earlier attempt";

/// Debug builds fail on purpose while examining a message that holds the
/// marker named by CSIRTD_TEST_AUTH_ABORT (tests/analysis_failure.rs).
#[cfg(debug_assertions)]
fn test_fault(raw: &[u8]) {
    let marked = std::env::var_os("CSIRTD_TEST_AUTH_ABORT").is_some_and(|m| {
        let m = m.as_encoded_bytes();
        !m.is_empty() && raw.windows(m.len()).any(|w| w == m)
    });
    if marked {
        std::process::abort();
    }
}
/// Longest `reason` or note kept.
pub const MAX_REASON_LEN: usize = 200;

/// A result as named in RFC 8601 (and the SPF/DKIM/DMARC RFCs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
    Policy,
}

impl AuthResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::None => "none",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
            AuthResult::Policy => "policy",
        }
    }

    /// The result keyword of an `Authentication-Results` resinfo. Unknown
    /// words are a permerror, never a pass: a result csirtd cannot read
    /// must not count for the sender. `hardfail` is the old SPF spelling.
    pub fn from_keyword(word: &str) -> AuthResult {
        match word.to_ascii_lowercase().as_str() {
            "pass" => AuthResult::Pass,
            "fail" | "hardfail" => AuthResult::Fail,
            "softfail" => AuthResult::SoftFail,
            "neutral" => AuthResult::Neutral,
            "none" => AuthResult::None,
            "temperror" => AuthResult::TempError,
            "permerror" => AuthResult::PermError,
            "policy" => AuthResult::Policy,
            _ => AuthResult::PermError,
        }
    }
}

impl std::fmt::Display for AuthResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimCheck {
    /// The signature's `d=`, lower-cased and bounded.
    pub domain: String,
    /// The signature's `s=`; empty when unknown.
    pub selector: String,
    pub result: AuthResult,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpfCheck {
    /// The RFC5321.MailFrom domain, or the HELO name for a null sender.
    pub domain: String,
    pub client_ip: Option<IpAddr>,
    pub result: AuthResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
    /// No record, or the receiving MTA did not say.
    Unknown,
}

impl DmarcPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
            DmarcPolicy::Unknown => "unknown",
        }
    }

    pub fn from_keyword(word: &str) -> DmarcPolicy {
        match word.to_ascii_lowercase().as_str() {
            "none" => DmarcPolicy::None,
            "quarantine" => DmarcPolicy::Quarantine,
            "reject" => DmarcPolicy::Reject,
            _ => DmarcPolicy::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmarcCheck {
    /// The RFC5322.From domain.
    pub domain: String,
    pub policy: DmarcPolicy,
    pub result: AuthResult,
    /// A passing DKIM signature aligned (relaxed) with the From domain.
    pub dkim_aligned: bool,
    /// A passing SPF check aligned (relaxed) with the From domain.
    pub spf_aligned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AuthSource {
    /// `[auth] mode = "off"`: nothing was checked.
    Off,
    /// csirtd verified the message itself.
    Verified,
    /// Read from the topmost `Authentication-Results` of this MTA.
    TrustedResults { authserv_id: String },
    /// The mode is on but gave nothing usable; `note` says why.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    pub source: AuthSource,
    pub dkim: Vec<DkimCheck>,
    pub spf: Option<SpfCheck>,
    pub dmarc: Option<DmarcCheck>,
    pub note: Option<String>,
}

impl Authentication {
    pub fn off() -> Authentication {
        Authentication {
            source: AuthSource::Off,
            dkim: Vec::new(),
            spf: None,
            dmarc: None,
            note: None,
        }
    }

    pub fn unavailable(note: impl Into<String>) -> Authentication {
        Authentication {
            source: AuthSource::Unavailable,
            dkim: Vec::new(),
            spf: None,
            dmarc: None,
            note: Some(bound_text(&note.into())),
        }
    }

    /// A passing DKIM signature by `domain` or one of its subdomains: a
    /// report signed by `mail.shadowserver.org` speaks for
    /// `shadowserver.org`, one signed by `shadowserver.org.evil.example`
    /// does not.
    /// Itself, unless nothing was checked (`[auth]` off): what a message
    /// record stores.
    pub fn checked(self) -> Option<Authentication> {
        (self.source != AuthSource::Off).then_some(self)
    }

    pub fn dkim_pass_for(&self, domain: &str) -> bool {
        let want = bound_name(domain);
        if want.is_empty() {
            return false;
        }
        self.dkim.iter().any(|c| {
            c.result == AuthResult::Pass
                && (c.domain == want
                    || c.domain
                        .strip_suffix(want.as_str())
                        .is_some_and(|head| head.ends_with('.')))
        })
    }

    pub fn dmarc_pass(&self) -> bool {
        self.dmarc
            .as_ref()
            .is_some_and(|d| d.result == AuthResult::Pass)
    }

    /// DMARC failed for a From domain that asks receivers to quarantine or
    /// reject such mail: the ticket gets the flag `dmarc-fail`. A failure
    /// under `p=none` is the domain owner saying "just monitoring", so it
    /// is recorded but not flagged.
    pub fn dmarc_fail_enforced(&self) -> bool {
        self.dmarc.as_ref().is_some_and(|d| {
            d.result == AuthResult::Fail
                && matches!(d.policy, DmarcPolicy::Quarantine | DmarcPolicy::Reject)
        })
    }

    /// One line for handlers, e.g. "DKIM pass for shadowserver.org
    /// (selector s1), SPF pass for shadowserver.org, DMARC pass (policy
    /// reject)". Every name in it is sanitised.
    pub fn in_words(&self) -> String {
        words::in_words(self)
    }
}

/// A domain or selector from a mail as stored: trimmed, without a trailing
/// dot, lower-cased, without whitespace or control characters, and at most
/// [`MAX_NAME_LEN`] bytes (cut on a character boundary).
pub fn bound_name(s: &str) -> String {
    let s = s.trim().trim_end_matches('.');
    let mut out = String::with_capacity(s.len().min(MAX_NAME_LEN));
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            continue;
        }
        for l in c.to_lowercase() {
            if out.len() + l.len_utf8() > MAX_NAME_LEN {
                return out;
            }
            out.push(l);
        }
    }
    out
}

/// A reason or note as stored: one line of printable text, bounded.
pub fn bound_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_REASON_LEN {
            break;
        }
        out.push(c);
    }
    out.trim().to_string()
}

/// The domain part of an address or of a bare domain (`smtp.mailfrom` may
/// be either, and `@example.org` for the local-part-less form).
pub(crate) fn domain_of(addr: &str) -> &str {
    let addr = addr.trim().trim_start_matches('<').trim_end_matches('>');
    match addr.rsplit_once('@') {
        Some((_, d)) => d,
        None => addr,
    }
}

/// The registrable domain (`bank.example` for `mail.bank.example`), the
/// unit of DMARC's relaxed alignment.
pub(crate) fn registrable(domain: &str) -> &str {
    psl::domain_str(domain).unwrap_or(domain)
}

/// Relaxed alignment (RFC 7489 3.1): same registrable domain.
pub(crate) fn aligned(a: &str, b: &str) -> bool {
    let (a, b) = (bound_name(a), bound_name(b));
    !a.is_empty() && !b.is_empty() && registrable(&a) == registrable(&b)
}

#[cfg(test)]
mod tests;

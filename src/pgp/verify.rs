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

use super::check::{Checker, OpenError, SigKind, SigOutcome};
use super::inline::{self, BlockKind};
use super::keyring::{Keyring, TeamKey};
use super::mime::{self, ContentType, Field};
use super::{found, Encryption, FoundKey, KeySource, Verdict, Verification, Verifier};
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

    pub fn examine(&self, raw: &[u8], from: &FromFacts) -> Examined {
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
            };
        }
        let mut walk = Walk {
            checker: Checker {
                keyring: &self.keyring,
                team: self.team.as_deref(),
                policy: &self.policy,
                now: self.now.unwrap_or_else(SystemTime::now),
                max_sigs: self.limits.max_signatures,
                max_plaintext: self.limits.max_plaintext,
                max_pkesks: 32,
            },
            limits: &self.limits,
            parts: 0,
            checks: 0,
            quiet: 0,
            decrypted: false,
            failed: None,
            partly_encrypted: false,
            plaintext: None,
            inner_subject: None,
            inner_from: Vec::new(),
            found: Vec::new(),
            notes: Vec::new(),
        };
        let top = mime::fields(mime::split(raw).header);
        found::from_autocrypt(&top, "autocrypt", KeySource::Autocrypt, &mut walk.found);
        let cover = walk.eval(raw, 0);
        let mut v = match cover {
            Cover::None => Verification::new(Verdict::Unsigned, "no OpenPGP signature"),
            Cover::Full(o) => summarize(&o, from, &walk.inner_from),
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
        Examined {
            verification: v,
            plaintext: walk.plaintext,
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

/// What the signatures found in an entity cover.
enum Cover {
    None,
    Full(Vec<SigOutcome>),
    Partial(Vec<SigOutcome>),
}

impl Cover {
    fn outcomes(self) -> Vec<SigOutcome> {
        match self {
            Cover::None => Vec::new(),
            Cover::Full(o) | Cover::Partial(o) => o,
        }
    }
}

struct Walk<'e> {
    checker: Checker<'e>,
    limits: &'e Limits,
    parts: usize,
    checks: usize,
    /// Above zero inside a forwarded message: its findings are notes, not
    /// facts about this message.
    quiet: usize,
    decrypted: bool,
    failed: Option<String>,
    partly_encrypted: bool,
    plaintext: Option<Vec<u8>>,
    inner_subject: Option<String>,
    inner_from: Vec<String>,
    found: Vec<FoundKey>,
    notes: Vec<String>,
}

impl Walk<'_> {
    fn note(&mut self, n: impl Into<String>) {
        let n = n.into();
        if self.notes.len() < 8 && !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    fn budget(&mut self) -> bool {
        self.checks += 1;
        if self.checks > self.limits.max_checks {
            self.note(format!(
                "more than {} signatures or encrypted parts; the rest were not checked",
                self.limits.max_checks
            ));
            return false;
        }
        true
    }

    fn fail_decrypt(&mut self, reason: String) {
        if self.quiet == 0 && self.failed.is_none() {
            self.failed = Some(reason);
        }
    }

    fn eval(&mut self, raw: &[u8], depth: usize) -> Cover {
        self.parts += 1;
        if depth > self.limits.max_depth || self.parts > self.limits.max_parts {
            self.note("MIME structure too deep or too large; the rest was not examined");
            return Cover::None;
        }
        let ent = mime::split(raw);
        let fields = mime::fields(ent.header);
        self.eval_entity(&fields, ent.body, "text/plain", depth)
    }

    fn eval_entity(&mut self, fields: &[Field], body: &[u8], default: &str, depth: usize) -> Cover {
        let ct = mime::content_type(fields, default);
        match ct.mime.as_str() {
            "multipart/signed" => self.eval_signed(&ct, body, depth),
            "multipart/encrypted" => self.eval_encrypted(&ct, body, depth),
            m if m.starts_with("multipart/") => self.eval_multipart(&ct, body, depth),
            "message/rfc822" | "message/global" => self.eval_forwarded(body, depth),
            "application/pgp-keys" => {
                if self.quiet == 0 {
                    let data = mime::decode(body, fields);
                    found::from_bytes(&data, KeySource::Attachment, &mut self.found);
                }
                Cover::None
            }
            "text/plain" => self.eval_text(fields, body, false, depth),
            "text/html" => self.eval_text(fields, body, true, depth),
            _ => Cover::None,
        }
    }

    fn eval_signed(&mut self, ct: &ContentType, body: &[u8], depth: usize) -> Cover {
        let protocol = ct.param("protocol").unwrap_or_default().to_ascii_lowercase();
        let Some(parts) = ct.param("boundary").and_then(|b| mime::parts(body, b)) else {
            return Cover::Full(vec![SigOutcome::error(
                "multipart/signed without its boundary",
            )]);
        };
        if protocol != "application/pgp-signature" {
            if protocol.contains("pkcs7-signature") {
                // S/MIME: the signature part is not shown as content, the
                // signed part is what the reader sees.
                self.note("an S/MIME signature was not checked");
                return match parts.first() {
                    Some(p) => self.eval(p, depth + 1),
                    None => Cover::None,
                };
            }
            return self.eval_children(&parts, "text/plain", depth);
        }
        let (Some(signed), Some(sig_part)) = (parts.first(), parts.get(1)) else {
            return Cover::Full(vec![SigOutcome::error(
                "multipart/signed without a signature part",
            )]);
        };
        if parts.len() > 2 {
            return Cover::Full(vec![SigOutcome::error(format!(
                "multipart/signed with {} parts instead of 2",
                parts.len()
            ))]);
        }
        let sig_ent = mime::split(sig_part);
        let sig_fields = mime::fields(sig_ent.header);
        let sig_ct = mime::content_type(&sig_fields, "text/plain");
        if sig_ct.mime != "application/pgp-signature" {
            return Cover::Full(vec![SigOutcome::error(format!(
                "the signature part of multipart/signed is {}",
                sig_ct.mime
            ))]);
        }
        let outcomes = if self.budget() {
            let sig = mime::decode(sig_ent.body, &sig_fields);
            // The exact bytes as they arrived, line ends made CRLF (RFC 3156 5).
            self.checker.detached(&mime::to_crlf(signed), &sig)
        } else {
            vec![SigOutcome::error("not checked: too many signatures in the message")]
        };
        self.payload_root(signed);
        // Covered as a whole; walked for encryption, keys and notes only.
        let _ = self.eval(signed, depth + 1);
        Cover::Full(outcomes)
    }

    fn eval_encrypted(&mut self, ct: &ContentType, body: &[u8], depth: usize) -> Cover {
        let protocol = ct.param("protocol").unwrap_or_default().to_ascii_lowercase();
        if protocol != "application/pgp-encrypted" {
            self.fail_decrypt(format!("unsupported encryption protocol {protocol:?}"));
            return Cover::None;
        }
        let data = ct
            .param("boundary")
            .and_then(|b| mime::parts(body, b))
            .and_then(|p| p.get(1).copied());
        let Some(data) = data else {
            self.fail_decrypt("multipart/encrypted without its encrypted part".into());
            return Cover::Full(vec![SigOutcome::error(
                "malformed multipart/encrypted",
            )]);
        };
        let ent = mime::split(data);
        let fields = mime::fields(ent.header);
        let bytes = mime::decode(ent.body, &fields);
        self.open_payload(&bytes, depth)
    }

    /// Decrypts the payload of a PGP/MIME encrypted message and judges
    /// what is inside.
    fn open_payload(&mut self, data: &[u8], depth: usize) -> Cover {
        if !self.budget() {
            self.fail_decrypt("not decrypted: too many encrypted parts".into());
            return Cover::None;
        }
        let binary = match inline::blocks(data)
            .into_iter()
            .find(|b| b.kind == BlockKind::Message)
        {
            Some(b) => inline::dearmor(data.get(b.start..b.end).unwrap_or_default()),
            None => data.to_vec(),
        };
        match self.checker.open(&binary) {
            Ok(op) if !op.encrypted => {
                // An encrypted-looking message that is not: the shape of
                // signature spoofing (a signed text replayed as "encrypted").
                self.fail_decrypt("the multipart/encrypted payload is not encrypted".into());
                Cover::Full(vec![SigOutcome::error(
                    "multipart/encrypted holds an OpenPGP message that is not encrypted",
                )])
            }
            Ok(op) => {
                if self.quiet == 0 {
                    self.decrypted = true;
                    if self.plaintext.is_none() {
                        self.plaintext = Some(op.plaintext.clone());
                    }
                }
                self.payload_root(&op.plaintext);
                let inner = self.eval(&op.plaintext, depth + 1);
                if op.sigs.is_empty() {
                    inner
                } else {
                    Cover::Full(op.sigs)
                }
            }
            Err(OpenError::NoKey(reason)) => {
                self.note("encrypted content could not be decrypted, so any signature inside is unknown");
                self.fail_decrypt(reason);
                Cover::None
            }
            Err(OpenError::TooLarge(n)) => {
                self.fail_decrypt(format!("more than {n} bytes once decrypted"));
                Cover::None
            }
            Err(OpenError::Malformed(e)) => {
                self.fail_decrypt(format!("malformed OpenPGP message: {e}"));
                Cover::Full(vec![SigOutcome::error(format!(
                    "malformed encrypted payload: {e}"
                ))])
            }
        }
    }

    fn eval_multipart(&mut self, ct: &ContentType, body: &[u8], depth: usize) -> Cover {
        let Some(parts) = ct.param("boundary").and_then(|b| mime::parts(body, b)) else {
            return Cover::None;
        };
        if ct.mime == "multipart/mixed" {
            if let Some(enc) = exchange_mangled(&parts) {
                self.note("repaired a PGP/MIME encrypted message mangled into multipart/mixed");
                let ent = mime::split(enc);
                let fields = mime::fields(ent.header);
                let bytes = mime::decode(ent.body, &fields);
                return self.open_payload(&bytes, depth);
            }
        }
        let default = if ct.mime == "multipart/digest" {
            "message/rfc822"
        } else {
            "text/plain"
        };
        self.eval_children(&parts, default, depth)
    }

    /// Children of a multipart nobody signed as a whole: any signature
    /// inside covers only part of what the reader sees.
    fn eval_children(&mut self, parts: &[&[u8]], default: &str, depth: usize) -> Cover {
        let mut outcomes = Vec::new();
        for p in parts {
            self.parts += 1;
            if depth + 1 > self.limits.max_depth || self.parts > self.limits.max_parts {
                self.note("MIME structure too deep or too large; the rest was not examined");
                break;
            }
            let ent = mime::split(p);
            let fields = mime::fields(ent.header);
            outcomes.extend(self.eval_entity(&fields, ent.body, default, depth + 1).outcomes());
        }
        if outcomes.is_empty() {
            Cover::None
        } else {
            Cover::Partial(outcomes)
        }
    }

    fn eval_forwarded(&mut self, body: &[u8], depth: usize) -> Cover {
        self.quiet += 1;
        let inner = self.eval(body, depth + 1);
        self.quiet -= 1;
        let o = inner.outcomes();
        if !o.is_empty() {
            let v = summarize(&o, &FromFacts::default(), &[]);
            let what = match v.status {
                // Without the forwarded message's own From, "valid" is all
                // that can be said.
                Verdict::SignerMismatch => "a valid signature".to_string(),
                s => format!("a signature with verdict {s}"),
            };
            let by = v
                .signer_fingerprint
                .map(|f| format!(" by {f}"))
                .unwrap_or_default();
            self.note(format!(
                "a forwarded message inside carries {what}{by}, which does not cover this message"
            ));
        }
        Cover::None
    }

    fn eval_text(&mut self, fields: &[Field], body: &[u8], html: bool, depth: usize) -> Cover {
        let decoded = mime::decode(body, fields);
        if self.quiet == 0 {
            found::from_text(&decoded, &mut self.found);
        }
        if found::find(&decoded, b"-----BEGIN PGP").is_none() {
            return Cover::None;
        }
        let text = if html {
            inline::html_to_text(&decoded)
        } else {
            decoded.into_owned()
        };
        let blocks = inline::blocks(&text);
        if blocks.is_empty() {
            return Cover::None;
        }
        let alone = inline::only_blocks(&text, &blocks);
        let mut complete = alone && blocks.len() == 1 && !html;
        if html {
            self.note("inline OpenPGP in HTML: what HTML shows is never fully covered");
        }
        let mut outcomes = Vec::new();
        for b in &blocks {
            let bytes = text.get(b.start..b.end).unwrap_or_default();
            if !self.budget() {
                complete = false;
                continue;
            }
            match b.kind {
                BlockKind::Cleartext => outcomes.extend(self.checker.cleartext(bytes)),
                BlockKind::Message => {
                    let sigs = self.open_inline(bytes, alone, depth);
                    if sigs.is_empty() {
                        complete = false;
                    }
                    outcomes.extend(sigs);
                }
            }
        }
        if outcomes.is_empty() {
            Cover::None
        } else if complete {
            Cover::Full(outcomes)
        } else {
            Cover::Partial(outcomes)
        }
    }

    /// An inline `PGP MESSAGE` block: encrypted, signed, or both.
    fn open_inline(&mut self, block: &[u8], alone: bool, depth: usize) -> Vec<SigOutcome> {
        match self.checker.open(&inline::dearmor(block)) {
            Ok(op) => {
                if op.encrypted && self.quiet == 0 {
                    self.decrypted = true;
                    if !alone {
                        self.partly_encrypted = true;
                    }
                    if self.plaintext.is_none() {
                        self.plaintext = Some(op.plaintext.clone());
                    }
                }
                if !op.sigs.is_empty() || !op.encrypted || depth >= self.limits.max_depth {
                    return op.sigs;
                }
                // Sign-then-encrypt the inline way: a cleartext signed
                // block inside the encrypted text.
                let blocks = inline::blocks(&op.plaintext);
                match blocks.as_slice() {
                    [b] if b.kind == BlockKind::Cleartext
                        && inline::only_blocks(&op.plaintext, &blocks)
                        && self.budget() =>
                    {
                        let bytes = op.plaintext.get(b.start..b.end).unwrap_or_default();
                        self.checker.cleartext(bytes)
                    }
                    _ => Vec::new(),
                }
            }
            Err(OpenError::NoKey(reason)) => {
                self.note("encrypted content could not be decrypted, so any signature inside is unknown");
                self.fail_decrypt(reason);
                Vec::new()
            }
            Err(OpenError::TooLarge(n)) => {
                self.fail_decrypt(format!("more than {n} bytes once decrypted"));
                Vec::new()
            }
            Err(OpenError::Malformed(e)) => {
                self.fail_decrypt(format!("malformed OpenPGP message: {e}"));
                vec![SigOutcome::error(format!("malformed inline OpenPGP message: {e}"))]
            }
        }
    }

    /// The root entity of a signed or encrypted payload: its headers are
    /// the protected headers (Subject, From, Autocrypt-Gossip).
    fn payload_root(&mut self, entity: &[u8]) {
        if self.quiet > 0 {
            return;
        }
        let ent = mime::split(entity);
        let fields = mime::fields(ent.header);
        found::from_autocrypt(&fields, "autocrypt-gossip", KeySource::AutocryptGossip, &mut self.found);
        let mut header = ent.header.to_vec();
        let has = |n: &str| fields.iter().any(|f| f.name == n);
        if !has("subject") && !has("from") {
            // The older "legacy display part": protected headers as the
            // body of a first text/rfc822-headers part.
            let ct = mime::content_type(&fields, "text/plain");
            let first = ct
                .param("boundary")
                .and_then(|b| mime::parts(ent.body, b))
                .and_then(|p| p.first().copied());
            let Some(first) = first else { return };
            let fe = mime::split(first);
            let ff = mime::fields(fe.header);
            let fct = mime::content_type(&ff, "text/plain");
            if fct.mime != "text/rfc822-headers" || fct.param("protected-headers").is_none() {
                return;
            }
            header = mime::decode(fe.body, &ff).into_owned();
        }
        header.extend_from_slice(b"\r\n");
        let Some(parsed) = mail_parser::MessageParser::default().parse_headers(&header[..]) else {
            return;
        };
        if self.inner_subject.is_none() {
            self.inner_subject = parsed.subject().map(|s| s.to_string());
        }
        if self.inner_from.is_empty() {
            if let Some(from) = parsed.from() {
                self.inner_from = from
                    .iter()
                    .filter_map(|a| a.address())
                    .map(crate::model::normalize_address)
                    .collect();
            }
        }
    }
}

/// Exchange turns multipart/encrypted into multipart/mixed of an empty
/// text part, the version part and the encrypted part; clients repair it.
fn exchange_mangled<'a>(parts: &[&'a [u8]]) -> Option<&'a [u8]> {
    let [text, version, data] = parts else {
        return None;
    };
    fn ct(p: &[u8]) -> (String, Vec<Field>, &[u8]) {
        let e = mime::split(p);
        let f = mime::fields(e.header);
        (mime::content_type(&f, "text/plain").mime, f, e.body)
    }
    let (t, tf, tb) = ct(text);
    let (v, _, _) = ct(version);
    let (d, _, _) = ct(data);
    (t == "text/plain"
        && mime::is_blank(&mime::decode(tb, &tf))
        && v == "application/pgp-encrypted"
        && d == "application/octet-stream")
        .then_some(*data)
}

/// The verdict for a set of signatures that cover the same content.
fn summarize(outcomes: &[SigOutcome], from: &FromFacts, inner_from: &[String]) -> Verification {
    let pick = |k: SigKind| outcomes.iter().find(|o| o.kind == k);
    let with = |status: Verdict, o: &SigOutcome, detail: String| Verification {
        signer_fingerprint: o.fingerprint.clone(),
        signer_uids: o.uids.clone(),
        ..Verification::new(status, detail)
    };
    // A failing signature beside a good one still means something was
    // changed or forged: it is never outweighed.
    for k in [SigKind::Bad, SigKind::Error] {
        if let Some(o) = pick(k) {
            return with(o.verdict(), o, o.detail.clone());
        }
    }
    let valid: Vec<&SigOutcome> = outcomes.iter().filter(|o| o.kind == SigKind::Valid).collect();
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
            return with(Verdict::SignerMismatch, first, format!("{}, but {p}", first.detail));
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

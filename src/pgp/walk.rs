//! Walking a message as MIME over its raw bytes, deciding what each
//! signature found covers (see `verify` for the rules), decrypting what is
//! encrypted on the way and collecting protected headers and keys.

mod text;

use super::check::{Checker, OpenError, SigOutcome};
use super::inline::{self, BlockKind};
use super::mime::{self, ContentType, Field};
use super::verify::{summarize, FromFacts, Limits};
use super::{found, FoundKey, KeySource, Verdict};

/// What the signatures found in an entity cover. A full cover carries
/// the covered content when there is one to read (not for a malformed
/// signature part).
pub(super) enum Cover {
    None,
    Full(Vec<SigOutcome>, Option<Covered>),
    Partial(Vec<SigOutcome>),
}

/// The exact content signatures cover: what may be read as the signer's
/// words, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Covered {
    /// A MIME entity (the signed part of multipart/signed, or the payload
    /// of a signed OpenPGP message that is itself MIME).
    Entity(Vec<u8>),
    /// Plain text (an inline cleartext signature, or the literal data of
    /// an inline signed message).
    Text(Vec<u8>),
}

impl Cover {
    fn outcomes(self) -> Vec<SigOutcome> {
        match self {
            Cover::None => Vec::new(),
            Cover::Full(o, _) | Cover::Partial(o) => o,
        }
    }

    fn error(detail: impl Into<String>) -> Cover {
        Cover::Full(vec![SigOutcome::error(detail)], None)
    }
}

/// Findings of MIME ambiguity kept per message.
const MAX_AMBIGUITIES: usize = 8;

/// Header fields a MIME reader takes only once: a second copy is read
/// differently by different parsers.
const SINGLE_FIELDS: &[&str] = &["content-type", "content-transfer-encoding", "mime-version"];
/// The same inside a signed or encrypted payload, whose root carries the
/// protected headers.
const SINGLE_PROTECTED: &[&str] = &[
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "subject",
    "from",
    "to",
    "cc",
];

pub(super) struct Walk<'e> {
    pub(super) checker: Checker<'e>,
    pub(super) limits: &'e Limits,
    pub(super) parts: usize,
    pub(super) checks: usize,
    /// Above zero inside a forwarded message: its findings are notes, not
    /// facts about this message.
    pub(super) quiet: usize,
    pub(super) decrypted: bool,
    pub(super) failed: Option<String>,
    pub(super) partly_encrypted: bool,
    pub(super) plaintext: Option<Vec<u8>>,
    pub(super) inner_subject: Option<String>,
    pub(super) inner_from: Vec<String>,
    pub(super) found: Vec<FoundKey>,
    pub(super) notes: Vec<String>,
    /// Where this reading and another MIME reader could disagree.
    pub(super) ambiguities: Vec<String>,
    /// Boundaries of the multiparts being walked, outermost first.
    boundaries: Vec<String>,
}

impl<'e> Walk<'e> {
    pub(super) fn new(checker: Checker<'e>, limits: &'e Limits) -> Self {
        Walk {
            checker,
            limits,
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
            ambiguities: Vec::new(),
            boundaries: Vec::new(),
        }
    }

    fn headers_checked(&mut self, header: &[u8], fields: &[Field], single: &[&str]) {
        // A forwarded message is never read as its forwarder's words, and
        // the spam a handler forwards is often malformed.
        if self.quiet > 0 || self.ambiguities.len() >= MAX_AMBIGUITIES {
            return;
        }
        mime::header_ambiguities(header, single, &mut self.ambiguities);
        mime::content_type_ambiguities(fields, &mut self.ambiguities);
        self.ambiguities.truncate(MAX_AMBIGUITIES);
    }

    /// The parts of a multipart body, with what makes its reading
    /// ambiguous recorded: no boundary, one RFC 2046 does not allow, one
    /// that nests with an enclosing boundary, or delimiter look-alikes.
    fn split_parts<'a>(&mut self, ct: &ContentType, body: &'a [u8]) -> Option<Vec<&'a [u8]>> {
        if self.quiet > 0 {
            return ct.param("boundary").and_then(|b| mime::parts(body, b));
        }
        let Some(boundary) = ct.param("boundary") else {
            self.ambiguity(format!("{} without a boundary", ct.mime));
            return None;
        };
        if !mime::boundary_is_valid(boundary) {
            self.ambiguity(format!("{} with an invalid boundary", ct.mime));
        }
        if let Some(outer) = self
            .boundaries
            .iter()
            .find(|o| o.starts_with(boundary) || boundary.starts_with(o.as_str()))
        {
            let what = format!("the boundary {boundary:?} nests with the enclosing {outer:?}");
            self.ambiguity(what);
        }
        if self.ambiguities.len() < MAX_AMBIGUITIES {
            mime::delimiter_ambiguities(body, boundary, &mut self.ambiguities);
        }
        let parts = mime::parts(body, boundary);
        if parts.is_none() {
            self.ambiguity(format!("{} whose boundary never occurs", ct.mime));
        }
        parts
    }

    fn ambiguity(&mut self, what: String) {
        if self.ambiguities.len() < MAX_AMBIGUITIES {
            self.ambiguities.push(what);
        }
    }

    /// Walks the children of a multipart with its boundary on the stack.
    fn with_boundary<T>(&mut self, ct: &ContentType, f: impl FnOnce(&mut Self) -> T) -> T {
        let b = ct.param("boundary").unwrap_or_default().to_string();
        self.boundaries.push(b);
        let out = f(self);
        self.boundaries.pop();
        out
    }

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

    pub(super) fn eval(&mut self, raw: &[u8], depth: usize) -> Cover {
        self.parts += 1;
        if depth > self.limits.max_depth || self.parts > self.limits.max_parts {
            self.note("MIME structure too deep or too large; the rest was not examined");
            return Cover::None;
        }
        let ent = mime::split(raw);
        let fields = mime::fields(ent.header);
        self.headers_checked(ent.header, &fields, SINGLE_FIELDS);
        self.eval_entity(&fields, ent.body, "text/plain", depth)
    }

    /// A signed or encrypted payload's root: its header carries protected
    /// fields, which must be as unambiguous as the MIME ones.
    fn eval_payload(&mut self, raw: &[u8], depth: usize) -> Cover {
        let ent = mime::split(raw);
        let fields = mime::fields(ent.header);
        self.headers_checked(ent.header, &fields, SINGLE_PROTECTED);
        self.parts += 1;
        if depth > self.limits.max_depth || self.parts > self.limits.max_parts {
            self.note("MIME structure too deep or too large; the rest was not examined");
            return Cover::None;
        }
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
        let protocol = ct
            .param("protocol")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let Some(parts) = self.split_parts(ct, body) else {
            return Cover::error("multipart/signed without its boundary");
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
            return self.with_boundary(ct, |w| w.eval_children(&parts, "text/plain", depth));
        }
        let (Some(signed), Some(sig_part)) = (parts.first(), parts.get(1)) else {
            return Cover::error("multipart/signed without a signature part");
        };
        if parts.len() > 2 {
            return Cover::error(format!(
                "multipart/signed with {} parts instead of 2",
                parts.len()
            ));
        }
        let sig_ent = mime::split(sig_part);
        let sig_fields = mime::fields(sig_ent.header);
        self.headers_checked(sig_ent.header, &sig_fields, SINGLE_FIELDS);
        let sig_ct = mime::content_type(&sig_fields, "text/plain");
        if sig_ct.mime != "application/pgp-signature" {
            return Cover::error(format!(
                "the signature part of multipart/signed is {}",
                sig_ct.mime
            ));
        }
        let outcomes = if self.budget() {
            let sig = mime::decode(sig_ent.body, &sig_fields);
            // The exact bytes as they arrived, line ends made CRLF (RFC 3156 5).
            self.checker.detached(&mime::to_crlf(signed), &sig)
        } else {
            // Left unchecked (a note says so): counts for nothing.
            Vec::new()
        };
        self.payload_root(signed);
        // Covered as a whole; walked for encryption, keys, notes and
        // ambiguities only.
        let _ = self.with_boundary(ct, |w| w.eval_payload(signed, depth + 1));
        Cover::Full(outcomes, Some(Covered::Entity(signed.to_vec())))
    }

    fn eval_encrypted(&mut self, ct: &ContentType, body: &[u8], depth: usize) -> Cover {
        let protocol = ct
            .param("protocol")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if protocol != "application/pgp-encrypted" {
            self.fail_decrypt(format!("unsupported encryption protocol {protocol:?}"));
            return Cover::None;
        }
        let data = self.split_parts(ct, body).and_then(|p| p.get(1).copied());
        let Some(data) = data else {
            self.fail_decrypt("multipart/encrypted without its encrypted part".into());
            return Cover::error("malformed multipart/encrypted");
        };
        let ent = mime::split(data);
        let fields = mime::fields(ent.header);
        self.headers_checked(ent.header, &fields, SINGLE_FIELDS);
        let bytes = mime::decode(ent.body, &fields);
        self.with_boundary(ct, |w| w.open_payload(&bytes, depth))
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
                Cover::error("multipart/encrypted holds an OpenPGP message that is not encrypted")
            }
            Ok(op) => {
                if self.quiet == 0 {
                    self.decrypted = true;
                    if self.plaintext.is_none() {
                        self.plaintext = Some(op.plaintext.clone());
                    }
                }
                self.payload_root(&op.plaintext);
                let inner = self.eval_payload(&op.plaintext, depth + 1);
                if op.sigs.is_empty() {
                    inner
                } else {
                    Cover::Full(op.sigs, Some(Covered::Entity(op.plaintext)))
                }
            }
            Err(OpenError::NoKey(reason)) => {
                self.note(
                    "encrypted content could not be decrypted, so any signature inside is unknown",
                );
                self.fail_decrypt(reason);
                Cover::None
            }
            Err(OpenError::TooLarge { limit, .. }) => {
                self.fail_decrypt(format!("more than {limit} bytes once decrypted"));
                Cover::None
            }
            Err(OpenError::Malformed(e)) => {
                self.fail_decrypt(format!("malformed OpenPGP message: {e}"));
                Cover::error(format!("malformed encrypted payload: {e}"))
            }
        }
    }

    fn eval_multipart(&mut self, ct: &ContentType, body: &[u8], depth: usize) -> Cover {
        let Some(parts) = self.split_parts(ct, body) else {
            return Cover::None;
        };
        if ct.mime == "multipart/mixed" {
            if let Some(enc) = exchange_mangled(&parts) {
                self.note("repaired a PGP/MIME encrypted message mangled into multipart/mixed");
                let ent = mime::split(enc);
                let fields = mime::fields(ent.header);
                let bytes = mime::decode(ent.body, &fields);
                return self.with_boundary(ct, |w| w.open_payload(&bytes, depth));
            }
        }
        let default = if ct.mime == "multipart/digest" {
            "message/rfc822"
        } else {
            "text/plain"
        };
        self.with_boundary(ct, |w| w.eval_children(&parts, default, depth))
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
            self.headers_checked(ent.header, &fields, SINGLE_FIELDS);
            outcomes.extend(
                self.eval_entity(&fields, ent.body, default, depth + 1)
                    .outcomes(),
            );
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

    /// The root entity of a signed or encrypted payload: its headers are
    /// the protected headers (Subject, From, Autocrypt-Gossip).
    fn payload_root(&mut self, entity: &[u8]) {
        if self.quiet > 0 {
            return;
        }
        let ent = mime::split(entity);
        let fields = mime::fields(ent.header);
        found::from_autocrypt(
            &fields,
            "autocrypt-gossip",
            KeySource::AutocryptGossip,
            &mut self.found,
        );
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

//! What makes two deliveries of one message the same message.
//!
//! On its way a message gains trace and delivery-path headers (RFC 5322
//! trace fields, the receiving MTA's and filters' annotations) and may
//! change its line ends, so two copies of one report rarely match byte for
//! byte. Everything else, the headers the sender wrote and the body, is the
//! message: a copy that differs there is not the same message, even under
//! the same Message-ID, and must be kept (see `workflow::redelivery`).

use sha2::{Digest, Sha256};

/// Header fields a delivery adds or rewrites, compared case-insensitively.
///
/// `DKIM-Signature` is among them: relays and forwarders add their own, and
/// a signature says nothing a reader sees; the fields and body it covers
/// are still compared. `X-Spam-*` and `X-Virus-*` are the verdicts of the
/// filters on the way, which differ between routes.
const TRACE: &[&str] = &[
    "received",
    "x-received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-from",
    "x-envelope-to",
    "authentication-results",
    "received-spf",
    "dkim-signature",
];
const TRACE_PREFIXES: &[&str] = &["arc-", "x-spam-", "x-virus-"];

pub fn is_trace_header(name: &str) -> bool {
    let name = name.trim().as_bytes();
    TRACE
        .iter()
        .any(|t| name.eq_ignore_ascii_case(t.as_bytes()))
        || TRACE_PREFIXES.iter().any(|p| {
            name.get(..p.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(p.as_bytes()))
        })
}

/// SHA-256 of everything after the header section, with CRLF folded to LF
/// (Maildir stores LF, IMAP serves CRLF) and trailing blank lines ignored.
pub fn body_sha256(raw: &[u8]) -> String {
    let start = crate::mail::parse::header_end(raw).unwrap_or(raw.len());
    let mut h = Sha256::new();
    let body = &raw[start..];
    let end = body
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let body = &body[..end];
    // Every line ends in a bare LF: CRLF is folded to LF. A body without
    // CRLF already is that form, and is hashed in one call rather than two
    // a line (the per-call cost showed in intake profiles).
    if memchr::memmem::find(body, b"\r\n").is_none() {
        h.update(body);
        h.update(b"\n");
    } else {
        let mut folded = Vec::with_capacity(body.len() + 1);
        for chunk in body.split(|&b| b == b'\n') {
            folded.extend_from_slice(chunk.strip_suffix(b"\r").unwrap_or(chunk));
            folded.push(b'\n');
        }
        h.update(&folded);
    }
    hex::encode(h.finalize())
}

/// SHA-256 of the message less its trace headers: the non-trace fields in
/// order (name case, folding, line ends and the white space around a value
/// ignored), then the body as [`body_sha256`] hashes it (`body_sha`).
pub fn content_sha256(raw: &[u8], body_sha: &str) -> String {
    let mut h = Sha256::new();
    each_field(raw, |f| {
        if !f.trace {
            h.update(f.name);
            h.update(b":");
            h.update(f.value);
            h.update(b"\n");
        }
    });
    h.update(b"\n");
    h.update(body_sha.as_bytes());
    hex::encode(h.finalize())
}

/// The non-trace header fields whose values differ between two copies,
/// named as the later copy writes them, for the record of a re-delivery.
/// Names that are not printable ASCII are not repeated.
pub fn changed_headers(before: &[u8], after: &[u8]) -> Vec<String> {
    use std::collections::BTreeMap;
    type Values<'a> = BTreeMap<Vec<u8>, (&'a [u8], Vec<&'a [u8]>)>;
    fn by_name(fields: &[Field]) -> Values<'_> {
        let mut map: Values<'_> = BTreeMap::new();
        for f in fields.iter().filter(|f| !f.trace) {
            let entry = map.entry(f.name.clone()).or_insert((&f.shown, Vec::new()));
            entry.1.push(&f.value);
        }
        map
    }
    let (a, b) = (fields(before), fields(after));
    let (old, new) = (by_name(&a), by_name(&b));
    let mut changed: Vec<String> = Vec::new();
    let names: std::collections::BTreeSet<&Vec<u8>> = old.keys().chain(new.keys()).collect();
    for name in names {
        let (was, is) = (old.get(name), new.get(name));
        if was.map(|v| &v.1) == is.map(|v| &v.1) {
            continue;
        }
        let shown = is.or(was).map_or(&[][..], |v| v.0);
        let printable = !shown.is_empty() && shown.iter().all(|b| b.is_ascii_graphic());
        changed.push(if printable {
            String::from_utf8_lossy(shown).into_owned()
        } else {
            "(a header line that is not a field name)".to_string()
        });
    }
    changed.dedup();
    if changed.is_empty() {
        // Same fields and values, in another order.
        changed.push("(the order of the header fields)".to_string());
    }
    changed
}

struct Field {
    /// Lower-cased name, the key for comparing.
    name: Vec<u8>,
    /// The name as written.
    shown: Vec<u8>,
    /// Unfolded, white space trimmed at both ends.
    value: Vec<u8>,
    trace: bool,
}

/// One header field as [`each_field`] hands it over.
struct FieldRef<'a> {
    name: &'a [u8],
    shown: &'a [u8],
    value: &'a [u8],
    trace: bool,
}

/// The header section as fields, for comparing two copies.
fn fields(raw: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    each_field(raw, |f| {
        out.push(Field {
            name: f.name.to_vec(),
            shown: f.shown.to_vec(),
            value: f.value.to_vec(),
            trace: f.trace,
        })
    });
    out
}

/// Calls `visit` with each field of the header section in order: its
/// lower-cased name, the name as written, the value unfolded and trimmed.
/// A line that is neither a field nor a continuation counts as a field of
/// its own (name = the line), so that it is compared too, except an mbox
/// `From ` envelope line, which is trace. Every message's content hash
/// passes here, so the buffers are reused rather than allocated per field.
fn each_field(raw: &[u8], mut visit: impl FnMut(FieldRef<'_>)) {
    let end = crate::mail::parse::header_end(raw).unwrap_or(raw.len());
    let (mut name, mut shown, mut value) = (Vec::new(), Vec::new(), Vec::new());
    let mut pending: Option<bool> = None; // Some(trace) while a field is open
    let mut flush = |name: &[u8], shown: &[u8], value: &[u8], trace: bool| {
        visit(FieldRef {
            name,
            shown,
            value,
            trace,
        })
    };
    for (i, line) in raw[..end].split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if matches!(line[0], b' ' | b'\t') && pending.is_some() {
            value.extend_from_slice(line);
            trim_in_place(&mut value);
            continue;
        }
        if let Some(trace) = pending.take() {
            flush(&name, &shown, &value, trace);
        }
        // The mbox envelope line, which also holds colons (in its date);
        // `From :` is a From field in obsolete syntax.
        let envelope =
            i == 0 && line.starts_with(b"From ") && !line[5..].trim_ascii().starts_with(b":");
        let (n, v, trace) = match line.iter().position(|&b| b == b':') {
            _ if envelope => (line, &[][..], true),
            Some(c) => {
                let n = line[..c].trim_ascii();
                let trace = std::str::from_utf8(n).is_ok_and(is_trace_header);
                (n, line[c + 1..].trim_ascii(), trace)
            }
            None => (line, &[][..], false),
        };
        shown.clear();
        shown.extend_from_slice(n);
        name.clear();
        name.extend(n.iter().map(u8::to_ascii_lowercase));
        value.clear();
        value.extend_from_slice(v);
        pending = Some(trace);
    }
    if let Some(trace) = pending {
        flush(&name, &shown, &value, trace);
    }
}

/// [`trim`] on a buffer of one's own.
fn trim_in_place(v: &mut Vec<u8>) {
    let end = v
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    v.truncate(end);
    let start = v
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(v.len());
    v.drain(..start);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(raw: &[u8]) -> String {
        content_sha256(raw, &body_sha256(raw))
    }

    const MAIL: &[u8] = b"From: alice@bank.example\r\nSubject: Phishing\r\nMessage-ID: <r1@bank.example>\r\n\r\nbody\r\n";

    /// Stored records keep these hashes: the way they are computed must
    /// not drift, or every later delivery of an earlier message would
    /// look changed. (Values from the field list of issue 13's first
    /// version, recomputed independently.)
    #[test]
    fn content_hashes_stay_as_stored() {
        assert_eq!(
            content(MAIL),
            "fe2c5407e5f491205a463d8d43904fa4fe51ddcf5d3a4a115b5bbdacc8253d3e"
        );
        let odd = b"From mbox Mon\nX-Spam-Flag: YES\nSUBJECT:\n  folded\n\tagain  \nno colon\nReceived: x\n\n\nbody\n";
        assert_eq!(
            content(odd),
            "8d63cf418c711a628dfc41b4f46464849ee8c12473f3dcec56c5265178227e16"
        );
    }

    #[test]
    fn body_hashes_stay_as_stored() {
        // Mixed line ends: each CRLF is folded, lone CRs are kept.
        let mixed = b"Subject: x\r\n\r\nli\rne1\r\nline2\nline3\r\r\nx \r\n\r\n";
        assert_eq!(
            body_sha256(mixed),
            "146027475c74756ee1ab48da401325bc940e291e90bb163bfd2bc0a707dc03f5"
        );
        // No CRLF at all: hashed as it is, with one final LF.
        let bare = b"Subject: x\n\na\rb\n\nc\n\n\t";
        assert_eq!(
            body_sha256(bare),
            "56fd27288d0e074f5b1898dad447fe1598649bdee54de8830f2551288d7fd6ad"
        );
    }

    #[test]
    fn body_hash_ignores_headers_and_line_ends() {
        let a = b"Received: one\r\nSubject: x\r\n\r\nline1\r\nline2\r\n";
        let b = b"Delivered-To: cert@x\nReceived: two\nSubject: x\n\nline1\nline2\n\n";
        let c = b"Subject: x\r\n\r\nline1\r\nline3\r\n";
        assert_eq!(body_sha256(a), body_sha256(b));
        assert_ne!(body_sha256(a), body_sha256(c));
    }

    #[test]
    fn trace_headers_line_ends_and_folding_do_not_make_another_message() {
        let mut routed = b"From alice@bank.example Mon Nov 16 10:00:00 2026\n\
Received: from mx2 by mx1;\n\tMon, 16 Nov 2026 10:01:00 +0000\n\
Return-Path: <alice@bank.example>\nDelivered-To: abuse@cert.example\n\
X-Original-To: abuse@cert.example\nAuthentication-Results: mx1; spf=pass\n\
ARC-Seal: i=1; cv=none\nARC-Message-Signature: i=1\nDKIM-Signature: v=1; d=relay.example\n\
X-Spam-Status: No, score=-1\nX-Virus-Scanned: clamav\n"
            .to_vec();
        routed.extend(
            b"from:   alice@bank.example\nSubject:\n Phishing\nMessage-ID: <r1@bank.example>\n\nbody\n\n",
        );
        assert_eq!(content(MAIL), content(&routed));
    }

    #[test]
    fn any_other_header_or_the_body_makes_another_message() {
        let text = std::str::from_utf8(MAIL).unwrap();
        for other in [
            text.replace("alice@", "mallory@"),
            text.replace("Phishing", "Phishing (2)"),
            text.replace("Subject:", "X-Mailer: x\r\nSubject:"),
            text.replace("body", "other body"),
            text.replace(
                "Subject: Phishing\r\n",
                "Subject: Phishing\r\nno colon here\r\n",
            ),
        ] {
            assert_ne!(content(MAIL), content(other.as_bytes()), "{other}");
        }
    }

    #[test]
    fn the_changed_fields_are_named_as_written() {
        let text = std::str::from_utf8(MAIL).unwrap();
        let other = text
            .replace("alice@", "mallory@")
            .replace("Subject: Phishing", "SUBJECT: Phishing!")
            .replace("\r\n\r\n", "\r\nX-Mailer: evil\r\n\r\n");
        let routed = format!("Received: from elsewhere\r\n{other}");
        assert_eq!(
            changed_headers(MAIL, routed.as_bytes()),
            ["From", "SUBJECT", "X-Mailer"]
        );
        let swapped = text.replace(
            "From: alice@bank.example\r\nSubject: Phishing\r\n",
            "Subject: Phishing\r\nFrom: alice@bank.example\r\n",
        );
        assert_eq!(
            changed_headers(MAIL, swapped.as_bytes()),
            ["(the order of the header fields)"]
        );
        let hostile = text.replace("Subject:", "X-\x1b]0;pwned\x07: 1\r\nSubject:");
        assert_eq!(
            changed_headers(MAIL, hostile.as_bytes()),
            ["(a header line that is not a field name)"]
        );
    }
}

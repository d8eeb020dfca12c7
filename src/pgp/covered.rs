//! Reading a signer's words out of exactly what their signature covers.
//!
//! The text that is relayed, parsed for commands or published comes from
//! here, and only from here: from the bytes the signature was checked
//! over, read with the same MIME code (`mime.rs`) whose reading gave the
//! verdict. mail-parser, which reads the whole message for tickets and
//! indicators, is never asked what a signer said: two readers of one
//! message are two messages to an attacker.

use super::mime::{self, Field};
use super::walk::Covered;

/// Text read at most: a handler's reply or an advisory is not a novel.
pub const MAX_SIGNED_TEXT: usize = 256 * 1024;
/// Nesting followed and parts looked at when searching the text part.
const MAX_DEPTH: usize = 8;
const MAX_PARTS: usize = 64;

/// What a signature covers, read for people and commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedText {
    /// The first plain-text part (or the signed text itself), decoded.
    pub text: String,
    /// The protected Subject, when the signed entity carries one.
    pub subject: Option<String>,
    /// Protected To and Cc addresses, normalised.
    pub recipients: Vec<String>,
}

/// The signer's words in `covered`.
pub fn read(covered: &Covered) -> SignedText {
    match covered {
        Covered::Text(t) => SignedText {
            text: bounded(&String::from_utf8_lossy(t)),
            ..SignedText::default()
        },
        Covered::Entity(e) if !looks_like_entity(e) => SignedText {
            text: bounded(&String::from_utf8_lossy(e)),
            ..SignedText::default()
        },
        Covered::Entity(e) => read_entity(e),
    }
}

/// A decrypted payload is either a MIME entity or plain text; text that
/// happens to contain a colon on its first line must not be taken for
/// headers, so an entity must start with a MIME field.
fn looks_like_entity(p: &[u8]) -> bool {
    let head = &p[..p.len().min(2048)];
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    lower.starts_with("content-")
        || lower.starts_with("mime-version:")
        || lower.contains("\ncontent-type:")
}

fn read_entity(e: &[u8]) -> SignedText {
    let ent = mime::split(e);
    let fields = mime::fields(ent.header);
    let mut out = SignedText::default();
    protected(ent.header, &mut out);
    if out.subject.is_none() && out.recipients.is_empty() {
        legacy_display_part(&fields, ent.body, &mut out);
    }
    let mut budget = MAX_PARTS;
    out.text = first_text(&fields, ent.body, 0, &mut budget)
        .map(|t| bounded(&t))
        .unwrap_or_default();
    out
}

/// Subject, To and Cc from a header section that the signature covers.
fn protected(header: &[u8], out: &mut SignedText) {
    let mut h = header.to_vec();
    h.extend_from_slice(b"\r\n");
    let Some(parsed) = mail_parser::MessageParser::default().parse_headers(&h[..]) else {
        return;
    };
    out.subject = parsed.subject().map(str::to_string);
    for list in [parsed.to(), parsed.cc()].into_iter().flatten() {
        out.recipients.extend(
            list.iter()
                .filter_map(|a| a.address())
                .map(crate::model::normalize_address),
        );
    }
}

/// The older form of protected headers: a first `text/rfc822-headers`
/// part with `protected-headers` set, inside the signed entity.
fn legacy_display_part(fields: &[Field], body: &[u8], out: &mut SignedText) {
    let ct = mime::content_type(fields, "text/plain");
    let Some(first) = ct
        .param("boundary")
        .and_then(|b| mime::parts(body, b))
        .and_then(|p| p.first().copied())
    else {
        return;
    };
    let fe = mime::split(first);
    let ff = mime::fields(fe.header);
    let fct = mime::content_type(&ff, "text/plain");
    if fct.mime == "text/rfc822-headers" && fct.param("protected-headers").is_some() {
        protected(&mime::decode(fe.body, &ff), out);
    }
}

/// The first inline plain-text part, depth first, as a reader sees it:
/// attachments, forwarded messages and protected-header display parts
/// are not the signer's words.
fn first_text(fields: &[Field], body: &[u8], depth: usize, budget: &mut usize) -> Option<String> {
    if depth > MAX_DEPTH || *budget == 0 {
        return None;
    }
    *budget -= 1;
    let ct = mime::content_type(fields, "text/plain");
    if ct.mime.starts_with("multipart/") {
        let parts = mime::parts(body, ct.param("boundary")?)?;
        return parts.into_iter().find_map(|p| {
            let ent = mime::split(p);
            let f = mime::fields(ent.header);
            first_text(&f, ent.body, depth + 1, budget)
        });
    }
    if ct.mime != "text/plain" {
        return None;
    }
    let attachment = mime::field(fields, "content-disposition")
        .is_some_and(|d| d.text().to_ascii_lowercase().starts_with("attachment"));
    if attachment {
        return None;
    }
    let bytes = mime::decode(body, fields);
    Some(decode_charset(
        &bytes,
        ct.param("charset").unwrap_or("us-ascii"),
    ))
}

fn decode_charset(bytes: &[u8], charset: &str) -> String {
    let cs = charset.trim().to_ascii_lowercase();
    if matches!(cs.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii" | "") {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match mail_parser::decoders::charsets::map::charset_decoder(cs.as_bytes()) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn bounded(s: &str) -> String {
    let mut cut = s.len().min(MAX_SIGNED_TEXT);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.get(..cut).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_inline_text_part_is_read() {
        let e = b"Content-Type: multipart/mixed; boundary=\"m\"; protected-headers=\"v1\"\r\nSubject: Re: [CERT-EX #2026-00001] x\r\nTo: cert@cert.example\r\n\r\n--m\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nnot this\r\n--m--\r\n";
        let t = read(&Covered::Entity(e.to_vec()));
        assert_eq!(t.text.trim_end(), "Grüße");
        assert_eq!(t.subject.as_deref(), Some("Re: [CERT-EX #2026-00001] x"));
        assert_eq!(t.recipients, vec!["cert@cert.example"]);
    }

    #[test]
    fn attachments_and_forwarded_mail_are_not_the_signers_words() {
        let e = b"Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n/tlp clear\r\n--m\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y\r\n\r\n/assign bob\r\n--m--\r\n";
        assert_eq!(read(&Covered::Entity(e.to_vec())).text, "");
    }

    #[test]
    fn plain_payloads_and_inline_text_are_text() {
        let t = read(&Covered::Entity(b"Note: this is text\r\nDone.".to_vec()));
        assert_eq!(t.text, "Note: this is text\r\nDone.");
        assert_eq!(read(&Covered::Text(b"hi".to_vec())).text, "hi");
    }

    #[test]
    fn the_legacy_display_part_gives_the_protected_subject() {
        let e = b"Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/rfc822-headers; protected-headers=\"v1\"\r\n\r\nSubject: [CERT-EX #2026-00007] s\r\n--m\r\nContent-Type: text/plain\r\n\r\nbody\r\n--m--\r\n";
        let t = read(&Covered::Entity(e.to_vec()));
        assert_eq!(t.subject.as_deref(), Some("[CERT-EX #2026-00007] s"));
        assert_eq!(t.text, "body");
    }
}

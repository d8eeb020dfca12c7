//! From hostile bytes to the facts the workflow decides on. Parsing never
//! fails: whatever mail-parser cannot make sense of becomes a flag, and the
//! raw bytes are kept by the caller regardless.

use super::checked::{self, Checker, Mailbox, Malformed};
use super::syntax;
use crate::config::LimitsConfig;
use crate::model::{normalize_address, Flag};
use mail_parser::{HeaderName, Message, MessageParser, PartType};
use std::collections::BTreeSet;

/// Headers larger than this are not read for an oversized message: a giant
/// message gets only its routing facts extracted.
const HEADER_SCAN_LIMIT: usize = 256 * 1024;

/// What the pipeline needs to know about one incoming message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedMail {
    pub message_id: Option<String>,
    /// Every address of every From header, normalised, in order.
    pub from: Vec<String>,
    pub from_header_count: usize,
    /// The first From header as written (display name and address), for people.
    pub from_display: Option<String>,
    pub sender: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    /// The Date header in RFC 3339; claimed by the sender, never trusted.
    pub date: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// `Some("")` for the null sender `<>`.
    pub return_path: Option<String>,
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub list_id: Option<String>,
    pub x_loop: Vec<String>,
    /// For a delivery or feedback report (multipart/report): the
    /// Message-IDs of the messages it reports on, so that a bounce of our own
    /// mail lands on the ticket that sent it.
    pub reported_message_ids: Vec<String>,
    pub mime_depth: usize,
    pub part_count: usize,
    pub flags: BTreeSet<Flag>,
    /// Checked header values that failed and were left out of the fields
    /// above (flag `malformed-header`).
    pub malformed: Vec<Malformed>,
}

impl ParsedMail {
    /// The single address a reply would go to; `None` when From is missing
    /// or ambiguous, because guessing would send mail to a stranger.
    pub fn single_from(&self) -> Option<&str> {
        if self.malformed_from() {
            return None;
        }
        match (self.from.as_slice(), self.from_header_count) {
            ([one], 1) => Some(one.as_str()),
            _ => None,
        }
    }

    /// A From header was there but unusable.
    pub fn malformed_from(&self) -> bool {
        self.malformed.iter().any(|m| m.header == "From")
    }
}

pub fn parse(raw: &[u8], limits: &LimitsConfig) -> ParsedMail {
    parse_with(raw, limits, |_| ()).0
}

/// Parses once and lets `also` read the whole parsed message (for
/// indicators) while it exists; `also` runs only for mail parsed in full
/// (not unparsed, not oversized).
pub fn parse_with<T>(
    raw: &[u8],
    limits: &LimitsConfig,
    also: impl FnOnce(&Message<'_>) -> T,
) -> (ParsedMail, Option<T>) {
    // mail-parser documents that it never panics; a CSIRT's intake must not
    // bet its uptime on that, so a panic becomes the `unparsed` flag.
    let run = std::panic::AssertUnwindSafe(|| parse_inner(raw, limits, also));
    match std::panic::catch_unwind(run) {
        Ok(p) => p,
        Err(_) => {
            tracing::error!(
                size = raw.len(),
                "mail parser panicked; storing the message raw and unparsed"
            );
            (unparsed(), None)
        }
    }
}

/// The header facts alone, as for an oversized message: for a message
/// whose full parse or analysis failed, so that it is still threaded.
pub fn parse_headers_only(raw: &[u8], limits: &LimitsConfig) -> ParsedMail {
    let headers_only = LimitsConfig {
        max_message_size: 0,
        ..*limits
    };
    let mut p = parse(raw, &headers_only);
    p.flags.remove(&Flag::Oversized);
    p
}

fn unparsed() -> ParsedMail {
    let mut p = ParsedMail::default();
    p.flags.insert(Flag::Unparsed);
    p
}

fn parse_inner<T>(
    raw: &[u8],
    limits: &LimitsConfig,
    also: impl FnOnce(&Message<'_>) -> T,
) -> (ParsedMail, Option<T>) {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return (unparsed(), None);
    }
    let oversized = raw.len() > limits.max_message_size;
    let parser = MessageParser::default();
    let message = if oversized {
        parser.parse_headers(header_block(raw))
    } else {
        parser.parse(raw)
    };
    let Some(message) = message else {
        return (unparsed(), None);
    };
    // mail-parser accepts anything and finds "headers" in binary junk; a
    // message without one standard header field is not mail.
    let is_mail = message.parts.first().is_some_and(|p| {
        p.headers
            .iter()
            .any(|h| !matches!(h.name, HeaderName::Other(_)))
    });
    if !is_mail {
        return (unparsed(), None);
    }
    let mut p = facts(&message);
    if !oversized {
        p.reported_message_ids = reported_message_ids(&message);
    }
    if oversized {
        p.flags.insert(Flag::Oversized);
    } else {
        let (depth, parts) = structure(&message);
        p.mime_depth = depth;
        p.part_count = parts;
        if depth > limits.max_mime_depth {
            p.flags.insert(Flag::TooDeep);
        }
        if parts > limits.max_parts {
            p.flags.insert(Flag::TooManyParts);
        }
    }
    let extra = (!oversized).then(|| also(&message));
    (p, extra)
}

/// The header section of a message, bounded, for messages too large to parse whole.
fn header_block(raw: &[u8]) -> &[u8] {
    let scan = &raw[..raw.len().min(HEADER_SCAN_LIMIT)];
    &scan[..header_end(scan).unwrap_or(scan.len())]
}

/// Where the body starts: just after the first empty line (`\n\n` or
/// `\r\n\r\n`), found in one pass.
pub fn header_end(raw: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = memchr::memchr(b'\n', raw.get(from..)?) {
        let nl = from + p;
        let rest = raw.get(nl + 1..).unwrap_or_default();
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") && nl > 0 && raw[nl - 1] == b'\r' {
            return Some(nl + 3);
        }
        from = nl + 1;
    }
    None
}

fn facts(m: &Message<'_>) -> ParsedMail {
    let mut p = ParsedMail {
        subject: m.subject().map(|s| s.to_string()),
        date: m.date().filter(|d| d.is_valid()).map(|d| d.to_rfc3339()),
        ..ParsedMail::default()
    };
    let mut check = Checker::default();
    let mut first_from = None;
    // Identifier fields: the last of each counts, as in mail-parser.
    let last = |name: HeaderName<'static>| m.headers().iter().rev().find(move |h| h.name == name);
    p.message_id = last(HeaderName::MessageId).and_then(|h| check.ids(m, h).into_iter().next());
    p.in_reply_to = last(HeaderName::InReplyTo).map_or_else(Vec::new, |h| bounded(check.ids(m, h)));
    p.references = last(HeaderName::References).map_or_else(Vec::new, |h| bounded(check.ids(m, h)));
    for h in m.headers() {
        match h.name {
            HeaderName::From => {
                p.from_header_count += 1;
                // A bad address beside good ones leaves no single sender:
                // `single_from` sees the malformed From.
                let boxes = check.mailboxes(m, h);
                if first_from.is_none() {
                    first_from = boxes.first().cloned();
                }
                p.from.extend(boxes.into_iter().map(|b| b.address));
            }
            HeaderName::Sender if p.sender.is_none() => {
                p.sender = check.mailboxes(m, h).into_iter().next().map(|b| b.address);
            }
            HeaderName::To => {
                p.to.extend(check.mailboxes(m, h).into_iter().map(|b| b.address))
            }
            HeaderName::Cc => {
                p.cc.extend(check.mailboxes(m, h).into_iter().map(|b| b.address))
            }
            HeaderName::ReplyTo => {
                check.mailboxes(m, h);
            }
            _ => {}
        }
    }
    if let Some(b) = &first_from {
        p.from_display = Some(from_display(b, &mut p.flags));
    }
    p.malformed = check.malformed;
    if !p.malformed.is_empty() {
        p.flags.insert(Flag::MalformedHeader);
    }

    p.return_path = raw_header(m, "Return-Path").map(|v| normalize_address(&v));
    p.auto_submitted = raw_header(m, "Auto-Submitted").map(|v| first_token(&v));
    p.precedence = raw_header(m, "Precedence").map(|v| first_token(&v));
    p.list_id = raw_header(m, "List-Id").map(|v| v.trim().to_string());
    p.x_loop = raw_headers(m, "X-Loop")
        .map(|v| normalize_address(&v))
        .collect();

    if p.from.is_empty() {
        p.flags.insert(Flag::NoFrom);
    }
    if p.from.len() > 1 || p.from_header_count > 1 {
        p.flags.insert(Flag::MultipleFrom);
    }
    if p.message_id.is_none() {
        p.flags.insert(Flag::NoMessageId);
    }
    p
}

/// The first From mailbox for people. A display name that holds another
/// address is the spoof it looks like: the real address goes first, and
/// the name after it, marked as a name.
fn from_display(b: &Mailbox, flags: &mut BTreeSet<Flag>) -> String {
    match b.name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(name) if checked::other_address_in_name(name, &b.address).is_some() => {
            flags.insert(Flag::DisplayNameAddress);
            format!("{} (display name \"{name}\")", b.address)
        }
        Some(name) => format!("{name} <{}>", b.address),
        None => b.address.clone(),
    }
}

fn reported_message_ids(m: &Message<'_>) -> Vec<String> {
    use mail_parser::MimeHeaders;
    let is_type = |ct: Option<&mail_parser::ContentType<'_>>, t: &str, s: &str| {
        ct.is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case(t)
                && ct.subtype().is_some_and(|x| x.eq_ignore_ascii_case(s))
        })
    };
    if !is_type(m.content_type(), "multipart", "report") {
        return Vec::new();
    }
    let mut ids = Vec::new();
    for part in m.parts.iter().take(32) {
        let id = match &part.body {
            PartType::Message(inner) => inner.message_id().and_then(|i| syntax::message_id(i).ok()),
            PartType::Text(text) if is_type(part.content_type(), "text", "rfc822-headers") => {
                MessageParser::default()
                    .parse_headers(text.as_bytes())
                    .and_then(|h| h.message_id().and_then(|i| syntax::message_id(i).ok()))
            }
            _ => None,
        };
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            ids.push(id);
        }
    }
    ids
}

/// A References header is attacker-sized; only the most recent entries
/// matter for threading.
fn bounded(mut ids: Vec<String>) -> Vec<String> {
    let skip = ids.len().saturating_sub(64);
    ids.drain(..skip);
    ids
}

fn first_token(v: &str) -> String {
    v.split(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .find(|t| !t.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Header values by name, as written (unfolded), for fields mail-parser does not model.
fn raw_headers<'a>(m: &'a Message<'_>, name: &'a str) -> impl Iterator<Item = String> + 'a {
    let raw = m.raw_message();
    m.headers()
        .iter()
        .filter(move |h| h.name().eq_ignore_ascii_case(name))
        .map(move |h| {
            let start = (h.offset_start as usize).min(raw.len());
            let end = (h.offset_end as usize).clamp(start, raw.len());
            String::from_utf8_lossy(&raw[start..end])
                .split(['\r', '\n'])
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_string()
        })
}

fn raw_header(m: &Message<'_>, name: &str) -> Option<String> {
    raw_headers(m, name).next()
}

/// MIME nesting depth and part count, walked without recursion because the
/// nesting is chosen by the sender.
fn structure(m: &Message<'_>) -> (usize, usize) {
    let mut max_depth = 0;
    let mut parts = 0;
    let mut stack: Vec<(&Message<'_>, u32, usize)> = vec![(m, 0, 1)];
    while let Some((msg, part_id, depth)) = stack.pop() {
        let Some(part) = msg.parts.get(part_id as usize) else {
            continue;
        };
        parts += 1;
        max_depth = max_depth.max(depth);
        if parts > 1_000_000 {
            break;
        }
        match &part.body {
            PartType::Multipart(children) => {
                for &c in children {
                    // A child that points back at or before its parent would loop.
                    if c > part_id {
                        stack.push((msg, c, depth + 1));
                    }
                }
            }
            PartType::Message(inner) => stack.push((inner, 0, depth + 1)),
            _ => {}
        }
    }
    (max_depth, parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LimitsConfig {
        LimitsConfig {
            max_message_size: 64 * 1024,
            max_stored_size: 1 << 20,
            max_mime_depth: 8,
            max_parts: 50,
            ..Default::default()
        }
    }

    #[test]
    fn plain_report_facts() {
        let raw = b"From: Alice <Alice@Bank.example>\r\nTo: cert@cert.example\r\nSubject: Phishing\r\nMessage-ID: <a1@bank.example>\r\nIn-Reply-To: <x@y>\r\nReferences: <r1@y> <x@y>\r\nAuto-Submitted: No\r\nX-Loop: Other@x.example\r\n\r\nbody\r\n";
        let p = parse(raw, &limits());
        assert_eq!(p.message_id.as_deref(), Some("a1@bank.example"));
        assert_eq!(p.single_from(), Some("alice@bank.example"));
        assert_eq!(
            p.from_display.as_deref(),
            Some("Alice <alice@bank.example>")
        );
        assert_eq!(p.in_reply_to, vec!["x@y"]);
        assert_eq!(p.references, vec!["r1@y", "x@y"]);
        assert_eq!(p.auto_submitted.as_deref(), Some("no"));
        assert_eq!(p.x_loop, vec!["other@x.example"]);
        assert!(p.flags.is_empty(), "{:?}", p.flags);
    }

    #[test]
    fn junk_and_empty_are_unparsed() {
        assert!(parse(b"", &limits()).flags.contains(&Flag::Unparsed));
        assert!(parse(b" \r\n", &limits()).flags.contains(&Flag::Unparsed));
        let junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let p = parse(&junk, &limits());
        assert!(
            p.flags.contains(&Flag::Unparsed) || p.flags.contains(&Flag::NoFrom),
            "{:?}",
            p.flags
        );
    }

    #[test]
    fn two_from_headers_are_ambiguous() {
        let raw = b"From: a@x.example\r\nFrom: b@y.example\r\nSubject: s\r\n\r\nhi";
        let p = parse(raw, &limits());
        assert!(p.flags.contains(&Flag::MultipleFrom));
        assert_eq!(p.single_from(), None);
    }

    #[test]
    fn oversized_reads_headers_only() {
        let mut raw = b"From: a@x.example\r\nSubject: big\r\nMessage-ID: <big@x>\r\n\r\n".to_vec();
        raw.extend(std::iter::repeat_n(b'A', 100 * 1024));
        let p = parse(&raw, &limits());
        assert!(p.flags.contains(&Flag::Oversized));
        assert_eq!(p.single_from(), Some("a@x.example"));
        assert_eq!(p.message_id.as_deref(), Some("big@x"));
    }

    #[test]
    fn deep_nesting_is_flagged() {
        let mut raw = String::from("From: a@x.example\r\nSubject: nest\r\n");
        let depth = 40;
        for i in 0..depth {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\r\n\r\nleaf\r\n");
        for i in (0..depth).rev() {
            raw.push_str(&format!("--b{i}--\r\n"));
        }
        let p = parse(raw.as_bytes(), &limits());
        assert!(
            p.flags.contains(&Flag::TooDeep),
            "depth {} flags {:?}",
            p.mime_depth,
            p.flags
        );
    }

    #[test]
    fn a_bounce_names_the_message_it_reports_on() {
        let raw = "From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered\r\nMessage-ID: <dsn1@mx.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nIt bounced.\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; x@y.example\r\nAction: failed\r\n\r\n\
--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: cert@cert.example\r\nMessage-ID: <cert-ex.2026-00001.ack.0a@cert.example>\r\nSubject: x\r\n\r\n\
--b--\r\n";
        let p = parse(raw.as_bytes(), &limits());
        assert_eq!(
            p.reported_message_ids,
            vec!["cert-ex.2026-00001.ack.0a@cert.example"]
        );
        let plain = parse(
            b"From: a@x.example\r\nSubject: s\r\n\r\nMessage-ID: <not@header>\r\n",
            &limits(),
        );
        assert!(plain.reported_message_ids.is_empty());
    }

    #[test]
    fn header_end_finds_the_first_empty_line() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody"), Some(8));
        assert_eq!(header_end(b"A: b\n\nbody"), Some(6));
        assert_eq!(header_end(b"A: b\n\nx\r\n\r\ny"), Some(6));
        assert_eq!(header_end(b"\n\nbody"), Some(2));
        assert_eq!(header_end(b"A: b\r\nC: d\r\n"), None);
        assert_eq!(header_end(b""), None);
    }
}

//! ACNS (Automated Copyright Notice System, schema acns2_1.xsd) notices: the
//! `<Infringement>` XML that rights holders' agents send to ISPs' abuse
//! desks, usually after some prose in a text/plain body (between `----Start
//! ACNS XML` markers, often PGP clear-signed), sometimes as an XML
//! attachment. Only what a handler acts on is kept, each value checked
//! against its type: a sender's XML is no more trustworthy than its prose.
//!
//! Read with quick-xml from the root element on, so a DOCTYPE before it is
//! never seen and its entities stay unexpanded ("billion laughs" is just
//! text); the size read, the depth, the events and the items are bounded.

use mail_parser::{Message, MimeHeaders, PartType};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::net::IpAddr;

/// XML read from the root element on; real notices are a few KiB.
const MAX_XML: usize = 256 * 1024;
/// Text searched for the root element: the prose before it is short, and
/// a megabyte body must not be searched whole.
const MAX_SEARCH: usize = 1024 * 1024;
/// The schema nests five deep; room for vendors' extensions.
const MAX_DEPTH: usize = 32;
/// Events per document: bounds a flat document of a million empty tags.
const MAX_EVENTS: usize = 50_000;
/// `<Item>`s kept; a notice lists the files of one download, rarely more
/// than a few.
pub const MAX_ITEMS: usize = 64;
/// Text collected per element before it is checked.
const MAX_TEXT: usize = 2048;
const MAX_PARTS: usize = 64;
/// Candidate documents parsed per message.
const MAX_TRIES: usize = 8;

const MAX_CASE_ID: usize = 128;
const MAX_NAME: usize = 256;
const MAX_TOKEN: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcnsItem {
    pub title: Option<String>,
    pub file_name: Option<String>,
    /// `SHA1`, `MD5`, … upper case, as the `Type` attribute says.
    pub hash_type: Option<String>,
    /// Hex in lower case (base32 as written, upper case).
    pub hash: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcnsNotice {
    /// `Case/ID`, required by the schema and by us.
    pub case_id: String,
    /// `Complainant/Entity`: the rights holder.
    pub complainant: Option<String>,
    /// `Source/IP_Address`, IPv4-mapped IPv6 read as IPv4.
    pub source_ip: Option<IpAddr>,
    pub port: Option<u16>,
    /// `Source/TimeStamp` in UTC, RFC 3339 to the second.
    pub timestamp: Option<String>,
    /// `SubType@Protocol`, else `Type`: `BITTORRENT`, `P2P`, …
    pub protocol: Option<String>,
    /// `Source/Type` (`P2P`, `Cyberlocker`, …).
    pub source_type: Option<String>,
    /// `Source/DNS_Name`, lower case.
    pub dns_name: Option<String>,
    /// At most [`MAX_ITEMS`].
    pub items: Vec<AcnsItem>,
}

/// The first ACNS notice in the message's text parts or XML attachments.
pub fn parse(message: &Message<'_>) -> Option<AcnsNotice> {
    let mut tries = 0;
    for part in message.parts.iter().take(MAX_PARTS) {
        let text: Cow<'_, str> = match &part.body {
            PartType::Text(t) => Cow::Borrowed(t.as_ref()),
            PartType::Binary(b) | PartType::InlineBinary(b) if xmlish(part) => decode(b),
            _ => continue,
        };
        let Some(doc) = locate(&text) else {
            continue;
        };
        if let Some(n) = read(doc) {
            return Some(n);
        }
        tries += 1;
        if tries >= MAX_TRIES {
            break;
        }
    }
    None
}

/// The notice in `text`: an XML document, or prose with one inside.
pub fn parse_xml(text: &str) -> Option<AcnsNotice> {
    read(locate(text)?)
}

fn xmlish(part: &mail_parser::MessagePart<'_>) -> bool {
    part.content_type()
        .and_then(|ct| ct.subtype())
        .is_some_and(|s| s.to_ascii_lowercase().contains("xml"))
        || part
            .attachment_name()
            .is_some_and(|n| n.to_ascii_lowercase().ends_with(".xml"))
}

/// An attachment's bytes as text: UTF-16 when its BOM says so, else UTF-8
/// (lossy; a stray byte in a title must not lose the notice).
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = &bytes[..bytes.len().min(MAX_SEARCH + MAX_XML)];
    let utf16 = |be: bool| {
        let units = bytes[2..].chunks_exact(2).map(|c| {
            if be {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        });
        let s: String = char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
        Cow::Owned(s)
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(false),
        [0xFE, 0xFF, ..] => utf16(true),
        _ => String::from_utf8_lossy(bytes),
    }
}

/// From the first `<Infringement` (or `<prefix:Infringement`) start tag
/// to at most [`MAX_XML`] bytes later. The reader stops where the root
/// closes, so whatever follows (the `----End ACNS XML` marker, a PGP
/// signature, more prose) is never parsed.
fn locate(text: &str) -> Option<&str> {
    let text = &text[..floor_boundary(text, MAX_SEARCH)];
    let b = text.as_bytes();
    for at in memchr::memmem::find_iter(b, b"Infringement").take(256) {
        let after = b.get(at + "Infringement".len()).copied();
        if !matches!(after, Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')) {
            continue;
        }
        // Back over an optional `prefix:` to the `<`.
        let mut start = at;
        if start > 0 && b[start - 1] == b':' {
            start -= 1;
            let prefix_end = start;
            while start > 0
                && (b[start - 1].is_ascii_alphanumeric() || b"_.-".contains(&b[start - 1]))
            {
                start -= 1;
            }
            if start == prefix_end {
                continue;
            }
        }
        if start == 0 || b[start - 1] != b'<' {
            continue;
        }
        let doc = &text[start - 1..];
        return Some(&doc[..floor_boundary(doc, MAX_XML)]);
    }
    None
}

fn floor_boundary(s: &str, max: usize) -> usize {
    let mut cut = s.len().min(max);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

/// Values as written, before they are checked.
#[derive(Default)]
struct Raw {
    case_id: Option<String>,
    complainant: Option<String>,
    ip: Option<String>,
    port: Option<String>,
    timestamp: Option<String>,
    protocol: Option<String>,
    source_type: Option<String>,
    dns_name: Option<String>,
    items: Vec<RawItem>,
    /// Whether the open `<Item>` has a slot: past [`MAX_ITEMS`] its fields
    /// must not land in the last kept item.
    item_kept: bool,
}

#[derive(Default)]
struct RawItem {
    title: Option<String>,
    file_name: Option<String>,
    hash_type: Option<String>,
    hash: Option<String>,
}

/// The root's namespace: the ACNS one, none, or an undeclared prefix
/// (sloppy senders); a document of another vocabulary is not ours.
fn acns_namespace(ns: &ResolveResult<'_>) -> bool {
    match ns {
        ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref())
            .to_ascii_lowercase()
            .contains("acns"),
        ResolveResult::Unbound | ResolveResult::Unknown(_) => true,
    }
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    let a = e
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)?;
    let v = a.normalized_value(XmlVersion::Implicit1_0).ok()?;
    Some(v.chars().take(MAX_TEXT).collect())
}

use super::iodef::entity;

/// Reads the document that starts at the root; None unless it is an ACNS
/// `Infringement` that closes within the bounds and has a valid case ID.
fn read(doc: &str) -> Option<AcnsNotice> {
    let mut reader = NsReader::from_str(doc);
    let mut path: Vec<String> = Vec::new();
    let mut raw = Raw::default();
    let mut text = String::new();
    for _ in 0..MAX_EVENTS {
        let (ns, ev) = reader.read_resolved_event().ok()?;
        match ev {
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return None;
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if path.is_empty() && (name != "Infringement" || !acns_namespace(&ns)) {
                    return None;
                }
                start(&mut raw, path.last().map(String::as_str), &name, &e);
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                if path.is_empty() {
                    return None;
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                start(&mut raw, path.last().map(String::as_str), &name, &e);
                text.clear();
            }
            Event::Text(t) if text.len() < MAX_TEXT => text.push_str(&t.decode().ok()?),
            Event::CData(t) if text.len() < MAX_TEXT => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::GeneralRef(r) if text.len() < MAX_TEXT => match r.resolve_char_ref() {
                Ok(Some(c)) => text.push(c),
                Ok(None) => text.push_str(entity(&r.decode().ok()?)),
                Err(_) => {}
            },
            Event::End(_) => {
                let name = path.pop()?;
                let value: String = text.trim().chars().take(MAX_TEXT).collect();
                text.clear();
                if path.is_empty() {
                    return finish(raw);
                }
                if !value.is_empty() {
                    end(&mut raw, &path, &name, value);
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
    None
}

/// What a start tag says: a new `<Item>`, or the attributes that matter.
fn start(raw: &mut Raw, parent: Option<&str>, name: &str, e: &BytesStart<'_>) {
    match (parent, name) {
        (Some("Content"), "Item") => {
            raw.item_kept = raw.items.len() < MAX_ITEMS;
            if raw.item_kept {
                raw.items.push(RawItem::default());
            }
        }
        (Some("Source"), "SubType") if raw.protocol.is_none() => {
            raw.protocol = attr(e, b"Protocol");
        }
        (Some("Item"), "Hash") if raw.item_kept => {
            if let Some(item) = raw.items.last_mut() {
                item.hash_type = attr(e, b"Type");
            }
        }
        _ => {}
    }
}

/// An element's text, by where it stands; the first of each is kept.
fn end(raw: &mut Raw, path: &[String], name: &str, value: String) {
    let parent = path.last().map(String::as_str);
    let in_item = raw.item_kept
        && parent == Some("Item")
        && path.iter().rev().nth(1).is_some_and(|p| p == "Content");
    let slot = match (parent, name) {
        (Some("Case"), "ID") => &mut raw.case_id,
        (Some("Complainant"), "Entity") => &mut raw.complainant,
        (Some("Source"), "IP_Address") => &mut raw.ip,
        (Some("Source"), "Port") => &mut raw.port,
        (Some("Source"), "TimeStamp") => &mut raw.timestamp,
        (Some("Source"), "Type") => &mut raw.source_type,
        (Some("Source"), "DNS_Name") => &mut raw.dns_name,
        _ if in_item => {
            let Some(item) = raw.items.last_mut() else {
                return;
            };
            match name {
                "Title" => &mut item.title,
                "FileName" => &mut item.file_name,
                "Hash" => &mut item.hash,
                _ => return,
            }
        }
        _ => return,
    };
    slot.get_or_insert(value);
}

fn finish(raw: Raw) -> Option<AcnsNotice> {
    let case_id = raw.case_id.as_deref().and_then(case_id)?;
    let source_type = raw.source_type.as_deref().and_then(|t| token(t, MAX_TOKEN));
    let protocol = raw
        .protocol
        .as_deref()
        .and_then(protocol)
        .or_else(|| raw.source_type.as_deref().and_then(protocol));
    Some(AcnsNotice {
        case_id,
        complainant: raw
            .complainant
            .as_deref()
            .and_then(|c| free_text(c, MAX_NAME)),
        source_ip: raw.ip.as_deref().and_then(ip),
        port: raw.port.as_deref().and_then(port),
        timestamp: raw.timestamp.as_deref().and_then(timestamp),
        protocol,
        source_type,
        dns_name: raw.dns_name.as_deref().and_then(hostname),
        items: raw
            .items
            .into_iter()
            .filter_map(|i| {
                let (hash_type, hash) = hash(i.hash_type.as_deref(), i.hash.as_deref());
                let item = AcnsItem {
                    title: i.title.as_deref().and_then(|t| free_text(t, MAX_NAME)),
                    file_name: i.file_name.as_deref().and_then(|f| free_text(f, MAX_NAME)),
                    hash_type,
                    hash,
                };
                (item != AcnsItem::default()).then_some(item)
            })
            .collect(),
    })
}

/// Human text (a title, a company): whitespace collapsed, control and
/// invisible formatting characters (bidi overrides, zero-width) removed,
/// so that it displays as what it is; cut to `max` characters.
pub fn free_text(s: &str, max: usize) -> Option<String> {
    let mut out = String::new();
    let mut space = false;
    let mut kept = 0;
    for c in s.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || invisible(c) {
            continue;
        }
        if kept + usize::from(space) >= max {
            break;
        }
        if space {
            out.push(' ');
            space = false;
            kept += 1;
        }
        out.push(c);
        kept += 1;
    }
    (!out.is_empty()).then_some(out)
}

fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Printable ASCII (spaces inside allowed), at most 128 characters.
fn case_id(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()
        && s.len() <= MAX_CASE_ID
        && s.bytes().all(|b| b == b' ' || b.is_ascii_graphic()))
    .then(|| s.to_string())
}

/// `[A-Za-z0-9._-]{1,max}`, as written.
fn token(s: &str, max: usize) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
    .then(|| s.to_string())
}

/// Protocols ACNS senders name, in the spelling handlers search for.
const PROTOCOLS: &[&str] = &[
    "BITTORRENT",
    "GNUTELLA",
    "GNUTELLA2",
    "EDONKEY",
    "EMULE",
    "KAD",
    "ARES",
    "FASTTRACK",
    "DIRECTCONNECT",
    "HTTP",
    "HTTPS",
    "FTP",
    "NNTP",
    "USENET",
    "IRC",
    "P2P",
    "CYBERLOCKER",
    "STREAMING",
];

/// One of [`PROTOCOLS`] (upper case), else a token as written.
fn protocol(s: &str) -> Option<String> {
    let s = s.trim();
    PROTOCOLS
        .iter()
        .find(|p| p.eq_ignore_ascii_case(s))
        .map(|p| p.to_string())
        .or_else(|| token(s, MAX_TOKEN))
}

/// An address that can be an infringer's: not unspecified, loopback or
/// multicast (placeholders and mistakes). Brackets around IPv6 allowed.
fn ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if s.len() > 47 {
        return None;
    }
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    let ip = s.parse::<IpAddr>().ok()?.to_canonical();
    (!(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast())).then_some(ip)
}

fn port(s: &str) -> Option<u16> {
    let s = s.trim();
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

/// `xs:dateTime` as senders write it: RFC 3339, a zone without a colon
/// (`+0000`), or no zone at all, which the ACNS specification says is UTC.
/// Normalised to UTC, to the second.
fn timestamp(s: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
    let s = s.trim();
    if s.len() > 40 {
        return None;
    }
    // ISO 8601 allows a space for the `T` in practice; RFC 3339 §5.6 too.
    let s = match s.as_bytes().get(10) {
        Some(b' ' | b't') => format!("{}T{}", &s[..10], &s[11..]),
        _ => s.to_string(),
    };
    let dt = OffsetDateTime::parse(&s, &Rfc3339)
        .ok()
        .or_else(|| {
            let f = format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
            );
            OffsetDateTime::parse(&s, f).ok()
        })
        .or_else(|| {
            let f = format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
            );
            PrimitiveDateTime::parse(&s, f).ok().map(|p| p.assume_utc())
        })?;
    let dt = dt.to_offset(UtcOffset::UTC).replace_nanosecond(0).ok()?;
    dt.format(&Rfc3339).ok()
}

/// A DNS host name: ASCII labels of letters, digits and inner hyphens, at
/// least two, the last not numeric (an address is not a name).
fn hostname(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
    if s.is_empty() || s.len() > 253 {
        return None;
    }
    let labels: Vec<&str> = s.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let numeric_tld = labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    (labels.len() >= 2 && labels.iter().all(label_ok) && !numeric_tld).then_some(s)
}

/// (type, value): the type a token in upper case; the value hex of the
/// type's length (lower case), or for SHA1 also the 32-character base32 of
/// magnet links; of an unknown type, 8 to 128 letters and digits.
fn hash(kind: Option<&str>, value: Option<&str>) -> (Option<String>, Option<String>) {
    let kind = kind
        .and_then(|k| token(k, 16))
        .map(|k| k.to_ascii_uppercase().replace(['-', '_'], ""));
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return (kind, None);
    };
    let hex = v.bytes().all(|b| b.is_ascii_hexdigit());
    let base32 = v
        .bytes()
        .all(|b| matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'2'..=b'7'));
    let ok = match kind.as_deref() {
        Some("MD5" | "MD4" | "ED2K") => hex && v.len() == 32,
        Some("SHA1" | "BTIH") => (hex && v.len() == 40) || (base32 && v.len() == 32),
        Some("SHA256") => hex && v.len() == 64,
        _ => (8..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric()),
    };
    let v = if hex {
        v.to_ascii_lowercase()
    } else {
        v.to_ascii_uppercase()
    };
    (kind, ok.then_some(v))
}

/// The fields that become indicators: (field name, value).
pub fn fields(n: &AcnsNotice) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(ip) = n.source_ip {
        out.push(("acns:Source/IP_Address".to_string(), ip.to_string()));
    }
    if let Some(d) = &n.dns_name {
        out.push(("acns:Source/DNS_Name".to_string(), d.clone()));
    }
    out.extend(
        n.items
            .iter()
            .filter_map(|i| i.hash.clone())
            .map(|h| ("acns:Content/Item/Hash".to_string(), h)),
    );
    out
}

#[cfg(test)]
mod tests;

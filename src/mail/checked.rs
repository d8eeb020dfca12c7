//! The header fields csirtd may answer to or thread on, checked at intake:
//! Message-ID, In-Reply-To, References, From, Sender, Reply-To, To and Cc.
//! mail-parser is lenient by design (a bare CR, a space or a group inside
//! an address all come through), so its values are checked again here;
//! what fails is recorded as [`Malformed`] and left out of the usable facts.

use super::display;
use super::syntax;
use mail_parser::{Addr, Address, Header, HeaderName, HeaderValue, Message};

/// How much of a malformed value is quoted in the ticket's history.
const SHOWN_CHARS: usize = 200;

/// A header value that was not used because it breaks RFC 5322 syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub header: &'static str,
    /// The value as written, escaped and shortened: for people only.
    pub value: String,
    pub why: String,
}

/// One checked mailbox: the normalised address and the display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub address: String,
    pub name: Option<String>,
}

/// The header's name as this module reports it, for the checked fields.
pub fn label(name: &HeaderName<'_>) -> Option<&'static str> {
    Some(match name {
        HeaderName::From => "From",
        HeaderName::Sender => "Sender",
        HeaderName::ReplyTo => "Reply-To",
        HeaderName::To => "To",
        HeaderName::Cc => "Cc",
        HeaderName::MessageId => "Message-ID",
        HeaderName::InReplyTo => "In-Reply-To",
        HeaderName::References => "References",
        _ => return None,
    })
}

/// The header's value as it stands in the message, folding included.
pub fn raw_value<'a>(m: &'a Message<'_>, h: &Header<'_>) -> &'a [u8] {
    let raw = m.raw_message();
    let start = (h.offset_start as usize).min(raw.len());
    let end = (h.offset_end as usize).clamp(start, raw.len());
    &raw[start..end]
}

/// A control character other than a tab or a fold (a line break followed
/// by white space). A bare CR is one: mail-parser keeps it inside the
/// value, and many readers take it for the end of the line.
fn has_control(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\r', '\n']);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let folds = |p: Option<&char>| matches!(p, Some(' ' | '\t'));
        match c {
            '\t' => {}
            '\r' if chars.peek() == Some(&'\n') => {
                chars.next();
                if !folds(chars.peek()) {
                    return true;
                }
            }
            '\n' if folds(chars.peek()) => {}
            c if c.is_control() => return true,
            _ => {}
        }
    }
    false
}

/// Collects what failed while the usable values are taken out.
#[derive(Debug, Default)]
pub struct Checker {
    pub malformed: Vec<Malformed>,
}

impl Checker {
    fn reject(&mut self, header: &'static str, value: &str, why: impl ToString) {
        self.malformed.push(Malformed {
            header,
            value: display::escape_short(value.trim(), SHOWN_CHARS),
            why: why.to_string(),
        });
    }

    /// The header's name when it is a checked one and its raw value may
    /// be read at all; a value with a control character is recorded.
    fn readable(&mut self, m: &Message<'_>, h: &Header<'_>) -> Option<&'static str> {
        let header = label(&h.name)?;
        let raw = raw_value(m, h);
        if has_control(raw) {
            self.reject(
                header,
                &String::from_utf8_lossy(raw),
                "contains a control character",
            );
            return None;
        }
        Some(header)
    }

    /// The valid mailboxes of an address header. A group in From or Sender
    /// is refused whole: `eve@x bcc: victim@y` parses as a group holding
    /// the victim, and an acknowledgement must not go there.
    pub fn mailboxes(&mut self, m: &Message<'_>, h: &Header<'_>) -> Vec<Mailbox> {
        let Some(header) = self.readable(m, h) else {
            return Vec::new();
        };
        let raw = String::from_utf8_lossy(raw_value(m, h));
        let mailbox_only = matches!(h.name, HeaderName::From | HeaderName::Sender);
        let addrs: Vec<&Addr<'_>> = match &h.value {
            HeaderValue::Address(Address::Group(_)) if mailbox_only => {
                self.reject(header, &raw, "a group where a mailbox list belongs");
                return Vec::new();
            }
            HeaderValue::Address(a) => a.iter().collect(),
            _ => return Vec::new(),
        };
        let lower = raw.to_lowercase();
        let mut out = Vec::new();
        for a in addrs {
            let Some(address) = a.address() else {
                continue;
            };
            let (spec, name) = quoted_local_part(address, a.name(), &lower);
            match syntax::address(&spec) {
                Ok(address) => out.push(Mailbox {
                    address,
                    name: name.map(str::to_string),
                }),
                Err(e) => self.reject(header, &spec, format!("address {e}")),
            }
        }
        out
    }

    /// The valid Message-IDs of an identifier header, in order.
    pub fn ids(&mut self, m: &Message<'_>, h: &Header<'_>) -> Vec<String> {
        let Some(header) = self.readable(m, h) else {
            return Vec::new();
        };
        let ids: Vec<&str> = match &h.value {
            HeaderValue::Text(t) => vec![t.as_ref()],
            HeaderValue::TextList(l) => l.iter().map(|t| t.as_ref()).collect(),
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for id in ids {
            match syntax::message_id(id) {
                Ok(id) => out.push(id),
                Err(syntax::SyntaxError::Empty) => {}
                Err(e) => self.reject(header, id, format!("Message-ID {e}")),
            }
        }
        out
    }
}

/// mail-parser reads `"john.doe"@x.example` as the display name
/// `john.doe` with the address `@x.example`. When the raw value shows a
/// quoted string right before that `@domain`, the name was the local part:
/// put it back, quoted again where RFC 5322 needs it.
fn quoted_local_part<'a>(
    address: &str,
    name: Option<&'a str>,
    raw_lower: &str,
) -> (String, Option<&'a str>) {
    match (address.strip_prefix('@'), name) {
        (Some(domain), Some(local))
            if raw_lower.contains(&format!("\"@{}", domain.to_lowercase())) =>
        {
            (format!("{}@{domain}", syntax::local_part(local)), None)
        }
        _ => (address.to_string(), name),
    }
}

/// An address in a display name other than `real`: the display-name
/// spoof (`ceo@bank.example <eve@bank.example>`). Full-width at signs
/// count, since a reader takes them for the real one.
pub fn other_address_in_name(name: &str, real: &str) -> Option<String> {
    let name = name.replace(['\u{ff20}', '\u{fe6b}'], "@");
    name.split(|c: char| c.is_whitespace() || "<>()[]\"',;:".contains(c) || display::is_unsafe(c))
        .map(|t| t.trim_matches('.').to_lowercase())
        .find(|t| {
            t.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
            }) && t != real
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn from_of(header: &str) -> (Vec<Mailbox>, Vec<Malformed>) {
        let raw = format!("{header}\r\nSubject: x\r\n\r\nbody\r\n");
        let m = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let mut c = Checker::default();
        let h = m.headers().first().unwrap();
        (c.mailboxes(&m, h), c.malformed)
    }

    fn addresses(header: &str) -> Vec<String> {
        from_of(header).0.into_iter().map(|m| m.address).collect()
    }

    #[test]
    fn quoted_local_parts_parse_as_rfc_5322_says() {
        for (header, want) in [
            ("From: \"john.doe\"@evil.example", "john.doe@evil.example"),
            ("From: \"a b\"@x.example", "\"a b\"@x.example"),
            ("From: \"a\\\"b\"@x.example", "\"a\\\"b\"@x.example"),
            (
                "From: John <\"john.doe\"@evil.example>",
                "john.doe@evil.example",
            ),
            ("From: John <\"a b\"@x.example>", "\"a b\"@x.example"),
            ("From: \"John Doe\" <john@x.example>", "john@x.example"),
            ("From: John Doe <john@x.example>", "john@x.example"),
            ("From: john@x.example (John)", "john@x.example"),
            ("From: <john@x.example>", "john@x.example"),
            ("From: john@x.example", "john@x.example"),
        ] {
            assert_eq!(addresses(header), vec![want.to_string()], "{header}");
        }
        let (boxes, _) = from_of("From: \"John Doe\" <john@x.example>");
        assert_eq!(boxes[0].name.as_deref(), Some("John Doe"));
        let (boxes, _) = from_of("From: \"a b\"@x.example");
        assert_eq!(boxes[0].name, None, "the quoted part is no display name");
    }

    #[test]
    fn hostile_address_headers_are_malformed() {
        for header in [
            "From: <x@evil.example\rBcc:victim@bank.example>",
            "From: x@evil.example\rBcc: victim@bank.example",
            "From: <eve3@evil.example bcc: victim@bank.example>",
            "From: eve3@evil.example bcc: victim@bank.example",
            "From: eve3@evil.example bcc:victim@bank.example",
            "From: <eve@evil.example\0>",
            "From: \"john\"@",
            "From: @evil.example",
        ] {
            let (boxes, bad) = from_of(header);
            assert!(boxes.is_empty(), "{header:?} gave {boxes:?}");
            assert_eq!(bad.len(), 1, "{header:?}: {bad:?}");
            assert!(!bad[0].value.contains(['\r', '\0']), "{bad:?}");
        }
    }

    #[test]
    fn groups_are_refused_only_where_a_mailbox_belongs() {
        assert!(addresses("To: undisclosed-recipients:;").is_empty());
        assert_eq!(
            addresses("To: team: a@x.example, b@y.example;"),
            vec!["a@x.example", "b@y.example"]
        );
        let (_, bad) = from_of("From: team: a@x.example;");
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn ids_with_controls_are_dropped() {
        let raw = b"Message-ID: <id3@evil.example\rX-Injected: yes>\r\nReferences: <a@x> <b@y>\r\nFrom: a@x.example\r\n\r\n";
        let m = MessageParser::default().parse(&raw[..]).unwrap();
        let mut c = Checker::default();
        assert!(c.ids(&m, &m.headers()[0]).is_empty());
        assert_eq!(c.ids(&m, &m.headers()[1]), vec!["a@x", "b@y"]);
        assert_eq!(c.malformed.len(), 1);
        assert_eq!(c.malformed[0].header, "Message-ID");
        assert!(c.malformed[0].value.contains("\\rX-Injected"));
    }

    #[test]
    fn folded_values_are_not_controls() {
        assert!(!has_control(b" a@x.example,\r\n b@y.example\r\n"));
        assert!(!has_control(b" a@x.example,\n\tb@y.example\n"));
        assert!(has_control(b" a@x.example\rBcc: v@y\r\n"));
        assert!(has_control(b" a@x.example\0\r\n"));
        assert!(has_control(b" a\x1b]0;x\x07@x.example\r\n"));
    }

    #[test]
    fn display_names_holding_another_address() {
        let real = "eve@bank.example";
        for name in [
            "ceo@bank.example",
            "CEO <ceo@bank.example>",
            "The CEO (ceo@bank.example)",
            "ceo\u{ff20}bank.example",
            "'ceo@bank.example'.",
        ] {
            assert_eq!(
                other_address_in_name(name, real).as_deref(),
                Some("ceo@bank.example"),
                "{name}"
            );
        }
        for name in [
            "Eve",
            "eve@bank.example",
            "EVE@Bank.Example",
            "Eve @ home",
            "a@b",
        ] {
            assert_eq!(other_address_in_name(name, real), None, "{name}");
        }
    }
}

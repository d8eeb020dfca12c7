//! RFC 5322/5321 syntax for the header values csirtd may write back into
//! mail of its own: addresses (To of an acknowledgement) and Message-IDs
//! (In-Reply-To, References). A value that fails here is never used in an
//! outgoing header; the raw bytes keep it as evidence.
//!
//! The checks are stricter than the RFCs' obsolete syntax and looser than a
//! validating MTA on details that carry no risk (dots in a local part, a
//! trailing dot in a domain): what must never pass is anything that ends
//! or splits a header or an SMTP command.

use crate::model::{normalize_address, normalize_message_id};

/// RFC 5321's limit for a forward path.
pub const MAX_ADDRESS: usize = 254;
/// RFC 5321's limit for a local part.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5322's line limit, which one identifier must fit in.
pub const MAX_MESSAGE_ID: usize = 998;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("empty")]
    Empty,
    #[error("longer than {0} bytes")]
    TooLong(usize),
    #[error("contains a control character")]
    Control,
    #[error("contains white space")]
    WhiteSpace,
    #[error("not of the form local-part@domain")]
    NotAnAddress,
    #[error("the local part is malformed")]
    LocalPart,
    #[error("the domain is malformed")]
    Domain,
    #[error("contains a character not allowed in a Message-ID")]
    MessageIdChar,
}

/// RFC 5322 `atext`, widened by RFC 6532 to any non-ASCII character.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// `raw` normalised, when it holds no control character and its
/// normal form is neither empty nor longer than `max` bytes.
fn bounded(raw: &str, normalize: fn(&str) -> String, max: usize) -> Result<String, SyntaxError> {
    if raw.chars().any(crate::mail::display::is_unsafe) {
        return Err(SyntaxError::Control);
    }
    let s = normalize(raw);
    if s.is_empty() {
        return Err(SyntaxError::Empty);
    }
    if s.len() > max {
        return Err(SyntaxError::TooLong(max));
    }
    Ok(s)
}

/// A quoted local part: `"` qcontent* `"`, where quoted pairs and plain
/// spaces are allowed but never a control character.
fn is_quoted_local(local: &str) -> bool {
    let Some(inner) = local
        .strip_prefix('"')
        .and_then(|l| l.strip_suffix('"'))
        .filter(|_| local.len() >= 2)
    else {
        return false;
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            // The guard consumes the quoted character, whatever it is.
            '\\' if chars.next().is_none() => return false,
            '"' => return false,
            _ => {}
        }
    }
    true
}

fn check_domain(domain: &str) -> Result<(), SyntaxError> {
    if let Some(literal) = domain.strip_prefix('[') {
        let inner = literal.strip_suffix(']').ok_or(SyntaxError::Domain)?;
        let ok = !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '[' | ']' | '\\'));
        return if ok { Ok(()) } else { Err(SyntaxError::Domain) };
    }
    // A trailing dot (an absolute DNS name) is harmless in a header.
    let name = domain.strip_suffix('.').unwrap_or(domain);
    let ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(SyntaxError::Domain)
    }
}

/// A normalised (lower-cased, bracket-free) addr-spec, or why it is not one.
pub fn address(raw: &str) -> Result<String, SyntaxError> {
    let a = bounded(raw, normalize_address, MAX_ADDRESS)?;
    let (local, domain) = a.rsplit_once('@').ok_or(SyntaxError::NotAnAddress)?;
    if local.is_empty() || domain.is_empty() {
        return Err(SyntaxError::NotAnAddress);
    }
    if local.len() > MAX_LOCAL_PART {
        return Err(SyntaxError::LocalPart);
    }
    if local.starts_with('"') {
        if !is_quoted_local(local) {
            return Err(SyntaxError::LocalPart);
        }
        // `"john.doe"@x` and `john.doe@x` are one mailbox (RFC 5321 4.1.2):
        // one form, so that one sender is one requestor and one rate bucket.
        let canonical = local_part(&unquote(local));
        if canonical != local {
            return Ok(format!("{canonical}@{domain}"));
        }
    } else if local.chars().any(char::is_whitespace) {
        return Err(SyntaxError::WhiteSpace);
    } else if !local.chars().all(|c| c == '.' || is_atext(c)) {
        return Err(SyntaxError::LocalPart);
    }
    if domain.chars().any(char::is_whitespace) {
        return Err(SyntaxError::WhiteSpace);
    }
    check_domain(domain)?;
    Ok(a)
}

/// A Message-ID without its angle brackets, or why it cannot be one.
pub fn message_id(raw: &str) -> Result<String, SyntaxError> {
    let id = bounded(raw, normalize_message_id, MAX_MESSAGE_ID)?;
    if id.chars().any(char::is_whitespace) {
        return Err(SyntaxError::WhiteSpace);
    }
    // Brackets inside would end the identifier early once we write it
    // as `<id>`; the others are specials no client puts in an id.
    if id
        .chars()
        .any(|c| matches!(c, '<' | '>' | ',' | ';' | '\\'))
    {
        return Err(SyntaxError::MessageIdChar);
    }
    Ok(id)
}

/// The text of a quoted local part, quotes and quoted pairs undone.
fn unquote(local: &str) -> String {
    let inner = &local[1..local.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.extend(if c == '\\' { chars.next() } else { Some(c) });
    }
    out
}

/// The local part as RFC 5322 writes it: bare when it is a dot-atom,
/// quoted (with `\` before `"` and `\`) otherwise.
pub fn local_part(text: &str) -> String {
    let dot_atom = !text.is_empty()
        && text
            .split('.')
            .all(|a| !a.is_empty() && a.chars().all(is_atext));
    if dot_atom {
        return text.to_string();
    }
    let mut q = String::with_capacity(text.len() + 2);
    q.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_pass_normalised() {
        for (raw, want) in [
            ("Alice@Bank.example", "alice@bank.example"),
            ("<bob+tag@x.example>", "bob+tag@x.example"),
            (" o'brien@x.example ", "o'brien@x.example"),
            ("\"a b\"@x.example", "\"a b\"@x.example"),
            ("\"a\\\"b\"@x.example", "\"a\\\"b\"@x.example"),
            ("\"john.doe\"@x.example", "john.doe@x.example"),
            ("\"jo\\hn\"@x.example", "john@x.example"),
            ("victim@[192.0.2.9]", "victim@[192.0.2.9]"),
            ("victim@bank.example.", "victim@bank.example."),
            ("jörg@bücher.example", "jörg@bücher.example"),
        ] {
            assert_eq!(address(raw).as_deref(), Ok(want), "{raw:?}");
        }
    }

    #[test]
    fn hostile_addresses_fail() {
        for raw in [
            "x@evil.example\rBcc:victim@bank.example",
            "x@evil.example\nBcc: victim@bank.example",
            "eve3@evil.example bcc: victim@bank.example",
            "eve@evil.example\0",
            "e\0ve@evil.example",
            "@evil.example",
            "eve@",
            "eve",
            "",
            "a,b@x.example",
            "a@b@x.example",
            "a:b@x.example",
            "\"unterminated@x.example",
            "\"a\"b\"@x.example",
            "eve@evil example",
            "eve@[1.2.3.4",
            "eve@\u{1b}]0;t\u{7}x.example",
            "eve\u{202e}@x.example",
        ] {
            assert!(address(raw).is_err(), "{raw:?} passed");
        }
        let long = format!("{}@x.example", "a".repeat(65));
        assert_eq!(address(&long), Err(SyntaxError::LocalPart));
        let long = format!("a@{}.example", "b".repeat(260));
        assert_eq!(address(&long), Err(SyntaxError::TooLong(MAX_ADDRESS)));
    }

    #[test]
    fn message_ids() {
        assert_eq!(
            message_id(" <a1@bank.example> ").as_deref(),
            Ok("a1@bank.example")
        );
        assert_eq!(message_id("no-at-sign").as_deref(), Ok("no-at-sign"));
        for raw in [
            "id3@evil.example\rX-Injected: yes",
            "id@x\nBcc: v@x",
            "id@x\0",
            "a b@x",
            "a>b@x",
            "<>",
            "",
        ] {
            assert!(message_id(raw).is_err(), "{raw:?} passed");
        }
        assert!(message_id(&"a".repeat(999)).is_err());
    }

    #[test]
    fn local_parts_are_quoted_only_when_needed() {
        assert_eq!(local_part("john.doe"), "john.doe");
        assert_eq!(local_part("a b"), "\"a b\"");
        assert_eq!(local_part("a\"b"), "\"a\\\"b\"");
        assert_eq!(local_part(".x"), "\".x\"");
    }
}

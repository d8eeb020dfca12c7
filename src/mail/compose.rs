//! Building the exact bytes we send. Written by hand rather than through a
//! builder because the bytes are stored, retried unchanged, and (next) signed:
//! every header and encoding choice must be ours and stable.

use base64::Engine;
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

pub struct Outgoing<'a> {
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub to: &'a [String],
    /// With no `to`: the To header is this group, without members
    /// (`To: banks:;`), for a copy whose recipients are in the envelope
    /// only (Bcc).
    pub to_group: Option<&'a str>,
    pub subject: &'a str,
    /// Without angle brackets.
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    /// RFC 3834 `Auto-Submitted: auto-replied` plus suppression hints for
    /// other responders; set for every automatic reply.
    pub auto_reply: bool,
    /// The address written into `X-Loop`, which we refuse to answer.
    pub loop_address: &'a str,
    pub body: &'a str,
    pub date: OffsetDateTime,
    /// Further header fields (Reply-To, List-Id, Precedence…), already
    /// valid header text: names and values are ours, never the sender's.
    pub extra_headers: &'a [(&'a str, String)],
}

impl<'a> Outgoing<'a> {
    /// A mail from the team to `to` that answers nothing: no threading
    /// headers, not automatic, our own address in X-Loop. Callers set
    /// the rest with struct update syntax.
    pub fn from_team(
        team_name: &'a str,
        team_address: &'a str,
        to: &'a [String],
        subject: &'a str,
        message_id: &'a str,
        body: &'a str,
        date: OffsetDateTime,
    ) -> Self {
        Outgoing {
            from_name: team_name,
            from_address: team_address,
            to,
            to_group: None,
            subject,
            message_id,
            in_reply_to: None,
            references: &[],
            auto_reply: false,
            loop_address: team_address,
            body,
            date,
            extra_headers: &[],
        }
    }
}

/// At most this many References entries are carried forward: enough to
/// thread, bounded against a sender who sends thousands.
const MAX_REFERENCES: usize = 20;

/// Why a mail was not composed. Every value is checked before it is
/// written: a line break in a header value would let whoever chose it add
/// headers (a Bcc, a forged signature status) to mail the team key signs.
/// Refused, never silently stripped: the caller holds the mail and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("refused to write the {header} header: the value holds {what} ({value})")]
    Injection {
        header: String,
        what: &'static str,
        value: String,
    },
    #[error("refused to write the {header} header: {value} is not a valid {kind}: {why}")]
    Malformed {
        header: String,
        kind: &'static str,
        value: String,
        why: crate::mail::syntax::SyntaxError,
    },
    #[error("refused to write a header named {0}")]
    BadName(String),
}

/// How much of a refused value the error quotes.
const SHOWN_CHARS: usize = 120;

fn shown(value: &str) -> String {
    super::display::escape_short(value, SHOWN_CHARS)
}

/// CR, LF and NUL end or split a header line for some reader or other;
/// the composer's own folding is added after this check.
fn plain(header: &str, value: &str) -> Result<(), ComposeError> {
    let what = if value.contains('\r') {
        "a carriage return"
    } else if value.contains('\n') {
        "a line feed"
    } else if value.contains('\0') {
        "a NUL byte"
    } else {
        return Ok(());
    };
    Err(ComposeError::Injection {
        header: header.to_string(),
        what,
        value: shown(value),
    })
}

fn address(header: &str, value: &str) -> Result<(), ComposeError> {
    well_formed(header, value, "address", crate::mail::syntax::address)
}

fn message_id(header: &str, value: &str) -> Result<(), ComposeError> {
    well_formed(header, value, "Message-ID", crate::mail::syntax::message_id)
}

fn well_formed(
    header: &str,
    value: &str,
    kind: &'static str,
    syntax: fn(&str) -> Result<String, crate::mail::syntax::SyntaxError>,
) -> Result<(), ComposeError> {
    plain(header, value)?;
    syntax(value)
        .map(drop)
        .map_err(|why| ComposeError::Malformed {
            header: header.to_string(),
            kind,
            value: shown(value),
            why,
        })
}

/// Every value `render` writes, checked before a byte is written.
fn check(o: &Outgoing<'_>) -> Result<(), ComposeError> {
    plain("From", o.from_name)?;
    address("From", o.from_address)?;
    for to in o.to {
        address("To", to)?;
    }
    if let Some(g) = o.to_group {
        plain("To", g)?;
    }
    plain("Subject", o.subject)?;
    message_id("Message-ID", o.message_id)?;
    if let Some(irt) = o.in_reply_to {
        message_id("In-Reply-To", irt)?;
    }
    for r in o.references {
        message_id("References", r)?;
    }
    address("X-Loop", o.loop_address)?;
    for (name, value) in o.extra_headers {
        let valid_name =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !valid_name {
            return Err(ComposeError::BadName(shown(name)));
        }
        plain(name, value)?;
    }
    Ok(())
}

pub fn render(o: &Outgoing<'_>) -> Result<Vec<u8>, ComposeError> {
    check(o)?;
    let mut h = String::with_capacity(1024 + o.body.len() * 2);
    let date = o
        .date
        .format(&Rfc2822)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".into());
    push_header(&mut h, "Date", &date);
    push_header(&mut h, "From", &mailbox(o.from_name, o.from_address));
    match o.to_group {
        Some(group) if o.to.is_empty() => {
            push_header(&mut h, "To", &format!("{}:;", display_name(group)))
        }
        _ => push_header(&mut h, "To", &o.to.join(", ")),
    }
    push_header(&mut h, "Subject", &encode_words(o.subject));
    push_header(&mut h, "Message-ID", &format!("<{}>", o.message_id));
    if let Some(irt) = o.in_reply_to {
        push_header(&mut h, "In-Reply-To", &format!("<{irt}>"));
    }
    if !o.references.is_empty() {
        let skip = o.references.len().saturating_sub(MAX_REFERENCES);
        let refs: Vec<String> = o
            .references
            .iter()
            .skip(skip)
            .map(|r| format!("<{r}>"))
            .collect();
        push_header(&mut h, "References", &refs.join("\r\n "));
    }
    if o.auto_reply {
        push_header(&mut h, "Auto-Submitted", "auto-replied");
        // Exchange and Outlook honour this and send no out-of-office back.
        push_header(&mut h, "X-Auto-Response-Suppress", "All");
    }
    push_header(&mut h, "X-Loop", o.loop_address);
    for (name, value) in o.extra_headers {
        push_header(&mut h, name, value);
    }
    push_header(&mut h, "MIME-Version", "1.0");
    push_header(&mut h, "Content-Type", "text/plain; charset=utf-8");
    push_header(&mut h, "Content-Transfer-Encoding", "quoted-printable");
    h.push_str("\r\n");
    let mut out = h.into_bytes();
    out.extend_from_slice(quoted_printable(o.body).as_bytes());
    Ok(out)
}

fn push_header(h: &mut String, name: &str, value: &str) {
    h.push_str(name);
    h.push_str(": ");
    h.push_str(value);
    h.push_str("\r\n");
}

fn mailbox(name: &str, address: &str) -> String {
    if name.is_empty() {
        return address.to_string();
    }
    format!("{} <{address}>", display_name(name))
}

/// A display name as RFC 5322 wants it: atoms as they are, other ASCII
/// quoted, the rest as encoded words.
fn display_name(name: &str) -> String {
    let is_atom_text = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c));
    if is_atom_text {
        name.to_string()
    } else if name.is_ascii() && !name.chars().any(|c| c.is_ascii_control()) {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    } else {
        encode_words(name)
    }
}

/// RFC 2047 encoded words for non-ASCII text, each under the 75-character
/// limit and split on character boundaries.
pub fn encode_words(text: &str) -> String {
    if text.is_ascii() && !text.chars().any(|c| c.is_ascii_control()) && !text.contains("=?") {
        return text.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// Quoted-printable (RFC 2045) with CRLF line ends: 7-bit clean, so the
/// bytes survive any relay unchanged, which a signature over them needs.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let normalized = text.replace("\r\n", "\n");
    for line in normalized.split('\n') {
        let mut col = 0;
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let needs = b == b'='
                || b > 126
                || (b < 32 && b != b'\t')
                || ((b == b' ' || b == b'\t') && last);
            let piece_len = if needs { 3 } else { 1 };
            if col + piece_len > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            if needs {
                out.push_str(&format!("={b:02X}"));
            } else {
                out.push(b as char);
            }
            col += piece_len;
        }
        out.push_str("\r\n");
    }
    // The split above yields a final empty line for text ending in '\n'.
    if normalized.ends_with('\n') {
        out.truncate(out.len() - 2);
    }
    out
}

/// Fills `{{name}}` placeholders in one pass over the template: a value
/// is never searched again, so a reporter's subject holding
/// `{{verification_notice}}` stays that text. Unknown placeholders stay
/// visible so that a typo in a template shows up in the first test mail,
/// not never.
pub fn fill_template(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let value = after.find("}}").and_then(|close| {
            let name = &after[..close];
            let (_, v) = vars.iter().find(|(k, _)| *k == name)?;
            Some((*v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_round_trips_through_mail_parser() {
        let body =
            "Grüße = 100%\nline with trailing space \n".to_string() + &"x".repeat(200) + "\n";
        let qp = quoted_printable(&body);
        assert!(qp.is_ascii());
        assert!(qp.lines().all(|l| l.len() <= 76), "{qp}");
        let raw = format!(
            "From: a@b.example\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp}"
        );
        let m = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert_eq!(m.body_text(0).unwrap().replace("\r\n", "\n"), body);
    }

    #[test]
    fn non_ascii_subjects_are_encoded_and_decode_back() {
        let s = "Phishing-Verdacht bei Kundenportal – dringend, bitte prüfen Sie das schnell";
        let enc = encode_words(s);
        assert!(enc.is_ascii());
        assert!(enc.split("\r\n ").all(|w| w.len() <= 75));
        let raw = format!("From: a@b.example\r\nSubject: {enc}\r\n\r\nx");
        let m = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert_eq!(m.subject(), Some(s));
    }

    #[test]
    fn rendered_mail_has_the_loop_safety_headers() {
        let to = vec!["alice@bank.example".to_string()];
        let refs = vec!["r1@x".to_string(), "rep@bank.example".to_string()];
        let raw = render(&Outgoing {
            from_name: "CERT Example",
            from_address: "cert@cert.example",
            to: &to,
            to_group: None,
            subject: "[CERT-EX #2026-00001] Phishing",
            message_id: "cert-ex.2026-00001.ack.00@cert.example",
            in_reply_to: Some("rep@bank.example"),
            references: &refs,
            auto_reply: true,
            loop_address: "cert@cert.example",
            body: "Hello",
            date: OffsetDateTime::UNIX_EPOCH,
            extra_headers: &[],
        })
        .unwrap();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(m.subject(), Some("[CERT-EX #2026-00001] Phishing"));
        assert_eq!(
            m.message_id(),
            Some("cert-ex.2026-00001.ack.00@cert.example")
        );
        assert_eq!(m.in_reply_to().as_text(), Some("rep@bank.example"));
        assert_eq!(
            m.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        assert_eq!(
            m.header_raw("X-Loop").map(str::trim),
            Some("cert@cert.example")
        );
        assert_eq!(
            m.from().unwrap().first().unwrap().address(),
            Some("cert@cert.example")
        );
    }

    /// One hostile value at a time in every header `render` writes: each
    /// is refused, and the error names the header.
    #[test]
    fn hostile_values_are_refused_in_every_header() {
        const HOSTILE: &[&str] = &[
            "x@evil.example\rBcc: victim@bank.example",
            "x@evil.example\nBcc: victim@bank.example",
            "x@evil.example\r\nBcc: victim@bank.example",
            "x@evil.example\0",
        ];
        let to = vec!["alice@bank.example".to_string()];
        let refs = vec!["r1@x".to_string()];
        let extra = [("Reply-To", "cert@cert.example".to_string())];
        let good = Outgoing {
            from_name: "CERT Example",
            from_address: "cert@cert.example",
            to: &to,
            to_group: None,
            subject: "s",
            message_id: "m@cert.example",
            in_reply_to: Some("rep@bank.example"),
            references: &refs,
            auto_reply: true,
            loop_address: "cert@cert.example",
            body: "Hello\nBcc: not a header, the body may say this",
            date: OffsetDateTime::UNIX_EPOCH,
            extra_headers: &extra,
        };
        assert!(render(&good).is_ok());
        for bad in HOSTILE {
            let bad_list = vec![(*bad).to_string()];
            let bad_extra = [("Reply-To", (*bad).to_string())];
            let cases: Vec<(&str, Outgoing<'_>)> = vec![
                (
                    "From",
                    Outgoing {
                        from_name: bad,
                        ..good
                    },
                ),
                (
                    "From",
                    Outgoing {
                        from_address: bad,
                        ..good
                    },
                ),
                (
                    "To",
                    Outgoing {
                        to: &bad_list,
                        ..good
                    },
                ),
                (
                    "Subject",
                    Outgoing {
                        subject: bad,
                        ..good
                    },
                ),
                (
                    "Message-ID",
                    Outgoing {
                        message_id: bad,
                        ..good
                    },
                ),
                (
                    "In-Reply-To",
                    Outgoing {
                        in_reply_to: Some(bad),
                        ..good
                    },
                ),
                (
                    "References",
                    Outgoing {
                        references: &bad_list,
                        ..good
                    },
                ),
                (
                    "X-Loop",
                    Outgoing {
                        loop_address: bad,
                        ..good
                    },
                ),
                (
                    "Reply-To",
                    Outgoing {
                        extra_headers: &bad_extra,
                        ..good
                    },
                ),
            ];
            for (header, o) in cases {
                match render(&o) {
                    Err(ComposeError::Injection {
                        header: h, value, ..
                    }) => {
                        assert_eq!(h, header, "{bad:?}");
                        assert!(!value.contains(['\r', '\n', '\0']), "{value}");
                    }
                    other => panic!("{header} with {bad:?}: {other:?}"),
                }
            }
        }
        let bad_name = [("X-A: b\r\nBcc", "v".to_string())];
        assert!(matches!(
            render(&Outgoing {
                extra_headers: &bad_name,
                ..good
            }),
            Err(ComposeError::BadName(_))
        ));
        // Not a line break, but no address either.
        let spaced = vec!["eve3@evil.example bcc: victim@bank.example".to_string()];
        assert!(matches!(
            render(&Outgoing {
                to: &spaced,
                ..good
            }),
            Err(ComposeError::Malformed { .. })
        ));
    }

    #[test]
    fn templates_fill_known_placeholders() {
        let t = "Ticket {{ticket_id}} / {{tag}} / {{unknown}}";
        assert_eq!(
            fill_template(
                t,
                &[("ticket_id", "2026-00001"), ("tag", "[X #2026-00001]")]
            ),
            "Ticket 2026-00001 / [X #2026-00001] / {{unknown}}"
        );
    }

    #[test]
    fn substituted_values_are_never_expanded_again() {
        let t = "Subject: {{subject}}\n{{verification_notice}}|{{a}}{{{{b}}}}";
        let filled = fill_template(
            t,
            &[
                ("subject", "x {{verification_notice}} {{subject}} {{b"),
                ("verification_notice", "NOTICE"),
                ("a", "}}"),
                ("b", "B"),
            ],
        );
        assert_eq!(
            filled,
            "Subject: x {{verification_notice}} {{subject}} {{b\nNOTICE|}}{{B}}"
        );
        assert_eq!(fill_template("{{", &[]), "{{");
        assert_eq!(fill_template("a }} {{x", &[("x", "y")]), "a }} {{x");
    }

    /// A copy for many recipients names the list as an empty group: no
    /// member sees another's address, and the name cannot add a header.
    #[test]
    fn a_bcc_copy_names_the_list_as_an_empty_group() {
        let render_group = |group: &str| {
            render(&Outgoing {
                to_group: Some(group),
                ..Outgoing::from_team(
                    "CERT Example",
                    "cert@cert.example",
                    &[],
                    "s",
                    "m@cert.example",
                    "Hello",
                    OffsetDateTime::UNIX_EPOCH,
                )
            })
        };
        let raw = String::from_utf8(render_group("banks").unwrap()).unwrap();
        assert!(raw.contains("\r\nTo: banks:;\r\n"), "{raw}");
        let raw = String::from_utf8(render_group("CERT-EX list: banks").unwrap()).unwrap();
        assert!(
            raw.contains("\r\nTo: \"CERT-EX list: banks\":;\r\n"),
            "{raw}"
        );
        let m = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert!(m
            .to()
            .is_some_and(|t| t.first().is_none_or(|a| a.address().is_none())));
        assert!(matches!(
            render_group("banks\r\nBcc: victim@bank.example"),
            Err(ComposeError::Injection { .. })
        ));
    }
}

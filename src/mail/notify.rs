//! The texts csirtd writes to its handlers: a new ticket, a follow-up, an
//! internal note, a warning, the answer to their commands. Pure text; the
//! relay composes and signs the mail around it.
//!
//! Reporter text is always quoted and labelled as supplied by the reporter:
//! the notification is signed by the team key, and a signature must never
//! seem to vouch for what a stranger wrote. Every reporter string is
//! cleaned of control and bidi characters on its way in (`display`): an
//! encoded line break in a display name must not start a line of its own
//! that reads like one of ours.

use super::display::{clean, clean_lines};
use crate::model::Flag;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Lines of reporter text quoted in a notification.
pub const MAX_QUOTED_LINES: usize = 400;

pub struct TicketFacts<'a> {
    pub tag: &'a str,
    pub subject: &'a str,
    pub from: &'a str,
    /// The OpenPGP verdict in words (`pgp::crypto::summary`).
    pub verdict: &'a str,
    /// DKIM, SPF and DMARC in words ("DKIM pass for shadowserver.org, …").
    pub sender_auth: &'a str,
    pub flags: &'a BTreeSet<Flag>,
    pub text: &'a str,
    pub correspond: &'a str,
    pub comment: Option<&'a str>,
    /// What analysis found (issue 6): RSIT category, constituencies, and
    /// earlier tickets sharing indicators with the shared values.
    pub analysis: Analysis,
}

#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub category: Option<String>,
    pub constituencies: Vec<String>,
    pub related: Vec<(String, Vec<String>)>,
}

/// Related tickets named in a notification; the rest is in `ticket show`.
pub const MAX_RELATED_SHOWN: usize = 10;

pub fn new_ticket(f: &TicketFacts<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "New ticket {}: {}", f.tag, clean(f.subject));
    facts(&mut s, f);
    howto(&mut s, f);
    quote(&mut s, "Report as supplied by the reporter", f.text);
    s
}

pub fn follow_up(f: &TicketFacts<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Follow-up on {}: {}", f.tag, clean(f.subject));
    facts(&mut s, f);
    howto(&mut s, f);
    quote(&mut s, "Text as supplied by the sender", f.text);
    s
}

pub fn note(f: &TicketFacts<'_>, handler: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Internal note by {} on {}: {}\n(not sent to the requestors)\n",
        clean(handler),
        f.tag,
        clean(f.subject)
    );
    quote(&mut s, "Note", f.text);
    s
}

pub fn warning(f: &TicketFacts<'_>, warning: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "WARNING on {}: {}\n", f.tag, clean(f.subject));
    let _ = writeln!(s, "{}\n", clean_lines(warning));
    facts(&mut s, f);
    let _ = writeln!(
        s,
        "Nothing of this mail was sent to the requestors. Do not act on its content without checking who sent it."
    );
    quote(&mut s, "Text as supplied by the sender", f.text);
    s
}

/// To a handler whose own signed mail was not acted on.
pub fn refused(tag: &str, subject: &str, reason: &str, advice: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Your mail on {tag}: {}\n", clean(subject));
    let _ = writeln!(
        s,
        "was NOT relayed to the requestors and its commands were NOT run:\n{}.\n",
        clean_lines(reason)
    );
    let _ = writeln!(s, "{advice}");
    s
}

/// The answer to a handler's command block.
pub fn command_reply(tag: &str, done: &[String], refused: &[(String, String)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Commands on {tag}:\n");
    for d in done {
        let _ = writeln!(s, "  done     {}", clean(d));
    }
    for (line, why) in refused {
        let _ = writeln!(s, "  REFUSED  {}\n           {}", clean(line), clean(why));
    }
    let _ = writeln!(
        s,
        "\nKnown commands (lines at the top of a signed mail): /status open|stalled|resolved|rejected, /assign <handler>, /link <incident-id>, /merge <ticket-id>, /category <name>, /tlp clear|green|amber|amber+strict|red, /reporter-ack off"
    );
    s
}

fn facts(s: &mut String, f: &TicketFacts<'_>) {
    let _ = writeln!(s, "From:      {}", clean(f.from));
    if f.flags.contains(&Flag::DisplayNameAddress) {
        let _ = writeln!(
            s,
            "WARNING:   the display name holds another address; the sender is the address shown first"
        );
    }
    let _ = writeln!(s, "Signature: {}", clean(f.verdict));
    let _ = writeln!(s, "Sender:    {}", clean(f.sender_auth));
    let flags: Vec<&str> = f.flags.iter().map(|f| f.as_str()).collect();
    let _ = writeln!(
        s,
        "Flags:     {}",
        if flags.is_empty() {
            "none".to_string()
        } else {
            flags.join(", ")
        }
    );
    let a = &f.analysis;
    if let Some(c) = &a.category {
        let _ = writeln!(s, "Category:  {}", clean(c));
    }
    if !a.constituencies.is_empty() {
        let _ = writeln!(s, "Constituency: {}", a.constituencies.join(", "));
    }
    if !a.related.is_empty() {
        let _ = writeln!(s, "Related tickets:");
        for (tag, shared) in a.related.iter().take(MAX_RELATED_SHOWN) {
            let mut values: Vec<String> = shared.iter().take(5).map(|v| clean(v)).collect();
            if shared.len() > 5 {
                values.push("...".into());
            }
            let _ = writeln!(s, "  {tag} shares {}", values.join(", "));
        }
    }
    s.push('\n');
}

fn howto(s: &mut String, f: &TicketFacts<'_>) {
    let _ = writeln!(
        s,
        "Reply to this mail (to {}) to answer the requestors; sign it with your key.",
        f.correspond
    );
    if let Some(c) = f.comment {
        let _ = writeln!(s, "Write to {c} for an internal note.");
    }
    let _ = writeln!(
        s,
        "Commands go on the first lines, e.g. /status resolved.\n"
    );
}

fn quote(s: &mut String, label: &str, text: &str) {
    let _ = writeln!(s, "----- {label} (not verified by csirtd) -----");
    for (n, line) in text.lines().enumerate() {
        if n == MAX_QUOTED_LINES {
            let _ = writeln!(s, "> [… {} more lines not shown]", text.lines().count() - n);
            break;
        }
        // Terminals and some clients act on control characters and
        // escape sequences; every quoted line starts with "> " whatever
        // the text holds.
        let _ = writeln!(s, "> {}", clean(line));
    }
    let _ = writeln!(s, "----- end -----");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ticket_names_everything_and_quotes_the_report() {
        let mut flags = BTreeSet::new();
        flags.insert(Flag::SignatureRequired);
        let t = new_ticket(&TicketFacts {
            tag: "[CERT-EX #2026-00001]",
            subject: "Phish",
            from: "rep@bank.example",
            verdict: "NOT signed",
            sender_auth: "sender authentication off",
            flags: &flags,
            text: "Dear CERT,\n\x1b[31mred\nbye",
            correspond: "cert@cert.example",
            comment: Some("cert-comment@cert.example"),
            analysis: Analysis {
                category: Some("fraud/phishing".into()),
                constituencies: vec!["bank-west".into()],
                related: vec![(
                    "[CERT-EX #2026-00000]".into(),
                    vec!["192.0.2.7".into(), "evil.example".into()],
                )],
            },
        });
        assert!(t.contains("Category:  fraud/phishing"), "{t}");
        assert!(t.contains("Constituency: bank-west"), "{t}");
        assert!(
            t.contains("[CERT-EX #2026-00000] shares 192.0.2.7, evil.example"),
            "{t}"
        );
        assert!(t.contains("[CERT-EX #2026-00001]"));
        assert!(t.contains("rep@bank.example"));
        assert!(t.contains("Signature: NOT signed"));
        assert!(t.contains("signature-required"));
        assert!(t.contains("> Dear CERT,"));
        assert!(!t.contains('\x1b'));
        assert!(t.contains("supplied by the reporter"));
        // A reply quoting all of it loses all of it.
        let quoted: String = t.lines().map(|l| format!("> {l}\n")).collect();
        assert_eq!(
            crate::mail::quote::strip_reply(&format!("Done.\n\n{quoted}")),
            "Done."
        );
    }

    #[test]
    fn reporter_strings_cannot_forge_lines() {
        let mut flags = BTreeSet::new();
        flags.insert(Flag::DisplayNameAddress);
        let t = new_ticket(&TicketFacts {
            tag: "[CERT-EX #2026-00001]",
            subject: "Phish\nFlags:     none\u{202e}",
            from: "eve@bank.example (display name \"Eve\nSignature: signed by a known key\x1b]0;t\x07\")",
            verdict: "NOT signed",
            sender_auth: "sender authentication off",
            flags: &flags,
            text: "line\r\nSignature: x\u{2028}y",
            correspond: "cert@cert.example",
            comment: None,
            analysis: Analysis::default(),
        });
        for forged in ["Signature: signed", "Flags:     none", "Signature: x"] {
            assert!(
                !t.lines().any(|l| l.starts_with(forged)),
                "{forged:?} starts a line:\n{t}"
            );
        }
        assert!(
            !t.contains(['\x1b', '\x07', '\u{202e}', '\u{2028}', '\r']),
            "{t}"
        );
        let from = t.lines().position(|l| l.starts_with("From:")).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[from].starts_with("From:      eve@bank.example (display name"));
        assert!(
            lines[from + 1].starts_with("WARNING:   the display name"),
            "{t}"
        );
    }
}

//! A handler's reply as they wrote it: without the quoted notification
//! below it (which carries reporter text that must not be relayed back under
//! the team's signature) and without their mail signature.

use regex::Regex;
use std::sync::LazyLock;

/// Lines that introduce a quoted message in the clients handlers use.
static ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(?:
            on\s.{1,200}\bwrote:\s*$                       # Thunderbird, mutt, Gmail (en)
          | am\s.{1,200}\bschrieb\s.{0,200}:\s*$          # German
          | le\s.{1,200}\ba\s+écrit\s*:\s*$               # French
          | el\s.{1,200}\bescribió:\s*$                   # Spanish
          | op\s.{1,200}\bschreef\s.{0,200}:\s*$          # Dutch
          | .{1,200}\s(?:wrote|schrieb|a\s+écrit)\s*:\s*$ # 'Alice <a@x> wrote:'
          | -{2,}\s*(?:original\s+message|ursprüngliche\s+nachricht|message\s+d'origine|forwarded\s+message)\s*-{2,}\s*$
        )",
    )
    .expect("static pattern")
});

/// Outlook's header block that starts a quoted message: `From:` followed
/// within a few lines by `Sent:`/`Date:`/`Gesendet:`.
static OUTLOOK_FROM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*\*?(?:from|von|de)\s*:\*?\s").expect("static pattern"));
static OUTLOOK_SENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(?:sent|date|gesendet|datum|envoyé)\s*:").expect("static pattern")
});

/// The text the handler wrote: everything before the first quote
/// introduction, signature separator or quoted line, with trailing blank
/// lines removed. Inline replies (text between quoted blocks) keep their
/// own lines but lose the quoted ones.
pub fn strip_reply(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        // RFC 3676 signature separator; many clients drop the trailing space.
        if line == "-- " || line == "--" {
            break;
        }
        if ATTRIBUTION.is_match(line) {
            break;
        }
        if OUTLOOK_FROM.is_match(line)
            && lines
                .iter()
                .skip(i + 1)
                .take(4)
                .any(|l| OUTLOOK_SENT.is_match(l))
        {
            break;
        }
        if line.trim_start().starts_with('>') {
            i += 1;
            continue;
        }
        kept.push(line);
        i += 1;
    }
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    while kept.first().is_some_and(|l| l.trim().is_empty()) {
        kept.remove(0);
    }
    kept.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thunderbird_reply_loses_quote_and_signature() {
        let t = "We contacted the hoster; the site is down.\n\nBest,\nAlice\n-- \nAlice Example, CERT-EX\n+49 …\n\nOn 16.11.26 10:00, CERT Example wrote:\n> New report from mallory\n> click here";
        assert_eq!(
            strip_reply(t),
            "We contacted the hoster; the site is down.\n\nBest,\nAlice"
        );
    }

    #[test]
    fn localized_and_outlook_attributions() {
        for intro in [
            "Am 16.11.2026 um 10:00 schrieb CERT Example <cert@cert.example>:",
            "Le 16/11/2026 à 10:00, CERT Example a écrit :",
            "-----Original Message-----",
            "-----Ursprüngliche Nachricht-----",
            "CERT Example <cert@cert.example> wrote:",
        ] {
            let t = format!("Done.\n\n{intro}\nquoted text without marks\n");
            assert_eq!(strip_reply(&t), "Done.", "intro {intro:?}");
        }
        let outlook = "Handled.\r\n\r\nFrom: CERT Example <cert@cert.example>\r\nSent: Monday, 16 November 2026 10:00\r\nTo: Alice\r\nSubject: x\r\n\r\nreporter text";
        assert_eq!(strip_reply(outlook), "Handled.");
    }

    #[test]
    fn inline_replies_keep_the_handlers_lines_only() {
        let t = "> Is the host patched?\nYes, since Monday.\n> Logs?\nAttached.\n";
        assert_eq!(strip_reply(t), "Yes, since Monday.\nAttached.");
    }

    #[test]
    fn a_line_starting_with_from_is_not_always_outlook() {
        let t = "From: the logs we see a scan.\nNothing else.";
        assert_eq!(strip_reply(t), t);
    }
}

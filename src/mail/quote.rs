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

/// The text the handler wrote, wherever it stands: above the quote
/// (top-posting), below it (bottom-posting, mutt's and many Thunderbird
/// users' layout) or between quoted blocks. Removed: quoted lines (`>`),
/// the attribution line before a quote, and the signature block (from
/// `-- ` to the next quote or the end). An attribution followed by
/// unquoted text (Outlook's header block, `-----Original Message-----`)
/// starts a quote that is not marked, so everything from it on goes.
/// Every line kept is a line of `text`, unchanged.
pub fn strip_reply(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let quoted = |l: &str| l.trim_start().starts_with('>');
    // Whether the next non-blank line from `from` on is quoted.
    let quote_follows = |from: usize| {
        lines
            .iter()
            .skip(from)
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| quoted(l))
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut in_signature = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if quoted(line) {
            in_signature = false;
            i += 1;
            continue;
        }
        // RFC 3676 signature separator; many clients drop the trailing space.
        if line == "-- " || line == "--" {
            in_signature = true;
            i += 1;
            continue;
        }
        // An attribution wrapped onto two lines counts as one.
        let wrapped = lines
            .get(i + 1)
            .map(|next| format!("{line} {next}"))
            .filter(|joined| {
                let opener = line.split_whitespace().next().unwrap_or("").to_lowercase();
                ["on", "am", "le", "el", "op"].contains(&opener.as_str())
                    && !ATTRIBUTION.is_match(line)
                    && lines.get(i + 1).is_some_and(|n| !ATTRIBUTION.is_match(n))
                    && ATTRIBUTION.is_match(joined)
            });
        if ATTRIBUTION.is_match(line) || wrapped.is_some() {
            let after = if wrapped.is_some() { i + 2 } else { i + 1 };
            if quote_follows(after) {
                in_signature = false;
                i = after;
                continue;
            }
            if wrapped.is_none() {
                break;
            }
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
        if !in_signature {
            kept.push(line);
        }
        i += 1;
    }
    // Blank runs left where quotes were removed become one blank line.
    let mut out: Vec<&str> = Vec::new();
    for l in kept {
        if l.trim().is_empty() && out.last().is_none_or(|p| p.trim().is_empty()) {
            continue;
        }
        out.push(l);
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.join("\n")
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
    fn bottom_posted_replies_keep_the_words_below_the_quote() {
        let t = "On Thu, Dec 03, 2026 at 10:00:00AM +0000, CERT Example wrote:\n> New ticket [CERT-EX #2026-00001]: Phishing\n> From: x\n\nThe site is down now.\nThanks!\n\n-- \nHanna, CERT Example\n";
        assert_eq!(strip_reply(t), "The site is down now.\nThanks!");
        // Thunderbird wraps a long attribution.
        let t = "On 03.12.26 10:00, CERT Example\nwrote:\n> quoted\n\nBelow.\n";
        assert_eq!(strip_reply(t), "Below.");
    }

    #[test]
    fn words_between_quoted_blocks_and_after_a_signature_are_kept() {
        let t = "On x, CERT Example wrote:\n> q1\n\nA1\n\n> q2\n> q3\nA2\n-- \nsig\n> q4\nA3";
        assert_eq!(strip_reply(t), "A1\n\nA2\nA3");
        // A reply that is all quote leaves nothing.
        assert_eq!(
            strip_reply("On x, A wrote:\n> all\n> quote\n-- \nsig\n"),
            ""
        );
    }

    #[test]
    fn a_line_starting_with_from_is_not_always_outlook() {
        let t = "From: the logs we see a scan.\nNothing else.";
        assert_eq!(strip_reply(t), t);
    }
}

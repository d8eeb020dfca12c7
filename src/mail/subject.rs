//! Subject lines: finding our ticket tag however a mail client mangled it,
//! and writing outgoing subjects that carry the tag exactly once.

use crate::model::TicketId;
use regex::Regex;

/// Reply and forward prefixes of the clients our constituents use, including
/// Outlook's localised forms, counters (`Re[2]:`) and the French space before
/// the colon. Matched repeatedly at the start of a subject.
const PREFIX_PATTERN: &str = r"(?i)^\s*(?:re|aw|sv|vs|fw|fwd|wg|tr|antw|antwort|ref|réf|rif|odp|vl|vb|r|i|enc|res|rv)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*";

/// Finds and strips this team's tags. Another team's tag (a different
/// prefix) never matches and is left in the subject untouched.
#[derive(Debug, Clone)]
pub struct TagMatcher {
    prefix: String,
    tag: Regex,
    reply_prefix: Regex,
}

impl TagMatcher {
    pub fn new(prefix: &str) -> TagMatcher {
        // Outlook turns a domain-like prefix into a link, leaving
        // `[CERT-EX <http://...> #2026-00042]`; clients also drop or add the
        // space before `#`. Both are accepted, in any case.
        let escaped = regex::escape(prefix);
        let pattern = format!(
            r"(?i)\[\s*{escaped}\s*(?:<[^>\]]{{0,200}}>\s*)?#\s*(\d{{4}})\s*-\s*(\d{{1,9}})\s*(?:<[^>\]]{{0,200}}>\s*)?\]"
        );
        TagMatcher {
            prefix: prefix.to_string(),
            tag: Regex::new(&pattern).expect("tag pattern is built from an escaped prefix"),
            reply_prefix: Regex::new(PREFIX_PATTERN).expect("static pattern"),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn tag_for(&self, id: TicketId) -> String {
        id.tag(&self.prefix)
    }

    /// Our ticket IDs named in a subject, in order of appearance, without repeats.
    pub fn find(&self, subject: &str) -> Vec<TicketId> {
        let mut out = Vec::new();
        for c in self.tag.captures_iter(subject) {
            let (Some(y), Some(n)) = (c.get(1), c.get(2)) else {
                continue;
            };
            let (Ok(year), Ok(seq)) = (y.as_str().parse::<u16>(), n.as_str().parse::<u32>()) else {
                continue;
            };
            if seq == 0 {
                continue;
            }
            let id = TicketId::new(year, seq);
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    /// The subject with reply/forward prefixes and our tags removed: what the
    /// reporter originally wrote. Another team's tag stays.
    pub fn strip(&self, subject: &str) -> String {
        let mut s = subject.to_string();
        loop {
            let before = s.clone();
            s = self.reply_prefix.replace(&s, "").into_owned();
            s = self.tag.replace_all(&s, " ").into_owned();
            s = collapse_whitespace(&s);
            if s == before {
                return s;
            }
        }
    }

    /// An outgoing subject: our tag exactly once, then the original subject,
    /// with no pile of `Re:` before it.
    pub fn compose(&self, id: TicketId, original: &str, max_chars: usize) -> String {
        let rest = sanitize(&self.strip(original), max_chars);
        let tag = self.tag_for(id);
        if rest.is_empty() {
            tag
        } else {
            format!("{tag} {rest}")
        }
    }
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text chosen by a stranger, made safe to echo in a header we sign: no
/// control characters (CR/LF would inject headers), no bidirectional
/// overrides (they disguise what a reader sees), bounded length.
pub fn sanitize(s: &str, max_chars: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let cleaned = collapse_whitespace(&cleaned);
    if cleaned.chars().count() <= max_chars {
        return cleaned;
    }
    let mut out: String = cleaned.chars().take(max_chars.saturating_sub(1)).collect();
    out = out.trim_end().to_string();
    out.push('…');
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> TagMatcher {
        TagMatcher::new("CERT-EX")
    }

    #[test]
    fn finds_tag_in_all_its_mangled_forms() {
        let id = TicketId::new(2026, 42);
        for s in [
            "[CERT-EX #2026-00042] Phishing",
            "Re: [CERT-EX #2026-00042] Phishing",
            "AW: WG: RE: [CERT-EX #2026-00042] Phishing",
            "SV: [cert-ex #2026-00042] Phishing",
            "[CERT-EX#2026-00042]",
            "[ CERT-EX  #  2026-00042 ]",
            "[Cert-Ex #2026-42] lower case, short number",
            "RE: [CERT-EX <http://cert-ex/> #2026-00042] Outlook linkified",
            "Fwd: stuff [CERT-EX #2026-00042 <https://tracker/2026-00042>] at the end",
            "Re[2]: [CERT-EX #2026-00042]",
        ] {
            assert_eq!(m().find(s), vec![id], "subject: {s}");
        }
    }

    #[test]
    fn other_teams_tags_and_lookalikes_do_not_match() {
        for s in [
            "[CERT-OT #2026-00042] their ticket",
            "[CERT-EXTRA #2026-00042]",
            "[XCERT-EX #2026-00042]",
            "CERT-EX #2026-00042 without brackets",
            "[CERT-EX #26-00042]",
            "[CERT-EX #2026-00000]",
            "[CERT-EX 2026-00042]",
        ] {
            assert!(m().find(s).is_empty(), "subject: {s}");
        }
    }

    #[test]
    fn several_tags_in_order_without_repeats() {
        let s = "[CERT-EX #2026-00002] Re: [CERT-EX #2026-00001] [cert-ex #2026-00002]";
        assert_eq!(
            m().find(s),
            vec![TicketId::new(2026, 2), TicketId::new(2026, 1)]
        );
    }

    #[test]
    fn compose_carries_tag_once_without_prefix_pile() {
        let id = TicketId::new(2026, 42);
        let cases = [
            ("Phishing at bank", "[CERT-EX #2026-00042] Phishing at bank"),
            ("Re: Re: AW: Phishing", "[CERT-EX #2026-00042] Phishing"),
            (
                "RE: [CERT-EX #2026-00042] Re: Phishing",
                "[CERT-EX #2026-00042] Phishing",
            ),
            ("Fwd: [cert-ex#2026-00042] WG: x", "[CERT-EX #2026-00042] x"),
            ("TR : Réf: problème", "[CERT-EX #2026-00042] problème"),
            ("", "[CERT-EX #2026-00042]"),
            ("Re:", "[CERT-EX #2026-00042]"),
            (
                "[CERT-OT #2026-1234] shared case",
                "[CERT-EX #2026-00042] [CERT-OT #2026-1234] shared case",
            ),
            (
                "Re: [CERT-EX #2026-00007] wrong ticket",
                "[CERT-EX #2026-00042] wrong ticket",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(m().compose(id, input, 120), want, "input: {input:?}");
        }
    }

    #[test]
    fn words_that_start_like_prefixes_are_kept() {
        assert_eq!(m().strip("Request for help"), "Request for help");
        assert_eq!(m().strip("Report: malware"), "Report: malware");
        assert_eq!(m().strip("Ransomware"), "Ransomware");
    }

    #[test]
    fn sanitize_strips_controls_bidi_and_caps_length() {
        assert_eq!(sanitize("a\r\nBcc: victim@x\tb", 100), "a Bcc: victim@x b");
        assert_eq!(sanitize("invoice\u{202e}fdp.exe", 100), "invoice fdp.exe");
        let long = "x".repeat(300);
        let s = sanitize(&long, 50);
        assert_eq!(s.chars().count(), 50);
        assert!(s.ends_with('…'));
        assert_eq!(sanitize("äöü €", 3), "äö…");
    }
}

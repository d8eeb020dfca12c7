//! Traffic Light Protocol 2.0 (FIRST) labels a report carries: `TLP:RED`,
//! `TLP:AMBER+STRICT`, `TLP:AMBER`, `TLP:GREEN`, `TLP:CLEAR`, and TLP 1.0's
//! `TLP:WHITE` read as CLEAR. Looked for in the subject, the first lines of
//! the text and the subject of the protected headers; the strictest one
//! seen is the report's. Pure functions: the pipeline decides what a label
//! changes.
//!
//! A label is `TLP`, a colon (spaces around it allowed, as in `TLP: RED`)
//! and a colour, case-insensitive, standing as words of their own: the
//! characters around it are not letters, digits or `_`, so `XTLP:RED`,
//! `TLP:REDACTED` and `TLP:AMBERS` are not labels.

use crate::workflow::commands::Tlp;

/// Lines of the body read by [`strictest`]: senders put the label at the
/// top (FIRST asks for it "prior to the information itself").
pub const FIRST_LINES: usize = 10;
/// Text scanned per call; a label further in is not a label of the mail.
const MAX_SCAN: usize = 1024 * 1024;
/// Bytes [`first_lines`] returns at most, however long the lines.
const MAX_FIRST: usize = 16 * 1024;
/// Labels returned per call; one is all [`strictest`] needs, a few
/// dozen are already a hostile or broken text.
pub const MAX_LABELS: usize = 64;
/// Spaces or tabs allowed on each side of the colon.
const MAX_GAP: usize = 3;

/// The labels in `text` in order of appearance, at most [`MAX_LABELS`],
/// from its first MiB.
pub fn labels_in(text: &str) -> Vec<Tlp> {
    let text = &text[..floor_boundary(text, MAX_SCAN)];
    let b = text.as_bytes();
    let mut out = Vec::new();
    // Every label has a colon: look at the few colons rather than at
    // every byte (this runs on every message's subject and first lines).
    for colon in memchr::memchr_iter(b':', b) {
        if out.len() >= MAX_LABELS {
            break;
        }
        let mut end = colon;
        while end > 0 && colon - end < MAX_GAP && matches!(b[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        let Some(start) = end.checked_sub(3) else {
            continue;
        };
        if !b[start..end].eq_ignore_ascii_case(b"tlp")
            || !text.is_char_boundary(start)
            || !boundary_before(text, start)
        {
            continue;
        }
        if let Some((tlp, _)) = label_at(text, end) {
            out.push(tlp);
        }
    }
    out
}

/// Whether the character before byte `i` cannot be part of a word.
fn boundary_before(text: &str, i: usize) -> bool {
    text[..i]
        .chars()
        .next_back()
        .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
}

/// Whether the character at byte `i` cannot continue a word (`TLP:REDä`
/// is no label either).
fn boundary_after(text: &str, i: usize) -> bool {
    text.get(i..).is_some_and(|rest| {
        rest.chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

fn skip_gap(b: &[u8], mut i: usize) -> usize {
    let start = i;
    while i < b.len() && i - start < MAX_GAP && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// The label whose `TLP` ends at byte `i`, and where it ends.
fn label_at(text: &str, i: usize) -> Option<(Tlp, usize)> {
    let b = text.as_bytes();
    let i = skip_gap(b, i);
    if b.get(i) != Some(&b':') {
        return None;
    }
    let start = skip_gap(b, i + 1);
    let mut end = start;
    while end < b.len() && end - start < 8 && b[end].is_ascii_alphabetic() {
        end += 1;
    }
    let word = std::str::from_utf8(&b[start..end]).ok()?;
    let tlp = Tlp::parse(word)?;
    // `+STRICT` (FIRST's spelling), `-STRICT` or `_STRICT`, as a whole
    // word. Anything else after the `+` (`AMBER+STRICTLY`, `AMBER+`) leaves
    // plain AMBER: the colour is clear, an unknown suffix is not STRICT.
    let strict = b"strict";
    let s = end + 1;
    if tlp == Tlp::Amber
        && matches!(b.get(end), Some(b'+' | b'-' | b'_'))
        && b.len() >= s + strict.len()
        && b[s..s + strict.len()].eq_ignore_ascii_case(strict)
        && boundary_after(text, s + strict.len())
    {
        return Some((Tlp::AmberStrict, s + strict.len()));
    }
    boundary_after(text, end).then_some((tlp, end))
}

/// The start of `body` up to the end of its `n`-th non-blank line, at
/// most 16 KiB. Quoted lines (`> …`) count like any other: quoted text
/// keeps its label in a reply. A PGP clear-signing header counts too.
pub fn first_lines(body: &str, n: usize) -> &str {
    let body = &body[..floor_boundary(body, MAX_FIRST)];
    if n == 0 {
        return "";
    }
    let mut seen = 0;
    let mut at = 0;
    for line in body.split_inclusive('\n') {
        at += line.len();
        if !line.trim().is_empty() {
            seen += 1;
            if seen == n {
                break;
            }
        }
    }
    &body[..at]
}

/// The strictest label in the subject, the first [`FIRST_LINES`] of the
/// body text and the protected (encrypted or signed) headers' subject.
pub fn strictest(subject: &str, body_text: &str, protected_subject: Option<&str>) -> Option<Tlp> {
    labels_in(subject)
        .into_iter()
        .chain(labels_in(first_lines(body_text, FIRST_LINES)))
        .chain(protected_subject.map(labels_in).unwrap_or_default())
        .max()
}

fn floor_boundary(s: &str, max: usize) -> usize {
    let mut cut = s.len().min(max);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Option<Tlp> {
        let l = labels_in(s);
        assert!(l.len() <= 1, "{s:?}: {l:?}");
        l.first().copied()
    }

    #[test]
    fn first_spellings_and_common_variants() {
        assert_eq!(one("TLP:RED"), Some(Tlp::Red));
        assert_eq!(one("TLP:AMBER+STRICT"), Some(Tlp::AmberStrict));
        assert_eq!(one("TLP: AMBER+STRICT"), Some(Tlp::AmberStrict));
        assert_eq!(one("TLP:AMBER-STRICT"), Some(Tlp::AmberStrict));
        assert_eq!(one("tlp:amber_strict"), Some(Tlp::AmberStrict));
        assert_eq!(one("[TLP:GREEN]"), Some(Tlp::Green));
        assert_eq!(one("(TLP:CLEAR)"), Some(Tlp::Clear));
        assert_eq!(one("TLP:WHITE"), Some(Tlp::Clear), "TLP 1.0");
        assert_eq!(one("tlp:amber"), Some(Tlp::Amber));
        assert_eq!(one("TLP: RED"), Some(Tlp::Red));
        assert_eq!(one("TLP : red."), Some(Tlp::Red));
        assert_eq!(one("Tlp:Green,"), Some(Tlp::Green));
        assert_eq!(one("\"TLP:AMBER\""), Some(Tlp::Amber));
        assert_eq!(one("Classification: TLP:RED\n"), Some(Tlp::Red));
        assert_eq!(one("«TLP:RED»"), Some(Tlp::Red), "non-ASCII punctuation");
    }

    #[test]
    fn not_inside_words_and_not_unknown_colours() {
        for s in [
            "XTLP:RED",
            "_TLP:RED",
            "äTLP:RED",
            "TLP:REDACTED",
            "TLP:REDä",
            "TLP:AMBERS",
            "TLP:AMBERSTRICT",
            "TLP:GREENISH",
            "TLP:BLUE",
            "TLP:",
            "TLP",
            "TLPRED",
            "TLP RED",
            "TLP-RED",
            "TLP:    RED",
            "TLP::RED",
            "tlp:\nred",
            "",
        ] {
            assert_eq!(labels_in(s), vec![], "{s:?}");
        }
    }

    #[test]
    fn a_suffix_that_is_not_strict_leaves_amber() {
        assert_eq!(one("TLP:AMBER+STRICTLY"), Some(Tlp::Amber));
        assert_eq!(one("TLP:AMBER+"), Some(Tlp::Amber));
        assert_eq!(one("TLP:AMBER+RED"), Some(Tlp::Amber));
        assert_eq!(one("TLP:AMBER+STRICT."), Some(Tlp::AmberStrict));
        assert_eq!(one("TLP:AMBER+STRICT]"), Some(Tlp::AmberStrict));
    }

    #[test]
    fn every_label_in_order() {
        assert_eq!(
            labels_in("TLP:GREEN, was TLP:RED; tlp:white and XTLP:AMBER then (TLP:AMBER+STRICT)"),
            vec![Tlp::Green, Tlp::Red, Tlp::Clear, Tlp::AmberStrict]
        );
    }

    #[test]
    fn huge_input_is_bounded() {
        let many = "TLP:RED ".repeat(200_000);
        let t = std::time::Instant::now();
        assert_eq!(labels_in(&many).len(), MAX_LABELS);
        let near_misses = "TLP:REDACTED tlp tlp: ".repeat(200_000);
        assert!(labels_in(&near_misses).is_empty());
        // A label past the scanned first MiB does not count.
        let late = format!("{}TLP:RED", "x".repeat(MAX_SCAN));
        assert!(labels_in(&late).is_empty());
        let multibyte = "ä".repeat(MAX_SCAN);
        assert!(labels_in(&multibyte).is_empty());
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn first_lines_skips_nothing_but_counts_only_non_blank_lines() {
        let body = "\n\nHello,\n\n> TLP:RED quoted\nline 3\nline 4\n";
        assert_eq!(first_lines(body, 2), "\n\nHello,\n\n> TLP:RED quoted\n");
        assert_eq!(first_lines(body, 100), body);
        assert_eq!(first_lines(body, 0), "");
        assert_eq!(
            first_lines("one line, no newline", 10),
            "one line, no newline"
        );
        assert_eq!(first_lines("a\r\nb\r\nc", 2), "a\r\nb\r\n");
        let long = "é".repeat(MAX_FIRST);
        assert!(first_lines(&long, 1).len() <= MAX_FIRST);
    }

    #[test]
    fn strictest_of_subject_first_lines_and_protected_subject() {
        assert_eq!(
            strictest(
                "[TLP:RED] do not share … with the university",
                "Hello,\nTLP:GREEN\n",
                None
            ),
            Some(Tlp::Red)
        );
        assert_eq!(
            strictest(
                "Report",
                "TLP:AMBER\n\nDetails",
                Some("[TLP:AMBER+STRICT] x")
            ),
            Some(Tlp::AmberStrict)
        );
        assert_eq!(strictest("TLP:WHITE report", "", None), Some(Tlp::Clear));
        assert_eq!(strictest("Scan report", "nothing here", None), None);
        assert_eq!(strictest("...", "", Some("TLP:RED")), Some(Tlp::Red));
        // Beyond the first lines: a footer's or a quoted thread's label
        // far down does not count.
        let body = format!("{}TLP:RED\n", "line\n".repeat(FIRST_LINES));
        assert_eq!(strictest("x", &body, None), None);
        let body = format!("{}TLP:RED\n", "line\n".repeat(FIRST_LINES - 1));
        assert_eq!(strictest("x", &body, None), Some(Tlp::Red));
    }
}

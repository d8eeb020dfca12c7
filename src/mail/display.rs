//! Attacker text made safe for people. Display names, subjects, file names
//! and addresses are chosen by whoever sends the mail; shown raw, a control
//! character or an escape sequence acts on the reader's terminal or mail
//! client, an encoded line break forges a line of its own, and a bidi
//! override makes text read differently from what it is.
//!
//! Two treatments: [`clean`] drops what must not act (for text we send,
//! such as the handlers' notifications), [`escape`] makes it visible (for
//! operators at a terminal, who may need to see that it was there). JSON
//! output needs neither: serde_json escapes control characters itself.

/// Characters that change how text around them is ordered or broken into
/// lines, without being control characters in Unicode's sense.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// C0, DEL, C1 and the bidi and line-separator formats.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// The length in chars of an escape sequence starting at `ESC`, so that
/// its parameters go with it rather than remain as visible debris: CSI
/// (`ESC [ … final`), OSC/DCS/APC/PM/SOS strings (up to BEL or `ESC \`),
/// and two-character escapes.
fn escape_sequence_len(rest: &[char]) -> usize {
    debug_assert_eq!(rest.first(), Some(&'\x1b'));
    match rest.get(1) {
        None => 1,
        Some('[') => rest
            .iter()
            .skip(2)
            .position(|c| ('\u{40}'..='\u{7e}').contains(c))
            .map_or(rest.len(), |p| p + 3),
        Some(']' | 'P' | '_' | '^' | 'X') => {
            let mut i = 2;
            while i < rest.len() {
                match rest[i] {
                    '\x07' => return i + 1,
                    '\x1b' if rest.get(i + 1) == Some(&'\\') => return i + 2,
                    _ => i += 1,
                }
            }
            rest.len()
        }
        Some(_) => 2,
    }
}

/// One line of attacker text with nothing left that acts: escape
/// sequences removed whole, line breaks and tabs become spaces, other
/// control and bidi characters are dropped. Never contains a newline.
pub fn clean(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\x1b' {
            i += escape_sequence_len(&chars[i..]);
            continue;
        }
        if matches!(c, '\r' | '\n' | '\t' | '\u{85}' | '\u{2028}' | '\u{2029}') {
            out.push(' ');
        } else if !is_unsafe(c) {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Multi-line text cleaned line by line: the line structure is kept (the
/// caller quotes or labels each line), everything else as in [`clean`].
pub fn clean_lines(s: &str) -> String {
    s.lines().map(clean).collect::<Vec<_>>().join("\n")
}

/// Attacker text for a terminal: every unsafe character is shown as an
/// escape (`\x1b`, `\r`, `\u{202e}`), so the operator sees it was there
/// and the terminal does not act on it.
pub fn escape(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `s` escaped and cut to at most `max` chars, for values quoted in events
/// and warnings.
pub fn escape_short(s: &str, max: usize) -> String {
    let e = escape(s);
    if e.chars().count() <= max {
        return e;
    }
    let mut t: String = e.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_removes_escape_sequences_whole() {
        assert_eq!(clean("a\x1b[31mred\x1b[0m b"), "ared b");
        // The window-title sequence (OSC 0) with BEL and with ST.
        assert_eq!(clean("x\x1b]0;pwned\x07y"), "xy");
        assert_eq!(clean("x\x1b]2;pwned\x1b\\y"), "xy");
        assert_eq!(clean("x\x1bcy"), "xy");
        assert_eq!(clean("unterminated \x1b[12"), "unterminated ");
        assert_eq!(clean("trailing \x1b"), "trailing ");
    }

    #[test]
    fn clean_makes_one_line_without_controls_or_bidi() {
        assert_eq!(
            clean("Eve\nSignature: signed by a known key"),
            "Eve Signature: signed by a known key"
        );
        assert_eq!(clean("a\r\nb\u{85}c\u{2028}d"), "a  b c d");
        assert_eq!(clean("nul\0del\x7fc1\u{9b}"), "nuldelc1");
        assert_eq!(clean("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(clean("\u{2066}x\u{2069}"), "x");
        assert_eq!(clean("Grüße, 日本 ok"), "Grüße, 日本 ok");
    }

    #[test]
    fn clean_lines_keeps_the_lines() {
        assert_eq!(clean_lines("a\x1b[1m\nb\u{202e}\n"), "a\nb");
    }

    #[test]
    fn escape_shows_what_was_there() {
        assert_eq!(escape("plain Grüße"), "plain Grüße");
        assert_eq!(escape("a\x1b]0;t\x07"), "a\\x1b]0;t\\x07");
        assert_eq!(escape("x\ry\nz\t"), "x\\ry\\nz\\t");
        assert_eq!(escape("\0\x7f"), "\\x00\\x7f");
        assert_eq!(escape("\u{9b}"), "\\u{9b}");
        assert_eq!(escape("rtl\u{202e}txt"), "rtl\\u{202e}txt");
        assert_eq!(escape_short("abcdef", 4), "abc…");
        assert_eq!(escape_short("a\x1b", 10), "a\\x1b");
    }
}

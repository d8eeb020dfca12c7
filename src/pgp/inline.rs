//! Inline OpenPGP in text parts: finding armored blocks, reading a
//! mangled armor (Exchange and friends turn the blank line into a
//! no-break space or wrap every line in HTML), and HTML to text.

use super::mime::{base64_lenient, is_blank, lines};

/// Blocks looked at per text part.
pub(crate) const MAX_BLOCKS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// `-----BEGIN PGP SIGNED MESSAGE-----` … `-----END PGP SIGNATURE-----`
    Cleartext,
    /// `-----BEGIN PGP MESSAGE-----` … `-----END PGP MESSAGE-----`
    Message,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    pub kind: BlockKind,
    pub start: usize,
    pub end: usize,
}

/// Armored blocks starting at the beginning of a line. An unterminated
/// block runs to the end of the text (and will then fail to verify).
pub(crate) fn blocks(text: &[u8]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(BlockKind, usize)> = None;
    for (s, c, _) in lines(text) {
        let line = trim_end(text.get(s..c).unwrap_or_default());
        match open {
            None => {
                let kind = match line {
                    b"-----BEGIN PGP SIGNED MESSAGE-----" => BlockKind::Cleartext,
                    b"-----BEGIN PGP MESSAGE-----" => BlockKind::Message,
                    _ => continue,
                };
                if out.len() >= MAX_BLOCKS {
                    break;
                }
                open = Some((kind, s));
            }
            Some((kind, start)) => {
                let end_line: &[u8] = match kind {
                    BlockKind::Cleartext => b"-----END PGP SIGNATURE-----",
                    BlockKind::Message => b"-----END PGP MESSAGE-----",
                };
                if line == end_line {
                    out.push(Block {
                        kind,
                        start,
                        end: c,
                    });
                    open = None;
                }
            }
        }
    }
    if let Some((kind, start)) = open {
        out.push(Block {
            kind,
            start,
            end: text.len(),
        });
    }
    out
}

/// Whether everything outside the blocks is blank.
pub(crate) fn only_blocks(text: &[u8], blocks: &[Block]) -> bool {
    let mut pos = 0;
    for b in blocks {
        if !is_blank(text.get(pos..b.start).unwrap_or_default()) {
            return false;
        }
        pos = b.end;
    }
    is_blank(text.get(pos..).unwrap_or_default())
}

/// The binary packets of an armored `PGP MESSAGE` block, read leniently:
/// header lines and blank (or no-break-space) lines before the data are
/// skipped, the CRC line and anything after it ignored.
pub(crate) fn dearmor(block: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut in_body = false;
    for (n, (s, c, _)) in lines(block).enumerate() {
        let line = trim_end(block.get(s..c).unwrap_or_default());
        if n == 0 {
            continue; // BEGIN line
        }
        if line.starts_with(b"-----END") {
            break;
        }
        if !in_body {
            if is_blank(line) || is_header(line) {
                continue;
            }
            in_body = true;
        }
        if line.first() == Some(&b'=') && line.len() <= 6 {
            break; // CRC-24
        }
        data.extend_from_slice(line);
    }
    base64_lenient(&data)
}

fn is_header(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    colon > 0
        && line
            .get(..colon)
            .is_some_and(|n| n.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-'))
}

fn trim_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line.get(end - 1), Some(b' ' | b'\t' | b'\r')) {
        end -= 1;
    }
    line.get(..end).unwrap_or_default()
}

/// The text of an HTML part, roughly: tags removed, line breaks kept,
/// the common character references decoded. Only used to find armored
/// blocks, never to decide what a reader sees (HTML can hide and show
/// anything, so an inline signature in HTML is never complete).
pub(crate) fn html_to_text(html: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(html.len());
    let mut i = 0;
    while i < html.len() {
        match html[i] {
            b'<' => match html
                .get(i..)
                .and_then(|r| r.iter().position(|&b| b == b'>'))
            {
                Some(end) => i += end + 1,
                None => break,
            },
            b'&' => {
                let rest = html.get(i..).unwrap_or_default();
                let end = rest.iter().take(12).position(|&b| b == b';');
                let decoded = end.and_then(|e| entity(rest.get(1..e).unwrap_or_default()));
                match (end, decoded) {
                    (Some(e), Some(ch)) => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        i += e + 1;
                    }
                    _ => {
                        out.push(b'&');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn entity(name: &[u8]) -> Option<char> {
    match name {
        b"nbsp" => Some('\u{a0}'),
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        _ => {
            let s = std::str::from_utf8(name.strip_prefix(b"#")?).ok()?;
            let n = match s.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => s.parse().ok()?,
            };
            char::from_u32(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_and_outside_text() {
        let t = b"hi\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nx\n-----BEGIN PGP SIGNATURE-----\n\nAA==\n-----END PGP SIGNATURE-----\nbye\n";
        let b = blocks(t);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].kind, BlockKind::Cleartext);
        assert!(t[b[0].start..b[0].end].ends_with(b"-----END PGP SIGNATURE-----"));
        assert!(!only_blocks(t, &b));
        let t2 = b"\n-----BEGIN PGP MESSAGE-----\n\nAA==\n-----END PGP MESSAGE-----\n \n";
        let b2 = blocks(t2);
        assert_eq!(b2[0].kind, BlockKind::Message);
        assert!(only_blocks(t2, &b2));
        assert!(blocks(b"no armor").is_empty());
        let open = blocks(b"-----BEGIN PGP MESSAGE-----\nAAAA");
        assert_eq!(open[0].end, 32);
    }

    #[test]
    fn lenient_dearmor() {
        let nbsp = b"-----BEGIN PGP MESSAGE-----\nVersion: x\n\xc2\xa0\naGVs\nbG8=\n=abcd\n-----END PGP MESSAGE-----";
        assert_eq!(dearmor(nbsp), b"hello");
    }

    #[test]
    fn html_text() {
        assert_eq!(
            html_to_text(b"<div>a&nbsp;b&#43;&#x2B;&amp;&bogus;</div><br>\n<"),
            "a\u{a0}b++&&bogus;\n".as_bytes()
        );
    }
}

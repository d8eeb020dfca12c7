//! The text a person wrote in a mail: the first text part, the decrypted
//! content when the mail was encrypted, an inline signature's armor removed.
//! Used for what handlers are shown and what a handler's reply relays.

use mail_parser::MessageParser;

/// More than this is not read: notifications quote a bounded excerpt and a
/// handler's reply is not a novel.
pub const MAX_TEXT: usize = 256 * 1024;

/// The readable text of `raw` (or of `plaintext`, the decrypted payload of
/// an encrypted message), without inline OpenPGP armor.
pub fn text_of(raw: &[u8], plaintext: Option<&[u8]>, max_size: usize) -> String {
    let text = match plaintext {
        Some(p) if looks_like_entity(p) => first_text(p, max_size),
        Some(p) => Some(String::from_utf8_lossy(&p[..p.len().min(MAX_TEXT)]).into_owned()),
        None => first_text(raw, max_size),
    };
    let text = text.unwrap_or_default();
    let text = unclearsign(&text);
    truncate(text, MAX_TEXT)
}

/// The address of a stored From (`Alice <a@x.example>` or `a@x.example`),
/// normalised.
pub fn address_of(from: &str) -> String {
    let inner = match (from.rfind('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from,
    };
    crate::model::normalize_address(inner)
}

fn looks_like_entity(p: &[u8]) -> bool {
    let head = &p[..p.len().min(512)];
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    lower.starts_with("content-") || lower.contains("\ncontent-type:")
}

fn first_text(raw: &[u8], max_size: usize) -> Option<String> {
    if raw.len() > max_size {
        return None;
    }
    let parse = std::panic::AssertUnwindSafe(|| {
        MessageParser::default()
            .parse(raw)
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
    });
    std::panic::catch_unwind(parse).ok().flatten()
}

/// The signed text of an inline cleartext signature, dash-escaping undone;
/// text without one is returned unchanged.
pub fn unclearsign(text: &str) -> String {
    let Some(start) = text.find("-----BEGIN PGP SIGNED MESSAGE-----") else {
        return text.to_string();
    };
    let after = &text[start..];
    // Armor headers (Hash: …) end at the first empty line.
    let mut lines = after.lines().skip(1);
    for l in lines.by_ref() {
        if l.trim().is_empty() {
            break;
        }
    }
    let mut out = Vec::new();
    for l in lines {
        if l.starts_with("-----BEGIN PGP SIGNATURE-----") {
            break;
        }
        out.push(l.strip_prefix("- ").unwrap_or(l));
    }
    let mut s = text[..start].to_string();
    s.push_str(&out.join("\n"));
    s
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgp_mime_signed_text_is_the_inner_part() {
        let raw = b"From: a@x.example\r\nContent-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n/status resolved\r\nDone.\r\n--b\r\nContent-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\nxx\r\n-----END PGP SIGNATURE-----\r\n--b--\r\n";
        let t = text_of(raw, None, 1 << 20);
        assert!(t.starts_with("/status resolved"), "{t:?}");
        assert!(!t.contains("PGP SIGNATURE"));
    }

    #[test]
    fn inline_signature_armor_is_removed() {
        let t = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n/status open\n- -- not a sig\nText\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(unclearsign(t), "/status open\n-- not a sig\nText");
    }

    #[test]
    fn decrypted_plain_text_is_used() {
        let t = text_of(b"From: a@x\r\n\r\ncipher", Some(b"hello inside"), 1 << 20);
        assert_eq!(t, "hello inside");
    }
}

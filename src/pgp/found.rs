//! Certificates that arrive with a message (attached, or in Autocrypt
//! headers). They are reported for the ticket so a handler can decide to
//! import them; a verdict never uses them, or an attacker would simply
//! attach the key that makes their forgery look good.

use super::mime::{base64_lenient, Field};
use super::{hex_fpr, FoundKey, KeySource};
use openpgp::cert::CertParser;
use openpgp::parse::Parse;
use sequoia_openpgp as openpgp;

/// Keys recorded per message at most.
pub(crate) const MAX_FOUND: usize = 16;
/// A key block larger than this is not parsed.
const MAX_KEY_BYTES: usize = 256 * 1024;

pub(crate) fn from_bytes(data: &[u8], source: KeySource, out: &mut Vec<FoundKey>) {
    if data.len() > MAX_KEY_BYTES || out.len() >= MAX_FOUND {
        return;
    }
    let Ok(parser) = CertParser::from_bytes(data) else {
        return;
    };
    for cert in parser.take(MAX_FOUND).flatten() {
        if out.len() >= MAX_FOUND {
            break;
        }
        let fingerprint = hex_fpr(&cert.fingerprint());
        if out
            .iter()
            .any(|k| k.fingerprint == fingerprint && k.source == source)
        {
            continue;
        }
        out.push(FoundKey {
            fingerprint,
            source,
            user_ids: cert
                .userids()
                .take(8)
                .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
                .collect(),
        });
    }
}

/// Public key blocks inside a text part (keys are often attached as
/// `text/plain` with an `.asc` name).
pub(crate) fn from_text(text: &[u8], out: &mut Vec<FoundKey>) {
    const BEGIN: &[u8] = b"-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const END: &[u8] = b"-----END PGP PUBLIC KEY BLOCK-----";
    let mut rest = text;
    for _ in 0..MAX_FOUND {
        let Some(b) = find(rest, BEGIN) else {
            return;
        };
        let after = rest.get(b..).unwrap_or_default();
        let Some(e) = find(after, END) else {
            return;
        };
        let block = after.get(..e + END.len()).unwrap_or_default();
        from_bytes(block, KeySource::Attachment, out);
        rest = after.get(e + END.len()..).unwrap_or_default();
    }
}

/// `Autocrypt:` (or `Autocrypt-Gossip:`) headers: `addr=...; keydata=BASE64`.
pub(crate) fn from_autocrypt(
    fields: &[Field],
    name: &str,
    source: KeySource,
    out: &mut Vec<FoundKey>,
) {
    for f in fields.iter().filter(|f| f.name == name).take(MAX_FOUND) {
        let value = f.value.as_slice();
        let Some(i) = find(value, b"keydata=") else {
            continue;
        };
        let data = value.get(i + b"keydata=".len()..).unwrap_or_default();
        let data = match data.iter().position(|&b| b == b';') {
            Some(end) => data.get(..end).unwrap_or_default(),
            None => data,
        };
        from_bytes(&base64_lenient(data), source, out);
    }
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

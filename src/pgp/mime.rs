//! A small MIME scanner over raw bytes. Signatures cover bytes, so the
//! signed part of a PGP/MIME message must be cut out of the message
//! exactly as it arrived, never re-serialised from a parse. Everything
//! here is bounded, slices with `get`, and never recurses: callers bound
//! the depth.

use base64::Engine as _;
use std::borrow::Cow;

/// Header fields read per entity; mail with more is junk or an attack.
const MAX_FIELDS: usize = 1000;
/// Parts of one multipart read at most.
pub(crate) const MAX_PARTS: usize = 500;

/// Lines of `data`: (start, end of content, end including the line break).
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let start = pos;
        let rest = data.get(start..)?;
        let (cend, lend) = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let nl = start + i;
                let cend = if nl > start && data.get(nl - 1) == Some(&b'\r') {
                    nl - 1
                } else {
                    nl
                };
                (cend, nl + 1)
            }
            None => (data.len(), data.len()),
        };
        pos = lend;
        Some((start, cend, lend))
    })
}

/// One MIME entity: its header section and its body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entity<'a> {
    pub header: &'a [u8],
    pub body: &'a [u8],
}

/// Splits an entity at the first empty line. A leading mbox `From ` line
/// is skipped; an entity without an empty line is all header.
pub(crate) fn split(raw: &[u8]) -> Entity<'_> {
    let mut start = 0;
    if raw.starts_with(b"From ") {
        if let Some((_, _, lend)) = lines(raw).next() {
            start = lend;
        }
    }
    let data = raw.get(start..).unwrap_or_default();
    for (s, c, l) in lines(data) {
        if s == c {
            return Entity {
                header: data.get(..s).unwrap_or_default(),
                body: data.get(l..).unwrap_or_default(),
            };
        }
    }
    Entity {
        header: data,
        body: &[],
    }
}

/// One unfolded header field: lower-case name, raw value bytes.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub name: String,
    pub value: Vec<u8>,
}

impl Field {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.value).trim().to_string()
    }
}

pub(crate) fn fields(header: &[u8]) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    for (s, c, _) in lines(header) {
        let line = header.get(s..c).unwrap_or_default();
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some(last) = out.last_mut() {
                // Unfolding: the line break goes, the whitespace stays.
                last.value.extend_from_slice(line);
            }
            continue;
        }
        if out.len() >= MAX_FIELDS {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or_default();
        if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
            continue;
        }
        out.push(Field {
            name: String::from_utf8_lossy(name).to_ascii_lowercase(),
            value: line.get(colon + 1..).unwrap_or_default().to_vec(),
        });
    }
    out
}

/// Where two MIME readers could disagree about a header section: a line
/// that is no field, a field name with white space before its colon
/// (`Content-Type :`, which some parsers take and this one skips), a
/// folded line with nothing to fold into, and a second copy of a field in
/// `single` (first one wins here, the last one elsewhere). Each finding
/// names the ambiguity; `out` is bounded by the caller.
pub(crate) fn header_ambiguities(header: &[u8], single: &[&str], out: &mut Vec<String>) {
    let mut seen: Vec<&str> = Vec::new();
    let mut first = true;
    for (s, c, _) in lines(header) {
        let line = header.get(s..c).unwrap_or_default();
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if first {
                out.push("a folded header line with no field before it".into());
            }
            continue;
        }
        first = false;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            out.push(format!("a header line without a colon ({:?})", shown(line)));
            continue;
        };
        let name = line.get(..colon).unwrap_or_default();
        if name.is_empty() || name.iter().any(|b| !(33..=126).contains(b)) {
            out.push(format!(
                "a header field name with white space or control characters before the colon ({:?})",
                shown(line.get(..=colon).unwrap_or_default())
            ));
            continue;
        }
        // Every header line of every entity passes here: compared in
        // place, not lower-cased into a new string.
        if let Some(n) = single
            .iter()
            .find(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        {
            if seen.contains(n) {
                out.push(format!("more than one {n} header field"));
            } else {
                seen.push(n);
            }
        }
    }
}

/// A Content-Type whose reading depends on the parser: unreadable, a
/// parameter given twice, or an RFC 2231 form (`boundary*0=`) beside or
/// instead of the plain one.
pub(crate) fn content_type_ambiguities(fields: &[Field], out: &mut Vec<String>) {
    let Some(f) = field(fields, "content-type") else {
        return;
    };
    let Some(ct) = parse_content_type(&f.text()) else {
        out.push(format!(
            "an unreadable Content-Type ({:?})",
            shown(&f.value)
        ));
        return;
    };
    for (i, (name, _)) in ct.params.iter().enumerate() {
        if name.contains('*') {
            out.push(format!("an RFC 2231 Content-Type parameter ({name})"));
        } else if ct.params.iter().take(i).any(|(n, _)| n == name) {
            out.push(format!("the Content-Type parameter {name} given twice"));
        }
    }
}

/// Whether `boundary` is one RFC 2046 allows: 1 to 70 of its characters,
/// not ending in a space. Anything else is read differently by parsers.
pub(crate) fn boundary_is_valid(boundary: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    (1..=70).contains(&boundary.len()) && boundary.chars().all(ok) && !boundary.ends_with(' ')
}

/// Lines of a multipart body that one parser may take for a delimiter
/// and another not: a line that starts with `--boundary` but goes on with
/// more than white space, and, before the first delimiter, any line that
/// looks like a delimiter of some other boundary.
pub(crate) fn delimiter_ambiguities(body: &[u8], boundary: &str, out: &mut Vec<String>) {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary.as_bytes());
    let mut preamble = true;
    for (s, c, _) in lines(body) {
        let line = body.get(s..c).unwrap_or_default();
        if let Some(rest) = line.strip_prefix(delim.as_slice()) {
            let rest = rest.strip_prefix(b"--").unwrap_or(rest);
            if rest.iter().all(|b| *b == b' ' || *b == b'\t') {
                preamble = false;
                continue;
            }
            out.push(format!(
                "a line that starts like the boundary but is none ({:?})",
                shown(line)
            ));
            return;
        }
        if preamble && line.len() > 2 && line.starts_with(b"--") {
            let rest = String::from_utf8_lossy(line.get(2..).unwrap_or_default()).into_owned();
            if boundary_is_valid(rest.trim_end()) {
                out.push(format!(
                    "a boundary line in the preamble ({:?})",
                    shown(line)
                ));
                return;
            }
        }
    }
}

/// At most 60 characters of attacker bytes, for a detail line.
fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(60).collect()
}

pub(crate) fn field<'f>(fields: &'f [Field], name: &str) -> Option<&'f Field> {
    fields.iter().find(|f| f.name == name)
}

/// A parsed Content-Type: lower-case `type/subtype` and its parameters
/// (names lower-case, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentType {
    pub mime: String,
    pub params: Vec<(String, String)>,
}

impl ContentType {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The Content-Type of an entity; `default` when absent or unreadable
/// (text/plain, or message/rfc822 inside multipart/digest).
pub(crate) fn content_type(fields: &[Field], default: &str) -> ContentType {
    match field(fields, "content-type") {
        Some(f) => parse_content_type(&f.text()).unwrap_or_else(|| ContentType {
            mime: default.into(),
            params: Vec::new(),
        }),
        None => ContentType {
            mime: default.into(),
            params: Vec::new(),
        },
    }
}

pub(crate) fn parse_content_type(value: &str) -> Option<ContentType> {
    let semi = value.find(';').unwrap_or(value.len());
    let mime = value.get(..semi)?.trim().to_ascii_lowercase();
    if !mime.contains('/') {
        return None;
    }
    let mut params = Vec::new();
    let rest: Vec<char> = value.get(semi..).unwrap_or_default().chars().collect();
    let mut i = 0;
    while i < rest.len() && params.len() < 64 {
        // Skip separators and whitespace.
        while i < rest.len() && (rest[i] == ';' || rest[i].is_whitespace()) {
            i += 1;
        }
        let name_start = i;
        while i < rest.len() && rest[i] != '=' && rest[i] != ';' {
            i += 1;
        }
        let name: String = rest[name_start..i]
            .iter()
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if i >= rest.len() || rest[i] == ';' {
            continue;
        }
        i += 1; // '='
        while i < rest.len() && rest[i].is_whitespace() {
            i += 1;
        }
        let mut val = String::new();
        if i < rest.len() && rest[i] == '"' {
            i += 1;
            while i < rest.len() && rest[i] != '"' {
                if rest[i] == '\\' && i + 1 < rest.len() {
                    i += 1;
                }
                val.push(rest[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < rest.len() && rest[i] != ';' {
                val.push(rest[i]);
                i += 1;
            }
            val = val.trim().to_string();
        }
        if !name.is_empty() {
            params.push((name, val));
        }
    }
    Some(ContentType { mime, params })
}

/// The body parts of a multipart body, each exactly as it appears between
/// its delimiter line and the line break before the next delimiter (that
/// line break belongs to the delimiter, RFC 2046 5.1.1). `None` when the
/// boundary never occurs.
pub(crate) fn parts<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<&'a [u8]>> {
    if boundary.is_empty() || boundary.len() > 200 {
        return None;
    }
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary.as_bytes());
    let mut out = Vec::new();
    let mut current: Option<usize> = None;
    let mut prev_cend = 0usize;
    let mut seen = false;
    for (s, c, l) in lines(body) {
        let line = body.get(s..c).unwrap_or_default();
        if let Some(rest) = line.strip_prefix(delim.as_slice()) {
            let (close, rest) = match rest.strip_prefix(b"--") {
                Some(r) => (true, r),
                None => (false, rest),
            };
            if rest.iter().all(|b| *b == b' ' || *b == b'\t') {
                seen = true;
                if let Some(start) = current.take() {
                    let end = prev_cend.max(start);
                    out.push(body.get(start..end).unwrap_or_default());
                    if out.len() >= MAX_PARTS {
                        return Some(out);
                    }
                }
                if close {
                    return Some(out);
                }
                current = Some(l);
            }
        }
        prev_cend = c;
    }
    if !seen {
        return None;
    }
    // No close delimiter: the last part runs to the end, as clients read it.
    if let Some(start) = current {
        out.push(body.get(start..).unwrap_or_default());
    }
    Some(out)
}

/// The body with its Content-Transfer-Encoding undone.
pub(crate) fn decode<'a>(body: &'a [u8], fields: &[Field]) -> Cow<'a, [u8]> {
    let cte = field(fields, "content-transfer-encoding")
        .map(|f| f.text().to_ascii_lowercase())
        .unwrap_or_default();
    match cte.as_str() {
        "base64" => Cow::Owned(base64_lenient(body)),
        "quoted-printable" => Cow::Owned(quoted_printable(body)),
        _ => Cow::Borrowed(body),
    }
}

pub(crate) fn base64_lenient(data: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    // A dangling single character cannot encode a byte.
    let usable = if clean.len() % 4 == 1 {
        clean.len() - 1
    } else {
        clean.len()
    };
    engine
        .decode(clean.get(..usable).unwrap_or_default())
        .unwrap_or_default()
}

pub(crate) fn quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        let next = data.get(i + 1..i + 3);
        match next {
            Some([b'\r', b'\n']) => i += 3,
            Some([b'\n', _]) => i += 2,
            Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let v = (hex_val(*h) << 4) | hex_val(*l);
                out.push(v);
                i += 3;
            }
            _ if data.get(i + 1) == Some(&b'\n') => i += 2,
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Line ends canonicalised to CRLF, as RFC 3156 signs them.
pub(crate) fn to_crlf(data: &[u8]) -> Cow<'_, [u8]> {
    let bare_lf = data
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || data.get(i - 1) != Some(&b'\r')));
    if !bare_lf {
        return Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' && (i == 0 || data.get(i - 1) != Some(&b'\r')) {
            out.push(b'\r');
        }
        out.push(b);
    }
    Cow::Owned(out)
}

/// Whether bytes hold nothing a reader would see: whitespace, including
/// the no-break space (U+00A0 in UTF-8 and Latin-1).
pub(crate) fn is_blank(data: &[u8]) -> bool {
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c => i += 1,
            0xc2 if data.get(i + 1) == Some(&0xa0) => i += 2,
            0xa0 => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_crlf_and_lf_and_mbox_line() {
        let e = split(b"From: a\r\nX: y\r\n\r\nbody\r\n");
        assert_eq!(e.header, b"From: a\r\nX: y\r\n");
        assert_eq!(e.body, b"body\r\n");
        let e = split(b"From x Thu\nFrom: a\n\nbody");
        assert_eq!(e.header, b"From: a\n");
        assert_eq!(e.body, b"body");
        let e = split(b"From: only-headers");
        assert_eq!(e.body, b"");
        let e = split(b"\r\nbody");
        assert_eq!(e.header, b"");
        assert_eq!(e.body, b"body");
    }

    #[test]
    fn fields_unfold() {
        let f = fields(b"Content-Type: multipart/signed;\r\n\tboundary=\"b\"\r\nX: 1\r\n");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, "content-type");
        let ct = content_type(&f, "text/plain");
        assert_eq!(ct.mime, "multipart/signed");
        assert_eq!(ct.param("boundary"), Some("b"));
    }

    #[test]
    fn content_type_params() {
        let ct = parse_content_type(
            "Multipart/Signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"a;b\\\"c\"",
        )
        .unwrap();
        assert_eq!(ct.mime, "multipart/signed");
        assert_eq!(ct.param("micalg"), Some("pgp-sha256"));
        assert_eq!(ct.param("protocol"), Some("application/pgp-signature"));
        assert_eq!(ct.param("boundary"), Some("a;b\"c"));
        assert!(parse_content_type("garbage").is_none());
        assert!(parse_content_type("text/plain; =; a").is_some());
    }

    #[test]
    fn parts_are_exact_bytes() {
        let body = b"preamble\r\n--b\r\nA: 1\r\n\r\none\r\n\r\n--b \r\ntwo\r\n--b--\r\nepilogue";
        let p = parts(body, "b").unwrap();
        assert_eq!(p, vec![&b"A: 1\r\n\r\none\r\n"[..], &b"two"[..]]);
        // A longer boundary that merely starts with ours is content.
        let body = b"--b\r\nx\r\n--bc\r\ny\r\n--b--";
        assert_eq!(parts(body, "b").unwrap(), vec![&b"x\r\n--bc\r\ny"[..]]);
        // LF only, no close delimiter, empty part.
        let body = b"--b\n--b\nlast\n";
        assert_eq!(parts(body, "b").unwrap(), vec![&b""[..], &b"last\n"[..]]);
        assert!(parts(b"no delimiter", "b").is_none());
    }

    #[test]
    fn transfer_decodings() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc=\nd=zz=4"), b"a=bcd=zz=4");
        assert_eq!(base64_lenient(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(base64_lenient(b"aGVsbG8"), b"hello");
        assert_eq!(base64_lenient(b"!!!"), b"");
    }

    #[test]
    fn crlf_canonical() {
        assert_eq!(&*to_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert!(matches!(to_crlf(b"a\r\nb"), Cow::Borrowed(_)));
        assert_eq!(&*to_crlf(b"\n"), b"\r\n");
    }

    #[test]
    fn blank() {
        assert!(is_blank(b" \r\n\t\xc2\xa0"));
        assert!(!is_blank(b" x "));
    }
}

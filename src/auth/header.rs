//! The header block of a raw message, field by field, unfolded: just enough
//! for the few fields sender authentication reads (Authentication-Results,
//! Received, Return-Path), without parsing the whole message.

/// Longest unfolded field value kept; the rest of a longer field is
/// dropped and the field is marked truncated.
pub const MAX_FIELD_LEN: usize = 16 * 1024;

pub struct Field<'a> {
    pub name: &'a [u8],
    /// Unfolded (line breaks removed, the folding whitespace kept), lossy
    /// UTF-8.
    pub value: String,
    pub truncated: bool,
}

impl Field<'_> {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Fields in order, top first. Ends at the first empty line (CRLF or LF)
/// or the end of input. Lines without a colon and stray continuation lines
/// before the first field are skipped, as garbage.
pub struct Fields<'a> {
    rest: &'a [u8],
    done: bool,
}

pub fn fields(raw: &[u8]) -> Fields<'_> {
    Fields {
        rest: raw,
        done: false,
    }
}

/// One physical line without its line break, and the input after it.
fn split_line(b: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'\n', b) {
        Some(i) => {
            let line = &b[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, &b[i + 1..])
        }
        None => (b, &[]),
    }
}

fn is_continuation(b: &[u8]) -> bool {
    matches!(b.first(), Some(b' ') | Some(b'\t'))
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        loop {
            if self.done || self.rest.is_empty() {
                return None;
            }
            let (line, rest) = split_line(self.rest);
            self.rest = rest;
            if line.is_empty() {
                self.done = true;
                return None;
            }
            if is_continuation(line) {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let name = line[..colon].trim_ascii();
            if name.is_empty() || name.iter().any(|b| !b.is_ascii_graphic()) {
                continue;
            }
            let mut value: Vec<u8> = Vec::new();
            let mut truncated = false;
            let mut push = |part: &[u8], value: &mut Vec<u8>| {
                let room = MAX_FIELD_LEN.saturating_sub(value.len());
                if part.len() > room {
                    truncated = true;
                }
                value.extend_from_slice(&part[..part.len().min(room)]);
            };
            push(&line[colon + 1..], &mut value);
            while !self.rest.is_empty() {
                let (next, after) = split_line(self.rest);
                if !is_continuation(next) {
                    break;
                }
                self.rest = after;
                push(next, &mut value);
            }
            return Some(Field {
                name,
                value: String::from_utf8_lossy(value.trim_ascii()).into_owned(),
                truncated,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_and_stops_at_the_empty_line() {
        let raw = b"A: one\r\n two\r\nB:three\n\tfour\nC: x\r\n\r\nD: body\r\n";
        let f: Vec<_> = fields(raw).map(|f| (f.name.to_vec(), f.value)).collect();
        assert_eq!(
            f,
            vec![
                (b"A".to_vec(), "one two".to_string()),
                (b"B".to_vec(), "three\tfour".to_string()),
                (b"C".to_vec(), "x".to_string()),
            ]
        );
    }

    #[test]
    fn skips_garbage_and_bounds_long_fields() {
        let mut raw = b" stray\r\nnot a field\r\nX: ".to_vec();
        raw.extend(std::iter::repeat_n(b'a', MAX_FIELD_LEN * 2));
        raw.extend_from_slice(b"\r\nY: y\r\n");
        let f: Vec<_> = fields(&raw).collect();
        assert_eq!(f.len(), 2);
        assert!(f[0].is("x") && f[0].truncated);
        assert_eq!(f[0].value.len(), MAX_FIELD_LEN - 1);
        assert!(f[1].is("Y") && !f[1].truncated);
    }
}

//! mboxrd, the mbox variant that can be undone exactly: every line that
//! starts with `From ` after any number of `>` gets one more `>`, so taking
//! one away again gives back the message as it was. A message that does not
//! end in a line end gets one, then the blank line that separates entries;
//! the manifest's size says which bytes were the message.

use time::OffsetDateTime;

/// The sender on a `From_` line when the message names no envelope sender
/// (the convention of MTAs for bounces and unknown senders).
pub const UNKNOWN_SENDER: &str = "MAILER-DAEMON";

/// The `From_` line that opens an entry: the envelope sender and the time
/// csirtd received the message, in asctime form, UTC.
pub fn from_line(envelope: &str, received: OffsetDateTime) -> String {
    let t = received.to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!(
        "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
    );
    let date = t
        .format(&format)
        .unwrap_or_else(|_| "Thu Jan  1 00:00:00 1970".into());
    format!("From {envelope} {date}\n")
}

/// The envelope sender from the message's first `Return-Path` header, when
/// it is a plain address; `MAILER-DAEMON` otherwise (none, `<>`, or
/// anything that would break the `From_` line: it is read by other tools).
pub fn envelope_sender(raw: &[u8]) -> String {
    for line in header_lines(raw) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if !line[..colon].eq_ignore_ascii_case(b"return-path") {
            continue;
        }
        let value = String::from_utf8_lossy(&line[colon + 1..]);
        let addr = value
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        let plain = !addr.is_empty()
            && addr.len() <= 254
            && addr.contains('@')
            && addr
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
        return if plain {
            addr.to_string()
        } else {
            UNKNOWN_SENDER.to_string()
        };
    }
    UNKNOWN_SENDER.to_string()
}

/// The header lines up to the first empty line (continuations are not
/// joined: Return-Path fits one line).
fn header_lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
}

/// Whether a line needs (when quoting) or carries (when unquoting, with
/// `min` 1) a `>` before `From `.
fn from_after_quotes(line: &[u8], min: usize) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    quotes >= min && line[quotes..].starts_with(b"From ")
}

/// One whole entry: `From_` line, the quoted message, its line end if it
/// had none, and the separating blank line.
pub fn entry(raw: &[u8], envelope: &str, received: OffsetDateTime) -> Vec<u8> {
    let from = from_line(envelope, received);
    entry_with(from.as_bytes(), raw)
}

fn entry_with(from: &[u8], raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(from.len() + raw.len() + raw.len() / 64 + 2);
    out.extend_from_slice(from);
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if from_after_quotes(line, 0) {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    if !raw.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// The message of an entry written by `entry`, given its size from the
/// manifest; None when the entry is not exactly what `entry` writes for
/// such a message (an altered `From_` line, quoting or separator).
pub fn message_of(entry: &[u8], size: u64) -> Option<Vec<u8>> {
    if !entry.starts_with(b"From ") {
        return None;
    }
    let from_end = entry.iter().position(|&b| b == b'\n')? + 1;
    let (from, body) = entry.split_at(from_end);
    let mut message = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let line = if from_after_quotes(line, 1) {
            &line[1..]
        } else {
            line
        };
        message.extend_from_slice(line);
    }
    message.truncate(usize::try_from(size).ok()?);
    // Written again it must give the same bytes: that settles what the
    // trailing line ends were, and refuses anything edited by hand.
    (message.len() as u64 == size && entry_with(from, &message) == entry).then_some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> OffsetDateTime {
        time::macros::datetime!(2026-11-06 09:05:03 UTC)
    }

    #[test]
    fn from_line_is_asctime_in_utc() {
        let t = time::macros::datetime!(2026-11-06 10:05:03 +01:00);
        assert_eq!(
            from_line("a@b.example", t),
            "From a@b.example Fri Nov  6 09:05:03 2026\n"
        );
    }

    #[test]
    fn from_lines_in_the_body_are_quoted_and_come_back() {
        let raw = b"Subject: x\r\n\r\nFrom here\r\n>From there\n>>From afar\nFromage\n From not";
        let e = entry(raw, "a@b.example", at());
        let text = String::from_utf8_lossy(&e);
        assert!(text.contains("\n>From here\r\n"), "{text}");
        assert!(text.contains("\n>>From there\n"), "{text}");
        assert!(text.contains("\n>>>From afar\n"), "{text}");
        assert!(text.contains("\nFromage\n"), "{text}");
        assert!(text.ends_with("\n From not\n\n"), "{text}");
        assert_eq!(message_of(&e, raw.len() as u64).as_deref(), Some(&raw[..]));
    }

    #[test]
    fn a_message_that_starts_with_from_is_quoted_too() {
        let raw = b"From junk\n";
        let e = entry(raw, UNKNOWN_SENDER, at());
        assert!(e.ends_with(b"\n>From junk\n\n"));
        assert_eq!(message_of(&e, raw.len() as u64).as_deref(), Some(&raw[..]));
    }

    #[test]
    fn the_size_settles_whether_the_message_ended_in_a_line_end() {
        for raw in [&b"a\n"[..], b"a", b"a\n\n", b"", b"\n"] {
            let e = entry(raw, UNKNOWN_SENDER, at());
            assert_eq!(message_of(&e, raw.len() as u64).as_deref(), Some(raw));
        }
    }

    #[test]
    fn an_edited_entry_is_refused() {
        let raw = b"Subject: x\n\nFrom here\n";
        let e = entry(raw, UNKNOWN_SENDER, at());
        let mut unquoted = e.clone();
        let at_quote = unquoted.iter().position(|&b| b == b'>').unwrap();
        unquoted.remove(at_quote);
        assert_eq!(message_of(&unquoted, raw.len() as u64), None);
        let mut extra = e.clone();
        extra.push(b'\n');
        assert_eq!(message_of(&extra, raw.len() as u64), None);
        assert_eq!(message_of(&e, raw.len() as u64 + 1), None);
        assert_eq!(message_of(&e[1..], raw.len() as u64), None);
    }

    #[test]
    fn envelope_sender_from_return_path_or_mailer_daemon() {
        assert_eq!(
            envelope_sender(b"Return-Path: <bounce@bank.example>\r\nFrom: x\r\n\r\n"),
            "bounce@bank.example"
        );
        assert_eq!(envelope_sender(b"Return-Path: <>\r\n\r\n"), UNKNOWN_SENDER);
        assert_eq!(
            envelope_sender(b"Return-Path: <a b@c>\r\n\r\n"),
            UNKNOWN_SENDER
        );
        assert_eq!(
            envelope_sender(b"From: x\r\n\r\nReturn-Path: <late@bank.example>\r\n"),
            UNKNOWN_SENDER
        );
        assert_eq!(envelope_sender(b"\xff\xfe junk"), UNKNOWN_SENDER);
    }
}

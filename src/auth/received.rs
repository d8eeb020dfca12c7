//! The SMTP envelope that SPF needs (client address, HELO name, MAIL FROM),
//! read back from the headers the receiving MTA wrote: its `Received` line
//! (`from HELO (rdns [IP]) by HOST ...` as Postfix writes it) and the
//! `Return-Path` the delivery agent added.

use super::header;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub client_ip: IpAddr,
    pub helo: String,
    /// The MAIL FROM address without brackets; empty for the null sender.
    pub mail_from: String,
    /// The receiving host (`by ...`), for SPF's `r` macro.
    pub receiver: String,
}

/// The envelope of the hop `hop` (0 = the topmost `Received`), or why SPF
/// cannot be checked.
pub fn envelope(raw: &[u8], hop: usize) -> Result<Envelope, String> {
    let mut received = None;
    let mut return_path = None;
    // The first Return-Path is the delivery agent's; one further down came
    // with the message.
    let mut seen = 0usize;
    for f in header::fields(raw) {
        if f.is("Received") {
            if seen == hop {
                received = Some(f.value);
            }
            seen += 1;
        } else if f.is("Return-Path") && return_path.is_none() {
            return_path = Some(f.value);
        }
        if received.is_some() && return_path.is_some() {
            break;
        }
    }
    let received = received.ok_or_else(|| format!("no Received header at hop {hop}"))?;
    let (helo, client_ip, receiver) = parse_received(&received)
        .ok_or_else(|| format!("Received header at hop {hop} names no client address"))?;
    let return_path = return_path.ok_or_else(|| "no Return-Path header".to_string())?;
    let mail_from = parse_return_path(&return_path)
        .ok_or_else(|| "Return-Path is not an address".to_string())?;
    Ok(Envelope {
        client_ip,
        helo,
        mail_from,
        receiver,
    })
}

/// `from HELO (RDNS [IP])` (Postfix), also `from RDNS ([IP] helo=HELO)`
/// (Exim). Returns (HELO, IP, receiving host).
pub fn parse_received(value: &str) -> Option<(String, IpAddr, String)> {
    let rest = strip_word(value.trim_start(), "from")?;
    let helo_end = rest
        .find(|c: char| c.is_whitespace() || c == '(')
        .unwrap_or(rest.len());
    let mut helo = rest[..helo_end].to_string();
    // The "from" clause ends at " by "; an address after it would be the
    // receiver's own.
    let from_clause = match find_word(rest, "by") {
        Some(i) => &rest[..i],
        None => rest,
    };
    let ip = from_clause
        .split('[')
        .skip(1)
        .filter_map(|s| s.split(']').next())
        .find_map(parse_literal)?;
    if let Some(i) = from_clause.find("helo=") {
        let h = &from_clause[i + 5..];
        let end = h
            .find(|c: char| c.is_whitespace() || c == ')')
            .unwrap_or(h.len());
        helo = h[..end].to_string();
    }
    let receiver = find_word(rest, "by")
        .map(|i| {
            rest[i + 2..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_end_matches(';')
                .to_string()
        })
        .unwrap_or_default();
    Some((helo, ip, receiver))
}

/// `192.0.2.1`, `IPv6:2001:db8::1`; an IPv4-mapped IPv6 address is the
/// IPv4 address it maps, as SPF evaluates it.
fn parse_literal(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix("IPv6:")
        .or_else(|| s.strip_prefix("ipv6:"))
        .unwrap_or(s);
    let ip: IpAddr = s.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    })
}

fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    let rest = &s[word.len()..];
    (head.eq_ignore_ascii_case(word) && rest.starts_with(char::is_whitespace))
        .then(|| rest.trim_start())
}

/// Byte offset of `word` standing alone (whitespace before and after),
/// outside parentheses.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut prev_space = true;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth == 0
            && prev_space
            && s.get(i..i + word.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
            && s[i + word.len()..].starts_with(char::is_whitespace)
        {
            return Some(i);
        }
        prev_space = c.is_whitespace() || c == ')';
    }
    None
}

/// `<a@b.example>` gives `a@b.example`, `<>` the null sender (empty).
fn parse_return_path(value: &str) -> Option<String> {
    let v = value.trim();
    let inner = match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v,
    };
    let inner = inner.trim();
    if inner.is_empty() {
        return Some(String::new());
    }
    if inner.contains(char::is_whitespace) || !inner.contains('@') || inner.len() > 320 {
        return None;
    }
    Some(inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn postfix_forms() {
        let cases = [
            (
                "from mail.feeds.example (mail.feeds.example [192.0.2.10])\tby mx.cert.example (Postfix) with ESMTPS id 4Q1 for <cert@cert.example>; Mon, 1 Jun 2026 10:00:00 +0000",
                ("mail.feeds.example", ip("192.0.2.10"), "mx.cert.example"),
            ),
            (
                "from helo.example (unknown [192.0.2.66]) by mx.cert.example (Postfix) with ESMTP id X",
                ("helo.example", ip("192.0.2.66"), "mx.cert.example"),
            ),
            (
                "from [192.0.2.7] (unknown [192.0.2.7]) by mx.cert.example (Postfix)",
                ("[192.0.2.7]", ip("192.0.2.7"), "mx.cert.example"),
            ),
            (
                "from mail.feeds.example (mail.feeds.example [IPv6:2001:db8::25]) by mx.cert.example (Postfix) with ESMTPS",
                ("mail.feeds.example", ip("2001:db8::25"), "mx.cert.example"),
            ),
            (
                "from mail.feeds.example (mail.feeds.example [IPv6:::ffff:192.0.2.10]) by mx.cert.example",
                ("mail.feeds.example", ip("192.0.2.10"), "mx.cert.example"),
            ),
            (
                "from rdns.feeds.example ([192.0.2.10] helo=mail.feeds.example) by mx.cert.example with esmtps (Exim 4.96)",
                ("mail.feeds.example", ip("192.0.2.10"), "mx.cert.example"),
            ),
        ];
        for (value, (helo, addr, by)) in cases {
            let got = parse_received(value).unwrap_or_else(|| panic!("{value}"));
            assert_eq!(got, (helo.to_string(), addr, by.to_string()), "{value}");
        }
    }

    #[test]
    fn no_client_address() {
        for value in [
            "by mx.cert.example (Postfix, from userid 0) id 4Q1; Mon, 1 Jun 2026",
            "from localhost by mx.cert.example [192.0.2.1]",
            "from x (y [not-an-ip]) by z",
            "",
            "from",
        ] {
            assert_eq!(parse_received(value), None, "{value}");
        }
    }

    #[test]
    fn envelope_from_headers() {
        let raw = b"Return-Path: <bounce@feeds.example>\r\n\
            Received: from mail.feeds.example (mail.feeds.example [192.0.2.10])\r\n\
            \tby mx.cert.example (Postfix) with ESMTPS id 4Q1\r\n\
            Received: from inner (inner [10.0.0.1]) by mail.feeds.example\r\n\r\n";
        let e = envelope(raw, 0).expect("envelope");
        assert_eq!(e.client_ip, ip("192.0.2.10"));
        assert_eq!(e.helo, "mail.feeds.example");
        assert_eq!(e.mail_from, "bounce@feeds.example");
        assert_eq!(e.receiver, "mx.cert.example");
        assert_eq!(envelope(raw, 1).map(|e| e.client_ip), Ok(ip("10.0.0.1")));
        assert_eq!(
            envelope(raw, 2),
            Err("no Received header at hop 2".to_string())
        );
        let null = b"Return-Path: <>\r\nReceived: from a (a [192.0.2.1]) by b\r\n\r\n";
        assert_eq!(envelope(null, 0).map(|e| e.mail_from), Ok(String::new()));
        let none = b"Received: from a (a [192.0.2.1]) by b\r\n\r\n";
        assert_eq!(envelope(none, 0), Err("no Return-Path header".to_string()));
    }
}

//! `trusted-results` mode: the receiving MTA has checked DKIM, SPF and DMARC
//! and written an `Authentication-Results` header (RFC 8601) on top of the
//! message. Only the topmost one is read, and only if it carries the
//! configured authserv-id: every other such header may have been written by
//! the sender, so one further down is ignored even if it names our MTA.

use super::header::{self, Field};
use super::{
    aligned, bound_name, bound_text, domain_of, words::word_name, AuthResult, AuthSource,
    Authentication, DkimCheck, DmarcCheck, DmarcPolicy, SpfCheck, MAX_DKIM_CHECKS,
};
use std::net::IpAddr;

/// Resinfo entries read from one header; a real MTA writes a handful.
const MAX_RESINFO: usize = 64;
/// Properties (and comments) read per resinfo.
const MAX_PROPS: usize = 32;

/// The authentication results the trusted MTA reported for this message.
pub fn from_results(raw_message: &[u8], authserv_id: &str) -> Authentication {
    let want = authserv_id.trim();
    let Some(field) = header::fields(raw_message).find(|f| f.is("Authentication-Results")) else {
        return Authentication::unavailable(format!(
            "no Authentication-Results from {}",
            word_name(want)
        ));
    };
    read_field(&field, want)
}

fn read_field(field: &Field<'_>, want: &str) -> Authentication {
    if field.truncated {
        return Authentication::unavailable(format!(
            "topmost Authentication-Results is longer than {} bytes",
            header::MAX_FIELD_LEN
        ));
    }
    let parsed = parse(&field.value);
    if !parsed.authserv_id.eq_ignore_ascii_case(want) || want.is_empty() {
        return Authentication::unavailable(format!(
            "no Authentication-Results from {} (topmost is from {})",
            word_name(want),
            word_name(&parsed.authserv_id)
        ));
    }
    let mut auth = Authentication {
        source: AuthSource::TrustedResults {
            authserv_id: bound_name(want),
        },
        dkim: Vec::new(),
        spf: None,
        dmarc: None,
        note: None,
    };
    let mut dmarc_info: Option<&ResInfo> = None;
    for info in &parsed.resinfo {
        match info.method.as_str() {
            "dkim" if auth.dkim.len() < MAX_DKIM_CHECKS => auth.dkim.push(dkim_check(info)),
            "spf" if auth.spf.is_none() => auth.spf = Some(spf_check(info)),
            "dmarc" if dmarc_info.is_none() => dmarc_info = Some(info),
            _ => {}
        }
    }
    if let Some(info) = dmarc_info {
        auth.dmarc = Some(dmarc_check(info, &auth.dkim, auth.spf.as_ref()));
    }
    auth
}

fn dkim_check(info: &ResInfo) -> DkimCheck {
    // header.d is the signing domain; older MTAs only give header.i, whose
    // domain part is d= or a subdomain of it.
    let domain = info
        .prop("header.d")
        .map(bound_name)
        .or_else(|| info.prop("header.i").map(|i| bound_name(domain_of(i))))
        .unwrap_or_default();
    DkimCheck {
        domain,
        selector: info.prop("header.s").map(bound_name).unwrap_or_default(),
        result: AuthResult::from_keyword(&info.result),
        reason: info.reason.as_deref().map(bound_text),
    }
}

fn spf_check(info: &ResInfo) -> SpfCheck {
    let domain = info
        .prop("smtp.mailfrom")
        .map(|m| bound_name(domain_of(m)))
        .filter(|d| !d.is_empty())
        .or_else(|| info.prop("smtp.helo").map(bound_name))
        .unwrap_or_default();
    // The client address is not a standard property, but Gmail ("designates
    // 192.0.2.1 as permitted sender"), Microsoft ("sender IP is ...") and
    // others put it in a comment.
    let client_ip = info
        .comments
        .iter()
        .flat_map(|c| c.split(|ch: char| ch.is_whitespace() || ch == ';' || ch == ','))
        .find_map(|w| {
            w.trim_matches(|c| c == '[' || c == ']')
                .parse::<IpAddr>()
                .ok()
        });
    SpfCheck {
        domain,
        client_ip,
        result: AuthResult::from_keyword(&info.result),
    }
}

fn dmarc_check(info: &ResInfo, dkim: &[DkimCheck], spf: Option<&SpfCheck>) -> DmarcCheck {
    let domain = info
        .prop("header.from")
        .map(|f| bound_name(domain_of(f)))
        .unwrap_or_default();
    let policy = info
        .prop("policy.dmarc")
        .map(DmarcPolicy::from_keyword)
        .filter(|p| *p != DmarcPolicy::Unknown)
        .or_else(|| policy_in_comments(&info.comments))
        .or_else(|| info.prop("action").and_then(microsoft_action))
        .unwrap_or(DmarcPolicy::Unknown);
    let dkim_aligned = dkim
        .iter()
        .any(|c| c.result == AuthResult::Pass && aligned(&c.domain, &domain));
    let spf_aligned =
        spf.is_some_and(|s| s.result == AuthResult::Pass && aligned(&s.domain, &domain));
    DmarcCheck {
        domain,
        policy,
        result: AuthResult::from_keyword(&info.result),
        dkim_aligned,
        spf_aligned,
    }
}

/// `(p=REJECT sp=NONE dis=NONE)` as OpenDMARC and Gmail write it, or
/// `(policy=reject)` as rspamd does: the key exactly, so `sp=` is not taken
/// for the policy.
fn policy_in_comments(comments: &[String]) -> Option<DmarcPolicy> {
    comments
        .iter()
        .flat_map(|c| c.split(|ch: char| ch.is_whitespace() || ch == ';' || ch == ','))
        .find_map(|w| {
            let (k, v) = w.split_once('=')?;
            (k.eq_ignore_ascii_case("p") || k.eq_ignore_ascii_case("policy"))
                .then(|| DmarcPolicy::from_keyword(v))
                .filter(|p| *p != DmarcPolicy::Unknown)
        })
}

/// Exchange Online writes `action=` (the action it took, `o` for an
/// override), not the policy; a reject or quarantine action is only taken
/// under that policy. `none` says nothing about the policy.
fn microsoft_action(action: &str) -> Option<DmarcPolicy> {
    match action.to_ascii_lowercase().as_str() {
        "reject" | "oreject" => Some(DmarcPolicy::Reject),
        "quarantine" | "oquarantine" => Some(DmarcPolicy::Quarantine),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct Parsed {
    authserv_id: String,
    resinfo: Vec<ResInfo>,
}

#[derive(Debug, Default)]
struct ResInfo {
    method: String,
    result: String,
    reason: Option<String>,
    /// `ptype.property` lower-cased, value as written.
    props: Vec<(String, String)>,
    comments: Vec<String>,
}

impl ResInfo {
    fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// RFC 8601 section 2.2, leniently: a resinfo that does not parse is
/// skipped up to the next `;`, never taken in part for another method.
fn parse(value: &str) -> Parsed {
    let mut p = Lexer {
        s: value.chars().collect(),
        i: 0,
    };
    let mut out = Parsed::default();
    p.cfws(&mut Vec::new());
    out.authserv_id = bound_name(&p.authserv_id());
    p.cfws(&mut Vec::new());
    // An optional authres-version after the id.
    if p.peek().is_some_and(|c| c.is_ascii_digit()) {
        p.word();
    }
    while out.resinfo.len() < MAX_RESINFO {
        p.cfws(&mut Vec::new());
        match p.peek() {
            None => break,
            Some(';') => p.i += 1,
            Some(_) => {
                // Garbage between entries.
                p.skip_to_semicolon();
                continue;
            }
        }
        if let Some(info) = p.resinfo() {
            out.resinfo.push(info);
        } else {
            p.skip_to_semicolon();
        }
    }
    out
}

struct Lexer {
    s: Vec<char>,
    i: usize,
}

/// Characters that end a token (RFC 2045 tspecials that matter here).
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, ';' | '=' | '(' | ')' | '"')
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    /// Whitespace and comments; comment text is collected (bounded).
    fn cfws(&mut self, comments: &mut Vec<String>) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.i += 1;
            } else if c == '(' {
                let text = self.comment();
                if comments.len() < MAX_PROPS {
                    comments.push(text);
                }
            } else {
                break;
            }
        }
    }

    /// A comment, nested comments and quoted pairs included; an unclosed
    /// comment runs to the end.
    fn comment(&mut self) -> String {
        let mut depth = 0usize;
        let mut text = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                '\\' => {
                    if let Some(n) = self.peek() {
                        self.i += 1;
                        text.push(n);
                    }
                }
                '(' => {
                    if depth > 0 {
                        text.push(c);
                    }
                    depth += 1;
                }
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                    text.push(c);
                }
                _ => text.push(c),
            }
        }
        bound_text(&text)
    }

    fn word(&mut self) -> String {
        let start = self.i;
        while self.peek().is_some_and(|c| !ends_word(c)) {
            self.i += 1;
        }
        self.s[start..self.i].iter().collect()
    }

    /// A property or reason value: a quoted string, or a token that may
    /// itself contain '=' (base64 in `header.b`).
    fn value(&mut self) -> String {
        if self.peek() == Some('"') {
            self.i += 1;
            let mut text = String::new();
            while let Some(c) = self.peek() {
                self.i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        if let Some(n) = self.peek() {
                            self.i += 1;
                            text.push(n);
                        }
                    }
                    _ => text.push(c),
                }
            }
            return text;
        }
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| !(c.is_whitespace() || matches!(c, ';' | '(' | ')' | '"')))
        {
            self.i += 1;
        }
        self.s[start..self.i].iter().collect()
    }

    /// The id runs to whitespace, `;` or a comment. A quoted id must be
    /// quoted whole: `"mx.cert.example"x` is not `mx.cert.example`.
    fn authserv_id(&mut self) -> String {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| !(c.is_whitespace() || c == ';' || c == '('))
        {
            self.i += 1;
        }
        let raw: String = self.s[start..self.i].iter().collect();
        match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) if !inner.contains('"') => inner.to_string(),
            _ => raw,
        }
    }

    fn skip_to_semicolon(&mut self) {
        while let Some(c) = self.peek() {
            if c == ';' {
                return;
            }
            if c == '(' {
                self.comment();
            } else if c == '"' {
                self.value();
            } else {
                self.i += 1;
            }
        }
    }

    /// `method[/version] = result [reason=...] [ptype.prop=value ...]`,
    /// positioned after the `;`. `None` for `none` (no result) and for
    /// anything that does not parse.
    fn resinfo(&mut self) -> Option<ResInfo> {
        let mut info = ResInfo::default();
        self.cfws(&mut info.comments);
        let method = self.word().to_ascii_lowercase();
        let method = method.split('/').next().unwrap_or_default().to_string();
        self.cfws(&mut info.comments);
        if method.is_empty() || self.peek() != Some('=') {
            return None;
        }
        self.i += 1;
        self.cfws(&mut info.comments);
        info.result = self.word().to_ascii_lowercase();
        if info.result.is_empty() {
            return None;
        }
        info.method = method;
        loop {
            self.cfws(&mut info.comments);
            match self.peek() {
                None | Some(';') => break,
                Some(_) => {}
            }
            let key = self.word().to_ascii_lowercase();
            self.cfws(&mut info.comments);
            if key.is_empty() || self.peek() != Some('=') {
                // Not `key=value`: drop this resinfo's remainder rather
                // than guess which property a stray token belongs to.
                self.skip_to_semicolon();
                break;
            }
            self.i += 1;
            self.cfws(&mut info.comments);
            let value = self.value();
            if key == "reason" {
                info.reason = Some(value);
            } else if info.props.len() < MAX_PROPS {
                info.props.push((key, value));
            }
        }
        Some(info)
    }
}

#[cfg(test)]
#[path = "trusted_tests.rs"]
mod tests;

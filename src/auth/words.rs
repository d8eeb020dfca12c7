//! The result in words for handlers' notifications. Domains and selectors
//! come from the mail (or from a header the sender may have written), so
//! each is reduced to letters, digits, '-', '.' and '_' and cut short: no
//! line breaks, no look-alike Unicode, no "DKIM pass" planted in a selector.

use super::{AuthSource, Authentication, DmarcPolicy};

/// Names longer than this are cut with "..." in words (stored values keep
/// up to 253 bytes).
const WORD_NAME_LEN: usize = 80;
/// Signatures described one by one; the rest are counted.
const WORD_DKIM_LIST: usize = 4;

/// A name safe to print: only LDH, '.' and '_' survive, an IDN U-label is
/// shown as its A-label (xn--), and an empty result is "(invalid)".
pub fn word_name(s: &str) -> String {
    let ascii;
    let s = if s.is_ascii() {
        s
    } else {
        ascii = idna::domain_to_ascii(s).unwrap_or_default();
        ascii.as_str()
    };
    let mut out: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(WORD_NAME_LEN + 1)
        .collect();
    if out.len() > WORD_NAME_LEN {
        out.truncate(WORD_NAME_LEN - 3);
        out.push_str("...");
    }
    if out.is_empty() {
        "(invalid)".to_string()
    } else {
        out
    }
}

/// A note or reason safe to print: printable ASCII on one line, bounded.
fn word_text(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
        .take(super::MAX_REASON_LEN)
        .collect();
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn in_words(a: &Authentication) -> String {
    match &a.source {
        AuthSource::Off => return "sender authentication off".to_string(),
        AuthSource::Unavailable => {
            return match &a.note {
                Some(n) => format!("sender authentication unavailable: {}", word_text(n)),
                None => "sender authentication unavailable".to_string(),
            }
        }
        AuthSource::Verified | AuthSource::TrustedResults { .. } => {}
    }
    let mut parts: Vec<String> = Vec::new();
    if a.dkim.is_empty() {
        parts.push("no DKIM signature".to_string());
    }
    for c in a.dkim.iter().take(WORD_DKIM_LIST) {
        let mut p = format!("DKIM {} for {}", c.result, word_name(&c.domain));
        if !c.selector.is_empty() {
            p.push_str(&format!(" (selector {})", word_name(&c.selector)));
        }
        parts.push(p);
    }
    if a.dkim.len() > WORD_DKIM_LIST {
        parts.push(format!(
            "{} more DKIM signatures",
            a.dkim.len() - WORD_DKIM_LIST
        ));
    }
    match &a.spf {
        Some(s) if s.domain.is_empty() => parts.push(format!("SPF {}", s.result)),
        Some(s) => parts.push(format!("SPF {} for {}", s.result, word_name(&s.domain))),
        None => parts.push("SPF not checked".to_string()),
    }
    match &a.dmarc {
        Some(d) => {
            let mut p = format!("DMARC {}", d.result);
            if d.policy != DmarcPolicy::Unknown {
                p.push_str(&format!(" (policy {})", d.policy.as_str()));
            }
            parts.push(p);
        }
        None => parts.push("DMARC not checked".to_string()),
    }
    let mut line = parts.join(", ");
    if let AuthSource::TrustedResults { authserv_id } = &a.source {
        line.push_str(&format!(", as reported by {}", word_name(authserv_id)));
    }
    if let Some(n) = &a.note {
        line.push_str(&format!(" ({})", word_text(n)));
    }
    line
}

//! Internationalised domain names in report text (`bücher.example`): found
//! in their Unicode form and kept in their ASCII (IDNA/punycode) form, the
//! one DNS, URLs and other teams' feeds use, so the same name correlates
//! however it was written.

use regex::Regex;
use std::sync::LazyLock;

static IDN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:[\p{L}\p{N}](?:[\p{L}\p{N}\-]{0,61}[\p{L}\p{N}])?\.)+\p{L}[\p{L}\p{N}\-]{0,61}[\p{L}\p{N}]")
        .expect("static pattern")
});

/// (byte span, ASCII form) of each valid non-ASCII domain in `text`.
pub fn unicode_domains(text: &str) -> Vec<((usize, usize), String)> {
    if text.is_ascii() {
        return Vec::new();
    }
    IDN.find_iter(text)
        .filter(|m| !m.as_str().is_ascii())
        .filter_map(|m| {
            let ascii = idna::domain_to_ascii(m.as_str()).ok()?;
            let d = super::indicators::valid_domain(&ascii)?;
            Some(((m.start(), m.end()), d))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_names_become_punycode() {
        let got = unicode_domains("at Bücher.de, and münchen.example.com.");
        let names: Vec<&str> = got.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(
            names,
            vec!["xn--bcher-kva.de", "xn--mnchen-3ya.example.com"]
        );
        assert!(unicode_domains("plain ascii.example.com").is_empty());
        assert!(unicode_domains("ünknown.notatld").is_empty());
    }
}

//! What a `csirtd search` query is: an address, a network, a domain, a URL,
//! a hash, a CVE, an AS number, an email address, or free text. Pure, so
//! that each reading is a unit test.

use super::indicators::{parse_network, Extractor, Found, Ignore, Kind};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Network(IpAddr, u8),
    /// A domain; its subdomains match too.
    Domain(String),
    /// An exact indicator of another kind (URL, email, hash, CVE, ASN).
    Term(Kind, String),
    /// An email address (or `@domain`) that is no indicator (a reserved
    /// or unknown suffix, a dotless domain): a requestor, looked up in the
    /// requestor index. Lower case, without angle brackets.
    Requestor(String),
    /// Words to find in ticket subjects, lower case.
    Text(String),
}

/// Whether one token is shaped like an email address (`local@domain`) or
/// `@domain`: one `@`, a local part without spaces, brackets or quotes, a
/// domain of non-empty labels of letters, digits and hyphens. Pure.
fn address_shaped(q: &str) -> bool {
    let Some((local, domain)) = q.split_once('@') else {
        return false;
    };
    let local_ok = local
        .chars()
        .all(|c| !c.is_whitespace() && !c.is_control() && !"@<>\"(),;:[]\\/".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// Reads a query the way the extractor reads reports, defanged forms included.
pub fn parse(q: &str) -> Query {
    let q = q.trim();
    if let Some((ip, len)) = parse_network(&super::indicators::refang(q)) {
        return Query::Network(ip, len);
    }
    let found = Extractor::new(Ignore::default()).extract(q, &Found::Body);
    // The indicator that is the whole query, not a part of it (a URL holds a domain).
    let order = [
        Kind::Url,
        Kind::Email,
        Kind::Sha256,
        Kind::Sha1,
        Kind::Md5,
        Kind::Cve,
        Kind::Asn,
        Kind::Cidr,
        Kind::Domain,
    ];
    let single_token = !q.contains(char::is_whitespace);
    if single_token {
        for kind in order {
            if let Some(i) = found.iter().find(|i| i.kind == kind) {
                return match kind {
                    Kind::Domain => Query::Domain(i.value.clone()),
                    Kind::Cidr => match parse_network(&i.value) {
                        Some((ip, len)) => Query::Network(ip, len),
                        None => Query::Text(q.to_lowercase()),
                    },
                    _ => Query::Term(kind, i.value.clone()),
                };
            }
        }
        // An address the extractor does not take (e.g. `.example`) is
        // still an address: the requestor index has it, the subjects do
        // not need scanning (seconds on a large store).
        let addr = crate::model::normalize_address(q);
        if address_shaped(&addr) {
            return Query::Requestor(addr);
        }
    }
    Query::Text(q.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_read_as_the_most_specific_indicator() {
        assert_eq!(
            parse("192.0.2.7"),
            Query::Network("192.0.2.7".parse().unwrap(), 32)
        );
        assert_eq!(
            parse("192.0.2.0/24"),
            Query::Network("192.0.2.0".parse().unwrap(), 24)
        );
        assert_eq!(
            parse("2001:db8::/32"),
            Query::Network("2001:db8::".parse().unwrap(), 32)
        );
        assert_eq!(
            parse("192.0.2[.]7"),
            Query::Network("192.0.2.7".parse().unwrap(), 32)
        );
        assert_eq!(parse("Example.COM"), Query::Domain("example.com".into()));
        assert_eq!(
            parse("hxxp://evil.example.com/login"),
            Query::Term(Kind::Url, "http://evil.example.com/login".into())
        );
        assert_eq!(
            parse("cve-2024-3400"),
            Query::Term(Kind::Cve, "CVE-2024-3400".into())
        );
        assert_eq!(parse("AS64500"), Query::Term(Kind::Asn, "AS64500".into()));
        let h = "d41d8cd98f00b204e9800998ecf8427e";
        assert_eq!(parse(h), Query::Term(Kind::Md5, h.into()));
        assert_eq!(parse("Phishing Wave"), Query::Text("phishing wave".into()));
        assert_eq!(parse("ransomware"), Query::Text("ransomware".into()));
    }

    #[test]
    fn an_address_that_is_no_indicator_is_a_requestor_not_words() {
        // A reserved or unknown suffix is no indicator; it still is an
        // address, looked up in the requestor index, never in every subject.
        for (q, requestor) in [
            ("Reporter42@ISP42.example", "reporter42@isp42.example"),
            ("<soc@nordbank.example>", "soc@nordbank.example"),
            ("@isp42.example", "@isp42.example"),
            ("root@localhost", "root@localhost"),
        ] {
            assert_eq!(parse(q), Query::Requestor(requestor.into()), "{q}");
        }
        // An indicator stays one.
        assert_eq!(
            parse("bad@evil.net"),
            Query::Term(Kind::Email, "bad@evil.net".into())
        );
        assert_eq!(parse("@evil.net"), Query::Domain("evil.net".into()));
        // Words stay words, even with an @ among them.
        for q in [
            "@",
            "a@",
            "a@@b.example",
            "a@b..example",
            "a b@c.example",
            "mail from a@b",
        ] {
            assert!(matches!(parse(q), Query::Text(_)), "{q}: {:?}", parse(q));
        }
    }
}

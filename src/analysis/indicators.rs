//! Indicators of compromise in report text: addresses, names, links, hashes,
//! vulnerabilities. Pure: text in, normalised indicators out, so that every
//! rule (defanging, noise control, validation) is a unit test.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Ipv4,
    Ipv6,
    Cidr,
    Domain,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
    Cve,
    Asn,
}

/// Where in the message an indicator was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "in", content = "name")]
pub enum Found {
    Subject,
    Body,
    /// A text attachment, by file name.
    Attachment(String),
    /// A field of a machine-readable report (ARF, X-ARF, CSV column).
    Structured(String),
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::Subject => f.write_str("subject"),
            Found::Body => f.write_str("body"),
            Found::Attachment(n) => write!(f, "attachment:{n}"),
            Found::Structured(n) => write!(f, "structured:{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Indicator {
    pub kind: Kind,
    pub value: String,
    pub source: Found,
}

/// What is never an indicator: the team itself and configured noise.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    /// Lower-case domains; their subdomains are ignored too.
    pub domains: Vec<String>,
    pub networks: Vec<(IpAddr, u8)>,
}

impl Ignore {
    fn domain(&self, d: &str) -> bool {
        self.domains
            .iter()
            .any(|i| d == i || d.ends_with(&format!(".{i}")))
    }

    fn ip(&self, ip: IpAddr) -> bool {
        self.networks
            .iter()
            .any(|(net, len)| in_network(ip, *net, *len))
    }
}

/// Whether `ip` lies in `net/len`.
pub fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Parses `192.0.2.0/24`, `2001:db8::/32` or a single address (as /32, /128).
pub fn parse_network(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.trim().parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((ip, len))
}

/// Text scanned per part; reports that matter fit, and a hostile megabyte
/// of digits must not cost seconds.
const MAX_SCAN: usize = 1 << 20;
/// Indicators kept per message; more are noise or an attack on the index.
pub const MAX_INDICATORS: usize = 5000;

static DEFANG: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)\bhxxp(s?)(\[?:\]?)//", "http${1}://"),
        (r"(?i)\bhttp(s?)\[:\]//", "http${1}://"),
        (r"(?i)\bfxp://", "ftp://"),
        (
            r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}|\[DOT\]|\(DOT\)",
            ".",
        ),
        (r"(?i)\s\[dot\]\s", "."),
        (r"\[:\]", ":"),
        (r"(?i)\[@\]|\(@\)|\[at\]|\(at\)|\{at\}", "@"),
    ]
    .into_iter()
    .map(|(p, r)| (Regex::new(p).expect("static pattern"), r))
    .collect()
});

static URL: LazyLock<Regex> = LazyLock::new(|| {
    // Unbounded here and cut to MAX_URL in code: a counted repetition of
    // 2,000 would make an automaton of 2,000 states, a fifth of all the
    // extraction time.
    Regex::new(r#"(?i)\b(?:https?|ftp)://[^\s<>"'`{}|\\^\[\]]+"#).expect("static pattern")
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9._%+\-]{1,64}@([a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)+)\b")
        .expect("static pattern")
});
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]{0,61}[a-z0-9]\b")
        .expect("static pattern")
});
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b((?:\d{1,3}\.){3}\d{1,3})(?:/(\d{1,2}))?\b").expect("static pattern")
});
/// An embedded IPv4 tail is tried before a hex group, which would otherwise
/// stop a mapped address at `::ffff:192`.
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^0-9a-f:])((?:[0-9a-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]{0,4}))(?:/(\d{1,3}))?")
        .expect("static pattern")
});
static HASH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b[0-9a-f]{32,64}\b").expect("static pattern"));
static CVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bCVE-(\d{4})-(\d{4,7})\b").expect("static pattern"));
static ASN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bAS(?:N)?\s?(\d{1,10})\b").expect("static pattern"));

/// Undoes the usual ways of making indicators unclickable.
pub fn refang(text: &str) -> String {
    let mut s = text.to_string();
    for (re, with) in DEFANG.iter() {
        s = re.replace_all(&s, *with).into_owned();
    }
    s
}

/// A domain name with a registrable part under a known public suffix.
pub fn valid_domain(d: &str) -> Option<String> {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    if d.len() > 253 || !d.contains('.') {
        return None;
    }
    let suffix = psl::suffix(d.as_bytes())?;
    if !suffix.is_known() || suffix.as_bytes().len() >= d.len() {
        return None;
    }
    Some(d)
}

pub struct Extractor {
    pub ignore: Ignore,
}

impl Extractor {
    pub fn new(ignore: Ignore) -> Extractor {
        Extractor { ignore }
    }

    /// Indicators in one piece of text, in order of appearance, each once.
    pub fn extract(&self, text: &str, source: &Found) -> Vec<Indicator> {
        let mut cut = text.len().min(MAX_SCAN);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = refang(&text[..cut]);
        let mut out = Vec::new();
        let mut seen: HashSet<(Kind, String)> = HashSet::new();
        let mut push = |kind: Kind, value: String, out: &mut Vec<Indicator>| {
            if out.len() < MAX_INDICATORS && seen.insert((kind, value.clone())) {
                out.push(Indicator {
                    kind,
                    value,
                    source: source.clone(),
                });
            }
        };
        // Spans already taken by URLs and emails, so their hosts are not
        // reported a second time as bare matches in the same place.
        let mut taken: Vec<(usize, usize)> = Vec::new();

        for m in URL.find_iter(&text) {
            let url = truncate(m.as_str(), MAX_URL)
                .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"', '>']);
            let Some(host) = url_host(url) else { continue };
            let host_ok = match host.parse::<IpAddr>() {
                Ok(ip) => !self.ignore.ip(ip),
                Err(_) => valid_domain(&host).is_some_and(|d| !self.ignore.domain(&d)),
            };
            if !host_ok {
                continue;
            }
            taken.push((m.start(), m.start() + url.len()));
            push(Kind::Url, normalize_url(url), &mut out);
            match host.parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => push(Kind::Ipv4, ip.to_string(), &mut out),
                Ok(IpAddr::V6(ip)) => push(Kind::Ipv6, ip.to_string(), &mut out),
                Err(_) => {
                    if let Some(d) = valid_domain(&host) {
                        push(Kind::Domain, d, &mut out);
                    }
                }
            }
        }
        for c in EMAIL.captures_iter(&text) {
            let (Some(all), Some(dom)) = (c.get(0), c.get(1)) else {
                continue;
            };
            if inside(&taken, all.start()) {
                continue;
            }
            let Some(d) = valid_domain(dom.as_str()) else {
                continue;
            };
            taken.push((all.start(), all.end()));
            if self.ignore.domain(&d) {
                continue;
            }
            push(Kind::Email, all.as_str().to_ascii_lowercase(), &mut out);
            push(Kind::Domain, d, &mut out);
        }
        for (span, d) in super::idn::unicode_domains(&text) {
            taken.push(span);
            if !self.ignore.domain(&d) {
                push(Kind::Domain, d, &mut out);
            }
        }
        for m in DOMAIN.find_iter(&text) {
            if inside(&taken, m.start()) {
                continue;
            }
            if let Some(d) = valid_domain(m.as_str()) {
                if !self.ignore.domain(&d) {
                    push(Kind::Domain, d, &mut out);
                }
            }
        }
        for c in IPV4.captures_iter(&text) {
            let (Some(all), Some(addr)) = (c.get(0), c.get(1)) else {
                continue;
            };
            if inside(&taken, all.start()) {
                continue;
            }
            let Ok(ip) = addr.as_str().parse::<Ipv4Addr>() else {
                continue;
            };
            // Version strings and OIDs look like addresses; a leading zero
            // in an octet ("1.02.3.4") is not how anyone writes an address.
            if addr
                .as_str()
                .split('.')
                .any(|o| o.len() > 1 && o.starts_with('0'))
            {
                continue;
            }
            match c.get(2).and_then(|l| l.as_str().parse::<u8>().ok()) {
                Some(len) if len <= 32 => {
                    if !self.ignore.ip(IpAddr::V4(ip)) {
                        push(
                            Kind::Cidr,
                            format!("{}/{len}", network_of(IpAddr::V4(ip), len)),
                            &mut out,
                        );
                    }
                }
                Some(_) => {}
                None => {
                    if !self.ignore.ip(IpAddr::V4(ip)) {
                        push(Kind::Ipv4, ip.to_string(), &mut out);
                    }
                }
            }
        }
        for c in IPV6.captures_iter(&text) {
            let Some(addr) = c.get(1) else { continue };
            let Ok(ip) = addr.as_str().parse::<Ipv6Addr>() else {
                continue;
            };
            // "::" and "12:30:45" style times are not addresses worth keeping.
            if ip.is_unspecified()
                || addr.as_str().matches(':').count() < 2
                || addr.as_str().len() < 6
            {
                continue;
            }
            if self.ignore.ip(IpAddr::V6(ip)) {
                continue;
            }
            match c.get(2).and_then(|l| l.as_str().parse::<u8>().ok()) {
                Some(len) if len <= 128 => push(
                    Kind::Cidr,
                    format!("{}/{len}", network_of(IpAddr::V6(ip), len)),
                    &mut out,
                ),
                Some(_) => {}
                None => push(Kind::Ipv6, ip.to_string(), &mut out),
            }
        }
        for m in HASH.find_iter(&text) {
            if inside(&taken, m.start()) {
                continue;
            }
            let h = m.as_str();
            // All digits is a number (a phone or an order number), not a hash.
            if h.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let kind = match h.len() {
                32 => Kind::Md5,
                40 => Kind::Sha1,
                64 => Kind::Sha256,
                _ => continue,
            };
            push(kind, h.to_ascii_lowercase(), &mut out);
        }
        for c in CVE.captures_iter(&text) {
            if let (Some(y), Some(n)) = (c.get(1), c.get(2)) {
                push(
                    Kind::Cve,
                    format!("CVE-{}-{}", y.as_str(), n.as_str()),
                    &mut out,
                );
            }
        }
        for c in ASN.captures_iter(&text) {
            if let Some(n) = c.get(1).and_then(|n| n.as_str().parse::<u32>().ok()) {
                push(Kind::Asn, format!("AS{n}"), &mut out);
            }
        }
        out
    }
}

/// Longest URL kept, in bytes; the rest of a longer one is dropped.
const MAX_URL: usize = 2000;

fn truncate(s: &str, max: usize) -> &str {
    let mut cut = s.len().min(max);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

fn inside(spans: &[(usize, usize)], at: usize) -> bool {
    spans.iter().any(|(s, e)| at >= *s && at < *e)
}

fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?.to_string()
    } else {
        host_port.split(':').next()?.to_string()
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Scheme and host lower-cased; path, query and case of the rest kept, since
/// they are case-sensitive on most servers.
fn normalize_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            format!(
                "{}://{}{}",
                scheme.to_ascii_lowercase(),
                rest[..end].to_ascii_lowercase(),
                &rest[end..]
            )
        }
        None => url.to_string(),
    }
}

fn network_of(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex() -> Extractor {
        Extractor::new(Ignore {
            domains: vec!["cert.example".into(), "cert.example.org".into()],
            networks: vec![parse_network("10.0.0.0/8").unwrap()],
        })
    }

    fn values(text: &str) -> Vec<(Kind, String)> {
        ex().extract(text, &Found::Body)
            .into_iter()
            .map(|i| (i.kind, i.value))
            .collect()
    }

    fn has(text: &str, kind: Kind, value: &str) -> bool {
        values(text).contains(&(kind, value.to_string()))
    }

    #[test]
    fn defanged_forms_are_normalised() {
        let t = "Phish at hxxps://login-bank[.]com/verify?id=1 and hxxp[:]//evil(.)org/x, mail bad[@]evil[.]net, host 192.0.2[.]7";
        assert!(
            has(t, Kind::Url, "https://login-bank.com/verify?id=1"),
            "{:?}",
            values(t)
        );
        assert!(has(t, Kind::Url, "http://evil.org/x"), "{:?}", values(t));
        assert!(has(t, Kind::Email, "bad@evil.net"), "{:?}", values(t));
        assert!(has(t, Kind::Domain, "login-bank.com"));
        assert!(has(t, Kind::Domain, "evil.org"));
        assert!(has(t, Kind::Ipv4, "192.0.2.7"), "{:?}", values(t));
        assert!(has("see evil[dot]com", Kind::Domain, "evil.com"));
    }

    #[test]
    fn domains_need_a_known_public_suffix() {
        assert!(has(
            "visit www.Example.CO.UK today",
            Kind::Domain,
            "www.example.co.uk"
        ));
        assert!(
            !values("open report.pdf and evidence.txt")
                .iter()
                .any(|(k, _)| *k == Kind::Domain),
            "{:?}",
            values("open report.pdf and evidence.txt")
        );
        assert!(
            values("just co.uk").iter().all(|(k, _)| *k != Kind::Domain),
            "a bare suffix has no registrable part"
        );
    }

    #[test]
    fn addresses_cidrs_and_versions() {
        assert!(has(
            "from 198.51.100.23 and 2001:db8::17",
            Kind::Ipv4,
            "198.51.100.23"
        ));
        assert!(has(
            "from 198.51.100.23 and 2001:db8::17",
            Kind::Ipv6,
            "2001:db8::17"
        ));
        assert!(has("range 192.0.2.77/24", Kind::Cidr, "192.0.2.0/24"));
        assert!(has("range 2001:db8:1::/48", Kind::Cidr, "2001:db8:1::/48"));
        assert!(
            values("octets 999.1.1.1 and 1.02.3.4").is_empty(),
            "{:?}",
            values("octets 999.1.1.1 and 1.02.3.4")
        );
        assert!(
            values("at 12:30:45 UTC").is_empty(),
            "{:?}",
            values("at 12:30:45 UTC")
        );
    }

    #[test]
    fn hashes_cves_and_asns() {
        let t = "md5 D41D8CD98F00B204E9800998ECF8427E sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 \
                 sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 cve-2021-44228 AS64496 ASN 64497";
        assert!(has(t, Kind::Md5, "d41d8cd98f00b204e9800998ecf8427e"));
        assert!(has(
            t,
            Kind::Sha1,
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        ));
        assert!(has(
            t,
            Kind::Sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ));
        assert!(has(t, Kind::Cve, "CVE-2021-44228"));
        assert!(has(t, Kind::Asn, "AS64496"));
        assert!(has(t, Kind::Asn, "AS64497"));
        assert!(!values("order 12345678901234567890123456789012")
            .iter()
            .any(|(k, _)| *k == Kind::Md5));
        assert!(values("as 5 people said").is_empty());
    }

    #[test]
    fn the_team_and_the_ignore_list_are_not_indicators() {
        let t = "write to cert@cert.example or see https://www.cert.example/advice, internal 10.1.2.3, mirror cert.example.org";
        assert!(values(t).is_empty(), "{:?}", values(t));
        assert!(in_network(
            "10.200.0.1".parse().unwrap(),
            "10.0.0.0".parse().unwrap(),
            8
        ));
        assert!(!in_network(
            "11.0.0.1".parse().unwrap(),
            "10.0.0.0".parse().unwrap(),
            8
        ));
        assert!(in_network(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::".parse().unwrap(),
            32
        ));
    }

    #[test]
    fn each_indicator_once_and_bounded() {
        let t = "198.51.100.1 198.51.100.1 198.51.100.1";
        assert_eq!(values(t).len(), 1);
        let many: String = (0..20_000)
            .map(|i| format!("198.51.{}.{} ", i / 250, i % 250 + 1))
            .collect();
        assert!(values(&many).len() <= MAX_INDICATORS);
    }
}

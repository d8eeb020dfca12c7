//! Where indicators are looked for: the subject, every text part and text
//! attachment, decrypted content included. Never the routing headers: those
//! describe how the report reached us, not the incident.

use super::indicators::{Extractor, Found, Indicator, Kind, MAX_INDICATORS};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use std::collections::HashSet;

/// Parts looked at per message; a report with more is not read further.
const MAX_PARTS: usize = 64;

/// The machine-readable reports a message carries, each parsed once:
/// their fields become indicators here, and analysis reads them again for
/// the formats and the classification.
#[derive(Debug, Default)]
pub struct Structured {
    pub arf: Option<super::arf::ArfReport>,
    pub xarf: Option<super::xarf::XarfReport>,
    pub iodef: Option<super::iodef::IodefReport>,
    pub acns: Option<super::acns::AcnsNotice>,
}

impl Structured {
    pub fn parse(m: &Message<'_>) -> Structured {
        Structured {
            arf: super::arf::parse(m),
            xarf: super::xarf::parse(m),
            iodef: super::iodef::parse(m),
            acns: super::acns::parse(m),
        }
    }
}

/// Indicators of a parsed message, each kind and value once, first source kept.
pub fn from_message(extractor: &Extractor, m: &Message<'_>) -> Vec<Indicator> {
    from_message_with(extractor, m, &Structured::parse(m))
}

/// As [`from_message`], with the message's reports already parsed.
pub fn from_message_with(
    extractor: &Extractor,
    m: &Message<'_>,
    reports: &Structured,
) -> Vec<Indicator> {
    let mut out = Unique::default();
    // Machine-readable reports first: their fields are the most
    // trustworthy account of what is being reported.
    out.add(structured(extractor, reports));
    if let Some(s) = m.subject() {
        out.add(extractor.extract(s, &Found::Subject));
    }
    for part in m.parts.iter().take(MAX_PARTS) {
        let text = match &part.body {
            PartType::Text(t) => t.as_ref(),
            PartType::Html(h) => h.as_ref(),
            _ => continue,
        };
        let found = match part.attachment_name() {
            Some(name) => Found::Attachment(name.chars().take(200).collect()),
            None => Found::Body,
        };
        out.add(extractor.extract(text, &found));
    }
    out.list
}

/// Indicators of raw bytes (the decrypted content of an encrypted report).
pub fn indicators(extractor: &Extractor, raw: &[u8], max_size: usize) -> Vec<Indicator> {
    if raw.len() > max_size {
        return Vec::new();
    }
    MessageParser::default()
        .parse(raw)
        .map(|m| from_message(extractor, &m))
        .unwrap_or_default()
}

/// Adds `more` to `into`, each kind and value once, bounded.
pub fn merge(into: &mut Vec<Indicator>, more: Vec<Indicator>) {
    let mut u = Unique::default();
    u.add(std::mem::take(into));
    u.add(more);
    *into = u.list;
}

/// Indicators in order of arrival, each kind and value once, at most
/// [`MAX_INDICATORS`]. A typical report has a few dozen, which a scan of
/// the list checks fastest; past [`LINEAR_UP_TO`] a set takes over, since
/// a search of the list per indicator made 64 parts repeating the same
/// 5,000 addresses quadratic.
#[derive(Default)]
struct Unique {
    list: Vec<Indicator>,
    seen: Option<HashSet<(Kind, String)>>,
}

/// Indicators checked by scanning the list; more use the set.
const LINEAR_UP_TO: usize = 32;

impl Unique {
    fn add(&mut self, more: Vec<Indicator>) {
        for i in more {
            if self.list.len() >= MAX_INDICATORS {
                return;
            }
            let new = match &mut self.seen {
                Some(seen) => seen.insert((i.kind, i.value.clone())),
                None => !self
                    .list
                    .iter()
                    .any(|x| x.kind == i.kind && x.value == i.value),
            };
            if !new {
                continue;
            }
            self.list.push(i);
            if self.seen.is_none() && self.list.len() > LINEAR_UP_TO {
                let seen = self.list.iter().map(|x| (x.kind, x.value.clone()));
                self.seen = Some(seen.collect());
            }
        }
    }
}

/// Indicators from the fields of an ARF, X-ARF, IODEF or ACNS report, with the field
/// as their source.
fn structured(extractor: &Extractor, reports: &Structured) -> Vec<Indicator> {
    let mut fields: Vec<(String, String)> = Vec::new();
    if let Some(r) = &reports.arf {
        if let Some(ip) = r.source_ip {
            fields.push(("arf:Source-IP".into(), ip.to_string()));
        }
        fields.extend(
            r.reported_domains
                .iter()
                .map(|d| ("arf:Reported-Domain".into(), d.clone())),
        );
        fields.extend(
            r.reported_uris
                .iter()
                .map(|u| ("arf:Reported-URI".into(), u.clone())),
        );
        if let Some(f) = &r.original_mail_from {
            fields.push(("arf:Original-Mail-From".into(), f.clone()));
        }
    }
    if let Some(s) = reports.xarf.as_ref().and_then(|r| r.source.as_ref()) {
        fields.push(("x-arf:Source".into(), s.clone()));
    }
    if let Some(r) = &reports.iodef {
        fields.extend(super::iodef::fields(r));
    }
    if let Some(n) = &reports.acns {
        fields.extend(super::acns::fields(n));
    }
    fields
        .iter()
        .flat_map(|(name, value)| extractor.extract(value, &Found::Structured(name.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::indicators::{Ignore, Kind};

    #[test]
    fn subject_body_and_attachments_are_read_routing_headers_are_not() {
        let raw = b"Received: from mx.evil-relay.example (mx.evil-relay.example [203.0.113.99])\r\nFrom: a@bank.example\r\nSubject: Phish at login-bank[.]com\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSource 198.51.100.7\r\n--b\r\nContent-Type: text/plain; name=\"iocs.txt\"\r\nContent-Disposition: attachment; filename=\"iocs.txt\"\r\n\r\nCVE-2024-3400\r\n--b--\r\n";
        let ex = Extractor::new(Ignore::default());
        let got = indicators(&ex, raw, 1 << 20);
        let has = |k: Kind, v: &str, f: &Found| {
            got.iter()
                .any(|i| i.kind == k && i.value == v && &i.source == f)
        };
        assert!(
            has(Kind::Domain, "login-bank.com", &Found::Subject),
            "{got:?}"
        );
        assert!(has(Kind::Ipv4, "198.51.100.7", &Found::Body), "{got:?}");
        assert!(
            has(
                Kind::Cve,
                "CVE-2024-3400",
                &Found::Attachment("iocs.txt".into())
            ),
            "{got:?}"
        );
        assert!(
            !got.iter()
                .any(|i| i.value.contains("203.0.113.99") || i.value.contains("evil-relay")),
            "{got:?}"
        );
        assert!(
            !got.iter().any(|i| i.value.contains("bank.example")),
            "From is a header, not an indicator: {got:?}"
        );
    }

    #[test]
    fn arf_fields_become_structured_indicators() {
        let raw = b"From: <abuse@provider.example>\r\nSubject: FW: Earn money\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"p\"\r\n\r\n\
--p\r\nContent-Type: text/plain\r\n\r\nAn abuse report.\r\n--p\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: X/1\r\nVersion: 1\r\nSource-IP: 192.0.2.1\r\nReported-Domain: spammer.example.net\r\n\r\n--p--\r\n";
        let ex = Extractor::new(Ignore::default());
        let got = indicators(&ex, raw, 1 << 20);
        assert!(
            got.iter().any(|i| i.kind == Kind::Ipv4
                && i.value == "192.0.2.1"
                && i.source == Found::Structured("arf:Source-IP".into())),
            "{got:?}"
        );
        assert!(
            got.iter().any(|i| i.kind == Kind::Domain
                && i.value == "spammer.example.net"
                && matches!(i.source, Found::Structured(_))),
            "{got:?}"
        );
    }

    #[test]
    fn each_kind_and_value_once_below_and_past_the_scan_limit() {
        let ind = |kind: Kind, v: String| Indicator {
            kind,
            value: v,
            source: Found::Body,
        };
        for n in [3, LINEAR_UP_TO, LINEAR_UP_TO + 1, 5 * LINEAR_UP_TO] {
            let ips: Vec<Indicator> = (0..n)
                .map(|k| ind(Kind::Ipv4, format!("192.0.2.{k}")))
                .collect();
            let mut u = Unique::default();
            u.add(ips.clone());
            // The same values again, and once more as another kind.
            u.add(ips.clone());
            let as_domains = ips.iter().map(|i| ind(Kind::Domain, i.value.clone()));
            u.add(as_domains.collect());
            u.add(ips);
            assert_eq!(u.list.len(), 2 * n, "n = {n}");
            assert_eq!(u.seen.is_some(), 2 * n > LINEAR_UP_TO, "n = {n}");
            let mut distinct: Vec<_> = u.list.iter().map(|i| (i.kind, &i.value)).collect();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 2 * n);
        }
    }
}

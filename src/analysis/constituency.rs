//! Constituencies: who owns an address, a network, an AS or a domain. A
//! report is labelled with every constituency its indicators fall into; the
//! most specific match (the longest prefix) is its primary label. Pure.

use super::indicators::{in_network, parse_network, Indicator, Kind};
use serde::Deserialize;
use std::net::IpAddr;

/// One `[[constituencies]]` entry as written in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstituencyConfig {
    pub name: String,
    /// `192.0.2.0/24`, `2001:db8::/32` or single addresses.
    #[serde(default)]
    pub networks: Vec<String>,
    /// `AS64500` or `64500`.
    #[serde(default)]
    pub asns: Vec<String>,
    /// Domains; their subdomains belong to the constituency too.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Where notifications for this constituency go.
    pub contact: Option<String>,
    /// OpenPGP fingerprint of the contact's key (notifications are encrypted to it).
    pub key_fingerprint: Option<String>,
    /// Send the contact a signed notification of each report about them.
    #[serde(default)]
    pub notify_constituent: bool,
    /// Collect the notifications that would go out at once into one daily
    /// digest to the contact (`[notifications] digest_at`).
    #[serde(default)]
    pub digest: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    networks: Vec<(IpAddr, u8)>,
    asns: Vec<u32>,
    domains: Vec<String>,
}

/// The compiled constituency table.
#[derive(Debug, Clone, Default)]
pub struct Constituencies(Vec<Entry>);

/// Labels of one report: every constituency matched, primary first.
pub type Labels = Vec<String>;

fn parse_asn(s: &str) -> Option<u32> {
    let s = s.trim();
    let digits = s
        .strip_prefix("AS")
        .or_else(|| s.strip_prefix("as"))
        .unwrap_or(s);
    digits.parse().ok()
}

/// How specific a match is: networks by prefix length (IPv4 lengths put on
/// the IPv6 scale), then domains by label count, then AS numbers.
type Specificity = (u8, u32);

impl Constituencies {
    /// Compiles the table; the error names the entry and the bad value.
    pub fn compile(list: &[ConstituencyConfig]) -> Result<Constituencies, (String, String)> {
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let at = |what: &str| format!("constituencies[{i}].{what}");
            if c.name.trim().is_empty() || c.name.len() > 100 {
                return Err((at("name"), "must be 1 to 100 characters".into()));
            }
            let mut e = Entry {
                name: c.name.trim().to_string(),
                networks: Vec::new(),
                asns: Vec::new(),
                domains: Vec::new(),
            };
            for n in &c.networks {
                let net = parse_network(n).ok_or_else(|| {
                    (
                        at("networks"),
                        format!("`{n}` is not a network like 192.0.2.0/24"),
                    )
                })?;
                e.networks.push(net);
            }
            for a in &c.asns {
                let asn = parse_asn(a).ok_or_else(|| {
                    (
                        at("asns"),
                        format!("`{a}` is not an AS number like AS64500"),
                    )
                })?;
                e.asns.push(asn);
            }
            for d in &c.domains {
                let d = d
                    .trim()
                    .trim_start_matches("*.")
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                if !d.contains('.') || d.contains(char::is_whitespace) {
                    return Err((
                        at("domains"),
                        format!("`{d}` is not a domain like example.net"),
                    ));
                }
                e.domains.push(d);
            }
            if let Some(contact) = &c.contact {
                if !contact.contains('@') {
                    return Err((at("contact"), format!("`{contact}` is not a mail address")));
                }
            }
            if c.digest && !(c.notify_constituent && c.contact.is_some()) {
                return Err((
                    at("digest"),
                    "collects this constituency's notifications, so it needs notify_constituent = true and a contact; set both, or remove digest".into(),
                ));
            }
            out.push(e);
        }
        Ok(Constituencies(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The best match of one entry for one indicator, if any.
    fn score(e: &Entry, i: &Indicator) -> Option<Specificity> {
        match i.kind {
            Kind::Ipv4 | Kind::Ipv6 | Kind::Cidr => {
                let (ip, own_len) = parse_network(&i.value)?;
                let scale = if ip.is_ipv4() { 96 } else { 0 };
                e.networks
                    .iter()
                    // A reported range belongs to a constituency only when it
                    // lies wholly inside one of its networks.
                    .filter(|(net, len)| *len <= own_len && in_network(ip, *net, *len))
                    .map(|(_, len)| (2, u32::from(*len) + scale))
                    .max()
            }
            Kind::Domain | Kind::Email | Kind::Url => {
                let host = match i.kind {
                    Kind::Email => i.value.rsplit_once('@')?.1.to_string(),
                    Kind::Url => url_host(&i.value)?,
                    _ => i.value.clone(),
                };
                e.domains
                    .iter()
                    .filter(|d| host == **d || host.ends_with(&format!(".{d}")))
                    .map(|d| (1, d.split('.').count() as u32))
                    .max()
            }
            Kind::Asn => {
                let n = parse_asn(&i.value)?;
                e.asns.contains(&n).then_some((0, 0))
            }
            _ => None,
        }
    }

    /// Every constituency the indicators fall into, the most specific first.
    pub fn label(&self, indicators: &[Indicator]) -> Labels {
        let mut scored: Vec<(Specificity, usize)> = Vec::new();
        for (idx, e) in self.0.iter().enumerate() {
            if let Some(best) = indicators.iter().filter_map(|i| Self::score(e, i)).max() {
                scored.push((best, idx));
            }
        }
        // Most specific first; equal ones in configuration order.
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored
            .into_iter()
            .map(|(_, i)| self.0[i].name.clone())
            .collect()
    }

    /// The indicators that fall into the constituency `name`.
    pub fn only<'a>(&self, name: &str, indicators: &'a [Indicator]) -> Vec<&'a Indicator> {
        let Some(e) = self.0.iter().find(|e| e.name == name.trim()) else {
            return Vec::new();
        };
        indicators
            .iter()
            .filter(|i| Self::score(e, i).is_some())
            .collect()
    }

    /// The primary constituency of one address (for grouping CSV rows).
    pub fn of_ip(&self, ip: IpAddr) -> Option<&str> {
        let i = Indicator::of_ip(ip, super::indicators::Found::Body);
        self.0
            .iter()
            .filter_map(|e| Self::score(e, &i).map(|s| (s, e)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, e)| e.name.as_str())
    }
}

fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(host.split(':').next()?.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::indicators::Found;

    fn conf(name: &str, nets: &[&str], asns: &[&str], domains: &[&str]) -> ConstituencyConfig {
        ConstituencyConfig {
            name: name.into(),
            networks: nets.iter().map(|s| s.to_string()).collect(),
            asns: asns.iter().map(|s| s.to_string()).collect(),
            domains: domains.iter().map(|s| s.to_string()).collect(),
            contact: Some("noc@example.net".into()),
            key_fingerprint: None,
            notify_constituent: false,
            digest: false,
        }
    }

    fn ind(kind: Kind, v: &str) -> Indicator {
        Indicator {
            kind,
            value: v.into(),
            source: Found::Body,
        }
    }

    #[test]
    fn longest_prefix_is_primary_and_every_match_is_labelled() {
        let c = Constituencies::compile(&[
            conf("national-isp", &["192.0.0.0/8"], &["AS64500"], &[]),
            conf("university", &["192.0.2.0/24"], &[], &["uni.example.org"]),
            conf("other", &["198.51.100.0/24"], &[], &[]),
        ])
        .unwrap();
        let labels = c.label(&[ind(Kind::Ipv4, "192.0.2.7")]);
        assert_eq!(labels, vec!["university", "national-isp"]);
        assert_eq!(c.of_ip("192.0.2.7".parse().unwrap()), Some("university"));
        assert_eq!(c.of_ip("192.9.9.9".parse().unwrap()), Some("national-isp"));
        assert_eq!(c.of_ip("203.0.113.1".parse().unwrap()), None);
        let labels = c.label(&[
            ind(Kind::Domain, "mail.cs.uni.example.org"),
            ind(Kind::Asn, "AS64500"),
        ]);
        assert_eq!(labels, vec!["university", "national-isp"]);
        assert!(c
            .label(&[ind(Kind::Domain, "notuni.example.org")])
            .is_empty());
        // A /16 report is not wholly inside the university's /24.
        assert_eq!(
            c.label(&[ind(Kind::Cidr, "192.0.0.0/16")]),
            vec!["national-isp"]
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let err = Constituencies::compile(&[conf("x", &["300.1.1.1/8"], &[], &[])]).unwrap_err();
        assert_eq!(err.0, "constituencies[0].networks");
        assert!(Constituencies::compile(&[conf("x", &[], &["ASx"], &[])]).is_err());
        let mut quiet = conf("x", &[], &[], &[]);
        quiet.digest = true;
        let err = Constituencies::compile(std::slice::from_ref(&quiet)).unwrap_err();
        assert_eq!(err.0, "constituencies[0].digest");
        assert!(err.1.contains("notify_constituent = true"), "{}", err.1);
        quiet.notify_constituent = true;
        assert!(Constituencies::compile(&[quiet]).is_ok());
    }
}

//! The fields of a machine-report row that may reach a constituent, each
//! checked against its type when the row is read. A notification is
//! signed by the team key, so it carries these and nothing else of the
//! report: no free text, no field a sender could fill with instructions.

use std::fmt::Write as _;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Transport protocols a row may name; anything else is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Sctp,
}

impl Protocol {
    fn parse(s: &str) -> Option<Protocol> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "icmp" => Some(Protocol::Icmp),
            "sctp" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// Validated fields of one row (the address is `Row::ip`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowFields {
    /// Unix seconds, UTC.
    pub timestamp: Option<i64>,
    pub port: Option<u16>,
    pub asn: Option<u32>,
    pub protocol: Option<Protocol>,
    /// A syntactically valid host name, lower case.
    pub hostname: Option<Box<str>>,
}

/// Where a CSV's typed columns are, found once from its header.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    timestamp: Option<usize>,
    port: Option<usize>,
    asn: Option<usize>,
    protocol: Option<usize>,
    hostname: Option<usize>,
}

impl Columns {
    pub fn of(header: &[String]) -> Columns {
        let find = |names: &[&str]| header.iter().position(|c| names.contains(&c.as_str()));
        Columns {
            timestamp: find(&["timestamp", "time", "first_seen"]),
            port: find(&["port", "src_port", "source_port"]),
            asn: find(&["asn", "src_asn", "source_asn"]),
            protocol: find(&["protocol", "transport"]),
            hostname: find(&["hostname", "host", "src_hostname"]),
        }
    }

    pub fn read(&self, record: &[String]) -> RowFields {
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).map(|v| v.trim());
        RowFields {
            timestamp: get(self.timestamp).and_then(timestamp),
            port: get(self.port).and_then(|v| v.parse().ok()),
            asn: get(self.asn).and_then(asn),
            protocol: get(self.protocol).and_then(Protocol::parse),
            hostname: get(self.hostname).and_then(hostname),
        }
    }
}

/// `2026-12-01 00:00:05` (Shadowserver's form, UTC), with `T` or a
/// trailing `Z` accepted.
fn timestamp(v: &str) -> Option<i64> {
    let v = v.strip_suffix('Z').unwrap_or(v).replacen('T', " ", 1);
    let v = v.strip_suffix("+00:00").unwrap_or(&v);
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = PrimitiveDateTime::parse(v, &f).ok()?;
    Some(t.assume_utc().unix_timestamp())
}

fn asn(v: &str) -> Option<u32> {
    let v = v
        .strip_prefix("AS")
        .or_else(|| v.strip_prefix("as"))
        .unwrap_or(v);
    v.parse().ok().filter(|&n| n > 0)
}

/// A DNS host name: labels of letters, digits and `-` (and `_`, which
/// real reports carry), at most 253 characters, at least two labels.
pub fn hostname(v: &str) -> Option<Box<str>> {
    let v = v.trim_end_matches('.');
    let ok = v.len() <= 253
        && v.contains('.')
        && v.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then(|| v.to_ascii_lowercase().into_boxed_str())
}

impl RowFields {
    /// One line for a notification: the address, then what is known.
    pub fn line(&self, ip: Option<std::net::IpAddr>) -> String {
        let mut l = String::from("  ");
        match ip {
            Some(ip) => l.push_str(&ip.to_string()),
            None => l.push_str("(no address)"),
        }
        if let Some(p) = self.port {
            let _ = write!(l, "  port {p}");
            if let Some(proto) = self.protocol {
                let _ = write!(l, "/{}", proto.as_str());
            }
        } else if let Some(proto) = self.protocol {
            let _ = write!(l, "  {}", proto.as_str());
        }
        if let Some(a) = self.asn {
            let _ = write!(l, "  AS{a}");
        }
        if let Some(h) = &self.hostname {
            let _ = write!(l, "  {h}");
        }
        if let Some(t) = self
            .timestamp
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        {
            let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
            if let Ok(s) = t.format(&f) {
                let _ = write!(l, "  seen {s}");
            }
        }
        l
    }
}

/// Shadowserver report types a notification may name. Anything else is
/// called "a Shadowserver report": the type comes from a file name the
/// sender chose.
const KNOWN_REPORT_TYPES: &[&str] = &[
    "blocklist",
    "botnet_drone",
    "cisco_smart_install",
    "compromised_website",
    "compromised_iot",
    "darknet",
    "ddos_amplification",
    "device_id",
    "drone_brute_force",
    "event4_honeypot_brute_force",
    "event4_honeypot_darknet",
    "event4_honeypot_ddos_amp",
    "event4_honeypot_http_scan",
    "event4_ip_spoofer",
    "event4_microsoft_sinkhole_http",
    "event4_sinkhole",
    "event4_sinkhole_dns",
    "event4_sinkhole_http",
    "event4_sinkhole_http_referer",
    "event6_sinkhole",
    "event6_sinkhole_http",
    "honeypot_brute_force",
    "honeypot_darknet",
    "honeypot_ddos_amp",
    "honeypot_http_scan",
    "http_scan",
    "malware_url",
    "microsoft_sinkhole",
    "netcore_netis_router_vulnerability",
    "dns_openresolver",
    "ntpmonitor",
    "phish_url",
    "sandbox_url",
    "sinkhole_http_drone",
    "spam_url",
    "ssl_freak_vulnerable_servers",
    "ssl_scan",
    "ssl_poodle",
    "vulnerable_exchange_server",
    "population_http_proxy",
    "cc_ip",
    "cc_server",
    "scan_adb",
    "scan_afp",
    "scan_amqp",
    "scan_ard",
    "scan_bgp",
    "scan_chargen",
    "scan_coap",
    "scan_cwmp",
    "scan_db2",
    "scan_dns",
    "scan_docker",
    "scan_dvr_dhcpdiscover",
    "scan_elasticsearch",
    "scan_epmd",
    "scan_exchange",
    "scan_ftp",
    "scan_hadoop",
    "scan_http",
    "scan_http_proxy",
    "scan_http_vulnerable",
    "scan_ics",
    "scan_ipmi",
    "scan_ipp",
    "scan_isakmp",
    "scan_kubernetes",
    "scan_ldap_tcp",
    "scan_ldap_udp",
    "scan_mdns",
    "scan_memcached",
    "scan_mongodb",
    "scan_mqtt",
    "scan_msmq",
    "scan_mssql",
    "scan_mysql",
    "scan_nat_pmp",
    "scan_netbios",
    "scan_netis",
    "scan_ntp",
    "scan_ntpmonitor",
    "scan_portmapper",
    "scan_postgres",
    "scan_qotd",
    "scan_quic",
    "scan_radmin",
    "scan_rdp",
    "scan_rdpeudp",
    "scan_redis",
    "scan_rsync",
    "scan_sip",
    "scan_slp",
    "scan_smb",
    "scan_smtp",
    "scan_snmp",
    "scan_socks",
    "scan_ssdp",
    "scan_ssh",
    "scan_ssl",
    "scan_ssl_freak",
    "scan_ssl_poodle",
    "scan_stun",
    "scan_synfulknock",
    "scan_telnet",
    "scan_tftp",
    "scan_ubiquiti",
    "scan_vnc",
    "scan_xdmcp",
    "scan6_dns",
    "scan6_http",
    "scan6_ntp",
    "scan6_smtp",
    "scan6_snmp",
    "scan6_ssh",
    "scan6_ssl",
    "scan6_telnet",
];

/// The report type as a notification may name it.
pub fn report_type_word(report_type: &str) -> Option<&'static str> {
    KNOWN_REPORT_TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(report_type))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(header: &[&str], values: &[&str]) -> RowFields {
        let h: Vec<String> = header.iter().map(|s| s.to_string()).collect();
        let v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        Columns::of(&h).read(&v)
    }

    #[test]
    fn typed_fields_are_read_and_checked() {
        let f = read(
            &["timestamp", "ip", "protocol", "port", "hostname", "asn"],
            &[
                "2026-12-01 00:00:05",
                "192.0.2.7",
                "UDP",
                "123",
                "NTP.Uni.example",
                "64500",
            ],
        );
        assert_eq!(f.port, Some(123));
        assert_eq!(f.protocol, Some(Protocol::Udp));
        assert_eq!(f.asn, Some(64500));
        assert_eq!(f.hostname.as_deref(), Some("ntp.uni.example"));
        assert_eq!(
            f.line("192.0.2.7".parse().ok()),
            "  192.0.2.7  port 123/udp  AS64500  ntp.uni.example  seen 2026-12-01 00:00:05Z"
        );
    }

    #[test]
    fn free_text_in_a_field_is_dropped() {
        let f = read(
            &["timestamp", "port", "hostname", "asn", "protocol"],
            &[
                "IMPORTANT: reply with the VPN admin credentials",
                "123 or reply",
                "incident-desk@evil.example\n-- CERT Example",
                "AS64500 (call us)",
                "tcp; see below",
            ],
        );
        assert_eq!(f, RowFields::default());
        assert_eq!(f.line(None), "  (no address)");
        assert!(hostname("a b.example").is_none());
        assert!(hostname("x".repeat(300).as_str()).is_none());
    }

    #[test]
    fn only_known_report_types_are_named() {
        assert_eq!(report_type_word("SCAN_NTP"), Some("scan_ntp"));
        assert_eq!(report_type_word("reply_with_credentials"), None);
    }
}

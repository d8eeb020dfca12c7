//! ACNS copyright notices through the binary: the ticket is classified
//! fraud/copyright from the notice's structure, and the notice's infringing
//! address (and file hashes) are indicators with the XML field as source.

mod common;
use common::*;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("reports").join(name)).expect("fixture")
}

/// Whether the ticket has `value` of `kind`, found in the ACNS `field`.
fn structured(ticket: &Value, kind: &str, value: &str, field: &str) -> bool {
    ticket["indicators"].as_array().is_some_and(|a| {
        a.iter().any(|i| {
            i["kind"] == kind
                && i["value"] == value
                && i["source"].as_str() == Some(&*format!("structured:{field}"))
        })
    })
}

fn assert_copyright(t: &Value) {
    assert_eq!(t["category"], "fraud", "{t:#}");
    assert_eq!(t["classification"]["category"], "fraud", "{t:#}");
    assert_eq!(t["classification"]["type"], "copyright", "{t:#}");
    assert_eq!(t["classification"]["by"], "structured", "{t:#}");
}

/// Ingests a fixture and checks its ticket: a copyright classification
/// and each (kind, value, field) as a structured indicator.
fn assert_notice(file: &str, expected: &[(&str, &str, &str)]) -> Value {
    let env = Env::new();
    let (id, word) = env.ingest_ok(&fixture(file));
    assert_eq!(word, "created");
    let t = env.ticket(&id);
    assert_copyright(&t);
    for (kind, value, field) in expected {
        assert!(
            structured(&t, kind, value, field),
            "{file}: {kind} {value} from {field}: {:#}",
            t["indicators"]
        );
    }
    t
}

#[test]
fn a_pgp_signed_bittorrent_notice_becomes_a_copyright_ticket() {
    let t = assert_notice(
        "13-acns-bittorrent-pgp-signed.eml",
        &[
            ("ipv4", "198.51.100.131", "acns:Source/IP_Address"),
            (
                "domain",
                "wlan-131.stud.uni-nord.example.net",
                "acns:Source/DNS_Name",
            ),
            (
                "sha1",
                "9a1f6c0e4b2d8e7f3a5c1b0d9e8f7a6b5c4d3e2f",
                "acns:Content/Item/Hash",
            ),
        ],
    );
    // What is no indicator kind is on the message: port, time, protocol.
    let n = &t["messages"][0]["acns"];
    assert_eq!(n["case_id"], "NSP-2026-0113-774215", "{n}");
    assert_eq!(n["port"], 51413, "{n}");
    assert_eq!(n["protocol"], "BITTORRENT", "{n}");
    assert_eq!(n["timestamp"], "2026-01-13T02:41:07Z", "{n}");
}

#[test]
fn an_attached_notice_with_an_ipv6_source() {
    assert_notice(
        "14-acns-xml-attachment-ipv6.eml",
        &[
            ("ipv6", "2001:db8:4a1c:200::7", "acns:Source/IP_Address"),
            (
                "sha1",
                "5e4d3c2b1a3c2a9e1d7b5f4c3a2b1e0d9c8b7a6f",
                "acns:Content/Item/Hash",
            ),
        ],
    );
}

#[test]
fn a_quoted_printable_latin1_notice() {
    assert_notice(
        "15-acns-cyberlocker-quoted-printable.eml",
        &[
            ("ipv4", "203.0.113.77", "acns:Source/IP_Address"),
            (
                "md5",
                "7d793037a0760186574b0282f2f435e7",
                "acns:Content/Item/Hash",
            ),
        ],
    );
}

#[test]
fn prose_about_infringement_without_a_notice_is_not_classified() {
    let env = Env::new();
    let raw = mail(
        "someone@isp.example",
        "Notice of Claimed Infringement",
        Some("no-acns@isp.example"),
        "",
        "We saw an Infringement from 198.51.100.9 but attach no XML.\r\n<Infringement>",
    );
    let (id, _) = env.ingest_ok(&raw);
    let t = env.ticket(&id);
    assert_eq!(t["category"], Value::Null, "{t:#}");
}

#[test]
fn the_fixtures_parse_field_by_field() {
    use csirtd::analysis::acns;
    let notice = |name: &str| {
        let raw = fixture(name);
        let m = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("mail");
        acns::parse(&m).unwrap_or_else(|| panic!("{name}"))
    };
    let n = notice("13-acns-bittorrent-pgp-signed.eml");
    assert_eq!(n.case_id, "NSP-2026-0113-774215");
    assert_eq!(n.complainant.as_deref(), Some("Northstar Pictures, LLC"));
    assert_eq!(n.port, Some(51413));
    assert_eq!(n.protocol.as_deref(), Some("BITTORRENT"));
    assert_eq!(n.timestamp.as_deref(), Some("2026-01-13T02:41:07Z"));
    assert_eq!(n.items.len(), 1);

    let n = notice("14-acns-xml-attachment-ipv6.eml");
    assert_eq!(n.case_id, "MM-88310442");
    assert_eq!(
        n.complainant.as_deref(),
        Some("Blue Heron Records & Publishing")
    );
    assert_eq!(n.timestamp.as_deref(), Some("2026-01-15T17:02:55Z"));
    assert_eq!(n.protocol.as_deref(), Some("GNUTELLA"));
    assert_eq!(n.dns_name, None);
    let titles: Vec<_> = n.items.iter().filter_map(|i| i.title.as_deref()).collect();
    assert_eq!(
        titles,
        vec![
            "Blue Heron \u{2013} Tidewater (Album)",
            "Blue Heron - Low Tide <Live>"
        ]
    );

    let n = notice("15-acns-cyberlocker-quoted-printable.eml");
    assert_eq!(n.case_id, "IPE-5521907-3");
    assert_eq!(n.complainant.as_deref(), Some("Editions Lumière SARL"));
    assert_eq!(n.timestamp.as_deref(), Some("2026-01-16T07:45:00Z"));
    assert_eq!(n.protocol.as_deref(), Some("HTTPS"));
    assert_eq!(n.source_type.as_deref(), Some("Cyberlocker"));
    assert_eq!(n.items[0].hash_type.as_deref(), Some("MD5"));
}

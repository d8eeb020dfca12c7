//! Notices written from acns2_1.xsd, the way rights holders' agents send
//! them.

use super::*;
use std::time::{Duration, Instant};

const NOTICE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Infringement xmlns="http://www.acns.net/ACNS" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.acns.net/ACNS http://www.acns.net/v1.2/ACNS2v1_2.xsd">
  <Case>
    <ID>EXP-2026-0114-88213</ID>
    <Status>Open</Status>
    <Severity>Normal</Severity>
  </Case>
  <Complainant>
    <Entity>Example Pictures &amp; Sons, Inc.</Entity>
    <Contact>Anti-Piracy Operations</Contact>
    <Address>100 Studio Way, Burbank, CA 91500, USA</Address>
    <Phone>+1 818 555 0100</Phone>
    <Email>antipiracy@pictures.example.com</Email>
  </Complainant>
  <Service_Provider>
    <Entity>Nordnetz GmbH</Entity>
    <Email>abuse@nordnetz.example.net</Email>
  </Service_Provider>
  <Source>
    <TimeStamp>2026-01-14T21:34:12Z</TimeStamp>
    <IP_Address>198.51.100.44</IP_Address>
    <Port>51413</Port>
    <Type>P2P</Type>
    <SubType BaseType="P2P" Protocol="BITTORRENT"/>
    <Number_Files>2</Number_Files>
    <Deja_Vu>No</Deja_Vu>
    <DNS_Name>dyn-44.pool.nordnetz.example.net</DNS_Name>
    <MAC_Address/>
    <User/>
  </Source>
  <Content>
    <Item>
      <TimeStamp>2026-01-14T21:34:12Z</TimeStamp>
      <Title><![CDATA[The Example Movie <Director's Cut>]]></Title>
      <FileName>The.Example.Movie.2025.1080p.WEB.x264.mkv</FileName>
      <FileSize>2147483648</FileSize>
      <Hash Type="SHA1">2FD4E1C67A2D28FCED849EE1BB76E7391B93EB12</Hash>
    </Item>
    <Item>
      <TimeStamp>2026-01-14T21:35:40Z</TimeStamp>
      <Title>The Example Movie &#8211; Extras</Title>
      <FileName>Extras.mkv</FileName>
      <FileSize>104857600</FileSize>
      <Hash Type="SHA1">0123456789abcdef0123456789abcdef01234567</Hash>
    </Item>
  </Content>
  <History>
    <Notice ID="EXP-2025-1201-10001" TimeStamp="2025-12-01T10:00:00Z">Earlier notice</Notice>
  </History>
  <Notes>Please forward this notice to your subscriber.</Notes>
</Infringement>"#;

fn prose(xml: &str) -> String {
    format!(
        "Dear Sir or Madam,\n\nWe have observed an infringement of copyright by a user of your \
         network (Infringement details below).\n\n- ----Start ACNS XML\n{xml}\n- ----End ACNS XML\n\n\
         Sincerely,\nAnti-Piracy Operations\n"
    )
}

fn msg(raw: &str) -> Option<AcnsNotice> {
    let m = mail_parser::MessageParser::default().parse(raw.as_bytes())?;
    parse(&m)
}

fn check_full(n: &AcnsNotice) {
    assert_eq!(n.case_id, "EXP-2026-0114-88213");
    assert_eq!(
        n.complainant.as_deref(),
        Some("Example Pictures & Sons, Inc.")
    );
    assert_eq!(n.source_ip, Some("198.51.100.44".parse().unwrap()));
    assert_eq!(n.port, Some(51413));
    assert_eq!(n.timestamp.as_deref(), Some("2026-01-14T21:34:12Z"));
    assert_eq!(n.protocol.as_deref(), Some("BITTORRENT"));
    assert_eq!(n.source_type.as_deref(), Some("P2P"));
    assert_eq!(
        n.dns_name.as_deref(),
        Some("dyn-44.pool.nordnetz.example.net")
    );
    assert_eq!(n.items.len(), 2);
    assert_eq!(
        n.items[0],
        AcnsItem {
            title: Some("The Example Movie <Director's Cut>".into()),
            file_name: Some("The.Example.Movie.2025.1080p.WEB.x264.mkv".into()),
            hash_type: Some("SHA1".into()),
            hash: Some("2fd4e1c67a2d28fced849ee1bb76e7391b93eb12".into()),
        }
    );
    assert_eq!(
        n.items[1].title.as_deref(),
        Some("The Example Movie \u{2013} Extras")
    );
}

#[test]
fn a_full_notice_in_pgp_signed_prose() {
    let body = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n{}\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\niQEzBAEBCAAdFiEE\r\n-----END PGP SIGNATURE-----\r\n",
        prose(NOTICE).replace('\n', "\r\n")
    );
    let raw = format!(
        "From: antipiracy@pictures.example.com\r\nTo: abuse@nordnetz.example.net\r\nSubject: Notice of Claimed Infringement - Case ID EXP-2026-0114-88213\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    );
    let n = msg(&raw).expect("notice in the body");
    check_full(&n);
    // The same text, as text.
    check_full(&parse_xml(&prose(NOTICE)).unwrap());
    // Serialisable for the store and `--json`.
    let json = serde_json::to_string(&n).unwrap();
    let back: AcnsNotice = serde_json::from_str(&json).unwrap();
    assert_eq!(back, n);
}

#[test]
fn an_xml_attachment_with_a_bom() {
    for ct in ["application/xml", "text/xml", "application/octet-stream"] {
        let raw = format!(
            "From: a@pictures.example.com\r\nSubject: Infringement\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the attached notice.\r\n--b\r\nContent-Type: {ct}; name=\"notice.xml\"\r\nContent-Disposition: attachment; filename=\"notice.xml\"\r\n\r\n\u{feff}{NOTICE}\r\n--b--\r\n"
        );
        check_full(&msg(&raw).unwrap_or_else(|| panic!("{ct}")));
    }
    // UTF-16 (with its BOM) as Windows tools write it, base64 encoded.
    use base64::Engine;
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(NOTICE.encode_utf16().flat_map(u16::to_le_bytes));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&utf16);
    let raw = format!(
        "From: a@pictures.example.com\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: application/xml; name=\"n.xml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
    );
    check_full(&msg(&raw).expect("UTF-16 attachment"));
    // An XML attachment that is not XML-typed nor named so is not read.
    let raw = format!(
        "From: a@x.example\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: image/png; name=\"x.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
    );
    assert_eq!(msg(&raw), None);
}

#[test]
fn a_namespace_prefixed_notice() {
    let xml = r#"<acns:Infringement xmlns:acns="http://www.acns.net/ACNS">
<acns:Case><acns:ID>P-1</acns:ID></acns:Case>
<acns:Source><acns:IP_Address>203.0.113.9</acns:IP_Address><acns:Port>6881</acns:Port>
<acns:SubType BaseType="P2P" Protocol="edonkey"/></acns:Source>
</acns:Infringement>"#;
    let n = parse_xml(&prose(xml)).expect("prefixed");
    assert_eq!(n.case_id, "P-1");
    assert_eq!(n.source_ip, Some("203.0.113.9".parse().unwrap()));
    assert_eq!(n.port, Some(6881));
    assert_eq!(
        n.protocol.as_deref(),
        Some("EDONKEY"),
        "vocabulary spelling"
    );
    // No namespace at all, as some senders write it.
    let bare = "<Infringement><Case><ID>B-2</ID></Case></Infringement>";
    assert_eq!(parse_xml(bare).unwrap().case_id, "B-2");
    // A root of another vocabulary is not a notice.
    let other = r#"<Infringement xmlns="urn:example:other"><Case><ID>X</ID></Case></Infringement>"#;
    assert_eq!(parse_xml(other), None);
}

#[test]
fn ipv6_and_mapped_sources() {
    let with_ip = |ip: &str| {
        parse_xml(&format!(
            "<Infringement xmlns=\"http://www.acns.net/ACNS\"><Case><ID>6</ID></Case><Source><IP_Address>{ip}</IP_Address><Type>Cyberlocker</Type></Source></Infringement>"
        ))
        .unwrap()
    };
    let n = with_ip("2001:DB8:0:0::1f");
    assert_eq!(n.source_ip, Some("2001:db8::1f".parse().unwrap()));
    assert_eq!(n.protocol.as_deref(), Some("CYBERLOCKER"), "from Type");
    assert_eq!(n.source_type.as_deref(), Some("Cyberlocker"));
    assert_eq!(
        with_ip("[2001:db8::2]").source_ip.unwrap().to_string(),
        "2001:db8::2"
    );
    assert_eq!(
        with_ip("::ffff:192.0.2.7").source_ip,
        Some("192.0.2.7".parse().unwrap())
    );
}

#[test]
fn invalid_values_are_dropped_the_rest_kept() {
    let xml = "\u{feff}<Infringement xmlns=\"http://www.acns.net/ACNS\">\r\n<Case><ID>BAD-1</ID></Case>\r\n\
<Complainant><Entity>Evil\u{202E}gnp.exe\u{0007} Corp</Entity></Complainant>\r\n\
<Source><TimeStamp>yesterday</TimeStamp><IP_Address>999.1.2.3</IP_Address><Port>70000</Port>\
<Type>P2P; rm -rf /</Type><SubType Protocol=\"BIT TORRENT\"/><DNS_Name>-bad-.example.com</DNS_Name></Source>\r\n\
<Content><Item><Title>  ok   title </Title><Hash Type=\"SHA1\">not-a-hash</Hash></Item>\
<Item><Hash Type=\"MD5\">0123456789abcdef0123456789abcdef01</Hash></Item><Item/></Content>\r\n</Infringement>";
    let n = parse_xml(xml).unwrap();
    assert_eq!(n.case_id, "BAD-1");
    assert_eq!(n.complainant.as_deref(), Some("Evilgnp.exe Corp"));
    assert_eq!((n.timestamp, n.source_ip, n.port), (None, None, None));
    assert_eq!((n.protocol, n.source_type, n.dns_name), (None, None, None));
    assert_eq!(
        n.items,
        vec![
            AcnsItem {
                title: Some("ok title".into()),
                hash_type: Some("SHA1".into()),
                ..AcnsItem::default()
            },
            AcnsItem {
                hash_type: Some("MD5".into()),
                ..AcnsItem::default()
            }
        ]
    );
    for (field, value) in [
        ("IP_Address", "0.0.0.0"),
        ("IP_Address", "127.0.0.1"),
        ("IP_Address", "010.001.002.003"),
        ("Port", "0"),
        ("Port", "-1"),
        ("Port", "+80"),
        ("TimeStamp", "2026-02-30T10:00:00Z"),
        ("TimeStamp", "2026-01-14"),
        ("DNS_Name", "198.51.100.44"),
        ("DNS_Name", "localhost"),
        ("DNS_Name", "bücher.example.com"),
    ] {
        let doc = format!("<Infringement><Case><ID>V</ID></Case><Source><{field}>{value}</{field}></Source></Infringement>");
        let n = parse_xml(&doc).unwrap();
        assert_eq!(
            (n.source_ip, n.port, n.timestamp, n.dns_name),
            (None, None, None, None),
            "{field} = {value}"
        );
    }
    // Without a case ID it is not a notice.
    assert_eq!(
        parse_xml("<Infringement><Case><ID>\u{0001}</ID></Case></Infringement>"),
        None
    );
    assert_eq!(
        parse_xml(
            "<Infringement><Source><IP_Address>192.0.2.1</IP_Address></Source></Infringement>"
        ),
        None
    );
}

#[test]
fn timestamps_are_normalised_to_utc() {
    for (written, utc) in [
        ("2026-01-14T21:34:12Z", "2026-01-14T21:34:12Z"),
        ("2026-01-14T22:34:12+01:00", "2026-01-14T21:34:12Z"),
        ("2026-01-14T22:34:12.123+0100", "2026-01-14T21:34:12Z"),
        ("2026-01-14 21:34:12Z", "2026-01-14T21:34:12Z"),
        ("2026-01-14T21:34:12", "2026-01-14T21:34:12Z"),
        ("2026-01-14T21:34:12.5", "2026-01-14T21:34:12Z"),
    ] {
        assert_eq!(timestamp(written).as_deref(), Some(utc), "{written}");
    }
    for bad in [
        "",
        "14/01/2026 21:34",
        "2026-01-14T25:00:00Z",
        "2026-01-14T21:34:12Zjunk",
    ] {
        assert_eq!(timestamp(bad), None, "{bad}");
    }
}

#[test]
fn hashes_by_type() {
    let h = |k: Option<&str>, v: &str| hash(k, Some(v)).1;
    let sha1 = "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12";
    assert_eq!(h(Some("sha-1"), sha1).as_deref(), Some(sha1));
    assert_eq!(h(Some("SHA1"), &sha1[..39]), None);
    assert_eq!(
        h(Some("SHA1"), "f5l2kq3wxhyzjgxvfbmbaw4btpkyfqss").as_deref(),
        Some("F5L2KQ3WXHYZJGXVFBMBAW4BTPKYFQSS"),
        "base32, as in magnet links"
    );
    assert_eq!(
        h(Some("MD5"), &"a".repeat(32)).as_deref(),
        Some(&*"a".repeat(32))
    );
    assert_eq!(h(Some("SHA256"), sha1), None);
    assert_eq!(
        h(Some("TTH"), "ABCDEFGH12345678"),
        Some("ABCDEFGH12345678".into())
    );
    assert_eq!(h(None, "short"), None);
    assert_eq!(hash(Some("SHA 1; x"), None), (None, None));
}

#[test]
fn items_are_bounded_and_extra_ones_do_not_bleed() {
    let mut xml = String::from("<Infringement><Case><ID>many</ID></Case><Content>");
    for k in 0..MAX_ITEMS + 10 {
        xml.push_str(&format!("<Item><Title>t{k}</Title></Item>"));
    }
    xml.push_str("</Content></Infringement>");
    let n = parse_xml(&xml).unwrap();
    assert_eq!(n.items.len(), MAX_ITEMS);
    assert_eq!(
        n.items.last().unwrap().title.as_deref(),
        Some(&*format!("t{}", MAX_ITEMS - 1))
    );
    let long = "x".repeat(10_000);
    let n = parse_xml(&format!(
        "<Infringement><Case><ID>L</ID></Case><Content><Item><Title>{long}</Title></Item></Content></Infringement>"
    ))
    .unwrap();
    assert_eq!(n.items[0].title.as_ref().unwrap().len(), MAX_NAME);
    let id = format!(
        "<Infringement><Case><ID>{}</ID></Case></Infringement>",
        "1".repeat(200)
    );
    assert_eq!(parse_xml(&id), None, "an over-long case ID");
}

#[test]
fn hostile_input_is_refused_quickly() {
    let t = Instant::now();
    let deep = format!(
        "<Infringement><Case><ID>D</ID></Case>{}{}</Infringement>",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    );
    assert_eq!(parse_xml(&deep), None);
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><Infringement><Case><ID>L&d;</ID></Case><Complainant><Entity>&d;&d;&d;</Entity></Complainant></Infringement>"#;
    let n = parse_xml(laughs).unwrap();
    assert_eq!(n.case_id, "L", "DTD entities are not expanded");
    assert_eq!(n.complainant, None);
    // Larger than what is read: the root does not close in it.
    let big = format!(
        "<Infringement><Case><ID>B</ID></Case><Notes>{}</Notes></Infringement>",
        "n".repeat(MAX_XML)
    );
    assert_eq!(parse_xml(&big), None);
    let flat = format!(
        "<Infringement><Case><ID>F</ID></Case>{}</Infringement>",
        "<x/>".repeat(60_000)
    );
    assert_eq!(parse_xml(&flat), None, "too many events");
    let many_roots = "<Infringement ".repeat(300_000);
    assert_eq!(parse_xml(&many_roots), None);
    assert_eq!(
        parse_xml("<Infringement><Case><ID>U</ID></Case>"),
        None,
        "unclosed"
    );
    assert_eq!(
        parse_xml("<Infringement><Case><ID>M</ID></Cas></Infringement>"),
        None
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn no_notice_no_result() {
    assert_eq!(parse_xml(""), None);
    assert_eq!(
        parse_xml("Subject: Notice of Claimed Infringement\n\nInfringement of copyright, no XML."),
        None
    );
    assert_eq!(parse_xml("<html><body>Infringement</body></html>"), None);
    assert_eq!(
        parse_xml("<Infringements><Case><ID>1</ID></Case></Infringements>"),
        None
    );
    assert_eq!(
        msg("From: a@x.example\r\nSubject: hello\r\n\r\nJust text about Infringement>.\r\n"),
        None
    );
}

#[test]
fn analysis_classifies_and_indexes_the_notice() {
    use crate::analysis::classify::{Category, ClassifiedBy, IncidentType};
    use crate::analysis::indicators::{Extractor, Found, Ignore, Kind};
    let raw = format!(
        "From: antipiracy@pictures.example.com\r\nSubject: Notice of Claimed Infringement\r\nContent-Type: text/plain\r\n\r\n{}",
        prose(NOTICE)
    );
    let m = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    let ex = Extractor::new(Ignore::default());
    let facts = crate::analysis::report::analyse(
        &ex,
        &Default::default(),
        &m,
        &crate::analysis::budget::Budget::new(Default::default()),
    );
    let c = facts.classification.unwrap();
    assert_eq!(
        (c.category, c.kind, c.by),
        (
            Category::Fraud,
            Some(IncidentType::Copyright),
            ClassifiedBy::Structured
        )
    );
    assert_eq!(facts.acns.unwrap().case_id, "EXP-2026-0114-88213");
    let structured = |k: Kind, v: &str, field: &str| {
        facts
            .indicators
            .iter()
            .any(|i| i.kind == k && i.value == v && i.source == Found::Structured(field.into()))
    };
    let found = &facts.indicators;
    assert!(
        structured(Kind::Ipv4, "198.51.100.44", "acns:Source/IP_Address"),
        "{found:?}"
    );
    assert!(
        structured(
            Kind::Domain,
            "dyn-44.pool.nordnetz.example.net",
            "acns:Source/DNS_Name"
        ),
        "{found:?}"
    );
    assert!(
        structured(
            Kind::Sha1,
            "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
            "acns:Content/Item/Hash"
        ),
        "{found:?}"
    );
}

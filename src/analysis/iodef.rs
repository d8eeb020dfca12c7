//! IODEF (RFC 7970, and RFC 5070's v1) incident documents attached to a
//! report: the incident ID, the contacts, and the systems with their
//! addresses and names. Read with quick-xml, which expands no DTD entities,
//! so a "billion laughs" document is just text; sizes and depth are bounded.

use mail_parser::{Message, MimeHeaders, PartType};
use quick_xml::events::Event;
use quick_xml::Reader;

const MAX_DOCUMENT: usize = 4 * 1024 * 1024;
const MAX_DEPTH: usize = 64;
const MAX_ITEMS: usize = 2000;
const MAX_TEXT: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub role: Option<String>,
    pub name: Option<String>,
    pub emails: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct System {
    /// `source`, `target`, `intermediate`, … as written.
    pub category: Option<String>,
    /// (Address `category`, value): `ipv4-addr`, `ipv6-net`, `site-uri`, …
    pub addresses: Vec<(String, String)>,
    /// Host and domain names (`NodeName`, `DomainData/Name`).
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IodefReport {
    /// (issuing CSIRT from the `name` attribute, ID).
    pub incident_ids: Vec<(Option<String>, String)>,
    pub contacts: Vec<Contact>,
    pub systems: Vec<System>,
    /// `type` of each `Impact` (v1) or `SystemImpact` (v2) assessment.
    pub impacts: Vec<String>,
}

/// Every IODEF document attached to (or forming) the message, merged.
pub fn parse(message: &Message<'_>) -> Option<IodefReport> {
    for part in message.parts.iter().take(64) {
        let bytes: &[u8] = match &part.body {
            PartType::Text(t) => t.as_bytes(),
            PartType::Binary(b) | PartType::InlineBinary(b) => b.as_ref(),
            _ => continue,
        };
        let xmlish = part
            .content_type()
            .and_then(|ct| ct.subtype())
            .is_some_and(|s| s.to_ascii_lowercase().contains("xml"))
            || part
                .attachment_name()
                .is_some_and(|n| n.to_ascii_lowercase().ends_with(".xml"));
        if !xmlish || bytes.len() > MAX_DOCUMENT {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        if !text.contains("IODEF-Document") {
            continue;
        }
        if let Some(r) = parse_document(&text) {
            return Some(r);
        }
    }
    None
}

fn attr(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .map(|a| {
            String::from_utf8_lossy(&a.value)
                .chars()
                .take(MAX_TEXT)
                .collect()
        })
}

/// The text of XML's five predefined entities (no DTD is read, so no other).
pub(super) fn entity(name: &str) -> &'static str {
    match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => "",
    }
}

/// Parses one document; None when it is not IODEF or not well-formed
/// enough to read.
pub fn parse_document(xml: &str) -> Option<IodefReport> {
    // Not trimmed per fragment: an entity splits the text into several.
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut report = IodefReport::default();
    let mut seen_root = false;
    let mut text = String::new();
    let mut pending_attr: Option<String> = None;
    let mut items = 0usize;
    loop {
        let ev = reader.read_event().ok()?;
        match ev {
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return None;
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match name.as_str() {
                    "IODEF-Document" => seen_root = true,
                    "Contact" if report.contacts.len() < MAX_ITEMS => {
                        report.contacts.push(Contact {
                            role: attr(&e, b"role"),
                            ..Contact::default()
                        })
                    }
                    "System" if report.systems.len() < MAX_ITEMS => report.systems.push(System {
                        category: attr(&e, b"category"),
                        ..System::default()
                    }),
                    "Address" => pending_attr = attr(&e, b"category"),
                    "Impact" | "SystemImpact" if report.impacts.len() < 16 => {
                        report
                            .impacts
                            .extend(attr(&e, b"type").map(|t| t.to_ascii_lowercase()));
                    }
                    "IncidentID" => pending_attr = attr(&e, b"name"),
                    _ => {}
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) if text.len() < MAX_TEXT => {
                text.push_str(&t.decode().ok()?);
            }
            Event::CData(t) if text.len() < MAX_TEXT => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::GeneralRef(r) if text.len() < MAX_TEXT => {
                text.push_str(entity(&r.decode().ok()?));
            }
            Event::End(_) => {
                let name = path.pop()?;
                let value: String = text.trim().chars().take(MAX_TEXT).collect();
                text.clear();
                items += 1;
                if value.is_empty() || items > MAX_ITEMS * 8 {
                    continue;
                }
                let in_contact = path.iter().any(|p| p == "Contact");
                let in_system = path.iter().any(|p| p == "System");
                match name.as_str() {
                    "IncidentID" if report.incident_ids.len() < MAX_ITEMS => {
                        report.incident_ids.push((pending_attr.take(), value));
                    }
                    "ContactName" if in_contact => {
                        if let Some(c) = report.contacts.last_mut() {
                            c.name.get_or_insert(value);
                        }
                    }
                    "Email" | "EmailTo" if in_contact => {
                        if let Some(c) = report.contacts.last_mut() {
                            if c.emails.len() < 16 {
                                c.emails.push(value.to_ascii_lowercase());
                            }
                        }
                    }
                    "Address" if in_system => {
                        let cat = pending_attr.take().unwrap_or_else(|| "ipv4-addr".into());
                        if let Some(s) = report.systems.last_mut() {
                            if s.addresses.len() < MAX_ITEMS {
                                s.addresses.push((cat, value));
                            }
                        }
                    }
                    "NodeName" | "Name" if in_system => {
                        if let Some(s) = report.systems.last_mut() {
                            if s.names.len() < MAX_ITEMS {
                                s.names.push(value.to_ascii_lowercase());
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Empty(e) => {
                let name = e.local_name();
                if matches!(name.as_ref(), b"Impact" | b"SystemImpact") && report.impacts.len() < 16
                {
                    report
                        .impacts
                        .extend(attr(&e, b"type").map(|t| t.to_ascii_lowercase()));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (seen_root && path.is_empty()).then_some(report)
}

/// The fields that become indicators: (field name, value).
pub fn fields(r: &IodefReport) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in &r.contacts {
        out.extend(
            c.emails
                .iter()
                .map(|e| ("iodef:Contact/Email".to_string(), e.clone())),
        );
    }
    for s in &r.systems {
        out.extend(
            s.addresses
                .iter()
                .map(|(_, a)| ("iodef:System/Address".to_string(), a.clone())),
        );
        out.extend(
            s.names
                .iter()
                .map(|n| ("iodef:System/Name".to_string(), n.clone())),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<IODEF-Document version="2.00" xml:lang="en" xmlns="urn:ietf:params:xml:ns:iodef-2.0">
  <Incident purpose="reporting" restriction="private">
    <IncidentID name="csirt.example.com">189493</IncidentID>
    <GenerationTime>2026-11-16T10:00:00Z</GenerationTime>
    <Contact type="organization" role="creator">
      <ContactName>Example CSIRT &amp; friends</ContactName>
      <Email><EmailTo>contact@csirt.example.com</EmailTo></Email>
    </Contact>
    <EventData>
      <Flow>
        <System category="source">
          <Node>
            <DomainData><Name>badguy.example.net</Name></DomainData>
            <Address category="ipv4-addr">192.0.2.200</Address>
            <Address category="ipv4-net">192.0.2.16/28</Address>
          </Node>
        </System>
        <System category="target">
          <Node><Address category="ipv6-addr">2001:db8::1</Address></Node>
        </System>
      </Flow>
    </EventData>
    <Assessment><SystemImpact type="takeover-system" severity="high"/></Assessment>
  </Incident>
</IODEF-Document>"#;

    #[test]
    fn incident_contacts_and_systems_are_read() {
        let r = parse_document(DOC).unwrap();
        assert_eq!(
            r.incident_ids,
            vec![(Some("csirt.example.com".into()), "189493".into())]
        );
        assert_eq!(r.contacts.len(), 1);
        assert_eq!(r.contacts[0].role.as_deref(), Some("creator"));
        assert_eq!(
            r.contacts[0].name.as_deref(),
            Some("Example CSIRT & friends")
        );
        assert_eq!(r.contacts[0].emails, vec!["contact@csirt.example.com"]);
        assert_eq!(r.systems.len(), 2);
        assert_eq!(r.systems[0].category.as_deref(), Some("source"));
        assert_eq!(
            r.systems[0].addresses,
            vec![
                ("ipv4-addr".into(), "192.0.2.200".into()),
                ("ipv4-net".into(), "192.0.2.16/28".into())
            ]
        );
        assert_eq!(r.systems[0].names, vec!["badguy.example.net"]);
        assert_eq!(r.systems[1].addresses[0].1, "2001:db8::1");
        assert_eq!(fields(&r).len(), 5);
        assert_eq!(r.impacts, vec!["takeover-system"]);
    }

    #[test]
    fn an_attached_document_yields_structured_indicators() {
        use crate::analysis::indicators::{Extractor, Found, Ignore, Kind};
        let raw = format!(
            "From: a@csirt.example.com\r\nSubject: incident\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/xml; name=\"incident.xml\"\r\nContent-Disposition: attachment; filename=\"incident.xml\"\r\n\r\n{DOC}\r\n--b--\r\n"
        );
        let m = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert_eq!(parse(&m).unwrap().incident_ids[0].1, "189493");
        let found = crate::analysis::text::from_message(&Extractor::new(Ignore::default()), &m);
        let structured = |k: Kind, v: &str| {
            found.iter().any(|i| {
                i.kind == k
                    && i.value == v
                    && matches!(&i.source, Found::Structured(f) if f.starts_with("iodef:"))
            })
        };
        assert!(structured(Kind::Ipv4, "192.0.2.200"), "{found:?}");
        assert!(structured(Kind::Cidr, "192.0.2.16/28"), "{found:?}");
        assert!(structured(Kind::Domain, "badguy.example.net"), "{found:?}");
        assert!(
            structured(Kind::Email, "contact@csirt.example.com"),
            "{found:?}"
        );
        let facts = crate::analysis::report::analyse(
            &Extractor::new(Ignore::default()),
            &Default::default(),
            &m,
            &crate::analysis::budget::Budget::new(Default::default()),
        );
        assert_eq!(
            facts.classification.map(|c| (c.category, c.kind)),
            Some((
                crate::analysis::classify::Category::Intrusions,
                Some(crate::analysis::classify::IncidentType::SystemCompromise)
            ))
        );
    }

    #[test]
    fn hostile_or_foreign_xml_is_refused() {
        assert_eq!(parse_document("<html><body>hi</body></html>"), None);
        assert_eq!(parse_document("<IODEF-Document><Incident>"), None);
        let deep = format!(
            "<IODEF-Document>{}{}</IODEF-Document>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert_eq!(parse_document(&deep), None);
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><IODEF-Document><Incident><IncidentID>&b;</IncidentID></Incident></IODEF-Document>"#;
        let r = parse_document(laughs).unwrap();
        assert!(r.incident_ids.is_empty(), "DTD entities are not expanded");
    }
}

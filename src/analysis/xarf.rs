//! X-ARF: the legacy `X-XARF: PLAIN` mails (a YAML report part, v0.1/v0.2)
//! and X-ARF v4 JSON. Sent by blocklist.de, fail2ban feedback scripts and
//! many abuse desks.

use mail_parser::{Message, MimeHeaders, PartType};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct XarfReport {
    pub version: String,
    /// `Category` (v0.2) or `ReportClass` (v4), lower case.
    pub category: Option<String>,
    /// `Report-Type` (v0.2) or `ReportType` (v4), lower case.
    pub report_type: Option<String>,
    /// The offending address, host or URL (`Source` / `SourceIp`/`Source`).
    pub source: Option<String>,
    pub source_type: Option<String>,
    pub port: Option<u16>,
    pub date: Option<String>,
    pub reported_from: Option<String>,
    pub user_agent: Option<String>,
    /// Every field as written, for handlers and later rules.
    pub fields: BTreeMap<String, String>,
}

const MAX_FIELDS: usize = 200;
const MAX_REPORT: usize = 256 * 1024;

/// The report, when the message is X-ARF (header `X-XARF`, or a v4 JSON body).
pub fn parse(message: &Message<'_>) -> Option<XarfReport> {
    let marked = message.header_raw("X-XARF").is_some_and(|v| {
        matches!(
            v.trim().to_ascii_uppercase().as_str(),
            "PLAIN" | "SECURE" | "YES"
        )
    });
    for part in message.parts.iter().take(32) {
        let PartType::Text(text) = &part.body else {
            continue;
        };
        if text.len() > MAX_REPORT {
            continue;
        }
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            if let Some(r) = parse_v4(trimmed) {
                return Some(r);
            }
        }
        let named_report = part
            .attachment_name()
            .is_some_and(|n| n.eq_ignore_ascii_case("report.txt"))
            || part
                .content_type()
                .and_then(|ct| ct.attribute("name"))
                .is_some_and(|n| n.eq_ignore_ascii_case("report.txt"));
        if marked && (named_report || trimmed.starts_with("---")) {
            if let Some(r) = parse_yaml(trimmed) {
                return Some(r);
            }
        }
    }
    None
}

/// The flat `Key: value` YAML that X-ARF v0.1/v0.2 uses.
fn parse_yaml(text: &str) -> Option<XarfReport> {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line == "---" || line.starts_with('#') || line.starts_with([' ', '\t', '-']) {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().trim_matches(['"', '\'']);
        if k.trim().is_empty() || v.is_empty() {
            continue;
        }
        fields.insert(k.trim().to_string(), v.to_string());
        if fields.len() >= MAX_FIELDS {
            break;
        }
    }
    let get = |k: &str| {
        fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let r = XarfReport {
        version: get("Version").unwrap_or_default(),
        category: get("Category").map(|s| s.to_ascii_lowercase()),
        report_type: get("Report-Type").map(|s| s.to_ascii_lowercase()),
        source: get("Source"),
        source_type: get("Source-Type").map(|s| s.to_ascii_lowercase()),
        port: get("Port").and_then(|p| p.parse().ok()),
        date: get("Date"),
        reported_from: get("Reported-From"),
        user_agent: get("User-Agent"),
        fields: fields.clone(),
    };
    (r.source.is_some() || r.report_type.is_some()).then_some(r)
}

/// X-ARF v4: `{"Version": "4", "ReporterInfo": {...}, "Report": {...}}`.
fn parse_v4(text: &str) -> Option<XarfReport> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let version = match &v["Version"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let report = v.get("Report")?;
    let s =
        |obj: &serde_json::Value, k: &str| obj.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let mut fields = BTreeMap::new();
    for (section, obj) in [("ReporterInfo", &v["ReporterInfo"]), ("Report", report)] {
        if let Some(map) = obj.as_object() {
            for (k, val) in map.iter().take(MAX_FIELDS) {
                let text = val
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| val.to_string());
                fields.insert(format!("{section}.{k}"), text);
            }
        }
    }
    Some(XarfReport {
        version,
        category: s(report, "ReportClass").map(|x| x.to_ascii_lowercase()),
        report_type: s(report, "ReportType").map(|x| x.to_ascii_lowercase()),
        source: s(report, "SourceIp")
            .or_else(|| s(report, "Source"))
            .or_else(|| s(report, "Url")),
        source_type: s(report, "SourceType").map(|x| x.to_ascii_lowercase()),
        port: report
            .get("SourcePort")
            .and_then(|p| {
                p.as_u64()
                    .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            })
            .and_then(|p| u16::try_from(p).ok()),
        date: s(report, "Date"),
        reported_from: s(&v["ReporterInfo"], "ReporterOrgEmail")
            .or_else(|| s(&v["ReporterInfo"], "ReporterContactEmail")),
        user_agent: s(&v["ReporterInfo"], "ReporterOrg"),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(raw: &str) -> Option<XarfReport> {
        let m = mail_parser::MessageParser::default().parse(raw.as_bytes())?;
        parse(&m)
    }

    #[test]
    fn legacy_plain_report() {
        let raw = "From: a@blocklist.example\r\nSubject: abuse report\r\nX-XARF: PLAIN\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nHello Abuse-Team\r\n\
--B\r\nContent-Type: text/plain; charset=utf-8; name=\"report.txt\"\r\n\r\n---\r\nReported-From: abuse-team@blocklist.example\r\nCategory: abuse\r\nReport-Type: login-attack\r\nVersion: 0.2\r\nDate: Fri, 31 Jan 2014 07:19:02 +0100\r\nSource-Type: ip-address\r\nSource: 192.0.2.150\r\nPort: 22\r\n\r\n--B--\r\n";
        let r = msg(raw).expect("X-ARF");
        assert_eq!(r.version, "0.2");
        assert_eq!(r.category.as_deref(), Some("abuse"));
        assert_eq!(r.report_type.as_deref(), Some("login-attack"));
        assert_eq!(r.source.as_deref(), Some("192.0.2.150"));
        assert_eq!(r.port, Some(22));
        assert_eq!(
            r.fields.get("Reported-From").map(String::as_str),
            Some("abuse-team@blocklist.example")
        );
    }

    #[test]
    fn v4_json_report() {
        let raw = "From: a@x.example\r\nSubject: x\r\nContent-Type: application/json\r\n\r\n";
        assert!(msg(raw).is_none(), "no text part");
        let json = r#"{"Version":"4","ReporterInfo":{"ReporterOrg":"ExampleOrg","ReporterOrgEmail":"reports@example.org"},"Disclosure":true,"Report":{"ReportClass":"Activity","ReportType":"LoginAttack","Date":"2018-02-05T14:17:10Z","SourceIp":"192.0.2.55","SourcePort":52222,"Service":"ssh"}}"#;
        let raw = format!(
            "From: a@x.example\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n{json}\r\n"
        );
        let r = msg(&raw).expect("X-ARF v4");
        assert_eq!(r.version, "4");
        assert_eq!(r.category.as_deref(), Some("activity"));
        assert_eq!(r.report_type.as_deref(), Some("loginattack"));
        assert_eq!(r.source.as_deref(), Some("192.0.2.55"));
        assert_eq!(r.port, Some(52222));
        assert_eq!(r.reported_from.as_deref(), Some("reports@example.org"));
    }

    #[test]
    fn unmarked_yaml_looking_text_is_not_xarf() {
        let raw = "From: a@x.example\r\nSubject: x\r\n\r\n---\r\nSource: 192.0.2.1\r\n";
        assert!(msg(raw).is_none());
    }
}

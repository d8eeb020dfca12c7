//! Abuse Reporting Format (RFC 5965): the machine-readable part of a
//! feedback report. Mailbox providers send these by the thousand; the fields
//! say who sent what from where, so nobody has to read the prose.

use mail_parser::{Message, MimeHeaders, PartType};
use std::net::IpAddr;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArfReport {
    /// abuse, fraud, virus, other, not-spam, auth-failure (lower case).
    pub feedback_type: String,
    pub user_agent: Option<String>,
    pub version: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub reported_domains: Vec<String>,
    pub reported_uris: Vec<String>,
    pub arrival_date: Option<String>,
    pub original_mail_from: Option<String>,
    pub original_rcpt_to: Vec<String>,
    pub reporting_mta: Option<String>,
    pub incidents: Option<u32>,
    /// Whether the reported message (or its headers) came along as evidence.
    pub has_original: bool,
}

/// Fields read from one feedback part; the rest of a hostile report is ignored.
const MAX_FIELDS: usize = 200;

/// The report, when `message` is a `multipart/report; report-type=feedback-report`
/// with a `message/feedback-report` part.
pub fn parse(message: &Message<'_>) -> Option<ArfReport> {
    let ct = message.content_type()?;
    let is_report = ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && ct
            .attribute("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("feedback-report"));
    if !is_report {
        return None;
    }
    let mut report: Option<ArfReport> = None;
    let mut has_original = false;
    for part in message.parts.iter().skip(1).take(32) {
        let Some(pct) = part.content_type() else {
            continue;
        };
        let sub = pct.subtype().unwrap_or("").to_ascii_lowercase();
        match (pct.ctype().to_ascii_lowercase().as_str(), sub.as_str()) {
            ("message", "feedback-report") if report.is_none() => {
                let text = match &part.body {
                    PartType::Message(m) => String::from_utf8_lossy(m.raw_message()).into_owned(),
                    _ => String::from_utf8_lossy(part.contents()).into_owned(),
                };
                report = Some(fields(&text));
            }
            ("message", "rfc822") | ("text", "rfc822-headers") | ("message", "rfc822-headers") => {
                has_original = true
            }
            _ => {}
        }
        if matches!(part.body, PartType::Message(_)) && sub != "feedback-report" {
            has_original = true;
        }
    }
    let mut r = report?;
    r.has_original = has_original;
    Some(r)
}

fn fields(text: &str) -> ArfReport {
    let mut r = ArfReport::default();
    let mut unfolded: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = unfolded.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else if !line.trim().is_empty() {
            unfolded.push(line.trim_end().to_string());
        }
        if unfolded.len() > MAX_FIELDS {
            break;
        }
    }
    for line in unfolded {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match name.trim().to_ascii_lowercase().as_str() {
            "feedback-type" => r.feedback_type = value.to_ascii_lowercase(),
            "user-agent" => r.user_agent = Some(value.to_string()),
            "version" => r.version = Some(value.to_string()),
            // Often followed by a comment: "192.0.2.1 (mx.example.net)".
            "source-ip" => {
                let addr = value.split([' ', '(']).next().unwrap_or("");
                r.source_ip = addr.trim_matches(['[', ']']).parse().ok();
            }
            "reported-domain" => r.reported_domains.push(value.to_ascii_lowercase()),
            "reported-uri" => r
                .reported_uris
                .push(value.trim_matches(['<', '>']).to_string()),
            "arrival-date" | "received-date" => r.arrival_date = Some(value.to_string()),
            "original-mail-from" => {
                r.original_mail_from = Some(value.trim_matches(['<', '>']).to_ascii_lowercase())
            }
            "original-rcpt-to" => r
                .original_rcpt_to
                .push(value.trim_matches(['<', '>']).to_ascii_lowercase()),
            "reporting-mta" => r.reporting_mta = Some(value.to_string()),
            "incidents" => r.incidents = value.parse().ok(),
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "From: <abuse@provider.example>\r\nTo: <abuse@cert.example>\r\nSubject: FW: Earn money\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report;\r\n boundary=\"part1\"\r\n\r\n\
--part1\r\nContent-Type: text/plain; charset=\"US-ASCII\"\r\n\r\nThis is an email abuse report.\r\n\r\n\
--part1\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: Abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n\
Original-Mail-From: <somespammer@example.net>\r\nOriginal-Rcpt-To: <user@example.com>\r\nArrival-Date: Thu, 8 Mar 2005 14:00:00 EDT\r\n\
Reporting-MTA: dns; mail.example.com\r\nSource-IP: 192.0.2.1\r\nAuthentication-Results: mail.example.com;\r\n  spf=fail smtp.mail=somespammer@example.com\r\n\
Reported-Domain: Example.NET\r\nReported-URI: http://example.net/earn_money.html\r\nReported-URI: mailto:user@example.com\r\n\r\n\
--part1\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\nFrom: <somespammer@example.net>\r\nReceived: from mailserver.example.net (mailserver.example.net [192.0.2.1]) by example.com\r\nSubject: Earn money\r\nTo: <Undisclosed Recipients>\r\nMessage-ID: <8787KJKJ3K4J3K4J3K4J3.mail@example.net>\r\n\r\nSpam Spam Spam\r\n\r\n--part1--\r\n";

    #[test]
    fn the_rfc_example_yields_its_fields() {
        let m = mail_parser::MessageParser::default()
            .parse(REPORT.as_bytes())
            .unwrap();
        let r = parse(&m).expect("an ARF report");
        assert_eq!(r.feedback_type, "abuse");
        assert_eq!(r.user_agent.as_deref(), Some("SomeGenerator/1.0"));
        assert_eq!(r.source_ip, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(r.reported_domains, vec!["example.net"]);
        assert_eq!(
            r.reported_uris,
            vec![
                "http://example.net/earn_money.html",
                "mailto:user@example.com"
            ]
        );
        assert_eq!(
            r.original_mail_from.as_deref(),
            Some("somespammer@example.net")
        );
        assert_eq!(r.original_rcpt_to, vec!["user@example.com"]);
        assert_eq!(
            r.arrival_date.as_deref(),
            Some("Thu, 8 Mar 2005 14:00:00 EDT")
        );
        assert!(r.has_original);
    }

    #[test]
    fn other_reports_are_not_arf() {
        let dsn = REPORT.replace("report-type=feedback-report", "report-type=delivery-status");
        let m = mail_parser::MessageParser::default()
            .parse(dsn.as_bytes())
            .unwrap();
        assert!(parse(&m).is_none());
        let plain = mail_parser::MessageParser::default()
            .parse(b"From: a@b.example\r\nSubject: x\r\n\r\nFeedback-Type: abuse\r\n")
            .unwrap();
        assert!(parse(&plain).is_none());
    }
}

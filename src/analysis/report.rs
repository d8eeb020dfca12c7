//! Everything analysis says about one parsed message: its indicators, its
//! RSIT classification, the constituencies it concerns and the rows of any
//! Shadowserver CSV. Pure: the pipeline decides what to do with it.

use super::acns::AcnsNotice;
use super::budget::{Budget, Over};
use super::classify::{self, Classification, Rules};
use super::constituency::{Constituencies, ConstituencyConfig};
use super::indicators::Ignore;
use super::indicators::{Extractor, Indicator};
use super::shadowserver::{self, ShadowReport};
use crate::config::ReportFormat;
use mail_parser::{Message, PartType};
use std::collections::HashSet;
use std::net::IpAddr;

/// The configured rules and constituencies, compiled once.
#[derive(Debug, Clone, Default)]
pub struct Analyser {
    pub rules: Rules,
    pub constituencies: Constituencies,
}

impl Analyser {
    /// From `[[analysis.rules]]` and `[[constituencies]]`.
    pub fn from_config(
        config: &crate::config::Config,
    ) -> Result<Analyser, crate::config::ConfigError> {
        Analyser::new(&config.analysis.rules, &config.constituencies).map_err(|(key, problem)| {
            crate::config::ConfigError::Invalid {
                file: config.source.clone(),
                key,
                problem,
            }
        })
    }

    /// Errors name the configuration key that is wrong.
    pub fn new(
        rules: &[classify::RuleConfig],
        constituencies: &[ConstituencyConfig],
    ) -> Result<Analyser, (String, String)> {
        Ok(Analyser {
            rules: Rules::compile(rules).map_err(|(i, e)| (format!("analysis.rules[{i}]"), e))?,
            constituencies: Constituencies::compile(constituencies)?,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub indicators: Vec<Indicator>,
    pub classification: Option<Classification>,
    /// Every constituency the indicators fall into, primary first.
    pub constituencies: Vec<String>,
    pub shadowserver: Vec<ShadowReport>,
    /// The rows' addresses that become indicators: not ignored, within
    /// the indicator budget.
    pub row_ips: HashSet<IpAddr>,
    /// The machine-report formats found; empty for a report by a person.
    pub formats: Vec<ReportFormat>,
    /// The strictest TLP label in the subject and the first lines.
    pub tlp: Option<crate::workflow::commands::Tlp>,
    /// The ACNS copyright notice the message carries, checked field by field.
    pub acns: Option<AcnsNotice>,
}

/// Text the classification rules read: the subject and the text parts.
const MAX_RULE_TEXT: usize = 64 * 1024;

pub fn analyse(
    extractor: &Extractor,
    analyser: &Analyser,
    m: &Message<'_>,
    budget: &super::budget::Budget,
) -> Facts {
    // Each machine-readable report parsed once, for the indicators and
    // for the formats and classification below.
    let reports = super::text::Structured::parse(m);
    let indicators = super::text::from_message_with(extractor, m, &reports);
    let super::text::Structured {
        arf,
        xarf,
        iodef,
        acns,
    } = reports;
    let shadowserver = shadowserver::parse_within(m, budget);
    let mut formats = Vec::new();
    if arf.is_some() {
        formats.push(ReportFormat::Arf);
    }
    if xarf.is_some() {
        formats.push(ReportFormat::Xarf);
    }
    if iodef.is_some() {
        formats.push(ReportFormat::Iodef);
    }
    if acns.is_some() {
        formats.push(ReportFormat::Acns);
    }
    if !shadowserver.is_empty() {
        formats.push(ReportFormat::Shadowserver);
    }
    let structured = arf
        .and_then(|r| classify::from_arf(&r.feedback_type))
        .or_else(|| {
            xarf.and_then(|r| classify::from_xarf(r.category.as_deref(), r.report_type.as_deref()))
        })
        .or_else(|| {
            shadowserver
                .first()
                .map(|r| classify::from_shadowserver(&r.report_type))
        })
        .or_else(|| iodef.and_then(|r| r.impacts.iter().find_map(|i| classify::from_iodef(i))))
        .or_else(|| acns.as_ref().map(|_| classify::from_acns()));
    let classification = structured.or_else(|| analyser.rules.classify(&rule_text(m)));
    Facts {
        indicators,
        classification,
        constituencies: Vec::new(),
        shadowserver,
        row_ips: HashSet::new(),
        formats,
        tlp: super::tlp::strictest(
            m.subject().unwrap_or_default(),
            &m.body_text(0).unwrap_or_default(),
            None,
        ),
        acns,
    }
}

/// The distinct addresses of machine-report rows that become indicators:
/// `[analysis] ignore` applies as it does to text, and at most `room` of
/// them (what the indicator budget leaves after the text's).
pub fn row_addresses(
    reports: &[ShadowReport],
    ignore: &Ignore,
    room: usize,
    budget: &Budget,
) -> HashSet<IpAddr> {
    let mut out = HashSet::new();
    for ip in reports
        .iter()
        .flat_map(|r| r.rows.iter().filter_map(|row| row.ip))
    {
        if out.contains(&ip) || ignore.ip(ip) {
            continue;
        }
        if out.len() >= room {
            budget.exceed(Over::Indicators);
            break;
        }
        out.insert(ip);
    }
    out
}

fn rule_text(m: &Message<'_>) -> String {
    let mut text = m.subject().unwrap_or_default().to_string();
    for part in m.parts.iter().take(16) {
        if text.len() >= MAX_RULE_TEXT {
            break;
        }
        if let PartType::Text(t) = &part.body {
            text.push('\n');
            let room = MAX_RULE_TEXT - text.len().min(MAX_RULE_TEXT);
            let mut cut = t.len().min(room);
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            text.push_str(&t[..cut]);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::classify::{Category, ClassifiedBy, RuleConfig};
    use crate::analysis::indicators::Ignore;

    fn facts(raw: &[u8], rules: &[RuleConfig]) -> Facts {
        let m = mail_parser::MessageParser::default().parse(raw).unwrap();
        let a = Analyser::new(rules, &[]).unwrap();
        let budget = crate::analysis::budget::Budget::new(Default::default());
        analyse(&Extractor::new(Ignore::default()), &a, &m, &budget)
    }

    #[test]
    fn row_addresses_skip_the_ignored_and_stop_at_the_budget() {
        let report = shadowserver::parse_csv(
            "ip\n10.1.2.3\n192.0.2.1\n192.0.2.1\n192.0.2.2\n198.51.100.1\n",
        );
        let ignore = Ignore {
            domains: vec![],
            networks: vec![("10.0.0.0".parse().unwrap(), 8)],
        };
        let budget = Budget::new(Default::default());
        let all = row_addresses(std::slice::from_ref(&report), &ignore, 10, &budget);
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(!all.contains(&"10.1.2.3".parse::<IpAddr>().unwrap()));
        assert!(budget.exceeded().is_empty());
        let some = row_addresses(std::slice::from_ref(&report), &ignore, 2, &budget);
        assert_eq!(some.len(), 2);
        assert_eq!(budget.exceeded(), vec![Over::Indicators]);
    }

    #[test]
    fn arf_beats_rules_and_rules_apply_otherwise() {
        let rules = [RuleConfig {
            pattern: "phish".into(),
            category: "fraud/phishing".into(),
        }];
        let arf = b"From: a@isp.example\r\nSubject: phish\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"p\"\r\n\r\n--p\r\nContent-Type: text/plain\r\n\r\nx\r\n--p\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: X/1\r\nVersion: 1\r\nSource-IP: 192.0.2.1\r\n\r\n--p--\r\n";
        let f = facts(arf, &rules);
        let c = f.classification.unwrap();
        assert_eq!(
            (c.category, c.by),
            (Category::AbusiveContent, ClassifiedBy::Structured)
        );
        let plain = b"From: a@bank.example\r\nSubject: Phishing site\r\n\r\nSee hxxp://login-bank[.]com/\r\n";
        let c = facts(plain, &rules).classification.unwrap();
        assert_eq!((c.category, c.by), (Category::Fraud, ClassifiedBy::Rule));
        assert!(facts(b"Subject: hello\r\n\r\nhi\r\n", &rules)
            .classification
            .is_none());
    }
}

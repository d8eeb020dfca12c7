//! Everything analysis says about one parsed message: its indicators, its
//! RSIT classification, the constituencies it concerns and the rows of any
//! Shadowserver CSV. Pure: the pipeline decides what to do with it.

use super::classify::{self, Classification, Rules};
use super::constituency::{Constituencies, ConstituencyConfig};
use super::indicators::{Extractor, Indicator};
use super::shadowserver::{self, ShadowReport};
use mail_parser::{Message, PartType};

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
}

/// Text the classification rules read: the subject and the text parts.
const MAX_RULE_TEXT: usize = 64 * 1024;

pub fn analyse(extractor: &Extractor, analyser: &Analyser, m: &Message<'_>) -> Facts {
    let indicators = super::text::from_message(extractor, m);
    let shadowserver = shadowserver::parse(m);
    let structured = super::arf::parse(m)
        .and_then(|r| classify::from_arf(&r.feedback_type))
        .or_else(|| {
            super::xarf::parse(m)
                .and_then(|r| classify::from_xarf(r.category.as_deref(), r.report_type.as_deref()))
        })
        .or_else(|| {
            shadowserver
                .first()
                .map(|r| classify::from_shadowserver(&r.report_type))
        })
        .or_else(|| {
            super::iodef::parse(m)
                .and_then(|r| r.impacts.iter().find_map(|i| classify::from_iodef(i)))
        });
    let classification = structured.or_else(|| analyser.rules.classify(&rule_text(m)));
    Facts {
        indicators,
        classification,
        constituencies: Vec::new(),
        shadowserver,
    }
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
        analyse(&Extractor::new(Ignore::default()), &a, &m)
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

//! Classification by the Reference Security Incident Taxonomy (RSIT, the
//! ENISA / TF-CSIRT working group's taxonomy): a category and a type. Set
//! from the fields of machine-readable reports where they say what
//! happened, otherwise from the configured regex rules. Pure functions.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! taxonomy {
    ($( $cat:ident $cat_s:literal { $( $ty:ident $ty_s:literal ),+ $(,)? } )+) => {
        /// RSIT categories (the "classification taxonomy" column).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Category { $( #[serde(rename = $cat_s)] $cat, )+ }

        /// RSIT types; each belongs to exactly one category.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum IncidentType { $( $( #[serde(rename = $ty_s)] $ty, )+ )+ }

        impl Category {
            pub const ALL: &'static [Category] = &[ $( Category::$cat, )+ ];
            pub fn as_str(self) -> &'static str {
                match self { $( Category::$cat => $cat_s, )+ }
            }
        }

        impl IncidentType {
            pub fn as_str(self) -> &'static str {
                match self { $( $( IncidentType::$ty => $ty_s, )+ )+ }
            }
            pub fn category(self) -> Category {
                match self { $( $( IncidentType::$ty => Category::$cat, )+ )+ }
            }
            const ALL: &'static [IncidentType] = &[ $( $( IncidentType::$ty, )+ )+ ];
        }
    };
}

taxonomy! {
    AbusiveContent "abusive-content" { Spam "spam", HarmfulSpeech "harmful-speech", Violence "violence" }
    MaliciousCode "malicious-code" {
        InfectedSystem "infected-system", C2Server "c2-server",
        MalwareDistribution "malware-distribution", MalwareConfiguration "malware-configuration",
    }
    InformationGathering "information-gathering" {
        Scanner "scanner", Sniffing "sniffing", SocialEngineering "social-engineering",
    }
    IntrusionAttempts "intrusion-attempts" { IdsAlert "ids-alert", BruteForce "brute-force", Exploit "exploit" }
    Intrusions "intrusions" {
        PrivilegedAccountCompromise "privileged-account-compromise",
        UnprivilegedAccountCompromise "unprivileged-account-compromise",
        ApplicationCompromise "application-compromise", SystemCompromise "system-compromise",
        Burglary "burglary",
    }
    Availability "availability" {
        Dos "dos", Ddos "ddos", Misconfiguration "misconfiguration", Sabotage "sabotage", Outage "outage",
    }
    InformationContentSecurity "information-content-security" {
        UnauthorisedInformationAccess "unauthorised-information-access",
        UnauthorisedInformationModification "unauthorised-information-modification",
        DataLoss "data-loss", DataLeak "data-leak",
    }
    Fraud "fraud" {
        UnauthorisedUseOfResources "unauthorised-use-of-resources", Copyright "copyright",
        Masquerade "masquerade", Phishing "phishing",
    }
    Vulnerable "vulnerable" {
        WeakCrypto "weak-crypto", DdosAmplifier "ddos-amplifier",
        PotentiallyUnwantedAccessible "potentially-unwanted-accessible",
        InformationDisclosure "information-disclosure", VulnerableSystem "vulnerable-system",
    }
    Other "other" { Undetermined "undetermined", OtherType "other" }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for IncidentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What decided a classification; a handler's word beats a rule's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifiedBy {
    /// A field of a machine-readable report (ARF, X-ARF, Shadowserver, IODEF, ACNS).
    Structured,
    /// A configured `[[analysis.rules]]` pattern.
    Rule,
    /// A handler (`/category`, or the command line).
    Handler,
    /// The `category` of the Maildir or IMAP account the report came to.
    Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub category: Category,
    #[serde(rename = "type")]
    pub kind: Option<IncidentType>,
    pub by: ClassifiedBy,
}

impl Classification {
    fn structured(kind: IncidentType) -> Classification {
        Classification {
            category: kind.category(),
            kind: Some(kind),
            by: ClassifiedBy::Structured,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an RSIT category or category/type (e.g. fraud/phishing, vulnerable, malicious-code/c2-server)")]
pub struct BadCategory(pub String);

/// Parses `fraud`, `fraud/phishing` or a bare type such as `phishing`.
pub fn parse_category(s: &str) -> Result<(Category, Option<IncidentType>), BadCategory> {
    let bad = || BadCategory(s.to_string());
    let s = s.trim().to_ascii_lowercase();
    let find_type = |t: &str| IncidentType::ALL.iter().copied().find(|k| k.as_str() == t);
    match s.split_once('/') {
        Some((c, t)) => {
            let cat = Category::ALL
                .iter()
                .copied()
                .find(|k| k.as_str() == c)
                .ok_or_else(bad)?;
            let ty = find_type(t)
                .filter(|k| k.category() == cat)
                .ok_or_else(bad)?;
            Ok((cat, Some(ty)))
        }
        None => match Category::ALL.iter().copied().find(|k| k.as_str() == s) {
            Some(cat) => Ok((cat, None)),
            None => find_type(&s)
                .map(|t| (t.category(), Some(t)))
                .ok_or_else(bad),
        },
    }
}

/// ARF Feedback-Type (RFC 5965 §7.3) → RSIT.
pub fn from_arf(feedback_type: &str) -> Option<Classification> {
    let t = match feedback_type.to_ascii_lowercase().as_str() {
        "abuse" => IncidentType::Spam,
        "fraud" => IncidentType::Phishing,
        "virus" => IncidentType::MalwareDistribution,
        "auth-failure" => IncidentType::Masquerade,
        _ => return None,
    };
    Some(Classification::structured(t))
}

/// X-ARF Category / Report-Type (v0.2) or ReportClass / ReportType (v4) → RSIT.
pub fn from_xarf(category: Option<&str>, report_type: Option<&str>) -> Option<Classification> {
    let rt = report_type.unwrap_or("").to_ascii_lowercase();
    let by_type = match rt.as_str() {
        t if t.contains("phish") => Some(IncidentType::Phishing),
        t if t.contains("spam") => Some(IncidentType::Spam),
        t if t.contains("ddos") => Some(IncidentType::Ddos),
        t if t.contains("scan") => Some(IncidentType::Scanner),
        t if t.contains("login") || t.contains("brute") || t.contains("regbot") => {
            Some(IncidentType::BruteForce)
        }
        t if t.contains("malware") || t.contains("bot") => Some(IncidentType::InfectedSystem),
        t if t.contains("copyright") => Some(IncidentType::Copyright),
        _ => None,
    };
    if let Some(t) = by_type {
        return Some(Classification::structured(t));
    }
    let t = match category.unwrap_or("").to_ascii_lowercase().as_str() {
        "fraud" => IncidentType::Phishing,
        "abuse" => IncidentType::Undetermined,
        _ => return None,
    };
    Some(Classification::structured(t))
}

/// Shadowserver report types (the file-name stem, e.g. `scan_ntp`) → RSIT.
pub fn from_shadowserver(report_type: &str) -> Classification {
    let t = report_type.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    let kind = if has(&["sinkhole", "drone", "botnet", "infected", "malware"]) {
        IncidentType::InfectedSystem
    } else if has(&["c2", "cc_"]) {
        IncidentType::C2Server
    } else if has(&["compromised", "defacement"]) {
        IncidentType::SystemCompromise
    } else if has(&["honeypot", "darknet", "brute"]) {
        IncidentType::Scanner
    } else if has(&["poodle", "freak", "ssl", "tls", "crypto"]) {
        IncidentType::WeakCrypto
    } else if has(&[
        "ntp",
        "openresolver",
        "scan_dns",
        "ssdp",
        "snmp",
        "chargen",
        "qotd",
        "portmapper",
        "memcached",
        "netbios",
        "mdns",
        "ubiquiti",
        "cldap",
        "ldap_udp",
        "tftp",
        "xdmcp",
    ]) {
        IncidentType::DdosAmplifier
    } else if has(&[
        "redis",
        "mongodb",
        "elasticsearch",
        "ipmi",
        "rsync",
        "afp",
        "ldap",
        "nat_pmp",
        "mssql",
        "mysql",
        "telnet",
        "rdp",
        "vnc",
        "smb",
        "ftp",
        "docker",
        "couchdb",
    ]) {
        IncidentType::PotentiallyUnwantedAccessible
    } else {
        IncidentType::VulnerableSystem
    };
    Classification::structured(kind)
}

/// IODEF impact types (RFC 7970 §3.12.1 SystemImpact, RFC 5070 Impact) → RSIT.
pub fn from_iodef(impact: &str) -> Option<Classification> {
    let t = match impact {
        "dos" => IncidentType::Dos,
        "admin" | "takeover-account" => IncidentType::PrivilegedAccountCompromise,
        "user" => IncidentType::UnprivilegedAccountCompromise,
        "takeover-service" => IncidentType::ApplicationCompromise,
        "takeover-system" | "breach-system" | "compromised-system" => {
            IncidentType::SystemCompromise
        }
        "recon" => IncidentType::Scanner,
        "file" | "breach-privacy" | "breach-proprietary" => IncidentType::DataLeak,
        "social-engineering" => IncidentType::SocialEngineering,
        "ext-value" | "phishing" => IncidentType::Phishing,
        "failed-admin" | "failed-user" | "failed-attempt" => IncidentType::Exploit,
        "vulnerable-system" | "vulnerable-service" => IncidentType::VulnerableSystem,
        "malware" | "infected-system" => IncidentType::InfectedSystem,
        _ => return None,
    };
    Some(Classification::structured(t))
}

/// An ACNS notice is a copyright complaint whatever it carries.
pub fn from_acns() -> Classification {
    Classification::structured(IncidentType::Copyright)
}

/// One configured rule: subject and body text matching `pattern` is of this
/// category.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// A regular expression, case-insensitive.
    pub pattern: String,
    /// `fraud/phishing`, `vulnerable` or a bare type.
    pub category: String,
}

#[derive(Debug, Clone)]
struct Rule {
    re: Regex,
    category: Category,
    kind: Option<IncidentType>,
}

/// The compiled `[[analysis.rules]]`, tried in order; the first match wins.
#[derive(Debug, Clone, Default)]
pub struct Rules(Vec<Rule>);

/// Text per rule match; a rule must not scan a megabyte attachment.
const MAX_RULE_TEXT: usize = 64 * 1024;

impl Rules {
    /// Compiles the rules; the error names the rule (index) that is wrong.
    pub fn compile(rules: &[RuleConfig]) -> Result<Rules, (usize, String)> {
        let mut out = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let re = regex::RegexBuilder::new(&r.pattern)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| (i, e.to_string()))?;
            let (category, kind) = parse_category(&r.category).map_err(|e| (i, e.to_string()))?;
            out.push(Rule { re, category, kind });
        }
        Ok(Rules(out))
    }

    pub fn classify(&self, text: &str) -> Option<Classification> {
        let mut cut = text.len().min(MAX_RULE_TEXT);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = &text[..cut];
        self.0
            .iter()
            .find(|r| r.re.is_match(text))
            .map(|r| Classification {
                category: r.category,
                kind: r.kind,
                by: ClassifiedBy::Rule,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_and_types_parse_and_print() {
        assert_eq!(
            parse_category("Fraud/Phishing"),
            Ok((Category::Fraud, Some(IncidentType::Phishing)))
        );
        assert_eq!(
            parse_category("vulnerable"),
            Ok((Category::Vulnerable, None))
        );
        assert_eq!(
            parse_category("c2-server"),
            Ok((Category::MaliciousCode, Some(IncidentType::C2Server)))
        );
        assert!(
            parse_category("fraud/spam").is_err(),
            "type of another category"
        );
        assert!(parse_category("nonsense").is_err());
        assert_eq!(IncidentType::DdosAmplifier.category(), Category::Vulnerable);
        assert_eq!(
            serde_json::to_string(&Category::InformationContentSecurity).unwrap(),
            "\"information-content-security\""
        );
    }

    #[test]
    fn structured_fields_map_to_rsit() {
        let c = from_arf("abuse").unwrap();
        assert_eq!(
            (c.category, c.kind),
            (Category::AbusiveContent, Some(IncidentType::Spam))
        );
        assert_eq!(from_arf("not-spam"), None);
        let c = from_xarf(Some("abuse"), Some("login-attack")).unwrap();
        assert_eq!(c.kind, Some(IncidentType::BruteForce));
        let c = from_xarf(Some("fraud"), Some("phishing")).unwrap();
        assert_eq!(c.category, Category::Fraud);
        assert_eq!(
            from_shadowserver("scan_ntp").kind,
            Some(IncidentType::DdosAmplifier)
        );
        assert_eq!(
            from_shadowserver("scan_redis").kind,
            Some(IncidentType::PotentiallyUnwantedAccessible)
        );
        assert_eq!(
            from_shadowserver("sinkhole_http_drone").category,
            Category::MaliciousCode
        );
        assert_eq!(
            from_shadowserver("scan_http").category,
            Category::Vulnerable
        );
        assert_eq!(
            from_iodef("takeover-system").map(|c| c.category),
            Some(Category::Intrusions)
        );
        assert_eq!(from_iodef("unknown"), None);
        assert_eq!(
            (from_acns().category, from_acns().kind),
            (Category::Fraud, Some(IncidentType::Copyright))
        );
    }

    #[test]
    fn rules_match_in_order_and_bad_rules_are_named() {
        let rules = Rules::compile(&[
            RuleConfig {
                pattern: r"\bphish".into(),
                category: "fraud/phishing".into(),
            },
            RuleConfig {
                pattern: "ddos".into(),
                category: "availability/ddos".into(),
            },
        ])
        .unwrap();
        let c = rules
            .classify("Re: PHISHING site at bank-login.example")
            .unwrap();
        assert_eq!((c.category, c.by), (Category::Fraud, ClassifiedBy::Rule));
        assert_eq!(rules.classify("hello"), None);
        let err = Rules::compile(&[
            RuleConfig {
                pattern: "ok".into(),
                category: "fraud".into(),
            },
            RuleConfig {
                pattern: "(".into(),
                category: "fraud".into(),
            },
        ])
        .unwrap_err();
        assert_eq!(err.0, 1);
        assert!(Rules::compile(&[RuleConfig {
            pattern: "x".into(),
            category: "bogus".into()
        }])
        .is_err());
    }
}

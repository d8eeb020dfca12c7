//! `[intake.maildir]`, or `[[intake.maildir]]` for several, and the ticket
//! defaults (label, constituency, category) that every source may carry:
//! a team that routes `phishing@` and `abuse@` into different mailboxes
//! has its tickets sorted from the start.

use super::{Config, ConfigError};
use crate::intake::Origin;
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaildirConfig {
    /// Required when several Maildirs are watched; carried in the
    /// messages' origin (`maildir:NAME/...`).
    pub name: Option<String>,
    pub path: PathBuf,
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// Create `new/`, `cur/` and `tmp/` when missing.
    #[serde(default = "yes")]
    pub create: bool,
    /// Defaults for the tickets this Maildir's messages open.
    pub label: Option<String>,
    pub constituency: Option<String>,
    pub category: Option<String>,
}

fn default_poll_ms() -> u64 {
    250
}
pub(crate) fn yes() -> bool {
    true
}

impl MaildirConfig {
    pub fn defaults(&self) -> SourceDefaults {
        SourceDefaults {
            label: self.label.clone(),
            constituency: self.constituency.clone(),
            category: self.category.clone(),
        }
    }
}

/// What a source says about the tickets its messages open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceDefaults {
    pub label: Option<String>,
    pub constituency: Option<String>,
    /// An RSIT category or `category/type`, checked at load.
    pub category: Option<String>,
}

impl SourceDefaults {
    pub fn is_empty(&self) -> bool {
        self.label.is_none() && self.constituency.is_none() && self.category.is_none()
    }
}

/// `[intake.maildir]` as one table (the form from before there could be
/// several) or as an array of tables.
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MaildirConfig>, D::Error> {
    let value = toml::Value::deserialize(d)?;
    match value {
        toml::Value::Array(_) => {
            Vec::<MaildirConfig>::deserialize(value).map_err(serde::de::Error::custom)
        }
        other => MaildirConfig::deserialize(other)
            .map(|m| vec![m])
            .map_err(serde::de::Error::custom),
    }
}

/// A source or label name: short, plain, safe in logs and origins.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Config {
    /// The ticket defaults of the source a message came from.
    pub fn source_defaults(&self, origin: &Origin) -> SourceDefaults {
        let maildirs = &self.intake.maildir;
        let found = match origin {
            Origin::Maildir {
                source: Some(name), ..
            } => maildirs
                .iter()
                .find(|m| m.name.as_deref() == Some(name.as_str()))
                .map(MaildirConfig::defaults),
            // An unnamed Maildir is the only one.
            Origin::Maildir { source: None, .. } => maildirs
                .first()
                .filter(|_| maildirs.len() == 1)
                .map(MaildirConfig::defaults),
            Origin::Imap { account, .. } => self
                .intake
                .imap
                .iter()
                .find(|a| &a.name == account)
                .map(super::ImapConfig::defaults),
            Origin::File(_) | Origin::Stdin => None,
        };
        found.unwrap_or_default()
    }

    pub(super) fn validate_maildirs(&self) -> Result<(), ConfigError> {
        let several = self.intake.maildir.len() > 1;
        let mut names = std::collections::HashSet::new();
        for (i, m) in self.intake.maildir.iter().enumerate() {
            let key = |k: &str| {
                if several {
                    format!("intake.maildir[{i}].{k}")
                } else {
                    format!("intake.maildir.{k}")
                }
            };
            match &m.name {
                None if several => {
                    return Err(self.invalid(
                        &key("name"),
                        "is required when several Maildirs are watched (e.g. name = \"abuse\")",
                    ))
                }
                Some(n) if !plain_name(n) => {
                    return Err(self.invalid(
                        &key("name"),
                        format!("`{n}` must be 1-64 letters, digits, '-', '_' or '.'"),
                    ))
                }
                Some(n) if !names.insert(n.clone()) => {
                    return Err(self.invalid(&key("name"), format!("`{n}` names two Maildirs")))
                }
                _ => {}
            }
            if m.poll_interval_ms == 0 {
                return Err(self.invalid(&key("poll_interval_ms"), "must be at least 1"));
            }
            self.validate_defaults(&m.defaults(), &key)?;
        }
        Ok(())
    }

    /// A source's `label`, `constituency` and `category`.
    pub(super) fn validate_defaults(
        &self,
        defaults: &SourceDefaults,
        key: &dyn Fn(&str) -> String,
    ) -> Result<(), ConfigError> {
        let SourceDefaults {
            label,
            constituency,
            category,
        } = defaults;
        if let Some(l) = label {
            if !plain_name(l.trim()) {
                return Err(self.invalid(
                    &key("label"),
                    format!("`{l}` must be 1-64 letters, digits, '-', '_' or '.'"),
                ));
            }
        }
        if let Some(c) = constituency {
            if !self
                .constituencies
                .iter()
                .any(|k| k.name.trim() == c.trim())
            {
                let known: Vec<&str> = self.constituencies.iter().map(|k| k.name.trim()).collect();
                return Err(self.invalid(
                    &key("constituency"),
                    format!(
                        "`{c}` is not a [[constituencies]] name (configured: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        if let Some(c) = category {
            if let Err(e) = crate::analysis::classify::parse_category(c) {
                return Err(self.invalid(&key("category"), e));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIVERSITY: &str =
        "[[constituencies]]\nname = \"university\"\nnetworks = [\"192.0.2.0/24\"]\n";

    fn load(extra: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p"), "secret\n").unwrap();
        Config::from_toml(
            &format!("{}{UNIVERSITY}{extra}", crate::config::TEST_BASE),
            &dir.path().join("csirtd.toml"),
        )
    }

    #[test]
    fn one_table_or_several_and_each_source_has_its_defaults() {
        let one = load("[intake.maildir]\npath = \"md\"\ncategory = \"vulnerable\"\n").unwrap();
        assert_eq!(one.intake.maildir.len(), 1);
        let origin = Origin::Maildir {
            name: "1.a.host".into(),
            source: None,
        };
        assert_eq!(
            one.source_defaults(&origin).category.as_deref(),
            Some("vulnerable")
        );
        let many = load(
            "[[intake.maildir]]\nname = \"abuse\"\npath = \"a\"\nlabel = \"abuse-desk\"\n\
             [[intake.maildir]]\nname = \"cert\"\npath = \"c\"\n\
             [[intake.imap]]\nname = \"phish\"\nhost = \"imap.example\"\nuser = \"u\"\n\
             password_file = \"p\"\nconstituency = \"university\"\ncategory = \"fraud/phishing\"\n",
        )
        .unwrap();
        assert_eq!(many.intake.maildir.len(), 2);
        let abuse = Origin::Maildir {
            name: "1.a.host".into(),
            source: Some("abuse".into()),
        };
        assert_eq!(
            many.source_defaults(&abuse).label.as_deref(),
            Some("abuse-desk")
        );
        let cert = Origin::Maildir {
            name: "1.a.host".into(),
            source: Some("cert".into()),
        };
        assert!(many.source_defaults(&cert).is_empty());
        let imap = Origin::Imap {
            account: "phish".into(),
            folder: "INBOX".into(),
            uidvalidity: 1,
            uid: 1,
        };
        let d = many.source_defaults(&imap);
        assert_eq!(d.constituency.as_deref(), Some("university"));
        assert_eq!(d.category.as_deref(), Some("fraud/phishing"));
        assert!(many.source_defaults(&Origin::Stdin).is_empty());
    }

    #[test]
    fn bad_sources_are_refused_by_key() {
        let key_of = |extra: &str| match load(extra) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{extra}: {other:?}"),
        };
        assert_eq!(
            key_of("[[intake.maildir]]\npath = \"a\"\n[[intake.maildir]]\nname = \"b\"\npath = \"b\"\n"),
            "intake.maildir[0].name"
        );
        assert_eq!(
            key_of("[[intake.maildir]]\nname = \"a\"\npath = \"a\"\n[[intake.maildir]]\nname = \"a\"\npath = \"b\"\n"),
            "intake.maildir[1].name"
        );
        assert_eq!(
            key_of("[intake.maildir]\npath = \"a\"\nconstituency = \"hospital\"\n"),
            "intake.maildir.constituency"
        );
        assert_eq!(
            key_of("[intake.maildir]\npath = \"a\"\ncategory = \"spam-ish\"\n"),
            "intake.maildir.category"
        );
        assert_eq!(
            key_of("[intake.maildir]\npath = \"a\"\nlabel = \"a b\"\n"),
            "intake.maildir.label"
        );
    }
}

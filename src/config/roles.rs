//! Who works on tickets and who receives advisories: `[[handlers]]`,
//! `[handling]` (the correspond and comment addresses, how strictly a
//! handler's mail is checked) and `[[lists]]`. Kept out of `config.rs` so
//! that the sections of other issues stay easy to merge.

use super::{looks_like_address, Config, ConfigError, EncryptPolicy};
use crate::workflow::commands::Tlp;
use serde::Deserialize;

/// One incident handler. Their mail counts as a handler's only with a
/// `good` signature by `fingerprint` (see [`HandlerSignature`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerConfig {
    pub name: String,
    pub email: String,
    /// The primary key fingerprint, hex; spaces are allowed. The
    /// certificate must be in the keyring.
    pub fingerprint: String,
    /// The Unix login whose `csirtd ticket` commands act as this handler
    /// when no `--as` names one.
    #[serde(default)]
    pub unix_user: Option<String>,
}

impl HandlerConfig {
    /// Upper-case hex without spaces, as verdicts record signers.
    pub fn fingerprint_hex(&self) -> String {
        normalize_fingerprint(&self.fingerprint)
    }
}

pub fn normalize_fingerprint(f: &str) -> String {
    f.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .trim_start_matches("0x")
        .to_ascii_uppercase()
}

/// Whether a mail claiming a handler's address must prove it. Only
/// `required` is accepted: `optional` (relaying on the From address
/// alone) put the team's signature under anyone's words, and is refused
/// with an error that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandlerSignature {
    /// No relay, no command without a good signature by the handler's key.
    #[default]
    Required,
    /// Removed; kept only to name it in the error.
    Optional,
}

/// `handling.max_signature_age` when unset.
pub const DEFAULT_MAX_SIGNATURE_AGE: std::time::Duration =
    std::time::Duration::from_secs(7 * 86_400);

/// A duration written as `7d`, `36h`, `90m`, `600s` or plain seconds.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (s.get(..i)?, s.get(i..)?.trim()),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlingConfig {
    /// Internal notes: `cert-comment@cert.example`, or `+comment` for a
    /// subaddress of `team.address`. Read by the same intake.
    pub comment_address: Option<String>,
    /// Handlers' signed mail to this address sends an advisory.
    pub advisory_address: Option<String>,
    /// A team list that gets one notification instead of each handler.
    pub notify_address: Option<String>,
    #[serde(default)]
    pub handler_signature: HandlerSignature,
    /// How old a handler's signature may be and still relay or command:
    /// `7d`, `36h`, `90m`, `600s`. Default 7 days.
    pub max_signature_age: Option<String>,
    /// Notifications encrypted to each handler's key.
    #[serde(default)]
    pub encrypt_to_handlers: bool,
}

/// The precedence a list's copies carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precedence {
    #[default]
    List,
    Bulk,
}

impl Precedence {
    pub fn as_str(self) -> &'static str {
        match self {
            Precedence::List => "list",
            Precedence::Bulk => "bulk",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    pub email: String,
    /// The member's certificate; else the keyring is searched by address.
    pub fingerprint: Option<String>,
}

/// `[[lists]]`: where advisories go. Either `address` (a Mailman or Sympa
/// list that fans out itself) or `members` (one copy each, through the outbox).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListConfig {
    pub name: String,
    pub address: Option<String>,
    #[serde(default)]
    pub members: Vec<MemberConfig>,
    /// The most restricted TLP label this list may receive.
    pub max_tlp: Tlp,
    #[serde(default)]
    pub encrypt: EncryptPolicy,
    /// Inline cleartext signature instead of PGP/MIME: survives a footer
    /// that Mailman appends.
    #[serde(default)]
    pub clearsign: bool,
    #[serde(default)]
    pub precedence: Precedence,
    /// `List-Unsubscribe: <mailto:…>` when set.
    pub unsubscribe: Option<String>,
    /// Members who get the same bytes (signed, not encrypted: no key, or
    /// a notice) share one copy, sent to up to this many of them in one
    /// SMTP transaction (Bcc: the To header names the list). 1 sends
    /// each member a copy of their own, addressed to them.
    #[serde(default = "default_recipients_per_copy")]
    pub recipients_per_copy: usize,
}

/// RFC 5321 §4.5.3.1.8: every server takes at least 100 recipients.
pub const DEFAULT_RECIPIENTS_PER_COPY: usize = 100;
/// Postfix's default `smtpd_recipient_limit`.
pub const MAX_RECIPIENTS_PER_COPY: usize = 1000;

fn default_recipients_per_copy() -> usize {
    DEFAULT_RECIPIENTS_PER_COPY
}

impl ListConfig {
    /// The `List-Id` value: `<name.team-domain>`.
    pub fn list_id(&self, domain: &str) -> String {
        format!("<{}.{domain}>", self.name)
    }
}

impl HandlingConfig {
    /// `max_signature_age`, validated by `Config::validate_roles`.
    pub fn max_signature_age(&self) -> std::time::Duration {
        self.max_signature_age
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(DEFAULT_MAX_SIGNATURE_AGE)
    }

    /// The comment address, with `+comment` expanded against the team address.
    pub fn comment_address(&self, team_address: &str) -> Option<String> {
        let c = self.comment_address.as_deref()?.trim();
        if let Some(sub) = c.strip_prefix('+') {
            let (local, domain) = team_address.rsplit_once('@')?;
            return Some(crate::model::normalize_address(&format!(
                "{local}+{sub}@{domain}"
            )));
        }
        Some(crate::model::normalize_address(c))
    }
}

impl Config {
    /// The handler whose address this is.
    pub fn handler_by_email(&self, email: &str) -> Option<&HandlerConfig> {
        self.handlers
            .iter()
            .find(|h| h.email.eq_ignore_ascii_case(email))
    }

    pub fn list(&self, name: &str) -> Option<&ListConfig> {
        self.lists.iter().find(|l| l.name == name)
    }

    /// `check-config` lines for handlers and lists.
    pub(super) fn roles_summary(&self, s: &mut String) {
        use std::fmt::Write;
        for h in &self.handlers {
            let _ = writeln!(
                s,
                "  handler   {} <{}> key 0x{}",
                h.name,
                h.email,
                h.fingerprint_hex()
            );
        }
        if !self.handlers.is_empty() {
            let _ = writeln!(
                s,
                "  handling  signatures up to {}s old, comment {}, advisories {}, encrypt to handlers {}",
                self.handling.max_signature_age().as_secs(),
                self.handling
                    .comment_address(&self.team.address)
                    .unwrap_or_else(|| "-".into()),
                self.handling.advisory_address.as_deref().unwrap_or("-"),
                self.handling.encrypt_to_handlers
            );
        }
        for l in &self.lists {
            let to = match &l.address {
                Some(a) => a.clone(),
                None => format!("{} member(s)", l.members.len()),
            };
            let _ = writeln!(
                s,
                "  list      {}: {to}, up to {}, encrypt {}",
                l.name,
                l.max_tlp,
                l.encrypt.as_str()
            );
        }
    }

    /// The team's own addresses that this section adds (comment and
    /// advisory addresses): never requestors, never acknowledged.
    pub(super) fn role_addresses(&self) -> Vec<String> {
        let mut v = Vec::new();
        v.extend(self.handling.comment_address(&self.team.address));
        if let Some(a) = &self.handling.advisory_address {
            v.push(crate::model::normalize_address(a));
        }
        v
    }

    /// Handlers are the team: their mail opens no ticket as a requestor and
    /// is never acknowledged. Kept apart from `own_addresses`, whose domains
    /// are never indicators: a handler may write from any domain.
    pub fn handler_addresses(&self) -> Vec<String> {
        self.handlers
            .iter()
            .map(|h| crate::model::normalize_address(&h.email))
            .collect()
    }

    /// 1-64 ASCII letters and digits, plus the characters in `extra`.
    fn check_name(&self, key: &str, name: &str, extra: &str, why: &str) -> Result<(), ConfigError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
        if ok {
            return Ok(());
        }
        Err(self.invalid(
            key,
            format!("`{name}` must be 1-64 letters, digits or any of {extra:?} ({why})"),
        ))
    }

    pub(super) fn validate_roles(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        let mut users = std::collections::HashSet::new();
        for (i, h) in self.handlers.iter().enumerate() {
            let key = |k: &str| format!("handlers[{i}].{k}");
            self.check_name(&key("name"), &h.name, "-_.", "used by /assign")?;
            if !names.insert(h.name.to_ascii_lowercase()) {
                return Err(self.invalid(&key("name"), format!("`{}` is used twice", h.name)));
            }
            if let Some(u) = &h.unix_user {
                self.check_name(
                    &key("unix_user"),
                    u,
                    "-_.@",
                    "the Unix login `csirtd ticket` maps to this handler",
                )?;
                if !users.insert(u.as_str()) {
                    return Err(self.invalid(
                        &key("unix_user"),
                        format!("`{u}` is mapped to two handlers: give each login one handler"),
                    ));
                }
            }
            if !looks_like_address(&h.email) {
                return Err(self.invalid(
                    &key("email"),
                    format!("`{}` is not an email address", h.email),
                ));
            }
            let fpr = h.fingerprint_hex();
            if !(fpr.len() == 40 || fpr.len() == 64) || !fpr.chars().all(|c| c.is_ascii_hexdigit())
            {
                return Err(self.invalid(
                    &key("fingerprint"),
                    format!(
                        "`{}` is not a v4 (40 hex) or v6 (64 hex) fingerprint",
                        h.fingerprint
                    ),
                ));
            }
        }
        if !self.handlers.is_empty() && self.pgp.is_none() {
            return Err(self.invalid(
                "handlers",
                "handlers are recognised by their OpenPGP key: configure [pgp] with a keyring",
            ));
        }
        let hd = &self.handling;
        if hd.handler_signature == HandlerSignature::Optional {
            return Err(self.invalid(
                "handling.handler_signature",
                "\"optional\" was removed: a reply is relayed only with a good signature by the handler's key, bound to its ticket (see README, Handlers). Delete the line",
            ));
        }
        if let Some(a) = &hd.max_signature_age {
            if parse_duration(a).is_none_or(|d| d.as_secs() == 0) {
                return Err(self.invalid(
                    "handling.max_signature_age",
                    format!("`{a}` is not a duration: write e.g. \"7d\", \"36h\" or \"90m\""),
                ));
            }
        }
        if let Some(c) = &hd.comment_address {
            let ok = match c.strip_prefix('+') {
                Some(sub) => {
                    !sub.is_empty() && sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                }
                None => looks_like_address(c),
            };
            if !ok {
                return Err(self.invalid(
                    "handling.comment_address",
                    format!("`{c}` is neither an address nor a subaddress like +comment"),
                ));
            }
        }
        for (k, v) in [
            ("handling.advisory_address", &hd.advisory_address),
            ("handling.notify_address", &hd.notify_address),
        ] {
            if let Some(a) = v {
                if !looks_like_address(a) {
                    return Err(self.invalid(k, format!("`{a}` is not an email address")));
                }
            }
        }
        let needs_key = hd.encrypt_to_handlers || !self.lists.is_empty();
        if needs_key && self.pgp.as_ref().is_none_or(|p| p.team_key.is_none()) {
            return Err(self.invalid(
                if hd.encrypt_to_handlers {
                    "handling.encrypt_to_handlers"
                } else {
                    "lists"
                },
                "needs [pgp] with a team_key (notifications and advisories are signed)",
            ));
        }
        let mut lists = std::collections::HashSet::new();
        for (i, l) in self.lists.iter().enumerate() {
            let key = |k: &str| format!("lists[{i}].{k}");
            self.check_name(&key("name"), &l.name, "-_", "used by --list and /list")?;
            if !lists.insert(l.name.as_str()) {
                return Err(self.invalid(&key("name"), format!("`{}` is used twice", l.name)));
            }
            match (&l.address, l.members.is_empty()) {
                (Some(_), false) => {
                    return Err(self.invalid(
                        &key("members"),
                        "set either `address` (a list server) or `members`, not both",
                    ))
                }
                (None, true) => {
                    return Err(
                        self.invalid(&key("members"), "set `address` or at least one member")
                    )
                }
                (Some(a), true) if !looks_like_address(a) => {
                    return Err(
                        self.invalid(&key("address"), format!("`{a}` is not an email address"))
                    )
                }
                _ => {}
            }
            if !(1..=MAX_RECIPIENTS_PER_COPY).contains(&l.recipients_per_copy) {
                return Err(self.invalid(
                    &key("recipients_per_copy"),
                    format!(
                        "must be 1 (a copy per member) to {MAX_RECIPIENTS_PER_COPY}; servers must take at least {DEFAULT_RECIPIENTS_PER_COPY} recipients per transaction"
                    ),
                ));
            }
            if l.clearsign && l.address.is_none() {
                return Err(self.invalid(
                    &key("clearsign"),
                    "is for a list address behind Mailman; member copies are PGP/MIME",
                ));
            }
            for (j, m) in l.members.iter().enumerate() {
                if !looks_like_address(&m.email) {
                    return Err(self.invalid(
                        &format!("lists[{i}].members[{j}].email"),
                        format!("`{}` is not an email address", m.email),
                    ));
                }
            }
            if let Some(u) = &l.unsubscribe {
                if !looks_like_address(u) {
                    return Err(self.invalid(
                        &key("unsubscribe"),
                        format!("`{u}` is not an email address"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(extra: &str) -> Result<Config, ConfigError> {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let _ = std::fs::create_dir_all(dir.join("keyring"));
        let key = dir.join("team.asc");
        let _ = std::fs::write(&key, "x");
        let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
        let _ = std::fs::set_permissions(&key, private);
        let text = format!(
            r#"{}
[pgp]
keyring = "{}"
team_key = "{}"
{extra}
"#,
            crate::config::TEST_BASE,
            dir.join("keyring").display(),
            key.display()
        );
        Config::from_toml(&text, Path::new("/tmp/x.toml"))
    }

    #[test]
    fn handlers_handling_and_lists_load() {
        let cfg = load(
            r#"
[handling]
comment_address = "+comment"
encrypt_to_handlers = true
[[handlers]]
name = "alice"
email = "Alice@cert.example"
fingerprint = "0123 4567 89AB CDEF 0123  4567 89ab cdef 0123 4567"
[[lists]]
name = "banks"
max_tlp = "amber+strict"
encrypt = "always"
members = [{ email = "soc@bank.example" }, { email = "it@bank2.example", fingerprint = "0123456789ABCDEF0123456789ABCDEF01234567" }]
"#,
        )
        .unwrap();
        assert_eq!(cfg.handling.handler_signature, HandlerSignature::Required);
        assert_eq!(
            cfg.handling.comment_address("cert@cert.example").as_deref(),
            Some("cert+comment@cert.example")
        );
        assert_eq!(
            cfg.handlers[0].fingerprint_hex(),
            "0123456789ABCDEF0123456789ABCDEF01234567"
        );
        assert!(cfg.handler_by_email("alice@cert.example").is_some());
        let l = cfg.list("banks").unwrap();
        assert_eq!(l.max_tlp, Tlp::AmberStrict);
        assert_eq!(l.encrypt, EncryptPolicy::Always);
        assert!(cfg
            .own_addresses()
            .contains(&"cert+comment@cert.example".to_string()));
    }

    #[test]
    fn role_mistakes_name_the_key() {
        let e =
            load("[[handlers]]\nname = \"a\"\nemail = \"a@x.example\"\nfingerprint = \"abc\"\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("handlers[0].fingerprint"), "{e}");
        let e = load("[[lists]]\nname = \"l\"\nmax_tlp = \"green\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lists[0].members"), "{e}");
        let e = load("[[lists]]\nname = \"l\"\nmax_tlp = \"purple\"\naddress = \"l@x.example\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("purple") || e.contains("unknown variant"), "{e}");
    }

    #[test]
    fn a_unix_user_is_a_plausible_login_mapped_once() {
        let fpr = "0123456789ABCDEF0123456789ABCDEF01234567";
        let h = |name: &str, user: &str| {
            format!("[[handlers]]\nname = \"{name}\"\nemail = \"{name}@x.example\"\nfingerprint = \"{fpr}\"\nunix_user = \"{user}\"\n")
        };
        let cfg = load(&h("alice", "al.ice")).unwrap();
        assert_eq!(cfg.handlers[0].unix_user.as_deref(), Some("al.ice"));
        let e = load(&h("alice", "al ice")).unwrap_err().to_string();
        assert!(e.contains("handlers[0].unix_user"), "{e}");
        let e = load(&format!("{}{}", h("alice", "root"), h("bob", "root")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("handlers[1].unix_user") && e.contains("two handlers"),
            "{e}"
        );
    }
}

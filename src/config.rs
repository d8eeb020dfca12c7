//! The TOML configuration: one type per section, validated at start so that a
//! mistake stops the daemon with the file, the key and what to do about it.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

mod auth;
mod feeds;
mod intake;
use intake::yes;
pub use intake::{MaildirConfig, SourceDefaults};
mod metrics;
mod retention;
mod roles;
mod sla;
mod web;
pub use auth::{AuthConfig, AuthMode};
pub use feeds::{FeedConfig, FeedNotify, NotificationsConfig, ReportFormat};
pub use metrics::{check_listen, MetricsConfig};
pub use retention::{IndicatorPolicy, RetentionConfig};
pub use roles::{
    normalize_fingerprint, parse_duration, HandlerConfig, HandlerSignature, HandlingConfig,
    ListConfig, MemberConfig, Precedence, DEFAULT_MAX_SIGNATURE_AGE, DEFAULT_RECIPIENTS_PER_COPY,
};
pub use sla::{SlaConfig, SlaTargets};
pub use web::{totp_bytes, WebConfig, WebUserConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {file}: {source}\n  hint: pass --config PATH, set CSIRTD_CONFIG, or create ./csirtd.toml (see config/csirtd.example.toml)")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: {problem}")]
    Invalid {
        file: PathBuf,
        key: String,
        problem: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub team: TeamConfig,
    pub store: StoreConfig,
    #[serde(default)]
    pub intake: IntakeConfig,
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub ack: AckConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// OpenPGP; without it mail is stored with no verdict and sent unsigned.
    pub pgp: Option<PgpConfig>,
    #[serde(default)]
    pub analysis: AnalysisConfig,
    /// Who owns which networks, AS numbers and domains (issue 6).
    #[serde(default)]
    pub constituencies: Vec<crate::analysis::constituency::ConstituencyConfig>,
    /// `[[handlers]]`, `[handling]` and `[[lists]]`: see `config/roles.rs`.
    #[serde(default)]
    pub handlers: Vec<HandlerConfig>,
    #[serde(default)]
    pub handling: HandlingConfig,
    #[serde(default)]
    pub lists: Vec<ListConfig>,
    /// The machine-report senders the team trusts: see `config/feeds.rs`.
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
    /// `[notifications]`: the per-contact rate limit.
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// `[auth]`: DKIM, SPF and DMARC of incoming mail; off by default.
    #[serde(default)]
    pub auth: AuthConfig,
    /// `[metrics]`: Prometheus and health endpoints; off by default.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[sla]`: first-reply and resolution targets; none by default.
    #[serde(default)]
    pub sla: SlaConfig,
    /// `[retention]`: when expired tickets are purged; off by default.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// `[web]`: the web desk; off unless `listen` is set.
    #[serde(default)]
    pub web: WebConfig,
    /// Where the configuration was read from; relative paths in it are
    /// resolved against this file's directory, not the working directory,
    /// so the daemon behaves the same under systemd and in a shell.
    #[serde(skip)]
    pub source: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    pub address: String,
    pub tag: String,
    pub domain: String,
    /// Other addresses that deliver into the team mailbox (abuse@, a +comment
    /// subaddress). Mail from them is never acknowledged and they are never
    /// taken for requestors.
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub path: PathBuf,
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
    /// Messages committed together before one flush to disk.
    #[serde(default = "default_group_commit")]
    pub group_commit: usize,
    /// Raw MiB a batch takes at most (a batch holds its mail twice, raw and
    /// parsed, and two batches are in hand): large mail makes smaller
    /// batches rather than more memory.
    #[serde(default = "default_group_commit_mb")]
    pub group_commit_mb: u64,
    /// How long a command waits for the store while another process (not
    /// an answering daemon) holds it, before it exits 75 (EX_TEMPFAIL).
    #[serde(default = "default_lock_wait")]
    pub lock_wait_secs: u64,
}

fn default_lock_wait() -> u64 {
    120
}

/// sled's page cache. sled keeps about twice this in memory (deserialised
/// nodes and their old versions until its epochs pass); 64 took the daemon
/// past its 128 MiB budget, and 16 still did at 100,000 reports; 8 costs
/// the intake no measurable throughput (README, "Memory budget").
pub const DEFAULT_CACHE_MB: u64 = 8;

fn default_cache_mb() -> u64 {
    DEFAULT_CACHE_MB
}
fn default_group_commit() -> usize {
    256
}
fn default_group_commit_mb() -> u64 {
    8
}

impl StoreConfig {
    /// `group_commit_mb` in bytes.
    pub fn group_commit_bytes(&self) -> usize {
        usize::try_from(self.group_commit_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// `[intake.maildir]`, or `[[intake.maildir]]` for several.
    #[serde(default, deserialize_with = "intake::one_or_many")]
    pub maildir: Vec<MaildirConfig>,
    /// `[[intake.imap]]`: one entry per account and folder watched.
    #[serde(default)]
    pub imap: Vec<ImapConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImapTls {
    /// TLS from the first byte (port 993).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which must succeed.
    Starttls,
    /// No TLS at all: password and mail cross the network in clear.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImapAuth {
    /// The IMAP LOGIN command.
    Login,
    /// AUTHENTICATE PLAIN (RFC 4616).
    Plain,
}

/// What happens to a message in the watched folder once it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImapAfter {
    /// Moved to `processed_folder`.
    Move,
    /// Left in place and flagged `\Seen`.
    Seen,
}

/// serde names Rust types where an operator needs to read what to write
/// (`expected u32` for `rate_limit = -5`).
fn in_words(message: &str) -> String {
    const TYPES: [(&str, &str); 9] = [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a string", "expected a quoted string"),
    ];
    let mut out = message.to_string();
    for (from, to) in TYPES {
        if let Some(i) = out.find(from) {
            let end = i + from.len();
            // Whole words only: `u32` but not `u320`.
            if !out[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                out.replace_range(i..end, to);
            }
        }
    }
    out
}

/// The configuration's own words for its enums, for human output.
impl ImapTls {
    pub fn as_str(self) -> &'static str {
        match self {
            ImapTls::Implicit => "implicit",
            ImapTls::Starttls => "starttls",
            ImapTls::None => "none",
        }
    }
}

impl ImapAfter {
    pub fn as_str(self) -> &'static str {
        match self {
            ImapAfter::Move => "move",
            ImapAfter::Seen => "seen",
        }
    }
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::Implicit => "implicit",
            SmtpTls::Starttls => "starttls",
            SmtpTls::None => "none",
        }
    }
}

impl EncryptPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            EncryptPolicy::Never => "never",
            EncryptPolicy::IfKey => "if-key",
            EncryptPolicy::Always => "always",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Names the account in logs, in message origins and in the sled key
    /// of its UID state: renaming it makes csirtd rescan the folder.
    pub name: String,
    pub host: String,
    /// Default: 993 with implicit TLS, 143 otherwise.
    pub port: Option<u16>,
    #[serde(default = "default_imap_tls")]
    pub tls: ImapTls,
    /// PEM file of a CA to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    pub user: String,
    /// Read at every connection, so a rotated password needs no restart.
    pub password_file: PathBuf,
    #[serde(default = "default_imap_auth")]
    pub auth: ImapAuth,
    #[serde(default = "default_imap_folder")]
    pub folder: String,
    #[serde(default = "default_imap_after")]
    pub after: ImapAfter,
    #[serde(default = "default_processed_folder")]
    pub processed_folder: String,
    #[serde(default = "default_quarantine_folder")]
    pub quarantine_folder: String,
    #[serde(default = "yes")]
    pub idle: bool,
    /// Used when the server lacks IDLE or `idle = false`. Fractions are
    /// allowed: Dovecot announces new mail to IDLE clients only after about
    /// 0.5 s, and a team that wants an answer sooner polls at 0.05-0.1 s.
    #[serde(default = "default_imap_poll")]
    pub poll_interval_secs: f64,
    /// Messages fetched with one command.
    #[serde(default = "default_imap_batch")]
    pub batch: usize,
    /// RFC 2177: servers may drop a client idle for 30 minutes.
    #[serde(default = "default_idle_renew")]
    pub idle_renew_secs: u64,
    /// While in IDLE, also leave it and look every this many seconds.
    /// Dovecot holds back IDLE news for 500 ms after a change (a fixed
    /// NOTIFY_DELAY_MSECS in its mailbox watcher, to coalesce bursts); a
    /// look of our own finds a new message sooner. None: IDLE alone.
    pub idle_recheck_secs: Option<f64>,
    /// Limit for each network step (connect, TLS, a command, one response).
    #[serde(default = "default_imap_timeout")]
    pub timeout_secs: u64,
    /// Defaults for the tickets this account opens; carried with the
    /// account name in each message's origin until tickets take them.
    pub label: Option<String>,
    pub constituency: Option<String>,
    pub category: Option<String>,
}

impl ImapConfig {
    /// Its `label`, `constituency` and `category`.
    pub fn defaults(&self) -> SourceDefaults {
        SourceDefaults {
            label: self.label.clone(),
            constituency: self.constituency.clone(),
            category: self.category.clone(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            ImapTls::Implicit => 993,
            ImapTls::Starttls | ImapTls::None => 143,
        })
    }
}

fn default_imap_tls() -> ImapTls {
    ImapTls::Implicit
}
fn default_imap_auth() -> ImapAuth {
    ImapAuth::Login
}
fn default_imap_folder() -> String {
    "INBOX".into()
}
fn default_imap_after() -> ImapAfter {
    ImapAfter::Move
}
fn default_processed_folder() -> String {
    "processed".into()
}
fn default_quarantine_folder() -> String {
    "quarantine".into()
}
fn default_imap_poll() -> f64 {
    60.0
}
fn default_imap_batch() -> usize {
    100
}
fn default_idle_renew() -> u64 {
    25 * 60
}
fn default_imap_timeout() -> u64 {
    60
}
/// RFC 2177 lets a server log out a client idle for 30 minutes.
pub const IMAP_IDLE_RENEW_MAX_SECS: u64 = 29 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    pub transport: TransportKind,
    pub file: Option<FileTransportConfig>,
    pub smtp: Option<SmtpConfig>,
    /// How long transient failures are retried before the entry is failed.
    /// Three days, as MTAs do.
    #[serde(default = "default_retry_for")]
    pub retry_for_secs: u64,
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff_secs: u64,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_secs: u64,
    /// Envelope sender for everything csirtd sends; defaults to team.address.
    pub envelope_from: Option<String>,
    /// The file transport's batch: files written, made durable by one
    /// directory fsync, then marked sent by one store flush. Over SMTP a
    /// crash re-sends at most one message per session (each with its
    /// original Message-ID); a value below the sessions lowers that.
    #[serde(default = "default_flush_batch")]
    pub flush_batch: usize,
}

fn default_flush_batch() -> usize {
    64
}

fn default_retry_for() -> u64 {
    3 * 24 * 3600
}
fn default_initial_backoff() -> u64 {
    30
}
fn default_max_backoff() -> u64 {
    3600
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTransportConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which must succeed.
    Starttls,
    /// No TLS at all; only for a relay on the same host.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default = "default_smtp_tls")]
    pub tls: SmtpTls,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    /// PEM file of a CA to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
    /// SMTP sessions delivering in parallel, each reused for many messages.
    #[serde(default = "default_smtp_connections")]
    pub connections: usize,
    /// A session unused for this long is closed (QUIT).
    #[serde(default = "default_smtp_idle")]
    pub idle_secs: u64,
}

fn default_smtp_connections() -> usize {
    4
}
fn default_smtp_idle() -> u64 {
    5
}

fn default_smtp_port() -> u16 {
    587
}
fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}
fn default_smtp_timeout() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Body template; the embedded default is used when absent.
    pub template: Option<PathBuf>,
    /// At most this many acknowledgements per sender mailbox (however
    /// spelled: case, `+tag`, trailing dot, address literal)...
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u32,
    /// ...per registrable domain of the senders (default: see
    /// [`AckConfig::per_domain_limit`])...
    #[serde(default)]
    pub rate_limit_per_domain: Option<u32>,
    /// ...and to all senders together (see [`AckConfig::global_limit`])...
    #[serde(default)]
    pub rate_limit_global: Option<u32>,
    /// ...within this many seconds.
    #[serde(default = "default_rate_window")]
    pub rate_window_secs: u64,
    /// Whether acknowledgements are encrypted to the reporter's key.
    #[serde(default)]
    pub encrypt: EncryptPolicy,
}

/// Per destination: `never`; `if-key` when the recipient's certificate is in
/// the keyring; `always`, holding the mail (never sending it in plaintext)
/// when there is no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncryptPolicy {
    Never,
    #[default]
    IfKey,
    Always,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Never indicators: networks (`10.0.0.0/8`, `2001:db8::/32`, an
    /// address) and domains (subdomains included). The team's own domain
    /// and addresses are always ignored.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// RSIT classification rules, tried in order when no structured field
    /// decides (`[[analysis.rules]]` pattern → category).
    #[serde(default)]
    pub rules: Vec<crate::analysis::classify::RuleConfig>,
}

impl AnalysisConfig {
    /// The ignore list as the extractor wants it, with the team's own
    /// domains added.
    pub fn ignore_list(&self, own_domains: &[String]) -> crate::analysis::indicators::Ignore {
        let mut ig = crate::analysis::indicators::Ignore::default();
        for entry in &self.ignore {
            match crate::analysis::indicators::parse_network(entry) {
                Some(net) => ig.networks.push(net),
                None => ig
                    .domains
                    .push(entry.trim().trim_start_matches("*.").to_ascii_lowercase()),
            }
        }
        ig.domains
            .extend(own_domains.iter().map(|d| d.to_ascii_lowercase()));
        ig
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgpConfig {
    /// Directory of trusted public certificates (*.asc, *.pgp, *.gpg).
    pub keyring: PathBuf,
    /// The team's secret key: decrypts incoming mail, signs outgoing mail.
    pub team_key: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
    #[serde(default)]
    pub policy: PgpPolicy,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgpPolicy {
    /// Senders whose reports must carry a good signature: addresses or
    /// patterns such as `*@bank.example`. Unsigned reports from them are
    /// still ticketed, flagged `signature-required`.
    #[serde(default)]
    pub require_signed: Vec<String>,
}

impl PgpPolicy {
    /// Whether `address` (lower case) falls under `require_signed`.
    pub fn requires_signature(&self, address: &str) -> bool {
        self.require_signed.iter().any(|p| {
            let p = p.to_ascii_lowercase();
            match p.strip_prefix('*') {
                Some(suffix) => address.ends_with(suffix),
                None => address == p,
            }
        })
    }
}

impl Default for AckConfig {
    fn default() -> Self {
        AckConfig {
            enabled: true,
            template: None,
            rate_limit: default_rate_limit(),
            rate_limit_per_domain: None,
            rate_limit_global: None,
            rate_window_secs: default_rate_window(),
            encrypt: EncryptPolicy::default(),
        }
    }
}

fn default_rate_limit() -> u32 {
    10
}

impl AckConfig {
    /// Unless set: 50 per domain, but never less than one sender may get,
    /// so that raising `rate_limit` for a busy reporter keeps working.
    pub fn per_domain_limit(&self) -> u32 {
        self.rate_limit_per_domain
            .unwrap_or_else(|| self.rate_limit.max(50))
    }

    /// Unless set: 500 in all, and never less than one domain may get.
    pub fn global_limit(&self) -> u32 {
        self.rate_limit_global
            .unwrap_or_else(|| self.per_domain_limit().max(500))
    }
}
fn default_rate_window() -> u64 {
    3600
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Larger messages are stored raw and flagged `oversized`; only their
    /// headers are read.
    #[serde(default = "default_max_size")]
    pub max_message_size: usize,
    /// Larger messages are not taken at all: `ingest` refuses them (the MTA
    /// bounces) and the Maildir intake moves them to `.Quarantine/`.
    #[serde(default = "default_max_stored")]
    pub max_stored_size: usize,
    #[serde(default = "default_max_depth")]
    pub max_mime_depth: usize,
    #[serde(default = "default_max_parts")]
    pub max_parts: usize,
    /// Per-message budgets (see `analysis/budget.rs`): bytes produced by
    /// unpacking (zip, gzip, OpenPGP compression and decryption) across
    /// the whole message.
    #[serde(default = "crate::analysis::budget::default_decompressed")]
    pub max_decompressed_bytes: u64,
    /// CSV rows kept across all machine reports of one message.
    #[serde(default = "crate::analysis::budget::default_csv_rows")]
    pub max_csv_rows: u64,
    /// Indicators kept per message, machine-report rows included.
    #[serde(default = "crate::analysis::budget::default_indicators")]
    pub max_indicators: u64,
    /// Signature checks and decryptions per message.
    #[serde(default = "crate::analysis::budget::default_verifications")]
    pub max_verifications: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_size: default_max_size(),
            max_stored_size: default_max_stored(),
            max_mime_depth: default_max_depth(),
            max_parts: default_max_parts(),
            max_decompressed_bytes: crate::analysis::budget::default_decompressed(),
            max_csv_rows: crate::analysis::budget::default_csv_rows(),
            max_indicators: crate::analysis::budget::default_indicators(),
            max_verifications: crate::analysis::budget::default_verifications(),
        }
    }
}

fn default_max_size() -> usize {
    25 * 1024 * 1024
}
fn default_max_stored() -> usize {
    256 * 1024 * 1024
}
fn default_max_depth() -> usize {
    16
}
fn default_max_parts() -> usize {
    1000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    #[serde(default = "default_level")]
    pub level: String,
    /// Minutes between summary lines (messages, outbox, IMAP); 0 = none.
    #[serde(default = "default_summary_minutes")]
    pub summary_minutes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: default_level(),
            summary_minutes: default_summary_minutes(),
        }
    }
}

fn default_summary_minutes() -> u64 {
    15
}

fn default_level() -> String {
    "info".into()
}

/// Where the configuration comes from: `--config`, then `CSIRTD_CONFIG`, then
/// `./csirtd.toml`.
pub fn locate(cli: Option<&Path>) -> PathBuf {
    if let Some(p) = cli {
        return p.to_path_buf();
    }
    match std::env::var_os("CSIRTD_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("csirtd.toml"),
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: path.to_path_buf(),
            message: in_words(e.to_string().trim_end()),
        })?;
        cfg.source = path.to_path_buf();
        cfg.resolve_paths();
        cfg.validate()?;
        Ok(cfg)
    }

    fn base_dir(&self) -> PathBuf {
        match self.source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn resolve_paths(&mut self) {
        let base = self.base_dir();
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.store.path);
        for m in self.intake.maildir.iter_mut() {
            fix(&mut m.path);
        }
        for a in self.intake.imap.iter_mut() {
            fix(&mut a.password_file);
            if let Some(p) = a.ca_file.as_mut() {
                fix(p);
            }
        }
        if let Some(f) = self.outbox.file.as_mut() {
            fix(&mut f.dir);
        }
        if let Some(s) = self.outbox.smtp.as_mut() {
            if let Some(p) = s.password_file.as_mut() {
                fix(p);
            }
            if let Some(p) = s.ca_file.as_mut() {
                fix(p);
            }
        }
        if let Some(t) = self.ack.template.as_mut() {
            fix(t);
        }
        self.web.resolve_paths(&fix);
        if let Some(p) = self.pgp.as_mut() {
            fix(&mut p.keyring);
            if let Some(k) = p.team_key.as_mut() {
                fix(k);
            }
            if let Some(k) = p.passphrase_file.as_mut() {
                fix(k);
            }
        }
    }

    fn invalid(&self, key: &str, problem: impl fmt::Display) -> ConfigError {
        ConfigError::Invalid {
            file: self.source.clone(),
            key: key.to_string(),
            problem: problem.to_string(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.team.name.trim().is_empty() {
            return Err(self.invalid("team.name", "must not be empty"));
        }
        if !looks_like_address(&self.team.address) {
            return Err(self.invalid(
                "team.address",
                format!(
                    "`{}` is not an email address like cert@example.org",
                    self.team.address
                ),
            ));
        }
        for (i, a) in self.team.aliases.iter().enumerate() {
            if !looks_like_address(a) {
                return Err(self.invalid(
                    &format!("team.aliases[{i}]"),
                    format!("`{a}` is not an email address"),
                ));
            }
        }
        let tag_ok = !self.team.tag.is_empty()
            && self.team.tag.len() <= 32
            && self
                .team
                .tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !tag_ok {
            return Err(self.invalid(
                "team.tag",
                format!(
                    "`{}` must be 1-32 characters of letters, digits, '-', '_' or '.' (e.g. CERT-EX)",
                    self.team.tag
                ),
            ));
        }
        let domain_ok = self.team.domain.contains('.')
            && self
                .team
                .domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !domain_ok {
            return Err(self.invalid(
                "team.domain",
                format!("`{}` is not a domain name", self.team.domain),
            ));
        }
        if let Some((key, problem)) = self.sla.problem() {
            return Err(self.invalid(&key, problem));
        }
        if self.store.group_commit == 0 {
            return Err(self.invalid("store.group_commit", "must be at least 1"));
        }
        if self.store.group_commit_mb == 0 {
            return Err(self.invalid("store.group_commit_mb", "must be at least 1"));
        }
        self.validate_maildirs()?;
        self.validate_imap()?;
        self.validate_roles()?;
        self.validate_feeds()?;
        self.validate_auth()?;
        self.validate_metrics()?;
        self.validate_web()?;
        self.validate_retention()?;
        match self.outbox.transport {
            TransportKind::File => {
                if self.outbox.file.is_none() {
                    return Err(self.invalid(
                        "outbox.file",
                        "transport = \"file\" needs an [outbox.file] table with `dir`",
                    ));
                }
            }
            TransportKind::Smtp => {
                let Some(s) = &self.outbox.smtp else {
                    return Err(self.invalid(
                        "outbox.smtp",
                        "transport = \"smtp\" needs an [outbox.smtp] table with `host`",
                    ));
                };
                if s.host.trim().is_empty() {
                    return Err(self.invalid("outbox.smtp.host", "must not be empty"));
                }
                if s.user.is_some() != s.password_file.is_some() {
                    return Err(self.invalid(
                        "outbox.smtp.password_file",
                        "`user` and `password_file` go together: set both or neither",
                    ));
                }
                if let Some(p) = &s.password_file {
                    if !p.is_file() {
                        return Err(self.invalid(
                            "outbox.smtp.password_file",
                            format!("{} does not exist or is not a file", p.display()),
                        ));
                    }
                }
                if let Some(p) = &s.ca_file {
                    if !p.is_file() {
                        return Err(self.invalid(
                            "outbox.smtp.ca_file",
                            format!("{} does not exist", p.display()),
                        ));
                    }
                }
                if s.timeout_secs == 0 {
                    return Err(self.invalid("outbox.smtp.timeout_secs", "must be at least 1"));
                }
                if !(1..=64).contains(&s.connections) {
                    return Err(self.invalid(
                        "outbox.smtp.connections",
                        "must be between 1 and 64 (the relay limits its clients too)",
                    ));
                }
            }
        }
        if self.outbox.initial_backoff_secs == 0
            || self.outbox.max_backoff_secs < self.outbox.initial_backoff_secs
        {
            return Err(self.invalid(
                "outbox.max_backoff_secs",
                "initial_backoff_secs must be at least 1 and not above max_backoff_secs",
            ));
        }
        if !(1..=10_000).contains(&self.outbox.flush_batch) {
            return Err(self.invalid(
                "outbox.flush_batch",
                "must be between 1 and 10000 (it bounds the copies a crash can send twice)",
            ));
        }
        if let Some(ef) = &self.outbox.envelope_from {
            if !looks_like_address(ef) {
                return Err(self.invalid(
                    "outbox.envelope_from",
                    format!("`{ef}` is not an email address"),
                ));
            }
        }
        if let Some(t) = &self.ack.template {
            let body = std::fs::read_to_string(t).map_err(|e| {
                self.invalid("ack.template", format!("cannot read {}: {e}", t.display()))
            })?;
            if !body.contains("{{ticket_id}}") && !body.contains("{{tag}}") {
                return Err(self.invalid(
                    "ack.template",
                    format!(
                        "{} must name the ticket: use {{{{ticket_id}}}} or {{{{tag}}}}",
                        t.display()
                    ),
                ));
            }
        }
        if self.ack.rate_limit == 0 || self.ack.rate_window_secs == 0 {
            return Err(self.invalid(
                "ack.rate_limit",
                "rate_limit and rate_window_secs must be at least 1 (set ack.enabled = false to stop acknowledgements)",
            ));
        }
        for (key, set) in [
            ("ack.rate_limit_per_domain", self.ack.rate_limit_per_domain),
            ("ack.rate_limit_global", self.ack.rate_limit_global),
        ] {
            if set == Some(0) {
                return Err(self.invalid(
                    key,
                    "must be at least 1 (set ack.enabled = false to stop acknowledgements)",
                ));
            }
        }
        if let Some(p) = &self.pgp {
            if !p.keyring.is_dir() {
                return Err(self.invalid(
                    "pgp.keyring",
                    format!(
                        "{} is not a directory (create it, then `csirtd keys import FILE`)",
                        p.keyring.display()
                    ),
                ));
            }
            if p.passphrase_file.is_some() && p.team_key.is_none() {
                return Err(
                    self.invalid("pgp.passphrase_file", "set only together with pgp.team_key")
                );
            }
            let secrets = [
                ("pgp.team_key", &p.team_key),
                ("pgp.passphrase_file", &p.passphrase_file),
            ];
            for (key, file) in secrets {
                if let Some(file) = file {
                    crate::pgp::keyring::check_private(file).map_err(|e| self.invalid(key, e))?;
                }
            }
            for (i, pat) in p.policy.require_signed.iter().enumerate() {
                let ok = pat.contains('@')
                    && !pat.chars().any(|c| c.is_whitespace())
                    && pat.matches('*').count() <= 1
                    && (!pat.contains('*') || pat.starts_with('*'));
                if !ok {
                    return Err(self.invalid(
                        &format!("pgp.policy.require_signed[{i}]"),
                        format!("`{pat}` is not an address or a pattern like *@bank.example"),
                    ));
                }
            }
        }
        for (i, entry) in self.analysis.ignore.iter().enumerate() {
            let is_net = crate::analysis::indicators::parse_network(entry).is_some();
            let is_domain = entry.trim().trim_start_matches("*.").contains('.')
                && entry
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.*".contains(c));
            if !is_net && !is_domain {
                return Err(self.invalid(
                    &format!("analysis.ignore[{i}]"),
                    format!("`{entry}` is neither a network like 10.0.0.0/8 nor a domain like example.net"),
                ));
            }
        }
        if let Err((key, problem)) =
            crate::analysis::report::Analyser::new(&self.analysis.rules, &self.constituencies)
        {
            return Err(self.invalid(&key, problem));
        }
        if self.ack.encrypt == EncryptPolicy::Always
            && self.pgp.as_ref().is_none_or(|p| p.team_key.is_none())
        {
            return Err(self.invalid("ack.encrypt", "\"always\" needs [pgp] with a team_key"));
        }
        let l = &self.limits;
        if l.max_message_size < 1024 {
            return Err(self.invalid("limits.max_message_size", "must be at least 1024 bytes"));
        }
        if l.max_stored_size < l.max_message_size {
            return Err(self.invalid(
                "limits.max_stored_size",
                "must not be below limits.max_message_size",
            ));
        }
        if l.max_mime_depth == 0 || l.max_mime_depth > 100 {
            return Err(self.invalid("limits.max_mime_depth", "must be between 1 and 100"));
        }
        if l.max_parts == 0 {
            return Err(self.invalid("limits.max_parts", "must be at least 1"));
        }
        if let Err((key, problem)) = crate::analysis::budget::check_config(l) {
            return Err(self.invalid(key, problem));
        }
        if let Err(problem) = crate::logging::check_level(&self.log.level) {
            return Err(self.invalid("log.level", problem));
        }
        Ok(())
    }

    fn validate_imap(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for (i, a) in self.intake.imap.iter().enumerate() {
            let key = |k: &str| format!("intake.imap[{i}].{k}");
            let name_ok = !a.name.is_empty()
                && a.name.len() <= 64
                && a.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
            if !name_ok {
                return Err(self.invalid(
                    &key("name"),
                    format!(
                        "`{}` must be 1-64 characters of letters, digits, '-', '_' or '.' (e.g. cert)",
                        a.name
                    ),
                ));
            }
            if !names.insert(a.name.as_str()) {
                return Err(self.invalid(
                    &key("name"),
                    format!("`{}` is used by another [[intake.imap]] entry", a.name),
                ));
            }
            if a.host.trim().is_empty() {
                return Err(self.invalid(&key("host"), "must not be empty"));
            }
            if a.port == Some(0) {
                return Err(self.invalid(&key("port"), "must be between 1 and 65535"));
            }
            if a.user.is_empty() {
                return Err(self.invalid(&key("user"), "must not be empty"));
            }
            if !a.password_file.is_file() {
                return Err(self.invalid(
                    &key("password_file"),
                    format!(
                        "{} does not exist or is not a file",
                        a.password_file.display()
                    ),
                ));
            }
            if let Some(p) = &a.ca_file {
                if !p.is_file() {
                    return Err(
                        self.invalid(&key("ca_file"), format!("{} does not exist", p.display()))
                    );
                }
                if a.tls == ImapTls::None {
                    return Err(self.invalid(
                        &key("ca_file"),
                        "is set but tls = \"none\": choose \"implicit\" or \"starttls\", or remove ca_file",
                    ));
                }
            }
            for (k, folder) in [
                ("folder", &a.folder),
                ("processed_folder", &a.processed_folder),
                ("quarantine_folder", &a.quarantine_folder),
            ] {
                if folder.is_empty() || folder.chars().any(|c| c.is_control()) {
                    return Err(
                        self.invalid(&key(k), format!("`{folder}` is not a usable folder name"))
                    );
                }
            }
            if a.processed_folder == a.folder || a.quarantine_folder == a.folder {
                return Err(self.invalid(
                    &key(if a.processed_folder == a.folder {
                        "processed_folder"
                    } else {
                        "quarantine_folder"
                    }),
                    format!(
                        "must differ from folder `{}`, or messages would be fetched again",
                        a.folder
                    ),
                ));
            }
            if !(0.01..=86_400.0).contains(&a.poll_interval_secs) {
                return Err(self.invalid(
                    &key("poll_interval_secs"),
                    "must be between 0.01 and 86400 seconds",
                ));
            }
            if let Some(r) = a.idle_recheck_secs {
                if !(0.01..=86_400.0).contains(&r) {
                    return Err(self.invalid(
                        &key("idle_recheck_secs"),
                        "must be between 0.01 and 86400 seconds (leave it out for IDLE alone)",
                    ));
                }
            }
            if a.batch == 0 || a.batch > 10_000 {
                return Err(self.invalid(&key("batch"), "must be between 1 and 10000"));
            }
            if a.idle_renew_secs == 0 || a.idle_renew_secs >= IMAP_IDLE_RENEW_MAX_SECS {
                return Err(self.invalid(
                    &key("idle_renew_secs"),
                    format!(
                        "must be at least 1 and below {IMAP_IDLE_RENEW_MAX_SECS} (29 minutes): servers may drop a client idle for 30 minutes"
                    ),
                ));
            }
            if a.timeout_secs == 0 {
                return Err(self.invalid(&key("timeout_secs"), "must be at least 1"));
            }
            self.validate_defaults(&a.defaults(), &key)?;
        }
        Ok(())
    }

    /// The SMTP password, read from its file when the transport is built.
    pub fn smtp_password(&self) -> Result<Option<String>, ConfigError> {
        let Some(s) = &self.outbox.smtp else {
            return Ok(None);
        };
        let Some(p) = &s.password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(p).map_err(|e| {
            self.invalid(
                "outbox.smtp.password_file",
                format!("cannot read {}: {e}", p.display()),
            )
        })?;
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
    }

    /// Every address that is the team itself: never a requestor, never acknowledged.
    pub fn own_addresses(&self) -> Vec<String> {
        let mut v = vec![crate::model::normalize_address(&self.team.address)];
        v.extend(
            self.team
                .aliases
                .iter()
                .map(|a| crate::model::normalize_address(a)),
        );
        if let Some(ef) = &self.outbox.envelope_from {
            v.push(crate::model::normalize_address(ef));
        }
        v.extend(self.role_addresses());
        v
    }

    pub fn envelope_from(&self) -> &str {
        self.outbox
            .envelope_from
            .as_deref()
            .unwrap_or(&self.team.address)
    }

    /// A human summary for `check-config`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        use fmt::Write;
        let _ = writeln!(s, "configuration {} is valid", self.source.display());
        let _ = writeln!(
            s,
            "  team      {} <{}>, tag [{} #YYYY-NNNNN], domain {}",
            self.team.name, self.team.address, self.team.tag, self.team.domain
        );
        if !self.team.aliases.is_empty() {
            let _ = writeln!(s, "  aliases   {}", self.team.aliases.join(", "));
        }
        let _ = writeln!(
            s,
            "  store     {} (cache {} MiB, group commit {} messages or {} MiB)",
            self.store.path.display(),
            self.store.cache_mb,
            self.store.group_commit,
            self.store.group_commit_mb
        );
        if self.intake.maildir.is_empty() {
            let _ = writeln!(s, "  maildir   not configured");
        }
        for m in &self.intake.maildir {
            let _ = writeln!(
                s,
                "  maildir   {}{} (poll every {} ms)",
                m.name
                    .as_deref()
                    .map(|n| format!("{n}: "))
                    .unwrap_or_default(),
                m.path.display(),
                m.poll_interval_ms
            );
        }
        for a in &self.intake.imap {
            let _ = writeln!(
                s,
                "  imap      {}: {}@{}:{} tls {} folder {} (after: {}{})",
                a.name,
                a.user,
                a.host,
                a.port(),
                a.tls.as_str(),
                a.folder,
                a.after.as_str(),
                if a.idle { ", IDLE" } else { ", polling" }
            );
        }
        match self.outbox.transport {
            TransportKind::File => {
                let dir = self
                    .outbox
                    .file
                    .as_ref()
                    .map(|f| f.dir.display().to_string())
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "  outbox    file transport into {dir}, made durable {} at a time",
                    self.outbox.flush_batch
                );
            }
            TransportKind::Smtp => {
                if let Some(m) = &self.outbox.smtp {
                    let _ = writeln!(
                        s,
                        "  outbox    smtp {}:{} tls {} auth {}, {} session(s) closed after {} s idle, at most {} sent before a flush",
                        m.host,
                        m.port,
                        m.tls.as_str(),
                        m.user.as_deref().unwrap_or("none"),
                        m.connections,
                        m.idle_secs,
                        crate::outbox::dispatch::in_flight_budget(m.connections, self.outbox.flush_batch)
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "  retries   for {} s, backoff {}..{} s",
            self.outbox.retry_for_secs,
            self.outbox.initial_backoff_secs,
            self.outbox.max_backoff_secs
        );
        let _ = writeln!(
            s,
            "  ack       {} (template {}, at most {} per sender, {} per domain, {} in all per {} s)",
            if self.ack.enabled {
                "enabled"
            } else {
                "disabled"
            },
            self.ack
                .template
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "embedded default".into()),
            self.ack.rate_limit,
            self.ack.per_domain_limit(),
            self.ack.global_limit(),
            self.ack.rate_window_secs
        );
        let _ = writeln!(
            s,
            "  limits    parse up to {} bytes, store up to {} bytes, MIME depth {}, {} parts",
            self.limits.max_message_size,
            self.limits.max_stored_size,
            self.limits.max_mime_depth,
            self.limits.max_parts
        );
        self.roles_summary(&mut s);
        s
    }
}

fn looks_like_address(a: &str) -> bool {
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !a
                    .chars()
                    .any(|c| c.is_whitespace() || c == '<' || c == '>' || c.is_control())
        }
        None => false,
    }
}

/// The smallest valid configuration, for the unit tests of the modules
/// that read one; each appends what it tests.
#[cfg(test)]
pub(crate) const TEST_BASE: &str = r#"
[team]
name = "CERT Example"
address = "cert@cert.example"
tag = "CERT-EX"
domain = "cert.example"
[store]
path = "store"
[outbox]
transport = "file"
[outbox.file]
dir = "outbox"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_are_said_in_words() {
        let text = format!("{MINIMAL}\n[ack]\nrate_limit = -5\n");
        let err = Config::from_toml(&text, Path::new("/tmp/c.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("expected a whole number from 0 to 4294967295"),
            "{err}"
        );
        assert!(!err.contains("u32"), "{err}");
    }

    const MINIMAL: &str = r#"
[team]
name = "CERT Example"
address = "cert@cert.example"
tag = "CERT-EX"
domain = "cert.example"

[store]
path = "state/store"

[outbox]
transport = "file"
[outbox.file]
dir = "state/outbox"
"#;

    #[test]
    fn minimal_config_loads_with_defaults_and_relative_paths() {
        let cfg = Config::from_toml(MINIMAL, Path::new("/etc/csirtd/csirtd.toml")).unwrap();
        assert_eq!(cfg.store.path, PathBuf::from("/etc/csirtd/state/store"));
        assert!(cfg.ack.enabled);
        assert_eq!(cfg.limits.max_mime_depth, 16);
        assert_eq!(cfg.outbox.retry_for_secs, 259_200);
    }

    #[test]
    fn rate_budgets_default_to_at_least_the_narrower_one() {
        let with = |ack: &str| {
            Config::from_toml(&format!("{MINIMAL}\n[ack]\n{ack}"), Path::new("c.toml")).map(|c| {
                (
                    c.ack.rate_limit,
                    c.ack.per_domain_limit(),
                    c.ack.global_limit(),
                )
            })
        };
        assert_eq!(with("").unwrap(), (10, 50, 500));
        assert_eq!(with("rate_limit = 2000").unwrap(), (2000, 2000, 2000));
        assert_eq!(with("rate_limit_per_domain = 7").unwrap(), (10, 7, 500));
        assert_eq!(with("rate_limit_global = 3").unwrap(), (10, 50, 3));
        let err = with("rate_limit_per_domain = 0").unwrap_err().to_string();
        assert!(err.contains("ack.rate_limit_per_domain"), "{err}");
        let err = with("rate_limit_global = 0").unwrap_err().to_string();
        assert!(err.contains("ack.rate_limit_global"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let text = MINIMAL.replace("tag = \"CERT-EX\"", "tag = \"CERT-EX\"\nadress = \"x\"");
        let err = Config::from_toml(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml"), "{err}");
        assert!(err.contains("adress"), "{err}");
    }

    #[test]
    fn bad_values_name_file_and_key() {
        let text = MINIMAL.replace("tag = \"CERT-EX\"", "tag = \"CERT EX!\"");
        let err = Config::from_toml(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml: key `team.tag`"), "{err}");

        let text = MINIMAL.replace("transport = \"file\"", "transport = \"smtp\"");
        let err = Config::from_toml(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("outbox.smtp"), "{err}");

        let text = MINIMAL.replace("cert@cert.example", "cert");
        let err = Config::from_toml(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("team.address"), "{err}");
    }

    fn with_imap(dir: &Path, entries: &str) -> Result<Config, ConfigError> {
        std::fs::write(dir.join("imap-password"), "secret\n").unwrap();
        Config::from_toml(&format!("{MINIMAL}\n{entries}"), &dir.join("c.toml"))
    }

    #[test]
    fn imap_accounts_load_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = with_imap(
            dir.path(),
            r#"
[[intake.imap]]
name = "cert"
host = "imap.cert.example"
user = "cert"
password_file = "imap-password"

[[intake.imap]]
name = "abuse"
host = "imap.cert.example"
tls = "starttls"
auth = "plain"
user = "abuse"
password_file = "imap-password"
folder = "reports"
after = "seen"
idle = false
label = "abuse"
"#,
        )
        .unwrap();
        let [cert, abuse] = &cfg.intake.imap[..] else {
            panic!("two accounts expected: {:?}", cfg.intake.imap)
        };
        assert_eq!(cert.port(), 993);
        assert_eq!(cert.folder, "INBOX");
        assert_eq!(cert.after, ImapAfter::Move);
        assert_eq!(cert.processed_folder, "processed");
        assert_eq!(cert.quarantine_folder, "quarantine");
        assert!(cert.idle);
        assert_eq!(
            (cert.poll_interval_secs, cert.batch, cert.idle_renew_secs),
            (60.0, 100, 1500)
        );
        assert_eq!(cert.password_file, dir.path().join("imap-password"));
        assert_eq!(abuse.port(), 143);
        assert_eq!(abuse.auth, ImapAuth::Plain);
        assert_eq!(abuse.after, ImapAfter::Seen);
        assert_eq!(abuse.label.as_deref(), Some("abuse"));
    }

    #[test]
    fn imap_mistakes_name_the_entry_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let base = "[[intake.imap]]\nname = \"cert\"\nhost = \"h.example\"\nuser = \"u\"\npassword_file = \"imap-password\"\n";
        for (extra, key) in [
            ("idle_renew_secs = 1740\n", "intake.imap[0].idle_renew_secs"),
            (
                "processed_folder = \"INBOX\"\n",
                "intake.imap[0].processed_folder",
            ),
            ("batch = 0\n", "intake.imap[0].batch"),
            ("name2 = 1\n", "name2"),
        ] {
            let err = with_imap(dir.path(), &format!("{base}{extra}"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("c.toml") && err.contains(key),
                "{extra}: {err}"
            );
        }
        let err = with_imap(dir.path(), &format!("{base}\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("intake.imap[1].name") && err.contains("another"),
            "{err}"
        );
        let err = with_imap(
            dir.path(),
            &base.replace("imap-password", "missing-password"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("intake.imap[0].password_file"), "{err}");
    }

    #[test]
    fn smtp_user_needs_password_file() {
        let text = MINIMAL.replace(
            "transport = \"file\"",
            "transport = \"smtp\"\n[outbox.smtp]\nhost = \"localhost\"\nuser = \"cert\"",
        );
        let err = Config::from_toml(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("password_file"), "{err}");
    }

    #[test]
    fn smtp_sessions_and_the_flush_batch_have_defaults_and_limits() {
        let smtp = |extra: &str, outbox: &str| {
            MINIMAL.replace(
                "transport = \"file\"",
                &format!(
                    "transport = \"smtp\"\n{outbox}[outbox.smtp]\nhost = \"localhost\"\n{extra}"
                ),
            )
        };
        let cfg = Config::from_toml(&smtp("", ""), Path::new("c.toml")).expect("valid");
        let s = cfg.outbox.smtp.as_ref().expect("smtp");
        assert_eq!((s.connections, s.idle_secs), (4, 5));
        assert_eq!(cfg.outbox.flush_batch, 64);
        for (text, key) in [
            (smtp("connections = 0\n", ""), "outbox.smtp.connections"),
            (smtp("connections = 65\n", ""), "outbox.smtp.connections"),
            (smtp("", "flush_batch = 0\n"), "outbox.flush_batch"),
        ] {
            let err = Config::from_toml(&text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}

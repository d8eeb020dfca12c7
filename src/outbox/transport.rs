//! Where outgoing bytes go: a directory (the embedded default, for demos and
//! for sites that hand mail to another tool) or an SMTP relay through lettre.

use crate::config::{Config, SmtpTls, TransportKind};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{address::Envelope, Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: 4xx, connection refused, timeouts, disk full.
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help: 5xx, an address that does not parse.
    #[error("{0}")]
    Permanent(String),
}

pub enum Transport {
    File(FileTransport),
    Smtp {
        client: Box<AsyncSmtpTransport<Tokio1Executor>>,
        /// Plain and STARTTLS connections with TCP_NODELAY (see
        /// `smtp.rs`); None for implicit TLS, which goes through `client`.
        direct: Option<super::smtp::Direct>,
        /// Deadline for a whole SMTP transaction. lettre bounds only the
        /// connect; a server that accepts and then stalls must not hold the
        /// outbox (or a shutdown) forever.
        deadline: Duration,
    },
}

impl Transport {
    /// What `from_config` needs, checked without creating anything (for
    /// `check-config`); a note when something will be created at start.
    pub fn check(cfg: &Config) -> anyhow::Result<Option<String>> {
        match (&cfg.outbox.transport, &cfg.outbox.file) {
            (TransportKind::File, Some(f)) if !f.dir.is_dir() => {
                crate::preflight::creatable(&f.dir).map_err(|e| {
                    anyhow::anyhow!("cannot create outbox.file.dir {}: {e}", f.dir.display())
                })?;
                Ok(Some(format!(
                    "outbox {}: will be created at start",
                    f.dir.display()
                )))
            }
            (TransportKind::File, _) => Transport::from_config(cfg).map(|_| None),
            (TransportKind::Smtp, _) => {
                // lettre's builder may want a runtime to attach to.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let _entered = rt.enter();
                Transport::from_config(cfg).map(|_| None)
            }
        }
    }

    pub fn from_config(cfg: &Config) -> anyhow::Result<Transport> {
        match cfg.outbox.transport {
            TransportKind::File => {
                let dir = cfg
                    .outbox
                    .file
                    .as_ref()
                    .map(|f| f.dir.clone())
                    .ok_or_else(|| anyhow::anyhow!("outbox.file.dir is not set"))?;
                std::fs::create_dir_all(&dir).map_err(|e| {
                    anyhow::anyhow!("cannot create outbox directory {}: {e}", dir.display())
                })?;
                Ok(Transport::File(FileTransport { dir }))
            }
            TransportKind::Smtp => {
                let s = cfg
                    .outbox
                    .smtp
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("outbox.smtp is not set"))?;
                let tls = || -> anyhow::Result<TlsParameters> {
                    let mut b = TlsParameters::builder(s.host.clone());
                    if let Some(ca) = &s.ca_file {
                        let pem = std::fs::read(ca).map_err(|e| {
                            anyhow::anyhow!("cannot read outbox.smtp.ca_file {}: {e}", ca.display())
                        })?;
                        let cert = Certificate::from_pem(&pem).map_err(|e| {
                            anyhow::anyhow!(
                                "outbox.smtp.ca_file {} is not a PEM certificate: {e}",
                                ca.display()
                            )
                        })?;
                        b = b
                            .certificate_store(CertificateStore::None)
                            .add_root_certificate(cert);
                    }
                    Ok(b.build_rustls()?)
                };
                let tls = match s.tls {
                    SmtpTls::Implicit => Tls::Wrapper(tls()?),
                    SmtpTls::Starttls => Tls::Required(tls()?),
                    SmtpTls::None => {
                        tracing::warn!(host = %s.host, "SMTP without TLS (outbox.smtp.tls = \"none\"): only safe for a relay on this host");
                        Tls::None
                    }
                };
                let credentials = match (&s.user, cfg.smtp_password()?) {
                    (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password)),
                    _ => None,
                };
                let direct = match &tls {
                    Tls::Wrapper(_) => None,
                    other => Some(super::smtp::Direct {
                        host: s.host.clone(),
                        port: s.port,
                        tls: other.clone(),
                        credentials: credentials.clone(),
                        connect_timeout: Duration::from_secs(s.timeout_secs),
                    }),
                };
                let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
                    .port(s.port)
                    .tls(tls)
                    .timeout(Some(Duration::from_secs(s.timeout_secs)));
                if let Some(c) = credentials {
                    b = b.credentials(c);
                }
                Ok(Transport::Smtp {
                    client: Box::new(b.build()),
                    direct,
                    deadline: Duration::from_secs(s.timeout_secs),
                })
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::File(f) => format!("file:{}", f.dir.display()),
            Transport::Smtp { .. } => "smtp".into(),
        }
    }

    pub async fn send(
        &self,
        envelope_from: &str,
        to: &[String],
        message_id: &str,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        match self {
            Transport::File(f) => {
                let f = f.clone();
                let (from, to, mid, bytes) = (
                    envelope_from.to_string(),
                    to.to_vec(),
                    message_id.to_string(),
                    bytes.to_vec(),
                );
                tokio::task::spawn_blocking(move || f.write(&from, &to, &mid, &bytes))
                    .await
                    .map_err(|e| SendError::Transient(format!("file transport task failed: {e}")))?
            }
            Transport::Smtp {
                client,
                direct,
                deadline,
            } => {
                let parse = |a: &str| {
                    a.parse::<Address>()
                        .map_err(|e| SendError::Permanent(format!("address {a} is not valid: {e}")))
                };
                let from = parse(envelope_from)?;
                let rcpts = to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
                let envelope = Envelope::new(Some(from), rcpts)
                    .map_err(|e| SendError::Permanent(format!("no valid envelope: {e}")))?;
                let attempt = async {
                    match direct {
                        Some(d) => d.send(&envelope, bytes).await,
                        None => client
                            .send_raw(&envelope, bytes)
                            .await
                            .map(|_| ())
                            .map_err(smtp_error),
                    }
                };
                match tokio::time::timeout(*deadline, attempt).await {
                    Err(_) => Err(SendError::Transient(format!(
                        "SMTP: no complete answer within {} s (outbox.smtp.timeout_secs)",
                        deadline.as_secs()
                    ))),
                    Ok(r) => r,
                }
            }
        }
    }
}

/// What a failed SMTP transaction means for the outbox.
pub(super) fn smtp_error(e: lettre::transport::smtp::Error) -> SendError {
    // A rejected login is our configuration, not the recipient: keep the
    // mail queued until the password is fixed.
    if e.status().is_some_and(|c| c.to_string().starts_with("53")) {
        return SendError::Transient(format!(
            "SMTP authentication refused (check outbox.smtp.user and password_file): {e}"
        ));
    }
    if e.is_permanent() {
        return SendError::Permanent(format!("SMTP: {e}"));
    }
    SendError::Transient(format!("SMTP: {e}"))
}

/// Writes each message to `<dir>/<Message-ID>.eml`, with its envelope in a
/// `.json` beside it. Named by Message-ID (lettre's own file transport uses
/// a random name), so a retry after a crash overwrites identical bytes
/// instead of leaving a second copy: the directory shows each mail once.
#[derive(Clone)]
pub struct FileTransport {
    pub dir: PathBuf,
}

impl FileTransport {
    fn write(
        &self,
        from: &str,
        to: &[String],
        message_id: &str,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        let stem: String = message_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@.-_+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let envelope = serde_json::json!({ "from": from, "to": to, "message_id": message_id });
        let envelope = serde_json::to_vec_pretty(&envelope).unwrap_or_default();
        self.write_atomic(&format!("{stem}.json"), &envelope)?;
        self.write_atomic(&format!("{stem}.eml"), bytes)
    }

    fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), SendError> {
        use std::io::Write;
        let fail = |what: &str, e: std::io::Error| {
            SendError::Transient(format!("{what} in {}: {e}", self.dir.display()))
        };
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(|e| fail("cannot create file", e))?;
        f.write_all(bytes).map_err(|e| fail("cannot write", e))?;
        f.sync_all().map_err(|e| fail("cannot sync", e))?;
        std::fs::rename(&tmp, self.dir.join(name)).map_err(|e| fail("cannot rename", e))?;
        Ok(())
    }
}

//! Where outgoing bytes go: a directory (the embedded default, for demos and
//! for sites that hand mail to another tool) or an SMTP relay through lettre.

use super::smtp::Session;
use crate::config::{Config, SmtpTls, TransportKind};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{address::Envelope, Address};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
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
        /// Sessions on sockets with TCP_NODELAY, reused (see `smtp.rs`),
        /// in all three TLS modes.
        direct: Box<super::smtp::Direct>,
        /// `outbox.smtp.connections`: sessions delivering in parallel.
        connections: usize,
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
                let (session_tls, implicit) = match &tls {
                    Tls::Wrapper(_) => (
                        Tls::None,
                        Some(super::smtp::implicit_tls_config(s.ca_file.as_deref())?),
                    ),
                    other => (other.clone(), None),
                };
                let direct = Box::new(super::smtp::Direct {
                    host: s.host.clone(),
                    port: s.port,
                    tls: session_tls,
                    implicit,
                    credentials,
                    connect_timeout: Duration::from_secs(s.timeout_secs),
                    idle_close: Duration::from_secs(s.idle_secs),
                    idle: Default::default(),
                });
                Ok(Transport::Smtp {
                    direct,
                    connections: s.connections,
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

    /// Sessions that may deliver at once (1 for the file transport, which
    /// writes batches instead).
    pub fn connections(&self) -> usize {
        match self {
            Transport::File(_) => 1,
            Transport::Smtp { connections, .. } => *connections,
        }
    }

    /// The pooled SMTP sessions, for a worker of a pass and back.
    pub fn take_session(&self) -> Option<Session> {
        match self {
            Transport::Smtp { direct: d, .. } => d.take(),
            _ => None,
        }
    }

    pub fn put_session(&self, session: Option<Session>) {
        if let (Transport::Smtp { direct: d, .. }, Some(s)) = (self, session) {
            d.put(s);
        }
    }

    /// When the next pooled session is due to be closed for idleness.
    pub fn next_idle_close(&self) -> Option<std::time::Instant> {
        match self {
            Transport::Smtp { direct: d, .. } => d.next_idle_close(),
            _ => None,
        }
    }

    /// Closes the sessions idle for `outbox.smtp.idle_secs` (all with `all`).
    pub async fn close_idle(&self, all: bool) {
        if let Transport::Smtp { direct: d, .. } = self {
            d.close_idle(all).await;
        }
    }

    /// One message. Over SMTP on `session` (opened when None, left None
    /// when it failed); the file transport ignores it. Ok with the
    /// recipients the server refused (indexes into `to`), each with why:
    /// the others got it.
    pub async fn send(
        &self,
        session: &mut Option<Session>,
        envelope_from: &str,
        to: &[String],
        message_id: &str,
        bytes: &[u8],
    ) -> Result<Vec<(usize, SendError)>, SendError> {
        match self {
            Transport::File(f) => {
                let f = f.clone();
                let item = FileItem {
                    from: envelope_from.to_string(),
                    to: to.to_vec(),
                    message_id: message_id.to_string(),
                    bytes: bytes.to_vec(),
                };
                tokio::task::spawn_blocking(move || f.write_batch(&[item]).pop())
                    .await
                    .map_err(|e| SendError::Transient(format!("file transport task failed: {e}")))?
                    .unwrap_or_else(|| {
                        Err(SendError::Transient("file transport wrote nothing".into()))
                    })
                    .map(|()| Vec::new())
            }
            Transport::Smtp {
                direct, deadline, ..
            } => {
                let parse = |a: &str| {
                    a.parse::<Address>()
                        .map_err(|e| SendError::Permanent(format!("address {a} is not valid: {e}")))
                };
                let from = parse(envelope_from)?;
                let rcpts = to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
                let envelope = Envelope::new(Some(from), rcpts)
                    .map_err(|e| SendError::Permanent(format!("no valid envelope: {e}")))?;
                let attempt = direct.send(session, &envelope, bytes);
                match tokio::time::timeout(*deadline, attempt).await {
                    Err(_) => {
                        // Stopped mid-conversation: the session is unusable.
                        *session = None;
                        Err(SendError::Transient(format!(
                            "SMTP: no complete answer within {} s (outbox.smtp.timeout_secs)",
                            deadline.as_secs()
                        )))
                    }
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

/// One message for [`FileTransport::write_batch`].
pub struct FileItem {
    pub from: String,
    pub to: Vec<String>,
    pub message_id: String,
    pub bytes: Vec<u8>,
}

impl FileTransport {
    /// Writes every item, then makes the batch durable with one fsync of
    /// the directory instead of one per file (the way git's
    /// `core.fsyncMethod = batch` does): each file's writeback is started
    /// (sync_file_range) before it is renamed into place, and the
    /// directory's fsync commits the file system's journal, which on ext4
    /// (data=ordered) and XFS first waits for that data. A result per
    /// item, in order; a failed fsync fails them all (they are rewritten,
    /// under the same names, on the retry).
    pub fn write_batch(&self, items: &[FileItem]) -> Vec<Result<(), SendError>> {
        let mut results: Vec<Result<(), SendError>> = items
            .iter()
            .map(|i| self.write(&i.from, &i.to, &i.message_id, &i.bytes))
            .collect();
        if results.iter().any(Result::is_ok) {
            let synced = std::fs::File::open(&self.dir).and_then(|d| d.sync_all());
            if let Err(e) = synced {
                let error = format!(
                    "cannot sync the outbox directory {} (outbox.file.dir): {e}",
                    self.dir.display()
                );
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(SendError::Transient(error.clone()));
                }
            }
        }
        results
    }

    fn write(
        &self,
        from: &str,
        to: &[String],
        message_id: &str,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        let stem = file_stem(message_id);
        let envelope = serde_json::json!({ "from": from, "to": to, "message_id": message_id });
        let envelope = serde_json::to_vec_pretty(&envelope).unwrap_or_default();
        self.write_file(&format!("{stem}.json"), &envelope)?;
        self.write_file(&format!("{stem}.eml"), bytes)
    }

    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), SendError> {
        use std::io::Write;
        let fail = |what: &str, e: std::io::Error| {
            SendError::Transient(format!(
                "{what} in {} (outbox.file.dir): {e}",
                self.dir.display()
            ))
        };
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(|e| fail("cannot create file", e))?;
        f.write_all(bytes).map_err(|e| fail("cannot write", e))?;
        start_writeback(&f).map_err(|e| fail("cannot sync", e))?;
        std::fs::rename(&tmp, self.dir.join(name)).map_err(|e| fail("cannot rename", e))?;
        Ok(())
    }
}

/// The file name of a Message-ID: the same for every attempt of an entry.
pub fn file_stem(message_id: &str) -> String {
    message_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Starts writing `f`'s data to disk without waiting for it (the
/// directory's fsync at the end of the batch waits for all of it).
#[cfg(target_os = "linux")]
fn start_writeback(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; offset 0, length 0 = the whole file.
    let rc = unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Elsewhere there is no writeback hint: each file is synced on its own.
#[cfg(not(target_os = "linux"))]
fn start_writeback(f: &std::fs::File) -> std::io::Result<()> {
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(mid: &str, body: &str) -> FileItem {
        FileItem {
            from: "cert@cert.example".into(),
            to: vec!["reporter@example.test".into()],
            message_id: mid.into(),
            bytes: body.as_bytes().to_vec(),
        }
    }

    /// A batch written twice (a re-send after a crash) leaves one file per
    /// message, with its bytes, and nothing temporary.
    #[test]
    fn a_batch_written_again_overwrites_its_own_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = FileTransport {
            dir: dir.path().to_path_buf(),
        };
        let batch = [item("<a@cert.example>", "A"), item("<b@cert.example>", "B")];
        for _ in 0..2 {
            let r = f.write_batch(&batch);
            assert!(r.iter().all(Result::is_ok), "{:?}", r.len());
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "_a@cert.example_.eml",
                "_a@cert.example_.json",
                "_b@cert.example_.eml",
                "_b@cert.example_.json"
            ]
        );
        let a = std::fs::read(dir.path().join("_a@cert.example_.eml")).expect("a");
        assert_eq!(a, b"A");
    }

    /// A directory that cannot be written fails each message of the batch
    /// (transiently: they stay queued), and names the config key.
    #[test]
    fn an_unwritable_directory_fails_the_batch_transiently() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = FileTransport {
            dir: dir.path().join("missing"),
        };
        let r = f.write_batch(&[item("<a@x>", "A"), item("<b@x>", "B")]);
        assert_eq!(r.len(), 2);
        for e in r {
            match e {
                Err(SendError::Transient(m)) => assert!(m.contains("outbox.file.dir"), "{m}"),
                other => panic!("{:?}", other.is_ok()),
            }
        }
    }
}

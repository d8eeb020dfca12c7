//! SMTP sessions over connections whose sockets have TCP_NODELAY, each
//! reused for many transactions and kept in a small pool between passes.
//! lettre writes the closing `.` of DATA as its own small segment; with
//! Nagle's algorithm that segment waits for the server's delayed ACK (about
//! 40 ms on Linux), which made every delivery cost ~50 ms and a 5,000-copy
//! advisory take minutes to drain. lettre's own connect does not set the
//! option, so connections are made here and handed to lettre's connection
//! type: plain, STARTTLS (lettre upgrades them) and implicit TLS (the
//! handshake is made here with tokio-rustls, lettre speaks SMTP over it).

use super::dispatch::{self, Reuse};
use super::transport::SendError;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Tls};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::Error as SmtpError;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls;

pub struct Direct {
    pub host: String,
    pub port: u16,
    /// `Tls::None` or `Tls::Required` (STARTTLS that must succeed); for
    /// implicit TLS, `Tls::None` with `implicit` set.
    pub tls: Tls,
    /// Implicit TLS (port 465): the TLS handshake is made here, on the
    /// socket with TCP_NODELAY, and lettre speaks SMTP over the result.
    pub implicit: Option<Arc<rustls::ClientConfig>>,
    pub credentials: Option<Credentials>,
    pub connect_timeout: Duration,
    /// `outbox.smtp.idle_secs`.
    pub idle_close: Duration,
    /// Sessions between passes; a worker takes one and gives it back.
    pub idle: Mutex<Vec<Session>>,
}

/// One open connection and when it last finished a transaction.
pub struct Session {
    conn: AsyncSmtpConnection,
    last_used: Instant,
    /// Transactions completed on it.
    sent: u64,
    /// The server offers ESMTP PIPELINING (RFC 2920).
    pipelining: bool,
}

/// Why a transaction failed as a whole: no connection at all, a message
/// this server cannot take as it is, or an SMTP error (with or without a
/// reply code) on one.
enum Failed {
    Local(String),
    Smtp(SmtpError),
}

impl Failed {
    fn into_send_error(self) -> SendError {
        match self {
            Failed::Local(e) => SendError::Transient(e),
            Failed::Smtp(e) => super::transport::smtp_error(e),
        }
    }
}

/// The recipients (as indexes into the envelope's) a transaction that
/// went through was refused for, each with the server's reply: empty
/// when the server took the message for all of them.
pub type Refused = Vec<(usize, SmtpError)>;

/// lettre's default mechanisms, in its order.
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

impl Direct {
    /// One transaction on `session` (opened, checked or replaced as
    /// [`dispatch::reuse`] says). A session that fails is closed and left
    /// `None`; a reused one that fails without a reply from the server is
    /// replaced and the message tried once more on the new connection.
    /// A refused recipient does not fail the others: the message goes to
    /// those the server accepted, and the refusals come back.
    ///
    /// Recipients past the server's limit per transaction (452, RFC 5321
    /// §4.5.3.1.10) are sent the message in further transactions on the
    /// same session at once, as long as each takes some; the refusals
    /// come back with indexes into `envelope.to()`.
    pub async fn send(
        &self,
        session: &mut Option<Session>,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<Vec<(usize, SendError)>, SendError> {
        let all: Vec<usize> = (0..envelope.to().len()).collect();
        let mut refused = Vec::new();
        let first = self.send_one(session, envelope, bytes).await?;
        let mut rest = past_the_limit(first, &all, &mut refused);
        while !rest.is_empty() && rest.len() < all.len() {
            let to: Vec<_> = rest.iter().map(|&i| envelope.to()[i].clone()).collect();
            let sub = Envelope::new(envelope.from().cloned(), to)
                .map_err(|e| SendError::Permanent(format!("no valid envelope: {e}")))?;
            let round = match self.send_one(session, &sub, bytes).await {
                Ok(r) => r,
                Err(e) => {
                    // The others have it: only these are refused.
                    refused.extend(rest.drain(..).map(|i| (i, e.clone())));
                    break;
                }
            };
            let next = past_the_limit(round, &rest, &mut refused);
            let stuck = next.len() == rest.len();
            rest = next;
            if stuck {
                break;
            }
        }
        refused.extend(rest.into_iter().map(|i| {
            (
                i,
                SendError::Transient("SMTP: 452 too many recipients for one transaction".into()),
            )
        }));
        refused.sort_by_key(|(i, _)| *i);
        Ok(refused)
    }

    async fn send_one(
        &self,
        session: &mut Option<Session>,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<Refused, SendError> {
        if let Some(s) = session.as_mut() {
            match dispatch::reuse(s.last_used.elapsed(), self.idle_close) {
                Reuse::Send => {}
                Reuse::Check => {
                    if s.conn.command(Rset).await.is_err() {
                        *session = None;
                    }
                }
                Reuse::Replace => {
                    if let Some(mut s) = session.take() {
                        s.conn.abort().await;
                    }
                }
            }
        }
        let reused = session.is_some();
        match self.transaction(session, envelope, bytes).await {
            Err(Failed::Smtp(e)) if dispatch::retry_on_fresh(reused, e.status().is_some()) => {
                tracing::debug!(error = %e, "SMTP session closed by the server; sending on a new one");
                self.transaction(session, envelope, bytes)
                    .await
                    .map_err(Failed::into_send_error)
            }
            r => r.map_err(Failed::into_send_error),
        }
    }

    async fn transaction(
        &self,
        session: &mut Option<Session>,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<Refused, Failed> {
        let mut s = match session.take() {
            Some(s) => s,
            None => {
                let (conn, pipelining) = self.connect().await?;
                Session {
                    conn,
                    last_used: Instant::now(),
                    sent: 0,
                    pipelining,
                }
            }
        };
        let result = if s.pipelining {
            speak_pipelined(&mut s.conn, envelope, bytes).await
        } else {
            speak(&mut s.conn, envelope, bytes).await
        };
        if result.is_err() && !s.conn.has_broken() {
            // Whatever the server said, the session is left without a
            // transaction.
            reset(&mut s.conn).await;
        }
        if !s.conn.has_broken() {
            s.last_used = Instant::now();
            s.sent += u64::from(result.is_ok());
            *session = Some(s);
        }
        result
    }

    /// A session from the pool, if one is open.
    pub fn take(&self) -> Option<Session> {
        self.idle.lock().ok().and_then(|mut v| v.pop())
    }

    pub fn put(&self, session: Session) {
        if let Ok(mut v) = self.idle.lock() {
            v.push(session);
        }
    }

    /// When the oldest pooled session reaches `idle_secs`, if any is open.
    pub fn next_idle_close(&self) -> Option<Instant> {
        let v = self.idle.lock().ok()?;
        v.iter().map(|s| s.last_used + self.idle_close).min()
    }

    /// QUITs the pooled sessions idle for `idle_secs` (all with `all`).
    pub async fn close_idle(&self, all: bool) {
        let closing: Vec<Session> = match self.idle.lock() {
            Ok(mut v) => {
                let (old, keep) = std::mem::take(&mut *v)
                    .into_iter()
                    .partition(|s| all || s.last_used.elapsed() >= self.idle_close);
                *v = keep;
                old
            }
            Err(_) => return,
        };
        for mut s in closing {
            tracing::debug!(messages = s.sent, "closing an idle SMTP session");
            let _ = tokio::time::timeout(self.connect_timeout, s.conn.abort()).await;
        }
    }

    /// A new session, and whether its server offers PIPELINING.
    async fn connect(&self) -> Result<(AsyncSmtpConnection, bool), Failed> {
        let hello = ClientId::default();
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| {
            Failed::Local(format!(
                "SMTP: connection to {}:{} timed out (outbox.smtp.timeout_secs)",
                self.host, self.port
            ))
        })?
        .map_err(|e| {
            Failed::Local(format!(
                "SMTP: connection to {}:{}: {e}",
                self.host, self.port
            ))
        })?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit {
            None => Box::new(tcp),
            Some(cfg) => {
                let name =
                    rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| {
                        Failed::Local(format!(
                            "SMTP: `{}` is not a valid TLS server name (outbox.smtp.host): {e}",
                            self.host
                        ))
                    })?;
                let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| {
                        Failed::Local(format!(
                            "SMTP: TLS handshake with {}:{} failed (outbox.smtp.ca_file, outbox.smtp.tls): {e}",
                            self.host, self.port
                        ))
                    })?;
                Box::new(ImplicitTls(tls))
            }
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &hello)
            .await
            .map_err(Failed::Smtp)?;
        if let Tls::Required(p) = &self.tls {
            // Fails when the server does not offer STARTTLS: never in clear.
            conn.starttls(p.clone(), &hello)
                .await
                .map_err(Failed::Smtp)?;
        }
        // lettre keeps only the EHLO keywords it knows, and PIPELINING is
        // not one: the greeting is asked for once more (RFC 5321 allows it
        // at any time; before AUTH, which a new EHLO may reset).
        let ehlo = conn
            .command(Ehlo::new(hello.clone()))
            .await
            .map_err(Failed::Smtp)?;
        let pipelining = offers_pipelining(ehlo.message());
        if let Some(c) = &self.credentials {
            conn.auth(&MECHANISMS, c).await.map_err(Failed::Smtp)?;
        }
        tracing::debug!(host = %self.host, port = self.port, pipelining, "SMTP session opened");
        Ok((conn, pipelining))
    }
}

/// One transaction: MAIL, a RCPT per recipient, DATA. lettre's own `send`
/// fails the whole transaction (and closes the session) at the first
/// refused RCPT; a copy for many recipients must reach the others, so the
/// commands are sent here one by one. A reply without a code (the
/// connection broke) closes the session; a reply with one leaves it open.
async fn speak(
    conn: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    bytes: &[u8],
) -> Result<Refused, Failed> {
    let mail = mail_command(conn, envelope, bytes)?;
    if let Err(e) = conn.command(mail).await {
        return Err(failed(conn, e).await);
    }
    let mut refused = Vec::new();
    for (i, to) in envelope.to().iter().enumerate() {
        if let Err(e) = conn.command(Rcpt::new(to.clone(), Vec::new())).await {
            if broke(conn, &e) {
                return Err(failed(conn, e).await);
            }
            refused.push((i, e));
        }
    }
    if refused.len() == envelope.to().len() {
        // Nobody to send it to: no DATA.
        reset(conn).await;
        return Ok(refused);
    }
    let sent = async {
        conn.command(Data).await?;
        conn.message(bytes).await
    }
    .await;
    match sent {
        Ok(_) => Ok(refused),
        Err(e) => Err(failed(conn, e).await),
    }
}

/// The same transaction with ESMTP PIPELINING (RFC 2920): MAIL, every
/// RCPT and DATA go out in one write, and their replies are read in
/// order; then the message, when DATA was answered 354. Two round trips
/// per message instead of three and one per recipient. Every reply is
/// read, whatever the ones before said, so that the session stays in
/// step with the server.
async fn speak_pipelined(
    conn: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    bytes: &[u8],
) -> Result<Refused, Failed> {
    let mail = mail_command(conn, envelope, bytes)?;
    let pipeline = Pipeline {
        mail,
        rcpts: envelope
            .to()
            .iter()
            .map(|to| Rcpt::new(to.clone(), Vec::new()))
            .collect(),
    };
    let mail = match conn.command(pipeline).await {
        Err(e) if broke(conn, &e) => return Err(failed(conn, e).await),
        mail => mail,
    };
    let mut refused = Vec::new();
    for i in 0..envelope.to().len() {
        if let Err(e) = conn.read_response().await {
            if broke(conn, &e) {
                return Err(failed(conn, e).await);
            }
            refused.push((i, e));
        }
    }
    let data = match conn.read_response().await {
        Err(e) if broke(conn, &e) => return Err(failed(conn, e).await),
        data => data,
    };
    let nobody = refused.len() == envelope.to().len();
    match (mail, data) {
        (Ok(_), Ok(_)) if !nobody => match conn.message(bytes).await {
            Ok(_) => Ok(refused),
            Err(e) => Err(failed(conn, e).await),
        },
        (Ok(_), Ok(_)) => {
            // 354 with no recipient taken (a server should say 554):
            // an empty message ends the transaction, delivered to nobody.
            end_empty(conn).await?;
            Ok(refused)
        }
        (Ok(_), Err(_)) if nobody => {
            reset(conn).await;
            Ok(refused)
        }
        (Ok(_), Err(e)) => Err(Failed::Smtp(e)),
        (Err(e), data) => {
            if data.is_ok() {
                end_empty(conn).await?;
            }
            Err(Failed::Smtp(e))
        }
    }
}

/// Leaves the session without a transaction (RSET), or closes it when
/// the server does not answer that.
async fn reset(conn: &mut AsyncSmtpConnection) {
    if conn.command(Rset).await.is_err() {
        conn.abort().await;
    }
}

/// Ends a DATA the server should not have opened with an empty message.
async fn end_empty(conn: &mut AsyncSmtpConnection) -> Result<(), Failed> {
    match conn.message(b"").await {
        Err(e) if broke(conn, &e) => Err(failed(conn, e).await),
        _ => Ok(()),
    }
}

/// MAIL, the RCPTs and DATA as one write.
struct Pipeline {
    mail: Mail,
    rcpts: Vec<Rcpt>,
}

impl std::fmt::Display for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.mail)?;
        for rcpt in &self.rcpts {
            write!(f, "{rcpt}")?;
        }
        write!(f, "{Data}")
    }
}

/// Whether the lines of an EHLO reply name the PIPELINING keyword.
fn offers_pipelining<'a>(mut lines: impl Iterator<Item = &'a str>) -> bool {
    lines.any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("PIPELINING"))
    })
}

/// The MAIL command for `envelope`, with SMTPUTF8 and 8BITMIME as the
/// addresses and `bytes` need them; an error when the server lacks one.
fn mail_command(
    conn: &AsyncSmtpConnection,
    envelope: &Envelope,
    bytes: &[u8],
) -> Result<Mail, Failed> {
    let mut options = Vec::new();
    let addresses = envelope.to().iter().chain(envelope.from());
    if addresses
        .clone()
        .any(|a| !AsRef::<str>::as_ref(a).is_ascii())
    {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(Failed::Local(
                "SMTP: an address is not ASCII and the server does not offer SMTPUTF8".into(),
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(Failed::Local(
                "SMTP: the message is not 7-bit and the server does not offer 8BITMIME".into(),
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(Mail::new(envelope.from().cloned(), options))
}

/// Of a transaction to the recipients `asked` (indexes into the whole
/// envelope), those refused with 452 (the server takes no more in this
/// transaction), as indexes into the whole envelope; the other refusals
/// go to `refused`.
fn past_the_limit(
    round: Refused,
    asked: &[usize],
    refused: &mut Vec<(usize, SendError)>,
) -> Vec<usize> {
    let mut rest = Vec::new();
    for (j, e) in round {
        let Some(&i) = asked.get(j) else { continue };
        if e.status().is_some_and(|c| c.to_string() == "452") {
            rest.push(i);
        } else {
            refused.push((i, super::transport::smtp_error(e)));
        }
    }
    rest
}

/// A failed command broke the connection: no reply code came.
fn broke(conn: &AsyncSmtpConnection, e: &SmtpError) -> bool {
    e.status().is_none() || conn.has_broken()
}

/// The failure `e` of a command: the connection is closed first when it
/// broke, and left open for a reply with a code.
async fn failed(conn: &mut AsyncSmtpConnection, e: SmtpError) -> Failed {
    if broke(conn, &e) {
        conn.abort().await;
    }
    Failed::Smtp(e)
}

/// A TLS stream from the first byte, for lettre to speak SMTP over.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// The rustls configuration for implicit TLS: `outbox.smtp.ca_file` as the
/// only trusted root, else the system's roots.
pub fn implicit_tls_config(
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    anyhow::anyhow!("cannot read outbox.smtp.ca_file {}: {e}", path.display())
                })?;
            if roots.add_parsable_certificates(certs).0 == 0 {
                anyhow::bail!(
                    "outbox.smtp.ca_file {} holds no usable PEM certificate",
                    path.display()
                );
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            if roots.add_parsable_certificates(found.certs).0 == 0 {
                anyhow::bail!(
                    "no system CA certificates found for outbox.smtp.tls = \"implicit\"; install ca-certificates or set outbox.smtp.ca_file"
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests;

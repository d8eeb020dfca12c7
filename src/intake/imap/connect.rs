//! One authenticated IMAP connection: TCP, TLS (implicit or STARTTLS, or
//! none when configured), the greeting, and LOGIN or AUTHENTICATE PLAIN.

use super::ImapError;
use crate::config::{ImapAuth, ImapConfig, ImapTls};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

pub type Session = async_imap::Session<Stream>;

/// The connection under the IMAP client, plain or TLS, so that STARTTLS
/// can swap one for the other and both give the same session type.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The rustls client configuration for an account: its `ca_file` as the
/// only trusted root, else the system's roots. Built once at start so that
/// a bad CA file stops the daemon instead of every connection failing.
pub fn tls_config(acct: &ImapConfig) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match &acct.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    ImapError::TlsConfig(format!("cannot read ca_file {}: {e}", path.display()))
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(ImapError::TlsConfig(format!(
                    "ca_file {} holds no usable PEM certificate",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(account = %acct.name, error = %e, "skipping unreadable system CA certificates");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(ImapError::TlsConfig(
                    "no system CA certificates found; install ca-certificates or set ca_file"
                        .into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::TlsConfig(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Runs `fut`, failing with [`ImapError::Timeout`] naming `step` after `limit`.
pub async fn within<T, E>(
    limit: Duration,
    step: &'static str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ImapError>
where
    ImapError: From<(&'static str, E)>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ImapError::from((step, e))),
        Err(_) => Err(ImapError::Timeout { step, limit }),
    }
}

/// Opens, secures and authenticates a connection.
pub async fn open(
    acct: &ImapConfig,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Session, ImapError> {
    let limit = Duration::from_secs(acct.timeout_secs);
    let addr = format!("{}:{}", acct.host, acct.port());
    let tcp = within(
        limit,
        "connect",
        TcpStream::connect((acct.host.as_str(), acct.port())),
    )
    .await
    .map_err(|e| match e {
        ImapError::Io { source, .. } => ImapError::Connect {
            addr: addr.clone(),
            source,
        },
        other => other,
    })?;
    // IMAP is request/response with small commands: Nagle only adds delay.
    let _ = tcp.set_nodelay(true);
    let client = match (acct.tls, tls) {
        (ImapTls::Implicit, Some(cfg)) => {
            let tls = handshake(acct, cfg, tcp, limit).await?;
            greeted(async_imap::Client::new(Stream::Tls(Box::new(tls))), limit).await?
        }
        (ImapTls::Starttls, Some(cfg)) => {
            let mut plain = greeted(async_imap::Client::new(Stream::Plain(tcp)), limit).await?;
            within(
                limit,
                "STARTTLS",
                plain.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let Stream::Plain(tcp) = plain.into_inner() else {
                return Err(ImapError::TlsConfig("STARTTLS on a TLS stream".into()));
            };
            let tls = handshake(acct, cfg, tcp, limit).await?;
            // No greeting follows STARTTLS: the server waits for a command.
            async_imap::Client::new(Stream::Tls(Box::new(tls)))
        }
        (ImapTls::None, _) => greeted(async_imap::Client::new(Stream::Plain(tcp)), limit).await?,
        (_, None) => {
            return Err(ImapError::TlsConfig(
                "TLS requested but not configured".into(),
            ))
        }
    };
    let password = read_password(acct)?;
    let login = async {
        match acct.auth {
            ImapAuth::Login => client.login(&acct.user, &password).await,
            ImapAuth::Plain => {
                let auth = Plain {
                    user: acct.user.clone(),
                    password: password.clone(),
                };
                client.authenticate("PLAIN", auth).await
            }
        }
    };
    match tokio::time::timeout(limit, login).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((source, _client))) => Err(ImapError::Auth {
            user: acct.user.clone(),
            source,
        }),
        Err(_) => Err(ImapError::Timeout {
            step: "login",
            limit,
        }),
    }
}

async fn handshake(
    acct: &ImapConfig,
    cfg: &Arc<rustls::ClientConfig>,
    tcp: TcpStream,
    limit: Duration,
) -> Result<TlsStream<TcpStream>, ImapError> {
    let name = rustls::pki_types::ServerName::try_from(acct.host.clone()).map_err(|e| {
        ImapError::TlsConfig(format!(
            "`{}` is not a valid TLS server name: {e}",
            acct.host
        ))
    })?;
    let connector = tokio_rustls::TlsConnector::from(cfg.clone());
    within(limit, "TLS handshake", connector.connect(name, tcp)).await
}

/// Reads the server greeting, which must be OK (PREAUTH is not expected
/// from a server that asks for our password).
async fn greeted(
    mut client: async_imap::Client<Stream>,
    limit: Duration,
) -> Result<async_imap::Client<Stream>, ImapError> {
    use async_imap::imap_proto::{Response, Status};
    let greeting = within(limit, "greeting", client.read_response()).await?;
    let Some(greeting) = greeting else {
        return Err(ImapError::Closed);
    };
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok, ..
        } => Ok(client),
        Response::Data {
            status,
            information,
            ..
        } => Err(ImapError::Greeting(format!(
            "{status:?} {}",
            information.as_deref().unwrap_or("")
        ))),
        other => Err(ImapError::Greeting(format!("unexpected {other:?}"))),
    }
}

pub(super) fn read_password(acct: &ImapConfig) -> Result<String, ImapError> {
    let text =
        std::fs::read_to_string(&acct.password_file).map_err(|source| ImapError::Password {
            path: acct.password_file.display().to_string(),
            source,
        })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// SASL PLAIN (RFC 4616): no authorization identity, then user and password.
struct Plain {
    user: String,
    password: String,
}

impl async_imap::Authenticator for Plain {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        let mut r = Vec::with_capacity(self.user.len() + self.password.len() + 2);
        r.push(0);
        r.extend_from_slice(self.user.as_bytes());
        r.push(0);
        r.extend_from_slice(self.password.as_bytes());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::Authenticator;

    #[test]
    fn plain_response_is_nul_separated() {
        let mut p = Plain {
            user: "cert".into(),
            password: "secret".into(),
        };
        assert_eq!(p.process(b""), b"\0cert\0secret");
    }
}

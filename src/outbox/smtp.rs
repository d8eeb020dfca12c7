//! One SMTP transaction over a connection whose socket has TCP_NODELAY.
//! lettre writes the closing `.` of DATA as its own small segment; with
//! Nagle's algorithm that segment waits for the server's delayed ACK (about
//! 40 ms on Linux), which made every delivery cost ~50 ms and a 5,000-copy
//! advisory take minutes to drain. lettre's own connect does not set the
//! option, so plain and STARTTLS connections are made here and handed to
//! lettre's connection type; implicit TLS still goes through lettre's
//! transport.

use super::transport::SendError;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls};
use lettre::transport::smtp::extension::ClientId;
use std::time::Duration;

pub struct Direct {
    pub host: String,
    pub port: u16,
    /// `Tls::None` or `Tls::Required` (STARTTLS that must succeed).
    pub tls: Tls,
    pub credentials: Option<Credentials>,
    pub connect_timeout: Duration,
}

/// lettre's default mechanisms, in its order.
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

impl Direct {
    pub async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let mut conn = self.connect().await?;
        let result = conn.send(envelope, bytes).await;
        // QUIT and close, as lettre's transport does without a pool.
        conn.abort().await;
        result.map(|_| ()).map_err(super::transport::smtp_error)
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let hello = ClientId::default();
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| {
            SendError::Transient(format!(
                "SMTP: connection to {}:{} timed out",
                self.host, self.port
            ))
        })?
        .map_err(|e| {
            SendError::Transient(format!(
                "SMTP: connection to {}:{}: {e}",
                self.host, self.port
            ))
        })?;
        let _ = tcp.set_nodelay(true);
        let map = super::transport::smtp_error;
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello)
            .await
            .map_err(map)?;
        if let Tls::Required(p) = &self.tls {
            // Fails when the server does not offer STARTTLS: never in clear.
            conn.starttls(p.clone(), &hello).await.map_err(map)?;
        }
        if let Some(c) = &self.credentials {
            conn.auth(&MECHANISMS, c).await.map_err(map)?;
        }
        Ok(conn)
    }
}

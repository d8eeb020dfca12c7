//! The configured way of authenticating senders (`[auth] mode`), as the
//! pipeline uses it: nothing, the receiving MTA's results, or csirtd's own
//! DKIM, SPF and DMARC checks over DNS.

use super::{trusted, Authentication, Verifier, VerifierSettings};
use crate::config::{AuthConfig, AuthMode};

pub enum Authenticator {
    Off,
    TrustedResults { authserv_id: String },
    Verify(Box<Verifier>),
}

impl Authenticator {
    pub fn from_config(c: &AuthConfig) -> Result<Authenticator, super::VerifierError> {
        Ok(match c.mode {
            AuthMode::Off => Authenticator::Off,
            AuthMode::TrustedResults => Authenticator::TrustedResults {
                authserv_id: c.authserv_id.clone().unwrap_or_default(),
            },
            AuthMode::Verify => {
                Authenticator::Verify(Box::new(Verifier::new(VerifierSettings::from_config(c))?))
            }
        })
    }

    /// The results for a batch, in order; verification runs concurrently.
    pub fn all(&self, messages: &[&[u8]]) -> Vec<Authentication> {
        match self {
            Authenticator::Off => messages.iter().map(|_| Authentication::off()).collect(),
            Authenticator::TrustedResults { authserv_id } => messages
                .iter()
                .map(|m| trusted::from_results(m, authserv_id))
                .collect(),
            Authenticator::Verify(v) => v.verify_all(messages),
        }
    }

    pub fn one(&self, raw: &[u8]) -> Authentication {
        self.all(&[raw])
            .pop()
            .unwrap_or_else(|| Authentication::unavailable("no result"))
    }
}

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
        self.all_guarded(messages, &super::unguarded)
    }

    /// As [`Authenticator::all`], each message's parse run through `guard`.
    pub fn all_guarded(&self, messages: &[&[u8]], guard: &super::Guard<'_>) -> Vec<Authentication> {
        match self {
            Authenticator::Off => messages.iter().map(|_| Authentication::off()).collect(),
            Authenticator::TrustedResults { authserv_id } => messages
                .iter()
                .map(|m| {
                    let mut out = Authentication::unavailable(super::DECLINED);
                    guard(m, &mut || {
                        #[cfg(debug_assertions)]
                        super::test_fault(m);
                        out = trusted::from_results(m, authserv_id);
                    });
                    out
                })
                .collect(),
            Authenticator::Verify(v) => v.verify_all_guarded(messages, guard),
        }
    }
}

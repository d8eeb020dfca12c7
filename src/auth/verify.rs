//! `verify` mode: csirtd checks DKIM, SPF and DMARC itself with mail-auth,
//! through the configured DNS resolvers, on a small tokio runtime of its
//! own (intake runs on plain threads). Each message gets a time limit;
//! what has not finished by then is a temperror, never a guess.

use super::cache::{DnsCaches, MAX_TTL};
use super::received::{self, Envelope};
use super::{
    bound_name, bound_text, domain_of, AuthResult, AuthSource, Authentication, DkimCheck,
    DmarcCheck, DmarcPolicy, SpfCheck, MAX_DKIM_CHECKS,
};
use futures_util::{FutureExt, StreamExt};
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimOutput, DkimResult, DmarcResult, MessageAuthenticator, Parameters,
    SpfOutput, SpfResult,
};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// Messages of one batch verified at the same time.
const BATCH_CONCURRENCY: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    #[error("cannot start the verifier's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

#[derive(Debug, Clone)]
pub struct VerifierSettings {
    /// `ip:port` of the resolvers; empty = the system's resolv.conf.
    pub resolvers: Vec<SocketAddr>,
    /// Per message, all lookups included.
    pub timeout: Duration,
    /// Which `Received` header is the receiving MTA's (0 = topmost).
    pub received_hop: usize,
    /// TXT records kept (other record types get a quarter each).
    pub cache_entries: usize,
}

impl Default for VerifierSettings {
    fn default() -> Self {
        VerifierSettings {
            resolvers: Vec::new(),
            timeout: Duration::from_secs(5),
            received_hop: 0,
            cache_entries: 4096,
        }
    }
}

impl VerifierSettings {
    pub fn from_config(c: &crate::config::AuthConfig) -> VerifierSettings {
        VerifierSettings {
            resolvers: c.resolver_addrs(),
            timeout: Duration::from_secs(c.timeout_secs.max(1)),
            received_hop: c.received_hop,
            ..VerifierSettings::default()
        }
    }
}

pub struct Verifier {
    /// Always Some until dropped; see the Drop impl.
    runtime: Option<tokio::runtime::Runtime>,
    authenticator: MessageAuthenticator,
    caches: DnsCaches,
    settings: VerifierSettings,
}

impl Drop for Verifier {
    /// The daemon may drop the pipeline (and so this) from async code,
    /// where dropping a runtime the ordinary way panics.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Verifier {
    pub fn new(settings: VerifierSettings) -> Result<Verifier, VerifierError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(VerifierError::Runtime)?;
        let (config, mut opts) = if settings.resolvers.is_empty() {
            mail_auth::hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| VerifierError::Resolver(e.to_string()))?
        } else {
            let servers = settings
                .resolvers
                .iter()
                .map(|a| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = a.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = a.port();
                    NameServerConfig::new(a.ip(), true, vec![udp, tcp])
                })
                .collect();
            (
                ResolverConfig::from_name_servers(servers),
                ResolverOpts::default(),
            )
        };
        // Our own time limit bounds the whole message; the resolver's only
        // needs to give up on one server in time to try the next.
        opts.timeout = settings.timeout.min(Duration::from_secs(5));
        opts.attempts = 1;
        opts.positive_max_ttl = Some(MAX_TTL);
        opts.negative_max_ttl = Some(Duration::from_secs(60));
        let authenticator = {
            // hickory wants a runtime context while it is built.
            let _enter = runtime.enter();
            MessageAuthenticator::new(config, opts)
                .map_err(|e| VerifierError::Resolver(e.to_string()))?
        };
        Ok(Verifier {
            runtime: Some(runtime),
            authenticator,
            caches: DnsCaches::new(settings.cache_entries),
            settings,
        })
    }

    /// DNS answers served from the cache so far (for tests and stats).
    pub fn cache_hits(&self) -> u64 {
        self.caches.hits()
    }

    pub fn verify_one(&self, raw: &[u8]) -> Authentication {
        self.verify_all(&[raw])
            .pop()
            .unwrap_or_else(|| Authentication::unavailable("verification returned no result"))
    }

    /// Verifies a batch concurrently; results in the order of `messages`.
    /// Blocks the calling thread, which must not be inside a tokio runtime.
    pub fn verify_all(&self, messages: &[&[u8]]) -> Vec<Authentication> {
        self.verify_all_guarded(messages, &super::unguarded)
    }

    /// As [`Verifier::verify_all`], each message's parse (the part that
    /// reads its bytes with the most code) run through `guard`, which may
    /// decline it: see [`super::Guard`].
    pub fn verify_all_guarded(
        &self,
        messages: &[&[u8]],
        guard: &super::Guard<'_>,
    ) -> Vec<Authentication> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return messages
                .iter()
                .map(|_| {
                    Authentication::unavailable(
                        "verifier called from inside an async runtime; not checked",
                    )
                })
                .collect();
        }
        let Some(runtime) = &self.runtime else {
            return Vec::new();
        };
        // Err: why the message is not verified.
        let parsed: Vec<Result<Parsed<'_>, &str>> = messages
            .iter()
            .map(|raw| {
                let mut out = Err(super::DECLINED);
                let examined = guard(raw, &mut || {
                    out = std::panic::catch_unwind(AssertUnwindSafe(|| self.parse(raw)))
                        .unwrap_or(Err(
                            "message could not be parsed for verification (the parser failed internally)",
                        ));
                });
                if examined {
                    out
                } else {
                    Err(super::DECLINED)
                }
            })
            .collect();
        runtime.block_on(
            futures_util::stream::iter(parsed.into_iter().map(|p| async move {
                match p {
                    Ok(p) => self.verify_guarded(p).await,
                    Err(why) => Authentication::unavailable(why),
                }
            }))
            .buffered(BATCH_CONCURRENCY)
            .collect::<Vec<_>>(),
        )
    }

    /// A panic inside the verifier on one hostile message must not take
    /// the intake thread down with it.
    async fn verify_guarded(&self, parsed: Parsed<'_>) -> Authentication {
        AssertUnwindSafe(self.verify_parsed(parsed))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Authentication::unavailable("verification failed internally"))
    }

    /// The synchronous part: the message's headers and its envelope.
    fn parse<'m>(&self, raw: &'m [u8]) -> Result<Parsed<'m>, &'static str> {
        #[cfg(debug_assertions)]
        super::test_fault(raw);
        let Some(mut message) = AuthenticatedMessage::parse(raw) else {
            return Err("message could not be parsed for verification");
        };
        // Each signature costs a lookup and a hash: keep the first few.
        message.dkim_headers.truncate(MAX_DKIM_CHECKS);
        let envelope = received::envelope(raw, self.settings.received_hop);
        let partial = Partial {
            pending_dkim: message
                .dkim_headers
                .iter()
                .map(|h| (bound_name(&h.header.d), bound_name(&h.header.s)))
                .collect(),
            from_domain: message
                .from
                .first()
                .map(|f| bound_name(domain_of(f)))
                .unwrap_or_default(),
            dkim: None,
            spf: None,
            dmarc: None,
            note: None,
        };
        Ok(Parsed {
            message,
            envelope,
            partial,
        })
    }

    async fn verify_parsed(&self, parsed: Parsed<'_>) -> Authentication {
        let Parsed {
            message,
            envelope,
            mut partial,
        } = parsed;
        let limit = self.settings.timeout;
        let finished = tokio::time::timeout(
            limit,
            self.checks(&message, envelope.as_ref(), &mut partial),
        )
        .await
        .is_ok();
        if let Err(reason) = &envelope {
            partial.note = Some(format!("SPF not checked: {reason}"));
        }
        if !finished {
            partial.note = Some(format!(
                "verification did not finish within {} s; unfinished checks are temperror",
                limit.as_secs_f32()
            ));
        }
        partial.finish(envelope.ok().as_ref())
    }

    async fn checks<'m>(
        &self,
        message: &'m AuthenticatedMessage<'m>,
        envelope: Result<&Envelope, &String>,
        partial: &mut Partial,
    ) {
        let c = &self.caches;
        let dkim_fut = self.authenticator.verify_dkim(
            Parameters::new(message)
                .with_txt_cache(&c.txt)
                .with_mx_cache(&c.mx)
                .with_ipv4_cache(&c.ipv4)
                .with_ipv6_cache(&c.ipv6)
                .with_ptr_cache(&c.ptr),
        );
        let spf_fut = async {
            match envelope {
                Ok(e) => Some(
                    self.authenticator
                        .verify_spf(
                            Parameters::new(SpfParameters::verify(
                                e.client_ip,
                                &e.helo,
                                &e.receiver,
                                &e.mail_from,
                            ))
                            .with_txt_cache(&c.txt)
                            .with_mx_cache(&c.mx)
                            .with_ipv4_cache(&c.ipv4)
                            .with_ipv6_cache(&c.ipv6)
                            .with_ptr_cache(&c.ptr),
                        )
                        .await,
                ),
                Err(_) => None,
            }
        };
        let (dkim_out, spf_out) = tokio::join!(dkim_fut, spf_fut);
        partial.dkim = Some(dkim_out.iter().map(dkim_check).collect());
        let mail_from_domain = match envelope {
            Ok(e) if e.mail_from.is_empty() => e.helo.clone(),
            Ok(e) => domain_of(&e.mail_from).to_string(),
            Err(_) => String::new(),
        };
        if let (Some(s), Ok(e)) = (&spf_out, envelope) {
            partial.spf = Some(SpfCheck {
                domain: bound_name(s.domain()),
                client_ip: Some(e.client_ip),
                result: spf_result(s.result()),
            });
        }
        // DMARC needs an SPF output; without an envelope SPF is "none".
        let spf_for_dmarc = spf_out.unwrap_or_else(|| SpfOutput::new(mail_from_domain.clone()));
        let dmarc = self
            .authenticator
            .verify_dmarc(
                Parameters::new(DmarcParameters::new(
                    message,
                    &dkim_out,
                    &mail_from_domain,
                    &spf_for_dmarc,
                ))
                .with_txt_cache(&c.txt)
                .with_mx_cache(&c.mx)
                .with_ipv4_cache(&c.ipv4)
                .with_ipv6_cache(&c.ipv6)
                .with_ptr_cache(&c.ptr),
            )
            .await;
        let domain = if dmarc.domain().is_empty() {
            partial.from_domain.clone()
        } else {
            bound_name(dmarc.domain())
        };
        partial.dmarc = Some(DmarcCheck {
            domain,
            policy: match dmarc.policy() {
                Policy::None => DmarcPolicy::None,
                Policy::Quarantine => DmarcPolicy::Quarantine,
                Policy::Reject => DmarcPolicy::Reject,
                Policy::Unspecified => DmarcPolicy::Unknown,
            },
            result: dmarc_result(&dmarc.result()),
            dkim_aligned: *dmarc.dkim_result() == DmarcResult::Pass,
            spf_aligned: *dmarc.spf_result() == DmarcResult::Pass,
        });
    }
}

/// A message parsed for verification, waiting for its DNS lookups.
struct Parsed<'m> {
    message: AuthenticatedMessage<'m>,
    envelope: Result<Envelope, String>,
    partial: Partial,
}

/// What a message's checks have produced so far; what is missing when the
/// time limit strikes becomes a temperror.
struct Partial {
    pending_dkim: Vec<(String, String)>,
    from_domain: String,
    dkim: Option<Vec<DkimCheck>>,
    spf: Option<SpfCheck>,
    dmarc: Option<DmarcCheck>,
    note: Option<String>,
}

impl Partial {
    fn finish(self, envelope: Option<&Envelope>) -> Authentication {
        let timed_out = "not finished in time";
        let dkim = self.dkim.unwrap_or_else(|| {
            self.pending_dkim
                .into_iter()
                .map(|(domain, selector)| DkimCheck {
                    domain,
                    selector,
                    result: AuthResult::TempError,
                    reason: Some(timed_out.to_string()),
                })
                .collect()
        });
        let spf = self.spf.or_else(|| {
            Some(match envelope {
                Some(e) => SpfCheck {
                    domain: bound_name(if e.mail_from.is_empty() {
                        &e.helo
                    } else {
                        domain_of(&e.mail_from)
                    }),
                    client_ip: Some(e.client_ip),
                    result: AuthResult::TempError,
                },
                // No envelope: SPF could not be checked at all (the note
                // says why).
                None => SpfCheck {
                    domain: String::new(),
                    client_ip: None,
                    result: AuthResult::None,
                },
            })
        });
        let dmarc = Some(self.dmarc.unwrap_or(DmarcCheck {
            domain: self.from_domain,
            policy: DmarcPolicy::Unknown,
            result: AuthResult::TempError,
            dkim_aligned: false,
            spf_aligned: false,
        }));
        Authentication {
            source: AuthSource::Verified,
            dkim,
            spf,
            dmarc,
            note: self.note.as_deref().map(bound_text),
        }
    }
}

fn dkim_check(out: &DkimOutput<'_>) -> DkimCheck {
    let (domain, selector) = out
        .signature()
        .map(|s| (bound_name(&s.d), bound_name(&s.s)))
        .unwrap_or_default();
    let (result, reason) = match out.result() {
        DkimResult::Pass => (AuthResult::Pass, None),
        // RFC 6376 6.1.3: a body hash mismatch is a failed signature
        // (mail-auth reports it as neutral).
        DkimResult::Neutral(mail_auth::Error::Dkim(
            mail_auth::dkim::DkimError::FailedBodyHashMatch,
        )) => (
            AuthResult::Fail,
            Some("body hash did not verify".to_string()),
        ),
        DkimResult::Neutral(e) => (AuthResult::Neutral, Some(e.to_string())),
        DkimResult::Fail(e) => (AuthResult::Fail, Some(e.to_string())),
        DkimResult::PermError(e) => (AuthResult::PermError, Some(e.to_string())),
        DkimResult::TempError(e) => (AuthResult::TempError, Some(e.to_string())),
        DkimResult::None => (AuthResult::None, None),
    };
    DkimCheck {
        domain,
        selector,
        result,
        reason: reason.as_deref().map(bound_text),
    }
}

fn spf_result(r: SpfResult) -> AuthResult {
    match r {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

fn dmarc_result(r: &DmarcResult) -> AuthResult {
    match r {
        DmarcResult::Pass => AuthResult::Pass,
        DmarcResult::Fail(_) => AuthResult::Fail,
        DmarcResult::TempError(_) => AuthResult::TempError,
        DmarcResult::PermError(_) => AuthResult::PermError,
        DmarcResult::None => AuthResult::None,
    }
}

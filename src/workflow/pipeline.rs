//! One message's way from raw bytes to a commit: parse, (verify), gather what
//! the store knows, decide, compose what must be sent, apply in one
//! transaction. Durability (flush) and telling the source are the caller's,
//! so that several messages can share one flush.

use super::ack::AckPolicy;
use super::commands::Tlp;
use super::decide::{decide, Placement, Plan};
use super::feeds::FeedStatus;
use crate::config::Config;
use crate::mail::msgid::MessageIds;
use crate::mail::parse::ParsedMail;
use crate::mail::subject::TagMatcher;
use crate::model::{Direction, Flag};
use crate::pgp::crypto::Crypto;
use crate::store::{
    Commit, MessageRecord, NewMessage, OutboxState, Store, StoreError, TicketRecord,
};
use std::collections::BTreeSet;
use time::OffsetDateTime;

mod ack_mail;
mod context;
mod grouped;
mod notify;
mod prepare;
mod source;

/// The body used when `ack.template` is not set.
pub const DEFAULT_ACK_TEMPLATE: &str = include_str!("../../config/ack.txt");

#[derive(Debug, Clone)]
pub struct Processed {
    pub placement: Placement,
    pub outbox_ids: Vec<u64>,
    pub flags: BTreeSet<Flag>,
    /// The message's OpenPGP verdict, for the metrics.
    pub verdict: crate::pgp::Verdict,
    /// Outgoing mail of this commit still to be signed (state `sealing`):
    /// hand each to [`Pipeline::seal`], then to [`Pipeline::finish_sealing`],
    /// before the flush.
    pub seal: Vec<super::seal::SealJob>,
}

/// The store-independent facts about one message.
pub struct Prepared {
    sha: [u8; 32],
    body_sha: String,
    content_sha: String,
    mail: ParsedMail,
    verification: crate::pgp::Verification,
    indicators: Vec<crate::analysis::indicators::Indicator>,
    /// Classification, constituencies, CSV rows (issue 6).
    facts: crate::analysis::report::Facts,
    /// The decrypted payload, for the handlers' notification text.
    plaintext: Option<Vec<u8>>,
    /// What the signatures cover (see `pgp::Examined::signed`).
    signed: Option<crate::pgp::Covered>,
    /// For the handlers, as warning events: budgets exceeded, analysis failed.
    warnings: Vec<String>,
    /// DKIM, SPF and DMARC (`[auth]`).
    authentication: crate::auth::Authentication,
}

impl Prepared {
    /// The OpenPGP verdict decided while preparing.
    pub fn verdict(&self) -> crate::pgp::Verdict {
        self.verification.status
    }
}

/// One incoming message as the commit needs it.
struct Incoming<'a> {
    mail: &'a ParsedMail,
    raw: &'a [u8],
    sha: [u8; 32],
    body_sha: String,
    content_sha: String,
    origin: &'a str,
    /// What the source the message came to says about new tickets.
    defaults: &'a crate::config::SourceDefaults,
    verification: Option<crate::pgp::Verification>,
    authentication: crate::auth::Authentication,
    indicators: Vec<crate::analysis::indicators::Indicator>,
    /// The acknowledgement histories the decision was made on.
    recent_acks: super::ack_rate::RecentAcks,
    classification: Option<crate::analysis::classify::Classification>,
    constituencies: Vec<String>,
    warnings: Vec<String>,
    /// Which declared feed vouches for a machine report, if any.
    feed: FeedStatus,
    /// The strictest TLP label the message carries.
    tlp: Option<Tlp>,
    acns: Option<crate::analysis::acns::AcnsNotice>,
}

pub struct Pipeline {
    /// DKIM, SPF and DMARC of incoming mail (`[auth]`).
    auth: crate::auth::Authenticator,
    store: Store,
    config: Config,
    tags: TagMatcher,
    ids: MessageIds,
    own: Vec<String>,
    ack_template: String,
    crypto: Crypto,
    extractor: crate::analysis::indicators::Extractor,
    analyser: crate::analysis::report::Analyser,
    /// Handlers and requestors (issue 5): see `relay.rs`.
    relay: super::relay::Relay,
    /// Per-message budgets, from `[limits]`.
    budget: crate::analysis::budget::Limits,
    /// Analyses in progress, kept across an abort (see `attempts.rs`).
    attempts: std::sync::Arc<super::attempts::Attempts>,
}

/// What a pipeline loads from files named in the configuration: the keys,
/// the template, the analysis and authentication settings. `check-config`
/// loads the same (see `preflight`), so the two cannot disagree.
pub struct Parts {
    ack_template: String,
    crypto: Crypto,
    analyser: crate::analysis::report::Analyser,
    auth: crate::auth::Authenticator,
}

impl Parts {
    pub fn from_config(config: &Config) -> Result<Parts, crate::config::ConfigError> {
        let invalid = |key: &str, problem: String| crate::config::ConfigError::Invalid {
            file: config.source.clone(),
            key: key.into(),
            problem,
        };
        let ack_template = match &config.ack.template {
            Some(p) => std::fs::read_to_string(p).map_err(|e| {
                invalid("ack.template", format!("cannot read {}: {e}", p.display()))
            })?,
            None => DEFAULT_ACK_TEMPLATE.to_string(),
        };
        let crypto = match &config.pgp {
            Some(p) => Crypto::from_config(p, config.limits.max_stored_size)
                .map_err(|e| invalid(p.key_for(&e), crate::pgp::crypto::with_fix(&e)))?,
            None => Crypto::unconfigured(config.limits.max_stored_size),
        };
        let analyser = crate::analysis::report::Analyser::from_config(config)?;
        let auth = crate::auth::Authenticator::from_config(&config.auth)
            .map_err(|e| invalid("auth", e.to_string()))?;
        super::relay::Relay::check_keys(config, &crypto)?;
        Ok(Parts {
            ack_template,
            crypto,
            analyser,
            auth,
        })
    }
}

impl Pipeline {
    pub fn new(store: Store, config: Config) -> Result<Pipeline, crate::config::ConfigError> {
        let parts = Parts::from_config(&config)?;
        let attempts = std::sync::Arc::new(super::attempts::Attempts::open(
            &config.store.path.join("analysis-attempts"),
        ));
        Ok(Pipeline::assemble(store, config, parts, attempts))
    }

    /// A pipeline for a changed configuration (SIGHUP), on the same store
    /// and the same record of analyses in progress; refused as a whole
    /// when any part of the new configuration does not load.
    pub fn reconfigured(&self, config: Config) -> Result<Pipeline, crate::config::ConfigError> {
        let parts = Parts::from_config(&config)?;
        Ok(Pipeline::assemble(
            self.store.clone(),
            config,
            parts,
            self.attempts.clone(),
        ))
    }

    fn assemble(
        store: Store,
        config: Config,
        parts: Parts,
        attempts: std::sync::Arc<super::attempts::Attempts>,
    ) -> Pipeline {
        let mut own_domains = vec![config.team.domain.clone()];
        own_domains.extend(
            config
                .own_addresses()
                .iter()
                .filter_map(|a| a.rsplit_once('@').map(|(_, d)| d.to_string())),
        );
        Pipeline {
            auth: parts.auth,
            budget: crate::analysis::budget::Limits::from_config(&config.limits),
            attempts,
            analyser: parts.analyser,
            relay: super::relay::Relay::new(&config),
            extractor: crate::analysis::indicators::Extractor::new(
                config.analysis.ignore_list(&own_domains),
            ),
            crypto: parts.crypto,
            tags: TagMatcher::new(&config.team.tag),
            ids: MessageIds::new(&config.team.tag, &config.team.domain),
            own: [config.own_addresses(), config.handler_addresses()].concat(),
            store,
            config,
            ack_template: parts.ack_template,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    /// Publishes the advisories that handlers requested by mail and that a
    /// crash kept from going out (see `commit_prepared`); the daemon runs
    /// this before its sender starts. Returns how many were taken up.
    pub fn publish_pending_advisories(&self) -> Result<usize, StoreError> {
        let _writer = self.store.write_guard();
        let pending = self.store.pending_advisories()?;
        for (key, value) in &pending {
            let now = OffsetDateTime::now_utc();
            match super::publish::Request::from_pending(value) {
                Ok((ticket, req)) => super::publish::publish_from_mail(
                    &self.config,
                    &self.crypto,
                    &self.store,
                    &req,
                    ticket,
                    now,
                    key,
                )?,
                Err(e) => {
                    tracing::error!(record = %String::from_utf8_lossy(key), "unreadable pending advisory dropped: {e}");
                    self.store.drop_pending_advisory(key)?;
                }
            }
        }
        Ok(pending.len())
    }

    /// Parses, decides and commits one message; not yet flushed.
    pub fn process(&self, raw: &[u8], origin: &str) -> Result<Processed, StoreError> {
        self.process_at(raw, origin, OffsetDateTime::now_utc())
    }

    pub fn process_at(
        &self,
        raw: &[u8],
        origin: &str,
        now: OffsetDateTime,
    ) -> Result<Processed, StoreError> {
        let prepared = self.prepare(raw);
        self.settle_analyses();
        let mut processed = self.commit_prepared(prepared, raw, origin, now)?;
        let sealed: Vec<_> = std::mem::take(&mut processed.seal)
            .into_iter()
            .map(|job| self.seal(job))
            .collect();
        self.finish_sealing(&sealed)?;
        self.store.merge_pending_index(usize::MAX)?;
        Ok(processed)
    }

    /// Decides and commits a prepared message (not yet flushed). Runs under
    /// the store's writer lock: one decision sees the one before it.
    pub fn commit_prepared(
        &self,
        prepared: Prepared,
        raw: &[u8],
        origin: &str,
        now: OffsetDateTime,
    ) -> Result<Processed, StoreError> {
        let defaults = crate::config::SourceDefaults::default();
        self.commit_with(prepared, raw, origin, &defaults, now)
    }

    /// As [`Pipeline::commit_prepared`] for a message from a source, whose
    /// configured ticket defaults apply to the ticket it opens.
    pub fn commit_from(
        &self,
        prepared: Prepared,
        raw: &[u8],
        origin: &crate::intake::Origin,
        now: OffsetDateTime,
    ) -> Result<Processed, StoreError> {
        let defaults = self.config.source_defaults(origin);
        self.commit_with(prepared, raw, &origin.to_string(), &defaults, now)
    }

    fn commit_with(
        &self,
        prepared: Prepared,
        raw: &[u8],
        origin: &str,
        defaults: &crate::config::SourceDefaults,
        now: OffsetDateTime,
    ) -> Result<Processed, StoreError> {
        let Prepared {
            sha,
            body_sha,
            content_sha,
            mail,
            verification,
            indicators,
            facts,
            plaintext,
            signed,
            warnings,
            authentication,
        } = prepared;
        let verdict = verification.status;
        let verification = Some(verification);
        let _writer = self.store.write_guard();
        let delivered = context::Delivered {
            raw,
            sha,
            body_sha: &body_sha,
            content_sha: &content_sha,
        };
        let mut ctx = self.context(&mail, &delivered, now)?;
        ctx.signature_required = self.crypto.requires_signature(mail.single_from());
        ctx.verification = verification;
        let policy = AckPolicy {
            enabled: self.config.ack.enabled,
            own_addresses: &self.own,
            rate_limit: self.config.ack.rate_limit,
            rate_limit_per_domain: self.config.ack.per_domain_limit(),
            rate_limit_global: self.config.ack.global_limit(),
            rate_window_secs: self.config.ack.rate_window_secs,
        };
        let mut plan = decide(&mail, &ctx, &self.tags, &policy, origin);
        let mut mail = mail;
        let mut warnings = warnings;
        let feed = self.feed_status(
            &facts.formats,
            &mail,
            ctx.verification.as_ref(),
            &authentication,
        );
        if let FeedStatus::Unauthenticated { reason } = &feed {
            mail.flags.insert(Flag::UnauthenticatedFeed);
            plan.flags.insert(Flag::UnauthenticatedFeed);
            warnings.push(format!(
                "machine report from no trusted feed: {reason}; kept on its own ticket, not grouped, nobody outside the team notified"
            ));
        }
        let mut indicators = indicators;
        if !feed.is_trusted() && !facts.row_ips.is_empty() {
            // Not grouped: the rows' addresses go on this ticket instead.
            indicators = notify::with_row_addresses(indicators, &facts.row_ips);
        }
        let incoming = Incoming {
            mail: &mail,
            raw,
            sha,
            body_sha,
            content_sha,
            origin,
            defaults,
            verification: ctx.verification.clone(),
            authentication,
            indicators,
            recent_acks: std::mem::take(&mut ctx.recent_acks),
            classification: facts.classification,
            constituencies: facts.constituencies,
            warnings,
            feed: feed.clone(),
            tlp: facts.tlp,
            acns: facts.acns,
        };
        if matches!(plan.placement, Placement::Created(_))
            && feed.is_trusted()
            && facts.shadowserver.iter().any(|s| !s.rows.is_empty())
        {
            // Machine reports: rows grouped per constituency, type and day.
            return self.commit_grouped(&incoming, &facts.shadowserver, &facts.row_ips, now);
        }
        let (mut commit, _) = self.build_commit(&plan, incoming, now)?;
        // A changed re-delivery is evidence, not new words from anyone:
        // never relayed, and a handler's commands in it are not run again.
        let redelivered = plan.flags.contains(&Flag::RedeliveredChanged);
        let advisory = if redelivered {
            // The handlers are still told: a report re-sent with another
            // From or Subject is how a forged re-send looks.
            if let Some(r) = &ctx.redelivery {
                let (v, p) = (ctx.verification.as_ref(), plaintext.as_deref());
                let input = super::relay::Redelivered {
                    mail: &mail,
                    raw,
                    plaintext: p,
                    verification: v,
                    changed: &r.changed,
                    origin,
                };
                self.relay.notice_redelivery(
                    &mut commit,
                    &input,
                    &self.store,
                    &self.crypto,
                    now,
                )?;
            }
            None
        } else {
            self.relay.extend(
                &mut commit,
                &plan,
                &mail,
                raw,
                plaintext.as_deref(),
                ctx.verification.as_ref(),
                signed.as_ref(),
                &self.store,
                &self.crypto,
                now,
            )?
        };
        // An advisory requested by this mail is recorded with it, and
        // published just after: a crash in between leaves the record, and
        // the daemon publishes it when it starts.
        let pending = advisory
            .as_ref()
            .map(|req| req.pending_record(&hex::encode(sha), commit.ticket.id));
        commit.meta.extend(pending.clone());
        let result = self.store.apply(&commit, now)?;
        debug_assert_eq!(result.outbox_ids.len(), commit.outbox.len());
        if let (Some(req), Some((key, _))) = (advisory, pending) {
            let (cfg, id) = (&self.config, commit.ticket.id);
            super::publish::publish_from_mail(cfg, &self.crypto, &self.store, &req, id, now, &key)?;
        }
        let seal = commit
            .outbox
            .into_iter()
            .zip(&result.outbox_ids)
            .filter(|(o, _)| o.state == OutboxState::Sealing)
            .map(|(o, &outbox_id)| super::seal::SealJob {
                outbox_id,
                ticket: commit.ticket.id,
                message_id: o.message_id.clone(),
                composed: commit
                    .messages
                    .get(o.message)
                    .map(|m| m.raw.clone())
                    .unwrap_or_default(),
                to: o.to,
                encrypt: o.encrypt.unwrap_or_default(),
                at: now,
            })
            .collect();
        // As stored on the incoming message (the commit's first): what
        // intake found and what the decision and the relay added (a reply
        // claiming a handler's address without the handler's key), so that
        // intake's log names it.
        let flags = commit
            .messages
            .first()
            .map_or_else(|| mail.flags.clone(), |m| m.record.flags.clone());
        Ok(Processed {
            placement: plan.placement,
            outbox_ids: result.outbox_ids,
            flags,
            verdict,
            seal,
        })
    }

    fn build_commit(
        &self,
        plan: &Plan,
        incoming: Incoming<'_>,
        now: OffsetDateTime,
    ) -> Result<(Commit, usize), StoreError> {
        let Incoming {
            mail,
            raw,
            sha,
            body_sha,
            content_sha,
            origin,
            defaults,
            verification,
            authentication,
            indicators,
            recent_acks,
            classification,
            constituencies,
            warnings,
            feed,
            tlp,
            acns,
        } = incoming;
        let id = plan.placement.ticket();
        let mut events = plan.events.clone();
        let (mut ticket, is_new) = match (&plan.placement, &plan.new_ticket) {
            (Placement::Created(_), Some((subject, requestors))) => (
                TicketRecord::new(id, subject.clone(), requestors.clone(), now),
                true,
            ),
            _ => {
                let t = self.store.ticket(id)?.ok_or_else(|| {
                    StoreError::Conflict(format!("ticket {id} vanished between lookup and commit"))
                })?;
                (t, false)
            }
        };

        if matches!(plan.placement, Placement::Duplicate(_)) {
            return Ok((Commit::events_only(ticket, events), 0));
        }

        events.extend(
            warnings
                .into_iter()
                .map(|w| crate::model::Event::new(now, crate::model::EventKind::Warning, w)),
        );
        ticket.updated_at = now;
        ticket.flags.extend(plan.flags.iter().copied());
        grouped::label(&mut ticket, classification, &constituencies);
        if is_new && !defaults.is_empty() {
            let applied = source::apply(&mut ticket, defaults);
            if !applied.is_empty() {
                events.push(crate::model::Event::new(
                    now,
                    crate::model::EventKind::Classified,
                    format!(
                        "from the source's defaults ({origin}): {}",
                        applied.join(", ")
                    ),
                ));
            }
        }
        events.extend(raise_tlp(&mut ticket, tlp, now));
        let gate = super::feeds::gate(&feed, ticket.handling.tlp);
        if let Some((_, to)) = plan.status_change {
            ticket.status = to;
        }

        let mut messages = vec![NewMessage {
            record: MessageRecord {
                seq: 0,
                ticket: id,
                message_id: mail.message_id.clone(),
                direction: Direction::In,
                from: mail
                    .from_display
                    .clone()
                    .or_else(|| mail.from.first().cloned()),
                to: mail.to.iter().chain(mail.cc.iter()).cloned().collect(),
                subject: mail.subject.clone(),
                date: mail.date.clone(),
                sha256: hex::encode(sha),
                body_sha256: Some(body_sha),
                content_sha256: Some(content_sha),
                size: raw.len() as u64,
                stored_at: now,
                origin: origin.to_string(),
                flags: message_flags(mail, plan),
                verification,
                // Not stored when off: `ticket show` says "off" for none.
                authentication: authentication.checked(),
                acns,
                indicators,
            },
            raw: raw.to_vec(),
            sha256: sha,
        }];

        let mut outbox = Vec::new();
        let mut ack_rates = Vec::new();
        if let Some(ack) = &plan.ack {
            match self.ack_mail(id, ack, mail, now) {
                Ok((message, entry)) => {
                    messages.push(message);
                    outbox.push(entry);
                    // The acknowledged address is the single From the context read
                    // the rate histories for.
                    ack_rates =
                        recent_acks.record(now.unix_timestamp(), self.config.ack.rate_window_secs);
                }
                Err(e) => {
                    // Reporter values are checked at intake; reaching this
                    // is a bug or a hostile value that slipped through, and
                    // either way nothing is sent.
                    tracing::error!(ticket = %id, "acknowledgement not composed: {e}");
                    let detail = format!("acknowledgement to {} not composed: {e}", ack.to);
                    events.push(crate::model::Event::new(
                        now,
                        crate::model::EventKind::Held,
                        detail,
                    ));
                }
            }
        }
        let mut digest = Vec::new();
        if is_new {
            let found = &messages[0].record.indicators;
            let mut budget = notify::ContactBudget::default();
            // The constituencies the report's own indicators fall into: a
            // source's default constituency labels the ticket but tells
            // nobody outside the team.
            let (m, o, d) = self.notifications(
                id,
                &constituencies,
                found,
                messages.len(),
                &gate,
                &mut budget,
                now,
                &mut events,
            );
            messages.extend(m);
            outbox.extend(o);
            digest = d;
            ack_rates.extend(budget.into_rates());
        }
        ticket.message_count += messages.len() as u32;
        let ack_count = outbox.len();
        Ok((
            Commit {
                ticket,
                ticket_is_new: is_new,
                messages,
                events,
                outbox,
                ack_rates,
                also: Vec::new(),
                meta: Vec::new(),
                releases: Vec::new(),
                digest,
            },
            ack_count,
        ))
    }
}

/// Raises the ticket's TLP to what a message carries (never lowers it:
/// only a handler's `/tlp` does); the event says where it came from.
fn raise_tlp(
    ticket: &mut crate::store::TicketRecord,
    seen: Option<Tlp>,
    now: OffsetDateTime,
) -> Option<crate::model::Event> {
    let seen = seen?;
    if ticket.handling.tlp.is_some_and(|t| t >= seen) {
        return None;
    }
    let before = ticket.handling.tlp;
    ticket.handling.set_tlp(Some(seen), &ticket.requestors);
    let detail = match before {
        Some(b) => format!("{seen} marked in a report: raised from {b}"),
        None => format!("{seen} marked in a report"),
    };
    Some(crate::model::Event::new(
        now,
        crate::model::EventKind::Tlp,
        detail,
    ))
}

/// The flags of the stored message: what intake found, and whether it is
/// a changed re-delivery (which `ticket show` lists per message).
fn message_flags(mail: &ParsedMail, plan: &Plan) -> BTreeSet<Flag> {
    let mut flags = mail.flags.clone();
    if plan.flags.contains(&Flag::RedeliveredChanged) {
        flags.insert(Flag::RedeliveredChanged);
    }
    flags
}

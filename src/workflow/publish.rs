//! Sending an advisory: decide the recipients and how they share copies
//! (`advisory.rs`), build and seal each copy (on every core: 5,000 members
//! with 1,000 keys is the benchmark), and commit archive and outbox
//! entries in one transaction.

use super::advisory::{self, Refusal, Words};
use super::commands::Tlp;
use crate::config::{normalize_fingerprint, Config, EncryptPolicy, MemberConfig};
use crate::mail::compose::{self, Outgoing};
use crate::model::{Event, EventKind, TicketId};
use crate::pgp::crypto::{encryption_index, Crypto};
use crate::pgp::{PgpError, TeamKey};
use crate::store::advisory::{AdvisoryRecord, Copy, Delivery, NewAdvisory, Recipient};
use crate::store::{Commit, OutboxState, Store, StoreError};
use openpgp::Cert;
use sequoia_openpgp as openpgp;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("advisories are signed: configure [pgp] team_key")]
    NoTeamKey,
    #[error("ticket {0} does not exist")]
    UnknownTicket(TicketId),
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub list: String,
    pub tlp: Tlp,
    pub subject: String,
    pub text: String,
    pub ticket: Option<TicketId>,
    /// Who sent it, for the archive (`alice`, `root (command line)`).
    pub by: String,
}

impl Request {
    /// The pending record (meta key, value) for this request made by the
    /// mail `mail_id` names on `ticket`: written with that mail's commit,
    /// removed with the advisory's (see `Store::pending_advisories`).
    pub fn pending_record(&self, mail_id: &str, ticket: TicketId) -> (Vec<u8>, Vec<u8>) {
        let key = [crate::store::advisory::PENDING_PREFIX, mail_id.as_bytes()].concat();
        let value = serde_json::to_vec(&(ticket, self)).unwrap_or_default();
        (key, value)
    }

    /// The request and its ticket back from a pending record's value.
    pub fn from_pending(value: &[u8]) -> serde_json::Result<(TicketId, Request)> {
        serde_json::from_slice(value)
    }
}

/// Longest subject kept; the rest is cut.
const MAX_SUBJECT: usize = 200;

pub fn publish(
    cfg: &Config,
    crypto: &Crypto,
    store: &Store,
    req: &Request,
    now: OffsetDateTime,
) -> Result<AdvisoryRecord, PublishError> {
    let _writer = store.write_guard();
    publish_locked(cfg, crypto, store, req, now, None)
}

/// [`publish`] for a caller that holds the store's writer lock already
/// (the pipeline, for an advisory sent by mail).
pub fn publish_locked(
    cfg: &Config,
    crypto: &Crypto,
    store: &Store,
    req: &Request,
    now: OffsetDateTime,
    pending: Option<&[u8]>,
) -> Result<AdvisoryRecord, PublishError> {
    let list = cfg
        .list(&req.list)
        .ok_or_else(|| Refusal::UnknownList(req.list.clone()))?;
    if req.text.trim().is_empty() {
        return Err(Refusal::EmptyText.into());
    }
    let subject = crate::mail::subject::sanitize(&req.subject, MAX_SUBJECT);
    if subject.is_empty() {
        return Err(Refusal::EmptySubject.into());
    }
    let team = crypto.engine().team_key().ok_or(PublishError::NoTeamKey)?;
    let keyring = crypto.engine().keyring();
    let index = if list.members.is_empty() || list.encrypt == EncryptPolicy::Never {
        Default::default()
    } else {
        encryption_index(keyring)
    };
    let cert_for = |m: &MemberConfig| -> Option<Cert> {
        match &m.fingerprint {
            Some(f) => keyring.get(&normalize_fingerprint(f)).cloned(),
            None => index.get(&m.email.to_ascii_lowercase()).cloned(),
        }
    };
    // Checked before any work: a refused TLP builds nothing.
    let recipients = advisory::recipients(list, req.tlp, |m| cert_for(m).is_some())?;
    let certs: Vec<Option<Cert>> = if list.members.is_empty() {
        vec![None; recipients.len()]
    } else {
        list.members.iter().map(cert_for).collect()
    };
    if let Some(t) = req.ticket {
        if store.ticket(t)?.is_none() {
            return Err(PublishError::UnknownTicket(t));
        }
    }

    let year = now.year().clamp(0, 9999) as u16;
    let seq = store.next_advisory_seq(year)?;
    let id = advisory::advisory_id(&cfg.team.tag, year, seq);
    let subject_line = advisory::subject_line(req.tlp, &id, &subject);
    let words = Words {
        id: &id,
        tlp: req.tlp,
        subject: &subject,
        text: &req.text,
        ticket_tag: advisory::related(req.ticket, &cfg.team.tag),
        team_name: &cfg.team.name,
        team_address: &cfg.team.address,
    };
    let body = advisory::body(&words);
    let notice = advisory::notice_body(&words, &list.name);
    let headers = advisory::list_headers(list, &cfg.team.domain);
    let groups = advisory::copies(&recipients, list.recipients_per_copy);
    // One Message-ID per copy, which each of its recipients records.
    let mut message_ids = vec![String::new(); recipients.len()];
    for (n, group) in groups.iter().enumerate() {
        let mid = advisory::message_id(&cfg.team.tag, &id, n + 1, &cfg.team.domain);
        for &i in group {
            message_ids[i] = mid.clone();
        }
    }
    let records: Vec<Recipient> = recipients
        .iter()
        .zip(message_ids)
        .map(|((address, delivery), message_id)| Recipient {
            address: address.clone(),
            delivery: *delivery,
            message_id,
            outbox_id: None,
        })
        .collect();

    let group_name = advisory::group_name(&cfg.team.tag, &list.name);
    let job = Job {
        team,
        group_name: &group_name,
        from_name: &cfg.team.name,
        from_address: &cfg.team.address,
        subject: &subject_line,
        notice_subject: &format!("[{}] {id}: an OpenPGP key is needed", req.tlp),
        body: &body,
        notice: &notice,
        headers: &headers,
        now,
    };
    let built = build_all(&job, &records, &groups, &certs);
    let mut events = Vec::new();
    let mut copies = Vec::with_capacity(built.len());
    for (group, b) in groups.into_iter().zip(built) {
        match b {
            Ok((bytes, subject)) => copies.push(Copy {
                recipients: group,
                bytes,
                subject,
                state: OutboxState::Queued,
            }),
            Err(e) => {
                let to = crate::logging::list(
                    &group
                        .iter()
                        .map(|&i| records[i].address.clone())
                        .collect::<Vec<_>>(),
                )
                .to_string();
                tracing::error!(advisory = %id, %to, "copy held: cannot seal: {e}");
                events.push(Event::new(
                    now,
                    EventKind::Held,
                    format!("advisory {id} to {to} held: {e}"),
                ));
                copies.push(Copy {
                    recipients: group,
                    bytes: Vec::new(),
                    subject: subject_line.clone(),
                    state: OutboxState::Held,
                });
            }
        }
    }
    let notices = records
        .iter()
        .filter(|r| r.delivery == Delivery::NoticeOnly)
        .count();
    events.push(Event::new(
        now,
        EventKind::Notified,
        format!(
            "advisory {id} ({}) sent by {} to list {}: {} recipient(s), {notices} of them a key-needed notice only",
            req.tlp,
            req.by,
            list.name,
            records.len()
        ),
    ));
    for r in records
        .iter()
        .filter(|r| r.delivery == Delivery::NoticeOnly)
    {
        tracing::info!(advisory = %id, to = %r.address, "no key on an encrypted list: signed notice only");
    }
    let record = AdvisoryRecord {
        id: id.clone(),
        year,
        seq,
        list: list.name.clone(),
        tlp: req.tlp,
        subject,
        text: req.text.clone(),
        ticket: req.ticket,
        by: req.by.clone(),
        created_at: now,
        recipients: records,
    };
    let rec = store.apply_advisory(
        NewAdvisory {
            record,
            copies,
            envelope_from: cfg.envelope_from().to_string(),
            events,
            pending: pending.map(<[u8]>::to_vec),
        },
        now,
    )?;
    store.flush()?;
    Ok(rec)
}

struct Job<'a> {
    team: &'a TeamKey,
    /// The To header of a copy shared by several members.
    group_name: &'a str,
    from_name: &'a str,
    from_address: &'a str,
    subject: &'a str,
    notice_subject: &'a str,
    body: &'a str,
    notice: &'a str,
    headers: &'a [(&'a str, String)],
    now: OffsetDateTime,
}

/// Why one copy of an advisory was not built; the copy is held.
#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error(transparent)]
    Pgp(#[from] PgpError),
    #[error(transparent)]
    Compose(#[from] crate::mail::compose::ComposeError),
}

type Built = Result<(Vec<u8>, String), CopyError>;

/// Every copy (each one of `groups`), built on all cores; results in
/// the order of `groups`.
fn build_all(
    job: &Job<'_>,
    recipients: &[Recipient],
    groups: &[Vec<usize>],
    certs: &[Option<Cert>],
) -> Vec<Built> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let chunk = groups.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .chunks(chunk)
            .map(|gs| {
                let h = s.spawn(move || {
                    gs.iter()
                        .map(|g| build_one(job, recipients, g, certs))
                        .collect::<Vec<_>>()
                });
                (gs.len(), h)
            })
            .collect();
        // A panicking chunk holds its copies back rather than shifting
        // the others onto the wrong recipients.
        handles
            .into_iter()
            .flat_map(|(n, h)| {
                h.join().unwrap_or_else(|_| {
                    (0..n)
                        .map(|_| Err(PgpError::Openpgp("building a copy panicked".into()).into()))
                        .collect()
                })
            })
            .collect()
    })
}

/// The copy for `group` (indexes into `recipients`, all with the same
/// delivery; an encrypted copy has one). A copy for one member is
/// addressed to them; a shared one names the list as an empty group, its
/// recipients only in the envelope.
fn build_one(
    job: &Job<'_>,
    recipients: &[Recipient],
    group: &[usize],
    certs: &[Option<Cert>],
) -> Built {
    let Some(r) = group.first().and_then(|&i| recipients.get(i)) else {
        return Err(PgpError::Openpgp("a copy without recipients".into()).into());
    };
    let cert = group
        .first()
        .and_then(|&i| certs.get(i))
        .and_then(Option::as_ref);
    let (to, to_group) = if group.len() == 1 {
        (vec![r.address.clone()], None)
    } else {
        (Vec::new(), Some(job.group_name))
    };
    let (subject, body) = match r.delivery {
        Delivery::NoticeOnly => (job.notice_subject, job.notice.to_string()),
        Delivery::Clearsigned => (
            job.subject,
            crate::pgp::sign::clearsign_text(job.body, job.team)?,
        ),
        Delivery::Encrypted | Delivery::Signed => (job.subject, job.body.to_string()),
    };
    let composed = compose::render(&Outgoing {
        extra_headers: job.headers,
        to_group,
        ..Outgoing::from_team(
            job.from_name,
            job.from_address,
            &to,
            subject,
            &r.message_id,
            &body,
            job.now,
        )
    })?;
    let bytes = match (r.delivery, cert) {
        (Delivery::Clearsigned, _) => composed,
        (Delivery::Encrypted, Some(c)) => {
            crate::pgp::encrypt_message(&composed, job.team, std::slice::from_ref(c))?
        }
        (Delivery::Encrypted, None) => {
            return Err(PgpError::NoEncryptionKey(r.address.clone()).into());
        }
        (Delivery::Signed | Delivery::NoticeOnly, _) => {
            crate::pgp::sign_message(&composed, job.team)?
        }
    };
    Ok((bytes, subject.to_string()))
}

/// Publishes an advisory a handler sent by mail, after the mail's own
/// commit (under the same writer lock). A refusal found only now (a store
/// error, no team key) is recorded on the mail's ticket.
pub fn publish_from_mail(
    config: &Config,
    crypto: &Crypto,
    store: &Store,
    req: &Request,
    ticket: TicketId,
    now: OffsetDateTime,
    pending: &[u8],
) -> Result<(), StoreError> {
    match publish_locked(config, crypto, store, req, now, Some(pending)) {
        Ok(rec) => {
            tracing::info!(advisory = %rec.id, list = %rec.list, recipient_count = rec.recipients.len(), by = %req.by, "advisory sent by mail");
            Ok(())
        }
        Err(e) => {
            tracing::error!(%ticket, "advisory by mail failed: {e}");
            store.drop_pending_advisory(pending)?;
            if let Some(t) = store.ticket(ticket)? {
                let event = Event::new(
                    now,
                    EventKind::Warning,
                    format!("advisory by {} NOT sent: {e}", req.by),
                );
                store.apply(&Commit::events_only(t, vec![event]), now)?;
            }
            Ok(())
        }
    }
}

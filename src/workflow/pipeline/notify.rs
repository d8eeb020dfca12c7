//! Notifications to constituents (`notify_constituent = true`): a new
//! report about a constituency's networks or domains goes to its contact,
//! signed by the team key, encrypted to the contact's key when the keyring
//! has one (always, when a key fingerprint is configured: held otherwise).
//! Through the outbox, in the same commit as the report.

use super::Pipeline;
use crate::analysis::constituency::ConstituencyConfig;
use crate::analysis::indicators::Indicator;
use crate::analysis::shadowserver::Row;
use crate::config::EncryptPolicy;
use crate::mail::compose::{self, Outgoing};
use crate::mail::display::clean;
use crate::model::{Direction, Event, EventKind, TicketId};
use crate::pgp::crypto::Sealed;
use crate::store::digest::DigestEntry;
use crate::store::{MessageRecord, NewMessage, NewOutbox, OutboxState};
pub use crate::workflow::feeds::Gate;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// Indicators listed in one notification; the ticket holds them all.
const MAX_LISTED: usize = 200;

/// One typed line per indicator (kind and cleaned value), at most
/// [`MAX_LISTED`]; and how many are left out.
pub fn indicator_lines(indicators: &[&Indicator]) -> (Vec<String>, usize) {
    let lines = indicators
        .iter()
        .take(MAX_LISTED)
        .map(|i| {
            format!(
                "  {:<8} {}",
                format!("{:?}", i.kind).to_lowercase(),
                clean(&i.value)
            )
        })
        .collect();
    (lines, indicators.len().saturating_sub(MAX_LISTED))
}

/// One line of typed fields per row, at most [`MAX_LISTED`]; and how many
/// are left out. Only the typed fields: the row's text is the sender's,
/// and this goes out under the team's signature.
pub fn row_lines(rows: &[&Row]) -> (Vec<String>, usize) {
    let lines = rows
        .iter()
        .take(MAX_LISTED)
        .map(|r| r.fields.line(r.ip))
        .collect();
    (lines, rows.len().saturating_sub(MAX_LISTED))
}

/// The notification body: fixed text and the indicators, never the
/// reporter's prose (which may be confidential to the reporter).
pub fn body(team: &str, tag: &str, constituency: &str, indicators: &[&Indicator]) -> String {
    let mut b = format!(
        "Dear {constituency} contact,\n\n{team} received a report that concerns \
         your networks or domains. It is tracked as {tag}; please keep the tag in \
         the subject of any reply.\n\nIndicators:\n"
    );
    let (lines, more) = indicator_lines(indicators);
    for l in lines {
        b.push_str(&l);
        b.push('\n');
    }
    if more > 0 {
        b.push_str(&format!("  … and {more} more\n"));
    }
    b.push_str(&format!("\n-- \n{team}\n"));
    b
}

/// The notification body of a machine report's rows for one constituency.
pub fn rows_body(team: &str, tag: &str, constituency: &str, what: &str, rows: &[&Row]) -> String {
    let mut b = format!(
        "Dear {constituency} contact,\n\n{team} received {what} with {} rows that \
         concern your networks. It is tracked as {tag}; please keep the tag in the \
         subject of any reply.\n\n",
        rows.len()
    );
    let (lines, more) = row_lines(rows);
    for l in lines {
        b.push_str(&l);
        b.push('\n');
    }
    if more > 0 {
        b.push_str(&format!("… and {more} more rows\n"));
    }
    b.push_str(&format!("\n-- \n{team}\n"));
    b
}

/// What a notification lists, for a digest entry: what arrived (fixed
/// words and validated tokens) and the typed lines of its body.
pub struct Listing {
    pub what: String,
    pub lines: Vec<String>,
    pub more: usize,
}

/// What each contact may still be sent within the rate window
/// (`[notifications]`), read once per commit and counted as the commit's
/// notifications are composed; the histories go back with the commit.
#[derive(Debug, Default)]
pub struct ContactBudget {
    histories: std::collections::BTreeMap<String, crate::workflow::ack_rate::AckHistory>,
}

/// The rate-history key of a contact; never an address or domain key of
/// the acknowledgement limits (those have no `notify:` prefix).
fn contact_key(contact: &str) -> String {
    format!("notify:{}", contact.trim().to_ascii_lowercase())
}

impl ContactBudget {
    /// The histories to write with the commit.
    pub fn into_rates(self) -> Vec<(String, crate::workflow::ack_rate::AckHistory)> {
        self.histories.into_iter().collect()
    }
}

/// `indicators` and, after them, the addresses of machine-report rows,
/// for a report that is not grouped (from no trusted feed).
pub fn with_row_addresses(
    mut indicators: Vec<Indicator>,
    rows: &std::collections::HashSet<std::net::IpAddr>,
) -> Vec<Indicator> {
    let mut ips: Vec<_> = rows.iter().copied().collect();
    ips.sort_unstable();
    let source = crate::analysis::indicators::Found::Structured("machine-report row".into());
    let more = ips
        .into_iter()
        .map(|ip| Indicator::of_ip(ip, source.clone()))
        .collect();
    crate::analysis::text::merge(&mut indicators, more);
    indicators
}

impl Pipeline {
    /// Counts one notification to `contact` when the limit allows it.
    fn within_contact_limit(
        &self,
        budget: &mut ContactBudget,
        contact: &str,
        now: OffsetDateTime,
    ) -> bool {
        let n = &self.config.notifications;
        let key = contact_key(contact);
        let history = match budget.histories.remove(&key) {
            Some(h) => h,
            // An unreadable history counts as empty: the record is only a
            // limit, and the notification itself is still a recorded event.
            None => self
                .store
                .ack_history(&key, now, n.rate_window_secs)
                .unwrap_or_default(),
        };
        let history = history.within(now.unix_timestamp(), n.rate_window_secs);
        let allowed = history.count() < n.rate_limit;
        let history = if allowed {
            history.record(now.unix_timestamp(), n.rate_window_secs)
        } else {
            history
        };
        budget.histories.insert(key, history);
        allowed
    }

    /// Which declared feed, if any, vouches for a machine report.
    pub(super) fn feed_status(
        &self,
        formats: &[crate::config::ReportFormat],
        mail: &crate::mail::parse::ParsedMail,
        verification: Option<&crate::pgp::Verification>,
        authentication: &crate::auth::Authentication,
    ) -> crate::workflow::feeds::FeedStatus {
        if formats.is_empty() {
            return crate::workflow::feeds::FeedStatus::NotMachine;
        }
        let pgp_signer = verification
            .filter(|v| v.status == crate::pgp::Verdict::Good)
            .and_then(|v| v.signer_fingerprint.clone())
            .map(|f| crate::config::normalize_fingerprint(&f));
        let proofs = crate::workflow::feeds::Proofs {
            dkim_pass: authentication
                .dkim
                .iter()
                .filter(|d| d.result == crate::auth::AuthResult::Pass)
                .map(|d| d.domain.to_ascii_lowercase())
                .collect(),
            pgp_signer,
        };
        crate::workflow::feeds::judge(formats, mail.single_from(), &proofs, &self.config.feeds)
    }

    /// Constituencies among `labels` that asked to be notified, with their contact.
    pub(super) fn to_notify<'a>(
        &'a self,
        labels: &'a [String],
    ) -> impl Iterator<Item = (&'a ConstituencyConfig, &'a str)> + 'a {
        self.config.constituencies.iter().filter_map(move |c| {
            let contact = c.contact.as_deref()?;
            (c.notify_constituent && labels.iter().any(|l| l == c.name.trim()))
                .then_some((c, contact))
        })
    }

    /// Outgoing notifications for a new ticket labelled `labels`; their
    /// outbox entries name message indexes from `first_index` on.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn notifications(
        &self,
        id: TicketId,
        labels: &[String],
        indicators: &[Indicator],
        first_index: usize,
        gate: &Gate,
        budget: &mut ContactBudget,
        now: OffsetDateTime,
        events: &mut Vec<Event>,
    ) -> (Vec<NewMessage>, Vec<NewOutbox>, Vec<DigestEntry>) {
        let (mut messages, mut outbox, mut digest) = (Vec::new(), Vec::new(), Vec::new());
        for (c, contact) in self.to_notify(labels) {
            let mine = self.analyser.constituencies.only(&c.name, indicators);
            let listing = || {
                let (lines, more) = indicator_lines(&mine);
                Listing {
                    what: "a report".into(),
                    lines,
                    more,
                }
            };
            if let Some(e) = self.kept_for_digest(id, c, contact, listing, gate, now, events) {
                digest.push(e);
                continue;
            }
            let text = body(
                &self.config.team.name,
                &self.tags.tag_for(id),
                c.name.trim(),
                &mine,
            );
            let notice = self.notification(id, c, contact, &text, gate, budget, now, events);
            if let Some((m, mut o)) = notice {
                o.message = first_index + messages.len();
                messages.push(m);
                outbox.push(o);
            }
        }
        (messages, outbox, digest)
    }

    /// The digest entry that stands for this notification when the
    /// constituency takes a daily digest and the notification would go out
    /// now. A notification held for release or skipped is not one the
    /// contact would get now, so it keeps today's handling. Not counted
    /// against the contact's rate limit: the entries of a day become one
    /// mail, which is what the limit guards.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn kept_for_digest(
        &self,
        id: TicketId,
        c: &ConstituencyConfig,
        contact: &str,
        listing: impl FnOnce() -> Listing,
        gate: &Gate,
        now: OffsetDateTime,
        events: &mut Vec<Event>,
    ) -> Option<DigestEntry> {
        if !c.digest || *gate != Gate::Send {
            return None;
        }
        let listing = listing();
        events.push(Event::new(
            now,
            EventKind::Held,
            format!(
                "notification to {} for {contact} kept for the daily digest ({} UTC)",
                c.name.trim(),
                self.config.notifications.digest_at.trim()
            ),
        ));
        Some(DigestEntry {
            contact: contact.trim().to_string(),
            constituency: c.name.trim().to_string(),
            ticket: id,
            what: listing.what,
            lines: listing.lines,
            more: listing.more as u64,
            key_fingerprint: c.key_fingerprint.clone(),
            recorded_at: now,
        })
    }

    /// One signed (where possible encrypted) notification to `contact`;
    /// the outbox entry names message index 0. None, with an event, when
    /// the mail cannot be composed safely (a contact address from the
    /// configuration that is no address).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn notification(
        &self,
        id: TicketId,
        c: &ConstituencyConfig,
        contact: &str,
        text: &str,
        gate: &Gate,
        budget: &mut ContactBudget,
        now: OffsetDateTime,
        events: &mut Vec<Event>,
    ) -> Option<(NewMessage, NewOutbox)> {
        if let Gate::Skip(why) = gate {
            events.push(Event::new(
                now,
                EventKind::Held,
                format!("no notification to {}: {why}", c.name.trim()),
            ));
            return None;
        }
        if !self.within_contact_limit(budget, contact, now) {
            let n = &self.config.notifications;
            events.push(Event::new(
                now,
                EventKind::Held,
                format!(
                    "no notification to {} for {contact}: its limit of {} per {} s is reached; the ticket keeps the report",
                    c.name.trim(),
                    n.rate_limit,
                    n.rate_window_secs
                ),
            ));
            return None;
        }
        let subject = self.tags.compose(
            id,
            &format!("Report concerning {}", c.name.trim()),
            super::super::decide::SUBJECT_MAX_CHARS,
        );
        let message_id = self.ids.generate(id, "notify");
        let to = vec![contact.to_string()];
        let team = &self.config.team;
        let bytes = compose::render(&Outgoing::from_team(
            &team.name,
            &team.address,
            &to,
            &subject,
            &message_id,
            text,
            now,
        ));
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                let detail = format!("notification to {contact} not composed: {e}");
                tracing::error!(ticket = %id, "{detail}");
                events.push(Event::new(now, EventKind::Held, detail));
                return None;
            }
        };
        // A configured key is the constituent's word on how to reach them:
        // that certificate, whatever address its user IDs carry.
        let sealed = match &c.key_fingerprint {
            Some(f) => self.crypto.seal_to_fingerprint(bytes.clone(), contact, f),
            None => self
                .crypto
                .seal(bytes.clone(), contact, EncryptPolicy::IfKey),
        };
        let (bytes, mut state) = match sealed {
            Ok(Sealed::Signed(b) | Sealed::Encrypted(b) | Sealed::Unsigned(b)) => {
                (b, OutboxState::Queued)
            }
            Ok(Sealed::Held { bytes, reason }) => {
                let detail = format!("notification to {contact} held: {reason}");
                events.push(Event::new(now, EventKind::Held, detail));
                (bytes, OutboxState::Held)
            }
            Err(e) => {
                let detail = format!("notification to {contact} held: cannot sign: {e}");
                events.push(Event::new(now, EventKind::Held, detail));
                (bytes, OutboxState::Held)
            }
        };
        if let (OutboxState::Queued, Gate::Hold(why)) = (state, gate) {
            state = OutboxState::AwaitingRelease;
            events.push(Event::new(
                now,
                EventKind::Held,
                format!(
                    "notification <{message_id}> to {} for {contact} kept for a handler's release: {why} (signed `/release`, or `csirtd outbox release`)",
                    c.name.trim()
                ),
            ));
        }
        if state == OutboxState::Queued {
            events.push(Event::new(
                now,
                EventKind::Notified,
                format!(
                    "notification <{message_id}> to {} queued for {contact}",
                    c.name.trim()
                ),
            ));
        }
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        let outbox = NewOutbox {
            message: 0,
            envelope_from: self.config.envelope_from().to_string(),
            to: to.clone(),
            subject: subject.clone(),
            message_id: message_id.clone(),
            next_attempt_at: now,
            state,
            encrypt: None,
        };
        let message = NewMessage {
            record: MessageRecord {
                seq: 0,
                ticket: id,
                message_id: Some(message_id),
                direction: Direction::Out,
                from: Some(self.config.team.address.clone()),
                to,
                subject: Some(subject),
                date: now
                    .format(&time::format_description::well_known::Rfc3339)
                    .ok(),
                sha256: hex::encode(sha),
                body_sha256: None,
                content_sha256: None,
                size: bytes.len() as u64,
                stored_at: now,
                origin: "notify".into(),
                flags: BTreeSet::new(),
                verification: None,
                authentication: None,
                acns: None,
                indicators: Vec::new(),
            },
            raw: bytes,
            sha256: sha,
        };
        Some((message, outbox))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::indicators::{Found, Kind};

    #[test]
    fn the_body_lists_indicators_and_nothing_of_the_report() {
        let i = Indicator {
            kind: Kind::Ipv4,
            value: "192.0.2.7".into(),
            source: Found::Body,
        };
        let b = body("CERT Example", "[CERT-EX #2026-00001]", "university", &[&i]);
        assert!(b.contains("192.0.2.7"));
        assert!(b.contains("[CERT-EX #2026-00001]"));
        assert!(b.contains("university"));
    }
}
